"""Brackets: an entry with a stop-loss and targets managed as one parent order, through the OMS.

    bm = session.brackets
    b = bm.submit(OrderRequest(NSE, "INFY", BUY, 100, LIMIT, MIS, price=1500), strategy="s",
                  stop={"points": 15}, targets=[{"points": 20, "share": 0.5}, {"points": 40, "share": 0.5}],
                  trail={"kind": "atr", "value": 2})
    bm.modify(b.bracket_id, stop=1490)      # the group: entry price/quantity, stop, targets
    bm.cancel(b.bracket_id, reason="...")   # the entry, the children, and the filled part exits at market

**Life.** The entry goes through ``OrderManager.submit`` like any order (gate, approval). Its id is
the bracket's id and every child's ``parent_id``. When it fills, the children are placed, sized to
the *filled* quantity: a stop (SL-M, or SL for options and ``brackets.stop_order_type: SL``) for
the whole open quantity and one LIMIT per target for its share; partial fills grow them
(modify, or a new order when the old one is done). Stop and targets are one-cancels-other: a
target's fill shrinks the stop (the stop is always the open quantity); a stop fill cancels the
targets and the rest of the entry. With ``break_even`` the stop moves to the entry's average
price once the first target has filled. Everything is one desired-state rule (:meth:`_sync`),
run after every event that touches the group, so a lost reply, a restart or a refused child is
repaired by running it again; a child the gate or broker refused is tried again after
``brackets.child_retry_seconds``. Should both legs fill anyway (a gap through both in one
moment), the overfill is bought back at market (``repair``): a bracket never leaves a position
opposite to its entry.

**CNC.** Kite blocks sells of delivery stock beyond the holding, pending sells included, so a CNC
bracket's targets wait locally: a target is placed (the stop shrunk first) when a mark reaches
its price. The crash protection of CNC/NRML positions is a GTT OCO (see ``protector``).

**Approval.** A person (or the auto policy) approves the entry; that approval covers the group:
children are submitted with ``covered_by=<entry id>`` and journaled ``approval.granted`` by
``group:<entry id>`` — never queued for a second approval, still checked by the gate.

**Taken down.** A cancel of a child (or of the entry) from square-off, flatten, the kill switch
(``source`` other than ``bracket``) takes the whole group down: the remaining children and the
entry are cancelled and nothing is placed again; flatten closes the position. A person cancelling
only the entry from the order book leaves the children protecting what filled.

**Trailing.** :meth:`on_tick` (a market-data hub listener: paper bars and live ticks alike) moves
the stop behind the best mark by points, percent or ATR (vectorbt's ATR over bars of
``brackets.atr_bar_seconds`` built from the marks), only in the favourable direction, to the
tick, at least ``trail_min_step_ticks`` and ``trail_min_interval_seconds`` apart. A child
modified ``replace_after_modifications`` times (Kite: 25 at most) is replaced instead
(cancelled; the new order goes out once the cancel is confirmed — never two stops at once).

**Journal.** ``bracket.created``, ``bracket.stop_moved``, ``bracket.modified``,
``bracket.taken_down``, ``bracket.protected``, ``bracket.child_failed``, ``bracket.closed``, and the
children's ``order.created`` with ``meta: {parent_id, bracket_id, role}``. :meth:`restore` rebuilds
every bracket from them (the fills and order states come from the book), so a restarted session
goes on managing a bracket it had open.

**Protector.** An optional collaborator (the GTT layer) with ``protect(bracket_id, instrument,
qty, stop, target, product) -> str | None``, ``update(bracket_id, qty, stop, target)`` and
``remove(bracket_id)``; called for CNC and NRML brackets from :meth:`_protect` — ``protect``
when the entry first fills, ``update`` when the open quantity, the stop or the next target
changes, ``remove`` when the bracket closes or is taken down.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from tradekit.errors import BrokerError, TradekitError, ValidationError
from tradekit.execution.bracket_spec import BracketSpec, Target, allocate, resolve
from tradekit.execution.trailing import TrailEngine
from tradekit.model.enums import OrderType, Product, Side
from tradekit.model.money import dec
from tradekit.model.order import Order, OrderRequest, OrderStatus
from tradekit.store.events import EventType as E
from tradekit.store.listeners import typed

log = logging.getLogger(__name__)

SOURCE = "bracket"
PROTECTED_PRODUCTS = (Product.CNC, Product.NRML)
_FAILED = (OrderStatus.DENIED, OrderStatus.REJECTED)
TAKE_DOWN_EXITS = ("flatten", "square_off", "kill_switch", "breaker", "rms")  # takedowns that mean "and close it"


def _filled(o: Order) -> int:
    """Filled as far as anyone knows: the fills booked, or the broker's count when its status update
    came first (live: COMPLETE often arrives before the trade)."""
    return max(o.filled_quantity, o.broker_filled_quantity)


@dataclass
class Bracket:
    """One group's state, rebuilt from the journal; fills and order states are read from the book."""

    bracket_id: str  # the entry's client order id = every child's parent_id
    strategy: str
    exchange: str
    tradingsymbol: str
    product: Product
    side: Side  # the entry's
    quantity: int
    spec: BracketSpec
    stop: Decimal  # now (trails, break-even, modify)
    targets: tuple[Target, ...]
    children: dict[str, str] = field(default_factory=dict)  # cid -> role: stop | target:<i> | repair
    modifications: dict[str, int] = field(default_factory=dict)  # child cid -> modifications journaled
    cancel_requested: set[str] = field(default_factory=set)
    taken_down: str | None = None
    exit_on_takedown: bool = False  # the open quantity leaves at market once the children are cancelled
    break_even_done: bool = False
    best: Decimal | None = None  # the trail's best mark
    last_move: datetime | None = None
    armed: set[int] = field(default_factory=set)  # CNC targets whose price a mark has reached
    protection: dict | None = None  # what the protector holds: {id, qty, stop, target}
    failed_noted: set[str] = field(default_factory=set)
    retry_at: dict[str, datetime] = field(default_factory=dict)
    closed: str | None = None  # why, once closed

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def exit_side(self) -> Side:
        return Side.SELL if self.side is Side.BUY else Side.BUY

    @property
    def local_targets(self) -> bool:
        return self.product is Product.CNC and self.side is Side.BUY

    def role_orders(self, book, role: str) -> list[Order]:
        return [book.orders[c] for c, r in self.children.items() if r == role and c in book.orders]


