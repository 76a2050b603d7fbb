"""A Kite Connect-compatible server on 127.0.0.1, for tests and for rehearsing a live day.

The official client talks to it unchanged::

    sim = KiteSimServer(port=0).start()            # or: tradekit kite-sim --port 8765
    kite = KiteConnect("simkey", root=sim.url)      # REST at the host root (the client drops path prefixes)
    kws = KiteTicker("simkey", token, root=sim.ws_url)   # ws://127.0.0.1:PORT/ws

Why tornado: it is already in the environment (jupyter_server, hence JupyterLab and Voila,
depend on it), it serves HTTP and WebSocket on one port (so ``--port N`` is the whole
address), and it runs on asyncio, so a slow response or a held socket (fault injection)
costs a timer, not a thread. The API logic itself (:mod:`.app`) knows nothing of tornado.

Orders are backed by the paper broker (:class:`~tradekit.brokers.paper.PaperBroker`): they
fill against one real recorded session replayed as today, tick by tick along each bar's path
(:mod:`.market`, :mod:`.paths`), stepped by a test (:meth:`KiteSimServer.step`,
:meth:`KiteSimServer.tick_step`) or by a thread at ``speed``. Access tokens are issued and
expire on the replayed clock. The sandbox's own endpoints (``GET /sim/clock``, the fault and
market switches) are under ``/sim/`` (:mod:`.admin`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import threading
import urllib.parse
from datetime import date, time
from decimal import Decimal
from pathlib import Path

import tornado.httpserver
import tornado.netutil
import tornado.web

from tradekit.brokers.kite.sim.app import KiteSimApp, Response, default_charges
from tradekit.brokers.kite.sim.faults import Faults
from tradekit.brokers.kite.sim.market import SimMarket
from tradekit.brokers.kite.sim.ticker import TickerHandler, TickerHub
from tradekit.errors import TradekitError

log = logging.getLogger(__name__)

DEFAULT_API_KEY, DEFAULT_API_SECRET = "simkey", "simsecret"


def _decode(args: dict) -> dict[str, list[str]]:
    return {k: [v.decode("utf-8", "replace") for v in vs] for k, vs in args.items()}


class PortBusy(TradekitError):
    """The sandbox's port is taken (or not allowed)."""

    def __init__(self, host: str, port: int, error: OSError):
        self.host, self.port = host, port
        why = "in use" if error.errno == errno.EADDRINUSE else "not allowed"
        super().__init__(f"--port {port}: {host}:{port} is {why}; pick another port, or --port 0 for a free one")


class ApiHandler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "POST", "PUT", "DELETE")

    def initialize(self, server: "KiteSimServer") -> None:
        self.server = server

    def compute_etag(self):  # no ETags: every answer is fresh
        return None

    async def get(self, *_):
        await self._serve()

    async def post(self, *_):
        await self._serve()

    async def put(self, *_):
        await self._serve()

    async def delete(self, *_):
        await self._serve()

    def _drop(self) -> None:
        self.server.dropped += 1
        self.request.connection.stream.close()

    async def _serve(self) -> None:
        req = self.request
        method, path = req.method, req.path
        if path.startswith("/sim/"):  # the sandbox's own endpoints: no token, no faults, no rate limits
            return self._admin(method, path)
        fault = self.server.faults.take(method, path)
        if fault is not None and fault.when == "before":
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay)
                fault = None
            elif fault.kind == "drop":
                return self._drop()
            else:
                return self._write(self._faulty(fault, None))
        query = _decode(req.query_arguments)
        form: dict[str, list[str]] = {}
        ctype = req.headers.get("Content-Type", "")
        if method in ("POST", "PUT") and "json" not in ctype:
            form = _decode(req.body_arguments)
        resp = self.server.app.handle(method, path, query, form, req.body, dict(req.headers))
        if fault is not None:  # "after": the work is done, now misbehave
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay)
            elif fault.kind == "drop":
                return self._drop()
            else:
                resp = self._faulty(fault, resp)
        self._write(resp)

    def _admin(self, method: str, path: str) -> None:
        import json

        from tradekit.brokers.kite.sim.admin import handle

        form = _decode(self.request.body_arguments) if method == "POST" else {}
        status, data = handle(self.server, method, path, self.request.body, form)
        self._write(Response(status, json.dumps(data, default=str).encode()))

    @staticmethod
    def _faulty(fault, resp: Response | None) -> Response:
        import json

        if fault.kind == "no_content_type":
            r = resp or Response.ok(None)
            return Response(r.status, r.body, None, r.headers)
        if fault.kind == "no_error_type":
            return Response(fault.status, json.dumps({"status": "error", "message": fault.message}).encode())
        # "status"
        if fault.body == "success" and resp is not None and resp.status < 400:
            return Response(fault.status, resp.body, resp.content_type, resp.headers)
        body = {"status": "error", "message": fault.message, "error_type": fault.error_type, "data": None}
        return Response(fault.status, json.dumps(body).encode())

    def _write(self, resp: Response) -> None:
        self.set_status(resp.status)
        self.clear_header("Content-Type")
        if resp.content_type is not None:
            self.set_header("Content-Type", resp.content_type)
        for k, v in resp.headers.items():
            self.set_header(k, v)
        if resp.body:
            self.write(resp.body)
        self.finish()


