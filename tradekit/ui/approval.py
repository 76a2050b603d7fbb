"""The approval dashboard: a card per pending proposal, the kill switch, the trading state.

Built from :class:`~tradekit.execution.approval.ApprovalQueue`; shown by
``dashboards/approval.ipynb``. Every widget a test or a person needs has a stable CSS class
(``tk-card-<order id>``, ``tk-approve-<order id>``, ``tk-kill``, ...). Handlers disable their
buttons first, never raise (an exception in a widget callback vanishes under Voila), and
show what went wrong on the card.
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import datetime

import ipywidgets as w
from ipywidgets.widgets.widget_string import HTMLStyle, TextStyle

from tradekit.clock import IST
from tradekit.execution.approval import (
    EXPIRED,
    RESEND_AFTER,
    SESSION_SILENT_AFTER,
    ApprovalQueue,
    BulkSummary,
    Proposal,
)
from tradekit.store.events import EventType as E
from tradekit.ui.cards import (CARD_STYLE, PageLiveness, checks_rows, rejected_card_html, rejected_files, risk_of,
                               risk_html, side_chip, state_badge, ttl_html, ttl_real)
from tradekit.ui._common import (STYLE, RefreshLoop, calendar_flag, css_name, error_panel, esc, hhmmss, inr,
                                 set_if_changed, table)

log = logging.getLogger(__name__)

_OUTCOMES = (E.APPROVAL_GRANTED, E.APPROVAL_REJECTED, E.APPROVAL_EXPIRED)


class _Shared:
    """Layout and style models shared by every card of a view.

    Each ipywidget carries a layout and a style model of its own unless given one; a card would
    cost ~45 models (and as many messages to the browser). Sharing the ones no card changes
    brings that to ~15, so a new card shows up sooner.
    """

    def __init__(self) -> None:
        self.html_style = HTMLStyle()
        self.text_style = TextStyle(description_width="initial")
        self.button_style = w.ButtonStyle()
        self.plain = w.Layout()
        self.button = w.Layout(width="auto")
        self.qty = w.Layout(width="110px")
        self.price = w.Layout(width="140px")
        self.reason = w.Layout(width="260px")


def _button(text: str, css: str, shared: _Shared, style: str = "", tooltip: str = "", *,
            own_layout: bool = False) -> w.Button:
    layout = w.Layout(width="auto") if own_layout else shared.button
    b = w.Button(description=text, button_style=style, tooltip=tooltip or text, layout=layout,
                 style=shared.button_style)
    if css:
        b.add_class(css)
    return b


class Card:
    """One proposal's card. Built and updated by :class:`ApprovalView`.

    A card can be built before its proposal exists (``p=None``: a spare, see
    :meth:`ApprovalView.refresh`) and given one later with :meth:`assign`: its ~15 widgets then
    already exist in the kernel and the browser, and a new proposal costs a few trait updates
    instead of building them while the trader waits for the card.
    """

    def __init__(self, view: "ApprovalView", p: Proposal | None = None):
        self.view = view
        sh = view.shared
        self.cid: str | None = None
        self.proposal: Proposal | None = None
        self.state = None
        self.details = w.HTML(layout=sh.plain, style=sh.html_style)  # title, signal, money, gate
        self.details.add_class("tk-card-details")
        self.ttl = w.HTML(layout=sh.plain, style=sh.html_style)
        self.ttl.add_class("tk-ttl")
        self.status = w.HTML(layout=sh.plain, style=sh.html_style)
        self.status.add_class("tk-status")
        self.qty = w.Text(value="", description="Qty", continuous_update=True, layout=sh.qty, style=sh.text_style)
        self.price = w.Text(value="", description="Price", continuous_update=True, layout=sh.price,
                            style=sh.text_style)
        self.reason = w.Text(value="", placeholder="reason (required to reject)", continuous_update=True,
                             layout=sh.reason, style=sh.text_style)
        self.approve = _button("Approve", "", sh, "success")
        self.reject = _button("Reject", "", sh, "danger")
        self.confirm = _button("Approve anyway", "", sh, "warning",
                               "the price moved more than allowed since the proposal: approve at the current price",
                               own_layout=True)
        self.confirm.layout.display = "none"
        self.approve.on_click(lambda _b: self.view._on_approve(self))
        self.reject.on_click(lambda _b: self.view._on_reject(self))
        self.confirm.on_click(lambda _b: self.view._on_approve(self, confirm_drift=True))
        self.qty.observe(self._on_edit, names="value")
        self.price.observe(self._on_edit, names="value")
        self.controls = w.HBox([self.qty, self.price, self.reason, self.approve, self.confirm, self.reject])
        self.controls.add_class("tk-bar")
        self.row = w.HBox([self.ttl, self.status], layout=sh.plain)
        self.box = w.VBox([self.details, self.row, self.controls], layout=sh.plain)
        self.local_note: str | None = None  # what the last click did, until the session answers
        self.local_error = False
        if p is not None:
            self.assign(p)

    def assign(self, p: Proposal) -> "Card":
        """Make this (spare) card ``p``'s: its stable CSS names, its fields, its first render."""
        if self.cid is not None:
            raise RuntimeError(f"card {self.cid} already shows a proposal")
        self.cid = cid = p.client_order_id
        self.state = p.state
        for wid, css in ((self.ttl, "tk-ttl"), (self.status, "tk-status"), (self.qty, "tk-qty"),
                         (self.price, "tk-price"), (self.reason, "tk-reason"), (self.approve, "tk-approve"),
                         (self.reject, "tk-reject"), (self.confirm, "tk-confirm")):
            wid.add_class(f"{css}-{cid}")
        self.qty.value = str(p.quantity)
        self.price.value = "" if p.price is None else str(p.price)
        self.price.disabled = p.price is None
        self.price.placeholder = "market" if p.price is None else ""
        self.box.add_class("tk-card")
        self.box.add_class(f"tk-card-{cid}")
        if p.signal_id:
            self.box.add_class(f"tk-sig-{css_name(p.signal_id)}")
        self.proposal = p
        self.render(p, force=True)
        return self

    def close(self) -> None:
        """Close this card's widgets (not the shared layouts and styles)."""
        for wid in (self.details, self.ttl, self.status, self.qty, self.price, self.reason, self.approve, self.reject,
                    self.confirm, self.controls, self.row, self.box):
            wid.close()

    # -- what the person typed -------------------------------------------------------------------
    def changes(self) -> dict:
        p = self.proposal
        out = {}
        if self.qty.value.strip() and self.qty.value.strip() != str(p.quantity):
            out["quantity"] = self.qty.value.strip()
        if p.price is not None and self.price.value.strip() and self.price.value.strip() != str(p.price):
            out["price"] = self.price.value.strip()
        return out

    def _on_edit(self, _change) -> None:
        try:
            self._label_approve()
        except Exception:  # noqa: BLE001 - a label must never break typing
            log.exception("card %s: label update failed", self.cid)

    def _label_approve(self) -> None:
        ch = self.changes()
        if ch:
            parts = [f"qty {ch['quantity']}" if "quantity" in ch else "", f"@ {ch['price']}" if "price" in ch else ""]
            set_if_changed(self.approve, description="Approve modified (" + ", ".join(x for x in parts if x) + ")")
        else:
            set_if_changed(self.approve, description="Approve")

    # -- state -----------------------------------------------------------------------------------
    def lock(self, note: str) -> None:
        for b in (self.approve, self.reject, self.confirm):
            b.disabled = True
        self.local_note, self.local_error = note, False
        self._status(f"SENDING — {note}", "sending")

    def fail(self, message: str) -> None:
        self.local_note, self.local_error = message, True
        self._status(f"ERROR — {message}", "error")
        self._enable(self.proposal.is_pending and self.proposal.awaiting is None)

    def _enable(self, on: bool) -> None:
        for b in (self.approve, self.reject, self.confirm):
            set_if_changed(b, disabled=not on)
        for t in (self.qty, self.reason):
            set_if_changed(t, disabled=not on)
        set_if_changed(self.price, disabled=not on or self.proposal.price is None)

    def _status(self, text: str, kind: str) -> None:
        set_if_changed(self.status, value=f'<span class="tk-status tk-status-{kind}">{esc(text)}</span>')

    def render(self, p: Proposal, *, force: bool = False) -> None:
        """Bring the card up to date with ``p`` (only changed traits are sent)."""
        old = self.proposal
        self.proposal = p
        if force or old is None or p != old or self.view.risk_inputs_changed:
            set_if_changed(self.details, value=_title_html(p) + risk_html(p, self.view.risk(p), self.view.capital) + _details_html(p))
        if p.state != self.state:
            self.state = p.state
            self.local_note, self.local_error = None, False
        self.render_ttl()
        self._render_status()

    def render_ttl(self) -> None:
        p = self.proposal
        if not p.is_pending:
            set_if_changed(self.ttl, value="")
            return
        if p.expires_at is None:
            set_if_changed(self.ttl, value='<span class="tk-meta">no expiry</span>&nbsp;&nbsp;')
            return
        # real seconds: the session clock's time left divided by its speed (from the heartbeat)
        hb = self.view.heartbeat
        left, total = ttl_real(p, self.view.clock, hb.speed if hb is not None else None)
        set_if_changed(self.ttl, value=ttl_html(left, total, running=hb is not None and hb.alive,
                                                expires_at=hhmmss(p.expires_at)) + "&nbsp;&nbsp;")

    def _render_status(self) -> None:
        p = self.proposal
        if p.is_pending:
            self.box.remove_class("tk-decided")
            if p.awaiting is not None:
                a = p.awaiting
                age = a["age"]
                if age < SESSION_SILENT_AFTER:
                    self._status(f"SENT {a['decision']} by {a['by']} — waiting for the session", "sending")
                else:
                    self._status(f"SENT {a['decision']} by {a['by']} — no answer for {int(age)} s: is the paper/live "
                                 "session running?", "error")
                self._enable(age >= RESEND_AFTER)
            elif self.local_error:
                self._status(f"ERROR — {self.local_note}", "error")
                self._enable(True)
            else:
                if p.messages:
                    self._status("PENDING — the session says: " + "; ".join(p.messages), "warn")
                else:
                    self._status("PENDING", "pending")
                self._enable(True)
            drift = any("confirm to approve anyway" in m for m in p.messages)
            set_if_changed(self.confirm.layout, display=None if drift else "none")
            return
        self.box.add_class("tk-decided")
        self._enable(False)
        set_if_changed(self.confirm.layout, display="none")
        set_if_changed(self.controls.layout, display="none")
        # decided: one coloured line (side chip, order, outcome); the details are hidden by CSS
        set_if_changed(self.status, value=f'{side_chip(p.side)} <span class="tk-status tk-status-{esc(p.state)}">'
                       f'{esc(p.title.split(" ", 1)[-1])} — {esc(_outcome_text(p))}</span>')


