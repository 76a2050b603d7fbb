"""risk.greeks: net delta, net vega and premium at risk per strategy and account, in the real gate."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.risk.helpers import BookBuilder, ctx
from tests.unit.risk.test_gate_checks import LOOSE, gate, merge
from tradekit.clock import ist
from tradekit.errors import ConfigError
from tradekit.execution.account import Account
from tradekit.market.instruments import InstrumentStore
from tradekit.risk import RiskConfig
from tradekit.risk.greeks_limit import book_greeks

NOW = ist(2026, 8, 14, 11, 0)
CE, PE, FUT = "NIFTY2681822500CE", "NIFTY2681822500PE", "NIFTY26AUGFUT"


@pytest.fixture(scope="module")
def master():
    return InstrumentStore.bundled(include_nfo_sample=True)


def _world(master, **prices):
    b = BookBuilder(capital=50_000_000, now=NOW)
    px = {"NSE:NIFTY 50": Decimal("22500")} | {f"NFO:{k}": Decimal(str(v)) for k, v in prices.items()}
    acct = Account(b.book, instruments=master, prices=px)
    return b, acct


def _check(g, b, acct, master, sym, side, qty, price, strategy="s"):
    o = b.order(sym, side, qty, "LIMIT", price=Decimal(str(price)), exchange="NFO", product="NRML", strategy=strategy)
    return g.check(o, ctx(b, price, instrument=master.get("NFO", sym), account=acct))


def test_net_delta_limit_per_strategy_and_account(master):
    from tradekit.risk.greeks_limit import position_greeks

    b, acct = _world(master, **{CE: 120.0, PE: 95.0})
    u = position_greeks(master.get("NFO", CE), 1, 120.0, now=NOW, instruments=master, prices=acct.prices)["delta"]
    assert 0.4 * 22500 < u < 0.7 * 22500          # ₹ delta of one unit of the ATM call: delta × forward
    lot = 65
    cfg = merge(LOOSE, {"money": {"check_funds": False},
                        "greeks": {"account": {"max_net_delta": 20 * lot * u},
                                   "strategy_default": {"max_net_delta": 15 * lot * u}}})
    g = gate(cfg)
    d = _check(g, b, acct, master, CE, "BUY", 10 * lot, 120.0)
    assert d.allowed and d.check("NET_DELTA").value == pytest.approx(10 * lot * u)
    b.fill(CE, "BUY", 10 * lot, "120", exchange="NFO", product="NRML")
    b.mark({f"NFO:{CE}": 120})
    # 10 more lots would take the strategy to 20 lots' delta, past its 15
    d = _check(g, b, acct, master, CE, "BUY", 10 * lot, 120.0)
    assert not d.allowed and "strategy s's net delta" in d.reason
    # puts on the same strategy bring the delta back: allowed
    assert _check(g, b, acct, master, PE, "BUY", 10 * lot, 95.0).allowed
    # another strategy has its own room under the strategy limit, but the account counts everybody's
    assert _check(g, b, acct, master, CE, "BUY", 8 * lot, 120.0, strategy="other").allowed        # 18 ≤ 20 lots
    d = _check(g, b, acct, master, CE, "BUY", 12 * lot, 120.0, strategy="other")                # 22 > 20, 12 ≤ 15
    assert not d.allowed and "account's net delta" in d.reason


def test_vega_and_premium_at_risk(master):
    cfg = merge(LOOSE, {"money": {"check_funds": False},
                        "greeks": {"strategies": {"straddle": {"max_net_vega": 50_000, "max_premium_at_risk": 200_000}}}})
    g = gate(cfg)
    b, acct = _world(master, **{CE: 120.0, PE: 95.0})
    d = _check(g, b, acct, master, CE, "BUY", 650, 120.0, strategy="straddle")
    assert d.allowed and d.check("PREMIUM_AT_RISK").value == pytest.approx(650 * 120.0)
    d = _check(g, b, acct, master, CE, "BUY", 6500, 120.0, strategy="straddle")   # ₹780,000 of premium
    assert not d.allowed and {"PREMIUM_AT_RISK", "NET_VEGA"} <= {c.code for c in d.checks if not c.ok}
    # selling options adds no premium at risk (negative vega), and other strategies are not limited
    assert _check(g, b, acct, master, CE, "SELL", 650, 120.0, strategy="straddle").check("PREMIUM_AT_RISK").ok
    assert _check(g, b, acct, master, CE, "BUY", 6500, 120.0, strategy="free").allowed


def test_unpriced_underlying_fails_closed_with_the_reason(master):
    g = gate(merge(LOOSE, {"money": {"check_funds": False}, "greeks": {"account": {"max_net_vega": 1e9}}}))
    b, acct = _world(master, **{CE: 120.0})
    del acct.prices["NSE:NIFTY 50"]
    d = _check(g, b, acct, master, CE, "BUY", 65, 120.0)
    assert not d.allowed and "NSE:NIFTY 50" in d.reason


def test_future_counts_delta_one_and_equities_skip_the_rule(master):
    g = gate(merge(LOOSE, {"money": {"check_funds": False}, "greeks": {"account": {"max_net_delta": 1_000_000}}}))
    b, acct = _world(master, **{FUT: 22600})
    d = _check(g, b, acct, master, FUT, "BUY", 65, 22600)
    assert not d.allowed and d.check("NET_DELTA").value == pytest.approx(65 * 22600)
    o = b.order("SBIN", "BUY", 10, "LIMIT", price=Decimal("800"))
    assert g.check(o, ctx(b, 800, account=acct)).check("NET_DELTA") is None   # no option, no Greek work


def test_book_greeks_rows(master):
    b, acct = _world(master, **{CE: 120.0, PE: 95.0})
    b.fill(CE, "BUY", 65, "120", exchange="NFO", product="NRML", strategy="a")
    b.fill(PE, "SELL", 130, "95", exchange="NFO", product="NRML", strategy="b")
    b.mark({f"NFO:{CE}": 120, f"NFO:{PE}": 95})
    rows = book_greeks(b.book, now=NOW, instruments=master, prices=acct.prices)
    by = {r["strategy"]: r for r in rows}
    assert by["a"]["delta"] > 0 and by["b"]["delta"] > 0 and by["b"]["vega"] < 0 and by["b"]["premium"] == 0
    assert 0.05 < by["a"]["iv"] < 0.5 and not by["a"]["problem"]
    from tradekit.risk.greeks_limit import greeks_report

    pos, strat, acct_total = greeks_report(b.book, now=NOW, instruments=master, prices=acct.prices)
    assert list(strat.index) == ["a", "b"] and len(pos) == 2
    assert acct_total.loc["account", "delta"] == pytest.approx(by["a"]["delta"] + by["b"]["delta"])


def test_config_refuses_unknown_fields_and_bad_values():
    with pytest.raises(Exception, match="max_net_delt"):
        RiskConfig.model_validate({"greeks": {"account": {"max_net_delt": 1}}})
    with pytest.raises(Exception, match="greater than 0"):
        RiskConfig.model_validate({"greeks": {"account": {"max_net_vega": -5}}})
    assert ConfigError  # config files report these with the file and field (tradekit.config)
