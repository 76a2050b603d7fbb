"""Multi-leg baskets placed as one decision: checked as a whole, approved once, legs in a safe order.

    b = session.basket(st.iron_condor(session.instruments, "NIFTY", spot=24870, premiums=...),
                       strategy="ic1", product="NRML")       # or session.basket({"strategy": "iron_condor", ...})
    b.state, b.payoff, b.margin                              # "proposed" → "working" → "complete"

**Life.** :meth:`BasketManager.propose` prices the legs (their premiums, else the last prices),
computes the payoff at expiry (:mod:`tradekit.options.payoff`) and the margin the broker would
block (live: Kite's basket-margins call; paper: the SPAN-like estimate, :mod:`tradekit.options.margin`),
runs the gate's basket checks (:mod:`tradekit.risk.basket_checks`) and journals ``basket.created``.
If allowed, the *head* leg (the first in placement order) goes through the OMS like any order —
its approval card shows the whole basket (payoff diagram, max profit/loss, breakevens, margin:
:mod:`tradekit.ui.basket_card`) and that one approval covers every other leg (``covered_by``: not
queued again, still checked by the gate, freeze-sliced by :mod:`tradekit.execution.slicing`).

**Order.** Buys before sells, so the broker sees the long legs when it margins the short ones;
each leg is sent when the one before it has filled.

**A leg that fails** (denied by the gate, rejected by the broker, cancelled, or not filled within
``baskets.leg_timeout_seconds`` — then cancelled) is handled by ``baskets.on_leg_failure``:

- ``retry``: placed again (the quantity still missing) up to ``baskets.retries`` times, then unwound;
- ``unwind``: open legs cancelled, then every filled leg closed at market, in reverse order (shorts
  bought back before longs are sold); an unwind order that fails is retried as often, then alerted;
- ``alert``: stop, keep what filled, raise an alert (``basket_leg_failed``) for a person.

A head leg a person rejected (or that expired, or the gate denied) ends the basket as
``cancelled``: nothing was placed.

**Journal and restart.** ``basket.created``, ``basket.state`` and each leg's ``order.created``
carrying ``meta.basket = {id, leg, attempt, role}`` — the link is written with the order itself,
so no order of a basket exists that the basket does not know. :meth:`BasketManager.restore`
rebuilds every basket; :meth:`BasketManager.step` (run by ``session.service()``) is one
desired-state rule over the book, so after a restart it carries on where the journal says
(``baskets.on_restart: resume``) or unwinds what filled (``unwind``). Nothing is stranded: a
basket ends ``complete``, ``unwound``, ``cancelled``, ``failed`` (nothing filled) or ``alerted``
(a person must act, told by an alert).
"""

from __future__ import annotations

import logging
import secrets as _secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from tradekit.errors import BrokerError, TradekitError, TradingHalted, ValidationError
from tradekit.model.enums import OrderType, Product, Side
from tradekit.model.order import OrderRequest, OrderStatus
from tradekit.options.strategies import Leg, Strategy
from tradekit.store.events import EventType as E
from tradekit.store.listeners import listens

log = logging.getLogger(__name__)

SOURCE = "basket"
FINAL = ("complete", "unwound", "cancelled", "failed", "alerted", "refused")
_NOT_APPROVED = (OrderStatus.DENIED, OrderStatus.APPROVAL_REJECTED, OrderStatus.EXPIRED)
RESTORE_TYPES = (E.BASKET_CREATED, E.BASKET_STATE, E.ORDER_CREATED)


@dataclass
class Basket:
    """One basket as the journal records it (see the module docstring)."""

    basket_id: str
    strategy: str
    structure: dict
    legs: list[dict]  # {exchange, tradingsymbol, side, quantity, premium, lot_size}
    order: list[int]  # placement order (leg indices): buys first
    policy: str
    retries: int
    product: str
    order_type: str
    state: str = "proposed"
    reason: str = ""
    payoff: dict = field(default_factory=dict)
    margin: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)
    opens: dict = field(default_factory=dict)  # leg -> [client order ids] (attempts)
    closes: dict = field(default_factory=dict)  # leg -> [client order ids] (unwind orders)
    created_at: datetime | None = None

    @property
    def head(self) -> str | None:
        first = self.opens.get(self.order[0]) if self.order else None
        return first[0] if first else None

    @property
    def active(self) -> bool:
        return self.state not in FINAL

    def describe(self) -> dict:
        return {"basket_id": self.basket_id, "strategy": self.strategy, "name": self.structure.get("name"),
                "state": self.state, "reason": self.reason, "policy": self.policy, "legs": self.legs,
                "order": self.order, "opens": self.opens, "closes": self.closes, "payoff": self.payoff,
                "margin": self.margin}


