"""SMA crossover: the sample strategy used by the demo, the parity check and the benchmark.

Signals are computed from closes only (vectorised), and each is stamped at the *end* of the
bar that produced it, so no signal can use a price it could not have seen; the paper broker
then fills it on a later bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.money import dec
from tradekit.model.signal import Signal


@dataclass(frozen=True)
class SmaCrossover:
    """Long-only by default: buy ``quantity`` when SMA(fast) crosses above SMA(slow), sell it back
    when it crosses below. ``long_short=True`` reverses between +quantity and −quantity."""

    fast: int = 10
    slow: int = 30
    quantity: int = 1
    product: Product = Product.MIS
    long_short: bool = False
    name: str = ""
    bar: timedelta = timedelta(minutes=1)
    flat_at_session_end: bool = False  # reset the state each session (intraday strategies)

    @property
    def strategy(self) -> str:
        return self.name or f"sma_{self.fast}_{self.slow}"

    def crossings(self, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boolean arrays (cross_up, cross_down) the length of ``close``."""
        c = pd.Series(np.asarray(close, dtype="float64"))
        f = c.rolling(self.fast, min_periods=self.fast).mean().to_numpy()
        s = c.rolling(self.slow, min_periods=self.slow).mean().to_numpy()
        above = f > s
        valid = ~(np.isnan(f) | np.isnan(s))
        prev_above = np.roll(above, 1)
        prev_valid = np.roll(valid, 1)
        prev_valid[0] = False
        both = valid & prev_valid
        return both & above & ~prev_above, both & ~above & prev_above

    def target_positions(self, close: np.ndarray) -> np.ndarray:
        """Desired position after each bar (0/+q, or −q/+q when long_short)."""
        up, down = self.crossings(close)
        state = np.full(len(close), np.nan)
        state[up] = 1.0
        state[down] = -1.0 if self.long_short else 0.0
        tgt = pd.Series(state).ffill().fillna(0.0).to_numpy()
        return (tgt * self.quantity).astype("int64")

    def signals(self, bars: pd.DataFrame, key: str) -> list[Signal]:
        """One signal per change of the target position, stamped at the bar's end."""
        exchange, _, symbol = key.partition(":")
        ex = Exchange(exchange)
        tgt = self.target_positions(bars["close"].to_numpy())
        delta = np.diff(np.concatenate([[0], tgt]))
        idx = np.nonzero(delta)[0]
        closes = bars["close"].to_numpy()
        starts = bars.index
        out: list[Signal] = []
        for i in idx:
            d = int(delta[i])
            ts = starts[i].to_pydatetime() + self.bar
            out.append(Signal(
                signal_id=f"{self.strategy}-{symbol}-{starts[i].strftime('%Y%m%d%H%M')}",
                strategy=self.strategy, exchange=ex, tradingsymbol=symbol,
                side=Side.BUY if d > 0 else Side.SELL, quantity=abs(d), order_type=OrderType.MARKET,
                product=self.product, signal_time=ts, reference_price=dec(float(closes[i]), "close"),
            ))
        return out
