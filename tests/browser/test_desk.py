"""Issue 17 items 1-7 in a real headless Chromium, next to a running paper session.

In file order (the module's desk is shared): liveness and the page clock, TTL bar and the
new-card alert, a risk-centred card (screenshot), keys, a bad signal file as a red card, a
reload keeping history, a closed page's kernel culled, the kill endpoint's auth, a killed
kernel (banner, the kill switch through ``tradekit serve``'s endpoint halting the session,
reload), and last, with the session stopped, NO SESSION.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import time
import urllib.error
import urllib.request

import pytest

from tradekit.store import EventType as E
from tradekit.ui.harness import card_id, loopback_only

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

CLOSED_TIMEOUT = 3
CULL_INTERVAL = 1


@pytest.fixture(scope="module")
def voila(desk, artifacts):
    """``tradekit serve`` with a short closed-page timeout, to watch a closed tab's kernel go."""
    from tradekit.ui.cli import serve

    log = open(artifacts / "voila-desk.log", "w")
    home = desk.folder / "home"
    home.mkdir(exist_ok=True)
    srv = serve(desk.config_path, port=0, token=secrets.token_urlsafe(16), show_tracebacks=True, stdout=log,
                stderr=log, env={"HOME": str(home), "NO_PROXY": "127.0.0.1,localhost"},
                cull_interval=CULL_INTERVAL, closed_timeout=CLOSED_TIMEOUT)
    yield srv
    srv.stop()
    log.close()


