"""``alerts:`` — the alert manager's config section (issue 18). Every field is wired or absent.

Credentials are never here: each channel names the secret it reads (tradekit/config/secrets.py);
a channel whose secret is not set is a config error naming the channel and the secret.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Priority = Literal["info", "warning", "critical"]
RANK = {"info": 0, "warning": 1, "critical": 2}
# every kind an alert can have (tradekit/alerts/sources.py raises them; routes and priorities name them)
KINDS = ("breaker", "halted", "reducing", "resumed", "kill_switch", "kill_switch_unlocked", "kill_switch_problem",
         "reject_burst", "error_burst", "reconciliation_mismatch", "order_unknown", "stale_feed", "feed_failover",
         "approval_waiting", "token_expiring", "token_expired", "pnl_loss", "pnl_profit", "heartbeat_missing",
         "eod_summary")


class _S(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class _Channel(_S):
    min_priority: Priority = Field("info", description="alerts below this priority are not sent here")
    rate_limit_per_minute: int = Field(20, ge=1, description="at most this many sends a minute; the rest wait their turn")
    timeout_seconds: float = Field(10.0, gt=0, le=300, description="one send gives up after this")


class TelegramChannel(_Channel):
    type: Literal["telegram"]
    chat_id: str = Field(..., min_length=1)
    base_url: str = Field("https://api.telegram.org", description="the Bot API server (a local one in tests)")
    token_secret: str = Field("TRADEKIT_TELEGRAM_TOKEN", description="the secret holding the bot token")
    poll_replies: bool = Field(True, description="poll getUpdates: a reply 'ack ID' or a reply to the alert acknowledges it")
    poll_seconds: float = Field(5.0, gt=0, le=600)


class EmailChannel(_Channel):
    type: Literal["email"]
    host: str = Field(..., min_length=1)
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = Field(True, description="STARTTLS before login; false is allowed only for a loopback relay")
    verify_tls: bool = Field(True, description="verify the server's certificate (false: a self-signed test server)")
    username: str | None = None
    password_secret: str = Field("TRADEKIT_SMTP_PASSWORD", description="the secret holding the SMTP password "
                                 "(read only when username is set)")
    from_addr: str = Field(..., min_length=3)
    to: list[str] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _tls(self):
        if not self.starttls and self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("starttls: false is allowed only for a relay on this machine (host 127.0.0.1)")
        return self


class SlackChannel(_Channel):
    type: Literal["slack"]
    url_secret: str = Field("TRADEKIT_SLACK_WEBHOOK", description="the secret holding the incoming-webhook URL")


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    url: str = Field(..., min_length=8, description="POSTed a JSON body")
    hmac_secret: str = Field("TRADEKIT_ALERT_WEBHOOK", description="the secret the body is signed with (HMAC-SHA256)")
    signature_header: str = Field("X-Tradekit-Signature", min_length=1)


class DashboardChannel(_S):
    """The toast on the approval and P&L pages: nothing is sent (the journal's alert.raised is shown)."""

    type: Literal["dashboard"]
    min_priority: Priority = Field("info", description="alerts below this priority are not shown")


Channel = Annotated[Union[TelegramChannel, EmailChannel, SlackChannel, WebhookChannel, DashboardChannel],
                    Field(discriminator="type")]


class Route(_S):
    kinds: list[str] = Field(["*"], min_length=1, description="alert kinds (see tradekit/alerts/sources.py KINDS), '*' = all")
    min_priority: Priority = Field("info", description="info, warning or critical: alerts below it skip this route")
    channels: list[str] = Field(..., min_length=1, description="names from alerts.channels")


class QuietHours(_S):
    start: time = Field(..., description="IST")
    end: time = Field(..., description="IST; may be past midnight (22:00 -> 07:00)")
    action: Literal["defer", "drop"] = Field("defer", description="non-critical alerts in quiet hours: sent at the end "
                                             "(defer) or not at all (drop); critical alerts ignore quiet hours")

    @model_validator(mode="after")
    def _span(self):
        if self.start == self.end:
            raise ValueError("quiet_hours: start and end are equal")
        return self


class Escalation(_S):
    after_minutes: float = Field(10.0, gt=0, description="an unacknowledged critical alert goes to the next channel "
                                 "of the chain after this long")
    chain: list[str] = Field(..., min_length=2, description="channels in order; the alert starts on the first")


class Retries(_S):
    max_attempts: int = Field(5, ge=1, le=100, description="sends of one alert to one channel before it is given up "
                              "(journaled as failed)")
    backoff_seconds: float = Field(2.0, gt=0, description="the first wait; doubled after each failure")
    backoff_max_seconds: float = Field(300.0, gt=0, description="the longest wait between two attempts")


class BurstRule(_S):
    count: int = Field(5, ge=1, description="this many events ...")
    seconds: float = Field(60.0, gt=0, description="... within this many seconds raise the alert")


class SourcesConfig(_S):
    reject_burst: BurstRule = Field(default_factory=BurstRule, description="N rejects in M seconds")
    error_burst: BurstRule = Field(default_factory=BurstRule, description="N broker errors in M seconds")
    approval_wait_seconds: float = Field(120.0, gt=0, description="a proposal waiting longer than this for a person")
    token_expiry_warn_minutes: float = Field(30.0, ge=0, description="live: the Kite session ends within this (0: no warning)")
    pnl_loss_rupees: Decimal | None = Field(None, gt=0, description="the day's net P&L at or below minus this")
    pnl_profit_rupees: Decimal | None = Field(None, gt=0, description="the day's net P&L at or above this")
    heartbeat_missing_seconds: float = Field(60.0, gt=0, description="tradekit alerts watch: the session's lease "
                                             "heartbeat older than this (or its process gone) is an alert")
    eod_summary: bool = Field(True, description="the end-of-day stage sends the day's summary with the report")


class AlertsConfig(_S):
    enabled: bool = Field(True, description="false: no alert is raised or sent")
    channels: dict[str, Channel] = Field(default_factory=lambda: {"dashboard": DashboardChannel(type="dashboard")},
                                         description="name -> a channel (type: telegram, email, slack, webhook or "
                                         "dashboard); credentials come from the secrets file")
    routes: list[Route] = Field(default_factory=lambda: [Route(kinds=["*"], channels=["dashboard"])],
                                description="which alert kinds and priorities go to which channels")
    priorities: dict[str, Priority] = Field(default_factory=dict, description="kind -> priority, over the source's own")
    quiet_hours: QuietHours | None = Field(None, description="{start, end, action}: hours when non-critical alerts wait "
                                           "or are dropped")
    dedup_seconds: float = Field(300.0, ge=0, description="the same alert (kind and key) again within this is not raised")
    escalation: Escalation | None = Field(None, description="{after_minutes, chain}: an unacknowledged critical alert "
                                          "moves along the chain")
    retries: Retries = Field(default_factory=Retries)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)

    @field_validator("channels")
    @classmethod
    def _names(cls, v):
        for name in v:
            if not name or not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"channel name {name!r}: letters, digits, - and _ only")
        return v

    @model_validator(mode="after")
    def _refs(self):
        for i, r in enumerate(self.routes):
            for k in r.kinds:
                if k != "*" and k not in KINDS:
                    raise ValueError(f"routes[{i}].kinds: unknown alert kind {k!r} (known: {', '.join(KINDS)})")
        for k in self.priorities:
            if k not in KINDS:
                raise ValueError(f"priorities: unknown alert kind {k!r} (known: {', '.join(KINDS)})")
        for i, r in enumerate(self.routes):
            for c in r.channels:
                if c not in self.channels:
                    raise ValueError(f"routes[{i}].channels: {c!r} is not a channel in alerts.channels")
        if self.escalation is not None:
            for c in self.escalation.chain:
                if c not in self.channels:
                    raise ValueError(f"escalation.chain: {c!r} is not a channel in alerts.channels")
        return self
