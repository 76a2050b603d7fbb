"""The published signal schema: one raw record from a strategy engine, and a batch parser.

A signal file (or an HTTP body) holds one JSON object, a JSON list of objects, or JSON Lines
(one object per line). :func:`parse_batch` validates every record on its own: a bad record
becomes a :class:`RecordError` naming its index, the field (dotted path) and the problem, and
the rest of the batch goes on. Numbers are read as exact decimals, never as floats.

The JSON Schema in ``signal.schema.json`` beside this module is generated from
:class:`SignalIn` by :func:`json_schema` (``tradekit signals schema --write`` refreshes it).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationInfo, field_validator
from pydantic import ValidationError as PydanticValidationError

from tradekit.clock import IST
from tradekit.errors import ValidationError
from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.money import dec
from tradekit.model.signal import Signal
from tradekit.signals.bracket_fields import BracketFieldsMixin, Level, TargetIn, TrailIn, bracket_meta
from tradekit.signals.algo_fields import AlgoSpec, SlicingSpec, signal_meta  # issue 15: algo / slicing fields
from tradekit.signals.limits import DEFAULT_LIMITS, Limits, check_record, loads, structure
from tradekit.signals.condition_fields import ConditionField
# Signal <-> JSON-safe dict lives in codec.py; re-exported here for every existing import
from tradekit.signals.codec import _json_default, _plain, _s, signal_from_dict, signal_to_dict  # noqa: F401


SCHEMA_PATH = Path(__file__).with_name("signal.schema.json")
SCHEMA_ID = "https://tradekit.local/schemas/signal.schema.json"
MAX_KEY_LENGTH = 64
RESERVED_META_KEYS = ("validity", "tag", "bracket")  # to_signal() stores these in Signal.meta
SIZING_RULES = ("fixed_value", "risk_pct", "capital_pct")
# Names a Kite-minded engine may use for our fields: turned into a "did you mean" hint.
# Times outside these years are refused: datetime arithmetic overflows near years 1 and 9999.
MIN_YEAR, MAX_YEAR = 1970, 2200
MAX_TTL_SECONDS = 366 * 86400  # a signal lives at most a year
_KITE_NAMES = {"tradingsymbol": "symbol", "transaction_type": "side", "signal_id": "idempotency_key",
               "trigger": "trigger_price", "expiry": "expires_at", "ttl": "ttl_seconds", "qty": "quantity"}


def _a(v: Any) -> str:
    """'a list', 'an int': the JSON-ish kind of a value, for messages."""
    kinds = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    name = kinds.get(type(v), type(v).__name__)
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _shown(v: Any) -> str:
    """A value as a message shows it: 2.5, not Decimal('2.5') (JSON numbers are read as Decimals)."""
    return str(v) if isinstance(v, Decimal) else repr(v)


def _reason(e: ValidationError) -> str:
    return e.reason


def _decimal(v: Any, name: str, *, positive: bool = True) -> Decimal:
    # A float here came from a Python caller; JSON text is parsed with parse_float=Decimal.
    try:
        d = dec(v, name)
    except ValidationError as e:
        raise ValueError(_reason(e)) from None
    if positive and d <= 0:
        raise ValueError(f"must be greater than 0, {d} was received")
    return d


def _whole(v: Any, what: str = "a whole number") -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"must be {what}, {_shown(v)} was received")
    return v


def _confidence(v: Any) -> float | None:
    """A signal's ``confidence``: None, or a finite number (not a bool) as a float (its range is the field's)."""
    if v is None:
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float, Decimal)):
        raise ValueError(f"must be a number from 0 to 1, {_shown(v)} was received")
    try:
        f = float(v)
    except OverflowError:  # an int past a float's range
        f = math.inf
    if not math.isfinite(f):
        raise ValueError(f"must be a number from 0 to 1, {_shown(v)} was received")
    return f


def _aware(v: Any) -> datetime:
    if isinstance(v, datetime):
        ts = v
    elif isinstance(v, str):
        try:
            ts = datetime.fromisoformat(v.strip())
        except ValueError:
            raise ValueError(f"{v!r} is not an ISO 8601 date-time (e.g. 2026-11-23T09:15:00+05:30)") from None
    else:
        raise ValueError(f"must be an ISO 8601 date-time string with a UTC offset, {_shown(v)} was received")
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{ts.isoformat()!r} has no UTC offset; write e.g. 2026-11-23T09:15:00+05:30 (IST) or ...Z (UTC)")
    if not MIN_YEAR <= ts.year <= MAX_YEAR:
        raise ValueError(f"{ts.isoformat()!r} is outside the years {MIN_YEAR}-{MAX_YEAR}")
    return ts.astimezone(IST)


def _enum(cls, v: Any, name: str):
    if isinstance(v, Decimal):
        v = float(v)  # for the message only: no enum value is a number
    try:
        return cls.parse(v, name)
    except ValidationError as e:
        raise ValueError(_reason(e)) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_Price = Annotated[Decimal, Field(description="rupees; a JSON number or a numeric string")]


class FixedValue(_Strict):
    """Trade about `value` rupees' worth: quantity = value / price, rounded down to the lot."""

    rule: Literal["fixed_value"]
    value: _Price

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, v: Any) -> Decimal:
        return _decimal(v, "value")


