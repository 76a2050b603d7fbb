"""The pre-trade gate: one ``check(order, ctx)`` for every order, with coded, readable reasons.

Checks, by group (codes in capitals):

- state: ``STATE`` (ACTIVE / REDUCING / HALTED), ``REDUCE_ONLY`` (recorded; an order the
  caller marked reduce-only that adds to the net position is checked as an entry);
- instrument (rules from :mod:`tradekit.market.rules`): ``TICK``, ``LOT``, ``BAND``,
  ``FREEZE`` (above the freeze quantity: sliced or refused), ``MARKET_PROTECTION``;
- product: ``CNC_HOLDINGS`` (no CNC short sale), ``MIS_CUTOFF``;
- money: ``NO_PRICE``, ``FUNDS``, ``ORDER_VALUE``, ``ORDER_QTY``, ``FAT_FINGER``;
- exposure: ``POSITION_VALUE``, ``POSITION_QTY``, ``CONCENTRATION``, ``SECTOR``, ``GROSS``,
  ``NET``, ``OPEN_ORDERS``, ``ORDERS_DAY``;
- loss: ``DAILY_LOSS``, ``DRAWDOWN`` (from the day's P&L peak);
- compliance: ``RATE`` (orders-per-second governor), ``ALGO_ID``, ``RESTRICTED``,
  ``FNO_BAN``, ``APPROVAL_MODE`` (recorded on every order);
- portfolio: ``VAR`` (parametric VaR after the order, when a limit and a model are set).

An order *reduces* when it moves the instrument's net position (all strategies and
products) toward zero without crossing it, counting same-side orders already working; for
orders the risk layer itself sends (kill switch, breaker, square-off) reducing the order's
own strategy position is enough. A reducing order skips the exposure, loss, funds, order
size, fat-finger, restricted, F&O-ban and VaR checks, passes in REDUCING, and in HALTED
passes only from a risk-layer source. Exposure checks let through an order that does not
make an over-limit figure worse.

Modules: this one holds the gate's core (configuration, trading state, ``check`` with the
state, instrument, product and compliance checks); :mod:`tradekit.risk.gate_checks` the entry
checks (lists, money, exposure, loss, VaR) and the registry of rules other modules add
(``register_entry_rule``); :mod:`tradekit.risk.gate_book` the views of the book the checks read.
Everything stays importable from here.

Speed: the book is summarised once (floats) and the summary is reused until a fill, a new
position, a cash/charges change or a new mark changes it (marks are spotted by identity of
each position's last price, so no event is missed). Decimals appear only in messages.
:meth:`PreTradeGate.warm` (the session calls it through ``RiskManager.on_event`` after marks
and fills) also brings the VaR state, the VaR coverage and the daily-loss worst case's base
(open exposure and working orders) up to date, off the order path. Rules registered for
derivatives only (the Greek limits) cost an equity order nothing, and a rule that says it does
not apply to the gate's config (``applies_to``) is not called; a check's text is built only
when it refuses (``rs`` formats rupees without Decimal, a common amount in one text; the texts of
limits are kept, and so are the parts of the DAILY_LOSS text and of the VaR coverage note that
depend only on the book, while the figures they were written for stay the same). The check
itself is straight-line code over constants worked out once: the limits per (capital, scale),
an instrument's tick/lot/freeze facts per instrument (the freeze limit once a day), a symbol's
key, sector and lists per symbol; a new day counts that day's orders only (orders indexed by
creation day as they are appended). The working orders are looked at again only when an event
changed an order (``Book.orders_version``), and indexed by symbol once per change for the
reducing and CNC-holdings checks. ``benchmarks/bench_risk_gate.py`` measures it;
``tests/unit/risk/test_gate_decisions.py`` pins its decisions.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from operator import itemgetter
from decimal import Decimal
from typing import TYPE_CHECKING

from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.order import OrderStatus
from tradekit.model.position import position_key
from tradekit.risk.base import (
    HALTED_SOURCES,
    CheckResult,
    RiskContext,
    RiskDecision,
    TradingState,
)
from tradekit.risk import worstcase as _worst
from tradekit.risk.config import SEBI_RETAIL_OPS, RiskConfig, RiskLists, load_lists

# the pieces live in their own modules; importing them from here keeps working
from tradekit.risk.gate_book import BookSummary, DayPnL, OpenOrders, RateGovernor, underlying_of  # noqa: F401
from tradekit.risk.gate_checks import (  # noqa: F401
    _CR,
    _OK,
    _R,
    EntryChecks,
    EntryFacts,
    _lim,
    _pct,
    entry_rules,
    register_entry_rule,
    rs,
    unregister_entry_rule,
)

if TYPE_CHECKING:  # pragma: no cover
    from tradekit.model.order import Order
    from tradekit.risk.var import VarModel
    from tradekit.store.projection import Book

log = logging.getLogger(__name__)

__all__ = ["BookSummary", "DayPnL", "EntryFacts", "OpenOrders", "PreTradeGate", "RateGovernor", "entry_rules",
           "register_entry_rule", "rs", "underlying_of", "unregister_entry_rule"]

ACTIVE, REDUCING, HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
_BUY = Side.BUY
_MARKETLIKE = (OrderType.MARKET, OrderType.SLM)
_DERIV_EXCHANGES = frozenset({Exchange.NFO, Exchange.BFO, Exchange.MCX, Exchange.CDS, Exchange.BCD, Exchange.NCO})

_rules = None


def _rules_module():
    # tradekit.market is imported on first use so that importing the gate stays light
    global _rules
    if _rules is None:
        from tradekit.risk import _rules as r

        _rules = r
    return _rules


_new, _set = object.__new__, object.__setattr__
_CNC, _MIS, _SELL = Product.CNC, Product.MIS, Side.SELL
_NOT_SENT = frozenset({OrderStatus.CREATED, OrderStatus.DENIED})
_STATE_NAME = {s: s.value for s in TradingState}
_APPROVAL = {m: CheckResult("APPROVAL_MODE", True, m) for m in ("auto", "manual")}
_OK_STATE, _OK_TICK, _OK_LOT, _OK_FREEZE, _OK_MIS, _OK_RATE = (
    _OK["STATE"], _OK["TICK"], _OK["LOT"], _OK["FREEZE"], _OK["MIS_CUTOFF"], _OK["RATE"])
_ok_of = itemgetter(1)


class PreTradeGate(EntryChecks):
    """The risk gate every order passes before it reaches a broker (implements ``RiskGate``).

    Parameters
    ----------
    config
        The ``risk`` section (:class:`~tradekit.risk.config.RiskConfig`); defaults if omitted.
    capital
        Rupees used for percent limits when the book has no starting cash.
    lists
        Restricted list, F&O bans and sector map (default: from ``config``).
    var_model
        A :class:`~tradekit.risk.var.VarModel` for the pre-trade VaR limit (optional).
    algo_id
        The exchange algo ID orders are tagged with (e.g. ``orders.algo_id``).
    calendar
        A ``tradekit.market`` calendar for MIS cut-offs (default: built lazily per exchange).

    Examples
    --------
    >>> gate = PreTradeGate(RiskConfig(), capital=1_000_000)          # doctest: +SKIP
    >>> d = gate.check(order, RiskContext(now, book, last_price=Decimal("2450")))  # doctest: +SKIP
    >>> d.allowed, d.reason                                            # doctest: +SKIP
    """

    def __init__(
        self,
        config: RiskConfig | None = None,
        *,
        capital: float | Decimal | None = None,
        lists: RiskLists | None = None,
        var_model: "VarModel | None" = None,
        algo_id: str | None = None,
        calendar=None,
    ) -> None:
        self.config = config or RiskConfig()
        self.capital = float(capital) if capital is not None else 1_000_000.0
        self.lists = lists if lists is not None else load_lists(self.config)
        self.var_model = var_model
        self.algo_id = self.config.compliance.algo_id or algo_id
        self._calendar = calendar
        self._cutoffs: dict = {}
        self._cut_last: tuple | None = None  # (day, exchange, _cutoffs entry) of the last look-up
        self.state = TradingState(self.config.state.initial)
        self._book_state = "ACTIVE"  # the book's trading_state last seen: the gate follows changes to it
        self.state_cause = "config"
        self.state_reason = ""
        self.state_since: datetime | None = None
        self.day = DayPnL()
        self.scale = 1.0
        self.scale_reason = ""
        self._sector_cache: dict[str, str | None] = {}
        self._info: dict[tuple, tuple] = {}
        self._info_sym: dict[str, tuple] = {}  # symbol -> the _info entry last used for it
        self._inst: dict[int, list] = {}  # id(instrument) -> _inst_facts
        self.summary = BookSummary(self._sector_of_key)
        self.open_orders = OpenOrders()
        c = self.config.compliance
        self.governor = RateGovernor(c.max_orders_per_second)
        self._orders_day: date | None = None
        self._by_day: list | None = None  # [orders dict, how many indexed, {day: [orders]}] (_orders_by_day)
        self._t_tz = self._t_day = None
        self._cap_src, self._cap_val = None, self.capital
        self._t_base = 0.0
        self.orders_today = 0
        self._var_full = -1
        self._var_cache: list | None = None
        self._var_pct: tuple = (None, {})  # (VaR model, {symbol: one-unit VaR % or None}) (_loss_worst_case)
        self._var_gap = False  # some exposure is in a symbol without return history (see _var_coverage)
        self._loss_text: tuple | None = None  # the DAILY_LOSS text's book part and its figures (_loss_worst_case)
        self.signal_stops: dict[str, object] = {}  # signal_id -> sizing.stop (note_signal_stop)
        self._configure()

    @classmethod
    def from_config(cls, cfg, session=None, **kw) -> "PreTradeGate":
        """Build from a ``TradekitConfig``: its ``risk`` section (defaults if absent), the
        account's capital, ``orders.algo_id``, list files next to the config file and, from
        ``session``, its market calendar."""
        from pathlib import Path

        risk = getattr(cfg, "risk", None) or RiskConfig()
        base = Path(cfg.source).parent if getattr(cfg, "source", None) else None
        kw.setdefault("capital", float(cfg.account.capital))
        kw.setdefault("algo_id", getattr(getattr(cfg, "orders", None), "algo_id", None))
        kw.setdefault("lists", load_lists(risk, base))
        if session is not None and getattr(session, "calendar", None) is not None:
            kw.setdefault("calendar", session.calendar)
        return cls(risk, **kw)

    # -- configuration -----------------------------------------------------------------------
    def _configure(self) -> None:
        cfg = self.config
        i, m, e, lo, c = cfg.instrument, cfg.money, cfg.exposure, cfg.loss, cfg.compliance
        self._tick, self._lot, self._band, self._freeze, self._mp = i.tick, i.lot, i.band, i.freeze, i.market_protection
        self._freeze_on, self._freeze_deny = i.freeze != "off", i.freeze == "deny"
        self._cnc, self._mis = cfg.product.cnc_sell_needs_holdings, cfg.product.mis_cutoff
        self._mis_margin = timedelta(minutes=cfg.product.mis_cutoff_margin_minutes)
        self._funds = m.check_funds
        f = lambda x: None if x is None else float(x)  # noqa: E731
        self._max_order_value, self._max_order_value_pct = f(m.max_order_value), f(m.max_order_value_pct)
        self._max_order_qty = m.max_order_quantity
        self._ff, self._ff_opt = f(m.fat_finger_pct), f(m.fat_finger_option_pct)
        self._max_pos_value, self._max_pos_qty = f(e.max_position_value), e.max_position_quantity
        self._conc, self._sector_pct = f(e.max_concentration_pct), f(e.max_sector_pct)
        self._gross, self._net = f(e.max_gross_exposure_pct), f(e.max_net_exposure_pct)
        self._max_open, self._max_day = e.max_open_orders, e.max_orders_per_day
        # the count limits as the floats the checks report (once, not per order)
        self._max_order_qty_f, self._max_open_f, self._max_day_f = (
            f(self._max_order_qty), f(self._max_open), f(self._max_day))
        self._loss, self._loss_pct = f(lo.max_daily_loss), f(lo.max_daily_loss_pct)
        self._adverse, self._loss_positions = lo.adverse_move_pct, lo.include_open_positions
        self._dd, self._dd_pct = f(lo.max_drawdown), f(lo.max_drawdown_pct)
        self._ops = c.max_orders_per_second
        self._require_algo = c.require_algo_id
        self._automated = frozenset(c.automated_sources)
        self._equity_basis = cfg.capital_basis == "equity"
        v = cfg.var
        self._var_limit, self._var_limit_pct = f(v.limit), f(v.limit_pct)
        self._algo_ok = CheckResult("ALGO_ID", True, f"tagged with algo ID {self.algo_id}")
        self._lims = None  # the limits at a capital and scale (EntryChecks._limits)

    def set_scale(self, scale: float, reason: str = "") -> None:
        """Tighten (scale < 1) the order-value and exposure limits, e.g. in a high-volatility
        regime or after a loss streak (see :class:`tradekit.risk.sizing.DynamicLimits`)."""
        if not 0 < scale <= 1:
            raise ValueError(f"scale must be in (0, 1], {scale!r} was received")
        self.scale, self.scale_reason = float(scale), reason

    def set_lists(self, lists: RiskLists) -> None:
        """Replace the restricted list, F&O bans and sector map (e.g. the day's ban file)."""
        self.lists = lists
        self._info.clear()
        self._info_sym.clear()
        self._sector_cache.clear()
        self.summary.book_id = None  # sectors are re-aggregated on the next check

    def _sector_of_key(self, key: str) -> str | None:
        s = self._sector_cache.get(key, False)
        if s is False:
            sym = key.partition(":")[2]
            sm = self.lists.sector_map
            s = sm.get(sym) or sm.get(underlying_of(sym))
            self._sector_cache[key] = s
        return s

    # -- trading state -----------------------------------------------------------------------
    def set_state(self, state: TradingState | str, *, cause: str, by: str, reason: str = "",
                  now: datetime | None = None) -> dict | None:
        """Move to ``state``; return the ``risk.trading_state`` journal payload, or ``None``
        when nothing changed. Unlocking goes through :class:`~tradekit.risk.killswitch.KillSwitch`,
        which enforces the reason and the cool-off."""
        new = TradingState(state)
        if new is self.state:
            return None
        prev = self.state
        self.state, self.state_cause, self.state_reason, self.state_since = new, cause, reason, now
        log.warning("trading state %s -> %s (%s by %s): %s", prev.value, new.value, cause, by, reason)
        return {"state": new.value, "previous": prev.value, "cause": cause, "by": by, "reason": reason}

    def escalate(self, state: TradingState | str, **kw) -> dict | None:
        """Like :meth:`set_state` but never loosens (HALTED stays HALTED on a REDUCING trigger)."""
        new = TradingState(state)
        if new.rank <= self.state.rank:
            return None
        return self.set_state(new, **kw)

    def _why(self) -> str:
        r = self.state_reason
        return f"{self.state_cause}: {r[:80]}" if r else self.state_cause

    def restore_state(self, state: str, cause: str = "journal", reason: str = "") -> None:
        """Adopt the state the journal records (``book.trading_state``) at start, silently."""
        self.state, self.state_cause, self.state_reason = TradingState(state), cause, reason

    def warm(self, book: "Book") -> None:
        """Bring the book summary and the VaR state up to date now, off the order path.

        The session calls it (through ``RiskManager.on_event``) after marks and fills, so a
        check that follows pays only for noticing that nothing changed.
        """
        self.summary.refresh(book)
        live = self.open_orders.refresh(book)
        if self.var_model is not None and self.var_model.symbols:
            self._var_state()
            if self._var_gap or "_cov_base" in self.__dict__:  # orders in symbols without return history
                self._coverage_base()
        if self._adverse is not None and self._loss_positions and (self._loss is not None or self._loss_pct is not None):
            _worst._BASE.of(self.summary, live, self.open_orders.version)  # the daily-loss worst case's base (open exposure, working orders)

    def start_day(self, book: "Book", day: date) -> None:
        """Fix today's P&L baseline to the book's P&L now (call when the session starts the day)."""
        self.summary.refresh(book)
        self.day.start(day, self.summary.total_pnl)

    # -- helpers -----------------------------------------------------------------------------
    def capital_for(self, book: "Book") -> float:
        sc = book.starting_cash
        if sc is not self._cap_src:  # Decimal → float once per change
            self._cap_src, self._cap_val = sc, (float(sc) if sc else self.capital)
        cap = self._cap_val
        if self._equity_basis:
            cap += self.summary.total_pnl
        return cap if cap > 0 else 1.0

    def daily_loss_limit(self, capital: float) -> float | None:
        a, p = self._loss, self._loss_pct
        if p is not None:
            p = p * capital / 100.0
            return p if a is None else min(a, p)
        return a

    def drawdown_limit(self, capital: float) -> float | None:
        a, p = self._dd, self._dd_pct
        if p is not None:
            p = p * capital / 100.0
            return p if a is None else min(a, p)
        return a

    def var_limit(self, capital: float) -> float | None:
        a, p = self._var_limit, self._var_limit_pct
        if p is not None:
            p = p * capital / 100.0
            a = p if a is None else min(a, p)
        return None if a is None else a * self.scale

    def _mis_cutoff(self, exchange: Exchange, day: date):
        last = self._cut_last  # the last answer first: no tuple key to hash (an Enum hashes in Python)
        if last is not None and last[1] is exchange and last[0] == day:
            return last[2]
        k = (exchange, day)
        if k in self._cutoffs:
            r = self._cutoffs[k]
            self._cut_last = (day, exchange, r)
            return r
        cut = None
        try:
            from tradekit.market.calendar import get_calendar, market_of

            # one calendar per exchange family carries the F&O, currency and commodity timetables
            cal = self._calendar or get_calendar(
                Exchange.BSE if exchange in (Exchange.BSE, Exchange.BFO, Exchange.BCD) else Exchange.NSE)
            cut = cal.mis_cutoff(day, market_of(exchange))
        except Exception as e:  # a holiday, or no calendar: the check says so instead of guessing
            log.debug("no MIS cut-off for %s on %s: %s", exchange, day, e)
        r = self._cutoffs[k] = (cut, None if cut is None else (cut - self._mis_margin).timestamp())
        self._cut_last = (day, exchange, r)
        return r

    def _new_day(self, day: date, book: "Book") -> None:
        self._orders_day = day
        # a restart mid-day counts the orders that passed the gate today (the journal holds them)
        orders = book.orders
        if orders.__class__ is dict:
            # a plain dict only grows (the projection appends an order once and never replaces
            # it), so its orders are indexed by creation day as they appear: a new day looks at
            # that day's orders only, not at every order ever placed
            todays = self._orders_by_day(orders).get(day, ())
        else:
            todays = getattr(orders, "hot", orders).values()  # today's are in memory (tradekit.store.lazy)
        n = 0
        for o in todays:
            if o.created_at is not None and o.created_at.date() == day and o.status not in _NOT_SENT:
                n += 1
        self.orders_today = n

    def _orders_by_day(self, orders: dict) -> dict:
        """``orders``' orders by ``created_at.date()``, brought up to date with the orders appended
        since the last call (the index starts afresh for another dict or one that shrank)."""
        ix = self._by_day
        if ix is None or ix[0] is not orders or len(orders) < ix[1]:
            ix = self._by_day = [orders, 0, {}]
        n = len(orders)
        if n > ix[1]:
            it = reversed(orders.values())
            new = [next(it) for _ in range(n - ix[1])]
            by_day = ix[2]
            for o in reversed(new):
                c = o.created_at
                if c is not None:
                    d = c.date()
                    lst = by_day.get(d)
                    if lst is None:
                        by_day[d] = [o]
                    else:
                        lst.append(o)
            ix[1] = n
        return ix[2]

    # -- the check ---------------------------------------------------------------------------
    def _symbol(self, exchange: Exchange, sym: str, inst) -> tuple:
        """(key, sector, restricted, underlying, derivative, exchange) of a symbol, computed once."""
        k = (exchange, sym)
        info = self._info.get(k)
        if info is None:
            key = f"{exchange.value}:{sym}"
            und = underlying_of(sym, inst)
            sm = self.lists.sector_map
            sector = sm.get(sym) or sm.get(und)
            restricted = sym in self.lists.restricted or und in self.lists.restricted
            deriv = exchange in _DERIV_EXCHANGES or (inst is not None and inst.is_derivative)
            info = self._info[k] = (key, sector, restricted, und, deriv, exchange)
            if sector is not None:
                self._sector_cache[key] = sector
        self._info_sym[sym] = info  # the check's first look-up: by symbol, then the exchange by identity
        return info

    def check(self, order: "Order", ctx: RiskContext) -> RiskDecision:
        """Run every check on ``order``; never raises for a business outcome."""
        req = order.request
        book = ctx.book
        now = ctx.now
        summary = self.summary
        seq = book.last_seq
        bid = id(book)
        if seq != summary.seq or bid != summary.book_id or not seq:
            summary.refresh(book)
        oo = self.open_orders
        if seq == oo.seq and bid == oo.book_id and seq:
            open_orders = oo.live
        else:
            open_orders = oo.refresh(book)
        bs = book.trading_state
        if bs != self._book_state:  # a TRADING_STATE event reached the book (another writer, the session)
            self._book_state = bs
            if bs != self.state.value:
                self.restore_state(bs, "journal")
        day = now.date()
        if day != self._orders_day:
            self._new_day(day, book)
        # epoch seconds without datetime.timestamp() (a zoneinfo lookup, ~1 µs): the day's
        # midnight is converted once; IST has no DST, and any zone is re-based on a new day
        if now.tzinfo is self._t_tz and day == self._t_day:
            t = self._t_base + now.hour * 3600 + now.minute * 60 + now.second + now.microsecond * 1e-6
        else:
            t = now.timestamp()
            self._t_tz, self._t_day = now.tzinfo, day
            self._t_base = t - (now.hour * 3600 + now.minute * 60 + now.second + now.microsecond * 1e-6)
        day_pnl = self.day.observe(day, summary.fixed + summary.unreal)
        capital = self.capital_for(book)
        sym = req.tradingsymbol
        inst = ctx.instrument
        exchange = req.exchange
        info = self._info_sym.get(sym)
        if info is None or info[5] is not exchange:
            info = self._symbol(exchange, sym, inst)
        key = info[0]
        mult = inst.multiplier if inst is not None else 1
        q = req.quantity
        buy = req.side is _BUY
        signed = q if buy else -q
        cur = summary.qty.get(key, 0)
        extra = ctx.extra
        source = ctx.source

        # price to value the order at: its own limit/trigger, else the last price, else the mark
        ltp = ctx.last_price
        rp, rt = req.price, req.trigger_price
        if rp is not None:
            price = float(rp)
        elif rt is not None:
            price = float(rt)
        elif ltp is not None:
            price = float(ltp)
        else:
            price = summary.price.get(key)

        reduce = False
        if cur * signed < 0 or source in HALTED_SOURCES:
            reduce = self._reduces(order, req, book, cur, signed, open_orders, source)

        state = self.state
        # -- state
        if state is ACTIVE or (reduce and (state is REDUCING or source in HALTED_SOURCES)):
            out = [_OK_STATE]
        elif state is REDUCING:
            out = [_R(_CR, ("STATE", False, f"trading is REDUCING ({self._why()}): only orders that reduce a position",
                            None, None))]
        else:
            out = [_R(_CR, ("STATE", False, f"trading is HALTED ({self._why()}): only cancels and flatten/square-off "
                                            f"orders", None, None))]
        ap = out.append
        if ctx.reduce_only and not reduce:
            # the caller's view (e.g. per product) differs from the net position: check it as an entry
            ap(_R(_CR, ("REDUCE_ONLY", True, f"{sym}: marked reduce-only, but against the net position of {cur:+d} "
                        f"the order ({signed:+d}) would {'open' if cur == 0 else 'increase or flip'} it: checked as an "
                        f"entry", None, None)))

        # -- instrument rules (the instrument's constants worked out once: _inst_facts)
        needs_slicing = None
        option = False
        if inst is not None:
            f = self._inst.get(id(inst))
            if f is None or f[0] is not inst:
                f = self._inst_facts(inst)
            option = f[7]
            if self._tick:
                tk = f[2]  # the dump's tick size (> 0); when no dated tick rule applies, both prices on it is all
                if (tk is not None and "tick_rule" not in inst.meta and (rp is None or (rp > 0 and rp % tk == 0))
                        and (rt is None or (rt > 0 and rt % tk == 0))):
                    ap(_OK_TICK)
                else:
                    ap(_rules_module().tick(req, inst, day) or _OK_TICK)
            if self._lot:
                lot = f[6]  # a positive whole multiple of the lot passes market.rules.check_lot
                ap(_OK_LOT if f[3] or (lot is not None and q.__class__ is int and q > 0 and not q % lot) else
                   (_rules_module().lot(req, inst) or _OK_LOT))
            if self._band and extra and (rp is not None or rt is not None):
                band = extra.get("band")
                if band is not None:
                    ap(_rules_module().band(req, inst, band) or _OK["BAND"])
            if self._freeze_on:
                if f[4] != day:
                    f[4], f[5], f[8] = day, _rules_module().freeze_limit(inst, day), {}
                lim = f[5]
                if lim is None or q <= lim:
                    ap(_OK_FREEZE)
                else:  # the rule's answer depends on the quantity only (instrument and day fixed): once each
                    got = f[8].get(q)
                    if got is None:
                        if len(f[8]) > 1000:
                            f[8].clear()
                        got = f[8][q] = _rules_module().freeze(req, inst, day, deny=self._freeze_deny)
                    r, needs_slicing = got
                    ap(r or _OK_FREEZE)
        if self._mp and req.order_type in _MARKETLIKE:
            mp = req.market_protection
            if mp is None or not (mp == -1 or 0 < mp <= 100):
                ap(_R(_CR, ("MARKET_PROTECTION", False, f"{sym}: {req.order_type.value} order without market protection; "
                            f"Kite refuses these from the API (set orders.market_protection to -1 or 1-100)", None, None)))
            else:
                ap(_OK["MARKET_PROTECTION"])

        # -- product rules
        product = req.product
        if product is _CNC and not buy and self._cnc:
            self._cnc_holdings(order, req, extra, key, sym, q, open_orders, ap)
        elif product is _MIS and not reduce and self._mis:
            cut = extra.get("mis_cutoff") if extra else None
            if cut is None:
                cut, cut_t = self._mis_cutoff(exchange, day)
            else:
                cut_t = (cut - self._mis_margin).timestamp()
            if cut is None:
                ap(_R(_CR, ("MIS_CUTOFF", True, f"no MIS cut-off known for {exchange.value} on {day}", None, None)))
            elif t >= cut_t:
                ap(_R(_CR, ("MIS_CUTOFF", False, f"{sym}: new MIS entries are refused from {cut:%H:%M} (broker "
                                                 f"square-off); it is {now:%H:%M}", None, None)))
            else:
                ap(_OK_MIS)

        # -- compliance that applies to every order: the order rate (RateGovernor.wait_time, inline)
        gv = self.governor
        times = gv.times
        if times:
            cutoff = t - gv.window
            while times and times[0] <= cutoff:
                times.popleft()
        n_t = len(times)
        rate_wait = 0.0 if n_t < gv.limit else times[n_t - gv.limit] + gv.window - t
        if rate_wait <= 0.0:
            ap(_OK_RATE)
        elif reduce:
            ap(_R(_CR, ("RATE", True, f"order rate {self._ops:g}/s reached; a reducing order still passes", None, None)))
        else:
            ap(_R(_CR, ("RATE", False, f"order rate limit {self._ops:g}/s reached (SEBI retail-algo threshold "
                                       f"{SEBI_RETAIL_OPS:g}/s): retry in {rate_wait:.2f} s", self._ops, self._ops)))
        algo = (extra.get("algo_id") if extra else None) or self.algo_id
        if algo:
            ap(self._algo_ok if algo == self.algo_id else _R(_CR, ("ALGO_ID", True, f"tagged with algo ID {algo}", None, None)))
        elif self._require_algo and source in self._automated:
            ap(_R(_CR, ("ALGO_ID", reduce, "no exchange algo ID configured: SEBI requires one on API algo orders "
                                           "(set orders.algo_id or risk.compliance.algo_id)", None, None)))
        mode = ctx.approval_mode
        ap(_APPROVAL.get(mode) or _R(_CR, ("APPROVAL_MODE", True, mode, None, None)) if not reduce else
           _R(_CR, ("APPROVAL_MODE", True, f"{mode} (reduce-only: no approval needed)", None, None)))

        if reduce:
            ap(_R(_CR, ("REDUCE_ONLY", True, f"{sym}: reduces the net position of {cur:+d}: exposure, loss and "
                                             f"approval checks skipped", None, None)))
        else:
            self._entry_checks(order, req, ctx, option, info, sym, q, signed, cur, price, mult, capital, day_pnl,
                               open_orders, day, ap)

        allowed = all(map(_ok_of, out))
        retry = None
        if allowed:
            times.append(t)
            self.orders_today += 1
        elif rate_wait > 0.0:
            retry = rate_wait
            for c in out:
                if not c[1] and c[0] != "RATE":
                    retry = None
                    break
        # a frozen dataclass built field by field: its generated __init__ costs twice as much
        d = _new(RiskDecision)
        _set(d, "allowed", allowed)
        _set(d, "checks", tuple(out))
        _set(d, "reduce_only", reduce)
        _set(d, "needs_slicing", needs_slicing)
        _set(d, "retry_after", retry)
        _set(d, "state", "ACTIVE" if state is ACTIVE else _STATE_NAME[state])
        return d

    def _inst_facts(self, inst) -> list:
        """[instrument, multiplier, tick size (None unless > 0: ask the rules), lot check passed
        by every quantity, day of the freeze limit, the freeze limit, the lot size when positive and
        not an index, an option (the fat-finger limit for options), the freeze rule's answers that
        day by quantity] (instruments are frozen)."""
        tick = inst.tick_size if inst.tick_size > 0 else None
        lot = inst.lot_size if inst.lot_size > 0 and not inst.is_index else None
        f = [inst, inst.multiplier, tick, inst.lot_size == 1 and not inst.is_index, None, None, lot, inst.is_option, {}]
        if len(self._inst) > 10_000:
            self._inst.clear()
        self._inst[id(inst)] = f
        return f

    # -- check groups ------------------------------------------------------------------------
    def _reduces(self, order, req, book, cur, signed, open_orders, source) -> bool:
        pending = pending_own = 0
        if open_orders:
            ex, sym, side, strat, prod = req.exchange, req.tradingsymbol, req.side, order.strategy, req.product
            cid = order.client_order_id
            for o in self.open_orders.of_symbol(open_orders, sym):
                r = o.request
                if r.side is side and r.exchange is ex and o.client_order_id != cid:
                    left = o.pending_quantity
                    pending += left
                    if o.strategy == strat and r.product is prod:
                        pending_own += left
        q = abs(signed)
        if cur * signed < 0 and q + pending <= abs(cur):
            return True
        if source in HALTED_SOURCES:
            pos = book.positions.get(position_key(order.strategy, req.exchange, req.tradingsymbol, req.product))
            if pos is not None and pos.quantity * signed < 0 and q + pending_own <= abs(pos.quantity):
                return True
        return False

    def _cnc_holdings(self, order, req, extra, key, sym, q, open_orders, ap) -> None:
        held = extra.get("holdings") if extra else None
        if isinstance(held, dict):
            held = held.get(sym, held.get(key))
        if held is None:
            held = max(self.summary.cnc.get(key, 0), 0)
        reserved = 0
        cid = order.client_order_id
        for o in self.open_orders.of_symbol(open_orders, sym):
            r = o.request
            if r.product is _CNC and r.side is _SELL and r.exchange is req.exchange and o.client_order_id != cid:
                reserved += o.pending_quantity
        if q + reserved <= held:
            ap(_OK["CNC_HOLDINGS"])
        else:
            more = f" ({reserved:,} already in open sell orders)" if reserved else ""
            ap(_R(_CR, ("CNC_HOLDINGS", False,
                        f"{sym}: CNC sell of {q:,} but only {held:,} held{more}; delivery cannot be sold short",
                        float(q + reserved), float(held))))

    # -- reporting ---------------------------------------------------------------------------
    def usage(self, book: "Book", now: datetime | None = None) -> list[dict]:
        """Limits used vs allowed right now (for the risk report and the dashboard)."""
        s = self.summary
        s.refresh(book)
        cap = self.capital_for(book)
        day_pnl = self.day.last if now is None else self.day.observe(now.date(), s.total_pnl)
        rows = []

        def row(name, used, allowed, unit):
            if allowed is None:
                return
            rows.append({"limit": name, "used": used, "allowed": allowed, "unit": unit,
                         "used_pct": (100.0 * used / allowed) if allowed else None})

        sc = self.scale
        row("daily loss", max(-day_pnl, 0.0), self.daily_loss_limit(cap), "₹")
        row("drawdown from peak", self.day.drawdown, self.drawdown_limit(cap), "₹")
        row("gross exposure", s.gross * 100 / cap, None if self._gross is None else self._gross * sc, "% of capital")
        row("net exposure", abs(s.net) * 100 / cap, None if self._net is None else self._net * sc, "% of capital")
        if s.value and self._conc is not None:
            k, v = max(s.value.items(), key=lambda kv: abs(kv[1]))
            row(f"largest position ({k.partition(':')[2]})", abs(v) * 100 / cap, self._conc * sc, "% of capital")
        if s.sector and self._sector_pct is not None:
            k, v = max(s.sector.items(), key=lambda kv: kv[1])
            row(f"largest sector ({k})", v * 100 / cap, self._sector_pct * sc, "% of capital")
        row("orders today", float(self.orders_today), None if self._max_day is None else float(self._max_day), "orders")
        row("open orders", float(len(self.open_orders.refresh(book))), None if self._max_open is None else float(self._max_open), "orders")
        if self.var_model is not None:
            lim = self.var_limit(cap)
            if lim is not None:
                row("VaR (parametric)", self.var_model.var_of(s.value), lim, "₹")
        return rows
