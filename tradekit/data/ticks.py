"""Ticks from CSV/Parquet files, checked on load.

Format: ``timestamp,price`` (e.g. ``NSE_NIFTY50_ticks_1s.csv.gz``: one index value per
second) or ``timestamp,price,volume`` where ``volume`` is the quantity traded in that tick
(summed when ticks become bars). Timestamps are ISO 8601 with their offset. Several ticks may
share a timestamp (trades in the same second); a timestamp going backwards is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from tradekit.data._io import check_increasing, clip_range, first_row_where, numeric, read_table, take_timestamps
from tradekit.errors import DataError

log = logging.getLogger(__name__)

_EXPECTED = "timestamp,price[,volume]"


def load_ticks(path: str | Path, *, start=None, end=None) -> pd.DataFrame:
    """Load ticks indexed by an IST DatetimeIndex: ``price`` (float), ``volume`` (int, if present).

    Parameters
    ----------
    path : str or Path
        CSV (plain or ``.gz``) or Parquet with ``timestamp,price`` and optionally ``volume``.
        A ``last_price`` column is accepted for ``price`` (Kite's name).
    start, end : date, datetime or str, optional
        Keep ticks with ``start <= timestamp <= end``; a date-only ``end`` includes that day.

    Raises
    ------
    DataError
        The file is missing or malformed; the message names the file, the row and the problem.
    """
    path, df, first = read_table(path, "ticks")
    if "price" not in df.columns and "last_price" in df.columns:
        df = df.rename(columns={"last_price": "price"})
    missing = [c for c in ("price",) if c not in df.columns]
    if "timestamp" not in df.columns and not isinstance(df.index, pd.DatetimeIndex):
        missing.insert(0, "timestamp")
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected {_EXPECTED}")
    df = take_timestamps(df, path, first, _EXPECTED)
    out = pd.DataFrame({"price": numeric(df, "price", path, first)}, index=df.index)
    if "volume" in df.columns:
        v = numeric(df, "volume", path, first)
        arr = v.to_numpy()
        if (arr < 0).any():
            raise DataError(f"{path}: row {first_row_where(arr < 0) + first}: volume is negative")
        if (arr != np.floor(arr)).any():
            raise DataError(f"{path}: row {first_row_where(arr != np.floor(arr)) + first}: volume is not a whole number")
        out["volume"] = v.astype("int64")
    check_increasing(out.index, path, first, strict=False)
    p = out["price"].to_numpy()
    if (p <= 0).any():
        raise DataError(f"{path}: row {first_row_where(p <= 0) + first}: price must be positive")
    out = clip_range(out, start, end)
    log.debug("loaded %d ticks from %s", len(out), path)
    return out
