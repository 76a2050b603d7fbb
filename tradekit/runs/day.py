"""The session stage of a day: paper (a recorded day replayed) or live (Kite, real clock).

Both feed the day's signals through the :class:`~tradekit.signals.SignalPipeline` (dedupe,
expiry, journal, routing to the approval queue or the auto policy) into the one session, poll
the journal for dashboard decisions and the kill switch, and stop at the close or when the
kill switch halts trading.

Paper: :func:`run_paper_day` replays the bundled 1-minute bars of the day on a simulated
clock with :class:`~tradekit.runs.live.PaperSessionRunner`. Signals (a signal file, the
research notebook's export, and/or a bundled strategy) are released into the pipeline at
their ``signal_time``, as a strategy engine would have sent them, so they fill on a later
bar. The journal lives in the run folder (``journal.db``): a rerun starts from an empty
folder and, with the same inputs and seed, produces the same events.

Live: :func:`run_live_day` runs on the real clock against the config's journal and Kite;
signals arrive through the inbox folder (and the HTTP endpoint when enabled).
"""

from __future__ import annotations

import logging
import time as _time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

from tradekit.clock import IST, RealClock, SimClock, dt_to_ns, ns_to_dt
from tradekit.errors import DataError, TradekitError, ValidationError
from tradekit.model.money import fmt_inr, paise
from tradekit.runs.manifest import describe_file
from tradekit.store import EventType as E
from tradekit.store.lazy import hot

log = logging.getLogger(__name__)

JOURNAL_NAME = "journal.db"
PREMARKET_TIME = time(8, 45)  # where a paper day's clock starts before the first bar


# -- inputs ------------------------------------------------------------------------------------------
def as_date(day: date | str) -> date:
    """A date from a ``date`` or an ISO string, with an error naming the field."""
    if isinstance(day, datetime):
        return day.date()
    if isinstance(day, date):
        return day
    try:
        return date.fromisoformat(str(day).strip())
    except ValueError:
        raise ValidationError(f"{day!r} is not a date (YYYY-MM-DD)", field="date") from None


def parse_symbols(symbols: str | Iterable[str]) -> list[str]:
    """``"RELIANCE, infy"`` or a list → ``["RELIANCE", "INFY"]`` (exchange prefixes are dropped)."""
    items = symbols.split(",") if isinstance(symbols, str) else list(symbols)
    out = []
    for s in items:
        s = str(s).strip().upper()
        if s:
            out.append(s.rpartition(":")[2])
    if not out:
        raise ValidationError("no symbols were given", field="symbols")
    return out


def day_bars(symbols: str | Iterable[str], day: date | str,
             data_dir: Path | None = None) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """The bundled 1-minute bars of ``day`` for each symbol, and the input files' hashes.

    Returns ``({"NSE:RELIANCE": bars, ...}, {"bars:NSE:RELIANCE": {"path", "sha256", "bytes"}, ...})``.

    Raises
    ------
    DataError
        A symbol has no bundled bars, or none on ``day`` (the message lists what there is).
    """
    from tradekit.data import load_bars, sessions_in
    from tradekit.data.store import find_bars

    d = as_date(day)
    data, inputs = {}, {}
    for sym in parse_symbols(symbols):
        path, _ = find_bars(f"NSE:{sym}", "1min", data_dir=data_dir)  # the data directory, else the bundled sample
        bars = load_bars(path)
        today = bars[bars.index.date == d] if len(bars) else bars
        if not len(today):
            have = sessions_in(bars)
            span = f"{have[0]}..{have[-1]}" if have else "none"
            raise DataError(f"no 1-minute bars for NSE:{sym} on {d} in {path}; its sessions are {span} "
                            f"(a paper replay needs recorded bars of the day)")
        data[f"NSE:{sym}"] = today
        inputs[f"bars:NSE:{sym}"] = describe_file(path)
    return data, inputs


