"""Replay recorded days through a paper session: the backtest at live parity.

The loop is event-driven and the same objects run it as a live day (session, gate, OMS,
paper broker, journal); only the clock is simulated. Per minute:

1. time events due before the bar starts: tradekit's own MIS square-off, the broker's cut-off;
2. the clock moves to the bar's start and the paper exchange matches resting orders against
   the bar of every instrument that has one (orders sent earlier fill here, never earlier);
3. the clock moves to the bar's end; the minute's bars go through the session's market-data
   hub as one packet of ticks at their close (the path a paper or live session's prices take:
   quotes and OMS prices, positions marked, the volatility, market-wide and loss/drawdown
   breakers); then signals stamped at or before it are submitted. Journaling the hub's
   throttled ``mark`` events is time-driven work of a session loop (``MarketDataHub.poll``):
   the paper runner does it every minute; a batch replay journals each day's closing marks.

Hot loops use numpy arrays and floats; money becomes Decimal at the order/fill edge.
"""

from __future__ import annotations

import logging
import time as _time
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

from tradekit.clock import DAY_NS, IST, IST_OFFSET_NS, dt_to_ns, ns_to_dt
from tradekit.data.types import Tick
from tradekit.errors import TradekitError, TradingHalted
from tradekit.model.enums import Product
from tradekit.model.signal import Signal
from tradekit.signals.schema import signal_to_dict
from tradekit.store.events import EventType as E

log = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    session: object
    start: datetime | None
    end: datetime | None
    bars: int
    days: list[date]
    signals: int
    orders: int
    fills: int
    elapsed: float
    rejected_signals: list[tuple[str, str]] = field(default_factory=list)
    data: dict = field(default_factory=dict, repr=False)
    stopped: bool = False  # ended early (kill switch, stop request)
    unit: str = "bar"  # what ``bars`` counts: bars, or ticks for a tick replay
    malformed: int = 0  # records of a signal file that did not parse (set by the CLI)
    previous_run: object = None  # where the CLI kept the folder's earlier run, if there was one
    verified: object = None  # the chain verified at the end of a batch-durability replay (an audit VerifyResult)

    @property
    def bars_per_second(self) -> float:
        return self.bars / self.elapsed if self.elapsed > 0 else float("inf")

    @property
    def all_rejected(self) -> bool:
        """Signals were given, and not one reached the OMS (each was rejected or malformed)."""
        return self.signals == 0 and (len(self.rejected_signals) + self.malformed) > 0

    def summary(self) -> str:
        b = self.session.book
        from tradekit.model.money import fmt_inr

        u = self.unit
        bad = ""
        if self.rejected_signals or self.malformed:
            bad = f" ({len(self.rejected_signals)} rejected, {self.malformed} malformed)"
        return (f"replayed {self.bars:,} {u}s over {len(self.days)} session(s) in {self.elapsed:.2f}s "
                f"({self.bars_per_second:,.0f} {u}s/s): {self.signals} signals{bad}, {self.orders} orders, {self.fills} fills; "
                f"realized ₹{fmt_inr(b.realized_pnl)}, charges ₹{fmt_inr(b.charges_total.total)}, net ₹{fmt_inr(b.net_pnl)}")


_IST_OFFSET_NS, _DAY_NS = IST_OFFSET_NS, DAY_NS  # numpy's form of ist_day_no (bars from 1946 on)
_CLOSE_NS = (15 * 3600 + 30 * 60) * 1_000_000_000  # 15:30 IST after a daily bar's 00:00 label
_NEVER = 2**62


def _day_from_no(n: int) -> date:
    return date(1970, 1, 1) + timedelta(days=n)


def _mark_positions(book, last: Mapping[str, float], risk, now: datetime) -> None:
    """Mark the open positions at the last prices seen (floats) and let the risk manager look
    (loss and drawdown breakers): what the bar and tick loops do once a minute without a hub."""
    if risk is None or not book.positions:
        return
    marked = False
    for p in book.positions.values():
        if p.quantity:
            px = last.get(f"{p.exchange}:{p.tradingsymbol}")
            if px is not None:
                p.last_price = Decimal(float.__repr__(px))
                marked = True
    if marked:
        risk.on_marks(book, now)


