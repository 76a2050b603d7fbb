"""The order-management core: one ``submit()`` path for every order, paper or live.

Every change is a journal event applied to the :class:`~tradekit.store.projection.Book`; the
OMS never mutates state directly. Order of operations for a new order::

    ORDER_CREATED → RiskGate.check → RISK_DECISION ─ denied ─► DENIED
                                        ├─ manual ─► APPROVAL_REQUESTED  (a person decides later)
                                        └─ auto ───► APPROVAL_GRANTED → ORDER_SUBMITTED → broker.place_order

``ORDER_SUBMITTED`` is committed *before* the broker is called (write-ahead; inside a caller's
journal transaction — a signal and its order — the call waits for that commit). A placement
whose outcome is unknown (timeout, dropped connection, 5xx) becomes UNKNOWN and is resolved by
looking the client order id up as the broker's ``tag`` — never by sending the order again.

Resolution is durable: every order the book holds as SUBMITTED or UNKNOWN (also one stranded by
a crash between the journal and the broker's reply) is looked up until it is found, or until
its *deadline* has passed with no trace of it::

    deadline = max(submitted + placement timeout, unknown at) + broker processing window
               (and at least unknown_grace_seconds after resolution began; unknown_max_lookups lookups)

so a request the broker holds before acting on it is never concluded "not placed" while it can
still land. The set is rebuilt from the book (that is, the journal) on start and every cycle,
so restarts and re-logins resume it. Should a broker order carrying the tag of an order
concluded "not placed" turn up after all, it is adopted as that order (``adopted_late``), never
taken for an external order. Cancels, flatten and square-off are never queued for approval.
"""

from __future__ import annotations

import getpass
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Callable

from tradekit.brokers.base import Broker, BrokerOrder, BrokerTrade
from tradekit.clock import Clock
from tradekit.errors import (
    AmbiguousOrderState,
    AuthExpired,
    BrokerError,
    BrokerRejected,
    BrokerUnavailable,
    IllegalTransition,
    TradingHalted,
    ValidationError,
)
from tradekit.execution.account import Account
from tradekit.model.charges import NO_CHARGES, Charges
from tradekit.model.enums import OrderType, Product, Side, TradingMode
from tradekit.model.money import dec
from tradekit.model.order import WORKING, ClientOrderIdGenerator, Order, OrderRequest, OrderStatus
from tradekit.risk.base import PassThroughGate, RiskContext, RiskDecision, RiskGate
from tradekit.store.events import EventType as E
from tradekit.store.journal import Event, Journal
from tradekit.store.listeners import Listeners
from tradekit.store.projection import Book

# Enum members as module constants: an Enum class attribute costs ~0.25 us per access on Python 3.11
_LIVE = TradingMode.LIVE
_P_MIS = Product.MIS
_S_SUBMITTED = OrderStatus.SUBMITTED
_S_UNKNOWN = OrderStatus.UNKNOWN

log = logging.getLogger(__name__)

NEVER_QUEUED = frozenset({"square_off", "kill_switch", "breaker", "flatten", "rms"})
EXTERNAL_STRATEGY = "EXTERNAL"


@dataclass
class PendingResolution:
    """An order whose placement outcome is being looked up by tag."""

    client_order_id: str
    since: datetime  # submitted
    deadline: datetime  # not concluded "not placed" before this
    lookups: int = 0
    first_lookup: datetime | None = None
    last_error: str | None = None

    def describe(self) -> str:
        why = f"; last lookup failed: {self.last_error}" if self.last_error else ""
        return (f"order {self.client_order_id}: placement outcome pending since {self.since:%H:%M:%S}, looked up by tag "
                f"until {self.deadline:%H:%M:%S} at the latest{why}")


@dataclass
class ApprovalOutcome:
    client_order_id: str
    status: OrderStatus
    ok: bool
    messages: list[str] = field(default_factory=list)
    decision: RiskDecision | None = None


ChargesFn = Callable[..., Charges]


