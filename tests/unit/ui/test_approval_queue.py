"""The approval queue over a journal: what a card shows, decisions the session carries out, TTL,
drift and risk re-checks, idempotent clicks, bulk approve, and the requests never queued."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tradekit.errors import ValidationError
from tradekit.execution.approval import ApprovalQueue, BulkSummary
from tradekit.model.order import OrderStatus
from tradekit.store import EventType as E
from tradekit.store import verify

from .conftest import KEY, Desk, FlipGate


def _types(journal, after=0):
    return [e.type for e in journal.events(after=after)]


def test_a_pending_proposal_shows_signal_gate_charges_margin_and_price_when_proposed(desk, queue):
    cid = desk.signal(key="momo-0915-RELIANCE", confidence=0.7, priority=5)
    queue.refresh()
    [p] = queue.pending()
    assert p.client_order_id == cid and p.state == "pending" and p.approval_mode == "manual"
    assert p.signal["signal_id"] == "momo-0915-RELIANCE" and p.signal["confidence"] == 0.7
    assert p.gate_allowed is True and {c["code"] for c in p.checks} >= {"FUNDS", "ORDER_VALUE", "TICK"}
    assert p.price_at_proposal == Decimal("1500") and p.value == Decimal("15000.00")
    assert p.margin == Decimal("15000.00")  # CNC blocks the full value
    assert p.expected_charges is not None and p.expected_charges.total > 0
    assert p.round_trip_charges > p.expected_charges.total
    assert p.ttl_seconds == 300 and p.expires_at == p.created_at + timedelta(seconds=300)
    assert 299 <= p.ttl_left(queue.now()) <= 300
    assert p.title == "BUY 10 NSE:RELIANCE LIMIT @ 1,500.00 CNC"


def test_approve_is_carried_out_by_the_session_and_recorded_with_the_approver(desk, queue):
    cid = desk.signal()
    r = queue.approve(cid, reason="fits the plan")
    assert r.written and r.seq is not None
    assert desk.session.broker.orders() == []  # nothing happens until the session acts
    desk.poll()
    out = queue.wait_outcome(cid, timeout=2, after=r.seq)
    assert out.done and out.ok and out.state == "approved" and out.order_status == "OPEN"
    [bo] = desk.session.broker.orders()
    assert bo.tag == cid and out.broker_order_id == bo.broker_order_id
    p = queue.proposal(cid)
    assert p.decided_by == "asha" and p.decision_reason == "fits the plan" and not p.auto
    granted = [e for e in desk.session.journal.events(types=(E.APPROVAL_GRANTED,))][-1]
    assert granted.payload["by"] == "asha"
    assert verify(desk.session.journal).ok


def test_modify_sends_the_new_quantity_and_price_and_is_recorded_as_modified(desk, queue):
    cid = desk.signal()
    r = queue.modify(cid, quantity=4, price="1499.5", reason="smaller")
    assert r.written
    desk.poll()
    out = queue.wait_outcome(cid, timeout=2, after=r.seq)
    assert out.ok and out.state == "modified"
    [bo] = desk.session.broker.orders()
    assert bo.quantity == 4 and bo.price == Decimal("1499.5")
    assert queue.proposal(cid).changes == {"quantity": 4, "price": "1499.5"}


@pytest.mark.parametrize("changes, field", [({"quantity": "0"}, "quantity"), ({"quantity": "2.5"}, "quantity"),
                                            ({"price": "abc"}, "price"), ({"price": "-3"}, "price")])
def test_a_bad_modification_is_refused_before_anything_is_written(desk, queue, changes, field):
    cid = desk.signal()
    before = queue.journal.tail()[0]
    with pytest.raises(ValidationError) as e:
        queue.approve(cid, changes=changes)
    assert e.value.field == field
    assert queue.journal.tail()[0] == before


def test_a_market_order_has_no_limit_price_to_modify(desk, queue):
    cid = desk.signal(order_type="MARKET", price=None)
    with pytest.raises(ValidationError, match="no limit price"):
        queue.modify(cid, price="1500")


def test_reject_needs_a_reason_and_the_reason_reaches_the_audit_trail(desk, queue):
    cid = desk.signal()
    with pytest.raises(ValidationError):
        queue.reject(cid, "  ")
    r = queue.reject(cid, "news pending")
    desk.poll()
    out = queue.wait_outcome(cid, timeout=2, after=r.seq)
    assert out.ok and out.state == "rejected"
    ev = [e for e in desk.session.journal.events(types=(E.APPROVAL_REJECTED,))][-1]
    assert ev.payload == {"client_order_id": cid, "by": "asha", "reason": "news pending"}
    assert desk.session.broker.orders() == []


def test_repeated_clicks_write_one_decision_per_order_and_decision(desk, queue):
    cid = desk.signal()
    first = queue.approve(cid)
    again = queue.approve(cid)
    assert first.written and not again.written and again.duplicate and again.seq == first.seq
    assert _types(queue.journal).count(E.APPROVAL_DECISION) == 1
    desk.poll()
    queue.refresh()
    late = queue.approve(cid)  # answered: the order is no longer pending
    assert not late.written and "approved" in late.message
    assert len(desk.session.broker.orders()) == 1


def test_an_expired_proposal_cannot_be_approved(desk, queue):
    cid = desk.signal()
    desk.clock.advance(301)
    r = queue.approve(cid)  # the dashboard has not seen the expiry yet: the session refuses
    desk.session.poll()
    out = queue.wait_outcome(cid, timeout=2, after=r.seq)
    assert out.done and not out.ok and out.state == "expired"
    assert any("expired" in m for m in out.messages)
    assert desk.session.broker.orders() == []
    again = queue.approve(cid)
    assert not again.written and "expired" in again.message


def test_the_session_expires_stale_proposals_and_the_queue_shows_it(desk, queue):
    cid = desk.signal()
    desk.clock.advance(301)
    desk.poll()  # the runner's expire_stale
    queue.refresh()
    assert queue.pending() == [] and queue.proposal(cid).state == "expired"


def test_price_drift_asks_for_confirmation_then_confirming_approves(desk, queue):
    cid = desk.signal()
    desk.bar(1, 1530)  # +2 % against a buyer; the limit is 1 %
    r = queue.approve(cid)
    desk.poll()
    out = queue.wait_outcome(cid, timeout=2, after=r.seq)
    assert out.done and not out.ok and out.state == "pending"
    assert any("price moved +2.00 %" in m and "confirm" in m for m in out.messages)
    r2 = queue.approve(cid, confirm_drift=True)
    assert r2.written  # the first decision was answered: a new one may be written
    desk.poll()
    assert queue.wait_outcome(cid, timeout=2, after=r2.seq).ok


def test_a_risk_gate_that_now_denies_refuses_the_approval(tmp_path):
    gate = FlipGate()
    d = Desk(tmp_path, gate=gate)
    q = ApprovalQueue(d.dashboard_journal(), d.cfg)
    cid = d.signal()
    gate.deny = True
    r = q.approve(cid)
    d.poll()
    out = q.wait_outcome(cid, timeout=2, after=r.seq)
    assert out.done and not out.ok and out.state == "denied"
    assert "over the test limit" in out.messages[0]
    assert q.proposal(cid).recheck["at"] == "approval"
    assert d.session.broker.orders() == []
    q.close()
    d.session.close()


def test_bulk_approve_shows_a_per_order_summary_first_and_approves_only_what_was_shown(desk, queue):
    a, b = desk.signal(), desk.signal(quantity=20)
    s = queue.bulk_approve_summary()
    assert s.client_order_ids == [a, b]
    assert s.total_value == Decimal("45000.00") and s.total_margin == Decimal("45000.00") and s.total_charges > 0
    assert f"{a}  BUY 10 NSE:RELIANCE" in s.render()
    c = desk.signal()  # arrives after the summary was shown
    with pytest.raises(ValidationError):
        queue.bulk_approve([a, b])  # type: ignore[arg-type]
    receipts = queue.bulk_approve(s)
    assert [r.written for r in receipts] == [True, True]
    desk.poll()
    queue.refresh()
    assert queue.proposal(a).state == queue.proposal(b).state == "approved"
    assert queue.proposal(c).state == "pending"
    decisions = [e.payload for e in queue.journal.events(types=(E.APPROVAL_DECISION,))]
    assert all(p["bulk"]["orders"] == 2 for p in decisions)


def test_bulk_summary_warns_when_margin_exceeds_funds(desk, queue):
    # 2.4 lakh each, under the per-order and concentration limits; 12 lakh together
    for sym in ("RELIANCE", "INFY", "TCS", "SBIN", "ITC"):
        desk.signal(symbol=sym, quantity=160)
    s = queue.bulk_approve_summary()
    assert isinstance(s, BulkSummary) and len(s.lines) == 5 and s.total_margin == Decimal("1200000.00")
    assert any("more than the funds available" in w for w in s.warnings)


def test_cancel_is_never_queued(desk, queue):
    cid = desk.signal()
    r = queue.approve(cid)
    desk.poll()
    queue.wait_outcome(cid, after=r.seq)
    c = queue.cancel(cid, "changed my mind")
    assert c.written
    desk.poll()
    assert desk.session.book.order(cid).status is OrderStatus.CANCELLED


def test_kill_writes_the_same_request_as_the_cli(desk, queue):
    r = queue.kill("feed looks wrong")
    assert r.written
    evs = [e for e in queue.journal.events(after=r.seq - 1)]
    assert [e.type for e in evs] == [E.KILL_SWITCH, E.TRADING_STATE]
    ks, st = evs[0].payload, evs[1].payload
    assert ks == {"action": "trip", "reason": "feed looks wrong", "by": "asha", "flatten": True, "previous": "ACTIVE",
                  "origin": "dashboard"}
    assert st["state"] == "HALTED" and st["previous"] == "ACTIVE" and st["cause"] == "kill_switch"
    with pytest.raises(ValidationError):
        queue.kill(" ")
    desk.session.poll()
    assert desk.session.book.trading_state == "HALTED"
    assert queue.trading_state == "HALTED"
    again = queue.kill("still wrong")  # already halted: no second state change
    assert [e.type for e in queue.journal.events(after=again.seq - 1)] == [E.KILL_SWITCH]


def test_auto_approval_is_recorded_as_the_policy(tmp_path):
    d = Desk(tmp_path, approval={"mode": "auto"})
    q = ApprovalQueue(d.dashboard_journal(), d.cfg)
    cid = d.signal()
    q.refresh()
    p = q.proposal(cid)
    assert q.pending() == [] and p.state == "approved" and p.auto and p.decided_by == "auto-policy"
    assert "auto-approval" in p.decision_reason
    assert q.policy("momo") == "auto"
    assert [x.client_order_id for x in q.decided()] == [cid]
    q.close()
    d.session.close()


def test_live_policy_is_manual_unless_the_config_allows_auto():
    from tradekit.config import load_config

    base = {"mode": "live", "live": {"allowed": True}, "approval": {"mode": "manual", "strategies": {"momo": "auto"}}}
    q = ApprovalQueue.__new__(ApprovalQueue)
    q.config = load_config(overrides=base)
    assert q.policy("momo") == "manual"
    q.config = load_config(overrides={**base, "approval": {**base["approval"], "allow_auto_in_live": True}})
    assert q.policy("momo") == "auto"


def test_decisions_are_stamped_with_the_session_clock(desk, queue):
    cid = desk.signal()
    r = queue.approve(cid)
    ev = [e for e in queue.journal.events(types=(E.APPROVAL_DECISION,))][-1]
    assert ev.seq == r.seq
    assert ev.time.date() == desk.clock.now().date()  # not the wall clock's date
    assert abs((ev.time - desk.clock.now()).total_seconds()) < 5


def test_without_a_session_the_decision_waits_and_says_so(desk, queue):
    cid = desk.signal()
    r = queue.approve(cid)
    out = queue.wait_outcome(cid, timeout=0.1, after=r.seq)
    assert not out.done and "is it running" in out.messages[0]
    assert queue.proposal(cid).awaiting["decision"] == "approve"


def test_the_approver_defaults_to_the_os_user(tmp_path, monkeypatch):
    import tradekit.execution.approval as ap

    monkeypatch.setattr(ap, "os_user", lambda: "ravi")
    d = Desk(tmp_path, approval={"approver": None})
    q = ApprovalQueue(d.dashboard_journal(), d.cfg)
    assert q.approver == "ravi"
    q.close()
    d.session.close()


def test_a_market_proposal_uses_the_price_at_proposal_for_margin_and_charges(desk, queue):
    cid = desk.signal(order_type="MARKET", price=None, reference_price=1500)
    p = queue.proposal(cid) if queue.refresh() is not None else None
    assert p.price is None and p.price_at_proposal == Decimal("1500")
    assert p.margin == Decimal("15000.00") and p.expected_charges is not None
    assert KEY in queue.prices


def test_a_kill_from_the_dashboard_makes_the_session_halt_and_flatten(desk, queue):
    cid = desk.signal(order_type="MARKET", price=None)
    r = queue.approve(cid)
    desk.poll()
    assert queue.wait_outcome(cid, after=r.seq).ok
    desk.bar(1, 1500)  # fills
    assert desk.session.book.net_quantity("NSE", "RELIANCE") == 10
    queue.kill("loss limit by hand")
    desk.poll()
    flat = [o for o in desk.session.book.orders.values() if o.source == "kill_switch"]
    assert desk.session.book.trading_state == "HALTED" and len(flat) == 1 and flat[0].request.quantity == 10
    desk.bar(2, 1500)
    assert desk.session.book.net_quantity("NSE", "RELIANCE") == 0
