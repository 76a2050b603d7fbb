"""Protection that survives a crash: a position's stop and target as a GTT OCO kept by the broker.

The bracket manager calls :class:`GttProtector` (``session.gtt``) with exactly::

    protect(bracket_id, instrument, qty, stop, target, product) -> str | None   # the GTT id
    update(bracket_id, qty, stop, target)                                         # modify it
    remove(bracket_id)                                                            # delete it

``protect`` places a two-leg OCO GTT whose legs both exit the position (SELL for a long, BUY for
a short): the stop leg at ``stop`` and the target leg at ``target``. Only CNC and NRML positions
are protected (Kite keeps GTTs for those; MIS is squared off the same day anyway): any other
product returns None. A refusal (a trigger too close to the last price, the broker down) is
journaled and returns None; the protection is still recorded, and reconciliation places the
GTT once it can. ``session.protect(exchange, symbol, stop=..., target=...)`` protects an existing
CNC/NRML holding the same way (bracket id ``protect:<EXCH>:<SYMBOL>:<PRODUCT>``).

Every action is a ``gtt.*`` journal event carrying ``bracket_id`` and ``parent_id`` (the same), so
the bracket ↔ GTT mapping is rebuilt from the journal after a restart (:meth:`GttProtector.rebuild`).

Reconciliation (:meth:`GttProtector.reconcile`: at the start of a live session, after every
broker reconciliation, and in paper on the first price after a restart) compares each protection
with the broker's GTTs and the book, and journals each finding (``gtt.finding``):

==================  ===================================================================
``orphan_deleted``  the position no longer exists: its GTT is deleted
``triggered``       a leg fired at the broker: its order is adopted into the OMS book like
                    an external order, under the position's strategy (``source: gtt``), so
                    its fill closes the position in the book; ``gtt.triggered`` tells the
                    bracket manager, which cancels its local stop and targets
``trigger_failed``  a leg fired but the broker refused its order: protected again
``missing``         no active GTT for a protected position (deleted elsewhere, expired,
                    disabled, never placed): placed again (``replaced``/``replace_failed``)
``resized``         the position is smaller than the GTT's legs: the legs follow it
``duplicate``       a second active GTT identical to ours (a placement that timed out and
                    landed): deleted
``unknown_gtt``     an active GTT tradekit did not place: reported once, left alone
==================  ===================================================================

A leg that fires while the session runs reaches the OMS as an order it did not place; the
protector adopts it on the spot (it listens to the OMS's journal events), so the fill is booked
to the position's strategy and the reconciliation finds nothing external.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from tradekit.brokers.base import BrokerOrder, supports_gtt
from tradekit.errors import (
    AmbiguousOrderState,
    AuthExpired,
    BrokerError,
    BrokerRejected,
    BrokerUnavailable,
    ValidationError,
)
from tradekit.market.gtt_rules import gtt_rules
from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.gtt import Gtt, GttRequest, GttStatus
from tradekit.model.money import dec
from tradekit.model.order import OrderRequest
from tradekit.store.events import EventType as E
from tradekit.store.listeners import listens

log = logging.getLogger(__name__)

PROTECTED_PRODUCTS = (Product.CNC, Product.NRML)
GTT_EVENTS = (E.GTT_PLACED, E.GTT_MODIFIED, E.GTT_DELETED, E.GTT_FAILED, E.GTT_TRIGGERED, E.GTT_CLOSED, E.GTT_FINDING)
NOT_PROTECTING = (GttStatus.DELETED, GttStatus.EXPIRED, GttStatus.CANCELLED, GttStatus.REJECTED, GttStatus.DISABLED)


@dataclass
class Protection:
    """One protected position: what the GTT should be, and which GTT it is."""

    bracket_id: str
    exchange: str
    tradingsymbol: str
    product: str
    side: str  # the exit side of both legs
    quantity: int
    stop: Decimal
    target: Decimal
    strategy: str
    gtt_id: str | None = None
    state: str = "active"  # active | removing | triggered | closed
    triggered_order: str | None = None
    history: list = field(default_factory=list, repr=False)

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    def payload(self) -> dict:
        return {"bracket_id": self.bracket_id, "parent_id": self.bracket_id, "exchange": self.exchange,
                "tradingsymbol": self.tradingsymbol, "product": self.product, "side": self.side,
                "quantity": self.quantity, "stop": str(self.stop), "target": str(self.target), "strategy": self.strategy,
                "gtt_id": self.gtt_id}

    @classmethod
    def from_payload(cls, p: dict) -> Protection:
        return cls(p["bracket_id"], p["exchange"], p["tradingsymbol"], p["product"], p["side"], int(p["quantity"]),
                   Decimal(p["stop"]), Decimal(p["target"]), p.get("strategy") or "EXTERNAL", p.get("gtt_id"))


def _split_instrument(instrument) -> tuple[str, str]:
    if isinstance(instrument, tuple) and len(instrument) == 2:
        return str(Exchange.parse(instrument[0], "exchange")), str(instrument[1])
    key = getattr(instrument, "key", instrument)
    if isinstance(key, str) and ":" in key:
        ex, _, sym = key.partition(":")
        return str(Exchange.parse(ex, "exchange")), sym
    raise ValidationError(f"{instrument!r} is not an instrument, 'EXCH:SYMBOL' or (exchange, symbol)", field="instrument")


class GttProtector:
    """Keeps GTT OCOs at the broker for protected positions; see the module docstring.

    Parameters
    ----------
    broker
        A :class:`~tradekit.brokers.base.GttBroker` (KiteBroker, PaperBroker).
    oms
        The session's :class:`~tradekit.execution.oms.OrderManager` (its journal, book, lock,
        order ids and listeners).
    instruments
        The instrument master (tick sizes, segments).
    last_price
        ``fn(key) -> Decimal | None``: the market-data hub's last price.
    buffer_pct
        ``gtt.stop_limit_buffer_pct``: the stop leg's LIMIT beyond its trigger.
    """

    def __init__(self, broker, oms, *, instruments=None, last_price=None, buffer_pct: Decimal = Decimal("1.0"), rules=None):
        self.broker = broker
        self.oms = oms
        self.book = oms.book
        self.clock = oms.clock
        self.instruments = instruments if instruments is not None else oms.instruments
        self.last_price = last_price or oms.last_price
        self.buffer_pct = dec(buffer_pct, "gtt.stop_limit_buffer_pct")
        self.rules = rules or gtt_rules()
        self.protections: dict[str, Protection] = {}
        self._adopted: set[str] = set()  # broker order ids adopted into the book
        self._reported: set[str] = set()  # unknown GTT ids already reported
        self._lock = threading.RLock()
        self.reconciler = None
        self.pending_keys: set[str] = set()  # paper: re-protect on the first price after a restart

    # -- the journal ---------------------------------------------------------------------------------
    def _event(self, type_: str, payload: dict):
        ev = self.oms._emit(type_, payload)
        self.apply(type_, payload)
        return ev

    def apply(self, type_: str, p: dict) -> None:
        """One ``gtt.*`` event onto the protections (live and in :meth:`rebuild`)."""
        bid = p.get("bracket_id")
        cur = self.protections.get(bid) if bid else None
        if type_ in (E.GTT_PLACED, E.GTT_MODIFIED) or (type_ == E.GTT_FAILED and p.get("register")):
            new = Protection.from_payload(p)
            if cur is not None and type_ != E.GTT_PLACED and not new.gtt_id:
                new.gtt_id = cur.gtt_id
            self.protections[bid] = new
        elif type_ == E.GTT_FAILED and cur is not None and p.get("state"):
            cur.state = p["state"]
        elif type_ == E.GTT_DELETED and cur is not None:
            cur.gtt_id = None
            cur.state = "closed" if p.get("closed", True) else cur.state
        elif type_ == E.GTT_TRIGGERED and cur is not None:
            cur.state, cur.triggered_order = ("triggered" if p.get("ok") else cur.state), p.get("broker_order_id")
        elif type_ == E.GTT_CLOSED and cur is not None:
            cur.state = "closed"
        elif type_ == E.GTT_FINDING:
            if p.get("kind") == "unknown_gtt" and p.get("gtt_id"):
                self._reported.add(str(p["gtt_id"]))
            if p.get("adopted_order"):
                self._adopted.add(str(p["adopted_order"]))
        if type_ == E.GTT_TRIGGERED and p.get("broker_order_id"):
            self._adopted.add(str(p["broker_order_id"]))

    def rebuild(self, events) -> GttProtector:
        """The protections as the journal left them (a restart)."""
        for ev in events:
            self.apply(ev.type, ev.payload)
        return self

    def active(self) -> list[Protection]:
        return [p for p in self.protections.values() if p.state in ("active", "removing")]

    # -- the request ---------------------------------------------------------------------------------
    def _tick(self, exchange: str, symbol: str) -> Decimal:
        if self.instruments is None:  # no master: the equity tick (the broker refuses an off-grid price)
            return Decimal("0.05")
        return self.instruments.get(exchange, symbol).tick_size or Decimal("0.05")

    @staticmethod
    def _grid(px: Decimal, tick: Decimal, rounding=ROUND_HALF_EVEN) -> Decimal:
        return (px / tick).to_integral_value(rounding=rounding) * tick

    def _request(self, p: Protection, last: Decimal | None) -> GttRequest:
        tick = self._tick(p.exchange, p.tradingsymbol)
        buf = self.buffer_pct / 100
        side = Side(p.side)
        if side is Side.SELL:  # a long: stop below, its limit further below; target above
            stop_limit = self._grid(p.stop * (1 - buf), tick, ROUND_FLOOR)
        else:
            stop_limit = self._grid(p.stop * (1 + buf), tick, ROUND_CEILING)
        return GttRequest.oco(p.exchange, p.tradingsymbol, side=side, quantity=p.quantity, product=p.product,
                              stop_trigger=p.stop, stop_price=max(stop_limit, tick), target_trigger=p.target,
                              target_price=p.target, last_price=last)

    def _validate(self, p: Protection) -> tuple[GttRequest, str | None]:
        """The request, and why it cannot be placed now (None: it can)."""
        if self.instruments is not None:  # an unknown symbol or a product its segment does not take: bad input
            inst = self.instruments.get(p.exchange, p.tradingsymbol)
            self.rules.check_product(inst.segment.value, p.product, inst.key)
        last = self.last_price(p.key)
        last = dec(last, "last_price") if last is not None else None
        req = self._request(p, last)
        if last is None:
            return req, None  # the broker knows the last price; it refuses what it must
        lo, hi = req.trigger_values
        if not lo < last < hi:
            return req, f"the last price {last} is not between the stop and the target ({lo} .. {hi}): it would fire at once"
        for v in (lo, hi):
            if self.rules.too_close(v, last):
                return req, (f"trigger {v} is within {self.rules.min_distance(last):.2f} of the last price {last}; "
                             "Kite would leave the GTT disabled")
        return req, None

    def _strategy_of(self, bracket_id: str, exchange: str, symbol: str, product: str, long: bool) -> str:
        o = self.book.orders.get(bracket_id)
        if o is not None:
            return o.strategy
        best = None
        for pos in self.book.positions.values():
            if str(pos.exchange) == exchange and pos.tradingsymbol == symbol and str(pos.product) == product \
                    and pos.quantity and (pos.quantity > 0) == long:
                if best is None or abs(pos.quantity) > abs(best.quantity):
                    best = pos
        return best.strategy if best is not None else "EXTERNAL"

    # -- the interface the bracket manager calls ------------------------------------------------------
    def protect(self, bracket_id: str, instrument, qty: int, stop, target, product, *, strategy: str | None = None) -> str | None:
        """Place a two-leg OCO GTT (stop leg, target leg, both exiting the position). Returns its id,
        or None: not a CNC/NRML product, or not placed now (journaled; reconciliation retries)."""
        product = Product.parse(product, "product")
        if product not in PROTECTED_PRODUCTS or not supports_gtt(self.broker):
            return None
        if not bracket_id or not isinstance(bracket_id, str):
            raise ValidationError("a bracket id is needed", field="bracket_id")
        exchange, symbol = _split_instrument(instrument)
        stop, target = dec(stop, "stop"), dec(target, "target")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty == 0:
            raise ValidationError(f"must be a non-zero whole number, {qty!r} was given", field="qty")
        if stop <= 0 or target <= 0 or stop == target:
            raise ValidationError(f"stop {stop} and target {target} must be positive and different", field="stop")
        long = stop < target
        if qty < 0 and long:
            raise ValidationError(f"a short position ({qty}) needs its stop above its target", field="stop")
        net = self.book.net_quantity(exchange, symbol, product)
        if net and (net > 0) != long:  # legs on the wrong side would add to the position, not exit it
            raise ValidationError(f"the book holds {net} {exchange}:{symbol} {product.value}: a "
                                  f"{'long' if net > 0 else 'short'} needs its stop {'below' if net > 0 else 'above'} "
                                  f"its target ({stop} / {target})", field="stop")
        tick = self._tick(exchange, symbol)
        stop, target = self._grid(stop, tick), self._grid(target, tick)
        with self.oms._lock, self._lock:
            cur = self.protections.get(bracket_id)
            if cur is not None and cur.state == "active":
                self.update(bracket_id, qty, stop, target)
                return self.protections[bracket_id].gtt_id
            p = Protection(bracket_id, exchange, symbol, product.value, (Side.SELL if long else Side.BUY).value, abs(qty),
                           stop, target, strategy or self._strategy_of(bracket_id, exchange, symbol, product.value, long))
            return self._place(p, action="place")

    def update(self, bracket_id: str, qty: int, stop, target) -> None:
        """Modify the bracket's GTT to ``qty`` (the position's size), ``stop`` and ``target``; a
        ``qty`` of 0 removes it."""
        with self.oms._lock, self._lock:
            p = self.protections.get(bracket_id)
            if p is None or p.state != "active":
                return
            if isinstance(qty, bool) or not isinstance(qty, int):
                raise ValidationError(f"must be a whole number, {qty!r} was given", field="qty")
            if qty == 0:
                self.remove(bracket_id, reason="position closed")
                return
            tick = self._tick(p.exchange, p.tradingsymbol)
            new = Protection(p.bracket_id, p.exchange, p.tradingsymbol, p.product, p.side, abs(qty),
                             self._grid(dec(stop, "stop"), tick), self._grid(dec(target, "target"), tick), p.strategy, p.gtt_id)
            if (new.stop < new.target) != (p.side == Side.SELL.value):
                raise ValidationError(f"stop {new.stop} and target {new.target} are on the wrong sides for a "
                                      f"{'long' if p.side == 'SELL' else 'short'} position", field="stop")
            if p.gtt_id is None:
                self._place(new, action="place")
                return
            req, why = self._validate(new)
            if why is not None:
                self._event(E.GTT_FAILED, {**new.payload(), "action": "modify", "error": why})
                return
            try:
                self.broker.modify_gtt(p.gtt_id, req)
            except BrokerRejected as e:  # not active any more: it may have fired
                self._event(E.GTT_FAILED, {**new.payload(), "gtt_id": p.gtt_id, "action": "modify", "error": str(e)})
                self._check_one(p)
                return
            except (BrokerUnavailable, AuthExpired) as e:
                self._event(E.GTT_FAILED, {**new.payload(), "gtt_id": p.gtt_id, "action": "modify", "error": str(e),
                                           "register": True})
                return
            self._event(E.GTT_MODIFIED, {**new.payload(), "request": req.to_dict()})

    def remove(self, bracket_id: str, *, reason: str = "removed") -> None:
        """Delete the bracket's GTT (its position is closed or the bracket is cancelled)."""
        with self.oms._lock, self._lock:
            p = self.protections.get(bracket_id)
            if p is None or p.state not in ("active", "removing"):
                return
            if p.gtt_id is not None:
                try:
                    self.broker.delete_gtt(p.gtt_id)
                except BrokerRejected as e:  # not active: it fired, expired or was deleted elsewhere
                    g = self._get(p.gtt_id)
                    if g is not None and g.status is GttStatus.TRIGGERED:
                        self._on_triggered(p, g)
                    self._event(E.GTT_DELETED, {**p.payload(), "reason": reason, "note": str(e),
                                                "status": g.status.value if g is not None else None})
                    return
                except (BrokerUnavailable, AuthExpired) as e:
                    self._event(E.GTT_FAILED, {**p.payload(), "action": "delete", "error": str(e), "state": "removing",
                                               "reason": reason})
                    return
            self._event(E.GTT_DELETED, {**p.payload(), "reason": reason})

    # -- placing -------------------------------------------------------------------------------------
    def _place(self, p: Protection, *, action: str) -> str | None:
        req, why = self._validate(p)
        if why is not None:
            self._event(E.GTT_FAILED, {**p.payload(), "action": action, "error": why, "register": True})
            return None
        try:
            gid = self.broker.place_gtt(req)
        except AmbiguousOrderState as e:
            gid = self._find_landed(req)
            if gid is None:
                self._event(E.GTT_FAILED, {**p.payload(), "action": action, "error": str(e), "register": True,
                                           "ambiguous": True})
                return None
        except (BrokerRejected, BrokerUnavailable, AuthExpired) as e:
            self._event(E.GTT_FAILED, {**p.payload(), "action": action, "error": str(e), "register": True})
            return None
        p.gtt_id = gid
        self._event(E.GTT_PLACED, {**p.payload(), "action": action, "request": req.to_dict()})
        log.info("GTT %s protects %s %s (%s %d, stop %s, target %s)", gid, p.bracket_id, p.key, p.side, p.quantity,
                 p.stop, p.target)
        return gid

    def _same(self, g: Gtt, req: GttRequest) -> bool:
        r = g.request
        return (r.key == req.key and r.trigger_values == req.trigger_values
                and [(leg.side, leg.quantity, leg.price, leg.product) for leg in r.legs]
                == [(leg.side, leg.quantity, leg.price, leg.product) for leg in req.legs])

    def _known_ids(self) -> set[str]:
        return {p.gtt_id for p in self.protections.values() if p.gtt_id}

    def _find_landed(self, req: GttRequest) -> str | None:
        """After a placement of unknown outcome: an active GTT just like it that is not already ours."""
        try:
            gtts = self.broker.gtts()
        except BrokerError:
            return None
        known = self._known_ids()
        for g in gtts:
            if g.is_active and g.id not in known and self._same(g, req):
                return g.id
        return None

    def _get(self, gid: str) -> Gtt | None:
        try:
            return self.broker.get_gtt(gid)
        except BrokerError as e:
            log.warning("GTT %s could not be read: %s", gid, e)
            return None

    # -- a leg that fired ------------------------------------------------------------------------------
    def _row(self, boid: str) -> BrokerOrder | None:
        cache = getattr(self.broker, "_orders", None)
        row = cache.get(boid) if isinstance(cache, dict) else None
        if isinstance(row, BrokerOrder):
            return row
        for r in self.broker.orders():
            if r.broker_order_id == boid:
                return r
        return None

    def _adopt(self, p: Protection, g: Gtt, leg: int, row: BrokerOrder) -> str:
        """The order a GTT placed becomes an order of the book (like an external order, but booked to
        the protected position's strategy), so its fills close the position."""
        oms = self.oms
        have = self.book.by_broker_id.get(row.broker_order_id)
        if have is not None:
            return have
        cid = oms.ids.next(self.clock.now().date())
        price = row.price if row.price is not None else g.request.legs[leg].price
        req = OrderRequest(row.exchange, row.tradingsymbol, row.side, row.quantity, OrderType.LIMIT, row.product,
                           price=price, tag=cid)
        why = f"placed at the broker by GTT {g.id} ({'stop' if self._is_stop(p, leg) else 'target'} leg of {p.bracket_id})"
        meta = {"bracket_id": p.bracket_id, "parent_id": p.bracket_id, "gtt_id": g.id, "adopted": True,
                "broker_order_id": row.broker_order_id, "leg": "stop" if self._is_stop(p, leg) else "target"}
        with oms.journal.transaction():
            oms._emit(E.ORDER_CREATED, {"client_order_id": cid, "strategy": p.strategy, "request": req.to_dict(),
                                        "signal_id": None, "approval_mode": "auto", "source": "gtt", "mode": oms.mode.value,
                                        "reference_price": None, "meta": meta})
            oms._emit(E.RISK_DECISION, {"client_order_id": cid, "allowed": True, "reason": "", "reduce_only": True,
                                        "checks": [], "note": why})
            oms._emit(E.APPROVAL_GRANTED, {"client_order_id": cid, "by": "gtt", "auto": True, "reason": why})
            oms._emit(E.ORDER_SUBMITTED, {"client_order_id": cid, "broker": getattr(self.broker, "name", "broker"),
                                          "adopted": True})
            oms._emit(E.ORDER_UPDATE, {"client_order_id": cid, "status": row.status, "filled_quantity": row.filled_quantity,
                                       "broker_order_id": row.broker_order_id, "exchange_order_id": row.exchange_order_id,
                                       "message": row.status_message or why})
        return cid

    @staticmethod
    def _is_stop(p: Protection, leg: int) -> bool:
        return (leg == 0) == (p.side == Side.SELL.value)

    def _fired_leg(self, p: Protection, g: Gtt, boid: str | None = None, row: BrokerOrder | None = None):
        """(leg, result) of the fired leg, matching ``boid``/``row`` when given."""
        fired = g.fired
        if fired is not None:
            leg, res = fired
            if boid is None or res.order_id == boid:
                return leg, res
            return None
        if row is None:
            return None
        for i, leg in enumerate(g.request.legs):  # the result not written yet: the order is the leg's
            if (row.side, row.quantity, row.product) == (leg.side, leg.quantity, leg.product) and \
                    (row.price is None or row.price == leg.price):
                return i, None
        return None

    def _on_triggered(self, p: Protection, g: Gtt, row: BrokerOrder | None = None) -> str | None:
        """A leg of ``p``'s GTT fired: adopt its order (once) and tell the bracket. Returns the cid."""
        hit = self._fired_leg(p, g, row.broker_order_id if row is not None else None, row)
        if hit is None:
            return None
        leg, res = hit
        boid = row.broker_order_id if row is not None else (res.order_id if res is not None else None)
        ok = boid is not None and (res is None or res.ok)
        cid = None
        if ok and row is None:
            row = self._row(boid)
        if ok and row is not None:
            cid = self._adopt(p, g, leg, row)
        already = p.state == "triggered" and p.triggered_order == boid
        if not already:
            self._event(E.GTT_TRIGGERED, {**p.payload(), "gtt_id": g.id, "leg": "stop" if self._is_stop(p, leg) else "target",
                                          "ok": bool(ok and row is not None), "broker_order_id": boid, "client_order_id": cid,
                                          "triggered_at": None if res is None or res.triggered_at is None else str(res.triggered_at),
                                          "rejection_reason": None if res is None else res.rejection_reason})
        if cid is not None and row is not None and row.filled_quantity:
            try:
                trades = self.broker.trades()
            except BrokerError as e:  # the order is ours now: the broker reconciliation books them later
                log.warning("trades of the GTT order %s not fetched (%s)", boid, e)
                trades = []
            for t in trades:
                if t.broker_order_id == boid and t.trade_id not in self.book.trade_ids:
                    self.oms.on_trade(t)
        return cid

    def _check_one(self, p: Protection) -> None:
        if p.gtt_id is None:
            return
        g = self._get(p.gtt_id)
        if g is not None and g.status is GttStatus.TRIGGERED:
            self._on_triggered(p, g)

    # -- events from the OMS ----------------------------------------------------------------------------
    @listens(E.RECONCILIATION, E.FILL)  # what _on_event reads: the OMS calls it for no other event
    def on_event(self, ev) -> None:
        """An OMS listener: adopt a fired leg's order the moment the OMS meets it; drop the GTT of a
        position that a fill closed. It never raises into the OMS: what fails here, the next
        reconciliation does."""
        try:
            self._on_event(ev)
        except Exception:
            log.exception("GTT protector: handling %s failed; the next GTT reconciliation will see to it", ev.type)

    def _on_event(self, ev) -> None:
        if ev.type == E.RECONCILIATION and ev.payload.get("kind") == "external_order":
            boid = str(ev.payload.get("broker_order_id") or "")
            if not boid or boid in self._adopted:
                return
            sym, side = ev.payload.get("tradingsymbol"), ev.payload.get("side")
            with self._lock:
                for p in self.active():
                    if p.gtt_id and p.tradingsymbol == sym and p.side == side:
                        g = self._get(p.gtt_id)
                        if g is None or g.status is not GttStatus.TRIGGERED:
                            continue
                        row = self._row(boid)
                        if row is not None and self._fired_leg(p, g, boid, row) is not None:
                            self._on_triggered(p, g, row)
                            return
        elif ev.type == E.FILL and self.protections:  # none (most sessions): no protection a fill could close
            key = (ev.payload.get("exchange"), ev.payload.get("tradingsymbol"), ev.payload.get("product"))
            with self._lock:
                for p in self.active():
                    if (p.exchange, p.tradingsymbol, p.product) == key and p.state == "active":
                        if self._net(p) == 0:
                            if p.gtt_id is not None and p.triggered_order is None:
                                self.remove(p.bracket_id, reason="position closed")
                            elif p.state != "closed":
                                self._event(E.GTT_CLOSED, {**p.payload(), "reason": "position closed"})

    def on_request(self, ev) -> None:
        """``gtt.request`` from another process (``tradekit gtt protect|delete``)."""
        q = ev.payload
        if q.get("action") == "protect":
            gid = self.protect_holding(q["exchange"], q["tradingsymbol"], stop=q["stop"], target=q["target"],
                                       quantity=q.get("quantity"), product=q.get("product"))
            log.info("gtt request %s: protect %s:%s -> %s", ev.seq, q["exchange"], q["tradingsymbol"], gid)
        elif q.get("action") == "delete":
            bid = q.get("bracket_id")
            if not bid and q.get("gtt_id"):
                bid = next((p.bracket_id for p in self.protections.values() if p.gtt_id == str(q["gtt_id"])), None)
            if bid:
                self.remove(bid, reason=f"asked by {q.get('by', 'cli')}")
            elif q.get("gtt_id"):
                self.broker.delete_gtt(str(q["gtt_id"]))
                self._event(E.GTT_DELETED, {"bracket_id": None, "gtt_id": str(q["gtt_id"]), "reason": "asked (not ours)"})
        else:
            raise ValueError(f"unknown gtt request {q.get('action')!r}")

    # -- standalone -----------------------------------------------------------------------------------
    def protect_holding(self, exchange: str, tradingsymbol: str, *, stop, target, quantity: int | None = None,
                        product: str | None = None) -> str | None:
        """Protect an existing CNC/NRML position or holding (``session.protect``)."""
        exchange = str(Exchange.parse(exchange, "exchange"))
        prods = [Product.parse(product, "product")] if product else list(PROTECTED_PRODUCTS)
        if prods[0] not in PROTECTED_PRODUCTS:
            raise ValidationError(f"GTT protection is for CNC and NRML, not {prods[0].value}", field="product")
        for prod in prods:
            net = self.book.net_quantity(exchange, tradingsymbol, prod)
            if net == 0 and prod is Product.CNC:
                net = sum(h.quantity + h.t1_quantity for h in self._holdings()
                          if h.exchange.value == exchange and h.tradingsymbol == tradingsymbol)
            if net:
                qty = net if quantity is None else (abs(int(quantity)) * (1 if net > 0 else -1))
                if quantity is not None and abs(int(quantity)) > abs(net):
                    raise ValidationError(f"{quantity} is more than the {abs(net)} held", field="quantity")
                bid = f"protect:{exchange}:{tradingsymbol}:{prod.value}"
                return self.protect(bid, (exchange, tradingsymbol), qty, stop, target, prod)
        raise ValidationError(f"no {'/'.join(p.value for p in prods)} position or holding in {exchange}:{tradingsymbol} "
                              "to protect", field="tradingsymbol")

    def _holdings(self):
        try:
            return self.broker.holdings()
        except BrokerError:
            return []

    # -- reconciliation ----------------------------------------------------------------------------------
    def _net(self, p: Protection) -> int:
        return self.book.net_quantity(p.exchange, p.tradingsymbol, p.product)

    def _finding(self, kind: str, p: Protection | None, message: str, **extra) -> dict:
        payload = {"kind": kind, "message": message, **(p.payload() if p is not None else {"bracket_id": None}), **extra}
        self._event(E.GTT_FINDING, payload)
        log.warning("GTT reconciliation: %s", message) if kind not in ("resized",) else log.info("GTT: %s", message)
        return payload

    def reconcile(self) -> list[dict]:
        """Protections against the broker's GTTs and the book; each finding journaled and returned."""
        with self.oms._lock, self._lock:
            try:
                gtts = {g.id: g for g in self.broker.gtts()}
            except BrokerError as e:
                log.warning("GTT reconciliation postponed: %s", e)
                return []
            out: list[dict] = []
            for p in [p for p in self.protections.values() if p.state in ("active", "removing", "triggered")]:
                try:
                    out += self._reconcile_one(p, gtts)
                except BrokerError as e:  # the broker went away mid-way: the next reconciliation goes on
                    log.warning("GTT reconciliation of %s postponed: %s", p.bracket_id, e)
            known = self._known_ids()
            mine = {p.gtt_id for p in self.active() if p.gtt_id}
            for g in gtts.values():
                if not g.is_active or g.id in known:
                    continue
                twin = next((p for p in self.active() if p.gtt_id in mine and p.gtt_id in gtts and gtts[p.gtt_id].is_active
                             and self._same(g, self._request(p, None))), None)
                if twin is not None:
                    try:
                        self.broker.delete_gtt(g.id)
                        out.append(self._finding("duplicate", twin, f"GTT {g.id} duplicates {twin.gtt_id} of {twin.bracket_id}: "
                                                                    "deleted", gtt_id=g.id, duplicate_of=twin.gtt_id))
                    except BrokerError as e:
                        log.warning("duplicate GTT %s not deleted: %s", g.id, e)
                elif g.id not in self._reported:
                    out.append(self._finding("unknown_gtt", None, f"active GTT {g.id} on {g.key} was not placed by tradekit: "
                                                                  "left alone", gtt_id=g.id))
            return out

    def _reconcile_one(self, p: Protection, gtts: dict[str, Gtt]) -> list[dict]:
        out = []
        g = gtts.get(p.gtt_id) if p.gtt_id else None
        if p.state == "triggered":  # its order was adopted: did it exit the position?
            cid = self.book.by_broker_id.get(p.triggered_order or "")
            o = self.book.orders.get(cid) if cid else None
            if o is not None and not o.status.is_terminal:
                return out  # still working
            if self._net(p) == 0 or (o is not None and o.filled_quantity == o.quantity):
                self._event(E.GTT_CLOSED, {**p.payload(), "reason": "the fired order exited the position"})
                return out
            out.append(self._finding("trigger_failed", p, f"the order of {p.bracket_id}'s fired GTT "
                                                          f"({p.triggered_order or '-'}) ended unfilled: protected again"))
            p.state, g = "active", None
        if p.state == "removing":
            if g is not None and g.status in (GttStatus.ACTIVE, GttStatus.DISABLED):
                self.remove(p.bracket_id, reason="removal retried")
                out.append(self._finding("orphan_deleted", p, f"GTT {p.gtt_id} of {p.bracket_id} was to be removed: deleted"))
            else:
                self._event(E.GTT_DELETED, {**p.payload(), "reason": "gone at the broker"})
            return out
        if g is not None and g.status is GttStatus.TRIGGERED:
            hit = self._fired_leg(p, g)
            ok = hit is not None and (hit[1] is None or hit[1].ok)
            cid = self._on_triggered(p, g) if hit is not None else None
            if ok and cid is not None:
                out.append(self._finding("triggered", p, f"GTT {g.id} of {p.bracket_id} fired while tradekit was away: "
                                                         f"order {hit[1].order_id if hit[1] else '?'} adopted as {cid}",
                                         adopted_order=hit[1].order_id if hit[1] else None, client_order_id=cid))
                if self._net(p) == 0:
                    self._event(E.GTT_CLOSED, {**p.payload(), "reason": f"GTT {g.id} fired"})
                return out
            why = hit[1].rejection_reason if hit is not None and hit[1] is not None else "no order"
            out.append(self._finding("trigger_failed", p, f"GTT {g.id} of {p.bracket_id} fired but its order failed ({why})"))
            p.state = "active"
            g = None  # protect again below, if the position is still there
        net = self._net(p)
        exists = net != 0 and (net > 0) == (p.side == Side.SELL.value)
        if not exists:
            if g is not None and g.status in (GttStatus.ACTIVE, GttStatus.DISABLED):
                try:
                    self.broker.delete_gtt(g.id)
                except BrokerError as e:
                    out.append(self._finding("orphan_delete_failed", p, f"GTT {g.id}: the position is gone, delete failed: {e}"))
                    return out
                out.append(self._finding("orphan_deleted", p, f"GTT {g.id} of {p.bracket_id}: no {p.key} {p.product} "
                                                              "position any more: deleted"))
            self._event(E.GTT_CLOSED, {**p.payload(), "reason": "position no longer exists"})
            return out
        want = min(p.quantity, abs(net))
        if g is None or g.status in NOT_PROTECTING:
            status = g.status.value if g is not None else ("not found" if p.gtt_id else "never placed")
            p2 = Protection(p.bracket_id, p.exchange, p.tradingsymbol, p.product, p.side, want, p.stop, p.target, p.strategy)
            gid = self._place(p2, action="replace")
            out.append(self._finding("missing" if gid else "replace_failed", p2,
                                     f"{p.bracket_id} ({p.key} {p.side} {want}) had no active GTT ({p.gtt_id or '-'} {status}): "
                                     + (f"placed again as {gid}" if gid else "not placed again yet"), previous=p.gtt_id,
                                     previous_status=status, replaced_by=gid))
            return out
        if g.request.legs[0].quantity != want:
            self.update(p.bracket_id, want * (1 if p.side == Side.SELL.value else -1), p.stop, p.target)
            out.append(self._finding("resized", p, f"GTT {g.id} of {p.bracket_id}: legs of {g.request.legs[0].quantity} "
                                                   f"for a position of {abs(net)}: now {want}"))
        return out

    def on_reconcile_report(self, rep) -> None:
        """After each broker reconciliation: the GTTs too; a fired leg's order it adopts ends an
        ``external_order`` difference, so the broker reconciliation runs again at once."""
        before = len(self.book.orders)
        try:
            self.reconcile()
        except Exception:  # never break the broker reconciliation
            log.exception("GTT reconciliation failed")
            return
        if len(self.book.orders) > before and not rep.ok and self.reconciler is not None:
            threading.Thread(target=self.reconciler.run_once, name="gtt-reconcile-again", daemon=True).start()

    def on_tick(self, tick) -> None:
        """Paper after a restart: the broker's GTTs died with the old process; protect again on the
        first price of each protected instrument."""
        if tick.key in self.pending_keys:
            self.pending_keys.discard(tick.key)
            self.reconcile()


