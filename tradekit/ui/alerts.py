"""Alerts on the dashboards: toasts on every page, and the Alerts tab of the execution page.

The session's alert manager (:mod:`tradekit.alerts`) journals ``alert.*`` events; an alert
routed to a ``dashboard`` channel (``alert.raised`` with ``dashboard: true``) is a toast here.

* **Toasts** (:class:`AlertToasts`), top right of the approval, P&L and execution pages: a
  *critical* alert stays until someone acknowledges it (on a page, ``tradekit alerts ack ID``
  or a Telegram reply); a warning stays ``linger["warning"]`` seconds from when it was raised, an
  info ``linger["info"]`` (they remain in the Alerts list). Each toast has an **Ack** button.
* **Ack** appends ``alert.ack_requested`` (``via: dashboard``, the person's name), the request
  ``tradekit alerts ack ID`` and :meth:`tradekit.session_view.SessionView.ack_alert` append:
  the running session turns it into ``alert.acked`` (escalation stops), or the next session
  does at its start. The toast goes at once; the Alerts list says "ack requested" until the
  session has recorded it.
* **The Alerts list** (:func:`alerts_table_html`): every alert, newest first, with its
  priority, each channel's delivery (sent, retrying, failed) and its acknowledgement.
"""

from __future__ import annotations

import getpass
import logging
import time
from collections.abc import Callable
from datetime import datetime

import ipywidgets as w

from tradekit.alerts.outbox import ALERT_TYPES, AlertState, Outbox
from tradekit.clock import IST
from tradekit.store.archive import read_events
from tradekit.store.events import EventType as E
from tradekit.ui._common import esc, set_if_changed

log = logging.getLogger(__name__)

LINGER = {"info": 10.0, "warning": 30.0}  # seconds a non-critical toast stays (from when it was raised)
MAX_TOASTS = 5

TOAST_STYLE = """
<style>
.tk-toasts { position: fixed; top: 56px; right: 16px; z-index: 10000; width: 340px; gap: 8px; }
.tk-toasts:empty { display: none; }
.tk-toast { border-radius: 8px; padding: 8px 10px; box-shadow: 0 4px 14px rgba(0,0,0,.25); align-items: center;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 13px; }
.tk-toast-critical { background: #c5221f; color: #fff; border: 2px solid #8c1713; }
.tk-toast-warning { background: #fef7e0; color: #5f3b00; border: 1px solid #f29900; }
.tk-toast-info { background: #e8f0fe; color: #174ea6; border: 1px solid #8ab4f8; }
.tk-toast .widget-html, .tk-toast .widget-html-content { color: inherit; line-height: 1.35; }
.tk-toast .tk-toast-title { font-weight: 700; } .tk-toast .tk-toast-meta { opacity: .85; font-size: 12px; }
.tk-toast button.tk-ack { font-weight: 700; }
.tk-root .tk-prio { display: inline-block; padding: 1px 7px; border-radius: 4px; font-weight: 700; font-size: 12px; }
.tk-root .tk-prio-critical { background: #c5221f; color: #fff; } .tk-root .tk-prio-warning { background: #f29900; color: #fff; }
.tk-root .tk-prio-info { background: #1a73e8; color: #fff; }
.tk-root .tk-alerts-table td { text-align: left !important; vertical-align: top; }
</style>
"""


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "dashboard"


def request_ack(journal, outbox: Outbox, alert_id: str, by: str):
    """Journal the dashboard's acknowledgement request of ``alert_id`` (a unique prefix will do):
    ``alert.ack_requested`` ``{id, by, via: "dashboard"}``, as ``tradekit alerts ack`` and
    ``SessionView.ack_alert`` do; the session records ``alert.acked``. Returns the event, or
    None when it was already acknowledged. Raises ``KeyError`` for an unknown id."""
    a = outbox.find(alert_id.strip())
    if a is None:
        raise KeyError(f"no alert {alert_id!r}")
    if a.acked is not None:
        return None
    return journal.append(E.ALERT_ACK_REQUESTED, {"id": a.id, "by": by, "via": "dashboard", "origin": "dashboard"})


