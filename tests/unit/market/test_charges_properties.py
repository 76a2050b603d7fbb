"""Property tests of the charges engine: never negative, caps hold, each side pays its own."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.market import ChargeSegment, ContractNote, fill_charges, round_trip
from tradekit.market.charges import _compose, charges_exchange, fill_key, order_brokerage, rates_on
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


@SETTINGS
@given(segments, exchanges, days, st.lists(st.tuples(st.sampled_from(list(Side)), st.integers(1, 200_000),
                                                     st.sampled_from([D(0)]) | prices, st.sampled_from([None, "1", "2"]),
                                                     st.sampled_from(["A", "B"]), st.sampled_from([1, 1, 1000])),
                                           min_size=1, max_size=10))
def test_a_note_is_what_composing_its_fills_from_scratch_gives(seg, ex, d, trades):
    """The note's running totals and its rates resolved once give what ``_compose`` gives on the
    day's totals, with ``order_brokerage`` on each order's total value (the Decimal reference)."""
    note = ContractNote(seg, ex, d)
    for side, q, p, order, sym, mult in trades:
        note.add(side, q, p, order_id=order, symbol=sym, multiplier=mult)
    rates = rates_on(d)
    orders: dict = {}
    buy = sell = D(0)
    for i, (side, q, p, order, sym, mult) in enumerate(trades):
        v = p * q * mult
        key = order if order is not None else fill_key(i)
        orders[key] = orders.get(key, D(0)) + v
        if side is Side.BUY:
            buy += v
        else:
            sell += v
    dp_scrips = {sym for side, q, p, _, sym, _ in trades if side is Side.SELL and p > 0}
    dp = rates.get("dp") * len(dp_scrips) if seg is ChargeSegment.EQUITY_DELIVERY else D(0)
    brk = sum((order_brokerage(rates, seg, v) for v in orders.values()), D(0))
    want = _compose(rates, seg, charges_exchange(seg, ex), buy, sell, brk, dp, to_rupee=True)
    assert repr(note.charges) == repr(want)
    assert note.orders == len(orders) and note.fills == len(trades)


def test_a_fill_without_an_order_id_never_shares_an_order_ids_brokerage():
    """A fill without an order id is an order of its own under a key no order id can be (the note and
    the day's equity notes use the one ``fill_key``): an order literally named "#fill0" after it is a
    second order with its own brokerage, not the same one."""
    from tradekit.execution.costs import FillCosts
    from tradekit.session import _default_instruments

    d = date(2026, 11, 20)
    note = ContractNote(ChargeSegment.EQUITY_INTRADAY, "NSE", d)
    note.add(Side.BUY, 10, D("100"), symbol="NSE:INFY")
    note.add(Side.BUY, 10, D("100"), order_id="#fill0", symbol="NSE:INFY")
    assert note.orders == 2 and note.charges.brokerage == 2 * order_brokerage(rates_on(d), ChargeSegment.EQUITY_INTRADAY, D(1000))
    costs = FillCosts()
    inst = _default_instruments().get("NSE", "INFY")
    costs(inst, "MIS", Side.BUY, 10, D("100"), d)
    costs(inst, "MIS", Side.BUY, 10, D("100"), d, "#fill0")
    assert costs.equity_day(inst.exchange, d).intraday.orders == 2
