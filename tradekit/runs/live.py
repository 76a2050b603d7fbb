"""A running paper session: a recorded day replayed through a session, paced or as fast as possible.

While it runs it does what a live day needs besides market data: it applies requests other
processes wrote to the journal (approval decisions from the dashboard, cancels, the kill
switch) through :meth:`Session.poll`, takes new signal files from the inbox, and expires
proposals whose TTL has passed. Paced mode (``speed``) moves the simulated clock with the wall
clock × ``speed``, so a person can approve proposals in the dashboard while the day unfolds;
``speed=None`` runs as fast as possible (papermill, tests). After the kill switch the runner
lets the flatten orders fill, then stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from tradekit.execution.replay import ReplayResult, run_replay

log = logging.getLogger(__name__)


class PaperSessionRunner:
    def __init__(self, session, data: Mapping, *, speed: float | None = None, strategies: Iterable = (),
                 signals: Iterable = (), pipeline=None, inbox=None, poll_interval: float = 0.05,
                 start=None, end=None, progress: bool = False, square_off: bool = True,
                 on_minute: Callable[[int], None] | None = None):
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive, {speed!r} was received")
        self.session = session
        self.data = data
        self.speed = speed
        self.strategies = list(strategies)
        self.signals = list(signals)
        self.pipeline = pipeline
        self.inbox = inbox
        self.poll_interval = poll_interval
        self.start_at, self.end_at = start, end
        self.progress = progress
        self.square_off = square_off
        self.on_minute = on_minute
        self.result: ReplayResult | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._halted_at: int | None = None
        self.minutes = 0
        self.heartbeat = None
        if getattr(session, "config", None) is not None:  # the dashboards' RUNNING / NO SESSION
            from tradekit.runs.heartbeat import HeartbeatWriter

            self.heartbeat = HeartbeatWriter(session, speed=speed)

    # -- the loop --------------------------------------------------------------------------------
    def _service(self) -> None:
        s = self.session
        s.poll()
        market = getattr(s, "market", None)
        if market is not None:
            market.poll(s.clock.now())
        if s.risk is not None:
            s.risk.poll(s.clock.now(), s.book)
        retry = getattr(self.pipeline, "retry_parked", None)
        if retry is not None:
            retry()  # signals parked while new orders were blocked
        if self.inbox is not None:
            self.inbox.poll()
        s.oms.expire_stale()
        s.oms.resolve_unknown()
        baskets = getattr(s, "baskets", None)
        if baskets is not None:  # multi-leg baskets: the next leg once one fills, timeouts, unwinds (as Session.service)
            s._guard(baskets.step)
        alerts = getattr(s, "alerts", None)
        if alerts is not None:  # the time-driven alert sources, as Session.service runs them live
            s._guard(lambda: alerts.check(s))
        if self.heartbeat is not None:
            self.heartbeat.beat()

    def run(self, stop: Callable[[], bool] | None = None) -> ReplayResult:
        try:
            return self._run(stop)
        finally:
            if self.heartbeat is not None:
                self.heartbeat.stop()

    def _run(self, stop: Callable[[], bool] | None = None) -> ReplayResult:
        wall0 = time.monotonic()
        sim0: list[int] = []

        # every bar is a packet into the session's market-data hub, changed or not (run_replay
        # feeds it, source "paper"): marks (throttled) reach the journal for other processes, and
        # a flat price is not a stale feed

        def pace(e_ns: int) -> bool:
            self.minutes += 1
            if self.on_minute is not None:
                self.on_minute(e_ns)
            if not sim0:
                sim0.append(e_ns)
            while True:
                self._service()
                if self._stop.is_set() or (stop is not None and stop()):
                    return False
                if self.session.book.trading_state == "HALTED":
                    # let flatten orders fill (they need a bar or two), then end the day's run
                    if self._halted_at is None:
                        self._halted_at = self.minutes
                    if not self.session.book.open or self.minutes - self._halted_at >= 5:
                        log.warning("trading halted: the run stops at %s", self.session.clock.now())
                        return False
                if self.speed is None:
                    return True
                due = wall0 + (e_ns - sim0[0]) / 1e9 / self.speed
                left = due - time.monotonic()
                if left <= 0:
                    return True
                if self.inbox is not None:  # a signal file landing ends the pause (tradekit.fswatch)
                    self.inbox.wait(min(self.poll_interval, left))
                else:
                    time.sleep(min(self.poll_interval, left))

        self.result = run_replay(self.session, self.data, signals=self.signals, strategies=self.strategies,
                                 start=self.start_at, end=self.end_at, progress=self.progress,
                                 square_off=self.square_off, pace=pace, feed="paper")
        self._service()  # decisions that arrived during the last minute
        self.session.journal.flush()
        return self.result

    # -- in a background thread --------------------------------------------------------------------
    def start(self) -> "PaperSessionRunner":
        def target():
            try:
                self.run()
            except BaseException as e:  # surfaced by join()
                self.error = e
                log.exception("paper session failed")

        self._thread = threading.Thread(target=target, name="tradekit-paper-session", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> ReplayResult | None:
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def parse_strategy(spec: str):
    """``sma:FAST:SLOW[:QTY[:PRODUCT]]`` → an SmaCrossover (the bundled sample strategy)."""
    from tradekit.errors import ValidationError
    from tradekit.strategies import SmaCrossover

    parts = spec.split(":")
    if parts[0].lower() != "sma" or len(parts) < 3:
        raise ValidationError(f"{spec!r}: expected sma:FAST:SLOW[:QTY[:PRODUCT]], e.g. sma:10:30:10:MIS", field="--strategy")
    try:
        fast, slow = int(parts[1]), int(parts[2])
        qty = int(parts[3]) if len(parts) > 3 else 1
    except ValueError:
        raise ValidationError(f"{spec!r}: FAST, SLOW and QTY must be whole numbers", field="--strategy") from None
    product = parts[4].upper() if len(parts) > 4 else None  # None: MIS intraday, CNC on daily bars
    return SmaCrossover(fast, slow, qty, product=product)


def paper_command(
    day: str | None,
    symbols: str = "RELIANCE",
    speed: float | None = 5.0,
    strategy: str | None = None,
    config=None,
    http: bool = False,
    feed: str = "recorded",
):
    """Run a paper day next to the dashboards (see ``tradekit paper --help``): on bundled bars
    (``feed="recorded"``), or on live Kite ticks (``feed="kite"``, today, until the close)."""
    from datetime import date as _date

    from tradekit.clock import SimClock
    from tradekit.config import Secrets, load_config
    from tradekit.data import load_bars
    from tradekit.data.store import find_bars
    from tradekit.errors import ValidationError
    from tradekit.session import Session
    from tradekit.signals import Inbox, SignalPipeline, SignalServer

    if feed not in ("recorded", "kite"):
        raise ValidationError(f"{feed!r} is not recorded or kite", field="--feed")
    cfg = load_config(config)
    if feed == "kite" or (cfg.paper.feed == "kite" and day is None):  # the config picks live data unless a day is named
        if strategy:
            raise ValidationError("on live data signals come from the inbox or the HTTP endpoint; bundled strategies "
                                  "run on recorded days", field="--strategy")
        keys = [s if ":" in s else f"NSE:{s}" for s in (x.strip().upper() for x in (symbols or "").split(",")) if s]
        return run_paper_live_day(cfg, day, symbols=keys, http=http)
    if day is None:
        raise ValidationError("give --date YYYY-MM-DD (a bundled day), or --feed kite for today's live data", field="--date")
    try:
        d = _date.fromisoformat(day)
    except ValueError:
        raise ValidationError(f"{day!r} is not a date (YYYY-MM-DD)", field="--date") from None
    data = {}
    for sym in [s.strip().upper() for s in symbols.split(",") if s.strip()]:
        key = sym if ":" in sym else f"NSE:{sym}"  # NFO:NIFTY... for an option's own bars (tradekit data import)
        bars = load_bars(find_bars(key, "1min", data_dir=cfg.data_dir)[0], start=d, end=d)
        if len(bars):
            data[key] = bars
    if not data:
        from tradekit.market.calendar import calendar_for

        cal = calendar_for(cfg)
        if not cal.is_trading_day(d):
            h = cal.holiday(d)
            if h is None:
                why = "not an NSE trading day"
            else:
                why = "an NSE holiday" + (f" ({h.name})" if h.name and h.name.lower() != "holiday" else "")
            raise ValidationError(f"{d} ({d:%A}) is {why}: nothing traded", field="--date")
        raise ValidationError(f"no bundled 1-minute bars for {symbols} on {d} (bundled: 2016-08-16..2016-09-09 "
                              f"for the stocks)", field="--date")
    first = min(df.index[0] for df in data.values()).to_pydatetime()
    session = Session.from_config(cfg, clock=SimClock(first), mode="paper")
    pipeline = SignalPipeline(session.journal, cfg, sink=session.submit_signal, emit=session._emit, clock=session.clock)
    inbox = Inbox.from_settings(cfg.signals, cfg.data_dir, pipeline) if cfg.signals.inbox_enabled else None
    server = None
    if http:
        server = SignalServer.from_settings(cfg.signals, pipeline, secrets=Secrets.load(cfg.secrets_file)).start()
    runner = PaperSessionRunner(session, data, speed=speed, strategies=[parse_strategy(strategy)] if strategy else [],
                                pipeline=pipeline, inbox=inbox, progress=True)
    from tradekit.marketdata.recording import record_paper_quotes

    quotes = record_paper_quotes(session)  # its F&O quotes for the option-chain page, as a live session's
    try:
        return runner.run()
    finally:
        if server is not None:
            server.stop()
        session.close()
        if quotes is not None:
            quotes.close()


# -- paper trading on live Kite data ----------------------------------------------------------------

class KiteMarketSource:
    """Kite's market data for a paper session: the ticker, quotes and candles of a logged-in
    :class:`~tradekit.brokers.kite.broker.KiteBroker`, and nothing else. It has no order
    methods, so a paper session on live data cannot place an order at Kite, by construction."""

    def __init__(self, kite):
        self._kite = kite

    @property
    def market(self):
        return self._kite.market

    @market.setter
    def market(self, hub) -> None:  # the ticker's connection events reach the hub through the broker
        self._kite.market = hub

    @property
    def stream(self):
        return self._kite.stream

    @property
    def logged_in(self) -> bool:
        return self._kite.logged_in

    def session_status(self) -> str:
        return self._kite.session_status()

    def feed(self):
        return self._kite.feed()

    def quote(self, keys):
        return self._kite.quote(keys)

    def historical(self, *args, **kw):
        return self._kite.historical(*args, **kw)

    def token_of(self, key: str) -> int:
        return self._kite.token_of(key)

    def close(self) -> None:
        self._kite.close()


def kite_market_source(session) -> KiteMarketSource:
    """A logged-in Kite connection for ``session``'s market data (``kite:`` settings, secrets);
    a clear error when there is no valid login."""
    from tradekit.brokers.kite import make_live_broker
    from tradekit.errors import TradekitError

    kite = make_live_broker(session)
    if not kite.logged_in:
        why = kite.session_status()
        kite.close()
        raise TradekitError(f"paper trading on live data needs a Kite login for the ticker ({why}): "
                            f"run `tradekit kite login` first (no order is ever sent to Kite)")
    return KiteMarketSource(kite)


def attach_paper_to_live(session, source, *, tick_store=None, keys=()):
    """Make ``session``'s paper broker trade on live ticks: ``source`` (a :class:`KiteMarketSource`)
    feeds the session's market-data hub, the paper broker listens to the hub (the same prices the
    OMS, the gate, the risk manager and the dashboards see) and the hub records every accepted
    tick in ``tick_store``. ``keys`` are subscribed besides the watchlist and the book's
    instruments; the full mode carries the depth the paper fills walk.

    The ticker's thread never waits for a busy session: ticks queue, in order, and are matched
    under the session's lock by whoever gets it first — the ticker thread on the next packet, or
    the session loop through the returned ``drain()``. Returns ``drain``.
    """
    from collections import deque

    from tradekit.marketdata.kite import attach_kite

    hub = session.market
    broker = session.broker
    lock = getattr(session.oms, "_lock", None) or threading.RLock()
    pending: deque = deque()

    def drain() -> None:
        with lock:  # the OMS's lock before the broker's, as an order from the OMS takes them
            while pending:
                broker.on_tick(pending.popleft())

    def fill_on(tick) -> None:
        pending.append(tick)
        if lock.acquire(blocking=False):
            try:
                while pending:
                    broker.on_tick(pending.popleft())
            finally:
                lock.release()

    hub.add_listener(fill_on)
    if tick_store is not None:
        hub.tick_store = tick_store
    attach_kite(source, hub)
    hub.want_defaults()
    if keys:
        hub.want(list(keys), "paper")
    hub.follow_book()
    return drain


def run_paper_live_day(cfg, day=None, *, symbols=(), http: bool = False, session=None, source=None, out_dir=".",
                       poll_interval: float = 0.5, echo=print, stop=None, sleep=None, until=None):
    """A paper session on today's live Kite ticks, until the close (or ``until``, the kill switch,
    ``stop()``): the same OMS, gate, approvals, charges and journal as a live day, the paper
    broker filling on the ticks (depth, trades through limits), every tick recorded in the tick
    store. Returns the :class:`~tradekit.runs.day.SessionRun`.

    ``session`` and ``source`` let a test pass a prepared session and market-data source.
    """
    import time as _t
    from datetime import date as _date

    from tradekit.config import Secrets
    from tradekit.data.tickstore import open_tick_store
    from tradekit.errors import TradekitError, ValidationError
    from tradekit.runs.day import SessionRun, _orders_table, _pnl, _positions_table, _signal_counts, run_realtime
    from tradekit.session import Session
    from tradekit.signals import Inbox, SignalPipeline, SignalServer

    t0 = _t.perf_counter()
    s = session or Session.from_config(cfg, mode="paper")
    if s.mode.value != "paper":
        raise ValidationError("paper trading on live data runs a paper session (mode: paper)", field="mode")
    store = src = server = None
    try:
        today = s.clock.now().date()
        d = today
        if day is not None:
            try:
                d = day if isinstance(day, _date) else _date.fromisoformat(str(day))
            except ValueError:
                raise ValidationError(f"{day!r} is not a date (YYYY-MM-DD)", field="--date") from None
        if d != today:
            raise TradekitError(f"paper on live data runs today ({today}), not {d}; replay other days "
                                f"(`tradekit replay --ticks --date {d}` for a recorded one)")
        if s.calendar is not None and not s.calendar.is_trading_day(d):
            raise TradekitError(f"not a trading day: {d}")
        store = open_tick_store(s.config, s.clock)
        if store is not None:
            gone = store.prune(d)
            if gone:
                log.info("tick store: deleted %d day(s) past retention", len(gone))
        src = source or kite_market_source(s)
        drain = attach_paper_to_live(s, src, tick_store=store, keys=symbols)
        since = s.book.last_seq
        pipeline = SignalPipeline(s.journal, s.config, sink=s.submit_signal, emit=s._emit, clock=s.clock)
        sc = s.config.signals
        inbox = Inbox.from_settings(sc, s.config.data_dir, pipeline) if sc.inbox_enabled else None
        if http or sc.http_enabled:
            server = SignalServer.from_settings(sc, pipeline, secrets=Secrets.load(s.config.secrets_file)).start()
        cut = s.mis_cutoff(None, d)
        rms = s.broker.config.rms_square_off
        cut_done = []

        def duties() -> bool:
            drain()  # ticks that arrived while the session was busy
            # the paper broker's own RMS square-off at its cut-off, as in a replay (the live loop has no broker duty)
            if rms and cut is not None and not cut_done and s.clock.now() >= cut:
                with s.oms._lock:
                    s.broker.square_off_mis()
                cut_done.append(True)
            return stop is not None and stop()

        started = s.clock.now()
        reason, minutes = run_realtime(s, d, inbox=inbox, until=until, poll_interval=poll_interval, echo=echo,
                                       stop=duties, sleep=sleep or _t.sleep)
        drain()
        if reason == "the close":
            with s.oms._lock:
                s.broker.end_of_day(d)  # DAY orders lapse, the day's charges are debited
        b = s.book
        return SessionRun(
            day=d, mode="paper", run_dir=Path(out_dir).resolve(), journal=s.config.store_url(), started_at=started,
            ended_at=s.clock.now(), minutes=minutes, minutes_total=minutes, stopped=reason != "the close",
            stop_reason=reason, trading_state=b.trading_state, signals=_signal_counts(s.journal, since),
            orders=_orders_table(b), positions=_positions_table(b), pnl=_pnl(b), elapsed_s=_t.perf_counter() - t0,
        )
    finally:
        if server is not None:
            server.stop()
        if src is not None and source is None:
            src.close()
        if store is not None:
            store.close()
        if session is None:
            s.close()
