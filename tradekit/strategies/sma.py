"""SMA crossover: the sample strategy used by the demo, the parity check and the benchmark.

Signals are computed from closes only (vectorised), and each is stamped at the *end* of the
bar that produced it, so no signal can use a price it could not have seen; the paper broker
then fills it on a later bar.

An intraday (MIS) strategy is flat at the end of every session: tradekit's square-off (or the
broker's) closes the position, so the strategy's state restarts flat each IST day. Without
that reset a multi-day replay would send the next day's "sell back" of a position the
square-off had already closed, which is a short entry for a long-only strategy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta

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
    #: None: MIS on intraday bars, CNC (delivery) on daily bars. MIS on daily bars is refused: an
    #: intraday product held for months would be charged (and margined) as if squared off each day.
    product: Product | str | None = None
    long_short: bool = False
    name: str = ""
    bar: timedelta = timedelta(minutes=1)
    #: Restart flat each session (the square-off closed the position). None: for MIS only.
    flat_at_session_end: bool | None = None
    #: With a session reset: no signal from a bar ending at or after this IST time (the
    #: session's square-off time; the square-off, not the strategy, closes the position).
    session_end: time | None = None

    def __post_init__(self) -> None:
        from tradekit.errors import ValidationError

        if self.product is not None:
            try:
                object.__setattr__(self, "product", Product(str(self.product).upper()))
            except ValueError:
                raise ValidationError(f"{self.product!r} is not a product (CNC, MIS, NRML, MTF)", field="product") from None
        if self.daily and self.product is Product.MIS:
            raise ValidationError("MIS is intraday (squared off the same day) and cannot run on daily bars, which "
                                  "hold positions across days: use CNC (delivery), e.g. sma:FAST:SLOW:QTY:CNC",
                                  field="product")

    @property
    def daily(self) -> bool:
        return self.bar >= timedelta(days=1)

    @property
    def trade_product(self) -> Product:
        """The product of the orders: as given, else MIS on intraday bars and CNC on daily bars."""
        if self.product is not None:
            return self.product
        return Product.CNC if self.daily else Product.MIS

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

    def _targets(self, bars: pd.DataFrame) -> np.ndarray:
        """Desired position after each of ``bars`` (a subclass may compute it from all columns)."""
        return self.target_positions(bars["close"].to_numpy())

    @property
    def resets_each_session(self) -> bool:
        if self.flat_at_session_end is None:
            return self.trade_product is Product.MIS
        return bool(self.flat_at_session_end)

    def trade_deltas(self, bars: pd.DataFrame) -> np.ndarray:
        """The quantity to trade after each bar (target after it minus target before it).

        **Close rule** (intraday bars): no trade is signalled on a session's last bar, whose
        order could only reach the next session (a DAY order lapses at the close; Kite refuses
        regular orders after it). Without a session reset the change is signalled at the end of
        the next session's first bar instead; with one, it is dropped (the day ends flat).

        With a session reset the target is computed per IST day from that day's bars, each
        day starts flat, and nothing is traded from ``session_end`` on (the square-off closes
        what is open).
        """
        close = bars["close"].to_numpy()
        idx = bars.index
        if not len(close):
            return np.zeros(0, dtype="int64")
        days = idx.normalize().asi8  # each bar's local midnight as integers (no Timestamp per bar)
        last = np.r_[days[1:] != days[:-1], True]  # each session's last bar
        if not self.resets_each_session:
            tgt = self._targets(bars)
            if not self.daily:
                for i in np.flatnonzero(last):  # carry the position over the close unchanged
                    tgt[i] = tgt[i - 1] if i > 0 else 0
            return np.diff(np.concatenate([[0], tgt]))
        out = np.zeros(len(close), dtype="int64")
        ends = idx + pd.Timedelta(self.bar)
        live = ~last if not self.daily else np.ones(len(close), dtype=bool)
        if self.session_end is not None:
            live &= np.asarray(ends.hour * 60 + ends.minute < self.session_end.hour * 60 + self.session_end.minute)
        bounds = np.flatnonzero(np.r_[True, days[1:] != days[:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:]):
            m = np.flatnonzero(live[a:b]) + a
            if not len(m):
                continue
            tgt = self._targets(bars.iloc[m])
            out[m] = np.diff(np.concatenate([[0], tgt]))
        return out

    def signals(self, bars: pd.DataFrame, key: str) -> list[Signal]:
        """One signal per change of the target position, stamped at the bar's end."""
        exchange, _, symbol = key.partition(":")
        ex = Exchange(exchange)
        delta = self.trade_deltas(bars)
        idx = np.nonzero(delta)[0]
        starts = bars.index[idx].to_pydatetime()  # only the signalling bars' starts, converted at once
        # the signalling bars' deltas and closes as Python ints and floats, and the per-strategy parts, once
        deltas, closes = delta[idx].tolist(), bars["close"].to_numpy(dtype="float64")[idx].tolist()
        strategy, product, bar = self.strategy, self.trade_product, self.bar
        prefix = f"{strategy}-{symbol}-"
        out: list[Signal] = []
        for d, c, start in zip(deltas, closes, starts):
            out.append(Signal(
                signal_id=prefix + start.strftime("%Y%m%d%H%M"),
                strategy=strategy, exchange=ex, tradingsymbol=symbol,
                side=Side.BUY if d > 0 else Side.SELL, quantity=abs(d), order_type=OrderType.MARKET,
                product=product, signal_time=start + bar, reference_price=dec(c, "close"),
            ))
        return out
