"""The sandbox's ticker: Kite's WebSocket protocol on the server side.

Clients connect to ``ws://host:port/ws?api_key=K&access_token=T`` (a bad token is refused at
the upgrade with 403, as Kite does), then send ``{"a": "subscribe"|"unsubscribe"|"mode",
"v": ...}``. New subscriptions start in ``quote`` mode (what the official client assumes).
The hub answers a subscription or a mode change at once with a snapshot (every instrument
has a price, even before the replay's first tick), sends one binary frame per market tick
step (several per minute) with a packet for every subscribed instrument that moved (its mode's
length, the segment's price divisor), a 1-byte heartbeat when a second passes with nothing
else sent, and every order update as a ``{"type": "order", "data": ...}`` text frame.

All socket writes happen on the server's event loop; other threads call :meth:`TickerHub.call`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from tornado.websocket import WebSocketClosedError, WebSocketHandler
from tornado.web import HTTPError

from tradekit.brokers.kite.ticks import HEARTBEAT, MODES, encode_frame, encode_packet

log = logging.getLogger(__name__)

MAX_TOKENS = 3000  # per connection, as Kite allows


class TickerHub:
    """The connected ticker clients and what each subscribed to."""

    def __init__(self, market, call: Callable[[Callable], None], heartbeat_seconds: float = 1.0):
        self.market = market
        self.call = call  # run a function on the event loop (thread-safe)
        self.heartbeat_seconds = heartbeat_seconds
        self.clients: set[TickerHandler] = set()
        self.connects = 0
        self.refused = 0
        self.faults = None

    # -- from the event loop -----------------------------------------------------------------------
    def _send(self, c: "TickerHandler", msg, binary: bool, kind: str = "other") -> None:
        f = self.faults
        if f is not None:
            if f.ticker_silent:
                return
            if f.ticker_paused and (kind == "data" or (kind == "heartbeat" and f.ticker_paused_heartbeats)):
                return
        try:
            fut = c.write_message(msg, binary=binary)
            c.last_sent = time.monotonic()
            c.binary_sent += binary
        except WebSocketClosedError:
            self.clients.discard(c)
            return
        # a client killed mid-write fails the write later: drop it quietly (not "exception never retrieved")
        fut.add_done_callback(lambda f: (f.cancelled() or f.exception() is not None) and self.clients.discard(c))

    def snapshot(self, c: "TickerHandler", tokens) -> None:
        packets = []
        for tok in tokens:
            s = self.market.by_token.get(tok)
            mode = c.subs.get(tok)
            if s is not None and mode is not None:  # every instrument has a price, even before the first tick
                packets.append(encode_packet(self.market.tick(s, mode), mode))
        if packets:
            self._send(c, encode_frame(packets), True, "data")

    def _broadcast_step(self, ticks: dict) -> None:
        for c in list(self.clients):
            packets = []
            for tok, tick in ticks.items():
                mode = c.subs.get(tok)
                if mode is not None:
                    packets.append(encode_packet(tick, mode))
            if packets:
                self._send(c, encode_frame(packets), True, "data")

    def _heartbeat(self) -> None:
        now = time.monotonic()
        for c in list(self.clients):
            if now - c.last_sent >= self.heartbeat_seconds:
                self._send(c, HEARTBEAT, True, "heartbeat")

    def _order(self, update: dict) -> None:
        text = json.dumps({"type": "order", "data": update})
        for c in list(self.clients):
            self._send(c, text, False)

    def _drop(self, abort: bool) -> None:
        for c in list(self.clients):
            self.clients.discard(c)
            if abort and c.ws_connection is not None and c.ws_connection.stream is not None:
                c.ws_connection.stream.close()  # TCP close without a WebSocket close frame
            else:
                c.close(1000, "server closing the connection")

    # -- from any thread --------------------------------------------------------------------------
    def on_step(self, released) -> None:
        # The state is read now, in the market's thread, before the next tick moves it on;
        # the event loop only encodes and sends.
        wanted = set()
        for c in list(self.clients):
            wanted.update(c.subs)
        ticks = {}
        for r in released:
            s = r.series
            if s.token in wanted:
                ticks[s.token] = self.market.tick(s, "full")
        if ticks:
            self.call(lambda: self._broadcast_step(ticks))

    def on_order(self, update: dict) -> None:
        self.call(lambda: self._order(update))

    def drop_all(self, abort: bool = False) -> None:
        """Server-initiated disconnect of every client (clean close, or an abort)."""
        self.call(lambda: self._drop(abort))

    def error(self, message: str) -> None:
        text = json.dumps({"type": "error", "data": message})
        self.call(lambda: [self._send(c, text, False) for c in list(self.clients)])

    def subscriptions(self) -> list[dict[int, str]]:
        return [dict(c.subs) for c in self.clients]


class TickerHandler(WebSocketHandler):
    """One ticker connection."""

    def initialize(self, hub: TickerHub, app) -> None:
        self.hub = hub
        self.app = app
        self.subs: dict[int, str] = {}
        self.last_sent = time.monotonic()
        self.binary_sent = 0  # binary frames (ticks, heartbeats) written to this client

    def check_origin(self, origin: str) -> bool:  # a local sandbox: any origin
        return True

    def prepare(self):
        key = self.get_query_argument("api_key", None)
        tok = self.get_query_argument("access_token", None)
        faults = self.hub.faults
        if (faults is not None and faults.take_ticker_refusal()) or not self.app.check_token(key, tok):
            self.hub.refused += 1
            raise HTTPError(403, "invalid api_key or access_token")

    def open(self, *args) -> None:
        self.hub.clients.add(self)
        self.hub.connects += 1
        self.last_sent = time.monotonic()

    def on_message(self, message) -> None:
        try:
            msg = json.loads(message)
            action, value = msg.get("a"), msg.get("v")
        except (ValueError, AttributeError):
            return
        if action == "subscribe" and isinstance(value, list):
            new = [int(t) for t in value if int(t) not in self.subs]
            for t in value:
                self.subs.setdefault(int(t), "quote")
            if len(self.subs) > MAX_TOKENS:
                self.write_message(json.dumps({"type": "error", "data": f"at most {MAX_TOKENS} instruments per connection"}))
            self.hub.snapshot(self, new)
        elif action == "unsubscribe" and isinstance(value, list):
            for t in value:
                self.subs.pop(int(t), None)
        elif action == "mode" and isinstance(value, list) and len(value) == 2 and value[0] in MODES:
            mode, tokens = value
            for t in tokens:
                self.subs[int(t)] = mode
            self.hub.snapshot(self, [int(t) for t in tokens])

    def on_close(self) -> None:
        self.hub.clients.discard(self)