class AlertFeed:
    """The journal's alerts, followed incrementally: an :class:`Outbox` and each alert's wall time."""

    def __init__(self, journal):
        self.journal = journal
        self.outbox = Outbox()
        self.raised_wall: dict[str, float] = {}  # alert id -> epoch seconds it was journaled
        self.seq = 0
        self.version = 0  # bumped whenever an alert changed

    def update(self, tail_seq: int | None = None) -> bool:
        """Read alert events appended since the last call (``tail_seq``: the caller's follower
        position, to skip the query when nothing was appended). True when anything changed."""
        if tail_seq is not None and tail_seq <= self.seq:
            return False
        changed = False
        for ev in read_events(self.journal, after=self.seq, types=ALERT_TYPES):  # the first read: archived days too
            self.seq = max(self.seq, ev.seq)
            a = self.outbox.apply(ev)
            if ev.type == E.ALERT_RAISED and a is not None:
                try:
                    self.raised_wall[a.id] = datetime.fromisoformat(ev.recorded_at).timestamp()
                except (TypeError, ValueError):
                    self.raised_wall[a.id] = time.time()
            changed = changed or a is not None
        if tail_seq is not None:
            self.seq = max(self.seq, tail_seq)
        if changed:
            self.version += 1
        return changed

    def alerts(self) -> list[AlertState]:
        """Every alert, newest first."""
        return sorted(self.outbox.alerts.values(), key=lambda a: (self.raised_wall.get(a.id, 0.0), a.id), reverse=True)

    def toasts(self, now: float | None = None, linger: dict | None = None) -> list[AlertState]:
        """The alerts to show as toasts now: dashboard-routed, not acknowledged nor requested;
        critical ones whatever their age, the others while younger than their linger time."""
        now = time.time() if now is None else now
        linger = LINGER if linger is None else linger
        out = []
        for a in self.alerts():
            if not a.payload.get("dashboard") or a.acked is not None or a.ack_requested is not None:
                continue
            if a.priority != "critical" and now - self.raised_wall.get(a.id, 0.0) > linger.get(a.priority, 10.0):
                continue
            out.append(a)
        return out


def _when(ts: float | None) -> str:
    return "—" if not ts else datetime.fromtimestamp(ts, IST).strftime("%d %b %H:%M:%S")


def _toast_html(a: AlertState, raised: float | None) -> str:
    text = f'<div>{esc(a.text)}</div>' if a.text else ""
    sticky = " · stays until acknowledged" if a.priority == "critical" else ""
    return (f'<div class="tk-toast-title">{esc(a.priority.upper())}: {esc(a.title)}</div>{text}'
            f'<div class="tk-toast-meta">{esc(a.kind)} · {_when(raised)} · id {esc(a.id)}{sticky}</div>')


class AlertToasts:
    """The toasts of one page. ``widget`` goes anywhere on the page (it is fixed top right);
    :meth:`update` after each journal refresh.

    Parameters
    ----------
    journal : Journal
        The session's journal (read).
    writer : callable
        Returns a writable journal for the acknowledgement (opened on the first Ack).
    by : str, optional
        The name recorded on an acknowledgement (default: the OS user).
    """

    def __init__(self, journal, writer: Callable[[], object] | None = None, *, by: str | None = None,
                 linger: dict | None = None, feed: AlertFeed | None = None):
        self.feed = feed or AlertFeed(journal)
        self._writer = writer or (lambda: journal)
        self.by = by or os_user()
        self.linger = dict(LINGER if linger is None else linger)
        self.style = w.HTML(TOAST_STYLE)
        self.box = w.VBox()
        self.box.add_class("tk-toasts")
        self.widget = w.VBox([self.style, self.box])
        self.widget.add_class("tk-toast-area")
        self.toasts: dict[str, tuple[w.HBox, w.HTML, w.Button]] = {}
        self.sent: set[str] = set()  # acknowledged on this page (gone before the journal says so)
        self.on_ack: Callable[[str, str], None] | None = None  # (alert id, outcome line): the page's log
        self._shown: tuple | None = None

    def update(self, tail_seq: int | None = None, now: float | None = None) -> None:
        self.feed.update(tail_seq)
        show = [a for a in self.feed.toasts(now, self.linger) if a.id not in self.sent][:MAX_TOASTS]
        key = tuple(a.id for a in show)
        if key == self._shown:
            return
        self._shown = key
        for aid in [x for x in self.toasts if x not in key]:
            for wid in self.toasts.pop(aid):
                wid.close()
        for a in show:
            if a.id not in self.toasts:
                self.toasts[a.id] = self._toast(a)
        self.box.children = tuple(self.toasts[a.id][0] for a in show)

    def _toast(self, a: AlertState):
        body = w.HTML(_toast_html(a, self.feed.raised_wall.get(a.id)), layout=w.Layout(flex="1 1 auto"))
        btn = w.Button(description="Ack", tooltip="acknowledge: it is recorded in the journal and its escalation stops",
                       layout=w.Layout(width="56px", flex="0 0 auto"))
        btn.add_class("tk-ack")
        btn.add_class(f"tk-ack-{a.id}")
        btn.on_click(lambda _b, aid=a.id: self.ack(aid))
        row = w.HBox([body, btn])
        for c in ("tk-toast", f"tk-toast-{a.priority}", f"tk-toast-{a.id}"):
            row.add_class(c)
        return row, body, btn

    def ack(self, alert_id: str) -> str:
        """The Ack button: journal the request; the toast goes. Returns what happened (one line)."""
        parts = self.toasts.get(alert_id)
        if parts is not None:
            parts[2].disabled = True
        try:
            ev = request_ack(self._writer(), self.feed.outbox, alert_id, self.by)
            line = (f"alert {alert_id} acknowledged by {self.by} (journal seq {ev.seq}; the session records it)"
                    if ev is not None else f"alert {alert_id} was already acknowledged")
            self.sent.add(alert_id)
        except Exception as e:
            log.exception("acknowledgement of %s failed", alert_id)
            line = f"alert {alert_id}: acknowledgement FAILED: {type(e).__name__}: {e}"
            if parts is not None:
                parts[2].disabled = False
                set_if_changed(parts[1], value=_toast_html(self.feed.outbox.alerts[alert_id],
                                                           self.feed.raised_wall.get(alert_id))
                               + f'<div class="tk-toast-error"><b>{esc(line)}</b></div>')
        if self.on_ack is not None:
            self.on_ack(alert_id, line)
        self._shown = None  # re-render
        self.update()
        return line


