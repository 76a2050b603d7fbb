"""VWAP: release in proportion to the NSE intraday volume curve over ``start`` .. ``end``.

At the beginning of session minute *m* the cumulative target is
``quantity × curve[start .. m] / curve[start .. end)`` (curve: :mod:`.volume_curve`, estimated
from the bundled minute bars and the tick store), so each minute gets the share of the window's
volume that NSE usually trades in it. Outside the session the curve is 0.
"""

from __future__ import annotations

import math
from datetime import datetime

from tradekit.execution.algos.base import Parent
from tradekit.execution.algos.volume_curve import load_curve, minute_of_session, window_share


class VWAP:
    kind = "vwap"

    def __init__(self, curve=None):
        self._curve = curve

    @property
    def curve(self):
        if self._curve is None:
            self._curve = load_curve()
        return self._curve

    def target(self, parent: Parent, now: datetime) -> float:
        if now < parent.start:
            return 0.0
        first = minute_of_session(parent.start)
        last = first + max(1, math.ceil((parent.end - parent.start).total_seconds() / 60))
        total = window_share(self.curve, first, last)
        if total <= 0:  # a window outside the session: spread evenly instead
            done = min(last, minute_of_session(now) + 1) - first
            return parent.quantity * min(1.0, done / (last - first))
        done = window_share(self.curve, first, min(last, minute_of_session(now) + 1))
        return parent.quantity * min(1.0, done / total)