class RiskPct(_Strict):
    """Risk `value` percent of capital between the entry price and `stop` (default: trigger_price;
    without either, the stop distance is measured by the config's `risk.sizing.method`)."""

    rule: Literal["risk_pct"]
    value: Annotated[Decimal, Field(description="percent of capital at risk, above 0 and at most 100")]
    stop: _Price | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, v: Any) -> Decimal:
        d = _decimal(v, "value")
        if d > 100:
            raise ValueError(f"is a percent of capital and must be at most 100, {d} was received")
        return d

    @field_validator("stop", mode="before")
    @classmethod
    def _stop(cls, v: Any) -> Decimal | None:
        return None if v is None else _decimal(v, "stop")


class CapitalPct(_Strict):
    """Put `value` percent of capital into the position."""

    rule: Literal["capital_pct"]
    value: Annotated[Decimal, Field(description="percent of capital, above 0 and at most 100")]

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, v: Any) -> Decimal:
        d = _decimal(v, "value")
        if d > 100:
            raise ValueError(f"is a percent of capital and must be at most 100, {d} was received")
        return d


Sizing = Annotated[Union[FixedValue, RiskPct, CapitalPct], Field(discriminator="rule")]

_EXTRA_SCHEMA = {
    "description": "One trading signal. Unknown fields are refused; enum values are case-insensitive; "
    "prices are rupees; times are ISO 8601 with a UTC offset. Give quantity or sizing, and expires_at "
    "or ttl_seconds (or neither: the configured default TTL applies).",
    "examples": [
        {
            "idempotency_key": "momo-20261123-0915-RELIANCE",
            "strategy": "momo",
            "signal_time": "2026-11-23T09:15:02+05:30",
            "ttl_seconds": 120,
            "symbol": "RELIANCE",
            "side": "BUY",
            "quantity": 10,
            "order_type": "LIMIT",
            "price": 2450.5,
            "product": "MIS",
            "priority": 5,
            "confidence": 0.7,
        }
    ],
    # Rules the per-field schema cannot say on its own; SignalIn enforces the same.
    "allOf": [
        {"oneOf": [{"required": ["quantity"]}, {"required": ["sizing"]}]},
        {"not": {"required": ["expires_at", "ttl_seconds"]}},
        {"if": {"properties": {"order_type": {"enum": ["LIMIT", "SL"]}}, "required": ["order_type"]},
         "then": {"required": ["price"]}},
        {"if": {"properties": {"order_type": {"enum": ["SL", "SL-M"]}}, "required": ["order_type"]},
         "then": {"required": ["trigger_price"]}},
    ],
}


