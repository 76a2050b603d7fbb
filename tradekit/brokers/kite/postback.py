"""A receiver for Kite's order postbacks (webhooks), checksum verified.

Kite POSTs the order as raw JSON with ``checksum = sha256(order_id + order_timestamp +
api_secret)``. A body whose checksum does not verify is refused (400) and never reaches the
OMS: anyone who can reach the port could otherwise move orders.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tradekit.brokers.kite.auth import postback_checksum

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024


def verify(payload: dict, api_secret: str) -> bool:
    """True when the postback's checksum matches (constant-time comparison)."""
    want = postback_checksum(str(payload.get("order_id", "")), str(payload.get("order_timestamp", "")), api_secret)
    return hmac.compare_digest(want, str(payload.get("checksum", "")))


class PostbackReceiver:
    """Listen for postbacks on ``host:port`` + ``path`` and hand verified ones to ``on_order``."""

    def __init__(self, api_secret: str, on_order: Callable[[dict], None], *, host: str = "127.0.0.1", port: int = 0,
                 path: str = "/kite/postback"):
        self._secret = api_secret
        self.on_order = on_order
        self.path = path
        self.accepted = 0
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):  # quiet: our logger says what matters
                pass

            def do_POST(self):
                if self.path.split("?")[0] != receiver.path:
                    self.send_response(404)
                    self.end_headers()
                    return
                n = int(self.headers.get("Content-Length") or 0)
                if n <= 0 or n > MAX_BODY:
                    self.send_response(400)
                    self.end_headers()
                    return
                try:
                    payload = json.loads(self.rfile.read(n))
                except ValueError:
                    payload = None
                if not isinstance(payload, dict) or not verify(payload, receiver._secret):
                    receiver.refused += 1
                    log.warning("Kite postback refused: bad or missing checksum (order %s)",
                                payload.get("order_id") if isinstance(payload, dict) else "?")
                    self.send_response(400)
                    self.end_headers()
                    return
                receiver.accepted += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "success"}')
                try:
                    receiver.on_order(payload)
                except Exception:
                    log.exception("postback handler failed")

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def start(self) -> "PostbackReceiver":
        self._thread = threading.Thread(target=self._server.serve_forever, name="kite-postbacks", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
