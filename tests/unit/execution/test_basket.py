"""Multi-leg baskets on the paper broker (tradekit.execution.basket): one approval, buys before sells, the
leg-failure policies (retry, unwind, alert), a leg timeout, the basket refused as a whole, and a restart
mid-basket resumed or unwound from the journal."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.unit.execution.conftest import T0, make_session
from tests.unit.options.helpers import DAY, PX, SPOT, master
from tradekit.data.types import Tick
from tradekit.errors import ValidationError
from tradekit.options import strategies as st
from tradekit.store.events import EventType as E

LEGS = ["NFO:NIFTY2681824700PE", "NFO:NIFTY2681824800PE", "NFO:NIFTY2681824900CE", "NFO:NIFTY2681825000CE"]
CONDOR_PX = {**PX, "NFO:NIFTY2681824900CE": Decimal(60)}  # credit 90 - 30 = 60 a unit


def session(tmp_path, **over):
    s = make_session(tmp_path, **{"account": {"capital": 10_000_000}, **over})
    s.instruments.add(master().search(exchange="NFO", underlying="NIFTY"))
    tick(s, 0)
    return s


def tick(s, minute, prices=None):
    ts = T0 + timedelta(minutes=minute)
    s.clock.set(ts)
    for k, p in (prices or CONDOR_PX).items():
        if k in LEGS:
            s.market.on_ticks([Tick(k, ts, float(p), mode="quote")], "paper")
            s.broker.on_tick(k, ts, float(p), 100_000)


def run(s, start=1, minutes=8, until=lambda: False, prices=None):
    for m in range(start, start + minutes):
        tick(s, m, prices)
        s.service()
        if until():
            return m
    return start + minutes


def condor(s, **kw):
    return st.iron_condor(s.instruments, "NIFTY", spot=SPOT, premiums=CONDOR_PX, today=DAY, **kw)


def sent(s, b, role="open"):
    out = []
    for ev in s.journal.events(types=(E.ORDER_CREATED,)):
        m = (ev.payload.get("meta") or {}).get("basket") or {}
        if m.get("id") == b.basket_id and m.get("role") == role:
            r = ev.payload["request"]
            out.append((r["tradingsymbol"], r["side"], r["quantity"]))
    return out


def positions(s):
    return {p.tradingsymbol: p.quantity for p in s.book.positions.values() if p.quantity}


def states(s, b):
    return [e.payload["state"] for e in s.journal.events(types=(E.BASKET_STATE,)) if e.payload["basket_id"] == b.basket_id]


def test_condor_legs_go_buys_first_one_after_the_other(tmp_path):
    s = session(tmp_path, approval={"mode": "auto"})
    b = s.basket(condor(s), name="ic")
    # margin (hand-checked in tests/unit/options/test_strategies_margin.py): span one wing 6,500, exposure 64,662,
    # the 60 × 65 credit
    assert b.state == "proposed" and Decimal(b.margin["final"]) == Decimal("67262.00")
    assert sent(s, b) == [("NIFTY2681824700PE", "BUY", 65)]  # only the head until it fills
    run(s, until=lambda: b.state == "complete")
    assert b.state == "complete"
    assert sent(s, b) == [("NIFTY2681824700PE", "BUY", 65), ("NIFTY2681825000CE", "BUY", 65),
                          ("NIFTY2681824800PE", "SELL", 65), ("NIFTY2681824900CE", "SELL", 65)]
    assert positions(s) == {"NIFTY2681824700PE": 65, "NIFTY2681824800PE": -65, "NIFTY2681824900CE": -65,
                            "NIFTY2681825000CE": 65}
    assert states(s, b) == ["working", "complete"]
    created = [e.payload for e in s.journal.events(types=(E.BASKET_CREATED,))][0]
    assert created["payoff"]["max_loss"] == str(Decimal(40 * 65).quantize(Decimal("0.01")))
    assert {c["code"] for c in created["checks"]} >= {"TICK", "LOT", "FREEZE", "FNO_BAN", "BASKET_MARGIN",
                                                      "PREMIUM_AT_RISK", "MAX_LOSS"}


def queue(s, tmp_path):
    """The dashboard's queue: another reader and writer of the journal (as a Voila kernel is)."""
    from tradekit.execution.approval import ApprovalQueue
    from tradekit.store import Journal, make_engine, sqlite_url

    s.journal.flush()  # a replay session writes in batches
    return ApprovalQueue(Journal(make_engine(sqlite_url(tmp_path / "j.db")), clock=s.clock), s.config)


