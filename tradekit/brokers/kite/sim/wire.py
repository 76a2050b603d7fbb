"""The sandbox's wire format: Kite's envelopes, error answers, value formats and the per-order records.

Shared by the routes of :class:`~tradekit.brokers.kite.sim.app.KiteSimApp` (its login, orders,
portfolio, quote and GTT parts); every name stays importable from :mod:`tradekit.brokers.kite.sim.app`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from tradekit.clock import IST
from tradekit.model.charges import Charges

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TS_FMT = "%Y-%m-%d %H:%M:%S"
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
