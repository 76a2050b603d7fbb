"""Data quality checks: findings in a DataFrame, never exceptions.

The loaders already refuse what cannot be used (unparsable, unordered, impossible OHLC). These
checks look for what *can* be used but deserves a look before a backtest or a live day:
gaps inside a session, missing sessions, zero-volume bars, price jumps, bars outside market
hours, and — for frames that did not come through a loader (a broker's historical API,
a hand-built frame) — duplicate or out-of-order timestamps and inconsistent OHLC.

Each finding is one row::

    check       gap | missing_session | extra_session | zero_volume | no_volume | duplicate |
                out_of_order | ohlc | nonpositive_price | missing_value | price_jump | outside_hours
    severity    error (the row is unusable) | warning (look at it) | info (expected in some data)
    key         instrument key, e.g. "NSE:HDFCBANK"
    session     IST session date
    timestamp   the bar/tick concerned (for a gap: the first missing bar)
    row         0-based position in the frame as given (None for session-level findings)
    value       a number: missing bars, the jump as a fraction, the volume, ...
    message     one line a trader understands
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, time

import numpy as np
import pandas as pd

from tradekit.clock import IST
from tradekit.data._io import DAY_NS, IST_OFFSET_NS, SESSION_CLOSE, SESSION_OPEN, index_ns
from tradekit.data.resample import DAILY, infer_interval, parse_rule
from tradekit.errors import DataError

log = logging.getLogger(__name__)

COLUMNS = ["check", "severity", "key", "session", "timestamp", "row", "value", "message"]
Hours = Mapping[date, tuple[time, time]]


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})


class _Findings:
    def __init__(self, key: str):
        self.key = key
        self.rows: list[dict] = []

    def add(self, check, severity, message, *, session=None, timestamp=None, row=None, value=None) -> None:
        self.rows.append(dict(check=check, severity=severity, key=self.key, session=session, timestamp=timestamp,
                              row=row, value=value, message=message))

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return _empty()
        return pd.DataFrame(self.rows, columns=COLUMNS)


def _tod(t: time) -> int:
    return (t.hour * 3600 + t.minute * 60 + t.second) * 10**9


def _hhmm(ns: int) -> str:
    return pd.Timestamp(int(ns), tz="UTC").tz_convert(IST).strftime("%H:%M")


def _index_of(df: pd.DataFrame) -> pd.DatetimeIndex:
    idx = df.index
    if not isinstance(idx, pd.DatetimeIndex) and "timestamp" in df.columns:
        idx = pd.DatetimeIndex(pd.to_datetime(df["timestamp"], format="ISO8601"))
    if not isinstance(idx, pd.DatetimeIndex):
        raise DataError("quality checks need a DatetimeIndex or a timestamp column")
    if idx.tz is None:
        raise DataError("quality checks need timezone-aware timestamps (naive ones are ambiguous)")
    return idx.tz_convert(IST)


def _order_checks(f: _Findings, idx: pd.DatetimeIndex, ns: np.ndarray, *, allow_equal: bool) -> None:
    d = np.diff(ns)
    for i in np.flatnonzero(d < 0) + 1:
        f.add("out_of_order", "error", f"{f.key} {idx[i]:%Y-%m-%d %H:%M:%S} comes after {idx[i - 1]:%Y-%m-%d %H:%M:%S}",
              session=idx[i].date(), timestamp=idx[i], row=int(i))
    if not allow_equal:
        dup = pd.Index(ns).duplicated(keep="first")
        for i in np.flatnonzero(dup):
            f.add("duplicate", "error", f"{f.key} {idx[i]:%Y-%m-%d %H:%M:%S} appears more than once",
                  session=idx[i].date(), timestamp=idx[i], row=int(i))


def _session_checks(f: _Findings, present: set[date], expected: Iterable[date] | None) -> None:
    if expected is None:
        return
    exp = {pd.Timestamp(d).date() for d in expected}
    for d in sorted(exp - present):
        f.add("missing_session", "warning", f"{f.key}: no data for session {d:%Y-%m-%d} ({d:%a})", session=d)
    for d in sorted(present - exp):
        f.add("extra_session", "info", f"{f.key}: data on {d:%Y-%m-%d} ({d:%a}), which is not an expected session", session=d)


def _hours_mask(ns: np.ndarray, open_t: time, close_t: time, hours: Hours | None, *, inclusive_close: bool) -> np.ndarray:
    """True where a timestamp lies outside its session's hours."""
    local = ns + IST_OFFSET_NS
    tod = local % DAY_NS
    lo = np.full(len(ns), _tod(open_t))
    hi = np.full(len(ns), _tod(close_t))
    if hours:
        day = local // DAY_NS
        for d, (o, c) in hours.items():
            k = (pd.Timestamp(d).value + IST_OFFSET_NS) // DAY_NS
            m = day == k
            lo[m], hi[m] = _tod(o), _tod(c)
    return (tod < lo) | ((tod > hi) if inclusive_close else (tod >= hi))