class _QuietRuns:
    """Where a quiet run starting at a minute (group of bars) must end at the latest: before a new day."""

    def __init__(self, uniq, day_no) -> None:
        G = len(uniq)
        brk = np.ones(G, dtype=bool)
        brk[1:] = day_no[1:] != day_no[:-1]
        nb = np.append(np.flatnonzero(brk), G)
        self.next_break = nb[np.searchsorted(nb, np.arange(G), side="right")].tolist()
        self.uniq = uniq.tolist()

    def end(self, g: int, time_event_ns: int, signal_start_ns: int) -> int:
        """The first minute after ``g`` a run cannot take: ``time_event_ns`` (square-off, cut-off)
        starts it; the minute ending at or after ``signal_start_ns + bar`` is the run's last."""
        h = self.next_break[g]
        if time_event_ns < _NEVER:
            h = min(h, bisect_left(self.uniq, time_event_ns, g + 1))
        if signal_start_ns < _NEVER:
            h = min(h, bisect_left(self.uniq, signal_start_ns, g) + 1)
        return h


def _day_volumes(kidx: np.ndarray, day: np.ndarray, vols: np.ndarray) -> list[int]:
    """Each bar's instrument's volume since its IST day's first bar, this bar's included (what a
    Kite tick's ``volume`` carries): a running sum per (instrument, day), in integers, once."""
    n = len(vols)
    if not n:
        return []
    o = np.lexsort((np.arange(n), day, kidx))  # by instrument, then day, then time
    k, d, v = kidx[o], day[o], vols[o].astype("int64")
    cs = np.cumsum(v)
    first = np.ones(n, dtype=bool)
    first[1:] = (k[1:] != k[:-1]) | (d[1:] != d[:-1])
    group = np.cumsum(first) - 1
    out = np.empty(n, dtype="int64")
    out[o] = cs - (cs - v)[first][group]
    return out.tolist()


def _quiet_run(hub, exchange, feed, keys_l, bar_keys, j0, j1, bounds, ends, closes_l, vols_l, dayvol_l, last_close,
               synced: int = 0) -> int:
    """Bars ``j0 .. j1-1`` (minute ``i`` holds ``bounds[i]:bounds[i+1]`` of them, counted from
    ``j0``) through the hub's quiet path; the exchange and the replay's closes follow (``sync``)
    before anything could act on them, from minute ``synced`` on (the minutes before it went
    through ``on_bar`` already). Returns the minutes taken."""
    closes = closes_l[j0:j1]
    vols = vols_l[j0:j1]
    keys = bar_keys[j0:j1]
    traded: set[str] = set()
    only = keys[0] if len(keys_l) == 1 else None  # the replay's one instrument

    def sync(i: int) -> None:  # what on_bar leaves after minutes .. i: each key's last close, and that it traded
        nonlocal synced
        if only is not None:  # every bar is its: the last close, and whether any volume (ints) was positive
            lo, hi = bounds[synced], bounds[i + 1]
            if lo < hi:
                if max(vols[lo:hi]) > 0:
                    traded.add(only)
                exchange.pass_bars(only, closes[hi - 1], only in traded)
                last_close[only] = closes[hi - 1]
            synced = i + 1
            return
        last = {}
        for j in range(bounds[synced], bounds[i + 1]):
            last[keys[j]] = closes[j]
            if vols[j] > 0:
                traded.add(keys[j])
        for key, c in last.items():
            exchange.pass_bars(key, c, key in traded)
            last_close[key] = c
        synced = i + 1

    return hub.on_quiet_bars(feed, ends, bounds, keys, closes, vols, dayvol_l[j0:j1], sync)


