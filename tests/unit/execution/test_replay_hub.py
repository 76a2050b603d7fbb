"""A bar replay feeds the session's market-data hub as a paper session does: quotes and OMS
prices, in-memory marks and the tick-driven breakers; a paper
session and a plain replay of the same day make the same trades and the same state changes."""

from __future__ import annotations

import numpy as np

from tradekit.clock import SimClock
from tradekit.config import load_config
from tradekit.data import load_bars, sample_path
from tradekit.execution.replay import run_replay
from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.signal import Signal
from tradekit.runs.live import PaperSessionRunner
from tradekit.session import Session
from tradekit.store import Book, EventType as E
from tradekit.strategies import SmaCrossover

DAY = "2016-08-17"


def _cfg(tmp_path, **over):
    return load_config(overrides={"data_dir": str(tmp_path / "var"), "execution": {"charges_as_of": "2026-11-20"}, **over})


def _data():
    return {f"NSE:{s}": load_bars(sample_path(s), start=DAY, end=DAY) for s in ("INFY", "RELIANCE")}


def test_a_replay_feeds_quotes_marks_and_prices_through_the_hub(tmp_path):
    data = _data()
    s = Session.for_replay(_cfg(tmp_path), tmp_path / "j.db", data["NSE:INFY"].index[0].to_pydatetime())
    try:
        run_replay(s, data, strategies=[SmaCrossover(10, 30, 10)])
        hub = s.market
        for key, df in data.items():
            q = hub.quote(key)
            assert q is not None and float(q.last_price) == df["close"].iloc[-1]
            assert q.volume == int(df["volume"].sum())  # a tick carries the day's volume so far
            assert q.source == "replay"
        assert hub.counts["packets"] == len(data["NSE:INFY"].index.union(data["NSE:RELIANCE"].index))
        held = [p for p in s.book.positions.values() if p.quantity]
        for p in held:  # marked in memory from the hub's last packet (before the day's closing mark too)
            assert float(p.last_price) == data[p.instrument_key]["close"].iloc[-1]
        assert float(s.oms.prices["NSE:RELIANCE"]) == data["NSE:RELIANCE"]["close"].iloc[-1]  # the OMS's prices
        assert Book.rebuild(s.journal.events()).snapshot() == s.book.snapshot()
    finally:
        s.close()


def test_a_crash_in_a_held_symbol_trips_the_volatility_breaker_in_a_replay_as_in_paper(tmp_path):
    bars = _data()["NSE:INFY"].copy()
    i = 200  # long since the morning's buy: the price falls 8 % over a few minutes
    drop = np.linspace(1.0, 0.92, 6)
    for k, f in enumerate(drop):
        for c in ("open", "high", "low", "close"):
            bars.iloc[i + k, bars.columns.get_loc(c)] *= f
    bars.iloc[i + 6:, [bars.columns.get_loc(c) for c in ("open", "high", "low", "close")]] *= 0.92
    data = {"NSE:INFY": bars}
    states = []
    for how in ("replay", "paper"):
        s = Session.for_replay(_cfg(tmp_path), tmp_path / f"{how}.db", bars.index[0].to_pydatetime()) if how == "replay" else \
            Session.from_config(_cfg(tmp_path), clock=SimClock(bars.index[0].to_pydatetime()), mode="paper")
        try:
            sig = [Signal("buy-1", "test", Exchange.NSE, "INFY", Side.BUY, 20, OrderType.MARKET, Product.CNC,
                          signal_time=bars.index[30].to_pydatetime())]
            if how == "replay":
                run_replay(s, data, signals=sig, square_off=False)
            else:
                PaperSessionRunner(s, data, signals=sig, square_off=False).run()
            trips = [e.payload["trigger"] for e in s.journal.events(types=(E.LIMIT_BREACH,))]
            fills = [(e.payload["fill_time"], e.payload["side"], e.payload["quantity"], e.payload["price"])
                     for e in s.journal.events(types=(E.FILL,))]
            states.append((trips, fills, s.book.trading_state, str(s.book.net_pnl)))
        finally:
            s.close()
    assert "volatility_spike" in states[0][0]
    assert states[0] == states[1]  # the same trades, trips and P&L in a backtest and a paper session