def _title_html(p: Proposal) -> str:
    mode = "auto-policy" if p.auto else p.approval_mode
    return (f'<div class="tk-meta">{esc(p.strategy)} · {esc(p.client_order_id)} · {esc(p.source)} · approval: '
            f'{esc(mode)} · proposed {hhmmss(p.created_at)}</div>')


def _details_html(p: Proposal) -> str:
    parts = []
    s = p.signal
    if s:
        bits = [f"<b>signal</b> {esc(s.get('signal_id'))}", f"at {hhmmss(_dt(s.get('signal_time')))}"]
        for k in ("confidence", "priority", "reference_price", "tag"):
            if s.get(k) not in (None, "", 0) or (k == "priority" and s.get(k)):
                bits.append(f"{k.replace('_', ' ')} {esc(s.get(k))}")
        parts.append(" · ".join(bits))
    else:
        parts.append(f'<span class="tk-meta">no signal ({esc(p.source)})</span>')
    money = [f"<b>margin needed</b> {inr(p.margin)}"]
    if p.expected_charges is not None:
        money.append(f"<b>charges</b> entry {inr(p.expected_charges.total)}, round trip ≈ {inr(p.round_trip_charges)}")
    money.append(f"<b>price when proposed</b> {inr(p.price_at_proposal)}")  # the live price is on the risk line
    parts.append(" · ".join(money))
    if p.charges_note:
        parts.append(f'<span class="tk-meta">{esc(p.charges_note)}</span>')
    if p.bracket:
        parts.append(bracket_html(p.bracket))
    rows = checks_rows(p)
    gate = table(rows, ["check", "", "result"], css="tk-gate", empty="no gate results journaled")
    verdict = "passed" if p.gate_allowed else ("DENIED: " + p.gate_reason if p.gate_allowed is False else "unknown")
    failed = [r["check"] for r in rows if r[""] == "✗"]
    words = f"{len(rows) - len(failed)} of {len(rows)} checks passed" + (f"; failed: {', '.join(failed)}" if failed else "")
    parts.append(f"<details><summary><b>risk gate</b> {esc(verdict)} ({esc(words)})</summary>"
                 f"{gate}</details>")
    if p.recheck is not None:
        parts.append(f'<div class="tk-fail">re-checked at approval: {esc(p.recheck.get("reason"))}</div>')
    return "".join(f"<div>{x}</div>" for x in parts)


