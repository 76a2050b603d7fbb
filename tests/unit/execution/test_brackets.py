"""Brackets on the paper broker: children sized to fills, one-cancels-other, the group taken down by
flatten and the kill switch, trailing stops within Kite's modification limit, break-even, restart."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.unit.execution.conftest import T0, make_session, step
from tradekit.data.types import Tick
from tradekit.errors import ValidationError
from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.order import OrderRequest, OrderStatus
from tradekit.store.events import EventType as E

K = "NSE:INFY"


def entry(qty=100, price=1500, side=Side.BUY, product=Product.MIS):
    return OrderRequest(Exchange.NSE, "INFY", side, qty, OrderType.LIMIT, product, price=Decimal(price))


def children(s, b, role=None):
    return [s.book.orders[c] for c, r in b.children.items() if role is None or r == role]


def working(s, b, role):
    return [o for o in children(s, b, role) if o.status.is_working]


def net(s):
    return s.book.net_quantity(Exchange.NSE, "INFY")


def tick(s, minute, price, second=0):
    """A mark through the market-data hub (as a paper bar or a live tick arrives), and the paper fill on it."""
    ts = T0 + timedelta(minutes=minute, seconds=second)
    s.clock.set(ts)
    s.market.on_ticks([Tick(K, ts, float(price), mode="quote")], "paper")
    s.broker.on_tick(K, ts, float(price), 10_000)


@pytest.fixture
def s(tmp_path):
    s = make_session(tmp_path, paper={"participation": 0.1})
    step(s, K, 0, 1500, 1501, 1499, 1500)
    return s


def test_partial_entry_fills_grow_the_children(s):
    b = s.brackets.submit(entry(), strategy="t", stop={"points": 15}, targets=[{"points": 20, "share": 0.5},
                                                                              {"points": 40, "share": 0.5}])
    assert b.bracket_id == b.bracket_id and not b.children  # nothing before the entry fills
    step(s, K, 1, 1500, 1501, 1499, 1500, v=400)  # 10 % of 400: 40 filled
    assert s.book.orders[b.bracket_id].filled_quantity == 40
    (stop,) = working(s, b, "stop")
    assert stop.request.quantity == 40 and stop.request.order_type is OrderType.SLM
    assert stop.request.trigger_price == Decimal("1485") and stop.request.side is Side.SELL
    assert [o.request.quantity for o in working(s, b, "target:0") + working(s, b, "target:1")] == [20, 20]
    step(s, K, 2, 1500, 1501, 1499, 1500)  # the rest fills
    assert s.book.orders[b.bracket_id].filled_quantity == 100
    assert [o.request.quantity for o in working(s, b, "stop") + working(s, b, "target:0") + working(s, b, "target:1")] \
        == [100, 50, 50]
    assert len(children(s, b)) == 3  # grown by modification, not by new orders
    # every child names its parent in the journal and went out on the group's approval
    created = [e.payload for e in s.journal.events(types=(E.ORDER_CREATED,)) if e.payload["client_order_id"] in b.children]
    assert all(p["meta"]["parent_id"] == b.bracket_id and p["covered_by"] == b.bracket_id for p in created)
    grants = [e.payload for e in s.journal.events(types=(E.APPROVAL_GRANTED,)) if e.payload["client_order_id"] in b.children]
    assert grants and all(g["by"] == f"group:{b.bracket_id}" for g in grants)


def test_targets_shrink_the_stop_and_the_last_one_cancels_it(s):
    b = s.brackets.submit(entry(), strategy="t", stop=1485, targets=[{"price": 1510, "share": 0.5}, {"price": 1520, "share": 0.5}],
                          break_even=False)
    step(s, K, 1, 1500, 1501, 1499, 1500)
    step(s, K, 2, 1505, 1511, 1504, 1510)  # target 1 (1510) fills
    (stop,) = working(s, b, "stop")
    assert stop.request.quantity - stop.filled_quantity == 50 and net(s) == 50
    step(s, K, 3, 1510, 1521, 1509, 1520)  # target 2 fills: the stop is cancelled, the bracket closes
    assert net(s) == 0
    assert all(o.status is OrderStatus.CANCELLED for o in children(s, b, "stop"))
    assert b.closed == "targets filled"
    assert not any(o.status.is_working for o in s.book.orders.values())


def test_stop_hit_cancels_the_targets_and_the_rest_of_the_entry(s):
    b = s.brackets.submit(entry(), strategy="t", stop={"percent": 1}, targets=[{"points": 30, "share": 1}])
    assert b.stop == Decimal("1485")
    step(s, K, 1, 1500, 1501, 1499, 1500, v=300)  # 30 of 100 filled
    step(s, K, 2, 1490, 1490, 1480, 1482, v=300)  # the stop triggers (the entry's rest takes the volume first)
    assert working(s, b, "stop")[0].status is OrderStatus.OPEN
    for i in range(3):
        step(s, K, 3 + i, 1480, 1481, 1479, 1480, v=2000)  # the SL-M fills
    entry_order = s.book.orders[b.bracket_id]
    assert entry_order.status.is_terminal  # filled on the way down, or its rest cancelled by the stop's fill
    assert sum(o.filled_quantity for o in children(s, b, "stop")) == entry_order.filled_quantity
    assert all(o.status is OrderStatus.CANCELLED for o in children(s, b, "target:0"))
    assert net(s) == 0 and b.closed == "stopped out"


def test_stop_fill_cancels_the_entry_rest(s):
    b = s.brackets.submit(entry(price=1500), strategy="t", stop=1490, targets=[{"price": 1530, "share": 1}])
    step(s, K, 1, 1500, 1501, 1500, 1500, v=200)  # 20 filled at 1500
    step(s, K, 2, 1510, 1512, 1508, 1510)  # above the entry's limit: the rest waits
    s.brackets.modify(b.bracket_id, stop=1505)
    step(s, K, 3, 1506, 1506, 1503, 1504, v=2000)  # through the stop, not down to the entry's limit
    assert sum(o.filled_quantity for o in children(s, b, "stop")) == 20
    assert s.book.orders[b.bracket_id].status is OrderStatus.CANCELLED and s.book.orders[b.bracket_id].filled_quantity == 20
    assert net(s) == 0 and b.closed == "stopped out"


def test_flatten_takes_the_whole_group_down(s):
    b = s.brackets.submit(entry(), strategy="t", stop=1485, targets=[{"price": 1530, "share": 1}])
    step(s, K, 1, 1500, 1501, 1499, 1500)
    assert len(working(s, b, "stop")) == 1
    s.oms.flatten(reason="desk flatten", source="flatten")
    step(s, K, 2, 1500, 1501, 1499, 1500)
    assert net(s) == 0
    assert not any(o.status.is_working for o in s.book.orders.values())
    assert b.closed and "flatten" in b.closed
    # nothing comes back, and a later fall through the old stop opens no reverse position
    step(s, K, 3, 1490, 1490, 1470, 1475)
    assert net(s) == 0 and sorted(r for r in b.children.values() if r != "exit") == ["stop", "target:0"]
    sells = [o for o in s.book.orders.values() if o.request.side is Side.SELL and o.request.order_type is OrderType.MARKET]
    assert len(sells) == 1  # one exit: the group's or the flatten's, never both
    assert [e.payload["by"] for e in s.journal.events(types=(E.BRACKET_TAKEN_DOWN,))] == ["flatten"]


def test_square_off_takes_the_group_down(s):
    b = s.brackets.submit(entry(), strategy="t", stop=1485, targets=[{"price": 1530, "share": 1}])
    step(s, K, 1, 1500, 1501, 1499, 1500)
    s.oms.flatten(product=Product.MIS, reason="tradekit MIS square-off", source="square_off")
    step(s, K, 2, 1500, 1501, 1499, 1500)
    assert net(s) == 0 and b.closed == "taken down by square_off"


def test_kill_switch_takes_the_group_down(tmp_path):
    from tradekit.config import load_config
    from tradekit.session import Session

    cfg = load_config(overrides={"paper": {"latency_ms": 0, "participation": 0, "slippage": {"model": "none"}}})
    s = Session.for_replay(cfg, tmp_path / "k.db", T0)  # the configured risk manager and its kill switch
    step(s, K, 0, 1500, 1501, 1499, 1500)
    b = s.brackets.submit(entry(10), strategy="t", stop=1485, targets=[{"price": 1530, "share": 1}])
    step(s, K, 1, 1500, 1501, 1499, 1500)
    assert len(working(s, b, "stop")) == 1 and net(s) == 10
    s.kill("test kill", by="test")
    step(s, K, 2, 1500, 1501, 1499, 1500)
    assert net(s) == 0
    assert not any(o.status.is_working for o in s.book.orders.values())
    assert b.closed == "taken down by kill_switch"
    step(s, K, 3, 1480, 1481, 1470, 1475)  # no orphan stop to open a short
    assert net(s) == 0


def test_cancel_the_parent_cancels_the_group_and_exits(s):
    b = s.brackets.submit(entry(), strategy="t", stop=1485, targets=[{"price": 1530, "share": 1}])
    step(s, K, 1, 1500, 1501, 1499, 1500, v=500)
    assert net(s) == 50
    s.brackets.cancel(b.bracket_id, reason="changed my mind")
    step(s, K, 2, 1500, 1501, 1499, 1500)
    assert net(s) == 0 and s.book.orders[b.bracket_id].status is OrderStatus.CANCELLED
    assert not any(o.status.is_working for o in s.book.orders.values())


def test_modify_the_parent_moves_the_group(s):
    b = s.brackets.submit(entry(price=1490), strategy="t", stop=1475, targets=[{"price": 1520, "share": 1}])
    s.brackets.modify(b.bracket_id, price=1495)
    assert s.book.orders[b.bracket_id].request.price == Decimal("1495")
    step(s, K, 1, 1500, 1501, 1494, 1496)
    s.brackets.modify(b.bracket_id, stop=1480, targets=[1525])
    (stop,) = working(s, b, "stop")
    (tgt,) = working(s, b, "target:0")
    assert stop.request.trigger_price == Decimal("1480") and tgt.request.price == Decimal("1525")
    with pytest.raises(ValidationError) as e:
        s.brackets.modify(b.bracket_id, targets=[1525, 1530])
    assert e.value.field == "targets"


def test_break_even_after_the_first_target(s):
    b = s.brackets.submit(entry(), strategy="t", stop=1485, targets=[{"price": 1510, "share": 0.5}, {"price": 1530, "share": 0.5}])
    step(s, K, 1, 1500, 1501, 1499, 1500)
    avg = s.book.orders[b.bracket_id].average_price
    step(s, K, 2, 1505, 1511, 1504, 1510)
    (stop,) = working(s, b, "stop")
    assert b.break_even_done and stop.request.trigger_price == avg  # 1500.00 is on the tick
    assert stop.request.quantity - stop.filled_quantity == 50
    step(s, K, 3, 1505, 1506, 1495, 1498)  # back through break-even: the rest leaves at no loss
    assert net(s) == 0 and b.closed == "stopped out"


def test_break_even_can_be_turned_off_by_config(tmp_path):
    s = make_session(tmp_path, brackets={"break_even_after_first_target": False})
    step(s, K, 0, 1500, 1501, 1499, 1500)
    b = s.brackets.submit(entry(), strategy="t", stop=1485, targets=[{"price": 1510, "share": 0.5}, {"price": 1530, "share": 0.5}])
    step(s, K, 1, 1500, 1501, 1499, 1500)
    step(s, K, 2, 1505, 1511, 1504, 1510)
    assert working(s, b, "stop")[0].request.trigger_price == Decimal("1485") and not b.break_even_done


def test_trailing_stop_moves_only_up_to_the_tick_and_replaces_before_the_25th_modification(tmp_path):
    s = make_session(tmp_path, brackets={"trail_min_interval_seconds": 0, "replace_after_modifications": 20})
    tick(s, 0, 1500)
    b = s.brackets.submit(entry(10), strategy="t", stop={"points": 10}, trail={"kind": "points", "value": 10})
    tick(s, 0, 1500, 30)
    assert s.book.orders[b.bracket_id].status is OrderStatus.FILLED
    stops = []
    px = Decimal(1500)
    for i in range(1, 60):
        px += Decimal("0.35")  # rises 0.35 a minute: the stop follows 10 points behind, on the 0.05 tick
        tick(s, i, px)
        stops.append(b.stop)
        if i % 7 == 0:
            tick(s, i, px - 3, 30)  # a pull-back never lowers it
            assert b.stop == stops[-1]
    assert stops == sorted(stops)
    assert b.stop == ((px - 10) / Decimal("0.1")).to_integral_value(rounding="ROUND_FLOOR") * Decimal("0.1")
    assert all((x / Decimal("0.1")) % 1 == 0 for x in stops)  # INFY's tick at ₹1,500 (NSE's 2025 slabs)
    mods = Counter(e.payload["client_order_id"] for e in s.journal.events(types=(E.ORDER_MODIFIED,)))
    stop_orders = children(s, b, "stop")
    assert len(stop_orders) >= 2  # replaced...
    assert max(mods.values()) == 20  # ...after its 20th modification, well before Kite's 25
    assert sum(o.status.is_working for o in stop_orders) == 1
    (live,) = working(s, b, "stop")
    assert live.request.trigger_price == b.stop and live.request.quantity == 10
    assert not [e for e in s.journal.events(types=(E.BROKER_ERROR,))]  # Kite's limit was never hit
    # the trail exits: a drop through the stop
    tick(s, 61, b.stop - 2)
    assert net(s) == 0 and b.closed == "stopped out"


def test_trailing_is_throttled_by_step_and_interval(tmp_path):
    s = make_session(tmp_path, brackets={"trail_min_interval_seconds": 60, "trail_min_step_ticks": 10})
    tick(s, 0, 1500)
    b = s.brackets.submit(entry(10, side=Side.SELL), strategy="t", stop={"points": 10}, trail={"kind": "percent", "value": 1})
    tick(s, 0, 1500, 30)
    assert b.stop == Decimal("1510")
    tick(s, 1, Decimal("1496.05"))  # a short: 1 % above 1496.05 rounds up to 1511.1, not below 1510: no move
    assert b.stop == Decimal("1510")
    tick(s, 2, 1490)  # 1504.9: 5.10 lower, at least 10 ticks: moves
    assert b.stop == Decimal("1504.9")
    tick(s, 2, 1488, 30)  # 1502.9 is far enough, but within the minute: no move
    assert b.stop == Decimal("1504.9")
    tick(s, 3, Decimal("1487.9"))  # a minute later: 1502.779 rounds up to 1502.8
    assert b.stop == Decimal("1502.8")
    tick(s, 5, Decimal("1487.5"))  # 1502.4: only 4 ticks better: no move
    assert b.stop == Decimal("1502.8")
    assert len(list(s.journal.events(types=(E.BRACKET_STOP_MOVED,)))) == 2
    (stop,) = working(s, b, "stop")
    assert stop.request.trigger_price == Decimal("1502.8") and stop.request.side is Side.BUY


def test_atr_trail_uses_bars_from_the_marks(tmp_path):
    s = make_session(tmp_path, brackets={"trail_min_interval_seconds": 0})
    tick(s, 0, 1500)
    b = s.brackets.submit(entry(10), strategy="t", stop={"points": 20}, trail={"kind": "atr", "value": 2, "atr_period": 5})
    tick(s, 0, 1500, 30)
    for i in range(1, 5):  # fewer completed bars than the period: no ATR, the stop holds
        tick(s, i, 1500 + i)
        assert b.stop == Decimal("1480")
    for i in range(5, 12):
        tick(s, i, 1500 + i)
    atr = s.brackets.trail.atr(K, 5)
    assert atr is not None and atr > 0
    assert b.stop > Decimal("1480") and b.stop <= Decimal(1511) - 2 * Decimal(repr(atr)) + Decimal("0.05")


def test_restart_mid_bracket_goes_on_managing_it(tmp_path):
    """Close the session, open a new one on the same journal (the broker outlives the process, as Kite does)."""
    from tradekit.session import Session
    from tradekit.store import Journal, make_engine, sqlite_url

    s = make_session(tmp_path, paper={"participation": 0.1})
    step(s, K, 0, 1500, 1501, 1499, 1500)
    b = s.brackets.submit(entry(), strategy="t", stop=1485, targets=[{"price": 1510, "share": 0.5}, {"price": 1530, "share": 0.5}])
    step(s, K, 1, 1500, 1501, 1499, 1500, v=400)  # 40 filled, children for 40
    bid, broker, clock, cfg = b.bracket_id, s.broker, s.clock, s.config
    s.journal.flush()
    s.broker._listeners.remove(s.oms)  # the old process is gone
    s.close()

    j = Journal(make_engine(sqlite_url(tmp_path / "j.db")), clock=clock)
    s2 = Session(cfg, clock=clock, journal=j, broker=broker, gate=s.gate)
    b2 = s2.brackets.brackets[bid]
    assert b2.closed is None and set(b2.children) == set(b.children)
    step(s2, K, 2, 1500, 1501, 1499, 1500)  # the rest of the entry fills: the new session grows the children
    assert [o.request.quantity for o in working(s2, b2, "stop") + working(s2, b2, "target:0")] == [100, 50]
    step(s2, K, 3, 1505, 1511, 1504, 1510)
    assert b2.break_even_done
    step(s2, K, 4, 1520, 1531, 1519, 1530)
    assert s2.book.net_quantity(Exchange.NSE, "INFY") == 0 and b2.closed == "targets filled"
    s2.close()
    s3 = Session(cfg, clock=clock, journal=Journal(make_engine(sqlite_url(tmp_path / "j.db")), clock=clock), broker=broker,
                 gate=s.gate)
    assert s3.brackets.brackets[bid].closed == "targets filled"
    s3.close()


def test_a_refused_child_is_retried_after_the_configured_wait(tmp_path):
    s = make_session(tmp_path, brackets={"child_retry_seconds": 30})
    step(s, K, 0, 1500, 1501, 1499, 1500)
    s.broker.reject_all = "RMS: blocked for the test"
    b = s.brackets.submit(entry(10), strategy="t", stop=1485)
    step(s, K, 1, 1500, 1501, 1499, 1500)
    assert s.book.orders[b.bracket_id].status is OrderStatus.REJECTED
    assert b.closed == "entry rejected"
    s.broker.reject_all = None
    b = s.brackets.submit(entry(10), strategy="t", stop=1485)
    step(s, K, 2, 1500, 1501, 1499, 1500)
    assert len(working(s, b, "stop")) == 1
    s.brackets.modify(b.bracket_id, stop=1486)
    s.broker.reject_all = "RMS: blocked for the test"
    s.oms.cancel(working(s, b, "stop")[0].client_order_id, reason="x", source=SOURCE_BRACKET)  # as a replace would
    s.brackets.run()
    s.brackets.run()
    assert len(children(s, b, "stop")) == 2  # one new stop tried (refused), not one per run
    failed = list(s.journal.events(types=(E.BRACKET_CHILD_FAILED,)))
    assert failed and "blocked for the test" in failed[-1].payload["reason"]
    s.broker.reject_all = None
    s.clock.set(s.clock.now() + timedelta(seconds=10))
    s.brackets.run()
    assert not working(s, b, "stop")  # not before the wait
    s.clock.set(s.clock.now() + timedelta(seconds=25))
    s.brackets.run()
    assert len(working(s, b, "stop")) == 1


SOURCE_BRACKET = "bracket"


def test_cnc_targets_wait_for_the_mark_so_sells_fit_the_holding(tmp_path):
    s = make_session(tmp_path)
    tick(s, 0, 1500)
    b = s.brackets.submit(entry(10, product=Product.CNC), strategy="t", stop=1485,
                          targets=[{"price": 1510, "share": 0.5}, {"price": 1520, "share": 0.5}])
    tick(s, 0, 1500, 30)
    assert net(s) == 10 and [o.request.quantity for o in working(s, b, "stop")] == [10] and not working(s, b, "target:0")
    tick(s, 1, 1510)  # the mark reaches target 1: the stop shrinks to 5, the target goes out and fills
    tick(s, 1, 1511, 30)
    assert net(s) == 5
    own = {c for c, r in b.children.items() if r == "stop" or r.startswith("target:")}
    assert not [e for e in s.journal.events(types=(E.ORDER_UPDATE,))
                if e.payload.get("status") == "REJECTED" and e.payload["client_order_id"] in own]
    tick(s, 2, 1520)
    tick(s, 2, 1521, 30)
    assert net(s) == 0 and b.closed == "targets filled"


def test_bad_bracket_fields_name_the_field(s):
    with pytest.raises(ValidationError) as e:
        s.brackets.submit(entry(), strategy="t", stop=1510)
    assert e.value.field == "stop"
    with pytest.raises(ValidationError) as e:
        s.brackets.submit(entry(), strategy="t", stop=1490, targets=[{"price": 1495, "share": 0.5}, {"price": 1520, "share": 0.6}])
    assert e.value.field in ("targets", "targets.0")
    with pytest.raises(ValidationError) as e:
        s.brackets.submit(entry(), strategy="t", stop=1490, trail={"kind": "fibonacci", "value": 1})
    assert e.value.field == "trail.kind"
    assert not s.book.orders  # nothing was sent


class RecordingProtector:
    """The GTT layer's interface (built elsewhere): records what the bracket asks of it."""

    def __init__(self):
        self.calls = []

    def protect(self, bracket_id, instrument, qty, stop, target, product):
        self.calls.append(("protect", bracket_id, getattr(instrument, "key", instrument), qty, stop, target, product))
        return "GTT-1"

    def update(self, bracket_id, qty, stop, target):
        self.calls.append(("update", bracket_id, qty, stop, target))

    def remove(self, bracket_id):
        self.calls.append(("remove", bracket_id))


