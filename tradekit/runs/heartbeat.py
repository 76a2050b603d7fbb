"""The running session's heartbeat: a small JSON file the dashboards read to say RUNNING or NO SESSION.

A running session (paper or live) writes ``<data_dir>/session-heartbeat.json`` atomically (a
temporary file, then a rename) about once a wall second::

    {"session_clock": "2016-08-16T09:27:00+05:30", "speed": 5.0, "mode": "paper",
     "trading_state": "REDUCING", "cause": "daily_loss", "reason": "...", "by": "breaker",
     "wall_time": 1796000000.1, "pid": 1234, "host": "desk", "seq": 812, "stopped": false}

A reader (:func:`read_heartbeat`) calls it alive when ``wall_time`` is less than
:data:`STALE_AFTER` seconds old and the session did not say it stopped. On another machine
(a PostgreSQL journal) the file is not there; :func:`liveness` then falls back to the journal
lease row's heartbeat (:mod:`tradekit.store.lease`), which says only that a session holds the
journal.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "session-heartbeat.json"
EVERY_SECONDS = 1.0
STALE_AFTER = 5.0  # wall seconds without a beat: no session


def heartbeat_path(data_dir) -> Path:
    return Path(data_dir) / FILE_NAME


def trading_cause(session) -> dict:
    """The cause of the session's current trading state, from its risk gate: ``{cause, reason}``."""
    gate = getattr(getattr(session, "risk", None), "gate", None)
    if gate is None or str(getattr(gate, "state", "")).endswith("ACTIVE"):
        return {}
    return {"cause": getattr(gate, "state_cause", None), "reason": getattr(gate, "state_reason", None)}


class HeartbeatWriter:
    """Writes the heartbeat of ``session`` (throttled to one write per ``every`` wall seconds).

    Parameters
    ----------
    session
        A :class:`~tradekit.session.Session` (its clock, mode, book and journal are read).
    path : Path
        Default ``<data_dir>/session-heartbeat.json`` of the session's config.
    speed : float or None
        Session seconds per wall second (``None``: as fast as possible).
    """

    def __init__(self, session, path: Path | None = None, *, speed: float | None = None,
                 every: float = EVERY_SECONDS):
        self.session = session
        self.path = Path(path) if path is not None else heartbeat_path(session.config.data_dir)
        self.speed = speed
        self.every = every
        self._last = 0.0

    def payload(self, *, stopped: bool = False) -> dict:
        s = self.session
        book = s.book
        mode = getattr(s, "mode", None) or getattr(s.config, "mode", None)
        cause = trading_cause(s) if book.trading_state != "ACTIVE" else {}
        return {"session_clock": s.clock.now().isoformat(), "speed": self.speed,
                "mode": getattr(mode, "value", mode),
                "trading_state": book.trading_state, "cause": cause.get("cause"), "reason": cause.get("reason"),
                "by": cause.get("by"), "wall_time": time.time(), "pid": os.getpid(), "host": socket.gethostname(),
                "seq": getattr(book, "last_seq", None), "stopped": stopped}

    def beat(self, *, force: bool = False, stopped: bool = False) -> bool:
        """Write the heartbeat if ``every`` seconds have passed (or ``force``); True when written."""
        if not stopped:
            self._journal_beat()
        now = time.monotonic()
        if not force and not stopped and now - self._last < self.every:
            return False
        self._last = now
        try:
            write_atomic(self.path, self.payload(stopped=stopped))
        except OSError as e:  # a full disk must not stop the session; the page then shows NO SESSION
            log.warning("heartbeat %s could not be written: %s", self.path, e)
            return False
        return True

    def _journal_beat(self) -> None:
        """The session's heartbeat in its journal while it is quiet (uptime across days is measured
        from the journal; this file keeps only the latest beat)."""
        fn = getattr(self.session, "journal_heartbeat", None)
        if fn is None:
            return
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - a heartbeat never ends the session
            log.warning("journal heartbeat failed: %s", e)

    def stop(self) -> None:
        """Say the session ended (the page shows NO SESSION at once, not after :data:`STALE_AFTER`)."""
        self.beat(stopped=True)


