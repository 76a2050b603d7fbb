"""The Kite ticker as a stream of ticks and order updates, with a silence watchdog.

:class:`KiteStream` runs the official ``KiteTicker`` in a child process
(:mod:`tradekit.brokers.kite.tickerproc`; the Twisted reactor cannot restart inside one
process) and reads its socket traffic from a pipe: binary frames are parsed here by the
vectorised parser, text frames carry order updates.

Reconnects: the official client reconnects and resubscribes by itself when the server closes
the socket or refuses a handshake; the child re-applies the wanted subscriptions on every
open. What the client cannot notice is a connection that goes silent (it sends no pings), so
the watchdog restarts the child when nothing (no tick, no heartbeat) arrived for
``watchdog_seconds``, and the new child subscribes again.
"""

from __future__ import annotations

import json
import logging
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping

from tradekit.brokers.kite.ticks import MODES, parse_frame

log = logging.getLogger(__name__)


class KiteStream:
    """One ticker connection (in a child process).

    Parameters
    ----------
    api_key, access_token, url
        The app key and the session's access token (both handed to the child on stdin, never on
        its command line), the ticker root.
    on_ticks
        ``fn(list[Tick])`` for every binary frame with packets.
    on_order
        ``fn(dict)`` for every ``{"type": "order"}`` text frame (the update's ``data``).
    on_event
        ``fn(name, info)`` for open/close/error/reconnect/restart events.
    keys
        ``instrument_token -> "EXCH:SYMBOL"`` for ``Tick.key``.
    watchdog_seconds
        Restart the child after this long without any message (a child that has not opened its
        first connection yet gets ``startup_seconds``: starting Python and the Kite client on a
        busy machine can take longer than a live connection may stay silent).
    """

    def __init__(self, api_key: str, access_token: str, url: str, *, on_ticks: Callable | None = None,
                 on_order: Callable[[dict], None] | None = None, on_event: Callable[[str, dict], None] | None = None,
                 keys: Mapping[int, str] | None = None, watchdog_seconds: float = 10.0, reconnect_max_delay: int = 5,
                 reconnect_max_tries: int = 300, python: str | None = None, startup_seconds: float = 15.0):
        self.api_key, self._token, self.url = api_key, access_token, url
        self.on_ticks, self.on_order, self.on_event = on_ticks, on_order, on_event
        self.on_heartbeat: Callable[[], None] | None = None  # a binary frame without packets (Kite's heartbeat)
        self.keys: dict[int, str] = dict(keys or {})
        self.watchdog_seconds = watchdog_seconds
        self.startup_seconds = max(startup_seconds, watchdog_seconds)
        self._child_opened = False
        self.reconnect_max_delay, self.reconnect_max_tries = reconnect_max_delay, reconnect_max_tries
        self.python = python or sys.executable
        self.wanted: dict[int, str] = {}
        self.connected = False
        self.last_message = 0.0
        self.restarts = 0
        self.opens = 0
        self.frames = 0
        self.frames_handled = 0  # binary frames whose callback (on_ticks / on_heartbeat) has returned
        self.orders_seen = 0
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._readers: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "KiteStream":
        self._stop.clear()
        self._spawn()
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, name="kite-ticker-watchdog", daemon=True)
            self._watchdog.start()
        return self

    def _spawn(self) -> None:
        # the key and the token go down the pipe, never on the command line (``ps`` shows that)
        cmd = [self.python, "-m", "tradekit.brokers.kite.tickerproc", self.url,
               str(self.reconnect_max_delay), str(self.reconnect_max_tries)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
        proc.stdin.write((json.dumps({"api_key": self.api_key, "access_token": self._token}) + "\n").encode())
        groups: dict[str, list[int]] = {}
        for tok, mode in self.wanted.items():
            groups.setdefault(mode, []).append(tok)
        for mode, toks in groups.items():
            proc.stdin.write((json.dumps({"cmd": "subscribe", "tokens": toks, "mode": mode}) + "\n").encode())
        proc.stdin.flush()
        with self._lock:
            self._proc = proc
            self.last_message = time.monotonic()
            self.connected = False
            self._child_opened = False
        reader = threading.Thread(target=self._read, args=(proc,), name="kite-ticker-reader", daemon=True)
        with self._lock:
            self._readers = [t for t in self._readers if t.is_alive()] + [reader]
        reader.start()

    STOP_WAIT_SECONDS = 10.0

    def stop(self) -> None:
        """Close the connection and end the child; when this returns, no callback runs any more.

        The reader thread may be inside ``on_ticks``/``on_order`` (a frame read just before the
        stop) when the child ends: stop waits for it, so that the owner can close what the
        callbacks write to (the session closes its tick store right after) without a frame the
        hub counted as accepted landing after it (up to :attr:`STOP_WAIT_SECONDS`, then a warning;
        never when called from a callback itself).
        """
        self._stop.set()
        with self._lock:
            proc, self._proc = self._proc, None
            readers, self._readers = self._readers, []
        if proc is not None:
            self._end(proc)
        self.connected = False
        me = threading.current_thread()
        for t in readers:
            if t is not me:
                t.join(self.STOP_WAIT_SECONDS)
                if t.is_alive():
                    log.warning("Kite ticker: a callback was still running %g s after stop", self.STOP_WAIT_SECONDS)

    @staticmethod
    def _end(proc: subprocess.Popen) -> None:
        try:
            proc.stdin.write(b'{"cmd": "stop"}\n')
            proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(3)

    def restart(self, why: str) -> None:
        """Replace the child with a new one (a fresh connection, resubscribed)."""
        log.warning("Kite ticker: %s; reconnecting", why)
        with self._lock:
            old, self._proc = self._proc, None
        if old is not None:
            try:
                old.kill()
                old.wait(3)
            except OSError:
                pass
        self.restarts += 1
        self._emit("restart", {"why": why})
        if not self._stop.is_set():
            self._spawn()

    def _watch(self) -> None:
        while not self._stop.wait(min(1.0, self.watchdog_seconds / 4)):
            with self._lock:
                proc, last = self._proc, self.last_message
            if proc is None:
                continue
            if proc.poll() is not None:
                self.restart(f"the ticker process ended (exit {proc.returncode})")
            elif self._child_opened and time.monotonic() - last > self.watchdog_seconds:
                self.restart(f"no message for {self.watchdog_seconds:g} s (silent connection)")
            elif not self._child_opened and time.monotonic() - last > self.startup_seconds:
                self.restart(f"the ticker process did not connect within {self.startup_seconds:g} s")

    # -- subscriptions ----------------------------------------------------------------------------
    def _send(self, msg: dict) -> None:
        with self._lock:
            proc = self._proc
        if proc is None:
            return
        try:
            proc.stdin.write((json.dumps(msg) + "\n").encode())
            proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the watchdog replaces a dead child and resubscribes

    def subscribe(self, tokens: list[int], mode: str = "quote") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        for t in tokens:
            self.wanted[int(t)] = mode
        self._send({"cmd": "subscribe", "tokens": [int(t) for t in tokens], "mode": mode})

    def unsubscribe(self, tokens: list[int]) -> None:
        for t in tokens:
            self.wanted.pop(int(t), None)
        self._send({"cmd": "unsubscribe", "tokens": [int(t) for t in tokens]})

    # -- reading ----------------------------------------------------------------------------------
    def _emit(self, name: str, info: dict) -> None:
        if self.on_event is not None:
            try:
                self.on_event(name, info)
            except Exception:
                log.exception("ticker event handler failed")

    def _read(self, proc: subprocess.Popen) -> None:
        f = proc.stdout
        while True:
            head = f.read(5)
            if not head or len(head) < 5:
                break
            kind, n = head[:1], struct.unpack(">I", head[1:])[0]
            payload = f.read(n) if n else b""
            with self._lock:
                if proc is not self._proc:
                    return  # a replaced child: ignore what it still says
                self.last_message = time.monotonic()
            try:
                self._dispatch(kind, payload)
            except Exception:
                log.exception("ticker message handling failed")
            if kind == b"B":
                self.frames_handled += 1
        with self._lock:
            if proc is self._proc:
                self.connected = False

    def _dispatch(self, kind: bytes, payload: bytes) -> None:
        if kind == b"B":
            self.frames += 1
            ticks = parse_frame(payload, self.keys) if len(payload) > 4 and self.on_ticks is not None else None
            if ticks:
                self.on_ticks(ticks)
            elif self.on_heartbeat is not None:
                self.on_heartbeat()
        elif kind == b"T":
            try:
                msg = json.loads(payload)
            except ValueError:
                return
            if msg.get("type") == "order" and msg.get("data"):
                self.orders_seen += 1
                if self.on_order is not None:
                    self.on_order(msg["data"])
            elif msg.get("type") == "error":
                log.warning("Kite ticker error: %s", msg.get("data"))
        elif kind == b"E":
            info = json.loads(payload)
            name = info.pop("event", "?")
            if name == "open":
                self.connected = True
                self._child_opened = True
                self.opens += 1
            elif name in ("close", "error", "noreconnect"):
                self.connected = False
            self._emit(name, info)
