"""The sandbox's market: one real recorded session replayed tick by tick as "today".

Bars come from 1-minute files (``NSE_<SYMBOL>_1min.csv[.gz]``; default: tradekit's bundled
sample of real NSE data). One session of each file is replayed on ``trade_date`` (default:
today in IST) at its own times of day; the file's earlier sessions become the preceding
weekdays, so historical candles and the replay form one timeline.

Every other instrument of the master is priced too, at its last close (the last daily bar of
``NSE_<SYMBOL>_1d.csv``, else the last minute of its 1-minute file): it answers quotes, LTP,
OHLC and ticker snapshots but does not move unless moved (:meth:`SimMarket.move`). SENSEX
is not in the sample data; when the master lacks it, the sandbox lists ``BSE:SENSEX`` (token
265, as at Kite) and derives it from NIFTY 50 at a fixed ratio (:data:`SENSEX_PER_NIFTY`),
a stand-in so that a BSE index can be watched and moved in tests.

Each bar is released as ``ticks_per_bar`` ticks along a plausible path through its open,
high, low and close (:mod:`.paths`), spaced evenly inside the minute; the paper exchange
matches resting orders against each tick's segment of the path, so fills agree with the
published ticks. :meth:`SimMarket.tick_step` releases one tick of every instrument with a
bar in the current minute, :meth:`SimMarket.step` whole minutes; a background thread
(:meth:`SimMarket.run`) releases ticks at ``speed`` minutes of market per real minute.

Tests can bend the replay: :meth:`SimMarket.move` moves an instrument by N % now (an index
for a market-wide breaker), :meth:`SimMarket.set_drift` makes its replayed prices fall (or
rise) by N % per minute from the next bar on (a daily-loss breaker tripping from ticks).
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from tradekit.brokers.kite.sim.paths import (check_ticks_per_bar, last_quantity, on_grid, split_volume, tick_path,
                                             tick_times)
from tradekit.clock import IST
from tradekit.data.bars import SAMPLE_DIR, load_bars
from tradekit.data.types import DepthLevel, Tick
from tradekit.errors import DataError

log = logging.getLogger(__name__)


def derivatives_oi(s) -> tuple[int, int, int]:
    from tradekit.brokers.kite.sim.derivatives import oi_of

    return oi_of(s)

OPEN_TIME, CLOSE_TIME = time(9, 15), time(15, 30)
PRE_OPEN = time(9, 0)
# sample file stem -> tradingsymbol in the instrument master (indices are named differently)
_ALIASES = {"NIFTY50": "NIFTY 50", "BANKNIFTY": "NIFTY BANK"}
# SENSEX stand-in: BSE SENSEX / NSE NIFTY 50 at the closes of 2024-03-28 (73,651.35 / 22,326.90;
# the NIFTY close is the bundled NSE_NIFTY50_1d.csv's, the SENSEX close is BSE's published close).
SENSEX_PER_NIFTY = 73651.35 / 22326.90
SENSEX_TOKEN = 265  # BSE:SENSEX at Kite: exchange_token 1, segment 9 (INDICES)


def weekdays_before(day: date, n: int) -> date:
    """The weekday ``n`` weekdays before ``day`` (holidays are not modelled in the sandbox)."""
    d = day
    while n > 0:
        d -= timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


class MarketClock:
    """The sandbox's clock: the time of the last released tick, running on at ``speed``
    between ticks (never past the next one) so that orders get plausible timestamps.
    Before the first tick it runs from the start towards it; after the last bar it runs freely."""

    def __init__(self, start: datetime, speed: float = 0.0):
        self._at = start
        self._wall = _time.monotonic()
        self._cap: datetime | None = None
        self._free = False
        self.speed = speed
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            if self.speed <= 0 or (self._cap is None and not self._free):
                return self._at
            run = self._at + timedelta(seconds=(_time.monotonic() - self._wall) * self.speed)
            return run if self._cap is None else min(run, self._cap - timedelta(milliseconds=1))

    def raw_now(self) -> datetime:
        """Where the clock would be without its cap (the runner waits on this)."""
        with self._lock:
            if self.speed <= 0:
                return self._at
            return self._at + timedelta(seconds=(_time.monotonic() - self._wall) * self.speed)

    def set(self, ts: datetime, cap: datetime | None = None, free: bool = False) -> None:
        with self._lock:
            self._at = max(self._at, ts)
            self._wall = _time.monotonic()
            self._cap = cap
            self._free = free

    def set_speed(self, speed: float) -> None:
        """Run on at ``speed`` from where the clock is now."""
        now = self.now()
        with self._lock:
            self._at, self._wall, self.speed = now, _time.monotonic(), speed

    def sleep(self, seconds: float) -> None:  # the Clock protocol; nothing in the server sleeps on it
        _time.sleep(max(0.0, seconds))


@dataclass
class Series:
    """One instrument's bars: the replayed session (numpy) and the history before it."""

    key: str
    token: int
    tick: float
    is_index: bool
    tod: np.ndarray  # seconds after midnight of each bar start, replay session
    o: np.ndarray
    h: np.ndarray
    l: np.ndarray  # noqa: E741
    c: np.ndarray
    v: np.ndarray
    history: pd.DataFrame  # earlier sessions, re-dated onto the weekdays before trade_date
    prev_close: float
    i: int = 0  # bars released in full
    day_open: float = 0.0
    day_high: float = 0.0
    day_low: float = 0.0
    last: float = 0.0
    volume: int = 0
    turnover: float = 0.0
    last_trade_time: datetime | None = None
    last_quantity: int = 0
    updated: datetime | None = None
    static: bool = False  # no minute bars: priced at its last close, moves only when moved
    source: str = ""  # where its prices come from
    factor: float = 1.0  # multiplier applied to replayed prices (moves and drift so far)
    drift: float = 1.0  # multiplier added per replayed minute (set_drift)
    flat: int = 0  # coming bars that trade flat at the last price (set_flat)
    path: list = field(default_factory=list)  # the current bar's tick prices
    vols: list = field(default_factory=list)  # ... and volumes
    extra: dict = field(default_factory=dict)

    @property
    def ticked(self) -> bool:
        """At least one tick of today's session was released (or it was moved)."""
        return self.updated is not None

    def trade(self, price: float, prev: float, volume: int, at: datetime, *, opens_at: float, quantity: int) -> None:
        """One tick onto the day's statistics: a trade of ``volume`` from ``prev`` to ``price`` at ``at``.

        ``opens_at`` opens the day when nothing has yet (a replayed instrument: its first tick's price; a
        contract repriced off its underlying: its price before the tick); ``quantity`` is the last traded
        quantity shown when volume traded. An index has no volume: each of its ticks is a "trade" time."""
        if not self.day_open:
            self.day_open = self.day_high = self.day_low = opens_at
        self.day_high, self.day_low = max(self.day_high, price, prev), min(self.day_low, price, prev)
        self.last = price
        self.volume += volume
        self.turnover += volume * (price + prev) / 2
        if volume:
            self.last_quantity = quantity
        if volume or self.is_index:
            self.last_trade_time = at
        self.updated = at


