"""The alert manager: raise alerts into the journal's outbox on the caller's thread, send them on
per-channel threads.

    mgr = AlertManager.from_config(config, journal, clock=clock)   # Session does this (session.alerts)
    mgr.raise_("breaker", "daily loss breaker", "lost 2.1 %", priority="critical")
    mgr.ack(alert_id, by="asha", via="cli")

The only work on the order path is the ``alert.raised`` append (joined to the caller's journal
transaction: it is committed with the event that caused it). Each channel has its own sender
thread, so a stalled SMTP server delays neither an order nor another channel. Failed sends are
retried with exponential backoff (``alerts.retries``); a restart sends what was raised and never
sent (:meth:`Outbox.pending`). Quiet hours (IST) hold or drop non-critical alerts; deduplication
skips the same alert within ``dedup_seconds``; each channel keeps its ``rate_limit_per_minute``; an
unacknowledged critical alert is escalated along ``escalation.chain``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import re
import secrets as _rand
import threading
import time
from collections import deque
from datetime import timedelta

from tradekit.clock import default_clock
from tradekit.store.events import EventType as E

from tradekit.alerts.channels import ChannelError, DashboardChannel, build_channels
from tradekit.alerts.config import AlertsConfig
from tradekit.alerts.outbox import ALERT_TYPES, Outbox
from tradekit.alerts.rules import priority_of, quiet_until, route
from tradekit.alerts.sources import Sources

log = logging.getLogger(__name__)

_ACK = re.compile(r"^\s*/?ack\s+([0-9a-fA-F]{4,16})\b", re.IGNORECASE)


class _Worker:
    """One channel's sender thread: a heap of (due, alert id, attempts so far)."""

    def __init__(self, mgr: "AlertManager", channel):
        self.mgr, self.channel = mgr, channel
        self.heap: list = []
        self.cond = threading.Condition()
        self.count = itertools.count()
        self.sent_times: deque = deque()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name=f"alerts-{channel.name}", daemon=True)

    def put(self, alert_id: str, attempts: int, delay: float = 0.0) -> None:
        with self.cond:
            heapq.heappush(self.heap, (self.mgr.monotonic() + max(0.0, delay), next(self.count), alert_id, attempts))
            self.cond.notify()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.stopped and (not self.heap or self.heap[0][0] > self.mgr.monotonic()):
                    self.cond.wait(None if not self.heap else min(1.0, self.heap[0][0] - self.mgr.monotonic()))
                if self.stopped:
                    return
                _, _, alert_id, attempts = heapq.heappop(self.heap)
            try:
                self.mgr._deliver(self, alert_id, attempts)
            except Exception:  # noqa: BLE001 - the journal down, a bug: try again shortly, keep the thread
                log.exception("alert %s to %s: delivery failed; trying again", alert_id, self.channel.name)
                self.put(alert_id, attempts, 5.0)