def journal_path(run_dir: str | Path) -> Path:
    """Where a paper day's journal lives: ``<run_dir>/journal.db``."""
    return Path(run_dir) / JOURNAL_NAME


def journal_url(cfg, mode: str, run_dir: str | Path) -> str:
    """The journal of a run: the run folder's for paper, the config's store for live."""
    from tradekit.store import sqlite_url

    return sqlite_url(journal_path(run_dir).resolve()) if mode == "paper" else cfg.store_url()


def paper_config(cfg, run_dir: str | Path):
    """``cfg`` with its store pointed at the run folder's journal (paper runs never share one)."""
    url = journal_url(cfg, "paper", run_dir)
    return cfg.model_copy(update={"mode": "paper", "store": cfg.store.model_copy(update={"url": url})})


def open_paper_session(cfg, day: date | str, run_dir: str | Path, *, at: datetime | None = None):
    """A paper :class:`~tradekit.session.Session` on the run folder's journal and a simulated clock.

    The clock starts at ``at`` (default 08:45 IST on ``day``, before the open).
    """
    from tradekit.session import Session

    d = as_date(day)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    start = at or datetime.combine(d, PREMARKET_TIME, IST)
    return Session.from_config(paper_config(cfg, run_dir), clock=SimClock(start), mode="paper")


def load_signal_file(path: str | Path) -> tuple[list, list[dict], dict]:
    """Read a signal file (JSON, a list, or JSON Lines in the published schema).

    Returns ``(signals, bad_records, input)``: the valid :class:`~tradekit.model.signal.Signal`
    objects, the raw records that failed validation (the pipeline journals them as
    ``malformed``) and the file's hash.

    Raises
    ------
    DataError
        The file is missing, or it is not signal JSON at all.
    """
    from tradekit.signals import parse_batch

    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such signal file")
    batch = parse_batch(p.read_bytes())
    whole = [e for e in batch.errors if e.index is None]
    if whole:
        raise DataError(f"{p}: {whole[0].message}")
    bad: dict[int, dict] = {}
    for e in batch.errors:
        if isinstance(e.raw, dict):
            bad.setdefault(e.index, e.raw)
    return list(batch.accepted), list(bad.values()), describe_file(p)


# -- the result of a session stage -----------------------------------------------------------------------
@dataclass(repr=False)
class SessionRun:
    """What a session stage did: counts, P&L, how it ended. Display it in a notebook."""

    day: date
    mode: str
    run_dir: Path
    journal: str
    started_at: datetime
    ended_at: datetime
    minutes: int
    minutes_total: int
    stopped: bool
    stop_reason: str
    trading_state: str
    signals: dict
    orders: pd.DataFrame
    positions: pd.DataFrame
    pnl: dict
    elapsed_s: float
    inputs: dict = field(default_factory=dict)
    progress: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def halted(self) -> bool:
        return self.trading_state == "HALTED"

    def summary(self) -> pd.DataFrame:
        """The stage in one table (what the notebook shows first)."""
        rows = [
            ("day", f"{self.day:%Y-%m-%d} ({self.mode})"),
            ("ran", (f"{self.started_at:%H:%M} → {self.ended_at:%H:%M} IST, {self.minutes} of {self.minutes_total} "
                     f"minutes in {self.elapsed_s:.1f} s")),
            ("ended", self.stop_reason),
            ("trading state", self.trading_state),
            ("signals", ", ".join(f"{k} {v}" for k, v in self.signals.items()) or "none"),
            ("orders", ", ".join(f"{k} {v}" for k, v in self.order_counts().items()) or "none"),
            ("fills", str(self.pnl.get("fills", 0))),
            ("realized P&L", "₹" + fmt_inr(self.pnl["realized"])),
            ("charges", "₹" + fmt_inr(self.pnl["charges"])),
            ("net P&L", "₹" + fmt_inr(self.pnl["net"])),
            ("journal", self.journal),
        ]
        return pd.DataFrame(rows, columns=["", "value"]).set_index("")

    def signals_table(self) -> pd.DataFrame:
        """Signals by outcome: routed to auto or manual approval, or rejected (and why)."""
        return pd.DataFrame(sorted(self.signals.items()), columns=["outcome", "signals"]).set_index("outcome")

    def order_counts(self) -> dict[str, int]:
        if not len(self.orders):
            return {}
        return dict(Counter(self.orders["status"]).most_common())

    def to_dict(self) -> dict:
        return {
            "day": self.day.isoformat(), "mode": self.mode, "journal": self.journal,
            "started_at": self.started_at.isoformat(), "ended_at": self.ended_at.isoformat(),
            "minutes": self.minutes, "minutes_total": self.minutes_total, "stopped": self.stopped,
            "stop_reason": self.stop_reason, "trading_state": self.trading_state, "halted": self.halted,
            "signals": self.signals, "orders": self.order_counts(),
            "pnl": {k: (str(paise(v)) if isinstance(v, Decimal) else v) for k, v in self.pnl.items()},
            "elapsed_s": round(self.elapsed_s, 3),
            "inputs": self.inputs, "notes": self.notes,
        }

    def _repr_html_(self) -> str:
        return self.summary().to_html()

    def __str__(self) -> str:
        return self.summary().to_string()

    def __repr__(self) -> str:
        return f"<SessionRun {self.day} {self.mode}: {self.stop_reason}, net ₹{fmt_inr(self.pnl['net'])}>"


