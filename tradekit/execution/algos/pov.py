"""POV: a share (``participation``) of the volume traded since the algo began counting.

The traded volume comes from the market-data hub (``session.market.add_listener``): a tick
carries the day's cumulative volume (Kite's ``volume_traded``; paper bars arrive as ticks that
carry it too), so the same code runs in paper and live. The first tick after ``start`` sets the
base (journaled as ``algo.volume_base``, so a restart keeps counting from the same point: the
cumulative volume is the exchange's, not the process's).
"""

from __future__ import annotations

from datetime import datetime

from tradekit.execution.algos.base import Parent


class POV:
    kind = "pov"

    def target(self, parent: Parent, now: datetime) -> float:
        if now < parent.start or parent.volume_base is None or parent.volume_now is None:
            return 0.0
        traded = max(0, parent.volume_now - parent.volume_base)
        return min(float(parent.quantity), float(parent.participation or 0.0) * traded)