class SignalIn(BracketFieldsMixin):
    """One raw signal record, as a strategy engine writes it.

    Unknown fields are refused (a typo is an error, not a silent default). Enum values are
    case-insensitive. Prices are rupees. Times are ISO 8601 with a UTC offset.

    Examples
    --------
    >>> SignalIn.model_validate({"idempotency_key": "k1", "strategy": "momo", "symbol": "INFY",
    ...     "side": "buy", "quantity": 5, "signal_time": "2026-11-23T09:15:00+05:30"}).to_signal().side
    <Side.BUY: 'BUY'>
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, title="Signal", json_schema_extra=_EXTRA_SCHEMA,
    )

    idempotency_key: str = Field(
        min_length=1, max_length=MAX_KEY_LENGTH, pattern=r"^[!-~]+$",
        description="the dedupe key: a signal sent twice with the same key makes one proposal; "
        f"1-{MAX_KEY_LENGTH} printable ASCII characters, no spaces; becomes Signal.signal_id",
    )
    strategy: str = Field(min_length=1, max_length=64, description="the strategy's name; routes the signal to auto or manual approval")
    signal_time: datetime = Field(description="when the strategy made the signal, ISO 8601 with a UTC offset")
    expires_at: datetime | None = Field(None, description="drop the signal after this time (ISO 8601 with offset)")
    ttl_seconds: int | None = Field(None, gt=0, le=MAX_TTL_SECONDS,
                                    description="or: drop the signal this many seconds after signal_time (at most a year)")
    symbol: str = Field(min_length=1, max_length=64, description="the exchange trading symbol (Kite's tradingsymbol), e.g. RELIANCE, NIFTY26NOVFUT")
    exchange: Exchange = Field(Exchange.NSE, description="exchange segment (default NSE)")
    side: Side = Field(description="BUY or SELL")
    order_type: OrderType = Field(OrderType.MARKET, description="MARKET, LIMIT, SL (stop-limit) or SL-M (stop-market)")
    price: _Price | None = Field(None, validate_default=True, description="limit price: required for LIMIT and SL, not allowed otherwise")
    trigger_price: _Price | None = Field(
        None, validate_default=True, description="stop trigger: required for SL and SL-M, not allowed otherwise"
    )
    reference_price: _Price | None = Field(None, description="the price the strategy saw (slippage analytics, sizing)")
    product: Product = Field(Product.MIS, description="CNC, MIS, NRML or MTF (default MIS)")
    validity: Literal["DAY", "IOC"] = Field("DAY", description="DAY or IOC")
    quantity: int | None = Field(None, gt=0, description="shares or units (a multiple of the lot for F&O); or give sizing")
    sizing: Sizing | None = Field(
        None, validate_default=True, description="a sizing rule instead of quantity: fixed_value, risk_pct or capital_pct"
    )
    priority: int = Field(0, description="higher goes first")
    confidence: float | None = Field(None, ge=0, le=1, description="the strategy's confidence, 0 to 1")
    tag: str | None = Field(None, min_length=1, max_length=64, description="a free label carried to reports")
    meta: dict[str, Any] = Field(default_factory=dict, description="free JSON object carried with the signal")
    # brackets (tradekit/signals/bracket_fields.py): the entry with a stop-loss, targets and a trailing stop
    stop: Level | None = Field(None, description="a bracket's stop-loss: {price} or {points}/{percent} from the entry")
    targets: list[TargetIn] | None = Field(None, max_length=10, description="a bracket's targets: [{price|points|percent, share}]")
    trail: TrailIn | None = Field(None, description="trail the stop: {kind: points|percent|atr, value, atr_period}")
    algo: AlgoSpec | None = Field(None, description="work the order with an execution algorithm: twap, vwap or pov "
                                                    "(tradekit/signals/algo_fields.py)")
    slicing: SlicingSpec | None = Field(None, description="send the order as Kite's iceberg variety: {kind: iceberg, legs}")
    condition: ConditionField | None = Field(None, description="hold the order until a trigger: price, symbol, time, indicator (tradekit/signals/condition_fields.py)")

    # -- per-field rules (pydantic validates fields in the order declared above) ----------------
    @field_validator("idempotency_key", "strategy", "symbol", "tag", mode="before")
    @classmethod
    def _text(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None and info.field_name == "tag":
            return v
        if not isinstance(v, str):
            raise ValueError(f"must be a string, {_shown(v)} was received")
        if info.field_name == "idempotency_key":
            # Used verbatim (altering it would break dedupe across senders), so check strictly.
            if not 0 < len(v) <= MAX_KEY_LENGTH:
                raise ValueError(f"must be 1 to {MAX_KEY_LENGTH} characters, {len(v)} were received")
            if not re.fullmatch(r"[!-~]+", v):
                raise ValueError(f"{v!r} may hold only printable ASCII characters without spaces")
            return v
        v = v.strip()
        if not v:
            raise ValueError("must not be empty")
        if info.field_name == "symbol":
            if any(c.isspace() for c in v):
                raise ValueError(f"{v!r} is not a trading symbol (it has spaces)")
            return v.upper()
        return v

    @field_validator("signal_time", "expires_at", mode="before")
    @classmethod
    def _times(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None and info.field_name == "expires_at":
            return v
        return _aware(v)

    @field_validator("expires_at")
    @classmethod
    def _expires_after_signal(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        st = info.data.get("signal_time")
        if v is not None and st is not None and v <= st:
            raise ValueError(f"{v.isoformat()} is not after signal_time {st.isoformat()}")
        return v

    @field_validator("ttl_seconds", "quantity", "priority", mode="before")
    @classmethod
    def _ints(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None and info.field_name != "priority":
            return v
        return _whole(v)

    @field_validator("ttl_seconds")
    @classmethod
    def _one_expiry(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is not None and info.data.get("expires_at") is not None:
            raise ValueError("give expires_at or ttl_seconds, not both")
        return v

    @field_validator("exchange", "side", "order_type", "product", mode="before")
    @classmethod
    def _enums(cls, v: Any, info: ValidationInfo) -> Any:
        enum = {"exchange": Exchange, "side": Side, "order_type": OrderType, "product": Product}[info.field_name]
        return _enum(enum, v, info.field_name)

    @field_validator("validity", mode="before")
    @classmethod
    def _validity(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().upper() in ("DAY", "IOC"):
            return v.strip().upper()
        raise ValueError(f"{_shown(v)} is not one of DAY, IOC")

    @field_validator("price", "trigger_price", "reference_price", mode="before")
    @classmethod
    def _prices(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:
            return v
        return _decimal(v, info.field_name, positive=False)

    @field_validator("price")
    @classmethod
    def _price_rule(cls, v: Decimal | None, info: ValidationInfo) -> Decimal | None:
        # The same rule as OrderRequest (a test checks every combination against it).
        ot = info.data.get("order_type")
        if ot is None:
            return v  # order_type itself is wrong and has its own error
        if ot in (OrderType.LIMIT, OrderType.SL):
            if v is None or v <= 0:
                raise ValueError(f"a {ot.value} order needs a positive price")
            return v
        if v not in (None, Decimal(0)):
            raise ValueError(f"a {ot.value} order takes no price")
        return None

    @field_validator("trigger_price")
    @classmethod
    def _trigger_rule(cls, v: Decimal | None, info: ValidationInfo) -> Decimal | None:
        ot = info.data.get("order_type")
        if ot is None:
            return v
        if ot in (OrderType.SL, OrderType.SLM):
            if v is None or v <= 0:
                raise ValueError(f"a {ot.value} order needs a positive trigger_price")
            price, side = info.data.get("price"), info.data.get("side")
            if ot is OrderType.SL and price is not None and side is not None:
                # A buy stop triggers on the way up (trigger <= limit); a sell stop the other way.
                if side is Side.BUY and v > price:
                    raise ValueError("a BUY SL order needs trigger_price <= price")
                if side is Side.SELL and v < price:
                    raise ValueError("a SELL SL order needs trigger_price >= price")
            return v
        if v not in (None, Decimal(0)):
            raise ValueError(f"a {ot.value} order takes no trigger_price")
        return None

    @field_validator("reference_price")
    @classmethod
    def _reference_positive(cls, v: Decimal | None) -> Decimal | None:
        if v is not None and v <= 0:
            raise ValueError(f"must be greater than 0, {v} was received")
        return v

    @field_validator("sizing", mode="before")
    @classmethod
    def _sizing_rule_case(cls, v: Any) -> Any:
        if isinstance(v, dict) and isinstance(v.get("rule"), str):
            v = {**v, "rule": v["rule"].strip().lower()}
        return v

    @field_validator("sizing")
    @classmethod
    def _quantity_or_sizing(cls, v: Any, info: ValidationInfo) -> Any:
        if "quantity" not in info.data:
            return v  # quantity is wrong and has its own error
        q = info.data["quantity"]
        if q is None and v is None:
            raise ValueError("give quantity or a sizing rule; neither was received")
        if q is not None and v is not None:
            raise ValueError("give quantity or a sizing rule, not both")
        if isinstance(v, RiskPct):
            stop = v.stop if v.stop is not None else info.data.get("trigger_price")
            entry = info.data.get("price") or info.data.get("reference_price")
            side = info.data.get("side")
            if stop is not None and entry is not None and side is not None:
                if side is Side.BUY and stop >= entry:
                    raise ValueError(f"the stop {stop} of a BUY must be below the entry price {entry}")
                if side is Side.SELL and stop <= entry:
                    raise ValueError(f"the stop {stop} of a SELL must be above the entry price {entry}")
            if v.stop is None:
                v = v.model_copy(update={"stop": stop})
        return v

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, v: Any) -> Any:
        return _confidence(v)

    @field_validator("meta", mode="before")
    @classmethod
    def _meta(cls, v: Any) -> Any:
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise ValueError(f"must be a JSON object, {_a(v)} was received")
        clash = [k for k in RESERVED_META_KEYS if k in v]
        if clash:
            raise ValueError(f"{', '.join(repr(k) for k in clash)} is reserved; use the top-level field instead")
        try:
            json.dumps(v, default=_json_default)
        except (TypeError, ValueError) as e:
            raise ValueError(f"must hold only JSON values ({e})") from None
        return _plain(v)

    # -- conversion ----------------------------------------------------------------------------
    @property
    def expiry(self) -> datetime | None:
        """The absolute expiry: ``expires_at``, or ``signal_time + ttl_seconds``."""
        if self.expires_at is not None:
            return self.expires_at
        if self.ttl_seconds is not None:
            return self.signal_time + timedelta(seconds=self.ttl_seconds)
        return None

    def to_signal(self) -> Signal:
        """The domain :class:`~tradekit.model.Signal`.

        ``validity`` and ``tag`` have no slot on ``Signal`` and travel in ``Signal.meta``
        (``meta["validity"]`` is always set).
        """
        meta = dict(self.meta)
        meta.update(signal_meta(self.algo, self.slicing))  # issue 15: algo / slicing (tradekit/signals/algo_fields.py)
        meta["validity"] = self.validity
        if self.tag is not None:
            meta["tag"] = self.tag
        meta.update(bracket_meta(self))  # stop / targets / trail: the session submits a bracket
        if self.condition is not None:  # armed by the session instead of sent (tradekit.execution.conditions)
            meta["condition"] = self.condition
        sizing = None
        if self.sizing is not None:
            sizing = {k: v for k, v in self.sizing.model_dump().items() if v is not None}
        return Signal(
            signal_id=self.idempotency_key,
            strategy=self.strategy,
            exchange=self.exchange,
            tradingsymbol=self.symbol,
            side=self.side,
            quantity=self.quantity,
            order_type=self.order_type,
            product=self.product,
            price=self.price,
            trigger_price=self.trigger_price,
            signal_time=self.signal_time,
            expires_at=self.expiry,
            priority=self.priority,
            confidence=self.confidence,
            sizing=sizing,
            reference_price=self.reference_price,
            meta=meta,
        )


# -- batches ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RecordError:
    """One problem in one record. ``index`` is None for a problem with the whole file/body;
    ``field`` is a dotted path (``sizing.stop``), or None for the record as a whole."""

    index: int | None
    field: str | None
    message: str
    raw: Any = None

    @property
    def key(self) -> str | None:
        """The record's idempotency_key, when it had a usable one."""
        k = self.raw.get("idempotency_key") if isinstance(self.raw, dict) else None
        return k if isinstance(k, str) and 0 < len(k) <= MAX_KEY_LENGTH else None

    def __str__(self) -> str:
        where = "file" if self.index is None else f"record {self.index}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def to_dict(self) -> dict:
        return {"index": self.index, "field": self.field, "message": self.message, "idempotency_key": self.key}


