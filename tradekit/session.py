"""The Session: everything wired from config. The one object a notebook or dashboard holds.

    from tradekit.session import Session
    s = Session.from_config()                 # paper, config/default.yaml
    s.submit_signal(signal)                   # gate → approval → broker
    s.book.positions, s.account.available()   # state, rebuilt from the journal on start

Paper and live differ only in ``broker``. A replay drives the same session with a simulated
clock (:mod:`tradekit.execution.replay`).
"""

from __future__ import annotations

import logging
import os
from datetime import date, datetime
from pathlib import Path

from tradekit.alerts.manager import attach_alerts
from tradekit.clock import Clock, SimClock, default_clock
from tradekit.config import TradekitConfig, load_config
from tradekit.errors import ConfigError, ValidationError
from tradekit.execution.account import Account
from tradekit.execution.basket import BasketManager
from tradekit.execution.brackets import BracketManager
from tradekit.execution.conditions import ConditionBook
from tradekit.execution.costs import FillCosts
from tradekit.execution.gtt import attach_gtt
from tradekit.execution.margin import MarginModel
from tradekit.execution.oms import OrderManager
from tradekit.execution.slicing import ParentOrders
from tradekit.logfmt import apply_logging
from tradekit.market.calendar import calendar_for
from tradekit.market.corporate_actions import CorporateActionStore, apply_due
from tradekit.market.master import load_master
from tradekit.marketdata import MarketDataHub
from tradekit.model.enums import TradingMode
from tradekit.model.order import Order, OrderRequest
from tradekit.options.expiry import ExpiryManager
from tradekit.risk import gcpolicy
from tradekit.risk.manager import RiskManager
from tradekit.store import EventType as E, Journal, make_engine, sqlite_url
from tradekit.store import snapshot as _snap
from tradekit.store.listeners import listens
from tradekit.store.lease import JournalLease, JournalLeased, current_holder, default_owner
from tradekit.store.journal import JournalUnavailable
from tradekit.session_live import LiveLifecycle  # start, after_login, anchors (split by responsibility)
from tradekit.session_orders import OrderRouting, _lots  # noqa: F401 - signals, sizing, baskets, cut-offs

log = logging.getLogger(__name__)


