"""Parent orders worked as child orders: the shared state and the schedule interface.

A *parent* is an order a person (or the auto-approval policy) approved once; the engine in
:mod:`tradekit.execution.slicing` sends it as child orders through the one OMS and gate. Each
kind answers one question, :meth:`Schedule.target`: *how many units should have been released
by now* (cumulative, before rounding to lots). The engine compares that with what its children
hold (filled plus still working) and releases the difference, paced by the order-rate budget.

Kinds: ``slice`` (freeze slicing: everything at once, in pieces of at most the freeze
quantity), ``twap`` (:mod:`.twap`), ``vwap`` (:mod:`.vwap`), ``pov`` (:mod:`.pov`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tradekit.model.order import OrderRequest

KINDS = ("twap", "vwap", "pov")


@dataclass
class Parent:
    """One parent order and what the engine knows of it (all of it rebuilt from the journal)."""

    parent_id: str
    strategy: str
    request: OrderRequest  # the approved request (full quantity)
    kind: str  # slice | twap | vwap | pov
    source: str = "signal"
    max_child: int | None = None  # the largest child (freeze quantity as a lot multiple), None: no cap
    lot: int = 1
    start: datetime | None = None
    end: datetime | None = None
    participation: float | None = None  # pov: share of the traded volume
    limit_price: Decimal | None = None  # the bound no child's price may cross
    interval_seconds: float = 60.0  # twap/vwap: one release per interval
    min_child: int = 0  # pov: the smallest child (0: one lot)
    volume_base: int | None = None  # pov: the day's cumulative volume when counting began
    volume_now: int | None = None  # pov: the latest cumulative volume seen
    children: list[str] = field(default_factory=list)
    status: str = "ACTIVE"  # ACTIVE, then COMPLETE | CANCELLED | EXPIRED | STOPPED
    reason: str = ""

    @property
    def quantity(self) -> int:
        return self.request.quantity

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"

    @property
    def event_prefix(self) -> str:
        return "slice" if self.kind == "slice" else "algo"


class Schedule(Protocol):
    def target(self, parent: Parent, now: datetime) -> float:
        """Units that should have been released by ``now`` (0..parent.quantity, not rounded)."""


def clamp_fraction(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else x


def round_lots(units: float, lot: int) -> int:
    """Round down to a whole number of lots."""
    lot = max(1, lot)
    return int(units // lot) * lot
