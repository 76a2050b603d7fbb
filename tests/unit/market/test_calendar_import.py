"""Calendars past 2026 (issue 16): the provisional year, `tradekit calendar import` and `show`,
the parser's errors (naming the line, nothing written) and its properties."""

from __future__ import annotations

import json
import string
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tradekit.cli import main
from tradekit.config import load_config
from tradekit.market.calendar import MarketCalendar, calendar_for
from tradekit.market.calendar_import import (
    CalendarImportError,
    parse_bytes,
    parse_holiday_list,
    parse_special_sessions,
)

ROOT = Path(__file__).resolve().parents[3]
NSE_CSV = ROOT / "tests" / "fixtures" / "calendar" / "nse_holidays_2027.csv"
WEEKDAY_HOLIDAYS_2027 = ["2027-01-26", "2027-03-22", "2027-03-26", "2027-04-14", "2027-04-15", "2027-10-29"]


@pytest.fixture
def cfg_file(tmp_path):
    f = tmp_path / "tradekit.yaml"
    f.write_text(f"extends: {ROOT / 'config' / 'default.yaml'}\ndata_dir: {tmp_path / 'var'}\n")
    return f


def run(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


# -- the provisional year ------------------------------------------------------------------


def test_2027_runs_on_a_flagged_provisional_calendar(cfg_file):
    cal = calendar_for(load_config(cfg_file))
    src = cal.year_source(2027)
    assert src.kind == "provisional" and src.provisional
    assert cal.is_trading_day(date(2027, 1, 4)) and cal.is_provisional(date(2027, 1, 4))
    st_ = cal.session_times(date(2027, 1, 4))
    assert st_.provisional and "PROVISIONAL" in st_.source
    assert f"{st_.open:%H:%M}-{st_.close:%H:%M}" == "09:15-15:30"
    # fixed-date holidays only, and said to be provisional
    assert [h.date.isoformat() for h in cal.holidays(date(2027, 1, 1), date(2027, 12, 31))] == [
        "2027-01-26", "2027-04-14"]  # 1 May, 15 Aug, 2 Oct, 25 Dec 2027 fall on weekends
    assert cal.holiday(date(2027, 1, 26)).provisional
    note = cal.provisional_note(date(2027, 1, 4))
    assert "PROVISIONAL CALENDAR for 2027" in note and "movable festival" in note
    assert "tradekit calendar import" in note
    assert cal.provisional_note(date(2026, 12, 31)) is None and not cal.is_provisional(date(2026, 12, 31))
    # no year boundary in the scheduler's way: the last 2026 session is followed by 2027-01-01
    assert cal.next_trading_day(date(2026, 12, 31)) == date(2027, 1, 1)
    assert cal.day_info(date(2027, 1, 4))["provisional"] is True


def test_an_imported_nse_csv_overrides_the_provisional_year(cfg_file, capsys):
    code, out, err = run(["calendar", "import", NSE_CSV, "--source", "NSE/CMTR/TEST (fixture)", "-c", cfg_file],
                         capsys)
    assert code == 0, err
    assert "imported 6 weekday holiday(s) for 2027" in out and "5 on weekends, flagged" in out
    assert out.count("warning:") == 5 and "2027-05-01 (Maharashtra Day) is a Saturday" in out
    cfg = load_config(cfg_file)
    path = Path(cfg.data_dir) / "calendar" / "2027-holidays.yaml"
    doc = yaml.safe_load(path.read_text())
    assert doc["source"]["file"] == NSE_CSV.name and doc["source"]["text"] == "NSE/CMTR/TEST (fixture)"
    import hashlib

    assert doc["source"]["sha256"] == hashlib.sha256(NSE_CSV.read_bytes()).hexdigest()
    assert doc["imported_at"].startswith("20")
    cal = calendar_for(cfg)
    src = cal.year_source(2027)
    assert src.kind == "imported" and not src.provisional and src.file == str(path)
    assert [h.date.isoformat() for h in cal.holidays(date(2027, 1, 1), date(2027, 12, 31))] == WEEKDAY_HOLIDAYS_2027
    assert not cal.is_trading_day(date(2027, 3, 22)) and cal.holiday(date(2027, 3, 22)).name == "Holi"
    assert cal.is_trading_day(date(2027, 1, 4)) and not cal.is_provisional(date(2027, 1, 4))
    assert cal.year_source(2028).provisional  # the next year is still provisional
    # show prints the source and the holidays
    code, out, _ = run(["calendar", "show", "2027", "-c", cfg_file], capsys)
    assert code == 0 and out.startswith("NSE 2027: imported file")
    assert "NSE/CMTR/TEST (fixture)" in out and "2027-03-22 Mon  Holi" in out
    assert "2027-05-01 Sat  Maharashtra Day (weekend: no effect)" in out
    code, out, _ = run(["calendar", "show", "2028", "--json", "-c", cfg_file], capsys)
    data = json.loads(out)
    assert data["kind"] == "provisional" and data["provisional"] is True
    # a second import keeps the first beside it
    code, out, _ = run(["calendar", "import", NSE_CSV, "-c", cfg_file], capsys)
    assert code == 0 and "the earlier import was kept as" in out
    assert len(list((Path(cfg.data_dir) / "calendar").glob("2027-holidays.replaced-*.yaml"))) == 1


def test_show_of_a_bundled_and_a_library_year(cfg_file, capsys):
    code, out, _ = run(["calendar", "show", "2026", "-c", cfg_file], capsys)
    assert code == 0 and out.startswith("NSE 2026: bundled tables") and "NSE/CMTR/71775" in out
    assert "2026-11-08 Sun  special session: muhurat, timings not configured: skipped" in out
    code, out, _ = run(["calendar", "show", "2016", "-c", cfg_file], capsys)
    assert code == 0 and out.startswith("NSE 2016: exchange_calendars XBOM")


@pytest.mark.parametrize("body,line,what", [
    ('"Sr. No","Date","Day","Description"\n"1","26-Jan-2027","Tuesday","Republic Day"\n'
     '"2","31-Feb-2027","Sunday","Nothing"\n', 3, "'31-Feb-2027' is not a date"),
    ("Date,Description\n26-Jan-2027,Republic Day\n22-Mar-2027,Holi\n26/01/2027,Republic Day again\n", 4,
     "2027-01-26 is given twice (also line 2)"),
    ("Sr. No,Date,Day,Description\n1,26-Jan-2027,Monday,Republic Day\n", 2, "is a Tuesday, not a Monday"),
    ("Sr. No,Date,Day,Description\n1,26-Jan-2027,Tuesday,Republic Day\n2,,Monday,Holi\n", 3, "no date"),
    ("Date,Description\n26-Jan-2027,Republic Day\n05-Feb-2028,Somewhere\n", 3, "not in 2027"),
    ("Date,Description\n26-Jan-2027,Republic Day\n22-Mar-27,Holi\n", 3, "'22-Mar-27' is not a date"),
    ("Date,Description\n26-Jan-2207,Republic Day\n", 2, "a list for 2207"),
])
def test_a_malformed_list_is_rejected_naming_the_line_and_nothing_is_written(cfg_file, tmp_path, capsys, body,
                                                                             line, what):
    f = tmp_path / "bad.csv"
    f.write_text(body)
    code, out, err = run(["calendar", "import", f, "-c", cfg_file], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"line {line}:" in err and what in err, err
    assert not (tmp_path / "var" / "calendar").exists()
    assert calendar_for(load_config(cfg_file)).year_source(2027).provisional


def test_a_bad_import_leaves_an_earlier_import_alone(cfg_file, tmp_path, capsys):
    assert run(["calendar", "import", NSE_CSV, "-c", cfg_file], capsys)[0] == 0
    folder = tmp_path / "var" / "calendar"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Description\n26-Jan-2027,Republic Day\n30-Feb-2027,x\n")
    assert run(["calendar", "import", bad, "-c", cfg_file], capsys)[0] == 2
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize("args,names", [
    (["calendar", "import"], "FILE"),
    (["calendar", "show"], "YEAR"),
    (["calendar", "import", "x.csv", "--bogus"], "--bogus"),
    (["calendar", "show", "20x7"], "YEAR"),
    (["calendar", "import", "x.csv", "--year", "27"], "--year"),
    (["calendar", "nope"], "nope"),
])
def test_usage_errors_are_one_line_exit_2(args, names, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(args, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and names in err and "Traceback" not in err


def test_a_year_outside_the_calendar_is_one_line(cfg_file, capsys):
    code, out, err = run(["calendar", "show", "2040", "-c", cfg_file], capsys)
    assert code == 2 and "outside the calendar" in err and err.count("\n") == 1


# -- the readers ---------------------------------------------------------------------------


def test_a_table_pasted_from_the_circular():
    text = """NATIONAL STOCK EXCHANGE OF INDIA LIMITED
Trading holidays for the calendar year 2027

Sr. No. Date Day Description
1 26-Jan-2027 Tuesday Republic Day
2. March 22, 2027 Monday Holi
3) 26/03/2027 Fri Good Friday
4\t14-Apr-2027\tWednesday\tDr. Baba Saheb Ambedkar Jayanti
5 01-May-2027 Saturday Maharashtra Day
*Muhurat trading timings will be notified later
"""
    got = parse_holiday_list(text, "circular.txt")
    assert [(h.date.isoformat(), h.name, h.line) for h in got.holidays] == [
        ("2027-01-26", "Republic Day", 5), ("2027-03-22", "Holi", 6), ("2027-03-26", "Good Friday", 7),
        ("2027-04-14", "Dr. Baba Saheb Ambedkar Jayanti", 8)]
    assert [h.date.isoformat() for h in got.weekend] == ["2027-05-01"]
    markdown = "| Sr No | Holidays | Date | Day |\n|---|---|---|---|\n| 1 | Republic Day | 26-01-2027 | Tuesday |\n"
    assert parse_holiday_list(markdown).holidays[0].name == "Republic Day"
    other_names = "Holiday Date;Occasion\n2027-01-26;Republic Day\n26 Jan 2027;dup\n"
    with pytest.raises(CalendarImportError, match="line 3: 2027-01-26 is given twice"):
        parse_holiday_list(other_names)
    with pytest.raises(CalendarImportError, match="line 5: no date found"):
        parse_holiday_list("Holidays 2027\n1 26-Jan-2027 Tuesday Republic Day\n\n\n2 Holi on the 22nd\n")


def test_special_sessions_are_imported_the_same_way(cfg_file, tmp_path, capsys):
    f = tmp_path / "special.csv"
    f.write_text("date,kind,open,close,pre_open,post_close\n"
                 "2027-10-29,muhurat,18:00,19:00,17:45-18:00,19:10-19:20\n"
                 "2027-02-06,budget,09:15,15:30,,\n")
    assert run(["calendar", "import", NSE_CSV, "-c", cfg_file], capsys)[0] == 0
    code, out, err = run(["calendar", "import", f, "--special", "--source", "NSE/CMTR/MUHURAT", "-c", cfg_file],
                         capsys)
    assert code == 0, err
    assert "imported 2 special session(s) for 2027" in out
    cal = calendar_for(load_config(cfg_file))
    st_ = cal.session_times(date(2027, 10, 29))
    assert (f"{st_.open:%H:%M}", f"{st_.close:%H:%M}") == ("18:00", "19:00") and st_.special.kind == "muhurat"
    assert cal.session_times(date(2027, 10, 29), "commodity").open.hour == 18  # a Muhurat: all four markets
    assert cal.is_trading_day(date(2027, 2, 6)) and not cal.is_trading_day(date(2027, 2, 6), "currency")
    assert cal.mis_cutoff(date(2027, 10, 29)) < st_.close


def test_a_special_session_without_timings_is_skipped():
    got = parse_special_sessions("date,kind,open,close\n2027-10-29,muhurat,,\n")
    table = got.sessions[0].to_table("test")
    assert table["unverified"] is True
    with pytest.raises(CalendarImportError, match="line 2: give both open and close"):
        parse_special_sessions("date,kind,open,close\n2027-10-29,muhurat,18:00,\n")
    with pytest.raises(CalendarImportError, match="line 2: 2027-02-01 is a Monday: a budget session is a weekend"):
        parse_special_sessions("date,kind,open,close\n2027-02-01,budget,09:15,15:30\n")
    with pytest.raises(CalendarImportError, match="line 3: kind 'fireworks'"):
        parse_special_sessions("date,kind,open,close\n2027-10-29,muhurat,18:00,19:00\n2027-11-06,fireworks,,\n")
    with pytest.raises(CalendarImportError, match="close 18:00 is not after open 19:00"):
        parse_special_sessions("date,kind,open,close\n2027-10-29,muhurat,19:00,18:00\n")


# -- properties ------------------------------------------------------------------------------

_FORMATS = ("{d:%d-%b-%Y}", "{d:%d/%m/%Y}", "{d:%Y-%m-%d}", "{d:%B} {d.day}, {d:%Y}", "{d:%d %b %Y}",
            "{d:%d-%m-%Y}", "{d:%d.%m.%Y}")


@given(st.binary(max_size=600))
def test_garbage_bytes_never_raise_anything_but_the_import_error(raw):
    for special in (False, True):
        try:
            parse_bytes(raw, "x.csv", special=special)
        except CalendarImportError:
            pass


_CELLS = st.one_of(
    st.text(alphabet=string.printable, max_size=15),
    st.sampled_from(["26-Jan-2027", "31-Feb-2027", "2027-13-01", "99/99/9999", "Jan 26, 2027", "Monday",
                     "Date", "Description", "Sr. No", "muhurat", "18:00", "25:99", "09:15-09:08", "", "0-Jan-0000",
                     "26-Foo-2027", "1,2", '"', "|", "\t"]),
)


@given(st.lists(st.lists(_CELLS, min_size=1, max_size=5), min_size=0, max_size=8),
       st.sampled_from([",", "\t", "|", ";", "  ", " "]),
       st.booleans())
def test_date_shaped_garbage_never_raises_anything_but_the_import_error(rows, sep, header):
    lines = (["Sr. No,Date,Day,Description".replace(",", sep)] if header else []) + [sep.join(r) for r in rows]
    text = "\n".join(lines)
    for parse in (parse_holiday_list, parse_special_sessions):
        try:
            parse(text, "x.csv")
        except CalendarImportError:
            pass


@given(st.sets(st.dates(min_value=date(2027, 1, 1), max_value=date(2027, 12, 31)), min_size=1, max_size=20),
       st.sampled_from(_FORMATS), st.sampled_from([",", "\t", ";"]))
def test_any_date_format_round_trips(days, fmt, sep):
    days = sorted(days)
    rows = [sep.join(["Sr. No", "Date", "Day", "Description"])]
    for i, d in enumerate(days, 1):
        cell = fmt.format(d=d)
        if sep in cell:
            cell = f'"{cell}"'
        rows.append(sep.join([str(i), cell, f"{d:%A}", f"holiday {i}"]))
    got = parse_holiday_list("\n".join(rows))
    assert sorted(h.date for h in got.holidays + got.weekend) == days
    assert all(h.date.weekday() < 5 for h in got.holidays) and all(h.date.weekday() >= 5 for h in got.weekend)


def test_a_config_year_wins_over_an_import(tmp_path):
    from tradekit.market.calendar_import import parse_holiday_list as p, write_override
    from datetime import datetime

    folder = tmp_path / "cal"
    write_override(folder, p("Date,Description\n2027-03-22,Holi\n"), kind="holidays", file_name="a.csv",
                   sha256="0" * 64, source_text="", now=datetime(2026, 12, 20, 10, 0))
    from tradekit.market.config import MarketConfig

    assert MarketCalendar(overrides_dir=folder).year_source(2027).kind == "imported"
    cal = MarketCalendar(config=MarketConfig(holidays={2027: [date(2027, 3, 23)]}), overrides_dir=folder)
    assert cal.year_source(2027).kind == "config" and cal.is_trading_day(date(2027, 3, 22))


def test_dry_run_checks_and_prints_but_writes_nothing(cfg_file, tmp_path, capsys):
    code, out, _ = run(["calendar", "import", NSE_CSV, "--dry-run", "-c", cfg_file], capsys)
    assert code == 0 and "2027-03-22 Mon Holi" in out and "dry run: nothing written" in out
    assert not (tmp_path / "var" / "calendar").exists()