class OrderManager:
    """The OMS. Construct through :class:`tradekit.session.Session` in normal use."""

    def __init__(
        self,
        *,
        journal: Journal,
        book: Book,
        broker: Broker,
        clock: Clock,
        gate: RiskGate | None = None,
        instruments=None,
        account: Account | None = None,
        charges: ChargesFn | None = None,
        mode: TradingMode | str = TradingMode.PAPER,
        tag_prefix: str = "TK",
        market_protection: Decimal = Decimal(-1),
        algo_id: str | None = None,
        approval_for: Callable[[str], str] | None = None,
        approval_ttl_seconds: int = 300,
        allow_auto_in_live: bool = False,
        price_drift_pct: Decimal = Decimal("1.0"),
        approver: str | None = None,
        unknown_max_lookups: int = 3,
        unknown_grace_seconds: float = 30.0,
        placement_timeout_seconds: float = 0.0,
        broker_processing_seconds: float = 15.0,
        mis_entry_cutoff: Callable | None = None,
    ):
        self.journal = journal
        self.book = book
        self.broker = broker
        self.clock = clock
        self.gate: RiskGate = gate or PassThroughGate()
        self.instruments = instruments
        self.account = account or Account(book, instruments=instruments)
        self.charges = charges
        self.mode = TradingMode(mode)
        self.ids = ClientOrderIdGenerator(tag_prefix, journal.writer_id)
        self.market_protection = market_protection
        self.algo_id = algo_id
        self.approval_for = approval_for or (lambda strategy: "auto")
        self.approval_ttl = approval_ttl_seconds
        self.allow_auto_in_live = allow_auto_in_live
        self.price_drift_pct = dec(price_drift_pct, "price_drift_pct")
        self.default_approver = approver or _os_user()
        self.mis_entry_cutoff = mis_entry_cutoff  # (instrument, day) -> datetime: no new MIS exposure after it
        self.unknown_max_lookups = unknown_max_lookups
        self.unknown_grace = timedelta(seconds=unknown_grace_seconds)
        self.placement_timeout = timedelta(seconds=placement_timeout_seconds)
        self.broker_processing = timedelta(seconds=broker_processing_seconds)
        self.prices = self.account.prices  # last prices, shared with the account
        self._lp_seen: dict[str, tuple] = {}  # key -> (the broker's last quote object, its Decimal)
        self.account.price_of = self.last_price
        self._lock = threading.RLock()
        self._pending: dict[str, PendingResolution] = {}
        self._placing: set[str] = set()  # placements in flight in this process (their outcome is coming)
        self._halt_reason: str | None = None
        self._cancelling: set[str] = set()  # cancels requested, not yet confirmed: not counted as pending exits
        # fn(event) after each event the OMS writes; a listener marked with store.listeners.listens(...) only
        # for those types (most read one or two of the ~7 events an order makes)
        self.listeners: Listeners = Listeners()
        self.no_price_reason: Callable[[str], str] | None = None  # key -> why no price (the market-data hub)
        self.parents = None  # issue 15: the slicing/algo engine (tradekit.execution.slicing.ParentOrders) when installed
        broker.subscribe(self)
        self._track_stranded()  # SUBMITTED/UNKNOWN orders the journal holds from before a restart

    # -- plumbing ----------------------------------------------------------------------------------
    def _emit(self, type_: str, payload: dict) -> Event:
        ev = self.journal.append(type_, payload)
        self.book.apply(ev)
        for fn in self.listeners.route(type_):
            fn(ev)
        return ev

    def _instrument(self, exchange, symbol):
        return self.account.instrument(exchange, symbol)

    def mark(self, key: str, price) -> None:
        """Record a last traded price (used for margin of market orders, P&L and risk)."""
        self.prices[key] = dec(price, "price")

    def last_price(self, key: str) -> Decimal | None:
        """The freshest last price: the broker's market data when it has some, else the last mark."""
        lp = getattr(self.broker, "last_price", None)
        if lp is not None:
            v = lp(key)
            if v is not None:
                seen = self._lp_seen.get(key)
                if seen is not None and seen[0] is v:  # the same (immutable) quote object: the same Decimal
                    px = seen[1]
                else:
                    px = dec(v, "last_price")
                    self._lp_seen[key] = (v, px)
                self.prices[key] = px
                return px
        return self.prices.get(key)

    @property
    def blocked_reason(self) -> str | None:
        """Why new orders are refused now (None: they are not)."""
        return self._halt_reason

    def block_new_orders(self, reason: str | None) -> None:
        """Refuse new orders (reconciliation mismatch, lost session) until called with None."""
        self._halt_reason = reason

    # -- the one entry point -----------------------------------------------------------------------
    def submit(
        self,
        request: OrderRequest,
        *,
        strategy: str,
        signal_id: str | None = None,
        approval: str | None = None,
        source: str = "signal",
        reference_price=None,
        meta: dict | None = None,
        covered_by: str | None = None,
        parent_id: str | None = None,
    ) -> Order:
        """Create an order and send it through the gate (and a person, in manual mode) to the broker.

        ``covered_by``: the client order id of an approved parent (a bracket's entry) whose approval
        covers this child: it is not queued for a second approval (the gate still checks it).
        ``parent_id``: a child of a parent order (a slice, an algo's child) that was itself approved;
        the child is checked by the gate but not queued for a person again."""
        with self._lock:
            reducing_action = source in NEVER_QUEUED
            if self._halt_reason and not reducing_action:
                raise TradingHalted(f"new orders are refused: {self._halt_reason}")
            if meta and "algo" in meta and self.parents is not None:  # issue 15: a bad algo spec is refused up front
                meta = {**meta, "algo": self.parents.check_spec(meta["algo"])}
            now = self.clock.now()
            cid = self.ids.next(now.date())
            if request.is_market and (request.market_protection is None or request.market_protection == 0):
                mp = self.market_protection
                request = request.stamped(cid, mp, tag_checked=True) if mp is not None else \
                    request.with_changes(tag=cid, market_protection=None)
            else:
                request = request.stamped(cid, tag_checked=True)  # an id of self.ids: a valid tag by construction
            mode = "auto" if reducing_action else (approval or self.approval_for(strategy))
            if mode not in ("auto", "manual"):
                raise ValidationError(f"must be 'auto' or 'manual', {mode!r} was received", field="approval")
            cover = self._covering_approval(covered_by) if covered_by is not None else None
            if cover is not None:
                mode = "auto"  # a child of an approved group: the group's approval covers it
            if mode == "auto" and self.mode is _LIVE and not self.allow_auto_in_live and not reducing_action \
                    and cover is None:
                mode = "manual"  # live orders wait for a person unless the config says otherwise
            if parent_id is not None:  # issue 15: the approval of the parent covers its children
                mode = self.parents.child_mode(parent_id) if self.parents is not None else mode
            ref = reference_price if reference_price is not None else self.last_price(request.key)
            payload = {"client_order_id": cid, "strategy": strategy, "request": request.to_dict(), "signal_id": signal_id,
                       "approval_mode": mode, "source": source, "mode": self.mode._value_,
                       "reference_price": None if ref is None else str(ref)}
            if self.algo_id:
                payload["algo_id"] = self.algo_id
            if meta:
                payload["meta"] = meta
            if cover is not None:
                payload["covered_by"] = covered_by
            if parent_id is not None:
                payload["parent_id"] = parent_id
            with self.journal.transaction():  # one commit, durable before the broker is called
                if request.__class__ is OrderRequest and (ref is None or (ref.__class__ is Decimal and ref.is_finite())):
                    self.book.made(cid, request, ref)  # what the payload decodes to (a float's text would not be ref)
                self._emit(E.ORDER_CREATED, payload)
                order = self.book.orders[cid]
                decision = self._check_paced(order, source, mode)
                decided = decision.to_dict()  # a new dict: the id joins it (the journal sorts the keys)
                decided["client_order_id"] = cid
                self._emit(E.RISK_DECISION, decided)
                if not decision.allowed:
                    return order
                if mode == "manual":
                    expires = now + timedelta(seconds=self.approval_ttl)
                    self._emit(E.APPROVAL_REQUESTED, {"client_order_id": cid, "ttl_seconds": self.approval_ttl,
                                                      "expires_at": expires.isoformat(),
                                                      "price_at_proposal": payload["reference_price"]})
                    return order
                if cover is not None:
                    self._emit(E.APPROVAL_GRANTED, {"client_order_id": cid, "by": cover, "auto": False, "covered_by": covered_by,
                                                    "reason": f"covered by the approval of {covered_by} (its group's parent)"})
                else:
                    self._emit(E.APPROVAL_GRANTED, {"client_order_id": cid, "by": "auto-policy", "auto": True,
                                                    "reason": (f"covered by the approval of parent {parent_id}" if parent_id
                                                               else f"{self.mode._value_} auto-approval ({source})")})
                if self.parents is not None and self.parents.takes(order, decision):  # issue 15: slices / algo
                    self.parents.start(order, decision)
                    self.journal.after_commit(lambda: self.parents.kick(cid))
                    return order
                self._emit_submitted(order)
                self._placing.add(cid)
            # After the commit: at once, or when the caller's transaction (signal + order) commits.
            self.journal.after_commit(lambda: self._place_locked(order))
            return order

    def _covering_approval(self, parent_id: str) -> str:
        """Who approved ``parent_id`` (a group's parent order); a ValidationError when it was not approved."""
        parent = self.book.orders.get(parent_id)
        granted = None if parent is None else next((why for _ts, _frm, to, why in parent.history
                                                    if to == OrderStatus.APPROVED.value), False)
        if parent is None or granted is False:
            raise ValidationError(f"{parent_id!r} is not an approved order; its approval cannot cover a child",
                                  field="covered_by")
        return f"group:{parent_id}"

    def _check(self, order: Order, source: str, mode: str) -> RiskDecision:
        req = order.request
        now = self.clock.now()
        inst = self._instrument(req.exchange, req.tradingsymbol)
        lp = self.last_price(req.key)
        # now, book, account, instrument, last_price, reduce_only, source, approval_mode (positional: every order)
        ctx = RiskContext(now, self.book, self.account, inst, lp, self.reduces_exposure(req), source, mode)
        if lp is None and self.no_price_reason is not None:  # the market-data hub says why it has no quote
            ctx.extra["no_price_reason"] = self.no_price_reason(req.key)
        if req.product is _P_MIS and self.mis_entry_cutoff is not None:
            cut = self.mis_entry_cutoff(inst, now.date())
            if cut is not None:
                ctx.extra["mis_cutoff"] = cut
        try:
            return self.gate.check(order, ctx)
        except Exception as e:  # a broken check must deny, never let an order through silently
            log.exception("risk gate failed on %s", order.client_order_id)
            from tradekit.risk.base import CheckResult

            return RiskDecision(False, (CheckResult("GATE_ERROR", False, f"risk gate error: {e}"),))

    MAX_RATE_WAIT = 2.0  # seconds the governor may hold one order before it is denied

    def _check_paced(self, order: Order, source: str, mode: str) -> RiskDecision:
        """Check; when only the order-rate governor says no, wait its ``retry_after`` and check again.

        The governor paces orders under the per-second limit rather than refusing them; a
        simulated clock is advanced instead of sleeping. Waits beyond ``MAX_RATE_WAIT`` deny.
        """
        waited = 0.0
        while True:
            decision = self._check(order, source, mode)
            if decision.allowed or decision.retry_after is None or decision.codes != ["RATE"]:
                return decision
            if waited + decision.retry_after > self.MAX_RATE_WAIT:
                return decision
            self.clock.sleep(decision.retry_after)
            waited += decision.retry_after

    def reduces_exposure(self, request: OrderRequest) -> bool:
        """True when the order only brings the account's net position in this symbol towards zero."""
        # the members' text (what net_quantity's str() of a member gives, without a Python __str__ call each)
        net = self.book.net_quantity(request.exchange._value_, request.tradingsymbol, request.product._value_)
        if net == 0:  # nothing to reduce (the working orders below do not change that)
            return False
        pending = 0
        ex, sym, product, cancelling = request.exchange, request.tradingsymbol, request.product, self._cancelling
        for o in self.book.open.values():
            r = o.request
            # the same key (exchange + symbol: both validated, so the members compare by identity)
            if r.tradingsymbol == sym and r.exchange is ex and r.product is product and o.status in WORKING \
                    and o.client_order_id not in cancelling:  # a kill's flatten after its cancels (live: async)
                pending += (r.quantity - o.filled_quantity) * r.side.sign
        signed = request.quantity * request.side.sign
        # every working order on the same side counts as already sent
        after = net + pending * (1 if (pending > 0) == (signed > 0) else 0) + signed
        return (net > 0 and signed < 0 and after >= 0) or (net < 0 and signed > 0 and after <= 0)

    def _emit_submitted(self, order: Order) -> None:
        self._emit(E.ORDER_SUBMITTED, {"client_order_id": order.client_order_id,
                                       "broker": getattr(self.broker, "name", "broker")})

    def _place_locked(self, order: Order) -> None:
        with self._lock:
            try:
                self._place(order)
            finally:
                self._placing.discard(order.client_order_id)
                if order.status in (_S_SUBMITTED, _S_UNKNOWN):
                    self._track(order)  # the reply was not journaled (a journal failure): look it up

    def _place(self, order: Order) -> None:
        """Call the broker; ORDER_SUBMITTED is already durable (write-ahead)."""
        cid = order.client_order_id
        try:
            boid = self.broker.place_order(cid, order.request)
        except BrokerRejected as e:
            self._emit(E.ORDER_UPDATE, {"client_order_id": cid, "status": "REJECTED", "message": e.broker_message or str(e)})
            return
        except AmbiguousOrderState as e:
            if order.status is not _S_SUBMITTED:
                return  # an update for it already arrived (order stream beat the HTTP reply): the outcome is known
            self._emit(E.ORDER_UNKNOWN, {"client_order_id": cid, "reason": str(e)})
            self._track(order)
            self.resolve_unknown(cid)
            return
        except AuthExpired as e:
            self._emit(E.ORDER_UPDATE, {"client_order_id": cid, "status": "REJECTED", "message": f"not placed: {e}"})
            self.block_new_orders(str(e))
            raise
        except BrokerUnavailable as e:  # known not to have reached the broker
            self._emit(E.ORDER_UPDATE, {"client_order_id": cid, "status": "REJECTED",
                                        "message": f"not placed, broker unavailable: {e}"})
            return
        if order.status is _S_SUBMITTED:  # the broker acknowledged; its status updates follow
            self._emit(E.ORDER_UPDATE, {"client_order_id": cid, "status": "PUT ORDER REQ RECEIVED", "broker_order_id": boid})
        elif order.broker_order_id is None and boid:
            self.book.by_broker_id[boid] = cid

    # -- approvals ---------------------------------------------------------------------------------
    def approve(self, client_order_id: str, *, by: str | None = None, reason: str = "", changes: dict | None = None,
                confirm_drift: bool = False) -> ApprovalOutcome:
        """A person approves (optionally modifying quantity/price). Price drift and risk are re-checked.

        Idempotent: approving an order that is no longer pending reports its state and does nothing.
        """
        with self._lock:
            order = self.book.order(client_order_id)
            by = by or self.default_approver
            if order.status is not OrderStatus.PENDING_APPROVAL:
                return ApprovalOutcome(client_order_id, order.status, order.status is OrderStatus.APPROVED or order.status.is_working
                                       or order.status is OrderStatus.FILLED, [f"order is {order.status.value}; nothing to approve"])
            if self._expired(order):
                self._emit(E.APPROVAL_EXPIRED, {"client_order_id": client_order_id, "reason": "approval TTL passed before approval"})
                return ApprovalOutcome(client_order_id, order.status, False, ["proposal expired; it cannot be approved"])
            msgs: list[str] = []
            new_req = order.request
            clean: dict = {}
            if changes:
                for k in ("quantity", "price", "trigger_price"):
                    if changes.get(k) is not None:
                        clean[k] = int(changes[k]) if k == "quantity" else dec(changes[k], k)
                if clean:
                    new_req = order.request.with_changes(**clean)  # validates
                    msgs.append("modified: " + ", ".join(f"{k} {getattr(order.request, k)} → {v}" for k, v in clean.items()))
            drift = self._drift(order)
            if drift is not None and abs(drift) > self.price_drift_pct:
                msg = f"price moved {drift:+.2f} % since the proposal (limit {self.price_drift_pct} %)"
                if not confirm_drift:
                    return ApprovalOutcome(client_order_id, order.status, False, msgs + [msg + "; confirm to approve anyway"])
                msgs.append(msg + "; approved anyway")
            probe = Order(order.client_order_id, new_req, order.strategy, status=OrderStatus.CREATED)
            decision = self._check(probe, "manual", "manual")
            if not decision.allowed:
                self._emit(E.RISK_DECISION, {"client_order_id": client_order_id, **decision.to_dict(), "at": "approval"})
                return ApprovalOutcome(client_order_id, self.book.order(client_order_id).status, False,
                                       msgs + [f"risk gate now denies it: {decision.reason}"], decision)
            changed_checks = [c.message for c in decision.checks if c.message and not c.ok]
            with self.journal.transaction():
                self._emit(E.APPROVAL_GRANTED, {"client_order_id": client_order_id, "by": by, "auto": False,
                                                "reason": reason,
                                                "changes": {k: str(v) if isinstance(v, Decimal) else v for k, v in clean.items()},
                                                "drift_pct": None if drift is None else f"{drift:.4f}"})
                if self.parents is not None and self.parents.takes(order, decision):  # issue 15: slices / algo
                    self.parents.start(order, decision)
                    self.journal.after_commit(lambda: self.parents.kick(client_order_id))
                    return ApprovalOutcome(client_order_id, order.status, True, msgs + changed_checks, decision)
                self._emit_submitted(order)
                self._placing.add(client_order_id)
            self.journal.after_commit(lambda: self._place_locked(order))
            return ApprovalOutcome(client_order_id, order.status, True, msgs + changed_checks, decision)

    def reject(self, client_order_id: str, *, by: str | None = None, reason: str = "") -> ApprovalOutcome:
        with self._lock:
            order = self.book.order(client_order_id)
            if order.status is not OrderStatus.PENDING_APPROVAL:
                return ApprovalOutcome(client_order_id, order.status, order.status is OrderStatus.APPROVAL_REJECTED,
                                       [f"order is {order.status.value}; nothing to reject"])
            if not reason.strip():
                raise ValidationError("a reason is required to reject a proposal", field="reason")
            self._emit(E.APPROVAL_REJECTED, {"client_order_id": client_order_id, "by": by or self.default_approver, "reason": reason})
            return ApprovalOutcome(client_order_id, order.status, True)

    def expire_stale(self) -> list[str]:
        """Expire pending proposals whose TTL has passed; return their ids."""
        with self._lock:
            out = []
            for o in list(self.book.open.values()):
                if o.status is OrderStatus.PENDING_APPROVAL and self._expired(o):
                    self._emit(E.APPROVAL_EXPIRED, {"client_order_id": o.client_order_id, "reason": "approval TTL passed"})
                    out.append(o.client_order_id)
            return out

    def _expired(self, order: Order) -> bool:
        ttl = timedelta(seconds=self.approval_ttl)
        return order.created_at is not None and self.clock.now() >= order.created_at + ttl

    def _drift(self, order: Order) -> Decimal | None:
        """Signed % move of the last price since the proposal, positive = worse for the trader."""
        created = order.reference_price
        now_px = self.last_price(order.request.key)
        if created is None or now_px is None or created == 0:
            return None
        d = (now_px - created) / created * 100
        return d if order.side is Side.BUY else -d

    # -- changes to working orders -------------------------------------------------------------------
    def modify(self, client_order_id: str, *, quantity: int | None = None, price=None, trigger_price=None,
               order_type: OrderType | str | None = None) -> Order:
        with self._lock:
            order = self.book.order(client_order_id)
            if order.status is OrderStatus.SLICED and self.parents is not None:  # issue 15: acts on the open children
                self.parents.modify(client_order_id, quantity=quantity, price=price)
                return order
            if not order.status.is_working or order.broker_order_id is None:
                raise IllegalTransition(f"order {client_order_id} is {order.status.value}; only a working order can be modified")
            changes = {k: v for k, v in (("quantity", quantity), ("price", price), ("trigger_price", trigger_price),
                                         ("order_type", order_type)) if v is not None}
            new_req = order.request.with_changes(**changes)
            if not self.reduces_exposure(new_req) and new_req.quantity > order.request.quantity:
                decision = self._check(Order(client_order_id, new_req, order.strategy), "manual", "auto")
                if not decision.allowed:
                    raise BrokerRejected(f"modification denied by the risk gate: {decision.reason}")
            self._emit(E.ORDER_MODIFY_REQUESTED, {"client_order_id": client_order_id,
                                                  **{k: str(v) for k, v in changes.items()}})
            try:
                self.broker.modify_order(order.broker_order_id, new_req)
            except BrokerError as e:
                self._emit(E.BROKER_ERROR, {"client_order_id": client_order_id, "action": "modify", "message": str(e)})
                raise
            self._emit(E.ORDER_MODIFIED, {"client_order_id": client_order_id, "quantity": new_req.quantity,
                                          "price": None if new_req.price is None else str(new_req.price),
                                          "trigger_price": None if new_req.trigger_price is None else str(new_req.trigger_price),
                                          "order_type": new_req.order_type.value})
            return order

    def cancel(self, client_order_id: str, *, reason: str = "", source: str = "manual") -> Order:
        """Cancel: never blocked. A pending proposal is withdrawn; a working order is cancelled at the broker."""
        with self._lock:
            order = self.book.order(client_order_id)
            if order.status is OrderStatus.SLICED and self.parents is not None:  # issue 15: stop it, cancel its children
                self.parents.cancel(client_order_id, reason=reason, source=source)
                return order
            if order.status is OrderStatus.PENDING_APPROVAL:
                self._emit(E.APPROVAL_REJECTED, {"client_order_id": client_order_id, "by": source, "reason": reason or "withdrawn"})
                return order
            if order.status.is_terminal:
                return order
            if order.status is OrderStatus.UNKNOWN or order.broker_order_id is None:
                self.resolve_unknown(client_order_id)
                if order.broker_order_id is None:
                    raise AmbiguousOrderState(f"order {client_order_id} is not yet known at the broker; cancel again once resolved")
            self._emit(E.ORDER_CANCEL_REQUESTED, {"client_order_id": client_order_id, "reason": reason, "source": source})
            self._cancelling.add(client_order_id)
            try:
                self.broker.cancel_order(order.broker_order_id, order.request.variety)
            except BrokerRejected as e:  # mostly "already cancelled/complete": final at the broker, still not an exit to come
                self._emit(E.BROKER_ERROR, {"client_order_id": client_order_id, "action": "cancel", "message": str(e)})
            return order

    def cancel_all(self, *, reason: str, source: str = "manual", strategy: str | None = None,
                   keep_reducing: bool = False) -> list[str]:
        """Cancel open orders (and withdraw proposals). ``keep_reducing`` spares square-off/flatten orders in flight."""
        with self._lock:
            done = []
            if self.parents is not None:  # issue 15: parents first, so no new child goes out
                done += self.parents.cancel_all(reason=reason, source=source, strategy=strategy, keep_reducing=keep_reducing)
            for o in list(self.book.open.values()):
                if strategy is not None and o.strategy != strategy:
                    continue
                if keep_reducing and o.source in NEVER_QUEUED:
                    continue
                if o.status is OrderStatus.PENDING_APPROVAL or o.status.is_working:
                    try:
                        self.cancel(o.client_order_id, reason=reason, source=source)
                        done.append(o.client_order_id)
                    except BrokerError as e:
                        log.warning("cancel of %s failed: %s", o.client_order_id, e)
            return done

    def flatten(self, strategy: str | None = None, *, reason: str, source: str = "flatten",
                product: Product | None = None) -> list[Order]:
        """Cancel open orders and close every open position (of one strategy, or all) at market."""
        with self._lock:
            self.cancel_all(reason=reason, source=source, strategy=strategy, keep_reducing=True)
            in_flight: dict[tuple, int] = {}  # closing quantity already on its way, per position
            for o in self.book.open.values():
                if o.source in NEVER_QUEUED and o.status.is_working:
                    r = o.request
                    k = (o.strategy, r.key, r.product)
                    in_flight[k] = in_flight.get(k, 0) + (r.quantity - o.filled_quantity) * r.side.sign
            out = []
            for p in list(self.book.positions.values()):
                if p.quantity == 0 or (strategy is not None and p.strategy != strategy) or (product is not None and p.product is not product):
                    continue
                rest = p.quantity + in_flight.get((p.strategy, p.instrument_key, p.product), 0)
                if rest == 0 or (rest > 0) != (p.quantity > 0):
                    continue  # already being closed
                side = Side.SELL if rest > 0 else Side.BUY
                req = OrderRequest(p.exchange, p.tradingsymbol, side, abs(rest), OrderType.MARKET, p.product)
                out.append(self.submit(req, strategy=p.strategy, source=source, meta={"reason": reason}))
            return out

    # -- unknown outcomes ----------------------------------------------------------------------------
    def _since(self, order: Order, status: OrderStatus) -> datetime | None:
        for ts, _frm, to, _why in order.history:
            if to == status.value and ts is not None:
                return ts
        return None

    def _track(self, order: Order) -> PendingResolution:
        """Start (or keep) resolving ``order`` by tag; its deadline comes from when it was sent."""
        cid = order.client_order_id
        p = self._pending.get(cid)
        if p is not None:
            return p
        now = self.clock.now()
        submitted = self._since(order, OrderStatus.SUBMITTED) or order.updated_at or now
        unknown_at = self._since(order, OrderStatus.UNKNOWN) or submitted
        deadline = max(max(submitted + self.placement_timeout, unknown_at) + self.broker_processing, now + self.unknown_grace)
        p = self._pending[cid] = PendingResolution(cid, submitted, deadline)
        return p

    def _track_stranded(self) -> None:
        for o in list(self.book.open.values()):
            if (o.status in (OrderStatus.SUBMITTED, OrderStatus.UNKNOWN) and o.broker_order_id is None
                    and o.client_order_id not in self._placing):
                self._track(o)

    def resolve_unknown(self, client_order_id: str | None = None) -> dict[str, str]:
        """Look orders of unknown outcome up at the broker by tag; never resend. Returns cid → outcome.

        Without an id: every SUBMITTED/UNKNOWN order in the book that is not being placed right
        now (so also those stranded by a crash or a journal failure). An order is concluded
        "not placed" only once its deadline has passed, with at least ``unknown_max_lookups``
        lookups, the last one after the deadline.
        """
        with self._lock:
            out = {}
            if client_order_id is None:
                self._track_stranded()
            ids = [client_order_id] if client_order_id else list(self._pending)
            for cid in ids:
                p = self._pending.get(cid)
                if p is None:
                    continue
                o = self.book.orders.get(cid)
                if o is None or o.broker_order_id is not None or o.status not in (OrderStatus.SUBMITTED, OrderStatus.UNKNOWN):
                    self._pending.pop(cid, None)  # resolved meanwhile (an update arrived)
                    continue
                now = self.clock.now()
                try:
                    row = self.broker.find_by_tag(cid)
                except BrokerError as e:
                    p.last_error = str(e)
                    out[cid] = f"lookup failed: {e}"
                    continue
                p.last_error = None
                if row is not None:
                    self.on_order_update(row)
                    for t in self.broker.trades():
                        if t.broker_order_id == row.broker_order_id:
                            self.on_trade(t)
                    self._pending.pop(cid, None)
                    out[cid] = f"found: {row.status}"
                    continue
                p.lookups += 1
                p.first_lookup = p.first_lookup or now
                if now >= p.deadline and p.lookups >= self.unknown_max_lookups:
                    self._emit(E.ORDER_UPDATE, {
                        "client_order_id": cid, "status": "REJECTED", "concluded": "not_placed",
                        "message": (f"not found at the broker by tag after {p.lookups} lookups, the last after the deadline "
                                    f"{p.deadline:%H:%M:%S} (sent {p.since:%H:%M:%S} + request timeout + broker processing "
                                    f"window): treated as not placed (never resent; adopted if it turns up)")})
                    self._pending.pop(cid, None)
                    out[cid] = "not placed"
                else:
                    out[cid] = "still unknown"
            return out

    @property
    def unknown_orders(self) -> list[str]:
        """Orders whose placement outcome is still being looked up."""
        with self._lock:
            self._track_stranded()
            return list(self._pending)

    def pending_resolutions(self) -> dict[str, PendingResolution]:
        with self._lock:
            self._track_stranded()
            return dict(self._pending)

    # -- broker callbacks ----------------------------------------------------------------------------
    def _cid_for(self, tag: str | None, broker_order_id: str | None) -> str | None:
        if tag and tag in self.book.orders:
            return tag
        if broker_order_id:
            return self.book.by_broker_id.get(broker_order_id)
        return None

    def on_order_update(self, row: BrokerOrder) -> None:
        with self._lock:
            cid = self._cid_for(row.tag, row.broker_order_id)
            if cid is None:
                self._emit(E.RECONCILIATION, {"kind": "external_order", "broker_order_id": row.broker_order_id,
                                              "tag": row.tag, "status": row.status, "tradingsymbol": row.tradingsymbol,
                                              "side": row.side.value, "quantity": row.quantity})
                return
            order = self.book.orders[cid]
            if cid in self.book.not_placed and order.broker_order_id is None and row.broker_order_id:
                # concluded "not placed", yet the broker has it: it landed late. It is ours: adopt it.
                log.warning("order %s was concluded not placed but the broker has it (%s, %s): adopting it",
                            cid, row.broker_order_id, row.status)
                self._emit(E.ORDER_UPDATE, {"client_order_id": cid, "status": row.status, "adopted_late": True,
                                            "filled_quantity": row.filled_quantity, "broker_order_id": row.broker_order_id,
                                            "exchange_order_id": row.exchange_order_id,
                                            "message": row.status_message or "placement landed after it was concluded not placed"})
                return
            try:
                target = order.check_broker_update(row.status, row.filled_quantity)
            except IllegalTransition as e:
                self._emit(E.NOTE, {"kind": "update_ignored", "client_order_id": cid, "status": row.status, "why": str(e)})
                return
            unchanged = (target is order.status and row.filled_quantity == order.broker_filled_quantity
                         and (row.broker_order_id == order.broker_order_id) and row.status == order.broker_status)
            if unchanged:
                return
            if order.status.is_terminal:  # a repeat of the final state: nothing to journal
                return
            self._pending.pop(cid, None)
            self._emit(E.ORDER_UPDATE, {"client_order_id": cid, "status": row.status, "filled_quantity": row.filled_quantity,
                                        "broker_order_id": row.broker_order_id, "exchange_order_id": row.exchange_order_id,
                                        "message": row.status_message})

    def on_trade(self, t: BrokerTrade) -> None:
        with self._lock:
            book = self.book
            if t.trade_id in book.trade_ids:
                return  # already booked (a resolution lookup, a reconnect replay)
            cid = self._cid_for(t.tag, t.broker_order_id)
            order = None if cid is None else book.orders[cid]
            exchange, symbol, qty, price, ts = t.exchange, t.tradingsymbol, t.quantity, t.price, t.timestamp
            inst = self._instrument(exchange, symbol)
            if self.charges is not None and inst is not None:
                charges = self.charges(inst, t.product, t.side, qty, price, ts.date(), t.broker_order_id or cid)
            else:
                charges = NO_CHARGES
            payload = {"client_order_id": cid, "trade_id": t.trade_id, "broker_order_id": t.broker_order_id,
                       "quantity": qty, "price": str(price), "side": t.side._value_, "exchange": exchange._value_,
                       "tradingsymbol": symbol, "product": t.product._value_,
                       "strategy": EXTERNAL_STRATEGY if order is None else order.strategy,
                       "multiplier": inst.multiplier if inst is not None else 1,
                       "charges": charges.as_dict(with_total=False), "fill_time": ts.isoformat()}
            if order is not None:
                try:
                    order.check_fill(qty)
                except IllegalTransition as e:  # record why instead of journaling what the book would refuse
                    self._emit(E.NOTE, {"kind": "fill_refused", "trade_id": t.trade_id, "client_order_id": cid, "why": str(e)})
                    return
            self._emit(E.FILL, payload)
            self.prices[f"{exchange._value_}:{symbol}"] = price


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown-user"
