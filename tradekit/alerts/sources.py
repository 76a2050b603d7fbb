"""Where alerts come from: journal events the session appends (breakers, trading state, kill switch,
rejects, broker errors, reconciliation, orders of unknown outcome, ...), turned into alerts.

:meth:`Sources.observe` maps one event to ``[(kind, priority, title, text, key)]``; it runs on
the appending thread (it must stay cheap: no I/O).
"""

from __future__ import annotations

from collections import deque

from tradekit.store.events import EventType as E

from tradekit.alerts.config import KINDS, AlertsConfig  # noqa: F401 - KINDS: every kind raised here


class Sources:
    #: The event types :meth:`observe` can raise an alert for (it returns [] for every other type; the
    #: alert manager is called by the journal only for these and the alerts' own events).
    OBSERVED = frozenset({E.LIMIT_BREACH, E.TRADING_STATE, E.KILL_SWITCH, E.ALERT, E.ORDER_UPDATE, E.BROKER_ERROR,
                          E.RECONCILIATION, E.NOTE, E.ORDER_UNKNOWN})

    def __init__(self, cfg: AlertsConfig):
        self.cfg = cfg
        self._rejects: deque = deque()
        self._errors: deque = deque()

    @staticmethod
    def _burst(q: deque, t: float, rule) -> bool:
        q.append(t)
        while q and q[0] < t - rule.seconds:
            q.popleft()
        if len(q) >= rule.count:
            q.clear()  # the next alert needs a new burst
            return True
        return False

    def observe(self, ev) -> list[tuple]:
        t, p = ev.type, ev.payload
        if t == E.LIMIT_BREACH:
            state = p.get("state", "")
            pri = "critical" if state == "HALTED" else "warning"
            return [("breaker", pri, f"breaker {p.get('trigger')}: {state}", p.get("reason", ""),
                     f"{p.get('trigger')}:{p.get('symbol', '')}")]
        if t == E.TRADING_STATE:
            st, prev = p.get("state"), p.get("previous")
            why = f"{p.get('cause', '')} by {p.get('by', '?')}: {p.get('reason', '')}".strip()
            if st == "HALTED":
                return [("halted", "critical", "trading HALTED", why, "HALTED")]
            if st == "REDUCING":
                return [("reducing", "warning", "trading REDUCING (no new risk)", why, "REDUCING")]
            if st == "ACTIVE" and prev in ("HALTED", "REDUCING"):
                return [("resumed", "info", f"trading ACTIVE again (was {prev})", why, "ACTIVE")]
            return []
        if t == E.KILL_SWITCH:
            if p.get("action") == "trip":
                return [("kill_switch", "critical", "kill switch tripped",
                         f"by {p.get('by', '?')}: {p.get('reason', '')}; flatten={p.get('flatten', True)}", "trip")]
            if p.get("action") == "unlock":
                return [("kill_switch_unlocked", "info", "kill switch unlocked",
                         f"by {p.get('by', '?')}: {p.get('reason', '')}", "unlock")]
            return []
        if t == E.ALERT:  # the kill switch's own problems (a cancel or flatten that failed)
            return [("kill_switch_problem", "critical", "kill switch: a cancel/flatten failed", str(p.get("message", "")),
                     str(p.get("message", ""))[:80])]
        if t == E.ORDER_UPDATE and str(p.get("status", "")).upper() == "REJECTED":
            if self._burst(self._rejects, ev.time.timestamp(), self.cfg.sources.reject_burst):
                r = self.cfg.sources.reject_burst
                return [("reject_burst", "warning", f"{r.count} rejects within {r.seconds:g} s",
                         f"last: {p.get('client_order_id', '')} {p.get('message') or ''}".strip(), "")]
            return []
        if t == E.BROKER_ERROR:
            if self._burst(self._errors, ev.time.timestamp(), self.cfg.sources.error_burst):
                r = self.cfg.sources.error_burst
                return [("error_burst", "warning", f"{r.count} broker errors within {r.seconds:g} s",
                         f"last: {p.get('action', '')} {p.get('message') or ''}".strip(), "")]
            return []
        if t == E.RECONCILIATION:
            ok = p.get("ok")
            if ok is None:
                ok = not (p.get("mismatches") or p.get("problems"))
            if not ok:
                return [("reconciliation_mismatch", "critical", "reconciliation: the broker and the book differ",
                         str(p.get("summary") or f"{len(p.get('mismatches') or [])} difference(s)"), "")]
            return []
        if t == E.NOTE and p.get("kind") == "market_data":
            if p.get("event") == "instrument_stale":
                return [("stale_feed", "warning", f"no fresh price for {p.get('key')} in {p.get('gap_seconds')} s",
                         "the market-data hub marked it stale", str(p.get("key")))]
            if p.get("event") == "failover":
                return [("feed_failover", "warning", f"market data: {p.get('from')} silent, now {p.get('to')}",
                         str(p.get("why") or p.get("reason") or ""), "failover")]
            return []
        if t == E.ORDER_UNKNOWN:
            cid = p.get("client_order_id", "")
            return [("order_unknown", "critical", f"order {cid}: outcome UNKNOWN", str(p.get("reason", "")), cid)]
        return []

    def check(self, session, now) -> list[tuple]:
        """Time-driven sources, from the session's service loop: a proposal waiting too long, the
        Kite session about to end or ended, the day's P&L past a threshold."""
        c, out = self.cfg.sources, []
        book = session.book
        for cid in list(getattr(book, "open", {})):
            o = book.orders.get(cid)
            if o is None or getattr(o.status, "value", o.status) != "PENDING_APPROVAL" or o.created_at is None:
                continue
            waited = (now - o.created_at).total_seconds()
            if waited >= c.approval_wait_seconds:
                r = o.request
                out.append(("approval_waiting", "warning", f"order {cid} has waited {waited / 60:.1f} min for approval",
                            f"{r.side} {r.quantity} {r.tradingsymbol} ({o.strategy})", cid))
        broker = session.broker
        if getattr(session.mode, "value", "paper") == "live" and hasattr(broker, "logged_in"):
            if not broker.logged_in:
                out.append(("token_expired", "critical", "the Kite session has ended: log in again",
                            str(broker.session_status()), "expired"))
            else:
                exp = getattr(getattr(broker, "session", None), "expires_at", None)
                if exp is not None and c.token_expiry_warn_minutes:
                    left = (exp - now).total_seconds() / 60
                    if left <= c.token_expiry_warn_minutes:
                        out.append(("token_expiring", "warning", f"the Kite session ends in {max(left, 0):.0f} min",
                                    f"at {exp:%H:%M} IST: run tradekit kite login", exp.isoformat()))
        if c.pnl_loss_rupees is not None or c.pnl_profit_rupees is not None:
            pnl = book.net_pnl
            if c.pnl_loss_rupees is not None and pnl <= -c.pnl_loss_rupees:
                out.append(("pnl_loss", "critical", f"the day's net P&L is Rs {pnl:,.2f}",
                            f"at or below -Rs {c.pnl_loss_rupees:,}", str(c.pnl_loss_rupees)))
            if c.pnl_profit_rupees is not None and pnl >= c.pnl_profit_rupees:
                out.append(("pnl_profit", "info", f"the day's net P&L is Rs {pnl:,.2f}",
                            f"at or above Rs {c.pnl_profit_rupees:,}", str(c.pnl_profit_rupees)))
        return out
