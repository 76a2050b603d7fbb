"""A running paper session: signals from the inbox, decisions and the kill switch from other processes."""

from __future__ import annotations

import json
import time

from tradekit.cli import main
from tradekit.clock import SimClock
from tradekit.config import load_config
from tradekit.data import load_bars, sample_path
from tradekit.model import OrderStatus
from tradekit.runs.live import PaperSessionRunner
from tradekit.session import Session
from tradekit.signals import Inbox, SignalPipeline
from tradekit.store import Journal, make_engine


def setup(tmp_path, **over):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"extends: {load_config().source}\ndata_dir: {tmp_path / 'var'}\n"
                        "execution:\n  charges_as_of: 2026-11-20\napproval:\n  mode: manual\n  ttl_seconds: 3600\n"
                        "signals:\n  settle_seconds: 0\n")
    cfg = load_config(cfg_file, over or None)
    bars = load_bars(sample_path("INFY"), start="2016-08-17", end="2016-08-17")
    s = Session.from_config(cfg, clock=SimClock(bars.index[0].to_pydatetime()), mode="paper")
    pipe = SignalPipeline(s.journal, cfg, sink=s.submit_signal, emit=s._emit, clock=s.clock)
    inbox = Inbox.from_settings(cfg.signals, cfg.data_dir, pipe)
    return cfg, cfg_file, s, inbox, {"NSE:INFY": bars}


def drop_signal(inbox_dir, key="sig-1"):
    inbox_dir.mkdir(parents=True, exist_ok=True)
    rec = {"idempotency_key": key, "strategy": "manual_test", "symbol": "INFY", "exchange": "NSE", "side": "BUY",
           "quantity": 5, "order_type": "MARKET", "product": "MIS", "signal_time": "2016-08-17T09:30:00+05:30",
           "ttl_seconds": 86400}
    tmp = inbox_dir / f"{key}.json.tmp"
    tmp.write_text(json.dumps(rec))
    tmp.rename(inbox_dir / f"{key}.json")


def test_inbox_signal_becomes_a_proposal_approved_from_another_process_and_filled(tmp_path):
    cfg, cfg_file, s, inbox, data = setup(tmp_path)
    seen = {}

    def on_minute(e_ns):
        m = runner.minutes
        if m == 10:
            drop_signal(cfg.data_dir / "signals")
        pending = [o for o in s.book.open.values() if o.status is OrderStatus.PENDING_APPROVAL]
        if pending and "cid" not in seen:
            seen["cid"] = pending[0].client_order_id
            dash = Journal(make_engine(cfg.store_url()))  # the dashboard's connection
            dash.append("approval.decision", {"client_order_id": seen["cid"], "decision": "approve", "by": "asha",
                                              "reason": "agreed"})

    runner = PaperSessionRunner(s, data, inbox=inbox, on_minute=on_minute, end="2016-08-17 10:30")
    runner.run()
    o = s.book.order(seen["cid"])
    assert o.status is OrderStatus.FILLED and o.approval_mode == "manual"
    granted = [e.payload for e in s.journal.events(types=("approval.granted",))]
    assert granted[0]["by"] == "asha"


def test_kill_switch_from_the_cli_halts_flattens_and_stops_the_run(tmp_path, capsys):
    cfg, cfg_file, s, inbox, data = setup(tmp_path, approval={"mode": "auto"})
    from tradekit.strategies import SmaCrossover

    def on_minute(e_ns):
        if runner.minutes == 120:
            assert main(["kill", "--reason", "test drill", "--by", "ops", "-c", str(cfg_file)]) == 0

    runner = PaperSessionRunner(s, data, strategies=[SmaCrossover(5, 15, 10)], on_minute=on_minute)
    res = runner.run()
    assert res.stopped and s.book.trading_state == "HALTED"
    assert s.book.net_quantity("NSE", "INFY") == 0
    assert runner.minutes < 140
    assert [e.payload["by"] for e in s.journal.events(types=("risk.kill_switch",))] == ["ops"]
    assert [e.payload["state"] for e in s.journal.events(types=("risk.trading_state",))] == ["HALTED"]  # once


def test_paced_mode_follows_the_wall_clock(tmp_path):
    cfg, cfg_file, s, inbox, data = setup(tmp_path)
    runner = PaperSessionRunner(s, data, speed=600.0, end="2016-08-17 09:35")  # 09:15..09:35 inclusive: 21 bars, ~2 s at 600x
    t0 = time.monotonic()
    runner.start()
    runner.join(30)
    assert 1.5 < time.monotonic() - t0 < 10
    assert runner.result.bars == 21


def test_a_paper_account_carries_cnc_holdings_to_the_next_day_in_a_new_process(tmp_path):
    from datetime import datetime
    from decimal import Decimal

    from tradekit.clock import IST
    from tradekit.model import OrderRequest

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"extends: {load_config().source}\ndata_dir: {tmp_path / 'var'}\n"
                        "execution:\n  charges_as_of: 2026-11-20\n")
    cfg = load_config(cfg_file)
    day1 = load_bars(sample_path("INFY"), start="2016-08-17", end="2016-08-17")
    s1 = Session.from_config(cfg, clock=SimClock(day1.index[0].to_pydatetime()), mode="paper")
    PaperSessionRunner(s1, {"NSE:INFY": day1}, end="2016-08-17 09:20").run()
    s1.submit(OrderRequest("NSE", "INFY", "BUY", 10, "MARKET", "CNC"), strategy="swing")
    PaperSessionRunner(s1, {"NSE:INFY": load_bars(sample_path("INFY"), start="2016-08-17 09:22", end="2016-08-17")}).run()
    assert s1.book.position("swing", "NSE", "INFY", "CNC").quantity == 10
    cash1 = s1.book.cash
    s1.close()
    # the next morning, a new process on the same journal
    day2 = load_bars(sample_path("INFY"), start="2016-08-18", end="2016-08-18")
    s2 = Session.from_config(cfg, clock=SimClock(day2.index[0].to_pydatetime()), mode="paper")
    assert s2.book.holdings()[0]["t1"] == 10 and s2.broker.cash == cash1
    PaperSessionRunner(s2, {"NSE:INFY": day2}, end="2016-08-18 09:20").run()
    o = s2.submit(OrderRequest("NSE", "INFY", "SELL", 10, "MARKET", "CNC"), strategy="swing")
    PaperSessionRunner(s2, {"NSE:INFY": load_bars(sample_path("INFY"), start="2016-08-18 09:22", end="2016-08-18")}).run()
    assert o.status.value == "FILLED"  # yesterday's shares (T1) could be sold: BTST
    assert s2.book.position("swing", "NSE", "INFY", "CNC").quantity == 0
