"""The ``condition`` field of a signal: hold the signal's order until a trigger.

A signal with a ``condition`` is not sent at once: the session arms the condition
(:mod:`tradekit.execution.conditions`) and sends the order through the gate when it triggers.
Kinds (``kind`` is required, case-insensitive)::

    {"kind": "price", "cross": "above", "level": 2450}                     # the signal's own instrument
    {"kind": "symbol", "symbol": "NSE:NIFTY 50", "cross": "below", "level": 24000}
    {"kind": "time", "at": "2026-11-23T10:30:00+05:30"}                     # or "10:30" (IST, the day it is armed)
    {"kind": "indicator", "indicator": "sma_cross", "fast": 10, "slow": 30, "cross": "above", "interval": "5min"}
    {"kind": "indicator", "indicator": "rsi", "window": 14, "cross": "below", "level": 30}
    {"kind": "indicator", "indicator": "vwap", "cross": "above"}            # the last price crossing the session VWAP
    {"kind": "all", "conditions": [...]}  /  {"kind": "any", "conditions": [...]}

Every kind takes ``until``: an ISO 8601 time with a UTC offset, or ``"day"`` (the default: the
end of the normal market of the day it is armed); past it the condition expires. A crossing
is a crossing, not merely being beyond the level: the side at creation is recorded, and the
condition fires the first time the value moves from strictly below to at-or-above the level
(``above``), or from strictly above to at-or-below it (``below``).

This module only validates; :func:`condition_payload` gives the normalized JSON-safe dict that
travels in ``Signal.meta["condition"]`` and in the ``condition.created`` event.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from decimal import Decimal
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from tradekit.errors import ValidationError

KINDS = ("price", "symbol", "time", "indicator", "all", "any")
INDICATORS = ("sma_cross", "ema_cross", "rsi", "vwap")
MAX_WINDOW = 500  # bars; an indicator longer than this needs more history than a session keeps
MAX_CHILDREN = 8
_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")
_KEY = re.compile(r"^[A-Za-z]{2,6}:[!-~][ -~]{0,63}$")


def _level(v: Any) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (int, float, Decimal, str)):
        raise ValueError(f"must be a number, {v!r} was received")
    try:
        d = Decimal(str(v).strip())
    except Exception:
        raise ValueError(f"must be a number, {v!r} was received") from None
    if not d.is_finite() or d <= 0:
        raise ValueError(f"must be a number greater than 0, {v!r} was received")
    return d


def _until(v: Any) -> Any:
    if v is None or (isinstance(v, str) and v.strip().lower() == "day"):
        return "day"
    from tradekit.signals.schema import _aware

    return _aware(v).isoformat()


def _cross(v: Any) -> str:
    s = str(v).strip().lower() if isinstance(v, str) else v
    if s not in ("above", "below"):
        raise ValueError(f"must be 'above' or 'below', {v!r} was received")
    return s


class _C(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("cross", mode="before", check_fields=False)
    @classmethod
    def _cross(cls, v: Any) -> str:
        return _cross(v)

    @field_validator("until", mode="before", check_fields=False)
    @classmethod
    def _until(cls, v: Any) -> Any:
        return _until(v)


_Until = Annotated[str, Field(description="ISO 8601 time with a UTC offset, or 'day' (default): the end of the "
                                          "normal market of the day the condition is armed")]


def _symbol(v: Any) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"must be an instrument such as 'NSE:INFY' or 'INFY', {v!r} was received")
    s = v.strip()
    if ":" not in s:
        s = "NSE:" + s
    if not _KEY.match(s):
        raise ValueError(f"{v!r} is not an instrument such as 'NSE:INFY' or 'NSE:NIFTY 50'")
    ex, _, sym = s.partition(":")
    return f"{ex.upper()}:{sym.upper()}"


class PriceCond(_C):
    """The last price of ``symbol`` (default: the signal's instrument) crossing ``level``."""

    kind: Literal["price"]
    cross: Literal["above", "below"]
    level: Annotated[Decimal, Field(description="rupees (index points for an index)")]
    symbol: str | None = Field(None, description="EXCHANGE:SYMBOL to watch (default: the signal's instrument)")
    until: _Until = "day"

    _lv = field_validator("level", mode="before")(lambda cls, v: _level(v))
    _sy = field_validator("symbol", mode="before")(lambda cls, v: _symbol(v))


class SymbolCond(PriceCond):
    """Another instrument (an index, e.g. ``NSE:NIFTY 50``) crossing ``level``: act on the signal's stock."""

    kind: Literal["symbol"]  # type: ignore[assignment]
    symbol: str = Field(description="EXCHANGE:SYMBOL to watch, e.g. 'NSE:NIFTY 50'")  # type: ignore[assignment]


class TimeCond(_C):
    """At or after ``at`` on the session clock."""

    kind: Literal["time"]
    at: str = Field(description="ISO 8601 time with a UTC offset, or HH:MM[:SS] IST on the day the condition is armed")
    until: _Until = "day"

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, v: Any) -> str:
        if isinstance(v, str) and _HHMM.match(v):
            h, m, s = _HHMM.match(v).groups()
            try:
                return time(int(h), int(m), int(s or 0)).isoformat()
            except ValueError:
                raise ValueError(f"{v!r} is not a time of day (HH:MM or HH:MM:SS)") from None
        from tradekit.signals.schema import _aware

        return _aware(v).isoformat()


