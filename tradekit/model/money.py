"""Exact money: Decimal everywhere money is reported, rounded as a contract note rounds.

Floats are accepted at the edges (a trader types ``price=2450.5`` in a notebook) and are
converted through their shortest decimal representation (``repr``), so ``2450.5`` becomes
``Decimal("2450.5")`` and never ``2450.499999...``. NaN and infinities are refused.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from tradekit.errors import ValidationError

ZERO = Decimal("0")
PAISA = Decimal("0.01")
RUPEE = Decimal("1")


def dec(value: object, field: str = "value") -> Decimal:
    """Convert ``value`` to an exact Decimal or raise a ValidationError naming ``field``."""
    cls = value.__class__
    if cls is Decimal and value.is_finite():  # the hot paths: exactly a Decimal, a float, an int
        return value
    if cls is float:
        if value - value != 0.0:  # inf or nan
            raise ValidationError(f"{value!r} is not a finite number", field=field)
        return Decimal(float.__repr__(value))
    if cls is int:
        return Decimal(value)
    if cls is str:  # a journal payload's amount
        return _from_text(value, field)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(f"{value} is not a finite number", field=field)
        return value
    if isinstance(value, bool):
        raise ValidationError(f"{value!r} is a boolean, not a number", field=field)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{value!r} is not a finite number", field=field)
        return Decimal(float.__repr__(value))  # numpy 2 scalars repr as "np.float64(...)"
    if isinstance(value, str):
        return _from_text(value, field)
    # numpy scalars and the like
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError(f"{value!r} ({type(value).__name__}) is not a number", field=field) from None
    return dec(f, field)


def _from_text(value: str, field: str) -> Decimal:
    try:
        d = Decimal(value.strip().replace(",", ""))
    except InvalidOperation:
        raise ValidationError(f"{value!r} is not a number", field=field) from None
    if not d.is_finite():
        raise ValidationError(f"{value!r} is not a finite number", field=field)
    return d


def paise(x: Decimal | int | str) -> Decimal:
    """Round half-up to 0.01 (the contract note's paisa)."""
    if x.__class__ is not Decimal:
        x = dec(x)
    return x.quantize(PAISA, rounding=ROUND_HALF_UP)


def rupee(x: Decimal | int | str) -> Decimal:
    """Round half-up to a whole rupee."""
    return dec(x).quantize(RUPEE, rounding=ROUND_HALF_UP)


def fmt_inr(x: Decimal | int | float, decimals: int = 2) -> str:
    """Format with Indian digit grouping: 12345678.5 -> '1,23,45,678.50'."""
    d = dec(x).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    sign = "-" if d < 0 else ""
    s = f"{abs(d):.{decimals}f}"
    whole, _, frac = s.partition(".")
    if len(whole) > 3:
        head, tail = whole[:-3], whole[-3:]
        groups = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        if head:
            groups.insert(0, head)
        whole = ",".join(groups + [tail])
    return f"{sign}{whole}.{frac}" if decimals else f"{sign}{whole}"
