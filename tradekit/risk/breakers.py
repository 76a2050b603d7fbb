"""Circuit breakers: watch P&L, prices, rejects, errors, the feed, reconciliation and the index.

Each observation returns a list of :class:`BreakerAction` (usually empty); the
:class:`~tradekit.risk.killswitch.KillSwitch` applies them (state, journal, cancel, flatten).
A breaker fires on the *edge*: once tripped it stays latched until its condition clears
(or an unlock re-arms it), so one bad minute gives one action, not hundreds.

Triggers (``risk.breakers``):

- ``daily_loss``: today's P&L at or below −(daily loss limit);
- ``drawdown``: today's P&L at least the drawdown limit below its intraday peak;
- ``volatility_spike``: in a *held* symbol, the fast/slow EWMA volatility ratio of its price
  changes above ``volatility_ratio`` (after ``volatility_min_ticks`` samples), or a move of
  ``volatility_move_pct`` within ``volatility_move_window_seconds``. The ratio samples one
  close-to-close change per ``volatility_sample_seconds`` (default a minute), never per tick:
  its half-lives mean the same minutes whether prices come from paper minute bars or from a
  live ticker sending several ticks a second (per-tick sampling made the breaker's meaning
  depend on the feed's tick rate and tripped it on ordinary intra-minute paths). Two samples
  more than ``volatility_break_seconds`` apart (default 30 min) straddle a break in trading:
  overnight, a weekend, a halt. The change across it is the opening gap, not intraday
  volatility, and is left out: counted as one minute's change, RELIANCE's ordinary +0.78 %
  open on 2016-09-08 (1,017.00 -> 1,024.90; its minutes then moved 0.03-0.24 %) put the
  fast/slow ratio at 3.5 and left a session holding it REDUCING for the day. A gap that
  matters is the loss it causes (``daily_loss``, ``drawdown``) or an index move (``mwcb``,
  ``index_move``); within the session, ``volatility_move_pct`` still watches large moves;
- ``reject_burst`` / ``broker_errors``: N broker rejects / errors within a window;
- ``stale_feed``: no market-data *packet* (a tick, a heartbeat, a paper bar, a quote poll) for
  ``stale_feed_seconds`` while the market is open (armed by the first packet), or a held
  instrument without an update while its segment is open (the market-data hub reports it).
  An unchanged price is not staleness: a packet that repeats the last price keeps the feed
  alive;
- ``reconciliation``: a broker mismatch unresolved for ``reconciliation_grace_seconds``;
- ``mwcb``: NIFTY or SENSEX 10 / 15 / 20 % from the previous close (SEBI's market-wide
  circuit breaker, india.md §2.4; the action carries the exchange halt's end);
- ``index_move``: the index ``index_move_pct`` from its previous close (early warning).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from tradekit.risk.base import TradingState
from tradekit.risk.config import BreakerSettings, RiskConfig
from tradekit.store.events import EventType as E

if TYPE_CHECKING:  # pragma: no cover
    from tradekit.risk.gate import PreTradeGate
    from tradekit.store.journal import Event
    from tradekit.store.projection import Book

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BreakerAction:
    """What a tripped breaker asks for."""

    trigger: str
    state: TradingState
    cancel: bool
    flatten: bool
    reason: str
    value: float | None = None
    limit: float | None = None
    symbol: str | None = None
    market_halt_until: datetime | None = None  # MWCB: when the exchanges resume (None: no halt / rest of day)

    def payload(self) -> dict:
        """The ``risk.limit_breach`` journal payload."""
        d = {"trigger": self.trigger, "state": self.state.value, "reason": self.reason,
             "cancel": self.cancel, "flatten": self.flatten}
        for k in ("value", "limit", "symbol"):
            v = getattr(self, k)
            if v is not None:
                d[k] = round(v, 2) if isinstance(v, float) else v
        if self.market_halt_until is not None:
            d["market_halt_until"] = self.market_halt_until.isoformat()
        return d


# SEBI CIR/MRD/DP/25/2013: (move %, [(time before which, halt minutes or None = rest of day)])
_MWCB = (
    (20.0, [(time(23, 59, 59), None)]),
    (15.0, [(time(13, 0), 105), (time(14, 0), 45), (time(23, 59, 59), None)]),
    (10.0, [(time(13, 0), 45), (time(14, 30), 15), (time(23, 59, 59), 0)]),
)


def mwcb_level(move_pct: float, at: datetime) -> tuple[float, int | None] | None:
    """The MWCB level hit by an index move (either direction) at ``at``: (level, halt minutes).

    Halt minutes: 0 = no halt at this hour, ``None`` = rest of the day. ``None`` if below 10 %.
    """
    m = abs(move_pct)
    t = at.time()
    for level, slots in _MWCB:
        if m >= level:
            for before, minutes in slots:
                if t < before:
                    return level, minutes
            return level, None
    return None


def push_window(lows: deque, highs: deque, t: float, price: float, cut: float) -> tuple[float, float]:
    """Add ``price`` at ``t`` to the monotonic queues of a window and drop what is older than ``cut``;
    return the window's (low, high)."""
    tp = (t, price)  # one tuple in both queues
    while lows and lows[-1][1] >= price:
        lows.pop()
    lows.append(tp)
    while highs and highs[-1][1] <= price:
        highs.pop()
    highs.append(tp)
    while lows[0][0] < cut:
        lows.popleft()
    while highs[0][0] < cut:
        highs.popleft()
    return lows[0][1], highs[0][1]


