"""Clocks: one interface for a live day, a paper day and a fast replay.

Everything that needs "now" takes a :class:`Clock`. Times are timezone-aware; the surface
timezone is IST (Asia/Kolkata, UTC+05:30, no DST).
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timezone
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
            c = self._cached = datetime.fromtimestamp(self._ns // 1_000_000_000, IST).replace(
                microsecond=(self._ns // 1000) % 1_000_000)
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


def ns_to_dt(ns: int) -> datetime:
    """Nanoseconds since the epoch → an IST datetime (microsecond precision)."""
    return datetime.fromtimestamp(ns // 1_000_000_000, IST).replace(microsecond=(ns // 1000) % 1_000_000)


def dt_to_ns(ts: datetime) -> int:
    return _to_ns(to_ist(ts))


def _to_ns(ts: datetime) -> int:
    d = ts - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1000