def test_the_protector_is_asked_to_protect_update_and_remove_cnc_brackets(tmp_path):
    s = make_session(tmp_path)
    prot = s.brackets.protector = RecordingProtector()
    tick(s, 0, 1500)
    b = s.brackets.submit(entry(10, product=Product.CNC), strategy="t", stop=1485,
                          targets=[{"price": 1510, "share": 0.5}, {"price": 1520, "share": 0.5}])
    assert prot.calls == []  # nothing before the entry fills
    tick(s, 0, 1500, 30)
    bid = b.bracket_id
    assert prot.calls == [("protect", bid, K, 10, Decimal("1485"), Decimal("1510"), Product.CNC)]
    tick(s, 1, 1510)
    tick(s, 1, 1511, 30)  # target 1 fills: 5 left, the stop at break-even, the next target 1520
    assert prot.calls[-1] == ("update", bid, 5, Decimal("1500.00"), Decimal("1520"))
    tick(s, 2, 1520)
    tick(s, 2, 1521, 30)
    assert b.closed == "targets filled" and prot.calls[-1] == ("remove", bid)
    kinds = [e.payload["action"] for e in s.journal.events(types=(E.BRACKET_PROTECTED,))]
    assert kinds[0] == "protect" and kinds[-1] == "remove"
    # an MIS bracket is not a position that outlives the day: no GTT
    prot.calls.clear()
    b2 = s.brackets.submit(entry(10, price=1525), strategy="t", stop=1505)
    tick(s, 3, 1521)
    assert s.book.orders[b2.bracket_id].status is OrderStatus.FILLED and working(s, b2, "stop")
    assert prot.calls == []


