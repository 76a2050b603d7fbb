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
from datetime import date, datetime, time
from decimal import ROUND_FLOOR
from pathlib import Path

from tradekit.clock import IST, Clock, default_clock
from tradekit.config import TradekitConfig, load_config
from tradekit.errors import ConfigError, ValidationError
from tradekit.execution.account import Account
from tradekit.execution.margin import MarginModel
from tradekit.execution.oms import OrderManager
from tradekit.model.enums import TradingMode
from tradekit.model.money import dec
from tradekit.model.order import Order, OrderRequest
from tradekit.model.signal import Signal
from tradekit.store import Book, EventType as E, Journal, make_engine, sqlite_url

log = logging.getLogger(__name__)


class Session:
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
        self.clock = clock or default_clock()  # real time; the sandbox's replayed clock in a rehearsal
        self.journal = journal or Journal(make_engine(config.store_url(), synchronous=config.store.synchronous),
                                          clock=self.clock, durability=config.store.durability, batch_size=config.store.batch_size)
        self.book = Book.rebuild(self.journal.events())
        self.instruments = instruments if instruments is not None else _default_instruments()
        self.calendar = calendar if calendar is not None else _default_calendar(config)
        self.charges = _default_charges(config)
        self.broker = broker if broker is not None else self._make_broker()
        self.risk = None
        if gate is None:  # the configured gate with its breakers, kill switch and dynamic limits
            from tradekit.risk.manager import RiskManager

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
            mis_entry_cutoff=self.mis_entry_cutoff,
        )
        from tradekit.marketdata import MarketDataHub

        # every price (ticker, quote polls, paper bars) reaches the OMS, risk and journal through the hub
        self.market = MarketDataHub(config.market_data, clock=self.clock, emit=self._emit, risk=self.risk, book=self.book,
                                    calendar=self.calendar, lock=getattr(self.oms, "_lock", None),
                                    prices=self.oms.prices)
        self.oms.no_price_reason = self.market.no_price_reason
        if self.risk is not None:
            self.risk.attach(executor=self.oms)
            self.risk.restore(self.journal.events(types=(E.TRADING_STATE, E.KILL_SWITCH)))
            self.risk.start_day(self.book, self.clock.now().date())
            self.oms.listeners.append(self._risk_event)
        self._foreign_after = self.book.last_seq  # everything before start is already in the book
        self._applied_foreign: set[int] = set()
        self._handlers: dict[str, list] = {E.APPROVAL_DECISION: [self._on_decision], E.CONTROL: [self._on_control],
                                           E.KILL_SWITCH: [self._on_kill_request]}
        if not any(True for _ in self.journal.events(types=(E.SESSION_STARTED,))):
            self._emit(E.SESSION_STARTED, {"mode": self.mode.value, "capital": str(config.account.capital),
                                           "account": config.account.name})
        elif self.mode is TradingMode.PAPER and broker is None:
            self._resume_paper_account()

    def _resume_paper_account(self) -> None:
        """A paper journal opened again (a new process, maybe a new day): roll the days that passed
        (T+1 settlement), then give the paper broker the account the journal recorded."""
        last = None
        for ev in self.journal.events(types=(E.FILL, E.DAY_ROLLED, E.SESSION_STARTED)):
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
    def from_config(cls, config: TradekitConfig | str | Path | None = None, **kw) -> "Session":
        cfg = config if isinstance(config, TradekitConfig) else load_config(config)
        return cls(cfg, **kw)

    @classmethod
    def for_replay(cls, config: TradekitConfig, journal_path: str | Path, start: datetime, **kw) -> "Session":
        """A paper session on a simulated clock with its own fresh journal (batched writes)."""
        from tradekit.clock import SimClock

        clock = SimClock(start)
        path = Path(journal_path)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        journal = Journal(make_engine(sqlite_url(path), synchronous="OFF"), clock=clock, durability="batch",
                          batch_size=config.store.batch_size)
        return cls(config, clock=clock, journal=journal, mode="paper", **kw)

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
        return ev

    def _risk_event(self, ev) -> None:
        if self.risk is not None:
            self.risk.on_event(ev, self.book)

    # -- orders ------------------------------------------------------------------------------------
    def submit(self, request: OrderRequest, *, strategy: str = "manual", **kw) -> Order:
        return self.oms.submit(request, strategy=strategy, **kw)

    def order_for_signal(self, signal: Signal) -> OrderRequest:
        """Turn a signal into an order request, applying its sizing rule when it has no quantity."""
        qty = signal.quantity
        inst = self.instruments.get(signal.exchange, signal.tradingsymbol) if self.instruments is not None else None
        lot = inst.lot_size if inst is not None else 1
        if qty is None:
            qty = self._size(signal, lot)
        return OrderRequest(signal.exchange, signal.tradingsymbol, signal.side, qty, signal.order_type, signal.product,
                            price=signal.price, trigger_price=signal.trigger_price,
                            validity=signal.meta.get("validity", "DAY"))

    def _size(self, signal: Signal, lot: int) -> int:
        rule = (signal.sizing or {}).get("rule")
        value = dec((signal.sizing or {}).get("value", 0), "sizing.value")
        price = signal.price or signal.reference_price or self.oms.last_price(signal.key)
        if not price:
            raise ValidationError("needs a price (limit, reference_price or a last price) to size the order", field="sizing")
        capital = self.book.starting_cash + self.book.net_pnl
        if rule == "fixed_value":
            budget = value
        elif rule == "capital_pct":
            budget = capital * value / 100
        elif rule == "risk_pct":
            stop = (signal.sizing or {}).get("stop")
            if stop is None:
                raise ValidationError("risk_pct sizing needs a stop price", field="sizing.stop")
            per_unit = abs(price - dec(stop, "sizing.stop"))
            if per_unit == 0:
                raise ValidationError("stop equals the price: risk per unit is zero", field="sizing.stop")
            units = (capital * value / 100 / per_unit).to_integral_value(ROUND_FLOOR)
            return _lots(int(units), lot, signal)
        else:
            raise ValidationError(f"unknown sizing rule {rule!r} (fixed_value, capital_pct, risk_pct)", field="sizing.rule")
        return _lots(int((budget / price).to_integral_value(ROUND_FLOOR)), lot, signal)

    def submit_signal(self, signal: Signal, route: str | None = None) -> Order:
        """The sink for the signal pipeline: size, then submit through the one path."""
        self.market.want([signal.key], "signal")  # subscribed before its risk check
        if signal.price is None and signal.reference_price is None:
            self.market.wait_quote(signal.key)  # live: up to market_data.quote_wait_seconds for a first quote
        if signal.reference_price is not None and self.market.last_price(signal.key) is None:
            self.oms.mark(signal.key, signal.reference_price)
        req = self.order_for_signal(signal)
        return self.oms.submit(req, strategy=signal.strategy, signal_id=signal.signal_id, approval=route, source="signal",
                               reference_price=signal.reference_price)

    # -- market data and the day --------------------------------------------------------------------
    def mis_cutoff(self, instrument, day: date) -> datetime | None:
        """The broker's MIS square-off cut-off for this instrument's segment on ``day`` (cached per day)."""
        seg = getattr(instrument, "segment", None)
        key = (day, str(seg) if seg is not None else "EQ")
        hit = self._cutoffs.get(key)
        if hit is not None:
            return hit
        cut = datetime.combine(day, time(15, 20), IST)
        if self.calendar is not None:
            try:
                cut = self.calendar.mis_cutoff(day, instrument) if instrument is not None else self.calendar.mis_cutoff(day)
            except Exception as e:  # outside the calendar's tables: the equity cut-off
                log.debug("no MIS cut-off from the calendar for %s: %s", key, e)
        self._cutoffs[key] = cut
        return cut

    def mis_entry_cutoff(self, instrument, day: date) -> datetime | None:
        """No new MIS exposure after this: tradekit's own square-off or the broker's cut-off, whichever is first."""
        times = [t for t in (self.square_off_time(day), self.mis_cutoff(instrument, day)) if t is not None]
        return min(times) if times else None

    def square_off_time(self, day: date) -> datetime | None:
        t = self.config.execution.square_off_time
        if t is None:
            return None
        hh, mm = map(int, t.split(":"))
        return datetime.combine(day, time(hh, mm), IST)

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
        for ev in list(self.journal.events(after=self._foreign_after)):
            self._foreign_after = ev.seq
            if ev.seq in own:
                own.discard(ev.seq)
                continue
            if ev.seq <= self.book.last_seq and ev.seq in self._applied_foreign:
                continue
            self.book.apply(ev)
            self._applied_foreign.add(ev.seq)
            out.append(ev)
        # act only once the whole batch is in the book (a kill request arrives with its HALTED state)
        for ev in out:
            self._risk_event(ev)
            for h in self._handlers.get(ev.type, ()):
                try:
                    h(ev)
                except Exception as e:  # one bad request must not stop the session
                    log.exception("handling %s (seq %s) failed", ev.type, ev.seq)
                    self._emit(E.NOTE, {"kind": "request_failed", "seq": ev.seq, "type": ev.type, "why": str(e)})
        return out

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
        else:
            raise ValueError(f"unknown control action {action!r}")

    # -- live lifecycle ----------------------------------------------------------------------------
    def start(self, *, reconcile_every: float | None = None) -> "Session":
        """Live: refuse orders until logged in, start the order-update stream, reconcile now and every N s.

        Paper needs nothing here. The session refuses new orders while a reconciliation
        mismatch is unresolved (the reconciler names it) or the broker session is gone.
        """
        if self.mode is not TradingMode.LIVE:
            return self
        from tradekit.brokers.kite.reconcile import Reconciler

        if not getattr(self.broker, "logged_in", True):
            self.oms.block_new_orders(self.broker.session_status())
            return self
        self.broker.start_updates()
        self._attach_market()
        interval = self.config.kite.reconcile_interval_seconds if reconcile_every is None else reconcile_every
        self.reconciler = Reconciler(self.broker, self.book, oms=self.oms, emit=self._emit, clock=self.clock,
                                     interval=interval)
        self.reconciler.run_once()
        if interval:
            self.reconciler.start()
        return self

    def _attach_market(self) -> None:
        """Live: the broker's ticker feeds the market-data hub (once), with the watchlist, the
        indices and the book's instruments subscribed."""
        if hasattr(self.broker, "feed") and getattr(self.broker, "market", None) is None:
            from tradekit.marketdata.kite import attach_kite

            attach_kite(self.broker, self.market)
        self.market.want_defaults()
        self.market.follow_book()

    def after_login(self) -> None:
        """A new broker login: lift the lost-session block, start the market data if it was not, reconcile again."""
        self.oms.block_new_orders(None)
        if self.mode is TradingMode.LIVE and getattr(self.broker, "logged_in", False):
            self._attach_market()
        rec = getattr(self, "reconciler", None)
        if rec is not None:
            rec.run_once()

    def close(self) -> None:
        try:
            self.market.flush_marks()  # the last prices seen, for a rebuild and the dashboards
        except Exception:
            log.exception("flushing the last marks failed")
        rec = getattr(self, "reconciler", None)
        if rec is not None:
            rec.stop()
        if self.mode is TradingMode.LIVE and hasattr(self.broker, "close"):
            self.broker.close()
        self.journal.close()


def _lots(units: int, lot: int, signal: Signal) -> int:
    q = (units // lot) * lot
    if q <= 0:
        raise ValidationError(f"{signal.tradingsymbol}: the sizing rule gives less than one lot ({lot})", field="sizing")
    return q


def _default_instruments():
    try:
        from tradekit.market.instruments import InstrumentStore
    except ImportError:  # pragma: no cover - the market package is part of tradekit
        return None
    return InstrumentStore.bundled()


def _default_calendar(config: TradekitConfig):
    try:
        from tradekit.market.calendar import MarketCalendar
    except ImportError:  # pragma: no cover
        return None
    return MarketCalendar("NSE", getattr(config, "market", None))


def _default_charges(config: TradekitConfig):
    from tradekit.execution.costs import FillCosts

    return FillCosts(as_of=config.execution.charges_as_of)


