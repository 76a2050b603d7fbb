"""Ticks synthesised from 1-minute bars: for tests, rehearsals and benchmarks of tick-level code
when no recorded day is at hand. Not market data: the path inside a bar is a guess."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pandas as pd

from tradekit.data.types import DepthLevel, Tick


def ticks_from_bars(bars: pd.DataFrame, key: str, *, token: int | None = None, tick_size: float = 0.05,
                    levels: int = 5, depth_quantity: int = 500) -> Iterator[Tick]:
    """Four full-mode ticks per bar (open, the extreme nearer the open, the other, close) at
    0/15/30/45 s, each with a 5-level book one tick apart around the price and Kite's
    cumulative day volume (the bar's volume spread over its ticks)."""
    cum = 0
    day = None
    for ts, row in zip(bars.index, bars.itertuples(index=False)):
        if ts.date() != day:
            day, cum = ts.date(), 0
        o, h, lo, c, v = float(row.open), float(row.high), float(row.low), float(row.close), int(getattr(row, "volume", 0))
        path = (o, h, lo, c) if abs(h - o) <= abs(o - lo) else (o, lo, h, c)
        share = [v // 4] * 4
        share[-1] += v - sum(share)
        for i, px in enumerate(path):
            cum += share[i]
            bids = tuple(DepthLevel(round(px - tick_size * (k + 1), 2), depth_quantity * (k + 1), k + 1) for k in range(levels))
            asks = tuple(DepthLevel(round(px + tick_size * (k + 1), 2), depth_quantity * (k + 1), k + 1) for k in range(levels))
            t = ts.to_pydatetime() + timedelta(seconds=15 * i)
            yield Tick(key, t, px, token, "full", volume=cum, last_quantity=max(1, share[i]), last_trade_time=t,
                       open=o, high=h, low=lo, close=c, bids=bids, asks=asks)