def _end_day(session, day: date, prices: Mapping[str, float]) -> None:
    """The exchange closes first (DAY orders lapse, charges debited); then the closing marks are
    journaled: a breaker tripped by them sends its flatten orders after the close, and they rest
    for the next open like after-market orders."""
    broker, oms = session.broker, session.oms
    if hasattr(broker, "end_of_day"):
        broker.end_of_day(day)
    for k, px in prices.items():
        oms.mark(k, px)
    session._emit(E.MARK, {"day": day.isoformat(), "prices": {k: f"{v:.4f}" for k, v in prices.items()}})


def _finish(session, verify: bool):
    """Write what the journal buffered; in batch durability, verify the chain once (the
    events just written, from genesis to the tail row) instead of trusting each commit."""
    journal = session.journal
    journal.flush()
    if not verify or getattr(journal, "durability", "sync") != "batch":
        return None
    from tradekit.store.audit import verify as _verify

    res = _verify(journal)
    if not res.ok:
        raise TradekitError(f"the replay's journal does not verify: {res}")
    return res


def run_replay(
    session,
    data: Mapping[str, pd.DataFrame],
    *,
    signals: Iterable[Signal] = (),
    strategies: Iterable = (),
    start=None,
    end=None,
    bar: timedelta | None = None,
    progress: bool = False,
    square_off: bool = True,
    pace=None,
    risk_marks: bool = True,
    feed: str | None = "replay",
    verify: bool = True,
    fast: bool = True,
) -> ReplayResult:
    """Replay bars (``{"NSE:RELIANCE": DataFrame, ...}``) through ``session``.

    ``signals`` are submitted at the first bar end at or after their ``signal_time``;
    ``strategies`` (objects with ``signals(bars, key)``) add theirs. ``pace(bar_end_ns) -> bool``
    is called after each minute (a live-paced runner waits and polls there); returning False
    stops the replay.

    ``feed``: every intraday bar goes into the session's market-data hub (``session.market``)
    at its end as a tick of its close carrying the day's volume so far, as the source named
    ``feed`` (``"paper"`` for a paper session), the packets of one minute together: the same
    path a live tick takes (quotes, positions marked in memory, the risk manager's tick,
    index and loss/drawdown breakers; the hub's ``mark`` events are journaled by whoever polls
    it, e.g. the paper runner's ``pace``). Daily
    bars are not fed (no intraday clock: the breakers measure minutes). ``feed=None``, or a
    session without a hub: ``risk_marks`` marks open positions from bar closes directly and
    lets the loss and drawdown breakers look at them. Returns counts and timing; the state is
    in ``session.book`` and the journal.

    ``verify``: with a journal in ``batch`` durability (``Session.for_replay``), the chain is
    verified once at the end (``ReplayResult.verified``); a failure raises TradekitError.

    ``fast`` (default): quiet runs of minutes (within a day, no order resting, no signal due, no
    square-off or cut-off, every hub listener quiet for every instrument; a minute whose resting
    orders filled on its bar starts the run with its packet) go through the hub
    in one call (:meth:`MarketDataHub.on_quiet_bars`): the same clock per bar, the same risk
    measures and breaker trips on the same bar, the same journal and book as ``fast=False``, the
    reference path that takes every minute on its own.
    """
    t0 = _time.perf_counter()
    frames = {}
    for key, df in data.items():
        if start is not None or end is not None:
            idx = df.index
            lo = pd.Timestamp(start).tz_localize(IST) if start is not None and pd.Timestamp(start).tz is None else (pd.Timestamp(start) if start is not None else None)
            hi = pd.Timestamp(end).tz_localize(IST) if end is not None and pd.Timestamp(end).tz is None else (pd.Timestamp(end) if end is not None else None)
            if hi is not None and hi == hi.normalize():
                hi = hi + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
            mask = np.ones(len(df), dtype=bool)
            if lo is not None:
                mask &= idx >= lo
            if hi is not None:
                mask &= idx <= hi
            df = df[mask]
        if len(df):
            frames[key] = df
    if not frames:
        raise TradekitError("no bars to replay in the given range")

    if bar is None:  # from the data: 1-minute, N-minute or daily bars
        from tradekit.data.resample import infer_interval

        bar = min(infer_interval(df) for df in frames.values()).to_pytimedelta()
    daily = bar >= timedelta(days=1)
    if daily:
        square_off = False  # daily bars carry no intraday clock: no MIS square-off within them
    costs = getattr(session, "charges", None)
    if costs is not None and hasattr(costs, "check_day"):
        for df in frames.values():  # fail before the first bar, not on the first fill
            for d in {df.index[0].date(), df.index[-1].date()}:
                try:
                    costs.check_day(d)
                except TradekitError as e:
                    raise TradekitError(f"{e}; to replay these days, price them at another day's rates with "
                                        f"`execution.charges_as_of: YYYY-MM-DD` in the config") from None
    all_signals = list(signals)
    strategies = list(strategies)
    for strat in strategies:
        for key, df in frames.items():
            all_signals.extend(strat.signals(df, key))
    all_signals.sort(key=lambda s: (s.signal_time, -s.priority))
    if daily:  # MIS would be held for months at intraday rates: daily bars trade delivery products
        mis = [getattr(st, "strategy", str(st)) for st in strategies if getattr(st, "trade_product", None) is Product.MIS]
        mis += [s.signal_id for s in all_signals if s.product is Product.MIS]
        if mis:
            from tradekit.errors import ValidationError

            raise ValidationError(f"{len(mis)} MIS strategy or signal(s) on daily bars (first: {mis[0]}); MIS is intraday and is "
                                  "squared off the same day: use CNC (delivery) or NRML", field="product")

    keys = list(frames)
    starts = np.concatenate([frames[k].index.as_unit("ns").asi8 for k in keys])  # ns, whatever unit the index has
    kidx = np.concatenate([np.full(len(frames[k]), i, dtype=np.int32) for i, k in enumerate(keys)])
    opens = np.concatenate([frames[k]["open"].to_numpy(dtype="float64") for k in keys])
    highs = np.concatenate([frames[k]["high"].to_numpy(dtype="float64") for k in keys])
    lows = np.concatenate([frames[k]["low"].to_numpy(dtype="float64") for k in keys])
    closes = np.concatenate([frames[k]["close"].to_numpy(dtype="float64") for k in keys])
    vols = np.concatenate([frames[k]["volume"].to_numpy(dtype="int64") for k in keys])
    order = np.argsort(starts, kind="stable")
    starts, kidx, opens, highs, lows, closes, vols = (a[order] for a in (starts, kidx, opens, highs, lows, closes, vols))
    n = len(starts)
    uniq, first_pos = np.unique(starts, return_index=True)
    group_end = np.append(first_pos[1:], n)
    bar_ns = int(bar.total_seconds() * 1e9)
    day_no = (uniq + _IST_OFFSET_NS) // _DAY_NS  # IST calendar day of each bar start

    clock = session.clock
    broker = session.broker
    oms = session.oms
    # single-threaded replay: call the simulated exchange directly (the broker's lock guards live threads)
    on_bar = broker.exchange.on_bar if hasattr(broker, "exchange") else broker.on_bar
    last_close: dict[str, float] = {}
    rejected: list[tuple[str, str]] = []
    days: list[date] = []
    sig_i, n_sig = 0, len(all_signals)
    sig_ns = [dt_to_ns(s.signal_time) for s in all_signals]
    submitted = 0
    bar_pbar = None
    if progress:
        from tqdm.auto import tqdm

        bar_pbar = tqdm(total=n, unit="bar", desc="replay", mininterval=0.5)

    cur_day_no = None
    cur_day = None
    stopped = False
    sq_ns = cut_ns = _NEVER
    orders_before = len(session.book.orders)
    fills_before = session.book.fills
    keys_l = keys
    kidx_l = kidx.tolist()
    opens_l, highs_l, lows_l, closes_l, vols_l = opens.tolist(), highs.tolist(), lows.tolist(), closes.tolist(), vols.tolist()

    def end_day(day):
        _end_day(session, day, {k: last_close[k] for k in keys if k in last_close})

    rms = hasattr(broker, "square_off_mis") and getattr(getattr(broker, "config", None), "rms_square_off", False)
    book = session.book
    hub = getattr(session, "market", None) if feed and not daily else None
    risk = getattr(session, "risk", None) if risk_marks and hub is None else None
    # each bar's volume since its key's day's first bar, as a Kite tick carries it
    dayvol_l = _day_volumes(kidx, (starts + _IST_OFFSET_NS) // _DAY_NS, vols) if hub is not None else None
    day_no_l = day_no.tolist()
    on_ticks = hub.on_ticks if hub is not None else None
    # issue 15: slices and TWAP/VWAP/POV parents step on the replay's clock; fed by the hub when it is fed
    algos = getattr(session, "algos", None) if on_ticks is None else None
    conds = getattr(session, "conditions_book", None) if hub is None else None  # the hub evaluates them otherwise
    baskets = getattr(session, "baskets", None)  # issue 21: a basket's next leg once one fills (no service loop here)
    # the quiet-run fast path (``fast``): runs of minutes within a day with no order resting, no signal
    # due, no time event and every hub listener quiet go through the hub in one call
    G = len(uniq)
    quiet = None
    if fast and on_ticks is not None and pace is None and hasattr(getattr(broker, "exchange", None), "pass_bars"):
        quiet = _QuietRuns(uniq, day_no)
    uniq_l, first_pos_l, group_end_l = uniq.tolist(), first_pos.tolist(), group_end.tolist()
    exchange = getattr(broker, "exchange", None)

    def any_resting() -> bool:
        return any(exchange.has_resting(k) for k in keys_l)

    def hub_quiet() -> bool:  # every hub listener quiet for every key, and no working basket (it steps each minute)
        return all(hub.quiet(k, feed) for k in keys_l) and not (baskets is not None and baskets.baskets
                                                                and baskets.active())

    if quiet is not None:
        bar_keys = [keys_l[k] for k in kidx_l]
        ends_l = [u + bar_ns for u in uniq_l]

    def quiet_run(g: int, h: int, synced: int) -> int:
        """Minutes ``g .. h-1`` through the hub's quiet path (``synced``: how many of them went
        through ``on_bar`` already); returns the minutes taken."""
        j0, j1 = first_pos_l[g], group_end_l[h - 1]
        if j1 - j0 == h - g:  # a bar a minute
            bounds = range(h - g + 1)
        else:
            bounds = [b - j0 for b in first_pos_l[g:h]] + [j1 - j0]
        return _quiet_run(hub, exchange, feed, keys_l, bar_keys, j0, j1, bounds, ends_l[g:h], closes_l, vols_l,
                          dayvol_l, last_close, synced)
    g = 0
    while g < G:
        s_ns = uniq_l[g]
        if day_no_l[g] != cur_day_no:
            day = _day_from_no(day_no_l[g])
            if cur_day is not None and not daily:
                end_day(cur_day)  # the clock still reads the previous day's last bar end
                clock.set_ns(max(clock.ns, s_ns))
                session._emit(E.DAY_ROLLED, {"day": day.isoformat()})
            cur_day_no, cur_day = day_no_l[g], day
            days.append(day)
            sq = session.square_off_time(day) if square_off else None
            cut = session.mis_cutoff(None, day) if square_off else None
            sq_ns = dt_to_ns(sq) if sq is not None else _NEVER
            cut_ns = dt_to_ns(cut) if cut is not None else _NEVER
        if s_ns >= sq_ns:
            clock.set_ns(max(sq_ns, clock.ns))
            oms.flatten(product=Product.MIS, reason="tradekit MIS square-off", source="square_off")
            sq_ns = _NEVER
        if s_ns >= cut_ns:
            clock.set_ns(max(cut_ns, clock.ns))
            if rms:
                broker.square_off_mis()
            cut_ns = _NEVER
        taken = 0
        h = g  # the end of a quiet run from this minute (none)
        resting = False
        if quiet is not None:
            h = quiet.end(g, min(sq_ns, cut_ns), sig_ns[sig_i] - bar_ns if sig_i < n_sig else _NEVER)
            if h - g >= 2:
                resting = any_resting()
                if not resting and hub_quiet():
                    taken = quiet_run(g, h, 0)
        if not taken:
            clock.set_ns(max(s_ns, clock.ns))  # the rate governor may have paced orders past the bar's start
            e_ns = s_ns + bar_ns
            for j in range(first_pos_l[g], group_end_l[g]):
                key = keys_l[kidx_l[j]]
                c = closes_l[j]
                on_bar(key, s_ns, e_ns, opens_l[j], highs_l[j], lows_l[j], c, vols_l[j])
                last_close[key] = c
            if daily:  # the day closes (at 15:30) before its signals go out: they rest for the next open
                clock.set_ns(max(s_ns + _CLOSE_NS, clock.ns))
                end_day(cur_day)
                clock.set_ns(max(e_ns, clock.ns))
                session._emit(E.DAY_ROLLED, {"day": _day_from_no(day_no_l[g] + 1).isoformat()})
            # the orders that rested filled on this bar (or lapsed): its packet may start the quiet run
            if resting and not any_resting() and hub_quiet():
                taken = quiet_run(g, h, 1)
        if taken:
            g += taken - 1  # the run's last minute: its signals go out below
            e_ns = uniq_l[g] + bar_ns
        else:
            clock.set_ns(max(e_ns, clock.ns))
            if on_ticks is not None:  # the minute's bars as one packet: the path of a live tick
                ts = ns_to_dt(e_ns)
                packet = [Tick(keys_l[kidx_l[j]], ts, closes_l[j], None, "quote", last_quantity=vols_l[j], volume=dayvol_l[j])
                          for j in range(first_pos_l[g], group_end_l[g])]
                on_ticks(packet, feed)
            if algos is not None and algos.busy:  # issue 15: parents step on the replay's clock, POV on its volume
                for j in range(first_pos_l[g], group_end_l[g]):
                    algos.on_bar_volume(keys_l[kidx_l[j]], vols_l[j], cur_day)
                algos.step()
            if baskets is not None and baskets.baskets:
                baskets.step()
            if risk is not None and book.positions and not daily:
                _mark_positions(book, last_close, risk, clock.now())
            if conds is not None and conds.armed:  # no hub feed (daily bars, feed=False): conditions see each close
                conds.on_bars([(keys_l[kidx_l[j]], closes_l[j], vols_l[j]) for j in range(first_pos_l[g], group_end_l[g])],
                              clock.now())
        while sig_i < n_sig and sig_ns[sig_i] <= e_ns:
            sig = all_signals[sig_i]
            sig_i += 1
            submitted += _send_signal(session, sig, clock.now(), rejected)
        if bar_pbar is not None and group_end_l[g] - bar_pbar.n >= 1024:
            bar_pbar.update(group_end_l[g] - bar_pbar.n)
        if pace is not None and not pace(e_ns):
            stopped = True
            break
        g += 1
    if cur_day is not None and not daily:
        end_day(cur_day)
    verified = _finish(session, verify)
    if bar_pbar is not None:
        bar_pbar.update(n - bar_pbar.n)
        bar_pbar.close()
    elapsed = _time.perf_counter() - t0
    res = ReplayResult(session, ns_to_dt(int(uniq[0])), ns_to_dt(int(uniq[-1]) + bar_ns), n, days, submitted,
                       len(session.book.orders) - orders_before, session.book.fills - fills_before, elapsed, rejected, frames)
    res.stopped = stopped
    res.verified = verified
    return res



# -- tick replay ---------------------------------------------------------------------------------------

def bars_from_ticks(ticks: Iterable, rule: str = "1min") -> dict[str, pd.DataFrame]:
    """Bars per instrument from ticks in time order, by the session-aware resampler. A tick's
    volume is Kite's cumulative day volume, so a bar's volume is what traded since the tick before."""
    from tradekit.data.resample import ticks_to_bars

    rows: dict[str, tuple[list, list, list]] = {}
    prev: dict[str, int] = {}
    for t in ticks:
        if t.key is None or t.ts is None:
            continue
        ts_l, px_l, v_l = rows.setdefault(t.key, ([], [], []))
        v = 0
        if t.volume is not None:
            p = prev.get(t.key)
            v = t.volume - p if p is not None and t.volume >= p else 0
            prev[t.key] = t.volume
        ts_l.append(dt_to_ns(t.ts))
        px_l.append(t.last_price)
        v_l.append(v)
    out = {}
    for key, (ts_l, px_l, v_l) in rows.items():
        idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(ts_l, dtype="int64"), utc=True)).tz_convert(IST)
        df = pd.DataFrame({"price": px_l, "volume": np.asarray(v_l, dtype="int64")}, index=idx)
        out[key] = ticks_to_bars(df, rule)
    return out


