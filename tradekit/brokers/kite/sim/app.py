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
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import re
import secrets as _secrets
import threading
import time as _time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tradekit.brokers.base import BrokerOrder, BrokerTrade
from tradekit.brokers.kite.sim.gtt import SimGttRoutes
from tradekit.brokers.kite.ratelimit import DEFAULT_LIMITS, RateGovernor, Window, bucket_for
from tradekit.clock import IST
from tradekit.errors import BrokerRejected, BrokerUnavailable, MarketRuleError, ValidationError
from tradekit.model.charges import Charges
from tradekit.model.enums import Exchange, OrderType, Product, Side, Validity, Variety
from tradekit.model.money import ZERO, dec
from tradekit.model.order import MAX_MODIFICATIONS, MAX_TAG_LENGTH, OrderRequest

log = logging.getLogger(__name__)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TS_FMT = "%Y-%m-%d %H:%M:%S"
_PUBLIC = re.compile(r"/instruments(/[A-Z]+)?")
MSG_NO_PROTECTION = ("Market orders without market protection are not allowed via API. "
                     "Please set market protection or use a Limit order.")
MSG_BAD_TOKEN = "Incorrect `api_key` or `access_token`."
INTERVALS = {"minute": 60, "3minute": 100, "5minute": 100, "10minute": 100, "15minute": 200, "30minute": 200,
             "60minute": 400, "day": 2000}  # interval -> max days per request (widely reported caps)
FINAL = ("COMPLETE", "CANCELLED", "REJECTED")


class KiteError(Exception):
    """An error answer: HTTP ``status`` with Kite's ``error_type`` and message."""

    def __init__(self, status: int, error_type: str, message: str, data=None):
        super().__init__(message)
        self.status, self.error_type, self.message, self.data = status, error_type, message, data


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict = field(default_factory=dict)

    @classmethod
    def ok(cls, data, status: int = 200) -> "Response":
        return cls(status, json.dumps({"status": "success", "data": data}, default=_json_default).encode())

    @classmethod
    def error(cls, e: KiteError) -> "Response":
        body = {"status": "error", "message": e.message, "error_type": e.error_type, "data": e.data}
        return cls(e.status, json.dumps(body).encode())


def _json_default(o):
    if isinstance(o, Decimal):
        return float(o)
    if isinstance(o, datetime):
        return o.astimezone(IST).strftime(TS_FMT)
    if isinstance(o, date):
        return o.isoformat()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _fmt(ts: datetime | None) -> str | None:
    return ts.astimezone(IST).strftime(TS_FMT) if ts is not None else None


def _num(x) -> float:
    if x is None:
        return 0
    f = float(x)
    return int(f) if f.is_integer() else f


def _first(d: dict, name: str, default=None):
    v = d.get(name)
    if isinstance(v, list):
        v = v[0] if v else default
    return default if v in (None, "") else v


def _need(d: dict, name: str) -> str:
    v = _first(d, name)
    if v is None:
        raise KiteError(400, "InputException", f"Missing `{name}`")
    return v


def _int(v, name: str) -> int:
    try:
        return int(str(v))
    except ValueError:
        raise KiteError(400, "InputException", f"Invalid `{name}`") from None


def charges_json(c: Charges, exchange: str, commodity: bool = False) -> dict:
    """A :class:`Charges` as Kite's ``charges`` block (GST as IGST, as Kite reports it)."""
    return {
        "transaction_tax": float(c.stt), "transaction_tax_type": "ctt" if commodity else "stt",
        "exchange_turnover_charge": float(c.exchange_txn), "sebi_turnover_charge": float(c.sebi),
        "brokerage": float(c.brokerage), "stamp_duty": float(c.stamp_duty),
        "gst": {"igst": float(c.gst), "cgst": 0, "sgst": 0, "total": float(c.gst)},
        "total": float(c.total),
    }


def default_charges() -> Callable[..., Charges] | None:
    """Each order priced on its own, as Kite's margin and virtual-contract-note endpoints do
    (per order, STT and stamp duty not rounded to the rupee; no state kept between calls)."""
    from tradekit.market.charges import fill_charges_for

    def per_order(inst, product, side, qty, price, trade_date, _order=None) -> Charges:
        return fill_charges_for(inst, product, side, qty, price, trade_date)

    return per_order


@dataclass
class _Token:
    access_token: str
    public_token: str
    issued: datetime
    expires: datetime


