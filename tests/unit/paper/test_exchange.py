"""The simulated exchange's fill rules, bar by bar."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tradekit.brokers.paper.config import PaperConfig, SlippageConfig
from tradekit.brokers.paper.exchange import SimExchange, SimOrder, to_units
from tradekit.clock import IST, dt_to_ns
from tradekit.model import OrderRequest

T0 = datetime(2016, 8, 16, 9, 15, tzinfo=IST)
KEY = "NSE:INFY"


def ex(**kw) -> tuple[SimExchange, list, list]:
    cfg = PaperConfig(**{"latency_ms": 0, "participation": 0, "slippage": SlippageConfig(model="none"), **kw})
    x = SimExchange(cfg)
    trades, updates = [], []
    x.on_trade = trades.append
    x.on_update = lambda o: updates.append((o.status, o.filled))
    return x, trades, updates


def place(x, req: OrderRequest, at: datetime = T0, tick: str = "0.05") -> SimOrder:
    o = SimOrder("1", "tag", req, KEY, at, 0, to_units(Decimal(tick)))
    x.accept(o, at)
    return o


def bar(x, minute: int, o, h, l, c, v=10_000):
    s = T0 + timedelta(minutes=minute)
    x.on_bar(KEY, dt_to_ns(s), dt_to_ns(s + timedelta(minutes=1)), o, h, l, c, v)


def buy(qty=10, ot="MARKET", **kw):
    return OrderRequest("NSE", "INFY", "BUY", qty, ot, "MIS", market_protection=kw.pop("mp", -1) if ot in ("MARKET", "SL-M") else None, **kw)


def sell(qty=10, ot="MARKET", **kw):
    return OrderRequest("NSE", "INFY", "SELL", qty, ot, "MIS", market_protection=kw.pop("mp", -1) if ot in ("MARKET", "SL-M") else None, **kw)


def test_order_placed_at_a_bar_close_fills_at_the_next_bar_open_not_the_signal_bar():
    x, trades, _ = ex()
    o = place(x, buy(), at=T0 + timedelta(minutes=1))  # the 09:15 bar has closed
    bar(x, 0, 100, 101, 99, 100.5)  # the 09:15 bar itself (already over): no fill
    assert trades == []
    bar(x, 1, 100.6, 101, 100, 100.8)
    assert [(t.quantity, t.price) for t in trades] == [(10, Decimal("100.6"))]
    assert o.status == "COMPLETE"


def test_latency_beyond_the_bar_pushes_the_fill_to_a_later_bar():
    x, trades, _ = ex(latency_ms=90_000)
    place(x, buy(), at=T0)
    bar(x, 0, 100, 101, 99, 100.5)
    assert trades == []
    bar(x, 1, 102, 103, 101, 102)
    assert trades[0].price == Decimal("102")


def test_buy_limit_fills_only_when_price_trades_through():
    x, trades, _ = ex()
    place(x, buy(ot="LIMIT", price=Decimal("99.00")))
    bar(x, 0, 100, 101, 99.00, 100)  # touches 99, does not trade through
    assert trades == []
    bar(x, 1, 100, 100.5, 98.9, 99.5)
    assert trades[0].price == Decimal("99.00")


def test_limit_gets_the_better_open_when_the_bar_opens_through_it():
    x, trades, _ = ex()
    place(x, sell(ot="LIMIT", price=Decimal("100.00")))
    bar(x, 0, 101.25, 102, 100.5, 101)
    assert trades[0].price == Decimal("101.25")


def test_sl_m_triggers_then_fills_at_the_trigger_and_at_the_open_after_a_gap():
    x, trades, updates = ex()
    o = place(x, sell(ot="SL-M", trigger_price=Decimal("98.00")))
    assert o.status == "TRIGGER PENDING"
    bar(x, 0, 100, 101, 98.5, 99)
    assert trades == [] and o.status == "TRIGGER PENDING"
    bar(x, 1, 99, 99, 97, 97.5)
    assert trades[0].price == Decimal("98.00")
    x2, trades2, _ = ex()
    place(x2, sell(ot="SL-M", trigger_price=Decimal("98.00")))
    bar(x2, 0, 96.5, 97, 95, 96)  # gap down through the trigger
    assert trades2[0].price == Decimal("96.50")


def test_sl_limit_rests_when_the_price_gaps_past_its_limit():
    x, trades, _ = ex()
    o = place(x, buy(ot="SL", trigger_price=Decimal("101.00"), price=Decimal("101.50")))
    bar(x, 0, 103, 104, 102.5, 103)  # triggers at the open 103, above the limit: rests as a limit
    assert trades == [] and o.status == "OPEN" and o.triggered
    bar(x, 1, 102.5, 102.8, 101.2, 101.6)  # trades through 101.50
    assert trades[0].price == Decimal("101.50")


def test_participation_cap_splits_the_order_into_partial_fills():
    x, trades, updates = ex(participation=0.1)
    o = place(x, buy(qty=250))
    bar(x, 0, 100, 101, 99, 100, v=1000)  # 10 % of 1,000 = 100
    bar(x, 1, 100.5, 101, 100, 100.5, v=1000)
    assert [t.quantity for t in trades] == [100, 100] and o.status == "OPEN" and o.filled == 200
    bar(x, 2, 101, 101, 100, 100.5, v=1000)
    assert [t.quantity for t in trades] == [100, 100, 50] and o.status == "COMPLETE"


def test_a_minute_without_trades_fills_nothing():
    x, trades, _ = ex(participation=0.1)
    place(x, buy())
    bar(x, 0, 100, 100, 100, 100, v=500)
    trades.clear()
    place(x, buy())
    bar(x, 1, 100, 100, 100, 100, v=0)
    assert trades == []


def test_ioc_gets_one_chance():
    x, trades, updates = ex()
    o = place(x, buy(ot="LIMIT", price=Decimal("99.00"), validity="IOC"))
    bar(x, 0, 100, 101, 99.5, 100)
    assert trades == [] and o.status == "CANCELLED"


@pytest.mark.parametrize("model, expect", [("fixed_bps", "100.10"), ("spread", "100.05"), ("none", "100.00")])
def test_slippage_is_always_against_the_trader_and_on_the_tick_grid(model, expect):
    x, trades, _ = ex(slippage=SlippageConfig(model=model, bps=10, spread_ticks=2))
    place(x, buy())
    bar(x, 0, 100, 101, 99, 100)
    assert trades[0].price == Decimal(expect)
    x, trades, _ = ex(slippage=SlippageConfig(model=model, bps=10, spread_ticks=2))
    place(x, sell())
    bar(x, 0, 100, 101, 99, 100)
    assert trades[0].price == Decimal("200.00") - Decimal(expect)


def test_volume_impact_grows_with_order_size():
    prices = []
    for q in (10, 1000):
        x, trades, _ = ex(slippage=SlippageConfig(model="volume_impact", bps=0, impact_bps=100))
        place(x, buy(qty=q))
        bar(x, 0, 1000, 1001, 999, 1000, v=10_000)
        prices.append(trades[0].price)
    assert prices[0] < prices[1]


def test_limit_never_fills_beyond_its_limit_even_with_slippage():
    x, trades, _ = ex(slippage=SlippageConfig(model="fixed_bps", bps=500))
    place(x, buy(ot="LIMIT", price=Decimal("100.20")))
    bar(x, 0, 100, 101, 99, 100)
    assert trades[0].price == Decimal("100.20")


def test_seeded_noise_is_reproducible():
    def run():
        x, trades, _ = ex(slippage=SlippageConfig(model="fixed_bps", bps=1, noise_bps=20), seed=7)
        for i in range(5):
            place(x, buy())
            bar(x, i, 100 + i, 101 + i, 99 + i, 100 + i)
        return [t.price for t in trades]

    assert run() == run()
