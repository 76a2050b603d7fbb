"""Bars from CSV/Parquet files, checked on load.

Format: ``timestamp,open,high,low,close,volume`` with ISO 8601 timestamps carrying their
offset (IST, ``+05:30``); minute bars are labelled by their start (Kite's convention).
A malformed file is rejected with a message naming the file, the row and the problem.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from tradekit.data._io import (
    check_increasing,
    clip_range,
    first_row_where,
    numeric,
    read_table,
    take_timestamps,
)
from tradekit.errors import DataError

log = logging.getLogger(__name__)

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
COLUMNS = ("open", "high", "low", "close", "volume")
_EXPECTED = "timestamp,open,high,low,close,volume"


def sample_path(symbol: str, timeframe: str = "1min") -> Path:
    """Path of a bundled sample file, e.g. ``sample_path("RELIANCE", "1min")``.

    ``symbol`` may carry its exchange (``"NSE:RELIANCE"``); ``timeframe`` is ``1min``, ``1d``
    or ``ticks_1s``.
    """
    exchange, _, sym = symbol.rpartition(":")
    p = SAMPLE_DIR / f"{exchange or 'NSE'}_{sym}_{timeframe}.csv.gz"
    if not p.exists():
        have = ", ".join(sample_symbols(timeframe)) or "none"
        raise DataError(f"no bundled {timeframe} data for {symbol}; bundled: {have}")
    return p


def sample_symbols(timeframe: str = "1min") -> list[str]:
    """Symbols with a bundled sample of ``timeframe`` (``1min``, ``1d``, ``ticks_1s``)."""
    suffix = f"_{timeframe}.csv.gz"
    return sorted(p.name[4 : -len(suffix)] for p in SAMPLE_DIR.glob(f"NSE_*{suffix}"))


def load_bars(path: str | Path, *, start=None, end=None) -> pd.DataFrame:
    """Load bars indexed by an IST DatetimeIndex, with float OHLC and integer volume.

    Parameters
    ----------
    path : str or Path
        CSV (plain or ``.gz``) or Parquet with ``timestamp,open,high,low,close,volume``.
    start, end : date, datetime or str, optional
        Keep bars with ``start <= timestamp <= end``; a date-only ``end`` includes that day.

    Raises
    ------
    DataError
        The file is missing or malformed; the message names the file, the row and the problem.
    """
    path, df, first = read_table(path, "bars")
    missing = [c for c in COLUMNS if c not in df.columns]
    if "timestamp" not in df.columns and not isinstance(df.index, pd.DatetimeIndex):
        missing.insert(0, "timestamp")
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected {_EXPECTED}")
    df = take_timestamps(df, path, first, _EXPECTED)
    out = pd.DataFrame({c: numeric(df, c, path, first) for c in COLUMNS}, index=df.index)
    check_increasing(out.index, path, first, strict=True)
    o, h, lo, c = (out[k].to_numpy() for k in ("open", "high", "low", "close"))
    bad = (h < np.maximum.reduce([o, c, lo])) | (lo > np.minimum(o, c))
    if bad.any():
        i = first_row_where(bad)
        raise DataError(
            f"{path}: row {i + first}: high/low do not contain open/close "
            f"(o={o[i]} h={h[i]} l={lo[i]} c={c[i]} at {out.index[i].isoformat()})"
        )
    nonpos = (np.minimum.reduce([o, h, lo, c]) <= 0)
    if nonpos.any():
        raise DataError(f"{path}: row {first_row_where(nonpos) + first}: prices must be positive")
    v = out["volume"].to_numpy()
    if (v < 0).any():
        raise DataError(f"{path}: row {first_row_where(v < 0) + first}: volume is negative")
    if (v != np.floor(v)).any():
        raise DataError(f"{path}: row {first_row_where(v != np.floor(v)) + first}: volume is not a whole number")
    out["volume"] = out["volume"].astype("int64")
    out = clip_range(out, start, end)
    log.debug("loaded %d bars from %s", len(out), path)
    return out
