"""The risk gate's interface: every order passes ``RiskGate.check`` before it reaches a broker.

A decision is a value, never an exception: ``RiskDecision(allowed, checks)`` where each
:class:`CheckResult` has a coded reason and a message a trader understands, e.g.
``CheckResult("CONCENTRATION", False, "RELIANCE: position would be 18.2 % of capital, limit 15 %")``.
Risk-reducing actions (cancel, flatten, square-off) are never blocked: the OMS marks them
``reduce_only`` and the gate must allow any order that only reduces exposure, whatever the
trading state, except in HALTED where only cancels pass (and flatten orders the gate itself
issued with ``source="kill_switch"``/``"breaker"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from tradekit.execution.account import Account
    from tradekit.model.instrument import Instrument
    from tradekit.model.order import Order
    from tradekit.store.projection import Book


@dataclass(frozen=True, slots=True)
class CheckResult:
    code: str  # e.g. "TICK", "LOT", "BAND", "FUNDS", "CONCENTRATION", "DAILY_LOSS", "STATE"
    ok: bool
    message: str = ""
    value: float | None = None
    limit: float | None = None

    def to_dict(self) -> dict:
        d = {"code": self.code, "ok": self.ok, "message": self.message}
        if self.value is not None:
            d["value"] = self.value
        if self.limit is not None:
            d["limit"] = self.limit
        return d


@dataclass(frozen=True, slots=True)
class RiskDecision:
    allowed: bool
    checks: tuple[CheckResult, ...] = ()
    reduce_only: bool = False
    needs_slicing: int | None = None  # the largest allowed slice, when above the freeze limit

    @property
    def reason(self) -> str:
        failed = [c.message or c.code for c in self.checks if not c.ok]
        return "; ".join(failed)

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.checks if not c.ok]

    def to_dict(self) -> dict:
        return {
            "allowed": self.allowed,
            "reason": self.reason,
            "reduce_only": self.reduce_only,
            "checks": [c.to_dict() for c in self.checks],
        }


ALLOW = RiskDecision(True)


@dataclass(slots=True)
class RiskContext:
    """What the gate may look at. Built by the OMS for each check; cheap to construct."""

    now: datetime
    book: "Book"
    account: "Account | None" = None
    instrument: "Instrument | None" = None
    last_price: Decimal | None = None
    reduce_only: bool = False
    source: str = "signal"  # signal | manual | algo | square_off | kill_switch | breaker
    approval_mode: str = "auto"
    extra: dict = field(default_factory=dict)


@runtime_checkable
class RiskGate(Protocol):
    def check(self, order: "Order", ctx: RiskContext) -> RiskDecision: ...


class PassThroughGate:
    """Allows everything; stands in until the real gate is configured. Records that it did."""

    def check(self, order: "Order", ctx: RiskContext) -> RiskDecision:
        return RiskDecision(True, (CheckResult("PASS_THROUGH", True, "no risk gate configured"),), reduce_only=ctx.reduce_only)
