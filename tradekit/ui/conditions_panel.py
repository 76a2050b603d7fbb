"""The conditional orders section of the approval dashboard: each condition with its state.

Rebuilt from the journal's ``condition.*`` events (:class:`~tradekit.execution.conditions.ConditionLedger`)
and kept current with the events the dashboard reads anyway. Armed conditions first, then the
latest ended ones. Cancelling is ``tradekit conditions cancel ID`` (or ``session.cancel_condition``).
"""

from __future__ import annotations

from collections.abc import Iterable

import ipywidgets as w

from tradekit.execution.conditions import ARMED, TYPES, ConditionLedger, hms
from tradekit.ui._common import set_if_changed, table

COLUMNS = ("id", "state", "order", "condition", "until", "last value", "outcome")


def rows(ledger: ConditionLedger, keep_ended: int = 10) -> list[dict]:
    """Table rows: armed conditions, then the ``keep_ended`` latest ended ones."""
    items = ledger.list()
    armed = [c for c in items if c.state == ARMED]
    ended = sorted((c for c in items if c.state != ARMED), key=lambda c: c.ended_at or c.created_at, reverse=True)
    out = []
    for c in armed + ended[:keep_ended]:
        last = c.trigger_value if c.state != ARMED else c.last_value
        out.append({"id": c.id, "state": c.state, "order": c.to_dict()["order"], "condition": c.description,
                    "until": hms(c.expires_at) or "—", "last value": "—" if last is None else last,
                    "outcome": c.outcome() or "—"})
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
