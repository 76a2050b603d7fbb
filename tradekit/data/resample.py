"""Session-aware resampling: 1-minute bars to N-minute and daily bars, ticks to bars.

NSE sessions open at 09:15 IST, so N-minute bins are anchored there (5-minute bars start
09:15, 09:20, ...; 60-minute bars 09:15, 10:15, ..., 15:15 — the last one holds 15 minutes).
A bin never spans two session dates, and bins without data are not created: the 2024-03-02
session (09:15-09:59, then 11:30-12:29) gives bars for its two halves and nothing between.
Daily bars are labelled at midnight IST of the session date, as Kite labels day candles.

Everything is vectorised on epoch nanoseconds (IST has a fixed +05:30 offset), so resampling
a quarter of minute bars takes milliseconds.
"""

from __future__ import annotations

import re
from datetime import time

import numpy as np
import pandas as pd

from tradekit.clock import IST
from tradekit.data._io import DAY_NS, IST_OFFSET_NS, MINUTE_NS, SESSION_CLOSE, SESSION_OPEN, index_ns
from tradekit.errors import DataError

DAILY = pd.Timedelta(days=1)
_RULE_RE = re.compile(r"^\s*(\d+)\s*(min|m|t|minute|minutes|h|hour|hours|d|day|days)\s*$", re.I)


def parse_rule(rule: str | int | pd.Timedelta) -> pd.Timedelta:
    """A bar interval: ``"5min"``, ``"1h"``, ``"1d"``/``"D"``, minutes as an int, or a Timedelta.

    Intraday intervals must be whole minutes; the only longer interval is one day.
    """
    if isinstance(rule, pd.Timedelta):
        td = rule
    elif isinstance(rule, (int, np.integer)) and not isinstance(rule, bool):
        td = pd.Timedelta(minutes=int(rule))
    elif isinstance(rule, str):
        r = rule.strip()
        if r.upper() in ("D", "1D", "DAY", "DAILY"):
            return DAILY
        m = _RULE_RE.match(r)
        if not m:
            raise DataError(f"bar interval {rule!r} is not understood; use e.g. '5min', '1h' or '1d'")
        n, unit = int(m.group(1)), m.group(2).lower()
        td = pd.Timedelta(minutes=n) if unit[0] in "mt" else pd.Timedelta(hours=n) if unit[0] == "h" else pd.Timedelta(days=n)
    else:
        raise DataError(f"bar interval {rule!r} is not understood; use e.g. '5min', '1h' or '1d'")
    if td == DAILY:
        return DAILY
    if td <= pd.Timedelta(0) or td > DAILY or td % pd.Timedelta(minutes=1) != pd.Timedelta(0) or td == DAILY:
        raise DataError(f"bar interval {rule!r} must be a whole number of minutes below a day, or one day")
    return td


def infer_interval(df: pd.DataFrame | pd.DatetimeIndex) -> pd.Timedelta:
    """The bar interval of a frame: ``df.attrs["interval"]`` if set, else from its timestamps.

    Timestamps all at midnight IST mean daily bars; otherwise the commonest step between
    consecutive bars of the same session (gaps and the short last bin do not disturb it).
    A single intraday bar per session gives one minute.
    """
    if isinstance(df, pd.DataFrame):
        iv = df.attrs.get("interval")
        if iv is not None:
            return pd.Timedelta(iv)
        idx = df.index
    else:
        idx = df
    if len(idx) == 0:
        return pd.Timedelta(minutes=1)
    local = index_ns(idx) + IST_OFFSET_NS
    if not (local % DAY_NS).any():
        return DAILY
    day = local // DAY_NS
    steps = np.diff(local)[np.diff(day) == 0]
    steps = steps[steps > 0]
    if len(steps) == 0:
        return pd.Timedelta(minutes=1)
    vals, counts = np.unique(steps, return_counts=True)
    return pd.Timedelta(int(vals[np.argmax(counts)]), unit="ns")


def _require_sorted(idx: pd.Index, what: str) -> np.ndarray:
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise DataError(f"{what} must be indexed by timezone-aware timestamps (load them with load_bars/load_ticks)")
    ns = index_ns(idx)
    if len(ns) > 1 and (np.diff(ns) < 0).any():
        i = int(np.flatnonzero(np.diff(ns) < 0)[0]) + 1
        raise DataError(f"{what}: timestamps go backwards at position {i} ({idx[i].isoformat()}); sort them first")
    return ns