class KiteSimServer:
    """The sandbox: Kite's REST API and ticker on one loopback port.

    Parameters
    ----------
    host, port
        Where to listen (``port=0``: a free port, see :attr:`url`).
    api_key, api_secret
        The app's credentials; default ``KITE_API_KEY``/``KITE_API_SECRET`` from the
        environment, else ``simkey``/``simsecret``.
    data_dir, symbols, source_day, trade_date
        What to replay (see :class:`~tradekit.brokers.kite.sim.market.SimMarket`).
    speed
        Minutes of market per real minute (0: the market moves only on :meth:`step`).
    ticks_per_bar
        Ticks per replayed 1-minute bar (1 to 60; at least 4 to pass through O, H, L and C).
    start
        Time of day the replayed clock starts at (default: a minute before the first bar).
    capital
        The paper account's cash.
    postback_url, redirect_url
        Where order postbacks and the login redirect go.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, api_key: str | None = None,
                 api_secret: str | None = None, data_dir: str | Path | None = None, symbols=None,
                 source_day: date | None = None, trade_date: date | None = None, speed: float = 0.0,
                 capital: Decimal | int = 10_000_000, postback_url: str | None = None, redirect_url: str | None = None,
                 heartbeat_seconds: float = 1.0, paper_config=None, instruments=None, limits: dict | None = None,
                 ticks_per_bar: int = 6, start: time | None = None):
        from tradekit.brokers.paper import PaperBroker
        from tradekit.market.instruments import InstrumentStore

        try:  # first, so that a busy port fails before the data is loaded
            self._sockets = tornado.netutil.bind_sockets(port, host)
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortBusy(host, port, e) from None
            raise
        try:
            self._setup(host, api_key, api_secret, data_dir, symbols, source_day, trade_date, speed, capital, postback_url,
                        redirect_url, heartbeat_seconds, paper_config, instruments, limits, ticks_per_bar, start,
                        PaperBroker, InstrumentStore)
        except BaseException:
            for sock in self._sockets:
                sock.close()
            raise
        self.port = self._sockets[0].getsockname()[1]

    def _setup(self, host, api_key, api_secret, data_dir, symbols, source_day, trade_date, speed, capital, postback_url,
               redirect_url, heartbeat_seconds, paper_config, instruments, limits, ticks_per_bar, start,
               PaperBroker, InstrumentStore) -> None:
        self.host = host
        self.api_key = api_key or os.environ.get("KITE_API_KEY") or DEFAULT_API_KEY
        api_secret = api_secret or os.environ.get("KITE_API_SECRET") or DEFAULT_API_SECRET
        self.instruments = instruments if instruments is not None else InstrumentStore.bundled()
        self.market = SimMarket(self.instruments, data_dir=data_dir, symbols=symbols, source_day=source_day,
                                trade_date=trade_date, speed=speed, ticks_per_bar=ticks_per_bar, start=start)
        self.faults = Faults()
        charges = default_charges()  # contract-note charges debit the sandbox's ledger, as at Zerodha
        self.broker = PaperBroker(self.market.clock, self.instruments, capital=capital, config=paper_config, charges=charges)
        for s in self.market.series.values():
            self.broker.set_previous_close(s.key, s.prev_close)
            if s.static:  # no bars will come: the broker knows its price from the start
                self.broker.on_tick(s.key, self.market.now, s.last)
        self.app = KiteSimApp(self.broker, self.market, self.instruments, api_key=self.api_key, api_secret=api_secret,
                              redirect_url=redirect_url, postback_url=postback_url, limits=limits, charges=charges,
                              wall_clock=self.market.clock.now)  # a login on the replayed day lasts until 06:00 after it
        self.app._opening_cash = Decimal(capital)
        self.dropped = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._http: tornado.httpserver.HTTPServer | None = None
        self._hb = None
        self.hub = TickerHub(self.market, self.call, heartbeat_seconds)
        self.hub.faults = self.faults
        self.app.order_listeners.append(self.hub.on_order)
        self.market.listeners.append(self.hub.on_step)

    @property
    def shown_api_key(self) -> str:
        """The API key for display: the sandbox default in full, a real-looking one masked."""
        k = self.api_key
        return k if k == DEFAULT_API_KEY else f"***{k[-2:]}"

    @property
    def url(self) -> str:
        """The REST root for ``KiteConnect(root=...)``."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The ticker root for ``KiteTicker(root=...)``."""
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def login_url(self) -> str:
        """The login page base (``KiteConnect._default_login_uri``)."""
        return f"{self.url}/connect/login"

    def _application(self) -> tornado.web.Application:
        return tornado.web.Application(
            [(r"/ws", TickerHandler, {"hub": self.hub, "app": self.app}), (r"/.*", ApiHandler, {"server": self})],
            compress_response=False,
        )

    async def _main(self, started: threading.Event | None) -> None:
        from tornado.ioloop import PeriodicCallback

        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._http = tornado.httpserver.HTTPServer(self._application(), idle_connection_timeout=300)
        self._http.add_sockets(self._sockets)
        self._hb = PeriodicCallback(self.hub._heartbeat, max(50, int(self.hub.heartbeat_seconds * 1000 / 2)))
        self._hb.start()
        log.info("Kite sandbox on %s (ticker %s), api_key %s", self.url, self.ws_url, self.shown_api_key)
        if started is not None:
            started.set()
        self.market.run()
        await self._stopped.wait()
        self._hb.stop()
        self._http.stop()
        for c in list(self.hub.clients):
            c.close(1001, "server shutting down")
        await self._http.close_all_connections()

    def start(self) -> "KiteSimServer":
        """Serve in a background thread; returns once the port accepts connections."""
        started = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main(started)), name="kite-sim", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the Kite sandbox did not start within 10 s")
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the CLI)."""
        try:
            asyncio.run(self._main(None))
        except KeyboardInterrupt:
            pass

    def call(self, fn) -> None:
        """Run ``fn`` on the server's event loop (from any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn)

    def stop(self) -> None:
        self.market.stop()
        self.app.close()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> "KiteSimServer":
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- for tests and rehearsals -------------------------------------------------------------------
    def step(self, n: int = 1):
        """Release the next ``n`` minutes of the replay (fills, quotes, ticks)."""
        return self.market.step(n)

    def tick_step(self):
        """Release the next tick of the replay (one of ``ticks_per_bar`` in each minute)."""
        return self.market.tick_step()

    def login(self) -> str:
        """Go through the login flow like a browser would and exchange the token; returns the access token.

        Uses the official client for the exchange, so it proves the checksum path too.
        """
        import requests
        from kiteconnect import KiteConnect

        r = requests.get(f"{self.login_url}?api_key={self.api_key}&v=3", allow_redirects=False, timeout=5)
        loc = r.headers["Location"]
        rt = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)["request_token"][0]
        kite = KiteConnect(self.api_key, root=self.url)
        return kite.generate_session(rt, self.app.api_secret)["access_token"]

    def expire_tokens(self) -> int:
        return self.app.expire_tokens()
