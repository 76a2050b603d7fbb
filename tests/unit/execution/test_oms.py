"""The OMS: one submit path, approvals, rejects, unknown outcomes, cancel and flatten."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradekit.errors import AmbiguousOrderState, BrokerUnavailable, TradingHalted, ValidationError
from tradekit.model import OrderRequest, OrderStatus as S
from tradekit.risk.base import CheckResult, RiskDecision
from tradekit.store import Book, verify

from .conftest import make_session, step

KEY = "NSE:INFY"


def mkt(side="BUY", qty=10, product="MIS", **kw):
    return OrderRequest("NSE", "INFY", side, qty, "MARKET", product, **kw)


def test_auto_order_goes_through_gate_to_the_broker_and_fills_next_bar(session):
    step(session, KEY, 0, 1500, 1501, 1499, 1500)
    o = session.submit(mkt(), strategy="s1")
    assert o.status is S.OPEN and o.request.market_protection == Decimal(-1) and o.request.tag == o.client_order_id
    step(session, KEY, 1, 1500.5, 1502, 1500, 1501)
    assert o.status is S.FILLED and o.average_price == Decimal("1500.5")
    pos = session.book.position("s1", "NSE", "INFY", "MIS")
    assert pos.quantity == 10 and pos.charges.total > 0
    types = [e.type for e in session.journal.events()]
    for t in ("order.created", "risk.decision", "approval.granted", "order.submitted", "order.update", "fill"):
        assert t in types
    assert types.index("order.submitted") < types.index("order.update")  # write-ahead


def test_denied_order_never_reaches_the_broker(tmp_path):
    class Deny:
        def check(self, order, ctx):
            return RiskDecision(False, (CheckResult("CONCENTRATION", False, "INFY: position would be 18.2 % of capital, limit 15 %"),))

    s = make_session(tmp_path, gate=Deny())
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    o = s.submit(mkt(), strategy="s1")
    assert o.status is S.DENIED and "18.2 %" in o.status_message
    assert s.broker.orders() == []


def test_manual_order_waits_for_a_person_then_is_rechecked_and_sent(tmp_path):
    s = make_session(tmp_path, approval={"mode": "manual"})
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    o = s.submit(mkt(), strategy="s1")
    assert o.status is S.PENDING_APPROVAL and s.broker.orders() == []
    out = s.oms.approve(o.client_order_id, by="asha", reason="looks fine", changes={"quantity": 5})
    assert out.ok and o.status is S.OPEN and o.request.quantity == 5
    again = s.oms.approve(o.client_order_id, by="asha")  # a queued double click
    assert not again.messages == [] and len(s.broker.orders()) == 1
    ev = [e for e in s.journal.events(types=("approval.granted",))][-1]
    assert ev.payload["by"] == "asha" and ev.payload["changes"] == {"quantity": 5}


def test_reject_needs_a_reason_and_is_recorded(tmp_path):
    s = make_session(tmp_path, approval={"mode": "manual"})
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    o = s.submit(mkt(), strategy="s1")
    with pytest.raises(ValidationError):
        s.oms.reject(o.client_order_id, by="asha", reason=" ")
    s.oms.reject(o.client_order_id, by="asha", reason="news pending")
    assert o.status is S.APPROVAL_REJECTED
    assert list(s.journal.events(types=("approval.rejected",)))[0].payload["reason"] == "news pending"


def test_expired_proposal_cannot_be_approved(tmp_path):
    s = make_session(tmp_path, approval={"mode": "manual", "ttl_seconds": 60})
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    o = s.submit(mkt(), strategy="s1")
    step(s, KEY, 5, 1500, 1501, 1499, 1500)
    out = s.oms.approve(o.client_order_id, by="asha")
    assert not out.ok and o.status is S.EXPIRED and s.broker.orders() == []


def test_price_drift_needs_confirmation(tmp_path):
    s = make_session(tmp_path, approval={"mode": "manual", "price_drift_pct": "0.5"})
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    o = s.submit(mkt(), strategy="s1")
    step(s, KEY, 1, 1500, 1520, 1500, 1515)  # +1 % against a buyer
    out = s.oms.approve(o.client_order_id, by="asha")
    assert not out.ok and "price moved +1.00 %" in out.messages[-1] and o.status is S.PENDING_APPROVAL
    out = s.oms.approve(o.client_order_id, by="asha", confirm_drift=True)
    assert out.ok and o.status is S.OPEN


def test_broker_reject_is_a_value_with_the_brokers_message(session):
    step(session, KEY, 0, 1500, 1501, 1499, 1500)
    o = session.submit(OrderRequest("NSE", "INFY", "BUY", 10, "LIMIT", "MIS", price=Decimal("1500.03")), strategy="s1")
    assert o.status is S.REJECTED and "Tick size for this script" in o.status_message


def test_insufficient_funds_is_rejected_like_kite(tmp_path):
    s = make_session(tmp_path, account={"capital": 10_000})
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    o = s.submit(mkt(qty=100, product="CNC"), strategy="s1")
    assert o.status is S.REJECTED and o.status_message.startswith("Insufficient funds. Required margin is 150000.00")


def test_cnc_sell_needs_holdings(session):
    step(session, KEY, 0, 1500, 1501, 1499, 1500)
    o = session.submit(mkt(side="SELL", product="CNC"), strategy="s1")
    assert o.status is S.REJECTED and "Insufficient holdings" in o.status_message


class Flaky:
    """Wraps the paper broker: the first placement times out *after* the order was placed."""

    def __init__(self, inner, mode):
        self.inner, self.mode, self.name, self.calls = inner, mode, "flaky", 0

    def __getattr__(self, k):
        return getattr(self.inner, k)

    def place_order(self, cid, req):
        self.calls += 1
        if self.mode == "placed_then_timeout":
            self.inner.place_order(cid, req)
            raise AmbiguousOrderState("read timed out")
        if self.mode == "lost":
            raise AmbiguousOrderState("connection dropped")
        raise BrokerUnavailable("429 too many requests")


def test_ambiguous_placement_is_resolved_by_tag_and_never_resent(tmp_path):
    s = make_session(tmp_path)
    s.oms.broker = flaky = Flaky(s.broker, "placed_then_timeout")
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    o = s.submit(mkt(), strategy="s1")
    # the paper broker's OPEN update beat the timeout: the outcome is known, nothing is unknown
    assert flaky.calls == 1 and o.status is S.OPEN and o.broker_order_id
    assert len(s.broker.orders()) == 1


class Silent(Flaky):
    """Placed at the broker, but neither the reply nor the update reaches us (a dropped socket)."""

    def place_order(self, cid, req):
        self.calls += 1
        listeners, self.inner._listeners = self.inner._listeners, []
        try:
            self.inner.place_order(cid, req)
        finally:
            self.inner._listeners = listeners
        raise AmbiguousOrderState("connection dropped after the request was sent")


def test_silent_placement_becomes_unknown_and_is_found_by_tag(tmp_path):
    s = make_session(tmp_path)
    s.oms.broker = silent = Silent(s.broker, "silent")
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    o = s.submit(mkt(), strategy="s1")
    assert silent.calls == 1 and o.status is S.OPEN and o.broker_order_id
    assert [e.type for e in s.journal.events() if e.type == "order.unknown"] == ["order.unknown"]
    assert len(s.broker.orders()) == 1
    step(s, KEY, 1, 1500, 1501, 1499, 1500)
    assert o.status is S.FILLED


def test_unknown_order_not_at_the_broker_is_rejected_after_the_grace_not_resent(tmp_path):
    s = make_session(tmp_path, execution={"unknown_max_lookups": 2, "unknown_grace_seconds": 60})
    s.oms.broker = flaky = Flaky(s.broker, "lost")
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    o = s.submit(mkt(), strategy="s1")
    assert o.status is S.UNKNOWN
    assert s.oms.resolve_unknown() == {o.client_order_id: "still unknown"}
    step(s, KEY, 2, 1500, 1501, 1499, 1500)
    assert s.oms.resolve_unknown() == {o.client_order_id: "not placed"}
    assert o.status is S.REJECTED and flaky.calls == 1


def test_rate_limited_placement_is_known_not_placed(tmp_path):
    s = make_session(tmp_path)
    s.oms.broker = Flaky(s.broker, "busy")
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    o = s.submit(mkt(), strategy="s1")
    assert o.status is S.REJECTED and "broker unavailable" in o.status_message


def test_cancel_and_flatten_are_never_blocked_by_approval_mode(tmp_path):
    s = make_session(tmp_path, approval={"mode": "manual"})
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    o = s.submit(mkt(), strategy="s1")
    s.oms.approve(o.client_order_id, by="asha")
    step(s, KEY, 1, 1500, 1501, 1499, 1500)
    lim = s.submit(OrderRequest("NSE", "INFY", "BUY", 10, "LIMIT", "MIS", price=Decimal("1400")), strategy="s1")
    s.oms.approve(lim.client_order_id, by="asha")
    assert lim.status is S.OPEN
    flat = s.oms.flatten(reason="end of day", source="square_off")
    assert lim.status is S.CANCELLED
    assert [f.status for f in flat] == [S.OPEN] and flat[0].approval_mode == "auto"
    step(s, KEY, 2, 1500, 1501, 1499, 1500)
    assert s.book.net_quantity("NSE", "INFY") == 0


def test_blocked_session_refuses_new_orders_but_not_reducing_ones(session):
    step(session, KEY, 0, 1500, 1501, 1499, 1500)
    session.submit(mkt(), strategy="s1")
    step(session, KEY, 1, 1500, 1501, 1499, 1500)
    session.oms.block_new_orders("reconciliation mismatch: 1 order at the broker is unknown to tradekit")
    with pytest.raises(TradingHalted, match="reconciliation mismatch"):
        session.submit(mkt(), strategy="s1")
    session.oms.flatten(reason="mismatch", source="flatten")
    step(session, KEY, 2, 1500, 1501, 1499, 1500)
    assert session.book.net_quantity("NSE", "INFY") == 0


def test_modify_then_fill_and_journal_rebuild_equals_state(session):
    step(session, KEY, 0, 1500, 1501, 1499, 1500)
    o = session.submit(OrderRequest("NSE", "INFY", "BUY", 10, "LIMIT", "MIS", price=Decimal("1400")), strategy="s1")
    session.oms.modify(o.client_order_id, price=Decimal("1499.50"))
    assert o.request.price == Decimal("1499.50") and o.modifications == 1
    step(session, KEY, 1, 1500, 1501, 1499, 1500)
    assert o.status is S.FILLED and o.average_price == Decimal("1499.50")
    session.journal.flush()
    assert verify(session.journal).ok
    assert Book.rebuild(session.journal.events()).snapshot() == session.book.snapshot()


def test_external_order_at_the_broker_is_flagged(session):
    step(session, KEY, 0, 1500, 1501, 1499, 1500)
    session.broker.place_order("MANUALX1", mkt(market_protection=-1, tag=None))
    ev = [e for e in session.journal.events(types=("broker.reconciliation",))]
    assert ev and ev[0].payload["kind"] == "external_order"


def test_sizing_rules(session):
    from tradekit.model import Signal

    step(session, KEY, 0, 1500, 1501, 1499, 1500)
    sig = Signal("k1", "s1", "NSE", "INFY", "BUY", None, sizing={"rule": "fixed_value", "value": 50000},
                 reference_price=Decimal("1500"))
    assert session.order_for_signal(sig).quantity == 33
    sig = Signal("k2", "s1", "NSE", "INFY", "BUY", None, sizing={"rule": "risk_pct", "value": 1, "stop": 1480},
                 reference_price=Decimal("1500"))
    assert session.order_for_signal(sig).quantity == 500  # 1 % of 10 lakh / ₹20 risk per share
    with pytest.raises(ValidationError) as e:
        session.order_for_signal(Signal("k3", "s1", "NSE", "INFY", "BUY", None, sizing={"rule": "magic"}))
    assert e.value.field == "sizing.rule"


def test_a_decision_written_by_another_process_is_executed_by_the_session(tmp_path):
    """The dashboard path: a second writer appends a person's decision; the session owning the broker acts."""
    from tradekit.store import Journal, make_engine, sqlite_url

    cfg_over = {"approval": {"mode": "manual"}, "store": {"durability": "sync"}}
    s = make_session(tmp_path, **cfg_over)
    s.journal.durability = "sync"  # a live-like session: every event committed at once
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    o = s.submit(mkt(), strategy="s1")
    s.journal.flush()
    dash = Journal(make_engine(sqlite_url(tmp_path / "j.db")))  # the dashboard's own connection
    dash.append("approval.decision", {"client_order_id": o.client_order_id, "decision": "approve", "by": "asha",
                                      "reason": "ok from the dashboard"})
    applied = s.poll()
    assert [e.type for e in applied] == ["approval.decision"]
    assert o.status is S.OPEN and len(s.broker.orders()) == 1
    assert s.book.decisions[o.client_order_id]["by"] == "asha"
    assert s.poll() == []  # nothing twice
    dash.append("control", {"action": "cancel", "client_order_id": o.client_order_id, "by": "asha"})
    s.poll()
    assert o.status is S.CANCELLED


