"""The weekly review is scheduled after the last trading day of each ISO week (issue 18)."""

from __future__ import annotations

from datetime import date

from tradekit.market.calendar import get_calendar
from tradekit.runs.review import last_trading_day_of_month, last_trading_day_of_week


def test_the_week_ends_on_friday_or_on_the_day_before_a_friday_holiday():
    cal = get_calendar("NSE")
    assert last_trading_day_of_week(cal, date(2016, 8, 19))  # Friday
    assert not last_trading_day_of_week(cal, date(2016, 8, 18))
    # Holi (Thursday 24 March 2016) and Good Friday (25th): Wednesday closes the week
    assert not cal.is_trading_day(date(2016, 3, 24)) and not cal.is_trading_day(date(2016, 3, 25))
    assert last_trading_day_of_week(cal, date(2016, 3, 23)) and not last_trading_day_of_week(cal, date(2016, 3, 22))


def test_run_weekly_refuses_a_bad_date_in_one_line(capsys):
    from tradekit.cli import main

    assert main(["run", "weekly", "--date", "2016-02-30"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--date" in err


def test_the_month_ends_on_its_last_trading_day():
    cal = get_calendar("NSE")
    assert last_trading_day_of_month(cal, date(2016, 8, 31)) and not last_trading_day_of_month(cal, date(2016, 8, 30))
    # 30 April 2016 is a Saturday: Friday the 29th closes the month
    assert last_trading_day_of_month(cal, date(2016, 4, 29))


def test_run_monthly_refuses_a_bad_month_in_one_line(capsys):
    from tradekit.cli import main

    assert main(["run", "monthly", "--month", "2016-13"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--month" in err
