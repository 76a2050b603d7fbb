"""Telegram against a local Bot-API-compatible server (sendMessage, getUpdates), escalation of an
unacknowledged critical alert, and acknowledgement from a Telegram reply, the CLI and a dashboard."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from tradekit.alerts.manager import AlertManager
from tradekit.clock import IST, SimClock
from tradekit.config.secrets import Secrets
from tradekit.store import EventType as E

from tests.unit.alerts.servers import Receiver, wait_for

TOKEN = "123456:ABC-test-token"


def _events(j, t):
    return [e.payload for e in j.events(types=(t,))]


@pytest.fixture
def bot():
    r = Receiver()
    yield r
    r.close()


def _cfg(alerts_config, bot, hook, after="0.005"):
    return alerts_config(f"""  channels:
    ops: {{type: slack}}
    tg: {{type: telegram, chat_id: "42", base_url: "{bot.url}", poll_seconds: 0.05}}
  routes: [{{kinds: ["*"], channels: [ops]}}]
  escalation: {{after_minutes: {after}, chain: [ops, tg]}}
  retries: {{max_attempts: 2, backoff_seconds: 0.05}}
""")


def _secrets(hook):
    return Secrets.load(environ={"TRADEKIT_SLACK_WEBHOOK": hook.url, "TRADEKIT_TELEGRAM_TOKEN": TOKEN})


def test_an_unacknowledged_critical_alert_escalates_to_telegram_and_a_reply_acknowledges_it(
        alerts_config, journal, bot, receiver):
    m = AlertManager.from_config(_cfg(alerts_config, bot, receiver), journal, secrets=_secrets(receiver)).start()
    try:
        aid = m.raise_("halted", "trading HALTED", "daily loss", priority="critical")
        receiver.wait(1)
        wait_for(lambda: _events(journal, E.ALERT_ESCALATED))  # 0.3 s later, nobody acknowledged
        req = bot.wait(1)[0]
        assert req["path"] == f"/bot{TOKEN}/sendMessage"
        sent = wait_for(lambda: [s for s in _events(journal, E.ALERT_SENT) if s["channel"] == "tg"])
        ref = sent[0]["ref"]
        assert ref == 101
        bot.updates.append({"update_id": 7, "message": {"message_id": 900, "text": "on it", "chat": {"id": 42},
                                                        "from": {"username": "asha"}, "reply_to_message": {"message_id": ref}}})
        acked = wait_for(lambda: _events(journal, E.ALERT_ACKED))
    finally:
        m.stop()
    assert _events(journal, E.ALERT_ESCALATED) == [{"id": aid, "from": "ops", "to": "tg"}]
    assert acked == [{"id": aid, "by": "asha", "via": "telegram:tg"}]
    body = bot.bodies()[0]
    assert body["chat_id"] == "42" and "trading HALTED" in body["text"] and f"ack {aid}" in body["text"]


def test_a_telegram_ack_id_message_acknowledges_and_other_chats_do_not(alerts_config, journal, bot, receiver):
    m = AlertManager.from_config(_cfg(alerts_config, bot, receiver, after="60"), journal, secrets=_secrets(receiver))
    m.start()
    try:
        aid = m.raise_("kill_switch", "kill switch tripped", priority="critical")
        bot.updates.append({"update_id": 1, "message": {"text": f"ack {aid}", "chat": {"id": 99},
                                                        "from": {"username": "stranger"}}})
        time.sleep(0.3)
        assert _events(journal, E.ALERT_ACKED) == []  # another chat
        bot.updates.append({"update_id": 2, "message": {"text": f"ACK {aid[:6]}", "chat": {"id": 42},
                                                        "from": {"username": "ravi"}}})
        acked = wait_for(lambda: _events(journal, E.ALERT_ACKED))
    finally:
        m.stop()
    assert acked == [{"id": aid, "by": "ravi", "via": "telegram:tg"}]


def test_an_acknowledged_alert_does_not_escalate(alerts_config, journal, bot, receiver):
    # The manager's clock is the test's: on a loaded machine a real one could pass after_minutes between the
    # raise and the ack, and the escalation would then be right. Here no time passes until the ack is in.
    clock = SimClock(datetime(2026, 11, 25, 10, 0, tzinfo=IST))
    m = AlertManager.from_config(_cfg(alerts_config, bot, receiver, after="0.01"), journal, secrets=_secrets(receiver),
                                 clock=clock)
    m.start()
    try:
        aid = m.raise_("halted", "trading HALTED", priority="critical")
        assert m.ack(aid, by="asha", via="notebook")
        clock.advance(60)  # far past after_minutes (0.6 s)
        assert m.escalate_due() == []
        time.sleep(0.5)  # the supervisor's own passes (every 0.2 s) see the same
    finally:
        m.stop()
    assert _events(journal, E.ALERT_ESCALATED) == [] and bot.requests == []
    assert m.ack("ffffffff", by="x", via="y") is False


def test_cli_and_dashboard_acknowledge_through_the_session(alerts_config, receiver, bot, monkeypatch, capsys):
    from tradekit.cli import main
    from tradekit.session import Session
    from tradekit.session_view import SessionView

    monkeypatch.setenv("TRADEKIT_SLACK_WEBHOOK", receiver.url)
    monkeypatch.setenv("TRADEKIT_TELEGRAM_TOKEN", TOKEN)
    cfg = _cfg(alerts_config, bot, receiver, after="60")
    s = Session.from_config(cfg)
    try:
        a1 = s.alerts.raise_("breaker", "breaker daily_loss: HALTED", priority="critical", key="a")
        a2 = s.alerts.raise_("breaker", "breaker drawdown: HALTED", priority="critical", key="b")
        assert main(["alerts", "list", "-c", cfg.source]) == 0
        out = capsys.readouterr().out
        assert a1 in out and a2 in out
        assert main(["alerts", "ack", a1, "--by", "asha", "-c", cfg.source]) == 0
        SessionView(cfg).ack_alert(a2, by="ravi")
        assert _events(s.journal, E.ALERT_ACKED) == []  # requests: the session acts on them
        s.poll()
        acked = {p["id"]: p for p in _events(s.journal, E.ALERT_ACKED)}
    finally:
        s.close()
    assert acked[a1]["by"] == "asha" and acked[a1]["via"] == "cli"
    assert acked[a2]["by"] == "ravi" and acked[a2]["via"] == "dashboard"
    assert main(["alerts", "list", "-c", cfg.source]) == 0
    assert "no unacknowledged alerts" in capsys.readouterr().out


def test_cli_usage_errors_are_one_line_exit_2(alerts_config, capsys):
    from tradekit.cli import main

    cfg = alerts_config("  dedup_seconds: 0\n")
    from tradekit.session import Session

    Session.from_config(cfg).close()
    assert main(["alerts", "ack", "deadbeef", "-c", cfg.source]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no alert 'deadbeef'" in err


def test_an_ack_requested_while_no_session_ran_is_recorded_by_the_next(alerts_config, tmp_path):
    from tradekit.store import Journal, make_engine, sqlite_url

    cfg = alerts_config("  dedup_seconds: 0\n")
    url = sqlite_url(tmp_path / "j.db")
    j = Journal(make_engine(url))
    aid = AlertManager(cfg.alerts, j, channels={}).raise_("halted", "trading HALTED", priority="critical")
    j.append(E.ALERT_ACK_REQUESTED, {"id": aid, "by": "asha", "via": "cli"})
    m = AlertManager(cfg.alerts, j, channels={}).start()
    m.stop()
    assert _events(j, E.ALERT_ACKED) == [{"id": aid, "by": "asha", "via": "cli"}]


def test_the_dashboards_toasts_are_the_unacknowledged_dashboard_alerts(alerts_config, journal):
    from tradekit.alerts.outbox import dashboard_alerts

    cfg = alerts_config("""  channels: {desk: {type: dashboard, min_priority: warning}}
  routes: [{kinds: ["*"], channels: [desk]}]