@dataclass(slots=True)
class BatchResult:
    """Outcome of :func:`parse_batch`: the valid signals and one error per problem."""

    accepted: list[Signal] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    records: int = 0  # how many records the input held (0 when it was not JSON at all)
    too_many: bool = False  # over limits.max_records: refused whole, no record read

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_records(self) -> int:
        return len({e.index for e in self.errors})


def _loc_to_field(loc: tuple) -> str | None:
    parts = [str(x) for x in loc]
    if len(parts) >= 2 and parts[0] == "sizing" and parts[1] in SIZING_RULES:
        del parts[1]  # pydantic puts the union's tag in the path; the user never wrote it
    return ".".join(parts) or None


def _unknown_field(loc: tuple, record: Any) -> str:
    name = str(loc[-1])
    if len(loc) == 1:
        known = list(SignalIn.model_fields)
        hint = _KITE_NAMES.get(name)
    else:  # inside sizing: the allowed names depend on the rule
        sizing = record.get("sizing") if isinstance(record, dict) else None
        rule = str(sizing.get("rule")).lower() if isinstance(sizing, dict) else ""
        model = {"fixed_value": FixedValue, "risk_pct": RiskPct, "capital_pct": CapitalPct}.get(rule)
        known = list(model.model_fields) if model else []
        hint = None
    hint = hint or next(iter(difflib.get_close_matches(name, known, n=1)), None)
    if hint:
        return f"unknown field (did you mean '{hint}'?)"
    return "unknown field" + (f"; allowed: {', '.join(known)}" if known else "")


