"""Slack and the HMAC-signed webhook against a real HTTP receiver on 127.0.0.1; the outbox, retries,
restart resending, and the session's sources (breaker, HALTED, kill switch)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from tradekit.alerts.manager import AlertManager
from tradekit.config.secrets import Secrets
from tradekit.errors import ConfigError
from tradekit.store import EventType as E
from tradekit.store import Journal, make_engine, sqlite_url

from tests.unit.alerts.servers import Receiver, wait_for

KEY = "s3cret-hmac-key"


def _yaml(url: str, extra: str = "") -> str:
    return f"""  channels:
    ops: {{type: slack}}
    hook: {{type: webhook, url: "{url}/hook"}}
  routes:
    - {{kinds: ["*"], channels: [ops, hook]}}
  retries: {{max_attempts: 3, backoff_seconds: 0.05}}
{extra}"""


def _secrets(url):
    return Secrets.load(environ={"TRADEKIT_SLACK_WEBHOOK": f"{url}/slack", "TRADEKIT_ALERT_WEBHOOK": KEY})


def _events(j, t):
    return [e.payload for e in j.events(types=(t,))]


def test_slack_and_webhook_deliver_with_a_valid_hmac(alerts_config, journal, receiver):
    cfg = alerts_config(_yaml(receiver.url))
    m = AlertManager.from_config(cfg, journal, secrets=_secrets(receiver.url)).start()
    try:
        aid = m.raise_("breaker", "daily loss breaker", "lost 2.1 %", priority="critical", key="daily_loss")
        reqs = receiver.wait(2)
        wait_for(lambda: len(_events(journal, E.ALERT_SENT)) == 2)
    finally:
        m.stop()
    by_path = {r["path"]: r for r in reqs}
    slack = json.loads(by_path["/slack"]["body"])
    assert "daily loss breaker" in slack["text"] and aid in slack["text"]
    hook = by_path["/hook"]
    sig = hook["headers"]["X-Tradekit-Signature"]
    assert sig == "sha256=" + hmac.new(KEY.encode(), hook["body"], hashlib.sha256).hexdigest()
    body = json.loads(hook["body"])
    assert body["id"] == aid and body["priority"] == "critical" and body["kind"] == "breaker"
    assert {p["channel"] for p in _events(journal, E.ALERT_SENT)} == {"ops", "hook"}


def test_a_server_error_is_retried_then_delivered(alerts_config, journal):
    rec = Receiver(statuses=[500])
    cfg = alerts_config(f"""  channels:
    ops: {{type: slack}}
  routes: [{{kinds: ["*"], channels: [ops]}}]
  retries: {{max_attempts: 3, backoff_seconds: 0.05}}
""")
    m = AlertManager.from_config(cfg, journal, secrets=_secrets(rec.url)).start()
    try:
        aid = m.raise_("halted", "trading HALTED", priority="critical")
        wait_for(lambda: _events(journal, E.ALERT_SENT))
    finally:
        m.stop()
        rec.close()
    failed, sent = _events(journal, E.ALERT_FAILED), _events(journal, E.ALERT_SENT)
    assert [(f["id"], f["attempt"], f["final"], f["error"]) for f in failed] == [(aid, 1, False, "HTTP 500")]
    assert [(s["id"], s["attempt"]) for s in sent] == [(aid, 2)]
    assert len(rec.requests) == 2


def test_retries_give_up_after_max_attempts(alerts_config, journal):
    rec = Receiver(statuses=[500, 503, 500, 500])
    cfg = alerts_config(_yaml("http://127.0.0.1:9"))
    cfg = alerts_config(f"""  channels:
    ops: {{type: slack}}
  routes: [{{kinds: ["*"], channels: [ops]}}]
  retries: {{max_attempts: 3, backoff_seconds: 0.02}}
