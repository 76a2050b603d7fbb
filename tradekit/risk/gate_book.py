"""The gate's views of the book and the clock: the book in floats (:class:`BookSummary`), the
working orders (:class:`OpenOrders`), today's P&L and its peak (:class:`DayPnL`) and the order
rate (:class:`RateGovernor`). Each is refreshed incrementally, so a check that follows an
unchanged book pays only for noticing that nothing moved."""

from __future__ import annotations

import re
from collections import deque
from datetime import date, datetime
from itertools import compress
from operator import attrgetter, is_not
from typing import TYPE_CHECKING

from tradekit.model.enums import Product
from tradekit.model.order import TERMINAL, OrderStatus

if TYPE_CHECKING:  # pragma: no cover
    from tradekit.model.order import Order
    from tradekit.store.projection import Book

_UNDERLYING_RE = re.compile(r"^([A-Z&\-]+?)(?=\d)")
_CREATED = OrderStatus.CREATED


def underlying_of(tradingsymbol: str, instrument=None) -> str:
    """The underlying's symbol: the instrument's ``name``/``underlying`` or the symbol's letters
    before its expiry digits (``NIFTY26AUGFUT`` → ``NIFTY``)."""
    if instrument is not None:
        u = instrument.underlying or (instrument.name if instrument.is_derivative else "")
        if u:
            return u.upper()
    m = _UNDERLYING_RE.match(tradingsymbol)
    return m.group(1) if m else tradingsymbol


class DayPnL:
    """Today's P&L (realised + unrealised − charges) against the day's baseline, and its peak.

    Shared by the gate and the breakers. ``start`` fixes the baseline (the session calls it
    when the day starts); otherwise the first observation of a new day sets it.
    """

    __slots__ = ("day", "baseline", "peak", "last")

    def __init__(self) -> None:
        self.day: date | None = None
        self.baseline = 0.0
        self.peak = 0.0
        self.last = 0.0

    def start(self, day: date, total_pnl: float) -> None:
        self.day, self.baseline, self.peak, self.last = day, float(total_pnl), 0.0, 0.0

    def observe(self, day: date, total_pnl: float) -> float:
        if day != self.day:
            self.start(day, total_pnl)
        v = total_pnl - self.baseline
        self.last = v
        if v > self.peak:
            self.peak = v
        return v

    @property
    def drawdown(self) -> float:
        return self.peak - self.last

    def rearm_peak(self) -> None:
        """Start drawdown afresh from the current P&L (after a deliberate unlock)."""
        self.peak = self.last


_last_price = attrgetter("last_price")
_status = attrgetter("status")


