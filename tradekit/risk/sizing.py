"""Dynamic limits: volatility-based sizing, a volatility regime, loss-streak tightening.

Sizing puts a fixed share of capital at risk per trade: with a stop ``k × ATR`` away (or
``k × daily σ × price`` for realised volatility), quantity = risk ₹ / stop distance, rounded
down to a lot and capped by a value limit.

Regime (documented, deliberately simple): the 20-day realised volatility of NIFTY 50 divided
by the median of that same 20-day figure over the last 250 days. At or above 1.5 the regime is
HIGH and limits and risk per trade are multiplied by ``high_vol_scale`` (0.5). The median is
robust to the spike itself, and the ratio adapts to the market's own normal level.

Loss streak: after ``loss_streak`` consecutive losing closed trades (3) limits are multiplied
by ``loss_streak_scale`` (0.5) until a winning trade or the next day. Scales multiply and
never go below ``min_scale``.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tradekit.risk.config import SizingSettings

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def atr(bars: pd.DataFrame, period: int = 14) -> pd.Series:
    """Average true range with Wilder's smoothing (``high``, ``low``, ``close`` columns)."""
    import pandas as pd

    h, lo, c = bars["high"].astype(float), bars["low"].astype(float), bars["close"].astype(float)
    prev = c.shift(1)
    tr = pd.concat([h - lo, (h - prev).abs(), (lo - prev).abs()], axis=1).max(axis=1)
    tr.iloc[0] = h.iloc[0] - lo.iloc[0]
    return tr.ewm(alpha=1.0 / period, adjust=False, min_periods=period).mean()


def realized_vol(closes: pd.Series, lookback: int = 20, *, annualize: bool = False) -> float:
    """Standard deviation of the last ``lookback`` daily log returns (× √252 if annualised)."""
    import numpy as np

    r = np.log(closes.astype(float)).diff().dropna().iloc[-lookback:]
    if len(r) < 2:
        return float("nan")
    v = float(r.std(ddof=1))
    return v * math.sqrt(252) if annualize else v


@dataclass(frozen=True)
class SizeResult:
    quantity: int
    stop_distance: float  # rupees per unit
    risk: float  # rupees at risk at the stop
    basis: str  # how the stop distance was found

    def __str__(self) -> str:
        return f"{self.quantity} units: stop {self.stop_distance:.2f} away ({self.basis}), ₹{self.risk:,.0f} at risk"


def size_for_risk(capital: float, risk_pct: float, stop_distance: float, *, price: float | None = None, lot_size: int = 1,
                  max_value: float | None = None, scale: float = 1.0, basis: str = "") -> SizeResult:
    """Quantity that loses ``risk_pct`` % of capital (× ``scale``) if the stop is hit,
    rounded down to a whole lot and capped so quantity × price ≤ ``max_value``."""
    if stop_distance <= 0 or not math.isfinite(stop_distance):
        return SizeResult(0, stop_distance, 0.0, basis or "no stop distance")
    budget = capital * risk_pct / 100.0 * scale
    q = int(budget / stop_distance)
    if max_value is not None and price:
        q = min(q, int(max_value / price))
    lot = max(int(lot_size), 1)
    q = q // lot * lot
    return SizeResult(q, stop_distance, q * stop_distance, basis)


def atr_size(bars: pd.DataFrame, capital: float, settings: SizingSettings | None = None, *, lot_size: int = 1,
             max_value: float | None = None, scale: float = 1.0) -> SizeResult:
    """Size a trade on ``bars`` (daily or intraday) with an ATR stop."""
    s = settings or SizingSettings()
    a = float(atr(bars, s.atr_period).iloc[-1])
    price = float(bars["close"].iloc[-1])
    return size_for_risk(capital, s.risk_per_trade_pct, s.atr_multiple * a, price=price, lot_size=lot_size,
                         max_value=max_value, scale=scale, basis=f"{s.atr_multiple:g}×ATR({s.atr_period}) = {s.atr_multiple * a:.2f}")


