"""Tick-level paper fills: market orders take the displayed depth, limits fill on trades through them,
partial fills follow the traded volume. Examples, then hypothesis properties for the invariants."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.brokers.paper.config import SlippageConfig
from tradekit.clock import dt_to_ns
from tradekit.data.types import DepthLevel, Tick
from tests.unit.paper.test_exchange import KEY, T0, buy, ex, place, sell

D = Decimal


def tick(sec, price, volume=None, bids=(), asks=(), mode="full"):
    return Tick(KEY, T0 + timedelta(seconds=sec), price, 408065, mode, volume=volume,
                bids=tuple(DepthLevel(p, q, 1) for p, q in bids), asks=tuple(DepthLevel(p, q, 1) for p, q in asks))


BOOK = dict(bids=[(99.95, 10), (99.90, 20), (99.85, 30)], asks=[(100.05, 10), (100.10, 20), (100.15, 30)])


def fills(trades):
    return [(t.quantity, t.price) for t in trades]


def test_market_buy_walks_the_asks_one_trade_per_level():
    x, trades, _ = ex(depth_participation=0)  # no cap: the walk itself
    o = place(x, buy(qty=25))
    x.on_tick(tick(1, 100.0, 5000, **BOOK))
    assert fills(trades) == [(10, D("100.05")), (15, D("100.10"))] and o.status == "COMPLETE"
    assert o.average_price == D("100.0800")


def test_market_sell_walks_the_bids_and_the_rest_waits_for_the_next_tick():
    x, trades, _ = ex(depth_participation=0)  # no cap: the walk itself
    o = place(x, sell(qty=70))
    x.on_tick(tick(1, 100.0, 5000, **BOOK))
    assert fills(trades) == [(10, D("99.95")), (20, D("99.90")), (30, D("99.85"))] and o.status == "OPEN"
    x.on_tick(tick(2, 99.9, 5000, bids=[(99.80, 50)], asks=[(99.95, 5)]))
    assert fills(trades)[-1] == (10, D("99.80")) and o.status == "COMPLETE"


def test_depth_is_shared_by_the_orders_of_one_tick():
    x, trades, _ = ex(depth_participation=0)  # no cap: the walk itself
    place(x, buy(qty=8))
    place(x, buy(qty=8))
    x.on_tick(tick(1, 100.0, 5000, **BOOK))
    assert fills(trades) == [(8, D("100.05")), (2, D("100.05")), (6, D("100.10"))]


def test_slippage_is_added_to_each_level_and_rounded_adverse():
    x, trades, _ = ex(slippage=SlippageConfig(model="fixed_bps", bps=2))
    place(x, buy(qty=15))
    x.on_tick(tick(1, 100.0, 5000, **BOOK))
    assert fills(trades) == [(10, D("100.10")), (5, D("100.15"))]  # 100.05 + 0.02001 -> 100.10


def test_the_spread_model_adds_nothing_to_a_quoted_fill():
    x, trades, _ = ex(slippage=SlippageConfig(model="spread", spread_ticks=2))
    place(x, buy(qty=5))
    x.on_tick(tick(1, 100.0, 5000, **BOOK))
    assert fills(trades) == [(5, D("100.05"))]


def test_market_protection_stops_the_walk():
    x, trades, _ = ex(depth_participation=0)  # no cap: the walk itself
    o = place(x, buy(qty=60, mp=Decimal("0.06")))  # 100.05 + 0.06 % = 100.11: levels up to 100.10
    x.on_tick(tick(1, 100.0, 5000, **BOOK))
    assert fills(trades) == [(10, D("100.05")), (20, D("100.10"))] and o.remaining == 30


def test_an_order_fills_only_on_ticks_after_it_arrived():
    x, trades, _ = ex(latency_ms=500)
    place(x, buy(qty=5), at=T0 + timedelta(seconds=1))
    x.on_tick(tick(1, 100.0, 5000, **BOOK))  # at the placement instant: the order is still travelling
    assert trades == []
    x.on_tick(tick(2, 100.0, 5000, **BOOK))
    assert fills(trades) == [(5, D("100.05"))]


def test_a_resting_limit_fills_at_its_limit_when_a_trade_goes_through_it_capped_by_volume():
    x, trades, _ = ex(participation=0.1)
    book = dict(bids=[(99.45, 100)], asks=[(99.55, 100)])
    o = place(x, buy(qty=300, ot="LIMIT", price=D("99.50")))
    x.on_tick(tick(1, 99.60, 10_000, **book))  # first tick: not marketable (ask 99.55 > 99.50)
    assert trades == []
    x.on_tick(tick(2, 99.50, 11_000, **book))  # trades at the limit: touching is not enough
    assert trades == []
    x.on_tick(tick(3, 99.45, 12_000, **book))  # 1,000 traded through it: 10 % = 100
    assert fills(trades) == [(100, D("99.50"))]
    x.on_tick(tick(4, 99.40, 12_000, **book))  # no new volume: no trade, no fill
    assert len(trades) == 1
    x.on_tick(tick(5, 99.40, 15_000, **book))
    assert fills(trades)[-1] == (200, D("99.50")) and o.status == "COMPLETE"


def test_a_marketable_limit_takes_the_book_up_to_its_limit_then_rests():
    x, trades, _ = ex()
    o = place(x, buy(qty=25, ot="LIMIT", price=D("100.05")))
    x.on_tick(tick(1, 100.0, 5000, **BOOK))
    assert fills(trades) == [(10, D("100.05"))] and o.status == "OPEN" and o.remaining == 15


def test_stops_trigger_on_trades_only():
    x, trades, _ = ex()
    o = place(x, sell(qty=5, ot="SL-M", trigger_price=D("98.00")))
    x.on_tick(tick(1, 98.5, 1000, bids=[(98.45, 50)], asks=[(98.55, 50)]))
    x.on_tick(tick(2, 97.9, 1000, bids=[(97.85, 50)], asks=[(97.95, 50)]))  # last price below, but no new trade
    assert trades == [] and not o.triggered
    x.on_tick(tick(3, 97.9, 1200, bids=[(97.85, 50)], asks=[(97.95, 50)]))
    assert o.triggered and fills(trades) == [(5, D("97.85"))]


def test_ltp_ticks_without_depth_or_volume_fill_at_the_last_price_uncapped():
    x, trades, _ = ex(participation=0.1, slippage=SlippageConfig(model="fixed_bps", bps=10))
    place(x, buy(qty=1000))
    x.on_tick(Tick(KEY, None, 100.0, mode="ltp"), dt_to_ns(T0 + timedelta(seconds=1)))
    assert fills(trades) == [(1000, D("100.10"))]


def test_ioc_gets_one_tick():
    x, trades, _ = ex()
    o = place(x, buy(qty=50, ot="LIMIT", price=D("100.05"), validity="IOC"))
    x.on_tick(tick(1, 100.0, 5000, **BOOK))
    assert fills(trades) == [(10, D("100.05"))] and o.status == "CANCELLED"


def test_a_large_market_order_fills_over_ticks_as_liquidity_allows():
    x, trades, updates = ex(depth_participation=0.25)
    o = place(x, buy(qty=100))
    x.on_tick(tick(1, 100.0, 5000, **BOOK))  # 60 shown, nothing traded yet: 25 % of 60 = 15
    assert fills(trades) == [(10, D("100.05")), (5, D("100.10"))] and o.status == "OPEN" and o.remaining == 85
    x.on_tick(tick(2, 100.0, 5200, **BOOK))  # 200 traded since: 25 % of 200 = 50
    assert sum(q for q, _ in fills(trades)) == 65 and o.status == "OPEN"
    x.on_tick(tick(3, 100.1, 5200, bids=[(100.05, 10)], asks=[(100.15, 400)]))  # 400 shown: 100, 35 left
    assert o.status == "COMPLETE" and sum(q for q, _ in fills(trades)) == 100
    assert fills(trades)[-1] == (35, D("100.15"))
    assert [u for u in updates if u[0] == "OPEN"][-1][1] == 65  # every partial fill is an order update


def test_the_cap_is_shared_by_the_orders_of_one_tick():
    x, trades, _ = ex(depth_participation=0.5)
    a, b = place(x, buy(qty=20)), place(x, buy(qty=20))
    place(x, sell(qty=5))
    x.on_tick(tick(1, 100.0, 5000, **BOOK))  # 30 of 60 asks for the buyers; the seller has its own side
    assert (a.filled, b.filled) == (20, 10) and sum(f.quantity for f in trades if f.order.request.side.value == "SELL") == 5


def test_depth_participation_is_validated_and_zero_is_no_cap():
    import pytest
    from pydantic import ValidationError as PydanticError

    from tradekit.brokers.paper.config import PaperConfig

    with pytest.raises(PydanticError, match="depth_participation"):
        PaperConfig(depth_participation=1.5)
    assert PaperConfig().depth_participation == 0.25


# -- properties ----------------------------------------------------------------------------------

TICK = 5  # 0.05 in paise


@st.composite
def sessions(draw, depth: bool):
    n = draw(st.integers(2, 25))
    mid = draw(st.integers(1800, 2200))  # in 0.05 steps
    vol = draw(st.integers(0, 10_000))
    out = []
    for i in range(n):
        mid = max(20, mid + draw(st.integers(-3, 3)))
        vol += draw(st.sampled_from([0, 0, 10, 100, 1000, 5000]))
        last = (mid + draw(st.integers(-1, 1))) * 0.05
        bids = asks = ()
        if depth and draw(st.booleans()):
            nb, na = draw(st.integers(0, 5)), draw(st.integers(0, 5))
            bids = tuple(((mid - 1 - k) * 0.05, draw(st.integers(1, 500))) for k in range(nb))
            asks = tuple(((mid + 1 + k) * 0.05, draw(st.integers(1, 500))) for k in range(na))
        out.append(tick(i + 1, round(last, 2), vol, bids=bids, asks=asks))
    orders = draw(st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(["BUY", "SELL"]),
                                     st.sampled_from(["MARKET", "LIMIT"]), st.integers(1, 2000), st.integers(-6, 6)),
                           max_size=8))
    return out, orders


def run(ticks, orders, participation, slippage, depth_participation=0.25):
    x, trades, _ = ex(participation=participation, slippage=slippage, depth_participation=depth_participation)
    per_tick, placed = [], []
    for i, t in enumerate(ticks):
        for (at, side, ot, qty, off) in orders:
            if at == i:
                mk = buy if side == "BUY" else sell
                kw = {"price": D(str(round(t.last_price + off * 0.05, 2)))} if ot == "LIMIT" else {}
                req = mk(qty=qty, ot=ot, **kw)
                o = place(x, req, at=t.ts - timedelta(milliseconds=1))
                placed.append(o)
        before = len(trades)
        x.on_tick(t)
        per_tick.append(trades[before:])
    return per_tick, placed


@settings(max_examples=150, deadline=None)
@given(sessions(depth=False), st.sampled_from([0.05, 0.1, 0.5, 1.0]),
       st.sampled_from([SlippageConfig(model="none"), SlippageConfig(model="fixed_bps", bps=3, noise_bps=2)]))
def test_property_without_depth_volume_caps_and_limits_hold(sess, participation, slippage):
    ticks, orders = sess
    per_tick, placed = run(ticks, orders, participation, slippage)
    prev = None
    for t, got in zip(ticks, per_tick):
        traded = t.volume - prev if prev is not None else 0
        prev = t.volume
        assert sum(f.quantity for f in got) <= math.floor(participation * traded)  # never more than volume × participation
        for f in got:
            req = f.order.request
            ltp = D(str(t.last_price))
            if req.side.value == "BUY":
                assert f.price >= min(ltp, req.price or ltp)  # never better than the market (or the limit, if better)
                assert req.price is None or f.price <= req.price  # a limit is never violated
            else:
                assert f.price <= max(ltp, req.price or ltp)
                assert req.price is None or f.price >= req.price
            assert (f.price * 100) % 5 == 0  # on the tick grid
    for o in placed:
        assert 0 <= o.filled <= o.request.quantity


@settings(max_examples=150, deadline=None)
@given(sessions(depth=True), st.sampled_from([0.1, 1.0]))
def test_property_depth_fills_never_beat_the_quote_nor_exceed_it(sess, participation):
    ticks, orders = sess
    per_tick, placed = run(ticks, orders, participation, SlippageConfig(model="none"))
    prev = None
    for t, got in zip(ticks, per_tick):
        traded = t.volume - prev if prev is not None else 0
        prev = t.volume
        shown = {("BUY", D(str(round(p, 2)))): q for p, q, _ in t.asks} | {("SELL", D(str(round(p, 2)))): q for p, q, _ in t.bids}
        taken: dict = {}
        passive = 0
        for f in got:
            req = f.order.request
            side = req.side.value
            if req.price is not None:
                assert f.price <= req.price if side == "BUY" else f.price >= req.price  # a limit is never violated
            if (side, f.price) in shown and (req.order_type.value == "MARKET" or f.price != req.price or t.asks or t.bids):
                taken[(side, f.price)] = taken.get((side, f.price), 0) + f.quantity
            else:
                passive += f.quantity
            if side == "BUY" and t.asks:
                assert f.price >= D(str(round(t.asks[0].price, 2))) or f.price == req.price  # never better than the best ask
            if side == "SELL" and t.bids:
                assert f.price <= D(str(round(t.bids[0].price, 2))) or f.price == req.price
        for k, q in taken.items():
            assert q <= shown[k] + math.floor(participation * traded)  # a level gives at most what it shows
        assert passive <= math.floor(participation * traded)


@settings(max_examples=150, deadline=None)
@given(sessions(depth=True), st.sampled_from([0.05, 0.25, 0.5, 1.0]))
def test_property_market_orders_respect_the_tick_cap_and_add_up(sess, cap):
    """Per tick and side, aggressive fills <= cap x max(displayed quantity, volume traded since the
    previous tick); an order never fills more than its quantity; a COMPLETE order's fills add up
    to its quantity exactly."""
    ticks, orders = sess
    per_tick, placed = run(ticks, orders, 1.0, SlippageConfig(model="none"), depth_participation=cap)
    prev = None
    for t, got in zip(ticks, per_tick):
        traded = t.volume - prev if prev is not None else 0
        prev = t.volume
        for side, lv in (("BUY", t.asks), ("SELL", t.bids)):
            if not lv:
                continue
            aggressive = sum(f.quantity for f in got if f.order.request.side.value == side
                             and f.order.request.order_type.value == "MARKET")
            assert aggressive <= math.floor(cap * max(sum(q for _, q, _ in lv), traded))
    by_order: dict = {}
    for got in per_tick:
        for f in got:
            by_order.setdefault(id(f.order), []).append(f.quantity)
    for o in placed:
        assert 0 <= o.filled <= o.request.quantity
        assert sum(by_order.get(id(o), [])) == o.filled
        if o.status == "COMPLETE":
            assert o.filled == o.request.quantity
