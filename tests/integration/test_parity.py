"""Research-to-live parity: vectorbt and the paper replay trade the same, to the paisa."""

from __future__ import annotations

from decimal import Decimal

from tradekit.config import load_config
from tradekit.data import load_bars, sample_path
from tradekit.research.parity import parity_report
from tradekit.strategies import SmaCrossover

NO_FRICTION = {"execution": {"charges_as_of": "2026-11-20", "square_off_time": None},
               "paper": {"slippage": {"model": "none"}, "latency_ms": 0, "participation": 0, "rms_square_off": False}}


def test_same_trades_and_same_net_pnl_without_frictions():
    bars = load_bars(sample_path("INFY"), start="2016-08-16", end="2016-08-26")
    cmp, vbt, s = parity_report(bars, "NSE:INFY", SmaCrossover(10, 30, 10, product="CNC"), load_config(overrides=NO_FRICTION))
    assert len(cmp) > 50 and set(cmp["reason"]) == {"same"}
    assert abs(Decimal(str(vbt.net_pnl)) - s.book.net_pnl) < Decimal("0.01")
    assert sum(vbt.trades["charges"]) == s.book.charges_total.total


def test_frictions_are_explained_trade_by_trade():
    over = {**NO_FRICTION, "paper": {"slippage": {"model": "fixed_bps", "bps": 3}, "latency_ms": 50, "participation": 0}}
    bars = load_bars(sample_path("INFY"), start="2016-08-16", end="2016-08-17")
    cmp, vbt, s = parity_report(bars, "NSE:INFY", SmaCrossover(10, 30, 10, product="CNC"), load_config(overrides=over),
                                frictions=True)
    moved = cmp["reason"].str.startswith("price")
    assert moved.mean() > 0.8
    worse = (cmp["price"] - cmp["vbt_price"]) * cmp["side"].map({"BUY": 1, "SELL": -1})
    assert (worse[moved] > 0).all()  # slippage is always against the trader
    # no slippage only where the open was the bar's extreme: a fill beyond it would be a price that never traded
    for _, r in cmp[~moved].iterrows():
        b = bars.loc[r["time"].floor("min")]
        assert r["reason"] == "same" and float(r["price"]) == (b["high"] if r["side"] == "BUY" else b["low"]) == b["open"]
