"""Property tests of the charges engine: never negative, caps hold, each side pays its own."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.market import ChargeSegment, ContractNote, fill_charges, round_trip
from tradekit.model import CHARGE_COMPONENTS, Side

D = Decimal
segments = st.sampled_from(list(ChargeSegment))
exchanges = st.sampled_from(["NSE", "BSE"])
days = st.integers(0, (date(2026, 12, 31) - date(2020, 7, 1)).days).map(
    lambda n: date(2020, 7, 1) + timedelta(days=n)
)
prices = st.decimals(min_value=D("0.05"), max_value=D("150000"), places=2)
quantities = st.integers(1, 200_000)
SETTINGS = settings(max_examples=150, deadline=None)


def _nonneg(c):
    return all(getattr(c, k) >= 0 for k in CHARGE_COMPONENTS) and c.total >= 0


@SETTINGS
@given(segments, exchanges, quantities, prices, prices, days)
def test_round_trip_charges_are_never_negative_and_caps_hold(seg, ex, q, b, s, d):
    c = round_trip(seg, ex, q, b, s, d).charges
    assert _nonneg(c)
    assert c.brokerage <= 40  # ₹20 per order leg
    if seg is ChargeSegment.EQUITY_DELIVERY:
        assert c.brokerage == 0 and c.dp > 0
    else:
        assert c.dp == 0
    if seg.is_option:
        assert c.brokerage == 40
    assert c.total == sum((getattr(c, k) for k in CHARGE_COMPONENTS), D(0))


@SETTINGS
@given(segments, exchanges, quantities, prices, days)
def test_stamp_duty_only_on_the_buy_and_stt_on_the_sell_outside_delivery(seg, ex, q, p, d):
    sell_only = round_trip(seg, ex, q, 0, p, d).charges
    buy_only = round_trip(seg, ex, q, p, 0, d).charges
    assert sell_only.stamp_duty == 0
    assert sell_only.brokerage <= 20 and buy_only.brokerage <= 20
    assert buy_only.dp == 0  # DP only when a delivery sell happens
    if seg is not ChargeSegment.EQUITY_DELIVERY:
        assert buy_only.stt == 0


@SETTINGS
@given(segments, exchanges, st.sampled_from(list(Side)), quantities, prices, days, st.booleans())
def test_fill_charges_land_on_the_right_side(seg, ex, side, q, p, d, dp):
    c = fill_charges(seg, ex, side, q, p, d, dp=dp)
    assert _nonneg(c) and c.brokerage <= 20
    if side is Side.SELL:
        assert c.stamp_duty == 0
    elif seg is not ChargeSegment.EQUITY_DELIVERY:
        assert c.stt == 0
    if c.dp:
        assert seg is ChargeSegment.EQUITY_DELIVERY and side is Side.SELL and dp


fills = st.lists(
    st.tuples(
        st.sampled_from(list(Side)),
        st.integers(1, 5000),
        prices,
        st.integers(0, 4),
        st.sampled_from(["A", "B", "C"]),
    ),
    min_size=1,
    max_size=12,
)


@SETTINGS
@given(segments, exchanges, days, fills)
def test_contract_note_marginals_are_non_negative_and_add_up(seg, ex, d, trades):
    note = ContractNote(seg, ex, d)
    running = None
    for side, q, p, order, sym in trades:
        part = note.add(side, q, p, order_id=str(order), symbol=sym)
        assert _nonneg(part)
        running = part if running is None else running + part
    assert running == note.charges
    assert note.charges.brokerage <= 20 * note.orders
    if seg is not ChargeSegment.EQUITY_DELIVERY:
        assert note.charges.dp == 0
    if not any(side is Side.BUY for side, *_ in trades):
        assert note.charges.stamp_duty == 0
