"""Indicators for conditional orders, over bars built from the feed's ticks.

Ticks from the market-data hub (a live ticker, paper bars fed as ticks, a tick replay) are
turned into bars by the session-aware resampler (:func:`tradekit.data.resample.ticks_to_bars`,
bins anchored at 09:15 IST): finished bars are kept (bounded), the forming bar is rebuilt from
its own ticks, so every evaluation sees the bars so far, the forming one included.

The indicators are computed by libraries, not by hand: moving averages and RSI by vectorbt
(the kernels of ``vbt.MA`` and ``vbt.RSI``), the session VWAP by pandas-ta-classic (``vwap``, anchored daily).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from tradekit.clock import IST
from tradekit.data.resample import bin_starts, parse_rule, ticks_to_bars

_IST_NAIVE_OFFSET = pd.Timedelta(hours=5, minutes=30)


def _nb():
    """vectorbt's indicator kernels (``vbt.MA``/``vbt.RSI`` run these; called directly, an evaluation
    per tick costs microseconds instead of the indicator factory's ~20 ms). Heavy to import (numba):
    done when the first indicator condition is armed."""
    import vectorbt.indicators.nb as nb

    return nb


def preload() -> None:
    """Import the indicator libraries now (arming time), not on the first tick."""
    _nb()
    _ta()


def _ta():
    import warnings

    with warnings.catch_warnings():  # its import calls a pandas API that pandas 3 deprecates
        warnings.simplefilter("ignore")
        import pandas_ta_classic as ta
    return ta


class BarBuilder:
    """Bars of one instrument at one interval from its ticks (see the module docstring)."""

    def __init__(self, interval: str, keep: int):
        self.interval = parse_rule(interval)
        self.keep = max(int(keep), 2)
        self.done: pd.DataFrame | None = None
        self.ts: list[int] = []  # ns of the forming bar's ticks
        self.px: list[float] = []
        self.vol: list[int] = []
        self.bin: int | None = None
        self._last_cum: int | None = None
        self._day: int | None = None

    def add(self, ts: datetime, price: float, volume: int | None, last_quantity: int | None) -> None:
        ns = int(pd.Timestamp(ts).value)
        b = int(bin_starts(np.array([ns], dtype="int64"), self.interval)[0])
        day = (ns + _IST_NAIVE_OFFSET.value) // 86_400_000_000_000
        if self._day is not None and day != self._day:
            self._last_cum = None  # the cumulative day volume starts again
        self._day = day
        traded = 0
        if volume is not None:  # Kite's tick volume is the day's so far
            traded = volume - self._last_cum if self._last_cum is not None and volume >= self._last_cum else (
                last_quantity or 0)
            self._last_cum = volume
        elif last_quantity:
            traded = last_quantity
        if self.bin is not None and b != self.bin and self.ts:
            self._finish()
        if self.ts and ns < self.ts[-1]:
            ns = self.ts[-1]  # out of order by a hair: kept in the forming bar
        self.bin = b
        self.ts.append(ns)
        self.px.append(float(price))
        self.vol.append(int(traded))

    def _forming(self) -> pd.DataFrame:
        idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(self.ts, dtype="int64"), utc=True)).tz_convert(IST)
        return ticks_to_bars(pd.DataFrame({"price": self.px, "volume": self.vol}, index=idx), self.interval, close=None)

    def _finish(self) -> None:
        bars = self._forming()
        self.done = bars if self.done is None else pd.concat([self.done, bars]).iloc[-self.keep:]
        self.ts, self.px, self.vol = [], [], []

    def bars(self) -> pd.DataFrame:
        """Finished bars and the forming one."""
        parts = [p for p in (self.done, self._forming() if self.ts else None) if p is not None and len(p)]
        if not parts:
            return pd.DataFrame(columns=["open", "high", "low", "close", "volume"])
        return parts[0] if len(parts) == 1 else pd.concat(parts)


def bars_needed(spec: dict) -> int:
    """How many bars an indicator condition keeps (its warm-up, with room for EMA and VWAP)."""
    ind = spec["indicator"]
    if ind == "sma_cross":
        return int(spec["slow"]) + 2
    if ind == "ema_cross":
        return max(10 * int(spec["slow"]), 200)  # an EMA's start fades out within a few windows
    if ind == "rsi":
        return int(spec.get("window") or 14) + 2
    return 400  # vwap: a whole session of 1-minute bars


def indicator_value(spec: dict, bars: pd.DataFrame, last_price: float) -> float | None:
    """The value a crossing is judged on, or None during the warm-up:

    * ``sma_cross``/``ema_cross``: fast MA minus slow MA of the closes (crosses 0);
    * ``rsi``: RSI(window) of the closes (crosses ``level``);
    * ``vwap``: the last price minus the session VWAP (crosses 0).
    """
    ind = spec["indicator"]
    if bars is None or len(bars) == 0:
        return None
    close = bars["close"].astype("float64")
    if ind in ("sma_cross", "ema_cross"):
        fast, slow = int(spec["fast"]), int(spec["slow"])
        if len(close) < slow:
            return None
        nb = _nb()
        a = close.to_numpy(dtype="float64").reshape(-1, 1)
        ewm = ind == "ema_cross"
        f = nb.ma_nb(a, fast, ewm)[-1, 0]
        s = nb.ma_nb(a, slow, ewm)[-1, 0]
        if not (np.isfinite(f) and np.isfinite(s)):
            return None
        return float(f - s)
    if ind == "rsi":
        w = int(spec.get("window") or 14)
        if len(close) < w + 1:
            return None
        from numba.typed import List

        nb = _nb()
        a = close.to_numpy(dtype="float64").reshape(-1, 1)
        r = nb.rsi_apply_nb(a, w, False, False, nb.rsi_cache_nb(a, List([w]), List([False]), False))[-1, 0]
        return float(r) if np.isfinite(r) else None
    if ind == "vwap":
        ta = _ta()
        vol = bars["volume"].astype("float64")
        if float(vol.sum()) <= 0:
            return None
        local = bars.index.tz_convert(IST).tz_localize(None)  # the session day in IST (to_period drops the zone)
        v = ta.vwap(bars["high"].set_axis(local).astype("float64"), bars["low"].set_axis(local).astype("float64"),
                    close.set_axis(local), vol.set_axis(local), anchor="D")
        if v is None or not len(v) or not np.isfinite(v.iloc[-1]):
            return None
        return float(last_price) - float(v.iloc[-1])
    raise ValueError(f"unknown indicator {ind!r}")
