"""A paper session feeds every bar into the market-data hub: a flat price is not a stale feed,
marks reach the journal (throttled) in paced and fast mode alike."""

from __future__ import annotations

import pytest

from tradekit.clock import SimClock
from tradekit.config import load_config
from tradekit.data import load_bars, sample_path
from tradekit.runs.live import PaperSessionRunner
from tradekit.session import Session
from tradekit.store.events import EventType as E

DAY = "2016-08-17"


def _flat_minutes(df) -> int:
    c = df["close"].to_numpy()
    return int((c[1:] == c[:-1]).sum())


@pytest.mark.parametrize("speed", [None, 200_000.0])
def test_a_whole_paper_day_with_flat_stretches_never_goes_reducing_from_a_stale_feed(tmp_path, speed):
    cfg = load_config(overrides={"data_dir": str(tmp_path / "var"), "execution": {"charges_as_of": "2026-11-20"}})
    data = {f"NSE:{s}": load_bars(sample_path(s), start=DAY, end=DAY) for s in ("INFY",)}
    assert _flat_minutes(data["NSE:INFY"]) >= 20  # the day has unchanged closes, minute after minute
    s = Session.from_config(cfg, clock=SimClock(data["NSE:INFY"].index[0].to_pydatetime()), mode="paper")
    try:
        PaperSessionRunner(s, data, speed=speed).run()
        breaches = [ev.payload for ev in s.journal.events(types=(E.LIMIT_BREACH,))]
        assert not [b for b in breaches if b["trigger"] == "stale_feed"], breaches
        assert s.book.trading_state == "ACTIVE"
        marks = [ev for ev in s.journal.events(types=(E.MARK,)) if ev.payload.get("source") == "hub"]
        changed = len(data["NSE:INFY"]) - _flat_minutes(data["NSE:INFY"])
        assert 0.9 * changed <= len(marks) <= changed + 1  # one per price change (bars are 60 s > the throttle)
    finally:
        s.close()


def test_marks_are_throttled_per_instrument(tmp_path):
    cfg = load_config(overrides={"data_dir": str(tmp_path / "var"), "execution": {"charges_as_of": "2026-11-20"},
                                 "market_data": {"mark_interval_seconds": 300}})
    data = {"NSE:INFY": load_bars(sample_path("INFY"), start=DAY, end=DAY)}
    s = Session.from_config(cfg, clock=SimClock(data["NSE:INFY"].index[0].to_pydatetime()), mode="paper")
    try:
        PaperSessionRunner(s, data, end=f"{DAY} 11:15").run()
        times = [ev.time for ev in s.journal.events(types=(E.MARK,)) if ev.payload.get("source") == "hub"]
        assert 20 <= len(times) <= 26  # two hours, one mark per 5 minutes at most
        assert all((b - a).total_seconds() >= 300 for a, b in zip(times, times[1:]))
    finally:
        s.close()


def test_the_readmes_dashboard_recipe_runs_a_whole_day_without_a_false_reducing(tmp_path):
    """The README's Dashboards recipe, as written (its desk.yaml; `tradekit paper --date 2016-08-17
    --symbols RELIANCE --speed N`), paced: the whole day, no stale-feed breach, no state change."""
    from pathlib import Path

    from tradekit.runs.live import paper_command

    root = Path(__file__).resolve().parents[2]
    desk = tmp_path / "desk.yaml"
    desk.write_text(f"extends: {root / 'config' / 'default.yaml'}\ndata_dir: {tmp_path / 'var'}\n"
                    "approval: {mode: manual}\nexecution: {charges_as_of: 2024-01-02}\n")
    res = paper_command(DAY, symbols="RELIANCE", speed=20_000.0, config=str(desk))  # 375 minutes in about a second
    assert res.bars == 375
    cfg = load_config(desk)
    from tradekit.store import Journal, make_engine

    j = Journal(make_engine(cfg.store_url()))
    try:
        breaches = [ev.payload for ev in j.events(types=(E.LIMIT_BREACH,))]
        states = [ev.payload for ev in j.events(types=(E.TRADING_STATE,))]
        marks = [ev for ev in j.events(types=(E.MARK,)) if ev.payload.get("source") == "hub"]
    finally:
        j.close()
    assert breaches == [] and states == [], (breaches, states)
    assert len(marks) >= 300  # the day's prices reached the journal (the P&L dashboard's marks)
