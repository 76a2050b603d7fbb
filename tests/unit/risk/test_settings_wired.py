"""risk.var.limit, risk.sizing.method and the volatility regime act in a session without extra calls."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from tradekit.clock import IST
from tradekit.config import load_config
from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.signal import Signal
from tradekit.risk import RiskConfig, RiskManager
from tradekit.risk.sizing import stop_distance
from tradekit.session import Session

from .helpers import NOW, BookBuilder, ctx


def test_a_var_limit_in_the_config_refuses_an_order_without_use_var_model():
    b = BookBuilder()
    risk = RiskManager(RiskConfig.model_validate({"var": {"limit": 1}}))
    risk.start_day(b.book, NOW.date())
    res = risk.gate.check(b.order("SBIN", "BUY", 10, "LIMIT", price="800"), ctx(b, 800))
    assert not res.allowed and "VaR" in str(res)


def test_a_var_model_handed_in_is_kept():
    from tradekit.risk.var import VarModel

    import numpy as np

    vm = VarModel(["SBIN"], np.array([[0.0]]))
    risk = RiskManager(RiskConfig.model_validate({"var": {"limit": 1}}), var_model=vm)
    risk.start_day(BookBuilder().book, NOW.date())
    assert risk.gate.var_model is vm


def test_the_volatility_regime_is_measured_each_day_and_scales_the_limits():
    risk = RiskManager(RiskConfig())
    risk.start_day(BookBuilder().book, date(2024, 6, 4))  # the 20 days before the election result
    assert risk.regime is not None and risk.regime.name == "HIGH" and risk.gate.scale == 0.5
    assert "HIGH volatility" in risk.regime_note
    risk.start_day(BookBuilder().book, date(2023, 12, 29))
    assert risk.regime.name == "NORMAL" and risk.gate.scale == 1.0


def test_without_recent_index_closes_the_regime_says_so():
    risk = RiskManager(RiskConfig.model_validate({"sizing": {"regime_index": "NOPE"}}))
    risk.start_day(BookBuilder().book, date(2024, 6, 4))
    assert risk.regime is None and "risk.sizing.regime_index" in risk.regime_note


def _session(tmp_path, method):
    cfg = load_config(overrides={"risk": {"sizing": {"method": method}}})
    return Session.for_replay(cfg, tmp_path / f"{method}.db", datetime(2024, 3, 1, 10, 0, tzinfo=IST))


def _signal():
    return Signal(signal_id="s1", strategy="t", exchange=Exchange.NSE, tradingsymbol="SBIN", side=Side.BUY, quantity=None,
                  order_type=OrderType.MARKET, product=Product.CNC, signal_time=datetime(2024, 3, 1, 10, 0, tzinfo=IST),
                  reference_price=Decimal("750"), sizing={"rule": "risk_pct", "value": Decimal("0.5")})


@pytest.mark.parametrize("method", ["atr", "realized_vol"])
def test_risk_pct_without_a_stop_is_sized_by_risk_sizing_method(tmp_path, method):
    s = _session(tmp_path, method)
    settings = s.config.risk.sizing
    dist, _ = stop_distance("SBIN", 750.0, settings, end=date(2024, 2, 29))
    scale = s.risk.gate.scale
    want = int(1_000_000 * 0.005 * scale / round(dist, 4))
    assert s.order_for_signal(_signal()).quantity == want > 0
    assert s.risk.regime is not None and s.risk.regime_note.startswith("volatility regime 2024-03-01")
    s.close()


def test_the_two_methods_give_different_sizes(tmp_path):
    a, v = _session(tmp_path, "atr"), _session(tmp_path, "realized_vol")
    assert a.order_for_signal(_signal()).quantity != v.order_for_signal(_signal()).quantity
    a.close(), v.close()
