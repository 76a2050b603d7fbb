"""A small authenticated HTTP endpoint for signals, on the loopback interface.

``POST /signals`` with ``Authorization: Bearer <TRADEKIT_SIGNAL_TOKEN>`` and a body of one JSON
object, a list, or JSON Lines (``Content-Type: application/x-ndjson``). Answers, all JSON:

- 202: at least one record was well-formed: ``accepted`` (id and route), ``duplicates``,
  ``expired``, ``refused`` and per-record ``errors`` for the rest;
- 400: nothing usable (not JSON, or every record malformed): ``errors`` name index and field;
- 401: no or wrong token; 403: a non-loopback client; 404/405: wrong path or method;
- 411: no Content-Length; 413: body over ``max_body_bytes``, or more records than
  ``signals.max_records_per_batch`` (nothing of it was recorded: split it);
- 503 (with ``Retry-After``): the journal could not record the batch, a fault on this side,
  never the body's: send it again (duplicates are dropped).

Parsing cannot fail on any body: a malformed record is an error for that record only.

``GET /health`` answers 200 without a token. The server refuses to start without a token,
and refuses a non-loopback address unless ``allow_remote`` is set. The token is compared in
constant time and never logged.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tradekit.errors import ConfigError, SecretError, ValidationError
from tradekit.signals.config import SignalsConfig, is_loopback

log = logging.getLogger(__name__)

TOKEN_NAME = "TRADEKIT_SIGNAL_TOKEN"
MIN_TOKEN_LENGTH = 16
_DRAIN_LIMIT = 8 * 1024 * 1024  # read and drop refused bodies up to this size so the client sees our answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: "SignalServer"


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "tradekit-signals"
    protocol_version = "HTTP/1.1"  # answers "Expect: 100-continue" at once (curl waits a second otherwise)
    sys_version = ""
    timeout = 15  # seconds a slow client may take; frees the thread afterwards

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        # The request line only: headers (and so the token) are never logged.
        log.debug("%s %s", self.client_address[0], format % args)

    # -- answers -----------------------------------------------------------------------------------
    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if self.close_connection:
            self.send_header("Connection", "close")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _drain(self, length: int | None) -> None:
        # Unread request bytes at close make TCP reset the connection, and the client would see
        # a broken pipe instead of our answer; drop a bounded amount, else just close.
        if length is None or length > _DRAIN_LIMIT:
            self.close_connection = True
            return
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                break
            left -= len(chunk)

    def _length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        if raw is None:
            return None
        try:
            n = int(raw)
        except ValueError:
            return -1
        return n if n >= 0 else -1

    # -- routes ------------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - the base class's naming
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/health":
            self._send(200, {"status": "ok"})
        elif path == "/signals":
            self._send(405, {"error": "use POST /signals"}, {"Allow": "POST"})
        else:
            self._send(404, {"error": f"no such path: {path or '/'}; use POST /signals or GET /health"})

    def do_POST(self) -> None:  # noqa: N802
        app = self.server.app
        path = urlsplit(self.path).path.rstrip("/")
        length = self._length()
        if not app.allow_remote and not is_loopback(self.client_address[0]):
            self._drain(length)
            self._send(403, {"error": "this endpoint serves the loopback interface only"})
            return
        if path != "/signals":
            self._drain(length)
            self._send(404, {"error": f"no such path: {path or '/'}; use POST /signals"})
            return
        if not app._authorised(self.headers.get("Authorization")):
            self._drain(length)
            self._send(401, {"error": "missing or wrong token: send 'Authorization: Bearer <TRADEKIT_SIGNAL_TOKEN>'"},
                       {"WWW-Authenticate": 'Bearer realm="tradekit-signals"'})
            return
        if length is None:
            self.close_connection = True
            self._send(411, {"error": "Content-Length is required"})
            return
        if length < 0:
            self.close_connection = True
            self._send(400, {"error": "Content-Length is not a non-negative whole number"})
            return
        if length > app.max_body_bytes:
            self._drain(length)
            self._send(413, {"error": f"body of {length} bytes is over the limit of {app.max_body_bytes} "
                                      "(signals.http_max_body_bytes); split the batch"})
            return
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            self._send(400, {"error": f"body ended after {len(body)} of {length} bytes"})
            return
        ctype = (self.headers.get("Content-Type") or "").lower()
        fmt = "jsonl" if ("ndjson" in ctype or "jsonl" in ctype or "json-seq" in ctype) else "auto"
        try:
            report = app.pipeline.ingest(body, source=f"http:{self.client_address[0]}", fmt=fmt)
        except ValidationError as e:  # the client's input, named by a pipeline that checks more
            self._send(400, {"error": str(e)})
            return
        except Exception as e:
            # Parsing never raises, so this is the journal/storage side: worth sending again.
            log.exception("signal endpoint: the batch could not be recorded")
            self._send(503, {"error": f"the batch could not be recorded ({type(e).__name__}); send it again, "
                                      "signals already recorded are dropped as duplicates"}, {"Retry-After": "5"})
            return
        if getattr(report, "too_many", False):
            msg = next((e.message for e in report.errors if e.index is None), "too many records; split the batch")
            self._send(413, {**report.to_dict(), "error": msg})
            return
        self._send(202 if report.usable else 400, report.to_dict())


class SignalServer:
    """``POST /signals`` on 127.0.0.1, feeding a :class:`~tradekit.signals.SignalPipeline`.

    Parameters
    ----------
    pipeline
        Anything with ``ingest(data, source=, fmt=) -> IngestReport``.
    token : str, optional
        The bearer token; by default ``TRADEKIT_SIGNAL_TOKEN`` from ``secrets``.
    secrets : Secrets, optional
        Where to read the token (default: the environment).
    host, port
        Where to listen; port 0 picks a free port (see :attr:`port` after :meth:`start`).
    max_body_bytes : int
        Larger bodies get 413.
    allow_remote : bool
        Permit a non-loopback ``host`` (and clients).

    Raises
    ------
    SecretError
        No token, or a token shorter than 16 characters.
    ConfigError
        A non-loopback host without ``allow_remote``.
    """

    def __init__(
        self,
        pipeline: Any,
        token: str | None = None,
        *,
        secrets: Any = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int = 1024 * 1024,
        allow_remote: bool = False,
    ):
        if token is None:
            if secrets is None:
                from tradekit.config.secrets import Secrets  # late: config imports signals.config

                secrets = Secrets.load()
            token = secrets.get(TOKEN_NAME)
        if not token:
            raise SecretError(
                f"{TOKEN_NAME} is not set: the signal endpoint does not start without a token; set it in the "
                "environment or the secrets file"
            )
        if len(token) < MIN_TOKEN_LENGTH:
            raise SecretError(
                f"{TOKEN_NAME} has {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
                "(e.g. python -c \"import secrets; print(secrets.token_urlsafe(32))\")"
            )
        if not allow_remote and not is_loopback(host):
            raise ConfigError(f"{host!r} is not a loopback address; set http_allow_remote to listen elsewhere",
                              field="signals.http_host")
        self.pipeline = pipeline
        self.host = host
        self.max_body_bytes = max_body_bytes
        self.allow_remote = allow_remote
        self._token = token.encode("utf-8")
        self._want_port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: SignalsConfig, pipeline: Any, *, secrets: Any = None, token: str | None = None) -> "SignalServer":
        """Build from the ``signals:`` config section."""
        return cls(pipeline, token, secrets=secrets, host=settings.http_host, port=settings.http_port,
                   max_body_bytes=settings.http_max_body_bytes, allow_remote=settings.http_allow_remote)

    def __repr__(self) -> str:  # no token here
        return f"SignalServer({self.url if self._httpd else 'not started'})"

    def _authorised(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(value.strip().encode("utf-8"), self._token)

    # -- life cycle --------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the signal server is not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "SignalServer":
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("the signal server is already started")
        cls = _Server6 if ":" in self.host else _Server
        try:
            httpd = cls((self.host, self._want_port), _Handler)
        except OSError as e:
            raise ConfigError(f"cannot listen on {self.host}:{self._want_port}: {e.strerror}", field="signals.http_port") from None
        httpd.app = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="tradekit-signal-http", daemon=True)
        self._thread.start()
        log.info("signal endpoint listening on %s/signals", self.url)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and release the port (requests in flight finish on their own threads)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> "SignalServer":
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