def bracket_html(b: dict) -> str:
    """The whole bracket on the card: entry, stop, targets, trail, ₹ at risk, reward:risk."""
    tg = ", ".join(f"{inr(t['price'])} × {t['quantity']} ({t['share'] * 100:g} %)" for t in b["targets"]) or "none"
    bits = [f"<b>bracket</b> entry {inr(b['entry'])}", f"stop {inr(b['stop'])}", f"targets {esc(tg)}"]
    if b.get("trail"):
        t = b["trail"]
        bits.append(f"trail {esc(t['kind'])} {esc(t['value'])}" + (f" (ATR {t['atr_period']})" if t["kind"] == "atr" else ""))
    bits.append(f"<b>at risk</b> {inr(b['at_risk'])}")
    if b.get("reward_risk") is not None:
        bits.append(f"reward {inr(b['reward'])} · <b>reward:risk</b> {b['reward_risk']}")
    return " · ".join(bits)


def _outcome_text(p: Proposal) -> str:
    who = "auto-approval policy" if p.auto else (p.decided_by or "?")
    when = hhmmss(p.decided_at)
    if p.state in ("approved", "modified"):
        ch = ""
        if p.changes:
            ch = " (" + ", ".join(f"{k} → {v}" for k, v in p.changes.items()) + ")"
        tail = f" → {p.order_status}"
        if p.broker_order_id:
            tail += f", broker order {p.broker_order_id}"
        if p.filled_quantity:
            tail += f", filled {p.filled_quantity} @ {inr(p.average_price)}"
        if p.drift_at_approval is not None and p.drift_at_approval != 0:
            tail += f" · the price had moved {p.drift_at_approval:+.2f} % since the proposal"
        return f"{p.state.upper()}{ch} by {who} at {when}{tail}"
    if p.state == "rejected":
        return f"REJECTED by {who} at {when}: {p.decision_reason or ''}"
    if p.state == EXPIRED:
        return f"EXPIRED at {when}: {p.decision_reason or 'TTL passed'} — it cannot be approved"
    if p.state == "denied":
        return f"DENIED by the risk gate: {p.decision_reason or p.gate_reason}"
    return f"{p.state.upper()} ({p.order_status})"


