"""The conditional orders section of the approval dashboard: each condition with its state.

Rebuilt from the journal's ``condition.*`` events (:class:`~tradekit.execution.conditions.ConditionLedger`)
and kept current with the events the dashboard reads anyway. Armed conditions first, then the
latest ended ones. Cancelling is ``tradekit conditions cancel ID`` (or ``session.cancel_condition``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import ipywidgets as w

from tradekit.execution.conditions import ARMED, TYPES, ConditionLedger
from tradekit.ui._common import set_if_changed, table

COLUMNS = ("id", "state", "order", "condition", "until", "last value", "outcome")


def _hm(s: str | None) -> str:
    return "" if not s else datetime.fromisoformat(s).strftime("%H:%M:%S")


def rows(ledger: ConditionLedger, keep_ended: int = 10) -> list[dict]:
    """Table rows: armed conditions, then the ``keep_ended`` latest ended ones."""
    items = ledger.list()
    armed = [c for c in items if c.state == ARMED]
    ended = sorted((c for c in items if c.state != ARMED), key=lambda c: c.ended_at or c.created_at, reverse=True)
    out = []
    for c in armed + ended[:keep_ended]:
        d = c.to_dict()
        outcome = ""
        if c.state != ARMED:
            outcome = f"{c.state} {_hm(d['ended_at'])}"
            if c.client_order_id:
                outcome += f" → order {c.client_order_id} ({(c.order_status or '?').lower()} when sent)"
            if c.reason:
                outcome += f" ({c.reason})"
        last = c.trigger_value if c.state != ARMED else c.last_value
        out.append({"id": c.id, "state": c.state, "order": d["order"], "condition": c.description,
                    "until": _hm(d["expires_at"]) or "—", "last value": "—" if last is None else last,
                    "outcome": outcome or "—"})
    return out


def render(ledger: ConditionLedger, keep_ended: int = 10) -> str:
    """The section's HTML."""
    n = len(ledger.list([ARMED]))
    return (f'<h4>Conditional orders <span class="tk-badge tk-conditions-armed">{n} armed</span></h4>'
            + table(rows(ledger, keep_ended), COLUMNS, css="tk-conditions-table", empty="no conditional orders"))


class ConditionsPanel:
    """An HTML widget (class ``tk-conditions``) over a journal; :meth:`update` with new events."""

    def __init__(self, journal, keep_ended: int = 10):
        self.ledger = ConditionLedger.from_journal(journal)
        self.keep_ended = keep_ended
        self.widget = w.HTML(render(self.ledger, keep_ended))
        self.widget.add_class("tk-conditions")

    def update(self, events: Iterable) -> None:
        changed = False
        for ev in events:
            if ev.type in TYPES:
                self.ledger.apply(ev)
                changed = True
        if changed:
            set_if_changed(self.widget, value=render(self.ledger, self.keep_ended))


__all__ = ["ConditionsPanel", "render", "rows"]
