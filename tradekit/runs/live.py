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

from tradekit.clock import ns_to_dt
from tradekit.data.types import Tick
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

    def run(self, stop: Callable[[], bool] | None = None) -> ReplayResult:
        wall0 = time.monotonic()
        sim0: list[int] = []

        bars = self._bars_by_end()
        market = getattr(self.session, "market", None)
        cum: dict[str, list] = {}

        def feed(e_ns: int) -> None:
            # every bar is a packet into the session's market-data hub, changed or not: marks
            # (throttled) reach the journal for other processes, and a flat price is not a stale feed
            if market is None:
                return
            due = bars.get(e_ns)
            if due:
                ts = ns_to_dt(e_ns)
                ticks = []
                for k, o, h, lo, c, v in due:  # a tick carries the day's volume so far, as Kite's do
                    day = cum.setdefault(k, [ts.date(), 0])
                    if day[0] != ts.date():
                        day[:] = [ts.date(), 0]
                    day[1] += v
                    ticks.append(Tick(k, ts, c, None, "quote", last_quantity=v, volume=day[1]))
                market.on_ticks(ticks, "paper")

        def pace(e_ns: int) -> bool:
            self.minutes += 1
            feed(e_ns)
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
                time.sleep(min(self.poll_interval, left))

        self.result = run_replay(self.session, self.data, signals=self.signals, strategies=self.strategies,
                                 start=self.start_at, end=self.end_at, progress=self.progress,
                                 square_off=self.square_off, pace=pace)
        self._service()  # decisions that arrived during the last minute
        self.session.journal.flush()
        return self.result

    def _bars_by_end(self) -> dict[int, list[tuple]]:
        """The bars to replay by their end (ns), as ``(key, open, high, low, close, volume)``."""
        from tradekit.data.resample import infer_interval

        frames = {k: df for k, df in self.data.items() if len(df)}
        if not frames:
            return {}
        bar_ns = min(int(infer_interval(df).value) for df in frames.values())
        out: dict[int, list[tuple]] = {}
        for key, df in frames.items():
            cols = [df[c].to_numpy(dtype="float64").tolist() for c in ("open", "high", "low", "close")]
            vols = df["volume"].to_numpy(dtype="int64").tolist()
            for s_ns, o, h, lo, c, v in zip(df.index.asi8.tolist(), *cols, vols):
                out.setdefault(s_ns + bar_ns, []).append((key, o, h, lo, c, v))
        return out

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
    day: str,
    symbols: str = "RELIANCE",
    speed: float | None = 5.0,
    strategy: str | None = None,
    config=None,
    http: bool = False,
) -> ReplayResult:
    """Run a paper day on bundled bars next to the dashboards (see ``tradekit paper --help``)."""
    from datetime import date as _date

    from tradekit.clock import SimClock
    from tradekit.config import Secrets, load_config
    from tradekit.data import load_bars, sample_path
    from tradekit.errors import ValidationError
    from tradekit.session import Session
    from tradekit.signals import Inbox, SignalPipeline, SignalServer

    try:
        d = _date.fromisoformat(day)
    except ValueError:
        raise ValidationError(f"{day!r} is not a date (YYYY-MM-DD)", field="--date") from None
    cfg = load_config(config)
    data = {}
    for sym in [s.strip().upper() for s in symbols.split(",") if s.strip()]:
        bars = load_bars(sample_path(sym, "1min"), start=d, end=d)
        if len(bars):
            data[f"NSE:{sym}"] = bars
    if not data:
        from tradekit.market.calendar import MarketCalendar

        cal = MarketCalendar("NSE", cfg.market)
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
    try:
        return runner.run()
    finally:
        if server is not None:
            server.stop()
        session.close()
