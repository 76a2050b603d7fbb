"""A read-only desk view of a journal another process's session owns.

``Session.from_config()`` in a notebook, on the config of a session that is running, returns
this: the book and the account rebuilt from the journal (:meth:`refresh` brings in what the
session wrote since), and the requests a person makes at a desk — approve, reject, cancel,
cancel all, flatten, the kill switch — appended for the owning session to act on at its next
poll. It writes nothing of its own (no day roll, no session start) and has no broker; asking
it for anything only the owner can do (``submit``, ``oms``, ``broker``, ...) is an error that
names the owner.
"""

from __future__ import annotations

import getpass
import logging

from tradekit.clock import default_clock
from tradekit.config import TradekitConfig
from tradekit.errors import ValidationError
from tradekit.store import EventType as E, Journal, make_engine
from tradekit.store.lease import JournalLeased, LeaseInfo, current_holder

log = logging.getLogger(__name__)


class SessionView:
    """Attributes: ``config, mode, clock, journal, book, account, instruments, holder``; ``read_only`` is True."""

    read_only = True

    def __init__(self, config: TradekitConfig, *, holder: LeaseInfo | None = None):
        from tradekit.execution.account import Account
        from tradekit.execution.margin import MarginModel
        from tradekit.model.enums import TradingMode
        from tradekit.session import _default_instruments

        self.config = config
        self.mode = TradingMode(config.mode)
        self.clock = default_clock()
        self.journal = Journal(make_engine(config.store_url()), clock=self.clock)  # no lease: requests only
        self.account_id = self.journal.account  # store.account: the requests go to this account's session only
        self.holder = holder or current_holder(self.journal.engine)
        from tradekit.store.snapshot import build

        self.book = build(self.journal).book  # the latest journal snapshot and the events after it (archived days too)
        self.instruments = _default_instruments(config, self.clock.now().date())
        self.account = Account(self.book, MarginModel(config.paper.margin), self.instruments)

    def __repr__(self) -> str:
        who = self.holder.describe() if self.holder is not None else "no running session"
        from tradekit.store.accounts import describe

        return f"SessionView({describe(self.journal.engine)}, read-only; owner: {who})"

    # -- reading -------------------------------------------------------------------------------
    def refresh(self) -> list:
        """Apply what was appended since the last refresh; return those events."""
        new = list(self.journal.events(after=self.book.last_seq))
        for ev in new:
            try:
                self.book.apply(ev)
            except Exception as e:  # a journal another process wrote: show what can be shown
                self.book.anomalies.append((ev.seq, ev.type, str(e)))
                self.book.last_seq = ev.seq
        return new

    poll = refresh

    # -- requests for the owning session -------------------------------------------------------
    def _request(self, type_: str, payload: dict):
        return self.journal.append(type_, {**payload, "origin": "desk_view"})

    def _who(self, by: str | None) -> str:
        if by:
            return by
        try:
            return getpass.getuser()
        except Exception:  # noqa: BLE001 - no login name in some containers
            return "notebook"

    def approve(self, client_order_id: str, *, by: str | None = None, reason: str = "", changes: dict | None = None,
                confirm_drift: bool = False):
        """Ask the owner to approve a pending order (it re-checks TTL, drift and risk first)."""
        return self._request(E.APPROVAL_DECISION, {"client_order_id": client_order_id, "decision": "approve",
                                                   "by": self._who(by), "reason": reason, "changes": changes or {},
                                                   "confirm_drift": bool(confirm_drift), "seen_seq": self.book.last_seq})

    def reject(self, client_order_id: str, reason: str, *, by: str | None = None):
        if not (reason or "").strip():
            raise ValidationError("a reason is required to reject a proposal", field="reason")
        return self._request(E.APPROVAL_DECISION, {"client_order_id": client_order_id, "decision": "reject",
                                                   "by": self._who(by), "reason": reason.strip(), "changes": {},
                                                   "seen_seq": self.book.last_seq})

    def cancel(self, client_order_id: str, *, reason: str = "", by: str | None = None):
        return self._request(E.CONTROL, {"action": "cancel", "client_order_id": client_order_id, "reason": reason,
                                         "by": self._who(by)})

    def cancel_all(self, *, reason: str = "", by: str | None = None):
        return self._request(E.CONTROL, {"action": "cancel_all", "reason": reason, "by": self._who(by)})

    def flatten(self, strategy: str | None = None, *, reason: str = "flatten", by: str | None = None):
        return self._request(E.CONTROL, {"action": "flatten", "strategy": strategy, "reason": reason,
                                         "by": self._who(by)})

    def ack_alert(self, alert_id: str, by: str | None = None):
        """Acknowledge an alert (tradekit.alerts), as a request: the owner journals alert.acked at its next poll."""
        if not (alert_id or "").strip():
            raise ValidationError("give the alert's id", field="alert_id")
        return self._request(E.ALERT_ACK_REQUESTED, {"id": alert_id.strip().lower(), "by": self._who(by), "via": "dashboard"})

    def kill(self, reason: str, by: str | None = None, *, flatten: bool = True):
        """The kill switch, as a request: the owner halts, cancels and flattens at its next poll."""
        if not (reason or "").strip():
            raise ValidationError("say why the kill switch is tripped", field="reason")
        return self._request(E.KILL_SWITCH, {"action": "trip", "reason": reason.strip(), "by": self._who(by),
                                             "flatten": bool(flatten)})

    def protect(self, exchange: str, tradingsymbol: str, *, stop, target, quantity: int | None = None,
                product: str | None = None, by: str | None = None):
        """GTT protection of a holding, as a request: the owner places the GTT OCO at its next poll."""
        return self._request(E.GTT_REQUEST, {"action": "protect", "exchange": str(exchange).upper(),
                                             "tradingsymbol": tradingsymbol, "stop": str(stop), "target": str(target),
                                             "quantity": quantity, "product": product, "by": self._who(by)})

    def conditions(self, states=None) -> list:
        """Conditional orders with their state, read from the journal (tradekit.execution.conditions)."""
        from tradekit.execution.conditions import ConditionLedger

        return ConditionLedger.from_journal(self.journal).list(states)

    def cancel_condition(self, condition_id: str, reason: str = "", by: str | None = None):
        """Ask the owner to cancel an armed condition (it does at its next journal poll)."""
        return self._request(E.CONTROL, {"action": "cancel_condition", "condition_id": condition_id,
                                         "reason": reason, "by": self._who(by)})

    def close(self) -> None:
        self.journal.close()

    # -- everything else belongs to the owner ---------------------------------------------------
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        holder = self.__dict__.get("holder")
        who = holder.describe() if holder is not None else "another session"
        raise JournalLeased(f"`{name}` needs the session that owns the journal ({who}); this is a read-only desk "
                            "view: it reads the journal and sends requests (approve, reject, cancel, flatten, kill)",
                            holder)
