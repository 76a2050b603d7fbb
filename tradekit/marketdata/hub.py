"""The market-data hub: one path for live, paper-on-live and replay prices.

Every packet from any source (the Kite ticker, quote polling in failover, paper bars, a
replay) goes through :meth:`MarketDataHub.on_ticks`: quality checks first
(:mod:`tradekit.marketdata.quality`), then the latest quote per instrument, the listeners (the
paper broker fills on the same prices), the tick store, and the risk manager (ticks, index
levels for the market-wide breaker, book marks for the mark-to-market loss and drawdown
breakers). Marks are journaled per instrument on a price change and at most every
``mark_interval_seconds``, so a rebuild or a dashboard sees the unrealised P&L the session saw.

Staleness is judged by packets, never by an unchanged price: a packet repeating the last price
keeps the feed alive. Time-driven work (ticker silence -> quote polling and back, stale
instruments, quarantine expiry, due marks) happens in :meth:`MarketDataHub.poll`.

Threads: a live ticker calls :meth:`on_ticks` from its reader thread; the hub keeps its quotes
under its own lock and touches the book, the risk manager and the journal under the session's
lock (``lock``: the OMS's), the same lock the broker's order updates take.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from tradekit.clock import Clock, RealClock
from tradekit.data.types import DepthLevel, Tick
from tradekit.marketdata.config import MarketDataConfig
from tradekit.marketdata.quality import Finding, KeyState, QualityChecker
from tradekit.marketdata.quiet import quiet_bars
from tradekit.store.events import EventType as E

log = logging.getLogger(__name__)

_BAR_CLOSE = timedelta(minutes=1) - timedelta(microseconds=1)  # a 1-minute candle's close, after its label
RECORDED = frozenset({"paper", "replay"})  # recorded data: cleaned upstream (tradekit.data.quality), not re-checked


@dataclass(frozen=True, slots=True)
class Quote:
    """The latest accepted state of one instrument."""

    key: str
    last_price: Decimal
    bid: Decimal | None
    ask: Decimal | None
    bids: tuple[DepthLevel, ...]
    asks: tuple[DepthLevel, ...]
    exchange_time: datetime | None
    received: datetime
    source: str
    volume: int | None
    previous_close: float | None
    tick: Tick

    @property
    def ltp(self) -> Decimal:
        return self.last_price


def _dec(x: float) -> Decimal:
    return Decimal(float.__repr__(float(x)))


class MarketDataHub:
    """See the module docstring.

    Parameters
    ----------
    config
        The ``market_data`` section.
    clock
        The session's clock (marks, breaker times, staleness of exchange timestamps).
    emit
        ``fn(type, payload)``: the session's journal-and-apply (marks, findings, failover notes).
    risk
        The :class:`~tradekit.risk.manager.RiskManager` (optional).
    book
        The session's :class:`~tradekit.store.projection.Book`: held instruments, in-memory marks.
    tick_store
        Any object with ``append(ticks)``.
    calendar
        A market calendar with ``is_open(ts)`` (per-instrument staleness only while open).
    lock
        The session's lock (see the module docstring).
    monotonic
        Wall seconds for socket silence and polling intervals (a test passes a fake).
    prices
        A dict the hub keeps at the latest accepted price per key (the OMS's last prices: a
        broker without market data of its own, e.g. paper before its first bar, still prices
        orders from the hub).
    """

    def __init__(self, config: MarketDataConfig | None = None, *, clock: Clock | None = None,
                 emit: Callable[[str, dict], object] | None = None, risk=None, book=None, tick_store=None,
                 calendar=None, lock=None, monotonic: Callable[[], float] = _time.monotonic,
                 prices: dict | None = None) -> None:
        self.cfg = config or MarketDataConfig()
        self.clock = clock or RealClock()
        self.emit = emit
        self.risk = risk
        self.book = book
        self.tick_store = tick_store
        self.calendar = calendar
        self.session_lock = lock if lock is not None else threading.RLock()
        self._backlog: list[tuple[list[Tick], datetime, list[Finding], bool]] = []  # waiting for the session lock
        self.monotonic = monotonic
        self.prices = prices
        self.indices = dict(self.cfg.indices)
        self.checker = QualityChecker(self.cfg.quality, is_index=lambda k: k in self.indices)
        self.listeners: list[Callable[[Tick], None]] = []
        self.quotes: dict[str, tuple[Tick, datetime, str]] = {}  # key -> (accepted tick, received, source)
        self.state: dict[str, KeyState] = {}
        self.wanted: dict[str, set[str]] = {}
        self.findings: list[Finding] = []
        self.counts = {"ticks": 0, "accepted": 0, "quarantined": 0, "dropped": 0, "confirmed": 0, "marks": 0,
                       "packets": 0, "polls": 0}
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._by_token: dict[int, str] = {tok: k for k, tok in self.indices.items()}
        self._marked: dict[str, tuple[float, float]] = {}  # key -> (price, clock seconds) of the last journaled mark
        self._dirty: dict[str, float] = {}  # key -> price not journaled yet
        self._flushed_at: float | None = None  # clock seconds of the last mark event
        # the live source (set by attach_source)
        self.source = None
        self.source_name: str | None = None
        self.live = False
        self.last_packet: datetime | None = None  # session clock, any source
        self.last_source_packet: float | None = None  # monotonic, the primary source (ticker)
        self.source_up = False
        self.down_since: datetime | None = None
        self.down_why = ""
        self.failover = False
        self.failover_since: datetime | None = None
        self._last_poll_mono = 0.0
        self._poll_offset = 0
        self.poller: Callable[[list[str]], list[Tick]] | None = None
        self.backfiller: Callable[[str, datetime, datetime], object] | None = None
        self.gaps: list[dict] = []
        self._backfills: list[threading.Thread] = []  # running back-fills, joined by close_backfills()
        self._stale_keys: set[str] = set()
        self._pos_keys: dict[int, tuple] = {}  # id(position) -> (position, exchange, symbol, instrument key)
        self._quiet_fns: tuple[list, list] | None = None  # (the listeners, their quiet_for): see _quiet_fors

    # -- wiring ----------------------------------------------------------------------------------
    def add_listener(self, fn: Callable[[Tick], None]) -> None:
        """``fn(tick)`` for every accepted tick (the paper broker fills on these)."""
        self.listeners.append(fn)

    def attach_source(self, source, name: str = "kite", *, poller=None, backfiller=None) -> None:
        """A live source with ``subscribe(keys, mode)`` / ``unsubscribe(keys)``; ``poller(keys) ->
        ticks`` for failover, ``backfiller(key, start, end) -> bars`` for the gap after it."""
        self.source, self.source_name, self.live = source, name, True
        self.poller, self.backfiller = poller, backfiller
        self.last_source_packet = self.monotonic()  # silence is counted from the start
        with self._lock:
            keys = list(self.wanted)
        if keys:
            source.subscribe(keys, self.cfg.mode)

    def set_band(self, key: str, lower: float, upper: float) -> None:
        """The day's circuit limits of ``key`` (a Kite quote's, or the exchange's file)."""
        key = self._norm(key)
        with self._lock:
            st = self.state.get(key)
            if st is None:
                st = self.state[key] = KeyState()
            st.band = (float(lower), float(upper))

    def token_key(self, token: int, key: str) -> None:
        self._by_token[int(token)] = key

    # -- subscriptions ---------------------------------------------------------------------------
    @staticmethod
    def _norm(key: str) -> str:
        ex, _, sym = str(key).strip().partition(":")
        return f"{ex.upper()}:{sym.upper()}" if sym else str(key).strip().upper()

    def want(self, keys: Iterable[str], reason: str) -> list[str]:
        """Subscribe ``keys`` for ``reason`` (``position``, ``order``, ``signal``, ``watchlist``,
        ``index``...). Returns the keys that were not subscribed before."""
        new = []
        with self._lock:
            for k in keys:
                k = self._norm(k)
                reasons = self.wanted.setdefault(k, set())
                if not reasons:
                    new.append(k)
                reasons.add(reason)
        if new and self.source is not None:
            try:
                self.source.subscribe(new, self.cfg.mode)
            except Exception as e:  # an unknown instrument must not stop the others
                log.warning("subscribing %s failed: %s", new, e)
                self._note({"kind": "market_data", "event": "subscribe_failed", "keys": new, "why": str(e)})
        return new

    def unwant(self, keys: Iterable[str], reason: str) -> list[str]:
        """Drop ``reason`` for ``keys``; unsubscribe those no reason holds any more."""
        gone = []
        with self._lock:
            for k in keys:
                k = self._norm(k)
                reasons = self.wanted.get(k)
                if reasons is None:
                    continue
                reasons.discard(reason)
                if not reasons:
                    del self.wanted[k]
                    gone.append(k)
        if gone and self.source is not None:
            try:
                self.source.unsubscribe(gone)
            except Exception as e:
                log.warning("unsubscribing %s failed: %s", gone, e)
        return gone

    @property
    def subscribed(self) -> list[str]:
        with self._lock:
            return sorted(self.wanted)

    def want_defaults(self) -> None:
        """The configured watchlist and indices."""
        if self.cfg.watchlist:
            self.want(self.cfg.watchlist, "watchlist")
        if self.indices:
            self.want(self.indices, "index")

    def follow_book(self, book=None) -> None:
        """Subscriptions follow the book: positions, open orders and pending proposals."""
        book = book if book is not None else self.book
        if book is None:
            return
        held = {p.instrument_key for p in list(book.positions.values()) if p.quantity}
        orders = {o.request.key for o in list(book.open.values())}
        for reason, keys in (("position", held), ("order", orders)):
            with self._lock:
                before = {k for k, r in self.wanted.items() if reason in r}
            if keys - before:
                self.want(keys - before, reason)
            if before - keys:
                self.unwant(before - keys, reason)

    # -- prices out -------------------------------------------------------------------------------
    def quote(self, key: str) -> Quote | None:
        with self._lock:
            key = self._norm(key)
            raw = self.quotes.get(key)
            if raw is None:
                return None
            t, received, source = raw
            st = self.state.get(key)
        b = t.bids[0].price if t.bids else None
        a = t.asks[0].price if t.asks else None
        return Quote(key, _dec(t.last_price), _dec(b) if b else None, _dec(a) if a else None, t.bids, t.asks,
                     t.ts or t.last_trade_time, received, source, t.volume, st.prev_close if st else None, t)

    def last_price(self, key: str) -> Decimal | None:
        raw = self.quotes.get(key)
        if raw is None:
            raw = self.quotes.get(self._norm(key))
        return None if raw is None else _dec(raw[0].last_price)

    def best_bid(self, key: str) -> Decimal | None:
        q = self.quote(key)
        return None if q is None else q.bid

    def best_ask(self, key: str) -> Decimal | None:
        q = self.quote(key)
        return None if q is None else q.ask

    def depth(self, key: str) -> tuple[tuple[DepthLevel, ...], tuple[DepthLevel, ...]] | None:
        q = self.quote(key)
        return None if q is None else (q.bids, q.asks)

    def wait_quote(self, key: str, timeout: float | None = None) -> Decimal | None:
        """The last price of ``key``, waiting up to ``timeout`` (default ``quote_wait_seconds``)
        wall seconds for a first quote when a live source is attached."""
        key = self._norm(key)
        timeout = self.cfg.quote_wait_seconds if timeout is None else timeout
        end = _time.monotonic() + timeout
        with self._cond:
            while True:
                q = self.quotes.get(key)
                if q is not None:
                    return _dec(q[0].last_price)
                left = end - _time.monotonic()
                if not self.live or left <= 0:
                    return None
                self._cond.wait(min(left, 0.05))

    def feed_state(self) -> str:
        """What the feed is doing, in words (for a denial's reason and the dashboards)."""
        name = self.source_name or "feed"
        name = "ticker" if name == "kite" else name
        if not self.live:
            if self.last_packet is None:
                return "no market data received yet"
            return f"last market data at {self.last_packet:%H:%M:%S}"
        parts = []
        if self.down_since is not None:
            parts.append(f"{name} {self.down_why or 'disconnected'} since {self.down_since:%H:%M:%S}")
        elif self.last_packet is None:
            parts.append(f"{name} {'connected' if self.source_up else 'not connected'}, no packet received yet")
        else:
            parts.append(f"{name} {'connected' if self.source_up else 'not connected'}, last packet "
                         f"{self.last_packet:%H:%M:%S}")
        if self.failover:
            parts.append(f"polling quotes since {self.failover_since:%H:%M:%S}")
        return "; ".join(parts)

    def no_price_reason(self, key: str) -> str:
        key = self._norm(key)
        wait = self.cfg.quote_wait_seconds
        subscribed = key in self.wanted
        return (f"no quote for {key} within {wait:g} s: {self.feed_state()}"
                + ("" if subscribed else f" ({key} is not subscribed)"))

    # -- source events ----------------------------------------------------------------------------
    def source_event(self, name: str, info: dict | None = None) -> None:
        """open / close / error / restart / noreconnect from the live source."""
        now = self.clock.now()
        if name == "open":
            self.source_up = True
        elif name in ("close", "error", "noreconnect", "restart"):
            self.source_up = False
            if self.down_since is None:
                self.down_since, self.down_why = now, ("disconnected" if name != "restart" else "restarting")

    def on_heartbeat(self, source: str = "kite") -> None:
        """A packet without prices (Kite's 1-byte heartbeat): the connection is alive."""
        now = self.clock.now()
        with self._lock:
            back = self._packet(now, source)
        self._to_risk([], now, [], back)

    def _packet(self, now: datetime, source: str) -> bool:
        """Returns True when the primary source came back after a failover."""
        self.counts["packets"] += 1
        if self.last_packet is None or now > self.last_packet:
            self.last_packet = now
        back = False
        if source == self.source_name:
            self.last_source_packet = self.monotonic()
            self.source_up = True
            if self.down_since is not None:
                self.down_since, self.down_why = None, ""
            if self.failover:
                back = True
        return back

    # -- packets in -------------------------------------------------------------------------------
    def on_ticks(self, ticks: list[Tick], source: str) -> list[Tick]:
        """One packet (a frame of ticks) from ``source``. Returns the accepted ticks."""
        now = self.clock.now()
        mono = self.monotonic()
        accepted: list[Tick] = []
        found: list[Finding] = []
        check = source not in RECORDED
        quotes, prices = self.quotes, self.prices
        with self._lock:
            back = self._packet(now, source)
            for t in ticks:
                key = t.key
                if key is None:
                    key = self._by_token.get(t.instrument_token)
                    if key is None:
                        continue
                    t = t._replace(key=key)
                self.counts["ticks"] += 1
                if not t.last_price or t.last_price <= 0:
                    continue
                st = self.state.get(key)
                if st is None:
                    st = self.state[key] = KeyState()
                if check:
                    ok, f = self.checker.check(key, st, t, mono)
                    if f:
                        found += f
                    if not ok:
                        continue
                st.accept(t)
                if prices is not None:
                    prices[key] = _dec(t.last_price)
                quotes[key] = (t, now, source)
                m = self._marked.get(key)
                if m is None or m[0] != t.last_price:
                    self._dirty[key] = t.last_price
                else:
                    self._dirty.pop(key, None)
                accepted.append(t)
            self.counts["accepted"] += len(accepted)
            if accepted:
                self._cond.notify_all()
        for fn in self.listeners:
            for t in accepted:
                try:
                    fn(t)
                except Exception:
                    log.exception("market-data listener failed")
        if self.tick_store is not None and accepted:
            try:
                self.tick_store.append(accepted)
            except Exception:
                log.exception("tick store append failed")
        self._to_risk(accepted, now, found, back)
        return accepted

    def _to_risk(self, accepted: list[Tick], now: datetime, found: list[Finding], back: bool) -> None:
        """The session side of a packet, under the session's lock. The ticker's reader thread
        never waits for it: while the session holds it (an order placement waiting on Kite),
        packets queue up and the next packet or :meth:`poll` that gets the lock works them off
        in order (the quotes themselves were updated at once)."""
        lock = self.session_lock
        if not lock.acquire(blocking=False):
            with self._lock:
                self._backlog.append((accepted, now, found, back))
            return
        try:
            self._drain_backlog()
            self._session_side(accepted, now, found, back)
        finally:
            lock.release()

    def _drain_backlog(self) -> None:
        while self._backlog:
            with self._lock:
                batch, self._backlog = self._backlog, []
            for item in batch:
                self._session_side(*item)

    def _session_side(self, accepted: list[Tick], now: datetime, found: list[Finding], back: bool) -> None:
        risk, book = self.risk, self.book
        if back:
            self._end_failover(now)
        for f in found:
            self.counts[f.what] = self.counts.get(f.what, 0) + 1
            self.findings.append(f)
            self._note(f.payload())
        if self._stale_keys:
            lim = self.cfg.stale_instrument_seconds
            for t in accepted:
                ts = t.ts or t.last_trade_time
                if t.key in self._stale_keys and (ts is None or (now - ts).total_seconds() < lim):
                    self._stale_keys.discard(t.key)
                    self._note({"kind": "market_data", "event": "instrument_fresh", "key": t.key})
                    if risk is not None:
                        risk.breakers.on_instrument_fresh(t.key)
        if risk is not None:
            risk.on_packet(now)
            held = self.held_positions() if book is not None else {}
            moved = False
            for t in accepted:
                key = t.key
                if key in self.indices:
                    st = self.state[key]
                    if st.prev_close:
                        risk.on_index(key.partition(":")[2], t.last_price, st.prev_close, now)
                    continue
                risk.on_tick(key, t.last_price, now)
                pos = held.get(key)
                if pos:
                    px = _dec(t.last_price)
                    for p in pos:  # in memory; the journaled mark follows (throttled)
                        p.mark(px)
                    moved = True
            if moved:
                risk.on_marks(book, now)

    def held_positions(self) -> dict[str, list]:
        """The book's open positions by instrument key (``EXCHANGE:SYMBOL``). The keys are kept per
        position object and its exchange and symbol (formatting an enum per position per packet
        cost more than the rest of the lookup)."""
        held: dict[str, list] = {}
        cache = self._pos_keys
        for p in self.book.positions.values():
            if p.quantity:
                e = cache.get(id(p))
                if e is None or e[0] is not p or e[1] is not p.exchange or e[2] is not p.tradingsymbol:
                    if len(cache) > 4096:  # positions closed and gone: start again
                        cache.clear()
                    e = cache[id(p)] = (p, p.exchange, p.tradingsymbol, p.instrument_key)
                k = e[3]
                h = held.get(k)
                if h is None:
                    held[k] = [p]
                else:
                    h.append(p)
        return held

    # -- a replay's quiet run of bars --------------------------------------------------------------
    def quiet(self, key: str, source: str) -> bool:
        """True when one-tick packets of ``key`` from ``source`` would only move prices, marks and
        the risk manager's measures, so :meth:`on_quiet_bars` may take a run of them: a recorded
        source that is not the live one, nothing queued, no stale instrument, not an index, no
        tick store, a risk manager with breakers (or none), a clock a replay moves, and every
        listener quiet for ``key``. A listener says so by a ``quiet_for(key)`` (on the function or
        on its object, set before the listener is added) that is True while the ticks of ``key`` do
        nothing but keep a last price, so that the last tick of a run stands for the whole run; a
        listener without one is not quiet."""
        if (source not in RECORDED or source == self.source_name or self._backlog or self._stale_keys
                or key in self.indices or self.tick_store is not None or not hasattr(self.clock, "set_ns")):
            return False
        risk = self.risk
        if risk is not None and not (hasattr(risk, "breakers") and hasattr(risk, "_apply")):
            return False
        for q in self._quiet_fors():
            if q is None or not q(key):
                return False
        return True

    def _quiet_fors(self) -> list:
        """Each listener's ``quiet_for`` (None: it has none), looked up again only when the
        listeners change (a replay asks before every quiet run)."""
        listeners, cached = self.listeners, self._quiet_fns
        if cached is None or cached[0] != listeners:  # the same listeners in the same order: identity, then ==
            fns = [getattr(fn, "quiet_for", None) or getattr(getattr(fn, "__self__", None), "quiet_for", None)
                   for fn in listeners]
            cached = self._quiet_fns = (list(listeners), fns)
        return cached[1]

    def on_quiet_bars(self, source: str, ends_ns: list[int], bounds: Sequence[int], keys: list[str], closes: list[float],
                      volumes: list[int], day_volumes: list[int], sync: Callable[[int], None] | None = None) -> int:
        """A run of minutes, each one packet: minute ``i`` holds the bars ``bounds[i]:bounds[i+1]``
        (``keys[j]``, ``closes[j]``, ``volumes[j]``, ``day_volumes[j]``: the day's volume so far),
        each a tick at the minute's end ``ends_ns[i]`` (the clock moves there): the same state, the
        same breaker decisions on the same bar and the same journal as :meth:`on_ticks` packet by
        packet, while :meth:`quiet` holds for every key (the caller checks it first).

        Per minute the clock moves, the quality state takes the prices, and the risk manager sees
        the packet, each price and (held instruments) the marked book, in :meth:`on_ticks`' order.
        What only the last tick of a key decides (quotes, OMS prices, the mark to journal, the
        listeners' last price, ``sync(i)``: the caller's own state after minute ``i``) is written
        once at the end, or before a breaker's action is applied, which then ends the run after
        that minute. A close that is not a positive price ends the run before its minute. Returns
        the number of minutes taken."""
        n = len(ends_ns)
        if not n or not self.session_lock.acquire(blocking=False):
            return 0
        try:
            return quiet_bars(self, source, ends_ns, bounds, keys, closes, volumes, day_volumes, sync, n)
        finally:
            self.session_lock.release()


    # -- marks ------------------------------------------------------------------------------------
    def _flush_marks(self, now: datetime, *, force: bool = False) -> dict[str, float]:
        """Journal the due marks (price changed, interval passed) in one ``mark`` event."""
        if self.emit is None or not self._dirty:
            return {}
        t = now.timestamp()
        if not force and self._flushed_at is not None and t - self._flushed_at < self.cfg.mark_batch_seconds:
            return {}
        iv = self.cfg.mark_interval_seconds
        with self._lock:
            due = {k: px for k, px in self._dirty.items()
                   if force or k not in self._marked or t - self._marked[k][1] >= iv}
            for k, px in due.items():
                del self._dirty[k]
                self._marked[k] = (px, t)
        if due:
            self._flushed_at = t
            self.counts["marks"] += len(due)
            self.emit(E.MARK, {"prices": {k: f"{v:.4f}" for k, v in sorted(due.items())}, "source": "hub", "fed": True})
        return due

    def flush_marks(self, now: datetime | None = None) -> dict[str, float]:
        """Journal every unjournaled price change now (end of a session)."""
        with self.session_lock:
            return self._flush_marks(now or self.clock.now(), force=True)

    def _note(self, payload: dict) -> None:
        if self.emit is not None:
            self.emit(E.NOTE, payload)

    # -- time -------------------------------------------------------------------------------------
    def poll(self, now: datetime | None = None) -> None:
        """Time-driven work; call every ~0.5 s: subscriptions follow the book, ticker silence ->
        quote polling (and the polls themselves), stale instruments, quarantine expiry, due marks."""
        now = now or self.clock.now()
        mono = self.monotonic()
        self.follow_book()
        if self.live:
            silent = mono - (self.last_source_packet or mono)
            if not self.failover and silent >= self.cfg.failover_after_seconds:
                self._start_failover(now, silent)
            if self.failover and self.poller is not None and mono - self._last_poll_mono >= self.cfg.failover_poll_seconds:
                self._last_poll_mono = mono
                self._poll_quotes()
        found: list[Finding] = []
        with self._lock:
            for key, st in self.state.items():
                if st.quarantined is not None:
                    found += self.checker.expire(key, st, mono)
        with self.session_lock:
            self._drain_backlog()
            for f in found:
                self.counts[f.what] = self.counts.get(f.what, 0) + 1
                self.findings.append(f)
                self._note(f.payload())
            self._check_stale(now)
            self._flush_marks(now)

    def _check_stale(self, now: datetime) -> None:
        """A subscribed instrument without an update (exchange time, full mode) while its segment is open."""
        if self.cfg.mode != "full" or not self.live:  # recorded bars: a minute without a trade has no bar
            return
        open_: dict[str, bool] = {}

        def is_open(key: str) -> bool:
            ex = key.partition(":")[0]
            hit = open_.get(ex)
            if hit is None:
                hit = True
                if self.calendar is not None:
                    try:
                        hit = bool(self.calendar.is_open(now, ex))  # the exchange's own timetable (MCX, CDS...)
                    except Exception:  # outside the calendar's tables: judge anyway
                        hit = True
                open_[ex] = hit
            return hit

        lim = self.cfg.stale_instrument_seconds
        held = ({p.instrument_key for p in self.book.positions.values() if p.quantity}
                if self.book is not None else set())
        with self._lock:
            items = [(k, q[0].ts or q[0].last_trade_time) for k, q in self.quotes.items() if k in self.wanted]
        for key, ts in items:
            if ts is None or not is_open(key):
                continue
            gap = (now - ts).total_seconds()
            if gap >= lim and key not in self._stale_keys:
                self._stale_keys.add(key)
                self._note({"kind": "market_data", "event": "instrument_stale", "key": key, "gap_seconds": round(gap, 1),
                            "limit_seconds": lim, "last_update": ts.isoformat()})
                if self.risk is not None and key in held:
                    self.risk.on_stale(key, gap, lim, now)

    # -- failover ---------------------------------------------------------------------------------
    def _start_failover(self, now: datetime, silent: float) -> None:
        self.failover, self.failover_since = True, now
        if self.down_since is None:
            self.down_since, self.down_why = now, "silent"
        self._last_poll_mono = 0.0
        with self.session_lock:
            self._note({"kind": "market_data", "event": "failover", "to": "quote polling", "from": self.source_name,
                        "why": f"no packet from the {self.source_name} ticker for {silent:.1f} s "
                               f"(limit {self.cfg.failover_after_seconds:g} s)"})
        log.warning("market data: %s ticker silent for %.1f s; polling quotes", self.source_name, silent)

    def _poll_quotes(self) -> None:
        n = self.cfg.failover_max_instruments
        with self._lock:
            every = sorted(self.wanted)
        if not every:
            return
        if len(every) > n:  # more than one request's worth: take turns, one chunk per poll
            start = self._poll_offset % len(every)
            keys = (every[start:] + every[:start])[:n]
            self._poll_offset = start + n
        else:
            keys = every
        try:
            ticks = self.poller(keys)
        except Exception as e:
            log.warning("quote polling failed: %s", e)
            self.counts["poll_errors"] = self.counts.get("poll_errors", 0) + 1
            return
        self.counts["polls"] += 1
        if ticks:
            self.on_ticks(ticks, "poll")

    def _end_failover(self, now: datetime) -> None:
        since = self.failover_since
        self.failover, self.failover_since = False, None
        gap = {"start": since.isoformat() if since else None, "end": now.isoformat()}
        self.gaps.append(gap)
        self._note({"kind": "market_data", "event": "failback", "to": self.source_name, "from": "quote polling",
                    "gap": gap, "polls": self.counts["polls"]})
        log.info("market data: the %s ticker is back; quote polling stops", self.source_name)
        if self.cfg.backfill and self.backfiller is not None and since is not None:
            with self._lock:
                keys = [k for k in sorted(self.wanted)]
            # the candles that overlap the gap: from the minute it began in (a candle is labelled by its start)
            first = since.replace(second=0, microsecond=0)
            t = threading.Thread(target=self._backfill, args=(keys, first, now), name="marketdata-backfill",
                                 daemon=True)
            self._backfills = [b for b in self._backfills if b.is_alive()] + [t]
            t.start()

    def close_backfills(self, timeout: float = 5.0) -> bool:
        """Wait (at most ``timeout`` seconds in all) for running back-fills, so their journal note
        lands before the session closes its journal. False if one is still running (its note is then
        dropped with a warning: the candles it fetched are in the tick store all the same)."""
        deadline = _time.monotonic() + timeout
        for t in list(self._backfills):
            t.join(max(0.0, deadline - _time.monotonic()))
        return not any(t.is_alive() for t in self._backfills)

    def _backfill(self, keys: list[str], start: datetime, end: datetime) -> None:
        filled, failed = {}, {}
        for key in keys:
            try:
                bars = self.backfiller(key, start, end)
            except Exception as e:
                failed[key] = str(e)
                continue
            n = 0 if bars is None else len(bars)
            filled[key] = n
            if n and self.tick_store is not None:
                # a candle's close is the minute's last price: it is stamped at the minute's end, never at
                # its start (a replay would see the close up to a minute early)
                ticks = [Tick(key, ts.to_pydatetime() + _BAR_CLOSE, float(r.close), None, "bar", open=float(r.open),
                              high=float(r.high), low=float(r.low), volume=int(r.volume))
                         for ts, r in bars.iterrows()]
                try:
                    self.tick_store.append(ticks)
                except Exception as e:
                    failed[key] = f"tick store: {e}"
        try:
            with self.session_lock:
                self._note({"kind": "market_data", "event": "backfill", "start": start.isoformat(),
                            "end": end.isoformat(), "bars": filled, "failed": failed})
        except Exception as e:  # the session closed (its lease released) while the broker was answering
            log.warning("market data: the back-fill of %s..%s finished after the session closed; its note is "
                        "not journaled (%s)", start.isoformat(), end.isoformat(), e)
        self.gaps[-1]["backfilled"] = filled

    def status(self) -> dict:
        """Counts and state, for dashboards and reports."""
        return {"feed": self.feed_state(), "failover": self.failover, "subscribed": len(self.wanted),
                "quotes": len(self.quotes), **self.counts}