class Release(NamedTuple):
    """One released tick of one instrument: the path segment since its previous tick."""

    series: Series
    start: datetime
    end: datetime
    o: float
    h: float
    l: float  # noqa: E741
    c: float
    v: int


class SimMarket:
    """Replays one recorded session per instrument as today's market, tick by tick.

    Parameters
    ----------
    instruments
        An instrument master with ``find(exchange, tradingsymbol)`` (tokens, tick sizes).
    data_dir
        Folder with ``NSE_<SYMBOL>_1min.csv[.gz]`` files (default: the bundled sample).
    symbols
        Which 1-minute files to replay (default: every 1-minute file in ``data_dir``); the
        master's other instruments are priced at their last close.
    source_day
        The recorded session to replay (default: each file's last session).
    trade_date
        The date the replay pretends to be (default: today in IST).
    speed
        Minutes of market per real minute when run by :meth:`run` (0 = stepped by hand).
    ticks_per_bar
        Ticks per 1-minute bar, 1 to 60 (at least 4 to pass through O, H, L and C).
    start
        Time of day the clock starts at (default: one minute before the first bar).
    """

    def __init__(self, instruments, *, data_dir: str | Path | None = None, symbols: Iterable[str] | None = None,
                 source_day: date | None = None, trade_date: date | None = None, speed: float = 0.0,
                 ticks_per_bar: int = 6, start: time | None = None):
        if speed < 0:
            raise ValueError(f"speed: {speed!r} is negative")
        self.instruments = instruments
        self.data_dir = Path(data_dir) if data_dir else SAMPLE_DIR
        self.trade_date = trade_date or datetime.now(IST).date()
        self.speed = speed
        self.ticks_per_bar = check_ticks_per_bar(ticks_per_bar)
        self.series: dict[str, Series] = {}
        self.by_token: dict[int, Series] = {}
        self._load(symbols, source_day)
        self._load_static()
        self._derive_sensex()
        self.derived: dict[str, list[Series]] = {}  # underlying key -> its modelled F&O contracts
        from tradekit.brokers.kite.sim import derivatives

        derivatives.attach(self)
        live = [s.tod for s in self.series.values() if not s.static]
        self.minutes = np.unique(np.concatenate(live)) if live else np.empty(0, np.int64)
        self.m = 0  # minutes released in full
        self.j = 0  # ticks of minute m released
        self.ticks_released = 0
        first = self._at(int(self.minutes[0])) if len(self.minutes) else self._at(OPEN_TIME)
        begin = self._at(start) if start is not None else first - timedelta(minutes=1)
        if len(self.minutes) and begin > first:
            raise ValueError(f"start: {start} is after the first bar ({first:%H:%M})")
        self.clock = MarketClock(begin, speed)
        if len(self.minutes):
            self.clock.set(begin, cap=self._tick_time(0, 0))
        self._lock = threading.RLock()
        self.listeners: list = []  # fn(released: list[Release]) after each tick step (and each move)
        self._runner: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()

    # -- loading -------------------------------------------------------------------------------
    def _store_files(self) -> dict[str, Path]:
        """1-minute files of a tradekit data directory (``<dir>/bars/1min/<EX>/<SYMBOL>.parquet``), by key."""
        from urllib.parse import unquote

        root = self.data_dir / "bars" / "1min"
        if not root.is_dir():
            return {}
        return {f"{p.parent.name}:{unquote(p.stem)}": p for p in sorted(root.glob("*/*.parquet"))}

    def _files(self, symbols: Iterable[str] | None) -> list[tuple[str, Path]]:
        """(key or stem, path) of the 1-minute files to replay: a data directory's bars (``--data var``)
        and ``NSE_<SYMBOL>_1min.csv[.gz]`` files in the folder."""
        out = []
        stored = self._store_files()
        if symbols is None:
            out += list(stored.items())
            for p in sorted(self.data_dir.glob("NSE_*_1min.csv*")):
                stem = p.name[4:].split("_1min")[0]
                if f"NSE:{_ALIASES.get(stem, stem)}" not in stored:
                    out.append((stem, p))
        else:
            for sym in symbols:
                key = sym if ":" in sym else f"NSE:{sym}"
                if key in stored:
                    out.append((key, stored[key]))
                    continue
                stem = {v: k for k, v in _ALIASES.items()}.get(sym, sym)
                cands = [self.data_dir / f"NSE_{stem}_1min.csv.gz", self.data_dir / f"NSE_{stem}_1min.csv"]
                p = next((c for c in cands if c.exists()), None)
                if p is None:
                    raise DataError(f"no 1-minute bars for {sym} in {self.data_dir}")
                out.append((stem, p))
        if not out:
            raise DataError(f"no 1-minute bars in {self.data_dir} (neither bars/1min/<EX>/<SYMBOL>.parquet of a "
                            f"data directory nor NSE_<SYMBOL>_1min.csv files)")
        return out

    def _add(self, s: Series) -> None:
        self.series[s.key] = s
        self.by_token[s.token] = s

    def _load(self, symbols, source_day: date | None) -> None:
        unknown = []
        for stem, path in self._files(symbols):
            ex, _, stem = stem.rpartition(":")
            sym = _ALIASES.get(stem, stem)
            inst = self.instruments.find(ex or "NSE", sym) if hasattr(self.instruments, "find") else None
            if inst is None:
                unknown.append(f"{ex or 'NSE'}:{sym}")
                log.warning("%s:%s: unknown instrument: not in the instrument master, its bars (%s) are not replayed; "
                            "name it with --instrument %s:%s:EQ", ex or "NSE", sym, path, ex or "NSE", sym)
                continue
            df = load_bars(path)
            days = sorted(set(df.index.date))
            day = source_day if source_day in days else days[-1]
            if source_day is not None and source_day not in days:
                log.info("%s: no session on %s, replaying %s", sym, source_day, day)
            k = days.index(day)
            today = df[df.index.date == day]
            hist = df[df.index.date < day]
            # re-date the earlier sessions onto the weekdays before trade_date
            mapping = {d: weekdays_before(self.trade_date, k - j) for j, d in enumerate(days[:k])}
            if len(hist):
                new_dates = pd.Index([mapping[d] for d in hist.index.date])
                tod = hist.index - hist.index.normalize()
                hist = hist.set_axis(pd.DatetimeIndex(pd.to_datetime(new_dates).tz_localize(IST) + tod))
            tod_s = ((today.index.hour * 3600 + today.index.minute * 60 + today.index.second).to_numpy()).astype(np.int64)
            prev_close = float(hist["close"].iloc[-1]) if len(hist) else float(today["open"].iloc[0])
            self._add(Series(
                key=inst.key, token=inst.instrument_token, tick=float(inst.tick_size), is_index=inst.is_index,
                tod=tod_s, o=today["open"].to_numpy(float).copy(), h=today["high"].to_numpy(float).copy(),
                l=today["low"].to_numpy(float).copy(), c=today["close"].to_numpy(float).copy(),
                v=today["volume"].to_numpy(np.int64).copy(), history=hist, prev_close=prev_close, last=prev_close,
                source=f"{path.name}, session of {day}",
            ))
        if unknown and symbols is not None:  # asked for by name: refused, not skipped
            raise DataError(f"unknown instrument(s) {', '.join(unknown)}: not in the instrument master; name each with "
                            f"--instrument EXCHANGE:SYMBOL[:EQ]")
        if unknown and not self.series:
            raise DataError(f"none of the bars in {self.data_dir} is of a known instrument ({', '.join(unknown)}); "
                            f"name them with --instrument EXCHANGE:SYMBOL[:EQ]")

    def _bar_file(self, stem: str, kind: str, exchange: str = "NSE") -> Path | None:
        from urllib.parse import quote

        from tradekit.data.store import _SAFE

        sym = _ALIASES.get(stem, stem)
        stored = self.data_dir / "bars" / kind / exchange / f"{quote(sym, safe=_SAFE)}.parquet"
        if stored.exists():
            return stored
        for folder in dict.fromkeys([self.data_dir, SAMPLE_DIR]):
            for name in (f"NSE_{stem}_{kind}.csv.gz", f"NSE_{stem}_{kind}.csv"):
                if (folder / name).exists():
                    return folder / name
        return None

    def _load_static(self) -> None:
        """Price every other instrument of the master at its last close (daily file, else 1-minute file)."""
        stems = {v: k for k, v in _ALIASES.items()}
        if hasattr(self.instruments, "keys") and hasattr(self.instruments, "find"):
            # a full Kite master is ~100k rows: look at its NSE keys, build only the instruments with bars
            listed = [k for k in self.instruments.keys() if k.startswith("NSE:")]
        else:
            try:
                listed = [i.key for i in self.instruments]
            except TypeError:
                return
        unpriced = 0
        for key in listed:
            if key in self.series or not key.startswith("NSE:"):
                continue
            sym = key.partition(":")[2]
            stem = stems.get(sym, sym)
            daily = self._bar_file(stem, "1d")
            minute = self._bar_file(stem, "1min") if daily is None else None
            if daily is None and minute is None:
                unpriced += 1
                log.debug("%s: no bars to price it, left out of the market", key)
                continue
            inst = self.instruments.find(key) if hasattr(self.instruments, "find") else next(
                i for i in self.instruments if i.key == key)
            hist = pd.DataFrame(columns=["open", "high", "low", "close", "volume"])
            if daily is not None:
                df = load_bars(daily)
                # re-date the daily bars onto the weekdays before trade_date (one timeline, as for minutes)
                n = len(df)
                days = np.busday_offset(np.datetime64(self.trade_date, "D"), -np.arange(n, 0, -1), roll="forward")
                hist = df.set_axis(pd.DatetimeIndex(pd.to_datetime(days)).tz_localize(IST))
                close, src = float(df["close"].iloc[-1]), f"{daily.name}, close of {df.index[-1].date()}"
            else:
                df = load_bars(minute)
                close, src = float(df["close"].iloc[-1]), f"{minute.name}, close of {df.index[-1].date()}"
            empty_f, empty_i = np.empty(0, float), np.empty(0, np.int64)
            self._add(Series(key=inst.key, token=inst.instrument_token, tick=float(inst.tick_size),
                             is_index=inst.is_index, tod=empty_i, o=empty_f, h=empty_f, l=empty_f, c=empty_f, v=empty_i,
                             history=hist, prev_close=close, last=close, static=True, source=src))
        if unpriced:
            log.info("%d NSE instrument(s) of the master have no bars here to price them: left out of the market",
                     unpriced)

    def _derive_sensex(self) -> None:
        """List BSE:SENSEX (if the master lacks it) and price it from NIFTY 50 at :data:`SENSEX_PER_NIFTY`."""
        if not hasattr(self.instruments, "find") or not hasattr(self.instruments, "add"):
            return
        nifty = self.series.get("NSE:NIFTY 50")
        inst = self.instruments.find("BSE", "SENSEX")
        if inst is None:
            base = self.instruments.find("NSE", "NIFTY 50")
            if base is None:
                return
            from tradekit.model.enums import Exchange

            inst = replace(base, exchange=Exchange.BSE, tradingsymbol="SENSEX", name="SENSEX",
                           instrument_token=SENSEX_TOKEN, exchange_token=SENSEX_TOKEN >> 8, meta={})
            self.instruments.add([inst])
        if inst.key in self.series or nifty is None:
            return
        r = SENSEX_PER_NIFTY

        def sc(a):
            return np.round(a * r, 2)

        hist = nifty.history.copy()
        for col in ("open", "high", "low", "close"):
            if col in hist:
                hist[col] = sc(hist[col].to_numpy(float))
        self._add(Series(
            key=inst.key, token=inst.instrument_token, tick=float(inst.tick_size), is_index=True, tod=nifty.tod.copy(),
            o=sc(nifty.o), h=sc(nifty.h), l=sc(nifty.l), c=sc(nifty.c), v=np.zeros(len(nifty.v), np.int64),
            history=hist, prev_close=round(nifty.prev_close * r, 2), last=round(nifty.prev_close * r, 2),
            static=nifty.static, source=f"NIFTY 50 x {r:.4f} (stand-in: no SENSEX data)",
        ))

    # -- time ------------------------------------------------------------------------------------
    def _at(self, t: time | int) -> datetime:
        if isinstance(t, time):
            return datetime.combine(self.trade_date, t, IST)
        return datetime.combine(self.trade_date, time(0), IST) + timedelta(seconds=int(t))

    def _tick_time(self, m: int, j: int) -> datetime:
        return tick_times(self._at(int(self.minutes[m])), self.ticks_per_bar)[j]

    @property
    def now(self) -> datetime:
        return self.clock.now()

    @property
    def is_open(self) -> bool:
        """Between the first released tick and the end of the last bar."""
        return self.started and not self.finished

    @property
    def started(self) -> bool:
        return self.ticks_released > 0

    @property
    def finished(self) -> bool:
        return self.m >= len(self.minutes)

    def clock_info(self) -> dict:
        """The replayed clock, for ``GET /sim/clock``."""
        now = self.now
        return {"day": self.trade_date.isoformat(), "time": now.isoformat(), "epoch": now.timestamp(),
                "speed": self.speed, "ticks_per_bar": self.ticks_per_bar, "started": self.started,
                "open": self.is_open, "finished": self.finished,
                "first_bar": self._at(int(self.minutes[0])).isoformat() if len(self.minutes) else None,
                "last_bar": self._at(int(self.minutes[-1])).isoformat() if len(self.minutes) else None}

    # -- stepping --------------------------------------------------------------------------------
    def _has_bar(self, s: Series, minute: int) -> bool:
        return s.i < len(s.tod) and s.tod[s.i] == minute

    def tick_step(self) -> list[Release]:
        """Release the next tick of every instrument with a bar in the current minute."""
        with self._lock:
            if self.finished:
                return []
            m, j, n = self.m, self.j, self.ticks_per_bar
            minute = int(self.minutes[m])
            start = self._at(minute)
            times = tick_times(start, n)
            t = times[j]
            seg_start = start if j == 0 else times[j - 1]
            released = []
            for s in self.series.values():
                if not self._has_bar(s, minute):
                    continue
                if j == 0:
                    self._plan(s)
                released.append(self._release_tick(s, j, seg_start, t))
                if j == n - 1:
                    s.i += 1
            self.ticks_released += 1
            if j == n - 1:
                self.m, self.j = m + 1, 0
            else:
                self.j = j + 1
            if self.finished:
                self.clock.set(start + timedelta(minutes=1), None, free=True)
            else:
                self.clock.set(t, self._tick_time(self.m, self.j))
        self._emit(released)
        return released

    def step(self, n: int = 1) -> list[list[Release]]:
        """Release the next ``n`` minutes in full (the rest of a minute already begun counts as one)."""
        out = []
        for _ in range(n):
            if self.finished:
                break
            rel = self.tick_step()
            while self.j != 0 and not self.finished:
                rel += self.tick_step()
            out.append(rel)
        return out

    def step_until(self, t: time) -> int:
        """Step until the clock reaches ``t`` (IST time of day); returns the minutes released."""
        n = 0
        while not self.finished and self.clock.now() < self._at(t):
            self.step()
            n += 1
        return n

    def _emit(self, released: list[Release]) -> None:
        if self.derived and released:  # the F&O contracts tick with their underlying (derivatives.py)
            from tradekit.brokers.kite.sim import derivatives

            with self._lock:
                released = released + derivatives.reprice(self, released)
        for fn in list(self.listeners):
            fn(released)

    def _plan(self, s: Series) -> None:
        """Bend the coming bar by the series' factor (moves, drift) and lay out its ticks.

        A drift moves the prices along the minute, tick by tick (the bar ends the minute's drift
        lower), not as a step at the minute's start: a falling path, not a staircase of gaps."""
        i = s.i
        if s.factor != 1.0:
            f = s.factor
            o, h, lo, c = (on_grid(float(a[i]) * f, s.tick) for a in (s.o, s.h, s.l, s.c))
            s.o[i], s.h[i], s.l[i], s.c[i] = o, max(o, h, lo, c), min(o, h, lo, c), c
        drift = s.drift
        if drift != 1.0:
            s.factor *= drift
        if s.flat > 0:  # a flat stretch: the bar trades (its volume) at the last price, o = h = l = c
            s.flat -= 1
            p = on_grid(s.last, s.tick)
            s.o[i] = s.h[i] = s.l[i] = s.c[i] = p
            drift = 1.0
        o, h, lo, c, v = self.bar(s, i)
        path = tick_path(o, h, lo, c, self.ticks_per_bar, s.tick)
        if drift != 1.0:
            n = len(path)
            path = [on_grid(p * drift ** ((j + 1) / n), s.tick) for j, p in enumerate(path)]
            s.o[i], s.h[i], s.l[i], s.c[i] = path[0], max(path), min(path), path[-1]
        s.path = path
        s.vols = split_volume(v, self.ticks_per_bar)

    def _release_tick(self, s: Series, j: int, seg_start: datetime, t: datetime) -> Release:
        p, dv = float(s.path[j]), int(s.vols[j])
        prev = p if j == 0 else float(s.path[j - 1])
        s.trade(p, prev, dv, t, opens_at=p, quantity=last_quantity(dv))
        return Release(s, seg_start, t, prev, max(p, prev), min(p, prev), p, dv)

    def bar(self, s: Series, k: int) -> tuple[float, float, float, float, int]:
        return float(s.o[k]), float(s.h[k]), float(s.l[k]), float(s.c[k]), int(s.v[k])

    # -- bending the replay (tests) ----------------------------------------------------------------
    def _series(self, key: str) -> Series:
        s = self.series.get(key)
        if s is None:
            raise KeyError(f"instrument: {key!r} is not in the sandbox's market (EXCHANGE:TRADINGSYMBOL)")
        return s

    def move(self, key: str, percent: float) -> Release:
        """Move ``key`` by ``percent`` now: one tick at the moved price, and every later replayed price with it."""
        if not -99 < percent <= 1000:
            raise ValueError(f"percent: {percent!r} is outside -99..1000")
        with self._lock:
            s = self._series(key)
            f = 1 + percent / 100
            s.factor *= f
            if self.j and s.path and self._has_bar(s, int(self.minutes[self.m])):  # the bar in flight bends too
                s.path = [p if k < self.j else on_grid(p * f, s.tick) for k, p in enumerate(s.path)]
                i = s.i
                s.h[i], s.l[i] = max(s.path), min(s.path)
                s.c[i] = s.path[-1]
            prev = s.last
            p = on_grid(prev * f, s.tick)
            now = self.now
            if not s.day_open:
                s.day_open = s.day_high = s.day_low = prev
            s.day_high, s.day_low = max(s.day_high, p), min(s.day_low, p)
            s.last = p
            s.updated = now
            if s.is_index:
                s.last_trade_time = now
            rel = Release(s, now, now, prev, max(p, prev), min(p, prev), p, 0)
        self._emit([rel])
        return rel

    def set_drift(self, key: str, percent_per_minute: float) -> Series:
        """From the next bar on, ``key``'s replayed prices move by this % per minute, compounding (0 stops it)."""
        if not -10 <= percent_per_minute <= 10:
            raise ValueError(f"percent_per_minute: {percent_per_minute!r} is outside -10..10")
        with self._lock:
            s = self._series(key)
            if s.static:
                raise ValueError(f"instrument: {key} has no minute bars to replay (priced at its last close); "
                                 "replay its 1-minute file (--symbols) or use a move")
            s.drift = 1 + percent_per_minute / 100
        return s

    def set_flat(self, key: str | None, minutes: int) -> list[Series]:
        """From the next bar on, ``minutes`` bars of ``key`` (None: every replayed instrument) trade
        flat at its last price: ticks keep coming with their volume and fresh exchange times, the
        price does not change (a stale-feed check must not mistake this for silence)."""
        if not 0 <= minutes <= 375:
            raise ValueError(f"minutes: {minutes!r} is outside 0..375")
        with self._lock:
            if key is None:
                chosen = [s for s in self.series.values() if not s.static]
            else:
                s = self._series(key)
                if s.static:
                    raise ValueError(f"instrument: {key} has no minute bars to replay (priced at its last close: "
                                     "it is flat already)")
                chosen = [s]
            for s in chosen:
                s.flat = int(minutes)
        return chosen

    # -- running -------------------------------------------------------------------------------------
    def run(self) -> None:
        """Release ticks in a background thread at ``speed`` (minutes of market per real minute)."""
        if self.speed <= 0 or self._runner is not None:
            return

        def loop():
            while not self._stop.is_set() and not self.finished:
                with self._lock:
                    if self.finished or self.speed <= 0:
                        break
                    due = self._tick_time(self.m, self.j)
                wait = (due - self.clock.raw_now()).total_seconds() / self.speed
                if wait > 0:
                    if self._stop.wait(min(wait, 1.0)):
                        break
                    continue
                try:
                    self.tick_step()
                except Exception:  # a listener's bug must not stop the market
                    log.exception("sandbox market step failed")

        self._runner = threading.Thread(target=loop, name="kite-sim-market", daemon=True)
        self._runner.start()

    def set_speed(self, speed: float) -> None:
        """Change the replay's speed from now on (0 stops it: the market then moves only when stepped)."""
        if not 0 <= speed <= 100_000:
            raise ValueError(f"speed: {speed!r} is outside 0..100000")
        with self._lock:
            self.clock.set_speed(speed)
            self.speed = speed
        if speed > 0 and (self._runner is None or not self._runner.is_alive()):
            self._runner = None
            self.run()

    def stop(self) -> None:
        self._stop.set()

    # -- quotes ----------------------------------------------------------------------------------
    def get(self, key: str) -> Series | None:
        return self.series.get(key)

    def average_price(self, s: Series) -> float:
        return round(s.turnover / s.volume, 2) if s.volume else s.last

    def depth(self, s: Series) -> tuple[tuple[DepthLevel, ...], tuple[DepthLevel, ...]]:
        """A synthetic 5-level book one tick apart around the last price, on the tick grid (none for indices)."""
        if s.is_index:
            return (), ()
        rng = np.random.default_rng((s.token * 1_000_003 + s.i * 61 + len(s.path) + int(s.volume)) & 0xFFFFFFFF)
        qty = rng.integers(1, 2000, 10)
        orders = rng.integers(1, 30, 10)
        t = s.tick or 0.05
        base = round(round(s.last / t) * t, 2)
        bids = tuple(DepthLevel(round(base - t * (k + 1), 2), int(qty[k]), int(orders[k])) for k in range(5))
        asks = tuple(DepthLevel(round(base + t * (k + 1), 2), int(qty[5 + k]), int(orders[5 + k])) for k in range(5))
        return bids, asks

    def tick(self, s: Series, mode: str = "full") -> Tick:
        """The instrument's current state as a :class:`Tick` (what the ticker encodes)."""
        bids, asks = self.depth(s)
        buy_q, sell_q = sum(b.quantity for b in bids) * 40, sum(a.quantity for a in asks) * 40
        if mode != "full":
            bids, asks = (), ()
        o = s.day_open or s.prev_close
        oi, oi_high, oi_low = derivatives_oi(s)
        if s.last_trade_time is None:  # nothing traded yet today: the previous session's last trade
            s.last_trade_time = datetime.combine(weekdays_before(self.trade_date, 1), time(15, 29, 59), IST)
        return Tick(
            key=s.key, ts=s.updated or self.now, last_price=s.last, instrument_token=s.token, mode=mode,
            tradable=not s.is_index, last_quantity=s.last_quantity, average_price=self.average_price(s),
            volume=s.volume, buy_quantity=buy_q, sell_quantity=sell_q,
            open=o, high=s.day_high or o, low=s.day_low or o, close=s.prev_close,
            change=s.last - s.prev_close, last_trade_time=s.last_trade_time or s.updated or self.now,
            oi=oi, oi_day_high=oi_high, oi_day_low=oi_low, bids=bids, asks=asks,
        )

    def band(self, s: Series) -> tuple[float, float]:
        """A ±20 % circuit band around the previous close, on the tick grid."""
        t = s.tick or 0.05
        return round(round(s.prev_close * 0.8 / t) * t, 2), round(round(s.prev_close * 1.2 / t) * t, 2)

    # -- history ---------------------------------------------------------------------------------
    def candles(self, token: int, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Bars of ``interval`` between ``start`` and ``end`` (inclusive), released bars only; a modelled F&O
        contract's carry an ``oi`` column (its open interest at each candle's close)."""
        s = self.by_token.get(int(token))
        if s is None:
            raise KeyError(token)
        recorded = s.extra.get("bars") if s.extra else None
        if recorded is not None:  # a modelled F&O contract: the minutes it ticked, with the OI (derivatives.py)
            with self._lock:
                rows = [list(b) for b in recorded]
            df = pd.DataFrame([b[1:] for b in rows], columns=["open", "high", "low", "close", "volume", "oi"],
                              index=pd.DatetimeIndex([b[0] for b in rows]))
        elif s.static and interval != "day":  # daily bars only: no minutes to resample
            return s.history.iloc[0:0]
        else:
            with self._lock:
                n = s.i
                today = pd.DataFrame(
                    {"open": s.o[:n], "high": s.h[:n], "low": s.l[:n], "close": s.c[:n], "volume": s.v[:n]},
                    index=pd.DatetimeIndex([self._at(int(x)) for x in s.tod[:n]]),
                )
            frames = [f for f in (s.history, today) if len(f)]
            df = pd.concat(frames) if frames else today
        df = df[(df.index >= start) & (df.index <= end)]
        if interval == "minute" or df.empty:
            return df
        rule = {"3minute": "3min", "5minute": "5min", "10minute": "10min", "15minute": "15min",
                "30minute": "30min", "60minute": "60min", "day": "1D"}[interval]
        # NSE's intraday candles start at 09:15 (offset), day candles at midnight
        kw = {"offset": "15min"} if rule == "60min" else {}
        oi = {"oi": "last"} if "oi" in df else {}  # a candle's OI: at its close
        if rule == "1D":
            g = df.groupby(df.index.normalize())
            out = pd.DataFrame({"open": g["open"].first(), "high": g["high"].max(), "low": g["low"].min(),
                                "close": g["close"].last(), "volume": g["volume"].sum(),
                                **({"oi": g["oi"].last()} if oi else {})})
            return out
        out = df.resample(rule, label="left", closed="left", **kw).agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum", **oi})
        return out.dropna()