def test_one_manual_approval_card_shows_the_whole_basket(tmp_path):
    from tradekit.ui.basket_card import basket_html

    s = session(tmp_path, approval={"mode": "manual"})
    b = s.basket(condor(s), name="ic")
    q = queue(s, tmp_path)
    (p,) = q.pending()
    assert p.basket["id"] == b.basket_id and len(p.basket["legs"]) == 4
    html = basket_html(p.basket)
    assert "<svg" in html and "max loss ₹2,600" in html and "max profit ₹3,900" in html
    assert "breakevens 24,740.00, 24,960.00" in html and "net credit ₹3,900" in html
    assert html.count('class="tk-basket-leg"') == 4
    q.approve(p.client_order_id, reason="ok")
    run(s, until=lambda: b.state == "complete")
    assert b.state == "complete"
    s.journal.flush()
    q.refresh()
    assert q.pending() == []  # the other three legs never waited for a person
    assert sum(1 for p in q.proposals() if p.basket) == 1
    s.close()


def test_a_head_leg_a_person_rejects_ends_the_basket_with_nothing_placed(tmp_path):
    s = session(tmp_path, approval={"mode": "manual"})
    b = s.basket(condor(s), name="ic")
    q = queue(s, tmp_path)
    q.reject(q.pending()[0].client_order_id, "not today")
    run(s, minutes=2)
    assert b.state == "cancelled" and positions(s) == {}
    s.close()


def fail_first_sell(s, b):
    """The paper broker rejects the next order once both buys have filled."""
    run(s, until=lambda: len(b.opens) == 2)
    s.broker.reject_all = "RMS: margin exceeds cash (injected)"
    tick(s, 20)
    s.service()
    s.broker.reject_all = None


def test_unwind_closes_the_filled_legs_in_reverse_order(tmp_path):
    s = session(tmp_path, approval={"mode": "auto"}, baskets={"on_leg_failure": "unwind"})
    b = s.basket(condor(s), name="ic")
    fail_first_sell(s, b)
    run(s, start=21, until=lambda: b.state == "unwound")
    assert b.state == "unwound", b.reason
    assert sent(s, b, "close") == [("NIFTY2681825000CE", "SELL", 65), ("NIFTY2681824700PE", "SELL", 65)]
    assert positions(s) == {}
    assert states(s, b) == ["working", "leg_failed", "unwinding", "unwound"]


def test_retry_places_the_leg_again(tmp_path):
    s = session(tmp_path, approval={"mode": "auto"}, baskets={"on_leg_failure": "retry", "retries": 1})
    b = s.basket(condor(s), name="ic")
    fail_first_sell(s, b)
    run(s, start=21, until=lambda: b.state == "complete")
    assert b.state == "complete"
    assert [x[0] for x in sent(s, b)].count("NIFTY2681824800PE") == 2
    assert len(positions(s)) == 4


def test_retries_used_up_then_unwound(tmp_path):
    s = session(tmp_path, approval={"mode": "auto"}, baskets={"on_leg_failure": "retry", "retries": 1})
    b = s.basket(condor(s), name="ic")
    run(s, until=lambda: len(b.opens) == 2)
    s.broker.reject_all = "RMS: blocked (injected)"
    run(s, start=20, minutes=4, until=lambda: b.state == "unwinding")
    s.broker.reject_all = None
    run(s, start=30, until=lambda: b.state == "unwound")
    assert b.state == "unwound" and positions(s) == {}
    assert states(s, b)[:5] == ["working", "leg_failed", "retrying", "leg_failed", "unwinding"]


def test_alert_keeps_what_filled_and_tells_a_person(tmp_path):
    s = session(tmp_path, approval={"mode": "auto"}, baskets={"on_leg_failure": "alert"})
    b = s.basket(condor(s), name="ic")
    fail_first_sell(s, b)
    run(s, start=21, minutes=3)
    assert b.state == "alerted" and positions(s) == {"NIFTY2681824700PE": 65, "NIFTY2681825000CE": 65}
    raised = [e.payload for e in s.journal.events(types=(E.ALERT_RAISED, E.ALERT))]
    assert any(b.basket_id in (p.get("title", "") + p.get("key", "")) for p in raised)


def test_a_leg_not_filled_in_time_is_cancelled_and_the_policy_applies(tmp_path):
    s = session(tmp_path, approval={"mode": "auto"}, baskets={"leg_timeout_seconds": 90})
    b = s.basket(condor(s), name="ic")
    run(s, until=lambda: len(b.opens) == 3)  # the first sell is working
    away = {**CONDOR_PX, "NFO:NIFTY2681824800PE": Decimal(50)}  # the market moves away from its limit of 70
    run(s, start=20, until=lambda: b.state == "unwound", prices=away)
    assert b.state == "unwound" and positions(s) == {}
    failed = [e.payload for e in s.journal.events(types=(E.BASKET_STATE,)) if e.payload["state"] == "leg_failed"]
    assert failed[0]["leg"] == 1


