"""Trading calendar: holidays pinned, special sessions, phases across date changes, next open."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

import tradekit.market.calendar as calmod
from tradekit.clock import ist
from tradekit.errors import DataError, MarketRuleError
from tradekit.market import (
    InstrumentStore,
    Market,
    MarketCalendar,
    MarketConfig,
    Phase,
    get_calendar,
)

SAMPLE = Path(calmod.__file__).resolve().parents[1] / "data" / "sample"

HOLIDAYS_2025 = [  # NSE/CMTR/65587 (india.md §1.1)
    "2025-02-26",
    "2025-03-14",
    "2025-03-31",
    "2025-04-10",
    "2025-04-14",
    "2025-04-18",
    "2025-05-01",
    "2025-08-15",
    "2025-08-27",
    "2025-10-02",
    "2025-10-21",
    "2025-10-22",
    "2025-11-05",
    "2025-12-25",
]
HOLIDAYS_2026 = [  # NSE/CMTR/71775, /72260; BSE 20251212-8 (india.md §1.2)
    "2026-01-15",
    "2026-01-26",
    "2026-03-03",
    "2026-03-26",
    "2026-03-31",
    "2026-04-03",
    "2026-04-14",
    "2026-05-01",
    "2026-05-28",
    "2026-06-26",
    "2026-09-14",
    "2026-10-02",
    "2026-10-20",
    "2026-11-10",
    "2026-11-24",
    "2026-12-25",
]


@pytest.fixture(scope="module", params=["NSE", "BSE"])
def cal(request):
    return get_calendar(request.param)


@pytest.fixture(scope="module")
def nse():
    return get_calendar("NSE")


def _d(s):
    return date.fromisoformat(s)


@pytest.mark.parametrize("year,expected", [(2025, HOLIDAYS_2025), (2026, HOLIDAYS_2026)])
def test_every_weekday_holiday_of_2025_and_2026_is_pinned(cal, year, expected):
    got = [h.date.isoformat() for h in cal.holidays(date(year, 1, 1), date(year, 12, 31))]
    assert got == expected
    for s in expected:
        assert cal.is_holiday(_d(s))
        assert cal.is_trading_day(_d(s)) is (s == "2025-10-21")  # Muhurat hour on a holiday
    assert all(cal.holiday(_d(s)).source for s in expected)


def test_holiday_names_and_weekend_holidays(nse):
    assert nse.holiday(date(2026, 1, 15)).name.startswith("Municipal Corporation Elections")
    assert not nse.is_holiday(date(2026, 2, 15))  # Mahashivratri on a Sunday
    assert not nse.is_trading_day(date(2026, 2, 15))
    assert nse.is_trading_day(date(2025, 9, 5)) and nse.is_trading_day(date(2025, 9, 8))


def test_currency_has_its_own_holidays(nse):
    assert not nse.is_trading_day(date(2025, 9, 8), Market.CURRENCY)  # Id-E-Milad moved, CDS only
    assert nse.is_trading_day(date(2025, 9, 8), Market.EQUITY)


def test_the_own_table_wins_over_an_older_library(monkeypatch):
    first, last, days = calmod._library_sessions()
    monkeypatch.setattr(
        calmod, "_library_sessions", lambda *_a: (first, last, days | {date(2026, 1, 15)})
    )
    assert not MarketCalendar().is_trading_day(date(2026, 1, 15))


def _bar_days(name):
    with gzip.open(SAMPLE / name, "rt") as f:
        next(f)
        return sorted({date.fromisoformat(line[:10]) for line in f})


def test_sessions_match_the_bundled_daily_bars_2020_10_to_2025_09(nse):
    days = _bar_days("NSE_RELIANCE_1d.csv.gz")
    assert len(days) == 1241
    assert nse.sessions(date(2020, 10, 1), date(2025, 9, 30)) == days


def test_sessions_match_the_2016_minute_bars(nse):
    assert nse.sessions(date(2016, 8, 16), date(2016, 9, 9)) == _bar_days(
        "NSE_RELIANCE_1min.csv.gz"
    )
    assert not nse.is_trading_day(date(2016, 9, 5))  # Ganesh Chaturthi


def test_sessions_match_the_2024_index_minutes_except_the_source_gaps(nse):
    days = _bar_days("NSE_NIFTY50_1min.csv.gz")
    ours = nse.sessions(date(2024, 1, 1), date(2024, 3, 28))
    assert sorted(set(ours) - set(days)) == [
        date(2024, 2, 1),
        date(2024, 3, 4),
    ]  # gaps in the source
    assert set(days) <= set(ours)


def test_every_bundled_index_minute_falls_in_the_normal_market(nse):
    with gzip.open(SAMPLE / "NSE_NIFTY50_1min.csv.gz", "rt") as f:
        next(f)
        stamps = [datetime.fromisoformat(line[:25]) for line in f]
    assert len(stamps) == 22230
    assert all(nse.phase_at(ts) is Phase.NORMAL for ts in stamps)


# -- special sessions ------------------------------------------------------------------------

SPECIAL = [
    "2020-11-14",
    "2021-11-04",
    "2022-10-24",
    "2023-11-12",
    "2024-01-20",
    "2024-03-02",
    "2024-05-18",
    "2024-11-01",
    "2025-02-01",
    "2025-10-21",
    "2026-02-01",
]


@pytest.mark.parametrize("day", SPECIAL)
def test_special_sessions_are_trading_days(cal, day):
    assert cal.is_trading_day(_d(day))
    assert cal.special_session(_d(day)) is not None


@pytest.mark.parametrize(
    "day,normal",
    [
        ("2020-11-14", [("18:15", "19:15")]),
        ("2023-11-12", [("18:15", "19:15")]),
        ("2024-01-20", [("09:15", "15:30")]),
        ("2024-03-02", [("09:15", "10:00"), ("11:30", "12:30")]),
        ("2024-11-01", [("18:00", "19:00")]),
        ("2025-02-01", [("09:15", "15:30")]),
        ("2025-10-21", [("13:45", "14:45")]),
        ("2026-02-01", [("09:15", "15:30")]),
    ],
)
def test_special_session_hours(nse, day, normal):
    st = nse.session_times(_d(day))
    assert [(w.start.strftime("%H:%M"), w.end.strftime("%H:%M")) for w in st.normal] == normal
    assert st.special is not None


def test_dr_session_has_a_break_and_a_5pct_band_cap(nse):
    d = date(2024, 3, 2)
    assert nse.phase_at(ist(2024, 3, 2, 9, 59)) is Phase.NORMAL
    assert nse.phase_at(ist(2024, 3, 2, 10, 30)) is Phase.BREAK
    assert nse.phase_at(ist(2024, 3, 2, 11, 20)) is Phase.PRE_OPEN
    assert nse.next_open(ist(2024, 3, 2, 10, 30)) == ist(2024, 3, 2, 11, 30)
    assert nse.special_session(d).band_cap_pct == 5
    assert not nse.is_trading_day(d, Market.CURRENCY)


def test_special_sessions_by_market(nse):
    assert not nse.is_trading_day(date(2024, 1, 20), Market.CURRENCY)
    assert not nse.is_trading_day(date(2024, 1, 20), Market.COMMODITY)
    assert nse.session_times(date(2024, 1, 20), Market.FNO).open == ist(2024, 1, 20, 9, 15)
    assert nse.session_times(date(2025, 10, 21), Market.COMMODITY).open == ist(2025, 10, 21, 13, 45)
    assert not nse.is_trading_day(
        date(2026, 2, 1), Market.COMMODITY
    )  # MCX not stated for the Budget Sunday
    st = nse.session_times(date(2026, 2, 1))
    assert [(b.start.time(), b.end.time()) for b in st.block_deals] == [
        (time(8, 45), time(9)),
        (time(14, 5), time(14, 20)),
    ]


def test_unverified_muhurat_2026_is_skipped_until_its_timings_are_configured(nse):
    # issue 16: the day is a holiday for regular trading and the session is skipped with a
    # message (it used to be a trading day whose session_times raised DataError)
    d = date(2026, 11, 8)
    assert not nse.is_trading_day(d)
    assert nse.special_session(d) is not None and nse.skipped_session(d) is not None
    assert "muhurat session of 2026-11-08 (Sunday) is skipped" in nse.skipped_note(d)
    with pytest.raises(MarketRuleError, match="not a trading day.*skipped.*market.special_sessions"):
        nse.session_times(d)
    assert nse.next_open(ist(2026, 11, 6, 16, 0)) == ist(2026, 11, 9, 9, 15)
    assert date(2026, 11, 8) not in nse.sessions(date(2026, 11, 1), date(2026, 11, 30))
    assert nse.skipped_session(date(2026, 11, 9)) is None
    cfg = MarketConfig(
        special_sessions=[
            {
                "date": "2026-11-08",
                "kind": "muhurat",
                "equity": {"pre-open": "17:45-18:00", "normal": "18:00-19:00"},
                "fno": {"normal": "18:00-19:00"},
            }
        ]
    )
    cal = MarketCalendar(config=cfg)
    assert cal.phase_at(ist(2026, 11, 8, 18, 30)) is Phase.NORMAL
    assert cal.phase_at(ist(2026, 11, 8, 18, 30), "fno") is Phase.NORMAL
    assert not cal.is_trading_day(date(2026, 11, 8), Market.CURRENCY)
    assert cal.next_open(ist(2026, 11, 6, 16, 0)) == ist(2026, 11, 8, 18, 0)


# -- phases and their date changes -----------------------------------------------------------


@pytest.mark.parametrize(
    "ts,phase",
    [
        (ist(2026, 1, 16, 8, 50), Phase.BLOCK_DEAL),
        (ist(2026, 1, 16, 9, 0), Phase.PRE_OPEN),
        (ist(2026, 1, 16, 9, 10), Phase.PRE_OPEN_MATCHING),
        (ist(2026, 1, 16, 9, 13), Phase.PRE_OPEN_BUFFER),
        (ist(2026, 1, 16, 9, 15), Phase.NORMAL),
        (ist(2026, 1, 16, 14, 10), Phase.NORMAL),  # block window 2 runs beside the normal market
        (ist(2026, 1, 16, 15, 29, 59), Phase.NORMAL),
        (ist(2026, 1, 16, 15, 30), Phase.BREAK),
        (ist(2026, 1, 16, 15, 45), Phase.POST_CLOSE),
        (ist(2026, 1, 16, 16, 0), Phase.CLOSED),
        (ist(2026, 1, 17, 10, 0), Phase.CLOSED),  # Saturday
        (ist(2026, 1, 15, 10, 0), Phase.CLOSED),  # holiday
        (ist(2016, 8, 16, 8, 50), Phase.CLOSED),  # no block-deal window before 2018
    ],
)
def test_equity_phases_on_a_regular_day(nse, ts, phase):
    assert nse.phase_at(ts) is phase


def test_fno_pre_open_starts_2025_12_08_for_futures_only(nse):
    assert nse.phase_at(ist(2025, 12, 5, 9, 5), Market.FNO) is Phase.CLOSED
    assert nse.phase_at(ist(2025, 12, 8, 9, 5), Market.FNO) is Phase.PRE_OPEN
    assert (
        nse.phase_at(ist(2025, 12, 8, 9, 5), Market.FNO, pre_open=False) is Phase.CLOSED
    )  # options


def test_fno_normal_market_runs_to_15_40_from_2026_08_03(nse):
    assert nse.phase_at(ist(2026, 7, 31, 15, 35), Market.FNO) is Phase.CLOSED
    assert nse.phase_at(ist(2026, 8, 3, 15, 35), Market.FNO) is Phase.NORMAL
    assert nse.phase_at(ist(2026, 8, 3, 15, 40), Market.FNO) is Phase.CLOSED
    assert nse.session_times(date(2026, 8, 3), "NFO").close == ist(2026, 8, 3, 15, 40)


def test_closing_auction_for_stocks_with_derivatives_from_2026_08_03(nse):
    store = InstrumentStore.bundled()
    reliance = store.get("NSE:RELIANCE")
    assert not nse.is_cas_stock(reliance, date(2026, 7, 31))
    assert nse.is_cas_stock(reliance, date(2026, 8, 3)) and not nse.is_cas_stock(
        "ZZNOTFNO", date(2026, 8, 3)
    )
    before = nse.session_times_for(reliance, date(2026, 7, 31))
    after = nse.session_times_for(reliance, date(2026, 8, 3))
    assert before.phase_at(ist(2026, 7, 31, 15, 20)) is Phase.NORMAL
    assert after.phase_at(ist(2026, 8, 3, 15, 17)) is Phase.CLOSING_AUCTION_REFERENCE
    assert after.phase_at(ist(2026, 8, 3, 15, 20)) is Phase.CLOSING_AUCTION
    assert after.phase_at(ist(2026, 8, 3, 15, 32)) is Phase.CLOSING_AUCTION_MATCHING
    assert after.phase_at(ist(2026, 8, 3, 15, 40)) is Phase.BREAK
    assert after.phase_at(ist(2026, 8, 3, 15, 55)) is Phase.POST_CLOSE
    assert after.close == ist(2026, 8, 3, 15, 15)
    # a stock without derivatives keeps the normal market to 15:30; post-close moves to 15:50
    assert nse.phase_at(ist(2026, 8, 3, 15, 20), cas=False) is Phase.NORMAL
    assert nse.phase_at(ist(2026, 7, 31, 15, 45)) is Phase.POST_CLOSE
    assert nse.phase_at(ist(2026, 8, 3, 15, 45)) is Phase.BREAK


def test_revised_pre_open_from_2026_09_07(nse):
    assert nse.phase_at(ist(2026, 9, 4, 9, 9)) is Phase.PRE_OPEN_MATCHING
    assert nse.phase_at(ist(2026, 9, 7, 9, 9)) is Phase.PRE_OPEN
    assert nse.phase_at(ist(2026, 9, 7, 9, 11)) is Phase.PRE_OPEN_MATCHING


def test_fno_pre_open_for_near_month_futures_only(nse):
    store = InstrumentStore.bundled(include_nfo_sample=True)
    exp = store.futures_expiries("NIFTY")
    near, nxt, far = (store.get(f"NFO:NIFTY26{m}FUT") for m in ("AUG", "SEP", "OCT"))
    d = date(2026, 8, 10)
    assert (
        nse.fno_pre_open(near, d, exp)
        and not nse.fno_pre_open(nxt, d, exp)
        and not nse.fno_pre_open(far, d, exp)
    )
    assert nse.fno_pre_open(
        nxt, date(2026, 8, 19), exp
    )  # last 5 trading days before the 08-25 expiry
    option = store.search(underlying="NIFTY", instrument_type="CE")[0]
    assert not nse.fno_pre_open(option, d, exp)
    assert nse.session_times_for(option, d).window(Phase.PRE_OPEN) is None


def test_mcx_hours_follow_us_daylight_time_and_equity_holidays(nse):
    assert nse.session_times(date(2026, 3, 6), "MCX").close.time() == time(23, 55)
    assert nse.session_times(date(2026, 3, 9), "MCX").close.time() == time(
        23, 30
    )  # US on DST from 03-08
    assert nse.session_times(date(2026, 10, 30), "MCX").close.time() == time(23, 30)
    assert nse.session_times(date(2026, 11, 2), "MCX").close.time() == time(23, 55)
    holiday = nse.session_times(date(2026, 1, 15), "MCX")  # MCX opened only its evening session
    assert holiday.open == ist(2026, 1, 15, 17, 0)


# -- questions a scheduler asks --------------------------------------------------------------


@pytest.mark.parametrize(
    "ts,expected",
    [
        (ist(2026, 1, 16, 8, 0), ist(2026, 1, 16, 9, 15)),  # before the open
        (ist(2026, 1, 16, 9, 15), ist(2026, 1, 19, 9, 15)),  # strictly after: Friday → Monday
        (ist(2026, 1, 16, 16, 0), ist(2026, 1, 19, 9, 15)),  # weekend
        (ist(2026, 1, 14, 15, 31), ist(2026, 1, 16, 9, 15)),  # 2026-01-15 holiday
        (ist(2026, 1, 23, 16, 0), ist(2026, 1, 27, 9, 15)),  # weekend + Republic Day
        (ist(2026, 4, 2, 16, 0), ist(2026, 4, 6, 9, 15)),  # Good Friday + weekend
        (ist(2025, 10, 20, 16, 0), ist(2025, 10, 21, 13, 45)),  # Muhurat hour on a holiday
        (ist(2025, 10, 21, 15, 0), ist(2025, 10, 23, 9, 15)),
        (ist(2024, 1, 19, 16, 0), ist(2024, 1, 20, 9, 15)),  # Saturday session
        (datetime(2026, 1, 15, 22, 0, tzinfo=UTC), ist(2026, 1, 16, 9, 15)),  # 03:30 IST
    ],
)
def test_next_open_across_weekends_and_holidays(nse, ts, expected):
    assert nse.next_open(ts) == expected


def test_next_open_of_another_phase_and_market(nse):
    assert nse.next_open(ist(2026, 1, 16, 16, 0), phase=Phase.PRE_OPEN) == ist(2026, 1, 19, 9, 0)
    assert nse.next_open(ist(2026, 1, 16, 17, 30), "currency") == ist(2026, 1, 19, 9, 0)
    assert nse.next_close(ist(2026, 1, 16, 16, 0)) == ist(2026, 1, 19, 15, 30)


def test_times_in_another_zone_are_converted_and_naive_ones_refused(nse):
    utc = datetime(2026, 1, 16, 4, 0, tzinfo=UTC)  # 09:30 IST
    assert nse.phase_at(utc) is Phase.NORMAL
    with pytest.raises(ValueError, match="naive"):
        nse.phase_at(datetime(2026, 1, 16, 10, 0))


def test_time_to_close(nse):
    assert nse.time_to_close(ist(2026, 1, 16, 15, 0)) == timedelta(minutes=30)
    assert nse.time_to_close(ist(2026, 1, 16, 15, 30)) is None
    assert nse.time_to_close(ist(2026, 1, 15, 10, 0)) is None  # holiday
    assert nse.time_to_close(ist(2026, 8, 4, 15, 0), cas=True) == timedelta(minutes=15)
    assert nse.time_to_close(ist(2026, 8, 4, 15, 0), "fno") == timedelta(minutes=40)
    assert nse.time_to_close(ist(2024, 3, 2, 9, 30)) == timedelta(
        hours=3
    )  # the day's close is 12:30


def test_next_and_previous_trading_day(nse):
    assert nse.next_trading_day(date(2026, 1, 23)) == date(2026, 1, 27)
    assert nse.previous_trading_day(date(2025, 10, 23)) == date(2025, 10, 21)
    assert nse.previous_trading_day(date(2024, 1, 22)) == date(2024, 1, 20)
    assert nse.sessions(date(2026, 3, 30), date(2026, 4, 6)) == [
        date(2026, 3, 30),
        date(2026, 4, 1),
        date(2026, 4, 2),
        date(2026, 4, 6),
    ]


def test_mis_cutoffs(nse):
    assert nse.mis_cutoff(date(2026, 1, 16)) == ist(2026, 1, 16, 15, 20)
    assert nse.mis_cutoff(date(2026, 1, 16), "fno") == ist(2026, 1, 16, 15, 25)
    assert nse.mis_cutoff(date(2026, 1, 16), "CDS") == ist(2026, 1, 16, 16, 45)
    assert nse.mis_cutoff(date(2026, 1, 16), "MCX") == ist(2026, 1, 16, 23, 30)
    assert nse.mis_cutoff(date(2026, 3, 10), "MCX") == ist(2026, 3, 10, 23, 5)
    # Muhurat 2025-10-21 (not published by Zerodha): the regular distance from the close
    assert nse.mis_cutoff(date(2025, 10, 21)) == ist(2025, 10, 21, 14, 35)
    assert nse.mis_cutoff(date(2025, 10, 21), "fno") == ist(2025, 10, 21, 14, 40)
    with pytest.raises(MarketRuleError, match="2026-01-15 is not a trading day"):
        nse.mis_cutoff(date(2026, 1, 15))


def test_mis_cutoffs_from_config():
    cfg = MarketConfig(
        mis_cutoffs={"equity_cas": "15:10", "fno": 925},  # 925 = an unquoted 15:25 in YAML
        special_sessions=[
            {
                "date": "2025-10-21",
                "kind": "muhurat",
                "equity": {"normal": "13:45-14:45"},
                "mis_cutoff": {"equity": "14:30"},
            }
        ],
    )
    cal = MarketCalendar(config=cfg)
    assert cal.mis_cutoff(date(2026, 8, 4), cas=True) == ist(2026, 8, 4, 15, 10)
    assert cal.mis_cutoff(date(2026, 8, 4)) == ist(2026, 8, 4, 15, 20)
    assert cal.mis_cutoff(date(2026, 8, 4), "fno") == ist(2026, 8, 4, 15, 25)
    assert cal.mis_cutoff(date(2025, 10, 21)) == ist(2025, 10, 21, 14, 30)


def test_amo_windows(nse):
    w = nse.amo_window(ist(2026, 1, 17, 11, 0))  # Saturday
    assert (w.opens, w.closes, w.sent_at) == (
        ist(2026, 1, 16, 16, 0),
        ist(2026, 1, 19, 8, 58),
        ist(2026, 1, 19, 9, 0),
    )
    assert nse.accepts_amo(ist(2026, 1, 17, 11, 0))
    assert not nse.accepts_amo(ist(2026, 1, 16, 12, 0))
    assert nse.amo_window(ist(2026, 1, 14, 10, 0)).for_day == date(
        2026, 1, 16
    )  # across the holiday
    assert nse.accepts_amo(ist(2026, 1, 16, 15, 50), "fno") and not nse.accepts_amo(
        ist(2026, 1, 16, 9, 11), "fno"
    )
    assert nse.amo_window(ist(2025, 10, 21, 17, 0)).opens == ist(2025, 10, 21, 16, 0)


def test_dates_outside_the_tables_are_refused(nse):
    with pytest.raises(DataError, match="2031-01-06 is outside the calendar.*tradekit calendar import"):
        nse.is_trading_day(date(2031, 1, 6))
    with pytest.raises(DataError, match="outside"):
        nse.sessions(date(2009, 1, 1), date(2009, 2, 1))
    with pytest.raises(MarketRuleError, match="not a trading day .holiday: Christmas"):
        nse.session_times(date(2025, 12, 25))


def test_config_adds_a_year_and_closures():
    cfg = MarketConfig(holidays={2027: [date(2027, 1, 26)]}, extra_holidays=[date(2026, 12, 31)])
    cal = MarketCalendar(config=cfg)
    assert cal.last_day == date(2029, 12, 31)  # then two provisional years
    assert cal.year_source(2027).kind == "config" and cal.year_source(2028).provisional
    assert cal.is_trading_day(date(2027, 1, 4)) and not cal.is_trading_day(date(2027, 1, 26))
    assert not cal.is_trading_day(date(2026, 12, 31))
    cancelled = MarketCalendar(
        config=MarketConfig(special_sessions=[{"date": "2024-05-18", "cancelled": True}])
    )
    assert not cancelled.is_trading_day(date(2024, 5, 18))


def test_get_calendar_maps_derivative_exchanges_and_refuses_others():
    assert get_calendar("NFO") is get_calendar("NSE")
    assert get_calendar("BCD").exchange.value == "BSE"
    with pytest.raises(MarketRuleError):
        MarketCalendar("MCX")