def _message(err: dict, record: Any) -> str:
    typ = err.get("type", "")
    loc = tuple(err.get("loc", ()))
    if typ == "missing":
        return "required field is missing"
    if typ == "extra_forbidden":
        return _unknown_field(loc, record)
    if typ in ("union_tag_not_found", "union_tag_invalid"):
        return f"needs a rule: one of {', '.join(SIZING_RULES)}" + (
            f" ({err.get('input', {}).get('rule')!r} was received)" if typ == "union_tag_invalid" else ""
        )
    if typ in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a JSON object, {_shown(err.get('input'))} was received"
    msg = err.get("msg", "invalid value")
    if msg.startswith("Value error, "):
        return msg[len("Value error, "):]
    given = err.get("input")
    msg = msg.replace("Input should be", "must be").replace("String should", "must")
    if not isinstance(given, (dict, list)) and given is not None:
        msg += f" ({_shown(given)} was received)"
    return msg


def validate_record(record: Any, index: int = 0, limits: Limits = DEFAULT_LIMITS) -> tuple[Signal | None, list[RecordError]]:
    """Validate one record: ``(signal, [])`` or ``(None, errors)`` naming each bad field.

    Never raises: values out of bounds (``limits``) are errors for this record, and anything
    unforeseen that a validator raises becomes an error too.
    """
    if not isinstance(record, dict):
        return None, [RecordError(index, None, _short(f"must be a JSON object, {_a(record)} was received"), record)]
    if "basket" in record:  # a multi-leg basket as one signal (issue 21): tradekit/signals/basket_fields.py
        from tradekit.signals.basket_fields import validate_basket_record

        return validate_basket_record(record, index, limits)
    problems = check_record(record, limits)
    if problems:
        return None, [RecordError(index, f, _short(m), record) for f, m in problems]
    try:
        return SignalIn.model_validate(record).to_signal(), []
    except PydanticValidationError as e:
        return None, [
            RecordError(index, _loc_to_field(tuple(x["loc"])), _short(_message(x, record)), record) for x in e.errors()
        ]
    except Exception as e:  # an overflow or the like that no validator foresaw: this record only
        return None, [RecordError(index, None, _short(f"could not be read: {type(e).__name__}: {e}"), record)]