def _delivery(a: AlertState, ch: str) -> str:
    if ch in a.sent:
        at = a.sent[ch].get("at")
        return f'<span class="tk-ok">{esc(ch)} ✓</span>' + (f' {at.astimezone(IST):%H:%M:%S}' if at else "")
    f = a.failed.get(ch)
    if f:
        word = "failed" if f.get("final") else f"retrying (try {a.attempts.get(ch, 1)})"
        return f'<span class="tk-fail">{esc(ch)} ✗ {word}</span> <span class="tk-meta">{esc(str(f.get("error", ""))[:80])}</span>'
    return f'<span class="tk-warn">{esc(ch)} pending</span>'


def alerts_table_html(feed: AlertFeed, limit: int = 200) -> str:
    """Every alert, newest first: when, priority, kind, title, deliveries per channel, acknowledgement."""
    rows = feed.alerts()[:limit]
    if not rows:
        return ('<div class="tk-empty tk-alerts-empty">no alerts yet: breaker trips, reject bursts, a lost Kite '
                'session, reconciliation mismatches, a stale feed… appear here, and as toasts on every page</div>')
    body = []
    for a in rows:
        chans = [c for c in a.channels]
        deliveries = "<br>".join(_delivery(a, c) for c in chans)
        if a.payload.get("dashboard"):
            deliveries = ('<span class="tk-ok">dashboard ✓</span>' + ("<br>" if deliveries else "") + deliveries)
        if a.acked:
            ack = f'<span class="tk-ok">acked by {esc(a.acked.get("by"))} via {esc(a.acked.get("via"))}</span>'
        elif a.ack_requested:
            ack = (f'<span class="tk-warn">ack requested by {esc(a.ack_requested.get("by"))} via '
                   f'{esc(a.ack_requested.get("via"))} (the session records it)</span>')
        else:
            ack = '<span class="tk-fail">not acknowledged</span>' if a.priority == "critical" else "—"
        esc_note = f'<br><span class="tk-meta">escalated {a.escalated_at.astimezone(IST):%H:%M}</span>' \
            if a.escalated_at else ""
        body.append(f'<tr class="tk-alert-row tk-alert-{esc(a.id)}"><td>{_when(feed.raised_wall.get(a.id))}</td>'
                    f'<td><span class="tk-prio tk-prio-{esc(a.priority)}">{esc(a.priority)}</span></td>'
                    f'<td>{esc(a.kind)}</td><td><b>{esc(a.title)}</b><br><span class="tk-meta">{esc(a.text)}</span></td>'
                    f'<td>{deliveries or "—"}{esc_note}</td><td class="tk-alert-ack">{ack}</td>'
                    f'<td class="tk-meta">{esc(a.id)}</td></tr>')
    head = "".join(f"<th>{h}</th>" for h in ("raised", "priority", "kind", "alert", "deliveries", "acknowledgement",
                                             "id"))
    return (f'<table class="tk-table tk-alerts-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}'
            "</tbody></table>")


def writable_journal(journal, config=None) -> Callable[[], object]:
    """A factory of one writable connection to the journal a read-only page follows (its SQLite
    file; else the config's store, e.g. PostgreSQL), opened on first use: the page's
    acknowledgements (requests only, no lease)."""
    held: list = []

    def get():
        if not held:
            from tradekit.clock import default_clock
            from tradekit.store import Journal, make_engine, sqlite_url
            from tradekit.store.follower import journal_file

            path = journal_file(journal)
            if path is not None:
                url = sqlite_url(path)
            elif config is not None:
                url = config.store_url()
            else:
                raise RuntimeError("this page's journal cannot be written to (no config)")
            held.append(Journal(make_engine(url), clock=default_clock()))
        return held[0]

    return get


__all__ = ["LINGER", "AlertFeed", "AlertToasts", "alerts_table_html", "request_ack", "writable_journal"]