def vol_size(closes: pd.Series, capital: float, settings: SizingSettings | None = None, *, lot_size: int = 1,
             max_value: float | None = None, scale: float = 1.0) -> SizeResult:
    """Size a trade with a stop of ``atr_multiple`` daily standard deviations."""
    s = settings or SizingSettings()
    sd = realized_vol(closes, s.vol_lookback)
    price = float(closes.iloc[-1])
    dist = s.atr_multiple * sd * price
    return size_for_risk(capital, s.risk_per_trade_pct, dist, price=price, lot_size=lot_size, max_value=max_value,
                         scale=scale, basis=f"{s.atr_multiple:g}×σ({s.vol_lookback}d) = {dist:.2f}")


def position_size(data, capital: float, settings: SizingSettings | None = None, **kw) -> SizeResult:
    """Size by the configured method: ``data`` is OHLC bars (atr) or closes/bars (realized_vol)."""
    import pandas as pd

    s = settings or SizingSettings()
    if s.method == "atr":
        return atr_size(data, capital, s, **kw)
    closes = data["close"] if isinstance(data, pd.DataFrame) else data
    return vol_size(closes, capital, s, **kw)


def stop_distance(symbol: str, price: float, settings: SizingSettings | None = None, *, end=None) -> tuple[float, str]:
    """Stop distance per unit (rupees) by ``settings.method`` from the bundled daily bars of
    ``symbol`` up to ``end`` (pass the day before the trade: no look-ahead): ``atr_multiple``
    × ATR(``atr_period``), or ``atr_multiple`` × the daily σ of ``vol_lookback`` days × ``price``.

    Raises DataError when there are too few daily bars to measure it.
    """
    import pandas as pd

    from tradekit.data.store import load_symbol_bars
    from tradekit.errors import DataError

    s = settings or SizingSettings()
    bars = load_symbol_bars(symbol if ":" in symbol else f"NSE:{symbol}", "1d")  # the data directory, else bundled
    if end is not None:
        bars = bars[bars.index.tz_localize(None).normalize() <= pd.Timestamp(end)]
    need = (s.atr_period if s.method == "atr" else s.vol_lookback) + 1
    if len(bars) < need:
        raise DataError(f"{len(bars)} daily bars of {symbol} up to {end}: risk.sizing.method={s.method} needs {need}")
    if s.method == "atr":
        a = float(atr(bars, s.atr_period).iloc[-1])
        return s.atr_multiple * a, f"{s.atr_multiple:g}×ATR({s.atr_period}) = {s.atr_multiple * a:.2f}"
    sd = realized_vol(bars["close"], s.vol_lookback)
    dist = s.atr_multiple * sd * float(price)
    return dist, f"{s.atr_multiple:g}×σ({s.vol_lookback}d) = {dist:.2f}"


@dataclass(frozen=True)
class Regime:
    name: str  # "HIGH" or "NORMAL"
    ratio: float
    short_vol: float  # annualised
    normal_vol: float  # annualised median of the short vol

    def __str__(self) -> str:
        return (f"{self.name} volatility: {self.short_vol:.1%} vs a normal {self.normal_vol:.1%} "
                f"(ratio {self.ratio:.2f})")


def vol_regime(index_closes: pd.Series, settings: SizingSettings | None = None) -> Regime:
    """The volatility regime from an index's daily closes (see the module docstring)."""
    import numpy as np

    s = settings or SizingSettings()
    r = np.log(index_closes.astype(float)).diff().dropna()
    roll = r.rolling(s.regime_short).std(ddof=1) * math.sqrt(252)
    roll = roll.dropna()
    if roll.empty:
        return Regime("NORMAL", 1.0, float("nan"), float("nan"))
    short = float(roll.iloc[-1])
    normal = float(roll.iloc[-s.regime_long:].median())
    return _classify(short, normal, s)


def _classify(short: float, normal: float, s: SizingSettings) -> Regime:
    ratio = short / normal if normal > 0 else 1.0
    return Regime("HIGH" if ratio >= s.high_vol_ratio else "NORMAL", ratio, short, normal)


