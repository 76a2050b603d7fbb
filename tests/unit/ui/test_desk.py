"""A desk a trader trusts at a glance (issue 17, items 1-7) without a browser: the heartbeat, TTL in
real seconds, risk-centred cards, bad signal files, the state's cause and Unlock, history after a
reload. The browser side (banner, kill endpoint, keys) is in tests/browser/test_desk.py."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest

from tradekit.execution.approval import ApprovalQueue
from tradekit.runs.heartbeat import HeartbeatWriter, heartbeat_path, liveness, read_heartbeat, write_atomic
from tradekit.store import EventType as E
from tradekit.ui.approval import ApprovalView
from tradekit.ui.cards import check_words, ttl_html

from .conftest import Desk


@pytest.fixture
def view(queue):
    return ApprovalView(queue)


def _reload(desk) -> ApprovalView:
    """A new page: a new kernel, its own connection, its own view."""
    return ApprovalView(ApprovalQueue(desk.dashboard_journal(), desk.cfg))


# -- 1. liveness ---------------------------------------------------------------------------------
def test_no_heartbeat_means_no_session_and_a_beat_means_running_with_clock_and_speed(desk, view):
    assert "NO SESSION" in view.live.badge.value and "no session has written a heartbeat" in view.live.badge.value
    HeartbeatWriter(desk.session, speed=5.0).beat()
    view.refresh()
    assert re.search(r"RUNNING 10:01:0\d ×5", view.live.badge.value), view.live.badge.value
    assert "tk-running" in view.live.badge.value


def test_a_stale_or_stopped_heartbeat_is_no_session(desk, tmp_path):
    hb = HeartbeatWriter(desk.session, speed=2.0)
    hb.beat()
    path = heartbeat_path(desk.cfg.data_dir)
    d = json.loads(path.read_text())
    assert d["mode"] == "paper" and d["trading_state"] == "ACTIVE" and d["speed"] == 2.0 and not d["stopped"]
    assert read_heartbeat(path).alive
    late = read_heartbeat(path, now=d["wall_time"] + 6)
    assert not late.alive and "last heartbeat 6 s ago" in late.why and late.label() == "NO SESSION"
    hb.stop()
    out = read_heartbeat(path)
    assert not out.alive and out.why == "the session stopped"


def test_the_heartbeat_is_throttled_to_one_write_a_second_and_written_atomically(desk):
    hb = HeartbeatWriter(desk.session, every=1.0)
    assert hb.beat() and not hb.beat()
    assert hb.beat(force=True)
    assert [p.name for p in hb.path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_a_held_journal_lease_is_the_fallback_when_there_is_no_heartbeat_file(desk):
    from tradekit.store.lease import JournalLease

    engine = desk.session.journal.engine
    assert not liveness(desk.cfg.data_dir, engine).alive
    lease = JournalLease.acquire(engine)  # as a session on another machine holds it
    try:
        hb = liveness(desk.cfg.data_dir, engine)
        assert hb.alive and hb.source == "journal lease"
        assert not liveness(desk.cfg.data_dir, None).alive
    finally:
        lease.release()


def test_the_page_clock_comes_from_the_heartbeat_and_never_goes_back(desk, view):
    w = HeartbeatWriter(desk.session, speed=1.0)
    w.beat()
    view.refresh()
    first = view.clock
    assert first is not None and abs((first - desk.clock.now()).total_seconds()) < 5
    # a later beat whose clock is behind (a restarted replay, a skewed writer): the page clock holds
    p = w.payload()
    p["session_clock"] = (desk.clock.now() - timedelta(minutes=5)).isoformat()
    write_atomic(w.path, p)
    view.refresh()
    assert view.clock >= first


def test_the_kernel_beat_changes_every_second(view):
    before = view.live.beat.value
    time.sleep(1.05)
    view.refresh()
    assert view.live.beat.value != before


def test_the_paper_runner_writes_the_heartbeat_and_says_when_it_stopped(tmp_path):
    from tradekit.ui.harness import PaperDesk

    d = PaperDesk(tmp_path / "desk", speed=60.0).start()
    try:
        path = heartbeat_path(d.cfg.data_dir)
        assert d.wait(lambda: path.exists() and read_heartbeat(path).alive, 10)
        hb = read_heartbeat(path)
        assert hb.speed == 60.0 and hb.mode == "paper" and hb.session_clock.date() == d.day
    finally:
        d.stop()
    assert read_heartbeat(path).why == "the session stopped"


# -- 2. time as a trader feels it ------------------------------------------------------------------
def test_ttl_is_counted_in_real_seconds_with_a_bar_that_turns_amber_then_red(desk, view):
    HeartbeatWriter(desk.session, speed=5.0).beat()
    cid = desk.signal()
    view.refresh()
    ttl = view.cards[cid].ttl.value
    # 300 session seconds at ×5 are one real minute
    assert re.search(r"TTL (1:00|0:59) left \(real time\)", ttl) and "tk-ttl-green" in ttl and "tk-ttl-bar" in ttl
    assert "tk-ttl-amber" in ttl_html(20, 60, running=True, expires_at="10:06:00")
    assert "tk-ttl-red" in ttl_html(5, 60, running=True, expires_at="10:06:00")
    assert "TTL passed" in ttl_html(-1, 60, running=True, expires_at="10:06:00")


def test_without_a_session_the_ttl_says_it_is_not_counting(desk, view):
    cid = desk.signal()
    view.refresh()
    assert "no session running: the TTL is not counting" in view.cards[cid].ttl.value


# -- 3. cards built around risk ----------------------------------------------------------------------
def test_a_card_shows_side_chip_money_line_live_price_position_and_margin_after(desk, view):
    cid = desk.signal(quantity=20, price=1495.50, order_type="LIMIT", reference_price=1490.00)
    view.refresh()
    d = view.cards[cid].details.value
    assert view.cards[cid].proposal.is_pending
    assert 'tk-chip tk-chip-BUY">BUY<' in d
    assert "20 × ₹1,495.50 = ₹29,910" in d
    assert "live <b>₹1,490.00" not in d  # the signal's reference price is not the market
    assert "position +0 → <b>+20</b>" in d
    assert "free after" in d
    assert "no stop: the whole ₹ value is at risk" in d
    desk.session.journal.append(E.MARK, {"prices": {"NSE:RELIANCE": "1510.45"}})  # the session's marks
    view.refresh()
    d = view.cards[cid].details.value
    assert "live <b>₹1,510.45</b>" in d and "% since proposed" in d, d[d.find("tk-riskline"):][:200]


def test_a_stop_gives_rupees_at_risk_and_percent_of_capital(desk, view):
    cid = desk.signal(quantity=None, sizing={"rule": "risk_pct", "value": 0.5, "stop": 1480}, price=1500)
    view.refresh()
    p = view.cards[cid].proposal
    d = view.cards[cid].details.value
    risk = (1500 - 1480) * p.quantity
    assert f"stop ₹1,480.00 · <b>₹{risk:,} at risk</b>" in d
    assert "% of capital" in d


def test_gate_checks_are_in_words_not_codes(desk, view):
    cid = desk.signal()
    view.refresh()
    d = view.cards[cid].details.value
    assert "<td>trading state</td>" in d and "<td>STATE</td>" not in d and "<td>TICK</td>" not in d
    assert check_words("FAT_FINGER") == "price near the market" and check_words("STATE") == "trading state"
    assert re.search(r"\d+ of \d+ checks passed", d)


def test_a_decided_card_collapses_to_one_coloured_line(desk, view):
    cid = desk.signal()
    view.refresh()
    card = view.cards[cid]
    card.reason.value = "too late in the day"
    card.reject.click()
    desk.poll()
    view.refresh()
    assert "tk-decided" in card.box._dom_classes and "tk-card-details" in card.details._dom_classes
    assert "tk-status-rejected" in card.status.value and "tk-chip-BUY" in card.status.value
    assert "10 NSE:RELIANCE" in card.status.value and "REJECTED by asha" in card.status.value


def test_a_bad_signal_file_is_a_red_card_with_its_reason(desk, view):
    from tradekit.signals import Inbox

    inbox = Inbox.from_settings(desk.cfg.signals, desk.cfg.data_dir, desk.pipeline)
    folder = desk.cfg.signals.inbox_path(desk.cfg.data_dir)
    (folder / "broken.json").write_text('{"symbol": "RELIANCE", "side": "HOLD"')
    inbox.settle_seconds = 0
    inbox.poll()
    view.refresh()
    html = view.bad_files.value
    assert "tk-bad-file" in html and "signal file rejected: broken.json" in html and "rejected" in html


def test_the_state_badge_names_its_cause_and_unlock_asks_for_a_reason(desk, view):
    assert view.unlock_box.layout.display == "none"
    view.queue.kill("runaway strategy")
    view.refresh(force=True)
    assert "HALTED — kill switch by asha: runaway strategy" in view.state.value
    assert view.unlock_box.layout.display is None
    view.unlock_btn.click()
    assert "type why it is safe" in view.error.value
    view.unlock_reason.value = "strategy fixed"
    view.unlock_btn.click()  # the default cool-off (900 s) is running
    assert "cool-off" in view.error.value
    assert view.queue.trading_state == "HALTED"


def test_unlock_after_the_cool_off_writes_what_the_cli_writes(tmp_path):
    d = Desk(tmp_path, risk={"breakers": {"cooloff_seconds": 0}})
    try:
        v = ApprovalView(ApprovalQueue(d.dashboard_journal(), d.cfg))
        v.queue.kill("test")
        v.refresh(force=True)
        v.unlock_reason.value = "checked the positions"
        v.unlock_btn.click()
        evs = list(v.queue.journal.events())[-2:]
        assert [e.type for e in evs] == [E.KILL_SWITCH, E.TRADING_STATE]
        assert evs[0].payload["action"] == "unlock" and evs[1].payload["state"] == "ACTIVE"
        assert evs[1].payload["cause"] == "unlock" and evs[1].payload["reason"] == "checked the positions"
        assert "ACTIVE" in v.state.value and v.unlock_box.layout.display == "none"
    finally:
        d.session.close()


# -- 4. history survives a reload --------------------------------------------------------------------
def test_a_reload_keeps_decided_cards_and_the_activity_log(desk, view):
    a = desk.signal()
    view.refresh()
    view.cards[a].reason.value = "no"
    view.cards[a].reject.click()
    desk.poll()
    view.refresh()
    fresh = _reload(desk)
    assert a in fresh.cards and "REJECTED by asha" in fresh.cards[a].status.value
    assert f"{a}: BUY 10 NSE:RELIANCE" in fresh.activity.value and "REJECTED by asha" in fresh.activity.value


def test_a_denied_proposal_is_still_shown_after_a_reload(tmp_path):
    from .conftest import FlipGate

    gate = FlipGate()
    gate.deny = True
    d = Desk(tmp_path, gate=gate)
    try:
        rec = {"idempotency_key": "deny-1", "strategy": "momo", "signal_time": d.clock.now().isoformat(),
               "symbol": "RELIANCE", "side": "BUY", "quantity": 10, "order_type": "LIMIT", "price": 1500,
               "product": "CNC"}
        d.pipeline.submit([rec])
        v = ApprovalView(ApprovalQueue(d.dashboard_journal(), d.cfg))
        denied = [c for c in v.cards.values() if c.proposal.state == "denied"]
        assert denied and "DENIED by the risk gate" in denied[0].status.value
    finally:
        d.session.close()
