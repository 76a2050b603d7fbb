"""Thin wrappers turning :mod:`tradekit.market.rules` into gate results.

The rules (tick tables, lots, bands, freeze limits) live in one place, ``tradekit.market``;
here a rule's ``MarketRuleError`` becomes a failed :class:`CheckResult` carrying the rule's
own message. Each wrapper returns ``None`` when the rule passes (the gate then appends a
shared OK result), so the hot path builds no objects.
"""

from __future__ import annotations

from datetime import date

from tradekit.errors import DataError, MarketRuleError
from tradekit.market import rules as mr
from tradekit.risk.base import CheckResult

_freeze_cache: dict[tuple[str, int, date], int | None] = {}  # limits are dated: one lookup per contract a day


def _msg(e: MarketRuleError) -> str:
    return getattr(e, "reason", None) or str(e)


def tick(req, inst, day: date) -> CheckResult | None:
    price, trigger = req.price, req.trigger_price
    if (inst.tick_size > 0 and "tick_rule" not in inst.meta
            and (price is None or (price > 0 and mr.is_tick_multiple(price, inst.tick_size)))
            and (trigger is None or (trigger > 0 and mr.is_tick_multiple(trigger, inst.tick_size)))):
        return None  # the dump's own tick size and both prices on it: nothing more to ask the rules
    try:
        if price is not None:
            mr.check_tick(inst, price, on_date=day)
        if trigger is not None:
            mr.check_tick(inst, trigger, on_date=day, reference_price=price)
    except MarketRuleError as e:
        return CheckResult("TICK", False, _msg(e))
    return None


def lot(req, inst) -> CheckResult | None:
    if inst.lot_size == 1 and not inst.is_index:
        return None  # cash equities: every whole quantity is a lot multiple
    try:
        mr.check_lot(inst, req.quantity)
    except MarketRuleError as e:
        return CheckResult("LOT", False, _msg(e))
    return None


def band(req, inst, band) -> CheckResult | None:
    """``band`` is (lower, upper) or a ``PriceBand``; ``None`` = not known, not checked."""
    if band is None:
        return None
    lo, hi = (band.lower, band.upper) if hasattr(band, "lower") else band
    try:
        if req.price is not None:
            mr.check_band(req.price, lo, hi, instrument=inst)
        if req.trigger_price is not None:
            mr.check_band(req.trigger_price, lo, hi, instrument=inst)
    except MarketRuleError as e:
        return CheckResult("BAND", False, _msg(e))
    return None


def freeze_limit(inst, day: date) -> int | None:
    """The contract's freeze limit on ``day`` (None: none known), looked up once per contract a day."""
    k = (inst.tradingsymbol, inst.instrument_token, day)
    try:
        return _freeze_cache[k]
    except KeyError:
        try:
            limit = mr.freeze_for(inst, day)
        except (DataError, MarketRuleError):
            limit = None  # not published for this date: the exchange's own check stands
        _freeze_cache[k] = limit
        return limit


def freeze(req, inst, day: date, *, deny: bool) -> tuple[CheckResult | None, int | None]:
    """Return (result or None, the largest allowed slice when the order must be sliced)."""
    limit = freeze_limit(inst, day)
    if limit is None or not mr.needs_slicing(req.quantity, limit):
        return None, None
    try:
        size = mr.max_order_quantity(limit, max(inst.lot_size, 1))
    except MarketRuleError as e:
        return CheckResult("FREEZE", False, _msg(e), float(req.quantity), float(limit)), None
    if deny:
        return CheckResult("FREEZE", False, f"{inst.key}: quantity {req.quantity:,} is above the freeze limit {limit:,}: "
                                            f"send orders of at most {size:,}", float(req.quantity), float(limit)), None
    n = -(-req.quantity // size)
    return CheckResult("FREEZE", True, f"{inst.key}: quantity {req.quantity:,} is above the freeze limit {limit:,}: "
                                       f"to be sent as {n} slices of at most {size:,}", float(req.quantity), float(limit)), size
