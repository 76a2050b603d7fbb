"""Shared pieces of the bar and tick loaders: reading, timestamps, numbers, order, ranges.

Row numbers in messages are those a spreadsheet shows: for a CSV the header is row 1, so the
first data row is row 2; a Parquet file has no header row, so its first row is row 1.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import pandas as pd

from tradekit.clock import IST
from tradekit.errors import DataError

# NSE's normal market: bars are labelled by their start, so the last 1-minute bar is 15:29.
SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)

# IST is a fixed UTC+05:30 (no DST since 1945), so local wall time is one addition away; the
# resampler and the equity curve use this to stay vectorised.
IST_OFFSET_NS = 19_800 * 10**9
DAY_NS = 86_400 * 10**9
MINUTE_NS = 60 * 10**9

_OFFSET_RE = r"(?:[Zz]|[+-]\d{2}:?\d{2})\s*$"

# pandas holds the index in nanoseconds (the replay code counts in ns): times outside this range
# cannot be stored. pandas 3 parses to microseconds, so such a value parses fine and only fails when
# the index is moved to ns (OutOfBoundsDatetime): every parse path checks it here first.
NS_RANGE = f"{pd.Timestamp.min:%Y-%m-%d %H:%M} .. {pd.Timestamp.max:%Y-%m-%d %H:%M} UTC"


def first_out_of_ns_range(idx: pd.DatetimeIndex) -> int | None:
    """Position of the first time that nanoseconds cannot hold (see ``NS_RANGE``), or None.

    Worked out on the integers of the index's own unit: such Timestamps cannot even be printed.
    """
    idx = pd.DatetimeIndex(idx)
    f = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[idx.unit]
    if f == 1:
        return None
    lo, hi = -((-pd.Timestamp.min.value) // f), pd.Timestamp.max.value // f  # ceil, floor
    v = idx.asi8
    bad = ((v < lo) | (v > hi)) & ~np.asarray(idx.isna())
    return int(np.flatnonzero(bad)[0]) if bad.any() else None


def as_ns(idx: pd.DatetimeIndex, path, first_row: int, values=None, what: str = "timestamp") -> pd.DatetimeIndex:
    """``idx`` in nanoseconds; a time out of that range is a DataError naming its row and value."""
    i = first_out_of_ns_range(idx)
    if i is None:
        return idx.as_unit("ns")
    v = values.iloc[i] if values is not None else f"{np.datetime64(int(idx.asi8[i]), idx.unit)}Z"
    raise DataError(f"{path}: row {i + first_row}: {what} {str(v)!r} is out of the supported range ({NS_RANGE})")


def read_table(path: str | Path, what: str) -> tuple[Path, pd.DataFrame, int]:
    """Read a CSV (optionally gzipped) or Parquet file; return (path, frame, first row number)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        if path.suffix == ".parquet":
            df, first_row = pd.read_parquet(path), 1
        else:
            df, first_row = pd.read_csv(path), 2
    except Exception as e:  # pandas raises many kinds for a broken file
        raise DataError(f"{path}: cannot read {what}: {e}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if len(df) == 0:
        raise DataError(f"{path}: no rows of {what}")
    return path, df, first_row


def take_timestamps(df: pd.DataFrame, path: Path, first_row: int, expected: str) -> pd.DataFrame:
    """Move the ``timestamp`` column (or a datetime index) into an IST DatetimeIndex."""
    if "timestamp" in df.columns:
        idx = parse_timestamps(df["timestamp"], path, first_row)
        df = df.drop(columns=["timestamp"])
        df.index = idx
    elif isinstance(df.index, pd.DatetimeIndex):
        if df.index.tz is None:
            raise DataError(f"{path}: timestamps carry no timezone offset; write them as ISO 8601 with +05:30")
        df.index = as_ns(df.index.tz_convert(IST), path, first_row)
    else:
        raise DataError(f"{path}: missing column(s) timestamp; expected {expected}")
    df.index = df.index.as_unit("ns")  # pandas 3 parses to µs; the replay code counts in ns (in range: checked)
    df.index.name = "timestamp"
    return df


def parse_timestamps(values: pd.Series, path: Path, first_row: int) -> pd.DatetimeIndex:
    """Parse ISO 8601 timestamps that carry an offset; naive ones are refused (ambiguous)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return as_ns(pd.DatetimeIndex(values).tz_convert(IST), path, first_row)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        raise DataError(f"{path}: row {first_row}: timestamps carry no timezone offset; write them as ISO 8601 with +05:30")
    s = values.astype(str).str.strip()
    try:
        ts = pd.to_datetime(s, format="ISO8601", utc=True)
    except (ValueError, TypeError, OverflowError):
        i, v = _first_unparsable(s)
        raise DataError(f"{path}: row {i + first_row}: timestamp {v!r} is not ISO 8601") from None
    if ts.isna().any():
        i = int(np.flatnonzero(ts.isna().to_numpy())[0])
        raise DataError(f"{path}: row {i + first_row}: timestamp is empty")
    naive = ~s.str.contains(_OFFSET_RE, regex=True)
    if naive.any():
        i = int(np.flatnonzero(naive.to_numpy())[0])
        raise DataError(
            f"{path}: row {i + first_row}: timestamp {s.iloc[i]!r} carries no timezone offset; "
            "write it as ISO 8601 with +05:30"
        )
    try:
        idx = pd.DatetimeIndex(ts).tz_convert(IST)
    except (ValueError, OverflowError):  # the zone shift itself overflows at the very ends
        idx = pd.DatetimeIndex(ts)
        i = first_out_of_ns_range(idx)
        raise DataError(f"{path}: row {(i or 0) + first_row}: timestamp {s.iloc[i or 0]!r} is out of the supported range "
                        f"({NS_RANGE})") from None
    return as_ns(idx, path, first_row, s)


def _first_unparsable(s: pd.Series) -> tuple[int, str]:
    for i, v in enumerate(s):
        try:
            pd.to_datetime(v, format="ISO8601")
        except (ValueError, TypeError, OverflowError):
            return i, v
    return 0, s.iloc[0]


def numeric(df: pd.DataFrame, col: str, path: Path, first_row: int) -> pd.Series:
    """The column as numbers; the first non-number is reported with its row."""
    out = pd.to_numeric(df[col], errors="coerce")
    bad = out.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: row {i + first_row}: {col} is not a number ({df[col].iloc[i]!r})")
    return out.astype("float64")


def check_increasing(idx: pd.DatetimeIndex, path: Path, first_row: int, *, strict: bool) -> None:
    """Refuse timestamps that go backwards (or repeat, when ``strict``)."""
    d = np.diff(index_ns(idx))
    bad = (d <= 0) if strict else (d < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0]) + 1
        rule = "strictly increasing" if strict else "in time order"
        raise DataError(
            f"{path}: row {i + first_row}: timestamps must be {rule} "
            f"({idx[i].isoformat()} after {idx[i - 1].isoformat()})"
        )


def index_ns(idx: pd.DatetimeIndex) -> np.ndarray:
    """Epoch nanoseconds (UTC) of a DatetimeIndex, whatever its stored resolution."""
    return idx.as_unit("ns").asi8


def first_row_where(mask: pd.Series | np.ndarray) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def to_ist_timestamp(x: str | date | datetime | pd.Timestamp) -> pd.Timestamp:
    """A bound as an IST Timestamp; a naive value is read as IST (the surface timezone)."""
    t = pd.Timestamp(x)
    return t.tz_localize(IST) if t.tz is None else t.tz_convert(IST)


def clip_range(df: pd.DataFrame, start=None, end=None) -> pd.DataFrame:
    """Rows with ``start <= t`` and ``t <= end``; a date-only ``end`` includes that whole day."""
    if start is not None:
        df = df[df.index >= to_ist_timestamp(start)]
    if end is not None:
        e = to_ist_timestamp(end)
        if e == e.normalize():  # a date (or midnight) means the whole of that day
            df = df[df.index < e + pd.Timedelta(days=1)]
        else:
            df = df[df.index <= e]
    return df


def key_from_path(path: Path, exchange: str = "NSE") -> str:
    """``NSE_RELIANCE_1min.csv.gz`` -> ``NSE:RELIANCE``; other names -> ``<exchange>:<stem>``."""
    name = path.name
    for suf in (".csv.gz", ".csv", ".parquet", ".gz"):
        if name.endswith(suf):
            name = name[: -len(suf)]
            break
    parts = name.split("_")
    if len(parts) >= 3 and parts[0].isupper() and parts[0].isalpha():
        return f"{parts[0]}:{'_'.join(parts[1:-1])}"
    return f"{exchange}:{name}"