def placement_order(legs) -> list[int]:
    """Buys first, then sells, each in the strategy's order."""
    buys = [i for i, lg in enumerate(legs) if _side(lg) is Side.BUY]
    return buys + [i for i in range(len(legs)) if i not in buys]


def _side(lg) -> Side:
    return lg.side if isinstance(lg, Leg) else Side.parse(lg["side"], "side")


class BasketManager:
    """The baskets of a session: ``session.baskets``; :meth:`step` is run by ``session.service()``."""

    def __init__(self, session, config=None):
        self.session = session
        self.oms = session.oms
        self.book = session.book
        self.cfg = config if config is not None else session.config.baskets
        self.baskets: dict[str, Basket] = {}
        self._notified: set[tuple[str, str]] = set()

    @classmethod
    def install(cls, session) -> BasketManager:
        mgr = cls(session)
        from tradekit.store.snapshot import history  # a snapshot keeps these events: no walk of the whole journal

        mgr.restore(history(session.journal, RESTORE_TYPES))
        session.oms.listeners.append(mgr.on_event)  # each leg's order.created links it to its basket
        return mgr

    @listens(E.ORDER_CREATED)  # the OMS calls it for no other event
    def on_event(self, ev) -> None:
        if ev.type == E.ORDER_CREATED:
            self._learn(ev.type, ev.payload)

    # -- journal -----------------------------------------------------------------------------------
    def restore(self, events) -> int:
        for ev in events:
            self._learn(ev.type, ev.payload, getattr(ev, "ts", None))
        n = 0
        if self.cfg.on_restart == "unwind":
            for b in self.baskets.values():
                if b.active and b.state in ("proposed", "working", "retrying") and self._filled_any(b):
                    self._set(b, "unwinding", "the session restarted mid-basket (baskets.on_restart: unwind)")
                    n += 1
        return n

    def _learn(self, t: str, p: dict, ts=None) -> None:
        if t == E.BASKET_CREATED:
            self.baskets[p["basket_id"]] = Basket(
                basket_id=p["basket_id"], strategy=p["strategy"], structure=p["structure"], legs=p["legs"],
                order=list(p["order"]), policy=p["policy"], retries=int(p["retries"]), product=p["product"],
                order_type=p["order_type"], state="proposed" if p.get("allowed") else "refused",
                reason=p.get("reason", ""), payoff=p.get("payoff") or {}, margin=p.get("margin") or {},
                checks=p.get("checks") or [], created_at=ts)
        elif t == E.BASKET_STATE:
            b = self.baskets.get(p["basket_id"])
            if b is not None and p.get("state") not in ("leg_failed",):
                b.state = p["state"]
                b.reason = p.get("reason", b.reason)
        elif t == E.ORDER_CREATED:
            m = (p.get("meta") or {}).get("basket")
            if not isinstance(m, dict):
                return
            b = self.baskets.get(m.get("id"))
            if b is None:
                return
            into = b.opens if m.get("role") == "open" else b.closes
            into.setdefault(int(m["leg"]), []).append(p["client_order_id"])

    def _emit(self, type_: str, payload: dict) -> None:
        self.oms.journal.append(type_, payload)
        self._learn(type_, payload, self.oms.clock.now())

    def _set(self, b: Basket, state: str, reason: str = "", **extra) -> None:
        if state != "leg_failed" and b.state == state:
            return
        self._emit(E.BASKET_STATE, {"basket_id": b.basket_id, "state": state, "reason": reason, **extra})

    # -- proposing ---------------------------------------------------------------------------------
    def propose(self, strategy: Strategy, *, name: str = "basket", product: str | Product = Product.NRML,
                order_type: str | OrderType = OrderType.LIMIT, approval: str | None = None, policy: str | None = None,
                retries: int | None = None, signal_id: str | None = None,
                leg_order_types: list | None = None) -> Basket:
        """Check the basket as a whole, journal it, and send its head leg for approval (see the module docstring).

        A refused basket is journaled too (``state == "refused"``, ``reason`` says why); nothing is placed.
        ``signal_id``: the basket signal it comes from (its head leg's order carries it); ``leg_order_types``:
        a LIMIT or MARKET of a leg's own (None: the basket's ``order_type``), in the strategy's leg order.
        """
        from tradekit.options.margin import underlying_key
        from tradekit.options.payoff import payoff

        product = Product.parse(product, "product")
        otype = OrderType.parse(order_type, "order_type")
        own = [None if t is None else OrderType.parse(t, f"legs.{i}.order_type")
               for i, t in enumerate(leg_order_types or [None] * len(strategy.legs))]
        if len(own) != len(strategy.legs):
            raise ValidationError(f"{len(own)} order types for {len(strategy.legs)} legs", field="leg_order_types")
        for t in (otype, *own):
            if t not in (None, OrderType.LIMIT, OrderType.MARKET):
                raise ValidationError(f"basket legs are LIMIT or MARKET orders, {t.value} was received",
                                      field="order_type")
        policy = policy or self.cfg.on_leg_failure
        if policy not in ("unwind", "retry", "alert"):
            raise ValidationError(f"must be unwind, retry or alert, {policy!r} was received", field="on_leg_failure")
        retries = self.cfg.retries if retries is None else retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValidationError(f"must be a whole number of 0 or more, {retries!r} was received", field="retries")
        legs = []
        for leg in strategy.legs:  # premiums: the strategy's, else the last price
            if leg.premium is None:
                lp = self.oms.last_price(leg.key)
                if lp is None:
                    raise ValidationError(f"{leg.key}: no premium and no last price to price the leg", field="premium")
                leg = leg.with_premium(lp)
            legs.append(leg)
        spot = strategy.spot
        if spot is None:
            spot = self.oms.last_price(underlying_key(legs[0].instrument))
        strategy = Strategy(strategy.name, strategy.underlying, tuple(legs), spot,
                            {**strategy.meta, "today": self.oms.clock.now().date()})
        po = payoff(strategy, today=self.oms.clock.now().date())
        reqs = [self._request(leg, product, own[i] or otype) for i, leg in enumerate(legs)]
        margin, available, notes = self._margin(strategy, reqs)
        day = self.oms.clock.now().date()
        from tradekit.risk.basket_checks import basket_checks, leg_checks

        checks = []
        for i, (leg, req) in enumerate(zip(legs, reqs)):
            checks += leg_checks(self.session.gate, req, leg.instrument, day, f"leg {i + 1} {leg.key}")
        checks += basket_checks(margin_blocked=margin.blocked, available=available, net_premium=po.net_premium,
                                max_loss=po.max_loss, config=self.cfg)
        failed = [c for c in checks if not c.ok]
        order = placement_order(legs)
        bid = f"BK{self.oms.clock.now():%y%m%d%H%M%S}{_secrets.token_hex(2)}"
        payload = {
            "basket_id": bid, "strategy": name, "structure": strategy.to_dict(),
            "legs": [{**leg.to_dict(), "quantity": leg.quantity, **({"order_type": own[i].value} if own[i] else {})}
                     for i, leg in enumerate(legs)], "order": order, "policy": policy,
            "retries": retries, "product": product.value, "order_type": otype.value, "payoff": po.summary(),
            "margin": {**margin.summary(), "available": None if available is None else str(available), "notes": notes},
            "checks": [c.to_dict() for c in checks], "allowed": not failed,
            "reason": "; ".join(c.message for c in failed),
            **({"signal_id": signal_id} if signal_id else {}),
        }
        try:
            b = self._create(payload, failed, order, strategy, reqs, legs, name, approval)
        except BaseException:
            self.baskets.pop(bid, None)  # the transaction rolled back: no basket without its journal record
            raise
        return b

    def _create(self, payload, failed, order, strategy, reqs, legs, name, approval) -> Basket:
        bid, policy, retries = payload["basket_id"], payload["policy"], payload["retries"]
        with self.oms._lock, self.oms.journal.transaction():
            if not failed and self.oms.blocked_reason:  # before anything is journaled: a signal's outer
                raise TradingHalted(f"new orders are refused: {self.oms.blocked_reason}")  # transaction commits
            self._emit(E.BASKET_CREATED, payload)
            b = self.baskets[bid]
            if not failed:
                head = order[0]
                card = {"id": bid, "name": strategy.name, "underlying": strategy.underlying,
                        "spot": payload["structure"]["spot"], "legs": payload["legs"], "order": order,
                        "payoff": payload["payoff"], "margin": payload["margin"], "checks": payload["checks"],
                        "policy": policy, "retries": retries, **({"signal_id": payload["signal_id"]}
                                                                 if payload.get("signal_id") else {})}
                try:
                    self.oms.submit(reqs[head], strategy=name, source=SOURCE, approval=approval,
                                    signal_id=payload.get("signal_id"),
                                    reference_price=legs[head].premium,
                                    meta={"basket": {"id": bid, "leg": head, "attempt": 1, "role": "open", "card": card}})
                except BaseException as e:  # inside a signal's transaction the basket's record is committed:
                    self._emit(E.BASKET_STATE, {"basket_id": bid, "state": "cancelled",  # it must not stay open
                                                "reason": f"the head leg could not be created: {e}"})
                    raise
        return b

    def _request(self, leg: Leg, product: Product, otype: OrderType, quantity: int | None = None) -> OrderRequest:
        return OrderRequest(leg.instrument.exchange, leg.instrument.tradingsymbol, leg.side, quantity or leg.quantity,
                            otype, product, price=leg.premium if otype is OrderType.LIMIT else None)

    def _margin(self, strategy: Strategy, reqs: list[OrderRequest]):
        """(BasketMargin, available funds or None, notes): the broker's basket margins when it has them (live)."""
        from tradekit.options.margin import MarginLeg, estimate, from_kite, underlying_key

        notes = []
        broker = self.oms.broker
        if callable(getattr(broker, "basket_margins", None)):
            try:
                m = from_kite(broker.basket_margins(reqs, consider_positions=True))
            except (BrokerError, TradekitError) as e:
                raise ValidationError(f"the broker's basket margins failed: {e}", field="margin") from None
            try:
                available = Decimal(str(broker.funds().available))
            except (BrokerError, TradekitError, AttributeError) as e:
                available, _ = None, notes.append(f"available funds unknown: {e}")
            return m, available, notes
        positions = []
        for p in self.book.positions.values():
            if p.quantity == 0:
                continue
            inst = self.session.instruments.find(p.exchange, p.tradingsymbol) if self.session.instruments else None
            if inst is not None and inst.is_derivative:
                positions.append(MarginLeg(inst, Side.BUY if p.quantity > 0 else Side.SELL, abs(p.quantity),
                                           p.average_price))
        def spot(key):  # the strategy's underlying at its spot; any other (held positions) at its last price
            return strategy.spot if strategy.spot is not None and key == underlying_key(strategy.legs[0].instrument) \
                else self.oms.last_price(key)

        m = estimate(strategy.legs, spot=spot, today=self.oms.clock.now().date(), config=self.cfg.margin,
                     positions=positions)
        return m, self.oms.account.available(), notes

    # -- working -----------------------------------------------------------------------------------
    def active(self) -> list[Basket]:
        return [b for b in self.baskets.values() if b.active]

    def get(self, basket_id: str) -> Basket:
        try:
            return self.baskets[basket_id]
        except KeyError:
            raise ValidationError(f"no basket {basket_id!r}", field="basket_id") from None

    def step(self) -> None:
        """Move every active basket one step (idempotent; safe to run as often as wanted)."""
        for b in self.active():
            try:
                self._sync(b)
            except TradekitError as e:
                log.warning("basket %s: %s", b.basket_id, e)

    def cancel(self, basket_id: str, reason: str = "cancelled by a person") -> Basket:
        """Stop a basket: open legs cancelled, filled legs unwound."""
        b = self.get(basket_id)
        if b.active:
            with self.oms._lock:
                self._set(b, "unwinding" if self._filled_any(b) else "cancelled", reason)
                self._cancel_open(b, reason)
        return b

    def _orders(self, cids):
        return [self.book.orders[c] for c in cids or () if c in self.book.orders]

    def _filled(self, o) -> int:
        if o.status is OrderStatus.SLICED:  # freeze slices: the fills are on the children
            return sum(k.filled_quantity for k in self._kids(o))
        return o.filled_quantity

    def _parent_of(self, o) -> str | None:
        par = getattr(self.session, "algos", None)
        return getattr(par, "_child_of", {}).get(o.client_order_id) if par is not None else None

    def _done(self, o) -> bool:
        """Final, with every fill it announced booked (a COMPLETE status can arrive before its trades)."""
        if o.status is OrderStatus.SLICED:
            par = getattr(self.session, "algos", None)
            p = getattr(par, "parents", {}).get(o.client_order_id) if par is not None else None
            return p is not None and not p.active and all(self._done(k) for k in self._kids(o))
        if o.status is OrderStatus.FILLED:
            return o.filled_quantity >= o.request.quantity
        return o.status.is_terminal

    def _kids(self, o) -> list:
        return [k for k in self.book.orders.values() if self._parent_of(k) == o.client_order_id]

    def _leg_filled(self, b: Basket, i: int, role: str = "open") -> int:
        return sum(self._filled(o) for o in self._orders((b.opens if role == "open" else b.closes).get(i)))

    def _open_in_book(self, b: Basket, i: int) -> int:
        """The quantity of leg ``i``'s side the strategy's position in the book still holds."""
        lg = b.legs[i]
        pos = self.book.position(b.strategy, lg["exchange"], lg["tradingsymbol"], b.product)
        if pos is None:
            return 0
        return max(pos.quantity, 0) if Side.parse(lg["side"], "side") is Side.BUY else max(-pos.quantity, 0)

    def _held_any(self, b: Basket) -> bool:
        return any(min(self._leg_filled(b, i) - self._leg_filled(b, i, "close"), self._open_in_book(b, i)) > 0
                   for i in range(len(b.legs)))

    def _filled_any(self, b: Basket) -> bool:
        return any(self._leg_filled(b, i) for i in range(len(b.legs)))

    def _sync(self, b: Basket) -> None:
        with self.oms._lock:
            if b.state in ("proposed", "working", "retrying"):
                self._work(b)
            if b.state == "unwinding":
                self._unwind(b)

    def _work(self, b: Basket) -> None:
        now = self.oms.clock.now()
        for n, i in enumerate(b.order):
            need = int(b.legs[i]["quantity"])
            atts = self._orders(b.opens.get(i))
            if sum(self._filled(o) for o in atts) >= need:
                if self._open_in_book(b, i) < need:  # closed outside the basket (flatten, kill switch, a person)
                    why = f"leg {i + 1} {b.legs[i]['tradingsymbol']} was closed outside the basket"
                    if b.policy == "alert":
                        self._set(b, "alerted", why + "; nothing more is sent")
                        self._alert(b, f"basket {b.basket_id}: stopped", b.reason)
                    else:
                        self._set(b, "unwinding" if self._held_any(b) else "failed", why + ": no further legs are sent")
                    return
                continue
            if not atts:  # the leg before it has filled: send this one, covered by the head's approval
                self._send(b, i, 1, need)
                if b.state == "proposed":
                    self._set(b, "working", "the head leg filled")
                return
            last = atts[-1]
            if not self._done(last):
                age = (now - (last.created_at or now)).total_seconds()
                approved = last.status not in (OrderStatus.CREATED, OrderStatus.PENDING_APPROVAL)
                if approved and age > self.cfg.leg_timeout_seconds and last.status is not OrderStatus.PENDING_CANCEL:
                    self._cancel(last, f"basket {b.basket_id}: leg {i + 1} not filled within "
                                       f"{self.cfg.leg_timeout_seconds:g} s")
                return
            why = last.status_message or last.status.value
            if n == 0 and len(atts) == 1 and last.status in _NOT_APPROVED and not self._filled_any(b):
                self._set(b, "cancelled", f"the head leg was {last.status.value.lower().replace('_', ' ')}: {why}")
                return
            self._set(b, "leg_failed", f"leg {i + 1} {b.legs[i]['tradingsymbol']}: {why}", leg=i,
                      client_order_id=last.client_order_id, attempt=len(atts))
            if b.policy == "retry" and len(atts) <= b.retries:
                self._set(b, "retrying", f"leg {i + 1}: attempt {len(atts) + 1} of {b.retries + 1}")
                self._send(b, i, len(atts) + 1, need - sum(self._filled(o) for o in atts))
                return
            if b.policy == "alert":
                self._set(b, "alerted", f"leg {i + 1} failed ({why}); filled legs kept (baskets.on_leg_failure: alert)")
                self._alert(b, f"basket {b.basket_id}: leg {i + 1} failed", b.reason)
                return
            if self._filled_any(b):
                self._set(b, "unwinding", f"leg {i + 1} failed ({why}): closing the filled legs")
            else:
                self._set(b, "failed", f"leg {i + 1} failed ({why}); nothing filled")
            return
        self._set(b, "complete", "every leg filled")

    def _send(self, b: Basket, i: int, attempt: int, qty: int, *, role: str = "open", side: Side | None = None) -> None:
        lg = b.legs[i]
        side = side or Side.parse(lg["side"], "side")
        otype = OrderType.parse(lg.get("order_type") or b.order_type, "order_type") if role == "open" else OrderType.MARKET
        price = Decimal(lg["premium"]) if otype is OrderType.LIMIT and lg.get("premium") else None
        req = OrderRequest(lg["exchange"], lg["tradingsymbol"], side, qty, otype, Product.parse(b.product, "product"),
                           price=price)
        meta = {"basket": {"id": b.basket_id, "leg": i, "attempt": attempt, "role": role}}
        head = b.head
        try:
            self.oms.submit(req, strategy=b.strategy, source=SOURCE, meta=meta, covered_by=head,
                            reference_price=Decimal(lg["premium"]) if lg.get("premium") else None)
        except TradekitError as e:  # e.g. new orders halted: the order was not created; said once, tried next step
            key = (b.basket_id, f"{role}{i}:{e}")
            if key not in self._notified:
                self._notified.add(key)
                self._alert(b, f"basket {b.basket_id}: leg {i + 1} could not be sent", str(e))

    def _cancel(self, o, reason: str) -> None:
        try:
            self.oms.cancel(o.client_order_id, reason=reason, source=SOURCE)
        except (BrokerError, TradekitError) as e:
            log.warning("basket: cancel %s: %s", o.client_order_id, e)

    def _cancel_open(self, b: Basket, reason: str) -> bool:
        """Cancel the basket's open (opening) orders; True while any is still working."""
        busy = False
        for cids in b.opens.values():
            for o in self._orders(cids):
                if not self._done(o):
                    busy = True
                    if o.status is not OrderStatus.PENDING_CANCEL:
                        self._cancel(o, reason)
        return busy

    def _unwind(self, b: Basket) -> None:
        if self._cancel_open(b, f"basket {b.basket_id} unwinding"):
            return  # wait for the cancels: then the filled quantities are final
        for i in reversed([i for i in b.order]):
            # what is still open in the book (a flatten or a person may have closed part of it already)
            held = min(self._leg_filled(b, i) - self._leg_filled(b, i, "close"), self._open_in_book(b, i))
            if held <= 0:
                continue
            closes = self._orders(b.closes.get(i))
            if closes and not self._done(closes[-1]):
                return  # one close at a time, in reverse order
            if len(closes) > b.retries:
                self._set(b, "alerted", f"leg {i + 1} could not be closed after {len(closes)} tries: "
                                        f"{held} still open — a person must close it")
                self._alert(b, f"basket {b.basket_id}: unwind failed", b.reason)
                return
            side = Side.SELL if Side.parse(b.legs[i]["side"], "side") is Side.BUY else Side.BUY
            self._send(b, i, len(closes) + 1, held, role="close", side=side)
            return
        self._set(b, "unwound", "every filled leg closed")

    def _alert(self, b: Basket, title: str, text: str) -> None:
        alerts = getattr(self.session, "alerts", None)
        if alerts is not None:
            try:
                alerts.raise_("basket_leg_failed", title, text, priority="critical", key=b.basket_id)
                return
            except Exception as e:  # noqa: BLE001 - an alert channel's failure must not stop the basket
                log.warning("basket alert: %s", e)
        self.oms.journal.append(E.ALERT, {"kind": "basket_leg_failed", "title": title, "text": text,
                                          "basket_id": b.basket_id})


