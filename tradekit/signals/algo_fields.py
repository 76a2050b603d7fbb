"""The ``algo`` and ``slicing`` fields of a signal (issue 15): how the order is worked.

``algo``: the order becomes a parent worked by an execution algorithm
(:mod:`tradekit.execution.slicing`, :mod:`tradekit.execution.algos`)::

    "algo": {"kind": "twap", "start": "10:00", "end": "11:00", "interval_seconds": 120, "limit_price": 1510}
    "algo": {"kind": "vwap", "start": "09:30", "end": "15:00"}
    "algo": {"kind": "pov", "participation": 0.1, "end": "14:00", "limit_price": 1495.5}

``start``/``end``: ``HH:MM[:SS]`` (IST, on the day the order is approved) or an ISO 8601 time
with a UTC offset; ``start`` defaults to the approval, ``end`` to 15:29 IST. ``limit_price``: the
bound no child crosses (buy: at most, sell: at least); without it children are MARKET orders,
unless the signal itself is a LIMIT order, whose price is then the bound.

``slicing``: ``{"kind": "iceberg", "legs": 2..10}`` sends the order as Kite's iceberg variety
(one leg at the exchange at a time). Orders above the freeze quantity are sliced without being
asked (the risk gate's ``FREEZE`` check; ``risk.instrument.freeze: deny`` refuses them instead).

Both travel in ``Signal.meta`` (``meta["algo"]``, ``meta["slicing"]``) and are checked again when
the order is made (:func:`order_meta`, :func:`apply_slicing`), so a hand-written ``meta`` cannot
slip past the rules.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError as PydanticError, ValidationInfo, field_validator

from tradekit.errors import ValidationError
from tradekit.model.enums import OrderType, Variety

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")


def _when(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        if v.tzinfo is None:
            raise ValueError("needs a UTC offset")
        return v.isoformat()
    if not isinstance(v, str):
        raise ValueError(f"must be HH:MM (IST) or an ISO 8601 time with an offset, {v!r} was received")
    s = v.strip()
    if _HHMM.match(s):
        return s
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"{s!r} is neither HH:MM[:SS] (IST) nor an ISO 8601 time with an offset") from None
    if d.tzinfo is None:
        raise ValueError(f"{s!r} has no UTC offset; write e.g. 2026-11-23T10:00:00+05:30, or HH:MM for IST")
    return d.isoformat()


def _order_key(s: str) -> tuple:
    """Comparable form of a start/end: (date or None, seconds of day)."""
    if _HHMM.match(s):
        p = [int(x) for x in s.split(":")]
        return (None, p[0] * 3600 + p[1] * 60 + (p[2] if len(p) > 2 else 0))
    d = datetime.fromisoformat(s)
    return (d.date(), d.hour * 3600 + d.minute * 60 + d.second)


class AlgoSpec(BaseModel):
    """An execution algorithm for the order: TWAP, VWAP or POV."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Algo")

    kind: Literal["twap", "vwap", "pov"] = Field(description="twap (equal pieces over time), vwap (on the NSE intraday "
                                                             "volume curve) or pov (a share of the traded volume)")
    start: str | None = Field(None, description="HH:MM[:SS] IST or ISO 8601 with offset; default: when approved")
    end: str | None = Field(None, validate_default=True, description="HH:MM[:SS] IST or ISO 8601 with offset; default 15:29 IST; "
                                              "what is not filled by then is cancelled")
    participation: float | None = Field(None, validate_default=True, gt=0, le=0.5, description="pov only: share of the traded volume, "
                                                                          "above 0 and at most 0.5")
    limit_price: Decimal | None = Field(None, gt=0, description="rupees: no child buys above (sells below) it")
    interval_seconds: float | None = Field(None, validate_default=True, ge=1, le=3600, description="twap only: seconds between children "
                                                                            "(default 60)")
    min_child: int | None = Field(None, validate_default=True, ge=1, description="pov only: the smallest child quantity (default one lot)")

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @field_validator("start", "end", mode="before")
    @classmethod
    def _times(cls, v: Any) -> Any:
        return _when(v)

    @field_validator("limit_price", mode="before")
    @classmethod
    def _price(cls, v: Any) -> Any:
        if isinstance(v, bool) or (v is not None and not isinstance(v, (int, float, str, Decimal))):
            raise ValueError(f"must be a price in rupees, {v!r} was received")
        if isinstance(v, float):
            if not math.isfinite(v):
                raise ValueError("must be a finite price")
            return Decimal(repr(v))
        return v

    @field_validator("end")
    @classmethod
    def _after_start(cls, v: Any, info: ValidationInfo) -> Any:
        start = info.data.get("start")
        if v is not None and start is not None:
            a, b = _order_key(start), _order_key(v)
            if (a[0] is None) == (b[0] is None) and a >= b:
                raise ValueError(f"{v} is not after start {start}")
        return v

    @field_validator("participation")
    @classmethod
    def _pov_only(cls, v: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        if kind == "pov" and v is None:
            raise ValueError("pov needs a participation (e.g. 0.1 for 10 % of the traded volume)")
        if kind is not None and kind != "pov" and v is not None:
            raise ValueError(f"only pov takes a participation, not {kind}")
        return v

    @field_validator("interval_seconds")
    @classmethod
    def _twap_only(cls, v: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        if kind is not None and kind != "twap" and v is not None:
            raise ValueError(f"only twap takes an interval ({kind} releases "
                             + ("by the minute)" if kind == "vwap" else "with the traded volume)"))
        return v

    @field_validator("min_child")
    @classmethod
    def _min_child_pov_only(cls, v: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        if kind is not None and kind != "pov" and v is not None:
            raise ValueError(f"only pov takes min_child, not {kind}")
        return v

    def as_meta(self) -> dict:
        d = self.model_dump(exclude_none=True)
        if "limit_price" in d:
            d["limit_price"] = str(d["limit_price"])
        return d


class SlicingSpec(BaseModel):
    """How the order is cut at the exchange: Kite's iceberg variety."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Slicing")

    kind: Literal["iceberg"] = Field(description="iceberg: one leg at the exchange at a time, the next after it fills")
    legs: int = Field(ge=2, le=10, description="iceberg legs, 2 to 10 (Kite)")


def signal_meta(algo: AlgoSpec | None, slicing: SlicingSpec | None) -> dict:
    """What ``SignalIn.to_signal`` adds to ``Signal.meta``."""
    out: dict = {}
    if algo is not None:
        out["algo"] = algo.as_meta()
    if slicing is not None:
        out["slicing"] = slicing.model_dump()
    return out


def _parse(model, v: Any, name: str):
    try:
        return model.model_validate(v)
    except PydanticError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err.get("loc", ()))
        raise ValidationError(err.get("msg", str(e)).removeprefix("Value error, "),
                              field=f"{name}.{loc}" if loc else name) from None


def order_meta(signal) -> dict | None:
    """``{"algo": {...}}`` for ``OrderManager.submit(meta=...)`` (checked again), or None."""
    raw = (signal.meta or {}).get("algo")
    if raw is None:
        return None
    spec = _parse(AlgoSpec, raw, "algo").as_meta()
    if "limit_price" not in spec and signal.order_type is OrderType.LIMIT and signal.price is not None:
        spec["limit_price"] = str(signal.price)  # a LIMIT signal's price bounds its children
    if signal.meta.get("slicing") is not None:
        raise ValidationError("an order worked by an algo cannot also be an iceberg", field="slicing")
    return {"algo": spec}


def apply_slicing(request, signal, lot: int = 1):
    """The request as Kite's iceberg variety when the signal asks for it (legs of whole lots)."""
    raw = (signal.meta or {}).get("slicing")
    if raw is None:
        return request
    spec = _parse(SlicingSpec, raw, "slicing")
    lot = max(1, lot)
    leg = -(-request.quantity // spec.legs)
    leg = -(-leg // lot) * lot
    if leg * (spec.legs - 1) >= request.quantity:
        raise ValidationError(f"{request.quantity} cannot be cut into {spec.legs} iceberg legs of whole lots of {lot}",
                              field="slicing.legs")
    return request.with_changes(variety=Variety.ICEBERG, iceberg_legs=spec.legs, iceberg_quantity=leg)