def _stage_orders(book, started: datetime | None) -> list:
    """The orders of a stage: created or changed at or after ``started`` (every order when None).

    A live stage runs on the account's long-lived journal, whose book holds every earlier day's
    orders too; a paper stage starts on an empty journal (``started`` None: all of them). Only the
    in-memory part of a snapshot-started book is walked: an order left in the snapshot's side table
    is final and last changed before the snapshot's day, so before any stage started after it."""
    if started is None:
        return list(book.orders.values())
    return [o for o in hot(book.orders).values()
            if (o.updated_at or o.created_at) is not None and (o.updated_at or o.created_at) >= started]


def _orders_table(book, started: datetime | None = None) -> pd.DataFrame:
    rows = []
    for o in _stage_orders(book, started):
        r = o.request
        rows.append({"client_order_id": o.client_order_id, "strategy": o.strategy, "symbol": r.tradingsymbol,
                     "side": str(r.side), "quantity": r.quantity, "type": str(r.order_type), "product": str(r.product),
                     "status": o.status.value, "filled": o.filled_quantity, "approval": o.approval_mode,
                     "source": o.source, "created": o.created_at})
    cols = ["client_order_id", "strategy", "symbol", "side", "quantity", "type", "product", "status", "filled",
            "approval", "source", "created"]
    return pd.DataFrame(rows, columns=cols)


def _positions_table(book) -> pd.DataFrame:
    cols = ["strategy", "symbol", "product", "quantity", "realized", "unrealized", "charges"]
    rows = [(p.strategy, p.tradingsymbol, str(p.product), p.quantity, paise(p.realized_pnl), paise(p.unrealized_pnl),
             paise(p.charges.total)) for p in book.positions.values()]
    return pd.DataFrame(rows, columns=cols)


def _pnl(book, base: dict | None = None) -> dict:
    """Fills and P&L of the book; with ``base`` (this function's result at a stage's start), what the
    stage added: a live stage's book holds the account's whole history."""
    now = {"fills": book.fills, "realized": book.realized_pnl, "unrealized": book.unrealized_pnl,
           "charges": book.charges_total.total, "net": book.net_pnl,
           "gross": book.realized_pnl + book.unrealized_pnl}
    return now if base is None else {k: v - base[k] for k, v in now.items()}