def _dt(s):
    try:
        return datetime.fromisoformat(s) if s else None
    except (TypeError, ValueError):
        return None


class ApprovalView(RefreshLoop):
    """The approval dashboard.

    Parameters
    ----------
    queue : ApprovalQueue
        The read/write service over the session's journal.
    interval : float
        Seconds between journal polls while :meth:`start` runs when the journal cannot be
        watched (PostgreSQL; a poll costs one query when nothing changed). A SQLite journal
        wakes the page when it is written (:class:`~tradekit.ui._common.RefreshLoop`).
    keep_decided : int
        Decided cards kept on the page, newest first.

    Examples
    --------
    >>> view = ApprovalView.from_config()     # doctest: +SKIP
    >>> view.start(); view.widget             # doctest: +SKIP
    """

    def __init__(self, queue: ApprovalQueue, *, interval: float = 0.1, keep_decided: int = 10):
        self.queue = queue
        self.shared = _Shared()
        self.interval = interval
        self.keep_decided = keep_decided
        self.cards: dict[str, Card] = {}
        self._activity: deque[str] = deque(maxlen=12)
        self._bulk: BulkSummary | None = None
        self._kill_armed = False
        self.live = PageLiveness()  # RUNNING / NO SESSION, the page clock, the kernel beat
        self.risk_inputs_changed = False
        self._risk_key = None
        self._bad_seen: tuple = ()
        self._spare: Card | None = None  # a card's widgets built ahead (Card.assign)

        self.kill_result = w.HTML()
        self.kill_result.add_class("tk-kill-result")
        self.state = w.HTML()
        self.state.add_class("tk-trading-state")
        self.count = w.HTML()
        self.count.add_class("tk-pending-count")
        self.info = w.HTML()
        self.info.add_class("tk-info")
        self.error = w.HTML()
        self.error.add_class("tk-view-error")

        self.kill_reason = w.Text(placeholder="why (required)", continuous_update=True, layout=w.Layout(width="220px"))
        self.kill_reason.add_class("tk-kill-reason")
        self.kill_btn = _button("Kill switch", "tk-kill", self.shared, "danger",
                                "HALT trading, cancel open orders, flatten positions")
        self.kill_confirm = _button("Confirm: HALT, cancel all, flatten", "tk-kill-confirm", self.shared, "danger",
                                    own_layout=True)
        self.kill_cancel = _button("Keep trading", "tk-kill-cancel", self.shared, own_layout=True)
        self.kill_confirm.layout.display = self.kill_cancel.layout.display = "none"
        self.unlock_reason = w.Text(placeholder="why it is safe to trade again", continuous_update=True,
                                    layout=w.Layout(width="220px"))
        self.unlock_reason.add_class("tk-unlock-reason")
        self.unlock_btn = _button("Unlock…", "tk-unlock", self.shared, "warning",
                                  "unlock trading after the cool-off (a reason is recorded)", own_layout=True)
        self.unlock_btn.on_click(lambda _b: self._on_unlock())
        self.unlock_box = w.HBox([self.unlock_reason, self.unlock_btn], layout=w.Layout(display="none"))
        self.unlock_box.add_class("tk-bar")
        self.kill_btn.on_click(lambda _b: self._on_kill())
        self.kill_confirm.on_click(lambda _b: self._on_kill_confirm())
        self.kill_cancel.on_click(lambda _b: self._disarm_kill())

        self.bulk_btn = _button("Approve all…", "tk-bulk", self.shared, "", "show a per-order summary first")
        self.bulk_summary = w.HTML()
        self.bulk_summary.add_class("tk-bulk-summary")
        self.bulk_confirm = _button("Confirm approve", "tk-bulk-confirm", self.shared, "success", own_layout=True)
        self.bulk_cancel = _button("Cancel", "tk-bulk-cancel", self.shared, own_layout=True)
        self.bulk_confirm.layout.display = self.bulk_cancel.layout.display = "none"
        self.bulk_btn.on_click(lambda _b: self._on_bulk())
        self.bulk_confirm.on_click(lambda _b: self._on_bulk_confirm())
        self.bulk_cancel.on_click(lambda _b: self._close_bulk())

        self.pending_box = w.VBox()
        self.pending_box.add_class("tk-pending")
        self.decided_box = w.VBox()
        self.decided_box.add_class("tk-decided-list")
        self.activity = w.HTML()
        self.activity.add_class("tk-activity")
        self.bad_files = w.HTML()
        self.bad_files.add_class("tk-bad-files")

        top = w.HBox([w.HTML("<h3 style='margin:4px 12px 4px 0'>Approval queue</h3>"), self.live.badge, self.state,
                      self.unlock_box, self.count, self.kill_reason, self.kill_btn, self.kill_confirm,
                      self.kill_cancel])
        top.add_class("tk-bar")
        bulk = w.HBox([self.bulk_btn, self.bulk_confirm, self.bulk_cancel])
        bulk.add_class("tk-bar")
        keys = w.HTML('<span class="tk-keys">keys: <b>a</b> approve · <b>r</b> reject (type the reason, Enter) · '
                      '<b>m</b> modify · <b>j</b>/<b>k</b> next/previous card</span>')
        from tradekit.ui.alerts import AlertToasts  # alert toasts (critical ones sticky) with Ack

        self.toasts = AlertToasts(queue.journal, by=getattr(queue, "approver", None))
        self.toasts.on_ack = lambda _aid, line: self._log(f"{hhmmss(datetime.now(IST))} {line}")
        self.widget = w.VBox([w.HTML(STYLE + CARD_STYLE), self.toasts.widget, self.live.beat, top, self.kill_result, self.info, keys, self.error, bulk, self.bulk_summary,
                              w.HTML("<h4>Pending</h4>"), self.pending_box, self.bad_files,
                              w.HTML("<h4>Recent decisions</h4>"), self.decided_box,
                              w.HTML("<h4>Activity on this page</h4>"), self.activity])
        self.widget.add_class("tk-root")
        self.widget.add_class("tk-approval")
        from tradekit.ui.conditions_panel import ConditionsPanel  # conditional orders with their state

        self.conditions = ConditionsPanel(queue.journal)
        self.widget.children = (*self.widget.children, self.conditions.widget)
        self.refresh(force=True)
        self._history()

    @classmethod
    def from_config(cls, config=None, **kw):
        """Build from the config (``$TRADEKIT_CONFIG`` by default); a broken setup shows an error panel."""
        try:
            return cls(ApprovalQueue.from_config(config), **kw)
        except Exception as e:  # noqa: BLE001 - the page must say what is wrong, not stay blank
            log.exception("approval dashboard could not start")
            return _Broken("Approval queue", f"{type(e).__name__}: {e}")

    # -- refresh ---------------------------------------------------------------------------------
    def watched_journal(self):
        return self.queue.journal  # a new proposal or an outcome wakes the page (RefreshLoop)

    ttl_tick = 0.2  # seconds between refreshes while a pending card's TTL bar counts down

    def idle_pause(self) -> float:
        if any(c.proposal is not None and c.proposal.is_pending and c.proposal.expires_at is not None
               for c in self.cards.values()):
            return min(self.ttl_tick, self.idle_interval)
        return self.idle_interval

    def refresh(self, *, force: bool = False) -> bool:
        """Read new journal events and update the page; True when anything changed."""
        q = self.queue
        events = q.refresh()
        self.live.update(q.config, getattr(q.journal, "engine", None))
        # live prices (marks, fills) or positions moved: pending cards re-render their risk line
        marks = any(ev.type in (E.MARK, E.FILL) for ev in events)
        key = (q.book.positions_version, q.seq if marks else (self._risk_key or (0, 0))[1])
        self.risk_inputs_changed = key != self._risk_key
        self._risk_key = key
        if hasattr(self, "conditions"):
            self.conditions.update(events)
        changed = {ev.payload.get("client_order_id") for ev in events} - {None}
        decided_events = {ev.payload.get("client_order_id") for ev in events if ev.type in _OUTCOMES
                          or (ev.type == E.RISK_DECISION and not ev.payload.get("allowed", True))}
        pending = q.pending_ids()
        pending_set = set(pending)
        for cid in pending:
            self._guarded(cid, self._update_pending, cid, cid in changed)
        for cid in sorted(changed - pending_set):
            self._guarded(cid, self._update_other, cid, cid in decided_events)
        if force and not any(not c.proposal.is_pending for c in self.cards.values()):
            for p in q.decided(self.keep_decided):
                if p.client_order_id not in self.cards:
                    self.cards[p.client_order_id] = Card(self, p)
        if events or force:
            self._layout(pending)
            self._header()
        self._bad_files()
        if hasattr(self, "toasts"):
            self.toasts.update(q.seq)
        set_if_changed(self.info, value=self._info_html())
        if self._spare is None and not events and not force:
            # a quiet pass: build the next card's widgets now, so a new proposal shows without waiting for them
            self._spare = Card(self)
        return bool(events)

    # -- liveness, risk inputs, bad files, history ------------------------------------------------------
    @property
    def heartbeat(self):
        return self.live.heartbeat

    @property
    def clock(self):
        return self.live.clock

    @property
    def capital(self):
        return getattr(getattr(self.queue.config, "account", None), "capital", None)

    def risk(self, p: Proposal):
        """The proposal's risk: entry, stop, ₹ at risk, % of capital, position before/after, margin after."""
        cap = getattr(getattr(self.queue.config, "account", None), "capital", None)
        return risk_of(p, self.queue.book, cap, self._available())

    def _available(self):
        key = self._risk_key
        if getattr(self, "_avail_key", None) != key:
            self._avail_key, self._avail = key, self.queue.available_funds()
        return self._avail

    def _bad_files(self) -> None:
        cfg = self.queue.config
        if cfg is None:
            return
        try:
            inbox = cfg.signals.inbox_path(cfg.data_dir)
        except Exception:  # noqa: BLE001 - no inbox configured: nothing to show
            return
        bad = rejected_files(inbox, limit=self.keep_decided)
        sig = tuple((n, m) for n, m, _r in bad)
        if sig == self._bad_seen:
            return
        self._bad_seen = sig
        html = "".join(rejected_card_html(*b) for b in bad)
        set_if_changed(self.bad_files, value=(f"<h4>Rejected signal files</h4>{html}" if html else ""))

    def _history(self) -> None:
        """The activity log rebuilt from the journal (a reload keeps it): decisions and kill switches."""
        lines = []
        for p in self.queue.decided(self._activity.maxlen or 12):
            lines.append((p.decided_at, f"{hhmmss(p.decided_at)} {p.client_order_id}: {p.title} — "
                                              f"{_outcome_text(p)}"))
        for k in self.queue.kills:
            lines.append((_dt(str(k.get("at"))), f"{hhmmss(_dt(str(k.get('at'))))} KILL SWITCH {k.get('action')} by "
                                              f"{k.get('by')}: {k.get('reason')}"))
        lines = [x for x in lines if x[0] is not None]
        lines.sort(key=lambda x: x[0])
        for _seq, ln in lines:
            self._activity.appendleft(ln)
        if lines:
            set_if_changed(self.activity, value="<br>".join(esc(x) for x in self._activity))

    def _guarded(self, cid: str, fn, *args) -> None:
        # one proposal that cannot be shown must not stop the others from updating
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001
            log.exception("card %s could not be updated", cid)
            self.show_error(f"{cid}: {type(e).__name__}: {e}")

    def _update_pending(self, cid: str, changed: bool) -> None:
        card = self.cards.get(cid)
        if card is None:
            spare, self._spare = self._spare, None
            p = self.queue.proposal(cid)
            self.cards[cid] = spare.assign(p) if spare is not None else Card(self, p)
        elif changed or card.proposal.awaiting is not None or self.risk_inputs_changed:
            card.render(self.queue.proposal(cid))
        else:
            card.render_ttl()

    def _update_other(self, cid: str, decided: bool) -> None:
        card = self.cards.get(cid)
        if card is not None:
            was_pending = card.proposal.is_pending
            card.render(self.queue.proposal(cid))
            if was_pending and not card.proposal.is_pending:
                self._log(f"{hhmmss(datetime.now(IST))} {cid}: {_outcome_text(card.proposal)}")
        elif decided:  # decided elsewhere (another tab, an auto-approval policy, expiry)
            self.cards[cid] = Card(self, self.queue.proposal(cid))

    def _layout(self, pending: list[str]) -> None:
        decided = [c for c in self.cards.values() if not c.proposal.is_pending]
        decided.sort(key=lambda c: c.proposal.decided_seq or 0, reverse=True)
        keep = decided[: self.keep_decided]
        for c in decided[self.keep_decided:]:
            self.cards.pop(c.cid, None)
            c.close()
        pend = tuple(self.cards[c].box for c in pending if c in self.cards)
        if self.pending_box.children != pend:
            self.pending_box.children = pend
        dec = tuple(c.box for c in keep)
        if self.decided_box.children != dec:
            self.decided_box.children = dec
        n = len(pending)
        set_if_changed(self.count, value=f'<span class="tk-badge">{n} pending</span>')
        set_if_changed(self.bulk_btn, disabled=n == 0)

    def _header(self) -> None:
        q = self.queue
        st = q.trading_state
        set_if_changed(self.state, value=state_badge(st, q.state_change))
        set_if_changed(self.unlock_box.layout, display=None if st != "ACTIVE" else "none")
        set_if_changed(self.kill_btn, disabled=st == "HALTED" and not self._kill_armed)

    def _info_html(self) -> str:
        q = self.queue
        mode = getattr(q.config, "mode", "?")
        now = q.now()
        day = now.astimezone(IST).date() if now is not None else None
        return (f'<span class="tk-meta">{esc(mode)} · approver <b>{esc(q.approver)}</b> · journal seq {q.seq} · '
                f'page updated {hhmmss(datetime.now(IST))}'
                f'{calendar_flag(q.config, day)}</span>')

    def show_error(self, message: str) -> None:
        set_if_changed(self.error, value=f'<div class="tk-error">{esc(message)}</div>')

    def _log(self, line: str) -> None:
        self._activity.appendleft(line)
        set_if_changed(self.activity, value="<br>".join(esc(x) for x in self._activity))

    # -- handlers (each disables first, never raises) ------------------------------------------------
    def _on_approve(self, card: Card, *, confirm_drift: bool = False) -> None:
        card.lock("approve")
        try:
            ch = card.changes()
            r = self.queue.approve(card.cid, reason=card.reason.value.strip(), confirm_drift=confirm_drift,
                                   changes=ch or None)
            self._after(card, r, "approve" + (" (modified)" if ch else "") + (" anyway" if confirm_drift else ""))
        except Exception as e:  # noqa: BLE001 - show it on the card
            log.exception("approve %s failed", card.cid)
            card.fail(f"{type(e).__name__}: {e}")

    def _on_reject(self, card: Card) -> None:
        card.lock("reject")
        try:
            reason = card.reason.value.strip()
            if not reason:
                card.fail("type a reason to reject (it is recorded in the audit trail)")
                return
            r = self.queue.reject(card.cid, reason)
            self._after(card, r, f"reject ({reason})")
        except Exception as e:  # noqa: BLE001
            log.exception("reject %s failed", card.cid)
            card.fail(f"{type(e).__name__}: {e}")

    def _after(self, card: Card, r, what: str) -> None:
        if r.written or r.duplicate:
            if r.written:
                self._log(f"{hhmmss(datetime.now(IST))} {card.cid}: {what} sent by {self.queue.approver} (seq {r.seq})")
            card.render(self.queue.proposal(card.cid))
        else:
            card.fail(r.message)
            card.render(self.queue.proposal(card.cid))

    def _on_kill(self) -> None:
        self.kill_btn.disabled = True
        try:
            if not self.kill_reason.value.strip():
                self.show_error("kill switch: type why first (it is recorded in the audit trail)")
                self.kill_btn.disabled = False
                return
            self._kill_armed = True
            self.kill_confirm.layout.display = self.kill_cancel.layout.display = None
        except Exception as e:  # noqa: BLE001
            log.exception("kill switch arming failed")
            self.show_error(f"kill switch: {e}")
            self.kill_btn.disabled = False

    def _on_kill_confirm(self) -> None:
        self.kill_confirm.disabled = True
        try:
            r = self.queue.kill(self.kill_reason.value)
            self._log(f"{hhmmss(datetime.now(IST))} KILL SWITCH by {self.queue.approver}: {self.kill_reason.value} "
                      f"(seq {r.seq}, via the page kernel)")
            set_if_changed(self.kill_result, value=f'<span class="tk-kill-path tk-fail">HALTED via the page kernel '
                           f'(journal seq {r.seq}): {esc(r.message)}</span>')
            self.show_error("")
        except Exception as e:  # noqa: BLE001
            log.exception("kill switch failed")
            self.show_error(f"kill switch FAILED: {type(e).__name__}: {e} — use `tradekit kill --reason ...`")
        finally:
            self._disarm_kill()
            self.refresh(force=True)

    def _on_unlock(self) -> None:
        """Unlock through the same journal request as ``tradekit unlock`` (a reason, after the cool-off)."""
        self.unlock_btn.disabled = True
        try:
            from tradekit.execution.controls import request_unlock
            from tradekit.risk.config import RiskConfig

            reason = self.unlock_reason.value.strip()
            if not reason:
                self.show_error("unlock: type why it is safe to trade again (it is recorded in the audit trail)")
                return
            risk = getattr(self.queue.config, "risk", None) or RiskConfig()
            # the cool-off runs on the session's clock (the trip is stamped with it; a replay runs at ×N)
            msg = request_unlock(self.queue.journal, reason, by=self.queue.approver, origin="dashboard",
                                 cooloff_seconds=risk.breakers.cooloff_seconds, now=self.clock or self.queue.now())
            self._log(f"{hhmmss(datetime.now(IST))} UNLOCK: {msg}")
            self.show_error("")
            self.unlock_reason.value = ""
        except Exception as e:  # noqa: BLE001 - the cool-off refusal is shown, not raised
            log.warning("unlock failed: %s", e)
            self.show_error(f"unlock: {e}")
        finally:
            self.unlock_btn.disabled = False
            self.refresh(force=True)

    def _disarm_kill(self) -> None:
        self._kill_armed = False
        self.kill_confirm.disabled = False
        self.kill_confirm.layout.display = self.kill_cancel.layout.display = "none"
        self._header()

    def _on_bulk(self) -> None:
        self.bulk_btn.disabled = True
        try:
            s = self.queue.bulk_approve_summary()
            self._bulk = s
            rows = [{"order": ln.client_order_id, "proposal": ln.title, "value": ln.value, "margin": ln.margin,
                     "charges": ln.charges, "TTL left": "—" if ln.ttl_left is None else f"{max(0, int(ln.ttl_left))} s",
                     "warnings": "; ".join(ln.warnings)} for ln in s.lines]
            tot = (f"<b>{len(s.lines)} orders</b>: value {inr(s.total_value)} · margin {inr(s.total_margin)} "
                   f"(available {inr(s.available)}) · charges {inr(s.total_charges)}")
            warn = "".join(f'<div class="tk-warn">⚠ {esc(x)}</div>' for x in s.warnings)
            set_if_changed(self.bulk_summary, value=table(rows, list(rows[0]) if rows else [], css="tk-bulk-table",
                                                          money=("value", "margin", "charges")) + tot + warn)
            self.bulk_confirm.description = f"Confirm approve {len(s.lines)}"
            self.bulk_confirm.disabled = not s.lines
            self.bulk_confirm.layout.display = self.bulk_cancel.layout.display = None
        except Exception as e:  # noqa: BLE001
            log.exception("bulk summary failed")
            self.show_error(f"bulk approve: {type(e).__name__}: {e}")
            self.bulk_btn.disabled = False

    def _on_bulk_confirm(self) -> None:
        self.bulk_confirm.disabled = True
        try:
            if self._bulk is None:
                return
            receipts = self.queue.bulk_approve(self._bulk)
            sent = sum(1 for r in receipts if r.written)
            self._log(f"{hhmmss(datetime.now(IST))} bulk approve: {sent} sent, {len(receipts) - sent} skipped")
            for r in receipts:
                card = self.cards.get(r.client_order_id)
                if card is not None and not r.written and not r.duplicate:
                    card.fail(r.message)
        except Exception as e:  # noqa: BLE001
            log.exception("bulk approve failed")
            self.show_error(f"bulk approve: {type(e).__name__}: {e}")
        finally:
            self._close_bulk()
            self.refresh(force=True)

    def _close_bulk(self) -> None:
        self._bulk = None
        self.bulk_summary.value = ""
        self.bulk_confirm.layout.display = self.bulk_cancel.layout.display = "none"
        self.bulk_btn.disabled = not self.queue.pending_ids()


class _Broken:
    """Stands in for a view that could not be built: shows the error, does nothing else."""

    def __init__(self, title: str, message: str):
        self.widget = error_panel(f"{title}: not available", message)
        self.error = message

    def start(self):
        return None

    def stop(self) -> None:
        return None

    def refresh(self, **_kw) -> bool:
        return False


__all__ = ["ApprovalView", "Card"]