def _day_end_ns(day: date) -> int:
    return dt_to_ns(datetime.combine(day, datetime.max.time(), IST))


def run_tick_replay(
    session,
    ticks: Iterable,
    *,
    signals: Iterable[Signal] = (),
    strategies: Iterable = (),
    bars: Mapping[str, pd.DataFrame] | None = None,
    square_off: bool = True,
    progress: bool = False,
    verify: bool = True,
) -> ReplayResult:
    """Replay ticks (in exchange-time order, e.g. :meth:`TickStore.iter_ticks`) through ``session``
    at tick level: the paper broker matches every tick (depth, trades through limits, volume
    deltas), with the same session, gate, OMS and charges as a live day.

    ``strategies`` see bars built from the ticks by the session-aware resampler (``bars`` when
    given); their signals and ``signals`` go out at the first tick at or after their time.
    A tick without a key or an exchange time is skipped (it cannot be placed in the day).
    """
    t0 = _time.perf_counter()
    ticks = [t for t in ticks if t.key is not None and t.ts is not None]
    if not ticks:
        raise TradekitError("no ticks to replay")
    if bars is None:
        bars = bars_from_ticks(ticks)
    costs = getattr(session, "charges", None)
    if costs is not None and hasattr(costs, "check_day"):
        for d in {ticks[0].ts.astimezone(IST).date(), ticks[-1].ts.astimezone(IST).date()}:
            try:
                costs.check_day(d)
            except TradekitError as e:
                raise TradekitError(f"{e}; to replay this day, price it at another day's rates with "
                                    f"`execution.charges_as_of: YYYY-MM-DD` in the config") from None
    all_signals = list(signals)
    for strat in strategies:
        for key, df in bars.items():
            all_signals.extend(strat.signals(df, key))
    all_signals.sort(key=lambda s: (s.signal_time, -s.priority))
    sig_ns = [dt_to_ns(s.signal_time) for s in all_signals]

    clock, broker, oms, book = session.clock, session.broker, session.oms, session.book
    on_tick = broker.exchange.on_tick if hasattr(broker, "exchange") else broker.on_tick
    hub = getattr(session, "market", None)
    if hub is not None:  # the price path of a live day: hub -> paper broker, OMS prices, risk, marks
        hub.add_listener(on_tick)

        def feed(t):
            hub.on_ticks([t], "replay")
    else:
        feed = on_tick
    rms = hasattr(broker, "square_off_mis") and getattr(getattr(broker, "config", None), "rms_square_off", False)
    risk = getattr(session, "risk", None)
    orders_before, fills_before = len(book.orders), book.fills
    rejected: list[tuple[str, str]] = []
    last: dict[str, float] = {}
    days: list[date] = []
    sig_i, n_sig, submitted = 0, len(all_signals), 0
    cur_day = None
    sq_ns = cut_ns = _NEVER
    minute = None
    pbar = None
    if progress:
        from tqdm.auto import tqdm

        pbar = tqdm(total=len(ticks), unit="tick", desc="tick replay", mininterval=0.5)

    def send_signals_until(ns: int) -> None:
        nonlocal sig_i, submitted
        while sig_i < n_sig and sig_ns[sig_i] <= ns:
            sig = all_signals[sig_i]
            clock.set_ns(max(sig_ns[sig_i], clock.ns))
            sig_i += 1
            submitted += _send_signal(session, sig, clock.now(), rejected)

    def end_day(day) -> None:
        _end_day(session, day, last)

    def mark_positions() -> None:
        _mark_positions(book, last, risk, clock.now())

    for i, t in enumerate(ticks):
        ns = dt_to_ns(t.ts)
        day = t.ts.astimezone(IST).date()
        if day != cur_day:
            if cur_day is not None:
                send_signals_until(_day_end_ns(cur_day))
                end_day(cur_day)
                clock.set_ns(max(clock.ns, ns))
                session._emit(E.DAY_ROLLED, {"day": day.isoformat()})
            cur_day = day
            days.append(day)
            sq = session.square_off_time(day) if square_off else None
            cut = session.mis_cutoff(None, day) if square_off else None
            sq_ns = dt_to_ns(sq) if sq is not None else _NEVER
            cut_ns = dt_to_ns(cut) if cut is not None else _NEVER
        send_signals_until(ns)
        if ns >= sq_ns:
            clock.set_ns(max(sq_ns, clock.ns))
            oms.flatten(product=Product.MIS, reason="tradekit MIS square-off", source="square_off")
            sq_ns = _NEVER
        if ns >= cut_ns:
            clock.set_ns(max(cut_ns, clock.ns))
            if rms:
                broker.square_off_mis()
            cut_ns = _NEVER
        m = ns // 60_000_000_000
        if minute is not None and m != minute:
            mark_positions()  # once a minute, like a bar replay
        minute = m
        clock.set_ns(max(ns, clock.ns))
        feed(t)
        last[t.key] = t.last_price
        if pbar is not None and (i & 4095) == 0:
            pbar.update(i - pbar.n)
    send_signals_until(_day_end_ns(cur_day))  # the day's last signals rest until the exchange lapses them
    mark_positions()
    end_day(cur_day)
    if hub is not None:
        hub.listeners.remove(on_tick)
    verified = _finish(session, verify)
    if pbar is not None:
        pbar.update(len(ticks) - pbar.n)
        pbar.close()
    res = ReplayResult(session, ticks[0].ts, ticks[-1].ts, len(ticks), days, submitted,
                       len(book.orders) - orders_before, book.fills - fills_before, _time.perf_counter() - t0,
                       rejected, dict(bars))
    res.unit = "tick"
    res.verified = verified
    return res


def _send_signal(session, sig, now, rejected: list) -> int:
    """Release one recorded signal into the session as a strategy engine would have sent it:
    journaled, then submitted; an expired or refused one is journaled as rejected. Returns 1 if sent."""
    if sig.expires_at is not None and sig.expires_at < now:
        rejected.append((sig.signal_id, "expired"))
        session._emit(E.SIGNAL_REJECTED, {"signal_id": sig.signal_id, "reason": "expired before it could be sent"})
        return 0
    try:
        session._emit(E.SIGNAL_RECEIVED, {**signal_to_dict(sig), "route": "auto", "source": "replay"})
        session.submit_signal(sig)
        return 1
    except (TradekitError, TradingHalted) as e:
        rejected.append((sig.signal_id, str(e)))
        session._emit(E.SIGNAL_REJECTED, {"signal_id": sig.signal_id, "reason": str(e)})
        return 0
