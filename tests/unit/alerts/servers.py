"""Real local servers on 127.0.0.1 (port 0) for the alert channels: an HTTP receiver (Slack,
webhook), a Bot-API-compatible Telegram endpoint, and SMTP with STARTTLS (aiosmtpd)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmarks.bench_alerts import StalledServer  # noqa: F401 - one stalled SMTP server for the tests and the benchmark


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


def self_signed(tmp) -> tuple[str, str]:
    """A certificate and key for 127.0.0.1 (the SMTP server's STARTTLS)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    c, k = tmp / "cert.pem", tmp / "key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return str(c), str(k)


class SmtpServer:
    """aiosmtpd on 127.0.0.1 (port 0) requiring STARTTLS (and a login, when ``password`` is given)."""

    def __init__(self, tmp, password: str | None = None, fail_first: int = 0):
        import ssl

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        cert, key = self_signed(tmp)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        self.messages: list = []
        self.tls_seen: list[bool] = []
        self.fail_first = fail_first
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if outer.fail_first > 0:  # a temporary server error: the sender tries again later
                    outer.fail_first -= 1
                    return "451 4.3.0 temporary local problem, try again"
                outer.tls_seen.append(session.ssl is not None)
                outer.messages.append(envelope)
                return "250 OK"

        def auth(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and data.password.decode() == password
            return AuthResult(success=ok)

        class PortZero(Controller):
            def _trigger_server(self):
                self.port = self.server.sockets[0].getsockname()[1]  # bound to port 0: the port it got
                super()._trigger_server()

        kw = dict(authenticator=auth, auth_require_tls=True, auth_required=True) if password else {}
        self.ctl = PortZero(Handler(), hostname="127.0.0.1", port=0, tls_context=ctx, require_starttls=True, **kw)
        self.ctl.start()
        self.port = self.ctl.port

    def close(self):
        self.ctl.stop()