def test_a_basket_over_the_limits_is_refused_whole(tmp_path):
    s = session(tmp_path, approval={"mode": "auto"}, baskets={"max_loss": 2000})
    b = s.basket(condor(s), name="ic")  # max loss 40 × 65 = 2,600
    assert b.state == "refused" and "max loss ₹2,600.00, limit ₹2,000.00" in b.reason and sent(s, b) == []
    naked = st.straddle(s.instruments, "NIFTY", spot=SPOT, side="SELL", premiums={**PX}, today=DAY)
    b2 = s.basket(naked, name="ss")
    assert b2.state == "refused" and "unbounded" in b2.reason
    poor = session(tmp_path / "poor", approval={"mode": "auto"}, account={"capital": 50_000})
    b3 = poor.basket(condor(poor), name="ic")  # blocks ₹65,312
    assert b3.state == "refused" and "BASKET_MARGIN" in [c["code"] for c in b3.checks if not c["ok"]]
    with pytest.raises(ValidationError) as e:
        s.basket(condor(s), name="ic", policy="pray")
    assert e.value.field == "on_leg_failure"


def test_a_spec_dict_and_last_prices_make_the_basket(tmp_path):
    s = session(tmp_path, approval={"mode": "auto"})
    s.oms.mark("NSE:NIFTY 50", SPOT)
    s.oms.mark("NFO:NIFTY2681824800CE", 150)
    b = s.basket({"strategy": "bull_call", "underlying": "NIFTY", "expiry": "2026-08-18", "lower": 24800,
                  "upper": 24900}, name="bc")  # premiums from the last prices, spot from NIFTY 50's
    assert b.state == "proposed" and b.structure["spot"] == str(SPOT)


@pytest.mark.parametrize("on_restart,final", [("resume", "complete"), ("unwind", "unwound")])
def test_a_restart_mid_basket_resumes_or_unwinds(tmp_path, on_restart, final):
    from tradekit.session import Session
    from tradekit.store import Journal, make_engine, sqlite_url

    s = session(tmp_path, approval={"mode": "auto"}, baskets={"on_restart": on_restart})
    b = s.basket(condor(s), name="ic")
    run(s, until=lambda: len(b.opens) == 3)  # both buys filled, the first sell sent
    bid, broker, clock, cfg, gate = b.basket_id, s.broker, s.clock, s.config, s.gate
    s.journal.flush()
    s.broker._listeners.remove(s.oms)  # the old process is gone; the broker (Kite) outlives it
    s.close()
    s2 = Session(cfg, clock=clock, journal=Journal(make_engine(sqlite_url(tmp_path / "j.db")), clock=clock),
                 broker=broker, gate=gate)
    s2.instruments.add(master().search(exchange="NFO", underlying="NIFTY"))
    b2 = s2.baskets.baskets[bid]
    assert b2.opens == b.opens
    run(s2, start=30, until=lambda: b2.state == final)
    assert b2.state == final, b2.reason
    assert len(positions(s2)) == (4 if final == "complete" else 0)
    s2.close()


def test_a_leg_closed_outside_the_basket_stops_it_and_is_not_closed_twice(tmp_path):
    s = session(tmp_path, approval={"mode": "auto"})
    b = s.basket(condor(s), name="ic")
    run(s, until=lambda: len(b.opens) == 2)
    tick(s, 10)  # the second buy fills; no sell sent yet
    s.oms.flatten("ic", reason="a person flattens one strategy")  # closes both longs outside the basket
    run(s, start=12, until=lambda: not b.active)
    assert b.state == "failed" and "closed outside the basket" in b.reason
    assert positions(s) == {} and len(b.opens) == 2  # no naked short was sent after the wings went
    assert sent(s, b, "close") == []  # the flatten had closed them: the basket sends nothing more


def test_cancel_unwinds_what_filled(tmp_path):
    s = session(tmp_path, approval={"mode": "auto"})
    b = s.basket(condor(s), name="ic")
    run(s, until=lambda: len(b.opens) == 3)
    s.baskets.cancel(b.basket_id, reason="changed my mind")
    run(s, start=15, until=lambda: not b.active)
    assert b.state == "unwound" and positions(s) == {} and b.reason == "every filled leg closed"
