"""Clocks: one interface for a live day, a paper day and a fast replay.

Everything that needs "now" takes a :class:`Clock`. Times are timezone-aware; the surface
timezone is IST (Asia/Kolkata, UTC+05:30, no DST).
"""

from __future__ import annotations

import os
import threading
import time
from datetime import date, datetime, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
UTC = timezone.utc


def to_ist(ts: datetime) -> datetime:
    """Return ``ts`` in IST; a naive datetime is refused (it is ambiguous)."""
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r} was received; pass a timezone-aware datetime")
    return ts.astimezone(IST)


def ist(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    """Build an IST datetime (a small convenience for tests and notebooks)."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=IST)


def today_ist() -> date:
    return datetime.now(IST).date()


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    """Wall-clock time in IST."""

    def now(self) -> datetime:
        return datetime.now(IST)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class SimClock:
    """A clock moved by the replay engine. ``sleep`` advances it instead of waiting.

    Internally nanoseconds since the epoch, so a replay can move it per bar without building
    a datetime each time; ``now()`` builds (and caches) the datetime only when asked.
    """

    def __init__(self, start: datetime):
        self._ns = _to_ns(to_ist(start))
        self._cached: datetime | None = None
        self._iso: str | None = None
        self._lock = threading.Lock()

    def now_iso(self) -> str:
        """``now().isoformat()``, cached until the clock moves (the journal stamps many events per tick)."""
        s = self._iso
        if s is None:
            s = self._iso = self.now().isoformat()
        return s

    def now(self) -> datetime:
        c = self._cached
        if c is None:
            c = self._cached = ns_to_dt(self._ns)
        return c

    @property
    def ns(self) -> int:
        return self._ns

    def set(self, ts: datetime) -> None:
        self.set_ns(_to_ns(to_ist(ts)))

    def set_ns(self, ns: int) -> None:
        if ns < self._ns:
            raise ValueError(f"clock cannot go backwards: {ns} < {self._ns}")
        if ns != self._ns:
            self._ns = ns
            self._cached = self._iso = None

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._ns += int(seconds * 1_000_000_000)
            self._cached = self._iso = None
        return self.now()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Asia/Kolkata has kept +05:30 since 1945-10-15 (the tz database; +06:30 in the war years, local
# mean times before 1906): from 1946 on, an IST time is the epoch's IST reading plus the elapsed
# time, plain datetime arithmetic without a zone lookup. Earlier times ask the zone.
_IST_EPOCH = datetime(1970, 1, 1, 5, 30, tzinfo=IST)
_IST_FIXED_FROM_NS = -757_382_400 * 1_000_000_000  # 1946-01-01T00:00Z


def ns_to_dt(ns: int) -> datetime:
    """Nanoseconds since the epoch → an IST datetime (microsecond precision)."""
    if ns >= _IST_FIXED_FROM_NS:
        return _IST_EPOCH + timedelta(0, 0, ns // 1000)
    return datetime.fromtimestamp(ns // 1_000_000_000, IST).replace(microsecond=(ns // 1000) % 1_000_000)


IST_OFFSET_NS = 19_800 * 1_000_000_000  # +05:30 (from 1946 on)
DAY_NS = 86_400 * 1_000_000_000


def ist_day_no(ns: int) -> int | None:
    """``ns_to_dt(ns).date()`` as days since 1970-01-01, without the datetime (a replay asks per
    minute); None before 1946, where the zone's offsets vary (ask :func:`ns_to_dt`)."""
    if ns >= _IST_FIXED_FROM_NS:
        return (ns + IST_OFFSET_NS) // DAY_NS
    return None


def dt_to_ns(ts: datetime) -> int:
    return _to_ns(to_ist(ts))


def _to_ns(ts: datetime) -> int:
    d = ts - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1000


SANDBOX_CLOCK_ENV = "TRADEKIT_SANDBOX_CLOCK"


class SandboxClock:
    """The Kite sandbox's replayed clock, for rehearsing a live day (``run day --rehearse``).

    Reads ``GET {root}/sim/clock`` (the replayed day, time and speed of ``tradekit kite-sim``)
    and runs on from there at the sandbox's speed (minutes of market per real minute),
    re-reading it every ``resync_seconds`` of real time (every ``stopped_resync_seconds`` while
    the sandbox stands still, so that a ``/sim/speed`` that starts it is followed at once, not
    minutes of replayed time later). ``now()`` never goes backwards.
    ``sleep(s)`` waits ``s`` seconds of replayed time (``s / speed`` real seconds, at least
    ``min_sleep``; a sandbox at speed 0 moves only when stepped, so then it waits ``s`` real
    seconds and re-reads the clock).

    Raises
    ------
    ConnectionError
        The sandbox does not answer ``/sim/clock`` when the clock is made.
    """

    def __init__(self, root: str, *, resync_seconds: float = 1.0, timeout: float = 3.0, min_sleep: float = 0.05,
                 fetch=None, stopped_resync_seconds: float = 0.1):
        self.root = root.rstrip("/")
        self.resync_seconds = resync_seconds
        self.stopped_resync_seconds = min(stopped_resync_seconds, resync_seconds)
        self.timeout = timeout
        self.min_sleep = min_sleep
        self._fetch = fetch or self._http
        self._lock = threading.Lock()
        self._last: datetime | None = None
        self.speed = 0.0
        self.day: date | None = None
        self.sync()

    def _http(self) -> dict:
        import json
        import urllib.request

        with urllib.request.urlopen(f"{self.root}/sim/clock", timeout=self.timeout) as r:
            return json.loads(r.read())["data"]

    def sync(self) -> datetime:
        """Re-read the sandbox's clock now."""
        try:
            info = self._fetch()
            at = to_ist(datetime.fromisoformat(info["time"]))
            speed, day = float(info["speed"]), date.fromisoformat(info["day"])
        except (OSError, KeyError, ValueError, TypeError) as e:
            raise ConnectionError(f"the Kite sandbox's clock at {self.root}/sim/clock is unreadable: {e}") from e
        with self._lock:
            self._base, self._wall, self.speed, self.day = at, time.monotonic(), max(0.0, speed), day
            self._synced = self._wall
        return self._now()

    def now(self) -> datetime:
        every = self.resync_seconds if self.speed > 0 else self.stopped_resync_seconds
        if time.monotonic() - self._synced >= every:
            try:
                self.sync()
            except ConnectionError:  # keep running on the last reading; the next call tries again
                self._synced = time.monotonic()
        return self._now()

    def _now(self) -> datetime:
        with self._lock:
            t = self._base + timedelta(seconds=(time.monotonic() - self._wall) * self.speed)
            if self._last is not None and t < self._last:
                t = self._last
            self._last = t
            return t

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        real = seconds / self.speed if self.speed > 0 else seconds
        time.sleep(max(self.min_sleep, real))


_default_clocks: dict[str, SandboxClock] = {}


def default_clock() -> Clock:
    """The clock of a live session: real time, or the sandbox's replayed clock in a rehearsal.

    ``tradekit run day --rehearse`` sets ``$TRADEKIT_SANDBOX_CLOCK`` to the sandbox's root for
    the day's notebooks; every part of one process then shares one :class:`SandboxClock`.
    """
    root = os.environ.get(SANDBOX_CLOCK_ENV, "").strip()
    if not root:
        return RealClock()
    c = _default_clocks.get(root)
    if c is None:
        c = _default_clocks[root] = SandboxClock(root)
    return c
