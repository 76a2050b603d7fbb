"""How the sandbox turns one 1-minute bar into ticks: a price path, volumes and times.

A bar says where the minute opened, how high and low it went and where it closed, not in
which order. The path goes open → first extreme → second extreme → close, the extremes in
the order a bar's direction makes plausible: a rising bar (close ≥ open) dips to its low
first and closes near its high (O → L → H → C), a falling bar the other way
(O → H → L → C). Points between those four anchors lie on straight lines between them,
rounded to the tick grid and kept inside the bar's range. The bar's volume is shared out
over the ticks (whole shares, summing exactly to the bar's volume) and the ticks are spaced
evenly inside the minute, at the middle of each slot, so every exchange timestamp falls in
the bar's own minute.

With fewer than four ticks per bar the path cannot visit all four anchors; it keeps the last
ones (three ticks: both extremes and the close; one tick: the close alone).
"""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_TICKS_PER_BAR = 60


def check_ticks_per_bar(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_TICKS_PER_BAR:
        raise ValueError(f"ticks_per_bar: {n!r} is not a whole number from 1 to {MAX_TICKS_PER_BAR}")
    return n


def on_grid(price: float, tick: float) -> float:
    """``price`` rounded to the nearest multiple of ``tick`` (two decimals, as Kite quotes)."""
    t = tick or 0.05
    return round(round(price / t) * t, 2)


def anchors(o: float, h: float, lo: float, c: float) -> tuple[float, float, float, float]:
    """The four points of a bar in a plausible order: O, first extreme, second extreme, C."""
    return (o, lo, h, c) if c >= o else (o, h, lo, c)


def tick_path(o: float, h: float, lo: float, c: float, n: int, tick: float) -> list[float]:
    """``n`` prices through the bar: first the open, last the close, both extremes in between (n ≥ 4)."""
    a = anchors(o, h, lo, c)
    if n < 4:
        return list(a[4 - n:])
    at = [0, round((n - 1) / 3), round(2 * (n - 1) / 3), n - 1]
    out: list[float] = []
    for k in range(3):
        i0, i1 = at[k], at[k + 1]
        p0, p1 = a[k], a[k + 1]
        for i in range(i0, i1):
            if i == i0:
                out.append(p0)
            else:
                x = p0 + (p1 - p0) * (i - i0) / (i1 - i0)
                out.append(min(h, max(lo, on_grid(x, tick))))
    out.append(a[3])
    return out


def split_volume(v: int, n: int) -> list[int]:
    """``v`` shares over ``n`` ticks, as evenly as whole shares allow (the sum is exactly ``v``)."""
    base, rem = divmod(int(v), n)
    return [base + (1 if j < rem else 0) for j in range(n)]


def tick_times(start: datetime, n: int, seconds: float = 60.0) -> list[datetime]:
    """``n`` times inside ``[start, start + seconds)``, at the middle of equal slots."""
    step = seconds / n
    return [start + timedelta(seconds=step * (j + 0.5)) for j in range(n)]


def last_quantity(dv: int) -> int:
    """A plausible size of the last trade among ``dv`` shares traded since the previous tick."""
    if dv <= 0:
        return 0
    return max(1, min(dv, dv // 25))