def check_bars(
    df: pd.DataFrame,
    *,
    key: str = "",
    expected_sessions: Iterable[date] | None = None,
    interval: str | pd.Timedelta | None = None,
    jump_threshold: float | None = None,
    open_time: time = SESSION_OPEN,
    close_time: time = SESSION_CLOSE,
    hours: Hours | None = None,
) -> pd.DataFrame:
    """Check bars and return the findings (see the module docstring for the columns).

    Parameters
    ----------
    df : DataFrame
        Bars with ``open, high, low, close[, volume]`` and an aware DatetimeIndex (or a
        ``timestamp`` column); they may be unsorted or repeat timestamps.
    key : str
        Instrument key for the messages, e.g. ``"NSE:HDFCBANK"``.
    expected_sessions : iterable of date, optional
        Trading days the data should cover (e.g. the market calendar's sessions for the
        period): each one without data is a ``missing_session``, each day with data that is
        not in the list an ``extra_session``.
    interval : str or Timedelta, optional
        Bar interval; inferred when omitted. Daily bars skip the intraday checks.
    jump_threshold : float, optional
        Report a bar whose open, high, low or close is further than this fraction from the
        previous close. Default 0.05 for intraday bars and 0.20 for daily bars (NSE's widest
        price band: a bigger daily move is a corporate action or bad data).
    open_time, close_time : datetime.time
        Normal market hours (bars are labelled by start: the last 1-minute bar is 15:29).
    hours : mapping of date to (open, close), optional
        Other hours for special sessions (Muhurat, DR drills).
    """
    f = _Findings(key)
    if len(df) == 0:
        return f.frame()
    idx = _index_of(df)
    ns = index_ns(idx)
    _order_checks(f, idx, ns, allow_equal=False)
    cols = {c: pd.to_numeric(df[c], errors="coerce").to_numpy(dtype="float64") for c in ("open", "high", "low", "close")}
    vol = pd.to_numeric(df["volume"], errors="coerce").to_numpy(dtype="float64") if "volume" in df.columns else None
    o, h, lo, c = cols["open"], cols["high"], cols["low"], cols["close"]
    nan = np.isnan(o) | np.isnan(h) | np.isnan(lo) | np.isnan(c)
    for i in np.flatnonzero(nan):
        f.add("missing_value", "error", f"{key} {idx[i]:%Y-%m-%d %H:%M}: a price is missing", session=idx[i].date(), timestamp=idx[i], row=int(i))
    with np.errstate(invalid="ignore"):
        bad = ~nan & ((h < np.fmax(np.fmax(o, c), lo)) | (lo > np.fmin(o, c)))
        for i in np.flatnonzero(bad):
            f.add("ohlc", "error", f"{key} {idx[i]:%Y-%m-%d %H:%M}: high/low do not contain open/close "
                  f"(o={o[i]:g} h={h[i]:g} l={lo[i]:g} c={c[i]:g})", session=idx[i].date(), timestamp=idx[i], row=int(i))
        nonpos = ~nan & (np.fmin(np.fmin(o, h), np.fmin(lo, c)) <= 0)
    for i in np.flatnonzero(nonpos):
        f.add("nonpositive_price", "error", f"{key} {idx[i]:%Y-%m-%d %H:%M}: a price is zero or negative",
              session=idx[i].date(), timestamp=idx[i], row=int(i))

    # The rest reads the bars in time order, without repeats.
    order = np.argsort(ns, kind="stable")
    keep = order[np.r_[True, np.diff(ns[order]) != 0]]
    s_ns, s_idx = ns[keep], idx[keep]
    iv = parse_rule(interval) if interval is not None else infer_interval(pd.DatetimeIndex(s_idx))
    daily = iv == DAILY
    if jump_threshold is None:
        jump_threshold = 0.20 if daily else 0.05
    fmt = "%Y-%m-%d" if daily else "%Y-%m-%d %H:%M"
    sessions = (s_ns + IST_OFFSET_NS) // DAY_NS
    present = {d.date() for d in s_idx.normalize().unique()}
    _session_checks(f, present, expected_sessions)

    if vol is not None:
        v = vol[keep]
        if len(v) and (np.nan_to_num(v) == 0).all():
            f.add("no_volume", "info", f"{key}: every bar has volume 0 (an index, or volume not recorded); zero-volume bars not listed",
                  value=int(len(v)))
        else:
            for j in np.flatnonzero(v == 0):
                t = s_idx[j]
                f.add("zero_volume", "info", f"{key} {t.strftime(fmt)}: no trade in this bar (volume 0)",
                      session=t.date(), timestamp=t, row=int(keep[j]), value=0)

    # Price jumps against the previous close (across sessions too: an overnight gap or a
    # corporate action shows here, and the message says which it is).
    if len(keep) > 1:
        prev_c = c[keep][:-1]
        cur = np.vstack([o[keep][1:], h[keep][1:], lo[keep][1:], c[keep][1:]])
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.abs(cur / prev_c - 1.0)
        jump = np.where(np.isnan(rel).all(axis=0), 0.0, np.nanmax(np.nan_to_num(rel, nan=-1.0), axis=0))
        for j in np.flatnonzero(jump > jump_threshold) + 1:
            t = s_idx[j]
            overnight = sessions[j] != sessions[j - 1]
            where = "from the previous session's close" if overnight and not daily else "from the previous close"
            f.add("price_jump", "warning", f"{key} {t.strftime(fmt)}: price moved {jump[j - 1]:.1%} {where} ({c[keep][j - 1]:g})",
                  session=t.date(), timestamp=t, row=int(keep[j]), value=float(jump[j - 1]))

    if daily:
        return f.frame()

    outside = _hours_mask(s_ns, open_time, close_time, hours, inclusive_close=False)
    for j in np.flatnonzero(outside):
        t = s_idx[j]
        f.add("outside_hours", "warning", f"{key} {t:%Y-%m-%d %H:%M}: bar outside market hours", session=t.date(), timestamp=t, row=int(keep[j]))

    # Gaps: inside a session between consecutive bars, and at its start and end.
    step = iv.value
    inside = ~outside
    for sess in np.unique(sessions[inside]):
        m = inside & (sessions == sess)
        t = s_ns[m]
        day_start = sess * DAY_NS - IST_OFFSET_NS
        d = pd.Timestamp(int(day_start), tz="UTC").tz_convert(IST).date()
        o_t, c_t = (hours or {}).get(d, (open_time, close_time))
        first_bar, end = day_start + _tod(o_t), day_start + _tod(c_t)
        edges = np.r_[first_bar - step, t, end]
        holes = np.flatnonzero(np.diff(edges) > step)
        for k in holes:
            a, b = edges[k] + step, edges[k + 1] - step  # first and last missing bar start
            n = int((b - a) // step) + 1
            if n <= 0:
                continue
            f.add("gap", "warning", f"{key} {d:%Y-%m-%d}: {n} bar(s) missing {_hhmm(a)}-{_hhmm(b)}",
                  session=d, timestamp=pd.Timestamp(int(a), tz="UTC").tz_convert(IST), value=n)
    return f.frame()


def check_ticks(
    df: pd.DataFrame,
    *,
    key: str = "",
    expected_sessions: Iterable[date] | None = None,
    max_gap: str | pd.Timedelta = "60s",
    jump_threshold: float = 0.02,
    open_time: time = SESSION_OPEN,
    close_time: time = SESSION_CLOSE,
    hours: Hours | None = None,
) -> pd.DataFrame:
    """Check ticks (``price[, volume]``) and return the findings.

    Reports ticks that go backwards in time, non-positive or missing prices, silences longer
    than ``max_gap`` inside a session, jumps above ``jump_threshold`` from the previous tick,
    ticks outside ``open_time``-``close_time`` (the close itself is allowed: NSE publishes a
    15:30:00 value) and missing sessions. Equal timestamps are normal for ticks.
    """
    f = _Findings(key)
    if len(df) == 0:
        return f.frame()
    idx = _index_of(df)
    ns = index_ns(idx)
    _order_checks(f, idx, ns, allow_equal=True)
    p = pd.to_numeric(df["price"], errors="coerce").to_numpy(dtype="float64")
    for i in np.flatnonzero(np.isnan(p)):
        f.add("missing_value", "error", f"{key} {idx[i]:%Y-%m-%d %H:%M:%S}: price is missing", session=idx[i].date(), timestamp=idx[i], row=int(i))
    for i in np.flatnonzero(p <= 0):
        f.add("nonpositive_price", "error", f"{key} {idx[i]:%Y-%m-%d %H:%M:%S}: price {p[i]:g} is not positive",
              session=idx[i].date(), timestamp=idx[i], row=int(i))
    order = np.argsort(ns, kind="stable")
    s_ns, s_idx, s_p = ns[order], idx[order], p[order]
    sessions = (s_ns + IST_OFFSET_NS) // DAY_NS
    present = {d.date() for d in s_idx.normalize().unique()}
    _session_checks(f, present, expected_sessions)
    with np.errstate(invalid="ignore", divide="ignore"):
        jump = np.abs(s_p[1:] / s_p[:-1] - 1.0)
    same = sessions[1:] == sessions[:-1]
    for j in np.flatnonzero((jump > jump_threshold) & same) + 1:
        t = s_idx[j]
        f.add("price_jump", "warning", f"{key} {t:%Y-%m-%d %H:%M:%S}: price moved {jump[j - 1]:.2%} from the previous tick ({s_p[j - 1]:g})",
              session=t.date(), timestamp=t, row=int(order[j]), value=float(jump[j - 1]))
    outside = _hours_mask(s_ns, open_time, close_time, hours, inclusive_close=True)
    for j in np.flatnonzero(outside):
        t = s_idx[j]
        f.add("outside_hours", "warning", f"{key} {t:%Y-%m-%d %H:%M:%S}: tick outside market hours",
              session=t.date(), timestamp=t, row=int(order[j]))
    gap = pd.Timedelta(max_gap).value
    d = np.diff(s_ns)
    for j in np.flatnonzero((d > gap) & same & ~outside[1:] & ~outside[:-1]):
        a, b = s_idx[j], s_idx[j + 1]
        f.add("gap", "warning", f"{key} {a:%Y-%m-%d}: no ticks for {(b - a).total_seconds():.0f} s ({a:%H:%M:%S}-{b:%H:%M:%S})",
              session=a.date(), timestamp=a, row=int(order[j]), value=float((b - a).total_seconds()))
    return f.frame()


def summarize(findings: pd.DataFrame) -> pd.DataFrame:
    """Counts of findings by key, check and severity (a one-glance table for a notebook)."""
    if len(findings) == 0:
        return pd.DataFrame(columns=["key", "check", "severity", "count"])
    return findings.groupby(["key", "check", "severity"], sort=True).size().rename("count").reset_index()