def test_cnc_buys_settle_t_plus_one_into_holdings(session):
    from tradekit.store import EventType as E

    step(session, KEY, 0, 1500, 1501, 1499, 1500)
    session.submit(mkt(qty=10, product="CNC"), strategy="s1")
    step(session, KEY, 1, 1500, 1501, 1499, 1500)
    h = session.book.holdings()[0]
    assert (h["quantity"], h["settled"], h["t1"], h["today"]) == (10, 0, 0, 10)
    session._emit(E.DAY_ROLLED, {"day": "2026-11-23"})
    h = session.book.holdings()[0]
    assert (h["settled"], h["t1"], h["today"]) == (0, 10, 0)  # T1: sellable (BTST), not yet in demat
    session._emit(E.DAY_ROLLED, {"day": "2026-11-24"})
    assert session.book.holdings()[0]["settled"] == 10


def test_bonus_adjusts_book_and_broker_alike(session):
    step(session, KEY, 0, 2800, 2801, 2799, 2800)
    session.submit(mkt(qty=10, product="CNC"), strategy="s1")
    step(session, KEY, 1, 2800, 2801, 2799, 2800)
    session.corporate_action("bonus", "NSE", "INFY", new=1, held=1)
    pos = session.book.position("s1", "NSE", "INFY", "CNC")
    assert pos.quantity == 20 and pos.average_price == Decimal("1400")
    assert [p.quantity for p in session.broker.positions()] == [20]
    session.journal.flush()
    assert Book.rebuild(session.journal.events()).snapshot() == session.book.snapshot()


def test_the_order_rate_governor_paces_a_burst_instead_of_refusing_it(tmp_path):
    from tradekit.session import Session
    from tradekit.config import load_config
    from .conftest import T0

    cfg = load_config(overrides={"paper": {"latency_ms": 0, "participation": 0, "slippage": {"model": "none"}},
                                 "risk": {"compliance": {"max_orders_per_second": 2}}})
    s = Session.for_replay(cfg, tmp_path / "j.db", T0)  # the real gate
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    t0 = s.clock.now()
    orders = [s.submit(OrderRequest("NSE", "INFY", "BUY", 1, "LIMIT", "MIS", price=Decimal("1480")), strategy="s1")
              for _ in range(6)]
    assert all(o.status is S.OPEN for o in orders)  # none refused for rate
    sent = [e.ts for e in s.journal.events(types=("order.submitted",))]
    assert (s.clock.now() - t0).total_seconds() >= 2.0  # six orders at 2/s take at least two more seconds
    per_second = {}
    for t in sent:
        per_second[t[:19]] = per_second.get(t[:19], 0) + 1
    assert max(per_second.values()) <= 2
