"""The order state machine: legal paths, final states, and invariants under any broker input."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradekit.errors import IllegalTransition, ValidationError
from tradekit.model import (
    KITE_STATUS_MAP,
    MAX_MODIFICATIONS,
    TERMINAL,
    ClientOrderIdGenerator,
    Order,
    OrderRequest,
    OrderStatus,
    map_broker_status,
)

S = OrderStatus


def make_order(qty: int = 100, **kw) -> Order:
    req = OrderRequest("NSE", "INFY", "BUY", qty, "LIMIT", "MIS", price=Decimal("1500.05"), **kw)
    return Order("TK2611240000001", req, strategy="s1")


def submitted(qty: int = 100) -> Order:
    o = make_order(qty)
    o.transition(S.APPROVED)
    o.transition(S.SUBMITTED)
    return o


def state(o: Order):
    return (o.status, o.filled_quantity, o.average_price, o.broker_filled_quantity, o.broker_status,
            o.cancelled_quantity, o.request, o.modifications, len(o.history))


def test_kite_limit_order_history_walks_to_open_then_complete():
    # the statuses of fixture order_info.json, in order
    o = submitted()
    for st_ in ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "OPEN",
                "MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED", "OPEN"]:
        o.apply_broker_update(st_, broker_order_id="151220000000000")
    assert o.status is S.OPEN and o.broker_order_id == "151220000000000"
    o.apply_fill(40, Decimal("1500"))
    assert o.status is S.PARTIALLY_FILLED
    o.apply_broker_update("UPDATE", filled_quantity=40)
    assert o.status is S.PARTIALLY_FILLED
    o.apply_fill(60, Decimal("1500.10"))
    assert o.status is S.FILLED and o.filled_quantity == 100
    assert o.average_price == Decimal("1500.06")
    # the broker's COMPLETE after our fills is a no-op, not an error
    assert o.apply_broker_update("COMPLETE", filled_quantity=100) is S.FILLED


def test_sl_order_waits_in_trigger_pending_then_fills():
    req = OrderRequest("NSE", "SBIN", "SELL", 10, "SL", "MIS", price=Decimal("500"), trigger_price=Decimal("500.5"))
    o = Order("c1", req)
    o.transition(S.APPROVED); o.transition(S.SUBMITTED)
    o.apply_broker_update("TRIGGER PENDING")
    assert o.status is S.TRIGGER_PENDING
    o.apply_broker_update("OPEN")
    o.apply_broker_update("COMPLETE", filled_quantity=10)
    assert o.status is S.FILLED


def test_cancel_with_partial_fill_keeps_fills_and_releases_the_rest():
    o = submitted(100)
    o.apply_broker_update("OPEN")
    o.apply_fill(30, Decimal("1500"))
    o.apply_broker_update("CANCEL PENDING", filled_quantity=30)
    assert o.status is S.PENDING_CANCEL
    o.apply_broker_update("CANCELLED", filled_quantity=30)
    assert o.status is S.CANCELLED and o.cancelled_quantity == 70 and o.pending_quantity == 0


def test_fill_racing_a_cancel_is_booked_up_to_what_the_broker_filled():
    o = submitted(100)
    o.apply_broker_update("OPEN")
    o.apply_broker_update("CANCELLED", filled_quantity=20)  # the order book says 20 were filled
    o.apply_fill(20, Decimal("1500"))  # the trade arrives later
    assert o.status is S.CANCELLED and o.filled_quantity == 20
    with pytest.raises(IllegalTransition):
        o.apply_fill(1, Decimal("1500"))


@pytest.mark.parametrize("terminal", sorted(TERMINAL, key=lambda s: s.value))
def test_terminal_states_have_no_way_out(terminal):
    o = make_order()
    o.status = terminal
    for to in S:
        if to is terminal:
            continue
        before = state(o)
        with pytest.raises(IllegalTransition):
            o.transition(to)
        assert state(o) == before


def test_illegal_local_transition_is_refused_with_a_clear_message():
    o = make_order()
    with pytest.raises(IllegalTransition, match="CREATED -> FILLED is not allowed"):
        o.transition(S.FILLED)
    assert o.status is S.CREATED


def test_denied_order_cannot_be_filled_or_submitted():
    o = make_order()
    o.transition(S.DENIED, reason="position limit")
    with pytest.raises(IllegalTransition):
        o.apply_fill(1, Decimal("1"))
    with pytest.raises(IllegalTransition):
        o.transition(S.SUBMITTED)


def test_stale_update_with_less_filled_is_refused():
    o = submitted()
    o.apply_broker_update("OPEN", filled_quantity=50)
    before = state(o)
    with pytest.raises(IllegalTransition, match="stale"):
        o.apply_broker_update("OPEN", filled_quantity=10)
    assert state(o) == before


def test_unknown_broker_status_keeps_state_and_remembers_the_string():
    o = submitted()
    o.apply_broker_update("OPEN")
    assert map_broker_status("SOMETHING NEW") is None
    o.apply_broker_update("SOMETHING NEW")
    assert o.status is S.OPEN and o.broker_status == "SOMETHING NEW"


def test_modification_limit_is_respected():
    o = submitted()
    o.apply_broker_update("OPEN")
    for i in range(MAX_MODIFICATIONS):
        o.apply_modify(price=Decimal("1500") + i)
    with pytest.raises(IllegalTransition, match="cancel and place a new order"):
        o.apply_modify(price=Decimal("1400"))


def test_modify_cannot_go_below_filled():
    o = submitted()
    o.apply_broker_update("OPEN")
    o.apply_fill(60, Decimal("1500"))
    with pytest.raises(IllegalTransition, match="below the 60 already filled"):
        o.apply_modify(quantity=50)


# -- property tests --------------------------------------------------------------------------

statuses = st.sampled_from(sorted(KITE_STATUS_MAP) + ["WEIRD STATUS"])
actions = st.lists(
    st.one_of(
        st.tuples(st.just("update"), statuses, st.integers(-5, 130)),
        st.tuples(st.just("fill"), st.integers(-3, 60), st.decimals(min_value=1, max_value=5000, places=2)),
        st.tuples(st.just("modify"), st.integers(1, 150), st.none()),
        st.tuples(st.just("local"), st.sampled_from(list(S)), st.none()),
    ),
    max_size=40,
)


@given(actions)
def test_no_sequence_of_inputs_breaks_the_invariants(seq):
    o = submitted(100)
    final_seen = None
    for kind, a, b in seq:
        before = state(o)
        try:
            if kind == "update":
                o.apply_broker_update(a, filled_quantity=b)
            elif kind == "fill":
                o.apply_fill(a, b)
            elif kind == "modify":
                o.apply_modify(quantity=a)
            else:
                o.transition(a)
        except IllegalTransition:
            assert state(o) == before, "a refused change must change nothing"
        except ValidationError:
            assert state(o) == before
        # invariants
        assert 0 <= o.filled_quantity <= o.request.quantity
        assert 0 <= o.broker_filled_quantity <= o.request.quantity
        assert o.pending_quantity >= 0
        if final_seen is not None:
            assert o.status is final_seen, "a final state never changes"
        if o.status.is_terminal:
            final_seen = o.status


@given(st.lists(st.integers(1, 30), max_size=20))
def test_fills_never_exceed_quantity_and_average_is_the_weighted_mean(qs):
    o = submitted(100)
    o.apply_broker_update("OPEN")
    booked = []
    for i, q in enumerate(qs):
        price = Decimal(1000 + i)
        try:
            o.apply_fill(q, price)
            booked.append((q, price))
        except IllegalTransition:
            assert o.filled_quantity + q > 100
    total = sum(q for q, _ in booked)
    assert o.filled_quantity == total <= 100
    if total:
        assert o.average_price == sum(q * p for q, p in booked) / total
    assert (o.status is S.FILLED) == (total == 100)


# -- requests and ids -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(order_type="LIMIT"), "price"),
        (dict(order_type="MARKET", price=10), "price"),
        (dict(order_type="SL", price=10), "trigger_price"),
        (dict(order_type="SL-M"), "trigger_price"),
        (dict(quantity=0), "quantity"),
        (dict(quantity=1.5), "quantity"),
        (dict(tag="has space"), "tag"),
        (dict(tag="x" * 21), "tag"),
        (dict(validity="TTL"), "validity_ttl"),
        (dict(product="XYZ"), "product"),
        (dict(market_protection=150), "market_protection"),
        (dict(order_type="LIMIT", price=float("nan")), "price"),
    ],
)
def test_bad_requests_name_the_field(kw, field):
    base = dict(exchange="NSE", tradingsymbol="INFY", side="BUY", quantity=10, order_type="MARKET", product="MIS")
    base.update(kw)
    with pytest.raises(ValidationError) as e:
        OrderRequest(**base)
    assert e.value.field == field


def test_float_prices_become_their_shortest_decimal():
    r = OrderRequest("NSE", "INFY", "BUY", 1, "LIMIT", "CNC", price=2450.1)
    assert r.price == Decimal("2450.1")


def test_request_round_trips_through_dict():
    r = OrderRequest("NFO", "NIFTY26AUGFUT", "SELL", 65, "SL", "NRML", price=Decimal("25000"), trigger_price=Decimal("25010"), tag="abc")
    assert OrderRequest.from_dict(r.to_dict()) == r


@given(st.integers(0, 36**3 - 1), st.integers(1, 5000), st.from_regex(r"[A-Za-z]{1,4}", fullmatch=True),
       st.integers(0, 36**4 - 300), st.dates())
def test_client_order_ids_fit_kites_tag_and_are_unique(run, n, prefix, start, d):
    # the OMS stamps these ids without matching the tag rule again (OrderRequest.stamped(tag_checked=True))
    g = ClientOrderIdGenerator(prefix, run)
    g.next(d)
    g._seq = start  # anywhere in the day's id space, up to its last ids
    ids = [g.next(d) for _ in range(min(n, 300))]
    assert len(set(ids)) == len(ids)
    for cid in ids:
        assert len(cid) <= 20 and cid.isalnum() and cid.isascii()
        assert OrderRequest("NSE", "INFY", "BUY", 1, tag=cid).tag == cid  # accepted as a Kite tag


def test_client_order_id_sequence_restarts_each_day_but_stays_unique_across_runs():
    a, b = ClientOrderIdGenerator("TK", 1), ClientOrderIdGenerator("TK", 2)
    d1, d2 = date(2026, 11, 23), date(2026, 11, 24)
    ids = {a.next(d1), a.next(d2), b.next(d1), b.next(d2)}
    assert len(ids) == 4
    assert a.next(d2).startswith("TK261124")
