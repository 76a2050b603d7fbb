"""The daily-loss check's worst case: what the day would lose if the market moved against it now.

The old check compared only the loss so far with the limit, so an order allowed just below the
limit could carry the day well past it (issue 13: +20 % on a steady fall, +26 % with a large
order just before the limit, +264 % with one −12 % bar). The gate now allows an entry only if

    loss so far + open exposure's loss + this order's worst case  <=  limit

where, with ``p`` = ``risk.loss.adverse_move_pct``:

- **this order's worst case** is its stop distance × quantity when it carries a stop
  (``RiskContext.extra["stop"]``, or the ``sizing.stop`` of the signal that made it), else
  ``p`` % of its value; with a VaR model that knows the symbol, the order's own VaR when that
  is larger than ``p`` %;
- **open exposure's loss** (``risk.loss.include_open_positions``) is ``p`` % of each open
  position, each counted against its holder, including orders already working (a working buy
  and sell on one symbol count as whichever side is worse);
- **what the order pays through the mark**: an order without a stop priced worse than the
  price the book values its symbol at (a buy limit above the mark, a sell limit below it) loses
  that difference × quantity the moment it fills, before any move (the book marks the new
  quantity at its mark, else the last price). A stop's distance is measured from the order's
  own price, so it already includes this. Before, the adverse move was counted from the
  order's price alone: a 2,941-share buy at ₹991.65 with CCC marked ₹991.646 took the day to
  ₹20,001.58 under the 0.5 % move with a ₹20,000 limit (hypothesis example, pinned in
  ``test_daily_loss_worst_case``).

What it cannot prevent
----------------------
The bound holds for moves up to ``p`` % and for stops that fill at their price. A gap through
a stop (the market opens beyond it), a move larger than ``p`` % (a −12 % bar with ``p`` = 1 %
costs twelve times what was budgeted), slippage on exits, and losses on positions after the
limit is reached (the daily-loss breaker then flattens; what the flatten costs is on top) all
take the day past the limit. Raise ``adverse_move_pct`` to budget for larger bars; it also
shrinks how much can be open at once (positions × ``p`` % must fit under the limit).
"""

from __future__ import annotations

import math
from decimal import Decimal
from operator import attrgetter
from typing import Any


def order_worst_case(*, q: int, price: float, mult: float, stop: Any, adverse_pct: float,
                     var_pct: float | None = None) -> tuple[float, str]:
    """(rupees, how) this order can lose: by its stop if it has one, else the adverse move (or its VaR)."""
    if stop is not None:
        try:
            s = float(stop)
        except (TypeError, ValueError):
            s = math.nan
        if math.isfinite(s) and s > 0:
            return abs(price - s) * q * mult, f"stop {s:,.2f}"
    value = abs(q * price * mult)
    pct, how = _move(adverse_pct, var_pct)
    return value * pct / 100.0, how


_MOVE_TEXT: dict[float, str] = {}


def _move(adverse_pct: float, var_pct: float | None) -> tuple[float, str]:
    """(percent of its value, how) an order without a stop can lose: the adverse move, or its
    VaR when larger. The adverse move's text is kept (a setting: one or a few values)."""
    if var_pct is not None and var_pct > adverse_pct:
        return var_pct, f"its VaR, {var_pct:.2f} % of value"
    text = _MOVE_TEXT.get(adverse_pct) if adverse_pct > 0 else None  # (-0.0 and 0.0 print apart)
    if text is None:
        text = f"{adverse_pct:g} % adverse move"
        if adverse_pct > 0:
            if len(_MOVE_TEXT) > 64:
                _MOVE_TEXT.clear()
            _MOVE_TEXT[adverse_pct] = text
    return adverse_pct, text


# id(request) -> (key, 0 buy / 1 sell, rupees per unit or None, the request: held so its id is not reused)
_UNIT: dict[int, tuple] = {}


