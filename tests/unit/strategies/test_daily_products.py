"""Daily bars trade delivery: MIS (intraday) on daily bars is refused with a clear message."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tradekit.config import load_config
from tradekit.data import load_bars, sample_path
from tradekit.errors import ValidationError
from tradekit.execution.replay import run_replay
from tradekit.model.enums import Product
from tradekit.runs.live import parse_strategy
from tradekit.session import Session
from tradekit.strategies import SmaCrossover

DAY = timedelta(days=1)


def test_the_default_product_is_mis_intraday_and_cnc_on_daily_bars():
    assert SmaCrossover(5, 20).trade_product is Product.MIS
    assert SmaCrossover(5, 20, bar=DAY).trade_product is Product.CNC
    assert parse_strategy("sma:5:20:10").trade_product is Product.MIS
    from dataclasses import replace

    assert replace(parse_strategy("sma:5:20:10"), bar=DAY).trade_product is Product.CNC


def test_mis_on_daily_bars_is_refused_naming_the_field():
    with pytest.raises(ValidationError, match="product: MIS is intraday") as e:
        SmaCrossover(5, 20, 10, product="MIS", bar=DAY)
    assert e.value.field == "product"


def _daily(tmp_path):
    cfg = load_config(overrides={"execution": {"square_off_time": None}})
    bars = load_bars(sample_path("RELIANCE", "1d"), start="2023-01-01", end="2023-12-31")
    return Session.for_replay(cfg, tmp_path / "j.db", bars.index[0].to_pydatetime()), {"NSE:RELIANCE": bars}


def test_a_daily_replay_refuses_mis_signals_before_the_first_bar(tmp_path):
    s, data = _daily(tmp_path)
    with pytest.raises(ValidationError, match="MIS strategy or signal.*on daily bars"):
        run_replay(s, data, strategies=[SmaCrossover(5, 20, 10)])  # a 1-minute MIS strategy fed daily bars
    assert not s.book.fills


def test_a_daily_replay_of_the_default_strategy_trades_delivery(tmp_path):
    s, data = _daily(tmp_path)
    r = run_replay(s, data, strategies=[SmaCrossover(5, 20, 10, bar=DAY)])
    fills = list(s.journal.events(types=("fill",)))
    assert r.fills > 4 and {f.payload["product"] for f in fills} == {"CNC"}
