"""The scheduler on a simulated clock: trading days only, late runs, missed runs reported, one at a time."""

from __future__ import annotations

import json
from datetime import time, timedelta, timezone
from types import SimpleNamespace

import pytest

from tradekit.clock import ist
from tradekit.runs.chain import RunLocked, run_lock
from tradekit.runs.schedule import SCHEDULER_LOCK, Scheduler, cron_lines, parse_hhmm


class Clock:
    def __init__(self, t):
        self.t = t

    def now(self):
        return self.t

    def sleep(self, s):
        self.t += timedelta(seconds=s)


def make(tmp_path, start, runs=None, fail_with=None):
    clock = Clock(start)
    ran = [] if runs is None else runs

    def run(d):
        if fail_with is not None:
            raise fail_with
        ran.append((d, clock.now()))
        return SimpleNamespace(outcome="ok", message=f"ran {d}", run_dir=tmp_path / d.isoformat())

    sch = Scheduler(run, tmp_path, time(8, 45), now=clock.now, sleep=clock.sleep, echo=None)
    return sch, clock, ran


def log(tmp_path):
    return [json.loads(x) for x in (tmp_path / "schedule.jsonl").read_text().splitlines()]


def test_the_chain_runs_at_its_time_on_trading_days_only(tmp_path):
    # Fri 2016-09-02 07:00 IST; Mon 2016-09-05 is Ganesh Chaturthi
    sch, clock, ran = make(tmp_path, ist(2016, 9, 2, 7, 0))
    assert sch.tick() == []
    assert sch.next_run() == ist(2016, 9, 2, 8, 45)
    clock.t = ist(2016, 9, 2, 8, 45)
    assert [e.event for e in sch.tick()] == ["ran"]
    assert sch.next_run() == ist(2016, 9, 6, 8, 45)  # skips the weekend and the holiday
    clock.t = ist(2016, 9, 5, 9, 0)
    assert sch.tick() == []
    clock.t = ist(2016, 9, 6, 8, 46)
    sch.tick()
    sch.tick()  # a second pass the same day does not run it again
    assert [d.isoformat() for d, _ in ran] == ["2016-09-02", "2016-09-06"]


def test_a_day_missed_while_the_machine_was_off_is_reported_and_today_runs_late(tmp_path):
    sch, clock, ran = make(tmp_path, ist(2016, 8, 17, 8, 0))
    clock.t = ist(2016, 8, 17, 8, 45)
    sch.tick()
    clock.t = ist(2016, 8, 19, 11, 0)  # off through Thursday; back on Friday at 11:00
    out = sch.tick()
    assert [(e.event, e.day) for e in out] == [("missed", "2016-08-18"), ("late", "2016-08-19")]
    assert "market has closed" in out[0].message
    entries = log(tmp_path)
    assert entries[0]["event"] == "started" and [e["event"] for e in entries[1:]] == ["ran", "missed", "late"]
    assert ran[-1] == (ist(2016, 8, 19, 11, 0).date(), ist(2016, 8, 19, 11, 0))


def test_days_before_the_scheduler_first_started_are_not_owed(tmp_path):
    sch, clock, ran = make(tmp_path, ist(2016, 8, 17, 12, 0))
    assert sch.tick() == [] and ran == []
    # cron's first --once call lands right at the start time: that day is owed
    sch2, _, ran2 = make(tmp_path / "cron", ist(2016, 8, 17, 8, 45, 3))
    assert [e.event for e in sch2.tick()] == ["ran"]


def test_a_run_blocked_by_another_run_is_retried_not_marked(tmp_path):
    sch, clock, ran = make(tmp_path, ist(2016, 8, 17, 8, 0), fail_with=RunLocked("another run is in progress"))
    clock.t = ist(2016, 8, 17, 8, 45)
    assert sch.tick() == []
    assert sch.due() == [ist(2016, 8, 17).date()]  # still owed


def test_the_loop_sleeps_until_the_next_run_and_only_one_scheduler_runs(tmp_path):
    sch, clock, ran = make(tmp_path, ist(2016, 8, 17, 8, 0))
    ticks = []
    sch.run_forever(stop=lambda: len(ticks.append(clock.now()) or ticks) > 200, max_nap=3600)
    assert [d.isoformat() for d, _ in ran][:3] == ["2016-08-17", "2016-08-18", "2016-08-19"]
    assert all(t.strftime("%H:%M") == "08:45" for _, t in ran)
    with run_lock(tmp_path, "a scheduler", name=SCHEDULER_LOCK):
        with pytest.raises(RunLocked):
            sch.run_forever(stop=lambda: True)


def test_cron_lines_convert_ist_to_the_machines_time_zone(tmp_path):
    text = cron_lines(at=time(8, 45), config=None, out_root=tmp_path, mode="live", tradekit="/x/tradekit",
                      local_tz=timezone.utc)
    line = text.splitlines()[-1]
    assert line.startswith("15 3 * * 1-5 ")
    assert "/x/tradekit schedule --once --at 08:45" in line and "--mode live" in line and "cron.log" in line
    assert "08:45 IST is 03:15 here" in text
    late = cron_lines(at=time(2, 0), config=None, out_root=tmp_path, mode=None, tradekit="t", local_tz=timezone.utc)
    assert late.splitlines()[-1].startswith("30 20 * * 0-4 ")  # the evening before, Sunday to Thursday


def test_times_are_checked():
    assert parse_hhmm("08:45") == time(8, 45)
    with pytest.raises(Exception, match="is not a time"):
        parse_hhmm("8.45")
