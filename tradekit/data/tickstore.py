"""The tick store: every live tick, recorded per day and instrument as Parquet, queried with DuckDB.

Layout under ``root``::

    2026-12-04/                 one folder per IST trading day (of the tick's exchange time)
      NSE%3AINFY/               one folder per instrument (the key, percent-encoded)
        p-000000000017.parquet  a part: the ticks of one flush, in arrival order
        c-000000000016.parquet  a compaction: every part up to seq 16, merged

Writes are cheap: :meth:`TickStore.append` only extends an in-memory buffer; every
``flush_every`` seconds (a writer thread) or at ``max_buffer`` ticks the buffer becomes one
part per instrument. A part is written to a ``.tmp`` file, fsynced and renamed into place, so a
reader never sees half a Parquet file and a crash loses at most the unflushed buffer. When
an instrument's day holds ``compact_at`` parts they are merged into one ``c-`` file (same
atomic rename) covering every part up to its seq; readers use the newest compaction plus the
parts after it, so a crash between the merge and the deletion of the parts it covers
duplicates nothing. One process writes a store at a time (it holds ``.lock`` from its first
write until :meth:`close`); any number may read.

Readers (:meth:`read`, :meth:`iter_ticks`, :meth:`query`) see flushed ticks only, in
exchange-time order: by the tick's ``ts`` (the exchange timestamp), then by when it arrived.
A tick without an exchange timestamp (LTP and quote packets) is ordered and dated by its
arrival time.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from itertools import accumulate, chain, repeat
from pathlib import Path
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tradekit.clock import IST
from tradekit.data.types import DepthLevel, Tick
from tradekit.errors import DataError, ValidationError

log = logging.getLogger(__name__)

_IST_OFFSET_NS = 19_800 * 10**9
_EPOCH = datetime(1970, 1, 1, 5, 30, tzinfo=IST)  # the epoch in IST (a fixed +05:30 offset since 1945)
_DAY_NS = 86_400 * 10**9
_FILE = re.compile(r"^([pc])-(\d{12})\.parquet$")
_DAY_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_LEVEL = pa.struct([("price", pa.float64()), ("quantity", pa.int64()), ("orders", pa.int64())])
_TS = pa.timestamp("ns", tz="Asia/Kolkata")
SCHEMA = pa.schema([
    ("key", pa.string()),
    ("ts", _TS),  # the exchange timestamp (null when the packet has none)
    ("received", _TS),  # when the store was handed the tick
    ("seq", pa.int64()),  # arrival order within the store
    ("last_price", pa.float64()),
    ("instrument_token", pa.int64()),
    ("mode", pa.string()),
    ("tradable", pa.bool_()),
    ("last_quantity", pa.int64()),
    ("average_price", pa.float64()),
    ("volume", pa.int64()),
    ("buy_quantity", pa.int64()),
    ("sell_quantity", pa.int64()),
    ("open", pa.float64()),
    ("high", pa.float64()),
    ("low", pa.float64()),
    ("close", pa.float64()),
    ("change", pa.float64()),
    ("last_trade_time", _TS),
    ("oi", pa.int64()),
    ("oi_day_high", pa.int64()),
    ("oi_day_low", pa.int64()),
    ("bids", pa.list_(_LEVEL)),
    ("asks", pa.list_(_LEVEL)),
])
# Tick fields in Tick order, and where each lives in a stored row
_TICK_FIELDS = Tick._fields
_PLAIN = ("last_price", "instrument_token", "mode", "tradable", "last_quantity", "average_price", "volume",
          "buy_quantity", "sell_quantity", "open", "high", "low", "close", "change", "oi", "oi_day_high", "oi_day_low")




def _dt(ns: int | None) -> datetime | None:
    if ns is None:
        return None
    return _EPOCH + timedelta(microseconds=ns // 1000)




def _as_day(day: date | str) -> date:
    if isinstance(day, datetime):
        return day.astimezone(IST).date()
    if isinstance(day, date):
        return day
    try:
        return date.fromisoformat(str(day))
    except ValueError:
        raise ValidationError(f"{day!r} is not a date (YYYY-MM-DD)", field="day") from None






class TickStore:
    """Record ticks as Parquet per day and instrument; read them back in exchange-time order.

    Parameters
    ----------
    root : path
        The store's folder (created if missing).
    retention_days : int, optional
        :meth:`prune` deletes days older than this many days before ``today`` (``None``: keep all).
    flush_every : float
        Seconds between automatic flushes from :meth:`append` (0: flush on every append).
    max_buffer : int
        Flush as soon as this many ticks are buffered, whatever the time.
    compact_at : int
        Merge an instrument-day's parts into one file once it has this many (0: never).
    clock : callable
        Receive time in ns since the epoch (default ``time.time_ns``), for ticks without an
        exchange timestamp and for the arrival order.
    background : bool
        Flush every ``flush_every`` seconds from a writer thread started by the first append,
        so :meth:`append` never waits on the disk (a full buffer still flushes at once).
        ``False``: :meth:`append` flushes itself when the time has come.
    """

    def __init__(self, root: str | Path, *, retention_days: int | None = None, flush_every: float = 1.0,
                 max_buffer: int = 200_000, compact_at: int = 64, clock: Callable[[], int] = time.time_ns,
                 background: bool = True):
        if retention_days is not None and retention_days < 1:
            raise ValidationError(f"retention_days must be at least 1 (or None to keep every day), {retention_days!r} was given",
                                  field="retention_days")
        if flush_every < 0:
            raise ValidationError(f"flush_every must be 0 or more seconds, {flush_every!r} was given", field="flush_every")
        if max_buffer < 1:
            raise ValidationError(f"max_buffer must be at least 1, {max_buffer!r} was given", field="max_buffer")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.retention_days = retention_days
        self.flush_every = float(flush_every)
        self.max_buffer = int(max_buffer)
        self.compact_at = int(compact_at)
        self._clock = clock
        self._buf: list[tuple[int, Tick]] = []  # (received ns, tick)
        self._lock = threading.Lock()  # guards the buffer
        self._write_lock = threading.Lock()  # one flush at a time
        self._last_flush = time.monotonic()
        self._next_seq: dict[Path, int] = {}
        self._row_seq = 0
        self.appended = 0
        self.written = 0
        self.files_written = 0
        self._closed = False
        self._lockfile = self.root / ".lock"
        self._locked = False
        self.background = background and self.flush_every > 0
        self._writer: threading.Thread | None = None
        self._stop = threading.Event()

    # -- writing -----------------------------------------------------------------------------------
    def append(self, ticks: Iterable[Tick]) -> None:
        """Buffer ``ticks`` (cheap); flush when ``flush_every`` seconds passed or the buffer is full."""
        if self._closed:
            raise DataError(f"tick store {self.root} is closed")
        now = self._clock()
        rows = []
        for t in ticks:
            ts = t.ts
            if ts is not None and ts.tzinfo is None:
                raise ValidationError(f"naive datetime {ts!r} in a tick; ticks need timezone-aware times", field="tick.ts")
            if t.key is None and t.instrument_token is None:
                raise ValidationError("a tick needs a key or an instrument_token to be stored", field="tick.key")
            rows.append((now, t))
        with self._lock:
            self._buf.extend(rows)
            self.appended += len(rows)
            full = len(self._buf) >= self.max_buffer
            due = full or time.monotonic() - self._last_flush >= self.flush_every
        if not due:
            return
        if self.background and not full:
            self._start_writer()  # the writer thread flushes on its timer: the caller (a ticker) never waits on disk
        else:
            self.flush()

    def _start_writer(self) -> None:
        if self._writer is not None:
            return
        with self._lock:
            if self._writer is not None:
                return
            self._writer = threading.Thread(target=self._write_loop, name="tradekit-tick-store", daemon=True)
            self._writer.start()

    def _write_loop(self) -> None:
        while not self._stop.wait(self.flush_every):
            try:
                self.flush()
            except Exception:  # a full disk must not kill the session; the next flush tries again
                log.exception("tick store flush failed (%d ticks buffered)", self.buffered)

    def __call__(self, ticks: Iterable[Tick]) -> None:  # usable directly as an ``on_ticks`` callback
        self.append(ticks)

    def flush(self) -> int:
        """Write the buffer as one part per instrument and day; returns the ticks written."""
        with self._write_lock:
            with self._lock:
                buf, self._buf = self._buf, []
                self._last_flush = time.monotonic()
            if not buf:
                return 0
            if not self._locked:
                self._take_lock()
            groups: dict[str, tuple[list, list, list]] = {}  # key -> (received, seq, ticks), arrival order
            seq = self._row_seq
            for recv, t in buf:
                seq += 1
                k = t.key or f"token:{t.instrument_token}"
                g = groups.get(k)
                if g is None:
                    g = groups[k] = ([], [], [])
                g[0].append(recv)
                g[1].append(seq)
                g[2].append(t)
            self._row_seq = seq
            for key, (recvs, seqs, ticks) in groups.items():
                for day, table in _by_day(_to_table(key, recvs, seqs, ticks)):
                    folder = self._folder(day, key)
                    folder.mkdir(parents=True, exist_ok=True)
                    n = self._take_seq(folder)
                    self._write_atomic(table, folder / f"p-{n:012d}.parquet")
                    if self.compact_at and n - self._covered(folder) >= self.compact_at:
                        self._compact(folder)
            self.written += len(buf)
            return len(buf)

    def close(self) -> None:
        """Flush what is buffered; later appends are refused."""
        if self._closed:
            return
        self._stop.set()
        if self._writer is not None:
            self._writer.join()
        try:
            self.flush()
        finally:
            self._closed = True
            self.release()

    def __enter__(self) -> "TickStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    # -- reading -----------------------------------------------------------------------------------
    def days(self) -> list[date]:
        """The recorded days, oldest first."""
        out = []
        for p in self.root.iterdir():
            if p.is_dir() and _DAY_DIR.match(p.name) and any(self._live_files(p)):
                out.append(date.fromisoformat(p.name))
        return sorted(out)

    def keys(self, day: date | str) -> list[str]:
        folder = self.root / _as_day(day).isoformat()
        if not folder.is_dir():
            return []
        return sorted(unquote(p.name) for p in folder.iterdir() if p.is_dir() and self._files(p))

    def files(self, day: date | str | None = None, keys: Iterable[str] | None = None) -> list[Path]:
        """The Parquet files that hold a day's ticks (every day when ``day`` is None)."""
        if day is None:
            folders = [p for p in sorted(self.root.iterdir()) if p.is_dir() and _DAY_DIR.match(p.name)]
        else:
            folders = [self.root / _as_day(day).isoformat()]
        out: list[Path] = []
        for f in folders:
            out.extend(self._live_files(f, keys))
        return out

    def read_table(self, day: date | str, keys: Iterable[str] | None = None) -> pa.Table:
        files = self.files(day, keys)
        if not files:
            return SCHEMA.empty_table()
        tables = []
        for f in files:
            try:
                tables.append(pq.read_table(f, schema=SCHEMA))
            except (OSError, pa.ArrowInvalid) as e:
                raise DataError(f"{f}: cannot read ticks: {e}") from None
        t = pa.concat_tables(tables)
        eff = pc.coalesce(t["ts"], t["received"])
        t = t.append_column("_order", eff)
        t = t.sort_by([("_order", "ascending"), ("received", "ascending"), ("seq", "ascending")])
        return t.drop_columns(["_order"])

    def read(self, day: date | str, keys: Iterable[str] | None = None) -> "pd.DataFrame":  # noqa: F821
        """A day's ticks (optionally only ``keys``) as a DataFrame in exchange-time order.

        Columns are the :class:`Tick` fields plus ``received`` and ``seq``; times are IST;
        ``bids``/``asks`` hold lists of ``{price, quantity, orders}``.
        """
        import pandas as pd

        ints = {pa.int64(): pd.Int64Dtype()}
        return self.read_table(day, keys).to_pandas(types_mapper=ints.get)

    def iter_ticks(self, day: date | str, keys: Iterable[str] | None = None, *, fill_ts: bool = False) -> Iterator[Tick]:
        """A day's ticks as :class:`Tick` objects, in exchange-time order.

        ``fill_ts``: a tick recorded without an exchange time gets its arrival time as ``ts``
        (a replay needs a time for every tick).
        """
        t = self.read_table(day, keys)
        if t.num_rows == 0:
            return
        cols = {name: t[name].to_pylist() for name in ("key", *_PLAIN)}
        ts_col = pc.coalesce(t["ts"], t["received"]) if fill_ts else t["ts"]
        ts_ns = ts_col.cast(pa.int64()).to_pylist()
        ltt_ns = t["last_trade_time"].cast(pa.int64()).to_pylist()
        bids, asks = _levels(t["bids"]), _levels(t["asks"])

        cols["key"] = [None if k.startswith("token:") else k for k in cols["key"]]
        cols["ts"] = list(map(_dt, ts_ns))
        cols["last_trade_time"] = list(map(_dt, ltt_ns))
        cols["bids"], cols["asks"] = bids, asks
        # tuple.__new__ straight from columns: a NamedTuple's own constructor is several times slower
        yield from map(tuple.__new__, repeat(Tick), zip(*(cols[f] for f in _TICK_FIELDS)))

    def query(self, sql: str):
        """Run ``sql`` with DuckDB over every recorded tick, visible as the view ``ticks``
        (columns as :data:`SCHEMA`); returns a DataFrame."""
        import duckdb

        files = self.files()
        con = duckdb.connect()
        try:
            if files:
                lst = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
                con.execute(f"CREATE VIEW ticks AS SELECT * FROM read_parquet([{lst}], union_by_name=true)")
            else:
                con.register("ticks", SCHEMA.empty_table())
            try:
                return con.execute(sql).df()
            except duckdb.Error as e:
                raise DataError(f"tick query failed: {e}") from None
        finally:
            con.close()

    # -- retention -----------------------------------------------------------------------------------
    def prune(self, today: date | str) -> list[date]:
        """Delete the days older than ``retention_days`` before ``today``; returns them. A no-op
        without a retention."""
        if self.retention_days is None:
            return []
        cut = _as_day(today) - timedelta(days=self.retention_days)
        gone = []
        for p in sorted(self.root.iterdir()):
            if p.is_dir() and _DAY_DIR.match(p.name) and date.fromisoformat(p.name) <= cut:
                shutil.rmtree(p)
                gone.append(date.fromisoformat(p.name))
        return gone

    # -- internals -----------------------------------------------------------------------------------
    def _folder(self, day: date, key: str) -> Path:
        return self.root / day.isoformat() / quote(key, safe="-_.&")

    @staticmethod
    def _files(folder: Path) -> list[tuple[str, int, Path]]:
        out = []
        try:
            for p in folder.iterdir():
                m = _FILE.match(p.name)
                if m:
                    out.append((m.group(1), int(m.group(2)), p))
        except FileNotFoundError:
            return []
        return out

    def _covered(self, folder: Path) -> int:
        return max((s for kind, s, _ in self._files(folder) if kind == "c"), default=0)

    def _live_files(self, day_folder: Path, keys: Iterable[str] | None = None) -> list[Path]:
        """The newest compaction of each instrument plus the parts written after it."""
        if not day_folder.is_dir():
            return []
        if keys is not None:
            subs = [day_folder / quote(k, safe="-_.&") for k in keys]
        else:
            subs = sorted(p for p in day_folder.iterdir() if p.is_dir())
        out = []
        for sub in subs:
            files = self._files(sub)
            c = max((s for kind, s, _ in files if kind == "c"), default=0)
            out.extend(p for kind, s, p in sorted(files, key=lambda x: x[1])
                       if (kind == "c" and s == c) or (kind == "p" and s > c))
        return out

    def _take_seq(self, folder: Path) -> int:
        n = self._next_seq.get(folder)
        if n is None:
            n = max((s for _, s, _p in self._files(folder)), default=0) + 1
        self._next_seq[folder] = n + 1
        return n

    def _write_atomic(self, table: pa.Table, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            pq.write_table(table, tmp, compression="zstd")
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.files_written += 1

    def _compact(self, folder: Path) -> None:
        live = self._live_files(folder.parent, [unquote(folder.name)])
        if len(live) < 2:
            return
        t = pa.concat_tables([pq.read_table(p, schema=SCHEMA) for p in live])
        seq = self._take_seq(folder)  # newer than every part it covers
        self._write_atomic(t, folder / f"c-{seq:012d}.parquet")
        for kind, s, p in self._files(folder):  # the merged parts and older compactions
            if s < seq:
                p.unlink(missing_ok=True)

    def _take_lock(self) -> None:
        """Become the store's one writer (on the first write; readers never take it)."""
        pid = os.getpid()
        for _ in range(2):
            try:
                fd = os.open(self._lockfile, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    other = int(self._lockfile.read_text().strip() or 0)
                except (OSError, ValueError):
                    other = 0
                if other and other != pid and _alive(other):
                    raise DataError(f"tick store {self.root} is being written by process {other}; "
                                    f"one writer at a time") from None
                self._lockfile.unlink(missing_ok=True)  # left by a process that died
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(pid))
            break
        self._locked = True
        for p in self.root.glob("*/*/.*.tmp"):  # half-written files of a crashed writer
            p.unlink(missing_ok=True)

    def release(self) -> None:
        if self._locked:
            try:
                if self._lockfile.read_text().strip() == str(os.getpid()):
                    self._lockfile.unlink()
            except OSError:
                pass
            self._locked = False


def open_tick_store(cfg, clock=None) -> TickStore | None:
    """The configured tick store (``tick_store:`` in the config), or None when it is disabled.

    ``dir`` is relative to ``data_dir`` unless absolute; ``clock`` (a :class:`~tradekit.clock.Clock`)
    stamps arrivals (default: the wall clock).
    """
    tcfg = cfg.tick_store
    if not tcfg.enabled:
        return None
    root = Path(tcfg.dir).expanduser()
    if not root.is_absolute():
        root = Path(cfg.data_dir) / root
    kw = {}
    if clock is not None:
        from tradekit.clock import dt_to_ns

        kw["clock"] = lambda: dt_to_ns(clock.now())
    return TickStore(root, retention_days=tcfg.retention_days, flush_every=tcfg.flush_seconds,
                     max_buffer=tcfg.max_buffer, compact_at=tcfg.compact_parts, **kw)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _levels(col) -> list[tuple[DepthLevel, ...]]:
    """A ``list<struct>`` depth column as tuples of :class:`DepthLevel`, one per row."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    offs = arr.offsets.to_pylist()
    base = offs[0]
    flat = arr.flatten()
    lv = list(map(tuple.__new__, repeat(DepthLevel), zip(flat.field("price").to_pylist(),
                  flat.field("quantity").to_pylist(), flat.field("orders").to_pylist())))
    return [tuple(lv[offs[i] - base:offs[i + 1] - base]) for i in range(len(offs) - 1)]


def _depth_array(col) -> pa.Array:
    """A column of depth tuples as ``list<struct<price, quantity, orders>>``, built from flat arrays."""
    offsets = list(accumulate(map(len, col), initial=0))
    flat = list(chain.from_iterable(col))
    cols = list(zip(*flat)) if flat else [(), (), ()]
    if len(cols) == 3 and len(cols[0]) == len(flat):
        px, qty, orders = cols
    else:  # plain (price, quantity) pairs
        px = [float(lv[0]) for lv in flat]
        qty = [int(lv[1]) for lv in flat]
        orders = [int(lv[2]) if len(lv) > 2 else 0 for lv in flat]
    values = pa.StructArray.from_arrays(
        [pa.array(px, pa.float64()), pa.array(qty, pa.int64()), pa.array(orders, pa.int64())],
        fields=list(_LEVEL))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=pa.list_(_LEVEL))


_UTC_US = pa.timestamp("us", tz="UTC")


def _to_table(key: str, recvs: list[int], seqs: list[int], ticks: list[Tick]) -> pa.Table:
    """One instrument's buffered ticks as an Arrow table (in arrival order)."""
    cols = dict(zip(_TICK_FIELDS, zip(*ticks)))
    n = len(ticks)
    arrays = {
        "key": pa.array([key] * n, pa.string()),
        "ts": pa.array(cols["ts"], _UTC_US).cast(_TS),
        "received": pa.array(recvs, pa.int64()).cast(_TS),
        "seq": pa.array(seqs, pa.int64()),
        "last_trade_time": pa.array(cols["last_trade_time"], _UTC_US).cast(_TS),
        "bids": _depth_array(cols["bids"]),
        "asks": _depth_array(cols["asks"]),
    }
    for name in _PLAIN:
        arrays[name] = pa.array(cols[name], SCHEMA.field(name).type)
    return pa.table([arrays[f.name] for f in SCHEMA], schema=SCHEMA)


def _by_day(table: pa.Table) -> list[tuple[date, pa.Table]]:
    """Split a table by the IST day of each tick (its exchange time, else its arrival)."""
    import numpy as np

    eff = pc.coalesce(table["ts"], table["received"]).cast(pa.int64()).to_numpy(zero_copy_only=False)
    day_no = (eff + _IST_OFFSET_NS) // _DAY_NS
    first = int(day_no[0])
    if (day_no == first).all():
        return [(date(1970, 1, 1) + timedelta(days=first), table)]
    out = []
    for d in np.unique(day_no):
        out.append((date(1970, 1, 1) + timedelta(days=int(d)), table.filter(pa.array(day_no == d))))
    return out
