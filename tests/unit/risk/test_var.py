"""VaR/ES: a textbook case, agreement between methods, components, stress and a real crash day."""

from __future__ import annotations

from datetime import date
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from tradekit.clock import ist
from tradekit.risk import RiskConfig, RiskManager, TradingState
from tradekit.risk.var import (
    VarModel,
    closes,
    component_var,
    crash_path,
    daily_returns,
    default_crash_day,
    historical_var,
    monte_carlo_var,
    parametric_var,
    portfolio_var,
    stress_gap,
    stress_replay,
    var_es,
    worst_day,
)
from tradekit.store import EventType as E

from .helpers import BookBuilder, FakeOMS, SimClock


def test_parametric_var_textbook_normal():
    # one position of ₹10 lakh, daily σ = 1 %: VaR95 = 1.645 σ W, ES95 = σ φ(1.645)/0.05 W = 2.063 σ W
    cov = pd.DataFrame([[0.01 ** 2]], index=["X"], columns=["X"])
    r = parametric_var({"X": 1_000_000}, cov=cov, confidence=0.95)
    assert r.var == pytest.approx(16_448.54, abs=0.01)
    assert r.es == pytest.approx(20_627.13, abs=0.01)
    r99 = parametric_var({"X": 1_000_000}, cov=cov, confidence=0.99, horizon_days=10)
    assert r99.var == pytest.approx(2.326348 * 10_000 * 10 ** 0.5, rel=1e-6)  # square-root-of-time


def test_empirical_var_es_of_known_scenarios():
    pnl = -np.arange(1, 101, dtype=float)  # losses of 1..100
    v, es = var_es(pnl, 0.95)
    assert v == pytest.approx(95.05) and es == pytest.approx(np.mean(np.arange(96, 101)))


def _normal_returns(n=6000, seed=3):
    rng = np.random.default_rng(seed)
    vol = np.array([0.012, 0.018, 0.009])
    corr = np.array([[1, 0.5, 0.2], [0.5, 1, 0.3], [0.2, 0.3, 1]])
    cov = corr * np.outer(vol, vol)
    return pd.DataFrame(rng.multivariate_normal(np.zeros(3), cov, size=n), columns=["A", "B", "C"]), cov


@pytest.mark.parametrize("conf", [0.95, 0.99])
def test_the_three_methods_agree_on_normal_data(conf):
    rets, cov = _normal_returns()
    w = {"A": 400_000, "B": -250_000, "C": 600_000}
    exact = NormalDist().inv_cdf(conf) * np.sqrt(np.array(list(w.values())) @ cov @ np.array(list(w.values())))
    h = historical_var(w, rets, conf)
    p = parametric_var(w, rets, conf)
    m = monte_carlo_var(w, rets, conf, paths=50_000, seed=1)
    for r in (h, p, m):
        assert r.var == pytest.approx(exact, rel=0.06), r.method
        assert r.es > r.var
    assert p.es == pytest.approx(h.es, rel=0.08) and m.es == pytest.approx(p.es, rel=0.05)


def test_components_add_up_to_the_total_by_symbol_and_strategy():
    rets, _ = _normal_returns()
    pos = pd.DataFrame([
        {"strategy": "momo", "symbol": "A", "exposure": 300_000.0},
        {"strategy": "pairs", "symbol": "A", "exposure": 100_000.0},
        {"strategy": "pairs", "symbol": "B", "exposure": -250_000.0},
        {"strategy": "momo", "symbol": "C", "exposure": 600_000.0},
    ])
    total = parametric_var(pos.groupby("symbol")["exposure"].sum(), rets, 0.99).var
    comp = component_var(pos, rets, 0.99)
    assert comp["component_var"].sum() == pytest.approx(total, rel=1e-9)
    by_strategy = comp.groupby("strategy")["component_var"].sum()
    assert set(by_strategy.index) == {"momo", "pairs"} and by_strategy.sum() == pytest.approx(total)
    assert comp.groupby("symbol")["component_var"].sum()["B"] < comp.groupby("symbol")["component_var"].sum()["C"]


