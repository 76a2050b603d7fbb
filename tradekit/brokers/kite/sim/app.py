"""The Kite Connect v3 API of the sandbox, independent of any web framework.

:class:`KiteSimApp` answers ``handle(method, path, query, form, body, headers)`` with a
:class:`Response` carrying Kite's envelopes (``{"status": "success", "data": ...}`` or
``{"status": "error", "message", "error_type"}``) and Kite's HTTP codes. Orders go to a
:class:`~tradekit.brokers.paper.PaperBroker` (the paper exchange fills them against the
replayed bars); the app turns its normalised rows back into Kite's JSON shapes (the official
fixtures: ``orders.json``, ``order_info.json``, ``trades.json``, ``positions.json`` ...) and
enforces Kite's API rules on the way in: the checksum login, the access token on every
route, ``tag`` of at most 20 letters and digits, market protection on MARKET and SL-M
orders (since 2026-04-01), 25 modifications per order, and the rate limits (429).

Order updates leave through :attr:`KiteSimApp.order_listeners` (the ticker's text frames)
and through postbacks to ``postback_url`` (signed: sha256(order_id + order_timestamp +
api_secret)).

This module holds the app's state, its dispatch, the order-update stream and the fault switches;
the routes are mixed in by responsibility: :mod:`~tradekit.brokers.kite.sim.login` (login, tokens,
profile), :mod:`~tradekit.brokers.kite.sim.orders` (orders and trades),
:mod:`~tradekit.brokers.kite.sim.portfolio` (funds, positions, holdings, margins, charges),
:mod:`~tradekit.brokers.kite.sim.quotes` (instruments, quotes, historical candles) and
:mod:`~tradekit.brokers.kite.sim.gtt`; Kite's envelopes and value formats are in
:mod:`~tradekit.brokers.kite.sim.wire` (every name still importable from here).
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import re
import threading
import urllib.request
from collections.abc import Callable
from datetime import datetime

from tradekit.brokers.base import BrokerOrder, BrokerTrade
from tradekit.brokers.kite.ratelimit import DEFAULT_LIMITS, RateGovernor, Window, bucket_for
from tradekit.brokers.kite.sim.gtt import SimGttRoutes
from tradekit.brokers.kite.sim.login import SimLoginRoutes
from tradekit.brokers.kite.sim.orders import SimOrderRoutes
from tradekit.brokers.kite.sim.portfolio import SimPortfolioRoutes
from tradekit.brokers.kite.sim.quotes import SimQuoteRoutes
from tradekit.brokers.kite.sim.wire import (  # noqa: F401 - importable from here as before the split
    FINAL,
    FIXTURES,
    INTERVALS,
    MSG_BAD_TOKEN,
    MSG_NO_PROTECTION,
    TS_FMT,
    KiteError,
    Response,
    _first,
    _fmt,
    _int,
    _json_default,
    _Meta,
    _need,
    _num,
    _Token,
    charges_json,
    default_charges,
    session_expiry,
)
from tradekit.clock import IST
from tradekit.errors import BrokerUnavailable, MarketRuleError, ValidationError
from tradekit.model.charges import Charges

log = logging.getLogger(__name__)
_PUBLIC = re.compile(r"/instruments(/[A-Z]+)?")


class KiteSimApp(SimLoginRoutes, SimOrderRoutes, SimPortfolioRoutes, SimQuoteRoutes, SimGttRoutes):
    """The sandbox's API state and routes.

    Parameters
    ----------
    broker
        A :class:`~tradekit.brokers.paper.PaperBroker` (its clock is the market's).
    market
        The :class:`~tradekit.brokers.kite.sim.market.SimMarket` behind quotes, history and
        the ticker.
    api_key, api_secret
        What ``/session/token`` checks the checksum against.
    wall_clock
        "Now" for token issue and expiry (default: real IST time); tests pass a fake.
    """

    def __init__(self, broker, market, instruments, *, api_key: str = "simkey", api_secret: str = "simsecret",
                 user_id: str = "SB0001", redirect_url: str | None = None, postback_url: str | None = None,
                 charges: Callable[..., Charges] | None = None, limits: dict | None = None,
                 wall_clock: Callable[[], datetime] | None = None):
        self.broker = broker
        self.market = market
        self.instruments = instruments
        self.api_key, self.api_secret, self.user_id = api_key, api_secret, user_id
        self.redirect_url = redirect_url
        self.postback_url = postback_url
        self.charges = charges if charges is not None else default_charges()
        from tradekit.options.basket_config import SpanLikeConfig

        self.margin_config = SpanLikeConfig()  # /margins/basket: the same SPAN-like estimate as paper (baskets.margin)
        self.wall_clock = wall_clock or (lambda: datetime.now(IST))
        self.rates = RateGovernor({**DEFAULT_LIMITS, **(limits or {})}, max_wait=0.0)  # the server's own count, never shared
        self._lock = threading.RLock()
        self._plock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._opening_cash = None
        self._request_tokens: dict[str, float] = {}  # request_token -> monotonic expiry
        self._tokens: dict[str, _Token] = {}
        self._meta: dict[str, _Meta] = {}
        self._pending: list[tuple[BrokerOrder, bool]] = []
        self._modifying: set[str] = set()
        self.order_listeners: list[Callable[[dict], None]] = []
        self.placements: list[tuple[str, str | None]] = []  # (order_id, tag) of every order placed
        self.async_rejects: list[tuple[int, str]] = []  # [remaining, message] fault: RMS rejects
        self.sync_rejects: list[tuple[int, str]] = []  # fault: 400 at placement
        self.requests_seen = 0
        self.throttled = 0  # 429s answered
        self._postbacks: queue.Queue | None = None
        broker.subscribe(self)
        market.listeners.append(self._on_step)
        self._init_gtts()

    # -- broker listener (the paper broker calls these, possibly inside our own calls) -------------
    def on_order_update(self, row: BrokerOrder) -> None:
        # Called under the paper broker's lock, from a request or from the market thread:
        # only queue it here (taking the app lock could deadlock against a placement).
        with self._plock:
            self._pending.append((row, row.broker_order_id in self._modifying))

    def on_trade(self, trade: BrokerTrade) -> None:  # trades are read from the broker's book
        pass

    def flush(self) -> None:
        """Send the order updates the paper broker reported (ticker text frames, postbacks)."""
        with self._flush_lock:
            with self._plock:
                pending, self._pending = self._pending, []
            self._send(pending)

    def _send(self, pending: list) -> None:
        for row, modified in pending:
            meta = self._meta.get(row.broker_order_id)
            if meta is None:
                continue
            payload = self.order_json(row, meta)
            sig = (payload["status"], payload["filled_quantity"], payload["quantity"], payload["price"],
                   payload["trigger_price"], meta.modifications)
            if sig == meta.last_sent:
                continue
            meta.last_sent = sig
            status = payload["status"]
            if status not in FINAL and (modified or 0 < payload["filled_quantity"] < payload["quantity"]):
                status = "UPDATE"  # Kite's word for a modification or a partial fill in updates
            update = {**payload, "status": status, "unfilled_quantity": payload["pending_quantity"],
                      "user_id": self.user_id, "app_id": 1, "checksum": self.postback_checksum(payload)}
            for fn in list(self.order_listeners):
                try:
                    fn(update)
                except Exception:  # a dead socket must not stop the others
                    log.exception("order update listener failed")
            if self.postback_url and status in (*FINAL, "UPDATE"):
                self._post(update)

    def postback_checksum(self, payload: dict) -> str:
        raw = f"{payload['order_id']}{payload['order_timestamp']}{self.api_secret}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def _post(self, update: dict) -> None:
        if self._postbacks is None:
            self._postbacks = queue.Queue()
            threading.Thread(target=self._postback_loop, name="kite-sim-postbacks", daemon=True).start()
        self._postbacks.put(update)

    def _postback_loop(self) -> None:
        while True:
            update = self._postbacks.get()
            if update is None:
                return
            url = self.postback_url
            if not url:
                continue
            req = urllib.request.Request(url, data=json.dumps(update).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(req, timeout=3).read()
            except Exception as e:  # Kite does not retry either; the WebSocket update is the backup
                log.warning("postback to %s failed: %s", url, e)

    def close(self) -> None:
        if self._postbacks is not None:
            self._postbacks.put(None)

    def _on_step(self, released) -> None:
        for r in released:  # each tick's segment of the path: fills agree with the published ticks
            self.broker.on_bar(r.series.key, r.start, r.end, r.o, r.h, r.l, r.c, r.v)
        self._gtt_step()
        self.flush()

    # -- dispatch ----------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, form: dict, body: bytes, headers: dict) -> Response:
        """Answer one request (always with a Content-Type: the client needs one)."""
        self.requests_seen += 1
        try:
            if path == "/connect/login" and method == "GET":
                return self.login_redirect(query)
            if path == "/connect/finish" and method == "GET":
                return self.finish_page(query)
            if path == "/session/token":
                if method == "POST":
                    return Response.ok(self.session_token(form))
                if method == "DELETE":
                    return Response.ok(self.logout(query))
            if not (method == "GET" and _PUBLIC.fullmatch(path)):  # the instrument dump is public at Kite
                self.authorise(headers)
            bucket = bucket_for(method, path)
            try:
                self.rates.reserve(bucket, max_wait=0.0)
            except BrokerUnavailable:
                self.throttled += 1
                raise KiteError(429, "NetworkException", "Too many requests") from None
            for m, rx, fn in self._routes:
                if m == method:
                    hit = rx.fullmatch(path)
                    if hit:
                        out = fn(self, *hit.groups(), query=query, form=form, body=body)
                        if isinstance(out, Response):
                            return out
                        return Response.ok(out)
            raise KiteError(404, "InputException", f"Route not found: {method} {path}")
        except KiteError as e:
            return Response.error(e)
        except (ValidationError, MarketRuleError) as e:
            return Response.error(KiteError(400, "InputException", str(e)))
        except Exception as e:  # a bug in the sandbox: Kite's 500 GeneralException, logged
            log.exception("sandbox error on %s %s", method, path)
            return Response.error(KiteError(500, "GeneralException", f"Internal sandbox error: {e}"))
        finally:
            self.flush()

    # -- faults and helpers for tests ---------------------------------------------------------------------
    def reject_next_orders(self, n: int = 1, message: str = "RMS:Margin Exceeds (injected)") -> None:
        """Fault: the next ``n`` placements are accepted, then REJECTED by the RMS (asynchronously)."""
        with self._lock:
            self.async_rejects.append((n, message))

    def refuse_next_orders(self, n: int = 1, message: str = "Order refused by the RMS (injected)") -> None:
        """Fault: the next ``n`` placements get a synchronous 400 InputException (nothing placed)."""
        with self._lock:
            self.sync_rejects.append((n, message))

    def count_by_tag(self, tag: str) -> int:
        """How many orders the server placed with ``tag`` (duplicate detection in tests)."""
        with self._lock:
            return sum(1 for _, t in self.placements if t == tag)

    def set_limits(self, limits: dict[str, tuple[Window, ...]]) -> None:
        self.rates.configure(limits)

    _routes: list = []


def _route(method: str, pattern: str, fn) -> None:
    KiteSimApp._routes.append((method, re.compile(pattern), fn))


for _m, _p, _f in [
    ("GET", r"/user/profile", KiteSimApp.r_profile),
    ("GET", r"/user/profile/full", KiteSimApp.r_profile),
    ("GET", r"/user/margins", KiteSimApp.r_margins),
    ("GET", r"/user/margins/([a-z]+)", KiteSimApp.r_margins_segment),
    ("GET", r"/orders", KiteSimApp.r_orders),
    ("GET", r"/trades", KiteSimApp.r_trades),
    ("GET", r"/orders/(\d+)/trades", KiteSimApp.r_order_trades),
    ("GET", r"/orders/(\d+)", KiteSimApp.r_order_history),
    ("POST", r"/orders/([a-z]+)", KiteSimApp.r_place),
    ("PUT", r"/orders/([a-z]+)/(\d+)", KiteSimApp.r_modify),
    ("DELETE", r"/orders/([a-z]+)/(\d+)", KiteSimApp.r_cancel),
    ("GET", r"/portfolio/positions", KiteSimApp.r_positions),
    ("GET", r"/portfolio/holdings", KiteSimApp.r_holdings),
    ("GET", r"/portfolio/holdings/auctions", KiteSimApp.r_auctions),
    ("POST", r"/margins/orders", KiteSimApp.r_order_margins),
    ("POST", r"/margins/basket", KiteSimApp.r_basket_margins),
    ("POST", r"/charges/orders", KiteSimApp.r_charges),
    ("GET", r"/instruments", KiteSimApp.r_instruments),
    ("GET", r"/instruments/([A-Z]+)", KiteSimApp.r_instruments),
    ("GET", r"/quote", KiteSimApp.r_quote),
    ("GET", r"/quote/ohlc", KiteSimApp.r_ohlc),
    ("GET", r"/quote/ltp", KiteSimApp.r_ltp),
    ("GET", r"/instruments/historical/(\d+)/([a-z0-9]+)", KiteSimApp.r_historical),
    ("GET", r"/gtt/triggers", KiteSimApp.r_gtt_list),
    ("GET", r"/gtt/triggers/(\d+)", KiteSimApp.r_gtt_get),
    ("POST", r"/gtt/triggers", KiteSimApp.r_gtt_place),
    ("PUT", r"/gtt/triggers/(\d+)", KiteSimApp.r_gtt_modify),
    ("DELETE", r"/gtt/triggers/(\d+)", KiteSimApp.r_gtt_delete),
]:
    _route(_m, _p, _f)
