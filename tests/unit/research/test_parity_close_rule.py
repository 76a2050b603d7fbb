"""Parity across sessions: vectorbt and the replay follow one close rule, and the comparison names it."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from decimal import Decimal

import pandas as pd

from tradekit.config import load_config
from tradekit.data import load_bars, sample_path
from tradekit.execution.replay import run_replay
from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.signal import Signal
from tradekit.research.parity import CLOSE_RULE, compare, parity_report, planned_trades, replay_trades
from tradekit.session import Session
from tradekit.strategies import SmaCrossover

NO_FRICTION = {"execution": {"charges_as_of": "2026-11-20", "square_off_time": None},
               "paper": {"slippage": {"model": "none"}, "latency_ms": 0, "participation": 0, "rms_square_off": False}}
BARS = load_bars(sample_path("INFY"), start="2016-08-16", end="2016-09-09")


def test_no_signal_on_a_sessions_last_bar_and_no_fill_in_a_later_session():
    st = SmaCrossover(5, 20, 10, product="CNC")
    sigs = st.signals(BARS, "NSE:INFY")
    assert all(s.signal_time.time() != pd.Timestamp("15:30").time() for s in sigs)
    plan = planned_trades(BARS, st)
    assert (plan["signal_time"].dt.date == plan["time"].dt.date).all()
    # the crossing on 2016-08-31's last bar is traded after the next session's first bar
    assert ((plan["signal_time"] == pd.Timestamp("2016-09-01 09:15", tz="Asia/Kolkata"))).any()


def test_parity_holds_over_three_weeks_with_a_crossing_at_the_close(tmp_path):
    st = SmaCrossover(5, 20, 10, product="CNC")
    cmp, vbt, s = parity_report(BARS, "NSE:INFY", st, load_config(overrides=NO_FRICTION), workdir=tmp_path)
    assert len(cmp) > 300 and set(cmp["reason"]) == {"same"}, cmp[cmp["reason"] != "same"].head()
    assert abs(Decimal(str(vbt.net_pnl)) - s.book.net_pnl) < Decimal("0.01")


def test_an_order_that_lapsed_at_the_close_is_explained_by_the_rule(tmp_path):
    day = BARS[BARS.index.date == pd.Timestamp("2016-08-31").date()]
    nxt = BARS[BARS.index.date == pd.Timestamp("2016-09-01").date()]
    bars = pd.concat([day, nxt])
    cfg = load_config(overrides=NO_FRICTION)
    s = Session.for_replay(cfg, tmp_path / "j.db", bars.index[0].to_pydatetime())
    close = day.index[-1].to_pydatetime() + timedelta(minutes=1)
    sig = Signal(signal_id="late", strategy="t", exchange=Exchange.NSE, tradingsymbol="INFY", side=Side.BUY, quantity=10,
                 order_type=OrderType.MARKET, product=Product.CNC, signal_time=close, reference_price=Decimal("1000"))
    run_replay(s, {"NSE:INFY": bars}, signals=[sig], square_off=False)
    vbt = pd.DataFrame({"time": [nxt.index[0]], "side": ["BUY"], "quantity": [10], "price": [float(nxt["open"].iloc[0])]})
    cmp = compare(vbt, replay_trades(s), s)
    assert CLOSE_RULE in cmp["reason"].iloc[0] and "latency" not in cmp["reason"].iloc[0]


def test_parity_report_leaves_no_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    bars = BARS[BARS.index.date == pd.Timestamp("2016-08-17").date()]
    parity_report(bars, "NSE:INFY", SmaCrossover(10, 30, 10, product="CNC"), load_config(overrides=NO_FRICTION))
    assert not list(tmp_path.glob("tk-parity-*"))
