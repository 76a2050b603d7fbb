"""The bracket's one-cancels-other state machine under random interleavings of price moves (partial
fills of the entry, stop and targets), flatten, square-off, cancels of the group and of single
children, and stop modifications — on the real paper broker, journal and OMS."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.unit.execution.conftest import T0, make_session
from tradekit.data.types import Tick
from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.order import OrderRequest

K = "NSE:INFY"

ACTIONS = ["flatten", "square_off", "cancel_group", "cancel_child", "move_stop", "move_stop"]
# mostly price moves (₹0.50 steps with traded volume), now and then an action on the group
step = st.tuples(st.integers(0, 99), st.integers(-12, 12), st.integers(0, 400)).map(
    lambda t: ("move", t[1], t[2]) if t[0] < 94 else (ACTIONS[t[0] - 94], t[1], 0))
steps = st.lists(step, min_size=1, max_size=40)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(side=st.sampled_from([Side.BUY, Side.SELL]), n_targets=st.integers(0, 3), trail=st.booleans(),
       participation=st.sampled_from([0.0, 0.25]), plan=steps)
def test_random_interleavings_never_reverse_the_position_nor_leave_a_child_after_flat(side, n_targets, trail,
                                                                                      participation, plan):
    with tempfile.TemporaryDirectory() as d:
        s = make_session(Path(d), paper={"participation": participation},
                         brackets={"trail_min_interval_seconds": 0, "child_retry_seconds": 0})
        try:
            _run(s, side, n_targets, trail, plan)
        finally:
            s.close()


def _run(s, side, n_targets, trail, plan):
    sign = side.sign
    px = Decimal(1500)
    minute = 0

    def mark(p, v):
        nonlocal minute
        minute += 1
        ts = T0 + timedelta(minutes=minute)
        s.clock.set(ts)
        s.market.on_ticks([Tick(K, ts, float(p), mode="quote")], "paper")
        s.broker.on_tick(K, ts, float(p), v)
        s.brackets.run()

    mark(px, 1000)
    targets = [{"points": 5 * (i + 1), "share": Decimal(1) / n_targets} for i in range(n_targets)]
    req = OrderRequest(Exchange.NSE, "INFY", side, 100, OrderType.LIMIT, Product.MIS, price=px + sign)  # marketable
    b = s.brackets.submit(req, strategy="p", stop={"points": 8}, targets=targets,
                          trail={"kind": "points", "value": 8} if trail else None)
    mark(px, 1000)  # the entry fills (wholly or, with participation, in part)
    for kind, a, v in plan:
        if kind == "move":
            px = max(Decimal(1400), min(Decimal(1600), px + Decimal(a) / 2))
            mark(px, v)
        elif kind == "flatten":
            s.oms.flatten(reason="test", source="flatten")
        elif kind == "square_off":
            s.oms.flatten(product=Product.MIS, reason="test", source="square_off")
        elif kind == "cancel_group":
            s.brackets.cancel(b.bracket_id, reason="test")
        elif kind == "cancel_child":
            kids = [c for c in b.children if s.book.orders[c].status.is_working]
            if kids:
                s.oms.cancel(kids[abs(a) % len(kids)], reason="test", source="manual")
        elif kind == "move_stop" and b.closed is None and b.taken_down is None:
            new = b.stop + Decimal(a) / 4
            if sign * (px - new) > 1:  # a stop stays on the losing side of the market
                s.brackets.modify(b.bracket_id, stop=new)
        _check(s, b, sign)
    for _ in range(6):  # the market goes on until everything pending has had its chance
        mark(px, 1000)
        _check(s, b, sign)
    event(f"bracket: {b.closed or b.taken_down or 'open'}")
    event(f"children: {min(len(b.children), 5)}")


def _check(s, b, sign):
    net = s.book.net_quantity(Exchange.NSE, "INFY")
    assert net * sign >= 0, f"the position {net} is opposite to the entry"
    entry = s.book.orders[b.bracket_id]
    working = [c for c in b.children if s.book.orders[c].status.is_working]
    if b.closed is not None:
        assert not working, f"closed ({b.closed}) with children working: {working}"
    if net == 0 and entry.status.is_terminal:
        assert not working, f"flat with children working: {working}"
        assert b.closed is not None
