"""Routing, priorities and quiet hours: pure functions of the ``alerts:`` config."""

from __future__ import annotations

from datetime import datetime, timedelta

from tradekit.clock import IST

from tradekit.alerts.config import RANK, AlertsConfig


def priority_of(cfg: AlertsConfig, kind: str, default: str) -> str:
    return cfg.priorities.get(kind, default)


def route(cfg: AlertsConfig, kind: str, priority: str) -> list[str]:
    """The channels an alert goes to first: every matching route's, each channel's min_priority
    respected; a critical alert with escalation starts on the chain's first channel as well."""
    out: list[str] = []
    for r in cfg.routes:
        if ("*" in r.kinds or kind in r.kinds) and RANK[priority] >= RANK[r.min_priority]:
            out += [c for c in r.channels if c not in out]
    if priority == "critical" and cfg.escalation is not None and cfg.escalation.chain[0] not in out:
        out.append(cfg.escalation.chain[0])
    return [c for c in out if RANK[priority] >= RANK[cfg.channels[c].min_priority]]


def quiet_until(cfg: AlertsConfig, now: datetime) -> datetime | None:
    """The end of the quiet hours ``now`` falls in (IST), or None outside them."""
    q = cfg.quiet_hours
    if q is None:
        return None
    t = now.astimezone(IST)
    tt = t.time().replace(tzinfo=None)
    if q.start < q.end:
        inside = q.start <= tt < q.end
    else:  # over midnight
        inside = tt >= q.start or tt < q.end
    if not inside:
        return None
    end = t.replace(hour=q.end.hour, minute=q.end.minute, second=0, microsecond=0)
    if end <= t:
        end += timedelta(days=1)
    return end
