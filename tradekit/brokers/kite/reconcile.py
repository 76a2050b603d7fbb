"""Reconciliation: tradekit's book against the broker's orders, trades, positions and holdings.

Orders are matched by tag (our client order id) and then by broker order id. A cycle first
*syncs* (hands the broker's rows for our own orders to the OMS, which ignores what it has
already applied, so a missed WebSocket update cannot leave a false difference), then
compares what is left:

============================  ============================================================
difference                    meaning
============================  ============================================================
``external_order``            an order at the broker that tradekit did not place (no tag of
                              ours); blocking until a person acknowledges it, which adopts
                              its fills into the book under the ``EXTERNAL`` strategy. An
                              order carrying the tag of one of ours — also one concluded
                              "not placed" that landed late — is ours: the sync adopts it
``unknown_order``             an order of ours whose placement outcome is still being looked
                              up by tag (UNKNOWN, or SUBMITTED with no reply, e.g. after a
                              crash); the message names the order, since when, and the
                              deadline by which the OMS concludes it — the block is bounded
``missing_order``             an order we think is at the broker, that the broker does not have
``status`` / ``filled``       our state or filled quantity differs from the broker's
``unbooked_trade``            a fill of one of our orders that the book lacks
``position``                  net quantity per (exchange, symbol, product) differs
``holding``                   fewer shares in the demat than the book carries overnight (CNC)
============================  ============================================================

Every difference blocks new orders (the session calls ``oms.block_new_orders``) until a later
cycle finds none; :meth:`ReconcileReport.summary` says which.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from tradekit.brokers.base import BrokerHolding, BrokerOrder, BrokerPosition, BrokerTrade, Funds
from tradekit.errors import BrokerError
from tradekit.model.enums import Product
from tradekit.model.order import OrderStatus, map_broker_status

log = logging.getLogger(__name__)

_PREFIX = "reconciliation: "
_TRANSIENT = frozenset({"status", "filled", "missing_order", "unbooked_trade", "position"})
_AT_BROKER = {OrderStatus.ACCEPTED, OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING, OrderStatus.PARTIALLY_FILLED,
              OrderStatus.PENDING_MODIFY, OrderStatus.PENDING_CANCEL, OrderStatus.FILLED, OrderStatus.CANCELLED,
              OrderStatus.REJECTED, OrderStatus.EXPIRED}


@dataclass(frozen=True)
class Difference:
    kind: str
    key: str
    ours: object
    theirs: object
    message: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "key": self.key, "ours": _plain(self.ours), "theirs": _plain(self.theirs),
                "message": self.message}


def _plain(x):
    return x if isinstance(x, (int, float, str, bool, type(None))) else str(x)


@dataclass
class ReconcileReport:
    checked_at: datetime
    differences: list[Difference] = field(default_factory=list)
    orders: int = 0
    trades: int = 0
    positions: int = 0
    holdings: int = 0
    funds: Funds | None = None
    synced: int = 0  # broker rows handed to the OMS before comparing

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def external_orders(self) -> list[str]:
        return [d.key for d in self.differences if d.kind == "external_order"]

    def summary(self) -> str:
        if self.ok:
            return (f"in sync with the broker: {self.orders} orders, {self.trades} trades, {self.positions} positions, "
                    f"{self.holdings} holdings")
        head = f"{len(self.differences)} difference(s) with the broker: "
        return head + "; ".join(d.message for d in self.differences[:8]) + (" ..." if len(self.differences) > 8 else "")

    def to_event(self) -> dict:
        """Payload of a ``broker.reconciliation`` journal event."""
        return {"kind": "reconcile", "ok": self.ok, "summary": self.summary(),
                "mismatches": [d.to_dict() for d in self.differences], "orders": self.orders, "trades": self.trades,
                "positions": self.positions, "holdings": self.holdings}

    def __str__(self) -> str:
        return self.summary()


def _ours(book, row: BrokerOrder) -> str | None:
    if row.tag and row.tag in book.orders:
        return row.tag
    return book.by_broker_id.get(row.broker_order_id)


def compare(book, orders: list[BrokerOrder], trades: list[BrokerTrade], positions: list[BrokerPosition],
            holdings: list[BrokerHolding], *, day: date, acknowledged: set[str] = frozenset(),
            checked_at: datetime | None = None, funds: Funds | None = None,
            placed_before: datetime | None = None, pending: dict | None = None,
            fetched_at: datetime | None = None) -> ReconcileReport:
    """Compare a :class:`~tradekit.store.projection.Book` with the broker's rows (pure: no I/O).

    ``pending``: the OMS's resolutions in progress (cid → ``PendingResolution``), which word the
    ``unknown_order`` differences (since when, until when). ``placed_before`` / ``fetched_at``:
    when the fetch began and ended; an order the book changed in between (an update or fill
    that arrived on the stream while the rows were being fetched, so the rows may predate it)
    is compared at the next cycle, and so are the positions in its symbol.
    """
    pending = pending or {}

    def moved(o) -> bool:
        return (placed_before is not None and fetched_at is not None and o.updated_at is not None
                and placed_before <= o.updated_at <= fetched_at)

    recent = getattr(book.orders, "hot", book.orders)  # today's and unfinished orders (old ones: tradekit.store.lazy)
    in_flux = {(str(o.request.exchange), o.request.tradingsymbol) for o in recent.values() if moved(o)}
    traded: dict[str, int] = defaultdict(int)  # the broker's own trade book, per broker order id
    for t in trades:
        traded[t.broker_order_id] += t.quantity
    rep = ReconcileReport(checked_at or datetime.now(), orders=len(orders), trades=len(trades), positions=len(positions),
                          holdings=len(holdings), funds=funds)
    diffs = rep.differences
    seen_cids: set[str] = set()
    for row in orders:
        cid = _ours(book, row)
        if cid is None:
            if row.broker_order_id not in acknowledged:
                diffs.append(Difference(
                    "external_order", row.broker_order_id, None, row.status,
                    f"external order {row.broker_order_id} ({row.exchange.value}:{row.tradingsymbol} {row.side.value} "
                    f"{row.quantity}, {row.status}, tag {row.tag or '-'}) was not placed by tradekit: acknowledge it to go on"))
            continue
        seen_cids.add(cid)
        o = book.orders[cid]
        if o.broker_order_id and o.broker_order_id != row.broker_order_id:
            diffs.append(Difference("missing_order", cid, o.broker_order_id, row.broker_order_id,
                                    f"order {cid}: broker order id {o.broker_order_id} in the book, {row.broker_order_id} at the broker"))
            continue
        if moved(o):
            continue  # the book moved on while the broker's rows were fetched: next cycle
        if row.filled_quantity < o.filled_quantity == traded.get(row.broker_order_id, 0):
            continue  # the order row predates the broker's own trade book (fetched after it), which agrees with ours
        want = map_broker_status(row.status, row.filled_quantity, row.quantity)
        if want is not None and want is not o.status:
            diffs.append(Difference("status", cid, o.status.value, row.status,
                                    f"order {cid}: {o.status.value} in the book, {row.status} at the broker"))
        if o.filled_quantity != row.filled_quantity:
            diffs.append(Difference("filled", cid, o.filled_quantity, row.filled_quantity,
                                    f"order {cid}: {o.filled_quantity} filled in the book, {row.filled_quantity} at the broker"))
    for cid, o in list(recent.items()):
        if cid in seen_cids or (o.created_at is not None and o.created_at.date() != day):
            continue
        if placed_before is not None and o.created_at is not None and o.created_at >= placed_before:
            continue  # created while we were fetching: the broker's rows cannot show it yet
        if o.status is OrderStatus.UNKNOWN or (o.status is OrderStatus.SUBMITTED and not o.broker_order_id):
            p = pending.get(cid)
            msg = p.describe() if p is not None else f"order {cid}: placement outcome still unknown (not found by tag yet)"
            diffs.append(Difference("unknown_order", cid, o.status.value, None, msg))
        elif o.status in _AT_BROKER or o.status is OrderStatus.SUBMITTED:
            if o.broker_order_id or o.status is not OrderStatus.REJECTED:
                diffs.append(Difference("missing_order", cid, o.status.value, None,
                                        f"order {cid} ({o.status.value}) is not in the broker's order book"))
    ours_by_id = {r.broker_order_id for r in orders if _ours(book, r) is not None}
    for t in trades:
        if t.broker_order_id in ours_by_id and t.trade_id not in book.trade_ids:
            diffs.append(Difference("unbooked_trade", t.trade_id, None, t.quantity,
                                    f"trade {t.trade_id} of order {t.broker_order_id} ({t.quantity} @ {t.price}) is not in the book"))
    # positions: the book's net over strategies against the broker's net rows
    ours_pos: dict[tuple, int] = defaultdict(int)
    for p in book.positions.values():
        ours_pos[(str(p.exchange), p.tradingsymbol, str(p.product))] += p.quantity
    theirs_pos: dict[tuple, int] = defaultdict(int)
    for p in positions:
        theirs_pos[(p.exchange.value, p.tradingsymbol, p.product.value)] += p.quantity
    for k in sorted(set(ours_pos) | set(theirs_pos)):
        a, b = ours_pos.get(k, 0), theirs_pos.get(k, 0)
        if k[2] == Product.CNC.value and a == b == 0:
            continue
        if (k[0], k[1]) in in_flux:
            continue  # a fill of this symbol was booked during the fetch: next cycle
        if a != b:
            diffs.append(Difference("position", f"{k[0]}:{k[1]} {k[2]}", a, b,
                                    f"position {k[0]}:{k[1]} {k[2]}: {a} in the book, {b} at the broker"))
    # holdings: the demat must hold at least what the book carried overnight in CNC
    carried: dict[tuple, int] = defaultdict(int)
    for p in book.positions.values():
        if str(p.product) == Product.CNC.value and p.overnight_quantity > 0:
            carried[(str(p.exchange), p.tradingsymbol)] += p.overnight_quantity
    held = {(h.exchange.value, h.tradingsymbol): h.quantity + h.t1_quantity for h in holdings}
    for k, q in sorted(carried.items()):
        if held.get(k, 0) < q:
            diffs.append(Difference("holding", f"{k[0]}:{k[1]}", q, held.get(k, 0),
                                    f"holding {k[0]}:{k[1]}: the book carried {q} overnight, the demat shows {held.get(k, 0)}"))
    return rep


class Reconciler:
    """Runs reconciliation on demand and every ``interval`` seconds.

    Parameters
    ----------
    broker
        Any :class:`~tradekit.brokers.base.Broker` (Kite or paper).
    book
        The OMS's book (read only here).
    oms
        The :class:`~tradekit.execution.oms.OrderManager`: receives the synced rows
        (``on_order_update`` / ``on_trade``) and ``block_new_orders(reason | None)``.
    emit
        ``fn(event_type, payload)`` to journal each report (e.g. ``session._emit``); optional.
    clock
        "Now" (the report's time and "today" for the order book).
    """

    def __init__(self, broker, book, *, oms=None, emit: Callable[[str, dict], object] | None = None, clock=None,
                 interval: float = 30.0):
        from tradekit.clock import RealClock

        self.broker, self.book, self.oms, self.emit = broker, book, oms, emit
        self.clock = clock or RealClock()
        self.interval = interval
        self.acknowledged: set[str] = set()
        self.last: ReconcileReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.on_report: list[Callable[[ReconcileReport], None]] = []

    def _sync(self, orders: list[BrokerOrder], trades: list[BrokerTrade]) -> int:
        if self.oms is None:
            return 0
        if hasattr(self.oms, "resolve_unknown"):
            # look up every order of unknown outcome by tag (also ones stranded by a restart); a row
            # for a tag of ours that was concluded "not placed" is adopted by on_order_update
            self.oms.resolve_unknown()
        n = 0
        ours = set()
        for row in orders:
            if _ours(self.book, row) is not None:
                ours.add(row.broker_order_id)
                self.oms.on_order_update(row)
                n += 1
        for t in trades:
            adopted = t.broker_order_id in self.acknowledged
            if (t.broker_order_id in ours or adopted) and t.trade_id not in self.book.trade_ids:
                self.oms.on_trade(t)
                n += 1
        return n

    def _pass(self, acknowledged: set[str]) -> ReconcileReport:
        started = self.clock.now()
        orders, trades = self.broker.orders(), self.broker.trades()
        positions, holdings = self.broker.positions(), self.broker.holdings()
        funds = self.broker.funds()
        fetched = self.clock.now()
        synced = self._sync(orders, trades)
        pending = self.oms.pending_resolutions() if hasattr(self.oms, "pending_resolutions") else None
        rep = compare(self.book, orders, trades, positions, holdings, day=started.date(), acknowledged=acknowledged,
                      checked_at=started, funds=funds, placed_before=started, pending=pending, fetched_at=fetched)
        rep.synced = synced
        return rep

    def run_once(self) -> ReconcileReport:
        """Fetch, sync, compare; block or unblock new orders; journal and return the report.

        A difference that can be a race with an update in flight (status, fills, positions)
        counts only if a second fetch shows it too.
        """
        with self._lock:
            try:
                rep = self._pass(self.acknowledged)
                if any(d.kind in _TRANSIENT for d in rep.differences):
                    rep = self._pass(self.acknowledged)
            except BrokerError as e:
                rep = ReconcileReport(self.clock.now(), [Difference("unavailable", "broker", None, None, f"cannot reconcile: {e}")])
            self._publish(rep)
            return rep

    def _publish(self, rep: ReconcileReport) -> None:
        prev = self.last
        self.last = rep
        if self.oms is not None:
            # The OMS holds one halt reason: set and clear only ours, never someone else's
            # (a lost session, a kill switch), which their owners lift.
            current = getattr(self.oms, "_halt_reason", None)
            if current is None or str(current).startswith(_PREFIX):
                self.oms.block_new_orders(None if rep.ok else f"{_PREFIX}{rep.summary()}")
        if not rep.ok:
            log.warning("%s", rep.summary())
        if self.emit is not None and (prev is None or not rep.ok or not prev.ok):
            from tradekit.store.events import EventType

            self.emit(EventType.RECONCILIATION, rep.to_event())
        for fn in list(self.on_report):
            fn(rep)

    def acknowledge(self, broker_order_id: str) -> ReconcileReport:
        """A person accepts an external order: its fills are booked (strategy ``EXTERNAL``)."""
        self.acknowledged.add(str(broker_order_id))
        return self.run_once()

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._stop.clear()

        def loop():
            while not self._stop.wait(self.interval):
                try:
                    self.run_once()
                except Exception:
                    log.exception("reconciliation failed")

        self._thread = threading.Thread(target=loop, name="kite-reconcile", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


def reconcile(book, broker, *, oms=None, clock=None, acknowledged: set[str] = frozenset()) -> ReconcileReport:
    """One reconciliation (see :class:`Reconciler`)."""
    r = Reconciler(broker, book, oms=oms, clock=clock, interval=0)
    r.acknowledged = set(acknowledged)
    return r.run_once()
