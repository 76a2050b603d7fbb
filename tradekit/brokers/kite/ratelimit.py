"""One rate governor per process for every call to Kite.

Kite counts requests per API key (quotes 1/s, historical 3/s, everything else 10/s) and
orders per account (10/s, 400/min, 5,000/day; ``shared/docs/india.md`` §7.2); above them it
answers 429 and repeated abuse can block the app. Every :class:`KiteBroker` (and every
thread) in the process goes through the same :func:`governor`, so notebooks, the OMS and a
reconciler polling in the background cannot add up to a breach.

How a call gets a slot: under a lock, the governor finds the earliest moment at which every
window of the call's bucket has room, books that moment, and releases the lock; the caller
then sleeps *outside* the lock until its moment. Bookings are made in arrival order, so
waiting callers are served first come, first served.

A 429 from Kite blocks the bucket for a backoff (1 s, doubling to 30 s while 429s repeat,
reset by the next success) on top of the windows.

Windows are rolling (``period`` seconds), except the day window, which is the calendar day in
IST (Kite's daily count restarts at midnight). Modifications and cancellations are booked in
the ``orders`` bucket too: the exchange's orders-per-second count includes them.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from tradekit.clock import IST
from tradekit.errors import BrokerUnavailable

DAY = "day"


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` calls in any ``period`` seconds (or per IST calendar day)."""

    limit: int
    period: float | str  # seconds, or "day"

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"a rate window needs a limit of at least 1, not {self.limit}")
        if self.period != DAY and (not isinstance(self.period, (int, float)) or self.period <= 0):
            raise ValueError(f"a rate window's period is seconds > 0 or 'day', not {self.period!r}")

    def __str__(self) -> str:
        per = "day" if self.period == DAY else ("s" if self.period == 1 else ("min" if self.period == 60 else f"{self.period:g}s"))
        return f"{self.limit}/{per}"


DEFAULT_LIMITS: dict[str, tuple[Window, ...]] = {
    "orders": (Window(10, 1.0), Window(400, 60.0), Window(5000, DAY)),
    "quote": (Window(1, 1.0),),
    "historical": (Window(3, 1.0),),
    "other": (Window(10, 1.0),),
}

MIN_BACKOFF, MAX_BACKOFF = 1.0, 30.0


def _next_midnight(ts: float) -> float:
    d = datetime.fromtimestamp(ts, IST)
    nxt = datetime.fromordinal(d.toordinal() + 1).replace(tzinfo=IST)
    return nxt.timestamp()


class _Bucket:
    __slots__ = ("windows", "stamps", "blocked_until", "backoff", "throttled")

    def __init__(self, windows: tuple[Window, ...]):
        self.windows = windows
        self.stamps: list[float] = []  # booked moments, sorted
        self.blocked_until = 0.0
        self.backoff = 0.0
        self.throttled = 0  # 429s seen

    def earliest(self, now: float) -> tuple[float, Window | None]:
        t, why = max(now, self.blocked_until), None
        for w in self.windows:
            if w.period == DAY:
                end = _next_midnight(t)  # IST has no DST: a day is 86,400 s
                lo = bisect.bisect_left(self.stamps, end - 86400.0)
                hi = bisect.bisect_left(self.stamps, end)
                if hi - lo >= w.limit:
                    t, why = end, w
                continue
            lo = bisect.bisect_right(self.stamps, t - w.period)
            inside = self.stamps[lo:]
            if len(inside) >= w.limit:
                # the slot frees when the limit-th most recent booking leaves the window
                cand = inside[len(inside) - w.limit] + w.period
                if cand > t:
                    t, why = cand, w
        return t, why

    def prune(self, now: float) -> None:
        longest = max((86400.0 * 2 if w.period == DAY else float(w.period)) for w in self.windows)
        cut = bisect.bisect_left(self.stamps, now - longest)
        if cut:
            del self.stamps[:cut]


