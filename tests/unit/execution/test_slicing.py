"""Freeze-aware slicing: an order above the freeze quantity goes out as slices of one parent.

The defect this fixes: the gate said "allowed, to be sent as 3 slices", the approval card said so,
and the OMS sent ONE order, which the paper broker (like the exchange) rejected.
"""

from __future__ import annotations


from tradekit.model import OrderRequest, OrderStatus as S
from tradekit.store import EventType as E

from .algo_helpers import FKEY, FREEZE, FUT, LOT, T0, bar, open_session

Q = 4500  # 2.5 × the freeze quantity of 1,800 (60 lots of 75)


def buy(q=Q, **kw):
    return OrderRequest("NFO", FUT, "BUY", q, kw.pop("order_type", "MARKET"), "NRML", **kw)


def events(s, type_):
    return [e.payload for e in s.journal.events(types=(type_,))]


def children(s, parent):
    return [s.book.orders[p["client_order_id"]] for p in events(s, E.ORDER_CREATED) if p.get("parent_id") == parent]


def test_an_order_of_2_5x_the_freeze_quantity_fills_as_slices_of_one_parent(tmp_path):
    s = open_session(tmp_path)
    bar(s, FKEY, 0, 24000)
    parent = s.submit(buy(), strategy="fno")
    decision = events(s, E.RISK_DECISION)[0]
    freeze = [c for c in decision["checks"] if c["code"] == "FREEZE"][0]
    assert decision["allowed"] and "3 slices of at most 1,800" in freeze["message"]
    # before the fix: one order of 4,500 went to the broker and came back REJECTED
    assert parent.status is S.SLICED
    kids = children(s, parent.client_order_id)
    assert [k.request.quantity for k in kids] == [1800, 1800, 900]
    assert all(k.request.quantity % LOT == 0 and k.request.quantity <= FREEZE for k in kids)
    assert all(k.status is S.OPEN for k in kids)
    bar(s, FKEY, 1, 24001)
    assert all(k.status is S.FILLED for k in kids)
    assert s.book.position("fno", "NFO", FUT, "NRML").quantity == Q
    done = events(s, E.SLICE_COMPLETED)
    assert done == [{"client_order_id": parent.client_order_id, "status": "COMPLETE", "reason": "filled",
                     "filled_quantity": Q, "quantity": Q, "average_price": "24001.0000", "children": 3}]
    assert not [p for p in events(s, E.ORDER_UPDATE) if p.get("status") == "REJECTED"]
    # the parent is no open order of its own: exposure is counted once, on the children
    assert parent.client_order_id not in s.book.open


def test_approval_covers_the_parent_and_its_slices(tmp_path):
    s = open_session(tmp_path, approval={"mode": "manual"})
    bar(s, FKEY, 0, 24000)
    parent = s.submit(buy(), strategy="fno")
    assert parent.status is S.PENDING_APPROVAL and children(s, parent.client_order_id) == []
    out = s.oms.approve(parent.client_order_id, by="asha")
    assert out.ok and parent.status is S.SLICED
    kids = children(s, parent.client_order_id)
    assert len(kids) == 3 and all(k.status is S.OPEN for k in kids)  # no second approval per slice
    assert not [p for p in events(s, E.APPROVAL_REQUESTED) if p["client_order_id"] != parent.client_order_id]


def test_cancel_and_modify_of_the_parent_act_on_its_open_slices(tmp_path):
    s = open_session(tmp_path)
    bar(s, FKEY, 0, 24000)
    parent = s.submit(buy(order_type="LIMIT", price="23000"), strategy="fno")  # rests below the market
    kids = children(s, parent.client_order_id)
    assert len(kids) == 3 and all(k.status is S.OPEN for k in kids)
    s.oms.modify(parent.client_order_id, price="23100")
    assert all(k.request.price == 23100 for k in kids)
    s.oms.cancel(parent.client_order_id, reason="changed my mind")
    assert all(k.status is S.CANCELLED for k in kids)
    assert events(s, E.SLICE_CANCELLED)[0]["reason"] == "changed my mind"
    bar(s, FKEY, 1, 22900)  # would have filled every slice
    assert s.book.position("fno", "NFO", FUT, "NRML") is None
    assert len(children(s, parent.client_order_id)) == 3  # nothing sent after the cancel


def test_kill_switch_stops_the_parent_and_takes_its_slices_down(tmp_path):
    s = open_session(tmp_path, risk={"compliance": {"max_orders_per_second": 1}})
    bar(s, FKEY, 0, 24000)
    parent = s.submit(buy(order_type="LIMIT", price="23000"), strategy="fno")
    s.clock.advance(1.5)
    s.algos.step()
    sent = children(s, parent.client_order_id)
    assert 1 <= len(sent) < 3  # paced by the order-rate governor: the rest waits
    s.kill("test", flatten=False)
    assert all(k.status is S.CANCELLED for k in sent)
    s.clock.advance(10)
    s.algos.step()
    assert len(children(s, parent.client_order_id)) == len(sent)
    assert events(s, E.SLICE_CANCELLED) and s.algos.parents[parent.client_order_id].status == "CANCELLED"


def test_slices_are_paced_by_the_order_rate_budget_and_continue_after_a_restart(tmp_path):
    s = open_session(tmp_path, risk={"compliance": {"max_orders_per_second": 1}})
    bar(s, FKEY, 0, 24000)
    parent = s.submit(buy(), strategy="fno")
    pid = parent.client_order_id
    s.clock.advance(1.5)
    s.algos.step()
    first = children(s, pid)
    assert len(first) == 1  # one order per second: the parent, then one slice
    bar(s, FKEY, 1, 24001, tick=False)  # the fill arrives; the process dies before its next step
    assert first[0].status is S.FILLED
    clock = s.clock
    s.close()
    # a new process on the same journal: the parent goes on where it was, without resending
    s2 = open_session(tmp_path, clock, risk={"compliance": {"max_orders_per_second": 1}})
    assert s2.algos.parents[pid].active and s2.algos.summary(pid)["filled"] == 1800
    for m in range(2, 6):
        clock.advance(2)
        s2.algos.step()
        bar(s2, FKEY, m, 24002)
    kids = children(s2, pid)
    assert [k.request.quantity for k in kids] == [1800, 1800, 900]
    assert all(k.status is S.FILLED for k in kids), [(k.status, k.status_message) for k in kids]
    assert s2.book.position("fno", "NFO", FUT, "NRML").quantity == Q
    assert events(s2, E.SLICE_COMPLETED)[0]["filled_quantity"] == Q
