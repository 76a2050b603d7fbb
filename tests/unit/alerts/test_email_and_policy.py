"""Email over SMTP with STARTTLS (aiosmtpd on 127.0.0.1), a stalled SMTP server that delays nothing
else, deduplication, rate limits and quiet hours."""

from __future__ import annotations

import time
from datetime import datetime

from tradekit.alerts.manager import AlertManager
from tradekit.clock import IST, SimClock
from tradekit.config.secrets import Secrets
from tradekit.store import EventType as E

from tests.unit.alerts.servers import Receiver, SmtpServer, StalledServer, wait_for


def _events(j, t):
    return [e.payload for e in j.events(types=(t,))]


def _email(port, extra=""):
    return f"""  channels:
    mail: {{type: email, host: 127.0.0.1, port: {port}, verify_tls: false, username: desk, from_addr: tk@example.com,
           to: [ops@example.com], timeout_seconds: 0.5}}
  routes: [{{kinds: ["*"], channels: [mail]}}]
  retries: {{max_attempts: 2, backoff_seconds: 0.05}}
{extra}"""


def test_email_goes_over_starttls_with_a_login(alerts_config, journal, tmp_path):
    srv = SmtpServer(tmp_path, password="pw-123456")
    cfg = alerts_config(_email(srv.port))
    m = AlertManager.from_config(cfg, journal, secrets=Secrets.load(environ={"TRADEKIT_SMTP_PASSWORD": "pw-123456"}))
    m.start()
    try:
        aid = m.raise_("reconciliation_mismatch", "the broker and the book differ", "2 difference(s)",
                       priority="critical")
        wait_for(lambda: _events(journal, E.ALERT_SENT))
    finally:
        m.stop()
        srv.close()
    assert srv.tls_seen == [True]
    msg = srv.messages[0]
    assert msg.rcpt_tos == ["ops@example.com"]
    assert b"[CRITICAL] the broker and the book differ" in msg.content and aid.encode() in msg.content


def test_a_refused_login_fails_and_is_retried_without_leaking_the_password(alerts_config, journal, tmp_path):
    srv = SmtpServer(tmp_path, password="right-password")
    cfg = alerts_config(_email(srv.port))
    m = AlertManager.from_config(cfg, journal, secrets=Secrets.load(environ={"TRADEKIT_SMTP_PASSWORD": "wrong-pass"}))
    m.start()
    try:
        m.raise_("halted", "trading HALTED", priority="critical")
        wait_for(lambda: any(f["final"] for f in _events(journal, E.ALERT_FAILED)))
    finally:
        m.stop()
        srv.close()
    failed = _events(journal, E.ALERT_FAILED)
    assert [f["attempt"] for f in failed] == [1, 2] and all(f["error"].startswith("SMTP") for f in failed)
    assert "wrong-pass" not in str(failed)
    assert srv.messages == []


def test_a_stalled_smtp_server_delays_neither_the_raise_nor_another_channel(alerts_config, journal, monkeypatch):
    """The mail thread is stuck in a server that never answers (its timeout is far away) while the raises
    return and Slack gets all five: shown by what happened while it was stuck, not by a stopwatch (on a
    loaded machine five journal appends or five HTTP posts can take longer than any short bound)."""
    stalled, rec = StalledServer(), Receiver()
    cfg = alerts_config(f"""  channels:
    mail: {{type: email, host: 127.0.0.1, port: {stalled.port}, starttls: true, from_addr: tk@example.com,
           to: [ops@example.com], timeout_seconds: 120}}
    ops: {{type: slack}}
  routes: [{{kinds: ["*"], channels: [mail, ops]}}]
  retries: {{max_attempts: 1, backoff_seconds: 0.05}}
""")
    m = AlertManager.from_config(cfg, journal, secrets=Secrets.load(environ={"TRADEKIT_SLACK_WEBHOOK": rec.url}))
    m.start()
    try:
        m.raise_("breaker", "breaker 0", priority="warning", key="0")
        wait_for(lambda: stalled.conns, timeout=60)  # the mail thread is in its first send, waiting for a greeting
        for i in range(1, 5):
            m.raise_("breaker", f"breaker {i}", priority="warning", key=str(i))  # a raise waiting for SMTP would hang here
        rec.wait(5, timeout=60)  # slack got all five while the mail thread is stuck in the first
        wait_for(lambda: len(_events(journal, E.ALERT_SENT)) >= 5, timeout=60)  # journaled after each answer
        stuck = (len(stalled.conns), _events(journal, E.ALERT_FAILED),
                 [s["channel"] for s in _events(journal, E.ALERT_SENT)])
    finally:
        stalled.close()  # the stuck send ends (the server hung up)
        m.stop()
        rec.close()
    assert stuck == (1, [], ["ops"] * 5)  # one mail connection, never answered, nothing failed or sent by mail
    assert len(_events(journal, E.ALERT_RAISED)) == 5


