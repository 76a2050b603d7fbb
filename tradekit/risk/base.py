"""The risk gate's interface: every order passes ``RiskGate.check`` before it reaches a broker.

A decision is a value, never an exception: ``RiskDecision(allowed, checks)`` where each
:class:`CheckResult` has a coded reason and a message a trader understands, e.g.
``CheckResult("CONCENTRATION", False, "RELIANCE: position would be 18.2 % of capital, limit 15 %")``.
Risk-reducing actions (cancel, flatten, square-off) are never blocked: an order that only
reduces an existing position passes every exposure, loss and approval check and passes in
REDUCING. In HALTED only cancels pass (they never reach the gate) and reducing orders the
risk layer itself issued (``source`` in :data:`HALTED_SOURCES`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from tradekit.execution.account import Account
    from tradekit.model.instrument import Instrument
    from tradekit.model.order import Order
    from tradekit.store.projection import Book

# Sources whose exposure-reducing orders still pass in HALTED: the risk layer's own
# flatten orders, the session's square-off, and a person's or the broker RMS's flatten.
HALTED_SOURCES = frozenset({"kill_switch", "breaker", "square_off", "flatten", "rms"})


class TradingState(str, Enum):
    """ACTIVE: everything the limits allow. REDUCING: only exposure-reducing orders.
    HALTED: only cancels, and flatten/square-off orders issued by the risk layer."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    def __str__(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class CheckResult(NamedTuple):
    """One check's outcome. A tuple (cheap to build in the hot path) that reads like a record.

    ``code`` is stable and machine-readable ("TICK", "LOT", "BAND", "FUNDS", "CONCENTRATION",
    "DAILY_LOSS", "STATE", ...); ``message`` is for a person; ``value``/``limit`` are the
    figures compared (rupees, percent or counts, as the code implies).
    """

    code: str
    ok: bool
    message: str = ""
    value: float | None = None
    limit: float | None = None

    def to_dict(self) -> dict:
        return _as_dicts((self,))[0]


def _as_dicts(checks) -> list[dict]:
    """Each check as its dict (``value`` and ``limit`` only when set). One loop for a decision's
    checks, unpacking each tuple: half the cost of a to_dict() call per check (every order's
    ``risk.decision`` carries a dozen)."""
    out = []
    for code, ok, message, value, limit in checks:
        d = {"code": code, "ok": ok, "message": message}
        if value is not None:
            d["value"] = value
        if limit is not None:
            d["limit"] = limit
        out.append(d)
    return out


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The gate's answer for one order.

    ``needs_slicing`` is the largest allowed child quantity when the order is above the
    exchange freeze limit (the OMS must send it in slices); ``retry_after`` (seconds) is set
    when only the order-rate governor said no, so the caller may wait and check again.
    """

    allowed: bool
    checks: tuple[CheckResult, ...] = ()
    reduce_only: bool = False
    needs_slicing: int | None = None
    retry_after: float | None = None
    state: str | None = None  # the trading state the decision was taken in

    @property
    def reason(self) -> str:
        failed = [c.message or c.code for c in self.checks if not c.ok]
        return "; ".join(failed)

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.checks if not c.ok]

    def check(self, code: str) -> CheckResult | None:
        """The result of the check named ``code`` (``None`` if it did not run)."""
        for c in self.checks:
            if c.code == code:
                return c
        return None

    def to_dict(self) -> dict:
        d = {
            "allowed": self.allowed,
            "reason": self.reason,
            "reduce_only": self.reduce_only,
            "checks": _as_dicts(self.checks),
        }
        if self.needs_slicing is not None:
            d["needs_slicing"] = self.needs_slicing
        if self.retry_after is not None:
            d["retry_after"] = round(self.retry_after, 3)
        if self.state is not None:
            d["state"] = self.state
        return d


ALLOW = RiskDecision(True)


@dataclass(slots=True)
class RiskContext:
    """What the gate may look at. Built by the OMS for each check; cheap to construct.

    ``extra`` carries optional facts the OMS knows: ``"band"`` = (lower, upper) circuit
    limits, ``"holdings"`` = sellable delivery quantity of this symbol (int) or a mapping
    symbol → quantity, ``"mis_cutoff"`` = a datetime overriding the configured MIS cut-off,
    ``"algo_id"`` = the exchange algo ID the OMS will send.
    """

    now: datetime
    book: "Book"
    account: "Account | None" = None
    instrument: "Instrument | None" = None
    last_price: Decimal | None = None
    reduce_only: bool = False
    source: str = "signal"  # signal | manual | algo | bracket | square_off | kill_switch | breaker
    approval_mode: str = "auto"
    extra: dict = field(default_factory=dict)


@runtime_checkable
class RiskGate(Protocol):
    def check(self, order: "Order", ctx: RiskContext) -> RiskDecision: ...


class PassThroughGate:
    """Allows everything; stands in until the real gate is configured. Records that it did."""

    def check(self, order: "Order", ctx: RiskContext) -> RiskDecision:
        return RiskDecision(True, (CheckResult("PASS_THROUGH", True, "no risk gate configured"),), reduce_only=ctx.reduce_only)
