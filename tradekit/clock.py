"""Clocks: one interface for a live day, a paper day and a fast replay.

Everything that needs "now" takes a :class:`Clock`. Times are timezone-aware; the surface
timezone is IST (Asia/Kolkata, UTC+05:30, no DST).
"""

from __future__ import annotations

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
    """A clock moved by the replay engine. ``sleep`` advances it instead of waiting."""

    def __init__(self, start: datetime):
        self._now = to_ist(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._now

    def set(self, ts: datetime) -> None:
        ts = to_ist(ts)
        with self._lock:
            if ts < self._now:
                raise ValueError(f"clock cannot go backwards: {ts.isoformat()} < {self._now.isoformat()}")
            self._now = ts

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now = self._now + timedelta(seconds=seconds)
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)