class _Vol:
    """Per-symbol EWMA volatility of log price changes (fast and slow) and the window's low and
    high, kept in monotonic queues so each tick costs O(1) however many ticks the window holds."""

    __slots__ = ("last", "last_t", "n", "fast", "slow", "lows", "highs")

    def __init__(self) -> None:
        self.last = 0.0  # the price at the last sample
        self.last_t = 0.0  # the time of the last sample
        self.n = 0
        self.fast = 0.0
        self.slow = 0.0
        self.lows: deque[tuple[float, float]] = deque()  # prices increasing: the front is the low
        self.highs: deque[tuple[float, float]] = deque()  # prices decreasing: the front is the high

    def push(self, t: float, price: float, cut: float) -> tuple[float, float]:
        return push_window(self.lows, self.highs, t, price, cut)

    def clear_window(self) -> None:
        self.lows.clear()
        self.highs.clear()


class CircuitBreakers:
    """Automatic triggers sharing the gate's view of the book and its limits.

    Parameters
    ----------
    gate
        The :class:`~tradekit.risk.gate.PreTradeGate`: its book summary, day P&L and limits.
    settings
        ``risk.breakers`` (default: the gate's config).
    """

    def __init__(self, gate: "PreTradeGate", settings: BreakerSettings | None = None) -> None:
        self.gate = gate
        self.cfg = settings or gate.config.breakers
        self.latched: set[str] = set()
        self._vol: dict[str, _Vol] = {}
        self._rejects: deque[float] = deque()
        self._errors: deque[float] = deque()
        self.last_tick: datetime | None = None
        self.mismatch_since: datetime | None = None
        self.mismatch_detail: str = ""
        c = self.cfg
        self._af = 0.5 ** (1.0 / c.volatility_fast_halflife)
        self._as = 0.5 ** (1.0 / c.volatility_slow_halflife)

    @classmethod
    def from_config(cls, gate: "PreTradeGate", config: RiskConfig) -> "CircuitBreakers":
        return cls(gate, config.breakers)

    # -- firing ------------------------------------------------------------------------------
    def _fire(self, latch: str, trigger: str, reason: str, value=None, limit=None, symbol=None,
              until=None) -> list[BreakerAction]:
        if not self.cfg.enabled or latch in self.latched:
            return []
        self.latched.add(latch)
        c = self.cfg
        action = BreakerAction(trigger, TradingState(c.actions[trigger]), c.cancel_open_orders, trigger in c.flatten_on,
                               reason, value, limit, symbol, until)
        log.warning("breaker %s: %s", trigger, reason)
        return [action]

    def _clear(self, latch: str) -> None:
        self.latched.discard(latch)

    def rearm(self) -> None:
        """Forget latches and windows (after a deliberate unlock); drawdown restarts from now."""
        self.latched.clear()
        self._rejects.clear()
        self._errors.clear()
        for v in self._vol.values():
            v.clear_window()
            v.fast = v.slow
        self.gate.day.rearm_peak()

    # -- P&L ---------------------------------------------------------------------------------
    def on_book(self, book: "Book", now: datetime, *, marked: bool = False) -> list[BreakerAction]:
        """Check daily loss and drawdown against the book's current marks. ``marked``: prices
        were set on the book's positions in memory (no journal event moved ``book.last_seq``),
        so the gate's summary, cached per journal sequence, must look at them again."""
        g = self.gate
        if marked:
            g.summary.seq = None
        g.summary.refresh(book)
        return self.check_pnl(book, now.date())

    def check_pnl(self, book: "Book", day) -> list[BreakerAction]:
        """:meth:`on_book` after the gate's summary was brought up to the book: today's P&L
        (observed for the peak) against the daily loss and drawdown limits."""
        g = self.gate
        pnl = g.day.observe(day, g.summary.total_pnl)
        cap = g.capital_for(book)
        out: list[BreakerAction] = []
        lim = g.daily_loss_limit(cap)
        if lim is not None:
            if -pnl >= lim:
                from tradekit.risk.gate import rs

                out += self._fire("daily_loss", "daily_loss", f"today's loss {rs(-pnl)} reached the limit {rs(lim)}",
                                  -pnl, lim)
            elif self.latched:
                self._clear("daily_loss")
        lim = g.drawdown_limit(cap)
        if lim is not None:
            dd = g.day.drawdown
            if dd >= lim:
                from tradekit.risk.gate import rs

                out += self._fire("drawdown", "drawdown",
                                  f"P&L fell {rs(dd)} from today's peak {rs(g.day.peak)}, limit {rs(lim)}", dd, lim)
            elif self.latched:
                self._clear("drawdown")
        return out

    # -- prices ------------------------------------------------------------------------------
    def on_packet(self, now: datetime) -> None:
        """A market-data packet arrived (whatever its prices): the feed is alive."""
        if self.last_tick is None or now > self.last_tick:
            self.last_tick = now
        self._clear("stale_feed")

    def on_instrument_stale(self, key: str, gap: float, limit: float, now: datetime) -> list[BreakerAction]:
        """A held instrument had no update for ``gap`` seconds while its segment was open."""
        return self._fire(f"stale_feed:{key}", "stale_feed",
                          f"no market data for {key} for {gap:.0f} s while its market is open (limit {limit:g} s)",
                          gap, limit, key.partition(":")[2] or key)

    def on_instrument_fresh(self, key: str) -> None:
        self._clear(f"stale_feed:{key}")

    def on_price(self, key: str, price: float, now: datetime, *, held: bool | None = None) -> list[BreakerAction]:
        """A tick or mark for ``key`` (``EXCHANGE:SYMBOL`` or a symbol). Counts as a packet for
        the stale-feed clock and feeds the volatility watch of held symbols."""
        self.on_packet(now)
        price = float(price)
        if price <= 0:
            return []
        return self.on_price_at(key, price, now.timestamp(), held)

    def on_price_at(self, key: str, price: float, t: float, held: bool | None = None) -> list[BreakerAction]:
        """:meth:`on_price` of a positive float ``price`` at ``t`` (``now.timestamp()``), the
        packet already counted (:meth:`on_packet`): a replay's quiet run of minutes calls this."""
        c = self.cfg
        cut = t - c.volatility_move_window_seconds
        v = self._vol.get(key)
        if v is None:
            v = self._vol[key] = _Vol()
            v.last, v.last_t = price, t
            v.push(t, price, cut)
            return []
        dt = t - v.last_t
        if dt >= c.volatility_sample_seconds:  # one close-to-close change per sample interval
            r = math.log(price / v.last)
            v.last, v.last_t = price, t
            if dt <= c.volatility_break_seconds:  # else a break in trading: a gap, not a minute's change
                r2 = r * r
                if v.n == 0:
                    v.fast = v.slow = r2
                else:
                    v.fast = self._af * v.fast + (1 - self._af) * r2
                    v.slow = self._as * v.slow + (1 - self._as) * r2
                v.n += 1
        lo, hi = v.push(t, price, cut)
        if held is None:
            held = self.gate.summary.qty.get(key, 0) != 0
        if not held:
            return []
        ratio = math.sqrt(v.fast / v.slow) if v.slow > 0 else 0.0
        if v.n >= c.volatility_min_ticks and ratio > c.volatility_ratio:
            latch = f"volatility_spike:{key}"
            if not c.enabled or latch in self.latched:  # _fire's own test, before the message is built
                return []
            sym = key.partition(":")[2] or key
            return self._fire(latch, "volatility_spike",
                              f"{sym}: volatility jumped to {ratio:.1f}× its recent level (limit {c.volatility_ratio:g}×)",
                              ratio, c.volatility_ratio, sym)
        if c.volatility_move_pct is not None:
            move = max(price / lo - 1.0, 1.0 - price / hi) * 100.0
            if move >= c.volatility_move_pct:
                latch = f"volatility_spike:{key}"
                if not c.enabled or latch in self.latched:
                    return []
                sym = key.partition(":")[2] or key
                mins = c.volatility_move_window_seconds / 60
                return self._fire(latch, "volatility_spike",
                                  f"{sym}: moved {move:.1f} % within {mins:g} min (limit {c.volatility_move_pct:g} %)",
                                  move, c.volatility_move_pct, sym)
        if ratio <= c.volatility_ratio and self.latched:
            self._clear(f"volatility_spike:{key}")
        return []

    def on_index(self, name: str, level: float, previous_close: float, now: datetime) -> list[BreakerAction]:
        """NIFTY/SENSEX level against its previous close: MWCB levels and the early warning."""
        move = (float(level) / float(previous_close) - 1.0) * 100.0
        out: list[BreakerAction] = []
        hit = mwcb_level(move, now)
        if hit is not None:
            lvl, minutes = hit
            if minutes is None:
                until, halt = datetime.combine(now.date(), time(23, 59), tzinfo=now.tzinfo), "trading halts for the rest of the day"
            elif minutes == 0:
                until, halt = None, "no market halt at this hour"
            else:
                until = now + timedelta(minutes=minutes)
                halt = f"trading halts {minutes} min, then a 15-min pre-open call auction"
            out += self._fire(f"mwcb:{lvl:g}", "mwcb",
                              f"{name} {move:+.1f} % from the previous close: market-wide circuit breaker {lvl:g} % level; {halt}",
                              move, lvl, name, until)
        c = self.cfg
        if c.index_move_pct is not None:
            if abs(move) >= c.index_move_pct:
                out += self._fire("index_move", "index_move",
                                  f"{name} {move:+.1f} % from the previous close (warning level {c.index_move_pct:g} %)",
                                  move, c.index_move_pct, name)
            else:
                self._clear("index_move")
        return out

    # -- broker and feed health --------------------------------------------------------------
    def _burst(self, q: deque, now: datetime, n: int, window: float, latch: str, trigger: str, what: str,
               detail: str) -> list[BreakerAction]:
        t = now.timestamp()
        q.append(t)
        while q and q[0] <= t - window:
            q.popleft()
        if len(q) >= n:
            last = f": last was {detail}" if detail else ""
            return self._fire(latch, trigger, f"{len(q)} {what} within {window:g} s (limit {n}){last}", float(len(q)), float(n))
        self._clear(latch)
        return []

    def on_reject(self, now: datetime, detail: str = "") -> list[BreakerAction]:
        c = self.cfg
        return self._burst(self._rejects, now, c.reject_burst, c.reject_window_seconds, "reject_burst", "reject_burst",
                           "broker rejects", detail)

    def on_broker_error(self, now: datetime, detail: str = "") -> list[BreakerAction]:
        c = self.cfg
        return self._burst(self._errors, now, c.broker_error_burst, c.broker_error_window_seconds, "broker_errors",
                           "broker_errors", "broker errors", detail)

    def on_reconciliation(self, now: datetime, ok: bool, detail: str = "") -> list[BreakerAction]:
        if ok:
            self.mismatch_since = None
            self._clear("reconciliation")
            return []
        if self.mismatch_since is None:
            self.mismatch_since = now
        self.mismatch_detail = detail
        return self._check_reconciliation(now)

    def _check_reconciliation(self, now: datetime) -> list[BreakerAction]:
        if self.mismatch_since is None:
            return []
        age = (now - self.mismatch_since).total_seconds()
        g = self.cfg.reconciliation_grace_seconds
        if age >= g:
            d = f": {self.mismatch_detail}" if self.mismatch_detail else ""
            return self._fire("reconciliation", "reconciliation",
                              f"broker reconciliation mismatch unresolved for {age:.0f} s (grace {g:g} s){d}", age, g)
        return []

    def poll(self, now: datetime, *, market_open: bool = True) -> list[BreakerAction]:
        """Time-driven checks: a stale feed and an unresolved mismatch. Call every second or so."""
        out = self._check_reconciliation(now)
        if market_open and self.last_tick is not None:
            gap = (now - self.last_tick).total_seconds()
            lim = self.cfg.stale_feed_seconds
            if gap >= lim:
                out += self._fire("stale_feed", "stale_feed", f"no market data packet for {gap:.0f} s (limit {lim:g} s)",
                                  gap, lim)
        return out

    # -- journal events ----------------------------------------------------------------------
    #: the event types :meth:`observe` reads (it returns [] for every other type, doing nothing)
    OBSERVED = frozenset({E.MARK, E.FILL, E.ORDER_UPDATE, E.BROKER_ERROR, E.RECONCILIATION})

    def observe(self, ev: "Event", book: "Book") -> list[BreakerAction]:
        """Feed one journal event (after it was applied to ``book``); only :attr:`OBSERVED` types matter."""
        t, p = ev.type, ev.payload
        if t == E.MARK:
            out: list[BreakerAction] = []
            if p.get("fed"):  # the hub's throttled marks: its ticks already reached on_price one by one
                return self.on_book(book, ev.time)
            for key, price in (p.get("prices") or {}).items():
                out += self.on_price(key, float(price), ev.time)
            return out + self.on_book(book, ev.time)
        if t == E.FILL:
            return self.on_book(book, ev.time)
        if t == E.ORDER_UPDATE and str(p.get("status", "")).upper() == "REJECTED":
            return self.on_reject(ev.time, f"{p.get('client_order_id', '')} {p.get('message') or ''}".strip())
        if t == E.BROKER_ERROR:
            return self.on_broker_error(ev.time, str(p.get("message") or p.get("error") or ""))
        if t == E.RECONCILIATION:
            ok = p.get("ok")
            if ok is None:
                ok = not (p.get("mismatches") or p.get("problems"))
            detail = p.get("summary") or p.get("message") or ""
            if not detail and p.get("mismatches"):
                detail = f"{len(p['mismatches'])} difference(s)"
            return self.on_reconciliation(ev.time, bool(ok), str(detail))
        return []