def attach_gtt(session) -> GttProtector | None:
    """The session's protector (``session.gtt``), wired: rebuilt from the journal, listening to the
    OMS, the CLI's requests and (paper) the market-data hub. None when the broker keeps no GTTs or
    ``gtt.enabled`` is false."""
    cfg = getattr(session.config, "gtt", None)
    if (cfg is not None and not cfg.enabled) or not supports_gtt(session.broker):
        return None
    market = getattr(session, "market", None)
    def last_price(key: str):  # the hub's marks first: the prices the paper GTTs fire on
        px = market.last_price(key) if market is not None else None
        return px if px is not None else session.oms.last_price(key)

    prot = GttProtector(session.broker, session.oms, instruments=session.instruments, last_price=last_price,
                        buffer_pct=cfg.stop_limit_buffer_pct if cfg is not None else Decimal("1.0"))
    from tradekit.store.snapshot import history

    prot.rebuild(history(session.journal, GTT_EVENTS))  # the start snapshot's retained events, then the journal's
    session.oms.listeners.append(prot.on_event)
    session.on_foreign(E.GTT_REQUEST, prot.on_request)
    if hasattr(session.broker, "gtt_on_tick") and market is not None:
        lock = session.oms._lock

        def mark(tick, _broker=session.broker) -> None:  # the OMS's lock before the broker's, as orders take them
            book = _broker.gtt_book
            if not book.watches(tick.key) and tick.key not in prot.pending_keys:
                if tick.key is not None and tick.last_price:
                    book.note_price(tick.key, float(tick.last_price))  # the last price a placement checks against
                return  # no GTT on this instrument: the ticker thread does not wait for the session
            with lock:
                _broker.gtt_on_tick(tick)
                prot.on_tick(tick)

        # no GTT waits on the instrument: its ticks only leave the last price (the hub's quiet runs)
        mark.quiet_for = lambda key, _broker=session.broker: (not _broker.gtt_book.watches(key)
                                                             and key not in prot.pending_keys)
        market.add_listener(mark)
        prot.pending_keys = {p.key for p in prot.active()}
    return prot