def working_orders(summary, open_orders: dict) -> dict[str, list[float]]:
    """Per key ``EXCHANGE:SYMBOL``: [value of working buys, of working sells], rupees.

    Requests are immutable (a modify replaces the request), so each one's key, side and
    rupees per unit are worked out once.
    """
    out: dict[str, list[float]] = {}
    unit_of = _UNIT
    for o in open_orders.values():
        r = o.request
        u = unit_of.get(id(r))
        if u is None or u[3] is not r or u[2] is None:
            k = f"{r.exchange.value}:{r.tradingsymbol}"
            px = float(r.price) if r.price is not None else (
                float(r.trigger_price) if r.trigger_price is not None else summary.price.get(k))
            mult = 1.0
            for row in summary.rows:
                if row[0] == k:
                    mult = float(row[3] or 1)
                    break
            u = (k, 0 if r.side.value == "BUY" else 1, None if px is None else px * mult, r)
            if len(unit_of) > 100_000:
                unit_of.clear()
            unit_of[id(r)] = u
            if u[2] is None:
                continue
        left = o.pending_quantity
        if left > 0:
            row = out.get(u[0])
            if row is None:
                row = out[u[0]] = [0.0, 0.0]
            row[u[1]] += left * u[2]
    return out


def worst_exposure(position: float, buys: float, sells: float) -> float:
    """The largest absolute exposure a key can reach as its working orders fill."""
    return max(abs(position + buys), abs(position - sells), abs(position))


class _Gross:
    """Σ |position value| over the book, recomputed only when the summary changes."""

    __slots__ = ("key", "total")

    def __init__(self) -> None:
        self.key = None
        self.total = 0.0

    def of(self, summary) -> float:
        key = (id(summary), summary.version, summary.book_id)
        if key != self.key:
            self.key = key
            self.total = sum(abs(v) for v in summary.value.values())
        return self.total


_GROSS = _Gross()


_request = attrgetter("request")
_filled = attrgetter("filled_quantity")


class _Base:
    """(working orders per key, Σ worst exposure over the book), recomputed when the book moved:
    a new summary version (fills, positions, marks), or a change in the working orders (which
    ones, their requests, their filled quantities), each compared in one C-level pass. While
    the book has taken no event at all (the summary's ``seq``, the same working-orders mapping)
    nothing is compared: orders change only through events applied to the book."""

    __slots__ = ("key", "working", "total", "orders", "requests", "filled", "summary", "seq", "open_orders",
                 "orders_version")

    def __init__(self) -> None:
        self.key = None
        self.working: dict = {}
        self.total = 0.0
        self.orders: list = []
        self.requests: list = []
        self.filled: list = []
        self.summary = self.open_orders = None
        self.seq = -1
        self.orders_version = None

    def of(self, summary, open_orders: dict, orders_version: int | None = None) -> tuple[dict, float]:
        """``orders_version``: the book's ``orders_version`` that ``open_orders`` was taken at
        (:class:`~tradekit.risk.gate_book.OpenOrders`); the same mapping at the same version
        holds the same orders unchanged, so nothing is compared even after other events."""
        if (open_orders is self.open_orders and summary is self.summary and summary.seq > 0
                and (summary.seq == self.seq or (orders_version is not None and orders_version == self.orders_version))
                and summary.version == self.key[1] and summary.book_id == self.key[2]):
            self.seq = summary.seq
            return self.working, self.total
        key = (id(summary), summary.version, summary.book_id)
        orders = list(open_orders.values())
        # list equality tests identity first: equal when the same order objects are still working
        requests = list(map(_request, orders))
        filled = list(map(_filled, orders))
        if key != self.key or filled != self.filled or requests != self.requests or orders != self.orders:
            self.orders, self.requests, self.filled = orders, requests, filled
            working = working_orders(summary, open_orders)
            value = summary.value
            total = _GROSS.of(summary)
            for k, (b, s) in working.items():
                v = value.get(k, 0.0)
                av = v if v >= 0 else -v
                w = v + b
                x = s - v
                w = w if w >= 0 else -w
                x = x if x >= 0 else -x
                total += (w if w > x else x) - av if (w > av or x > av) else 0.0
            self.key, self.working, self.total = key, working, total
        self.summary, self.open_orders, self.seq, self.orders_version = summary, open_orders, summary.seq, orders_version
        return self.working, self.total


_BASE = _Base()


def through_mark(*, signed_value: float, q: int, price: float, mult: float, mark: float | None) -> float:
    """Rupees an order loses on filling at ``price`` when the book values its symbol at ``mark``:
    a buy above the mark, a sell below it (0 when it is priced better, or with no mark)."""
    if mark is None or not math.isfinite(mark) or mark <= 0:
        return 0.0
    d = price - mark if signed_value > 0 else mark - price
    return d * q * mult if d > 0 else 0.0


