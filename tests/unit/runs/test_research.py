"""Research: vectorbt under the paper session's rules, our charges, and the hand-off to the session."""

from __future__ import annotations

import json
from datetime import time
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from tradekit.data import load_bars, sample_path
from tradekit.errors import ValidationError
from tradekit.model.charges import COMPONENTS
from tradekit.runs.day import journal_path, run_paper_day
from tradekit.runs.research import (
    backtest,
    choose,
    execution_targets,
    export_signals,
    fill_prices,
    run_research,
    session_rules,
    signal_record,
    sweep_table,
)
from tradekit.signals import parse_batch
from tradekit.store import Journal, make_engine, sqlite_url
from tradekit.strategies import SmaCrossover

from .conftest import DAY


def test_a_target_is_executed_at_the_next_bars_open_and_flat_from_the_square_off():
    bars = load_bars(sample_path("RELIANCE"), start=DAY, end="2016-08-18")
    strat = SmaCrossover(5, 20, 10)
    tgt = execution_targets(bars["close"], strat, time(15, 15))
    first_day = bars.index.date == bars.index[0].date()
    raw = strat.target_positions(bars["close"].to_numpy()[first_day])
    held = tgt[first_day]
    minutes = bars.index[first_day].hour * 60 + bars.index[first_day].minute
    before = minutes < 15 * 60 + 15
    assert held[0] == 0 and (held[1:][before[1:]] == raw[:-1][before[1:]]).all()
    assert (held[~before] == 0).all()
    second = tgt[~first_day]
    assert second[0] == 0  # each day starts flat and sees only its own bars


def test_fills_carry_the_slippage_on_the_tick_grid_against_the_trader():
    o = np.array([1022.15, 1000.0])
    assert fill_prices(o, bps=2, tick=0.05, buy=True).tolist() == [1022.4, 1000.2]
    assert fill_prices(o, bps=2, tick=0.05, buy=False).tolist() == [1021.9, 999.8]
    assert fill_prices(o, bps=0, tick=0.05, buy=True).tolist() == [1022.15, 1000.0]


def test_charges_are_priced_per_order_into_the_days_contract_note():
    bars = {"NSE:INFY": load_bars(sample_path("INFY"), start=DAY, end=DAY)}
    bt = backtest(bars, [(10, 30)], quantity=10, charges_as_of="2026-11-20")
    o = bt.orders
    assert len(o) and (o["charges"] > 0).all() and set(o["side"]) == {"BUY", "SELL"}
    total = sum(o["charges"], Decimal(0))
    parts = sum((sum(o[c], Decimal(0)) for c in COMPONENTS), Decimal(0))
    assert total == parts
    t = sweep_table(bt)
    assert t.loc[0, "net_pnl"] == pytest.approx(t.loc[0, "gross_pnl"] - t.loc[0, "charges"], abs=0.011)


def test_the_researched_trades_are_the_paper_sessions_fills(demo_cfg, tmp_path):
    """The hand-off at parity: research's orders for the exported day are the session's fills, and the
    research's net P&L after charges is the session's, to the paisa."""
    rules = session_rules(demo_cfg)
    res = run_research("RELIANCE,INFY", DAY, DAY, fast=(5, 10), slow=(20, 30), export_day=DAY, out_dir=tmp_path,
                       export_if_losing=True, **rules)  # parity of the hand-off, whatever the P&L
    day = run_paper_day(demo_cfg, DAY, symbols="RELIANCE,INFY", signals_path=res.signals_path, out_dir=tmp_path / "day",
                        echo=None)
    j = Journal(make_engine(sqlite_url(journal_path(tmp_path / "day"))))
    fills = sorted((e.payload["fill_time"][:16], "NSE:" + e.payload["tradingsymbol"], e.payload["side"],
                    e.payload["quantity"], Decimal(e.payload["price"])) for e in j.events(types=("fill",)))
    ours = sorted((t.isoformat()[:16], k, s, q, Decimal(f"{p:.2f}"))
                  for t, k, s, q, p in zip(res.orders["time"], res.orders["key"], res.orders["side"],
                                           res.orders["quantity"], res.orders["price"]))
    assert fills and fills == ours
    row = res.sweep[(res.sweep["fast"] == res.chosen[0]) & (res.sweep["slow"] == res.chosen[1])].iloc[0]
    assert Decimal(str(row["net_pnl"])) == day.pnl["net"].quantize(Decimal("0.01"))
    assert Decimal(str(row["charges"])) == day.pnl["charges"]


def test_exported_signals_are_in_the_published_schema(tmp_path):
    bars = load_bars(sample_path("TCS"), start=DAY, end=DAY)
    sigs = SmaCrossover(10, 30, 5).signals(bars, "NSE:TCS")
    path = export_signals(sigs, tmp_path / "s.jsonl")
    batch = parse_batch(path.read_bytes())
    assert not batch.errors and [s.signal_id for s in batch.accepted] == [s.signal_id for s in sigs]
    back = batch.accepted[0]
    assert (back.side, back.quantity, back.reference_price, back.signal_time) == (
        sigs[0].side, sigs[0].quantity, sigs[0].reference_price, sigs[0].signal_time)
    rec = signal_record(sigs[0])
    assert set(rec) <= set(json.loads((tmp_path / "s.jsonl").read_text().splitlines()[0]))
    assert "signal_id" not in rec and rec["idempotency_key"] == sigs[0].signal_id


