"""A multi-leg basket as ONE signal (issue 21): the ``basket`` form of a signal record.

A record with a ``basket`` object (and no ``symbol``/``side``/``quantity``) asks for one basket —
a named strategy resolved against the instrument master, or custom legs — exactly what
``session.basket(...)`` places from a notebook (:mod:`tradekit.execution.basket`)::

    {"idempotency_key": "ic-20260817-0930", "strategy": "ic_engine", "signal_time": "...+05:30", "ttl_seconds": 600,
     "basket": {"strategy": "iron_condor", "underlying": "NIFTY", "expiry": "2026-08-18", "spot": 24870,
                "put_buy": "ATM-3", "put_sell": "ATM-1", "call_sell": "ATM+1", "call_buy": "ATM+3", "lots": 1,
                "premiums": {"NFO:NIFTY2681824700PE": 40, ...}, "product": "NRML", "on_leg_failure": "unwind"}}

    "basket": {"strategy": "custom", "legs": [
        {"exchange": "NFO", "tradingsymbol": "NIFTY2681824700PE", "side": "BUY", "quantity": 65, "price": 40},
        {"kind": "CE", "strike": "ATM+1", "expiry": "near", "side": "SELL", "lots": 1, "order_type": "MARKET"}],
        "underlying": "NIFTY", "spot": 24870}

It goes the way every signal goes: validated here (each error names its field, ``basket.legs[2].side``,
and loses nothing else of the batch), de-duplicated by ``idempotency_key`` (also after a restart:
the journal's ``signal.received``), ordered, journaled and handed to the session, whose sink
(:meth:`tradekit.session_orders.OrderRouting.submit_signal`) proposes ONE basket: the gate checks each
leg and the basket as a whole, one approval card shows it, the legs go buys first with the
basket's failure policy (``on_leg_failure``), and the journal links every leg to the basket and
the basket's head order to this signal.

What is checked here, before anything is resolved: the shape and types of every field, the
parameters the named strategy takes (``put_buy`` is no straddle's), 1 to ``signals.max_basket_legs``
legs, no leg given twice, one exchange for all legs, lots and quantities above 0 and at most
:data:`MAX_LOTS` lots. What needs the instrument master (a listed strike, a tradingsymbol that
exists, a quantity that is a whole number of lots, one underlying) is checked when the session
takes the signal; such a refusal is journaled as ``signal.rejected`` (``refused``) naming the field.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from tradekit.errors import ValidationError
from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.signal import Signal
from tradekit.signals.schema import _confidence, _shown, _whole  # the single-order form's field rules

MAX_LOTS = 100_000  # per leg; far past any contract's freeze quantity, so only nonsense is refused here
MAX_LEGS_HARD = 100  # the most signals.max_basket_legs may be set to
STRATEGIES = ("straddle", "strangle", "bull_call", "bear_call", "bull_put", "bear_put", "iron_condor", "calendar",
              "custom")
# the parameters each named strategy takes (tradekit.options.strategies builders), beside the common ones
_PARAMS = {
    "straddle": {"expiry", "strike", "side", "lots"},
    "strangle": {"expiry", "call_strike", "put_strike", "side", "lots"},
    "bull_call": {"expiry", "lower", "upper", "lots"}, "bear_call": {"expiry", "lower", "upper", "lots"},
    "bull_put": {"expiry", "lower", "upper", "lots"}, "bear_put": {"expiry", "lower", "upper", "lots"},
    "iron_condor": {"expiry", "put_buy", "put_sell", "call_sell", "call_buy", "side", "lots"},
    "calendar": {"near", "far", "strike", "kind", "side", "lots"},
    "custom": {"legs"},
}
_COMMON = {"strategy", "underlying", "exchange", "spot", "premiums", "name", "product", "order_type",
           "on_leg_failure", "retries"}
_BUILDER_ARGS = set().union(*_PARAMS.values()) - {"legs"}
_OFFSET = re.compile(r"^\s*ATM\s*(?:([+-])\s*(\d+))?\s*$", re.IGNORECASE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# -- field rules ----------------------------------------------------------------------------------
def _enum(cls, v: Any, name: str):
    try:
        return cls.parse(float(v) if isinstance(v, Decimal) else v, name)
    except ValidationError as e:
        raise ValueError(e.reason) from None


def _positive_decimal(v: Any, *, zero: bool = False) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (int, float, str, Decimal)):
        raise ValueError(f"must be a number, {_shown(v)} was received")
    try:
        d = Decimal(str(v).strip())
    except ArithmeticError:
        raise ValueError(f"must be a number, {_shown(v)} was received") from None
    if not d.is_finite():
        raise ValueError(f"must be a finite number, {_shown(v)} was received")
    if d < 0 or (d == 0 and not zero):
        raise ValueError(f"must be {'0 or more' if zero else 'above 0'}, {_shown(v)} was received")
    if d.adjusted() > 12:
        raise ValueError(f"{_shown(v)} is out of range")
    return d


def _count(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"must be a whole number of {what}, {_shown(v)} was received")
    if v <= 0:
        raise ValueError(f"must be above 0, {v} was received")
    return v


def _strike(v: Any) -> str | Decimal:
    """A listed strike (a number) or an offset from the at-the-money strike: ``ATM``, ``ATM+2``, ``ATM-1``."""
    if isinstance(v, str) and _OFFSET.match(v):
        m = _OFFSET.match(v)
        return "ATM" + (f"{m.group(1)}{int(m.group(2))}" if m.group(2) else "")
    try:
        return _positive_decimal(v)
    except ValueError:
        raise ValueError(f"must be a strike (a number) or ATM, ATM+n, ATM-n; {_shown(v)} was received") from None


def _expiry(v: Any) -> str | int:
    """A date (``2026-08-18``), ``near``/``next``/``far``, or an index (0 = the nearest)."""
    if isinstance(v, int) and not isinstance(v, bool):
        if not 0 <= v <= 24:
            raise ValueError(f"an expiry index is 0 (the nearest) to 24, {v} was received")
        return v
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("near", "next", "far"):
            return s
        if _DATE.match(s):
            try:
                date.fromisoformat(s)
            except ValueError:
                raise ValueError(f"{v!r} is not a date") from None
            return s
    raise ValueError(f"must be a date (YYYY-MM-DD), near, next, far or an index, {_shown(v)} was received")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_StrikeSpec = Decimal | str
_ExpirySpec = str | int


class BasketLegIn(_Strict):
    """One leg of a custom basket: a contract by ``tradingsymbol``, or by ``kind``/``strike``/``expiry`` on the
    basket's underlying; ``lots`` or ``quantity`` (a whole number of lots); an optional ``price``."""

    exchange: Exchange | None = Field(None, description="the leg's exchange (default: the basket's, NFO)")
    tradingsymbol: str | None = Field(None, min_length=1, max_length=64,
                                      description="Kite's tradingsymbol of a future or an option, e.g. NIFTY2681824700PE")
    kind: Literal["CE", "PE"] | None = Field(None, description="or: CE or PE of the basket's underlying, with strike")
    strike: _StrikeSpec | None = Field(None, description="a listed strike, or ATM, ATM+n, ATM-n (listed strikes away)")
    expiry: _ExpirySpec | None = Field(None, description="a date, near, next, far or an index (default near)")
    side: Side = Field(description="BUY or SELL")
    lots: int | None = Field(None, gt=0, le=MAX_LOTS, description="whole lots (default 1)")
    quantity: int | None = Field(None, gt=0, description="or: units, a whole number of the contract's lots")
    order_type: Literal["LIMIT", "MARKET"] | None = Field(None, description="LIMIT or MARKET (default: the basket's)")
    price: Decimal | None = Field(None, description="₹ per unit: the limit price (LIMIT) or the expected premium; "
                                                    "default: the last price when the session takes the signal")

    @field_validator("exchange", mode="before")
    @classmethod
    def _exchange(cls, v: Any) -> Any:
        return None if v is None else _enum(Exchange, v, "exchange")

    @field_validator("side", mode="before")
    @classmethod
    def _side(cls, v: Any) -> Any:
        return _enum(Side, v, "side")

    @field_validator("tradingsymbol", mode="before")
    @classmethod
    def _symbol(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, str):
            raise ValueError(f"must be a string, {_shown(v)} was received")
        v = v.strip().upper()
        if not v or any(c.isspace() for c in v):
            raise ValueError(f"{v!r} is not a trading symbol")
        return v

    @field_validator("kind", "order_type", mode="before")
    @classmethod
    def _upper(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:
            return v
        allowed = ("CE", "PE") if info.field_name == "kind" else ("LIMIT", "MARKET")
        if isinstance(v, str) and v.strip().upper() in allowed:
            return v.strip().upper()
        raise ValueError(f"{_shown(v)} is not one of {', '.join(allowed)}")

    @field_validator("strike", mode="before")
    @classmethod
    def _strike(cls, v: Any) -> Any:
        return None if v is None else _strike(v)

    @field_validator("expiry", mode="before")
    @classmethod
    def _expiry(cls, v: Any) -> Any:
        return None if v is None else _expiry(v)

    @field_validator("lots", "quantity", mode="before")
    @classmethod
    def _whole(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:
            return v
        n = _count(v, "lots" if info.field_name == "lots" else "units")
        if info.field_name == "lots" and n > MAX_LOTS:
            raise ValueError(f"{n:,} lots is over the limit of {MAX_LOTS:,} a leg")
        return n

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, v: Any) -> Any:
        return None if v is None else _positive_decimal(v)

    @model_validator(mode="after")
    def _one_contract(self) -> BasketLegIn:
        if self.tradingsymbol is not None:
            extra = [k for k in ("kind", "strike", "expiry") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"give a tradingsymbol or kind/strike/expiry, not both ({', '.join(extra)} given)")
        elif self.kind is None or self.strike is None:
            raise ValueError("give a tradingsymbol, or kind (CE/PE) and strike")
        if self.lots is not None and self.quantity is not None:
            raise ValueError("give lots or quantity, not both")
        return self

    def contract(self, exchange: str) -> tuple:
        """What makes two legs the same contract (a leg given twice)."""
        ex = (self.exchange.value if self.exchange is not None else exchange)
        if self.tradingsymbol is not None:
            return (ex, self.tradingsymbol)
        return (ex, self.kind, str(self.strike), str(self.expiry if self.expiry is not None else "near"))


class BasketSpec(_Strict):
    """The ``basket`` object: a named strategy (its parameters as :mod:`tradekit.options.strategies` takes them)
    or ``custom`` legs, and how the basket is placed."""

    strategy: Literal["straddle", "strangle", "bull_call", "bear_call", "bull_put", "bear_put", "iron_condor",
                      "calendar", "custom"] = Field(description="the structure: " + ", ".join(STRATEGIES))
    underlying: str | None = Field(None, min_length=1, max_length=32,
                                   description="e.g. NIFTY; required but for custom legs given by tradingsymbol")
    exchange: Exchange = Field(Exchange.NFO, description="the options' exchange (default NFO)")
    name: str | None = Field(None, min_length=1, max_length=64, description="a label for the card (default: the structure's)")
    spot: Decimal | None = Field(None, description="the underlying's price the strikes (ATM±n) are counted from; "
                                                   "default: its last price")
    expiry: _ExpirySpec | None = Field(None, description="a date, near, next, far or an index (default near)")
    near: _ExpirySpec | None = Field(None, description="calendar: the near expiry (default near)")
    far: _ExpirySpec | None = Field(None, description="calendar: the far expiry (default next)")
    strike: _StrikeSpec | None = Field(None, description="straddle, calendar: the strike (default ATM)")
    call_strike: _StrikeSpec | None = Field(None, description="strangle (default ATM+1)")
    put_strike: _StrikeSpec | None = Field(None, description="strangle (default ATM-1)")
    lower: _StrikeSpec | None = Field(None, description="verticals: the lower strike")
    upper: _StrikeSpec | None = Field(None, description="verticals: the upper strike")
    put_buy: _StrikeSpec | None = Field(None, description="iron condor (default ATM-3)")
    put_sell: _StrikeSpec | None = Field(None, description="iron condor (default ATM-1)")
    call_sell: _StrikeSpec | None = Field(None, description="iron condor (default ATM+1)")
    call_buy: _StrikeSpec | None = Field(None, description="iron condor (default ATM+3)")
    kind: Literal["CE", "PE"] | None = Field(None, description="calendar: CE or PE (default CE)")
    side: Side | None = Field(None, description="BUY (long) or SELL (short) the structure, where it has a side")
    lots: int | None = Field(None, gt=0, le=MAX_LOTS, description="lots of each leg (default 1)")
    legs: list[BasketLegIn] | None = Field(None, min_length=1, max_length=MAX_LEGS_HARD,
                                           description="custom: the legs (at most signals.max_basket_legs)")
    premiums: dict[str, Decimal] | None = Field(None, description="₹ per unit by EXCHANGE:TRADINGSYMBOL, for legs "
                                                                  "without a price; default: the last prices")
    product: Literal["NRML", "MIS"] = Field("NRML", description="NRML (default) or MIS")
    order_type: Literal["LIMIT", "MARKET"] = Field("LIMIT", description="each leg's order type unless the leg says")
    on_leg_failure: Literal["unwind", "retry", "alert"] | None = Field(
        None, description="a leg that fails: unwind, retry or alert (default baskets.on_leg_failure)")
    retries: int | None = Field(None, ge=0, le=10, description="retry: times a failed leg is placed again "
                                                               "(default baskets.retries)")

    @field_validator("strategy", "product", "order_type", "on_leg_failure", "kind", mode="before")
    @classmethod
    def _word(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None and info.field_name in ("on_leg_failure", "kind"):
            return v
        allowed = {"strategy": STRATEGIES, "product": ("NRML", "MIS"), "order_type": ("LIMIT", "MARKET"),
                   "on_leg_failure": ("unwind", "retry", "alert"), "kind": ("CE", "PE")}[info.field_name]
        if isinstance(v, str):
            for a in allowed:
                if a.lower() == v.strip().lower():
                    return a
        raise ValueError(f"{_shown(v)} is not one of {', '.join(allowed)}")

    @field_validator("underlying", "name", mode="before")
    @classmethod
    def _text(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:
            return v
        if not isinstance(v, str) or not v.strip():
            raise ValueError(f"must be a non-empty string, {_shown(v)} was received")
        return v.strip().upper() if info.field_name == "underlying" else v.strip()

    @field_validator("exchange", "side", mode="before")
    @classmethod
    def _enums(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None and info.field_name == "side":
            return v
        return _enum(Exchange if info.field_name == "exchange" else Side, v, info.field_name)

    @field_validator("spot", mode="before")
    @classmethod
    def _spot(cls, v: Any) -> Any:
        return None if v is None else _positive_decimal(v)

    @field_validator("expiry", "near", "far", mode="before")
    @classmethod
    def _expiries(cls, v: Any) -> Any:
        return None if v is None else _expiry(v)

    @field_validator("strike", "call_strike", "put_strike", "lower", "upper", "put_buy", "put_sell", "call_sell",
                     "call_buy", mode="before")
    @classmethod
    def _strikes(cls, v: Any) -> Any:
        return None if v is None else _strike(v)

    @field_validator("lots", mode="before")
    @classmethod
    def _lots(cls, v: Any) -> Any:
        if v is None:
            return v
        n = _count(v, "lots")
        if n > MAX_LOTS:
            raise ValueError(f"{n:,} lots is over the limit of {MAX_LOTS:,} a leg")
        return n

    @field_validator("legs", mode="before")
    @classmethod
    def _legs(cls, v: Any) -> Any:
        if v is not None and not isinstance(v, list):
            raise ValueError(f"must be a list of legs, {_shown(v)} was received")
        if v is not None and not v:
            raise ValueError("must hold 1 or more legs, 0 were received")
        return v

    @field_validator("retries", mode="before")
    @classmethod
    def _retries(cls, v: Any) -> Any:
        return v if v is None else _whole(v, "a whole number from 0 to 10")

    @field_validator("premiums", mode="before")
    @classmethod
    def _premiums(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, dict):
            raise ValueError(f"must be a JSON object of EXCHANGE:TRADINGSYMBOL to price, {_shown(v)} was received")
        if len(v) > MAX_LEGS_HARD:
            raise ValueError(f"{len(v):,} prices is over the limit of {MAX_LEGS_HARD}")
        out = {}
        for k, x in v.items():
            key = str(k).strip().upper()
            if not re.fullmatch(r"[A-Z]{3}:[^\s]{1,64}", key):
                raise ValueError(f"{k!r} is not EXCHANGE:TRADINGSYMBOL (e.g. NFO:NIFTY2681824700PE)")
            try:
                out[key] = _positive_decimal(x)
            except ValueError as e:
                raise ValueError(f"{k}: {e}") from None
        return out

    @model_validator(mode="after")
    def _fits_the_strategy(self) -> BasketSpec:
        given = {k for k in _BUILDER_ARGS | {"legs"} if getattr(self, k) is not None}
        wrong = sorted(given - _PARAMS[self.strategy])
        if wrong:
            takes = ", ".join(sorted(_PARAMS[self.strategy] | (_COMMON - {"strategy"})))
            raise _FieldError((wrong[0],), f"is not a parameter of {self.strategy} (it takes {takes})")
        if self.strategy == "custom":
            if not self.legs:
                raise ValueError("custom needs legs: a list of 1 or more legs")
            seen: dict[tuple, int] = {}
            first_ex = None
            for i, leg in enumerate(self.legs):
                if leg.tradingsymbol is None and self.underlying is None:
                    raise _FieldError(("legs", i, "kind"), "a leg given by kind/strike needs the basket's underlying")
                key = leg.contract(self.exchange.value)
                if key in seen:
                    raise _FieldError(("legs", i), f"is the same contract as legs[{seen[key]}] "
                                             f"({':'.join(str(x) for x in key)}); give each contract once")
                seen[key] = i
                ex = key[0]
                if first_ex is None:
                    first_ex = ex
                elif ex != first_ex:
                    raise _FieldError(("legs", i, "exchange"), f"every leg must be on one exchange: {ex} here, {first_ex} on legs[0]")
        elif self.underlying is None:
            raise _FieldError(("underlying",), f"{self.strategy} needs an underlying (e.g. NIFTY)")
        return self

    def builder_spec(self) -> dict:
        """The spec dict :func:`tradekit.options.strategies.build` takes (custom legs resolved by the caller)."""
        out: dict[str, Any] = {"strategy": self.strategy, "exchange": self.exchange.value}
        if self.underlying is not None:
            out["underlying"] = self.underlying
        if self.spot is not None:
            out["spot"] = self.spot
        for k in sorted(_PARAMS[self.strategy] - {"legs"}):
            v = getattr(self, k)
            if v is not None:
                out[k] = v.value if isinstance(v, Side) else _plain_number(v)
        return out


def _plain_number(v: Any) -> Any:
    """A strike as the builders take it and their messages show it: 24700, not Decimal('24700')."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else str(v)
    return v


class _FieldError(ValueError):
    """A problem the basket's own rule finds in one of its fields, named by ``parts`` (``("legs", 2, "exchange")``):
    pydantic would name only the basket."""

    def __init__(self, parts: tuple, message: str):
        self.parts, self.message = parts, message
        super().__init__(message)


_RECORD_DOC = {
    "description": "One basket signal: several legs placed as one decision (one approval card, legs buys first). "
    "See tradekit/signals/README.md, Baskets.",
    "examples": [{
        "idempotency_key": "ic-20260817-0930-NIFTY", "strategy": "ic_engine",
        "signal_time": "2026-08-17T09:30:00+05:30", "ttl_seconds": 600,
        "basket": {"strategy": "iron_condor", "underlying": "NIFTY", "expiry": "2026-08-18", "spot": 24870,
                   "put_buy": "ATM-3", "put_sell": "ATM-1", "call_sell": "ATM+1", "call_buy": "ATM+3", "lots": 1},
    }],
}


class BasketSignalIn(_Strict):
    """One basket signal record: the signal's own fields (as a single-order signal has them) and ``basket``."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="BasketSignal", json_schema_extra=_RECORD_DOC)

    idempotency_key: str = Field(min_length=1, max_length=64, pattern=r"^[!-~]+$",
                                 description="the dedupe key: sent twice, one basket; becomes Signal.signal_id")
    strategy: str = Field(min_length=1, max_length=64, description="the strategy's name; routes the basket to auto or "
                                                                   "manual approval and names its positions")
    signal_time: datetime = Field(description="when the strategy made the signal, ISO 8601 with a UTC offset")
    expires_at: datetime | None = Field(None, description="drop the signal after this time")
    ttl_seconds: int | None = Field(None, gt=0, le=366 * 86400, description="or: this many seconds after signal_time")
    priority: int = Field(0, description="higher goes first")
    confidence: float | None = Field(None, ge=0, le=1, description="the strategy's confidence, 0 to 1")
    tag: str | None = Field(None, min_length=1, max_length=64, description="a free label carried to reports")
    meta: dict[str, Any] = Field(default_factory=dict, description="free JSON object carried with the signal")
    basket: BasketSpec = Field(description="the legs: a named strategy or custom legs (tradekit/signals/basket_fields.py)")

    @field_validator("idempotency_key", "strategy", "tag", mode="before")
    @classmethod
    def _text(cls, v: Any, info: ValidationInfo) -> Any:  # the rules of a single-order signal's (SignalIn)
        if v is None and info.field_name == "tag":
            return v
        if not isinstance(v, str):
            raise ValueError(f"must be a string, {_shown(v)} was received")
        if info.field_name == "idempotency_key":
            if not 0 < len(v) <= 64:
                raise ValueError(f"must be 1 to 64 characters, {len(v)} were received")
            if not re.fullmatch(r"[!-~]+", v):
                raise ValueError(f"{v!r} may hold only printable ASCII characters without spaces")
            return v
        if not v.strip():
            raise ValueError("must not be empty")
        return v.strip()

    @field_validator("signal_time", "expires_at", mode="before")
    @classmethod
    def _times(cls, v: Any, info: ValidationInfo) -> Any:
        from tradekit.signals.schema import _aware

        return None if v is None and info.field_name == "expires_at" else _aware(v)

    @field_validator("ttl_seconds", "priority", mode="before")
    @classmethod
    def _ints(cls, v: Any, info: ValidationInfo) -> Any:
        return v if v is None and info.field_name == "ttl_seconds" else _whole(v)

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, v: Any) -> Any:
        return _confidence(v)

    @field_validator("meta", mode="before")
    @classmethod
    def _meta(cls, v: Any) -> Any:
        from tradekit.signals.schema import _plain

        if v is None:
            return {}
        if not isinstance(v, dict):
            raise ValueError(f"must be a JSON object, {_shown(v)} was received")
        if "basket" in v or "tag" in v:
            raise ValueError("'basket' and 'tag' are reserved; use the top-level field instead")
        return _plain(v)

    @model_validator(mode="after")
    def _expiry_rules(self) -> BasketSignalIn:
        if self.expires_at is not None and self.ttl_seconds is not None:
            raise ValueError("give expires_at or ttl_seconds, not both")
        if self.expires_at is not None and self.expires_at <= self.signal_time:
            raise ValueError(f"expires_at {self.expires_at.isoformat()} is not after signal_time")
        return self

    def to_signal(self) -> Signal:
        """The domain :class:`Signal`: its ``meta.basket`` holds the basket (JSON-safe); its instrument names
        the underlying (``NFO:NIFTY``) and its side and quantity are not used — each leg has its own."""
        meta = dict(self.meta)
        meta["basket"] = basket_meta(self.basket)
        if self.tag is not None:
            meta["tag"] = self.tag
        expires = self.expires_at
        if expires is None and self.ttl_seconds is not None:
            expires = self.signal_time + timedelta(seconds=self.ttl_seconds)
        b = self.basket
        legs = b.legs or ()
        symbol = b.underlying or (legs[0].tradingsymbol if legs else "BASKET")
        return Signal(signal_id=self.idempotency_key, strategy=self.strategy, exchange=b.exchange,
                      tradingsymbol=symbol, side=Side.BUY, quantity=None, order_type=OrderType.parse(b.order_type),
                      product=Product.parse(b.product), signal_time=self.signal_time, expires_at=expires,
                      priority=self.priority, confidence=self.confidence, meta=meta)


def basket_meta(spec: BasketSpec) -> dict:
    """The basket as the signal's ``meta.basket``: JSON-safe (journal, parking), read back by :func:`spec_of`."""
    return spec.model_dump(mode="json", exclude_none=True)


def spec_of(signal: Signal) -> BasketSpec:
    """A basket signal's :class:`BasketSpec`, validated again (a parked signal comes back from the journal)."""
    raw = signal.meta.get("basket")
    try:
        return BasketSpec.model_validate(raw)
    except (PydanticValidationError, ValueError) as e:
        errs = _errors(e, ("basket",))
        f, m = errs[0]
        raise ValidationError(m, field=f) from None


def is_basket(record: Any) -> bool:
    return isinstance(record, dict) and "basket" in record


# -- field paths and messages ---------------------------------------------------------------------
def field_path(parts) -> str | None:
    """``("basket", "legs", 2, "side")`` → ``basket.legs[2].side``."""
    out = ""
    for p in parts:
        if isinstance(p, int) or (isinstance(p, str) and p.isdigit()):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or None


def dotted_to_path(dotted: str | None) -> str | None:
    """``basket.legs.2.side`` (a limits-walk path) → ``basket.legs[2].side``."""
    return None if dotted is None else field_path(dotted.split("."))


def _allowed(loc: tuple) -> list[str]:
    if len(loc) >= 2 and loc[-2] in ("basket",):
        return list(BasketSpec.model_fields)
    if len(loc) >= 3 and loc[-3] == "legs":
        return list(BasketLegIn.model_fields)
    return list(BasketSignalIn.model_fields)


def _errors(e: Exception, prefix: tuple = ()) -> list[tuple[str | None, str]]:
    """``[(field, message)]`` of a pydantic error, named as a user wrote the record."""
    import difflib

    from tradekit.signals.schema import _message

    if not isinstance(e, PydanticValidationError):
        return [(field_path(prefix), str(e))]
    out = []
    for x in e.errors():
        # a union of strike/expiry types puts the member's name in the path: drop it
        loc = tuple(p for p in prefix + tuple(x["loc"]) if p not in ("decimal", "str", "int"))
        err = (x.get("ctx") or {}).get("error")
        if isinstance(err, _FieldError):
            out.append((field_path(loc + err.parts), err.message))
            continue
        if x.get("type") == "extra_forbidden":
            name = str(loc[-1])
            known = _allowed(loc)
            hint = next(iter(difflib.get_close_matches(name, known, n=1)), None)
            if loc[-2:-1] == ("basket",) and name in ("symbol", "tradingsymbol", "quantity"):
                hint = None
            msg = f"unknown field (did you mean '{hint}'?)" if hint else f"unknown field; allowed: {', '.join(known)}"
            out.append((field_path(loc), msg))
            continue
        out.append((field_path(loc), _message(x, None)))
    return out or [(field_path(prefix), "invalid")]


def validate_basket_record(record: dict, index: int, limits) -> tuple[Signal | None, list]:
    """Validate one basket record: ``(signal, [])`` or ``(None, [RecordError, ...])`` (never raises)."""
    from tradekit.signals.limits import check_record
    from tradekit.signals.schema import RecordError, _short

    single = sorted(k for k in ("symbol", "side", "quantity", "sizing", "price", "order_type", "product") if k in record)
    if single:
        return None, [RecordError(index, single[0], "a basket signal gives its orders in basket (each leg has its "
                                  "own); this field belongs to a single-order signal", record)]
    b = record.get("basket")
    legs = b.get("legs") if isinstance(b, dict) else None
    cap = getattr(limits, "max_basket_legs", 20)
    if isinstance(legs, list) and len(legs) > cap:  # before anything walks them
        return None, [RecordError(index, "basket.legs", f"{len(legs):,} legs is over the limit of {cap} a basket "
                                  "(signals.max_basket_legs)", record)]
    problems = check_record(record, limits)
    if problems:
        return None, [RecordError(index, dotted_to_path(f), _short(m), record) for f, m in problems]
    try:
        return BasketSignalIn.model_validate(record).to_signal(), []
    except PydanticValidationError as e:
        return None, [RecordError(index, f, _short(m), record) for f, m in _errors(e)]
    except Exception as e:  # an overflow or the like that no validator foresaw: this record only
        return None, [RecordError(index, None, _short(f"could not be read: {type(e).__name__}: {e}"), record)]


__all__ = ["MAX_LOTS", "STRATEGIES", "BasketLegIn", "BasketSignalIn", "BasketSpec", "basket_meta", "field_path",
           "is_basket", "spec_of", "validate_basket_record"]
