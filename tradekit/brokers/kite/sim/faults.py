"""Fault injection for the Kite-compatible server, driven by tests (thread-safe).

A fault matches requests by a regular expression on ``"METHOD /path"`` and fires for the
next ``times`` matching requests. ``when`` says whether the server first does the work
(``"after"``: e.g. the order *is* placed, then the answer is lost: the ambiguous case) or
misbehaves instead of doing it (``"before"``: nothing happens on the server).

Kinds:

- ``status``: answer ``status`` with an error envelope (``error_type``), or with a *success*
  envelope when ``body="success"`` (the client's 5xx-with-success trap);
- ``slow``: wait ``delay`` seconds. ``when="before"`` *holds the request before processing it*
  (:meth:`Faults.hold`: an order lands at the broker only after the delay, even if the client
  gave up meanwhile); ``when="after"`` does the work first and delays only the answer
  (:meth:`Faults.delay_response`: a client that times out has placed the order anyway);
- ``drop``: close the connection without an answer;
- ``no_content_type``: answer without a Content-Type header (the client's KeyError trap);
- ``no_error_type``: an error envelope without ``error_type`` (the client's TypeError trap).

Ticker faults: refuse the next N handshakes (403), go silent for N seconds (no ticks and no
heartbeats while the socket stays open), pause market data until resumed (:meth:`Faults.pause_ticker`:
no tick packets, the socket stays open; heartbeats go on by default, as Kite keeps sending its
1-byte heartbeat when it has nothing else to send, so only a tick-staleness watchdog notices;
``heartbeats=False`` stops them too; order updates keep flowing), and drop every connection
(clean close or abort).

The same switches are reachable over HTTP (``/sim/...``, see :mod:`.admin`) for a sandbox
running in another process.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

ORDER_PLACE = r"^POST /orders/[a-z]+$"
ORDER_ROUTES = r"^(POST|PUT|DELETE) /orders/"


@dataclass
class Fault:
    kind: str
    route: str = r".*"
    times: int = 1
    when: str = "before"
    status: int = 500
    body: str = "error"  # "error" | "success"
    error_type: str = "GeneralException"
    message: str = "Something went wrong (injected)"
    delay: float = 0.0
    fired: int = 0
    _rx: re.Pattern = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ("status", "slow", "drop", "no_content_type", "no_error_type"):
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.when not in ("before", "after"):
            raise ValueError("when is 'before' or 'after'")
        self._rx = re.compile(self.route)


class Faults:
    """The server's fault plan. Every method is safe to call from a test thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._plan: list[Fault] = []
        self.ticker_refusals = 0
        self.ticker_silent_until = 0.0
        self.ticker_paused = False
        self.ticker_paused_heartbeats = False
        self.log: list[tuple[str, str, str]] = []  # (kind, method, path) of every fault fired

    def add(self, kind: str, route: str = r".*", times: int = 1, **kw) -> Fault:
        f = Fault(kind, route, times, **kw)
        with self._lock:
            self._plan.append(f)
        return f

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed fault matching this request (it is used up by one)."""
        line = f"{method} {path}"
        with self._lock:
            for f in self._plan:
                if f.times > 0 and f._rx.search(line):
                    f.times -= 1
                    f.fired += 1
                    self.log.append((f.kind, method, path))
                    return f
        return None

    def clear(self) -> None:
        with self._lock:
            self._plan.clear()
            self.ticker_refusals = 0
            self.ticker_silent_until = 0.0
            self.ticker_paused = self.ticker_paused_heartbeats = False

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(f.times for f in self._plan)

    # -- shorthands ------------------------------------------------------------------------------
    def rate_limit(self, times: int = 1, route: str = r".*") -> Fault:
        """429 "Too many requests" (NetworkException), the work not done."""
        return self.add("status", route, times, status=429, error_type="NetworkException", message="Too many requests")

    def server_error(self, times: int = 1, route: str = r".*", *, status: int = 500, when: str = "before",
                     body: str = "error", error_type: str = "GeneralException") -> Fault:
        return self.add("status", route, times, status=status, when=when, body=body, error_type=error_type)

    def slow(self, delay: float, times: int = 1, route: str = r".*", when: str = "before") -> Fault:
        return self.add("slow", route, times, delay=delay, when=when)

    def hold(self, seconds: float, times: int = 1, route: str = ORDER_PLACE) -> Fault:
        """Hold the next ``times`` matching requests ``seconds`` *before processing them* (default: placements)."""
        return self.add("slow", route, times, delay=float(seconds), when="before")

    def delay_response(self, seconds: float, times: int = 1, route: str = ORDER_PLACE) -> Fault:
        """Process the next ``times`` matching requests at once, then answer ``seconds`` later."""
        return self.add("slow", route, times, delay=float(seconds), when="after")

    def drop(self, times: int = 1, route: str = r".*", when: str = "after") -> Fault:
        return self.add("drop", route, times, when=when)

    def no_content_type(self, times: int = 1, route: str = r".*", when: str = "after") -> Fault:
        return self.add("no_content_type", route, times, when=when)

    def no_error_type(self, times: int = 1, route: str = r".*", status: int = 400) -> Fault:
        return self.add("no_error_type", route, times, status=status)

    def refuse_ticker(self, times: int = 1) -> None:
        with self._lock:
            self.ticker_refusals += times

    def take_ticker_refusal(self) -> bool:
        with self._lock:
            if self.ticker_refusals > 0:
                self.ticker_refusals -= 1
                return True
            return False

    def silence_ticker(self, seconds: float) -> None:
        self.ticker_silent_until = time.monotonic() + seconds

    @property
    def ticker_silent(self) -> bool:
        return time.monotonic() < self.ticker_silent_until

    def pause_ticker(self, heartbeats: bool = True) -> None:
        """Stop sending market data (snapshots and ticks) until :meth:`resume_ticker`; the sockets stay open.

        The market keeps moving meanwhile, so the first ticks after the resume show the jump.
        ``heartbeats=False`` stops the 1-byte heartbeats too.
        """
        self.ticker_paused_heartbeats = not heartbeats
        self.ticker_paused = True

    def resume_ticker(self) -> None:
        self.ticker_paused = self.ticker_paused_heartbeats = False
