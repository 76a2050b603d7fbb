"""A bracket's specification: entry, stop-loss, targets (each a share of the position), trail.

Pure data and arithmetic (no journal, no broker): resolving a signal's ``stop``/``targets``
(a price, or points or percent away from the entry's reference price) into absolute prices,
splitting a filled quantity over the targets by their shares, and the ₹ at risk and
reward:risk the approval card shows. The manager is :mod:`tradekit.execution.brackets`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from tradekit.errors import ValidationError
from tradekit.model.enums import Side
from tradekit.model.money import dec

TRAIL_KINDS = ("points", "percent", "atr")


@dataclass(frozen=True)
class Target:
    price: Decimal
    share: Decimal  # of the filled quantity, 0 < share <= 1

    def to_dict(self) -> dict:
        return {"price": str(self.price), "share": str(self.share)}


@dataclass(frozen=True)
class Trail:
    """Move the stop behind the best mark: ``points`` away, ``percent`` of the best away, or
    ``value`` × ATR(``atr_period``) away (ATR over bars built from the hub's marks)."""

    kind: str
    value: Decimal
    atr_period: int = 14

    def __post_init__(self) -> None:
        if self.kind not in TRAIL_KINDS:
            raise ValidationError(f"{self.kind!r} is not one of {', '.join(TRAIL_KINDS)}", field="trail.kind")
        if self.value <= 0:
            raise ValidationError("must be above 0", field="trail.value")
        if self.kind == "percent" and self.value >= 100:
            raise ValidationError("a percent trail must be below 100", field="trail.value")
        if self.atr_period < 2:
            raise ValidationError("must be at least 2", field="trail.atr_period")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "value": str(self.value), "atr_period": self.atr_period}

    @classmethod
    def from_dict(cls, d: dict | None) -> "Trail | None":
        if not d:
            return None
        return cls(str(d["kind"]), dec(d["value"], "trail.value"), int(d.get("atr_period", 14)))


@dataclass(frozen=True)
class BracketSpec:
    """Absolute prices; ``side`` is the entry's side (the children exit the other way)."""

    stop: Decimal
    targets: tuple[Target, ...] = ()
    trail: Trail | None = None
    break_even: bool | None = None  # None: brackets.break_even_after_first_target

    def to_dict(self) -> dict:
        return {"stop": str(self.stop), "targets": [t.to_dict() for t in self.targets],
                "trail": self.trail.to_dict() if self.trail else None, "break_even": self.break_even}

    @classmethod
    def from_dict(cls, d: dict) -> "BracketSpec":
        return cls(dec(d["stop"], "stop"),
                   tuple(Target(dec(t["price"], "targets.price"), dec(t["share"], "targets.share")) for t in d.get("targets") or ()),
                   Trail.from_dict(d.get("trail")), d.get("break_even"))


def _level(raw, side: Side, ref: Decimal | None, field_: str, *, towards_profit: bool) -> Decimal:
    """A price from ``{"price": x}``, ``{"points": x}`` or ``{"percent": x}`` (or a bare number: a price)."""
    if not isinstance(raw, dict):
        return dec(raw, field_)
    given = [k for k in ("price", "points", "percent") if raw.get(k) is not None]
    if len(given) != 1:
        raise ValidationError("give exactly one of price, points or percent", field=field_)
    k = given[0]
    v = dec(raw[k], f"{field_}.{k}")
    if v <= 0:
        raise ValidationError("must be above 0", field=f"{field_}.{k}")
    if k == "price":
        return v
    if ref is None:
        raise ValidationError(f"{k} needs a reference price (a limit price, reference_price or a last price)", field=field_)
    dist = v if k == "points" else ref * v / 100
    up = (side is Side.BUY) == towards_profit
    return ref + dist if up else ref - dist


