"""The signal fields of a bracket: ``stop``, ``targets``, ``trail`` (see ``README.md``, *Brackets*).

    "stop":    {"points": 15}                          # or {"price": 1485} or {"percent": 1}
    "targets": [{"points": 20, "share": 0.5}, {"price": 1540, "share": 0.5}]
    "trail":   {"kind": "atr", "value": 2, "atr_period": 14}   # or points / percent

Levels are a price, or points or percent away from the entry's reference price (its limit
price, else ``reference_price``, else the last price when the order is made). With a signal's
``price`` or ``reference_price`` the sides are checked here: the stop below a BUY's entry (above
a SELL's), every target beyond it. ``targets`` and ``trail`` need a ``stop``. The shares of the
targets add up to at most 1; what is left rides with the stop (and the trail). Errors name the
field (``targets.1.share``, ``trail.kind``...). The bracket itself is
:mod:`tradekit.execution.brackets`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

_LEVELS = ("price", "points", "percent")


def _num(v: Any, name: str) -> Decimal | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, str, Decimal)):
        raise ValueError(f"{name} must be a number, {v!r} was received")
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise ValueError(f"{name} must be a number, {v!r} was received") from None
    if not d.is_finite() or d <= 0:
        raise ValueError(f"{name} must be above 0, {v!r} was received")
    return d


class Level(BaseModel):
    """A price, or points or percent away from the entry's reference price: exactly one of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    price: Decimal | None = Field(None, description="rupees")
    points: Decimal | None = Field(None, description="rupees away from the entry's reference price")
    percent: Decimal | None = Field(None, description="percent away from the entry's reference price (below 100)")

    @field_validator("price", "points", "percent", mode="before")
    @classmethod
    def _positive(cls, v: Any, info: ValidationInfo) -> Decimal | None:
        return _num(v, info.field_name)

    @model_validator(mode="after")
    def _one(self):
        given = [k for k in _LEVELS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of price, points or percent ({', '.join(given) or 'none'} given)")
        if self.percent is not None and self.percent >= 100:
            raise ValueError(f"percent must be below 100, {self.percent} was received")
        return self

    def to_dict(self) -> dict:
        return {k: str(getattr(self, k)) for k in _LEVELS if getattr(self, k) is not None}

    def resolve(self, side: str, ref: Decimal, towards_profit: bool) -> Decimal:
        if self.price is not None:
            return self.price
        dist = self.points if self.points is not None else ref * self.percent / 100
        return ref + dist if (side == "BUY") == towards_profit else ref - dist


class TargetIn(Level):
    share: Decimal = Field(description="the share of the filled quantity this target takes, above 0 and at most 1")

    @field_validator("share", mode="before")
    @classmethod
    def _share(cls, v: Any) -> Decimal:
        d = _num(v, "share")
        if d is None or d > 1:
            raise ValueError(f"share must be above 0 and at most 1, {v!r} was received")
        return d

    def to_dict(self) -> dict:
        return {**super().to_dict(), "share": str(self.share)}


class TrailIn(BaseModel):
    """Trail the stop behind the best price: ``value`` points, ``value`` percent, or ``value`` × ATR."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["points", "percent", "atr"] = Field(description="points, percent or atr")
    value: Decimal = Field(description="points; percent (below 100); or the multiple of the ATR")
    atr_period: int = Field(14, ge=2, le=500, description="atr: bars in the ATR (bars of brackets.atr_bar_seconds)")

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, v: Any) -> Decimal:
        d = _num(v, "value")
        if d is None:
            raise ValueError("value is required")
        return d

    @model_validator(mode="after")
    def _pct(self):
        if self.kind == "percent" and self.value >= 100:
            raise ValueError(f"a percent trail must be below 100, {self.value} was received")
        return self


class BracketFieldsMixin(BaseModel):
    """Cross-field checks of ``stop``/``targets``/``trail`` (declared on ``SignalIn``, after side and price)."""

    @field_validator("stop", check_fields=False)
    @classmethod
    def _stop_side(cls, v: Level | None, info: ValidationInfo) -> Level | None:
        ref, side = _ref(info)
        if v is not None and ref is not None and side is not None:
            px = v.resolve(side, ref, towards_profit=False)
            if (px >= ref) if side == "BUY" else (px <= ref):
                raise ValueError(f"the stop {px} must be {'below' if side == 'BUY' else 'above'} the entry {ref} "
                                 f"of a {side}")
        return v

    @field_validator("targets", check_fields=False)
    @classmethod
    def _targets(cls, v: list[TargetIn] | None, info: ValidationInfo) -> list[TargetIn] | None:
        if v is None:
            return v
        if info.data.get("stop") is None:
            raise ValueError("targets need a stop (a bracket is an entry, a stop-loss and its targets)")
        if not v:
            raise ValueError("give at least one target, or leave targets out")
        total = sum((t.share for t in v), Decimal(0))
        if total > 1:
            raise ValueError(f"the shares add up to {total}, more than 1")
        ref, side = _ref(info)
        if ref is not None and side is not None:
            for i, t in enumerate(v):
                px = t.resolve(side, ref, towards_profit=True)
                if (px <= ref) if side == "BUY" else (px >= ref):
                    raise ValueError(f"target {i} ({px}) must be {'above' if side == 'BUY' else 'below'} the entry "
                                     f"{ref} of a {side}")
        return v

    @field_validator("trail", check_fields=False)
    @classmethod
    def _trail(cls, v: TrailIn | None, info: ValidationInfo) -> TrailIn | None:
        if v is not None and info.data.get("stop") is None:
            raise ValueError("a trail needs a stop to start from")
        return v


def _ref(info: ValidationInfo) -> tuple[Decimal | None, str | None]:
    d = info.data
    side = d.get("side")
    side = getattr(side, "value", side)
    ref = d.get("price") if d.get("order_type") is not None and getattr(d.get("order_type"), "value", None) in ("LIMIT", "SL") \
        else None
    return (ref or d.get("reference_price")), (str(side).upper() if side is not None else None)


def bracket_meta(rec) -> dict:
    """``{"bracket": {...}}`` for ``Signal.meta`` when the record has a stop (else ``{}``): JSON values only."""
    if getattr(rec, "stop", None) is None:
        return {}
    return {"bracket": {"stop": rec.stop.to_dict(),
                        "targets": [t.to_dict() for t in rec.targets or ()],
                        "trail": None if rec.trail is None else {"kind": rec.trail.kind, "value": str(rec.trail.value),
                                                                 "atr_period": rec.trail.atr_period}}}
