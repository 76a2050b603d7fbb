"""The live broker: :class:`tradekit.brokers.base.Broker` on the official ``kiteconnect`` client.

Every call goes through :meth:`KiteBroker._call`: the process-wide rate governor, the error
mapping of :mod:`.errors` (placement is stricter: anything that might have placed the order
is :class:`~tradekit.errors.AmbiguousOrderState`), a retry only after a 429 (Kite did nothing
then), and the session check (an expired token is :class:`~tradekit.errors.AuthExpired` with
"log in again").

Orders carry ``tag`` = the client order id, so an ambiguous placement is resolved by
:meth:`KiteBroker.find_by_tag` and never by sending again. MARKET and SL-M orders always carry
``market_protection`` (Kite rejects them without since 2026-04-01); ``algo_id`` goes with every
order when configured; a 26th modification is refused locally.

Order updates reach the listeners (the OMS) from the ticker's text frames and from postbacks;
each update that shows more filled quantity fetches that order's trades, so the OMS gets
``on_trade`` for every fill (it ignores trade ids it already booked).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from kiteconnect import KiteConnect

from tradekit.brokers.base import BrokerHolding, BrokerListener, BrokerOrder, BrokerPosition, BrokerTrade, Funds
from tradekit.brokers.kite import parsing
from tradekit.brokers.kite.auth import RELOGIN_HINT, StoredSession, TokenStore, TokenWatcher, token_expiry
from tradekit.brokers.kite.config import KiteConfig
from tradekit.brokers.kite.errors import RELOGIN, kite_errors
from tradekit.brokers.kite.gtt import KiteGttMixin
from tradekit.brokers.kite.ratelimit import RateGovernor, governor
from tradekit.clock import IST, Clock, RealClock
from tradekit.errors import AuthExpired, BrokerRejected, BrokerUnavailable, ValidationError
from tradekit.model.enums import Variety
from tradekit.model.order import MAX_MODIFICATIONS, MAX_TAG_LENGTH, OrderRequest

log = logging.getLogger(__name__)

HISTORICAL_CAPS = {"minute": 60, "3minute": 100, "5minute": 100, "10minute": 100, "15minute": 200, "30minute": 200,
                   "60minute": 400, "day": 2000}


class KiteBroker(KiteGttMixin):
    """Kite Connect behind the :class:`~tradekit.brokers.base.Broker` protocol.

    Parameters
    ----------
    config
        The ``kite:`` section (:class:`~tradekit.brokers.kite.config.KiteConfig`).
    secrets
        :class:`tradekit.config.Secrets` with ``KITE_API_KEY`` (and ``KITE_API_SECRET`` for
        login and postbacks; ``KITE_ACCESS_TOKEN`` if no token file is used).
    data_dir
        Where the token file and the caches go by default (``<data_dir>/kite/``).
    clock
        "Now" for token expiry and caches.
    instruments
        An instrument master (``get(exchange, symbol)``); fetched from Kite when not given.
    """

    name = "kite"

    def __init__(self, config: KiteConfig | None = None, secrets=None, *, data_dir: str | Path = "var",
                 clock: Clock | None = None, instruments=None, algo_id: str | None = None,
                 rate_governor: RateGovernor | None = None, expected_user_id: str | None = None):
        from tradekit.config.secrets import Secrets

        self.config = config or KiteConfig()
        self._secrets = secrets if secrets is not None else Secrets.load()
        self.api_key = self._secrets.require("KITE_API_KEY", "the Kite app's API key")
        self.clock = clock or RealClock()
        self.data_dir = Path(data_dir)
        self.instruments_store = instruments
        self.algo_id = self.config.algo_id or algo_id
        self.gov = rate_governor or governor()
        self.gov.configure(self.config.rate_limits.windows())
        self.gov.max_wait = self.config.rate_limits.max_wait_seconds
        self.kite = KiteConnect(self.api_key, root=self.config.root, timeout=self.config.timeout_seconds)
        # The client keeps the login page in a class attribute: point this instance at ours.
        self.kite._default_login_uri = self.config.login_url
        self._local = threading.local()
        self.kite.reqsession.hooks["response"].append(self._record_response)
        self.tokens = TokenStore(self.config.token_file or self.data_dir / "kite" / "session.json")
        self.session: StoredSession | None = None
        self._auth_error: str | None = None
        self.listeners: list[BrokerListener] = []
        self._lock = threading.RLock()
        self._orders: dict[str, BrokerOrder] = {}
        self._filled: dict[str, int] = {}
        self._modifications: dict[str, int] = {}
        self._trade_ids: set[str] = set()
        self.stream = None
        self.postbacks = None
        self._feed = None
        self._watcher: TokenWatcher | None = None
        self.expected_user_id: str | None = None  # the account's Zerodha user (account.kite_user_id); see expect_user
        self._user_ok: str | None = None  # the access token whose user was checked against it
        if expected_user_id:
            self.expected_user_id = expected_user_id.upper()
        self.market = None  # the session's MarketDataHub (tradekit.marketdata.kite.attach_kite)
        self._load_session()

    # -- the session -------------------------------------------------------------------------------
    def _load_session(self) -> None:
        stored = self.tokens.load()
        if stored is not None and stored.api_key == self.api_key and not stored.expired(self.clock.now()):
            self._use(stored)
            return
        token = self._secrets.get("KITE_ACCESS_TOKEN")
        if token:  # login time unknown: Kite's 403 tells us when it dies
            self.kite.set_access_token(token)

    def _use(self, s: StoredSession) -> None:
        self.session = s
        self._auth_error = None
        self.kite.set_access_token(s.access_token.get_secret_value())

    def login_url(self) -> str:
        """The page where the user logs in (it redirects to the app's redirect URL with a request token)."""
        return self.kite.login_url()

    def complete_login(self, request_token: str) -> StoredSession:
        """Exchange a request token (checksum with the API secret), store the access token (0600)."""
        secret = self._secrets.require("KITE_API_SECRET", "to exchange the request token")
        self.gov.acquire("other")
        with kite_errors("exchange the request token", response=self._status):
            data = self.kite.generate_session(request_token.strip(), secret)
        login = data.get("login_time")
        login = parsing.ts(login) or self.clock.now()
        s = StoredSession(self.api_key, _secret(data["access_token"]), str(data.get("user_id", "")), login, token_expiry(login))
        self.tokens.save(s)
        self._use(s)
        log.info("Kite login as %s; the session lasts until %s", s.user_id, s.expires_at.isoformat())
        self._restart_stream()
        return s

    def reload_session(self) -> bool:
        """Take up a login stored by another process (``tradekit kite login`` writes the token
        file): True when the file holds a new, unexpired token for this app, now in use (the
        ticker restarted with it)."""
        stored = self.tokens.load()
        if stored is None or stored.api_key != self.api_key or stored.expired(self.clock.now()):
            return False
        if stored.access_token.get_secret_value() == self.kite.access_token:
            return False
        self._use(stored)
        log.info("Kite: a new login as %s was picked up; the session lasts until %s", stored.user_id,
                 stored.expires_at.isoformat())
        self._restart_stream()
        return True

    def watch_tokens(self, on_login=None, *, interval: float = 1.0) -> TokenWatcher:
        """Watch the token file: a new login from another process reaches this running broker
        (:meth:`reload_session`), then ``on_login()`` (the session lifts its auth block)."""
        def changed() -> None:
            if self.reload_session() and on_login is not None:
                on_login()

        if self._watcher is not None:
            self._watcher.stop()
        self._watcher = TokenWatcher(self.tokens, changed, interval=interval).start()
        return self._watcher

    def _restart_stream(self) -> None:
        if self.stream is not None:  # the ticker connection carries the old token: start it again
            wanted, keys = dict(self.stream.wanted), dict(self.stream.keys)
            on_ticks, on_heartbeat = self.stream.on_ticks, self.stream.on_heartbeat
            self.stream.stop()
            self.stream = None
            stream = self._ensure_stream()
            stream.keys.update(keys)
            stream.on_ticks = on_ticks
            stream.on_heartbeat = on_heartbeat
            for tok, mode in wanted.items():
                stream.subscribe([tok], mode)
            if self._feed is not None:
                self._feed.stream = stream

    def logout(self) -> None:
        """Invalidate the access token at Kite and delete the token file."""
        try:
            if self.kite.access_token:
                self.gov.acquire("other")
                with kite_errors("log out", response=self._status):
                    self.kite.invalidate_access_token()
        except (AuthExpired, BrokerUnavailable) as e:
            log.info("logout: %s", e)
        finally:
            self.tokens.clear()
            self.kite.set_access_token(None)
            self.session = None
            self.stop_updates()

    @property
    def logged_in(self) -> bool:
        try:
            self._require_session()
            return True
        except AuthExpired:
            return False

    def session_status(self) -> str:
        """One line for a notebook or the CLI (never shows the token)."""
        try:
            self._require_session()
        except AuthExpired as e:
            return str(e)
        if self.session is not None:
            return f"logged in as {self.session.user_id} until {self.session.expires_at:%Y-%m-%d %H:%M} IST"
        return "using KITE_ACCESS_TOKEN from the environment (expiry unknown until Kite says so)"

    def _require_session(self) -> None:
        if self._auth_error:
            raise AuthExpired(self._auth_error)
        if not self.kite.access_token:
            raise AuthExpired(f"not logged in to Kite: {RELOGIN_HINT}")
        if self.session is not None and self.session.expired(self.clock.now()):
            self._auth_error = f"{RELOGIN} (the token of {self.session.login_time:%Y-%m-%d %H:%M} died at 06:00 IST)"
            raise AuthExpired(self._auth_error)
        if self.expected_user_id and self._user_ok != self.kite.access_token:
            self._check_user()

    # -- the account's user (issue 20: many accounts) ----------------------------------------------------
    def expect_user(self, user_id: str) -> None:
        """Trade only as ``user_id`` (the account's ``account.kite_user_id``): the user of every access
        token is read from Kite (``/user/profile``) before its first call, and a token of another
        user makes every call fail with :class:`WrongKiteUser` (nothing reaches that account) until
        a login as the right user. Checked at once when logged in (a session start is refused)."""
        self.expected_user_id, self._user_ok = user_id.upper(), None
        if self.kite.access_token and not (self.session is not None and self.session.expired(self.clock.now())):
            self._check_user()

    def _check_user(self) -> None:
        token = self.kite.access_token
        self.gov.acquire("other")
        with kite_errors("read the Kite profile (whose account this is)", response=self._status):
            profile = self.kite.profile()
        who = str((profile or {}).get("user_id") or "").upper()
        if who != self.expected_user_id:
            self._auth_error = (f"Kite is logged in as {who or 'an unknown user'}, but this account trades "
                                f"{self.expected_user_id} (account.kite_user_id): refusing to trade the wrong account; "
                                f"log in as {self.expected_user_id} (tradekit kite login)")
            raise WrongKiteUser(self._auth_error)
        self._user_ok = token

    # -- every call -----------------------------------------------------------------------------------
    def _record_response(self, r, *args, **kwargs):
        self._local.status = r.status_code
        return r

    def _status(self) -> int | None:
        return getattr(self._local, "status", None)

    def _call(self, op: str, bucket: str, fn, *args, placement: bool = False, **kwargs):
        self._require_session()
        retries = self.config.rate_limits.retries_on_429
        for attempt in range(retries + 1):
            self.gov.acquire(bucket)
            self._local.status = None
            try:
                with kite_errors(op, placement=placement, response=self._status):
                    out = fn(*args, **kwargs)
            except BrokerUnavailable as e:
                if e.code == 429 or self._status() == 429:
                    pause = self.gov.throttled(bucket)
                    if attempt < retries:
                        log.info("%s: 429 from Kite, retrying in %.1f s (nothing was done)", op, pause)
                        continue
                raise
            except AuthExpired as e:
                self._auth_error = str(e)
                raise
            self.gov.succeeded(bucket)
            status = self._status()
            if status is not None and status >= 500:
                # The client returns a success body even with a 5xx status. An order id in it is
                # real (the order exists), anything else is not to be trusted.
                if placement:
                    log.warning("%s: HTTP %s with a success body; the order id %s is kept", op, status, out)
                    return out
                raise BrokerUnavailable(f"{op}: Kite answered HTTP {status} with a success body; not trusted", code=status)
            return out
        raise AssertionError("unreachable")

    # -- the Broker protocol ------------------------------------------------------------------------------
    def subscribe(self, listener: BrokerListener) -> None:
        self.listeners.append(listener)

    def _order_params(self, client_order_id: str, r: OrderRequest) -> dict:
        if not (client_order_id.isalnum() and client_order_id.isascii() and len(client_order_id) <= MAX_TAG_LENGTH):
            raise BrokerRejected(f"client order id {client_order_id!r} cannot be Kite's tag (≤ {MAX_TAG_LENGTH} letters or digits)")
        if r.variety not in (Variety.REGULAR, Variety.AMO, Variety.ICEBERG):
            raise BrokerRejected(f"variety {r.variety.value} is not supported by tradekit's Kite adapter")
        p: dict = {
            "variety": r.variety.value, "exchange": r.exchange.value, "tradingsymbol": r.tradingsymbol,
            "transaction_type": r.side.value, "quantity": r.quantity, "product": r.product.value,
            "order_type": r.order_type.value, "validity": r.validity.value, "tag": client_order_id,
        }
        if r.price is not None:
            p["price"] = str(r.price)
        if r.trigger_price is not None:
            p["trigger_price"] = str(r.trigger_price)
        if r.validity_ttl is not None:
            p["validity_ttl"] = r.validity_ttl
        if r.disclosed_quantity:
            p["disclosed_quantity"] = r.disclosed_quantity
        if r.variety is Variety.ICEBERG:
            p["iceberg_legs"], p["iceberg_quantity"] = r.iceberg_legs, r.iceberg_quantity
        if r.is_market:
            mp = r.market_protection
            if mp is None or mp == 0:
                mp = self.config.market_protection
            p["market_protection"] = str(mp)
        if self.algo_id:
            p["algo_id"] = self.algo_id
        return p

    def place_order(self, client_order_id: str, request: OrderRequest) -> str:
        """Place ``request`` with ``tag=client_order_id``; returns Kite's order id.

        Raises BrokerRejected (refused, nothing placed), AuthExpired, BrokerUnavailable
        (known not placed: rate limit after retries, no connection) or AmbiguousOrderState
        (may have been placed: resolve with :meth:`find_by_tag`, never resend).
        """
        params = self._order_params(client_order_id, request)
        oid = self._call(f"place order {client_order_id}", "orders", self.kite.place_order, placement=True, **params)
        oid = str(oid)
        with self._lock:
            self._modifications.setdefault(oid, 0)
        return oid

    def modify_order(self, broker_order_id: str, request: OrderRequest) -> None:
        with self._lock:
            n = self._modifications.get(broker_order_id, 0)
        if n >= MAX_MODIFICATIONS:
            raise BrokerRejected(
                f"order {broker_order_id} was modified {n} times; Kite allows {MAX_MODIFICATIONS}: cancel it and place a new order",
                broker_message="Maximum allowed order modifications exceeded.",
            )
        p: dict = {"variety": request.variety.value, "order_id": broker_order_id, "quantity": request.quantity,
                   "order_type": request.order_type.value, "validity": request.validity.value}
        if request.price is not None:
            p["price"] = str(request.price)
        if request.trigger_price is not None:
            p["trigger_price"] = str(request.trigger_price)
        if request.disclosed_quantity:
            p["disclosed_quantity"] = request.disclosed_quantity
        if request.is_market:
            mp = request.market_protection
            p["market_protection"] = str(mp if mp not in (None, 0) else self.config.market_protection)
        self._call(f"modify order {broker_order_id}", "orders", self.kite.modify_order, **p)
        with self._lock:
            self._modifications[broker_order_id] = n + 1

    def cancel_order(self, broker_order_id: str, variety: Variety = Variety.REGULAR) -> None:
        v = Variety.parse(variety, "variety")
        self._call(f"cancel order {broker_order_id}", "orders", self.kite.cancel_order, variety=v.value, order_id=broker_order_id)

    def orders(self) -> list[BrokerOrder]:
        rows = [parsing.order(d) for d in self._call("fetch the order book", "other", self.kite.orders)]
        with self._lock:
            for r in rows:
                self._orders[r.broker_order_id] = r
        return rows

    def order_history(self, broker_order_id: str) -> list[BrokerOrder]:
        """Every state the order went through, oldest first."""
        data = self._call(f"fetch the history of order {broker_order_id}", "other", self.kite.order_history, broker_order_id)
        return [parsing.order(d) for d in data]

    def _tag_of(self, broker_order_id: str) -> str | None:
        with self._lock:
            row = self._orders.get(broker_order_id)
        return row.tag if row is not None else None

    def trades(self) -> list[BrokerTrade]:
        data = self._call("fetch the trade book", "other", self.kite.trades)
        if any(self._tag_of(str(d["order_id"])) is None for d in data):
            self.orders()  # learn the tags of orders we have not seen
        return [parsing.trade(d, self._tag_of(str(d["order_id"]))) for d in data]

    def order_trades(self, broker_order_id: str) -> list[BrokerTrade]:
        data = self._call(f"fetch the trades of order {broker_order_id}", "other", self.kite.order_trades, broker_order_id)
        tag = self._tag_of(broker_order_id)
        return [parsing.trade(d, tag) for d in data]

    def positions(self) -> list[BrokerPosition]:
        """Net positions (carried + today)."""
        return [parsing.position(d) for d in self.positions_detail()["net"]]

    def positions_detail(self) -> dict[str, list[dict]]:
        """Kite's ``{"net": [...], "day": [...]}`` as it came (for reports and reconciliation)."""
        return self._call("fetch positions", "other", self.kite.positions)

    def day_positions(self) -> list[BrokerPosition]:
        return [parsing.position(d) for d in self.positions_detail()["day"]]

    def holdings(self) -> list[BrokerHolding]:
        return [parsing.holding(d) for d in self._call("fetch holdings", "other", self.kite.holdings)]

    def funds(self) -> Funds:
        return parsing.funds(self._call("fetch margins", "other", self.kite.margins))

    def margins(self) -> dict:
        return self._call("fetch margins", "other", self.kite.margins)

    def find_by_tag(self, tag: str) -> BrokerOrder | None:
        """The order whose tag is ``tag`` (our client order id), or None if Kite has none."""
        hits = [r for r in self.orders() if r.tag == tag]
        if len(hits) > 1:
            log.error("%d orders at Kite carry tag %s: %s", len(hits), tag, [r.broker_order_id for r in hits])
        if not hits:
            return None
        with self._lock:
            self._modifications.setdefault(hits[-1].broker_order_id, 0)  # ours: a placement found by its tag
        return hits[-1]

    # -- order margins and charges -------------------------------------------------------------------------
    @staticmethod
    def _margin_item(r: OrderRequest, price: Decimal | None = None) -> dict:
        return {"exchange": r.exchange.value, "tradingsymbol": r.tradingsymbol, "transaction_type": r.side.value,
                "variety": r.variety.value, "product": r.product.value, "order_type": r.order_type.value,
                "quantity": r.quantity, "price": float(price if price is not None else (r.price or 0)),
                "trigger_price": float(r.trigger_price or 0)}

    def order_margins(self, requests: Iterable[OrderRequest]) -> list[dict]:
        items = [self._margin_item(r) for r in requests]
        return self._call("compute order margins", "other", self.kite.order_margins, items)

    def basket_margins(self, requests: Iterable[OrderRequest], consider_positions: bool = True) -> dict:
        items = [self._margin_item(r) for r in requests]
        return self._call("compute basket margins", "other", self.kite.basket_order_margins, items,
                          consider_positions=consider_positions)

    def contract_note(self, trades: Iterable[BrokerTrade]) -> list[dict]:
        items = [{"order_id": t.broker_order_id, "exchange": t.exchange.value, "tradingsymbol": t.tradingsymbol,
                  "transaction_type": t.side.value, "variety": "regular", "product": t.product.value,
                  "order_type": "MARKET", "quantity": t.quantity, "average_price": float(t.price)} for t in trades]
        return self._call("compute charges", "other", self.kite.get_virtual_contract_note, items)

    # -- order updates ----------------------------------------------------------------------------------
    def handle_update(self, payload: dict) -> None:
        """An order update (ticker text frame or verified postback) moves the listeners.

        When the update shows more filled quantity than known, the order's trades are
        fetched so that every fill reaches ``on_trade``.
        """
        row = parsing.order(payload)
        with self._lock:
            self._orders[row.broker_order_id] = row
            before = self._filled.get(row.broker_order_id, 0)
            grew = row.filled_quantity > before
            if grew:
                self._filled[row.broker_order_id] = row.filled_quantity
        for listener in list(self.listeners):
            listener.on_order_update(row)
        if grew:
            try:
                trades = self.order_trades(row.broker_order_id)
            except (BrokerUnavailable, AuthExpired) as e:
                log.warning("trades of order %s not fetched (%s); reconciliation will pick them up", row.broker_order_id, e)
                with self._lock:
                    self._filled[row.broker_order_id] = before
                return
            for t in trades:
                with self._lock:
                    new = t.trade_id not in self._trade_ids
                    self._trade_ids.add(t.trade_id)
                if new:
                    for listener in list(self.listeners):
                        listener.on_trade(t)

    def start_updates(self) -> None:
        """Start the order-update stream (ticker and/or postback receiver, per config)."""
        mode = self.config.order_updates
        self._require_session()
        if mode in ("ticker", "both"):
            self._ensure_stream()
        if mode in ("postback", "both") or self.config.postback.enabled:
            if self.postbacks is None:
                from tradekit.brokers.kite.postback import PostbackReceiver

                secret = self._secrets.require("KITE_API_SECRET", "to verify postback checksums")
                pb = self.config.postback
                self.postbacks = PostbackReceiver(secret, self.handle_update, host=pb.host, port=pb.port, path=pb.path).start()
                log.info("Kite postbacks accepted at %s", self.postbacks.url)

    def _ensure_stream(self):
        if self.stream is None:
            from tradekit.brokers.kite.stream import KiteStream

            self.stream = KiteStream(
                self.api_key, self.kite.access_token, self.config.ticker_url, on_order=self.handle_update,
                on_event=self._on_stream_event, watchdog_seconds=self.config.watchdog_seconds, reconnect_max_delay=self.config.ticker_reconnect_max_delay,
                reconnect_max_tries=self.config.ticker_reconnect_max_tries,
            ).start()
        return self.stream

    def _on_stream_event(self, name: str, info: dict) -> None:
        if self.market is not None:
            self.market.source_event(name, info)
        # Kite does not replay the updates sent while a socket was down: after every
        # reconnect, read the order book once and hand our orders' rows over again.
        if name == "open" and self.stream is not None and self.stream.opens > 1:
            threading.Thread(target=self.catch_up, name="kite-catch-up", daemon=True).start()

    def catch_up(self) -> int:
        """Re-read the order book and the trades of orders placed through this broker and hand
        them to the listeners (they ignore what they already know). Returns the rows handed over."""
        try:
            rows = self.orders()
            trades = self.trades()
        except (BrokerUnavailable, AuthExpired) as e:
            log.warning("catch-up after a ticker reconnect failed (%s); reconciliation will do it", e)
            return 0
        with self._lock:
            mine = set(self._modifications)
        n = 0
        for row in rows:
            if row.broker_order_id in mine:
                with self._lock:
                    self._filled[row.broker_order_id] = max(self._filled.get(row.broker_order_id, 0), row.filled_quantity)
                for listener in list(self.listeners):
                    listener.on_order_update(row)
                n += 1
        for t in trades:
            if t.broker_order_id in mine:
                with self._lock:
                    new = t.trade_id not in self._trade_ids
                    self._trade_ids.add(t.trade_id)
                if new:
                    for listener in list(self.listeners):
                        listener.on_trade(t)
                    n += 1
        return n

    def stop_updates(self) -> None:
        if self.stream is not None:
            self.stream.stop()
            self.stream = None
        if self.postbacks is not None:
            self.postbacks.stop()
            self.postbacks = None

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        self.stop_updates()

    # -- market data -----------------------------------------------------------------------------------
    def instruments(self, day: date | None = None):
        """Today's instrument master from Kite (cached on disk per day)."""
        from tradekit.market.instruments import InstrumentStore

        day = day or self.clock.now().date()
        cache = self.config.instruments_cache_dir or self.data_dir / "kite" / "instruments"

        def fetch() -> bytes:
            return _dump_csv(self._call("fetch the instrument dump", "other", self.kite.instruments))

        store = InstrumentStore.cached_or_fetch(cache, day, fetch)
        self.instruments_store = store
        return store

    def _instrument(self, key_or_token):
        store = self.instruments_store
        if store is None:
            store = self.instruments()
        if isinstance(key_or_token, int) or (isinstance(key_or_token, str) and key_or_token.isdigit()):
            return store.by_token(int(key_or_token))
        return store.get(key_or_token)

    def token_of(self, key: str) -> int:
        return self._instrument(key).instrument_token

    def _chunks(self, keys: list[str], size: int) -> list[list[str]]:
        return [keys[i : i + size] for i in range(0, len(keys), size)]

    def last_price(self, key: str) -> Decimal | None:
        """The live last price from the market-data hub (None without a hub or a quote)."""
        return self.market.last_price(key) if self.market is not None else None

    def best_bid(self, key: str) -> Decimal | None:
        return self.market.best_bid(key) if self.market is not None else None

    def best_ask(self, key: str) -> Decimal | None:
        return self.market.best_ask(key) if self.market is not None else None

    def depth(self, key: str):
        """``(bids, asks)`` of the live quote (full mode), or None."""
        return self.market.depth(key) if self.market is not None else None

    def live_quote(self, key: str):
        """The hub's :class:`~tradekit.marketdata.hub.Quote` of ``key`` (ltp, bid/ask, depth, times)."""
        return self.market.quote(key) if self.market is not None else None

    def quote(self, keys: Iterable[str]) -> dict:
        """Full quotes by ``"EXCH:SYMBOL"`` (missing keys: no data, as Kite says)."""
        out: dict = {}
        for chunk in self._chunks(list(keys), 500):
            out.update(self._call("fetch quotes", "quote", self.kite.quote, chunk))
        return out

    def ltp(self, keys: Iterable[str]) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for chunk in self._chunks(list(keys), 1000):
            for k, v in self._call("fetch last prices", "quote", self.kite.ltp, chunk).items():
                out[k] = parsing.money(v["last_price"])
        return out

    def ohlc(self, keys: Iterable[str]) -> dict:
        out: dict = {}
        for chunk in self._chunks(list(keys), 1000):
            out.update(self._call("fetch OHLC", "quote", self.kite.ohlc, chunk))
        return out

    def historical(self, instrument, start: datetime, end: datetime, interval: str = "minute", *,
                   continuous: bool = False, oi: bool = False, cache: bool = True):
        """Candles as a DataFrame (IST index; open/high/low/close/volume[/oi]).

        Whole past days are cached on disk (``historical_cache_dir``) one file per day, so a
        research notebook asks Kite for each day once; today is always fetched. Long ranges
        are split to respect Kite's per-request caps. ``instrument`` is a key, a token, or a
        ``(key, token)`` pair for an instrument the instrument master does not list (an index of
        ``market_data.indices``).
        """
        import pandas as pd

        if interval not in HISTORICAL_CAPS:
            raise ValidationError(f"{interval!r} is not one of {', '.join(HISTORICAL_CAPS)}", field="interval")
        if isinstance(instrument, tuple):  # (key, token): an instrument known by its token, e.g. an index from
            name, token = instrument       # market_data.indices (BSE:SENSEX) that the bundled master lacks
            token = int(token)
        else:
            inst = self._instrument(instrument)
            name, token = inst.key, inst.instrument_token
        start, end = start.astimezone(IST), end.astimezone(IST)
        today = self.clock.now().astimezone(IST).date()
        root = Path(self.config.historical_cache_dir or self.data_dir / "kite" / "historical")
        folder = root / str(token) / f"{interval}{'-c' if continuous else ''}{'-oi' if oi else ''}"
        frames, missing = [], []
        d = start.date()
        while d <= end.date():
            f = folder / f"{d.isoformat()}.parquet"
            if cache and d < today and f.exists():
                frames.append(pd.read_parquet(f))
            else:
                missing.append(d)
            d += timedelta(days=1)
        # fetch missing days in spans of consecutive days within the cap
        spans: list[list[date]] = []
        for d in missing:
            if spans and (d - spans[-1][-1]).days == 1 and (d - spans[-1][0]).days < HISTORICAL_CAPS[interval]:
                spans[-1].append(d)
            else:
                spans.append([d])
        for span in spans:
            s = datetime.combine(span[0], time(0, 0), IST)
            e = datetime.combine(span[-1], time(23, 59, 59), IST)
            rows = self._call(f"fetch {interval} candles of {name}", "historical", self.kite.historical_data, token,
                              s.replace(tzinfo=None), e.replace(tzinfo=None), interval, continuous=continuous, oi=oi)
            df = _candles_frame(rows, oi)
            frames.append(df)
            if cache:
                for day_ in span:
                    if day_ < today:
                        part = df[df.index.date == day_] if len(df) else df
                        folder.mkdir(parents=True, exist_ok=True)
                        part.to_parquet(folder / f"{day_.isoformat()}.parquet")
        if not frames:
            return _candles_frame([], oi)
        out = pd.concat(frames).sort_index()
        out = out[~out.index.duplicated(keep="last")]
        return out[(out.index >= start) & (out.index <= end)]

    def feed(self):
        """A :class:`~tradekit.brokers.kite.feed.KiteFeed` on this session's ticker connection."""
        from tradekit.brokers.kite.feed import KiteFeed

        self._require_session()
        if self._feed is None:
            self._feed = KiteFeed(self._ensure_stream(), self.token_of)
        return self._feed


def _secret(value: str):
    from pydantic import SecretStr

    return SecretStr(value)


def _dump_csv(rows: list[dict]) -> bytes:
    """The parsed instrument dump back to Kite's CSV (the cache and the master read CSV)."""
    import csv
    import io

    cols = ["instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry", "strike", "tick_size",
            "lot_size", "instrument_type", "segment", "exchange"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(cols)
    for r in rows:
        exp = r.get("expiry")
        w.writerow([r.get("instrument_token"), r.get("exchange_token"), r.get("tradingsymbol"), r.get("name"),
                    r.get("last_price", 0.0), exp.isoformat() if hasattr(exp, "isoformat") else (exp or ""),
                    r.get("strike", 0.0), r.get("tick_size", 0.0), r.get("lot_size", 0), r.get("instrument_type"),
                    r.get("segment"), r.get("exchange")])
    return buf.getvalue().encode()


def _candles_frame(rows: list[dict], oi: bool):
    import pandas as pd

    cols = ["open", "high", "low", "close", "volume"] + (["oi"] if oi else [])
    if not rows:
        return pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], tz=IST, name="timestamp"))
    df = pd.DataFrame(rows)
    idx = pd.DatetimeIndex(pd.to_datetime(df["date"])).tz_convert(IST)
    df = df[cols].set_axis(idx.rename("timestamp"))
    return df


class WrongKiteUser(AuthExpired):
    """Kite is logged in as another user than the account's ``account.kite_user_id``: no call goes out."""

    wrong_user = True


def make_live_broker(session) -> KiteBroker:
    """The broker a live :class:`tradekit.session.Session` uses (``mode: live``)."""
    from tradekit.config.secrets import Secrets, install_redaction

    cfg = session.config
    kcfg = getattr(cfg, "kite", None) or KiteConfig()
    secrets = Secrets.load(cfg.secrets_file)
    install_redaction(secrets)
    orders = getattr(cfg, "orders", None)
    return KiteBroker(kcfg, secrets, data_dir=cfg.data_dir, clock=session.clock, instruments=session.instruments,
                      algo_id=getattr(orders, "algo_id", None),
                      expected_user_id=getattr(getattr(cfg, "account", None), "kite_user_id", None))


__all__ = ["KiteBroker", "WrongKiteUser", "make_live_broker"]