""")
    m = AlertManager.from_config(cfg, journal, secrets=_secrets(rec.url)).start()
    try:
        m.raise_("halted", "trading HALTED", priority="critical")
        wait_for(lambda: any(f["final"] for f in _events(journal, E.ALERT_FAILED)))
    finally:
        m.stop()
        rec.close()
    assert [(f["attempt"], f["final"]) for f in _events(journal, E.ALERT_FAILED)] == [(1, False), (2, False), (3, True)]
    assert m.outbox.pending() == []


def test_a_restart_sends_what_was_raised_and_not_sent(alerts_config, tmp_path, receiver):
    cfg = alerts_config(_yaml(receiver.url))
    url = sqlite_url(tmp_path / "j.db")
    j1 = Journal(make_engine(url))
    m1 = AlertManager.from_config(cfg, j1, secrets=_secrets(receiver.url))  # never started: the process "died"
    aid = m1.raise_("kill_switch", "kill switch tripped", priority="critical")
    j1.close()
    assert receiver.requests == []
    j2 = Journal(make_engine(url))
    m2 = AlertManager.from_config(cfg, j2, secrets=_secrets(receiver.url))
    assert {(a, c) for a, c, _ in m2.outbox.pending()} == {(aid, "ops"), (aid, "hook")}
    m2.start()
    try:
        receiver.wait(2)
        wait_for(lambda: len(_events(j2, E.ALERT_SENT)) == 2)
    finally:
        m2.stop()
        j2.close()
    assert m2.outbox.pending() == []


def test_a_channel_without_its_secret_is_a_config_error_naming_it(alerts_config, journal):
    cfg = alerts_config(_yaml("http://127.0.0.1:9"))
    with pytest.raises(ConfigError, match="TRADEKIT_SLACK_WEBHOOK") as e:
        AlertManager.from_config(cfg, journal, secrets=Secrets.load(environ={"TRADEKIT_ALERT_WEBHOOK": KEY}))
    assert "ops" in str(e.value)


def test_config_refuses_unknown_kinds_and_channels(alerts_config):
    with pytest.raises(ConfigError, match="brekaer"):
        alerts_config("  routes: [{kinds: [brekaer], channels: [dashboard]}]\n")
    with pytest.raises(ConfigError, match="nosuch"):
        alerts_config("  routes: [{kinds: ['*'], channels: [nosuch]}]\n")
    with pytest.raises(ConfigError, match="token"):
        alerts_config("  channels: {ops: {type: slack, token: abc}}\n")


def test_the_session_alerts_on_the_kill_switch_and_halted(alerts_config, receiver, monkeypatch):
    from tradekit.session import Session

    monkeypatch.setenv("TRADEKIT_SLACK_WEBHOOK", f"{receiver.url}/slack")
    monkeypatch.setenv("TRADEKIT_ALERT_WEBHOOK", KEY)
    cfg = alerts_config(_yaml(receiver.url))
    s = Session.from_config(cfg)
    try:
        s.kill("test trip", by="tester")
        wait_for(lambda: len(receiver.requests) >= 4)
        raised = _events(s.journal, E.ALERT_RAISED)
    finally:
        s.close()
    kinds = {p["kind"]: p for p in raised}
    assert kinds["kill_switch"]["priority"] == "critical" and "test trip" in kinds["kill_switch"]["text"]
    assert kinds["halted"]["priority"] == "critical"
    texts = " ".join(json.loads(r["body"]).get("text", "") or json.loads(r["body"]).get("title", "")
                     for r in receiver.requests)
    assert "kill switch tripped" in texts


def test_a_kill_from_another_process_alerts_through_the_session_poll(alerts_config, receiver, monkeypatch):
    from tradekit.session import Session

    monkeypatch.setenv("TRADEKIT_SLACK_WEBHOOK", f"{receiver.url}/slack")
    monkeypatch.setenv("TRADEKIT_ALERT_WEBHOOK", KEY)
    cfg = alerts_config(_yaml(receiver.url))
    s = Session.from_config(cfg)
    try:
        other = Journal(make_engine(cfg.store_url()))  # the CLI: requests only
        other.append(E.KILL_SWITCH, {"action": "trip", "reason": "from the cli", "by": "ops", "flatten": True})
        s.poll()
        raised = _events(s.journal, E.ALERT_RAISED)
    finally:
        s.close()
    assert any(p["kind"] == "kill_switch" and "from the cli" in p["text"] for p in raised)
