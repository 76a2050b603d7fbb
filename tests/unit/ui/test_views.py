"""The dashboard views without a browser: Button.click() fires the handlers in plain Python."""

from __future__ import annotations

import asyncio
import re
import threading
from decimal import Decimal

import pytest

from tradekit.execution.approval import ApprovalQueue
from tradekit.store import EventType as E
from tradekit.ui.approval import ApprovalView
from tradekit.clock import IST
from tradekit.ui.pnl import PnlModel, PnlView, equity_png

from .conftest import Desk


def _run(scenario):
    """asyncio.run in a thread of its own (a loop may already run in this one, e.g. Playwright's)."""
    out = []
    t = threading.Thread(target=lambda: out.append(asyncio.run(scenario())))
    t.start()
    t.join(30)
    return out[0] if out else None


@pytest.fixture
def view(queue):
    return ApprovalView(queue)


def _classes(widget) -> set[str]:
    return set(widget._dom_classes)


def test_a_new_proposal_gets_a_card_with_stable_classes(desk, view):
    from tradekit.runs.heartbeat import HeartbeatWriter

    HeartbeatWriter(desk.session, speed=5.0).beat()  # a running session at 5x: the TTL is in real seconds
    cid = desk.signal(key="momo:09.15/RELIANCE")
    view.refresh()
    card = view.cards[cid]
    assert {"tk-card", f"tk-card-{cid}", "tk-sig-momo_09_15_RELIANCE"} <= _classes(card.box)
    assert f"tk-approve-{cid}" in _classes(card.approve) and f"tk-reject-{cid}" in _classes(card.reject)
    assert f"tk-qty-{cid}" in _classes(card.qty) and f"tk-price-{cid}" in _classes(card.price)
    assert f"tk-reason-{cid}" in _classes(card.reason) and f"tk-status-{cid}" in _classes(card.status)
    assert view.pending_box.children == (card.box,)
    assert "1 pending" in view.count.value
    assert "PENDING" in card.status.value and re.search(r"TTL (1:00|0:59) left \(real time\)", card.ttl.value)
    assert "margin needed" in card.details.value and "15,000.00" in card.details.value
    assert "risk gate</b> passed" in card.details.value


def test_approve_disables_the_buttons_then_shows_the_sessions_outcome(desk, view):
    cid = desk.signal()
    view.refresh()
    card = view.cards[cid]
    card.approve.click()
    assert card.approve.disabled and card.reject.disabled
    assert "SENT approve by asha" in card.status.value
    card.approve.click()  # a queued second click writes nothing
    assert [e.type for e in view.queue.journal.events()].count(E.APPROVAL_DECISION) == 1
    desk.poll()
    view.refresh()
    assert card.status.value.count("APPROVED by asha") == 1 and "OPEN" in card.status.value
    assert view.pending_box.children == () and view.decided_box.children == (card.box,)
    assert "tk-decided" in _classes(card.box) and card.controls.layout.display == "none"
    assert "0 pending" in view.count.value
    assert "approve sent by asha" in view.activity.value


def test_modifying_the_quantity_relabels_approve_and_sends_the_change(desk, view):
    cid = desk.signal()
    view.refresh()
    card = view.cards[cid]
    card.qty.value = "4"
    assert card.approve.description == "Approve modified (qty 4)"
    card.approve.click()
    desk.poll()
    view.refresh()
    assert "MODIFIED (quantity → 4)" in card.status.value
    assert desk.session.broker.orders()[0].quantity == 4


def test_a_bad_quantity_shows_an_error_on_the_card_and_leaves_it_actionable(desk, view):
    cid = desk.signal()
    view.refresh()
    card = view.cards[cid]
    card.qty.value = "ten"
    card.approve.click()
    assert "ERROR" in card.status.value and "whole number" in card.status.value
    assert not card.approve.disabled and not card.reject.disabled


def test_reject_without_a_reason_is_refused_on_the_card(desk, view):
    cid = desk.signal()
    view.refresh()
    card = view.cards[cid]
    card.reject.click()
    assert "type a reason" in card.status.value and not card.reject.disabled
    card.reason.value = "spread too wide"
    card.reject.click()
    desk.poll()
    view.refresh()
    assert "REJECTED by asha" in card.status.value and "spread too wide" in card.status.value


def test_a_failing_service_is_shown_on_the_card_not_raised(desk, view, monkeypatch):
    cid = desk.signal()
    view.refresh()
    card = view.cards[cid]

    def boom(*a, **k):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(view.queue, "approve", boom)
    card.approve.click()  # must not raise
    assert "ERROR — RuntimeError: database is locked" in card.status.value
    assert not card.approve.disabled