def headroom(*, loss_so_far: float, limit: float, summary, open_orders: dict, key: str, signed_value: float,
             q: int, price: float, mult: float, stop: Any, adverse_pct: float, include_positions: bool,
             var_pct: float | None = None, mark: float | None = None) -> tuple[bool, float, dict]:
    """(allowed, total, parts): the daily-loss check with the new order's worst case.

    ``signed_value`` is the order's value, positive for a buy. ``mark``: the price the book will
    value the filled quantity at (its mark for the symbol, else the last price). Costs
    O(working orders): the book's gross is cached per summary version.
    """
    ok, total, open_loss, order_loss = check(loss_so_far, limit, summary, open_orders, key, signed_value, q, price,
                                             mult, stop, adverse_pct, include_positions, var_pct, mark)
    return ok, total, {"loss": loss_so_far, "open": open_loss, "order": order_loss,
                       "how": how(q, price, mult, stop, adverse_pct, var_pct, signed_value, mark)}


def _stop(stop: Any) -> float | None:
    """A usable stop price (finite, positive) or None."""
    if stop is None:
        return None
    try:
        s = float(stop)
    except (TypeError, ValueError):
        return None
    return s if math.isfinite(s) and s > 0 else None


_NONE = (0.0, 0.0)


def check(loss_so_far: float, limit: float, summary, open_orders: dict, key: str, signed_value: float, q: int,
          price: float, mult: float, stop: Any, adverse_pct: float, include_positions: bool, var_pct: float | None,
          mark: float | None, orders_version: int | None = None) -> tuple[bool, float, float, float]:
    """:func:`headroom`'s figures, positionally and without the text (the gate's path):
    (allowed, total, open exposure's loss, the order's worst case); :func:`how` says how the
    order's worst case was taken when a message needs it. ``orders_version``: see :meth:`_Base.of`."""
    if include_positions:
        working, total_worst = _BASE.of(summary, open_orders, orders_version)
        pos = summary.value.get(key, 0.0)
        b, s = working.get(key, _NONE)
    else:
        total_worst = pos = b = s = 0.0
    exposure_loss = total_worst * adverse_pct / 100.0
    st = None if stop is None else _stop(stop)
    if st is not None:
        order_loss = abs(price - st) * q * mult
    else:
        # no usable stop: the order counts with its key, so an order that reduces or flips is fair
        # (worst_exposure before and after the order, and through_mark, inline: the gate's path)
        if b == 0.0 and s == 0.0:
            # no working order on the key (the usual case): the three terms before are |pos|, and
            # after it |pos + order| and |pos| (adding or subtracting a zero moves no float's
            # magnitude, and pos - (0 - v) is pos + v), so the same figures in fewer operations
            before = pos if pos >= 0.0 else -pos
            after = pos + signed_value
            if after < 0.0:
                after = -after
            grow = after - before if after > before else 0.0
        else:
            before = max(abs(pos + b), abs(pos - s), abs(pos))
            if signed_value > 0.0:
                after = max(abs(pos + b + signed_value), abs(pos - s), abs(pos))
            else:
                after = max(abs(pos + b), abs(pos - (s - signed_value)), abs(pos))
            grow = after - before if after > before else 0.0
        pct = adverse_pct if var_pct is None or var_pct <= adverse_pct else var_pct
        order_loss = grow * pct / 100.0
        if mark is not None and mark > 0 and mark != math.inf:  # through_mark
            d = price - mark if signed_value > 0 else mark - price
            if d > 0:
                order_loss += d * q * mult
    total = loss_so_far + exposure_loss + order_loss
    return total <= limit * (1 + 1e-12), total, exposure_loss, order_loss


def how(q: int, price: float, mult: float, stop: Any, adverse_pct: float, var_pct: float | None,
        signed_value: float, mark: float | None) -> str:
    """How :func:`check` took the order's worst case, for a message."""
    st = _stop(stop)
    if st is not None:
        return f"stop {st:,.2f}"
    text = _move(adverse_pct, var_pct)[1]  # order_worst_case's text without a stop
    paid = through_mark(signed_value=signed_value, q=q, price=price, mult=mult, mark=mark)
    if paid > 0.0:
        text = f"{text} + ₹{paid:,.2f} paid through the mark {mark:,.2f}"
    return text


def stop_of(order, ctx, signal_stops: dict) -> Decimal | float | None:
    """The protective stop of an order: ``ctx.extra["stop"]``, else its signal's ``sizing.stop``."""
    extra = ctx.extra
    st = extra.get("stop") if extra else None
    if st is None and order.signal_id:
        st = signal_stops.get(order.signal_id)
    return st