def _short(msg: str, n: int = 300) -> str:
    return msg if len(msg) <= n else msg[: n - 1] + "…"


def _decode(data: str | bytes) -> str:
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            return bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ValidationError(f"not UTF-8 text (byte {e.start})") from None
    return data[1:] if data.startswith("\ufeff") else data


def parse_batch(data: Any, *, fmt: Literal["auto", "json", "jsonl"] = "auto", limits: Limits | None = None) -> BatchResult:
    """Validate a batch of signal records; every bad record is reported, the rest go on.

    Never raises, whatever ``data`` holds.

    Parameters
    ----------
    data
        JSON text or bytes (one object, a list, or JSON Lines), or an already parsed
        ``dict`` / ``list``.
    fmt
        ``"json"`` (the whole text is one JSON value), ``"jsonl"`` (one object per line) or
        ``"auto"``: JSON, else JSON Lines when the text has several lines and one of them is
        a JSON object.
    limits
        Bounds on records, nesting, digits and strings (default :data:`~tradekit.signals.limits.DEFAULT_LIMITS`;
        the pipeline passes the ``signals:`` settings).

    Returns
    -------
    BatchResult
        ``accepted`` signals in input order and ``errors`` naming index, field and problem.
        Text that is not JSON at all is one error with ``index=None``; so is a batch of more
        than ``limits.max_records`` records (``too_many`` is then True and no record is read).
    """
    lim = limits or DEFAULT_LIMITS
    out = BatchResult()
    if isinstance(data, (str, bytes, bytearray, memoryview)):
        try:
            text = _decode(data)
        except ValidationError as e:
            out.errors.append(RecordError(None, None, e.reason, None))
            return out
        records = _split(text, fmt, out, lim)
        if records is None:
            return out
    elif isinstance(data, list):
        records = list(enumerate(data))
    else:
        records = [(0, data)]
    out.records = len(records)
    if len(records) > lim.max_records:
        out.too_many = True
        out.errors.append(RecordError(None, None, f"{len(records):,} records is over the limit of {lim.max_records:,} "
                                                  "per batch (signals.max_records_per_batch); split the batch", None))
        return out
    for index, rec in records:
        if isinstance(rec, RecordError):
            out.errors.append(rec)
            continue
        sig, errs = validate_record(rec, index, lim)
        if sig is not None:
            out.accepted.append(sig)
        out.errors.extend(errs)
    return out


