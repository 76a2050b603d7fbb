"""Kite's iceberg variety in the paper broker: one leg live at a time, the next after the previous fills."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tradekit.brokers.paper import PaperBroker, PaperConfig
from tradekit.clock import IST, SimClock
from tradekit.market.instruments import InstrumentStore
from tradekit.model import OrderRequest

T0 = datetime(2026, 11, 20, 9, 15, tzinfo=IST)
KEY = "NSE:INFY"


class Listener:
    def __init__(self):
        self.trades, self.updates = [], []

    def on_order_update(self, row):
        self.updates.append(row)

    def on_trade(self, t):
        self.trades.append(t)


@pytest.fixture
def paper():
    clock = SimClock(T0)
    b = PaperBroker(clock, InstrumentStore.bundled(), capital=100_000_000,
                    config=PaperConfig(latency_ms=0, participation=0, slippage={"model": "none"}))
    b.on_bar(KEY, T0 - timedelta(minutes=1), T0, 1500, 1500, 1500, 1500, 1_000_000)
    lis = Listener()
    b.subscribe(lis)
    return b, clock, lis


def bar(b, clock, minute, price, volume=1_000_000):
    start = T0 + timedelta(minutes=minute)
    clock.set(start)
    b.on_bar(KEY, start, start + timedelta(minutes=1), price, price + 1, price - 1, price, volume)
    clock.set(start + timedelta(minutes=1))


def iceberg(qty=1000, legs=5, leg=200, **kw):
    return OrderRequest("NSE", "INFY", "BUY", qty, kw.pop("order_type", "LIMIT"), "CNC", price=kw.pop("price", Decimal("1501")),
                        variety="iceberg", iceberg_legs=legs, iceberg_quantity=leg, **kw)


def test_an_iceberg_releases_one_leg_at_a_time_each_after_the_previous_fills(paper):
    b, clock, lis = paper
    oid = b.place_order("TKICE1", iceberg())
    assert b._orders[oid].meta["iceberg"] == {"leg": 1, "legs": 5, "leg_quantity": 200, "total_quantity": 1000,
                                              "remaining_quantity": 1000, "leg_filled": 0}
    per_bar = []
    for m in range(6):
        n = len(lis.trades)
        bar(b, clock, m, 1500)  # plenty of volume: without legs the whole order would fill on the first bar
        per_bar.append(sum(t.quantity for t in lis.trades[n:]))
    assert per_bar == [200, 200, 200, 200, 200, 0]
    assert len({t.timestamp for t in lis.trades}) == 5  # five legs, five different minutes
    row = b.find_by_tag("TKICE1")
    assert row.status == "COMPLETE" and row.filled_quantity == 1000
    # between legs the order stays OPEN with its total quantity: one order id, as the OMS knows it
    assert [u.status for u in lis.updates if u.filled_quantity == 400][-1] == "OPEN"


def test_a_market_iceberg_also_goes_leg_by_leg_and_an_uneven_last_leg_takes_the_rest(paper):
    b, clock, lis = paper
    b.place_order("TKICE2", iceberg(qty=1000, legs=3, leg=334, order_type="MARKET", price=None, market_protection=Decimal(-1)))
    for m in range(4):
        bar(b, clock, m, 1500)
    assert [t.quantity for t in lis.trades] == [334, 334, 332]


def test_cancel_takes_the_legs_not_yet_released_down_too(paper):
    b, clock, lis = paper
    oid = b.place_order("TKICE3", iceberg())
    bar(b, clock, 0, 1500)
    b.cancel_order(oid)
    bar(b, clock, 1, 1500)
    assert sum(t.quantity for t in lis.trades) == 200 and b.find_by_tag("TKICE3").status == "CANCELLED"


@pytest.mark.parametrize("legs,leg,msg", [(5, 100, "do not cover"), (2, 2000, "more than the order quantity")])
def test_iceberg_legs_are_checked_like_kites_rms(paper, legs, leg, msg):
    b, _clock, _lis = paper
    b.place_order("TKICE4", iceberg(qty=1000, legs=legs, leg=leg))
    row = b.find_by_tag("TKICE4")
    assert row.status == "REJECTED" and msg in row.status_message