def _signal_counts(journal, since_seq: int = 0) -> dict[str, int]:
    c: Counter = Counter()
    for ev in journal.events(after=since_seq, types=(E.SIGNAL_RECEIVED, E.SIGNAL_REJECTED)):
        if ev.type == E.SIGNAL_RECEIVED:
            c[f"routed {ev.payload.get('route') or 'auto'}"] += 1
        else:
            c[f"rejected {ev.payload.get('reason') or 'other'}"] += 1
    return dict(sorted(c.items()))


class _Progress:
    """A line every ``every`` simulated minutes: time, minutes, orders, fills, net P&L."""

    def __init__(self, session, total: int, every: int, echo: Callable[[str], None] | None):
        self.session, self.total, self.every, self.echo = session, total, max(1, every), echo
        self.lines: list[str] = []
        self.n = 0
        b = session.book  # the stage's own counts: a live journal's book holds earlier days too
        self.base = (len(b.orders), b.fills, b.net_pnl)

    def line(self, now: datetime) -> str:
        b = self.session.book
        state = getattr(self.session, "trading_state", b.trading_state)
        blocked = getattr(getattr(self.session, "oms", None), "blocked_reason", None)
        orders0, fills0, net0 = self.base
        return (f"{now:%H:%M}  {self.n:>4}/{self.total} min  orders {len(b.orders) - orders0:>3}  open {len(b.open):>2}  "
                f"fills {b.fills - fills0:>3}  net ₹{fmt_inr(b.net_pnl - net0)}  [{state}]"
                + (f"  blocked: {blocked}" if blocked else ""))

    def tick(self, now: datetime) -> None:
        self.n += 1
        if self.n % self.every == 0:
            self.emit(now)

    def emit(self, now: datetime) -> None:
        s = self.line(now)
        self.lines.append(s)
        if self.echo is not None:
            self.echo(s)


def _hhmm(value: str | time | None, day: date, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, time):
        t = value
    else:
        try:
            hh, mm = str(value).strip().split(":")
            t = time(int(hh), int(mm))
        except ValueError:
            raise ValidationError(f"{value!r} is not a time (HH:MM)", field=name) from None
    return datetime.combine(day, t, IST)


def _trip_kill_switch(url: str, reason: str) -> None:
    """Write a kill-switch request the way ``tradekit kill`` does: from another journal connection."""
    from tradekit.store import Journal, make_engine

    j = Journal(make_engine(url))
    try:
        j.append(E.KILL_SWITCH, {"action": "trip", "reason": reason, "by": "drill", "flatten": True, "origin": "drill"})
    finally:
        j.close()
        j.engine.dispose()