def bin_starts(ns: np.ndarray, interval: pd.Timedelta, anchor: time = SESSION_OPEN) -> np.ndarray:
    """Start (epoch ns) of the session-anchored bin holding each timestamp.

    Daily: midnight IST of the session date. N minutes: ``anchor + k·N`` on the same date; a
    timestamp before the anchor (pre-open) gets its own bin, never one of the previous day.
    """
    local = ns + IST_OFFSET_NS
    day0 = (local // DAY_NS) * DAY_NS
    if interval == DAILY:
        return day0 - IST_OFFSET_NS
    width = interval.value
    a = (anchor.hour * 60 + anchor.minute) * MINUTE_NS
    label = day0 + a + ((local - day0 - a) // width) * width
    # Only the first pre-anchor bin can fall before midnight; pin it to the session date.
    return np.maximum(label, day0) - IST_OFFSET_NS


def _aggregate(labels: np.ndarray, o, h, lo, c, v) -> pd.DataFrame:
    if len(labels) == 0:
        idx = pd.DatetimeIndex([], tz=IST, name="timestamp").as_unit("ns")
        return pd.DataFrame({k: np.array([], dtype="float64") for k in ("open", "high", "low", "close")} | {"volume": np.array([], dtype="int64")}, index=idx)
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    ends = np.r_[starts[1:], len(labels)]
    idx = pd.DatetimeIndex(pd.to_datetime(labels[starts], utc=True)).tz_convert(IST).as_unit("ns")
    idx.name = "timestamp"
    return pd.DataFrame(
        {
            "open": o[starts],
            "high": np.maximum.reduceat(h, starts),
            "low": np.minimum.reduceat(lo, starts),
            "close": c[ends - 1],
            "volume": np.add.reduceat(v, starts).astype("int64"),
        },
        index=idx,
    )


def resample_bars(df: pd.DataFrame, rule: str | int | pd.Timedelta, *, anchor: time = SESSION_OPEN) -> pd.DataFrame:
    """Aggregate bars to a coarser interval, session by session.

    Parameters
    ----------
    df : DataFrame
        Bars from :func:`load_bars` (IST index, labelled by start, in time order).
    rule : str, int or Timedelta
        ``"5min"``, ``"15min"``, ``"1h"``, ``"1d"``; an int is minutes. Must be a multiple of
        the input interval.
    anchor : datetime.time
        Where N-minute bins start each session (09:15 for NSE).

    Returns
    -------
    DataFrame
        ``open`` = first open, ``high`` = max, ``low`` = min, ``close`` = last close,
        ``volume`` = sum; labelled by bin start; ``attrs["interval"]`` holds the interval.
    """
    target = parse_rule(rule)
    ns = _require_sorted(df.index, "bars")
    src = infer_interval(df)
    if target < src or (target != DAILY and target % src != pd.Timedelta(0)):
        raise DataError(f"cannot resample {_label(src)} bars to {_label(target)}: the new interval must be a multiple of the old")
    missing = [c for c in ("open", "high", "low", "close") if c not in df.columns]
    if missing:
        raise DataError(f"bars: missing column(s) {', '.join(missing)}")
    vol = df["volume"].to_numpy() if "volume" in df.columns else np.zeros(len(df), dtype="int64")
    out = _aggregate(
        bin_starts(ns, target, anchor),
        df["open"].to_numpy(dtype="float64"), df["high"].to_numpy(dtype="float64"),
        df["low"].to_numpy(dtype="float64"), df["close"].to_numpy(dtype="float64"), vol,
    )
    out.attrs["interval"] = target
    return out


def ticks_to_bars(
    ticks: pd.DataFrame,
    rule: str | int | pd.Timedelta = "1min",
    *,
    anchor: time = SESSION_OPEN,
    close: time | None = SESSION_CLOSE,
) -> pd.DataFrame:
    """Build bars from ticks, labelled by their start (Kite's convention).

    A tick stamped exactly at the session ``close`` (NSE publishes a 15:30:00 value) is put
    in the last bar of the session, so a full session gives 375 one-minute bars, the last
    one 15:29. Pass ``close=None`` to bin it like any other tick. ``volume`` is summed when
    the ticks carry it, else 0.
    """
    target = parse_rule(rule)
    ns = _require_sorted(ticks.index, "ticks")
    if "price" not in ticks.columns:
        raise DataError("ticks: missing column price")
    binned = ns
    if close is not None and len(ns):
        cl = (close.hour * 3600 + close.minute * 60 + close.second) * 10**9
        at_close = (ns + IST_OFFSET_NS) % DAY_NS == cl
        binned = np.where(at_close, ns - 1, ns)
    p = ticks["price"].to_numpy(dtype="float64")
    vol = ticks["volume"].to_numpy() if "volume" in ticks.columns else np.zeros(len(ticks), dtype="int64")
    out = _aggregate(bin_starts(binned, target, anchor), p, p, p, p, vol)
    out.attrs["interval"] = target
    return out


def _label(td: pd.Timedelta) -> str:
    if td == DAILY:
        return "daily"
    m = int(td / pd.Timedelta(minutes=1))
    return f"{m}-minute"
