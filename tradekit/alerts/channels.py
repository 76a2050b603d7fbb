"""Alert channels: Telegram (Bot API), email (SMTP + STARTTLS), Slack (incoming webhook), a generic
HMAC-signed webhook, and the dashboards (the journal's ``alert.raised`` is the toast).

``send(alert) -> ref`` delivers one alert or raises :class:`ChannelError`; ``ref`` is what the
channel answered that identifies the message (a Telegram ``message_id``: a reply to it acknowledges).
Errors never carry a credential: URLs with tokens are not part of any message.
"""

from __future__ import annotations

import hashlib
import hmac
import json

# smtplib, ssl, email and urllib are imported by the channel that sends (a session whose alerts
# go only to the dashboard, every replay by default, never loads them)

from tradekit.errors import ConfigError

from tradekit.alerts.config import AlertsConfig


class ChannelError(Exception):
    """A send that failed (the outbox retries it with backoff)."""


def render(alert: dict, *, replies: bool = False) -> tuple[str, str]:
    """(subject line, body) of an alert. How to acknowledge it: a reply where replies are read
    (Telegram), else the CLI or the dashboard (a reply to an email or a Slack webhook reaches nobody)."""
    subject = f"[{alert['priority'].upper()}] {alert['title']}"
    how = (f"reply 'ack {alert['id']}' to acknowledge" if replies else
           f"acknowledge with: tradekit alerts ack {alert['id']} (or on the dashboard)")
    body = f"{alert.get('text') or alert['title']}\n\nalert {alert['id']} ({alert['kind']}) — {how}"
    return subject, body


def _post_json(url: str, body: bytes, timeout: float, headers: dict | None = None) -> bytes:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - configured http(s) endpoints
            return r.read()
    except urllib.error.HTTPError as e:
        raise ChannelError(f"HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:  # the reason only: the URL may hold a token
        raise ChannelError(f"{type(e).__name__}: {getattr(e, 'reason', e)}") from None


class Channel:
    name: str
    type: str

    def __init__(self, name: str, cfg):
        self.name, self.cfg, self.type = name, cfg, cfg.type

    def send(self, alert: dict):  # pragma: no cover - every channel overrides it
        raise NotImplementedError


class DashboardChannel(Channel):
    """The journal's ``alert.raised`` is what the dashboards show: nothing to send."""

    def send(self, alert: dict):
        return None


class SlackChannel(Channel):
    def __init__(self, name, cfg, url: str):
        super().__init__(name, cfg)
        self._url = url

    def send(self, alert: dict):
        subject, body = render(alert)
        _post_json(self._url, json.dumps({"text": f"*{subject}*\n{body}"}).encode(), self.cfg.timeout_seconds)
        return None


class WebhookChannel(Channel):
    def __init__(self, name, cfg, key: str):
        super().__init__(name, cfg)
        self._key = key.encode()

    def sign(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self._key, body, hashlib.sha256).hexdigest()

    def send(self, alert: dict):
        body = json.dumps({k: alert.get(k) for k in ("id", "kind", "priority", "title", "text", "at", "key")},
                          sort_keys=True, separators=(",", ":")).encode()
        _post_json(self.cfg.url, body, self.cfg.timeout_seconds, {self.cfg.signature_header: self.sign(body)})
        return None


class EmailChannel(Channel):
    def __init__(self, name, cfg, password: str | None):
        super().__init__(name, cfg)
        self._password = password

    def send(self, alert: dict):
        import smtplib
        import ssl
        from email.message import EmailMessage

        c = self.cfg
        subject, body = render(alert)
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = subject, c.from_addr, ", ".join(c.to)
        msg.set_content(body)
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout_seconds) as s:
                s.ehlo()
                if c.starttls:
                    ctx = ssl.create_default_context()
                    if not c.verify_tls:
                        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
                    s.starttls(context=ctx)
                    s.ehlo()
                if c.username:
                    s.login(c.username, self._password or "")
                s.send_message(msg)
        except (smtplib.SMTPException, OSError, ssl.SSLError) as e:
            raise ChannelError(f"SMTP: {type(e).__name__}: {e}") from None
        return None


class TelegramChannel(Channel):
    def __init__(self, name, cfg, token: str):
        super().__init__(name, cfg)
        self._token = token
        self.offset = 0

    def _url(self, method: str) -> str:
        return f"{self.cfg.base_url.rstrip('/')}/bot{self._token}/{method}"

    def _call(self, method: str, params: dict) -> object:
        raw = _post_json(self._url(method), json.dumps(params).encode(), self.cfg.timeout_seconds)
        try:
            out = json.loads(raw)
        except ValueError:
            raise ChannelError(f"Telegram {method}: not JSON") from None
        if not out.get("ok"):
            raise ChannelError(f"Telegram {method}: {out.get('description', 'not ok')}")
        return out.get("result")

    def send(self, alert: dict):
        subject, body = render(alert, replies=bool(self.cfg.poll_replies))
        res = self._call("sendMessage", {"chat_id": self.cfg.chat_id, "text": f"{subject}\n{body}"})
        return (res or {}).get("message_id")

    def updates(self) -> list[dict]:
        """New messages in the chat (getUpdates from the last offset): [{text, reply_to, by}]."""
        res = self._call("getUpdates", {"offset": self.offset, "timeout": 0}) or []
        out = []
        for u in res:
            self.offset = max(self.offset, int(u.get("update_id", 0)) + 1)
            m = u.get("message") or {}
            if str((m.get("chat") or {}).get("id", self.cfg.chat_id)) != str(self.cfg.chat_id):
                continue  # another chat's message acknowledges nothing
            out.append({"text": (m.get("text") or "").strip(),
                        "reply_to": (m.get("reply_to_message") or {}).get("message_id"),
                        "by": (m.get("from") or {}).get("username") or "telegram"})
        return out


def build_channels(cfg: AlertsConfig, secrets) -> dict[str, Channel]:
    """The configured channels with their credentials; a missing secret is a ConfigError naming both."""

    def need(name: str, secret: str, field: str) -> str:
        v = secrets.get(secret) if secrets is not None else None
        if not v:
            raise ConfigError(f"channel {name!r}: the secret {secret} is not set (set it in the environment or "
                              "the secrets file; never in the YAML)", field=f"alerts.channels.{name}.{field}")
        return v

    out: dict[str, Channel] = {}
    for name, c in cfg.channels.items():
        if c.type == "dashboard":
            out[name] = DashboardChannel(name, c)
        elif c.type == "slack":
            out[name] = SlackChannel(name, c, need(name, c.url_secret, "url_secret"))
        elif c.type == "webhook":
            out[name] = WebhookChannel(name, c, need(name, c.hmac_secret, "hmac_secret"))
        elif c.type == "email":
            out[name] = EmailChannel(name, c, need(name, c.password_secret, "password_secret") if c.username else None)
        elif c.type == "telegram":
            out[name] = TelegramChannel(name, c, need(name, c.token_secret, "token_secret"))
    return out