def propose_signal(session, signal, route: str | None = None) -> Basket:
    """A basket signal (:mod:`tradekit.signals.basket_fields`) made ONE basket: its legs resolved against the
    instrument master, then :meth:`BasketManager.propose` — the gate on each leg and the whole, one approval,
    buys first, the basket's failure policy. Problems that need the master (a strike not listed, a
    tradingsymbol unknown, a quantity not a whole number of lots) raise a ValidationError naming the
    signal's field (``basket.legs[1].quantity``)."""
    from tradekit.signals.basket_fields import spec_of

    spec = spec_of(signal)
    try:
        strategy, own = _resolve(session, spec)
        return session.baskets.propose(strategy, name=signal.strategy, product=spec.product,
                                       order_type=spec.order_type, approval=route, policy=spec.on_leg_failure,
                                       retries=spec.retries, signal_id=signal.signal_id, leg_order_types=own)
    except ValidationError as e:
        raise ValidationError(e.reason, field=_signal_field(e.field)) from None


def _signal_field(f: str | None) -> str:
    """A builder's or the proposal's field named as the signal has it: ``legs.1.quantity`` → ``basket.legs[1].quantity``."""
    from tradekit.signals.basket_fields import dotted_to_path

    if not f:
        return "basket"
    return "basket.premiums" if f == "premium" else dotted_to_path("basket." + f)