class BracketManager:
    """Brackets over one :class:`~tradekit.execution.oms.OrderManager` (paper and live alike)."""

    #: the journal events a restore reads (fills and order states come from the book)
    RESTORE_TYPES = (E.BRACKET_CREATED, E.BRACKET_STOP_MOVED, E.BRACKET_MODIFIED, E.BRACKET_TAKEN_DOWN,
                     E.BRACKET_PROTECTED, E.BRACKET_CHILD_FAILED, E.BRACKET_CLOSED, E.ORDER_CREATED, E.ORDER_MODIFIED,
                     E.ORDER_CANCEL_REQUESTED, E.GTT_TRIGGERED)

    def __init__(self, oms, *, config=None, protector=None):
        from tradekit.config.schema import BracketsConfig

        self.oms = oms
        self.book = oms.book
        self.cfg = config or BracketsConfig()
        self.protector = protector
        self.hub = None
        self._marks: dict[str, list[Decimal]] = {}  # key -> [last, high, low] noted since last worked
        self._marks_lock = threading.Lock()
        self.brackets: dict[str, Bracket] = {}
        self._child_of: dict[str, str] = {}  # child cid -> bracket id
        self._dirty: set[str] = set()
        self._busy = False
        self.trail = TrailEngine(self.cfg.atr_bar_seconds)
        # While it holds no bracket, on_event acts on bracket.created alone (it returns at once for any other
        # event): the OMS routes it that type only, and every type from the first bracket on (_listen_fully)
        self._idle = typed(self.on_event, (E.BRACKET_CREATED,))
        oms.listeners.append(self._idle)

    # -- building and restoring ----------------------------------------------------------------------
    def restore(self, events, *, sync: bool = True) -> int:
        """Rebuild every bracket from journal events (``bracket.*`` and the orders' events); the
        open ones are brought to their desired state now (``sync``) or at the next :meth:`run`
        (a session's ``service()`` cycle, a mark, an event). Returns how many are open."""
        for ev in events:
            self._apply(ev)
        open_ = [b for b in self.brackets.values() if b.closed is None]
        self._dirty.update(b.bracket_id for b in open_)
        if any(b.spec.trail is not None and b.spec.trail.kind == "atr" for b in open_):
            self.trail.prepare()
        if sync:
            self.run()
        return len(open_)

    def submit_signal(self, signal, request: OrderRequest, route: str | None = None) -> Order:
        """A signal with ``stop``/``targets``/``trail`` (``signal.meta["bracket"]``): its entry order."""
        spec = signal.meta["bracket"]
        b = self.submit(request, strategy=signal.strategy, stop=spec["stop"], targets=spec.get("targets") or (),
                        trail=spec.get("trail"), break_even=spec.get("break_even"), signal_id=signal.signal_id,
                        approval=route, reference_price=signal.reference_price)
        return self.book.orders[b.bracket_id]

    def attach(self, hub) -> None:
        """Marks from the market-data hub move trails and arm CNC targets."""
        self.hub = hub
        hub.add_listener(self.on_tick)

    # -- the group's API -------------------------------------------------------------------------------
    def submit(self, request: OrderRequest, *, strategy: str, stop, targets=(), trail=None, break_even: bool | None = None,
               signal_id: str | None = None, approval: str | None = None, reference_price=None,
               source: str = "signal") -> Bracket:
        """Submit the entry with its stop and targets (prices, or points/percent from the entry's
        reference: its limit price, ``reference_price`` or the last price). Returns the bracket;
        when the gate denies the entry, the bracket is closed at once (``closed`` says why)."""
        hub = self.hub
        if hub is not None:  # subscribed before the entry's risk check (live: a first quote within quote_wait_seconds)
            hub.want([request.key], "bracket")
            if hub.last_price(request.key) is None:
                hub.wait_quote(request.key)
        if reference_price is not None and self.oms.last_price(request.key) is None:
            self.oms.mark(request.key, reference_price)
        ref = request.price if request.order_type in (OrderType.LIMIT, OrderType.SL) else None
        ref = ref or (dec(reference_price, "reference_price") if reference_price is not None else None) \
            or self.oms.last_price(request.key)
        spec = resolve(request.side, ref, stop, targets, trail, break_even)
        spec = self._to_ticks(request, spec)
        if spec.trail is not None and spec.trail.kind == "atr":
            self.trail.prepare()  # vectorbt is imported now, not on the first mark
        meta = {"bracket": {"role": "entry", **spec.to_dict(), "reference_price": None if ref is None else str(ref)}}
        with self.oms._lock, self.oms.journal.transaction():
            order = self.oms.submit(request, strategy=strategy, signal_id=signal_id, approval=approval, source=source,
                                    reference_price=reference_price, meta=meta)
            self.oms._emit(E.BRACKET_CREATED, {
                "bracket_id": order.client_order_id, "parent_id": order.client_order_id, "strategy": strategy,
                "exchange": request.exchange.value, "tradingsymbol": request.tradingsymbol, "product": request.product.value,
                "side": request.side.value, "quantity": request.quantity, **spec.to_dict(),
                "reference_price": None if ref is None else str(ref)})
        self._kick(order.client_order_id)
        return self.brackets[order.client_order_id]

    def modify(self, bracket_id: str, *, price=None, quantity: int | None = None, stop=None, targets=None) -> Bracket:
        """Change the group: the entry's price/quantity (while it works), the stop, the targets' prices."""
        b = self._get(bracket_id)
        with self.oms._lock:
            entry = self.book.orders[bracket_id]
            if price is not None or quantity is not None:
                if entry.status.is_working:
                    self.oms.modify(bracket_id, quantity=quantity, price=price)
                elif entry.status is OrderStatus.PENDING_APPROVAL:
                    raise ValidationError("the entry waits for approval: change it on the approval card", field="price")
                else:
                    raise ValidationError(f"the entry is {entry.status.value}: its price and quantity cannot change",
                                          field="price" if price is not None else "quantity")
            if stop is not None:
                px = dec(stop, "stop")
                if px <= 0:
                    raise ValidationError("must be above 0", field="stop")
                px = self.trail.round(px, self._tick_size(b, px), b.side.sign)  # away from the market, to the tick
                self.oms._emit(E.BRACKET_STOP_MOVED, {"bracket_id": bracket_id, "parent_id": bracket_id, "stop": str(px),
                                                      "previous": str(b.stop), "reason": "modify"})
            if targets is not None:
                prices = [dec(t, f"targets.{i}") for i, t in enumerate(targets)]
                prices = [self.trail.round(p, self._tick_size(b, p), -b.side.sign) for p in prices]
                if len(prices) != len(b.targets):
                    raise ValidationError(f"give {len(b.targets)} target prices (one per target)", field="targets")
                self.oms._emit(E.BRACKET_MODIFIED, {"bracket_id": bracket_id, "parent_id": bracket_id,
                                                    "targets": [str(p) for p in prices]})
        self._kick(bracket_id)
        return b

    def cancel(self, bracket_id: str, *, reason: str = "", exit: bool = True) -> Bracket:
        """Cancel the group: the entry's rest, every child; with ``exit`` the open quantity leaves at
        market once the children's cancels are confirmed (never two exits: see :meth:`_unclosed`)."""
        b = self._get(bracket_id)
        with self.oms._lock:
            if b.closed is None and b.taken_down is None:
                self.oms._emit(E.BRACKET_TAKEN_DOWN, {"bracket_id": bracket_id, "parent_id": bracket_id, "by": "cancel",
                                                      "reason": reason, "exit": bool(exit)})
            self._kick(bracket_id)
        return b

    def _unclosed(self, b: Bracket) -> int:
        """The strategy's position in the entry's direction less closing orders already on their way
        (a flatten or square-off in flight), so cancelling the group never exits twice."""
        from tradekit.execution.oms import NEVER_QUEUED

        p = self.book.position(b.strategy, b.exchange, b.tradingsymbol, b.product)
        rest = p.quantity if p is not None else 0
        for o in self.book.open.values():
            r = o.request
            if o.status.is_working and o.strategy == b.strategy and r.key == b.key and r.product is b.product \
                    and o.source in NEVER_QUEUED:
                rest += (r.quantity - _filled(o)) * r.side.sign
        return max(0, rest * b.side.sign)

    def open_quantity(self, b: Bracket) -> int:
        """The entry's fills less the children's exits (what the group holds now)."""
        entry = self.book.orders.get(b.bracket_id)
        filled = _filled(entry) if entry is not None else 0
        out = 0
        for cid, role in b.children.items():
            o = self.book.orders.get(cid)
            if o is None:
                continue
            out += -_filled(o) if role == "repair" else _filled(o)
        return filled - out

    def describe(self, bracket_id: str) -> dict:
        b = self._get(bracket_id)
        entry = self.book.orders.get(bracket_id)
        return {"bracket_id": bracket_id, "state": b.closed and f"closed: {b.closed}" or (
                    f"taken down: {b.taken_down}" if b.taken_down else "active"),
                "symbol": b.key, "side": b.side.value, "product": b.product.value, "quantity": b.quantity,
                "filled": _filled(entry) if entry else 0, "open": self.open_quantity(b), "stop": str(b.stop),
                "targets": [t.to_dict() for t in b.targets], "trail": b.spec.trail.to_dict() if b.spec.trail else None,
                "break_even_done": b.break_even_done,
                "children": {cid: {"role": r, "status": self.book.orders[cid].status.value,
                                   "filled": _filled(self.book.orders[cid]),
                                   "modifications": b.modifications.get(cid, 0)}
                             for cid, r in b.children.items() if cid in self.book.orders}}

    def active(self) -> list[Bracket]:
        return [b for b in self.brackets.values() if b.closed is None]

    def _get(self, bracket_id: str) -> Bracket:
        b = self.brackets.get(bracket_id)
        if b is None:
            raise ValidationError(f"no bracket {bracket_id!r}", field="bracket_id")
        return b

    # -- events: one function for live and for a restore ------------------------------------------------
    def _apply(self, ev) -> str | None:
        """Apply one journal event to the brackets' state; the bracket it touched (None: none)."""
        p = ev.payload
        t = ev.type
        if t == E.BRACKET_CREATED:
            spec = BracketSpec.from_dict(p)
            bid = p["bracket_id"]
            self.brackets[bid] = Bracket(bid, p["strategy"], p["exchange"], p["tradingsymbol"], Product(p["product"]),
                                         Side(p["side"]), int(p["quantity"]), spec, spec.stop, spec.targets)
            if self._idle is not None:
                self._listen_fully()
            return bid
        bid = p.get("bracket_id")
        if t == E.GTT_TRIGGERED and bid in self.brackets:  # a GTT leg fired: its order (adopted below) is an exit
            return bid
        if t.startswith("bracket.") and bid in self.brackets:
            b = self.brackets[bid]
            if t == E.BRACKET_STOP_MOVED:
                b.stop = dec(p["stop"], "stop")
                b.last_move = ev.time
                if p.get("best") is not None:
                    b.best = dec(p["best"], "best")
                if p.get("reason") == "break_even":
                    b.break_even_done = True
            elif t == E.BRACKET_MODIFIED and p.get("targets") is not None:
                b.targets = tuple(Target(dec(px, "targets"), t0.share) for px, t0 in zip(p["targets"], b.targets))
            elif t == E.BRACKET_TAKEN_DOWN:
                b.taken_down = b.taken_down or p.get("by") or "cancel"
                b.exit_on_takedown = b.exit_on_takedown or bool(p.get("exit")) or b.taken_down in TAKE_DOWN_EXITS
            elif t == E.BRACKET_PROTECTED:
                b.protection = None if p.get("action") == "remove" else {k: p.get(k) for k in ("id", "qty", "stop", "target")}
            elif t == E.BRACKET_CHILD_FAILED:
                b.failed_noted.add(p.get("client_order_id"))
            elif t == E.BRACKET_CLOSED:
                b.closed = p.get("reason") or "closed"
            return bid
        cid = p.get("client_order_id")
        if cid is None:
            return None
        if t == E.ORDER_CREATED:
            meta = p.get("meta") or {}
            pb, role = meta.get("bracket_id"), str(meta.get("role", ""))
            if meta.get("adopted") and meta.get("leg"):  # a GTT leg's order (tradekit.execution.gtt): one more exit
                role = "gtt"
            if pb in self.brackets and (role in ("stop", "repair", "exit", "gtt") or role.startswith("target:")):
                self.brackets[pb].children[cid] = role
                self._child_of[cid] = pb
                return pb
            return None
        bid = self._child_of.get(cid) or (cid if cid in self.brackets else None)
        if bid is None:
            return None
        b = self.brackets[bid]
        if t == E.ORDER_MODIFIED and cid in b.children:
            b.modifications[cid] = b.modifications.get(cid, 0) + 1
        elif t == E.ORDER_CANCEL_REQUESTED:
            b.cancel_requested.add(cid)
            src = p.get("source", "")
            if src != SOURCE and (cid in b.children or src in ("square_off", "kill_switch", "breaker", "flatten", "rms")):
                b.taken_down = b.taken_down or src or "cancel"
        return bid

    def _listen_fully(self) -> None:
        """The first bracket: from now on the OMS hands on_event every event, in the place the idle
        listener held in its list (the listeners keep their order). Brackets are never forgotten, so
        this happens once."""
        idle, self._idle = self._idle, None
        ls = self.oms.listeners
        for i, fn in enumerate(ls):
            if fn is idle:  # (not found: someone took it out of the list; it stays out)
                ls[i] = self.on_event
                return

    def on_event(self, ev) -> None:
        """An OMS listener: every journal event the OMS writes (only bracket.created while there is no bracket)."""
        if ev.type == E.BRACKET_CREATED:
            self._apply(ev)
            return
        if not self.brackets:  # no bracket (most sessions): _apply changes only known brackets and the links
            return  # of their children (made with them), so any other event would be a no-op
        was = None
        bid = ev.payload.get("bracket_id") or self._child_of.get(ev.payload.get("client_order_id") or "")
        if bid in self.brackets:
            was = self.brackets[bid].taken_down
        bid = self._apply(ev)
        if bid is None or bid not in self.brackets:
            return
        b = self.brackets[bid]
        if b.closed is not None:
            return
        if was is None and b.taken_down is not None and ev.type == E.ORDER_CANCEL_REQUESTED:
            self.oms._emit(E.BRACKET_TAKEN_DOWN, {"bracket_id": bid, "parent_id": bid, "by": b.taken_down,
                                                  "reason": ev.payload.get("reason", "")})
        if ev.type.startswith("bracket.") and ev.type not in (E.BRACKET_STOP_MOVED, E.BRACKET_MODIFIED, E.BRACKET_TAKEN_DOWN):
            return
        self._kick(bid)

    def quiet_for(self, key: str) -> bool:
        """No live bracket on ``key``: its ticks do nothing here (the hub's quiet runs, ``MarketDataHub.quiet``)."""
        return not any(b.closed is None and b.key == key and b.taken_down is None for b in list(self.brackets.values()))

    def on_tick(self, tick) -> None:
        """A market-data hub listener: trails and CNC targets move on marks.

        Called on the ticker's thread, which must never wait for the session: the mark is noted
        (last, high and low since the last time it was worked) and worked at once when the OMS's
        lock is free, else by the next tick or :meth:`run` (the session's service cycle)."""
        key = tick.key
        if key is None or not tick.last_price:
            return
        live = [b for b in list(self.brackets.values()) if b.closed is None and b.key == key and b.taken_down is None]
        if not live:
            return
        px = dec(tick.last_price, "last_price")
        if any(b.spec.trail is not None and b.spec.trail.kind == "atr" for b in live):
            self.trail.on_mark(key, tick.ts or self.oms.clock.now(), float(tick.last_price))
        with self._marks_lock:
            m = self._marks.get(key)
            self._marks[key] = [px, px, px] if m is None else [px, max(m[1], px), min(m[2], px)]
        if self.oms._lock.acquire(blocking=False):
            try:
                self.run()
            finally:
                self.oms._lock.release()

    def _work_marks(self) -> None:
        with self._marks_lock:
            marks, self._marks = self._marks, {}
        if not marks:
            return
        now = self.oms.clock.now()
        for b in list(self.brackets.values()):
            m = marks.get(b.key)
            if m is None or b.closed is not None or b.taken_down is not None or self.open_quantity(b) <= 0:
                continue
            sign = b.side.sign
            best = m[1] if sign > 0 else m[2]  # the most favourable mark since the last time
            if b.local_targets:
                for i, t in enumerate(b.targets):
                    if i not in b.armed and sign * (best - t.price) >= 0:
                        b.armed.add(i)
                        self._dirty.add(b.bracket_id)
            if b.spec.trail is not None:
                if b.best is None or sign * (best - b.best) > 0:
                    b.best = best
                self._trail(b, m[0], now)

    def _trail(self, b: Bracket, px: Decimal, now: datetime) -> None:
        sign = b.side.sign
        dist = self.trail.distance(b.spec.trail, b.key, b.best)
        if dist is None:
            return  # ATR not known yet (fewer bars than its period)
        tick = self._tick_size(b, b.best)
        cand = self.trail.round(b.best - sign * dist, tick, sign)
        if sign * (cand - b.stop) < self.cfg.trail_min_step_ticks * tick or sign * (px - cand) <= 0:
            return  # not far enough in the favourable direction, or at/through the market
        if b.last_move is not None and (now - b.last_move).total_seconds() < self.cfg.trail_min_interval_seconds:
            return
        self.oms._emit(E.BRACKET_STOP_MOVED, {"bracket_id": b.bracket_id, "parent_id": b.bracket_id, "stop": str(cand),
                                              "previous": str(b.stop), "reason": "trail", "kind": b.spec.trail.kind,
                                              "best": str(b.best), "mark": str(px)})

    # -- the desired state -------------------------------------------------------------------------------
    def run(self) -> None:
        """Work the marks noted, then bring every bracket marked dirty to its desired state (also the
        ones whose retry is due)."""
        with self.oms._lock:
            self._work_marks()
            now = self.oms.clock.now()
            for b in self.brackets.values():
                if b.closed is None and any(t <= now for t in b.retry_at.values()):
                    self._dirty.add(b.bracket_id)
            self._kick()

    def _kick(self, bid: str | None = None) -> None:
        if bid is not None:
            self._dirty.add(bid)
        if self._busy:
            return  # the running sync picks it up
        with self.oms._lock:
            self._busy = True
            try:
                rounds = 0
                while self._dirty and rounds < 100:
                    rounds += 1
                    b = self.brackets.get(self._dirty.pop())
                    if b is not None and b.closed is None:
                        try:
                            self._sync(b)
                        except TradekitError as e:  # a refused action: the bracket is tried again later
                            log.warning("bracket %s: %s", b.bracket_id, e)
                            b.retry_at["sync"] = self.oms.clock.now() + timedelta(seconds=self.cfg.child_retry_seconds)
            finally:
                self._busy = False

    def _working(self, b: Bracket, role: str) -> list[Order]:
        return [o for o in b.role_orders(self.book, role) if not o.status.is_terminal]

    def _sync(self, b: Bracket) -> None:
        b.retry_at.pop("sync", None)
        entry = self.book.orders.get(b.bracket_id)
        if entry is None:
            return
        roles = ["stop"] + [f"target:{i}" for i in range(len(b.targets))]
        if b.taken_down is not None:
            for role in roles:
                for o in self._working(b, role):
                    self._cancel(b, o, f"bracket taken down ({b.taken_down})")
            if not entry.status.is_terminal and entry.status is not OrderStatus.PENDING_APPROVAL and \
                    entry.client_order_id not in b.cancel_requested:
                self._cancel_entry(b, f"bracket taken down ({b.taken_down})")
            elif entry.status is OrderStatus.PENDING_APPROVAL:
                self.oms.cancel(b.bracket_id, reason=f"bracket taken down ({b.taken_down})", source=SOURCE)
            if any(self._working(b, r) for r in roles + ["repair", "exit", "gtt"]) or not entry.status.is_terminal:
                return  # cancels on their way (live: confirmed by the order stream)
            exit_qty = min(self.open_quantity(b), self._unclosed(b))
            if (b.exit_on_takedown or b.taken_down in TAKE_DOWN_EXITS) and exit_qty > 0 \
                    and not b.role_orders(self.book, "exit"):
                # the flatten that took the group down may have been refused while the children's cancels were
                # unconfirmed (their quantity still looked like exits on the way): the group's rest leaves now
                req = OrderRequest(b.exchange, b.tradingsymbol, b.exit_side, exit_qty, OrderType.MARKET, b.product)
                self._submit(b, "exit", req, source=b.taken_down if b.taken_down in TAKE_DOWN_EXITS else "flatten")
                if any(self._working(b, "exit")):
                    return
            self._close(b, f"taken down by {b.taken_down}")
            return
        filled = _filled(entry)
        if entry.status.is_terminal and filled == 0:
            self._close(b, f"entry {entry.status.value.lower()}")
            return
        if filled == 0:
            return  # the entry waits (approval, the market)
        open_ = self.open_quantity(b)
        stop_filled = sum(_filled(o) for o in b.role_orders(self.book, "stop"))
        stopping = stop_filled > 0
        if stopping and entry.status.is_working and b.bracket_id not in b.cancel_requested:
            self._cancel_entry(b, "stopped out")
        # overfill (both legs in one moment): buy the excess back at market
        if open_ < 0 and not self._working(b, "repair"):
            req = OrderRequest(b.exchange, b.tradingsymbol, b.side, -open_, OrderType.MARKET, b.product)
            self._submit(b, "repair", req, source="flatten")
            return
        # break-even after the first target has filled completely
        alloc = allocate(filled, [t.share for t in b.targets], self._lot(b))
        t_filled = [sum(_filled(o) for o in b.role_orders(self.book, f"target:{i}")) for i in range(len(b.targets))]
        be = self.cfg.break_even_after_first_target if b.spec.break_even is None else b.spec.break_even
        if be and not b.break_even_done and not stopping and any(f > 0 and f >= a for f, a in zip(t_filled, alloc)):
            be_px = self.trail.round(entry.average_price, self._tick_size(b, entry.average_price), -b.side.sign)
            if b.side.sign * (be_px - b.stop) > 0:
                self.oms._emit(E.BRACKET_STOP_MOVED, {"bracket_id": b.bracket_id, "parent_id": b.bracket_id, "stop": str(be_px),
                                                      "previous": str(b.stop), "reason": "break_even"})
            else:
                b.break_even_done = True
        # targets: their share of the fills, never more than the open quantity; none once stopping
        want_t = []
        room = max(open_, 0)
        for i, t in enumerate(b.targets):
            w = 0 if stopping else max(0, min(alloc[i] - t_filled[i], room))
            if b.local_targets and i not in b.armed and not b.role_orders(self.book, f"target:{i}"):
                w = 0
            want_t.append(w)
            room -= w
        reserved = sum(want_t) if b.local_targets else 0
        want_stop = max(open_ - reserved, 0)
        # shrink first (CNC: pending sells must fit the holding), then grow and place
        self._converge(b, "stop", want_stop, shrink_only=True)
        for i, t in enumerate(b.targets):
            self._converge(b, f"target:{i}", want_t[i])
        self._converge(b, "stop", want_stop)
        self._protect(b, open_)
        if open_ == 0 and (entry.status.is_terminal or _filled(entry) >= entry.request.quantity) \
                and not any(self._working(b, r) for r in roles + ["repair", "gtt"]):
            self._close(b, "stopped out" if stopping else "targets filled")

    def _converge(self, b: Bracket, role: str, want: int, *, shrink_only: bool = False) -> None:
        working = self._working(b, role)
        live = [o for o in working if o.client_order_id not in b.cancel_requested]
        if want <= 0:
            for o in live:
                self._cancel(b, o, "not needed (one-cancels-other)")
            return
        for o in live[1:]:  # one order per role
            self._cancel(b, o, "duplicate")
        due = b.retry_at.get(role)
        if due is not None and self.oms.clock.now() < due:
            return  # refused a moment ago: not again before brackets.child_retry_seconds (the order-rate budget)
        req = self._child_request(b, role, want)
        if live:
            o = live[0]
            have = o.request.quantity - _filled(o)
            same_px = o.request.trigger_price == req.trigger_price and o.request.price == req.price
            if have == want and same_px:
                return
            if shrink_only and not (want < have):
                return
            if b.modifications.get(o.client_order_id, 0) >= self.cfg.replace_after_modifications:
                self._cancel(b, o, f"replaced after {b.modifications[o.client_order_id]} modifications "
                                   f"(Kite allows 25 per order)")
                return  # the new order goes out once the cancel is confirmed
            changes = {"quantity": _filled(o) + want}
            if not same_px:
                changes.update(price=req.price, trigger_price=req.trigger_price)
            try:
                self.oms.modify(o.client_order_id, **changes)
            except BrokerError as e:
                if "modification" in str(e).lower():  # the broker's count is ahead of ours: replace it
                    self._cancel(b, o, f"replaced: {e}")
                    return
                self._note_failure(b, role, o.client_order_id, f"modify refused: {e}", once=False)
                b.retry_at[role] = self.oms.clock.now() + timedelta(seconds=self.cfg.child_retry_seconds)
            return
        if shrink_only or working:
            return  # a cancel is on its way: never two orders of one role at once
        last = b.role_orders(self.book, role)
        if last:
            o = last[-1]
            if o.status in _FAILED and _filled(o) == 0:
                self._note_failure(b, role, o.client_order_id, o.status.value)
                at = (o.updated_at or o.created_at)
                if at is not None and self.oms.clock.now() < at + timedelta(seconds=self.cfg.child_retry_seconds):
                    b.retry_at[role] = at + timedelta(seconds=self.cfg.child_retry_seconds)
                    return
        b.retry_at.pop(role, None)
        self._submit(b, role, req)

    def _child_request(self, b: Bracket, role: str, qty: int) -> OrderRequest:
        if role == "stop":
            inst = self._inst(b)
            typ = "SL" if (inst is not None and inst.is_option) else self.cfg.stop_order_type
            if typ == "SL-M":
                return OrderRequest(b.exchange, b.tradingsymbol, b.exit_side, qty, OrderType.SLM, b.product,
                                    trigger_price=b.stop)
            buf = b.stop * self.cfg.stop_limit_buffer_pct / 100
            sign = b.exit_side.sign  # a sell stop's limit sits below its trigger
            px = self.trail.round(b.stop + sign * buf, self._tick_size(b, b.stop), -sign)
            return OrderRequest(b.exchange, b.tradingsymbol, b.exit_side, qty, OrderType.SL, b.product, price=px,
                                trigger_price=b.stop)
        t = b.targets[int(role.split(":")[1])]
        return OrderRequest(b.exchange, b.tradingsymbol, b.exit_side, qty, OrderType.LIMIT, b.product, price=t.price)

    def _submit(self, b: Bracket, role: str, req: OrderRequest, *, source: str = SOURCE) -> None:
        meta = {"parent_id": b.bracket_id, "bracket_id": b.bracket_id, "role": role}
        try:
            o = self.oms.submit(req, strategy=b.strategy, source=source, meta=meta, covered_by=b.bracket_id)
        except TradekitError as e:  # halted (journal down, lost login): try again later
            self._note_failure(b, role, None, str(e))
            b.retry_at[role] = self.oms.clock.now() + timedelta(seconds=self.cfg.child_retry_seconds)
            return
        if o.status in _FAILED:
            self._note_failure(b, role, o.client_order_id, o.status.value)
            b.retry_at[role] = self.oms.clock.now() + timedelta(seconds=self.cfg.child_retry_seconds)

    def _note_failure(self, b: Bracket, role: str, cid: str | None, why: str, *, once: bool = True) -> None:
        if once and cid is not None and cid in b.failed_noted:
            return
        reason = why
        o = self.book.orders.get(cid) if cid is not None else None
        msg = None if o is None else (o.status_message or (o.history[-1][3] if o.history else None))
        if msg and msg != why:
            reason = f"{why}: {msg}"
        self.oms._emit(E.BRACKET_CHILD_FAILED, {"bracket_id": b.bracket_id, "parent_id": b.bracket_id, "role": role,
                                                "client_order_id": cid, "reason": reason,
                                                "retry_after_seconds": self.cfg.child_retry_seconds})

    def _cancel(self, b: Bracket, o: Order, reason: str) -> None:
        if o.client_order_id in b.cancel_requested:
            return
        try:
            self.oms.cancel(o.client_order_id, reason=reason, source=SOURCE)
        except BrokerError as e:
            log.warning("bracket %s: cancel of %s failed: %s", b.bracket_id, o.client_order_id, e)

    def _cancel_entry(self, b: Bracket, reason: str) -> None:
        b.cancel_requested.add(b.bracket_id)
        try:
            self.oms.cancel(b.bracket_id, reason=reason, source=SOURCE)
        except BrokerError as e:
            b.cancel_requested.discard(b.bracket_id)
            log.warning("bracket %s: cancel of the entry failed: %s", b.bracket_id, e)

    def _close(self, b: Bracket, reason: str) -> None:
        if b.protection is not None and self.protector is not None:
            try:
                self.protector.remove(b.bracket_id)
                self.oms._emit(E.BRACKET_PROTECTED, {"bracket_id": b.bracket_id, "parent_id": b.bracket_id, "action": "remove"})
            except Exception as e:  # the GTT layer's own reconciliation finds what was left
                log.warning("bracket %s: removing its protection failed: %s", b.bracket_id, e)
        self.oms._emit(E.BRACKET_CLOSED, {"bracket_id": b.bracket_id, "parent_id": b.bracket_id, "reason": reason,
                                          "open": self.open_quantity(b)})

    def _protect(self, b: Bracket, open_: int) -> None:
        """The crash protector (GTT OCO) for CNC/NRML brackets: protect / update / remove."""
        if self.protector is None or b.product not in PROTECTED_PRODUCTS or not b.targets:
            return  # an OCO needs a target leg: a stop-only bracket is protected by its local stop alone
        nxt = next((t.price for i, t in enumerate(b.targets)
                    if sum(_filled(o) for o in b.role_orders(self.book, f"target:{i}")) == 0), b.targets[-1].price)
        want = {"qty": open_, "stop": str(b.stop), "target": None if nxt is None else str(nxt)}
        have = b.protection
        try:
            if have is None and open_ > 0:
                inst = self._inst(b)
                pid = self.protector.protect(b.bracket_id, inst if inst is not None else b.key, open_, b.stop, nxt, b.product)
                self.oms._emit(E.BRACKET_PROTECTED, {"bracket_id": b.bracket_id, "parent_id": b.bracket_id, "action": "protect",
                                                     "id": pid, **want})
            elif have is not None and open_ > 0 and {k: have.get(k) for k in want} != want:
                self.protector.update(b.bracket_id, open_, b.stop, nxt)
                self.oms._emit(E.BRACKET_PROTECTED, {"bracket_id": b.bracket_id, "parent_id": b.bracket_id, "action": "update",
                                                     "id": have.get("id"), **want})
        except Exception as e:  # the local bracket still protects the position while the session runs
            log.warning("bracket %s: the protector failed: %s", b.bracket_id, e)

    # -- instrument facts ----------------------------------------------------------------------------------
    def _to_ticks(self, request: OrderRequest, spec: BracketSpec) -> BracketSpec:
        """Stop and targets on the instrument's tick, each rounded away from the market (a long's stop
        down, its targets up), so the broker never refuses a child for its price."""
        probe = Bracket("", "", request.exchange.value, request.tradingsymbol, request.product, request.side, 0, spec,
                        spec.stop, spec.targets)
        sign = request.side.sign
        stop = self.trail.round(spec.stop, self._tick_size(probe, spec.stop), sign)
        targets = tuple(Target(self.trail.round(t.price, self._tick_size(probe, t.price), -sign), t.share) for t in spec.targets)
        return BracketSpec(stop, targets, spec.trail, spec.break_even)

    def _inst(self, b: Bracket):
        try:
            return self.oms._instrument(b.exchange, b.tradingsymbol)
        except Exception:
            return None

    def _lot(self, b: Bracket) -> int:
        inst = self._inst(b)
        return max(1, int(getattr(inst, "lot_size", 1) or 1))

    def _tick_size(self, b: Bracket, price) -> Decimal:
        inst = self._inst(b)
        if inst is None:
            return Decimal("0.05")
        try:
            from tradekit.market.rules import tick_size_for

            return tick_size_for(inst, price=price, on_date=self.oms.clock.now().date(), reference_price=price)
        except TradekitError:
            return inst.tick_size
