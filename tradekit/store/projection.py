"""The book: current state (orders, positions, cash) as a pure function of the journal.

The order-management core never changes state directly: it appends an event and applies it
to the book through :meth:`Book.apply`. Rebuilding after a crash replays the same events
through the same method, so the rebuilt state equals the state before the crash by
construction (and ``tests/unit/store/test_rebuild.py`` checks it, killing a real writer).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from tradekit.errors import IllegalTransition, StoreError, TradekitError
from tradekit.model.charges import COMPONENTS, Charges
from tradekit.model.enums import Exchange, Product, Side
from tradekit.model.money import ZERO, dec
from tradekit.model.order import TERMINAL, Order, OrderRequest, OrderStatus
from tradekit.model.position import Position, position_key
from tradekit.store.events import EventType as E
from tradekit.store.journal import Event

log = logging.getLogger(__name__)


@dataclass
class Book:
    orders: dict[str, Order] = field(default_factory=dict)
    open: dict[str, Order] = field(default_factory=dict)  # orders not in a final state
    positions: dict[str, Position] = field(default_factory=dict)
    starting_cash: Decimal = ZERO
    cash: Decimal = ZERO  # settled + unsettled cash after trades and charges
    charges_total: Charges = field(default_factory=Charges)
    trading_state: str = "ACTIVE"
    last_seq: int = 0
    by_broker_id: dict[str, str] = field(default_factory=dict)
    signals: set[str] = field(default_factory=set)
    decisions: dict[str, dict] = field(default_factory=dict)  # cid -> last decision written by a person
    fills: int = 0
    trade_ids: set[str] = field(default_factory=set)
    not_placed: set[str] = field(default_factory=set)  # concluded not placed by lookup (adopted if they turn up)
    positions_version: int = 0  # bumped by every event that changes a position's quantity or cost
    # bumped by every event that can change an order already in the book (any event naming a
    # client_order_id but order.created, which only appends a new order): an unchanged value
    # means every order holds what it held (the risk gate's views of working orders skip rescans)
    orders_version: int = 0
    anomalies: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, type, why) set aside by rebuild
    # (cid, request, reference price): what the next order.created of cid decodes to, handed over by its writer
    _made: tuple | None = field(default=None, init=False, repr=False, compare=False)

    # -- queries -------------------------------------------------------------------------------
    def order(self, client_order_id: str) -> Order:
        try:
            return self.orders[client_order_id]
        except KeyError:
            raise KeyError(f"no order {client_order_id!r} in the book") from None

    def open_orders(self) -> list[Order]:
        return list(self.open.values())

    def position(self, strategy: str, exchange, tradingsymbol: str, product) -> Position | None:
        return self.positions.get(position_key(strategy, exchange, tradingsymbol, product))

    def net_quantity(self, exchange, tradingsymbol: str, product=None) -> int:
        ex, pr = str(exchange), None if product is None else str(product)
        n = 0
        # the symbol first (the test that most often fails); a position's exchange and product are str enums
        # (or str), equal to a str exactly when their text is: no str() call (a Python __str__) per position
        for p in self.positions.values():
            if p.tradingsymbol == tradingsymbol and p.exchange == ex and (pr is None or p.product == pr):
                n += p.quantity
        return n

    @property
    def realized_pnl(self) -> Decimal:
        return sum((p.realized_pnl for p in self.positions.values()), ZERO)

    @property
    def unrealized_pnl(self) -> Decimal:
        return sum((p.unrealized_pnl for p in self.positions.values()), ZERO)

    @property
    def net_pnl(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl - self.charges_total.total + sum(
            (p.dividends for p in self.positions.values()), ZERO
        )

    def holdings(self) -> list[dict]:
        """CNC holdings per instrument (all strategies): settled and T1 quantity, average price."""
        out: dict[str, dict] = {}
        for p in self.positions.values():
            if p.product is not Product.CNC or p.quantity <= 0:
                continue
            h = out.setdefault(p.instrument_key, {"exchange": str(p.exchange), "tradingsymbol": p.tradingsymbol,
                                                  "quantity": 0, "settled": 0, "t1": 0, "today": 0, "cost": ZERO})
            today = max(0, p.day_buy_quantity - p.day_sell_quantity)
            h["quantity"] += p.quantity
            h["settled"] += p.settled_quantity
            h["t1"] += p.t1_quantity
            h["today"] += min(today, p.quantity)
            h["cost"] += p.open_value
        for h in out.values():
            h["average_price"] = h.pop("cost") / h["quantity"]
        return list(out.values())

    def mark(self, exchange, tradingsymbol: str, price) -> None:
        ex = str(exchange)
        for p in self.positions.values():
            if str(p.exchange) == ex and p.tradingsymbol == tradingsymbol:
                p.mark(price)

    def snapshot(self) -> dict:
        """A comparable picture of the state (used by the rebuild tests and reports)."""
        return {
            "orders": {
                cid: (o.status.value, o.filled_quantity, str(o.filled_value), o.broker_order_id, o.request.quantity,
                      None if o.request.price is None else str(o.request.price), o.modifications)
                for cid, o in sorted(self.orders.items())
            },
            "positions": {
                k: (p.quantity, str(p.open_value), str(p.realized_pnl), str(p.charges.total), p.overnight_quantity, p.t1_quantity)
                for k, p in sorted(self.positions.items())
            },
            "cash": str(self.cash),
            "trading_state": self.trading_state,
        }

    # -- applying events -----------------------------------------------------------------------
    def made(self, client_order_id: str, request: OrderRequest, reference_price: Decimal | None) -> None:
        """The next ``order.created`` of ``client_order_id`` is about to be appended from these: its
        ``request`` is ``request.to_dict()`` and its ``reference_price`` ``str(reference_price)``, so
        decoding them gives back ``request`` field for field (OrderRequest's to_dict/from_dict round trip)
        and this very Decimal: the book takes them instead of decoding the payload again. Only the
        next ``order.created`` is looked at, and only with the same id (a rebuild decodes every one)."""
        self._made = (client_order_id, request, reference_price)

    def apply(self, ev: Event) -> None:
        t = ev.type
        handler = _HANDLERS.get(t)
        if handler is not None:
            p = ev.payload
            if t != _ORDER_CREATED and "client_order_id" in p:  # before the handler: it may fail half-way
                self.orders_version += 1
            try:
                handler(self, p, ev.time)
            except (IllegalTransition, KeyError, ValueError, TypeError, ArithmeticError, TradekitError) as e:
                raise StoreError(f"event {ev.seq} ({t}) cannot be applied: {e}") from e
            if t in _POSITION_EVENTS:
                self.positions_version += 1
            cid = p.get("client_order_id")
            if cid is not None:
                orders = self.orders
                if type(orders) is not dict:  # a session from a snapshot: an old order an event changed stays in memory
                    orders.promote(cid)
                o = orders.get(cid)
                if o is not None:
                    if o.status in TERMINAL:  # OrderStatus.is_terminal
                        self.open.pop(cid, None)
                    else:
                        self.open[cid] = o
        self.last_seq = ev.seq

    @classmethod
    def rebuild(cls, events: Iterable[Event], *, strict: bool = False) -> "Book":
        """The state after ``events``. An event that cannot be applied (a fill booked twice, an
        order created twice: what two writers on one journal leave behind) is set aside and
        listed in :attr:`anomalies` — the journal can always be loaded again — unless ``strict``."""
        book = cls()
        for ev in events:
            try:
                book.apply(ev)
            except StoreError as e:
                if strict:
                    raise
                book.anomalies.append((ev.seq, ev.type, str(e)))
                book.last_seq = ev.seq
                log.warning("rebuilding the book: %s; the event is set aside", e)
        return book


def _session_started(b: Book, p: dict, ts: datetime) -> None:
    if "capital" in p and b.starting_cash == ZERO and not b.orders:
        b.starting_cash = b.cash = dec(p["capital"], "capital")


def _cash(b: Book, p: dict, ts: datetime) -> None:
    b.cash += dec(p["amount"], "amount")


def _signal(b: Book, p: dict, ts: datetime) -> None:
    if p.get("signal_id"):
        b.signals.add(p["signal_id"])


def _order_created(b: Book, p: dict, ts: datetime) -> None:
    cid = p["client_order_id"]
    if cid in b.orders:
        raise IllegalTransition(f"order {cid} already exists")
    made, b._made = b._made, None
    if made is not None and made[0] == cid:  # what decoding gives back, from the writer (Book.made)
        request, ref = made[1], made[2]
    else:
        request = OrderRequest.from_dict(p["request"])
        ref = dec(p["reference_price"], "reference_price") if p.get("reference_price") else None
    b.orders[cid] = Order(
        client_order_id=cid,
        request=request,
        strategy=p.get("strategy", ""),
        created_at=ts,
        updated_at=ts,
        signal_id=p.get("signal_id"),
        approval_mode=p.get("approval_mode"),
        reference_price=ref,
        source=p.get("source", "signal"),
    )


def _risk(b: Book, p: dict, ts: datetime) -> None:
    cid = p.get("client_order_id")
    if cid and not p.get("allowed", True):
        b.order(cid).transition(OrderStatus.DENIED, ts, p.get("reason") or "denied by the risk gate")


def _approval_requested(b: Book, p: dict, ts: datetime) -> None:
    b.order(p["client_order_id"]).transition(OrderStatus.PENDING_APPROVAL, ts)


def _approval_granted(b: Book, p: dict, ts: datetime) -> None:
    o = b.order(p["client_order_id"])
    changes = p.get("changes") or {}
    if changes:
        o.request = o.request.with_changes(**{k: v for k, v in changes.items() if v is not None})
    o.transition(OrderStatus.APPROVED, ts, p.get("reason"))


def _parent_started(b: Book, p: dict, ts: datetime) -> None:
    """slice.started / algo.started: the approved parent is now worked as child orders (issue 15)."""
    b.order(p["client_order_id"]).transition(OrderStatus.SLICED, ts, p.get("reason") or "sent as child orders")


def _approval_rejected(b: Book, p: dict, ts: datetime) -> None:
    b.order(p["client_order_id"]).transition(OrderStatus.APPROVAL_REJECTED, ts, p.get("reason"))


def _approval_expired(b: Book, p: dict, ts: datetime) -> None:
    b.order(p["client_order_id"]).transition(OrderStatus.EXPIRED, ts, p.get("reason") or "approval TTL passed")


def _submitted(b: Book, p: dict, ts: datetime) -> None:
    b.order(p["client_order_id"]).transition(OrderStatus.SUBMITTED, ts)


def _unknown(b: Book, p: dict, ts: datetime) -> None:
    b.order(p["client_order_id"]).transition(OrderStatus.UNKNOWN, ts, p.get("reason"))


def _update(b: Book, p: dict, ts: datetime) -> None:
    o = b.order(p["client_order_id"])
    if p.get("adopted_late"):
        o.reopen_late(ts)
        b.not_placed.discard(o.client_order_id)
    o.apply_broker_update(
        p["status"],
        filled_quantity=p.get("filled_quantity"),
        broker_order_id=p.get("broker_order_id"),
        exchange_order_id=p.get("exchange_order_id"),
        message=p.get("message"),
        ts=ts,
    )
    if o.broker_order_id:
        b.by_broker_id[o.broker_order_id] = o.client_order_id
    if p.get("concluded") == "not_placed":
        b.not_placed.add(o.client_order_id)


def _modified(b: Book, p: dict, ts: datetime) -> None:
    b.order(p["client_order_id"]).apply_modify(
        quantity=p.get("quantity"), price=p.get("price"), trigger_price=p.get("trigger_price"), order_type=p.get("order_type")
    )


def _fill(b: Book, p: dict, ts: datetime) -> None:
    tid = p.get("trade_id")
    if tid and tid in b.trade_ids:
        raise IllegalTransition(f"trade {tid} was already booked")
    qty = int(p["quantity"])
    price = dec(p["price"], "price")
    side = Side(p["side"])
    charges = _charges_of(p.get("charges"))
    cid = p.get("client_order_id")
    strategy = p.get("strategy", "")
    if cid and cid in b.orders:
        o = b.orders[cid]
        o.apply_fill(qty, price, ts)
        strategy = strategy or o.strategy
    key = position_key(strategy, p["exchange"], p["tradingsymbol"], p["product"])
    pos = b.positions.get(key)
    if pos is None:
        pos = b.positions[key] = Position(
            strategy=strategy, exchange=Exchange(p["exchange"]), tradingsymbol=p["tradingsymbol"],
            product=Product(p["product"]), multiplier=int(p.get("multiplier", 1)),
        )
    pos.apply_fill(side, qty, price, charges)
    m = pos.multiplier
    b.cash += (-price * qty * m if side is Side.BUY else price * qty * m) - charges.total
    b.charges_total = b.charges_total + charges
    b.fills += 1
    if tid:
        b.trade_ids.add(tid)


_charges_seen: dict[tuple, Charges] = {}  # the components' texts -> Charges.from_dict of them (see _charges_of)
_CHARGES_SEEN_MAX = 4096  # distinct breakdowns remembered (a replay of 4,280 fills has about 130)


def _charges_of(d: dict | None) -> Charges:
    """``Charges.from_dict(d)``, remembered by the components' texts.

    A fill's charges come back from the journal as the same few texts again and again ("0.00",
    "0.31", "10.00": about 130 breakdowns in 4,280 fills), and parsing seven Decimals is most of a
    fill's booking. ``from_dict`` reads nothing but the seven components, a Charges is immutable, and
    only breakdowns whose every component is a str are remembered (a key holding anything else, e.g.
    None for a missing component, never equals one of them), so what comes back is what ``from_dict``
    returns for the same dict."""
    if not d:
        return Charges.from_dict(d)
    key = tuple(map(d.get, COMPONENTS))
    ch = _charges_seen.get(key)
    if ch is None:
        ch = Charges.from_dict(d)
        if all(v.__class__ is str for v in key):
            if len(_charges_seen) >= _CHARGES_SEEN_MAX:
                _charges_seen.clear()
            _charges_seen[key] = ch
    return ch


def _position_adjusted(b: Book, p: dict, ts: datetime) -> None:
    kind = p["kind"]
    targets = [
        pos for pos in b.positions.values()
        if str(pos.exchange) == p.get("exchange", str(pos.exchange)) and pos.tradingsymbol == p.get("tradingsymbol", pos.tradingsymbol)
    ]
    for pos in targets:
        if kind == "split":
            pos.apply_split(dec(p["ratio"], "ratio"))
        elif kind == "bonus":
            pos.apply_bonus(int(p["new"]), int(p["held"]))
        elif kind == "dividend":
            amount = pos.apply_dividend(dec(p["per_share"], "per_share"))
            b.cash += amount
        elif kind == "charges":
            break  # once, below
        else:
            raise ValueError(f"unknown position adjustment {kind!r}")
    if kind == "charges":  # a charge outside a fill (an RMS square-off fee): paid once, by the open position
        ch = Charges.from_dict(p.get("charges"))
        held = [pos for pos in targets if pos.quantity and str(pos.product) == p.get("product", str(pos.product))]
        if held or targets:
            (held or targets)[0].add_charges(ch)
        b.charges_total = b.charges_total + ch
        b.cash -= ch.total


def _day_rolled(b: Book, p: dict, ts: datetime) -> None:
    for pos in b.positions.values():
        pos.roll_day()


def _mark(b: Book, p: dict, ts: datetime) -> None:
    for key, price in (p.get("prices") or {}).items():
        ex, _, sym = key.partition(":")
        b.mark(ex, sym, price)


def _decision(b: Book, p: dict, ts: datetime) -> None:
    b.decisions[p["client_order_id"]] = {**p, "at": ts.isoformat()}


def _trading_state(b: Book, p: dict, ts: datetime) -> None:
    b.trading_state = p["state"]


_ORDER_CREATED = E.ORDER_CREATED
_POSITION_EVENTS = frozenset({E.FILL, E.POSITION_ADJUSTED, E.DAY_ROLLED})

_HANDLERS = {
    E.SESSION_STARTED: _session_started,
    E.CASH: _cash,
    E.SIGNAL_RECEIVED: _signal,
    E.ORDER_CREATED: _order_created,
    E.RISK_DECISION: _risk,
    E.APPROVAL_REQUESTED: _approval_requested,
    E.APPROVAL_GRANTED: _approval_granted,
    E.APPROVAL_REJECTED: _approval_rejected,
    E.APPROVAL_EXPIRED: _approval_expired,
    E.ORDER_SUBMITTED: _submitted,
    E.ORDER_UNKNOWN: _unknown,
    E.ORDER_UPDATE: _update,
    E.ORDER_MODIFIED: _modified,
    E.FILL: _fill,
    E.POSITION_ADJUSTED: _position_adjusted,
    E.DAY_ROLLED: _day_rolled,
    E.MARK: _mark,
    E.TRADING_STATE: _trading_state,
    E.APPROVAL_DECISION: _decision,
    E.SLICE_STARTED: _parent_started,  # issue 15: slicing and algorithms
    E.ALGO_STARTED: _parent_started,
}