class AlertManager:
    def __init__(self, cfg: AlertsConfig, journal, *, channels: dict, clock=None, monotonic=time.monotonic):
        self.cfg, self.journal, self.channels = cfg, journal, channels
        self.clock = clock or default_clock()
        self.monotonic = monotonic
        self.sources = Sources(cfg)
        from tradekit.store.snapshot import history

        self.outbox = Outbox.rebuild(history(journal, ALERT_TYPES))  # a session's start snapshot, then the journal
        self._workers = {n: _Worker(self, c) for n, c in channels.items() if not isinstance(c, DashboardChannel)}
        self._stop = threading.Event()
        self._super: threading.Thread | None = None
        self._polled: dict[str, float] = {}
        self._ack_lock = threading.Lock()
        self._acking: set[str] = set()  # alerts whose alert.acked is being appended
        self.started = False
        journal.subscribe(self.on_event, types=Sources.OBSERVED.union(ALERT_TYPES))  # what on_event acts on

    @classmethod
    def from_config(cls, config, journal, *, clock=None, secrets=None) -> "AlertManager":
        """``config``: the whole TradekitConfig (its ``alerts`` and ``secrets_file``)."""
        if secrets is None:
            from tradekit.config.secrets import Secrets

            secrets = Secrets.load(config.secrets_file)
        return cls(config.alerts, journal, channels=build_channels(config.alerts, secrets), clock=clock)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "AlertManager":
        """Start the sender threads and hand them what the outbox still holds (a restart resends)."""
        if self.started:
            return self
        self.started = True
        for w in self._workers.values():
            w.thread.start()
        for a in [a for a in self.outbox.alerts.values() if a.ack_requested and a.acked is None]:
            self.ack(a.id, by=str(a.ack_requested.get("by") or "unknown"), via=str(a.ack_requested.get("via") or "request"))
        for alert_id, ch, attempts in self.outbox.pending():
            if ch in self._workers:
                self._workers[ch].put(alert_id, attempts)
        if self.cfg.escalation is not None or any(getattr(c.cfg, "poll_replies", False) for c in self.channels.values()):
            self._super = threading.Thread(target=self._supervise, name="alerts-supervisor", daemon=True)
            self._super.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        for w in self._workers.values():
            with w.cond:
                w.stopped = True
                w.cond.notify_all()
        for t in [w.thread for w in self._workers.values() if w.thread.is_alive()] + [self._super]:
            if t is not None and t.is_alive():
                t.join(timeout)  # a sender stuck in a stalled server is a daemon: it does not hold the exit

    # -- raising (the caller's thread) -------------------------------------------------------------
    def raise_(self, kind: str, title: str, text: str = "", *, priority: str = "warning", key: str = "",
               cause_seq: int | None = None) -> str | None:
        """Journal ``alert.raised`` (the outbox) and hand it to the senders once committed.
        Returns the alert's id, or None when disabled or a duplicate within ``dedup_seconds``."""
        if not self.cfg.enabled:
            return None
        priority = priority_of(self.cfg, kind, priority)
        now = self.clock.now()
        with self.outbox.lock:
            last = self.outbox.last_key.get(f"{kind}:{key}")
            if last is not None and self.cfg.dedup_seconds and (now - last).total_seconds() < self.cfg.dedup_seconds:
                return None
            self.outbox.last_key[f"{kind}:{key}"] = now
        routed = route(self.cfg, kind, priority)
        send_to = [c for c in routed if c in self._workers]
        alert_id = _rand.token_hex(4)
        payload = {"id": alert_id, "kind": kind, "priority": priority, "title": title, "text": text, "key": key,
                   "channels": send_to, "dashboard": len(send_to) < len(routed)}
        if cause_seq is not None:
            payload["cause_seq"] = cause_seq
        self.journal.append(E.ALERT_RAISED, payload)
        with self.outbox.lock:
            self.outbox.last_key[f"{kind}:{key}"] = now  # on this manager's clock (the journal's may differ)
        self.journal.after_commit(lambda: self._dispatch(alert_id, send_to))
        return alert_id

    def _dispatch(self, alert_id: str, channels: list[str]) -> None:
        if not self.started:
            return  # start() hands the outbox's pending deliveries over
        for c in channels:
            self._workers[c].put(alert_id, 0)

    def on_event(self, ev) -> None:
        """Journal listener (this process's appends): the outbox follows alert.*; sources raise."""
        if ev.type == E.ALERT_ACK_REQUESTED:
            return  # a request: the session acts on it (on_foreign), or start() does after a restart
        if ev.type in ALERT_TYPES:
            self.outbox.apply(ev)
            return
        for kind, pri, title, text, key in self.sources.observe(ev):
            self.raise_(kind, title, text, priority=pri, key=key, cause_seq=ev.seq)

    def on_foreign(self, ev) -> None:
        """Events another process appended (the session's poll): requests to acknowledge, and the
        sources (a kill switch tripped from the CLI)."""
        if ev.type == E.ALERT_ACK_REQUESTED:
            p = ev.payload
            self.outbox.apply(ev)
            self.ack(str(p.get("id", "")), by=str(p.get("by") or "unknown"), via=str(p.get("via") or "request"))
            return
        self.on_event(ev)

    def check(self, session) -> list[str]:
        """The time-driven sources (Session.service calls this every cycle); deduplication keeps a
        condition that lasts from raising more than once per ``dedup_seconds``."""
        out = []
        for kind, pri, title, text, key in self.sources.check(session, self.clock.now()):
            aid = self.raise_(kind, title, text, priority=pri, key=key)
            if aid:
                out.append(aid)
        return out

    # -- acknowledging -----------------------------------------------------------------------------
    def ack(self, alert_id: str, *, by: str, via: str) -> bool:
        """Journal ``alert.acked`` (once); escalation of the alert stops. False: no such alert."""
        a = self.outbox.find(alert_id)
        if a is None:
            log.warning("acknowledgement of an unknown alert %r (by %s via %s)", alert_id, by, via)
            return False
        # a Telegram reply (the supervisor thread) and a request from the CLI or a dashboard (the session's
        # poll) arriving together both found it unacknowledged and both journaled alert.acked: the first
        # claims it, the others see the claim. No lock is held across the append (its listeners take others);
        # once the append returns its listener has marked the alert acknowledged, and the claim goes.
        with self._ack_lock:
            if a.acked is not None or a.id in self._acking:
                return True
            self._acking.add(a.id)
        try:
            self.journal.append(E.ALERT_ACKED, {"id": a.id, "by": by, "via": via})
        finally:
            with self._ack_lock:
                self._acking.discard(a.id)
        return True

    # -- sending (a channel's thread) --------------------------------------------------------------
    def _deliver(self, w: _Worker, alert_id: str, attempts: int) -> None:
        a = self.outbox.find(alert_id)
        ch = w.channel.name
        if a is None or ch in a.sent or (a.failed.get(ch) or {}).get("final"):
            return
        now = self.clock.now()
        if a.priority != "critical":
            end = quiet_until(self.cfg, now)
            if end is not None:
                if self.cfg.quiet_hours.action == "drop":
                    self.journal.append(E.ALERT_FAILED, {"id": a.id, "channel": ch, "attempt": attempts,
                                                         "error": "quiet hours", "final": True})
                else:
                    w.put(alert_id, attempts, (end - now).total_seconds())
                return
        mono = self.monotonic()
        while w.sent_times and w.sent_times[0] <= mono - 60.0:
            w.sent_times.popleft()
        if len(w.sent_times) >= w.channel.cfg.rate_limit_per_minute:
            w.put(alert_id, attempts, w.sent_times[0] + 60.0 - mono)
            return
        w.sent_times.append(mono)
        attempt = attempts + 1
        try:
            ref = w.channel.send(a.payload)
        except (ChannelError, Exception) as e:  # noqa: BLE001 - any failure of a send is retried
            if self._stop.is_set():
                return  # stopped while the send hung: the outbox keeps it for the next session
            r = self.cfg.retries
            final = attempt >= r.max_attempts
            wait = min(r.backoff_seconds * 2 ** (attempt - 1), r.backoff_max_seconds)
            err = str(e) if isinstance(e, ChannelError) else f"{type(e).__name__}: {e}"
            self.journal.append(E.ALERT_FAILED, {"id": a.id, "channel": ch, "attempt": attempt, "error": err[:300],
                                                 "final": final, **({} if final else {"retry_in": wait})})
            if not final:
                w.put(alert_id, attempt, wait)
            return
        if self._stop.is_set() and not self._journal_writable():
            log.warning("alert %s reached %s after the manager stopped; it will be sent again", a.id, ch)
            return
        payload = {"id": a.id, "channel": ch, "attempt": attempt}
        if ref is not None:
            payload["ref"] = ref
        self.journal.append(E.ALERT_SENT, payload)

    def _journal_writable(self) -> bool:
        lease = getattr(self.journal, "lease", None)
        return lease is None or bool(getattr(lease, "held", True))

    # -- escalation and replies (the supervisor thread) --------------------------------------------
    def _supervise(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.escalate_due()
                self.poll_replies()
            except Exception:  # noqa: BLE001
                log.exception("alert supervisor")

    def escalate_due(self) -> list[str]:
        esc = self.cfg.escalation
        if esc is None:
            return []
        now, out = self.clock.now(), []
        with self.outbox.lock:
            due = []
            for a in self.outbox.alerts.values():
                if a.priority != "critical" or a.acked is not None:
                    continue
                level = max((esc.chain.index(c) for c in a.channels if c in esc.chain), default=0)
                if level + 1 >= len(esc.chain):
                    continue
                since = a.escalated_at or a.raised_at
                if now - since >= timedelta(minutes=esc.after_minutes):
                    due.append((a.id, esc.chain[level], esc.chain[level + 1]))
        for alert_id, frm, to in due:
            self.journal.append(E.ALERT_ESCALATED, {"id": alert_id, "from": frm, "to": to})
            if to in self._workers:
                self._workers[to].put(alert_id, 0)
            out.append(alert_id)
        return out

    def poll_replies(self) -> int:
        """Telegram: a reply 'ack ID', or any reply to an alert's message, acknowledges it."""
        n = 0
        for name, c in self.channels.items():
            if not getattr(c.cfg, "poll_replies", False) or not hasattr(c, "updates"):
                continue
            mono = self.monotonic()
            if mono - self._polled.get(name, -1e9) < c.cfg.poll_seconds:
                continue
            self._polled[name] = mono
            try:
                updates = c.updates()
            except ChannelError as e:
                log.warning("telegram %s: getUpdates failed: %s", name, e)
                continue
            for u in updates:
                m = _ACK.match(u["text"])
                alert_id = m.group(1).lower() if m else None
                if alert_id is None and u["reply_to"] is not None:
                    alert_id = self.outbox.by_ref.get((name, u["reply_to"]))
                if alert_id and self.ack(alert_id, by=u["by"], via=f"telegram:{name}"):
                    n += 1
        return n

    # -- reading -----------------------------------------------------------------------------------
    def active(self) -> list[dict]:
        """Unacknowledged alerts, newest first (the dashboards' toasts)."""
        with self.outbox.lock:
            return [a.to_dict() for a in sorted(self.outbox.alerts.values(), key=lambda a: a.raised_at, reverse=True)
                    if a.acked is None]


def notify_now(config, kind: str, title: str, text: str = "", *, priority: str = "warning", secrets=None,
               echo=None) -> dict[str, str]:
    """Send one alert at once, outside any session and outside the journal (the heartbeat watchdog,
    whose session is gone; the end-of-day summary): routed like any alert, each channel tried with
    the configured retries. Returns {channel: "sent" | error}."""
    from tradekit.config.secrets import Secrets

    cfg = config.alerts
    if not cfg.enabled:
        return {}
    chans = build_channels(cfg, secrets if secrets is not None else Secrets.load(config.secrets_file))
    priority = priority_of(cfg, kind, priority)
    alert = {"id": _rand.token_hex(4), "kind": kind, "priority": priority, "title": title, "text": text, "key": ""}
    out: dict[str, str] = {}
    for name in route(cfg, kind, priority):
        ch = chans[name]
        if isinstance(ch, DashboardChannel):
            continue
        for attempt in range(1, cfg.retries.max_attempts + 1):
            try:
                ch.send(alert)
                out[name] = "sent"
                break
            except Exception as e:  # noqa: BLE001
                out[name] = str(e)
                if attempt < cfg.retries.max_attempts:
                    time.sleep(min(cfg.retries.backoff_seconds * 2 ** (attempt - 1), cfg.retries.backoff_max_seconds))
        if echo is not None:
            echo(f"{name}: {out[name]}")
    return out


def attach_alerts(session) -> AlertManager | None:
    """The session's alert manager (None when ``alerts.enabled`` is false); started at once."""
    cfg = session.config.alerts
    if not cfg.enabled:
        return None
    return AlertManager.from_config(session.config, session.journal, clock=session.clock).start()
