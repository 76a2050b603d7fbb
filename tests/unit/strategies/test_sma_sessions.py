"""The bundled SMA strategy is long-only across sessions: an intraday (MIS) strategy restarts flat
each day, because the square-off closed yesterday's position."""

from __future__ import annotations

from datetime import time

import numpy as np
import pandas as pd

from tradekit.config import load_config
from tradekit.data import load_bars, sample_path
from tradekit.execution.replay import run_replay
from tradekit.session import Session
from tradekit.strategies import SmaCrossover

DAYS = ("2016-08-16", "2016-08-24")  # seven sessions


def _bars(sym):
    return load_bars(sample_path(sym), start=DAYS[0], end=DAYS[1])


def _walk(signals):
    """The position the strategy believes it holds after each signal, reset at each day's start (square-off)."""
    pos, day, seen = 0, None, []
    for s in sorted(signals, key=lambda s: s.signal_time):
        if s.signal_time.date() != day:
            pos, day = 0, s.signal_time.date()
        pos += s.quantity if str(s.side) in ("BUY", "Side.BUY") else -s.quantity
        seen.append(pos)
    return seen


def test_mis_signals_restart_flat_each_session_and_never_sell_what_is_not_held():
    for sym in ("RELIANCE", "INFY", "TCS"):
        sigs = SmaCrossover(10, 30, 10).signals(_bars(sym), f"NSE:{sym}")
        assert sigs and min(_walk(sigs)) == 0 and max(_walk(sigs)) == 10


def test_cnc_keeps_its_state_across_sessions():
    bars = _bars("RELIANCE")
    cnc = SmaCrossover(10, 30, 10, product="CNC")
    assert not cnc.resets_each_session
    tgt = np.cumsum(cnc.trade_deltas(bars))
    assert np.array_equal(tgt, cnc.target_positions(bars["close"].to_numpy()))


def test_no_signal_at_or_after_session_end():
    bars = _bars("INFY")
    sigs = SmaCrossover(5, 15, 10, session_end=time(14, 30)).signals(bars, "NSE:INFY")
    assert sigs and all(s.signal_time.time() < time(14, 30) for s in sigs)


def test_a_multi_day_mis_replay_of_three_stocks_never_goes_short(tmp_path):
    cfg = load_config(overrides={"execution": {"charges_as_of": "2026-11-20"}})
    data = {f"NSE:{s}": _bars(s) for s in ("RELIANCE", "INFY", "TCS")}
    first = min(df.index[0] for df in data.values()).to_pydatetime()
    s = Session.for_replay(cfg, tmp_path / "j.db", first)
    r = run_replay(s, data, strategies=[SmaCrossover(10, 30, 10)])
    assert len(r.days) == 7 and r.fills > 20
    net: dict[str, int] = {}
    shorts = 0
    for f in s.journal.events(types=("fill",)):
        p = f.payload
        q = p["quantity"] if p["side"] == "BUY" else -p["quantity"]
        net[p["tradingsymbol"]] = net.get(p["tradingsymbol"], 0) + q
        shorts += net[p["tradingsymbol"]] < 0
    assert shorts == 0, f"{shorts} fills left a short position"
    assert all(v == 0 for v in net.values())
    assert not [sid for sid, why in r.rejected_signals if "MIS" in why]


def test_flat_at_session_end_false_keeps_one_state_over_the_days():
    idx = pd.date_range("2024-01-01 09:15", periods=60, freq="1min", tz="Asia/Kolkata")
    bars = pd.DataFrame({"close": np.r_[np.linspace(100, 90, 30), np.linspace(90, 110, 30)]}, index=idx)
    st = SmaCrossover(3, 8, 1, flat_at_session_end=False)
    assert np.array_equal(np.cumsum(st.trade_deltas(bars)), st.target_positions(bars["close"].to_numpy()))