def _resolve(session, spec) -> tuple[Strategy, list]:
    """(the strategy, each leg's own order type or None) of a :class:`~tradekit.signals.basket_fields.BasketSpec`."""
    import dataclasses

    from tradekit.options.strategies import build
    from tradekit.signals.basket_fields import _plain_number

    prem = spec.premiums or {}
    today = session.clock.now().date()

    def premiums(key):
        return prem.get(key) if key in prem else session.oms.last_price(key)

    if spec.strategy != "custom":
        st = build(session.instruments, spec.builder_spec(), premiums=premiums, today=today)
        own: list = [None] * len(st.legs)
    else:
        legs = []
        for lg in spec.legs:
            d = {"side": lg.side.value, "lots": lg.lots or 1}
            if lg.tradingsymbol is not None:
                d.update(tradingsymbol=lg.tradingsymbol, exchange=(lg.exchange or spec.exchange).value)
            else:
                d.update(kind=lg.kind, strike=_plain_number(lg.strike), expiry=lg.expiry if lg.expiry is not None else "near")
            if lg.price is not None:
                d["premium"] = lg.price
            legs.append(d)
        kw = {"underlying": spec.underlying} if spec.underlying else {}
        st = build(session.instruments, {"strategy": "custom", "legs": legs, "exchange": spec.exchange.value,
                                         "spot": spec.spot, **kw}, premiums=premiums, today=today)
        out = []
        for i, (lg, leg) in enumerate(zip(spec.legs, st.legs)):
            if lg.quantity is not None:  # units: a whole number of this contract's lots
                lot = leg.instrument.lot_size
                if lg.quantity % lot:
                    raise ValidationError(f"{lg.quantity} is not a whole number of {leg.key}'s lots of {lot}",
                                          field=f"legs.{i}.quantity")
                leg = dataclasses.replace(leg, lots=lg.quantity // lot)
            out.append(leg)
        st = dataclasses.replace(st, legs=tuple(out))
        own = [lg.order_type for lg in spec.legs]
    if spec.name:
        st = dataclasses.replace(st, name=spec.name)
    return st, own


def strategy_of(session, spec, *, premiums=None, spot=None) -> Strategy:
    """A :class:`Strategy` from a strategy object or a spec dict (:func:`tradekit.options.strategies.build`)."""
    from tradekit.options.strategies import build

    if isinstance(spec, Strategy):
        return spec
    if isinstance(spec, dict):
        return build(session.instruments, spec, premiums=premiums if premiums is not None else session.oms.last_price,
                     spot=spot, today=session.clock.now().date())
    raise ValidationError(f"a basket is a Strategy or a dict, {type(spec).__name__} was received", field="strategy")


__all__ = ["FINAL", "Basket", "BasketManager", "placement_order", "propose_signal", "strategy_of"]