class BookSummary:
    """The book in floats: net quantity and exposure per instrument, sectors, totals, P&L.

    Rebuilt fully when fills, positions, cash or charges change; patched per position when
    only marks moved (found by comparing every position's ``last_price`` object, which a
    mark replaces). ``key`` is ``EXCHANGE:SYMBOL``. ``deltas`` lists (key, Δ exposure) of
    patches since the consumer last cleared it (the VaR check uses it); ``full_version``
    changes on every full rebuild.
    """

    __slots__ = ("book_id", "seq", "fills", "npos", "cash", "charges", "positions", "lps", "rows", "qty",
                 "value", "price", "cnc", "sector", "gross", "net", "unreal", "fixed", "sector_of", "version",
                 "full_version", "deltas")

    def __init__(self, sector_of) -> None:
        self.book_id = None
        self.seq = -1
        self.sector_of = sector_of
        self.version = 0
        self.full_version = 0
        self.deltas: list[tuple[str, float]] = []
        self._clear()

    def _clear(self) -> None:
        self.fills = -1
        self.npos = -1
        self.cash = None
        self.charges = None
        self.positions: list = []
        self.lps: list = []
        self.rows: list[list] = []
        self.qty: dict[str, int] = {}
        self.value: dict[str, float] = {}
        self.price: dict[str, float] = {}
        self.cnc: dict[str, int] = {}
        self.sector: dict[str, float] = {}
        self.gross = 0.0
        self.net = 0.0
        self.unreal = 0.0
        self.fixed = 0.0

    @property
    def total_pnl(self) -> float:
        return self.fixed + self.unreal

    def refresh(self, book: "Book") -> None:
        if book.last_seq == self.seq and id(book) == self.book_id and book.last_seq:
            return
        positions = book.positions
        if (id(book) != self.book_id or book.fills != self.fills or len(positions) != self.npos
                or book.cash is not self.cash or book.charges_total is not self.charges):
            self._full(book)
        else:
            # one C-level pass; list equality compares identical objects without calling __eq__.
            # A quantity never changes alone: fills rebuild, and a split re-marks the price too.
            lps = list(map(_last_price, self.positions))
            if lps != self.lps:
                self._marks(lps)
        self.seq = book.last_seq

    def _full(self, book: "Book") -> None:
        self._clear()
        self.book_id = id(book)
        self.fills = book.fills
        self.npos = len(book.positions)
        self.cash = book.cash
        self.charges = book.charges_total
        fixed = -float(book.charges_total.total)
        qty, value, price, cnc = self.qty, self.value, self.price, self.cnc
        unreal = 0.0
        for pos in book.positions.values():
            fixed += float(pos.realized_pnl) + float(pos.dividends)
            q = pos.quantity
            k = f"{pos.exchange}:{pos.tradingsymbol}"
            lp = pos.last_price
            m = pos.multiplier
            ov = float(pos.open_value)
            if lp is not None:
                px = float(lp)
            else:
                px = ov / q if q else 0.0
            mv = px * q * m
            u = (px * q - ov) * m if q else 0.0
            self.positions.append(pos)
            self.lps.append(lp)
            # [key, market value, unrealised, multiplier, quantity, open value (Decimal) and as a float]
            self.rows.append([k, mv, u, m, q, pos.open_value, ov])
            qty[k] = qty.get(k, 0) + q
            value[k] = value.get(k, 0.0) + mv
            if lp is not None or k not in price:
                price[k] = px
            if pos.product is Product.CNC:
                cnc[k] = cnc.get(k, 0) + q
            unreal += u
        self.fixed = fixed
        self.unreal = unreal
        gross = net = 0.0
        sector: dict[str, float] = {}
        sector_of = self.sector_of
        for k, v in value.items():
            gross += abs(v)
            net += v
            s = sector_of(k)
            if s:
                sector[s] = sector.get(s, 0.0) + abs(v)
        self.gross, self.net, self.sector = gross, net, sector
        self.deltas.clear()
        self.version += 1
        self.full_version += 1

    def _marks(self, lps: list) -> None:
        old_lps, positions, rows = self.lps, self.positions, self.rows
        value, price, deltas, sector_of = self.value, self.price, self.deltas, self.sector_of
        for i in compress(range(len(lps)), map(is_not, lps, old_lps)):
            pos = positions[i]
            lp, q = lps[i], pos.quantity
            row = rows[i]
            k, m = row[0], row[3]
            ovd = pos.open_value
            if ovd is row[5]:  # Decimals are immutable: the same object, the same float
                ov = row[6]
            else:
                ov = float(ovd)
                row[5], row[6] = ovd, ov
            px = float(lp) if lp is not None else (ov / q if q else 0.0)
            mv = px * q * m
            u = (px * q - ov) * m if q else 0.0
            before = value[k]
            after = before + mv - row[1]
            value[k] = after
            self.qty[k] += q - row[4]
            self.unreal += u - row[2]
            if lp is not None:
                price[k] = px
            d_abs = abs(after) - abs(before)
            self.gross += d_abs
            self.net += after - before
            s = sector_of(k)
            if s:
                self.sector[s] = self.sector.get(s, 0.0) + d_abs
            deltas.append((k, after - before))
            row[1], row[2], row[4] = mv, u, q
        self.lps = lps
        self.version += 1


