"""``tradekit data fetch``: bars from Kite's historical API into the data directory.

Through the logged-in :class:`~tradekit.brokers.kite.broker.KiteBroker`: its ``historical()``
splits a range into requests within Kite's per-request span (minute candles 60 days, day candles
2000 days; kite.md §8) and books each request with the process's rate governor (historical:
3 requests/s, ``kite.rate_limits.historical_per_second``), retrying a 429 as configured.

Resumable: the days to ask for are the days of the range the data directory does not hold yet
(trading days from the NSE calendar; weekdays where its tables end) minus the days Kite already
answered with no candles (recorded beside the file in ``<SYMBOL>.parquet.nodata.json``: a
holiday, a day before the listing). Each contiguous run of missing days is fetched and stored
before the next, so an interrupted fetch keeps what it got and a re-run asks only for the rest.
Today (IST) is never recorded as empty: its candles are still coming.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from tradekit.clock import IST
from tradekit.data.store import bars_file, split_key, timeframe_of, write_bars
from tradekit.errors import DataError, ValidationError

INTERVAL = {"1min": "minute", "1d": "day"}


@dataclass
class FetchResult:
    key: str
    timeframe: str
    path: Path
    requested_days: int = 0
    fetched_bars: int = 0
    ranges: list[tuple[date, date]] = field(default_factory=list)
    already: int = 0
    no_data: list[date] = field(default_factory=list)
    calendar_note: str = ""

    def summary(self) -> str:
        if not self.ranges:
            return (f"{self.key} {self.timeframe}: nothing to fetch ({self.already} day(s) already in {self.path})")
        return (f"fetched {self.fetched_bars:,} {self.timeframe} bars of {self.key} for {self.requested_days} day(s) "
                f"in {len(self.ranges)} range(s) into {self.path}; {self.already} day(s) were already there"
                + (f"; no candles on {len(self.no_data)} day(s)" if self.no_data else ""))


def _nodata_path(path: Path) -> Path:
    return path.with_name(path.name + ".nodata.json")


def _read_nodata(path: Path) -> set[date]:
    p = _nodata_path(path)
    if not p.exists():
        return set()
    try:
        return {date.fromisoformat(d) for d in json.loads(p.read_text())["days"]}
    except (ValueError, KeyError, TypeError):
        return set()  # an unreadable note: those days are asked for again


def _write_nodata(path: Path, days: set[date]) -> None:
    p = _nodata_path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name("." + p.name + ".tmp")
    tmp.write_text(json.dumps({"days": sorted(d.isoformat() for d in days)}))
    tmp.replace(p)


def expected_days(start: date, end: date, calendar=None) -> tuple[list[date], str]:
    """Trading days in [start, end] (NSE's calendar; weekdays, said so, where its tables end)."""
    if calendar is None:
        from tradekit.market.calendar import MarketCalendar

        calendar = MarketCalendar("NSE")
    try:
        return list(calendar.sessions(start, end)), ""
    except Exception as e:  # noqa: BLE001 - a year outside the tables
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        return [d for d in days if d.weekday() < 5], f"weekdays used for the days to fetch ({e})"


def _runs(days: list[date], cap: int) -> list[tuple[date, date]]:
    """Contiguous (by trading day) runs of ``days``, each spanning fewer than ``cap`` calendar days."""
    out: list[list[date]] = []
    for d in days:
        if out and (d - out[-1][0]).days < cap:
            out[-1].append(d)
        else:
            out.append([d])
    return [(r[0], r[-1]) for r in out]


def fetch_bars(broker, symbol: str, start: date, end: date, data_dir: str | Path, *, timeframe: str = "1min",
               calendar=None, today: date | None = None) -> FetchResult:
    """Fetch what the data directory lacks of ``symbol`` in [start, end] through ``broker.historical``."""
    from tradekit.brokers.kite.broker import HISTORICAL_CAPS
    from tradekit.data.bars import load_bars
    from tradekit.data.feeds import sessions_in

    tf = timeframe_of(timeframe)
    if end < start:
        raise ValidationError(f"--to {end} is before --from {start}", field="--to")
    today = today or datetime.now(IST).date()
    if start > today:
        raise ValidationError(f"--from {start} is in the future", field="--from")
    end = min(end, today)
    ex, sym = split_key(symbol)
    key = f"{ex}:{sym}"
    path = bars_file(data_dir, key, tf)
    have = set(sessions_in(load_bars(path))) if path.exists() else set()
    nodata = _read_nodata(path)
    days, note = expected_days(start, end, calendar)
    missing = [d for d in days if d not in have and d not in nodata]
    res = FetchResult(key, tf, path, already=sum(1 for d in days if d in have), calendar_note=note)
    if not missing:
        return res
    interval = INTERVAL[tf]
    cap = HISTORICAL_CAPS[interval]
    for d0, d1 in _runs(missing, cap):
        s = datetime.combine(d0, time(0, 0), IST)
        e = datetime.combine(d1, time(23, 59, 59), IST)
        df = broker.historical(key, s, e, interval, cache=False)
        run_days = [d for d in missing if d0 <= d <= d1]
        got = set(sessions_in(df)) if len(df) else set()
        if len(df):
            df = df[["open", "high", "low", "close", "volume"]].astype(
                {"open": "float64", "high": "float64", "low": "float64", "close": "float64", "volume": "int64"})
            if tf == "1d":
                df.index = df.index.normalize()
            write_bars(data_dir, key, tf, df)
        empty = {d for d in run_days if d not in got and d < today}
        if empty:
            nodata |= empty
            _write_nodata(path, nodata)
            res.no_data += sorted(empty)
        res.ranges.append((d0, d1))
        res.requested_days += len(run_days)
        res.fetched_bars += len(df)
    if not res.fetched_bars and not path.exists():
        raise DataError(f"{key}: Kite returned no {tf} candles between {start} and {end}")
    return res
