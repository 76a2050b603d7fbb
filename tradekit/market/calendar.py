"""Trading days and session phases for NSE/BSE, in IST.

Each year's weekday holidays come from one source (:meth:`MarketCalendar.year_source`), the
first of:

* the config's ``market.holidays`` for that year;
* a list imported with ``tradekit calendar import`` (``<data_dir>/calendar/<year>-holidays.yaml``,
  :mod:`tradekit.market.calendar_import`), with its file, SHA-256 and import time;
* ``data/holidays.yaml``: complete weekday holiday lists for 2025 and 2026 (NSE/BSE circulars);
* exchange_calendars' ``XBOM`` calendar for the complete years it covers from 2010-10-18 (it
  matches NSE's own lists for the years tradekit ships data for; india.md §1.4). Under
  pandas 3 that library ignores its weekend sessions, so those are never taken from it.
  Its sessions are kept in ``<data_dir>/cache/calendar`` between processes, keyed by the installed
  library (:mod:`tradekit.market.calendar_library`), since importing it costs about 0.1 s;
* the **provisional** calendar, for the :data:`PROVISIONAL_YEARS` years after the last year
  any of the above covers: weekends plus the fixed-date holidays of ``holidays.yaml``
  (``provisional_fixed``). Movable festivals cannot be known before NSE's circular, so a
  provisional day may turn out to be a holiday: :meth:`MarketCalendar.is_provisional` says
  so, and premarket, the report, the manifest and the dashboards show it.

Special sessions come from ``data/special_sessions.yaml`` (Muhurat hours, Budget weekends,
DR-site test days), then imported ``<year>-special.yaml`` files, then the config. A session
whose timings are not known (the 2026-11-08 Muhurat) is not a trading day: the day is a
holiday for regular trading and the session is skipped (:meth:`MarketCalendar.skipped_session`).
Phases (pre-open, normal market, closing auction, post-close) come from dated regimes in
``data/sessions.yaml``, so a replay of 2016 and a live day of 2026 each get their own
timetable. Dates outside the calendar are refused with a :class:`DataError`.

Markets: ``equity`` (NSE/BSE cash), ``fno`` (equity derivatives), ``currency`` (CDS/BCD)
and ``commodity`` (MCX). Every time is IST.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from tradekit.clock import to_ist
from tradekit.errors import DataError, MarketRuleError
from tradekit.market._tables import load_yaml, parse_date
from tradekit.market.config import MarketConfig
from tradekit.model.enums import Exchange, InstrumentType
from tradekit.model.instrument import Instrument
from tradekit.market.calendar_import import calendar_dir, load_overrides
from tradekit.market.calendar_library import _library_sessions
from tradekit.market.calendar_tables import (  # noqa: F401 - re-exported: the public names live here too
    CALENDAR_START,
    Market,
    Phase,
    market_of,
    Holiday,
    PhaseWindow,
    SpecialSession,
    SessionTimes,
    AmoWindow,
    _Regime,
    _regimes,
    _broker_times,
    _special_from_table,
    _special_from_config,
    default_cas_symbols,
    CAS_START,
    _combine,
    _us_on_daylight_time,
)


class _PerMarket(dict):
    """A dict of per-market values, each computed by ``make(market)`` when first asked for."""

    def __init__(self, make):
        super().__init__()
        self._make = make

    def __missing__(self, m):
        if not isinstance(m, Market):
            raise KeyError(m)
        v = self[m] = self._make(m)
        return v


PROVISIONAL_YEARS = 2
"""Years after the last listed one that the calendar answers for, provisionally."""


@dataclass(frozen=True, slots=True)
class YearSource:
    """Where one year's holiday list comes from.

    ``kind`` is ``config``, ``imported``, ``tables``, ``exchange_calendars`` or ``provisional``.
    """

    year: int
    kind: str
    source: str
    file: str | None = None
    sha256: str | None = None
    imported_at: str | None = None

    @property
    def provisional(self) -> bool:
        return self.kind == "provisional"

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("year", "kind", "source", "file", "sha256", "imported_at")
                if getattr(self, k) is not None} | {"provisional": self.provisional}


# -- the calendar ------------------------------------------------------------------------


class MarketCalendar:
    """Trading days, phases, square-off and AMO times of one exchange family (NSE or BSE).

    Parameters
    ----------
    exchange
        ``NSE`` or ``BSE`` (their holiday lists are the same in every year covered); the
        derivative, currency and commodity timetables hang off it.
    config
        Overrides and additions (:class:`~tradekit.market.config.MarketConfig`).
    overrides_dir
        The folder of imported lists (``tradekit calendar import``); :func:`calendar_for`
        passes ``<data_dir>/calendar``. None: no imported lists.
    cache_dir
        Where the sessions derived from exchange_calendars are kept between processes
        (:mod:`tradekit.market.calendar_library`); :func:`calendar_for` passes
        ``<data_dir>/cache/calendar``. None: computed in each process.

    Examples
    --------
    >>> from tradekit.clock import ist
    >>> cal = MarketCalendar()
    >>> cal.is_trading_day(date(2025, 10, 22))
    False
    >>> cal.next_open(ist(2025, 10, 20, 16, 0)).isoformat()   # Muhurat hour on the 21st
    '2025-10-21T13:45:00+05:30'
    """

    def __init__(
        self,
        exchange: Exchange | str = Exchange.NSE,
        config: MarketConfig | None = None,
        *,
        overrides_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
    ):
        self.exchange = Exchange.parse(exchange, "exchange")
        if self.exchange not in (Exchange.NSE, Exchange.BSE):
            raise MarketRuleError(
                f"{self.exchange}: the calendar is per NSE or BSE", field="exchange"
            )
        self.config = config or MarketConfig()
        if overrides_dir is None and self.config.calendar_dir is not None:
            overrides_dir = Path(self.config.calendar_dir).expanduser()
        self.overrides_dir = Path(overrides_dir) if overrides_dir is not None else None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._st_cache: dict[tuple, SessionTimes] = {}
        self._build()

    # -- construction

    def _build(self) -> None:
        raw = load_yaml("holidays.yaml")
        imported = load_overrides(self.overrides_dir)
        table: dict[int, dict[date, Holiday]] = {}
        sources: dict[int, YearSource] = {}
        for year, entry in raw["years"].items():
            src = str(entry.get("source", "holidays.yaml"))
            table[int(year)] = {
                (d := parse_date(h["date"], f"holidays.yaml:{year}")): Holiday(
                    d, str(h["name"]), src
                )
                for h in entry["holidays"]
            }
            sources[int(year)] = YearSource(int(year), "tables", f"holidays.yaml: {src}")
        for year, ov in imported.items():
            if ov.holidays is None or ov.holidays_source is None:
                continue
            s = ov.holidays_source
            desc = s.describe()
            table[year] = {h["date"]: Holiday(h["date"], h["name"], desc) for h in ov.holidays}
            sources[year] = YearSource(year, "imported", desc, s.path, s.sha256, s.imported_at)
        for year, days in self.config.holidays.items():
            table[int(year)] = {
                d: Holiday(d, "holiday (config)", "config: market.holidays") for d in days
            }
            sources[int(year)] = YearSource(int(year), "config", "config: market.holidays")
        lib_first, lib_last, lib_days = _library_sessions(self.cache_dir)
        self.first_day = max(CALENDAR_START, lib_first)
        lib_years = {
            y
            for y in range(self.first_day.year, lib_last.year + 1)
            if date(y, 12, 31) <= lib_last and y not in table
        }
        for y in lib_years:
            sources[y] = YearSource(
                y, "exchange_calendars", "exchange_calendars XBOM (weekday holidays only)"
            )
        last_listed = max(sources)
        fixed = [
            (int(f["month"]), int(f["day"]), str(f["name"])) for f in raw.get("provisional_fixed") or []
        ]
        names = ", ".join(f"{n} {date(2000, m, d):%d %b}" for m, d, n in fixed)
        provisional_src = (
            "provisional: no published holiday list; weekends and the fixed-date holidays "
            f"({names}) only — movable festival holidays cannot be known until NSE's circular "
            "(import it: tradekit calendar import FILE)"
        )
        for y in range(last_listed + 1, last_listed + PROVISIONAL_YEARS + 1):
            sources[y] = YearSource(y, "provisional", provisional_src)
            table[y] = {}
            for m, dd, n in fixed:
                d = date(y, m, dd)
                table[y][d] = Holiday(d, n, provisional_src, provisional=True)
        for y in range(self.first_day.year, last_listed + 1):  # a gap between listed years
            if y not in sources:
                sources[y] = YearSource(y, "provisional", provisional_src)
                table[y] = {
                    date(y, m, dd): Holiday(date(y, m, dd), n, provisional_src, provisional=True)
                    for m, dd, n in fixed
                }
        self._sources = sources
        end = self.last_day = date(last_listed + PROVISIONAL_YEARS, 12, 31)

        holidays: dict[date, Holiday] = {}
        weekend_listed: dict[date, Holiday] = {}
        d = self.first_day
        one = timedelta(days=1)
        while d <= end:
            if d.weekday() < 5:
                if d.year in table:
                    if d in table[d.year]:
                        holidays[d] = table[d.year][d]
                elif d not in lib_days:
                    holidays[d] = Holiday(d, "holiday", "exchange_calendars XBOM")
            d += one
        for year, ov in imported.items():
            if sources.get(year) is not None and sources[year].kind == "imported":
                for h in ov.weekend:
                    weekend_listed[h["date"]] = Holiday(h["date"], h["name"], sources[year].source)
        self._weekend_listed = weekend_listed
        for d in self.config.extra_holidays:
            if self.first_day <= d <= end and d.weekday() < 5:
                holidays[d] = Holiday(d, "holiday (config)", "config: market.extra_holidays")
        self._holidays = holidays

        currency_only: dict[date, Holiday] = {}
        for h in raw.get("currency_only", []) or []:
            d = parse_date(h["date"], "holidays.yaml:currency_only")
            currency_only[d] = Holiday(d, str(h["name"]), str(h.get("source", "")))
        self._currency_only = currency_only

        specials: dict[date, SpecialSession] = {}
        for i, s in enumerate(load_yaml("special_sessions.yaml")["sessions"]):
            sp = _special_from_table(s, f"special_sessions.yaml[{i}]")
            specials[sp.date] = sp
        for year, ov in sorted(imported.items()):
            for i, s in enumerate(ov.sessions):
                where = f"{(ov.sessions_source.path if ov.sessions_source else '') or year}[{i}]"
                sp = _special_from_table(s, where)
                specials[sp.date] = sp
        for c in self.config.special_sessions:
            if c.cancelled:
                specials.pop(c.date, None)
            else:
                specials[c.date] = _special_from_config(c)
        self._specials = specials

        # each market's trading days, listed on its first use (a replay of equities never lists the other four)
        self._days: dict[Market, list[date]] = _PerMarket(self._market_days)
        self._day_sets: dict[Market, frozenset[date]] = _PerMarket(self._market_day_set)

    def _market_days(self, m: Market) -> list[date]:
        days = []
        d, end, one = self.first_day, self.last_day, timedelta(days=1)
        while d <= end:
            if self._trades(d, m):
                days.append(d)
            d += one
        return days

    def _market_day_set(self, m: Market) -> frozenset[date]:
        return frozenset(self._days[m])

    def _trades(self, d: date, m: Market) -> bool:
        sp = self._specials.get(d)
        if sp is not None:
            return sp.trades(m)
        if d.weekday() >= 5:
            return False
        if d in self._holidays:
            return m is Market.COMMODITY and self.config.mcx_evening_on_equity_holidays
        return not (m is Market.CURRENCY and d in self._currency_only)

    def _check(self, d: date) -> date:
        if isinstance(d, datetime):
            d = to_ist(d).date()
        if not isinstance(d, date):
            raise MarketRuleError(f"{d!r} is not a date", field="date")
        if not self.first_day <= d <= self.last_day:
            raise DataError(
                f"{self.exchange}: {d.isoformat()} is outside the calendar "
                f"({self.first_day.isoformat()}..{self.last_day.isoformat()}); import the year's holiday list "
                "with tradekit calendar import FILE (or set market.holidays in the config)"
            )
        return d

    # -- where the days come from

    def year_source(self, year: int) -> YearSource:
        """Where ``year``'s holidays come from (tables, imported file, config, library, provisional)."""
        src = self._sources.get(int(year))
        if src is None or not self.first_day.year <= int(year) <= self.last_day.year:
            raise DataError(
                f"{self.exchange}: {year} is outside the calendar "
                f"({self.first_day.year}..{self.last_day.year})"
            )
        return src

    def years(self) -> list[YearSource]:
        """Every year the calendar answers for, with its source."""
        return [self._sources[y] for y in range(self.first_day.year, self.last_day.year + 1)]

    def is_provisional(self, d: date) -> bool:
        """True when ``d``'s year has no published holiday list: the day may yet be a holiday."""
        return self.year_source(self._check(d).year).provisional

    def provisional_note(self, d: date) -> str | None:
        """The warning to show on a provisional day (None on a day of a published list)."""
        d = self._check(d)
        src = self.year_source(d.year)
        if not src.provisional:
            return None
        return (
            f"PROVISIONAL CALENDAR for {d.year}: {self.exchange} has no holiday list for {d.year} in tradekit; "
            "its trading days are the weekdays less the fixed-date holidays, and a movable festival holiday "
            "(Holi, Id, Good Friday, Diwali, ...) cannot be known until the exchange's circular. "
            "Import it: tradekit calendar import FILE"
        )

    def day_info(self, d: date) -> dict:
        """Where ``d``'s calendar comes from, for run manifests and premarket.json: the
        :class:`YearSource` fields, ``provisional`` and, on a provisional day, ``note``."""
        try:
            d = self._check(d)
            info = self.year_source(d.year).to_dict()
        except (DataError, MarketRuleError) as e:
            return {"kind": "unknown", "source": str(e), "provisional": False}
        if info["provisional"]:
            info["note"] = self.provisional_note(d)
        skipped = self.skipped_note(d)
        if skipped:
            info["skipped_session"] = skipped
        return info

    def weekend_holidays(self, year: int) -> list[Holiday]:
        """Saturday/Sunday holidays an imported list names (they change nothing)."""
        return sorted((h for d, h in self._weekend_listed.items() if d.year == year), key=lambda h: h.date)

    def skipped_session(self, d: date) -> SpecialSession | None:
        """A special session on ``d`` whose timings are not known: the day does not trade."""
        sp = self._specials.get(self._check(d))
        return sp if sp is not None and not sp.timings_known else None

    def skipped_note(self, d: date) -> str | None:
        """The message for a skipped special session (None when there is none)."""
        sp = self.skipped_session(d)
        if sp is None:
            return None
        return (
            f"the {sp.kind} session of {d.isoformat()} ({d:%A}) is skipped: its timings are not configured, so the "
            "day is a holiday for regular trading; to trade it, set them under market.special_sessions or import "
            f"them with tradekit calendar import FILE --special (source: {sp.source})"
        )

    # -- days

    def is_trading_day(self, d: date, market: Market | str = Market.EQUITY) -> bool:
        """True when ``market`` holds a session on ``d`` (regular or special)."""
        return self._check(d) in self._day_sets[market_of(market)]

    def is_holiday(self, d: date, market: Market | str = Market.EQUITY) -> bool:
        """True for a weekday without the regular session (a Muhurat day is a holiday too)."""
        d, m = self._check(d), market_of(market)
        if d.weekday() >= 5:
            return False
        return d in self._holidays or (m is Market.CURRENCY and d in self._currency_only)

    def holiday(self, d: date, market: Market | str = Market.EQUITY) -> Holiday | None:
        """The holiday on ``d`` with its name and source, if any."""
        d, m = self._check(d), market_of(market)
        h = self._holidays.get(d)
        if h is None and m is Market.CURRENCY:
            h = self._currency_only.get(d)
        return h

    def holidays(
        self, start: date, end: date, market: Market | str = Market.EQUITY
    ) -> list[Holiday]:
        """Weekday holidays between ``start`` and ``end`` (inclusive)."""
        self._check(start), self._check(end)
        m = market_of(market)
        out = [h for d, h in self._holidays.items() if start <= d <= end]
        if m is Market.CURRENCY:
            out += [
                h
                for d, h in self._currency_only.items()
                if start <= d <= end and d not in self._holidays
            ]
        return sorted(out, key=lambda h: h.date)

    def special_session(self, d: date) -> SpecialSession | None:
        """The special session on ``d`` (Muhurat, Budget weekend, DR test), if any."""
        return self._specials.get(self._check(d))

    def special_sessions(self, start: date, end: date) -> list[SpecialSession]:
        return [s for d, s in sorted(self._specials.items()) if start <= d <= end]

    def sessions(self, start: date, end: date, market: Market | str = Market.EQUITY) -> list[date]:
        """Trading days from ``start`` to ``end`` inclusive."""
        start, end = self._check(start), self._check(end)
        days = self._days[market_of(market)]
        return days[bisect.bisect_left(days, start) : bisect.bisect_right(days, end)]

    def next_trading_day(self, d: date, market: Market | str = Market.EQUITY) -> date:
        """The first trading day after ``d``."""
        d, days = self._check(d), self._days[market_of(market)]
        i = bisect.bisect_right(days, d)
        if i >= len(days):
            raise DataError(
                f"{self.exchange}: no trading day after {d} in the calendar tables (they end {self.last_day})"
            )
        return days[i]

    def previous_trading_day(self, d: date, market: Market | str = Market.EQUITY) -> date:
        """The last trading day before ``d``."""
        d, days = self._check(d), self._days[market_of(market)]
        i = bisect.bisect_left(days, d)
        if i == 0:
            raise DataError(
                f"{self.exchange}: no trading day before {d} in the calendar tables (they start {self.first_day})"
            )
        return days[i - 1]

    # -- phases

    def _regime(self, m: Market, d: date) -> _Regime:
        rows = _regimes()[m]
        i = bisect.bisect_right([r.start for r in rows], d) - 1
        if i < 0:
            raise DataError(f"{m}: no session timetable before {rows[0].start}")
        return rows[i]

    def session_times(
        self,
        d: date,
        market: Market | str = Market.EQUITY,
        *,
        cas: bool = False,
        pre_open: bool = True,
    ) -> SessionTimes:
        """The phases of ``market`` on trading day ``d``.

        Parameters
        ----------
        cas
            Equity only: the stock is in the closing auction session (a stock with
            derivatives, from 2026-08-03). See :meth:`is_cas_stock`.
        pre_open
            Whether the instrument has a pre-open call auction (every stock; for F&O only
            near-month futures from 2025-12-08). See :meth:`session_times_for`.

        Raises
        ------
        MarketRuleError
            ``d`` is not a trading day of ``market``.
        DataError
            ``d`` is outside the tables, or a special session's timings are not known.
        """
        d, m = self._check(d), market_of(market)
        key = (d, m, bool(cas) and m is Market.EQUITY, bool(pre_open))
        hit = self._st_cache.get(key)
        if hit is None:
            hit = self._st_cache[key] = self._session_times(*key)
        return hit

    def _session_times(self, d: date, m: Market, cas: bool, pre_open: bool) -> SessionTimes:
        if d not in self._day_sets[m]:
            h = self.holiday(d, m)
            why = f"holiday: {h.name}" if h else "weekend"
            if self.skipped_session(d) is not None:
                why += f"; {self.skipped_note(d)}"
            raise MarketRuleError(
                f"{self.exchange} {m}: {d.isoformat()} is not a trading day ({why})", field="date"
            )
        regime = self._regime(m, d)
        sp = self._specials.get(d)
        tme = regime.trade_modification_end
        block_deals = [(s, e) for s, e in regime.block_deals]
        source = regime.source
        spec = sp.markets.get(m.value) if sp else "regular"
        if sp is not None and spec is None:
            raise DataError(
                f"{self.exchange}: the {sp.kind} session of {d.isoformat()} has no verified timings; "
                f"set them under market.special_sessions in the config (source: {sp.source})"
            )
        if spec == "regular":
            phases = list(
                regime.cas_phases if cas and regime.cas_phases is not None else regime.phases
            )
            if (
                m is Market.COMMODITY
                and regime.us_dst_phases is not None
                and _us_on_daylight_time(d)
            ):
                phases = list(regime.us_dst_phases)
            if pre_open:
                phases = list(regime.pre_open) + phases
            if (
                m is Market.COMMODITY
                and d in self._holidays
                and sp is None
                and regime.holiday_evening_from
            ):
                phases = [
                    (p, max(s, regime.holiday_evening_from), e)
                    for p, s, e in phases
                    if e > regime.holiday_evening_from
                ]
                source += "; equity holiday: evening session only"
        else:
            phases = [(p, s, e) for p, s, e in spec if p is not Phase.BLOCK_DEAL]  # type: ignore[union-attr]
            block_deals = [(s, e) for p, s, e in spec if p is Phase.BLOCK_DEAL]  # type: ignore[union-attr]
            if m is Market.FNO and not pre_open:
                phases = [
                    p
                    for p in phases
                    if p[0] not in (Phase.PRE_OPEN, Phase.PRE_OPEN_MATCHING, Phase.PRE_OPEN_BUFFER)
                ]
        if sp is not None:
            tme = sp.trade_modification_end or tme
            source = f"{sp.kind} session: {sp.source}"
        phases.sort(key=lambda p: p[1])
        windows = tuple(PhaseWindow(p, _combine(d, s), _combine(d, e)) for p, s, e in phases)
        for a, b in pairwise(windows):
            if b.start < a.end:
                raise DataError(f"{m} {d}: phases {a.phase} and {b.phase} overlap")
        if not any(w.phase is Phase.NORMAL for w in windows):
            raise DataError(f"{m} {d}: the timetable has no normal market")
        return SessionTimes(
            day=d,
            market=m,
            windows=windows,
            block_deals=tuple(
                PhaseWindow(Phase.BLOCK_DEAL, _combine(d, s), _combine(d, e))
                for s, e in block_deals
            ),
            trade_modification_end=_combine(d, tme) if tme else None,
            special=sp,
            source=source + ("; PROVISIONAL calendar" if self._sources[d.year].provisional else ""),
            provisional=self._sources[d.year].provisional,
        )

    def is_cas_stock(self, instrument: Instrument | str, d: date) -> bool:
        """True when the stock trades in the closing auction session on ``d``.

        CAS covers stocks with derivatives from 2026-08-03 (NSE and BSE cash). The list is
        ``config.cas_symbols`` or, by default, the stock underlyings of the bundled F&O lot
        table of 2026-08-18.
        """
        if d < CAS_START:
            return False
        if isinstance(instrument, Instrument):
            if instrument.exchange not in (Exchange.NSE, Exchange.BSE) or instrument.is_index:
                return False
            symbol = instrument.tradingsymbol
        else:
            symbol = instrument
        symbols = (
            frozenset(self.config.cas_symbols)
            if self.config.cas_symbols is not None
            else default_cas_symbols()
        )
        return symbol.strip().upper() in symbols

    def session_times_for(
        self, instrument: Instrument, d: date, *, futures_expiries: Iterable[date] | None = None
    ) -> SessionTimes:
        """:meth:`session_times` with ``cas`` and ``pre_open`` worked out for ``instrument``.

        F&O pre-open covers current-month futures, and next-month futures in the last 5
        trading days before the current expiry; never options. Give the underlying's futures
        expiries (``InstrumentStore.futures_expiries``) to decide that; without them every
        future is taken to have a pre-open.
        """
        m = market_of(instrument)
        if instrument.is_index:
            raise MarketRuleError(f"{instrument.key}: an index is not traded", field="instrument")
        if m is Market.EQUITY:
            return self.session_times(d, m, cas=self.is_cas_stock(instrument, d), pre_open=True)
        if m is Market.FNO:
            return self.session_times(
                d, m, pre_open=self.fno_pre_open(instrument, d, futures_expiries)
            )
        return self.session_times(d, m)

    def fno_pre_open(
        self, instrument: Instrument, d: date, futures_expiries: Iterable[date] | None = None
    ) -> bool:
        """Whether an F&O contract takes part in the futures pre-open on ``d``."""
        if instrument.instrument_type is not InstrumentType.FUT:
            return False
        if futures_expiries is None or instrument.expiry is None:
            return True
        live = sorted(e for e in set(futures_expiries) if e >= d)
        if not live or instrument.expiry == live[0]:
            return True
        if len(live) > 1 and instrument.expiry == live[1]:
            return len(self.sessions(d, live[0], Market.FNO)) <= 5
        return False

    def phase_at(
        self,
        ts: datetime,
        market: Market | str = Market.EQUITY,
        *,
        cas: bool = False,
        pre_open: bool = True,
    ) -> Phase:
        """The phase of ``market`` at ``ts`` (CLOSED on a non-trading day)."""
        ts = to_ist(ts)
        m = market_of(market)
        if not self.is_trading_day(ts.date(), m):
            return Phase.CLOSED
        return self.session_times(ts.date(), m, cas=cas, pre_open=pre_open).phase_at(ts)

    def is_open(
        self, ts: datetime, market: Market | str = Market.EQUITY, *, cas: bool = False
    ) -> bool:
        """True during the normal (continuous) market."""
        return self.phase_at(ts, market, cas=cas) is Phase.NORMAL

    def next_open(
        self,
        ts: datetime,
        market: Market | str = Market.EQUITY,
        *,
        phase: Phase = Phase.NORMAL,
        cas: bool = False,
        pre_open: bool = True,
    ) -> datetime:
        """The next start of ``phase`` (default: the normal market) strictly after ``ts``."""
        ts = to_ist(ts)
        m = market_of(market)
        d = self._check(ts.date())
        while True:
            if d in self._day_sets[m]:
                for w in self.session_times(d, m, cas=cas, pre_open=pre_open).windows:
                    if w.phase is phase and w.start > ts:
                        return w.start
            d = self.next_trading_day(d, m)

    def next_close(
        self, ts: datetime, market: Market | str = Market.EQUITY, *, cas: bool = False
    ) -> datetime:
        """The next end of the normal market strictly after ``ts``."""
        ts = to_ist(ts)
        m = market_of(market)
        d = self._check(ts.date())
        while True:
            if d in self._day_sets[m]:
                st = self.session_times(d, m, cas=cas)
                if st.close > ts:
                    return st.close
            d = self.next_trading_day(d, m)

    def time_to_close(
        self, ts: datetime, market: Market | str = Market.EQUITY, *, cas: bool = False
    ) -> timedelta | None:
        """Time from ``ts`` to the day's close (end of its last normal-market window).

        ``None`` on a non-trading day or after the close.
        """
        ts = to_ist(ts)
        m = market_of(market)
        if not self.is_trading_day(ts.date(), m):
            return None
        close = self.session_times(ts.date(), m, cas=cas).close
        return close - ts if ts < close else None

    # -- broker times

    def mis_cutoff(
        self, d: date, market: Market | str = Market.EQUITY, *, cas: bool = False
    ) -> datetime:
        """Zerodha's MIS auto square-off time on trading day ``d``.

        After it, new MIS orders are refused. Regular days use Zerodha's published times
        (equity 15:20, F&O 15:25, currency 16:45, MCX 25 minutes before the close) unless
        ``config.mis_cutoffs`` overrides them. For a special session with its own hours the
        times are not published: ``mis_cutoff`` of the session in the config wins, else the
        regular distance from the close is kept (e.g. 10 minutes for equity).
        """
        m = market_of(market)
        st = self.session_times(d, m, cas=cas)
        c = self.config.mis_cutoffs
        if st.special is not None and m.value in st.special.mis_cutoff:
            return _combine(st.day, st.special.mis_cutoff[m.value])
        if m is Market.COMMODITY:
            minutes = c.commodity_before_close_minutes
            if minutes is None:
                minutes = _broker_times()["mis"]["commodity_before_close_minutes"]
            return st.close - timedelta(minutes=minutes)
        table = _broker_times()["mis"][m.value]
        regular = {"equity": c.equity, "fno": c.fno, "currency": c.currency}[m.value] or table
        if m is Market.EQUITY and cas and self._regime(m, st.day).cas_phases is not None:
            regular = c.equity_cas or regular
        special_hours = st.special is not None and st.special.markets.get(m.value) != "regular"
        if not special_hours:
            return _combine(st.day, regular)
        reg = self._regime(m, st.day)
        reg_close = max(
            e
            for p, s, e in (reg.cas_phases if cas and reg.cas_phases else reg.phases)
            if p is Phase.NORMAL
        )
        gap = _combine(st.day, reg_close) - _combine(st.day, regular)
        return max(st.close - gap, st.open)

    def amo_window(self, ts: datetime, market: Market | str = Market.EQUITY) -> AmoWindow:
        """The after-market-order window that contains ``ts``, or the next one.

        A window runs from the AMO start after one session (equity 16:00, F&O 15:45,
        currency 17:00, MCX its close) to the AMO cut-off before the next (08:58, 09:10,
        08:59, 08:58), across weekends and holidays.
        """
        ts = to_ist(ts)
        m = market_of(market)
        t = _broker_times()["amo"][m.value]
        d = self._check(ts.date())
        if d not in self._day_sets[m] or _combine(d, t["close"]) <= ts:
            d = self.next_trading_day(d, m)
        prev = self.previous_trading_day(d, m)
        prev_st = self.session_times(prev, m)
        opens = (
            prev_st.last_end
            if t["open"] is None
            else max(_combine(prev, t["open"]), prev_st.last_end)
        )
        return AmoWindow(
            market=m,
            opens=opens,
            closes=_combine(d, t["close"]),
            sent_at=_combine(d, t["sent"]),
            for_day=d,
        )

    def accepts_amo(self, ts: datetime, market: Market | str = Market.EQUITY) -> bool:
        """True when Zerodha takes an after-market order at ``ts``."""
        return ts in self.amo_window(ts, market)

    def __repr__(self) -> str:
        return f"MarketCalendar({self.exchange}, {self.first_day}..{self.last_day})"


