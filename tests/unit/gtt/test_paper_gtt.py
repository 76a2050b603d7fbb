"""The paper broker's GTT emulation (what kite-sim serves too): property tests on price paths.

A GTT fires at most once, only when the last price reaches its trigger from the side it was
placed on (a gap past it counts), and a two-leg GTT fires exactly one leg: the first reached.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.clock import IST, SimClock
from tradekit.errors import BrokerRejected
from tradekit.model.enums import Side
from tradekit.model.gtt import GttLeg, GttRequest, GttStatus

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=IST)
REF = Decimal(1000)


def broker():
    from tradekit.brokers.paper import PaperBroker
    from tradekit.session import _default_instruments

    return PaperBroker(SimClock(T0), _default_instruments())


def single(trigger, side=Side.SELL, product="CNC"):
    return GttRequest("NSE", "INFY", (trigger,), (GttLeg(side, 1, trigger, product),), REF)


def oco(lo, hi):
    return GttRequest("NSE", "INFY", (lo, hi), (GttLeg(Side.SELL, 1, lo, "CNC"), GttLeg(Side.SELL, 1, hi, "CNC")), REF)


prices = st.lists(st.integers(min_value=8000, max_value=12000).map(lambda x: Decimal(x) / 10), min_size=1, max_size=40)
far = st.integers(min_value=3, max_value=150)  # trigger distance in ₹ (0.25% of 1000 is 2.5)


def gtt_orders(b):
    return [o for o in b.orders() if not o.tag]


@settings(max_examples=150, deadline=None)
@given(path=prices, dist=far, up=st.booleans())
def test_a_single_gtt_fires_once_on_the_first_crossing(path, dist, up):
    b = broker()
    t = REF + dist if up else REF - dist
    gid = b.place_gtt(single(t))
    fired_at = []
    for i, px in enumerate(path):
        if b.gtt_on_price("NSE:INFY", px):
            fired_at.append(i)
    crossed = [i for i, px in enumerate(path) if (px >= t if up else px <= t)]
    assert fired_at == crossed[:1]  # at most once, at the first price at or past the trigger
    g = b.get_gtt(gid)
    assert (g.status is GttStatus.TRIGGERED) == bool(crossed)
    assert len(gtt_orders(b)) == len(fired_at)
    if crossed:
        assert g.fired[1].triggered_at == path[crossed[0]] and g.fired[1].order_id == gtt_orders(b)[0].broker_order_id


@settings(max_examples=150, deadline=None)
@given(path=prices, below=far, above=far)
def test_an_oco_fires_exactly_one_leg_the_first_reached(path, below, above):
    b = broker()
    lo, hi = REF - below, REF + above
    gid = b.place_gtt(oco(lo, hi))
    fired = []
    for px in path:
        fired += [leg for _, leg, _ in b.gtt_on_price("NSE:INFY", px)]
    first = next(((0 if px <= lo else 1) for px in path if px <= lo or px >= hi), None)
    assert fired == ([] if first is None else [first])
    g = b.get_gtt(gid)
    results = [leg.result for leg in g.request.legs]
    assert sum(r is not None for r in results) == (0 if first is None else 1)
    assert len(gtt_orders(b)) == len(fired)
    if first is not None:
        o = gtt_orders(b)[0]
        assert o.order_type.value == "LIMIT" and o.price == g.request.legs[first].price and o.side is Side.SELL


def test_rules_disabled_two_leg_straddle_products_limit_and_expiry():
    b = broker()
    b.gtt_on_price("NSE:INFY", "1000")
    near = b.place_gtt(single(Decimal(1002)))  # 0.2% away: accepted, disabled
    assert b.get_gtt(near).status is GttStatus.DISABLED
    b.gtt_on_price("NSE:INFY", "1003")
    assert b.get_gtt(near).status is GttStatus.DISABLED and not gtt_orders(b)  # a disabled GTT never fires
    with pytest.raises(BrokerRejected, match="between the two trigger values"):
        b.place_gtt(oco(Decimal(1005), Decimal(1100)))  # the last price 1003 is below both
    with pytest.raises(BrokerRejected, match="takes CNC, not NRML"):
        b.place_gtt(single(Decimal(900), product="NRML"))
    with pytest.raises(BrokerRejected, match="Tick size"):
        b.place_gtt(single(Decimal("900.01")))
    gid = b.place_gtt(single(Decimal(900)))
    b.delete_gtt(gid)
    with pytest.raises(BrokerRejected, match="deleted and cannot be modified"):
        b.modify_gtt(gid, single(Decimal(901)))
    keep = b.place_gtt(single(Decimal(800)))
    b.clock.set(T0 + timedelta(days=366))
    assert b.get_gtt(keep).status is GttStatus.EXPIRED
    b.gtt_on_price("NSE:INFY", "700")
    assert not gtt_orders(b)


def test_at_most_250_active(monkeypatch):
    b = broker()
    b.gtt_on_price("NSE:INFY", "1000")
    ids = [b.place_gtt(single(Decimal(900) - i)) for i in range(b.gtt_book.rules.max_active)]
    with pytest.raises(BrokerRejected, match="at most 250 active"):
        b.place_gtt(single(Decimal(500)))
    b.delete_gtt(ids[0])
    b.place_gtt(single(Decimal(500)))


def test_a_fired_sell_without_the_shares_is_refused_by_the_rms_as_kite_does():
    b = broker()
    gid = b.place_gtt(single(Decimal(950)))
    b.gtt_on_price("NSE:INFY", "949")
    res = b.get_gtt(gid).fired[1]
    assert res.ok is False and "Insufficient holdings" in res.rejection_reason


@settings(max_examples=100, deadline=None)
@given(px=st.floats(min_value=0.05, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_a_noted_tick_price_is_the_decimal_of_its_shortest_repr(px):
    """A float the hub notes is kept as it is and converted only when read: what a GTT placement
    checks against is exactly the Decimal the old per-tick conversion made (``dec(repr(px))``)."""
    from tradekit.model.money import dec

    b = broker()
    b.gtt_book.note_price("NSE:INFY", px)
    assert b.gtt_book._noted("NSE:INFY") == dec(repr(px))
    assert str(b.gtt_book._noted("NSE:INFY")) == str(dec(repr(px)))
    b.gtt_book.note_price("NSE:INFY", Decimal("1000.5"))  # a Decimal (kite-sim) is kept as one
    assert str(b.gtt_book._noted("NSE:INFY")) == "1000.5"


def test_a_noted_tick_price_that_is_not_finite_is_refused_at_once():
    from tradekit.errors import ValidationError

    b = broker()
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValidationError, match="not a finite number"):
            b.gtt_book.note_price("NSE:INFY", bad)
    assert b.gtt_book._noted("NSE:INFY") is None
    assert not b.gtt_book.watches("NSE:INFY")  # no GTT at all