# -- paper -------------------------------------------------------------------------------------------------
def run_paper_day(
    cfg,
    day: date | str,
    data: Mapping[str, pd.DataFrame] | None = None,
    *,
    symbols: str | Iterable[str] | None = None,
    signals_path: str | Path | None = None,
    strategy=None,
    out_dir: str | Path = ".",
    speed: float | None = None,
    kill_at: str | time | None = None,
    progress_every: int = 30,
    echo: Callable[[str], None] | None = print,
    on_minute: Callable[[int], None] | None = None,
) -> SessionRun:
    """Replay ``day`` through a paper session and return what happened.

    Parameters
    ----------
    cfg : TradekitConfig
        The config (``execution.charges_as_of`` is needed for days before 2020-07-01).
    day : date or ISO str
        A trading day with recorded bars.
    data : mapping of key to bars, optional
        Bars to replay (``{"NSE:RELIANCE": DataFrame}``); default the bundled bars of ``symbols``.
    symbols : str or list, optional
        Bundled symbols to replay when ``data`` is not given (``"RELIANCE,INFY"``).
    signals_path : path, optional
        A signal file in the published schema; each signal enters the pipeline at its ``signal_time``.
    strategy : str or strategy object, optional
        ``"sma:10:30:10:MIS"`` or an object with ``signals(bars, key)``; its signals go through
        the pipeline the same way.
    out_dir : path
        The run folder: the journal is ``<out_dir>/journal.db``. A folder whose journal already
        holds orders is refused (a rerun starts from an empty folder).
    speed : float, optional
        None: as fast as possible; else simulated seconds per wall second (paced, for a person
        approving in the dashboard).
    kill_at : "HH:MM", optional
        A drill: trip the kill switch from another journal connection at this simulated time.
    progress_every : int
        Print a progress line every this many simulated minutes (through ``echo``).
    on_minute : callable, optional
        Called with each minute's end (ns since the epoch), after the stage's own work.

    Raises
    ------
    TradekitError
        Not a trading day, no bars, a bad signal file or strategy, or a used run folder.
    """
    from tradekit.runs.live import PaperSessionRunner, parse_strategy
    from tradekit.signals import SignalPipeline

    t0 = _time.perf_counter()
    d = as_date(day)
    run_dir = Path(out_dir)
    inputs: dict = {}
    if data is None:
        if symbols is None:
            raise ValidationError("give the bars (data) or the bundled symbols to replay", field="symbols")
        data, inputs = day_bars(symbols, d, cfg.data_dir)
    data = {k: df[df.index.date == d] for k, df in data.items()}
    data = {k: df for k, df in data.items() if len(df)}
    if not data:
        raise DataError(f"no bars on {d} to replay")

    first_bar = min(df.index[0] for df in data.values()).to_pydatetime()
    session = open_paper_session(cfg, d, run_dir, at=first_bar)
    try:
        unknown = [k for k in data if session.instruments is not None and session.instruments.find(k) is None]
        if unknown:  # refused up front, naming each, rather than every signal rejected one by one
            info = getattr(session.instruments, "info", None)
            raise DataError(f"unknown instrument(s) {', '.join(unknown)}: not in "
                            f"{info.message.split(': ', 1)[1] if info else 'the instrument master'}; list each under "
                            f"market.instruments in the config (e.g. {unknown[0]}:EQ)")
        cal = session.calendar
        if cal is not None and not cal.is_trading_day(d):
            h = cal.holiday(d)
            raise TradekitError(f"not a trading day: {d}" + (f" ({h.name})" if h else " (weekend)"))
        if session.book.orders:
            raise TradekitError(f"{journal_path(run_dir)} already holds a session with {len(session.book.orders)} "
                                "orders; replay into an empty run folder (tradekit run day reruns the whole chain)")
        since = session.book.last_seq
        # every signal of the day, released into the pipeline at its own time
        pending = []
        bad: list[dict] = []
        src = "replay"
        if signals_path:
            sigs, bad, desc = load_signal_file(signals_path)
            pending += sigs
            inputs["signals"] = desc
            src = f"file:{Path(signals_path).name}"
        if strategy:
            strat = parse_strategy(strategy) if isinstance(strategy, str) else strategy
            for key, df in data.items():
                pending += strat.signals(df, key)
        pending.sort(key=lambda s: (s.signal_time, -s.priority, s.signal_id))

        pipeline = SignalPipeline(session.journal, session.config, sink=session.submit_signal, emit=session._emit,
                                  clock=session.clock)
        if bad:  # journaled as malformed, with the reasons, before the day starts
            pipeline.submit(bad, source=src)
        times = [dt_to_ns(s.signal_time) for s in pending]
        total = len(set().union(*(set(df.index) for df in data.values())))
        progress = _Progress(session, total, progress_every, echo)
        kill_ns = dt_to_ns(_hhmm(kill_at, d, "kill_at")) if kill_at not in (None, "") else None
        url = session.config.store_url()
        last_price = getattr(getattr(session.broker, "exchange", None), "last_price", {})
        state = {"i": 0, "killed": False}

        def minute(e_ns: int) -> None:
            now = ns_to_dt(e_ns)
            i = state["i"]
            j = i
            while j < len(pending) and times[j] <= e_ns:
                j += 1
            if j > i:
                due = pending[i:j]
                for s in due:  # risk checks and sizing see the latest price, as in a live session
                    px = last_price.get(s.key)
                    if px is not None:
                        session.oms.mark(s.key, px)
                pipeline.submit(due, source=src)
                state["i"] = j
            if kill_ns is not None and not state["killed"] and e_ns >= kill_ns:
                state["killed"] = True
                _trip_kill_switch(url, f"kill-switch drill at {now:%H:%M}")
            progress.tick(now)
            if on_minute is not None:
                on_minute(e_ns)

        started = session.clock.now()
        runner = PaperSessionRunner(session, data, speed=speed, on_minute=minute)
        res = runner.run()
        progress.emit(session.clock.now())
        notes = []
        late = len(pending) - state["i"]
        if late:
            notes.append(f"{late} signal(s) stamped after the last bar were not delivered")
        b = session.book
        if b.trading_state == "HALTED":
            reason = "halted by the kill switch" if _killed(session.journal, since) else "halted by a risk breaker"
            reason += f" at {_halt_time(session.journal, since):%H:%M}"
        elif res.stopped:
            reason = "stopped on request"
        else:
            reason = "the close"
        cfg_asof = session.config.execution.charges_as_of
        if cfg_asof is not None and cfg_asof != d:
            notes.append(f"charges priced at the rates of {cfg_asof} (execution.charges_as_of), not of {d}")
        out = SessionRun(
            day=d, mode="paper", run_dir=run_dir.resolve(), journal=str(journal_path(run_dir).resolve()),
            started_at=started, ended_at=session.clock.now(), minutes=progress.n, minutes_total=total,
            stopped=res.stopped, stop_reason=reason, trading_state=b.trading_state,
            signals=_signal_counts(session.journal, since), orders=_orders_table(b), positions=_positions_table(b),
            pnl=_pnl(b), elapsed_s=_time.perf_counter() - t0, inputs=inputs, progress=progress.lines, notes=notes,
        )
        session._emit(E.SESSION_ENDED, {"day": d.isoformat(), "reason": reason})
        return out
    finally:
        session.close()


