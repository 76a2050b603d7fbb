"""RiskManager: the one risk object a session holds (gate, breakers, kill switch, dynamic limits).

Wiring (what the session/OMS does)::

    risk = RiskManager.from_config(cfg, emit=session.emit, clock=clock)
    risk.restore(journal.events(types=(E.TRADING_STATE,)))     # state and cool-off survive restarts
    risk.attach(executor=oms)                                    # cancel_all / flatten
    risk.start_day(book, day)                                    # P&L baseline for the day
    oms = OrderManager(..., gate=risk.gate)                      # every order: risk.gate.check
    # after each event is applied to the book (own or polled from the journal):
    risk.on_event(ev, book)
    # market data and time:
    risk.on_tick("NSE:RELIANCE", 2450.5, now); risk.on_index("NIFTY 50", level, prev_close, now)
    risk.poll(now, book, market_open=cal.is_open(now))           # every ~1 s
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Iterable

from tradekit.model.position import position_key
from tradekit.risk.base import TradingState
from tradekit.risk.breakers import BreakerAction, CircuitBreakers
from tradekit.risk.config import RiskConfig, RiskLists, load_lists
from tradekit.risk.gate import PreTradeGate
from tradekit.risk.killswitch import Emit, KillSwitch, RiskExecutor
from tradekit.risk.sizing import DynamicLimits, Regime, RegimeSeries
from tradekit.store.events import EventType as E

if TYPE_CHECKING:  # pragma: no cover
    from tradekit.clock import Clock
    from tradekit.risk.var import VarModel
    from tradekit.store.journal import Event
    from tradekit.store.projection import Book

log = logging.getLogger(__name__)
_DAY = timedelta(days=1)

_STATE_EVENTS = frozenset({E.KILL_SWITCH, E.TRADING_STATE})
_WARM_EVENTS = frozenset({E.MARK, E.FILL})  # they change what the gate's next check summarises
# every type on_event reads: the state, the day, fills (the loss streak), what the breakers observe, and
# what the gate is warmed after; on_event does nothing for any other (it returns [] straight away)
_RISK_EVENTS = _STATE_EVENTS | {E.DAY_ROLLED, E.FILL} | CircuitBreakers.OBSERVED | _WARM_EVENTS


class RiskManager:
    """Gate + breakers + kill switch + dynamic limits, built from one config.

    Parameters
    ----------
    config
        The ``risk`` section.
    capital
        Rupees for percent limits when the book has no starting cash.
    executor, emit, clock
        See :class:`~tradekit.risk.killswitch.KillSwitch`.
    act_on_external_kill
        Cancel and flatten when a kill request written by another process (``tradekit kill``)
        arrives through :meth:`on_event`; turn off if the session acts on those itself.
    """

    def __init__(self, config: RiskConfig | None = None, *, capital: float | None = None,
                 executor: RiskExecutor | None = None, emit: Emit | None = None, clock: "Clock | None" = None,
                 lists: RiskLists | None = None, var_model: "VarModel | None" = None, algo_id: str | None = None,
                 base_dir=None, calendar=None, act_on_external_kill: bool = True) -> None:
        self.config = config or RiskConfig()
        if lists is None:
            lists = load_lists(self.config, base_dir)
        self.gate = PreTradeGate(self.config, capital=capital, lists=lists, var_model=var_model, algo_id=algo_id,
                                 calendar=calendar)
        self.breakers = CircuitBreakers(self.gate, self.config.breakers)
        self.kill_switch = KillSwitch(self.gate, executor=executor, emit=emit, clock=clock)
        self.dynamic = DynamicLimits(self.config.sizing)
        self.act_on_external_kill = act_on_external_kill  # False if the session handles foreign kill requests itself
        v = self.config.var
        # risk.var.limit / limit_pct: the pre-trade VaR model is built each day from the bundled daily
        # data up to the day before (a model handed in is kept as it is)
        self._auto_var = var_model is None and self.config.enabled and (v.limit is not None or v.limit_pct is not None)
        self._var_day: date | None = None
        self.regime: Regime | None = None
        self._note: "str | tuple" = ""  # regime_note, or what it is made of until it is read
        self._regime_src: tuple | None = None  # see _regime_source
        self._realized: dict[str, float] = {}
        self.actions: list[BreakerAction] = []  # every action applied, for reports

    @classmethod
    def from_config(cls, cfg, **kw) -> "RiskManager":
        """Build from a ``TradekitConfig`` (its ``risk`` section, capital and algo ID)."""
        from pathlib import Path

        risk = getattr(cfg, "risk", None) or RiskConfig()
        session = kw.pop("session", None)
        if session is not None and getattr(session, "calendar", None) is not None:
            kw.setdefault("calendar", session.calendar)
        kw.setdefault("capital", float(cfg.account.capital))
        kw.setdefault("algo_id", getattr(cfg.orders, "algo_id", None))
        if getattr(cfg, "source", None):
            kw.setdefault("base_dir", Path(cfg.source).parent)
        return cls(risk, **kw)

    def attach(self, executor: RiskExecutor | None = None, emit: Emit | None = None) -> None:
        self.kill_switch.attach(executor, emit)

    # -- lifecycle ---------------------------------------------------------------------------
    def restore(self, events: Iterable["Event"]) -> None:
        """Adopt the journal's trading state and last trip time (call once at start)."""
        self.kill_switch.restore(events)

    def start_day(self, book: "Book", day: date, regime: Regime | None = None) -> None:
        """Fix the day's P&L baseline, reset the loss streak, apply the volatility regime
        (given, or measured from ``risk.sizing.regime_index`` up to the day before), and build
        the day's pre-trade VaR model when a VaR limit is configured."""
        self.gate.start_day(book, day)
        self.dynamic.reset_day()
        if regime is None:
            regime = self._measure_regime(day)
        else:
            self.regime_note = f"volatility regime given: {regime}"
        self.regime = regime
        self.dynamic.regime = regime
        self.gate.set_scale(self.dynamic.scale, self.dynamic.reason)
        self._realized = {k: float(p.realized_pnl) for k, p in book.positions.items()}
        if self._auto_var and self._var_day != day:
            from tradekit.risk.var import VarModel

            self.gate.var_model = VarModel.from_settings(self.config.var, None, end=day - timedelta(days=1))
            self.gate._var_cache = None
            self._var_day = day

    def rebuild_var(self, day: date) -> None:
        """Build the day's pre-trade VaR model again (after new daily bars reached the data directory)."""
        from tradekit.risk import var as _var

        _var.clear_caches()
        if self._auto_var:
            self.gate.var_model = _var.VarModel.from_settings(self.config.var, None, end=day - timedelta(days=1))
            self.gate._var_cache = None
            self._var_day = day

    def _measure_regime(self, day: date) -> Regime | None:
        """The regime from the bundled daily closes of the regime index up to ``day - 1``; None
        (NORMAL limits, with the reason in :attr:`regime_note`) when they do not reach that day.

        The index's closes are read once and the regime of each leading part of them computed
        once (:class:`~tradekit.risk.sizing.RegimeSeries`): the same figures as
        ``vol_regime(closes up to day - 1)``, without redoing the whole history every day."""
        s = self.config.sizing
        src = self._regime_source(s)
        days, rs = src[2], src[3]
        k = 0 if days is None else bisect_right(days, day - _DAY)  # the closes up to the day before
        if days is None or k < s.regime_short + 2 or (day - days[k - 1]).days > 7:
            last = "none" if days is None or not k else f"the last is {days[k - 1]}"
            self.regime_note = (f"volatility regime not measured for {day}: no recent daily closes of "
                                f"{s.regime_index} (risk.sizing.regime_index; {last}); limits unscaled")
            log.info(self.regime_note)
            return None
        reg = rs.at(k)
        self._note = (day, reg)  # worded when read (most days nobody does)
        return reg

    @property
    def regime_note(self) -> str:
        """How today's volatility regime was found (or why not)."""
        n = self._note
        if type(n) is tuple:
            n = self._note = f"volatility regime {n[0]}: {n[1]}"
        return n

    @regime_note.setter
    def regime_note(self, text: str) -> None:
        self._note = text

    def _regime_source(self, s) -> tuple:
        """(frame, settings, the days of the index's closes or None, their RegimeSeries), built
        again when the daily closes were read again (``var.clear_caches``) or the settings changed."""
        from tradekit.risk import var as _var

        px = _var._closes_frame([s.regime_index])
        src = self._regime_src
        if src is None or src[0] is not px or src[1] != (s.regime_index, s.regime_short, s.regime_long, s.high_vol_ratio):
            series = px[s.regime_index].dropna() if s.regime_index in px else None
            if series is None:
                days = rs = None
            else:  # the closes are on normalised days: "up to the day before" is a count of dates
                days, rs = series.index.date.tolist(), RegimeSeries(series, s)
            src = self._regime_src = (px, (s.regime_index, s.regime_short, s.regime_long, s.high_vol_ratio), days, rs)
        return src

    def stop_distance(self, symbol: str, price: float, day: date) -> tuple[float, str]:
        """Per-unit stop distance by ``risk.sizing.method`` (ATR or realised volatility) from daily
        bars up to the day before ``day``; ValidationError naming ``sizing.stop`` without them."""
        from tradekit.errors import TradekitError, ValidationError
        from tradekit.risk.sizing import stop_distance

        try:
            return stop_distance(symbol, price, self.config.sizing, end=day - timedelta(days=1))
        except TradekitError as e:
            raise ValidationError(f"no stop given and none measured ({e}); give sizing.stop", field="sizing.stop") from None

    @property
    def state(self) -> TradingState:
        return self.gate.state

    def use_var_model(self, symbols: Iterable[str] | None, *, end=None) -> "VarModel":
        """Build the pre-trade VaR model from bundled daily data up to ``end`` (a replay passes
        the day before it trades: no look-ahead) and hand it to the gate (``symbols`` None: all)."""
        from tradekit.risk.var import VarModel

        self._auto_var = False  # the caller's model stands
        vm = VarModel.from_settings(self.config.var, None if symbols is None else list(symbols), end=end)
        self.gate.var_model = vm
        self.gate._var_cache = None
        return vm

    # -- observation -------------------------------------------------------------------------
    def _apply(self, actions: list[BreakerAction], now: datetime) -> list[BreakerAction]:
        for a in actions:
            self.actions.append(a)
            self.kill_switch.apply(a, now=now)
        return actions

    def on_event(self, ev: "Event", book: "Book") -> list[BreakerAction]:
        """Feed every journal event *after* it was applied to ``book``: own events and those
        polled from other writers (a ``tradekit kill`` from the CLI arrives this way).
        Events of a type outside :attr:`EVENT_TYPES` do nothing (most of an order's: it is
        created, decided, approved and submitted without a risk manager's step)."""
        t = ev.type
        if t not in _RISK_EVENTS:
            return []
        if t in _STATE_EVENTS:
            if ev.payload.get("origin") != self.kill_switch.origin:
                self._external(ev, book)
            return []
        if t == E.DAY_ROLLED:
            self.start_day(book, ev.day)
            return []
        if t == E.FILL:
            self._trade_result(ev.payload, book)
        actions = self.breakers.observe(ev, book)
        if actions:  # the event's time is read only when there is something to apply
            self._apply(actions, ev.time)
        if t in _WARM_EVENTS:
            self.gate.warm(book)  # the next order's check finds the book already summarised
        return actions

    #: the event types :meth:`on_event` acts on (a session may leave the others out)
    EVENT_TYPES = _RISK_EVENTS

    def _external(self, ev: "Event", book: "Book") -> None:
        p = ev.payload
        ks = self.kill_switch
        if ev.type == E.TRADING_STATE:
            new = TradingState(p["state"])
            if new.rank > self.gate.state.rank:
                ks._mark_trip(ev.time, p.get("by", "?"), p.get("cause", "?"))
            elif new.rank < self.gate.state.rank:
                self.breakers.rearm()
            self.gate.restore_state(new.value, p.get("cause", "journal"), p.get("reason", ""))
            return
        if p.get("action") == "trip" and self.act_on_external_kill:
            log.warning("kill switch tripped from outside by %s: %s", p.get("by"), p.get("reason"))
            self.gate.restore_state(TradingState.HALTED.value, "kill_switch", p.get("reason", ""))
            ks._mark_trip(ev.time, p.get("by", "?"), "kill_switch")
            ks._execute(cancel=True, flatten=bool(p.get("flatten", True)), reason=f"kill switch: {p.get('reason', '')}",
                        source="kill_switch")

    def _trade_result(self, p: dict, book: "Book") -> None:
        # A fill that realises P&L closes (part of) a trade: it feeds the loss streak.
        key = position_key(p.get("strategy", ""), p["exchange"], p["tradingsymbol"], p["product"])
        pos = book.positions.get(key)
        if pos is None:
            return
        now = float(pos.realized_pnl)
        delta = now - self._realized.get(key, 0.0)
        self._realized[key] = now
        if abs(delta) > 1e-9:
            before = self.dynamic.scale
            after = self.dynamic.record_trade(delta)
            if after != before:
                self.gate.set_scale(after, self.dynamic.reason)

    def on_tick(self, key: str, price: float, now: datetime) -> list[BreakerAction]:
        return self._apply(self.breakers.on_price(key, price, now), now)

    def on_packet(self, now: datetime) -> None:
        """A market-data packet arrived (whatever its prices): the stale-feed clock restarts."""
        self.breakers.on_packet(now)

    def on_stale(self, key: str, gap: float, limit: float, now: datetime) -> list[BreakerAction]:
        """A held instrument had no update for ``gap`` s while its market was open (the hub says so)."""
        return self._apply(self.breakers.on_instrument_stale(key, gap, limit, now), now)

    def on_index(self, name: str, level: float, previous_close: float, now: datetime) -> list[BreakerAction]:
        return self._apply(self.breakers.on_index(name, level, previous_close, now), now)

    def on_marks(self, book: "Book", now: datetime) -> list[BreakerAction]:
        """Check loss and drawdown after marks were applied to the book some other way."""
        return self._apply(self.breakers.on_book(book, now, marked=True), now)

    def poll(self, now: datetime, book: "Book | None" = None, *, market_open: bool = True) -> list[BreakerAction]:
        out = self.breakers.poll(now, market_open=market_open)
        if book is not None:
            out += self.breakers.on_book(book, now)
        return self._apply(out, now)

    def report(self, book: "Book", *, events: Iterable["Event"] | None = None, day: date | None = None, **kw):
        """The daily risk report (:class:`~tradekit.risk.report.RiskReport`): limits used vs
        allowed, breaches and state changes (from ``events``, e.g. ``journal.events()``),
        VaR/ES by three methods, components, stress."""
        from tradekit.risk.report import build_risk_report

        return build_risk_report(self, book, events=events, day=day, **kw)

    # -- commands ----------------------------------------------------------------------------
    def kill(self, reason: str, by: str = "user", *, flatten: bool = True) -> dict:
        """The manual kill switch (notebook call, dashboard button)."""
        return self.kill_switch.trip(reason, by, flatten=flatten)

    def unlock(self, reason: str, by: str, *, to: str = "ACTIVE") -> dict | None:
        """Deliberate unlock after the cool-off; breakers are re-armed from the current state."""
        change = self.kill_switch.unlock(reason, by, to=to)
        if change is not None:
            self.breakers.rearm()
        return change
