"""Bars from CSV/Parquet files, checked on load.

Format: ``timestamp,open,high,low,close,volume`` with ISO 8601 timestamps carrying their
offset (IST, ``+05:30``); minute bars are labelled by their start (Kite's convention).
A malformed file is rejected with a message naming the file, the row and the problem.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tradekit.clock import IST
from tradekit.errors import DataError

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
COLUMNS = ("open", "high", "low", "close", "volume")


def sample_path(symbol: str, timeframe: str = "1min") -> Path:
    """Path of a bundled sample file, e.g. ``sample_path("RELIANCE", "1min")``."""
    p = SAMPLE_DIR / f"NSE_{symbol}_{timeframe}.csv.gz"
    if not p.exists():
        have = ", ".join(sample_symbols(timeframe))
        raise DataError(f"no bundled {timeframe} bars for {symbol}; bundled: {have}")
    return p


def sample_symbols(timeframe: str = "1min") -> list[str]:
    suffix = f"_{timeframe}.csv.gz"
    return sorted(p.name[4 : -len(suffix)] for p in SAMPLE_DIR.glob(f"NSE_*{suffix}"))


def load_bars(path: str | Path, *, start=None, end=None) -> pd.DataFrame:
    """Load bars indexed by an IST DatetimeIndex, with float OHLC and integer volume."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path)
    except Exception as e:  # pandas raises many kinds for a broken file
        raise DataError(f"{path}: cannot read bars: {e}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in ("timestamp", *COLUMNS) if c not in df.columns and not (c == "timestamp" and isinstance(df.index, pd.DatetimeIndex))]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected timestamp,open,high,low,close,volume")
    if "timestamp" in df.columns:
        try:
            ts = pd.to_datetime(df["timestamp"], format="ISO8601")
        except (ValueError, TypeError) as e:
            bad = _first_bad_timestamp(df["timestamp"])
            raise DataError(f"{path}: row {bad}: timestamp is not ISO 8601 ({e})") from None
        df = df.drop(columns=["timestamp"])
        df.index = ts
    if df.index.tz is None:
        raise DataError(f"{path}: timestamps carry no timezone offset; write them as ISO 8601 with +05:30")
    df.index = df.index.tz_convert(IST)
    df.index.name = "timestamp"
    for c in COLUMNS:
        col = pd.to_numeric(df[c], errors="coerce")
        if col.isna().any():
            row = int(col.isna().to_numpy().nonzero()[0][0]) + 2
            raise DataError(f"{path}: row {row}: {c} is not a number")
        df[c] = col
    df = df[list(COLUMNS)]
    if not df.index.is_monotonic_increasing or df.index.has_duplicates:
        pos = _first_non_increasing(df.index)
        raise DataError(f"{path}: row {pos + 2}: timestamps must be strictly increasing ({df.index[pos]})")
    bad = (df["high"] < df[["open", "close", "low"]].max(axis=1)) | (df["low"] > df[["open", "close"]].min(axis=1))
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(f"{path}: row {i + 2}: high/low do not contain open/close ({df.index[i]})")
    if (df[["open", "high", "low", "close"]] <= 0).any().any():
        i = int((df[["open", "high", "low", "close"]] <= 0).any(axis=1).to_numpy().nonzero()[0][0])
        raise DataError(f"{path}: row {i + 2}: prices must be positive")
    if (df["volume"] < 0).any():
        i = int((df["volume"] < 0).to_numpy().nonzero()[0][0])
        raise DataError(f"{path}: row {i + 2}: volume is negative")
    df["volume"] = df["volume"].astype("int64")
    if start is not None:
        df = df[df.index >= pd.Timestamp(start, tz=IST) if pd.Timestamp(start).tz is None else df.index >= pd.Timestamp(start)]
    if end is not None:
        e = pd.Timestamp(end)
        e = e.tz_localize(IST) if e.tz is None else e
        if e == e.normalize():
            e = e + pd.Timedelta(days=1)
            df = df[df.index < e]
        else:
            df = df[df.index <= e]
    return df


def _first_bad_timestamp(s: pd.Series) -> int:
    for i, v in enumerate(s):
        try:
            pd.Timestamp(v)
        except (ValueError, TypeError):
            return i + 2
    return 2


def _first_non_increasing(idx: pd.DatetimeIndex) -> int:
    vals = idx.asi8
    for i in range(1, len(vals)):
        if vals[i] <= vals[i - 1]:
            return i
    return 0