class RegimeSeries:
    """:func:`vol_regime` of every leading part of one series of index closes, from one pass.

    ``at(k)`` equals ``vol_regime(index_closes.iloc[:k], settings)`` to the bit: the log returns,
    their rolling standard deviation (pandas computes it left to right, each value from those
    before it) and the dropped gaps of a leading part are the leading part of the whole
    series'. The median of the last ``regime_long`` values is kept as a sorted window that moves
    with ``k`` (a replay asks for the next day's ``k``): the middle value, or the two middle
    values' sum halved, as ``np.median`` (which ``Series.median`` uses) takes it; a window that
    holds a zero is left to numpy (0.0 and -0.0 sort as equals).
    """

    def __init__(self, index_closes: pd.Series, settings: SizingSettings | None = None) -> None:
        import numpy as np
        import pandas as pd

        self.settings = s = settings or SizingSettings()
        c = pd.Series(index_closes.astype(float).to_numpy())  # positions as the index
        r = np.log(c).diff().dropna()
        roll = (r.rolling(s.regime_short).std(ddof=1) * math.sqrt(252)).dropna()
        self._pos = roll.index.to_numpy()  # the position in the closes each value ends at
        self._vol = roll.to_numpy()
        self._vals = self._vol.tolist()
        self._at: dict[int, Regime] = {}
        self._m = -1  # the sorted window holds the values [_lo, _m)
        self._lo = 0
        self._win: list[float] = []

    def at(self, k: int) -> Regime:
        """The regime of the first ``k`` closes."""
        hit = self._at.get(k)
        if hit is None:
            import numpy as np

            m = int(np.searchsorted(self._pos, k, side="left"))  # values from the first k closes
            if m == 0:
                hit = Regime("NORMAL", 1.0, float("nan"), float("nan"))
            else:
                hit = _classify(self._vals[m - 1], self._median(m), self.settings)
            self._at[k] = hit
        return hit

    def _median(self, m: int) -> float:
        lo = max(m - self.settings.regime_long, 0)
        vals, win = self._vals, self._win
        if self._m <= m <= self._m + 64 and self._m >= 0:  # move the window forward
            for j in range(self._m, m):
                insort(win, vals[j])
            for j in range(self._lo, lo):
                del win[bisect_left(win, vals[j])]
        else:
            win = self._win = sorted(vals[lo:m])
        self._m, self._lo = m, lo
        n = len(win)
        if not win[0] > 0.0:  # a zero (or a NaN): numpy decides, as Series.median does
            import numpy as np

            w = self._vol[lo:m]
            return float(np.nanmedian(w[~np.isnan(w)]))
        h = n // 2
        return win[h] if n % 2 else (win[h - 1] + win[h]) / 2


class DynamicLimits:
    """The factor applied to limits now: regime × loss streak, floored at ``min_scale``.

    Feed it :meth:`set_regime` at the start of a day and :meth:`record_trade` with each
    closed trade's P&L; hand :attr:`scale` to ``PreTradeGate.set_scale``.
    """

    def __init__(self, settings: SizingSettings | None = None) -> None:
        self.cfg = settings or SizingSettings()
        self.regime: Regime | None = None
        self.streak = 0  # consecutive losing trades

    def set_regime(self, regime: Regime) -> float:
        self.regime = regime
        return self.scale

    def record_trade(self, pnl: float) -> float:
        if pnl < 0:
            self.streak += 1
        elif pnl > 0:
            self.streak = 0
        return self.scale

    def reset_day(self) -> None:
        self.streak = 0

    @property
    def scale(self) -> float:
        c = self.cfg
        s = 1.0
        if self.regime is not None and self.regime.name == "HIGH":
            s *= c.high_vol_scale
        if self.streak >= c.loss_streak:
            s *= c.loss_streak_scale
        return max(s, c.min_scale)

    @property
    def reason(self) -> str:
        parts = []
        if self.regime is not None and self.regime.name == "HIGH":
            parts.append(f"high-volatility regime (×{self.cfg.high_vol_scale:g})")
        if self.streak >= self.cfg.loss_streak:
            parts.append(f"{self.streak} losing trades in a row (×{self.cfg.loss_streak_scale:g})")
        return "; ".join(parts) or "normal"