def test_drift_shows_approve_anyway_which_confirms(desk, view):
    cid = desk.signal()
    view.refresh()
    card = view.cards[cid]
    desk.bar(1, 1530)
    card.approve.click()
    desk.poll()
    view.refresh()
    assert "price moved +2.00 %" in card.status.value and card.confirm.layout.display is None
    card.confirm.click()
    desk.poll()
    view.refresh()
    assert "APPROVED by asha" in card.status.value
    assert "the price had moved +2.00 % since the proposal" in card.status.value


def test_an_expired_proposal_shows_expired_and_cannot_be_clicked(desk, view):
    cid = desk.signal()
    view.refresh()
    card = view.cards[cid]
    desk.clock.advance(301)
    desk.poll()
    view.refresh()
    assert card.status.value.count("EXPIRED") == 1 and card.approve.disabled and card.reject.disabled


def test_the_kill_switch_needs_a_reason_and_a_confirmation(desk, view):
    view.kill_btn.click()
    assert "type why" in view.error.value and view.kill_confirm.layout.display == "none"
    view.kill_reason.value = "runaway strategy"
    view.kill_btn.click()
    assert view.kill_confirm.layout.display is None
    view.kill_confirm.click()
    types = [e.type for e in view.queue.journal.events()]
    assert types[-2:] == [E.KILL_SWITCH, E.TRADING_STATE]
    assert {"tk-trading-state"} <= _classes(view.state) and ">HALTED — kill switch by asha" in view.state.value
    assert "runaway strategy" in view.state.value and view.kill_btn.disabled


def test_bulk_approve_shows_the_summary_then_sends_one_decision_each(desk, view):
    a, b = desk.signal(), desk.signal(symbol="INFY", quantity=5)
    view.refresh()
    view.bulk_btn.click()
    assert a in view.bulk_summary.value and b in view.bulk_summary.value
    assert view.bulk_confirm.description == "Confirm approve 2"
    view.bulk_confirm.click()
    desk.poll()
    view.refresh()
    assert all("APPROVED" in view.cards[c].status.value for c in (a, b))
    assert view.bulk_summary.value == ""


def test_cards_for_decisions_made_elsewhere_appear_in_recent_decisions(tmp_path):
    d = Desk(tmp_path, approval={"mode": "auto"})
    v = ApprovalView(ApprovalQueue(d.dashboard_journal(), d.cfg))
    cid = d.signal()
    v.refresh()
    assert cid in v.cards and "auto-approval policy" in v.cards[cid].status.value
    assert v.pending_box.children == ()
    d.session.close()


def test_a_broken_setup_shows_an_error_panel_instead_of_a_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("mode: paper\napproval: {mode: sometimes}\n")
    v = ApprovalView.from_config(bad)
    assert "tk-error" in _classes(v.widget) and "approval.mode" in v.widget.value
    assert v.start() is None
    p = PnlView.from_config(bad)
    assert "tk-error" in _classes(p.widget)


def test_the_refresh_loop_follows_the_journal_on_the_event_loop(desk, view):
    view.interval = 0.01

    async def scenario():
        view.start()
        cid = desk.signal()
        for _ in range(200):
            await asyncio.sleep(0.01)
            if cid in view.cards:
                break
        view.stop()
        return cid

    cid = _run(scenario)
    assert cid in view.cards


def test_the_refresh_loop_wakes_on_a_journal_write_and_does_not_poll_while_idle(desk, view, monkeypatch):
    from tradekit.store.follower import watch_journal

    w = watch_journal(view.queue.journal)
    if w is None:
        pytest.skip("the journal's folder cannot be watched here (no inotify)")
    w.close()
    view.interval = view.idle_interval = 30.0  # only a journal write can bring the card in time
    calls = []
    real = view.refresh
    monkeypatch.setattr(view, "refresh", lambda **kw: calls.append(1) or real(**kw))

    async def scenario():
        view.start()
        await asyncio.sleep(0.4)
        idle = len(calls)  # the first refresh, and nothing since: no polling
        cid = desk.signal()
        for _ in range(300):
            await asyncio.sleep(0.01)
            if cid in view.cards:
                break
        view.stop()
        return idle, cid

    idle, cid = _run(scenario)
    assert idle == 1
    assert cid in view.cards and view.wakeups >= 1