def test_the_sweep_chooses_the_best_net_and_draws_its_heatmap(tmp_path):
    res = run_research("SBIN", DAY, "2016-08-18", fast=(5, 10), slow=(10, 20), charges_as_of="2026-11-20",
                       export_day=None, out_dir=tmp_path)
    assert list(zip(res.sweep["fast"], res.sweep["slow"])) == [(5, 10), (5, 20), (10, 20)]  # fast < slow only
    best = res.sweep.sort_values("net_pnl", ascending=False).iloc[0]
    assert res.chosen == (int(best["fast"]), int(best["slow"]))
    assert choose(pd.DataFrame({"fast": [1, 2], "slow": [3, 4], "net_pnl": [5.0, 5.0]})) == (1, 3)
    assert res.heatmap.axes and (tmp_path / "heatmap.png").exists() and (tmp_path / "sweep.csv").exists()
    assert res.signals_path is None and res.handoff_command() == "—"
    assert len(res.equity) == sum(len(b) for b in res.bars.values()) // len(res.bars)


def test_research_splits_in_and_out_of_sample_and_refuses_to_export_a_loser(tmp_path):
    """Issue 17.10: the best of the sweep in sample is checked on later sessions; a pair that loses
    after charges is not exported (unless asked), and the warnings say why."""
    res = run_research("SBIN", "2016-08-16", "2016-08-23", fast=(5, 10), slow=(20, 30), charges_as_of="2026-11-20",
                       export_day="2016-08-23", out_dir=tmp_path)
    s = res.settings
    assert s["in_sample"] == ["2016-08-16", "2016-08-19"] and s["out_of_sample"] == ["2016-08-22", "2016-08-23"]
    assert {"oos_net_pnl", "oos_orders", "oos_charges"} <= set(res.sweep.columns)
    best = res.sweep.sort_values("net_pnl", ascending=False).iloc[0]
    assert res.chosen == (int(best["fast"]), int(best["slow"]))  # chosen in sample only
    row = res.sweep[(res.sweep["fast"] == res.chosen[0]) & (res.sweep["slow"] == res.chosen[1])].iloc[0]
    losing = row["net_pnl"] <= 0 or row["oos_net_pnl"] <= 0
    assert losing == any("no signals exported" in w for w in res.warnings)
    assert (res.signals_path is None) == losing
    if losing:
        assert res.handoff_command() == "—" and not list(tmp_path.glob("signals_*.jsonl"))
        again = run_research("SBIN", "2016-08-16", "2016-08-23", fast=(5, 10), slow=(20, 30),
                             charges_as_of="2026-11-20", export_day="2016-08-23", out_dir=tmp_path / "anyway",
                             export_if_losing=True)
        assert again.signals_path is not None and again.signals_path.exists()
    assert json.loads((tmp_path / "research.json").read_text())["warnings"] == res.warnings
    assert "oos" not in "".join(res.summary().index) and "out of sample" in res.summary().index


def test_a_single_session_warns_that_nothing_was_checked_out_of_sample(tmp_path):
    res = run_research("SBIN", DAY, DAY, fast=(5,), slow=(20,), charges_as_of="2026-11-20", out_dir=tmp_path)
    assert res.settings["out_of_sample"] is None and any("no out-of-sample days" in w for w in res.warnings)
    with pytest.raises(ValidationError, match="train_fraction"):
        run_research("SBIN", DAY, DAY, train_fraction=0, out_dir=tmp_path)


def test_signals_with_a_bracket_an_algo_or_a_condition_export_and_read_back(tmp_path):
    """Issue 15: what the signal schema can ask for (stop, targets, trail, algo, slicing, condition),
    a research notebook can export in the published schema and the session reads back the same."""
    recs = [
        {"idempotency_key": "b1", "strategy": "r", "symbol": "INFY", "side": "BUY", "quantity": 10, "order_type": "LIMIT",
         "price": 1500, "product": "CNC", "signal_time": "2026-11-20T09:20:00+05:30",
         "stop": {"percent": 1}, "targets": [{"points": 20, "share": 0.5}, {"price": 1540, "share": 0.5}],
         "trail": {"kind": "points", "value": 5}},
        {"idempotency_key": "a1", "strategy": "r", "symbol": "SBIN", "side": "BUY", "quantity": 300, "order_type": "LIMIT",
         "price": 800, "product": "MIS", "signal_time": "2026-11-20T09:20:00+05:30",
         "algo": {"kind": "twap", "start": "09:30", "end": "10:30", "interval_seconds": 300}},
        {"idempotency_key": "c1", "strategy": "r", "symbol": "TCS", "side": "BUY", "quantity": 5, "order_type": "MARKET",
         "product": "MIS", "signal_time": "2026-11-20T09:20:00+05:30", "reference_price": 3000,
         "condition": {"kind": "symbol", "symbol": "NSE:NIFTY 50", "cross": "above", "level": 24000}},
    ]
    first = parse_batch(json.dumps(recs).encode())
    assert not first.errors, first.errors
    path = export_signals(first.accepted, tmp_path / "s.jsonl")
    back = parse_batch(path.read_bytes())
    assert not back.errors and [s.meta for s in back.accepted] == [s.meta for s in first.accepted]