class RateGovernor:
    """Rolling-window rate limits shared by all callers (thread-safe).

    Parameters
    ----------
    limits
        ``bucket -> windows``; missing buckets fall back to ``"other"``.
    clock, sleep
        Time source (epoch seconds) and sleeper; tests pass fakes.
    max_wait
        Longest a call may wait for a slot (seconds); beyond it :class:`BrokerUnavailable`
        is raised and nothing is sent (an order held for minutes is no longer the order the
        trader meant).
    """

    def __init__(
        self,
        limits: Mapping[str, tuple[Window, ...]] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 65.0,
    ):
        self._lock = threading.Lock()
        self.clock, self.sleep, self.max_wait = clock, sleep, max_wait
        self.min_backoff, self.max_backoff = MIN_BACKOFF, MAX_BACKOFF
        self._buckets: dict[str, _Bucket] = {}
        self.configure(limits or DEFAULT_LIMITS)

    def configure(self, limits: Mapping[str, tuple[Window, ...] | list]) -> None:
        """Replace the windows of the given buckets (bookings already made are kept)."""
        with self._lock:
            for name, windows in limits.items():
                ws = tuple(w if isinstance(w, Window) else Window(*w) for w in windows)
                b = self._buckets.get(name)
                if b is None:
                    self._buckets[name] = _Bucket(ws)
                else:
                    b.windows = ws
            self._buckets.setdefault("other", _Bucket(DEFAULT_LIMITS["other"]))

    def reset(self, limits: Mapping[str, tuple[Window, ...]] | None = None) -> None:
        """Forget every booking and backoff (tests; a new trading day), optionally with new limits."""
        with self._lock:
            self._buckets.clear()
            self.min_backoff, self.max_backoff = MIN_BACKOFF, MAX_BACKOFF
        self.configure(limits or DEFAULT_LIMITS)

    def _bucket(self, name: str) -> _Bucket:
        return self._buckets.get(name) or self._buckets["other"]

    def reserve(self, bucket: str, *, max_wait: float | None = None) -> float:
        """Book a slot in ``bucket`` and return the moment (epoch seconds) it starts.

        Raises :class:`BrokerUnavailable` when the slot is more than ``max_wait`` away (nothing
        is booked then).
        """
        limit = self.max_wait if max_wait is None else max_wait
        with self._lock:
            b = self._bucket(bucket)
            now = self.clock()
            b.prune(now)
            at, why = b.earliest(now)
            if at - now > limit:
                if at <= b.blocked_until:
                    reason = f"Kite answered 429 (too many requests); backing off {b.blocked_until - now:.1f}s"
                else:
                    reason = f"the {why} limit is reached"
                raise BrokerUnavailable(f"{bucket}: {reason}; the next slot is {at - now:.1f}s away, so nothing was sent")
            bisect.insort(b.stamps, at)
            return at

    def acquire(self, bucket: str, *, max_wait: float | None = None) -> float:
        """Wait for a slot in ``bucket``; returns the seconds waited."""
        at = self.reserve(bucket, max_wait=max_wait)
        wait = at - self.clock()
        if wait > 0:
            self.sleep(wait)
            return wait
        return 0.0

    def throttled(self, bucket: str, retry_after: float | None = None) -> float:
        """Record a 429 for ``bucket``; returns the backoff applied (seconds)."""
        with self._lock:
            b = self._bucket(bucket)
            b.throttled += 1
            b.backoff = min(self.max_backoff, max(self.min_backoff, b.backoff * 2))
            pause = max(b.backoff, retry_after or 0.0)
            b.blocked_until = max(b.blocked_until, self.clock() + pause)
            return pause

    def succeeded(self, bucket: str) -> None:
        """Record a call that was not throttled (resets the 429 backoff)."""
        b = self._bucket(bucket)
        if b.backoff:
            with self._lock:
                b.backoff = 0.0

    def usage(self, bucket: str) -> dict:
        """Bookings inside each window of ``bucket`` now, e.g. ``{"10/s": 3, "400/min": 57}``."""
        with self._lock:
            b = self._bucket(bucket)
            now = self.clock()
            out = {}
            for w in b.windows:
                if w.period == DAY:
                    start = _next_midnight(now) - 86400.0
                    out[str(w)] = sum(1 for s in b.stamps if start <= s <= now)
                else:
                    out[str(w)] = sum(1 for s in b.stamps if now - w.period < s <= now)
            out["429s"] = b.throttled
            return out

    def windows(self, bucket: str) -> tuple[Window, ...]:
        return self._bucket(bucket).windows


_GOVERNOR = RateGovernor()


def governor() -> RateGovernor:
    """The process-wide governor every Kite client in this process shares."""
    return _GOVERNOR


def bucket_for(method: str, path: str) -> str:
    """The rate bucket of a Kite route (``POST /orders/regular`` -> ``orders``)."""
    if path.startswith("/orders/") and method in ("POST", "PUT", "DELETE"):
        return "orders"
    if path.startswith("/quote"):
        return "quote"
    if path.startswith("/instruments/historical"):
        return "historical"
    return "other"
