"""Conditional orders on a real paper session: price, symbol (index) and time triggers, restart
survival, cancel (here and from the command line), expiry, the gate's refusal while HALTED."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.execution.conditions_helpers import T0, config, events, feed, open_session, pipeline, record
from tradekit.cli import main
from tradekit.model.order import OrderStatus
from tradekit.store.events import EventType as E

ABOVE_1500 = {"kind": "price", "cross": "above", "level": 1500}


@pytest.fixture
def cfg(tmp_path):
    return config(tmp_path)


@pytest.fixture
def s(cfg):
    sess = open_session(cfg)
    yield sess
    sess.close()


def state(s, cid="C1"):
    return {c.id: c for c in s.conditions()}[cid]


def test_price_crossing_fires_once_at_the_crossing_and_the_order_fills(s):
    feed(s, "NSE:INFY", 1490)
    rep = pipeline(s).ingest(record(condition=ABOVE_1500))
    assert rep.accepted_ids == ["c1"] and not rep.errors
    c = state(s)
    assert c.state == "armed" and c.initial == {"": -1}  # the side at creation is recorded
    assert "NSE:INFY" in s.market.wanted and "condition:C1" in s.market.wanted["NSE:INFY"]
    feed(s, "NSE:INFY", 1495, 1499.95)
    assert state(s).state == "armed" and state(s).last_value == 1499.95
    assert not s.book.orders
    feed(s, "NSE:INFY", 1500.5, 1510, 1490, 1505)
    trig = events(s, E.CONDITION_TRIGGERED)
    assert len(trig) == 1 and trig[0]["value"] == "1500.5"
    o = s.book.order(trig[0]["client_order_id"])
    assert o.signal_id == "c1" and o.status is OrderStatus.FILLED and len(s.book.orders) == 1
    assert state(s).state == "triggered"
    assert "condition:C1" not in s.market.wanted.get("NSE:INFY", set())  # unsubscribed for the condition


def test_a_price_already_beyond_the_level_must_come_back_before_it_crosses(s):
    feed(s, "NSE:INFY", 1520)
    pipeline(s).ingest(record(condition=ABOVE_1500))
    assert state(s).initial == {"": 1}
    feed(s, "NSE:INFY", 1530, 1501, 1500)
    assert state(s).state == "armed"  # beyond, then at the level: no crossing yet
    feed(s, "NSE:INFY", 1499)  # the side a crossing starts from: journaled
    assert [p["side"] for p in events(s, "condition.progress")] == [-1]
    feed(s, "NSE:INFY", 1500)
    assert state(s).state == "triggered" and len(events(s, E.CONDITION_TRIGGERED)) == 1


def test_a_condition_survives_a_restart_and_fires_in_the_new_session(cfg):
    s1 = open_session(cfg)
    feed(s1, "NSE:INFY", 1520)
    pipeline(s1).ingest(record(condition=ABOVE_1500))
    feed(s1, "NSE:INFY", 1495)  # primed in the first session
    s1.close()

    s2 = open_session(cfg, T0 + timedelta(minutes=5))
    try:
        c = state(s2)
        assert c.state == "armed" and c.signal_id == "c1"
        assert "condition:C1" in s2.market.wanted["NSE:INFY"]  # subscribed again
        assert not s2.book.orders
        feed(s2, "NSE:INFY", 1501, 1502)  # the first price after the restart is a crossing: primed before it
        trig = events(s2, E.CONDITION_TRIGGERED)
        assert len(trig) == 1 and s2.book.order(trig[0]["client_order_id"]).status is OrderStatus.FILLED
        # and the restart did not make a second pipeline key or a second condition
        assert len(events(s2, E.CONDITION_CREATED)) == 1
    finally:
        s2.close()
    s3 = open_session(cfg, T0 + timedelta(minutes=9))
    try:
        assert state(s3).state == "triggered" and "NSE:INFY" not in {
            k for k, r in s3.market.wanted.items() if any(x.startswith("condition:") for x in r)}
        feed(s3, "NSE:INFY", 1490, 1510)
        assert len(events(s3, E.CONDITION_TRIGGERED)) == 1
    finally:
        s3.close()


def test_an_index_crossing_buys_the_stock(s):
    feed(s, "NSE:INFY", 1500)
    feed(s, "NSE:NIFTY 50", 24100)
    cond = {"kind": "symbol", "symbol": "NSE:NIFTY 50", "cross": "below", "level": 24000}
    pipeline(s).ingest(record(condition=cond))
    assert "condition:C1" in s.market.wanted["NSE:NIFTY 50"]
    feed(s, "NSE:INFY", 1480, 1470)  # the stock's own moves do not matter
    feed(s, "NSE:NIFTY 50", 24050, 24000.05)
    assert state(s).state == "armed"
    feed(s, "NSE:NIFTY 50", 23990)
    feed(s, "NSE:INFY", 1471)
    trig = events(s, E.CONDITION_TRIGGERED)
    assert len(trig) == 1 and trig[0]["value"] == "23990.0"
    o = s.book.order(trig[0]["client_order_id"])
    assert o.request.key == "NSE:INFY" and o.status is OrderStatus.FILLED


def test_time_condition_fires_at_the_time_on_the_session_clock(s):
    feed(s, "NSE:INFY", 1500)
    pipeline(s).ingest(record(condition={"kind": "time", "at": "10:05"}))
    s.clock.set(T0 + timedelta(minutes=4, seconds=59))
    s.poll()
    assert state(s).state == "armed"
    s.clock.set(T0 + timedelta(minutes=5))
    s.poll()
    s.poll()
    trig = events(s, E.CONDITION_TRIGGERED)
    assert len(trig) == 1 and trig[0]["at"] == (T0 + timedelta(minutes=5)).isoformat()
    feed(s, "NSE:INFY", 1501)
    assert s.book.order(trig[0]["client_order_id"]).status is OrderStatus.FILLED


def test_cancel_in_the_session_and_from_the_command_line(s, cfg, tmp_path, capsys):
    feed(s, "NSE:INFY", 1490)
    p = pipeline(s)
    p.ingest([record("a", condition=ABOVE_1500), record("b", condition=ABOVE_1500)])
    s.cancel_condition("C1", "changed my mind")
    assert state(s, "C1").state == "cancelled" and "condition:C1" not in s.market.wanted["NSE:INFY"]
    db = tmp_path / "var" / "paper.db"
    assert main(["conditions", "cancel", "C2", "--db", str(db), "--reason", "from the desk"]) == 0
    assert "C2 cancel requested" in capsys.readouterr().out
    s.poll()  # the running session reads the request from the journal
    assert state(s, "C2").state == "cancelled" and state(s, "C2").reason == "from the desk"
    assert "NSE:INFY" not in s.market.wanted or not any(
        r.startswith("condition:") for r in s.market.wanted["NSE:INFY"])
    feed(s, "NSE:INFY", 1510)
    assert not events(s, E.CONDITION_TRIGGERED) and not s.book.orders
    assert main(["conditions", "cancel", "C2", "--db", str(db)]) == 2
    assert capsys.readouterr().err.strip() == "error: ID: condition C2 is already cancelled"
    assert main(["conditions", "cancel", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Missing argument 'ID'" in err
    assert main(["conditions", "list", "--all", "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("C1  cancelled") and "NSE:INFY crosses above 1500" in out[0]


def test_expiry_at_until_and_at_the_end_of_the_day(s):
    feed(s, "NSE:INFY", 1490)
    until = (T0 + timedelta(minutes=30)).isoformat()
    pipeline(s).ingest([record("a", condition={**ABOVE_1500, "until": until}), record("b", condition=ABOVE_1500)])
    a, b = state(s, "C1"), state(s, "C2")
    assert a.expires_at == T0 + timedelta(minutes=30)
    assert b.expires_at.isoformat() == "2026-11-20T15:30:00+05:30"  # "day": the normal market's close
    s.clock.set(T0 + timedelta(minutes=30))
    s.poll()
    assert state(s, "C1").state == "expired" and state(s, "C2").state == "armed"
    s.clock.set(b.expires_at)
    s.poll()
    assert state(s, "C2").state == "expired"
    assert not any(r.startswith("condition:") for rs in s.market.wanted.values() for r in rs)
    feed(s, "NSE:INFY", 1510)
    assert not events(s, E.CONDITION_TRIGGERED) and len(events(s, E.CONDITION_EXPIRED)) == 2


def test_an_until_already_past_is_refused_naming_the_field(s):
    rep = pipeline(s).ingest(record(condition={**ABOVE_1500, "until": (T0 - timedelta(minutes=1)).isoformat()}))
    assert not rep.accepted and rep.rejected[0].reason == "refused"
    assert "condition.until" in rep.rejected[0].message and not s.conditions()


def test_a_trigger_while_halted_gets_the_gates_refusal_journaled(s):
    feed(s, "NSE:INFY", 1490)
    pipeline(s).ingest(record(condition=ABOVE_1500))
    s.kill("test halt", flatten=False)
    feed(s, "NSE:INFY", 1505)
    trig = events(s, E.CONDITION_TRIGGERED)
    assert len(trig) == 1 and trig[0]["order_status"] == OrderStatus.DENIED.value
    dec = [d for d in events(s, E.RISK_DECISION) if d["client_order_id"] == trig[0]["client_order_id"]]
    assert dec and not dec[0]["allowed"]
    assert state(s).state == "triggered"


def test_a_manual_route_waits_for_a_person(tmp_path):
    s = open_session(config(tmp_path, approval="manual"))
    try:
        feed(s, "NSE:INFY", 1490)
        pipeline(s).ingest(record(condition=ABOVE_1500))
        feed(s, "NSE:INFY", 1500)
        cid = events(s, E.CONDITION_TRIGGERED)[0]["client_order_id"]
        assert [p["client_order_id"] for p in events(s, E.APPROVAL_REQUESTED)] == [cid]
        assert s.book.order(cid).status is not OrderStatus.FILLED
    finally:
        s.close()


def test_malformed_conditions_are_rejected_naming_the_field_and_the_batch_goes_on(s):
    feed(s, "NSE:INFY", 1490)
    batch = [record("good", condition=ABOVE_1500),
             record("bad-level", condition={"kind": "price", "cross": "above", "level": -3}),
             record("bad-kind", condition={"kind": "volume", "cross": "above"}),
             record("bad-child", condition={"kind": "any", "conditions": [{"kind": "time", "at": "10:05"},
                                                                           {"kind": "time", "at": "27:00"}]}),
             record("bad-ma", condition={"kind": "indicator", "indicator": "sma_cross", "fast": 20, "slow": 5,
                                         "cross": "above"}),
             record("plain")]
    rep = pipeline(s).ingest(batch)
    assert rep.accepted_ids == ["good", "plain"]
    fields = {e.key: e.field for e in rep.errors}
    assert fields == {"bad-level": "condition.level", "bad-kind": "condition.kind",
                      "bad-child": "condition.conditions.1.at", "bad-ma": "condition.fast"}
    rejected = [p for p in events(s, E.SIGNAL_REJECTED) if p["reason"] == "malformed"]
    assert {p["errors"][0]["field"] for p in rejected} == set(fields.values())
    assert [c.signal_id for c in s.conditions()] == ["good"]


def test_all_and_any_groups(s):
    feed(s, "NSE:INFY", 1490)
    feed(s, "NSE:NIFTY 50", 24100)
    both = {"kind": "all", "conditions": [ABOVE_1500, {"kind": "symbol", "symbol": "NSE:NIFTY 50", "cross": "above",
                                                       "level": 24200}]}
    either = {"kind": "any", "conditions": [{"kind": "time", "at": "11:00"}, ABOVE_1500]}
    pipeline(s).ingest([record("both", condition=both), record("either", condition=either)])
    feed(s, "NSE:INFY", 1501)  # fires `either`; latches the first child of `both`
    assert state(s, "C2").state == "triggered" and state(s, "C1").state == "armed"
    assert any(p.get("fired") for p in events(s, "condition.progress"))
    feed(s, "NSE:INFY", 1490)
    feed(s, "NSE:NIFTY 50", 24250)
    assert state(s, "C1").state == "triggered"
    assert len(events(s, E.CONDITION_TRIGGERED)) == 2


def test_cancel_from_the_command_line_with_no_session_running(cfg, tmp_path, capsys):
    s1 = open_session(cfg)
    feed(s1, "NSE:INFY", 1490)
    pipeline(s1).ingest(record(condition=ABOVE_1500))
    s1.close()
    db = tmp_path / "var" / "paper.db"
    assert main(["conditions", "list", "--db", str(db)]) == 0
    assert capsys.readouterr().out.startswith("C1  armed")
    assert main(["conditions", "cancel", "C1", "--db", str(db), "--by", "desk"]) == 0
    assert capsys.readouterr().out.startswith("C1 cancelled by desk")
    s2 = open_session(cfg, T0 + timedelta(minutes=2))
    try:
        assert state(s2).state == "cancelled"
        assert "NSE:INFY" not in s2.market.wanted
        feed(s2, "NSE:INFY", 1510)
        assert not events(s2, E.CONDITION_TRIGGERED)
    finally:
        s2.close()


def test_a_trigger_while_new_orders_are_blocked_is_sent_when_they_resume_even_after_a_restart(cfg):
    s1 = open_session(cfg)
    feed(s1, "NSE:INFY", 1490)
    pipeline(s1).ingest(record(condition=ABOVE_1500))
    s1.oms.block_new_orders("reconciliation: an order differs at the broker")
    feed(s1, "NSE:INFY", 1501, 1503)
    assert state(s1).state == "armed" and not events(s1, E.CONDITION_TRIGGERED)
    due = [p for p in events(s1, "condition.progress") if p.get("due")]
    assert len(due) == 1 and due[0]["value"] == "1501.0" and "reconciliation" in due[0]["blocked"]
    s1.close()

    s2 = open_session(cfg, T0 + timedelta(minutes=3))  # a new session: not blocked
    try:
        assert [c.id for c in s2.conditions(["armed"])] == ["C1"]
        s2.poll()
        assert not events(s2, E.CONDITION_TRIGGERED)  # no price for the gate yet: it waits for one
        feed(s2, "NSE:INFY", 1504)  # a price for the gate; the due trigger goes out with it
        s2.poll()
        trig = events(s2, E.CONDITION_TRIGGERED)
        assert len(trig) == 1 and trig[0]["value"] == "1501.0"  # the crossing's value, sent now
        feed(s2, "NSE:INFY", 1505)
        assert s2.book.order(trig[0]["client_order_id"]).status is OrderStatus.FILLED
    finally:
        s2.close()


def test_a_child_of_a_group_cannot_have_its_own_until(s):
    rep = pipeline(s).ingest(record(condition={"kind": "all", "conditions": [
        {"kind": "time", "at": "10:30"}, {**ABOVE_1500, "until": "day"}]}))
    assert [(e.field, e.message) for e in rep.errors] == [
        ("condition.conditions.1.until", "a child has no validity of its own: give until on the group")]


def test_a_read_only_desk_view_lists_conditions_and_asks_the_owner_to_cancel(s, cfg):
    from tradekit.session_view import SessionView

    feed(s, "NSE:INFY", 1490)
    pipeline(s).ingest(record(condition=ABOVE_1500))
    view = SessionView(cfg)
    try:
        assert [(c.id, c.state) for c in view.conditions()] == [("C1", "armed")]
        view.cancel_condition("C1", "from a notebook", by="asha")
    finally:
        view.close()
    s.poll()
    c = state(s)
    assert c.state == "cancelled" and c.reason == "from a notebook"
    assert [p["by"] for p in events(s, E.CONDITION_CANCELLED)] == ["asha"]
