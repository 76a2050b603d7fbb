"""tradekit's NSE calendar against exchange_calendars' XBOM calendar, day by day, for every year
both cover (issue 16). Every difference must be in KNOWN_DIFFERENCES with its reason; an
unexplained one fails the test, and so does an entry that no longer differs (unless marked as
depending on the library or pandas version)."""

from __future__ import annotations

import warnings
from datetime import date, timedelta

import pytest

from tradekit.market.calendar import MarketCalendar

# Known differences, as of 2026-12-06 (exchange_calendars 4.13.2, pandas 3.1.1); india.md §1.3-§1.4.
# date -> (tradekit trades?, reason, may_agree: the library may agree in another version)
KNOWN_DIFFERENCES: dict[date, tuple[bool, str, bool]] = {
    date(2020, 11, 14): (True, "Muhurat session on a Saturday; XBOM has no weekend sessions", False),
    date(2021, 11, 4): (True, "Muhurat evening hour on a weekday holiday; XBOM: closed all day", False),
    date(2022, 10, 24): (True, "Muhurat evening hour on a weekday holiday; XBOM: closed all day", False),
    date(2023, 11, 12): (True, "Muhurat session on a Sunday; XBOM has no weekend sessions", False),
    date(2024, 1, 20): (True, "full Saturday session (planned DR test); XBOM lists it only under pandas 2.x "
                              "(its special_weekmasks are ignored under pandas 3)", True),
    date(2024, 3, 2): (True, "Saturday live session with a DR-site switch; XBOM has no weekend sessions", False),
    date(2024, 5, 18): (True, "Saturday live session with a DR-site switch; XBOM has no weekend sessions", False),
    date(2024, 11, 1): (True, "Muhurat evening hour on a weekday holiday; XBOM: closed all day", False),
    date(2025, 2, 1): (True, "Union Budget Saturday session; XBOM lists it only under pandas 2.x", True),
    date(2025, 10, 21): (True, "Muhurat afternoon hour on a weekday holiday; XBOM: closed all day", False),
    date(2026, 2, 1): (True, "Union Budget Sunday session; XBOM has no weekend sessions", False),
}


@pytest.fixture(scope="module")
def xbom():
    xcals = pytest.importorskip("exchange_calendars")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = xcals.get_calendar("XBOM")
        sessions = frozenset(ts.date() for ts in cal.sessions)
    return cal.first_session.date(), cal.last_session.date(), sessions


def test_every_difference_from_xbom_has_a_reason(xbom):
    first, last, sessions = xbom
    cal = MarketCalendar("NSE")
    start, end = max(first, cal.first_day), min(last, cal.last_day)
    assert end >= date(2026, 12, 31) - timedelta(days=1) and start <= date(2011, 1, 1)  # both cover 2011-2026
    found: dict[date, bool] = {}
    d = start
    while d <= end:
        ours = cal.is_trading_day(d)
        if ours != (d in sessions):
            found[d] = ours
        d += timedelta(days=1)
    unexplained = [f"{d} {d:%a}: tradekit {'trades' if t else 'closed'}, XBOM {'closed' if t else 'trades'} "
                   f"(tradekit's source: {cal.year_source(d.year).kind})"
                   for d, t in sorted(found.items()) if d not in KNOWN_DIFFERENCES or KNOWN_DIFFERENCES[d][0] != t]
    assert not unexplained, "differences from exchange_calendars XBOM without a reason:\n" + "\n".join(unexplained)
    stale = [f"{d}: {why}" for d, (_, why, may_agree) in KNOWN_DIFFERENCES.items()
             if start <= d <= end and d not in found and not may_agree]
    assert not stale, "known differences that no longer differ (update the table):\n" + "\n".join(stale)


def test_the_bundled_years_agree_with_xbom_on_every_weekday_holiday(xbom):
    """2025 and 2026 come from tradekit's own tables: the same weekday holidays as XBOM."""
    first, last, sessions = xbom
    cal = MarketCalendar("NSE")
    for year in (2025, 2026):
        if date(year, 12, 31) > last:
            pytest.skip(f"XBOM does not cover {year}")
        assert cal.year_source(year).kind == "tables"
        ours = {h.date for h in cal.holidays(date(year, 1, 1), date(year, 12, 31))}
        theirs = {date(year, 1, 1) + timedelta(days=i) for i in range(366)}
        theirs = {d for d in theirs if d.year == year and d.weekday() < 5 and d not in sessions}
        assert ours == theirs
