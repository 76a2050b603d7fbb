"""Real local servers on 127.0.0.1 (port 0) for the alert channels: an HTTP receiver (Slack,
webhook), a Bot-API-compatible Telegram endpoint, and SMTP with STARTTLS (aiosmtpd)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Records every POST; answers from ``statuses`` in turn (then 200)."""

    def __init__(self, statuses=()):
        self.requests: list[dict] = []
        self.statuses = list(statuses)
        self.updates: list[dict] = []  # Telegram: what getUpdates hands out
        self.next_id = 100
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, out = outer._answer(self.path, dict(self.headers), body)
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _answer(self, path: str, headers: dict, body: bytes):
        with self.lock:
            if path.endswith("/getUpdates"):
                params = json.loads(body or b"{}")
                ups = [u for u in self.updates if u["update_id"] >= params.get("offset", 0)]
                return 200, {"ok": True, "result": ups}
            self.requests.append({"path": path, "headers": headers, "body": body})
            status = self.statuses.pop(0) if self.statuses else 200
            if status != 200:
                return status, {"ok": False, "description": "server error"}
            if path.endswith("/sendMessage"):
                self.next_id += 1
                return 200, {"ok": True, "result": {"message_id": self.next_id}}
            return 200, {"ok": True}

    def bodies(self) -> list:
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def wait(self, n: int, timeout: float = 10.0) -> list:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if len(self.requests) >= n:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.requests)} requests, expected {n}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def wait_for(pred, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("condition not met in time")