def _not_json(e: json.JSONDecodeError, where: str = "") -> str:
    return f"not JSON: {e.msg} at {where}column {e.colno}"


def _too_deep(lim: Limits) -> str:
    return f"nested deeper than {lim.max_depth} levels (signals.max_depth)"


def _one(text: str, index: int, lim: Limits, *, extra: int = 0) -> Any:
    """One record's text parsed, or a RecordError; nesting is checked before parsing."""
    if structure(text).depth > lim.max_depth + extra:
        return RecordError(index, None, _too_deep(lim), text[:200])
    try:
        return loads(text)
    except json.JSONDecodeError as e:
        return RecordError(index, None, _not_json(e), text[:200])


def _split(text: str, fmt: str, out: BatchResult, lim: Limits) -> list[tuple[int, Any]] | None:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        out.errors.append(RecordError(None, None, "empty: no signal records", None))
        return None
    if fmt != "jsonl":
        st = structure(text)
        if st.depth > lim.max_depth + 1:
            # Too deep to parse whole: a list is read element by element, so only the deep
            # records fail; anything else is one record or JSON Lines.
            if st.elements is not None:
                if len(st.elements) > lim.max_records:
                    return [(i, None) for i in range(len(st.elements))]  # refused on count, unread
                return [(i, _one(text[a:b], i, lim)) for i, (a, b, _) in enumerate(st.elements)]
            if fmt == "json" or len(lines) == 1:
                out.errors.append(RecordError(0 if text.lstrip()[:1] == "{" else None, None, _too_deep(lim), text[:200]))
                return None
        else:
            try:
                obj = loads(text)
            except json.JSONDecodeError as e:
                lines_ok = False
                if fmt == "auto" and 1 < len(lines) <= lim.max_records:
                    # JSON Lines when some line is a JSON object (a junk first line must not hide them)
                    lines_ok = any(ln.lstrip()[:1] == "{" and isinstance(_one(ln, 0, lim), dict) for ln in lines)
                elif fmt == "auto" and len(lines) > lim.max_records:
                    lines_ok = True  # refused on count below
                if not lines_ok:
                    out.errors.append(RecordError(None, None, f"not JSON: {e.msg} at line {e.lineno}, column {e.colno}",
                                                  text[:200]))
                    return None
            else:
                if isinstance(obj, list):
                    if not obj:
                        out.errors.append(RecordError(None, None, "empty list: no signal records", None))
                        return None
                    return list(enumerate(obj))
                return [(0, obj)]
    if len(lines) > lim.max_records:
        return [(i, None) for i in range(len(lines))]  # refused on count, unread
    return [(i, _one(line, i, lim)) for i, line in enumerate(lines)]


# -- the published JSON Schema -------------------------------------------------------------------
def json_schema() -> dict:
    """The JSON Schema of a signal file: one signal object or a list of them.

    JSON Lines files hold one such object per line. Enum values are listed in upper case;
    the parser also takes them in any case.
    """
    from tradekit.signals.basket_fields import BasketSignalIn  # a basket signal (issue 21)

    one = Union[SignalIn, BasketSignalIn]
    body = TypeAdapter(Union[one, list[one]]).json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "tradekit signal file",
        "description": "One signal object, or a list of them (a .jsonl file holds one object per line). "
        "See tradekit/signals/README.md.",
        **body,
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_json_schema(path: str | Path = SCHEMA_PATH) -> Path:
    """Write the JSON Schema file (the committed copy lives beside this module)."""
    p = Path(path)
    p.write_text(json_schema_text(), encoding="utf-8")
    return p