class IndicatorCond(_C):
    """An indicator over bars of ``interval`` built from the feed's ticks: ``sma_cross``/``ema_cross``
    (the ``fast`` average crossing the ``slow`` one), ``rsi`` (RSI(``window``) crossing ``level``),
    ``vwap`` (the last price crossing the session VWAP)."""

    kind: Literal["indicator"]
    indicator: Literal["sma_cross", "ema_cross", "rsi", "vwap"]
    cross: Literal["above", "below"]
    symbol: str | None = Field(None, description="EXCHANGE:SYMBOL (default: the signal's instrument)")
    interval: str = Field("1min", description="bar interval, e.g. 1min, 5min, 15min (session-anchored at 09:15)")
    fast: int | None = Field(None, description="sma_cross/ema_cross: bars of the fast average")
    slow: int | None = Field(None, description="sma_cross/ema_cross: bars of the slow average")
    window: int | None = Field(None, description="rsi: bars (default 14)")
    level: Decimal | None = Field(None, description="rsi: the level, 0-100")
    until: _Until = "day"

    _sy = field_validator("symbol", mode="before")(lambda cls, v: _symbol(v))

    @field_validator("indicator", mode="before")
    @classmethod
    def _ind(cls, v: Any) -> Any:
        s = v.strip().lower() if isinstance(v, str) else v
        if s not in INDICATORS:
            raise ValueError(f"must be one of {', '.join(INDICATORS)}, {v!r} was received")
        return s

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, v: Any) -> str:
        from tradekit.data.resample import DAILY, parse_rule

        try:
            td = parse_rule(v)
        except Exception as e:
            raise ValueError(str(e)) from None
        if td == DAILY:
            raise ValueError("must be intraday (e.g. 1min, 5min, 15min); a daily bar does not close within the session")
        return f"{int(td.total_seconds() // 60)}min"

    @field_validator("fast", "slow", "window", mode="before")
    @classmethod
    def _bars(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, (int, Decimal)) or int(v) != v:
            raise ValueError(f"must be a whole number of bars, {v!r} was received")
        if not 1 <= int(v) <= MAX_WINDOW:
            raise ValueError(f"must be from 1 to {MAX_WINDOW} bars, {v} was received")
        return int(v)

    @field_validator("level", mode="before")
    @classmethod
    def _lvl(cls, v: Any) -> Any:
        return None if v is None else _level(v)

    @model_validator(mode="after")
    def _per_indicator(self) -> "IndicatorCond":
        ind = self.indicator
        if ind in ("sma_cross", "ema_cross"):
            if self.fast is None or self.slow is None:
                raise _field_error("fast" if self.fast is None else "slow", f"{ind} needs fast and slow (bars)")
            if self.fast >= self.slow:
                raise _field_error("fast", f"must be fewer bars than slow ({self.fast} >= {self.slow})")
            if self.level is not None or self.window is not None:
                raise _field_error("level" if self.level is not None else "window", f"is not used by {ind}")
        elif ind == "rsi":
            if self.level is None:
                raise _field_error("level", "rsi needs a level (0-100)")
            if self.level >= 100:
                raise _field_error("level", f"must be below 100, {self.level} was received")
            if self.fast is not None or self.slow is not None:
                raise _field_error("fast" if self.fast is not None else "slow", "is not used by rsi")
            if self.window is None:
                object.__setattr__(self, "window", 14)
            if self.window < 2:
                raise _field_error("window", "must be at least 2 bars")
        else:  # vwap
            for f in ("fast", "slow", "window", "level"):
                if getattr(self, f) is not None:
                    raise _field_error(f, "is not used by vwap (the last price crossing the session VWAP)")
        return self


class _FieldError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def _field_error(field: str, message: str) -> _FieldError:
    return _FieldError(field, message)


Leaf = Annotated[Union[PriceCond, SymbolCond, TimeCond, IndicatorCond], Field(discriminator="kind")]


