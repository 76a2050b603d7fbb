"""Replay feeds over files, and the columnar form a replay engine loops over.

- :class:`BarArrays` — numpy arrays (``start_ns, end_ns, open, high, low, close, volume`` and
  ``key_id`` into ``keys``) for one or many instruments, merged in the order bars complete.
  A replay of ~100,000 bars reads these arrays; it never iterates a DataFrame.
- :class:`BarReplayFeed` / :class:`TickReplayFeed` — the :class:`~tradekit.data.types.Feed`
  protocol over files: ``subscribe``/``unsubscribe`` choose the keys, iteration yields
  :class:`Bar` / :class:`Tick` objects in time order (what the Kite ticker will yield live).
- :class:`DataSet` and :func:`load_dataset` — bundled samples by symbol or files by path.

Ordering: bars of several instruments are merged by the time they *complete* (``end``), then
by the order the instruments were given, so a 09:15 RELIANCE bar and a 09:15 INFY bar both
come out at 09:16, before any 09:16 bar; with mixed intervals a 5-minute bar is released
only when it is complete.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path

import numpy as np
import pandas as pd

from tradekit.clock import IST
from tradekit.data._io import DAY_NS, IST_OFFSET_NS, SESSION_CLOSE, index_ns, key_from_path
from tradekit.data.bars import load_bars
from tradekit.data.resample import DAILY, infer_interval, parse_rule, resample_bars
from tradekit.data.types import Bar, Tick
from tradekit.errors import DataError

log = logging.getLogger(__name__)

_FILE_SUFFIXES = (".csv", ".gz", ".parquet")


def sessions_in(df: pd.DataFrame | pd.DatetimeIndex) -> list[date]:
    """IST session dates present in a bar or tick frame, sorted."""
    idx = df if isinstance(df, pd.DatetimeIndex) else df.index
    if len(idx) == 0:
        return []
    days = np.unique((index_ns(idx) + IST_OFFSET_NS) // DAY_NS)
    return [date.fromordinal(date(1970, 1, 1).toordinal() + int(d)) for d in days]


def _end_ns(start_ns: np.ndarray, interval: pd.Timedelta, close: time | None) -> np.ndarray:
    """When each bar is complete: start + interval, but never after the session close.

    A session-anchored 60-minute bar starting 15:15 holds 15 minutes; it is complete at
    15:30, not 16:15. Daily bars complete at the next midnight IST.
    """
    end = start_ns + interval.value
    if interval == DAILY or close is None:
        return end
    day0 = ((start_ns + IST_OFFSET_NS) // DAY_NS) * DAY_NS - IST_OFFSET_NS
    cl = day0 + (close.hour * 3600 + close.minute * 60) * 10**9
    return np.where((start_ns < cl) & (end > cl), cl, end)


@dataclass(frozen=True, eq=False)
class BarArrays:
    """Bars as numpy arrays, for hot loops.

    Attributes
    ----------
    keys : tuple of str
        Instrument keys; ``key_id[i]`` indexes into it.
    key_id : ndarray[int32]
    start_ns, end_ns : ndarray[int64]
        Epoch nanoseconds (UTC) of the bar's start (its label) and of when it is complete.
    open, high, low, close : ndarray[float64]
    volume : ndarray[int64]
    interval : Timedelta or None
        The common interval (None when instruments of different intervals were merged).
    """

    keys: tuple[str, ...]
    key_id: np.ndarray
    start_ns: np.ndarray
    end_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    interval: pd.Timedelta | None = None

    @classmethod
    def from_frame(cls, df: pd.DataFrame, key: str, *, interval=None, close: time | None = SESSION_CLOSE) -> "BarArrays":
        """Arrays for one instrument from a bar frame (as :func:`load_bars` returns)."""
        iv = parse_rule(interval) if interval is not None else infer_interval(df)
        start = index_ns(df.index) if len(df) else np.array([], dtype="int64")
        n = len(df)
        vol = df["volume"].to_numpy(dtype="int64") if "volume" in df.columns else np.zeros(n, dtype="int64")
        return cls(
            keys=(key,), key_id=np.zeros(n, dtype="int32"), start_ns=start, end_ns=_end_ns(start, iv, close),
            open=df["open"].to_numpy(dtype="float64"), high=df["high"].to_numpy(dtype="float64"),
            low=df["low"].to_numpy(dtype="float64"), close=df["close"].to_numpy(dtype="float64"),
            volume=vol, interval=iv,
        )

    @classmethod
    def merge(cls, parts: Sequence["BarArrays"]) -> "BarArrays":
        """Merge instruments into one stream ordered by (end, instrument order, start)."""
        if not parts:
            raise DataError("nothing to merge: no bars were given")
        keys: list[str] = []
        remap = []
        for p in parts:
            ids = []
            for k in p.keys:
                if k in keys:
                    raise DataError(f"{k} appears in more than one of the merged bar sets")
                keys.append(k)
                ids.append(len(keys) - 1)
            remap.append(np.asarray(ids, dtype="int32"))
        kid = np.concatenate([r[p.key_id] for r, p in zip(remap, parts)]) if parts else np.array([], dtype="int32")
        cat = {f: np.concatenate([getattr(p, f) for p in parts]) for f in ("start_ns", "end_ns", "open", "high", "low", "close", "volume")}
        order = np.lexsort((cat["start_ns"], kid, cat["end_ns"]))
        ivs = {p.interval for p in parts}
        return cls(keys=tuple(keys), key_id=kid[order], interval=ivs.pop() if len(ivs) == 1 else None,
                   **{f: a[order] for f, a in cat.items()})

    def __len__(self) -> int:
        return len(self.start_ns)

    @property
    def key(self) -> str:
        """The instrument key, when the arrays hold exactly one instrument."""
        if len(self.keys) != 1:
            raise DataError(f"these bars hold {len(self.keys)} instruments ({', '.join(self.keys)}); use keys/key_id")
        return self.keys[0]

    def select(self, keys: Iterable[str]) -> "BarArrays":
        """The bars of some instruments only (order kept)."""
        want = list(keys)
        unknown = [k for k in want if k not in self.keys]
        if unknown:
            raise DataError(f"no bars for {', '.join(unknown)}; have {', '.join(self.keys)}")
        mask = np.isin(self.key_id, [self.keys.index(k) for k in want])
        new_ids = {self.keys.index(k): i for i, k in enumerate(want)}
        lut = np.full(len(self.keys), -1, dtype="int32")
        for old, new in new_ids.items():
            lut[old] = new
        return BarArrays(keys=tuple(want), key_id=lut[self.key_id[mask]], interval=self.interval,
                         **{f: getattr(self, f)[mask] for f in ("start_ns", "end_ns", "open", "high", "low", "close", "volume")})

    def frame(self, key: str | None = None) -> pd.DataFrame:
        """Back to a DataFrame (one instrument: its bars; several: a ``key`` column)."""
        arr = self if key is None else self.select([key])
        idx = pd.DatetimeIndex(pd.to_datetime(arr.start_ns, utc=True)).tz_convert(IST).as_unit("ns")
        idx.name = "timestamp"
        df = pd.DataFrame({"open": arr.open, "high": arr.high, "low": arr.low, "close": arr.close, "volume": arr.volume}, index=idx)
        if len(arr.keys) > 1:
            df.insert(0, "key", np.asarray(arr.keys, dtype=object)[arr.key_id])
        if arr.interval is not None:
            df.attrs["interval"] = arr.interval
        return df

    def bar(self, i: int) -> Bar:
        """Row ``i`` as a :class:`Bar` (for tests and slow paths; loops should read the arrays)."""
        s, e = pd.Timestamp(int(self.start_ns[i]), tz="UTC"), pd.Timestamp(int(self.end_ns[i]), tz="UTC")
        return Bar(self.keys[int(self.key_id[i])], s.tz_convert(IST).to_pydatetime(), e.tz_convert(IST).to_pydatetime(),
                   float(self.open[i]), float(self.high[i]), float(self.low[i]), float(self.close[i]), int(self.volume[i]))

    def bars(self) -> Iterator[Bar]:
        """All rows as :class:`Bar` objects, in order."""
        starts = _pydatetimes(self.start_ns)
        ends = _pydatetimes(self.end_ns)
        keys = self.keys
        for k, s, e, o, h, lo, c, v in zip(self.key_id.tolist(), starts, ends, self.open.tolist(), self.high.tolist(),
                                           self.low.tolist(), self.close.tolist(), self.volume.tolist()):
            yield Bar(keys[k], s, e, o, h, lo, c, v)


def _pydatetimes(ns: np.ndarray) -> list:
    if len(ns) == 0:
        return []
    return list(pd.DatetimeIndex(pd.to_datetime(ns, utc=True)).tz_convert(IST).to_pydatetime())


class _Subscriptions:
    """Keys a replay yields: all it holds until told otherwise, like a ticker told what to send."""

    def __init__(self, available: Sequence[str]):
        self.available = tuple(available)
        self.active: set[str] = set(available)
        self.modes: dict[str, str] = {}

    def subscribe(self, keys: list[str], mode: str) -> None:
        unknown = [k for k in keys if k not in self.available]
        if unknown:
            raise DataError(f"the replay holds no data for {', '.join(unknown)}; it holds {', '.join(self.available)}")
        self.active.update(keys)
        for k in keys:
            self.modes[k] = mode

    def unsubscribe(self, keys: list[str]) -> None:
        self.active.difference_update(keys)


class BarReplayFeed:
    """Replay bars of one or many instruments in the order they complete.

    Parameters
    ----------
    bars : BarArrays, DataSet, DataFrame or mapping of key to DataFrame
        What to replay. A single DataFrame needs ``key``.
    key : str, optional
        Instrument key of a single DataFrame.

    Examples
    --------
    >>> feed = BarReplayFeed(load_dataset(["RELIANCE", "INFY"], "2016-08-16", "2016-08-16"))
    >>> feed.unsubscribe(["NSE:INFY"])
    >>> first = next(iter(feed))          # Bar("NSE:RELIANCE", 09:15 -> 09:16, ...)
    """

    def __init__(self, bars, *, key: str | None = None):
        self.arrays = _as_arrays(bars, key)
        self._subs = _Subscriptions(self.arrays.keys)

    @property
    def keys(self) -> tuple[str, ...]:
        return self.arrays.keys

    @property
    def subscribed(self) -> set[str]:
        return set(self._subs.active)

    def subscribe(self, keys: list[str], mode: str = "quote") -> None:
        """Yield these keys (they must be in the replay); ``mode`` is recorded, bars are bars."""
        self._subs.subscribe(list(keys), mode)

    def unsubscribe(self, keys: list[str]) -> None:
        self._subs.unsubscribe(list(keys))

    def active_arrays(self) -> BarArrays:
        """The columnar bars of the subscribed keys (what a fast replay loop should read)."""
        if set(self._subs.active) == set(self.arrays.keys):
            return self.arrays
        return self.arrays.select([k for k in self.arrays.keys if k in self._subs.active])

    def __len__(self) -> int:
        return len(self.arrays)

    def __iter__(self) -> Iterator[Bar]:
        a = self.arrays
        starts, ends = _pydatetimes(a.start_ns), _pydatetimes(a.end_ns)
        keys, active = a.keys, self._subs.active
        for k, s, e, o, h, lo, c, v in zip(a.key_id.tolist(), starts, ends, a.open.tolist(), a.high.tolist(),
                                           a.low.tolist(), a.close.tolist(), a.volume.tolist()):
            key = keys[k]
            if key in active:  # checked per bar: a subscription may change mid-replay
                yield Bar(key, s, e, o, h, lo, c, v)


class TickReplayFeed:
    """Replay ticks of one or many instruments in time order as :class:`Tick` (mode ``ltp``).

    Parameters
    ----------
    ticks : DataFrame or mapping of key to DataFrame
        Frames from :func:`load_ticks`; a single frame needs ``key``. A ``volume`` column
        becomes ``Tick.last_quantity`` (the size of that trade).
    """

    def __init__(self, ticks, *, key: str | None = None):
        if isinstance(ticks, pd.DataFrame):
            if key is None:
                raise DataError("a single tick frame needs key=..., e.g. key='NSE:NIFTY50'")
            ticks = {key: ticks}
        frames = dict(ticks)
        if not frames:
            raise DataError("no ticks to replay")
        keys = tuple(frames)
        ns = [index_ns(f.index) for f in frames.values()]
        kid = np.concatenate([np.full(len(a), i, dtype="int32") for i, a in enumerate(ns)])
        all_ns = np.concatenate(ns)
        price = np.concatenate([f["price"].to_numpy(dtype="float64") for f in frames.values()])
        qty = np.concatenate([
            f["volume"].to_numpy(dtype="int64") if "volume" in f.columns else np.full(len(f), -1, dtype="int64")
            for f in frames.values()
        ])
        order = np.lexsort((kid, all_ns))  # stable within a key: equal timestamps keep file order
        self.keys = keys
        self.ts_ns, self.key_id, self.price, self.quantity = all_ns[order], kid[order], price[order], qty[order]
        self._subs = _Subscriptions(keys)

    @property
    def subscribed(self) -> set[str]:
        return set(self._subs.active)

    def subscribe(self, keys: list[str], mode: str = "ltp") -> None:
        self._subs.subscribe(list(keys), mode)

    def unsubscribe(self, keys: list[str]) -> None:
        self._subs.unsubscribe(list(keys))

    def __len__(self) -> int:
        return len(self.ts_ns)

    def __iter__(self) -> Iterator[Tick]:
        keys, active = self.keys, self._subs.active
        for k, t, p, q in zip(self.key_id.tolist(), _pydatetimes(self.ts_ns), self.price.tolist(), self.quantity.tolist()):
            key = keys[k]
            if key in active:
                yield Tick(key=key, ts=t, last_price=p, last_quantity=None if q < 0 else q, last_trade_time=t)


@dataclass(eq=False)
class DataSet(Mapping):
    """Bars of several instruments, keyed like ``"NSE:RELIANCE"``; a ``Mapping`` of key to frame.

    Attributes
    ----------
    bars : dict of str to DataFrame
    timeframe : str
        ``"1min"``, ``"1d"``, or the rule it was resampled to.
    """

    bars: dict[str, pd.DataFrame] = field(default_factory=dict)
    timeframe: str = "1min"

    def __len__(self) -> int:
        return len(self.bars)

    def __iter__(self) -> Iterator[str]:
        return iter(self.bars)

    @property
    def n_bars(self) -> int:
        return sum(len(df) for df in self.bars.values())

    def __getitem__(self, key: str) -> pd.DataFrame:
        """Bars of ``key``; a bare symbol (``"RELIANCE"``) is accepted when it is unambiguous."""
        if key in self.bars:
            return self.bars[key]
        hits = [k for k in self.bars if k.partition(":")[2] == key]
        if len(hits) == 1:
            return self.bars[hits[0]]
        raise KeyError(f"no bars for {key!r} in the data set; have {', '.join(self.bars)}")

    def arrays(self, keys: Iterable[str] | None = None) -> BarArrays:
        """Columnar bars of ``keys`` (default: all), merged in completion order."""
        ks = list(keys) if keys is not None else list(self.bars)
        return BarArrays.merge([BarArrays.from_frame(self[k], k if k in self.bars else self._full(k)) for k in ks])

    def feed(self, keys: Iterable[str] | None = None) -> BarReplayFeed:
        return BarReplayFeed(self.arrays(keys))

    def sessions(self) -> list[date]:
        """Session dates present in any instrument."""
        return sorted({d for df in self.bars.values() for d in sessions_in(df)})

    def resample(self, rule) -> "DataSet":
        return DataSet({k: resample_bars(df, rule) for k, df in self.bars.items()}, str(rule))

    def quality(self, expected_sessions: Iterable[date] | None = None, **kw) -> pd.DataFrame:
        """Quality findings of every instrument, concatenated (see :mod:`tradekit.data.quality`)."""
        from tradekit.data.quality import COLUMNS, check_bars

        exp = list(expected_sessions) if expected_sessions is not None else None
        parts = [check_bars(df, key=k, expected_sessions=exp, **kw) for k, df in self.bars.items()]
        parts = [p for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)

    def _full(self, key: str) -> str:
        return next(k for k in self.bars if k.partition(":")[2] == key)


def _looks_like_path(s: str | Path) -> bool:
    if isinstance(s, Path):
        return True
    return "/" in s or "\\" in s or s.lower().endswith(_FILE_SUFFIXES)


def load_dataset(
    paths_or_symbols: str | Path | Sequence[str | Path] | Mapping[str, str | Path],
    start=None,
    end=None,
    *,
    timeframe: str = "1min",
    data_dir: str | Path | None = None,
) -> DataSet:
    """Load bars by symbol (``"RELIANCE"``, ``"NSE:INFY"``: the data directory's, else the bundled
    sample's, see :func:`tradekit.data.store.find_bars`) or by file path.

    Parameters
    ----------
    paths_or_symbols : str, Path, list of them, or mapping of key to path
        A symbol loads its bars of ``timeframe`` (data directory first); a path loads that file, keyed
        from its name (``NSE_SBIN_1min.csv`` -> ``NSE:SBIN``). A mapping names the keys.
    start, end : date, datetime or str, optional
        Keep bars in ``[start, end]``; a date-only ``end`` includes that day.
    timeframe : str
        ``"1min"`` or ``"1d"``.
    data_dir : path, optional
        The data directory (default: ``$TRADEKIT_DATA_DIR`` or the config's ``data_dir``).

    Raises
    ------
    DataError
        A symbol with no bundled sample, a missing or malformed file, or two sources with one key.
    """
    if isinstance(paths_or_symbols, Mapping):
        items = [(str(k), v) for k, v in paths_or_symbols.items()]
    else:
        seq = [paths_or_symbols] if isinstance(paths_or_symbols, (str, Path)) else list(paths_or_symbols)
        items = []
        for s in seq:
            if _looks_like_path(s):
                items.append((key_from_path(Path(s)), Path(s)))
            else:
                from tradekit.data.store import find_bars

                sym = str(s).strip()
                key = sym if ":" in sym else f"NSE:{sym}"
                items.append((key, find_bars(key, timeframe, data_dir=data_dir)[0]))  # the data directory, else bundled
    bars: dict[str, pd.DataFrame] = {}
    for key, path in items:
        if key in bars:
            raise DataError(f"{key} was given twice ({path})")
        bars[key] = load_bars(path, start=start, end=end)
        if len(bars[key]) == 0:
            log.warning("%s: no bars between %s and %s in %s", key, start, end, path)
    return DataSet(bars, timeframe)


def _as_arrays(bars, key: str | None) -> BarArrays:
    if isinstance(bars, BarArrays):
        return bars
    if isinstance(bars, DataSet):
        return bars.arrays()
    if isinstance(bars, pd.DataFrame):
        if key is None:
            raise DataError("a single bar frame needs key=..., e.g. key='NSE:RELIANCE'")
        return BarArrays.from_frame(bars, key)
    if isinstance(bars, Mapping):
        return BarArrays.merge([BarArrays.from_frame(df, k) for k, df in bars.items()])
    raise DataError(f"cannot replay {type(bars).__name__}; give BarArrays, a DataSet, a DataFrame or a dict of them")