def test_a_stalled_smtp_server_times_out_and_the_failure_is_journaled(alerts_config, journal):
    stalled = StalledServer()
    cfg = alerts_config(f"""  channels:
    mail: {{type: email, host: 127.0.0.1, port: {stalled.port}, starttls: true, from_addr: tk@example.com,
           to: [ops@example.com], timeout_seconds: 0.3}}
  routes: [{{kinds: ["*"], channels: [mail]}}]
  retries: {{max_attempts: 1, backoff_seconds: 0.05}}
""")
    m = AlertManager.from_config(cfg, journal, secrets=Secrets.load(environ={})).start()
    try:
        aid = m.raise_("breaker", "breaker 0", priority="warning", key="0")
        [failed] = wait_for(lambda: _events(journal, E.ALERT_FAILED), timeout=60)
    finally:
        m.stop()
        stalled.close()
    assert failed["id"] == aid and failed["channel"] == "mail" and failed["final"] is True
    assert "timed out" in failed["error"]


def _slack(extra: str) -> str:
    return f"""  channels:
    ops: {{type: slack, rate_limit_per_minute: 2}}
  routes: [{{kinds: ["*"], channels: [ops]}}]
{extra}"""


def test_duplicates_within_the_window_are_not_raised(alerts_config, journal, receiver):
    cfg = alerts_config(_slack("  dedup_seconds: 60\n"))
    clock = SimClock(datetime(2026, 12, 7, 11, 0, tzinfo=IST))
    m = AlertManager(cfg.alerts, journal, channels={}, clock=clock)
    assert m.raise_("breaker", "b", key="daily_loss") is not None
    assert m.raise_("breaker", "b again", key="daily_loss") is None
    assert m.raise_("breaker", "other", key="drawdown") is not None
    clock.set(datetime(2026, 12, 7, 11, 1, 1, tzinfo=IST))
    assert m.raise_("breaker", "b later", key="daily_loss") is not None
    assert len(_events(journal, E.ALERT_RAISED)) == 3


def test_a_channel_keeps_its_rate_limit(alerts_config, journal, receiver):
    cfg = alerts_config(_slack("  dedup_seconds: 0\n"))
    m = AlertManager.from_config(cfg, journal, secrets=Secrets.load(environ={"TRADEKIT_SLACK_WEBHOOK": receiver.url}))
    m.start()
    try:
        ids = [m.raise_("breaker", f"b{i}", key=str(i)) for i in range(3)]
        receiver.wait(2)
        time.sleep(0.3)
        assert len(receiver.requests) == 2  # the third waits for the minute to pass
        assert [a for a, _, _ in m.outbox.pending()] == [ids[2]]
    finally:
        m.stop()


def test_quiet_hours_hold_non_critical_alerts_and_let_critical_ones_through(alerts_config, journal, receiver):
    cfg = alerts_config(_slack('  quiet_hours: {start: "22:00", end: "07:00"}\n'))
    clock = SimClock(datetime(2026, 12, 7, 23, 30, tzinfo=IST))
    m = AlertManager.from_config(cfg, journal, clock=clock,
                                 secrets=Secrets.load(environ={"TRADEKIT_SLACK_WEBHOOK": receiver.url}))
    m.start()
    try:
        info = m.raise_("resumed", "trading ACTIVE again", priority="info")
        crit = m.raise_("halted", "trading HALTED", priority="critical")
        receiver.wait(1)
        time.sleep(0.3)
        assert [b["text"].split("\n")[0] for b in receiver.bodies()] == ["*[CRITICAL] trading HALTED*"]
        assert [a for a, _, _ in m.outbox.pending()] == [info]
        w = m._workers["ops"]
        with w.cond:
            due = w.heap[0][0] - time.monotonic()
        assert 7 * 3600 - 60 < due <= 7.5 * 3600  # held until 07:00 IST
    finally:
        m.stop()
    assert crit


def test_quiet_hours_drop(alerts_config, journal, receiver):
    cfg = alerts_config(_slack('  quiet_hours: {start: "22:00", end: "07:00", action: drop}\n'))
    clock = SimClock(datetime(2026, 12, 8, 6, 30, tzinfo=IST))
    m = AlertManager.from_config(cfg, journal, clock=clock,
                                 secrets=Secrets.load(environ={"TRADEKIT_SLACK_WEBHOOK": receiver.url}))
    m.start()
    try:
        m.raise_("reducing", "trading REDUCING", priority="warning")
        wait_for(lambda: _events(journal, E.ALERT_FAILED))
    finally:
        m.stop()
    assert _events(journal, E.ALERT_FAILED)[0]["error"] == "quiet hours" and receiver.requests == []


def test_priorities_override_the_sources_and_decide_the_route(alerts_config, journal):
    cfg = alerts_config("""  channels:
    desk: {type: dashboard}
    ops: {type: slack, min_priority: critical}
  routes: [{kinds: ["*"], channels: [desk, ops]}]
  priorities: {stale_feed: critical}
""")
    m = AlertManager.from_config(cfg, journal, secrets=Secrets.load(environ={"TRADEKIT_SLACK_WEBHOOK": "http://127.0.0.1:9"}))
    m.raise_("stale_feed", "no fresh price for NSE:INFY", priority="warning", key="NSE:INFY")
    m.raise_("feed_failover", "ticker silent", priority="warning")
    raised = {p["kind"]: p for p in _events(journal, E.ALERT_RAISED)}
    assert raised["stale_feed"]["priority"] == "critical" and raised["stale_feed"]["channels"] == ["ops"]
    assert raised["feed_failover"]["priority"] == "warning" and raised["feed_failover"]["channels"] == []
    assert raised["feed_failover"]["dashboard"] is True
