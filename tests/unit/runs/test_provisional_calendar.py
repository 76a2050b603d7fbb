"""Runs on a year without a published holiday list (issue 16): premarket, the report, the
scheduler and the 2026-11-08 Muhurat day without timings."""

from __future__ import annotations

import json
from datetime import date, time, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from tradekit.clock import ist
from tradekit.config import load_config
from tradekit.market.calendar import calendar_for
from tradekit.runs.eod import run_eod
from tradekit.runs.premarket import PremarketFailed, run_premarket
from tradekit.runs.schedule import Scheduler
from tradekit.store import Journal, make_engine, sqlite_url

ROOT = Path(__file__).resolve().parents[3]
NSE_CSV = ROOT / "tests" / "fixtures" / "calendar" / "nse_holidays_2027.csv"


def _cfg(tmp_path, extra: str = ""):
    f = tmp_path / "cfg.yaml"
    f.write_text(f"extends: {ROOT / 'config' / 'demo.yaml'}\ndata_dir: {tmp_path / 'var'}\n{extra}")
    return load_config(f)


def _calendar_row(chk):
    rows = chk.checks[chk.checks["check"] == "calendar"]
    return rows.iloc[0]["status"], rows.iloc[0]["detail"]


def test_premarket_runs_a_provisional_day_with_a_warning(tmp_path):
    cfg = _cfg(tmp_path)
    chk = run_premarket(cfg, "2027-01-04", "paper", symbols="RELIANCE", out_dir=tmp_path / "run")
    assert chk.trading_day and chk.provisional
    status, detail = _calendar_row(chk)
    assert status == "warn" and "PROVISIONAL CALENDAR for 2027" in detail and "market.provisional" in detail
    assert "PROVISIONAL calendar" in chk.message
    data = json.loads((tmp_path / "run" / "premarket.json").read_text())
    assert data["provisional_calendar"] is True and data["calendar"]["kind"] == "provisional"
    assert "provisional calendar" in chk._repr_html_()


def test_market_provisional_refuse_fails_the_premarket_check(tmp_path):
    cfg = _cfg(tmp_path, "market: {provisional: refuse}\n")
    chk = run_premarket(cfg, "2027-01-04", "paper", symbols="RELIANCE", out_dir=tmp_path / "run")
    status, detail = _calendar_row(chk)
    assert status == "fail" and "refused by market.provisional: refuse" in detail
    with pytest.raises(PremarketFailed, match="calendar: .*PROVISIONAL"):
        chk.raise_for_failures()
    # a day of a published year is not affected by the setting
    chk = run_premarket(cfg, "2016-08-17", "paper", symbols="RELIANCE", out_dir=tmp_path / "run2")
    assert _calendar_row(chk)[0] == "ok"


def test_an_imported_list_replaces_the_provisional_year_in_premarket(tmp_path):
    from tradekit.cli import main

    cfg = _cfg(tmp_path)
    assert main(["calendar", "import", str(NSE_CSV), "-c", cfg.source]) == 0
    chk = run_premarket(cfg, "2027-01-04", "paper", symbols="RELIANCE", out_dir=tmp_path / "a")
    assert not chk.provisional and _calendar_row(chk)[0] == "ok" and "imported" in _calendar_row(chk)[1]
    chk = run_premarket(cfg, "2027-03-22", "paper", symbols="RELIANCE", out_dir=tmp_path / "b")
    assert not chk.trading_day and "an NSE holiday (Holi)" in chk.message


def test_the_muhurat_day_without_timings_is_skipped_with_a_message(tmp_path):
    cfg = _cfg(tmp_path)
    chk = run_premarket(cfg, "2026-11-08", "paper", symbols="RELIANCE", out_dir=tmp_path / "run")
    assert not chk.trading_day and not chk.failures
    assert "muhurat session of 2026-11-08 (Sunday) is skipped: its timings are not configured" in chk.message
    # with its timings in the config the session runs
    cfg = _cfg(tmp_path, "market:\n  special_sessions:\n    - {date: 2026-11-08, kind: muhurat, "
                         "equity: {normal: '18:00-19:00'}}\n")
    chk = run_premarket(cfg, "2026-11-08", "paper", symbols="RELIANCE", out_dir=tmp_path / "run2")
    assert chk.trading_day


def test_the_eod_report_says_provisional_calendar(tmp_path):
    cfg = _cfg(tmp_path)
    run_dir = tmp_path / "2027-01-04"
    run_dir.mkdir()
    Journal(make_engine(sqlite_url(run_dir / "journal.db"))).close()  # a session that traded nothing
    eod = run_eod(cfg, "2027-01-04", "paper", out_dir=run_dir, figures=False)
    assert any("PROVISIONAL CALENDAR for 2027" in n for n in eod.notes)
    html = (run_dir / "report.html").read_text()
    assert "provisional calendar" in html and "PROVISIONAL CALENDAR for 2027" in html


class _Clock:
    def __init__(self, t):
        self.t = t

    def now(self):
        return self.t

    def sleep(self, s):
        self.t += timedelta(seconds=s)


def _scheduler(tmp_path, cfg, start):
    clock = _Clock(start)
    ran = []

    def run(d):
        ran.append(d)
        return SimpleNamespace(outcome="ok", message=f"ran {d}", run_dir=tmp_path / d.isoformat())

    lines = []
    sch = Scheduler(run, tmp_path / "runs", time(8, 45), calendar=calendar_for(cfg), now=clock.now,
                    sleep=clock.sleep, echo=lines.append)
    return sch, clock, ran, lines


def test_the_scheduler_runs_2027_01_04_on_the_provisional_calendar(tmp_path):
    cfg = _cfg(tmp_path)
    sch, clock, ran, lines = _scheduler(tmp_path, cfg, ist(2026, 12, 31, 16, 0))
    assert sch.tick() == []  # started on the last day of the bundled tables, after the close
    assert sch.next_run() == ist(2027, 1, 1, 8, 45)
    clock.t = ist(2027, 1, 4, 8, 45)
    out = sch.tick()
    assert [(e.event, e.day) for e in out] == [("missed", "2027-01-01"), ("ran", "2027-01-04")]
    assert ran == [date(2027, 1, 4)]
    assert "PROVISIONAL calendar" in out[1].message
    assert any("PROVISIONAL CALENDAR for 2027" in x for x in lines)
    assert sch.next_run() == ist(2027, 1, 5, 8, 45)


def test_the_scheduler_skips_the_muhurat_day_with_a_log_line(tmp_path):
    cfg = _cfg(tmp_path)
    sch, clock, ran, lines = _scheduler(tmp_path, cfg, ist(2026, 11, 6, 8, 0))
    clock.t = ist(2026, 11, 6, 8, 45)
    sch.tick()
    clock.t = ist(2026, 11, 8, 9, 0)
    out = sch.tick()
    assert [(e.event, e.day) for e in out] == [("skipped", "2026-11-08")]
    assert "muhurat session of 2026-11-08" in out[0].message and "skipped" in out[0].message
    clock.t = ist(2026, 11, 9, 8, 45)
    assert [(e.event, e.day) for e in sch.tick()] == [("ran", "2026-11-09")]  # skipped once, not again
    assert ran == [date(2026, 11, 6), date(2026, 11, 9)]
    log = [json.loads(x) for x in (tmp_path / "runs" / "schedule.jsonl").read_text().splitlines()]
    assert [e["event"] for e in log] == ["started", "ran", "skipped", "ran"]
