"""The durable outbox: every alert's state, rebuilt from the journal's ``alert.*`` events.

``alert.raised`` (and ``alert.escalated``) put a delivery (alert, channel) in the outbox;
``alert.sent`` or a final ``alert.failed`` takes it out. After a restart, :meth:`Outbox.pending`
is what was raised and not yet sent: the manager sends it again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from tradekit.store.events import EventType as E

ALERT_TYPES = (E.ALERT_RAISED, E.ALERT_SENT, E.ALERT_FAILED, E.ALERT_ACKED, E.ALERT_ESCALATED, E.ALERT_ACK_REQUESTED)


@dataclass
class AlertState:
    id: str
    kind: str
    priority: str
    title: str
    text: str
    key: str
    raised_at: datetime
    payload: dict
    channels: list[str] = field(default_factory=list)  # every channel it was routed or escalated to
    sent: dict[str, dict] = field(default_factory=dict)  # channel -> {"at", "ref"}
    failed: dict[str, dict] = field(default_factory=dict)  # channel -> the last alert.failed payload
    attempts: dict[str, int] = field(default_factory=dict)
    acked: dict | None = None
    ack_requested: dict | None = None  # an alert.ack_requested not yet acted on (no session was running)
    escalated_at: datetime | None = None  # the last escalation step (None: still on the first channel)

    @property
    def status(self) -> str:
        if self.acked:
            return "acked"
        if any(not f.get("final") for c, f in self.failed.items() if c not in self.sent):
            return "retrying"
        if all(c in self.sent for c in self.channels):
            return "sent"
        if any(f.get("final") for f in self.failed.values()):
            return "failed"
        return "pending"

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "priority": self.priority, "title": self.title, "text": self.text,
                "raised_at": self.raised_at.isoformat(), "channels": list(self.channels), "sent": sorted(self.sent),
                "status": self.status, "acked": self.acked}


class Outbox:
    def __init__(self):
        self.alerts: dict[str, AlertState] = {}
        self.by_ref: dict[tuple[str, object], str] = {}  # (channel, message ref) -> alert id
        self.last_key: dict[str, datetime] = {}  # kind:key -> when last raised (deduplication)
        self.lock = threading.RLock()

    @classmethod
    def rebuild(cls, events) -> "Outbox":
        box = cls()
        for ev in events:
            box.apply(ev)
        return box

    def apply(self, ev) -> AlertState | None:
        p = ev.payload
        with self.lock:
            if ev.type == E.ALERT_RAISED:
                a = AlertState(p["id"], p["kind"], p["priority"], p["title"], p.get("text", ""), p.get("key", ""),
                               ev.time, p, list(p.get("channels") or []))
                self.alerts[a.id] = a
                self.last_key[f"{a.kind}:{a.key}"] = ev.time
                return a
            a = self.alerts.get(p.get("id"))
            if a is None:
                return None
            ch = p.get("channel")
            if ev.type == E.ALERT_SENT:
                a.sent[ch] = {"at": ev.time, "ref": p.get("ref")}
                a.attempts[ch] = int(p.get("attempt", 1))
                if p.get("ref") is not None:
                    self.by_ref[(ch, p["ref"])] = a.id
            elif ev.type == E.ALERT_FAILED:
                a.failed[ch] = p
                a.attempts[ch] = int(p.get("attempt", 1))
            elif ev.type == E.ALERT_ACK_REQUESTED:
                a.ack_requested = a.ack_requested or {"by": p.get("by"), "via": p.get("via")}
            elif ev.type == E.ALERT_ACKED:
                a.acked = a.acked or {"by": p.get("by"), "via": p.get("via"), "at": ev.time.isoformat()}
            elif ev.type == E.ALERT_ESCALATED:
                if p.get("to") and p["to"] not in a.channels:
                    a.channels.append(p["to"])
                a.escalated_at = ev.time
            return a

    def pending(self) -> list[tuple[str, str, int]]:
        """(alert id, channel, attempts so far) of every delivery neither sent nor given up."""
        with self.lock:
            return [(a.id, c, a.attempts.get(c, 0)) for a in self.alerts.values() for c in a.channels
                    if c not in a.sent and not (a.failed.get(c) or {}).get("final")]

    def find(self, alert_id: str) -> AlertState | None:
        with self.lock:
            a = self.alerts.get(alert_id)
            if a is None:  # a unique prefix will do (typed from a phone)
                hits = [x for k, x in self.alerts.items() if k.startswith(alert_id.lower())] if alert_id else []
                a = hits[0] if len(hits) == 1 else None
            return a


def dashboard_alerts(events, *, include_acked: bool = False) -> list[dict]:
    """What the dashboards show as toasts: the alerts routed to a ``dashboard`` channel
    (``alert.raised`` with ``dashboard: true``), unacknowledged unless ``include_acked``, newest first.
    ``events``: the journal's events (e.g. ``journal.events(types=ALERT_TYPES)``); a page acknowledges
    one with ``SessionView.ack_alert(id)``."""
    box = Outbox.rebuild(ev for ev in events if ev.type in ALERT_TYPES)
    rows = [a for a in box.alerts.values() if a.payload.get("dashboard") and (include_acked or a.acked is None)]
    return [a.to_dict() for a in sorted(rows, key=lambda a: a.raised_at, reverse=True)]