""")
    m = AlertManager(cfg.alerts, journal, channels={})
    a1 = m.raise_("halted", "trading HALTED", priority="critical")
    m.raise_("resumed", "trading ACTIVE again", priority="info")  # below the desk's min_priority
    a3 = m.raise_("stale_feed", "no fresh price", priority="warning", key="x")
    assert [t["id"] for t in dashboard_alerts(journal.events())] == [a3, a1]
    m.ack(a1, by="asha", via="dashboard")
    assert [t["id"] for t in dashboard_alerts(journal.events())] == [a3]
    assert [t["status"] for t in dashboard_alerts(journal.events(), include_acked=True)] == ["sent", "acked"]


def test_an_alert_acknowledged_from_several_threads_at_once_is_journaled_once(alerts_config, journal):
    """Defect: ``ack`` checked "not acknowledged yet" and then appended, unguarded: a Telegram reply (the
    supervisor thread) and a CLI request (the session's poll) arriving together both journaled
    ``alert.acked``."""
    import threading

    cfg = alerts_config("  dedup_seconds: 0\n")
    m = AlertManager(cfg.alerts, journal, channels={})
    aid = m.raise_("halted", "trading HALTED", priority="critical")
    start = threading.Barrier(6)
    results = []

    def ack(i):
        start.wait(10)
        results.append(m.ack(aid, by=f"user{i}", via="test"))

    threads = [threading.Thread(target=ack, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [True] * 6
    assert len(_events(journal, E.ALERT_ACKED)) == 1