def test_a_new_card_reuses_the_spare_built_while_idle(desk, view):
    view.refresh()  # a quiet pass builds the spare
    spare = view._spare
    assert spare is not None and "tk-card" not in _classes(spare.box)
    cid = desk.signal()
    view.refresh()
    card = view.cards[cid]
    assert card is spare and view._spare is None
    assert {"tk-card", f"tk-card-{cid}"} <= _classes(card.box) and f"tk-approve-{cid}" in _classes(card.approve)
    assert view.pending_box.children == (card.box,)
    view.refresh()
    assert view._spare is not None and view._spare is not card


def test_the_refresh_loop_shows_errors_and_keeps_going(desk, view, monkeypatch):
    view.interval = 0.01
    calls = []

    def flaky(**_kw):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("disk I/O error")
        return False

    monkeypatch.setattr(view, "refresh", flaky)

    async def scenario():
        view.start()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(calls) >= 2:
                break
        view.stop()

    _run(scenario)
    assert len(calls) >= 2 and "disk I/O error" in view.error.value


def test_pnl_view_shows_the_fill_positions_net_pnl_and_limits(desk, queue):
    cid = desk.signal(order_type="MARKET", price=None)
    r = queue.approve(cid)
    desk.poll()
    queue.wait_outcome(cid, after=r.seq)
    desk.bar(1, 1500)  # the market order fills on the next bar
    desk.bar(2, 1510)
    model = PnlModel(desk.dashboard_journal(), desk.cfg)
    v = PnlView(model)
    assert {"tk-pnl-net"} <= _classes(v.kpis) and {"tk-fills"} <= _classes(v.fills)
    s = model.summary()
    assert s["fills"] == 1 and s["charges"] > 0 and s["net"] == -s["charges"]  # filled at 1500, marked at 1500
    assert s["net"] == model.equity_now() - Decimal("1000000")
    assert "NSE:RELIANCE" in v.fills.value and cid in v.fills.value and "1,500.00" in v.fills.value
    assert "NSE:RELIANCE" in v.positions.value and "momo" in v.positions.value
    assert "Net P&amp;L (after charges)" in v.kpis.value
    assert "daily loss" in v.limits.value and "gross exposure" in v.limits.value
    assert v.chart.value[:4] == b"\x89PNG"
    assert "ACTIVE" in v.state.value
    # issue 17.8: fills and orders carry their date; the traded symbol has a price chart with its fill
    day = f"{model.fill_rows[0]['time'].astimezone(IST):%d %b}"
    assert day in v.fills.value and day in v.orders.value
    assert v.symbol.options == ("NSE:RELIANCE",) and v.symbol.value == "NSE:RELIANCE"
    assert v.price_chart.value[:4] == b"\x89PNG" and v.price_note.value == ""
    assert "-0 %" not in v.limits.value
    assert model.limits()[1] is None and model.gate().orders_today == 1  # the day's placed order
    before = len(model.equity)
    queue.kill("done for the day")
    v.refresh()
    assert "HALTED" in v.state.value and len(model.equity) == before


def test_equity_png_draws_an_empty_chart_too():
    assert equity_png([])[:4] == b"\x89PNG"


def test_one_proposal_that_cannot_be_shown_does_not_stop_the_others(desk, view, monkeypatch):
    bad, good = desk.signal(), desk.signal(symbol="INFY")
    real = view.queue.proposal

    def proposal(cid):
        if cid == bad:
            raise ValueError("corrupt payload")
        return real(cid)

    monkeypatch.setattr(view.queue, "proposal", proposal)
    view.refresh()
    assert good in view.cards and bad not in view.cards
    assert "corrupt payload" in view.error.value
    assert view.pending_box.children == (view.cards[good].box,)


def test_the_dashboards_flag_a_provisional_calendar_day(desk, queue, paper_config):
    """Issue 16: a day of a year without a published holiday list says so in the info line."""
    from datetime import date

    from tradekit.ui._common import calendar_flag

    flag = calendar_flag(paper_config, date(2027, 1, 4))
    assert "provisional calendar" in flag and "PROVISIONAL CALENDAR for 2027" in flag  # the note is the tooltip
    assert calendar_flag(paper_config, date(2026, 12, 4)) == ""
    model = PnlModel(desk.dashboard_journal(), desk.cfg)
    v = PnlView(model)
    assert "provisional" not in v.info.value  # the desk's day is in a published year
    model._day = date(2027, 1, 4)
    v.refresh(force=True)
    assert "provisional calendar" in v.info.value
