"""``tradekit data import``: a trader's CSV of bars into the data directory.

Reads CSV exports of Kite's historical API (``date,open,high,low,close,volume`` with
``2017-12-15T09:15:00+0530``), common vendor layouts (``Date,Time,Open,High,Low,Close,Volume``;
``<TICKER>,<DATE>,<TIME>,<OPEN>,...``; ``Datetime,Open,...,Adj Close`` from Yahoo-style exports),
and any other naming through an explicit mapping (``--columns date=Datetime,open=Open,...``).
Column names are matched without regard to case, spaces and ``<>``.

Timestamps: an offset in the value (``+05:30``, ``Z``) is used; a value without one is read in
the zone ``--tz`` names (``UTC``, ``Asia/Kolkata``, ...) and refused without it: nothing is
guessed. Daily bars may be plain dates. Everything ends up in IST.

The bars must pass the loader's rules (positive prices, high/low containing open/close,
whole non-negative volume, no repeated timestamps) and the data-quality rules
(:func:`tradekit.data.quality.check_bars`: errors refuse the file, warnings are reported).
Any error names the file's row (the header is row 1) and column; nothing is written then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tradekit.clock import IST
from tradekit.data._io import NS_RANGE, first_out_of_ns_range
from tradekit.data.store import split_key, timeframe_of, write_bars
from tradekit.errors import DataError, ValidationError

FIELDS = ("date", "time", "open", "high", "low", "close", "volume")
ALIASES = {
    "date": ("timestamp", "datetime", "date", "date_time", "datetime_ist", "time_stamp", "candle_time"),
    "time": ("time", "timeofday"),
    "open": ("open", "o", "open_price"),
    "high": ("high", "h", "high_price"),
    "low": ("low", "l", "low_price"),
    "close": ("close", "c", "close_price", "last", "ltp"),
    "volume": ("volume", "vol", "v", "qty", "traded_quantity", "total_traded_quantity"),
}
_OFFSET = re.compile(r"(?:[Zz]|[+-]\d{2}:?\d{2})$")


def _norm(name: str) -> str:
    return re.sub(r"[\s<>\"']+", "", str(name)).strip().lower().replace("-", "_")


def parse_columns(spec: str | None) -> dict[str, str | None]:
    """``date=Datetime,open=Open,volume=none`` -> {field: column}; ``none`` means the file has no such
    column (volume only: it is then 0, as for an index)."""
    out: dict[str, str | None] = {}
    if not spec:
        return out
    for item in spec.split(","):
        if not item.strip():
            continue
        k, eq, v = item.partition("=")
        k = k.strip().lower()
        if k == "timestamp":
            k = "date"
        if not eq or not v.strip():
            raise ValidationError(f"{item.strip()!r}: write FIELD=COLUMN, e.g. date=Datetime", field="--columns")
        if k not in FIELDS:
            raise ValidationError(f"{k!r} is not one of {', '.join(FIELDS)}", field="--columns")
        v = v.strip()
        if v.lower() == "none":
            if k != "volume":
                raise ValidationError(f"{k}=none: only volume may be absent", field="--columns")
            out[k] = None
        else:
            out[k] = v
    return out


@dataclass
class ImportResult:
    key: str
    timeframe: str
    path: Path
    rows: int
    stored: int
    first: pd.Timestamp
    last: pd.Timestamp
    columns: dict[str, str | None]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"imported {self.rows:,} {self.timeframe} bars of {self.key} ({self.first:%Y-%m-%d %H:%M} .. "
                f"{self.last:%Y-%m-%d %H:%M} IST) into {self.path} ({self.stored:,} bars in the file)")


def _pick(df_cols: list[str], given: dict[str, str | None], label: str) -> dict[str, str | None]:
    by_norm = {}
    for c in df_cols:
        by_norm.setdefault(_norm(c), c)
    out: dict[str, str | None] = {}
    for f in FIELDS:
        if f in given:
            col = given[f]
            if col is None:
                out[f] = None
                continue
            hit = col if col in df_cols else by_norm.get(_norm(col))
            if hit is None:
                raise DataError(f"{label}: --columns {f}={col}: no column {col!r} in the file "
                                f"(columns: {', '.join(df_cols)})")
            out[f] = hit
            continue
        for alias in ALIASES[f]:
            if alias in by_norm and by_norm[alias] not in out.values():
                out[f] = by_norm[alias]
                break
    if out.get("date") == out.get("time"):
        out.pop("time", None)
    missing = [f for f in ("date", "open", "high", "low", "close", "volume") if f not in out]
    if missing:
        raise DataError(f"{label}: no column for {', '.join(missing)} (columns: {', '.join(df_cols)}); "
                        f"map them with --columns, e.g. --columns " +
                        ",".join(f"{m}=<column>" for m in missing) +
                        (" (volume=none when the file has no volume)" if "volume" in missing else ""))
    return out


def _timestamps(raw: pd.Series, tz: str | None, daily: bool, label: str, col: str) -> pd.DatetimeIndex:
    s = raw.astype(str).str.strip()
    empty = (s == "") | (s.str.lower() == "nan")
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise DataError(f"{label}: row {i + 2}: column {col!r}: the timestamp is empty")
    # compact vendor dates: 20160816 or 20160816 09:15
    s = s.str.replace(r"^(\d{4})(\d{2})(\d{2})(?=$|[ T])", r"\1-\2-\3", regex=True)
    has_off = s.str.contains(_OFFSET, regex=True)
    date_only = s.str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    if not daily and date_only.all():
        raise DataError(f"{label}: column {col!r} holds dates without times: these are daily bars, not 1-minute bars: "
                        f"import them with --timeframe 1d")
    if has_off.any() and not has_off.all():
        i = int(np.flatnonzero(~has_off.to_numpy())[0])
        raise DataError(f"{label}: row {i + 2}: column {col!r}: {s.iloc[i]!r} has no time zone offset "
                        f"while other rows have one")
    try:
        if has_off.all():
            ts = pd.to_datetime(s, format="ISO8601", utc=True)
            idx = pd.DatetimeIndex(ts).tz_convert(IST)
        else:
            if daily and date_only.all():
                zone = IST  # a session date is a date, in any zone
            elif tz is None:
                raise DataError(f"{label}: row 2: column {col!r}: {s.iloc[0]!r} carries no time zone; say which "
                                f"with --tz (e.g. --tz Asia/Kolkata for IST, --tz UTC)")
            else:
                zone = tz
            naive = pd.to_datetime(s, format="ISO8601")
            i = first_out_of_ns_range(pd.DatetimeIndex(naive))  # before the zone shift, which can overflow
            if i is not None:
                raise DataError(f"{label}: row {i + 2}: column {col!r}: {s.iloc[i]!r} is out of the supported range "
                                f"({NS_RANGE})")
            idx = pd.DatetimeIndex(naive).tz_localize(zone, ambiguous="raise", nonexistent="raise").tz_convert(IST)
    except DataError:
        raise
    except (ValueError, TypeError, OverflowError) as e:
        i, v = _first_bad_ts(s)
        raise DataError(f"{label}: row {i + 2}: column {col!r}: {v!r} is not a date and time ({e})") from None
    if idx.isna().any():
        i = int(np.flatnonzero(idx.isna())[0])
        raise DataError(f"{label}: row {i + 2}: column {col!r}: {s.iloc[i]!r} is not a date and time")
    # pandas 3 parses to µs: '0000-01-01' or '-0' parse, but bars are held in ns (1677 .. 2262)
    i = first_out_of_ns_range(idx)
    if i is not None:
        raise DataError(f"{label}: row {i + 2}: column {col!r}: {s.iloc[i]!r} is out of the supported range "
                        f"({NS_RANGE})")
    idx = idx.as_unit("ns")
    years = np.asarray(idx.year)
    odd = (years < 1900) | (years > 2200)
    if odd.any():
        i = int(np.flatnonzero(odd)[0])
        raise DataError(f"{label}: row {i + 2}: column {col!r}: {s.iloc[i]!r} is not a plausible date (year {years[i]})")
    if daily:
        idx = idx.normalize()
    return idx


def _first_bad_ts(s: pd.Series) -> tuple[int, str]:
    for i, v in enumerate(s):
        try:
            t = pd.to_datetime(v, format="ISO8601")
            if t is pd.NaT:
                return i, v
        except (ValueError, TypeError, OverflowError):
            return i, v
    return 0, s.iloc[0]


def _numbers(raw: pd.Series, label: str, col: str, name: str) -> np.ndarray:
    s = raw.astype(str).str.strip().str.replace(",", "", regex=False)
    out = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64")
    bad = ~np.isfinite(out)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{label}: row {i + 2}: column {col!r} ({name}): {raw.iloc[i]!r} is not a number")
    return out


def read_bars_csv(path: str | Path, *, timeframe: str = "1min", columns: dict[str, str | None] | str | None = None,
                  tz: str | None = None) -> tuple[pd.DataFrame, dict[str, str | None], list[str]]:
    """Read and check a CSV of bars; return (bars in IST, the column mapping used, notes).

    Raises :class:`DataError` naming the row and column of the first problem.
    """
    tf = timeframe_of(timeframe)
    p = Path(path)
    label = str(p)
    if not p.exists():
        raise DataError(f"{label}: file not found")
    if tz is not None:
        try:
            pd.Timestamp("2020-01-01").tz_localize(tz)
        except Exception:  # noqa: BLE001 - pytz/zoneinfo raise several kinds
            raise ValidationError(f"{tz!r} is not a time zone (e.g. Asia/Kolkata, UTC)", field="--tz") from None
    given = parse_columns(columns) if isinstance(columns, str) or columns is None else dict(columns)
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True, comment=None)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as e:
        raise DataError(f"{label}: not a readable CSV: {' '.join(str(e).split())}") from None
    if len(df) == 0:
        raise DataError(f"{label}: no rows of bars")
    cols = [str(c) for c in df.columns]
    m = _pick(cols, given, label)
    notes = []
    daily = tf == "1d"
    raw_ts = df[m["date"]]
    if m.get("time"):
        raw_ts = df[m["date"]].astype(str).str.strip() + " " + df[m["time"]].astype(str).str.strip()
    idx = _timestamps(raw_ts, tz, daily, label, m["date"] if not m.get("time") else f"{m['date']}+{m['time']}")
    data = {f: _numbers(df[m[f]], label, m[f], f) for f in ("open", "high", "low", "close")}
    if m["volume"] is None:
        vol = np.zeros(len(df), dtype="float64")
    else:
        vol = _numbers(df[m["volume"]], label, m["volume"], "volume")
    o, h, lo, c = data["open"], data["high"], data["low"], data["close"]

    def fail(mask, what, col):
        i = int(np.flatnonzero(mask)[0])
        raise DataError(f"{label}: row {i + 2}: column {col!r}: {what} ({idx[i].isoformat()})")

    if (np.minimum.reduce([o, h, lo, c]) <= 0).any():
        bad = np.minimum.reduce([o, h, lo, c]) <= 0
        i = int(np.flatnonzero(bad)[0])
        col = next(m[f] for f in ("open", "high", "low", "close") if data[f][i] <= 0)
        fail(bad, "prices must be positive", col)
    if (h < np.maximum.reduce([o, c, lo])).any():
        fail(h < np.maximum.reduce([o, c, lo]), "high is below open, low or close", m["high"])
    if (lo > np.minimum(o, c)).any():
        fail(lo > np.minimum(o, c), "low is above open or close", m["low"])
    if m["volume"] is not None:
        if (vol < 0).any():
            fail(vol < 0, "volume is negative", m["volume"])
        if (vol != np.floor(vol)).any():
            fail(vol != np.floor(vol), "volume is not a whole number", m["volume"])
    order = np.argsort(idx.asi8, kind="stable")
    if (np.diff(idx.asi8[order]) == 0).any():
        j = int(np.flatnonzero(np.diff(idx.asi8[order]) == 0)[0])
        a, b = sorted((int(order[j]), int(order[j + 1])))
        raise DataError(f"{label}: rows {a + 2} and {b + 2}: column {m['date']!r}: the same bar time twice "
                        f"({idx[b].isoformat()})")
    if (np.diff(idx.asi8) < 0).any():
        notes.append("the file was not in time order (e.g. newest first): sorted")
    bars = pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": vol.astype("int64")}, index=idx)
    bars.index.name = "timestamp"
    bars = bars.iloc[order]
    bars.attrs["file_rows"] = order + 2  # the file's row of each bar (header = row 1), for messages
    if not daily:
        step = pd.Series(bars.index).diff().dropna()
        if len(step) and step.min() >= pd.Timedelta(hours=23):
            raise DataError(f"{label}: these are daily bars (one a day), not 1-minute bars: import them with --timeframe 1d")
    elif len(bars) > 1:
        days = bars.index.normalize()
        if days.has_duplicates:
            raise DataError(f"{label}: several bars a day: these are intraday bars, not daily: use --timeframe 1m")
    return bars, m, notes


def import_bars(path: str | Path, symbol: str, data_dir: str | Path, *, timeframe: str = "1min",
                columns: dict[str, str | None] | str | None = None, tz: str | None = None) -> ImportResult:
    """Check ``path`` and store its bars as ``symbol`` in the data directory (nothing is written on an error)."""
    from tradekit.data.quality import check_bars

    ex, sym = split_key(symbol)
    key = f"{ex}:{sym}"
    tf = timeframe_of(timeframe)
    bars, m, notes = read_bars_csv(path, timeframe=tf, columns=columns, tz=tz)
    findings = check_bars(bars, key=key, interval="1D" if tf == "1d" else "1min")
    warnings = []
    if len(findings):
        errors = findings[findings["severity"] == "error"]
        if len(errors):
            r = errors.iloc[0]
            rows = bars.attrs.get("file_rows")
            row = (f"row {int(rows[int(r['row'])])}: " if rows is not None and r["row"] is not None
                   and not pd.isna(r["row"]) else "")
            raise DataError(f"{path}: {row}{r['message']} (data-quality check {r['check']}; {len(errors)} error(s))")
        for r in findings[findings["severity"] == "warning"].itertuples():
            warnings.append(r.message)
    if m["volume"] is None:
        notes.append("no volume column: volume stored as 0")
    dest, n, total = write_bars(data_dir, key, tf, bars)
    return ImportResult(key, tf, dest, n, total, bars.index[0], bars.index[-1], m, warnings, notes)
