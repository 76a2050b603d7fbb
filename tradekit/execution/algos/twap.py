"""TWAP: equal pieces at equal intervals between ``start`` and ``end``.

The window is cut into ``n = ceil((end - start) / interval)`` intervals; at the beginning of
interval *k* (0-based) the cumulative target is ``quantity × (k + 1) / n`` — so the first piece
goes at ``start`` and the whole quantity has been released by the beginning of the last interval.
"""

from __future__ import annotations

import math
from datetime import datetime

from tradekit.execution.algos.base import Parent


def intervals(parent: Parent) -> int:
    span = (parent.end - parent.start).total_seconds()
    return max(1, math.ceil(span / parent.interval_seconds))


class TWAP:
    kind = "twap"

    def target(self, parent: Parent, now: datetime) -> float:
        if now < parent.start:
            return 0.0
        n = intervals(parent)
        k = min(n, int((now - parent.start).total_seconds() // parent.interval_seconds) + 1)
        return parent.quantity * k / n