class Session(OrderRouting, LiveLifecycle):
    """Build with :meth:`from_config`. Attributes: ``config, clock, journal, book, instruments,
    calendar, broker, gate, account, oms``."""

    def __init__(self, config: TradekitConfig, *, clock: Clock | None = None, journal: Journal | None = None,
                 broker=None, instruments=None, calendar=None, gate=None, mode: str | None = None):
        self.config = config
        self.mode = TradingMode(mode or config.mode)
        self._cutoffs: dict = {}
        if self.mode is TradingMode.LIVE and not (config.mode == "live" and config.live.allowed):
            raise ConfigError("live mode needs `mode: live` and `live: {allowed: true}` in the config",
                              file=config.source, field="mode")
        apply_logging(getattr(config, "logging", None), config.data_dir)  # the `logging:` section: level, file
        self.clock = clock or default_clock()  # real time; the sandbox's replayed clock in a rehearsal
        self.anchor_listeners: list = []  # fn(anchor) for every anchor published (an alert channel)
        # the session owns its journal: one writer per journal (a second session is refused, naming this one)
        self.journal = journal or self._owned_journal(make_engine(config.store_url(), synchronous=config.store.synchronous),
                                                      durability=config.store.durability, batch_size=config.store.batch_size,
                                                      lock_warn_seconds=config.store.lock_warn_seconds,
                                                      lock_timeout_seconds=config.store.lock_timeout_seconds)
        try:
            self._build(config, broker, instruments, calendar, gate)
        except BaseException:
            if journal is None:
                self.journal.lease.release()  # give the lease back
            raise

    def _owned_journal(self, engine, **kw) -> Journal:
        lease = JournalLease.acquire(engine, owner=f"{default_owner()} ({self.mode.value} session)")
        try:
            return Journal(engine, clock=self.clock, lease=lease, **kw)
        except BaseException:
            lease.release()
            raise

    def _build(self, config: TradekitConfig, broker, instruments, calendar, gate) -> None:
        # the latest journal snapshot that matches the chain plus the events after it (else a full replay)
        self.start_state = _snap.attach(self.journal, every=config.store.snapshot_every_events)
        self._snapshots = _snap.Periodic(self.journal, config.store.snapshot_every_events, self.start_state.snapshot_seq)
        self.book = self.start_state.book
        self.journal_down: dict | None = None  # {"since", "reason", "stale_book"} while the journal cannot be written
        self.journal_lock_wait: float | None = None  # seconds, while a lock wait past store.lock_warn_seconds goes on
        self.journal.on_failure(self._on_journal_failure)
        self.journal.on_lock_wait(self._on_lock_wait)
        self.instruments = (instruments if instruments is not None
                            else _default_instruments(config, self.clock.now().date()))
        info = getattr(self.instruments, "info", None)
        if info is not None:  # which master: the day's Kite dump, an older cached one, or the bundled sample
            (log.info if info.source == "dump" else log.warning)("%s", info.message)
        self.calendar = calendar if calendar is not None else _default_calendar(config)
        self.charges = _default_charges(config)
        self.broker = broker if broker is not None else self._make_broker()
        self._check_kite_user()  # a live session on another Zerodha user than the account's is refused
        if hasattr(self.broker, "on_fee"):  # a broker's fee outside a fill (RMS square-off) reaches the journal
            self.broker.on_fee = lambda payload: self._emit(E.POSITION_ADJUSTED, payload)
        self.risk = None
        if gate is None:  # the configured gate with its breakers, kill switch and dynamic limits
            self.risk = RiskManager.from_config(config, emit=self._emit, clock=self.clock, session=self)
            gate = self.risk.gate
        self.gate = gate
        self.account = Account(self.book, MarginModel(config.paper.margin), self.instruments)
        self.oms = OrderManager(
            journal=self.journal, book=self.book, broker=self.broker, clock=self.clock, gate=self.gate,
            instruments=self.instruments, account=self.account, charges=self.charges, mode=self.mode,
            tag_prefix=config.orders.tag_prefix, market_protection=config.orders.market_protection,
            algo_id=config.orders.algo_id, approval_for=config.approval_mode_for,
            approval_ttl_seconds=config.approval.ttl_seconds, allow_auto_in_live=config.approval.allow_auto_in_live,
            price_drift_pct=config.approval.price_drift_pct, approver=config.approval.approver,
            unknown_max_lookups=config.execution.unknown_max_lookups,
            unknown_grace_seconds=config.execution.unknown_grace_seconds,
            placement_timeout_seconds=self._placement_timeout(),
            broker_processing_seconds=config.execution.broker_processing_seconds,
            mis_entry_cutoff=self.mis_entry_cutoff,
        )
        # every price (ticker, quote polls, paper bars) reaches the OMS, risk and journal through the hub
        self.market = MarketDataHub(config.market_data, clock=self.clock, emit=self._emit, risk=self.risk, book=self.book,
                                    calendar=self.calendar, lock=getattr(self.oms, "_lock", None),
                                    prices=self.oms.prices)
        self.oms.no_price_reason = self.market.no_price_reason
        # brackets and trailing stops: rebuilt from the journal, moved by the hub's marks, synced by service()
        self.brackets = BracketManager(self.oms, config=config.brackets)
        self.brackets.restore(_snap.history(self.journal, self.brackets.RESTORE_TYPES), sync=False)
        self.brackets.attach(self.market)
        # issue 21: expiry square-off/rollover rules and physical-settlement notes, on the hub's prices
        self.expiry = ExpiryManager(self)
        if _has_derivatives(self.instruments):
            self.expiry.attach(self.market)
        self.algos = ParentOrders.install(self)  # issue 15: freeze slices and TWAP/VWAP/POV parents, rebuilt from the journal
        self.baskets = BasketManager.install(self)  # issue 21: multi-leg baskets, rebuilt from the journal
        if self.risk is not None:
            self.risk.attach(executor=self.oms)
            self.risk.restore(_snap.history(self.journal, (E.TRADING_STATE, E.KILL_SWITCH)))
            self.risk.start_day(self.book, self.clock.now().date())
            self.oms.listeners.append(self._risk_event)
        self._foreign_after = self.book.last_seq  # everything before start is already in the book
        self._applied_foreign: set[int] = set()
        self._rebuilt_upto = 0
        self._handlers: dict[str, list] = {E.APPROVAL_DECISION: [self._on_decision], E.CONTROL: [self._on_control],
                                           E.KILL_SWITCH: [self._on_kill_request]}
        if not any(True for _ in _snap.history(self.journal, (E.SESSION_STARTED,))):
            self._emit(E.SESSION_STARTED, {"mode": self.mode.value, "capital": str(config.account.capital),
                                           "account": config.account.name})
        elif self.mode is TradingMode.PAPER and broker is None:
            self._resume_paper_account()
        self.apply_corporate_actions()  # today's ex-dates (a day roll above applied its own already)
        self.gtt = attach_gtt(self)  # GTT protection kept by the broker (None: the broker keeps no GTTs)
        self.brackets.protector = self.gtt  # CNC/NRML brackets: their stop and target also as a GTT OCO
        self.conditions_book = ConditionBook.attach(self)  # conditional orders: rebuilt, re-armed, on the hub
        self.alerts = attach_alerts(self)  # alerts to a person: raised into the journal, sent on their own threads
        # this process's appends from here on (Journal.last_appended): a quiet session journals a heartbeat (uptime)
        self._appended_before = self.journal.last_appended
        gcpolicy.freeze_after_startup(config.execution.gc_freeze_after_start)  # issue 20: full GC passes skip the start-up heap

    def _placement_timeout(self) -> float:
        """The longest a placement request can be on its way: ``execution.placement_timeout_seconds``, or
        derived from the broker's client (rate-limit wait + request timeout × (1 + retries after a 429))."""
        pt = self.config.execution.placement_timeout_seconds
        if pt is not None:
            return float(pt)
        bc = getattr(self.broker, "config", None)
        timeout = getattr(bc, "timeout_seconds", None)
        if timeout is None:
            return 0.0  # the paper broker answers in-process
        rl = getattr(bc, "rate_limits", None)
        retries = int(getattr(rl, "retries_on_429", 0) or 0)
        return float(getattr(rl, "max_wait_seconds", 0.0) or 0.0) + float(timeout) * (1 + retries)

    # -- journal failures ------------------------------------------------------------------------------
    JOURNAL_BLOCK = "journal unavailable"

    def _on_journal_failure(self, err: JournalUnavailable) -> None:
        """The journal could not be written: stop placing orders; undo in memory what was not committed."""
        first = self.journal_down is None
        if first:
            self.journal_down = {"since": self.clock.now(), "reason": str(err), "stale_book": False}
            log.error("HALTED (%s): %s; new orders are refused until the journal can be written again", self.JOURNAL_BLOCK, err)
        else:
            self.journal_down["reason"] = str(err)
        if err.dropped:
            self.journal_down["stale_book"] = True
            self._resync_book()
        self.oms.block_new_orders(f"{self.JOURNAL_BLOCK}: {err}")

    def _on_lock_wait(self, seconds: float | None) -> None:
        self.journal_lock_wait = seconds
        if seconds is not None:
            log.warning("the journal is locked by another process (%.1f s): orders and signals wait", seconds)

    def _resync_book(self) -> None:
        """Make the book what the journal committed (after a transaction was dropped), in place."""
        try:
            from tradekit.store.snapshot import build

            fresh = build(self.journal).book  # the latest snapshot and the events after it
        except Exception as e:  # cannot even read: try again when the journal is back
            log.error("cannot re-read the journal to undo uncommitted events: %s", e)
            return
        self.book.__dict__.update(fresh.__dict__)
        self._rebuilt_upto = self.book.last_seq  # foreign events up to here are in the book; poll still acts on them
        if self.journal_down is not None:
            self.journal_down["stale_book"] = False

    def check_journal(self) -> bool:
        """While the journal is down, try a write; when it goes through, lift the block. True when writable."""
        down = self.journal_down
        if down is None:
            return True
        try:
            self._emit(E.NOTE, {"kind": "journal_available", "unavailable_since": down["since"].isoformat(),
                                "reason": down["reason"]})
            self.journal.flush()  # batch durability: the probe (and what waited) must reach the disk
        except JournalUnavailable:
            return False
        if down.get("stale_book"):
            self._resync_book()
        self.journal_down = None
        if str(self.oms.blocked_reason or "").startswith(self.JOURNAL_BLOCK):
            self.oms.block_new_orders(None)
        log.warning("the journal can be written again (down since %s): orders resume", down["since"])
        rec = getattr(self, "reconciler", None)
        if rec is not None:
            try:
                rec.run_once()
            except Exception:
                log.exception("reconciliation after the journal came back failed")
        return True

    @property
    def trading_state(self) -> str:
        """ACTIVE / REDUCING / HALTED, including the in-memory halt while the journal cannot be written."""
        return "HALTED" if self.journal_down is not None else self.book.trading_state

    def status(self) -> dict:
        """What the session is doing now: trading state, why new orders are blocked, pending resolutions, journal."""
        down = self.journal_down
        pending = self.oms.pending_resolutions()
        return {
            "trading_state": self.trading_state,
            "blocked": self.oms.blocked_reason,
            "journal": ("unavailable since " + down["since"].isoformat() + ": " + down["reason"]) if down else
                       (f"locked by another process for {self.journal_lock_wait:.1f} s" if self.journal_lock_wait else "ok"),
            "pending_resolutions": [p.describe() for p in pending.values()],
        }

    def service(self, *, inbox=None, pipeline=None) -> None:
        """One cycle of a running session: requests from other processes, inbox files, proposal TTLs,
        orders of unknown outcome, parked signals. A journal write failure halts new orders (and is
        retried here every cycle) instead of ending the run."""
        if not self.check_journal():
            return  # signal files wait in the inbox (HTTP clients get 503) until the journal can be written
        self._snapshots.maybe()  # a journal snapshot on its own thread every store.snapshot_every_events events
        alerts = getattr(self, "alerts", None)
        for step in (self.poll, None if pipeline is None else pipeline.retry_parked,
                     None if inbox is None else inbox.poll, self.oms.expire_stale, self._resolve, self.brackets.run,
                     self.algos.step, self.baskets.step,
                     None if alerts is None else (lambda: alerts.check(self))):  # waiting approvals, token, P&L
            if step is not None and not self._guard(step):
                return

    def _resolve(self) -> None:
        """Resolve orders of unknown outcome; when that ends the only reason reconciliation blocked
        new orders, reconcile at once instead of at the next interval (the block lasts no longer)."""
        self.oms.resolve_unknown()
        rec = getattr(self, "reconciler", None)
        last = getattr(rec, "last", None)
        if last is None or last.ok:
            return
        waiting = {d.key for d in last.differences if d.kind == "unknown_order"}
        if waiting and len(waiting) == len(last.differences) and not waiting & set(self.oms.unknown_orders):
            rec.run_once()

    def _guard(self, fn) -> bool:
        try:
            fn()
            return True
        except JournalUnavailable:
            return False  # the session is halted by _on_journal_failure; the next cycle retries

    def _resume_paper_account(self) -> None:
        """A paper journal opened again (a new process, maybe a new day): roll the days that passed
        (T+1 settlement), then give the paper broker the account the journal recorded."""
        base = self.start_state  # the last such day up to the start state, then the journal after it
        last = base.last_day
        for ev in self.journal.events(after=base.seq, types=(E.FILL, E.DAY_ROLLED, E.SESSION_STARTED)):
            last = ev.day
        today = self.clock.now().date()
        if last is not None and last < today:
            sessions = 1
            if self.calendar is not None:
                try:
                    sessions = max(1, len(self.calendar.sessions(last, today)) - 1)
                except Exception:  # outside the calendar's tables: one roll
                    sessions = 1
            for _ in range(min(sessions, 2)):  # two rolls settle everything (T+1)
                self._emit(E.DAY_ROLLED, {"day": today.isoformat(), "resumed_after": last.isoformat()})
        if hasattr(self.broker, "restore"):
            self.broker.restore(self.book)

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: TradekitConfig | str | Path | None = None, *, view: bool | None = None,
                    **kw) -> "Session | SessionView":
        """The session of a config. When another process's session owns the journal, a notebook
        gets a read-only :class:`~tradekit.session_view.SessionView` of it (the book, the account,
        and requests — approve, reject, cancel, flatten, kill — that the owner acts on); nothing
        of its own is written: no day roll, no session start, no broker. ``view=True`` always
        opens the view; ``view=False`` (and a caller that brings its own ``clock``, ``broker`` or
        ``journal``, i.e. one that runs a session) gets :class:`~tradekit.store.lease.JournalLeased`
        naming the owner instead."""
        from tradekit.session_view import SessionView
        from tradekit.store.lease import JournalLeased

        cfg = config if isinstance(config, TradekitConfig) else load_config(config)
        if view:
            return SessionView(cfg)
        try:
            return cls(cfg, **kw)
        except JournalLeased as e:
            if view is False or any(k in kw for k in ("clock", "broker", "journal")):
                raise
            log.warning("%s: opening a read-only desk view", e)
            return SessionView(cfg, holder=e.holder)

    @classmethod
    def for_replay(cls, config: TradekitConfig, journal_path: str | Path, start: datetime, *,
                   durability: str = "batch", **kw) -> "Session":
        """A paper session on a simulated clock with its own fresh journal (batched writes;
        ``durability="sync"`` commits each event as a live session does, for comparison)."""
        clock = SimClock(start)
        path = Path(journal_path)
        if path.exists():  # never wipe a journal a running session owns
            probe = make_engine(sqlite_url(path))
            try:
                holder = current_holder(probe)
            finally:
                probe.dispose()
            if holder is not None:
                raise JournalLeased(f"{path} is in use by {holder.describe()}; a replay needs its own journal", holder)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        engine = make_engine(sqlite_url(path), synchronous="OFF")
        lease = JournalLease.acquire(engine, owner=f"{default_owner()} (replay)")
        try:
            journal = Journal(engine, clock=clock, durability=durability, batch_size=config.store.batch_size, lease=lease)
            return cls(config, clock=clock, journal=journal, mode="paper", **kw)
        except BaseException:
            lease.release()
            raise

    def _check_kite_user(self) -> None:
        """Live: the broker trades only as the account's ``account.kite_user_id`` (when one is set);
        a login as another user refuses the start here, and every broker call later."""
        want = self.config.account.kite_user_id
        if self.mode is not TradingMode.LIVE or not want:
            return
        expect = getattr(self.broker, "expect_user", None)
        if expect is None:
            raise ConfigError(f"the live broker {type(self.broker).__name__} cannot tell which user it trades as",
                              file=self.config.source, field="account.kite_user_id")
        from tradekit.errors import AuthExpired, BrokerUnavailable

        try:
            expect(want)
        except AuthExpired as e:
            if getattr(e, "wrong_user", False):
                raise ConfigError(str(e), file=self.config.source, field="account.kite_user_id") from None
            log.warning("the Kite user is checked at the first login: %s", e)  # not logged in yet
        except BrokerUnavailable as e:  # checked before the first call that reaches Kite
            log.warning("could not read the Kite user at start (%s): it is checked before the first call", e)

    def _make_broker(self):
        if self.mode is TradingMode.PAPER:
            from tradekit.brokers.paper import PaperBroker

            # the broker keeps its own ledger, charged per contract note like Zerodha's
            return PaperBroker(self.clock, self.instruments, capital=self.config.account.capital, config=self.config.paper,
                               charges=_default_charges(self.config), mis_cutoff=self.mis_cutoff)
        from tradekit.brokers.kite import make_live_broker  # imported only for live

        return make_live_broker(self)

    def _emit(self, type_: str, payload: dict):
        ev = self.journal.append(type_, payload)
        self.book.apply(ev)
        self._risk_event(ev)
        if type_ == E.DAY_ROLLED and payload.get("day"):  # a new session day: its corporate actions first
            self.apply_corporate_actions(date.fromisoformat(payload["day"]))
        return ev

    def apply_corporate_actions(self, day: date | None = None) -> list:
        """Apply the imported corporate actions (``tradekit corporate-actions import``) whose ex-date
        has come, once each; called at the start of every session day. Returns what was applied."""
        path = self.__dict__.get("_ca_path")
        if path is None:  # the file's name, once: this runs at every day roll of a replay
            path = self._ca_path = os.fspath(CorporateActionStore(self.config.data_dir).path)
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return []
        if getattr(self, "_ca_cache", (None,))[0] != mtime:
            self._ca_cache = (mtime, CorporateActionStore(self.config.data_dir).actions())
        return apply_due(self, day or self.clock.now().date(), self._ca_cache[1])

    # an OMS listener for the risk manager's types only: the OMS's Listeners route no other event to it
    # (five of an order's seven events); Session._emit calls it with every event, hence the test below
    @listens(*RiskManager.EVENT_TYPES)
    def _risk_event(self, ev) -> None:
        risk = self.risk
        # RiskManager.on_event does nothing for the other types (most of an order's events): not called
        if risk is not None and ev.type in risk.EVENT_TYPES:
            risk.on_event(ev, self.book)

    # -- orders ------------------------------------------------------------------------------------
    def submit(self, request: OrderRequest, *, strategy: str = "manual", **kw) -> Order:
        return self.oms.submit(request, strategy=strategy, **kw)

    def corporate_action(self, kind: str, exchange: str, tradingsymbol: str, **params) -> None:
        """Apply a split (``ratio``), bonus (``new``, ``held``) or cash dividend (``per_share``) on its ex-date.

        Quantities and average prices of every position in the symbol change as the exchange
        adjusts them (india.md §8); the paper broker's own books change the same way. Replays
        of *adjusted* data (the bundled daily bars) must not apply the event again.
        """
        if kind not in ("split", "bonus", "dividend"):
            raise ValidationError(f"{kind!r} is not split, bonus or dividend", field="kind")
        payload = {"kind": kind, "exchange": str(exchange).upper(), "tradingsymbol": tradingsymbol, **{
            k: str(v) for k, v in params.items()}}
        self._emit(E.POSITION_ADJUSTED, payload)
        if hasattr(self.broker, "apply_corporate_action"):
            self.broker.apply_corporate_action(kind, str(exchange).upper(), tradingsymbol, **params)

    def kill(self, reason: str, by: str = "notebook", *, flatten: bool = True):
        """The manual kill switch: HALTED, cancel every open order, flatten every position."""
        if self.risk is not None:
            return self.risk.kill(reason, by, flatten=flatten)
        self._emit(E.KILL_SWITCH, {"action": "trip", "reason": reason, "by": by, "flatten": flatten})
        self._emit(E.TRADING_STATE, {"state": "HALTED", "previous": self.book.trading_state, "cause": "kill_switch",
                                     "by": by, "reason": reason})
        return self.oms.flatten(reason=reason, source="kill_switch") if flatten else \
            self.oms.cancel_all(reason=reason, source="kill_switch")

    def unlock(self, reason: str, by: str = "notebook"):
        """A deliberate unlock after the cool-off (raises TradingHalted inside it)."""
        if self.risk is None:
            raise ValidationError("no risk manager: nothing to unlock", field="risk")
        return self.risk.unlock(reason, by)

    # -- requests from other processes (dashboards, the CLI) -------------------------------------------
    def on_foreign(self, type_: str, handler) -> None:
        """Call ``handler(event)`` for events of ``type_`` appended by another process."""
        self._handlers.setdefault(type_, []).append(handler)

    def poll(self) -> list:
        """Apply events other processes appended to the journal and act on requests among them.

        A dashboard kernel or ``tradekit kill`` cannot reach this process's broker, so they write
        requests (``approval.decision``, ``control``, ``risk.kill_switch``) to the journal; the
        session that owns the broker picks them up here (call it every ~50-100 ms when live).
        Returns the foreign events applied.
        """
        own = self.journal.own_seqs
        out = []
        # under the OMS's lock: an event the broker's stream thread is appending is committed before its seq
        # joins own_seqs, so without the lock it could be read here as foreign and booked twice
        with self.oms._lock:
            for ev in list(self.journal.events(after=self._foreign_after)):
                self._foreign_after = ev.seq
                if ev.seq in own:
                    own.discard(ev.seq)
                    continue
                if ev.seq <= self.book.last_seq and ev.seq in self._applied_foreign:
                    continue
                if ev.seq > self._rebuilt_upto:
                    self.book.apply(ev)
                self._applied_foreign.add(ev.seq)
                out.append(ev)
        # act only once the whole batch is in the book (a kill request arrives with its HALTED state)
        for ev in out:
            self._risk_event(ev)
            if getattr(self, "alerts", None) is not None:  # a kill switch from the CLI, an acknowledgement request
                self.alerts.on_foreign(ev)
            for h in self._handlers.get(ev.type, ()):
                try:
                    h(ev)
                except Exception as e:  # one bad request must not stop the session
                    log.exception("handling %s (seq %s) failed", ev.type, ev.seq)
                    self._emit(E.NOTE, {"kind": "request_failed", "seq": ev.seq, "type": ev.type, "why": str(e)})
        self.conditions_book.poll()  # time conditions and expiry on the session clock
        return out

    def conditions(self, states=None) -> list:
        """Conditional orders with their state (armed/triggered/cancelled/expired) and last evaluated value."""
        return self.conditions_book.list(states)

    def cancel_condition(self, condition_id: str, reason: str = "", by: str = "notebook"):
        return self.conditions_book.cancel(condition_id, reason, by)

    def _on_decision(self, ev) -> None:
        p = ev.payload
        cid, by, reason = p["client_order_id"], p.get("by") or "unknown", p.get("reason", "")
        if p.get("decision") == "approve":
            out = self.oms.approve(cid, by=by, reason=reason, changes=p.get("changes"), confirm_drift=bool(p.get("confirm_drift")))
        else:
            out = self.oms.reject(cid, by=by, reason=reason or "rejected")
        if not out.ok:
            self._emit(E.NOTE, {"kind": "decision_outcome", "client_order_id": cid, "decision_seq": ev.seq,
                                "status": out.status.value, "messages": out.messages})

    def _on_kill_request(self, ev) -> None:
        """A kill switch tripped by another process (CLI, dashboard): cancel everything, flatten."""
        p = ev.payload
        if p.get("action") != "trip":
            return
        if self.book.trading_state != "HALTED":  # journal the state, so the book and the dashboards see it
            self._emit(E.TRADING_STATE, {"state": "HALTED", "previous": self.book.trading_state, "cause": "kill_switch",
                                         "by": p.get("by", "unknown"), "reason": p.get("reason", "")})
        if self.risk is not None:
            return  # the risk manager already cancelled and flattened (on_event)
        if p.get("flatten", True):
            self.oms.flatten(reason=p.get("reason", "kill switch"), source="kill_switch")
        else:
            self.oms.cancel_all(reason=p.get("reason", "kill switch"), source="kill_switch")

    def _on_control(self, ev) -> None:
        p = ev.payload
        action = p.get("action")
        if action == "cancel":
            self.oms.cancel(p["client_order_id"], reason=p.get("reason", ""), source=p.get("by", "dashboard"))
        elif action == "cancel_all":
            self.oms.cancel_all(reason=p.get("reason", ""), source=p.get("by", "dashboard"))
        elif action == "flatten":
            self.oms.flatten(p.get("strategy"), reason=p.get("reason", "flatten"), source="flatten")
        elif action == "cancel_condition":  # `tradekit conditions cancel ID` while this session runs
            self.conditions_book.cancel(p["condition_id"], p.get("reason", ""), by=p.get("by", "cli"))
        else:
            raise ValueError(f"unknown control action {action!r}")

    # -- uptime: a heartbeat in the journal while nothing else is journaled (issue 18) ---------------------
    HEARTBEAT_SECONDS = 15.0  # of the session's clock; tradekit.monitoring.execution.uptime reads the gaps

    @property
    def _last_event(self):
        """The last event this session's journal appended since the session was built (None: none yet),
        as a journal listener subscribed last at the end of the build would have seen it (the journal
        notes it after its listeners, instead of calling one more listener at every append)."""
        last = self.journal.last_appended
        return None if last is self._appended_before else last

    def journal_heartbeat(self) -> bool:
        """Journal a ``note`` ``{"kind": "heartbeat"}`` when this session appended nothing for
        :attr:`HEARTBEAT_SECONDS` of its clock (the run loops call it every cycle, through the
        heartbeat writer). The journal then holds the session's life: uptime is measured from the
        gaps in it (:func:`tradekit.monitoring.execution.uptime`). True when one was written."""
        if self.journal_down is not None:
            return False
        now = self.clock.now()
        last = self._last_event
        if last is not None and (now - last.time).total_seconds() < self.HEARTBEAT_SECONDS:
            return False
        # the journal only (it locks itself): a heartbeat is no state for the book or the risk manager, and
        # taking the session's lock here held the hub's ticks back (a paper session on a live feed failed over)
        return self._guard(lambda: self.journal.append(E.NOTE, {"kind": "heartbeat", "pid": os.getpid()}))

    def close(self) -> None:
        if getattr(self, "alerts", None) is not None:
            self.alerts.stop()  # what is unsent stays in the outbox: the next session sends it
        closing = getattr(self.market, "close_backfills", None)
        if closing is not None and not closing(5.0):
            log.warning("a market-data back-fill is still running at close; its note will not be journaled")
        try:
            self.market.flush_marks()  # the last prices seen, for a rebuild and the dashboards
        except Exception:
            log.exception("flushing the last marks failed")
        rec = getattr(self, "reconciler", None)
        if rec is not None:
            rec.stop()
        pub = self.anchors() if self.journal.lease is not None and self.journal.lease.held else None
        if pub is not None:  # the session's end anchors its journal outside the database
            pub.stop()
            try:
                pub.publish("session_end")
            except Exception:  # the anchor log unwritable must not lose the journal's close
                log.exception("publishing the session's last anchor failed")
        if self.mode is TradingMode.LIVE and hasattr(self.broker, "close"):
            self.broker.close()
        store = getattr(self, "_tick_store", None)
        if store is not None:
            store.close()  # the buffered ticks
        self._close_snapshots()
        self.journal.close()

    def _close_snapshots(self) -> None:
        from tradekit.store.archive import at_close

        at_close(self)  # a journal snapshot (store.snapshot_every_events), then archival (store.archive_after_days)

    def archive(self, older_than_days: int | None = None):
        """Move the journal's days older than ``older_than_days`` (default ``store.archive_after_days``) to
        an archive file (:func:`tradekit.store.archive.archive`)."""
        from tradekit.store.archive import archive_session

        return archive_session(self, older_than_days)


def _default_instruments(config: TradekitConfig | None = None, day=None):
    """The instrument master (the day's cached Kite dump, else the last cached one, else the bundled
    sample; plus ``market.instruments``): see :func:`tradekit.market.master.load_master`. The store's
    ``info`` says which was used."""
    store, info = load_master(config, day, data_dir=None if config is not None else Path("var"))
    store.info = info
    return store


def _default_calendar(config: TradekitConfig):
    return calendar_for(config)  # with the lists imported by tradekit calendar import


def _default_charges(config: TradekitConfig):
    return FillCosts(as_of=config.execution.charges_as_of)


def _has_derivatives(instruments) -> bool:
    """Whether the master lists any F&O, currency or commodity contract (the expiry manager listens then)."""
    keys = instruments.keys() if hasattr(instruments, "keys") else []
    return any(k.startswith(("NFO:", "BFO:", "CDS:", "BCD:", "MCX:")) for k in keys)