class GroupCond(_C):
    """``all``: every child has fired (each one latches when it fires); ``any``: the first child that fires."""

    kind: Literal["all", "any"]
    conditions: list[Leaf] = Field(min_length=1, max_length=MAX_CHILDREN)
    until: _Until = "day"

    @model_validator(mode="after")
    def _one_validity(self) -> "GroupCond":
        for i, c in enumerate(self.conditions):
            if "until" in c.model_fields_set:
                raise _field_error(f"conditions.{i}.until", "a child has no validity of its own: give until on the group")
        return self


Condition = Annotated[Union[PriceCond, SymbolCond, TimeCond, IndicatorCond, GroupCond], Field(discriminator="kind")]
_ADAPTER: TypeAdapter = TypeAdapter(Condition)


def condition_payload(c: BaseModel) -> dict:
    """The normalized JSON-safe dict of a validated condition (Decimals as strings, no Nones)."""
    out: dict = {}
    for k, v in c.model_dump().items():
        if v is None:
            continue
        if k == "conditions":
            v = [condition_payload(x) for x in getattr(c, "conditions")]
            for x in v:
                x.pop("until", None)  # a group has one validity
        elif isinstance(v, Decimal):
            v = str(v)
        out[k] = v
    return out


def parse_condition(raw: Any, field: str = "condition") -> dict:
    """Validate a raw condition (a dict) and return its payload; raises :class:`ValidationError`
    naming the first bad field (``condition.level``...)."""
    errs = condition_errors(raw)
    if errs:
        f, m = errs[0]
        raise ValidationError(m, field=f"{field}.{f}" if f else field)
    return condition_payload(_ADAPTER.validate_python(_lower_kinds(raw)))


def condition_errors(raw: Any) -> list[tuple[str | None, str]]:
    """Every problem of a raw condition as ``(dotted field inside it, message)``; empty when valid."""
    if not isinstance(raw, dict):
        return [(None, f"must be a JSON object with a kind ({', '.join(KINDS)})")]
    k = raw.get("kind")
    if k is None:
        return [("kind", f"required: one of {', '.join(KINDS)}")]
    if not isinstance(k, str) or k.strip().lower() not in KINDS:
        return [("kind", f"must be one of {', '.join(KINDS)}, {k!r} was received")]
    try:
        _ADAPTER.validate_python(_lower_kinds(raw))
    except PydanticValidationError as e:
        return [_one(x) for x in e.errors()]
    return []


def _lower_kinds(raw: Any) -> Any:
    """``kind`` is case-insensitive (the discriminator itself cannot have a before-validator)."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    if isinstance(out.get("kind"), str):
        out["kind"] = out["kind"].strip().lower()
    if isinstance(out.get("conditions"), list):
        out["conditions"] = [_lower_kinds(x) for x in out["conditions"]]
    return out


def _one(err: dict) -> tuple[str | None, str]:
    loc = [str(x) for x in err.get("loc", ())]
    if loc and loc[0] in KINDS:
        loc = loc[1:]  # the union's tag
    if len(loc) >= 3 and loc[0] == "conditions" and loc[2] in KINDS:
        del loc[2]
    ctx = err.get("ctx") or {}
    fe = ctx.get("error")
    if isinstance(fe, _FieldError):
        return ".".join([*loc, fe.field]) if loc else fe.field, fe.message
    typ = err.get("type", "")
    msg = err.get("msg", "invalid value")
    if typ == "missing":
        msg = "required field is missing"
    elif typ == "extra_forbidden":
        msg = "unknown field"
    elif typ in ("union_tag_invalid", "union_tag_not_found"):
        msg = f"kind must be one of price, symbol, time, indicator (inside {err.get('loc', ['?'])[0]})"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return (".".join(loc) or None), msg


class ConditionField:
    """The pydantic type for ``SignalIn.condition``: validates with per-field messages and keeps the payload."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        from pydantic_core import core_schema

        def check(v: Any) -> dict | None:
            if v is None:
                return None
            errs = condition_errors(v)
            if errs:  # each problem at its own path: condition.level, condition.conditions.1.at
                from pydantic_core import InitErrorDetails, PydanticCustomError
                from pydantic_core import ValidationError as CoreValidationError

                raise CoreValidationError.from_exception_data("condition", [
                    InitErrorDetails(type=PydanticCustomError("condition", m.replace("{", "(").replace("}", ")")),
                                     loc=tuple(int(x) if x.isdigit() else x for x in f.split("."))
                                     if f else (), input=v) for f, m in errs])
            return condition_payload(_ADAPTER.validate_python(_lower_kinds(v)))

        return core_schema.no_info_plain_validator_function(
            check, json_schema_input_schema=handler.generate_schema(Condition))


def _hhmm_to_dt(at: str, day, tz) -> datetime:
    """``at`` (ISO time or HH:MM:SS) as an aware datetime on ``day``."""
    if "T" in at or len(at) > 8:
        return datetime.fromisoformat(at)
    return datetime.combine(day, time.fromisoformat(at), tz)
