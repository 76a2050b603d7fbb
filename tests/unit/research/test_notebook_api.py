"""The notebook API: ``import tradekit`` exports what a notebook needs; ``tradekit.connect()`` is a
read-only desk on a journal; ``tradekit.backtest()`` runs a signal function through vectorbt with
tradekit's charges and matches the paper broker trade for trade."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tradekit
from tradekit.config import load_config
from tradekit.data import load_bars, sample_path
from tradekit.errors import StoreError, ValidationError
from tradekit.execution.replay import run_replay
from tradekit.session import Session
from tradekit.strategies import SmaCrossover

BARS = load_bars(sample_path("INFY"), start="2016-08-16", end="2016-08-19")
ASOF = "2026-11-20"


def cross(bars):
    fast, slow = bars.close.rolling(10).mean(), bars.close.rolling(30).mean()
    return (fast > slow).astype(int)


def test_the_package_exports_the_notebook_names():
    for name in ("connect", "Desk", "backtest", "Backtest", "Session", "load_config", "load_bars", "load_dataset"):
        assert name in tradekit.__all__ and name in dir(tradekit)
        assert getattr(tradekit, name).__doc__, name
    assert tradekit.Session is Session
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tradekit.nope  # noqa: B018


@pytest.mark.parametrize("product", ["CNC", "MIS"])
def test_backtest_matches_the_paper_broker_to_the_paisa(product):
    bt = tradekit.backtest(BARS, cross, symbol="NSE:INFY", quantity=10, product=product, charges_as_of=ASOF, parity=True)
    assert len(bt.trades) > 20 and bt.same, bt.comparison[bt.comparison.reason != "same"].head()
    assert abs(Decimal(str(bt.net_pnl)) - Decimal(str(bt.replay_net_pnl))) < Decimal("0.01")
    assert bt.charges > 0 and abs(bt.net_pnl - float(bt.portfolio.total_profit())) < 1e-6
    stats = bt.stats()
    assert stats["Total Trades"] > 0 and stats["Start Value"] == float(load_config().account.capital)


def test_mis_is_flat_by_the_square_off_time_every_day():
    bt = tradekit.backtest(BARS, cross, symbol="NSE:INFY", quantity=5, product="MIS", charges_as_of=ASOF)
    t = bt.trades.assign(day=bt.trades.time.dt.date, signed=np.where(bt.trades.side == "BUY", 1, -1) * bt.trades.quantity)
    assert (t.groupby("day").signed.sum() == 0).all()
    assert (t.time.dt.strftime("%H:%M") <= "15:15").all()


def test_a_long_short_function_and_nan_keeps_the_target():
    def flip(bars):
        out = pd.Series(np.nan, index=bars.index)
        out.iloc[::60] = [1 if i % 2 else -1 for i in range(len(out.iloc[::60]))]
        return out

    bt = tradekit.backtest(BARS, flip, symbol="INFY", quantity=2, product="MIS", charges_as_of=ASOF, parity=True)
    assert set(bt.trades.quantity) <= {2, 4} and bt.same, bt.comparison[bt.comparison.reason != "same"].head()
    with pytest.raises(ValidationError, match="CNC"):  # delivery cannot sell what it does not hold
        tradekit.backtest(BARS, flip, symbol="INFY", quantity=2, product="CNC", charges_as_of=ASOF)


def test_daily_bars_are_daily():
    daily = load_bars(sample_path("INFY", "1d"))
    bt = tradekit.backtest(daily.iloc[-300:], cross, symbol="NSE:INFY", quantity=1)
    assert bt.strategy.trade_product.value == "CNC" and bt.portfolio.wrapper.freq == pd.Timedelta(days=1)


@pytest.mark.parametrize("fn,match", [
    (lambda b: [1, 0], "returned 2 values for"),
    (lambda b: pd.Series(np.inf, index=b.index), "infinite target"),
    (lambda b: pd.Series(0.5, index=b.index), "not a whole number"),
    (lambda b: pd.Series(1e30, index=b.index), "more than 1,000,000"),
    (lambda b: "long", "not numbers per bar|values for"),
    (lambda b: b[["open", "close"]], "frame of 2 columns"),
])
def test_a_bad_signal_function_is_named(fn, match):
    with pytest.raises(ValidationError, match=match):
        tradekit.backtest(BARS, fn, symbol="NSE:INFY", charges_as_of=ASOF)


def test_bad_arguments_are_named():
    with pytest.raises(ValidationError, match="symbol"):
        tradekit.backtest(BARS, cross)
    with pytest.raises(ValidationError, match="callable"):
        tradekit.backtest(BARS, 3, symbol="NSE:INFY")
    with pytest.raises(ValidationError, match="quantity"):
        tradekit.backtest(BARS, cross, symbol="NSE:INFY", quantity=0)
    with pytest.raises(ValidationError, match="too few"):
        tradekit.backtest(BARS.iloc[:1], cross, symbol="NSE:INFY")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.integers(0, 3), st.just(float("nan"))), min_size=2, max_size=60))
def test_trades_net_to_the_final_target(targets):
    bars = BARS.iloc[:len(targets)]
    bt = tradekit.backtest(bars, lambda b: pd.Series(targets, index=b.index), symbol="NSE:INFY", quantity=3,
                           product="CNC", charges_as_of=ASOF)
    signed = int((np.where(bt.trades.side == "BUY", 1, -1) * bt.trades.quantity).sum()) if len(bt.trades) else 0
    # every change is traded on the next bar's open: what is traded is the target before the last bar
    held = pd.Series(targets[:-1], dtype="float64").ffill().fillna(0).iloc[-1] if len(targets) > 1 else 0
    assert signed == int(held) * 3


# -- the desk ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    path = tmp_path_factory.mktemp("desk") / "journal.db"
    cfg = load_config(overrides={"execution": {"charges_as_of": ASOF}})
    s = Session.for_replay(cfg, path, BARS.index[0].to_pydatetime())
    try:
        run_replay(s, {"NSE:INFY": BARS}, strategies=[SmaCrossover(10, 30, 10, product="CNC")], square_off=False)
        expected = {"net": s.book.net_pnl, "fills": s.book.fills, "orders": len(s.book.orders)}
    finally:
        s.close()
    return path, expected


def _digest(path):
    """Every row of every table (SQLite may checkpoint its WAL into the file when a reader closes:
    the bytes move, the content does not)."""
    import sqlite3

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return hashlib.sha256("\n".join(con.iterdump()).encode()).hexdigest()
    finally:
        con.close()


def test_the_desk_reads_a_finished_session_and_writes_nothing(journal):
    path, expected = journal
    before = _digest(path)
    desk = tradekit.connect(journal=path)
    assert not desk.info.running and desk.info.mode == "paper"
    assert len(desk.fills) == expected["fills"] and len(desk.orders) == expected["orders"]
    assert desk.fills["price"].dtype == "float64" and desk.positions["net"].dtype == "float64"
    assert desk.orders["time"].iloc[0].date().isoformat() == "2016-08-16"  # dates, not only times
    assert abs(desk.net_pnl - float(expected["net"])) < 1e-6
    assert abs(desk.pnl()["net"].sum() - float(expected["net"])) < 0.01
    assert abs(desk.pnl(by="symbol")["net"].sum() - float(expected["net"])) < 0.01
    eq = desk.equity
    assert isinstance(eq, pd.Series) and len(eq) >= expected["fills"]
    with pytest.raises(StoreError, match="read-only"):
        desk.journal.append("note", {"x": 1})
    desk.journal.engine.dispose()
    assert _digest(path) == before


def test_exact_money_is_decimal(journal):
    path, expected = journal
    desk = tradekit.connect(journal=path, exact=True)
    assert desk.net_pnl == expected["net"] and isinstance(desk.positions["net"].iloc[0], Decimal)
    assert sum(desk.pnl()["net"]) == expected["net"]


def test_the_desk_follows_a_running_session(tmp_path):
    cfg = load_config(overrides={"data_dir": str(tmp_path / "var"), "execution": {"charges_as_of": ASOF}})
    with pytest.raises(StoreError, match="no journal yet"):
        tradekit.connect(cfg)
    s = Session(cfg)
    try:
        desk = tradekit.connect(cfg)
        assert desk.info.running and "RUNNING" in str(desk.info)
        n = desk.book.last_seq
        s._emit("note", {"text": "hello"})
        assert desk.refresh() == 1 and desk.book.last_seq == n + 1
    finally:
        s.close()
    desk.refresh()
    assert not desk.info.running and "NO SESSION" in str(desk.info)


def test_bad_desk_arguments(tmp_path):
    with pytest.raises(StoreError, match="no journal at"):
        tradekit.connect(journal=tmp_path / "nope.db")
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError):
        tradekit.connect(journal=tmp_path / "junk.db")