def _kernels(srv) -> list:
    import psutil

    try:
        kids = psutil.Process(srv.proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for p in kids:
        try:
            if "ipykernel" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


def _open(browser, url):
    ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = ctx.new_page()
    loopback_only(page)
    page.goto(url, timeout=60_000)
    page.wait_for_selector(".tk-pending-count", timeout=60_000)
    return ctx, page


def _events(desk, cid=None, types=None):
    q = desk.queue()
    try:
        return [e for e in q.journal.events() if (cid is None or e.payload.get("client_order_id") == cid)
                and (types is None or e.type in types)]
    finally:
        q.close()


# -- 1/2: liveness, clock, TTL, alerts -------------------------------------------------------------
def test_the_page_shows_running_with_the_session_clock_and_speed(approval_page):
    badge = approval_page.locator(".tk-liveness")
    expect(badge).to_contain_text(re.compile(r"RUNNING \d\d:\d\d:\d\d ×60"), timeout=15_000)
    t1 = badge.inner_text()
    approval_page.wait_for_timeout(1500)
    t2 = badge.inner_text()
    clock = lambda t: re.search(r"\d\d:\d\d:\d\d", t).group(0)  # noqa: E731
    assert clock(t2) > clock(t1)  # the clock moves (×60) and never goes back


def test_a_new_card_alerts_and_its_ttl_is_in_real_seconds_with_a_bar(desk, approval_page):
    page = approval_page
    before = page.evaluate("window.tkPage.alerts")
    desk.drop(desk.record("desk-ttl-1", quantity=2))
    cid = card_id(page, "desk-ttl-1")
    # TTL 480 session s at ×60 = 8 real seconds
    expect(page.locator(f".tk-ttl-{cid}")).to_contain_text(re.compile(r"TTL 0:0[5-8] left \(real time\)"))
    assert page.locator(f".tk-ttl-{cid} .tk-ttl-bar .tk-ttl-fill").count() == 1
    page.wait_for_function(f"window.tkPage.alerts > {before}", timeout=5_000)
    expect(page.locator(f".tk-ttl-{cid} .tk-ttl-fill.tk-ttl-red")).to_have_count(1, timeout=10_000)
    assert re.match(r"\(\d+\) ", page.title())


# -- 3: cards built around risk ------------------------------------------------------------------------
def test_a_card_is_built_around_risk(desk, approval_page, artifacts):
    page = approval_page
    desk.drop(desk.record("desk-risk-1", quantity=20))
    cid = card_id(page, "desk-risk-1")
    card = page.locator(f".tk-card-{cid}")
    expect(card.locator(".tk-chip-BUY")).to_have_text("BUY")
    expect(card).to_contain_text(re.compile(r"20 × ₹[\d,]+\.\d\d = ₹[\d,]+"))
    expect(card).to_contain_text(re.compile(r"position [+-]?\d+ → \+?\d+"))
    expect(card).to_contain_text("free after")
    expect(card).to_contain_text(re.compile(r"\d+ of \d+ checks passed"))
    expect(card).to_contain_text("live ₹", timeout=10_000)
    assert "STATE" not in card.locator("summary").inner_text()
    card.screenshot(path=str(artifacts / "approval-card.png"))
    page.screenshot(path=str(artifacts / "approval-desk.png"), full_page=True)


def test_keys_approve_reject_and_modify(desk, approval_page):
    page = approval_page
    page.wait_for_function("document.querySelectorAll('.tk-pending .tk-card').length === 0", timeout=20_000)
    desk.drop(desk.record("desk-key-1", quantity=1))
    cid = card_id(page, "desk-key-1")
    page.locator("h4").first.click()  # focus the page, not a field
    page.keyboard.press("m")
    assert page.evaluate("document.activeElement.closest('[class*=tk-qty-]') !== null")
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.tagName") != "INPUT"  # Escape leaves the field
    page.keyboard.press("a")
    expect(page.locator(f".tk-status-{cid}")).to_contain_text("APPROVED by asha", timeout=10_000)
    desk.drop(desk.record("desk-key-2", quantity=1))
    cid2 = card_id(page, "desk-key-2")
    page.locator("h4").first.click()
    page.keyboard.press("r")
    page.keyboard.type("rejected from the keyboard")
    page.keyboard.press("Enter")
    expect(page.locator(f".tk-status-{cid2}")).to_contain_text("REJECTED by asha", timeout=10_000)
    # decided cards collapse to one coloured line
    assert page.locator(f".tk-card-{cid2} .tk-card-details").is_hidden()


def test_keys_act_on_the_selected_card_not_the_top_one(desk, approval_page, artifacts):
    page = approval_page
    page.wait_for_function("document.querySelectorAll('.tk-pending .tk-card').length === 0", timeout=20_000)
    desk.drop(desk.record("desk-sel-1", quantity=1), desk.record("desk-sel-2", quantity=2))
    first, second = card_id(page, "desk-sel-1"), card_id(page, "desk-sel-2")
    page.locator("h4").first.click()  # focus the page, not a field
    page.keyboard.press("j")  # the selection moves to the second card, visibly
    expect(page.locator(f".tk-card-{second}.tk-selected")).to_have_count(1)
    expect(page.locator(f".tk-card-{first}.tk-selected")).to_have_count(0)
    assert page.locator(f".tk-card-{second}").evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    page.screenshot(path=str(artifacts / "approval-selected.png"))
    page.keyboard.press("a")
    expect(page.locator(f".tk-status-{second}")).to_contain_text("APPROVED by asha", timeout=10_000)
    assert "PENDING" in page.locator(f".tk-status-{first}").inner_text()  # the top card was not touched
    # the decided card's place goes to the one left: r rejects it
    expect(page.locator(f".tk-card-{first}.tk-selected")).to_have_count(1, timeout=5_000)
    page.keyboard.press("r")
    page.keyboard.type("second thoughts")
    page.keyboard.press("Enter")
    expect(page.locator(f".tk-status-{first}")).to_contain_text("REJECTED by asha", timeout=10_000)
    kinds = {e.payload["client_order_id"]: e.payload["decision"]
             for e in _events(desk, types=(E.APPROVAL_DECISION,)) if e.payload["client_order_id"] in (first, second)}
    assert kinds == {second: "approve", first: "reject"}


# -- issue 18: alerts as toasts ---------------------------------------------------------------------------
def test_a_critical_alert_is_a_sticky_toast_until_acked_and_the_ack_is_journaled(desk, approval_page, artifacts):
    page = approval_page
    aid = desk.session.alerts.raise_("breaker", "daily loss breaker tripped", "lost ₹2,140 (2.1 % of capital)",
                                     priority="critical", key="desk-toast-1")
    toast = page.locator(f".tk-toast-{aid}")
    expect(toast).to_be_visible(timeout=10_000)
    expect(toast).to_contain_text("CRITICAL: daily loss breaker tripped")
    assert toast.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(197, 34, 31)"
    assert toast.evaluate("e => getComputedStyle(e.parentElement).position") == "fixed"
    toast.screenshot(path=str(artifacts / "alert-toast.png"))
    page.screenshot(path=str(artifacts / "alert-toast-page.png"))
    page.wait_for_timeout(2500)  # sticky: still there after the page's refreshes
    expect(toast).to_be_visible()
    page.click(f".tk-ack-{aid}")
    expect(toast).to_have_count(0, timeout=10_000)
    expect(page.locator(".tk-activity")).to_contain_text(f"alert {aid} acknowledged by asha")
    # journaled: the page's request, then the running session's acknowledgement (escalation stops)
    assert desk.wait(lambda: any(e.payload.get("id") == aid for e in _events(desk, types=(E.ALERT_ACKED,))), 10)
    (req,) = [e for e in _events(desk, types=(E.ALERT_ACK_REQUESTED,)) if e.payload["id"] == aid]
    (ack,) = [e for e in _events(desk, types=(E.ALERT_ACKED,)) if e.payload["id"] == aid]
    assert (req.payload["by"], req.payload["via"]) == ("asha", "dashboard")
    assert (ack.payload["by"], ack.payload["via"]) == ("asha", "dashboard") and ack.seq > req.seq


def test_the_execution_page_lists_alerts_and_shows_toasts(desk, browser, voila, artifacts):
    aid = desk.session.alerts.raise_("reconciliation_mismatch", "broker and book disagree on INFY",
                                     "book +10, broker +0", priority="critical", key="desk-toast-2")
    ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = ctx.new_page()
    loopback_only(page)
    try:
        page.goto(voila.url("execution"), timeout=60_000)
        toast = page.locator(f".tk-toast-{aid}")
        expect(toast).to_be_visible(timeout=60_000)
        page.get_by_text("Alerts (", exact=False).first.click()
        rows = page.locator(".tk-alerts-table")
        expect(rows.locator(f".tk-alert-{aid}")).to_contain_text("not acknowledged")
        expect(rows.locator(f".tk-alert-{aid}")).to_contain_text("dashboard ✓")
        expect(rows.locator(f".tk-alert-{aid} .tk-prio-critical")).to_have_text("critical")
        page.click(f".tk-ack-{aid}")
        expect(toast).to_have_count(0, timeout=10_000)
        expect(rows.locator(f".tk-alert-{aid} .tk-alert-ack")).to_contain_text("via dashboard", timeout=10_000)
        page.screenshot(path=str(artifacts / "execution-alerts.png"), full_page=True)
        assert desk.wait(lambda: any(e.payload.get("id") == aid for e in _events(desk, types=(E.ALERT_ACKED,))), 10)
    finally:
        ctx.close()


def test_a_bad_signal_file_is_a_red_card_with_its_reason(desk, approval_page, artifacts):
    page = approval_page
    (desk.inbox / "broken-desk.json").write_text('{"symbol": "RELIANCE", "side": "HOLD"')
    bad = page.locator(".tk-bad-file", has_text="broken-desk.json")
    expect(bad).to_be_visible(timeout=10_000)
    expect(bad).to_contain_text("rejected")
    assert "rgb(252, 232, 230)" == bad.evaluate("e => getComputedStyle(e).backgroundColor")


def test_the_first_paint_is_a_skeleton_before_the_widgets(browser, voila):
    ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = ctx.new_page()
    loopback_only(page)
    try:
        t0 = time.monotonic()
        page.goto(voila.url("approval"), wait_until="commit", timeout=60_000)
        page.wait_for_selector(".tk-skeleton", state="visible", timeout=10_000)
        first_paint = time.monotonic() - t0
        timing = page.evaluate("""(() => { const n = performance.getEntriesByType('navigation')[0];
            const p = performance.getEntriesByName('first-contentful-paint')[0];
            return {ttfb: n.responseStart, fcp: p ? p.startTime : null}; })()""")
        print("first paint", round(first_paint, 2), timing)
        # 1.4 s on a quiet 2-core machine; a loaded CI box is slower, so the hard bound here is loose and the
        # structural point is asserted instead: the skeleton is painted before the kernel's widgets exist
        assert first_paint < 10.0, f"skeleton after {first_paint:.2f} s ({timing})"
        assert page.locator(".tk-pending-count").count() == 0 or timing["fcp"] is not None
        expect(page.locator(".tk-skeleton")).to_contain_text("Approval queue")
        page.wait_for_selector(".tk-pending-count", timeout=60_000)
        expect(page.locator(".tk-skeleton")).to_have_count(0)
    finally:
        ctx.close()


# -- 4: history, culling ------------------------------------------------------------------------------
def test_a_reload_keeps_decided_cards_and_the_activity_log(desk, approval_page):
    page = approval_page
    desk.drop(desk.record("desk-hist-1"))
    cid = card_id(page, "desk-hist-1")
    page.fill(f".tk-reason-{cid} input", "history check")
    page.click(f".tk-reject-{cid}")
    expect(page.locator(f".tk-status-{cid}")).to_contain_text("REJECTED by asha", timeout=10_000)
    page.reload(timeout=60_000)
    page.wait_for_selector(".tk-pending-count", timeout=60_000)
    expect(page.locator(f".tk-status-{cid}")).to_contain_text("history check")
    expect(page.locator(".tk-activity")).to_contain_text(f"{cid}: BUY 1 {desk.key}")


def test_a_closed_pages_kernel_is_shut_down_within_the_configured_time(browser, voila):
    before = {p.pid for p in _kernels(voila)}
    ctx, page = _open(browser, voila.url("approval"))
    mine = [p for p in _kernels(voila) if p.pid not in before]
    assert len(mine) == 1
    ctx.close()
    t0 = time.monotonic()
    limit = CLOSED_TIMEOUT + CULL_INTERVAL + 5  # + the kernel's own shutdown
    while mine[0].is_running() and mine[0].status() != "zombie" and time.monotonic() - t0 < limit:
        time.sleep(0.2)
    assert not mine[0].is_running() or mine[0].status() == "zombie", f"kernel alive {time.monotonic() - t0:.1f} s"


# -- 1: the kill endpoint, a killed kernel -------------------------------------------------------------
def test_the_kill_endpoint_needs_the_token(voila):
    url = voila.base_url + "/tradekit/api/kill"
    req = urllib.request.Request(url, data=b'{"reason": "x"}', method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403
    req = urllib.request.Request(voila.base_url + "/tradekit/api/liveness",
                                 headers={"Authorization": f"token {voila.token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = json.loads(r.read())
    assert body["alive"] and body["label"].startswith("RUNNING")


def test_a_killed_kernel_shows_a_banner_the_kill_switch_still_halts_and_the_page_reloads(desk, browser, voila,
                                                                                           artifacts):
    before = {p.pid for p in _kernels(voila)}
    ctx, page = _open(browser, voila.url("approval"))
    try:
        mine = [p for p in _kernels(voila) if p.pid not in before]  # (a slow page may have reloaded once)
        assert mine
        for p in mine:
            p.send_signal(signal.SIGKILL)
        banner = page.locator(".tk-banner")
        expect(banner).to_be_visible(timeout=15_000)
        expect(banner).to_contain_text("CONNECTION TO THE DASHBOARD LOST")
        page.locator(".tk-banner-kill-reason").fill("kernel died, halting from the banner")
        page.screenshot(path=str(artifacts / "approval-banner.png"))
        page.click(".tk-banner-kill")
        expect(page.locator(".tk-banner .tk-kill-path")).to_contain_text("HALTED via the tradekit serve endpoint",
                                                                          timeout=10_000)
        kills = _events(desk, types=(E.KILL_SWITCH,))
        assert kills[-1].payload["origin"] == "dashboard-endpoint"
        assert desk.wait(lambda: desk.session.book.trading_state == "HALTED", 10)
        # after the kill the page reloads onto a new kernel
        page.wait_for_selector(".tk-trading-state", timeout=60_000)
        expect(page.locator(".tk-trading-state")).to_contain_text("HALTED — kill switch", timeout=60_000)
        assert page.locator(".tk-banner").count() == 0
    finally:
        ctx.close()


def test_with_no_session_the_page_says_so_in_red(desk, browser, voila):
    desk.stop()  # the halted session has stopped anyway; its heartbeat says so
    ctx, page = _open(browser, voila.url("approval"))
    try:
        badge = page.locator(".tk-liveness .tk-no-session")
        expect(badge).to_have_text("NO SESSION", timeout=15_000)
        assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(217, 48, 37)"
    finally:
        ctx.close()