class OpenOrders:
    """Orders of the book that passed the gate and are not final (``live``), tracked
    incrementally: new orders are appended to ``book.orders``; finished ones are pruned on
    each refresh. Orders still CREATED (not yet checked) are watched but not counted.

    ``version`` is ``book.orders_version`` at the last refresh: while it stays the same no
    event changed an order, so only new (CREATED) orders can have been appended and ``live``,
    the same object, holds the same orders in the same state (the statuses are not compared)."""

    __slots__ = ("book_id", "seen", "open", "live", "seq", "statuses", "version", "orders", "index")

    def __init__(self) -> None:
        self.statuses: list = []
        self.book_id = None
        self.seen = 0
        self.seq = -1
        self.version = -1
        self.orders = None
        self.index: tuple | None = None  # (live, {tradingsymbol: [orders]}) (of_symbol)
        self.open: dict[str, "Order"] = {}
        self.live: dict[str, "Order"] = {}

    def refresh(self, book: "Book") -> dict[str, "Order"]:
        # statuses change only through events, so an unchanged last_seq means nothing moved
        if book.last_seq == self.seq and id(book) == self.book_id and book.last_seq:
            return self.live
        self.seq = book.last_seq
        orders = book.orders
        if orders.__class__ is not dict:  # (getattr with a default on a dict raises and catches: ~1 µs)
            orders = getattr(orders, "hot", orders)  # every order not final is in memory (tradekit.store.lazy)
        n = len(orders)
        if id(book) != self.book_id or n < self.seen:
            self.book_id, self.seen, self.open, self.version = id(book), 0, {}, -1
        version = book.orders_version
        if version == self.version and orders is self.orders:
            # no event changed an order: at most order.created appended some (CREATED: watched, not live)
            if n == self.seen:
                return self.live
            it = reversed(orders.values())
            new = [next(it) for _ in range(n - self.seen)]
            if all(o.status is _CREATED for o in new):
                for o in new:  # newest first, as below
                    self.open[o.client_order_id] = o
                    self.statuses.append(_CREATED)
                self.seen = n
                return self.live
        self.version, self.orders = version, orders
        added = n > self.seen
        if added:
            if self.seen == 0:
                new = list(orders.values())
            else:
                it = reversed(orders.values())
                new = [next(it) for _ in range(n - self.seen)]
            for o in new:
                if o.status not in TERMINAL:
                    self.open[o.client_order_id] = o
            self.seen = n
        if self.open:
            statuses = list(map(_status, self.open.values()))
            if statuses != self.statuses or added:  # C-level compare: usually nothing moved
                self.open = {cid: o for cid, o in self.open.items() if o.status not in TERMINAL}
                self.live = {cid: o for cid, o in self.open.items() if o.status is not _CREATED}
                self.statuses = list(map(_status, self.open.values()))
        else:
            self.live = {}
        return self.live

    def of_symbol(self, live: dict[str, "Order"], symbol: str):
        """The orders of ``live`` (a mapping :meth:`refresh` returned) in ``symbol``, in its order:
        indexed once per mapping (``live`` is replaced, never changed, when its orders change,
        and an order's symbol never changes: a modify replaces price, quantity or type)."""
        ix = self.index
        if ix is None or ix[0] is not live:
            by: dict[str, list] = {}
            for o in live.values():
                s = o.request.tradingsymbol
                lst = by.get(s)
                if lst is None:
                    by[s] = [o]
                else:
                    lst.append(o)
            ix = self.index = (live, by)
        return ix[1].get(symbol, ())


class RateGovernor:
    """Orders per second over a sliding window, kept under the SEBI retail-algo threshold."""

    __slots__ = ("limit", "window", "times")

    def __init__(self, per_second: float, window: float = 1.0) -> None:
        self.limit = max(1, int(per_second * window))
        self.window = window
        self.times: deque[float] = deque()

    def _trim(self, t: float) -> None:
        times, cut = self.times, t - self.window
        while times and times[0] <= cut:
            times.popleft()

    def wait_time(self, now: datetime | float) -> float:
        """Seconds until one more order fits (0 when it fits now)."""
        t = now if isinstance(now, float) else now.timestamp()
        self._trim(t)
        if len(self.times) < self.limit:
            return 0.0
        return self.times[len(self.times) - self.limit] + self.window - t

    def record(self, now: datetime | float, n: int = 1) -> None:
        t = now if isinstance(now, float) else now.timestamp()
        self.times.extend([t] * n)

