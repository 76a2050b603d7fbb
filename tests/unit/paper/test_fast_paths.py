"""The paper broker's shortcuts give exactly what the long way gives (issue 20: replay speed).

- Prices against the trader are computed in integers (numerator / denominator of the slippage)
  instead of Fraction arithmetic: the same tick for any reference price, slippage and tick.
- The price band is remembered per (symbol, previous close, band %, tick): the same limits, to
  the exponent, as computing them again.
- The margin of an order is remembered for the last inputs: the same figure as the margin model's.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.brokers.paper.broker import PaperBroker
from tradekit.brokers.paper.config import PaperConfig, SlippageConfig
from tradekit.brokers.paper.exchange import SimExchange, SimOrder
from tradekit.clock import IST, SimClock
from tradekit.market.instruments import InstrumentStore
from tradekit.model import OrderRequest

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=IST)


def reference_adverse(ref_units: int, slip: Fraction, buy: bool, tick_units: int) -> int:
    tick = max(1, tick_units)
    if buy:
        return math.ceil((ref_units + Fraction(slip)) / tick) * tick
    return math.floor((ref_units - Fraction(slip)) / tick) * tick


SLIPS = st.one_of(st.integers(-500, 500), st.fractions(min_value=-500, max_value=500, max_denominator=10**6),
                  st.floats(0, 50, allow_nan=False).map(Fraction))


@settings(max_examples=500, deadline=None)
@given(ref=st.integers(1, 10**9), slip=SLIPS, buy=st.booleans(), tick=st.integers(0, 5000))
def test_integer_adverse_equals_fraction_arithmetic(ref, slip, buy, tick):
    ORDER.tick_units = tick
    assert EXCHANGE._adverse(ORDER, ref, slip, buy) == reference_adverse(ref, slip, buy, tick)


EXCHANGE = SimExchange(PaperConfig(slippage=SlippageConfig(model="none")))
ORDER = SimOrder("1", "t", OrderRequest("NSE", "INFY", "BUY", 1, "MARKET", "MIS", market_protection=-1), "NSE:INFY", T0, 0, 1)


@settings(max_examples=60, deadline=None)
@given(model=st.sampled_from(["none", "fixed_bps", "spread", "volume_impact"]), noise=st.sampled_from([0.0, 1.5]),
       ref=st.integers(10_000, 10**8), qty=st.integers(1, 10_000), v=st.integers(0, 10**6), quoted=st.booleans())
def test_slippage_is_the_same_number(model, noise, ref, qty, v, quoted):
    cfg = PaperConfig(slippage=SlippageConfig(model=model, noise_bps=noise, bps=2.5, spread_ticks=1.5, impact_bps=40))
    a, b = SimExchange(cfg), SimExchange(cfg)  # same seed: the same noise
    order = SimOrder("1", "t", OrderRequest("NSE", "INFY", "BUY", qty, "MARKET", "MIS", market_protection=-1), "NSE:INFY",
                     T0, 0, 500)
    got = a._slip(order, ref, qty, v, quoted=quoted)
    if model == "none" or (model == "spread" and quoted):
        want = Fraction(0) + (b._noise(ref) if noise else Fraction(0))
    else:
        want = b._slip(order, ref, qty, v, quoted=quoted)
    assert Fraction(got) == Fraction(want)


STORE = InstrumentStore.bundled()


def _broker() -> PaperBroker:
    return PaperBroker(SimClock(T0), STORE, capital=10_000_000)


def _fresh_band(b: PaperBroker, inst):
    saved = dict(b._bands)
    b._bands.clear()
    try:
        return b._band(inst)
    finally:
        b._bands.clear()
        b._bands.update(saved)


@settings(max_examples=120, deadline=None)
@given(closes=st.lists(st.floats(1, 50_000, allow_nan=False).map(lambda f: round(f, 2)), min_size=1, max_size=6),
       pcts=st.lists(st.sampled_from([Decimal(20), Decimal("20.0"), Decimal(10), Decimal("2.5")]), min_size=1,
                     max_size=6))
def test_remembered_band_equals_a_fresh_one(closes, pcts):
    b = _broker()
    inst = b.instruments.get("NSE", "INFY")
    for i, close in enumerate(closes * 2):
        b.set_previous_close(inst.key, close)
        b.config = b.config.model_copy(update={"band_pct": pcts[i % len(pcts)]})
        got, want = b._band(inst), _fresh_band(b, inst)
        assert [(x, x.as_tuple()) for x in got] == [(x, x.as_tuple()) for x in want]


@settings(max_examples=120, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from(["INFY", "RELIANCE", "TCS"]), st.sampled_from(["BUY", "SELL"]),
                                st.sampled_from(["CNC", "MIS", "NRML"]), st.integers(1, 500),
                                st.sampled_from([None, Decimal("1500.05"), Decimal("1500.050"), Decimal("99.5")]),
                                st.sampled_from([None, 1500.05, 2410.0])), min_size=1, max_size=12))
def test_remembered_margin_equals_the_models(steps):
    b = _broker()
    for sym, side, product, qty, price, last in steps:
        inst = b.instruments.get("NSE", sym)
        if last is not None:
            b.exchange.last_price[inst.key] = last
        req = OrderRequest(inst.exchange, inst.tradingsymbol, side, qty * inst.lot_size, "LIMIT" if price else "MARKET",
                           product, price=price,
                           market_protection=None if price else -1)
        for q in (None, qty):
            got = b._order_margin(inst, req, q)
            want = b.margin.required(inst, req.product, req.side, req.quantity if q is None else q, b._ref_price(inst, req))
            assert (got, got.as_tuple()) == (want, want.as_tuple())


def _reference_utilised(b: PaperBroker) -> Decimal:
    """utilised() as it was written before its one-pass form (two sums over the positions)."""
    from tradekit.brokers.paper.broker import _NO_MARGIN
    from tradekit.model.enums import Product
    from tradekit.model.money import ZERO

    pm = ZERO
    for p in b._positions.values():
        q = p.quantity
        if q == 0 or p.product is Product.CNC:
            pm = pm + _NO_MARGIN
        else:
            pm = pm + b.margin.position_margin(b._inst(p), p.product, q, p.average_price)
    spent = sum((p.open_value * p.multiplier for p in b._positions.values() if p.product is not Product.CNC), ZERO)
    return sum(b._blocked.values(), ZERO) + pm - spent


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["INFY", "TCS", "RELIANCE"]), st.sampled_from(["MIS", "CNC", "NRML"]),
                          st.sampled_from(["BUY", "SELL"]), st.integers(1, 50), st.integers(10_000, 40_000),
                          st.booleans()), max_size=12))
def test_one_pass_utilised_equals_the_two_sums(steps):
    """Positions of every product (flat ones too) and orders still working: the same figure, to the exponent."""
    from tradekit.clock import dt_to_ns

    b = _broker()
    ns = dt_to_ns(T0)
    for i, (sym, prod, side, qty, px, fill) in enumerate(steps):
        b.set_previous_close(f"NSE:{sym}", px / 20)
        b.place_order(f"T{i}", OrderRequest("NSE", sym, side, qty, "LIMIT", prod, price=Decimal(px) / 20))
        if fill:
            b.on_bar(f"NSE:{sym}", ns + i * 60_000_000_000, ns + (i + 1) * 60_000_000_000, px / 20, px / 20 + 1,
                     px / 20 - 1 - (1 if side == "BUY" else 0), px / 20, 0)
        assert repr(b.utilised()) == repr(_reference_utilised(b))


@settings(max_examples=200, deadline=None)
@given(units=st.integers(0, 10**7), places=st.integers(0, 6))
def test_tick_units_are_remembered_by_the_ticks_value(units, places):
    """A placement reads a tick's grid in 0.0001 units from a table keyed by the tick (a Decimal key is its
    value): equal ticks written with other exponents are equal keys and give the same units."""
    from tradekit.brokers.paper.exchange import to_units

    tick = Decimal(units).scaleb(-4)
    same = tick.quantize(Decimal(1).scaleb(-4 - places))  # the same value, more places
    assert same == tick and hash(same) == hash(tick)
    assert to_units(same) == to_units(tick)
    b = _broker()
    b._tick_units[tick] = max(1, to_units(tick))
    assert b._tick_units[same] == max(1, to_units(same))


def test_an_orders_tick_units_are_its_instruments_tick():
    b = _broker()
    for sym in ("INFY", "TCS", "INFY"):
        oid = b.place_order(f"T{sym}", OrderRequest("NSE", sym, "BUY", 1, "MARKET", "MIS", market_protection=-1))
        inst = STORE.get("NSE", sym)
        assert b._orders[oid].tick_units == max(1, round(inst.tick_size * 10_000))