def write_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, default=str))
    os.replace(tmp, path)


@dataclass(frozen=True)
class Heartbeat:
    """What a page knows about the session: alive or not, and its clock, speed, state and cause."""

    alive: bool
    source: str  # "heartbeat file", "journal lease" or "none"
    session_clock: datetime | None = None
    speed: float | None = None
    mode: str | None = None
    trading_state: str | None = None
    cause: str | None = None
    reason: str | None = None
    by: str | None = None
    wall_time: float | None = None
    age: float | None = None  # wall seconds since the beat
    why: str = ""  # why not alive

    def clock_now(self, now: float | None = None) -> datetime | None:
        """The session clock now: the beat's clock moved on by its age × speed (never before the beat)."""
        if self.session_clock is None or self.wall_time is None:
            return None
        from datetime import timedelta

        now = time.time() if now is None else now
        return self.session_clock + timedelta(seconds=max(0.0, now - self.wall_time) * (self.speed or 1.0))

    def label(self) -> str:
        """``RUNNING 09:27 ×5`` or ``NO SESSION``."""
        if not self.alive:
            return "NO SESSION"
        if self.session_clock is None:
            return "RUNNING"
        from tradekit.clock import IST

        sp = "" if self.speed in (None, 1, 1.0) else f" ×{self.speed:g}"
        return f"RUNNING {self.clock_now().astimezone(IST):%H:%M:%S}{sp}"


def read_heartbeat(path: Path, *, now: float | None = None, stale_after: float = STALE_AFTER) -> Heartbeat:
    """The heartbeat file at ``path`` as a :class:`Heartbeat` (``alive=False`` with ``why`` when stale or absent)."""
    now = time.time() if now is None else now
    try:
        d = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return Heartbeat(False, "none", why="no session has written a heartbeat")
    except (OSError, ValueError) as e:
        return Heartbeat(False, "none", why=f"heartbeat unreadable: {e}")
    try:
        clock = datetime.fromisoformat(d["session_clock"]) if d.get("session_clock") else None
        wall = float(d["wall_time"])
    except (KeyError, TypeError, ValueError) as e:
        return Heartbeat(False, "none", why=f"heartbeat malformed: {e}")
    age = max(0.0, now - wall)
    speed = d.get("speed")
    alive, why = True, ""
    if d.get("stopped"):
        alive, why = False, "the session stopped"
    elif age > stale_after:
        alive, why = False, f"last heartbeat {age:.0f} s ago"
    return Heartbeat(alive, "heartbeat file", clock, float(speed) if speed else None, d.get("mode"),
                     d.get("trading_state"), d.get("cause"), d.get("reason"), d.get("by"), wall, age, why)


def liveness(data_dir, engine=None, *, now: float | None = None, stale_after: float = STALE_AFTER) -> Heartbeat:
    """The session's liveness: the heartbeat file, else (another machine) the journal lease's heartbeat."""
    hb = read_heartbeat(heartbeat_path(data_dir), now=now, stale_after=stale_after)
    if hb.alive or hb.source != "none" or engine is None:
        return hb
    try:
        from tradekit.store.lease import current_holder

        holder = current_holder(engine)
    except Exception as e:  # noqa: BLE001 - liveness is a display, never a failure
        return Heartbeat(False, "none", why=f"{hb.why}; lease unreadable: {e}")
    if holder is None:
        return hb
    age = max(0.0, (time.time() if now is None else now) - holder.heartbeat)
    return Heartbeat(True, "journal lease", wall_time=holder.heartbeat, age=age)


__all__ = ["Heartbeat", "HeartbeatWriter", "heartbeat_path", "liveness", "read_heartbeat", "write_atomic"]