def resolve(side: Side, ref: Decimal | None, stop, targets=(), trail=None, break_even=None) -> BracketSpec:
    """A :class:`BracketSpec` from a signal's fields; ``ref`` is the entry's reference price.

    The stop must lie on the losing side of ``ref`` and every target on the winning side; the
    shares add up to at most 1 (what is left rides with the stop and the trail)."""
    stop_px = _level(stop, side, ref, "stop", towards_profit=False)
    outs = []
    total = Decimal(0)
    for i, t in enumerate(targets or ()):
        if not isinstance(t, dict):
            raise ValidationError("a target is an object {price|points|percent, share}", field=f"targets.{i}")
        level = {k: t.get(k) for k in ("price", "points", "percent") if t.get(k) is not None}
        px = _level(level, side, ref, f"targets.{i}", towards_profit=True)
        share = dec(t.get("share", 1 if len(targets) == 1 else None) or 0, f"targets.{i}.share")
        if not 0 < share <= 1:
            raise ValidationError("must be above 0 and at most 1", field=f"targets.{i}.share")
        total += share
        outs.append(Target(px, share))
    if total > 1:
        raise ValidationError(f"the targets' shares add up to {total}, more than 1", field="targets")
    sign = side.sign
    if ref is not None:
        if sign * (ref - stop_px) <= 0:
            raise ValidationError(f"the stop {stop_px} is not on the losing side of the entry {ref} for a {side.value}",
                                  field="stop")
        for i, t in enumerate(outs):
            if sign * (t.price - ref) <= 0:
                raise ValidationError(f"target {t.price} is not on the winning side of the entry {ref} for a {side.value}",
                                      field=f"targets.{i}")
    if isinstance(trail, dict):
        trail = Trail(str(trail.get("kind")), dec(trail.get("value"), "trail.value"), int(trail.get("atr_period") or 14))
    return BracketSpec(stop_px, tuple(outs), trail, break_even)


def allocate(filled: int, shares, lot: int = 1) -> list[int]:
    """Split ``filled`` over targets by their shares (cumulatively, in whole lots; the last
    target with a cumulative share of 1 takes the remainder), never more than ``filled``."""
    out, cum, given = [], Decimal(0), 0
    for s in shares:
        cum += s
        upto = int((Decimal(filled) * cum / lot).to_integral_value(ROUND_FLOOR)) * lot
        if cum >= 1:
            upto = filled
        out.append(max(0, upto - given))
        given += out[-1]
    return out


@dataclass
class RiskReward:
    at_risk: Decimal  # ₹ lost if the stop fills at its trigger
    reward: Decimal  # ₹ gained if every target fills at its price (a share left for the trail is not counted)
    ratio: Decimal | None
    lines: list[str] = field(default_factory=list)


def risk_reward(side: Side, quantity: int, entry: Decimal, spec: BracketSpec, multiplier: int = 1) -> RiskReward:
    """₹ at risk (stop) and the reward of the targets for ``quantity`` entered at ``entry``."""
    sign = side.sign
    at_risk = abs(entry - spec.stop) * quantity * multiplier
    alloc = allocate(quantity, [t.share for t in spec.targets])
    reward = sum((sign * (t.price - entry) * q * multiplier for t, q in zip(spec.targets, alloc)), Decimal(0))
    covered = sum(alloc)
    ratio = None
    if at_risk > 0 and covered:
        ratio = (reward / (abs(entry - spec.stop) * covered * multiplier)).quantize(Decimal("0.01"))
    return RiskReward(at_risk.quantize(Decimal("0.01")), Decimal(reward).quantize(Decimal("0.01")), ratio)


def bracket_card(meta: dict | None, side: str, quantity: int, entry_price: Decimal | None,
                 multiplier: int = 1) -> dict | None:
    """What the approval card shows of a bracket's entry (``order.created`` ``meta["bracket"]``):
    entry, stop, targets (with the quantity each takes), trail, ₹ at risk, reward and reward:risk.
    None for an order that is not a bracket's entry."""
    b = (meta or {}).get("bracket")
    if not b or b.get("role") != "entry":
        return None
    spec = BracketSpec.from_dict(b)
    s = Side(side)
    ref = entry_price if entry_price is not None else (dec(b["reference_price"], "reference_price")
                                                       if b.get("reference_price") else None)
    alloc = allocate(quantity, [t.share for t in spec.targets])
    out = {"entry": ref, "stop": spec.stop, "quantity": quantity,
           "targets": [{"price": t.price, "share": t.share, "quantity": q} for t, q in zip(spec.targets, alloc)],
           "trail": spec.trail.to_dict() if spec.trail else None, "at_risk": None, "reward": None, "reward_risk": None}
    if ref is not None:
        rr = risk_reward(s, quantity, ref, spec, multiplier)
        out.update(at_risk=rr.at_risk, reward=rr.reward, reward_risk=rr.ratio)
    return out