def test_pre_trade_model_matches_the_parametric_var():
    rets, _ = _normal_returns()
    vm = VarModel.from_returns(rets, 0.99)
    w = {"NSE:A": 400_000.0, "NSE:B": -250_000.0}
    assert vm.var_of(w) == pytest.approx(parametric_var({"A": 400_000, "B": -250_000}, rets, 0.99).var, rel=1e-9)


def test_unknown_method_and_uncovered_symbols():
    rets, _ = _normal_returns()
    with pytest.raises(ValueError, match="historical, parametric, monte_carlo"):
        portfolio_var({"A": 1}, rets, "garch")
    r = portfolio_var({"A": 100.0, "ZZZ": 50.0}, rets, "historical")
    assert r.uncovered == ["ZZZ"]


def test_stress_gap():
    assert stress_gap({"A": 400_000, "B": -100_000}, -10) == pytest.approx(-30_000)


def test_bundled_data_crash_days_and_no_lookahead():
    assert worst_day("NIFTY50") == (date(2020, 3, 23), pytest.approx(-0.1298, abs=1e-4))
    assert default_crash_day() == date(2024, 6, 4)
    r = daily_returns(["RELIANCE", "TCS"], end="2024-06-03", lookback=250)
    assert r.index[-1] == pd.Timestamp("2024-06-03") and len(r) == 250


def test_replay_of_a_real_crash_day():
    c = closes(["SBIN"])
    i = c.index.get_loc(pd.Timestamp("2024-06-04"))
    sbin = c["SBIN"].iloc[i] / c["SBIN"].iloc[i - 1] - 1
    pnl, detail = stress_replay({"SBIN": 100_000.0, "NOSUCH": 50_000.0}, date(2024, 6, 4))
    assert detail.loc["SBIN", "return"] == pytest.approx(sbin) and not detail.loc["SBIN", "proxy"]
    assert detail.loc["NOSUCH", "proxy"]  # took NIFTY's move
    assert pnl == pytest.approx(100_000 * sbin + 50_000 * detail.loc["NOSUCH", "return"])
    assert sbin < -0.13  # PSU banks fell hardest on results day


def test_a_replayed_crash_day_trips_the_breaker_and_flattens():
    """The issue's acceptance: replaying 2024-06-04 on a long book halts and flattens it."""
    day = default_crash_day()
    names = ["SBIN", "LT", "NTPC", "POWERGRID", "ICICIBANK", "AXISBANK", "RELIANCE", "TATASTEEL"]
    path = crash_path(day, names)
    assert set(path[0]) == set(names)
    b = BookBuilder(capital=1_000_000, now=ist(2024, 6, 4, 9, 0))
    for s in names:  # ~₹1.2 lakh each, bought at the previous close
        px = path[0][s]
        b.fill(s, "BUY", int(120_000 // px), f"{px:.2f}", product="CNC")
    risk = RiskManager(RiskConfig(), clock=SimClock(b))
    oms = FakeOMS(b, risk.gate)
    risk.attach(executor=oms, emit=lambda t, p: b.apply(t, p))
    risk.start_day(b.book, day)
    tripped = None
    for n, marks in enumerate(path[1:], 1):  # open, low, close
        b.now = ist(2024, 6, 4, 9 + 2 * n, 15)
        acts = risk.on_event(b.mark(marks), b.book)
        if acts and tripped is None:
            tripped = (n, [a.trigger for a in acts])
    assert tripped is not None and "daily_loss" in tripped[1]
    assert risk.state is TradingState.HALTED and b.book.trading_state == "HALTED"
    assert all(p.quantity == 0 for p in b.book.positions.values())
    assert oms.calls[-1][0] == "flatten" and oms.calls[-1][3] == "breaker"
    breaches = [e for e in risk.kill_switch.events if e[0] == E.LIMIT_BREACH]
    assert breaches and breaches[0][1]["trigger"] in ("daily_loss", "drawdown", "volatility_spike")


def test_manager_builds_the_pre_trade_var_model_without_lookahead():
    risk = RiskManager(RiskConfig())
    vm = risk.use_var_model(["SBIN", "TCS"], end=date(2024, 6, 3))
    assert vm.symbols == ["SBIN", "TCS"] and risk.gate.var_model is vm
    empty = risk.use_var_model(["RELIANCE"], end=date(2016, 8, 15))  # before the bundled data
    assert empty.symbols == []
