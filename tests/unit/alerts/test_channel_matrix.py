"""Every channel against its own local server, the same four steps (issue 18's "Done when"):
a server error on the first send, retried and delivered; the critical alert unacknowledged, escalated
to the next channel; then acknowledged (by the way the message itself names)."""

from __future__ import annotations

import json

import pytest

from tests.unit.alerts.servers import Receiver, SmtpServer, wait_for
from tradekit.alerts.manager import AlertManager
from tradekit.config.secrets import Secrets
from tradekit.store import EventType as E

KEY = "matrix-hmac-key"
TOKEN = "654321:matrix-token"


def _events(j, t):
    return [e.payload for e in j.events(types=(t,))]


@pytest.fixture
def servers(tmp_path):
    made = {}

    def make(kind):
        if kind == "email":
            made[kind] = SmtpServer(tmp_path, fail_first=1)
        else:
            made[kind] = Receiver(statuses=[500] if kind != "next" else [])
        return made[kind]

    yield make
    for s in made.values():
        s.close()


def _setup(kind, servers):
    """(channels YAML for the channel under test ``a`` and the escalation's next one ``b``, secrets,
    a function: what ``a``'s server received as text)."""
    nxt = servers("next")
    env = {"TRADEKIT_ALERT_WEBHOOK": KEY, "TRADEKIT_TELEGRAM_TOKEN": TOKEN}
    b = "b: {type: slack}"
    env["TRADEKIT_SLACK_WEBHOOK"] = f"{nxt.url}/slack"
    if kind == "slack":
        a_srv = servers("slack")
        env["TRADEKIT_SLACK_WEBHOOK"] = f"{a_srv.url}/slack"
        b = f'b: {{type: webhook, url: "{nxt.url}/hook"}}'
        a = "a: {type: slack}"
    elif kind == "webhook":
        a_srv = servers("webhook")
        a = f'a: {{type: webhook, url: "{a_srv.url}/hook"}}'
    elif kind == "telegram":
        a_srv = servers("telegram")
        a = f'a: {{type: telegram, chat_id: "42", base_url: "{a_srv.url}", poll_seconds: 60}}'
    else:
        a_srv = servers("email")
        a = (f"a: {{type: email, host: 127.0.0.1, port: {a_srv.port}, verify_tls: false, from_addr: tk@example.com, "
             "to: [ops@example.com], timeout_seconds: 2}")

    def received() -> list[str]:
        if kind == "email":
            from email import message_from_bytes

            msgs = [message_from_bytes(m.content) for m in a_srv.messages]
            return [f"{x['Subject']}\n{x.get_payload(decode=True).decode()}" for x in msgs]
        return [json.dumps(json.loads(r["body"])) for r in a_srv.requests if not r["path"].endswith("getUpdates")]

    yaml = f"""  channels:
    {a}
    {b}
  routes: [{{kinds: ["*"], channels: [a]}}]
  escalation: {{after_minutes: 0.005, chain: [a, b]}}
  retries: {{max_attempts: 3, backoff_seconds: 0.05}}
"""
    return yaml, Secrets.load(environ=env), received, a_srv, nxt


@pytest.mark.parametrize("kind", ["slack", "webhook", "telegram", "email"])
def test_each_channel_retries_a_server_error_escalates_and_is_acknowledged(kind, alerts_config, journal, servers):
    yaml, secrets, received, _, nxt = _setup(kind, servers)
    m = AlertManager.from_config(alerts_config(yaml), journal, secrets=secrets).start()
    try:
        aid = m.raise_("halted", "trading HALTED", "daily loss 2.1 %", priority="critical")
        wait_for(lambda: [s for s in _events(journal, E.ALERT_SENT) if s["channel"] == "a"])
        wait_for(lambda: [s for s in _events(journal, E.ALERT_SENT) if s["channel"] == "b"])
        assert m.ack(aid, by="asha", via="cli")
        acked = wait_for(lambda: _events(journal, E.ALERT_ACKED))
    finally:
        m.stop()
    failed = [(f["channel"], f["attempt"], f["final"]) for f in _events(journal, E.ALERT_FAILED)]
    assert failed == [("a", 1, False)]  # the server error
    assert sorted((s["channel"], s["attempt"]) for s in _events(journal, E.ALERT_SENT)) == [("a", 2), ("b", 1)]
    assert _events(journal, E.ALERT_ESCALATED) == [{"id": aid, "from": "a", "to": "b"}]
    assert acked == [{"id": aid, "by": "asha", "via": "cli"}]
    *_, text = received()  # the last: the delivered one (an HTTP server also saw the refused attempt)
    assert len(received()) == (1 if kind == "email" else 2)
    assert "trading HALTED" in text and aid in text
    if kind == "telegram":  # replies are read there
        assert f"reply 'ack {aid}' to acknowledge" in text
    elif kind != "webhook":  # a reply to an email or a Slack webhook reaches nobody: the message says so
        assert f"tradekit alerts ack {aid}" in text and "reply" not in text
    assert len(nxt.requests) == 1
