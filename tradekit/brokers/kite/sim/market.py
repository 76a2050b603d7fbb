"""The sandbox's market: one real recorded session replayed minute by minute as "today".

Bars come from 1-minute files (``NSE_<SYMBOL>_1min.csv[.gz]``; default: tradekit's bundled
sample of real NSE data). One session of each file is replayed on ``trade_date`` (default:
today in IST) at its own times of day; the file's earlier sessions become the preceding
weekdays, so historical candles and the replay form one timeline.

``step()`` releases the next minute's bars: the paper exchange matches resting orders against
them, quotes move, and the ticker sends ticks. The replay can be stepped by a test or run by
a thread at ``speed`` minutes of market per real minute.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from tradekit.clock import IST
from tradekit.data.bars import SAMPLE_DIR, load_bars
from tradekit.data.types import DepthLevel, Tick
from tradekit.errors import DataError

log = logging.getLogger(__name__)

OPEN_TIME, CLOSE_TIME = time(9, 15), time(15, 30)
PRE_OPEN = time(9, 0)
# sample file stem -> tradingsymbol in the instrument master (indices are named differently)
_ALIASES = {"NIFTY50": "NIFTY 50", "BANKNIFTY": "NIFTY BANK"}


def weekdays_before(day: date, n: int) -> date:
    """The weekday ``n`` weekdays before ``day`` (holidays are not modelled in the sandbox)."""
    d = day
    while n > 0:
        d -= timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


class MarketClock:
    """The sandbox's clock: the end of the last released bar, running on at ``speed`` between
    steps (never past the next bar's end) so that orders get plausible timestamps."""

    def __init__(self, start: datetime, speed: float = 0.0):
        self._at = start
        self._wall = _time.monotonic()
        self._cap: datetime | None = None
        self.speed = speed
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            if self.speed <= 0 or self._cap is None:
                return self._at
            run = self._at + timedelta(seconds=(_time.monotonic() - self._wall) * self.speed)
            return min(run, self._cap - timedelta(milliseconds=1))

    def set(self, ts: datetime, cap: datetime | None = None) -> None:
        with self._lock:
            self._at = max(self._at, ts)
            self._wall = _time.monotonic()
            self._cap = cap

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
    i: int = 0  # bars released
    day_open: float = 0.0
    day_high: float = 0.0
    day_low: float = 0.0
    last: float = 0.0
    volume: int = 0
    turnover: float = 0.0
    last_trade_time: datetime | None = None
    last_quantity: int = 0
    updated: datetime | None = None
    extra: dict = field(default_factory=dict)


class SimMarket:
    """Replays one recorded session per instrument as today's market.

    Parameters
    ----------
    instruments
        An instrument master with ``get(exchange, tradingsymbol)`` (tokens, tick sizes).
    data_dir
        Folder with ``NSE_<SYMBOL>_1min.csv[.gz]`` files (default: the bundled sample).
    symbols
        Which files to load (default: every 1-minute file in ``data_dir``).
    source_day
        The recorded session to replay (default: each file's last session).
    trade_date
        The date the replay pretends to be (default: today in IST).
    speed
        Minutes of market per real minute when run by :meth:`run` (0 = stepped by hand).
    """

    def __init__(self, instruments, *, data_dir: str | Path | None = None, symbols: Iterable[str] | None = None,
                 source_day: date | None = None, trade_date: date | None = None, speed: float = 0.0):
        self.instruments = instruments
        self.data_dir = Path(data_dir) if data_dir else SAMPLE_DIR
        self.trade_date = trade_date or datetime.now(IST).date()
        self.speed = speed
        self.series: dict[str, Series] = {}
        self.by_token: dict[int, Series] = {}
        self._load(symbols, source_day)
        self.minutes = np.unique(np.concatenate([s.tod for s in self.series.values()])) if self.series else np.empty(0)
        self.m = 0  # minutes released
        self.clock = MarketClock(self._at(PRE_OPEN), speed)
        self._lock = threading.RLock()
        self.listeners: list = []  # fn(released: list[Series]) after each step
        self._runner: threading.Thread | None = None
        self._stop = threading.Event()

    # -- loading -------------------------------------------------------------------------------
    def _files(self, symbols: Iterable[str] | None) -> list[tuple[str, Path]]:
        out = []
        if symbols is None:
            for p in sorted(self.data_dir.glob("NSE_*_1min.csv*")):
                out.append((p.name[4:].split("_1min")[0], p))
        else:
            for sym in symbols:
                stem = {v: k for k, v in _ALIASES.items()}.get(sym, sym)
                cands = [self.data_dir / f"NSE_{stem}_1min.csv.gz", self.data_dir / f"NSE_{stem}_1min.csv"]
                p = next((c for c in cands if c.exists()), None)
                if p is None:
                    raise DataError(f"no 1-minute bars for {sym} in {self.data_dir}")
                out.append((stem, p))
        if not out:
            raise DataError(f"no NSE_<SYMBOL>_1min.csv files in {self.data_dir}")
        return out

    def _load(self, symbols, source_day: date | None) -> None:
        for stem, path in self._files(symbols):
            sym = _ALIASES.get(stem, stem)
            inst = self.instruments.find("NSE", sym) if hasattr(self.instruments, "find") else None
            if inst is None:
                log.info("%s: not in the instrument master, skipped", sym)
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
            s = Series(
                key=inst.key, token=inst.instrument_token, tick=float(inst.tick_size), is_index=inst.is_index,
                tod=tod_s, o=today["open"].to_numpy(float), h=today["high"].to_numpy(float),
                l=today["low"].to_numpy(float), c=today["close"].to_numpy(float), v=today["volume"].to_numpy(np.int64),
                history=hist, prev_close=prev_close, last=prev_close,
            )
            self.series[s.key] = s
            self.by_token[s.token] = s

    # -- time ------------------------------------------------------------------------------------
    def _at(self, t: time | int) -> datetime:
        if isinstance(t, time):
            return datetime.combine(self.trade_date, t, IST)
        return datetime.combine(self.trade_date, time(0), IST) + timedelta(seconds=int(t))

    @property
    def now(self) -> datetime:
        return self.clock.now()

    @property
    def is_open(self) -> bool:
        """Between the first released bar and the end of the last one."""
        return 0 < self.m and not self.finished

    @property
    def started(self) -> bool:
        return self.m > 0

    @property
    def finished(self) -> bool:
        return self.m >= len(self.minutes)

    # -- stepping --------------------------------------------------------------------------------
    def step(self, n: int = 1) -> list[list[tuple]]:
        """Release the next ``n`` minutes. Returns, per minute, ``(series, start, end)`` tuples."""
        out = []
        for _ in range(n):
            with self._lock:
                if self.finished:
                    break
                minute = int(self.minutes[self.m])
                start, end = self._at(minute), self._at(minute + 60)
                released = []
                for s in self.series.values():
                    if s.i < len(s.tod) and s.tod[s.i] == minute:
                        self._release(s, start, end)
                        released.append((s, start, end))
                self.m += 1
                nxt = self._at(int(self.minutes[self.m]) + 60) if not self.finished else None
                self.clock.set(end, nxt)
            for fn in list(self.listeners):
                fn(released)
            out.append(released)
        return out

    def step_until(self, t: time) -> int:
        """Step until the clock reaches ``t`` (IST time of day); returns the minutes released."""
        n = 0
        while not self.finished and self.clock.now() < self._at(t):
            self.step()
            n += 1
        return n

    def _release(self, s: Series, start: datetime, end: datetime) -> None:
        i = s.i
        o, h, lo, c, v = float(s.o[i]), float(s.h[i]), float(s.l[i]), float(s.c[i]), int(s.v[i])
        if i == 0:
            s.day_open, s.day_high, s.day_low = o, h, lo
        else:
            s.day_high, s.day_low = max(s.day_high, h), min(s.day_low, lo)
        s.last = c
        s.volume += v
        s.turnover += v * (o + h + lo + c) / 4
        s.last_quantity = max(1, v // 50) if v else 0
        if v or s.is_index:
            s.last_trade_time = end - timedelta(seconds=1)
        s.updated = end
        s.i = i + 1

    def bar(self, s: Series, k: int) -> tuple[float, float, float, float, int]:
        return float(s.o[k]), float(s.h[k]), float(s.l[k]), float(s.c[k]), int(s.v[k])

    def run(self) -> None:
        """Step in a background thread at ``speed`` (minutes of market per real minute)."""
        if self.speed <= 0 or self._runner is not None:
            return

        def loop():
            while not self._stop.is_set() and not self.finished:
                if self._stop.wait(60.0 / self.speed):
                    break
                self.step()

        self._runner = threading.Thread(target=loop, name="kite-sim-market", daemon=True)
        self._runner.start()

    def stop(self) -> None:
        self._stop.set()

    # -- quotes ----------------------------------------------------------------------------------
    def get(self, key: str) -> Series | None:
        return self.series.get(key)

    def average_price(self, s: Series) -> float:
        return round(s.turnover / s.volume, 2) if s.volume else s.last

    def depth(self, s: Series) -> tuple[tuple[DepthLevel, ...], tuple[DepthLevel, ...]]:
        """A synthetic 5-level book one tick apart around the last price (none for indices)."""
        if s.is_index or not s.i:
            return (), ()
        rng = np.random.default_rng((s.token * 1_000_003 + s.i) & 0xFFFFFFFF)
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
        return Tick(
            key=s.key, ts=s.updated or self.now, last_price=s.last, instrument_token=s.token, mode=mode,
            tradable=not s.is_index, last_quantity=s.last_quantity, average_price=self.average_price(s),
            volume=s.volume, buy_quantity=buy_q, sell_quantity=sell_q,
            open=o, high=s.day_high or o, low=s.day_low or o, close=s.prev_close,
            change=s.last - s.prev_close, last_trade_time=s.last_trade_time or s.updated or self.now,
            oi=0, oi_day_high=0, oi_day_low=0, bids=bids, asks=asks,
        )

    def band(self, s: Series) -> tuple[float, float]:
        """A ±20 % circuit band around the previous close, on the tick grid."""
        t = s.tick or 0.05
        return round(round(s.prev_close * 0.8 / t) * t, 2), round(round(s.prev_close * 1.2 / t) * t, 2)

    # -- history ---------------------------------------------------------------------------------
    def candles(self, token: int, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Bars of ``interval`` between ``start`` and ``end`` (inclusive), released bars only."""
        s = self.by_token.get(int(token))
        if s is None:
            raise KeyError(token)
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
        if rule == "1D":
            g = df.groupby(df.index.normalize())
            out = pd.DataFrame({"open": g["open"].first(), "high": g["high"].max(), "low": g["low"].min(),
                                "close": g["close"].last(), "volume": g["volume"].sum()})
            return out
        out = df.resample(rule, label="left", closed="left", **kw).agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        return out.dropna()
