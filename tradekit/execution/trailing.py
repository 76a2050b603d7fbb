"""Trailing-stop arithmetic: the distance behind the best mark (points, percent, ATR) and tick rounding.

ATR comes from vectorbt's ``ATR`` indicator over bars of ``bar_seconds`` built from the marks the
market-data hub delivers (paper bars and live ticks alike); :meth:`TrailEngine.seed` preloads
history (e.g. the previous day's minute bars) so an ATR trail can move from the first mark.
Until ``atr_period`` bars are complete an ATR trail does not move (the initial stop holds).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from tradekit.execution.bracket_spec import Trail

MAX_BARS = 500  # per instrument, enough for any sensible ATR period


class TrailEngine:
    def __init__(self, bar_seconds: int = 60):
        self.bar_seconds = int(bar_seconds)
        self._bars: dict[str, list[list[float]]] = {}  # key -> [[bucket, high, low, close], ...]
        self._atr: dict[tuple[str, int], float | None] = {}  # (key, period) -> ATR of the completed bars

    def on_mark(self, key: str, ts: datetime, price: float) -> None:
        bucket = int(ts.timestamp() // self.bar_seconds)
        bars = self._bars.setdefault(key, [])
        if bars and bars[-1][0] == bucket:
            b = bars[-1]
            b[1], b[2], b[3] = max(b[1], price), min(b[2], price), price
            return
        if bars and bars[-1][0] > bucket:
            return  # a late mark for a bar already closed
        bars.append([bucket, price, price, price])
        if len(bars) > MAX_BARS:
            del bars[: len(bars) - MAX_BARS]
        for k in [k for k in self._atr if k[0] == key]:
            del self._atr[k]  # a bar completed: recompute on demand

    def seed(self, key: str, bars) -> None:
        """Preload completed bars: a DataFrame with ``high``, ``low``, ``close`` and a datetime index."""
        rows = [[int(ts.timestamp() // self.bar_seconds), float(h), float(lo), float(c)]
                for ts, h, lo, c in zip(bars.index, bars["high"], bars["low"], bars["close"])]
        have = self._bars.get(key, [])
        self._bars[key] = (rows + [b for b in have if not rows or b[0] > rows[-1][0]])[-MAX_BARS:]
        for k in [k for k in self._atr if k[0] == key]:
            del self._atr[k]

    @staticmethod
    def prepare() -> None:
        """Import vectorbt (seconds, once per process) before marks arrive, not on the first one."""
        import vectorbt  # noqa: F401

    def atr(self, key: str, period: int) -> float | None:
        """vectorbt's ATR(``period``) over the completed bars of ``key`` (None: too few bars)."""
        k = (key, period)
        if k in self._atr:
            return self._atr[k]
        done = self._bars.get(key, [])[:-1]  # the last bar is still forming
        val = None
        if len(done) >= period + 1:
            import pandas as pd
            import vectorbt as vbt

            df = pd.DataFrame(done[-(period * 4 + 1):], columns=["bucket", "high", "low", "close"])
            out = vbt.ATR.run(df["high"], df["low"], df["close"], window=period).atr
            last = float(out.iloc[-1])
            val = last if last == last and last > 0 else None  # NaN or a flat series: no distance
        self._atr[k] = val
        return val

    def distance(self, trail: Trail, key: str, best: Decimal) -> Decimal | None:
        if trail.kind == "points":
            return trail.value
        if trail.kind == "percent":
            return best * trail.value / 100
        a = self.atr(key, trail.atr_period)
        return None if a is None else trail.value * Decimal(repr(a))

    @staticmethod
    def round(price: Decimal, tick: Decimal, sign: int) -> Decimal:
        """To the tick: down for ``sign`` > 0 (a long's stop never rounds up towards the market), up otherwise."""
        steps = (price / tick).to_integral_value(rounding=ROUND_FLOOR if sign > 0 else ROUND_CEILING)
        return (steps * tick).quantize(tick) if tick.as_tuple().exponent < 0 else steps * tick
