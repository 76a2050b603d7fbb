"""The approval card of a bracket's entry shows the whole bracket, and one approval covers the group."""

from __future__ import annotations

from decimal import Decimal

from tradekit.model.order import OrderStatus
from tradekit.store.events import EventType as E


def test_the_card_shows_entry_stop_targets_risk_and_reward(desk, queue):
    cid = desk.signal(product="MIS", stop={"points": 15}, trail={"kind": "atr", "value": 2, "atr_period": 10},
                      targets=[{"points": 20, "share": 0.5}, {"price": 1540, "share": 0.5}])
    queue.refresh()
    p = queue.proposal(cid)
    assert p.is_pending
    b = p.bracket
    assert b["entry"] == Decimal("1500") and b["stop"] == Decimal("1485")
    assert [(t["price"], t["quantity"]) for t in b["targets"]] == [(Decimal("1520"), 5), (Decimal("1540"), 5)]
    assert b["at_risk"] == Decimal("150.00")  # 15 × 10
    assert b["reward"] == Decimal("300.00") and b["reward_risk"] == Decimal("2.00")  # (20×5 + 40×5) / 150
    assert b["trail"] == {"kind": "atr", "value": "2", "atr_period": 10}

    from tradekit.ui.approval import _details_html

    html = _details_html(p)
    for words in ("bracket", "1,485", "1,520", "× 5", "at risk", "150", "reward:risk</b> 2.00", "trail atr 2 (ATR 10)"):
        assert words in html, (words, html)


def test_a_plain_order_has_no_bracket_on_its_card(desk, queue):
    cid = desk.signal()
    queue.refresh()
    assert queue.proposal(cid).bracket is None


def test_one_approval_covers_the_group(desk, queue):
    cid = desk.signal(product="MIS", stop={"points": 15}, targets=[{"points": 20, "share": 1}])
    r = queue.approve(cid, reason="bracket ok")
    desk.poll()
    assert queue.wait_outcome(cid, after=r.seq).ok
    desk.bar(1, 1500)  # the entry fills; its children go out at once
    s = desk.session
    b = s.brackets.brackets[cid]
    kids = [s.book.orders[c] for c in b.children]
    assert sorted(b.children.values()) == ["stop", "target:0"]
    assert all(o.status.is_working for o in kids)
    assert not [o for o in s.book.orders.values() if o.status is OrderStatus.PENDING_APPROVAL]
    grants = {e.payload["client_order_id"]: e.payload for e in s.journal.events(types=(E.APPROVAL_GRANTED,))}
    assert not grants[cid]["auto"]  # a person approved the entry
    assert all(grants[o.client_order_id]["by"] == f"group:{cid}" and grants[o.client_order_id]["covered_by"] == cid
               for o in kids)
