"""Slippage is rounded against the trader once, and a bar fill never lands on a price that never traded (issue 14 item 6)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradekit.brokers.paper.config import SlippageConfig
from tests.unit.paper.test_exchange import bar, buy, ex, place, sell


@pytest.mark.parametrize("order, expect", [(sell, "22245.65"), (buy, "22254.65")])
def test_two_bps_is_rounded_adverse_not_to_the_nearest_paisa_first(order, expect):
    # 22,250.15 ∓ 2 bps = 22,245.69997 / 22,254.60003: the next tick against the trader, never the one at the 4th decimal
    x, trades, _ = ex(slippage=SlippageConfig(model="fixed_bps", bps=2))
    place(x, order(qty=1))
    bar(x, 0, 22250.15, 22300, 22200, 22250)
    assert trades[0].price == Decimal(expect)


def test_an_exact_tick_stays_put():
    x, trades, _ = ex(slippage=SlippageConfig(model="fixed_bps", bps=10))
    place(x, buy())
    bar(x, 0, 100, 101, 99, 100)  # 100 + 10 bps = 100.10 exactly: no extra tick
    assert trades[0].price == Decimal("100.10")


@pytest.mark.parametrize("order, o, h, l, clamped", [(buy, 100, 100, 99, "100.00"), (sell, 100, 101, 100, "100.00")])
def test_a_market_fill_stays_inside_the_bar_range(order, o, h, l, clamped):
    x, trades, _ = ex(slippage=SlippageConfig(model="fixed_bps", bps=10))
    place(x, order())
    bar(x, 0, o, h, l, 99.5 if order is buy else 100.5)  # the open was the bar's extreme
    assert trades[0].price == Decimal(clamped)


def test_clamp_to_bar_false_lets_the_model_price_beyond_the_bar():
    x, trades, _ = ex(slippage=SlippageConfig(model="fixed_bps", bps=10, clamp_to_bar=False))
    place(x, buy())
    bar(x, 0, 100, 100, 99, 99.5)
    assert trades[0].price == Decimal("100.10")


def test_partial_room_inside_the_range_is_used():
    x, trades, _ = ex(slippage=SlippageConfig(model="fixed_bps", bps=10))
    place(x, buy())
    bar(x, 0, 100, 100.05, 99, 100)
    assert trades[0].price == Decimal("100.05")


def test_sl_m_after_a_gap_is_clamped_too():
    x, trades, _ = ex(slippage=SlippageConfig(model="fixed_bps", bps=50))
    place(x, sell(ot="SL-M", trigger_price=Decimal("98.00")))
    bar(x, 0, 96.5, 97, 96.5, 96.8)  # gaps below the trigger and opens at the low
    assert trades[0].price == Decimal("96.50")