@dataclass
class _Meta:
    """What Kite shows about an order that the paper broker's row does not carry."""

    placed_at: datetime
    variety: str
    validity: str
    validity_ttl: int | None
    disclosed_quantity: int
    market_protection: float
    tag: str | None
    algo_id: str | None
    instrument_token: int
    iceberg_legs: int | None = None
    iceberg_quantity: int | None = None
    modifications: int = 0
    modified_at: datetime | None = None
    guid: str = ""
    last_sent: tuple | None = None
    system_tags: list = field(default_factory=list)  # tags Kite adds itself (autoslice, autoslice:<parent>)
    gtt: int | None = None  # the GTT that placed it


def session_expiry(issued: datetime) -> datetime:
    """Kite flushes access tokens at 06:00 IST: the first 06:00 after ``issued``."""
    from tradekit.brokers.kite.auth import token_expiry

    return token_expiry(issued)


class KiteSimApp(SimGttRoutes):
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

    # -- auth --------------------------------------------------------------------------------------
    def issue_request_token(self) -> str:
        rt = _secrets.token_hex(16)
        with self._lock:
            self._request_tokens[rt] = _time.monotonic() + 300.0  # Kite's are short-lived, single use
        return rt

    def login_redirect(self, query: dict) -> Response:
        api_key = _first(query, "api_key")
        if api_key != self.api_key:
            return Response(400, b"<html><body>Invalid api_key</body></html>", "text/html; charset=utf-8")
        rt = self.issue_request_token()
        target = self.redirect_url or "/connect/finish"
        params = {"request_token": rt, "action": "login", "type": "login", "status": "success"}
        extra = _first(query, "redirect_params")
        if extra:
            params.update(dict(urllib.parse.parse_qsl(extra)))
        sep = "&" if "?" in target else "?"
        return Response(302, b"", "text/html; charset=utf-8", {"Location": f"{target}{sep}{urllib.parse.urlencode(params)}"})

    def finish_page(self, query: dict) -> Response:
        rt = _first(query, "request_token", "")
        html = (f"<html><body><h3>Kite sandbox login</h3><p>request_token: <code id='request_token'>{rt}</code></p>"
                f"<p>Exchange it with <code>tradekit kite login --request-token {rt}</code>.</p></body></html>")
        return Response(200, html.encode(), "text/html; charset=utf-8")

    def session_token(self, form: dict) -> dict:
        api_key, rt, checksum = _need(form, "api_key"), _need(form, "request_token"), _need(form, "checksum")
        if api_key != self.api_key:
            raise KiteError(403, "TokenException", "Invalid `api_key`.")
        with self._lock:
            exp = self._request_tokens.pop(rt, None)
        if exp is None or exp < _time.monotonic():
            raise KiteError(403, "TokenException", "Token is invalid or has expired.")
        want = hashlib.sha256(f"{api_key}{rt}{self.api_secret}".encode()).hexdigest()
        if checksum != want:
            raise KiteError(403, "TokenException", "Invalid checksum.")
        now = self.wall_clock()
        tok = _Token(_secrets.token_hex(16), _secrets.token_hex(16), now, session_expiry(now))
        with self._lock:
            self._tokens[tok.access_token] = tok
        data = json.loads((FIXTURES / "generate_session.json").read_text())["data"]
        data.update({"user_id": self.user_id, "user_name": "Kite Sandbox", "user_shortname": "Sandbox",
                     "email": "sandbox@localhost", "api_key": self.api_key, "access_token": tok.access_token,
                     "public_token": tok.public_token, "enctoken": _secrets.token_hex(8), "refresh_token": "",
                     "login_time": now.strftime(TS_FMT), "avatar_url": None})
        return data

    def logout(self, query: dict) -> bool:
        if _first(query, "api_key") != self.api_key:
            raise KiteError(403, "TokenException", "Invalid `api_key`.")
        tok = _first(query, "access_token")
        with self._lock:
            if tok:
                self._tokens.pop(tok, None)
        return True

    def check_token(self, api_key: str | None, access_token: str | None) -> bool:
        if api_key != self.api_key or not access_token:
            return False
        with self._lock:
            tok = self._tokens.get(access_token)
        return tok is not None and self.wall_clock() < tok.expires

    def authorise(self, headers: dict) -> None:
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        m = re.fullmatch(r"token ([^:]+):(.+)", auth.strip())
        if not m or not self.check_token(m.group(1), m.group(2)):
            raise KiteError(403, "TokenException", MSG_BAD_TOKEN)

    def expire_tokens(self) -> int:
        """Fault: every access token dies now (as at 06:00 IST). Returns how many were live."""
        with self._lock:
            n = len(self._tokens)
            self._tokens.clear()
        return n

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

    # -- user ---------------------------------------------------------------------------------------
    def r_profile(self, **_):
        data = json.loads((FIXTURES / "profile.json").read_text())["data"]
        data.update({"user_id": self.user_id, "user_name": "Kite Sandbox", "user_shortname": "Sandbox",
                     "email": "sandbox@localhost"})
        return data

    def _segment_block(self, equity: bool) -> dict:
        if equity:
            f = self.broker.funds()
            opening = float(self._opening_cash if self._opening_cash is not None else f.cash)
            avail, used, cash = float(f.available), float(f.utilised), float(f.cash)
        else:
            opening = avail = used = cash = 0.0
        return {
            "enabled": True, "net": avail,
            "available": {"adhoc_margin": 0, "cash": cash, "opening_balance": opening, "live_balance": avail,
                          "collateral": 0, "intraday_payin": 0},
            "utilised": {"debits": used, "exposure": 0, "m2m_realised": 0, "m2m_unrealised": 0, "option_premium": 0,
                         "payout": 0, "span": used, "holding_sales": 0, "turnover": 0, "liquid_collateral": 0,
                         "stock_collateral": 0, "delivery": 0},
        }

    def r_margins(self, **_):
        return {"equity": self._segment_block(True), "commodity": self._segment_block(False)}

    def r_margins_segment(self, segment, **_):
        if segment not in ("equity", "commodity"):
            raise KiteError(400, "InputException", "Invalid segment. Should be `equity` or `commodity`.")
        return self._segment_block(segment == "equity")

    # -- orders -------------------------------------------------------------------------------------
    def _instrument(self, exchange: str, symbol: str):
        try:
            return self.instruments.get(exchange, symbol)
        except MarketRuleError:
            raise KiteError(400, "InputException", "Invalid `tradingsymbol`.") from None

    def r_place(self, variety, form, **_):
        if variety not in ("regular", "amo", "iceberg", "co", "auction"):
            raise KiteError(400, "InputException", "Invalid variety.")
        if variety in ("co", "auction"):
            raise KiteError(400, "InputException", f"The {variety} variety is not available in the sandbox.")
        if _first(form, "autoslice") == "true":  # slices above the freeze limit (issue 15)
            from tradekit.brokers.kite.sim.autoslice import place_autoslice

            return place_autoslice(self, variety, form)
        exchange, symbol = _need(form, "exchange"), _need(form, "tradingsymbol")
        side, qty = _need(form, "transaction_type"), _int(_need(form, "quantity"), "quantity")
        product, otype = _need(form, "product"), _need(form, "order_type")
        tag = _first(form, "tag")
        if tag is not None and (len(tag) > MAX_TAG_LENGTH or not tag.isalnum() or not tag.isascii()):
            raise KiteError(400, "InputException", f"Invalid `tag`: at most {MAX_TAG_LENGTH} letters or digits.")
        mp_raw = _first(form, "market_protection")
        mp = float(mp_raw) if mp_raw is not None else 0.0
        if otype in ("MARKET", "SL-M") and mp == 0:
            raise KiteError(400, "InputException", MSG_NO_PROTECTION)
        if mp_raw is not None and not (mp == -1 or 0 <= mp <= 100):
            raise KiteError(400, "InputException", "Invalid `market_protection`: -1 or 0 to 100.")
        validity = _first(form, "validity", "DAY")
        ttl = _first(form, "validity_ttl")
        legs, leg_qty = _first(form, "iceberg_legs"), _first(form, "iceberg_quantity")
        if variety == "iceberg" and (legs is None or leg_qty is None):
            raise KiteError(400, "InputException", "Iceberg orders need `iceberg_legs` and `iceberg_quantity`.")
        if variety == "amo" and self.market.is_open:
            raise KiteError(400, "InputException", "AMO orders can be placed only after market hours.")
        if variety != "amo" and self.market.finished:
            raise KiteError(400, "InputException", "Markets are closed right now. Use GTT or AMO for orders outside market hours.")
        with self._lock:
            for i, (n, msg) in enumerate(self.sync_rejects):
                if n > 0:
                    self.sync_rejects[i] = (n - 1, msg)
                    raise KiteError(400, "InputException", msg)
        inst = self._instrument(exchange, symbol)
        req = OrderRequest(
            exchange=exchange, tradingsymbol=symbol, side=side, quantity=qty, order_type=otype, product=product,
            price=_first(form, "price"), trigger_price=_first(form, "trigger_price"), validity=validity,
            validity_ttl=_int(ttl, "validity_ttl") if ttl is not None else None,
            variety=variety, disclosed_quantity=_int(_first(form, "disclosed_quantity", 0), "disclosed_quantity"), tag=tag,
            market_protection=Decimal(mp_raw) if mp_raw is not None else None,
            iceberg_legs=_int(legs, "iceberg_legs") if legs is not None else None,
            iceberg_quantity=_int(leg_qty, "iceberg_quantity") if leg_qty is not None else None,
        )
        reject = None
        with self._lock:
            for i, (n, msg) in enumerate(self.async_rejects):
                if n > 0:
                    self.async_rejects[i] = (n - 1, msg)
                    reject = msg
                    break
        with self._lock:
            old = self.broker.reject_all
            if reject:
                self.broker.reject_all = reject
            try:
                oid = self.broker.place_order(tag or "", req)
            except BrokerRejected as e:
                raise KiteError(400, "InputException" if e.code == 400 else "OrderException", e.broker_message or str(e)) from None
            finally:
                self.broker.reject_all = old
            self._meta[oid] = _Meta(
                placed_at=self.market.now, variety=variety, validity=req.validity.value, validity_ttl=req.validity_ttl,
                disclosed_quantity=req.disclosed_quantity, market_protection=mp, tag=tag, algo_id=_first(form, "algo_id"),
                instrument_token=inst.instrument_token, iceberg_legs=req.iceberg_legs, iceberg_quantity=req.iceberg_quantity,
                guid=_secrets.token_hex(6),
            )
            self.placements.append((oid, tag))
        return {"order_id": oid}

    def _row(self, order_id: str) -> BrokerOrder:
        for row in self.broker.orders():
            if row.broker_order_id == order_id:
                return row
        raise KiteError(400, "InputException", "Invalid `order_id`.")

    def _request_of(self, row: BrokerOrder, meta: _Meta) -> OrderRequest:
        return OrderRequest(
            exchange=row.exchange, tradingsymbol=row.tradingsymbol, side=row.side, quantity=row.quantity,
            order_type=row.order_type, product=row.product, price=row.price, trigger_price=row.trigger_price,
            validity=meta.validity, validity_ttl=meta.validity_ttl, variety=meta.variety,
            disclosed_quantity=meta.disclosed_quantity, tag=meta.tag,
            market_protection=Decimal(str(meta.market_protection)) if meta.market_protection else None,
            iceberg_legs=meta.iceberg_legs, iceberg_quantity=meta.iceberg_quantity,
        )

    def r_modify(self, variety, order_id, form, **_):
        with self._lock:
            row = self._row(order_id)
            meta = self._meta[order_id]
            if row.status in FINAL:
                raise KiteError(400, "OrderException", f"Order cannot be modified as it is {row.status.lower()}.")
            if meta.modifications >= MAX_MODIFICATIONS:
                raise KiteError(400, "OrderException", "Maximum allowed order modifications exceeded.")
            base = self._request_of(row, meta)
            otype = OrderType.parse(_first(form, "order_type", base.order_type.value), "order_type")
            changes: dict = {"order_type": otype}
            if _first(form, "quantity") is not None:
                changes["quantity"] = _int(_first(form, "quantity"), "quantity")
            price, trig = _first(form, "price"), _first(form, "trigger_price")
            changes["price"] = Decimal(price) if price is not None else (base.price if otype in (OrderType.LIMIT, OrderType.SL) else None)
            changes["trigger_price"] = (Decimal(trig) if trig is not None
                                        else (base.trigger_price if otype in (OrderType.SL, OrderType.SLM) else None))
            if _first(form, "validity") is not None:
                changes["validity"] = Validity.parse(_first(form, "validity"), "validity")
            if _first(form, "disclosed_quantity") is not None:
                changes["disclosed_quantity"] = _int(_first(form, "disclosed_quantity"), "disclosed_quantity")
            mp_raw = _first(form, "market_protection")
            if mp_raw is not None:
                changes["market_protection"] = Decimal(mp_raw)
            new = base.with_changes(**changes)
            new = OrderRequest.from_dict(new.to_dict())  # re-validate the combination
            if new.is_market and (new.market_protection is None or new.market_protection == 0):
                raise KiteError(400, "InputException", MSG_NO_PROTECTION)
            self._modifying.add(order_id)
            try:
                self.broker.modify_order(order_id, new)
            except BrokerRejected as e:
                raise KiteError(400, "OrderException", e.broker_message or str(e)) from None
            finally:
                self._modifying.discard(order_id)
            meta.modifications += 1
            meta.modified_at = self.market.now
            if new.market_protection is not None:
                meta.market_protection = float(new.market_protection)
            meta.validity, meta.disclosed_quantity = new.validity.value, new.disclosed_quantity
        return {"order_id": order_id}

    def r_cancel(self, variety, order_id, **_):
        with self._lock:
            row = self._row(order_id)
            if row.status in FINAL:
                raise KiteError(400, "OrderException", f"Order cannot be cancelled as it is {row.status.lower()}.")
            try:
                self.broker.cancel_order(order_id, Variety.parse(variety, "variety"))
            except BrokerRejected as e:
                raise KiteError(400, "OrderException", e.broker_message or str(e)) from None
        return {"order_id": order_id}

    def order_json(self, row: BrokerOrder, meta: _Meta, status: str | None = None) -> dict:
        st = status or row.status
        if meta.variety == "amo" and st == "OPEN" and not self.market.started:
            st = "AMO REQ RECEIVED"
        tags = [meta.tag] if meta.tag else []
        if row.order_type in (OrderType.MARKET, OrderType.SLM) and meta.market_protection:
            tags += ["mktp", f"mktp:{meta.market_protection:.2f}"]
        tags += meta.system_tags
        m: dict = {}
        if meta.variety == "iceberg" and meta.iceberg_legs:
            m = {"iceberg": {"leg": 1, "legs": meta.iceberg_legs, "leg_quantity": meta.iceberg_quantity,
                             "total_quantity": row.quantity, "remaining_quantity": row.quantity - row.filled_quantity}}
            live = self.broker._orders.get(row.broker_order_id)  # the paper exchange's live leg (issue 15)
            ice = live.meta.get("iceberg") if live is not None else None
            if ice:
                m["iceberg"] = {k: ice[k] for k in ("leg", "legs", "leg_quantity", "total_quantity", "remaining_quantity")}
        if meta.gtt is not None:
            m["gtt"] = meta.gtt
        ts = meta.modified_at or meta.placed_at
        exch_ts = row.timestamp if row.exchange_order_id else None
        return {
            "account_id": self.user_id, "placed_by": self.user_id, "terminal_id": None,
            "order_id": row.broker_order_id, "exchange_order_id": row.exchange_order_id,
            "parent_order_id": row.parent_order_id, "status": st, "status_message": row.status_message,
            "status_message_raw": row.status_message, "order_timestamp": _fmt(ts),
            "exchange_update_timestamp": _fmt(exch_ts), "exchange_timestamp": _fmt(exch_ts),
            "variety": meta.variety, "modified": meta.modifications > 0, "exchange": row.exchange.value,
            "tradingsymbol": row.tradingsymbol, "instrument_token": meta.instrument_token,
            "order_type": row.order_type.value, "transaction_type": row.side.value, "validity": meta.validity,
            "validity_ttl": meta.validity_ttl or 0, "product": row.product.value, "quantity": row.quantity,
            "disclosed_quantity": meta.disclosed_quantity, "price": _num(row.price), "trigger_price": _num(row.trigger_price),
            "average_price": _num(row.average_price), "filled_quantity": row.filled_quantity,
            "pending_quantity": row.pending_quantity, "cancelled_quantity": row.cancelled_quantity,
            "market_protection": _num(meta.market_protection), "meta": m, "tag": meta.tag, "tags": tags, "guid": meta.guid,
        }

    def r_orders(self, **_):
        out = []
        for row in self.broker.orders():
            meta = self._meta.get(row.broker_order_id)
            if meta is not None:
                out.append(self.order_json(row, meta))
        return out

    def r_order_history(self, order_id, **_):
        row = self._row(order_id)
        meta = self._meta[order_id]
        hist = self.broker.order_history(order_id)
        out = []
        for k, (ts, status, message) in enumerate(hist):
            last = k == len(hist) - 1
            snap = self.order_json(row, meta, status)
            if not last:
                snap.update(filled_quantity=0 if status not in FINAL else row.filled_quantity, average_price=0,
                            pending_quantity=row.quantity, cancelled_quantity=0)
                if status in ("PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"):
                    snap.update(exchange_order_id=None, exchange_timestamp=None, exchange_update_timestamp=None)
            snap["status_message"] = message if message is not None else (row.status_message if last else None)
            snap["order_timestamp"] = _fmt(ts)
            for key in ("tags", "guid", "account_id", "terminal_id"):
                snap.pop(key, None)
            out.append(snap)
        return out

    def _exchange_ids(self) -> dict[str, str | None]:
        return {r.broker_order_id: r.exchange_order_id for r in self.broker.orders()}

    def _trade_json(self, t: BrokerTrade, eids: dict[str, str | None] | None = None) -> dict:
        meta = self._meta.get(t.broker_order_id)
        row_eid = (eids if eids is not None else self._exchange_ids()).get(t.broker_order_id)
        return {
            "trade_id": t.trade_id, "order_id": t.broker_order_id, "exchange": t.exchange.value,
            "tradingsymbol": t.tradingsymbol,
            "instrument_token": meta.instrument_token if meta else self._instrument(t.exchange.value, t.tradingsymbol).instrument_token,
            "product": t.product.value, "average_price": _num(t.price), "quantity": t.quantity,
            "exchange_order_id": row_eid, "transaction_type": t.side.value, "fill_timestamp": _fmt(t.timestamp),
            "order_timestamp": t.timestamp.astimezone(IST).strftime("%H:%M:%S"), "exchange_timestamp": _fmt(t.timestamp),
        }

    def r_trades(self, **_):
        eids = self._exchange_ids()  # once, not per trade: the trade book stays fast on a long day
        return [self._trade_json(t, eids) for t in self.broker.trades()]

    def r_order_trades(self, order_id, **_):
        self._row(order_id)
        eids = self._exchange_ids()
        return [self._trade_json(t, eids) for t in self.broker.trades() if t.broker_order_id == order_id]

    # -- portfolio ------------------------------------------------------------------------------------
    def _last(self, key: str) -> tuple[float, float]:
        s = self.market.get(key)
        if s is None:
            lp = self.broker.last_price(key) or 0.0
            return lp, lp
        return s.last, s.prev_close

    def r_positions(self, **_):
        flows: dict[tuple, dict] = {}
        for t in self.broker.trades():
            k = (t.exchange.value, t.tradingsymbol, t.product.value)
            f = flows.setdefault(k, {"bq": 0, "bv": ZERO, "sq": 0, "sv": ZERO})
            if t.side is Side.BUY:
                f["bq"] += t.quantity
                f["bv"] += t.price * t.quantity
            else:
                f["sq"] += t.quantity
                f["sv"] += t.price * t.quantity
        net, day = [], []
        positions = {(p.exchange.value, p.tradingsymbol, p.product.value): p for p in self.broker.positions()}
        for k in sorted(set(positions) | set(flows)):
            p = positions.get(k)
            f = flows.get(k, {"bq": 0, "bv": ZERO, "sq": 0, "sv": ZERO})
            inst = self._instrument(k[0], k[1])
            mult = inst.multiplier
            last, close = self._last(inst.key)
            qty = p.quantity if p is not None else f["bq"] - f["sq"]
            overnight = p.overnight_quantity if p is not None else 0
            avg = float(p.average_price) if p is not None else 0.0
            realised = float(p.realised) if p is not None else 0.0
            bq, bv, sq, sv = f["bq"], float(f["bv"]), f["sq"], float(f["sv"])

            def row(quantity, bq, bv, sq, sv, overnight):
                value = (sv - bv) * mult
                pnl = value + quantity * last * mult
                return {
                    "tradingsymbol": k[1], "exchange": k[0], "instrument_token": inst.instrument_token, "product": k[2],
                    "quantity": quantity, "overnight_quantity": overnight, "multiplier": mult,
                    "average_price": avg if quantity else 0, "close_price": close, "last_price": last, "value": value,
                    "pnl": pnl, "m2m": pnl, "unrealised": pnl - realised, "realised": realised,
                    "buy_quantity": bq, "buy_price": bv / bq if bq else 0, "buy_value": bv, "buy_m2m": bv,
                    "sell_quantity": sq, "sell_price": sv / sq if sq else 0, "sell_value": sv, "sell_m2m": sv,
                    "day_buy_quantity": bq, "day_buy_price": bv / bq if bq else 0, "day_buy_value": bv,
                    "day_sell_quantity": sq, "day_sell_price": sv / sq if sq else 0, "day_sell_value": sv,
                }

            net.append(row(qty, bq, bv, sq, sv, overnight))
            if bq or sq:
                day.append(row(bq - sq, bq, bv, sq, sv, 0))
        return {"net": net, "day": day}

    def r_holdings(self, **_):
        out = []
        for h in self.broker.holdings():
            inst = self._instrument(h.exchange.value, h.tradingsymbol)
            last, close = self._last(inst.key)
            qty = h.quantity + h.t1_quantity
            avg = float(h.average_price)
            out.append({
                "tradingsymbol": h.tradingsymbol, "exchange": h.exchange.value, "instrument_token": inst.instrument_token,
                "isin": "", "product": "CNC", "price": 0, "quantity": h.quantity, "used_quantity": 0,
                "t1_quantity": h.t1_quantity, "realised_quantity": h.quantity, "authorised_quantity": 0,
                "authorised_date": "", "authorisation": {}, "opening_quantity": h.quantity, "short_quantity": 0,
                "collateral_quantity": 0, "collateral_type": "", "discrepancy": False, "average_price": avg,
                "last_price": last, "close_price": close, "pnl": (last - avg) * qty, "day_change": last - close,
                "day_change_percentage": (last - close) * 100 / close if close else 0,
                "mtf": {"quantity": 0, "used_quantity": 0, "average_price": 0, "value": 0, "initial_margin": 0},
            })
        return out

    def r_auctions(self, **_):
        return []

    # -- margins and charges ----------------------------------------------------------------------------
    def _order_items(self, body: bytes) -> list[dict]:
        try:
            items = json.loads(body or b"[]")
        except ValueError:
            raise KiteError(400, "InputException", "Invalid JSON body.") from None
        if not isinstance(items, list):
            raise KiteError(400, "InputException", "The body must be a JSON list of orders.")
        return items

    def _charges(self, inst, product: str, side: str, qty: int, price: Decimal) -> Charges:
        if self.charges is None or price <= 0:
            return Charges()
        return self.charges(inst, Product.parse(product, "product"), Side.parse(side, "transaction_type"), qty, price,
                            self.market.trade_date, ZERO)

    def _margin_block(self, item: dict) -> dict:
        for name in ("exchange", "tradingsymbol", "transaction_type", "product", "order_type", "quantity"):
            if item.get(name) in (None, ""):
                raise KiteError(400, "InputException", f"Missing `{name}`")
        inst = self._instrument(item["exchange"], item["tradingsymbol"])
        qty = _int(item["quantity"], "quantity")
        price = dec(item.get("price") or item.get("trigger_price") or self._last(inst.key)[0] or 0, "price")
        product = Product.parse(item["product"], "product")
        side = Side.parse(item["transaction_type"], "transaction_type")
        margin = float(self.broker.margin.required(inst, product, side, qty, price))
        value = float(price) * qty * inst.multiplier
        c = self._charges(inst, product.value, side.value, qty, price)
        commodity = inst.exchange in (Exchange.MCX, Exchange.NCO)
        return {
            "type": "commodity" if commodity else "equity", "tradingsymbol": inst.tradingsymbol,
            "exchange": inst.exchange.value, "span": 0, "exposure": 0, "option_premium": 0, "additional": 0, "bo": 0,
            "cash": 0, "var": margin, "pnl": {"realised": 0, "unrealised": 0},
            "leverage": round(value / margin, 2) if margin else 1, "charges": charges_json(c, inst.exchange.value, commodity),
            "total": margin,
        }

    def r_order_margins(self, body, **_):
        return [self._margin_block(i) for i in self._order_items(body)]

    def r_basket_margins(self, body, **_):
        blocks = [self._margin_block(i) for i in self._order_items(body)]
        total = {k: sum(b[k] for b in blocks) for k in ("span", "exposure", "option_premium", "additional", "bo", "cash", "var", "total")}
        zero_charges = charges_json(Charges(), "")
        zero_charges["transaction_tax_type"] = ""
        agg = {"type": "", "tradingsymbol": "", "exchange": "", **total, "pnl": {"realised": 0, "unrealised": 0},
               "leverage": 0, "charges": zero_charges}
        ch = {"transaction_tax": 0.0, "transaction_tax_type": "", "exchange_turnover_charge": 0.0, "sebi_turnover_charge": 0.0,
              "brokerage": 0.0, "stamp_duty": 0.0, "gst": {"igst": 0.0, "cgst": 0, "sgst": 0, "total": 0.0}, "total": 0.0}
        for b in blocks:
            c = b["charges"]
            for k in ("transaction_tax", "exchange_turnover_charge", "sebi_turnover_charge", "brokerage", "stamp_duty", "total"):
                ch[k] += c[k]
            ch["gst"]["igst"] += c["gst"]["igst"]
            ch["gst"]["total"] += c["gst"]["total"]
        return {"initial": agg, "final": dict(agg), "orders": blocks, "charges": ch}

    def r_charges(self, body, **_):
        out = []
        for item in self._order_items(body):
            for name in ("exchange", "tradingsymbol", "transaction_type", "product", "quantity", "average_price"):
                if item.get(name) in (None, ""):
                    raise KiteError(400, "InputException", f"Missing `{name}`")
            price = dec(item["average_price"], "average_price")
            if price <= 0:
                raise KiteError(400, "InputException", "`average_price` must be greater than 0.")
            inst = self._instrument(item["exchange"], item["tradingsymbol"])
            qty = _int(item["quantity"], "quantity")
            c = self._charges(inst, item["product"], item["transaction_type"], qty, price)
            out.append({
                "transaction_type": item["transaction_type"], "tradingsymbol": inst.tradingsymbol,
                "exchange": inst.exchange.value, "variety": item.get("variety", "regular"), "product": item["product"],
                "order_type": item.get("order_type", "MARKET"), "quantity": qty, "price": float(price),
                "charges": charges_json(c, inst.exchange.value, inst.exchange in (Exchange.MCX, Exchange.NCO)),
            })
        return out

    # -- market data --------------------------------------------------------------------------------------
    def r_instruments(self, exchange=None, **_):
        from tradekit.brokers.kite.sim.dump import instruments_csv
        from tradekit.model.enums import Exchange

        if exchange and exchange not in {e.value for e in Exchange}:
            raise KiteError(400, "InputException", f"Invalid exchange `{exchange}`.")

        def last(key):
            s = self.market.get(key)
            return s.prev_close if s is not None else None

        return Response(200, instruments_csv(self.instruments, exchange, last), "text/csv")

    def _keys(self, query: dict, limit: int) -> list[str]:
        keys = query.get("i") or []
        if isinstance(keys, str):
            keys = [keys]
        if not keys:
            raise KiteError(400, "InputException", "No instruments given (`i`).")
        if len(keys) > limit:
            raise KiteError(400, "InputException", f"Too many instruments: at most {limit} per request.")
        return keys

    def _quote_of(self, key: str, kind: str) -> dict | None:
        s = self.market.get(key)
        if s is None:
            return None
        t = self.market.tick(s, "full")
        if kind == "ltp":
            return {"instrument_token": s.token, "last_price": t.last_price}
        ohlc = {"open": t.open, "high": t.high, "low": t.low, "close": t.close}
        if kind == "ohlc":
            return {"instrument_token": s.token, "last_price": t.last_price, "ohlc": ohlc}
        lo, hi = self.market.band(s)
        pad = [{"price": 0, "quantity": 0, "orders": 0}] * 5
        depth = {
            "buy": [{"price": d.price, "quantity": d.quantity, "orders": d.orders} for d in t.bids] or pad,
            "sell": [{"price": d.price, "quantity": d.quantity, "orders": d.orders} for d in t.asks] or pad,
        }
        return {
            "instrument_token": s.token, "timestamp": _fmt(self.market.now), "last_trade_time": _fmt(t.last_trade_time),
            "last_price": t.last_price, "last_quantity": t.last_quantity, "buy_quantity": t.buy_quantity,
            "sell_quantity": t.sell_quantity, "volume": t.volume, "average_price": t.average_price, "oi": t.oi or 0,
            "oi_day_high": t.oi_day_high or 0, "oi_day_low": t.oi_day_low or 0, "net_change": round(t.change or 0, 2), "lower_circuit_limit": lo,
            "upper_circuit_limit": hi, "ohlc": ohlc, "depth": depth,
        }

    def _quotes(self, query: dict, kind: str, limit: int) -> dict:
        out = {}
        for key in self._keys(query, limit):
            q = self._quote_of(key, kind)
            if q is not None:  # unknown keys are left out, as Kite does
                out[key] = q
        return out

    def r_quote(self, query, **_):
        return self._quotes(query, "full", 500)

    def r_ohlc(self, query, **_):
        return self._quotes(query, "ohlc", 1000)

    def r_ltp(self, query, **_):
        return self._quotes(query, "ltp", 1000)

    def r_historical(self, token, interval, query, **_):
        if interval not in INTERVALS:
            raise KiteError(400, "InputException", f"Invalid interval `{interval}`.")
        try:
            start = datetime.strptime(_need(query, "from"), TS_FMT).replace(tzinfo=IST)
            end = datetime.strptime(_need(query, "to"), TS_FMT).replace(tzinfo=IST)
        except ValueError:
            raise KiteError(400, "InputException", "Invalid `from` or `to`: use YYYY-MM-DD HH:MM:SS.") from None
        if end < start:
            raise KiteError(400, "InputException", "`from` is after `to`.")
        if (end - start).days > INTERVALS[interval]:
            raise KiteError(400, "InputException", f"interval exceeds max limit: {INTERVALS[interval]} days")
        if _first(query, "continuous", "0") in ("1", "true", "True") and interval != "day":
            raise KiteError(400, "InputException", "continuous data is available for day candles only")
        with_oi = _first(query, "oi", "0") in ("1", "true", "True")
        try:
            df = self.market.candles(int(token), interval, start, end)
        except KeyError:
            raise KiteError(400, "InputException", "Invalid `instrument_token`.") from None
        candles = []
        for ts, o, h, lo, c, v in zip(df.index, df["open"], df["high"], df["low"], df["close"], df["volume"]):
            row = [ts.strftime("%Y-%m-%dT%H:%M:%S%z"), _num(o), _num(h), _num(lo), _num(c), int(v)]
            if with_oi:
                row.append(0)
            candles.append(row)
        return {"candles": candles}

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
