"""The dashboards in a real headless Chromium, next to a running paper session.

One paper desk (a paced replay of a bundled day in a thread: inbox, decisions, expiry), one
Voila server started the way ``tradekit serve`` starts it, one browser. Each test drops its own
signal file, so the tests do not depend on each other's proposals.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tradekit.store import EventType as E
from tradekit.store import verify
from tradekit.ui.harness import card_id

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect


def _events(desk, cid):
    q = desk.queue()
    try:
        return [e for e in q.journal.events() if e.payload.get("client_order_id") == cid]
    finally:
        q.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def test_the_dashboards_need_the_token_and_use_config_voila_json(voila):
    opener = urllib.request.build_opener(_NoRedirect)
    # the tree page: no kernel is started by these requests
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(voila.base_url + "/", timeout=10)
    assert e.value.code in (302, 403) and "/login" in (e.value.headers.get("Location") or "/login")
    with opener.open(f"{voila.base_url}/?token={voila.token}", timeout=10) as r:
        assert r.status == 200
        assert r.headers.get("Content-Security-Policy") == "frame-ancestors 'self'"


def test_a_signal_dropped_in_the_folder_appears_as_a_card(desk, approval_page, artifacts):
    page = approval_page
    desk.drop(desk.record("browser-card-1", quantity=3))
    cid = card_id(page, "browser-card-1")
    card = page.locator(f".tk-card-{cid}")
    expect(card).to_contain_text(f"BUY 3 {desk.key} MARKET CNC")
    expect(card).to_contain_text("browser-card-1")
    expect(card).to_contain_text("margin needed")
    expect(card).to_contain_text("risk gate")
    expect(page.locator(f".tk-status-{cid}")).to_contain_text("PENDING")
    expect(page.locator(".tk-trading-state")).to_contain_text("ACTIVE")
    page.screenshot(path=str(artifacts / "approval.png"), full_page=True)


def test_approve_places_a_paper_order_that_reaches_the_broker_and_the_audit_trail(desk, approval_page):
    page = approval_page
    desk.drop(desk.record("browser-approve-1", quantity=2))
    cid = card_id(page, "browser-approve-1")
    page.click(f".tk-approve-{cid}")
    expect(page.locator(f".tk-status-{cid}")).to_contain_text("APPROVED by asha", timeout=10_000)
    assert desk.wait(lambda: desk.session.broker.find_by_tag(cid) is not None, 5)
    types = [e.type for e in _events(desk, cid)]
    for t in (E.ORDER_CREATED, E.RISK_DECISION, E.APPROVAL_REQUESTED, E.APPROVAL_DECISION, E.APPROVAL_GRANTED,
              E.ORDER_SUBMITTED, E.ORDER_UPDATE):
        assert t in types, t
    decision = next(e for e in _events(desk, cid) if e.type == E.APPROVAL_DECISION).payload
    assert decision["decision"] == "approve" and decision["by"] == "asha" and decision["origin"] == "dashboard"
    q = desk.queue()
    try:
        assert verify(q.journal).ok
    finally:
        q.close()


def test_reject_records_the_reason(desk, approval_page):
    page = approval_page
    desk.drop(desk.record("browser-reject-1"))
    cid = card_id(page, "browser-reject-1")
    page.fill(f".tk-reason-{cid} input", "spread too wide at the open")
    page.click(f".tk-reject-{cid}")
    expect(page.locator(f".tk-status-{cid}")).to_contain_text("REJECTED by asha", timeout=10_000)
    expect(page.locator(f".tk-status-{cid}")).to_contain_text("spread too wide at the open")
    rejected = [e for e in _events(desk, cid) if e.type == E.APPROVAL_REJECTED]
    assert [e.payload["reason"] for e in rejected] == ["spread too wide at the open"]
    assert desk.session.broker.find_by_tag(cid) is None


def test_an_expired_proposal_cannot_be_approved(desk, approval_page, artifacts):
    page = approval_page
    desk.drop(desk.record("browser-expire-1"))
    cid = card_id(page, "browser-expire-1")
    expect(page.locator(f".tk-ttl-{cid}")).to_contain_text("left")
    # TTL / speed of wall time passes; the session records the expiry and the card follows
    expect(page.locator(f".tk-status-{cid}")).to_contain_text("EXPIRED", timeout=20_000)
    expect(page.locator(f".tk-status-{cid}")).to_contain_text("cannot be approved")
    expect(page.locator(f".tk-approve-{cid}")).to_be_disabled()
    page.eval_on_selector(f".tk-approve-{cid}", "b => b.click()")  # a disabled, hidden button sends nothing
    page.wait_for_timeout(300)
    types = [e.type for e in _events(desk, cid)]
    assert E.APPROVAL_EXPIRED in types and E.APPROVAL_DECISION not in types
    assert desk.session.broker.find_by_tag(cid) is None
    page.screenshot(path=str(artifacts / "approval-decided.png"), full_page=True)


def test_the_pnl_page_shows_the_fill(desk, voila, new_page, artifacts):
    q = desk.queue()
    try:
        desk.drop(desk.record("browser-pnl-1", quantity=4))
        assert desk.wait(lambda: q.refresh() is not None and any(p.signal_id == "browser-pnl-1" for p in q.pending()))
        cid = next(p.client_order_id for p in q.pending() if p.signal_id == "browser-pnl-1")
        r = q.approve(cid, reason="for the P&L test")
        assert q.wait_outcome(cid, timeout=5, after=r.seq).ok
        assert desk.wait(lambda: any(e.type == E.FILL for e in _events(desk, cid)), 10)
    finally:
        q.close()
    page = new_page
    page.goto(voila.url("pnl"), timeout=60_000)
    fills = page.locator(".tk-fills")
    expect(fills).to_contain_text(cid, timeout=60_000)
    expect(fills).to_contain_text(desk.key)
    expect(page.locator(".tk-positions")).to_contain_text("momo")
    net = page.locator(".tk-pnl-net")
    expect(net).to_contain_text("Net P&L (after charges)")
    expect(net).to_contain_text("charges")
    assert "fills 0" not in net.inner_text()
    expect(page.locator(".tk-risk-limits")).to_contain_text("daily loss")
    page.wait_for_selector(".tk-equity img, img.tk-equity", timeout=10_000)
    page.screenshot(path=str(artifacts / "pnl.png"), full_page=True)
