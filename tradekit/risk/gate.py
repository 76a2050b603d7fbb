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

Speed: the book is summarised once (floats) and the summary is reused until a fill, a new
position, a cash/charges change or a new mark changes it (marks are spotted by identity of
each position's last price, so no event is missed). Decimals appear only in messages.
"""

from __future__ import annotations

from tradekit.model.money import fmt_inr
import logging
import re
from collections import deque
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import compress
from operator import attrgetter, is_not
from typing import TYPE_CHECKING

from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.order import TERMINAL, OrderStatus
from tradekit.model.position import position_key
from tradekit.risk.base import (
    HALTED_SOURCES,
    CheckResult,
    RiskContext,
    RiskDecision,
    TradingState,
)
from tradekit.risk.config import SEBI_RETAIL_OPS, RiskConfig, RiskLists, load_lists
from tradekit.risk import worstcase as _worst

if TYPE_CHECKING:  # pragma: no cover
    from tradekit.model.order import Order
    from tradekit.risk.var import VarModel
    from tradekit.store.projection import Book

log = logging.getLogger(__name__)

ACTIVE, REDUCING, HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
_BUY = Side.BUY
_MARKETLIKE = (OrderType.MARKET, OrderType.SLM)
_DERIV_EXCHANGES = frozenset({Exchange.NFO, Exchange.BFO, Exchange.MCX, Exchange.CDS, Exchange.BCD, Exchange.NCO})
_UNDERLYING_RE = re.compile(r"^([A-Z&\-]+?)(?=\d)")

_rules = None


def _rules_module():
    # tradekit.market is imported on first use so that importing the gate stays light
    global _rules
    if _rules is None:
        from tradekit.risk import _rules as r

        _rules = r
    return _rules


_EPS = 1e-9  # percent comparisons: 25.000000000000004 % is 25 %
_REL = 1 + 1e-12  # rupee comparisons, relative
_R = tuple.__new__  # builds a CheckResult without NamedTuple's argument handling (hot path)
_CR = CheckResult
_new, _set = object.__new__, object.__setattr__
_CNC, _MIS, _SELL = Product.CNC, Product.MIS, Side.SELL
_CREATED = OrderStatus.CREATED
_NOT_SENT = frozenset({OrderStatus.CREATED, OrderStatus.DENIED})
_STATE_NAME = {s: s.value for s in TradingState}
_APPROVAL = {m: CheckResult("APPROVAL_MODE", True, m) for m in ("auto", "manual")}
_NO_ACCOUNT = CheckResult("FUNDS", True, "no account: funds not checked")

_OK = {code: CheckResult(code, True) for code in (
    "STATE", "TICK", "LOT", "BAND", "FREEZE", "MARKET_PROTECTION", "CNC_HOLDINGS", "MIS_CUTOFF", "FUNDS",
    "FAT_FINGER", "RESTRICTED", "FNO_BAN", "RATE", "VAR",
)}
_OK_STATE = _OK["STATE"]


def rs(x: float | Decimal) -> str:
    """Rupees with Indian grouping: 1234567.8 -> '₹12,34,567.80' (no sign on a zero)."""
    s = fmt_inr(x)
    if s.startswith("-"):
        return f"-₹{s[1:]}" if s.strip("-0.,") else f"₹{s[1:]}"
    return f"₹{s}"


def _pct(x: float) -> str:
    return f"{x:.1f} %"


def _lim(x: float) -> str:
    return f"{x:g} %"


def underlying_of(tradingsymbol: str, instrument=None) -> str:
    """The underlying's symbol: the instrument's ``name``/``underlying`` or the symbol's letters
    before its expiry digits (``NIFTY26AUGFUT`` → ``NIFTY``)."""
    if instrument is not None:
        u = instrument.underlying or (instrument.name if instrument.is_derivative else "")
        if u:
            return u.upper()
    m = _UNDERLYING_RE.match(tradingsymbol)
    return m.group(1) if m else tradingsymbol


class DayPnL:
    """Today's P&L (realised + unrealised − charges) against the day's baseline, and its peak.

    Shared by the gate and the breakers. ``start`` fixes the baseline (the session calls it
    when the day starts); otherwise the first observation of a new day sets it.
    """

    __slots__ = ("day", "baseline", "peak", "last")

    def __init__(self) -> None:
        self.day: date | None = None
        self.baseline = 0.0
        self.peak = 0.0
        self.last = 0.0

    def start(self, day: date, total_pnl: float) -> None:
        self.day, self.baseline, self.peak, self.last = day, float(total_pnl), 0.0, 0.0

    def observe(self, day: date, total_pnl: float) -> float:
        if day != self.day:
            self.start(day, total_pnl)
        v = total_pnl - self.baseline
        self.last = v
        if v > self.peak:
            self.peak = v
        return v

    @property
    def drawdown(self) -> float:
        return self.peak - self.last

    def rearm_peak(self) -> None:
        """Start drawdown afresh from the current P&L (after a deliberate unlock)."""
        self.peak = self.last


_last_price = attrgetter("last_price")
_status = attrgetter("status")


class BookSummary:
    """The book in floats: net quantity and exposure per instrument, sectors, totals, P&L.

    Rebuilt fully when fills, positions, cash or charges change; patched per position when
    only marks moved (found by comparing every position's ``last_price`` object, which a
    mark replaces). ``key`` is ``EXCHANGE:SYMBOL``. ``deltas`` lists (key, Δ exposure) of
    patches since the consumer last cleared it (the VaR check uses it); ``full_version``
    changes on every full rebuild.
    """

    __slots__ = ("book_id", "seq", "fills", "npos", "cash", "charges", "positions", "lps", "rows", "qty",
                 "value", "price", "cnc", "sector", "gross", "net", "unreal", "fixed", "sector_of", "version",
                 "full_version", "deltas")

    def __init__(self, sector_of) -> None:
        self.book_id = None
        self.seq = -1
        self.sector_of = sector_of
        self.version = 0
        self.full_version = 0
        self.deltas: list[tuple[str, float]] = []
        self._clear()

    def _clear(self) -> None:
        self.fills = -1
        self.npos = -1
        self.cash = None
        self.charges = None
        self.positions: list = []
        self.lps: list = []
        self.rows: list[list] = []
        self.qty: dict[str, int] = {}
        self.value: dict[str, float] = {}
        self.price: dict[str, float] = {}
        self.cnc: dict[str, int] = {}
        self.sector: dict[str, float] = {}
        self.gross = 0.0
        self.net = 0.0
        self.unreal = 0.0
        self.fixed = 0.0

    @property
    def total_pnl(self) -> float:
        return self.fixed + self.unreal

    def refresh(self, book: "Book") -> None:
        if book.last_seq == self.seq and id(book) == self.book_id and book.last_seq:
            return
        positions = book.positions
        if (id(book) != self.book_id or book.fills != self.fills or len(positions) != self.npos
                or book.cash is not self.cash or book.charges_total is not self.charges):
            self._full(book)
        else:
            # one C-level pass; list equality compares identical objects without calling __eq__.
            # A quantity never changes alone: fills rebuild, and a split re-marks the price too.
            lps = list(map(_last_price, self.positions))
            if lps != self.lps:
                self._marks(lps)
        self.seq = book.last_seq

    def _full(self, book: "Book") -> None:
        self._clear()
        self.book_id = id(book)
        self.fills = book.fills
        self.npos = len(book.positions)
        self.cash = book.cash
        self.charges = book.charges_total
        fixed = -float(book.charges_total.total)
        qty, value, price, cnc = self.qty, self.value, self.price, self.cnc
        unreal = 0.0
        for pos in book.positions.values():
            fixed += float(pos.realized_pnl) + float(pos.dividends)
            q = pos.quantity
            k = f"{pos.exchange}:{pos.tradingsymbol}"
            lp = pos.last_price
            m = pos.multiplier
            ov = float(pos.open_value)
            if lp is not None:
                px = float(lp)
            else:
                px = ov / q if q else 0.0
            mv = px * q * m
            u = (px * q - ov) * m if q else 0.0
            self.positions.append(pos)
            self.lps.append(lp)
            self.rows.append([k, mv, u, m, q])
            qty[k] = qty.get(k, 0) + q
            value[k] = value.get(k, 0.0) + mv
            if lp is not None or k not in price:
                price[k] = px
            if pos.product is Product.CNC:
                cnc[k] = cnc.get(k, 0) + q
            unreal += u
        self.fixed = fixed
        self.unreal = unreal
        gross = net = 0.0
        sector: dict[str, float] = {}
        sector_of = self.sector_of
        for k, v in value.items():
            gross += abs(v)
            net += v
            s = sector_of(k)
            if s:
                sector[s] = sector.get(s, 0.0) + abs(v)
        self.gross, self.net, self.sector = gross, net, sector
        self.deltas.clear()
        self.version += 1
        self.full_version += 1

    def _marks(self, lps: list) -> None:
        old_lps, positions, rows = self.lps, self.positions, self.rows
        value, sector_of = self.value, self.sector_of
        for i in compress(range(len(lps)), map(is_not, lps, old_lps)):
            pos = positions[i]
            lp, q = lps[i], pos.quantity
            row = rows[i]
            k, m = row[0], row[3]
            ov = float(pos.open_value)
            px = float(lp) if lp is not None else (ov / q if q else 0.0)
            mv = px * q * m
            u = (px * q - ov) * m if q else 0.0
            before = value[k]
            after = before + mv - row[1]
            value[k] = after
            self.qty[k] += q - row[4]
            self.unreal += u - row[2]
            if lp is not None:
                self.price[k] = px
            d_abs = abs(after) - abs(before)
            self.gross += d_abs
            self.net += after - before
            s = sector_of(k)
            if s:
                self.sector[s] = self.sector.get(s, 0.0) + d_abs
            self.deltas.append((k, after - before))
            row[1], row[2], row[4] = mv, u, q
        self.lps = lps
        self.version += 1


class OpenOrders:
    """Orders of the book that passed the gate and are not final (``live``), tracked
    incrementally: new orders are appended to ``book.orders``; finished ones are pruned on
    each refresh. Orders still CREATED (not yet checked) are watched but not counted."""

    __slots__ = ("book_id", "seen", "open", "live", "seq", "statuses")

    def __init__(self) -> None:
        self.statuses: list = []
        self.book_id = None
        self.seen = 0
        self.seq = -1
        self.open: dict[str, "Order"] = {}
        self.live: dict[str, "Order"] = {}

    def refresh(self, book: "Book") -> dict[str, "Order"]:
        # statuses change only through events, so an unchanged last_seq means nothing moved
        if book.last_seq == self.seq and id(book) == self.book_id and book.last_seq:
            return self.live
        self.seq = book.last_seq
        orders = book.orders
        n = len(orders)
        if id(book) != self.book_id or n < self.seen:
            self.book_id, self.seen, self.open = id(book), 0, {}
        added = n > self.seen
        if added:
            if self.seen == 0:
                new = list(orders.values())
            else:
                it = reversed(orders.values())
                new = [next(it) for _ in range(n - self.seen)]
            for o in new:
                if o.status not in TERMINAL:
                    self.open[o.client_order_id] = o
            self.seen = n
        if self.open:
            statuses = list(map(_status, self.open.values()))
            if statuses != self.statuses or added:  # C-level compare: usually nothing moved
                self.open = {cid: o for cid, o in self.open.items() if o.status not in TERMINAL}
                self.live = {cid: o for cid, o in self.open.items() if o.status is not _CREATED}
                self.statuses = list(map(_status, self.open.values()))
        else:
            self.live = {}
        return self.live


class RateGovernor:
    """Orders per second over a sliding window, kept under the SEBI retail-algo threshold."""

    __slots__ = ("limit", "window", "times")

    def __init__(self, per_second: float, window: float = 1.0) -> None:
        self.limit = max(1, int(per_second * window))
        self.window = window
        self.times: deque[float] = deque()

    def _trim(self, t: float) -> None:
        times, cut = self.times, t - self.window
        while times and times[0] <= cut:
            times.popleft()

    def wait_time(self, now: datetime | float) -> float:
        """Seconds until one more order fits (0 when it fits now)."""
        t = now if isinstance(now, float) else now.timestamp()
        self._trim(t)
        if len(self.times) < self.limit:
            return 0.0
        return self.times[len(self.times) - self.limit] + self.window - t

    def record(self, now: datetime | float, n: int = 1) -> None:
        t = now if isinstance(now, float) else now.timestamp()
        self.times.extend([t] * n)


class PreTradeGate:
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
        self.summary = BookSummary(self._sector_of_key)
        self.open_orders = OpenOrders()
        c = self.config.compliance
        self.governor = RateGovernor(c.max_orders_per_second)
        self._orders_day: date | None = None
        self._t_tz = self._t_day = None
        self._cap_src, self._cap_val = None, self.capital
        self._t_base = 0.0
        self.orders_today = 0
        self._var_full = -1
        self._var_cache: list | None = None
        self._var_gap = False  # some exposure is in a symbol without return history (see _var_coverage)
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
        self._cnc, self._mis = cfg.product.cnc_sell_needs_holdings, cfg.product.mis_cutoff
        from tradekit.risk import greeks_limit  # NET_DELTA, NET_VEGA, PREMIUM_AT_RISK (None when unset)

        self._greeks = greeks_limit.build(cfg)
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
        self.open_orders.refresh(book)
        if self.var_model is not None and self.var_model.symbols:
            self._var_state()

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
        k = (exchange, day)
        if k in self._cutoffs:
            return self._cutoffs[k]
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
        return r

    def _new_day(self, day: date, book: "Book") -> None:
        self._orders_day = day
        # a restart mid-day counts the orders that passed the gate today (the journal holds them)
        n = 0
        for o in book.orders.values():
            if o.created_at is not None and o.created_at.date() == day and o.status not in _NOT_SENT:
                n += 1
        self.orders_today = n

    # -- the check ---------------------------------------------------------------------------
    def _symbol(self, exchange: Exchange, sym: str, inst) -> tuple:
        """(key, sector, restricted, underlying, derivative) of a symbol, computed once."""
        k = (exchange, sym)
        info = self._info.get(k)
        if info is None:
            key = f"{exchange.value}:{sym}"
            und = underlying_of(sym, inst)
            sm = self.lists.sector_map
            sector = sm.get(sym) or sm.get(und)
            restricted = sym in self.lists.restricted or und in self.lists.restricted
            deriv = exchange in _DERIV_EXCHANGES or (inst is not None and inst.is_derivative)
            info = self._info[k] = (key, sector, restricted, und, deriv)
            if sector is not None:
                self._sector_cache[key] = sector
        return info

    def check(self, order: "Order", ctx: RiskContext) -> RiskDecision:
        """Run every check on ``order``; never raises for a business outcome."""
        req = order.request
        book = ctx.book
        now = ctx.now
        summary = self.summary
        summary.refresh(book)
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
        day_pnl = self.day.observe(day, summary.total_pnl)
        capital = self.capital_for(book)
        sym = req.tradingsymbol
        inst = ctx.instrument
        info = self._symbol(req.exchange, sym, inst)
        key = info[0]
        mult = inst.multiplier if inst is not None else 1
        q = req.quantity
        buy = req.side is _BUY
        signed = q if buy else -q
        cur = summary.qty.get(key, 0)
        open_orders = self.open_orders.refresh(book)
        extra = ctx.extra
        source = ctx.source

        # price to value the order at: its own limit/trigger, else the last price, else the mark
        ltp = ctx.last_price
        if req.price is not None:
            price = float(req.price)
        elif req.trigger_price is not None:
            price = float(req.trigger_price)
        elif ltp is not None:
            price = float(ltp)
        else:
            price = summary.price.get(key)

        reduce = False
        if cur * signed < 0 or source in HALTED_SOURCES:
            reduce = self._reduces(order, req, book, cur, signed, open_orders, source)

        out: list[CheckResult] = []
        ap = out.append
        state = self.state
        # -- state
        if state is ACTIVE or (reduce and (state is REDUCING or source in HALTED_SOURCES)):
            ap(_OK_STATE)
        elif state is REDUCING:
            ap(_R(_CR, ("STATE", False, f"trading is REDUCING ({self._why()}): only orders that reduce a position",
                        None, None)))
        else:
            ap(_R(_CR, ("STATE", False, f"trading is HALTED ({self._why()}): only cancels and flatten/square-off "
                                        f"orders", None, None)))
        if ctx.reduce_only and not reduce:
            # the caller's view (e.g. per product) differs from the net position: check it as an entry
            ap(_R(_CR, ("REDUCE_ONLY", True, f"{sym}: marked reduce-only, but against the net position of {cur:+d} "
                        f"the order ({signed:+d}) would {'open' if cur == 0 else 'increase or flip'} it: checked as an "
                        f"entry", None, None)))

        # -- instrument rules
        needs_slicing = None
        if inst is not None:
            needs_slicing = self._instrument(req, inst, extra, day, ap)
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
                cut, cut_t = self._mis_cutoff(req.exchange, day)
            else:
                cut_t = (cut - self._mis_margin).timestamp()
            if cut is None:
                ap(_R(_CR, ("MIS_CUTOFF", True, f"no MIS cut-off known for {req.exchange.value} on {day}", None, None)))
            elif t >= cut_t:
                ap(_R(_CR, ("MIS_CUTOFF", False, f"{sym}: new MIS entries are refused from {cut:%H:%M} (broker "
                                                 f"square-off); it is {now:%H:%M}", None, None)))
            else:
                ap(_OK["MIS_CUTOFF"])

        # -- compliance that applies to every order
        rate_wait = self.governor.wait_time(t)
        if rate_wait <= 0.0:
            ap(_OK["RATE"])
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
            self._entry_checks(order, req, ctx, inst, info, sym, q, signed, cur, price, mult, capital, day_pnl,
                               open_orders, day, ap)
            if self._greeks is not None and inst is not None and inst.is_derivative:
                self._greeks.check(order, req, ctx, inst, signed, price, ap)

        allowed = True
        for c in out:
            if not c[1]:
                allowed = False
                break
        retry = None
        if allowed:
            self.governor.times.append(t)
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
        _set(d, "state", _STATE_NAME[state])
        return d

    # -- check groups ------------------------------------------------------------------------
    def _reduces(self, order, req, book, cur, signed, open_orders, source) -> bool:
        pending = pending_own = 0
        if open_orders:
            ex, sym, side, strat, prod = req.exchange, req.tradingsymbol, req.side, order.strategy, req.product
            cid = order.client_order_id
            for o in open_orders.values():
                r = o.request
                if r.tradingsymbol == sym and r.side is side and r.exchange is ex and o.client_order_id != cid:
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

    def _instrument(self, req, inst, extra, day, ap) -> int | None:
        rules = _rules_module()
        needs = None
        if self._tick:
            ap(rules.tick(req, inst, day) or _OK["TICK"])
        if self._lot:
            ap(rules.lot(req, inst) or _OK["LOT"])
        if self._band and extra and (req.price is not None or req.trigger_price is not None):
            band = extra.get("band")
            if band is not None:
                ap(rules.band(req, inst, band) or _OK["BAND"])
        if self._freeze != "off":
            r, needs = rules.freeze(req, inst, day, deny=self._freeze == "deny")
            ap(r or _OK["FREEZE"])
        return needs

    def _cnc_holdings(self, order, req, extra, key, sym, q, open_orders, ap) -> None:
        held = extra.get("holdings") if extra else None
        if isinstance(held, dict):
            held = held.get(sym, held.get(key))
        if held is None:
            held = max(self.summary.cnc.get(key, 0), 0)
        reserved = 0
        cid = order.client_order_id
        for o in open_orders.values():
            r = o.request
            if (r.tradingsymbol == sym and r.product is _CNC and r.side is _SELL and r.exchange is req.exchange
                    and o.client_order_id != cid):
                reserved += o.pending_quantity
        if q + reserved <= held:
            ap(_OK["CNC_HOLDINGS"])
        else:
            more = f" ({reserved:,} already in open sell orders)" if reserved else ""
            ap(_R(_CR, ("CNC_HOLDINGS", False,
                        f"{sym}: CNC sell of {q:,} but only {held:,} held{more}; delivery cannot be sold short",
                        float(q + reserved), float(held))))

    def _entry_checks(self, order, req, ctx, inst, info, sym, q, signed, cur, price, mult, capital, day_pnl,
                      open_orders, day, ap) -> None:
        scale = self.scale
        s = self.summary
        key, sector, restricted, und, deriv = info
        # -- compliance lists
        if restricted:
            ap(_R(_CR, ("RESTRICTED", False, f"{sym} is on the restricted list: no new positions", None, None)))
        elif self.lists.restricted:
            ap(_OK["RESTRICTED"])
        if deriv and self.lists.fno_ban:
            banned = self.lists.fno_ban.get(day)
            if banned and und in banned:
                ap(_R(_CR, ("FNO_BAN", False, f"{und} is in the F&O ban on {day}: only position-reducing trades",
                            None, None)))
            else:
                ap(_OK["FNO_BAN"])

        # -- money
        if price is None:
            why = ctx.extra.get("no_price_reason") or "no price to value the order (no limit price and no last price)"
            ap(_R(_CR, ("NO_PRICE", False, f"{sym}: {why}", None, None)))
            return
        if self._funds:
            acct = ctx.account
            if acct is None:
                ap(_NO_ACCOUNT)
            else:
                px = req.price or req.trigger_price or ctx.last_price or Decimal(repr(price))
                need = float(acct.required_margin(req, px))
                avail = float(acct.available())
                ap(_R(_CR, ("FUNDS", need <= avail, "" if need <= avail else
                            f"{sym}: needs margin {rs(need)}, available {rs(avail)}", need, avail)))
        value = q * price * mult
        lim = self._max_order_value
        if self._max_order_value_pct is not None:
            p = self._max_order_value_pct * capital / 100.0
            lim = p if lim is None or p < lim else lim
        if lim is not None:
            lim *= scale
            ap(_R(_CR, ("ORDER_VALUE", True, "", value, lim)) if value <= lim * _REL else
               _R(_CR, ("ORDER_VALUE", False, f"{sym}: order value {rs(value)} is above the limit {rs(lim)}", value, lim)))
        mq = self._max_order_qty
        if mq is not None:
            ap(_R(_CR, ("ORDER_QTY", True, "", float(q), float(mq))) if q <= mq else
               _R(_CR, ("ORDER_QTY", False, f"{sym}: quantity {q:,} is above the limit {mq:,}", float(q), float(mq))))
        ff = self._ff_opt if (inst is not None and inst.is_option) else self._ff
        ltp = ctx.last_price
        if ff is not None and ltp is not None and req.order_type is not OrderType.MARKET:
            ltp = float(ltp)
            p = float(req.price if req.price is not None else req.trigger_price)
            if ltp > 0:
                dev = (p / ltp - 1.0) * 100.0
                if -ff - _EPS <= dev <= ff + _EPS:
                    ap(_OK["FAT_FINGER"])
                else:
                    what = "limit price" if req.price is not None else "trigger price"
                    ap(_R(_CR, ("FAT_FINGER", False,
                                f"{sym}: {what} {p:,.2f} is {abs(dev):.1f} % {'above' if dev > 0 else 'below'} "
                                f"the last price {ltp:,.2f}, limit {_lim(ff)}", abs(dev), ff)))

        # -- exposure (a check passes if the order does not make an over-limit figure worse)
        cur_val = s.value.get(key, 0.0)
        new_qty = cur + signed
        new_val = new_qty * price * mult
        a_new = new_val if new_val >= 0 else -new_val
        a_cur = cur_val if cur_val >= 0 else -cur_val
        lim = self._max_pos_value
        if lim is not None:
            lim *= scale
            ok = a_new <= lim * _REL or a_new <= a_cur
            ap(_R(_CR, ("POSITION_VALUE", ok, "" if ok else f"{sym}: position would be {rs(a_new)}, limit {rs(lim)}",
                        a_new, lim)))
        lim = self._max_pos_qty
        if lim is not None:
            lim *= scale
            aq = float(abs(new_qty))
            ok = aq <= lim or aq <= abs(cur)
            ap(_R(_CR, ("POSITION_QTY", ok, "" if ok else f"{sym}: position would be {aq:,.0f} units, limit {lim:,.0f}",
                        aq, lim)))
        to_pct = 100.0 / capital
        lim = self._conc
        if lim is not None:
            lim *= scale
            pct = a_new * to_pct
            ok = pct <= lim + _EPS or a_new <= a_cur
            ap(_R(_CR, ("CONCENTRATION", ok, "" if ok else
                        f"{sym}: position would be {_pct(pct)} of capital, limit {_lim(lim)}", pct, lim)))
        lim = self._sector_pct
        if lim is not None and sector is not None:
            lim *= scale
            old = s.sector.get(sector, 0.0)
            new = old - a_cur + a_new
            pct = new * to_pct
            ok = pct <= lim + _EPS or new <= old
            ap(_R(_CR, ("SECTOR", ok, "" if ok else
                        f"{sym}: {sector} sector exposure would be {_pct(pct)} of capital, limit {_lim(lim)}", pct, lim)))
        lim = self._gross
        if lim is not None:
            lim *= scale
            new = s.gross - a_cur + a_new
            pct = new * to_pct
            ok = pct <= lim + _EPS or new <= s.gross + _EPS
            ap(_R(_CR, ("GROSS", ok, "" if ok else f"gross exposure would be {_pct(pct)} of capital, limit {_lim(lim)}",
                        pct, lim)))
        lim = self._net
        if lim is not None:
            lim *= scale
            new = abs(s.net - cur_val + new_val)
            pct = new * to_pct
            ok = pct <= lim + _EPS or new <= abs(s.net) + _EPS
            ap(_R(_CR, ("NET", ok, "" if ok else f"net exposure would be {_pct(pct)} of capital, limit {_lim(lim)}",
                        pct, lim)))
        mo = self._max_open
        if mo is not None:
            n = len(open_orders)
            ap(_R(_CR, ("OPEN_ORDERS", True, "", float(n + 1), float(mo))) if n < mo else
               _R(_CR, ("OPEN_ORDERS", False, f"{n} orders are open, limit {mo}", float(n + 1), float(mo))))
        md = self._max_day
        if md is not None:
            n = self.orders_today
            ap(_R(_CR, ("ORDERS_DAY", True, "", float(n + 1), float(md))) if n < md else
               _R(_CR, ("ORDERS_DAY", False, f"{n:,} orders today, limit {md:,}", float(n + 1), float(md))))

        # -- loss
        lim = self.daily_loss_limit(capital)
        if lim is not None:
            loss = 0.0 - day_pnl
            if loss >= lim:
                ap(_R(_CR, ("DAILY_LOSS", False, f"today's loss {rs(loss)} has reached the limit {rs(lim)}: only orders "
                                                 f"that reduce a position", loss, lim)))
            elif self._adverse is None:
                ap(_R(_CR, ("DAILY_LOSS", True, "", loss, lim)))
            else:
                ap(self._loss_worst_case(order, ctx, key, sym, q, signed, price, mult, open_orders, loss, lim))
        lim = self.drawdown_limit(capital)
        if lim is not None:
            dd = self.day.peak - self.day.last
            ap(_R(_CR, ("DRAWDOWN", True, "", dd, lim)) if dd < lim else
               _R(_CR, ("DRAWDOWN", False, f"P&L is {rs(dd)} below today's peak, limit {rs(lim)}: only orders that "
                                           f"reduce a position", dd, lim)))

        # -- portfolio VaR
        if self.var_model is not None:
            lim = self.var_limit(capital)
            if lim is not None:
                ap(self._var_check(sym, new_val - cur_val, lim, abs(new_val) < abs(cur_val)))

    def note_signal_stop(self, signal_id: str, stop) -> None:
        """Remember a signal's protective stop (``sizing.stop``) for the daily-loss worst case."""
        if stop is None or not signal_id:
            return
        if len(self.signal_stops) >= 10_000:
            self.signal_stops.pop(next(iter(self.signal_stops)))
        self.signal_stops[signal_id] = stop

    def _loss_worst_case(self, order, ctx, key, sym, q, signed, price, mult, open_orders, loss, lim) -> CheckResult:
        """DAILY_LOSS with the order's worst case and the open exposure (see ``tradekit.risk.worstcase``)."""
        var_pct = None
        vm = self.var_model
        if vm is not None:
            i = vm.index.get(sym)
            if i is not None and vm.cov[i][i] > 0:
                var_pct = vm.scale * vm.cov[i][i] ** 0.5 * 100.0
        stop = _worst.stop_of(order, ctx, self.signal_stops)
        # the book values the filled quantity at its mark for the symbol (else the first mark: the last price)
        mark = self.summary.price.get(key)
        if mark is None and ctx.last_price is not None:
            mark = float(ctx.last_price)
        ok, total, parts = _worst.headroom(
            loss_so_far=loss, limit=lim, summary=self.summary, open_orders=open_orders, key=key,
            signed_value=signed * price * mult, q=q, price=price, mult=mult, stop=stop,
            adverse_pct=self._adverse, include_positions=self._loss_positions, var_pct=var_pct, mark=mark)
        if ok:
            return _R(_CR, ("DAILY_LOSS", True, "", total, lim))
        return _R(_CR, ("DAILY_LOSS", False,
                        f"{sym}: today's loss {rs(loss)} + open exposure {rs(parts['open'])} at a {self._adverse:g} % "
                        f"adverse move + this order's worst case {rs(parts['order'])} ({parts['how']}) = {rs(total)} "
                        f"would pass the daily loss limit {rs(lim)}", total, lim))

    def _var_state(self) -> tuple[float, "object"]:
        """(wᵀΣw, Σw) for the current book, patched from the summary's deltas."""
        vm, s = self.var_model, self.summary
        # many deltas (a batched mark of the whole book): one matrix-vector product is cheaper
        if self._var_full != s.full_version or self._var_cache is None or len(s.deltas) > 8:
            self._var_cache = list(vm.prepare(s.value, as_array=True))
            self._var_full = s.full_version
            s.deltas.clear()
            self._var_gap = any(v and (k.partition(":")[2] or k) not in vm.index for k, v in s.value.items())
        elif s.deltas:
            c = self._var_cache
            idx, cov, cols = vm.index, vm.cov, vm.cols
            for k, d in s.deltas:
                i = idx.get(k.partition(":")[2])
                if i is None:
                    self._var_gap = True
                    continue
                c[0] += 2.0 * d * float(c[1][i]) + d * d * cov[i][i]
                c[1] += d * cols[i]
            s.deltas.clear()
        return self._var_cache[0], self._var_cache[1]

    def _var_coverage(self, sym: str, delta: float) -> tuple[float, list[str]]:
        """(% of the gross exposure after the order with return history, the uncovered symbols)."""
        vm, s = self.var_model, self.summary
        gross = unc = 0.0
        names = []
        for k, v in s.value.items():
            ks = k.partition(":")[2] or k
            if ks == sym:
                v = v + delta
            gross += abs(v)
            if ks not in vm.index and v:
                unc += abs(v)
                names.append(ks)
        if sym not in vm.index and not any(n == sym for n in names) and delta:
            gross += abs(delta)
            unc += abs(delta)
            names.append(sym)
        return (100.0 * (gross - unc) / gross if gross else 100.0), names

    def _var_check(self, sym: str, delta: float, lim: float, reduces: bool = False) -> CheckResult:
        vm = self.var_model
        i = vm.index.get(sym)
        v = self.config.var
        wsw, sw = self._var_state()  # also notes whether some exposure has no history (_var_gap)
        note = ""
        if i is None or self._var_gap:
            pct, names = self._var_coverage(sym, delta)
            if pct + 1e-9 < v.min_coverage_pct:
                note = (f"VaR covers {pct:.0f} % of the exposure (risk.var.min_coverage_pct {v.min_coverage_pct:g}): no daily "
                        f"return history for {', '.join(sorted(set(names))[:5])} (tradekit data import|fetch --timeframe 1d)")
                if v.short_coverage == "refuse" and not reduces:
                    return _R(_CR, ("VAR", False, note, None, lim))
        if i is None:
            return _R(_CR, ("VAR", True, note or f"{sym}: no return history, VaR not checked", None, lim if note else None))
        var2 = wsw + 2.0 * delta * float(sw[i]) + delta * delta * vm.cov[i][i]
        var_new = vm.scale * (var2 ** 0.5 if var2 > 0 else 0.0)
        if var_new <= lim:
            return _R(_CR, ("VAR", True, note, var_new, lim))
        var_old = vm.scale * (wsw ** 0.5 if wsw > 0 else 0.0)
        if var_new <= var_old:
            return _R(_CR, ("VAR", True, note, var_new, lim))
        return _R(_CR, ("VAR", False, f"portfolio VaR ({vm.confidence * 100:g} %, {vm.horizon_days} d) would be "
                                      f"{rs(var_new)}, limit {rs(lim)}" + (f"; {note}" if note else ""), var_new, lim))

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
