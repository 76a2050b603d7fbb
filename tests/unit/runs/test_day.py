"""The session stage: a paper day replayed through the pipeline, reproducibly; the kill switch; the live loop."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tradekit.clock import ist
from tradekit.errors import DataError, TradekitError
from tradekit.runs.day import (
    journal_path,
    journal_url,
    open_paper_session,
    run_paper_day,
    run_realtime,
)
from tradekit.runs.manifest import results_digest
from tradekit.store import Journal, make_engine, sqlite_url

from .conftest import DAY, HOLIDAY


def _events(folder, types=None):
    j = Journal(make_engine(sqlite_url(journal_path(folder))))
    try:
        return list(j.events(types=types))
    finally:
        j.close()


def _fills(folder):
    return [(e.payload["fill_time"], e.payload["tradingsymbol"], e.payload["side"], e.payload["quantity"],
             e.payload["price"]) for e in _events(folder, ("fill",))]


def test_the_same_inputs_and_seed_give_the_same_day(demo_cfg, tmp_path):
    from tradekit.config import load_config

    cfg = load_config(demo_cfg.source, {"paper": {"slippage": {"noise_bps": 5}}})  # randomness that the seed fixes
    a = run_paper_day(cfg, DAY, symbols="RELIANCE,INFY", strategy="sma:5:20:10", out_dir=tmp_path / "a", echo=None)
    b = run_paper_day(cfg, DAY, symbols="RELIANCE,INFY", strategy="sma:5:20:10", out_dir=tmp_path / "b", echo=None)
    assert _fills(tmp_path / "a") and _fills(tmp_path / "a") == _fills(tmp_path / "b")
    assert results_digest(_events(tmp_path / "a")) == results_digest(_events(tmp_path / "b"))
    assert a.pnl == b.pnl
    other = load_config(demo_cfg.source, {"paper": {"seed": 7, "slippage": {"noise_bps": 5}}})
    run_paper_day(other, DAY, symbols="RELIANCE,INFY", strategy="sma:5:20:10", out_dir=tmp_path / "c", echo=None)
    assert _fills(tmp_path / "c") != _fills(tmp_path / "a")  # the seed is what made them equal


def test_strategy_signals_go_through_the_pipeline_and_fill_on_a_later_bar(demo_cfg, tmp_path):
    run = run_paper_day(demo_cfg, DAY, symbols="RELIANCE", strategy="sma:10:30:10:MIS", out_dir=tmp_path, echo=None)
    received = {e.payload["signal_id"]: e for e in _events(tmp_path, ("signal.received",))}
    assert received and all(e.payload["route"] == "auto" for e in received.values())
    orders = {e.payload["client_order_id"]: e.payload.get("signal_id") for e in _events(tmp_path, ("order.created",))}
    for f in _events(tmp_path, ("fill",)):
        sid = orders[f.payload["client_order_id"]]
        if sid is not None:  # a fill is never in the bar that made its signal
            assert f.payload["fill_time"] > received[sid].payload["signal_time"]
    assert run.stop_reason == "the close" and not run.stopped and run.trading_state == "ACTIVE"
    assert run.positions["quantity"].sum() == 0  # MIS squared off by tradekit at 15:15
    assert run.minutes == run.minutes_total == 375
    assert any("charges priced at the rates of 2026-11-20" in n for n in run.notes)


def test_a_signal_file_is_fed_at_each_signals_time_and_bad_records_are_journaled(demo_cfg, tmp_path):
    f = tmp_path / "signals.jsonl"
    good = {"idempotency_key": "k1", "strategy": "file", "symbol": "INFY", "side": "BUY", "quantity": 5,
            "signal_time": "2016-08-17T11:00:00+05:30"}
    later = {**good, "idempotency_key": "k2", "side": "SELL", "signal_time": "2016-08-17T13:00:00+05:30"}
    bad = {**good, "idempotency_key": "k3"}
    del bad["quantity"]  # neither quantity nor sizing
    f.write_text("\n".join(json.dumps(r) for r in (good, later, bad)) + "\n")
    run = run_paper_day(demo_cfg, DAY, symbols="INFY", signals_path=f, out_dir=tmp_path / "day", echo=None)
    fills = _fills(tmp_path / "day")
    assert [(x[2], x[3]) for x in fills[:2]] == [("BUY", 5), ("SELL", 5)]
    assert fills[0][0].startswith("2016-08-17T11:00") and fills[1][0].startswith("2016-08-17T13:00")
    rej = [e.payload for e in _events(tmp_path / "day", ("signal.rejected",))]
    assert [(r["signal_id"], r["reason"]) for r in rej] == [("k3", "malformed")]
    assert run.signals == {"rejected malformed": 1, "routed auto": 2}
    assert run.inputs["signals"]["sha256"]


def test_the_kill_switch_drill_halts_flattens_and_ends_the_day_early(demo_cfg, tmp_path):
    run = run_paper_day(demo_cfg, DAY, symbols="INFY", strategy="sma:5:15:10:MIS", out_dir=tmp_path, kill_at="11:00",
                        echo=None)
    assert run.halted and run.stopped
    assert run.stop_reason.startswith("halted by the kill switch at 11:0")
    assert run.minutes < 120 and run.positions["quantity"].sum() == 0
    trips = [e.payload for e in _events(tmp_path, ("risk.kill_switch",))]
    assert trips[0]["by"] == "drill" and trips[0]["action"] == "trip"


def test_a_used_run_folder_a_holiday_and_a_day_without_bars_are_refused(demo_cfg, tmp_path):
    run_paper_day(demo_cfg, DAY, symbols="SBIN", strategy="sma:5:20:10", out_dir=tmp_path, echo=None)
    with pytest.raises(TradekitError, match="already holds a session"):
        run_paper_day(demo_cfg, DAY, symbols="SBIN", strategy="sma:5:20:10", out_dir=tmp_path, echo=None)
    with pytest.raises(DataError, match="no 1-minute bars for NSE:SBIN on 2016-09-05"):
        run_paper_day(demo_cfg, HOLIDAY, symbols="SBIN", out_dir=tmp_path / "h", echo=None)
    with pytest.raises(DataError, match="no 1min bars for NSE:NOPE: not in the data directory"):
        run_paper_day(demo_cfg, DAY, symbols="NOPE", out_dir=tmp_path / "n", echo=None)


def test_progress_is_printed_every_n_simulated_minutes(demo_cfg, tmp_path):
    lines = []
    run_paper_day(demo_cfg, DAY, symbols="TCS", strategy="sma:10:30:1", out_dir=tmp_path, progress_every=60,
                  echo=lines.append)
    assert [ln[:5] for ln in lines[:3]] == ["10:15", "11:15", "12:15"]
    assert lines[-1].startswith("15:30") and "375/375 min" in lines[-1]


def test_the_realtime_loop_squares_off_at_its_time_and_ends_at_the_close(demo_cfg, tmp_path):
    s = open_paper_session(demo_cfg, DAY, tmp_path, at=ist(2016, 8, 17, 15, 5))

    def sleep(seconds):  # the simulated clock moves instead of waiting
        s.clock.set(s.clock.now() + timedelta(seconds=seconds))

    calls = []
    s.oms.flatten = lambda *a, **k: calls.append(k) or []
    reason, minutes = run_realtime(s, s.clock.now().date(), poll_interval=30, sleep=sleep, echo=None)
    assert reason == "the close" and minutes == 25
    assert [c["source"] for c in calls] == ["square_off"] and s.clock.now() >= ist(2016, 8, 17, 15, 30)
    s.close()


def test_the_realtime_loop_stops_when_another_process_trips_the_kill_switch(demo_cfg, tmp_path):
    s = open_paper_session(demo_cfg, DAY, tmp_path, at=ist(2016, 8, 17, 10, 0))
    other = Journal(make_engine(journal_url(demo_cfg, "paper", tmp_path)))

    tripped = []

    def sleep(seconds):
        s.clock.set(s.clock.now() + timedelta(seconds=seconds))
        if s.clock.now() >= ist(2016, 8, 17, 10, 30) and not tripped:
            tripped.append(other.append("risk.kill_switch", {"action": "trip", "reason": "test", "by": "ops"}))

    reason, _ = run_realtime(s, s.clock.now().date(), poll_interval=60, sleep=sleep, echo=None)
    assert reason == "halted at 10:30" and s.book.trading_state == "HALTED"  # seen at the next poll
    other.close()
    s.close()


def test_the_realtime_loop_journals_marks_and_trips_stale_feed_when_packets_stop(demo_cfg, tmp_path):
    from tradekit.data.types import Tick

    s = open_paper_session(demo_cfg, DAY, tmp_path, at=ist(2016, 8, 17, 10, 0))
    px = [1500.0]

    def sleep(seconds):  # a packet every cycle until 10:10 (the price flat half the time), then silence
        s.clock.set(s.clock.now() + timedelta(seconds=seconds))
        if s.clock.now() < ist(2016, 8, 17, 10, 10):
            px[0] += 0.05 if s.clock.now().second == 0 else 0.0
            s.market.on_ticks([Tick("NSE:INFY", s.clock.now(), px[0], None, "full")], "kite")

    reason, _ = run_realtime(s, s.clock.now().date(), poll_interval=5, sleep=sleep, echo=None,
                             until=ist(2016, 8, 17, 10, 20))
    marks = [ev for ev in s.journal.events(types=("mark",)) if ev.payload.get("source") == "hub"]
    assert len(marks) >= 9  # a price change every minute, journaled by the loop
    breach = [ev for ev in s.journal.events(types=("risk.limit_breach",))]
    assert [b.payload["trigger"] for b in breach] == ["stale_feed"]
    assert breach[0].time >= ist(2016, 8, 17, 10, 10, 20)  # 30 s after the last packet and s.book.trading_state == "REDUCING"
    s.close()


def test_a_stage_on_a_journal_with_earlier_days_reports_only_its_own_orders_fills_and_pnl(demo_cfg, tmp_path):
    """A live stage runs on the account's long-lived journal: its summary, order table and progress
    lines count what the stage did, not every earlier day's orders and P&L."""
    from decimal import Decimal

    from tradekit.model import OrderRequest
    from tradekit.runs.day import _orders_table, _pnl, _Progress

    first = run_paper_day(demo_cfg, DAY, symbols="RELIANCE", strategy="sma:10:30:10:MIS", out_dir=tmp_path, echo=None)
    assert first.pnl["fills"] > 0 and first.pnl["net"] != 0
    s = open_paper_session(demo_cfg, "2016-08-18", tmp_path, at=ist(2016, 8, 18, 9, 20))  # the same journal, a day on
    try:
        earlier = len(s.book.orders)
        assert earlier > 0 and s.book.fills == first.pnl["fills"]
        base, t0 = _pnl(s.book), s.clock.now()
        progress = _Progress(s, 375, 1, None)
        assert all(v == 0 for v in _pnl(s.book, base).values()) and _orders_table(s.book, t0).empty
        s.oms.mark("NSE:RELIANCE", Decimal("1000"))
        o = s.submit(OrderRequest(exchange="NSE", tradingsymbol="RELIANCE", side="BUY", quantity=1, order_type="LIMIT",
                                  price=Decimal("900"), product="CNC"), strategy="desk")
        table = _orders_table(s.book, t0)
        assert list(table["client_order_id"]) == [o.client_order_id] and len(s.book.orders) == earlier + 1
        assert _pnl(s.book, base)["fills"] == 0 and _pnl(s.book, base)["net"] == 0
        line = progress.line(s.clock.now())
        assert "orders   1" in line and "fills   0" in line and "net ₹0" in line, line
        assert len(_orders_table(s.book)) == earlier + 1  # a paper stage's fresh journal: all of them
    finally:
        s.close()
