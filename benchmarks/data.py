"""The benchmark data set: ~94,000 real one-minute bars of one instrument.

The bundled data has at most 6,750 minutes per stock (18 sessions of 2016) and 22,230 for the
NIFTY 50 index (which cannot be traded). The benchmark therefore loops RELIANCE's 6,750 real
bars 14 times (94,500 bars), shifting each copy by whole 4-week blocks so every bar keeps a
valid NSE session time and the series stays strictly increasing. Prices are untouched; only the
join between copies is a jump, as at any session open. Pass ``path`` to use a real file instead.
"""

from __future__ import annotations

import pandas as pd

from tradekit.data import load_bars, sample_path

SYMBOL = "RELIANCE"
KEY = f"NSE:{SYMBOL}"


def benchmark_bars(n: int = 94_000, path: str | None = None) -> pd.DataFrame:
    if path:
        return load_bars(path).iloc[:n]
    base = load_bars(sample_path(SYMBOL, "1min"))
    span_days = (base.index[-1].normalize() - base.index[0].normalize()).days + 1
    shift = pd.Timedelta(days=7 * -(-span_days // 7))  # whole weeks keep weekdays weekdays
    parts, k = [], 0
    while sum(len(p) for p in parts) < n:
        part = base.copy()
        part.index = part.index + shift * k
        parts.append(part)
        k += 1
    df = pd.concat(parts).iloc[:n]
    assert df.index.is_monotonic_increasing
    return df