def _killed(journal, since: int) -> bool:
    return any(e.payload.get("action") == "trip" for e in journal.events(after=since, types=(E.KILL_SWITCH,)))


def _halt_time(journal, since: int) -> datetime:
    t = None
    for e in journal.events(after=since, types=(E.TRADING_STATE,)):
        if e.payload.get("state") == "HALTED":
            t = e.time
    return t or datetime.now(IST)


# -- live --------------------------------------------------------------------------------------------------
def run_realtime(session, day: date, **kw) -> tuple[str, int]:
    """Run ``session`` on its clock until the close (or ``until``), the kill switch, or ``stop()``,
    writing its heartbeat for the dashboards (see :func:`_run_realtime` for the arguments)."""
    from tradekit.runs.heartbeat import HeartbeatWriter

    hb = HeartbeatWriter(session, speed=None) if getattr(session, "config", None) is not None else None
    try:
        return _run_realtime(session, day, heartbeat=hb, **kw)
    finally:
        if hb is not None:
            hb.stop()


def _run_realtime(
    session,
    day: date,
    *,
    inbox=None,
    pipeline=None,
    until: datetime | None = None,
    poll_interval: float = 0.5,
    progress_every: int = 30,
    echo: Callable[[str], None] | None = print,
    stop: Callable[[], bool] | None = None,
    sleep: Callable[[float], None] | None = None,
    halt_grace: timedelta = timedelta(minutes=5),
    heartbeat=None,
) -> tuple[str, int]:
    """Run ``session`` on its clock until the close (or ``until``), the kill switch, or ``stop()``.

    Each cycle (:meth:`Session.service`) applies requests from other processes (approvals,
    cancels, the kill switch), takes inbox files, expires proposals past their TTL, resolves
    orders of unknown outcome and retries parked signals, and runs the market-data hub's timed work
    (subscriptions, failover, marks) and the risk manager's (stale feed, loss on the latest marks); a journal that cannot be written
    halts new orders until it can (the run goes on). At ``execution.square_off_time`` it
    flattens MIS positions.
    Returns ``(why it ended, minutes run)``.
    """
    from tradekit.model.enums import Product

    clock = session.clock
    if sleep is None and type(clock) is RealClock and callable(getattr(inbox, "wait", None)):
        sleep = inbox.wait  # on the wall clock, a signal file landing ends the pause (tradekit.fswatch)
    sleep = sleep or clock.sleep
    market = getattr(session, "market", None)
    close = until
    if close is None:
        close = session.calendar.session_times(day).close if session.calendar is not None else datetime.combine(
            day, time(15, 30), IST)
    sq = session.square_off_time(day)
    squared = False
    halted_at: datetime | None = None
    start = clock.now()
    total = max(0, int((close - start).total_seconds() // 60))
    progress = _Progress(session, total, progress_every, echo)
    last_minute = start.replace(second=0, microsecond=0)
    while True:
        now = clock.now()
        if stop is not None and stop():
            return "stopped on request", progress.n
        session.service(inbox=inbox, pipeline=pipeline)
        if heartbeat is not None:
            heartbeat.beat()
        if market is not None and session.journal_down is None:  # subscriptions follow the book; failover; due marks
            session._guard(lambda: market.poll(now))
        if session.risk is not None and session.journal_down is None:  # stale feed (no packet), mismatches, loss
            session._guard(lambda: session.risk.poll(now, session.book, market_open=_market_open(session, now)))
        if sq is not None and not squared and now >= sq and session.journal_down is None:
            squared = session._guard(lambda: session.oms.flatten(product=Product.MIS, reason="tradekit MIS square-off",
                                                                 source="square_off"))
        while min(now, close).replace(second=0, microsecond=0) > last_minute:
            last_minute += timedelta(minutes=1)
            progress.tick(last_minute)
        if session.book.trading_state == "HALTED":
            halted_at = halted_at or now
            if not session.book.open or now - halted_at >= halt_grace:
                return f"halted at {halted_at:%H:%M}", progress.n
        if now >= close:
            return "the close", progress.n
        sleep(poll_interval)


def _market_open(session, now: datetime) -> bool:
    cal = session.calendar
    if cal is None:
        return True
    try:
        return cal.is_open(now)
    except Exception:  # outside the calendar's tables
        return True


def run_live_day(
    cfg,
    day: date | str,
    *,
    out_dir: str | Path = ".",
    poll_interval: float = 0.5,
    progress_every: int = 30,
    echo: Callable[[str], None] | None = print,
    stop: Callable[[], bool] | None = None,
    session=None,
) -> SessionRun:
    """Run today's live session (Kite, real clock) until the close or the kill switch.

    Signals come from the inbox folder (``signals.inbox``) and, when enabled, the HTTP
    endpoint; each goes through the pipeline to the approval queue or the auto policy.
    ``session`` lets a test pass a prepared session.

    Raises
    ------
    TradekitError
        ``day`` is not today or not a trading day; the config is not a live config.
    """
    from tradekit.config import Secrets
    from tradekit.session import Session
    from tradekit.signals import Inbox, SignalPipeline, SignalServer

    t0 = _time.perf_counter()
    d = as_date(day)
    s = session or Session.from_config(cfg, mode="live")
    server = shadow = None
    reason = None
    try:
        today = s.clock.now().date()
        if d != today:
            raise TradekitError(f"a live session runs today ({today}), not {d}; replay other days in paper mode")
        if s.calendar is not None and not s.calendar.is_trading_day(d):
            raise TradekitError(f"not a trading day: {d}")
        since = s.book.last_seq
        base, stage_t0 = _pnl(s.book), s.clock.now()  # the day's figures: what this stage adds to the account's history
        sink = s.submit_signal
        if s.config.execution.shadow_paper:  # paper against live on the same signals and the same feed
            from tradekit.runs.shadow import ShadowPaper

            shadow = ShadowPaper(s, out_dir)
            sink = shadow.sink(sink)
        pipeline = SignalPipeline(s.journal, s.config, sink=sink, emit=s._emit, clock=s.clock)
        sc = s.config.signals
        inbox = Inbox.from_settings(sc, s.config.data_dir, pipeline) if sc.inbox_enabled else None
        if sc.http_enabled:
            server = SignalServer.from_settings(sc, pipeline, secrets=Secrets.load(s.config.secrets_file)).start()
        s.start()  # live: order updates, reconciliation now and on a timer; orders blocked until logged in
        started = s.clock.now()

        def duties() -> bool:
            if shadow is not None:
                shadow.drain()
            return stop is not None and stop()

        reason, minutes = run_realtime(s, d, inbox=inbox, pipeline=pipeline, poll_interval=poll_interval,
                                       progress_every=progress_every, echo=echo,
                                       stop=duties if shadow is not None else stop)
        if shadow is not None:
            shadow.drain()
        b = s.book
        return SessionRun(
            day=d, mode=s.mode.value, run_dir=Path(out_dir).resolve(), journal=s.config.store_url(), started_at=started,
            ended_at=s.clock.now(), minutes=minutes, minutes_total=minutes, stopped=reason != "the close",
            stop_reason=reason, trading_state=b.trading_state, signals=_signal_counts(s.journal, since),
            orders=_orders_table(b, stage_t0), positions=_positions_table(b), pnl=_pnl(b, base),
            elapsed_s=_time.perf_counter() - t0,
        )
    finally:
        if server is not None:
            server.stop()
        if shadow is not None:
            shadow.close(d, at_close=reason == "the close")
        if session is None:
            s.close()


def run_session(cfg, day: date | str, mode: str, *, symbols=None, signals_path=None, strategy=None,
                out_dir: str | Path = ".", speed: float | None = None, kill_at=None, progress_every: int = 30,
                echo: Callable[[str], None] | None = print) -> SessionRun:
    """The session notebook's entry point: :func:`run_paper_day` or :func:`run_live_day` by ``mode``,
    then the outcome written to ``<out_dir>/session.json``."""
    from tradekit.runs.notebook import write_stage

    mode = (mode or cfg.mode).strip().lower()
    if mode == "paper" and cfg.paper.feed == "kite":  # paper trading on today's live Kite ticks
        if strategy:
            raise ValidationError("with paper.feed: kite signals come from the inbox or the HTTP endpoint; bundled "
                                  "strategies run on recorded days", field="strategy")
        from tradekit.runs.live import run_paper_live_day

        run = run_paper_live_day(paper_config(cfg, out_dir), day, symbols=[f"NSE:{x}" for x in parse_symbols(symbols)] if symbols else (), out_dir=out_dir,
                                 echo=echo)
    elif mode == "paper":
        run = run_paper_day(cfg, day, symbols=symbols, signals_path=signals_path or None, strategy=strategy or None,
                            out_dir=out_dir, speed=speed, kill_at=kill_at, progress_every=progress_every, echo=echo)
    elif mode == "live":
        if strategy:
            raise ValidationError("in live mode signals come from the inbox or the HTTP endpoint; bundled "
                                  "strategies run on paper replays only", field="strategy")
        run = run_live_day(cfg, day, out_dir=out_dir, progress_every=progress_every, echo=echo)
    else:
        raise ValidationError(f"{mode!r} is not paper or live", field="mode")
    write_stage(out_dir, "session", run.to_dict())
    return run


__all__ = [
    "JOURNAL_NAME", "SessionRun", "as_date", "day_bars", "journal_path", "journal_url", "load_signal_file",
    "open_paper_session", "paper_config", "parse_symbols", "run_live_day", "run_paper_day", "run_realtime",
    "run_session",
]