def test_stop_order_type_sl_puts_the_limit_a_buffer_beyond_the_trigger(tmp_path):
    s = make_session(tmp_path, brackets={"stop_order_type": "SL", "stop_limit_buffer_pct": 1})
    step(s, K, 0, 1500, 1501, 1499, 1500)
    b = s.brackets.submit(entry(10), strategy="t", stop=1485)
    step(s, K, 1, 1500, 1501, 1499, 1500)
    (stop,) = working(s, b, "stop")
    assert stop.request.order_type is OrderType.SL and stop.request.trigger_price == Decimal("1485")
    assert stop.request.price == Decimal("1470.1")  # 1485 − 1 % = 1470.15, down to INFY's 0.10 tick


def test_the_brackets_config_refuses_what_kite_would(tmp_path):
    from tradekit.config import load_config
    from tradekit.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        load_config(overrides={"brackets": {"replace_after_modifications": 25}})
    assert "brackets.replace_after_modifications" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config(overrides={"brackets": {"trail_every": 3}})
    assert "trail_every" in str(e.value)


def test_a_mark_never_waits_for_the_session_and_its_best_price_is_kept(tmp_path):
    import threading

    s = make_session(tmp_path, brackets={"trail_min_interval_seconds": 0})
    tick(s, 0, 1500)
    b = s.brackets.submit(entry(10), strategy="t", stop={"points": 10}, trail={"kind": "points", "value": 10})
    tick(s, 0, 1500, 30)
    held, release = threading.Event(), threading.Event()

    def session_busy():  # e.g. a placement waiting on Kite while holding the OMS's lock
        with s.oms._lock:
            held.set()
            release.wait(5)

    t = threading.Thread(target=session_busy)
    t.start()
    held.wait(5)
    for px in (1520, 1530, 1525):  # the ticker's thread: noted, not waited on
        s.brackets.on_tick(Tick(K, T0 + timedelta(minutes=1), px))
    assert b.stop == Decimal("1490")
    release.set()
    t.join()
    s.brackets.run()  # the session's next service cycle
    assert b.stop == Decimal("1520")  # from the best mark (1530), not the last one
    (stop,) = working(s, b, "stop")
    assert stop.request.trigger_price == Decimal("1520")
