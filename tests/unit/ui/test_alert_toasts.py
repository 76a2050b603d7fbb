"""Alert toasts and the Alerts list on the dashboards (issue 18), without a browser."""

from __future__ import annotations

import time

import pytest

from tradekit.execution.approval import ApprovalQueue
from tradekit.store import EventType as E
from tradekit.ui.alerts import AlertFeed, alerts_table_html, request_ack
from tradekit.ui.approval import ApprovalView


def _ids(view) -> list[str]:
    return [next(c[len("tk-toast-"):] for c in box._dom_classes if c.startswith("tk-toast-")
                 and c[len("tk-toast-"):] not in ("critical", "warning", "info")) for box in view.toasts.box.children]


@pytest.fixture
def view(queue):
    return ApprovalView(queue)


def test_a_critical_alert_is_a_toast_that_stays_until_acknowledged(desk, view):
    crit = desk.session.alerts.raise_("breaker", "daily loss breaker tripped", "lost 2.1 %", priority="critical")
    warn = desk.session.alerts.raise_("reject_burst", "5 rejects in 60 s", priority="warning")
    view.refresh()
    assert _ids(view) == [warn, crit]
    (row, body, btn) = view.toasts.toasts[crit]
    assert "tk-toast-critical" in row._dom_classes and "CRITICAL: daily loss breaker tripped" in body.value
    assert f"tk-ack-{crit}" in btn._dom_classes
    # long after: the warning has gone, the critical one stays
    view.toasts.update(now=time.time() + 3600)
    assert _ids(view) == [crit]
    btn.click()  # Ack
    assert crit not in _ids(view)
    (req,) = [e for e in desk.dashboard_journal().events(types=(E.ALERT_ACK_REQUESTED,))]
    assert req.payload == {**req.payload, "id": crit, "by": "asha", "via": "dashboard"}
    assert f"alert {crit} acknowledged by asha" in view.activity.value
    # the session turns the request into alert.acked (escalation stops), as for `tradekit alerts ack`
    desk.session.poll()
    (ack,) = [e for e in desk.dashboard_journal().events(types=(E.ALERT_ACKED,))]
    assert (ack.payload["id"], ack.payload["by"], ack.payload["via"]) == (crit, "asha", "dashboard")
    view.refresh()
    view.toasts.sent.clear()  # even without the page's memory: the journal says acked
    view.toasts.update(now=time.time() + 3600)
    assert _ids(view) == []


def test_only_dashboard_routed_alerts_become_toasts(tmp_path):
    from tests.unit.ui.conftest import Desk

    d = Desk(tmp_path, alerts={"channels": {"dashboard": {"type": "dashboard", "min_priority": "critical"}}})
    try:
        d.session.alerts.raise_("reject_burst", "5 rejects", priority="warning")
        crit = d.session.alerts.raise_("breaker", "breaker", priority="critical")
        feed = AlertFeed(d.dashboard_journal())
        feed.update()
        assert [a.id for a in feed.toasts()] == [crit]
        assert len(feed.alerts()) == 2  # the list shows both
    finally:
        d.session.close()


def test_an_unknown_alert_cannot_be_acknowledged_and_the_toast_says_why(desk, view):
    aid = desk.session.alerts.raise_("breaker", "breaker", priority="critical")
    view.refresh()
    with pytest.raises(KeyError):
        request_ack(view.queue.journal, view.toasts.feed.outbox, "ffffffff", "asha")
    view.toasts._writer = lambda: (_ for _ in ()).throw(OSError("disk full"))
    line = view.toasts.ack(aid)
    assert "FAILED" in line and "disk full" in view.toasts.toasts[aid][1].value
    assert not view.toasts.toasts[aid][2].disabled  # Ack can be pressed again


def test_the_alerts_list_shows_priority_deliveries_and_acknowledgement(desk, queue):
    j = desk.session.journal
    aid = desk.session.alerts.raise_("breaker", "daily loss breaker", "lost 2.1 %", priority="critical")
    j.append(E.ALERT_SENT, {"id": aid, "channel": "telegram", "attempt": 1})
    j.append(E.ALERT_FAILED, {"id": aid, "channel": "email", "attempt": 2, "error": "SMTP 451", "final": False})
    a = desk.session.alerts.outbox.find(aid)
    a.channels += ["telegram", "email"]  # routed there (the test config has only the dashboard channel)
    feed = AlertFeed(queue.journal)
    feed.update()
    feed.outbox.alerts[aid].channels += ["telegram", "email"]
    html = alerts_table_html(feed)
    assert f"tk-alert-{aid}" in html and "tk-prio-critical" in html
    assert "dashboard ✓" in html and "telegram ✓" in html and "email ✗ retrying (try 2)" in html and "SMTP 451" in html
    assert "not acknowledged" in html
    request_ack(queue.journal, feed.outbox, aid[:5], "ravi")  # a unique prefix will do, as on the CLI
    feed.update()
    assert "ack requested by ravi via dashboard" in alerts_table_html(feed)
    desk.session.poll()
    feed.update()
    assert "acked by ravi via dashboard" in alerts_table_html(feed)
    assert "no alerts yet" in alerts_table_html(AlertFeed(ApprovalQueue(desk.dashboard_journal(), desk.cfg).journal))


def test_the_execution_page_has_an_alerts_tab(desk):
    from tradekit.store.audit import open_read_only
    from tradekit.ui.execution import ExecutionModel, ExecutionView

    aid = desk.session.alerts.raise_("breaker", "daily loss breaker", priority="critical")
    v = ExecutionView(ExecutionModel(open_read_only(desk.path), desk.cfg))
    assert v.tabs.titles == ("Execution quality", "Alerts (1 unacknowledged)")
    assert f"tk-alert-{aid}" in v.alerts.value
    assert [aid] == [k for k in v.toasts.toasts]
    v.toasts.toasts[aid][2].click()  # Ack from a read-only page: its own writable connection
    v.refresh()
    assert v.tabs.titles == ("Execution quality", "Alerts")
    assert "ack requested by" in v.alerts.value and v.toasts.box.children == ()