def calendar_for(cfg, exchange: Exchange | str = Exchange.NSE) -> MarketCalendar:
    """The calendar a tradekit config trades on: its ``market`` section plus the lists
    imported into ``<data_dir>/calendar`` (or ``market.calendar_dir``)."""
    market = getattr(cfg, "market", None) or MarketConfig()
    data_dir = getattr(cfg, "data_dir", None)
    return MarketCalendar(exchange, market, overrides_dir=calendar_dir(data_dir, market),
                          cache_dir=None if data_dir is None else Path(data_dir).expanduser() / "cache" / "calendar")


_DEFAULT: dict[Exchange, MarketCalendar] = {}


def get_calendar(
    exchange: Exchange | str = Exchange.NSE, config: MarketConfig | None = None
) -> MarketCalendar:
    """A calendar for ``exchange``; the default-config one is built once and reused."""
    ex = Exchange.parse(exchange, "exchange")
    if ex in (Exchange.NFO, Exchange.CDS):
        ex = Exchange.NSE
    elif ex in (Exchange.BFO, Exchange.BCD):
        ex = Exchange.BSE
    if config is not None:
        return MarketCalendar(ex, config)
    if ex not in _DEFAULT:
        _DEFAULT[ex] = MarketCalendar(ex)
    return _DEFAULT[ex]
