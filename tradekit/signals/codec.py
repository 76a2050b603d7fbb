"""A :class:`~tradekit.model.signal.Signal` as a JSON-safe dict and back: journal payloads (``signal.received``,
``signal.parked``), result files, HTTP answers. Split out of :mod:`tradekit.signals.schema` (which re-exports
these names, so ``from tradekit.signals.schema import signal_to_dict`` still works)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.signal import Signal


def _json_default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, datetime):
        return o.isoformat()
    if hasattr(o, "value") and isinstance(getattr(o, "value"), str):  # our enums
        return o.value
    raise TypeError(f"{type(o).__name__} is not a JSON value")


def _plain(v: Any) -> Any:
    # meta is free-form, not money: give back the floats that parse_float=Decimal turned into Decimals.
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _s(x: Any) -> Any:
    return None if x is None else str(x)


def signal_to_dict(s: Signal) -> dict:
    """A JSON-safe dict of a Signal: Decimals as strings, times as ISO 8601, enums as values."""
    # every signal a replay sends passes here: enum members' _value_ (the .value property costs a call),
    # the None-or-str rule (_s) written out for the fixed fields
    price, trigger, ref = s.price, s.trigger_price, s.reference_price
    return {
        "signal_id": s.signal_id,
        "strategy": s.strategy,
        "exchange": s.exchange._value_,
        "tradingsymbol": s.tradingsymbol,
        "side": s.side._value_,
        "quantity": s.quantity,
        "order_type": s.order_type._value_,
        "product": s.product._value_,
        "price": None if price is None else str(price),
        "trigger_price": None if trigger is None else str(trigger),
        "signal_time": None if s.signal_time is None else s.signal_time.isoformat(),
        "expires_at": None if s.expires_at is None else s.expires_at.isoformat(),
        "priority": s.priority,
        "confidence": s.confidence,
        "sizing": None if s.sizing is None else {k: _s(v) if isinstance(v, Decimal) else v for k, v in s.sizing.items()},
        "reference_price": None if ref is None else str(ref),
        # an empty dict needs no JSON round trip (a replay sends thousands of signals without meta)
        "meta": {} if s.meta.__class__ is dict and not s.meta else json.loads(json.dumps(s.meta, default=_json_default)),
    }


def signal_from_dict(d: dict) -> Signal:
    """Rebuild a Signal from :func:`signal_to_dict` output (e.g. a ``signal.received`` payload)."""

    def _d(x: Any) -> Decimal | None:
        return None if x is None else Decimal(str(x))

    def _t(x: Any) -> datetime | None:
        return None if x is None else datetime.fromisoformat(x)

    sizing = d.get("sizing")
    if sizing is not None:
        sizing = {k: (Decimal(v) if k in ("value", "stop") and v is not None else v) for k, v in sizing.items()}
    return Signal(
        signal_id=d["signal_id"],
        strategy=d["strategy"],
        exchange=Exchange(d["exchange"]),
        tradingsymbol=d["tradingsymbol"],
        side=Side(d["side"]),
        quantity=d.get("quantity"),
        order_type=OrderType(d.get("order_type", "MARKET")),
        product=Product(d.get("product", "MIS")),
        price=_d(d.get("price")),
        trigger_price=_d(d.get("trigger_price")),
        signal_time=_t(d.get("signal_time")),
        expires_at=_t(d.get("expires_at")),
        priority=d.get("priority", 0),
        confidence=d.get("confidence"),
        sizing=sizing,
        reference_price=_d(d.get("reference_price")),
        meta=dict(d.get("meta") or {}),
    )
