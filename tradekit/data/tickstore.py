"""The tick store: every live tick, recorded per day as Parquet, queried with DuckDB.

Layout under ``root``::

    2026-12-04/                              one folder per IST trading day (of the tick's exchange time)
      f-000000000017.parquet                 a flush: every instrument's ticks of one flush,
                                             sorted by instrument (``key``), then arrival
      c-000000000001-000000000016.parquet    a compaction: flushes 1..16 merged, sorted by
                                             instrument, then exchange time

Writes are cheap: :meth:`TickStore.append` only extends an in-memory buffer; every
``flush_every`` seconds (a writer thread) or at ``max_buffer`` ticks the buffer becomes ONE
Parquet file per day, whatever the number of instruments (one file per instrument made a
500-instrument flush cost well over a second). Every file is written to a ``.tmp`` name,
fsynced, renamed into place and the folder fsynced, so a reader never sees half a file and
a crash loses at most the unflushed buffer.

Compaction keeps reads fast: the day's flush files are merged into one file sorted by
instrument, in row groups whose ``key`` statistics let a reader of a few instruments skip the
rest (one day file rather than one file per instrument: one rename commits it, a day of 500
instruments is one file for DuckDB to open instead of 500, and the per-instrument pruning
comes from the sort). It runs

- when a day holds ``compact_at`` live flush files (they become one ``c-`` file; ``c-`` files
  of the same size tier are merged in turn, ``_FAN`` at a time, so a day is rewritten only
  a logarithmic number of times),
- on :meth:`close` and when the flushes move on to a later day (the day becomes one file),
- on :meth:`compact` (re-runnable, e.g. after a crash: ``tradekit`` sessions do it on close).

The commit is the rename of the ``c-`` file, whose name carries the range of flush numbers
it covers: from that instant readers ignore every file inside the range (a flush file
``f-N`` with ``lo <= N <= hi``, a smaller ``c-`` file within it), so a crash between the
rename and the deletion of the covered files leaves them on disk but never visible twice.
Covered files are deleted by a later compaction once ``_READ_GRACE`` seconds have passed
since the commit (a reader that listed them just before it can still open them), and all of
them on :meth:`close`. One process writes a store at a time (it holds ``.lock``
from its first write or compaction until :meth:`close`); any number may read.

Readers (:meth:`read`, :meth:`iter_ticks`, :meth:`query`, :meth:`files`) see flushed ticks
only, compacted or not, in exchange-time order: by the tick's ``ts`` (the exchange
timestamp), then by when it arrived. A tick without an exchange timestamp (LTP and quote
packets) is ordered and dated by its arrival time. Days recorded by the earlier layout (one
folder per instrument) are still read.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from itertools import repeat
from pathlib import Path
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tradekit.clock import IST
from tradekit.data._tickarrow import _PLAIN, _TICK_FIELDS, SCHEMA, _by_day, _dt, _levels, _to_table
from tradekit.data.types import Tick
from tradekit.errors import DataError, ValidationError

__all__ = ["SCHEMA", "TickStore", "open_tick_store"]

log = logging.getLogger(__name__)

_DAY_FILE = re.compile(r"^(?:f-(\d{12})|c-(\d{12})-(\d{12}))\.parquet$")
_LEGACY_FILE = re.compile(r"^([pc])-(\d{12})\.parquet$")  # the per-instrument layout before flush files
_DAY_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FAN = 8  # compacted files of one size tier merged at a time
_MERGE_ROWS = 500_000  # rows held in memory at once while merging (instruments are merged in batches)
_ROW_GROUP = 65_536  # rows per row group of a compacted file (its key statistics let readers skip groups)
_SORT_OUT = [("key", "ascending"), ("_order", "ascending"), ("received", "ascending"), ("seq", "ascending")]
_READ_GRACE = 60.0  # seconds a compaction's inputs stay on disk after its commit, for readers that listed them


def _as_day(day: date | str) -> date:
    if isinstance(day, datetime):
        return day.astimezone(IST).date()
    if isinstance(day, date):
        return day
    try:
        return date.fromisoformat(str(day))
    except ValueError:
        raise ValidationError(f"{day!r} is not a date (YYYY-MM-DD)", field="day") from None


class _Entry(tuple):
    """A data file of a day folder: ``(lo, hi, kind, path)``; a flush file has lo == hi."""

    __slots__ = ()

    lo = property(lambda self: self[0])
    hi = property(lambda self: self[1])
    kind = property(lambda self: self[2])
    path = property(lambda self: self[3])


def _scan(day_folder: Path) -> list[_Entry]:
    out = []
    try:
        names = os.listdir(day_folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    for name in names:
        m = _DAY_FILE.match(name)
        if m:
            if m.group(1):
                n = int(m.group(1))
                out.append(_Entry((n, n, "f", day_folder / name)))
            else:
                out.append(_Entry((int(m.group(2)), int(m.group(3)), "c", day_folder / name)))
    return sorted(out, key=lambda e: (e.lo, -e.hi))


def _split_live(entries: list[_Entry]) -> tuple[list[_Entry], list[_Entry]]:
    """(live, covered): a file is covered when a compaction's range contains its own range."""
    comps = [e for e in entries if e.kind == "c"]
    live, covered = [], []
    for e in entries:
        if any(c is not e and c.lo <= e.lo and e.hi <= c.hi for c in comps):
            covered.append(e)
        else:
            live.append(e)
    return live, covered


def _tier(span: int, base: int) -> int:
    t = 0
    while span >= base * _FAN:
        span //= _FAN
        t += 1
    return t


class TickStore:
    """Record ticks as Parquet per day (one file per flush, compacted per day); read them back
    in exchange-time order.

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
        Merge a day's flush files into one compacted file once it has this many (0: only on
        :meth:`close`, a change of day and :meth:`compact`).
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
        if compact_at < 0:
            raise ValidationError(f"compact_at must be 0 (no size threshold) or more, {compact_at!r} was given",
                                  field="compact_at")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.retention_days = retention_days
        self.flush_every = float(flush_every)
        self.max_buffer = int(max_buffer)
        self.compact_at = int(compact_at)
        self._clock = clock
        self._buf: list[tuple[int, Tick]] = []  # (received ns, tick)
        self._lock = threading.Lock()  # guards the buffer
        self._write_lock = threading.RLock()  # one flush or compaction at a time
        self._last_flush = time.monotonic()
        self._next_seq: dict[Path, int] = {}
        self._touched: set[date] = set()  # days this writer flushed into and has not compacted since
        self._ended: set[date] = set()  # days compacted because the flushes moved on to a later day
        self._merged_in: set[Path] = set()  # day folders this writer compacted (covered files may remain)
        self._row_seq = 0
        self.appended = 0
        self.written = 0
        self.files_written = 0
        self.compactions = 0
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

    def flush(self, *, compact: bool = True) -> int:
        """Write the buffer as one file per day (normally one); returns the ticks written.

        ``compact``: then run the compactions that are due (a day at ``compact_at`` flush
        files; a day the flushes have moved on from).
        """
        with self._write_lock:
            with self._lock:
                buf, self._buf = self._buf, []
                self._last_flush = time.monotonic()
            if buf:
                if not self._locked:
                    self._take_lock()
                seq0 = self._row_seq
                self._row_seq += len(buf)
                recvs = [r for r, _ in buf]
                ticks = [t for _, t in buf]
                keys = [t.key or f"token:{t.instrument_token}" for t in ticks]
                table = _to_table(keys, recvs, list(range(seq0 + 1, seq0 + 1 + len(buf))), ticks)
                for day, t in _by_day(table):
                    t = t.take(pc.sort_indices(t, sort_keys=[("key", "ascending"), ("seq", "ascending")]))
                    folder = self.root / day.isoformat()
                    folder.mkdir(exist_ok=True)
                    n = self._take_seq(folder)
                    self._write_atomic(t, folder / f"f-{n:012d}.parquet")
                    self._touched.add(day)
                self.written += len(buf)
            if compact:
                self._compact_due()
            return len(buf)

    def _compact_due(self) -> None:
        if not self._touched:
            return
        newest = max(self._touched)
        for day in sorted(self._touched):
            if day < newest and day not in self._ended:  # the flushes moved on to a later day: this one is done
                self._ended.add(day)
                self.compact(day)
            elif self.compact_at:  # (a late tick of an ended day is merged by the threshold and on close)
                self._compact_threshold(day)

    def close(self) -> None:
        """Flush what is buffered and compact the days written; later appends are refused."""
        if self._closed:
            return
        self._stop.set()
        if self._writer is not None:
            self._writer.join()
        try:
            self.flush(compact=False)
            for day in sorted(self._touched):
                self.compact(day, grace=0)
            for folder in sorted(self._merged_in):  # inputs of earlier compactions kept for readers
                self._delete_covered(folder, 0)
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

    # -- compaction --------------------------------------------------------------------------------
    def compact(self, day: date | str | None = None, *, grace: float = _READ_GRACE) -> list[date]:
        """Merge each day's files (``day``, or every day) into one file sorted by instrument, and
        delete files a compaction committed at least ``grace`` seconds ago covers. Safe to run
        again at any time, e.g. after a crash; takes the writer's lock. Returns the days rewritten."""
        with self._write_lock:
            if not self._locked:
                self._take_lock()
            days = [_as_day(day)] if day is not None else self.days()
            done = []
            for d in days:
                folder = self.root / d.isoformat()
                live, _ = _split_live(_scan(folder))
                if len(live) > 1 or (live and live[0].kind == "f"):
                    self._merge(folder, live)
                    done.append(d)
                self._delete_covered(folder, grace)  # also those of a compaction that crashed after its commit
                self._touched.discard(d)
            return done

    def _compact_threshold(self, day: date) -> None:
        folder = self.root / day.isoformat()
        self._delete_covered(folder, _READ_GRACE)
        live, _ = _split_live(_scan(folder))
        flushes = [e for e in live if e.kind == "f"]
        if len(flushes) >= self.compact_at:
            last_c = max((e.hi for e in live if e.kind == "c"), default=0)
            run = [e for e in flushes if e.lo > last_c]  # the flushes after the newest compaction
            if len(run) > 1:
                live = self._replace(live, run, self._merge(folder, run))
        while True:  # size tiers: _FAN compactions of one tier become one of the next
            comps = [e for e in live if e.kind == "c"]
            if len(comps) < _FAN:
                return
            tail = comps[-_FAN:]
            tiers = {_tier(e.hi - e.lo + 1, max(1, self.compact_at)) for e in tail}
            if len(tiers) != 1 or any(e.kind == "f" and tail[0].lo <= e.lo <= tail[-1].hi for e in live):
                return
            live = self._replace(live, tail, self._merge(folder, tail))

    @staticmethod
    def _replace(live: list[_Entry], gone: list[_Entry], new: _Entry) -> list[_Entry]:
        ids = {id(e) for e in gone}
        return sorted([e for e in live if id(e) not in ids] + [new], key=lambda e: (e.lo, -e.hi))

    def _merge(self, folder: Path, inputs: list[_Entry]) -> _Entry:
        """Merge ``inputs`` (live files of one day with no other live file inside their range) into
        one compacted file; the rename commits it, then the inputs are deleted."""
        lo, hi = min(e.lo for e in inputs), max(e.hi for e in inputs)
        path = folder / f"c-{lo:012d}-{hi:012d}.parquet"
        counts: Counter = Counter()
        for e in inputs:
            vc = pc.value_counts(self._read(e.path, columns=["key"])["key"])
            counts.update(dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist())))
        batches, cur, rows = [], [], 0
        for k in sorted(counts):
            if cur and rows + counts[k] > _MERGE_ROWS:
                batches.append(cur)
                cur, rows = [], 0
            cur.append(k)
            rows += counts[k]
        if cur:
            batches.append(cur)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as w:
                for batch in batches:
                    flt = None if len(batches) == 1 else [("key", "in", batch)]
                    t = pa.concat_tables([self._read(e.path, filters=flt) for e in inputs])
                    t = t.append_column("_order", pc.coalesce(t["ts"], t["received"]))
                    t = t.take(pc.sort_indices(t, sort_keys=_SORT_OUT)).drop_columns(["_order"])
                    w.write_table(t, row_group_size=_ROW_GROUP)
            self._commit(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.compactions += 1
        self._merged_in.add(folder)
        return _Entry((lo, hi, "c", path))

    def _delete_covered(self, folder: Path, grace: float) -> None:
        """Delete the files a compaction committed at least ``grace`` seconds ago covers."""
        entries = _scan(folder)
        comps = [e for e in entries if e.kind == "c"]
        now = time.time()
        gone = []
        for e in _split_live(entries)[1]:
            if grace > 0:
                try:
                    since = min(c.path.stat().st_mtime for c in comps if c is not e and c.lo <= e.lo and e.hi <= c.hi)
                except (FileNotFoundError, ValueError):
                    continue
                if now - since < grace:
                    continue
            gone.append(e)
        self._delete(gone)

    def _delete(self, entries: Iterable[_Entry]) -> None:
        for e in entries:
            e.path.unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------------------------
    def days(self) -> list[date]:
        """The recorded days, oldest first."""
        out = []
        for p in self.root.iterdir():
            if p.is_dir() and _DAY_DIR.match(p.name) and self._live_files(p):
                out.append(date.fromisoformat(p.name))
        return sorted(out)

    def keys(self, day: date | str) -> list[str]:
        """The instruments recorded on ``day`` (``token:N`` for ticks stored without a key)."""
        folder = self.root / _as_day(day).isoformat()
        out: set[str] = set()
        for e in _split_live(_scan(folder))[0]:
            try:
                out.update(pc.unique(self._read(e.path, columns=["key"])["key"]).to_pylist())
            except FileNotFoundError:  # merged meanwhile: its keys are in the compaction
                return self.keys(day)
        for sub in self._legacy_folders(folder):
            if self._legacy_live(sub):
                out.add(unquote(sub.name))
        return sorted(out)

    def files(self, day: date | str | None = None, keys: Iterable[str] | None = None) -> list[Path]:
        """The Parquet files that hold a day's ticks (every day when ``day`` is None): its live
        flush and compacted files (each read ticks of ``keys`` only through a filter)."""
        if day is None:
            folders = [p for p in sorted(self.root.iterdir()) if p.is_dir() and _DAY_DIR.match(p.name)]
        else:
            folders = [self.root / _as_day(day).isoformat()]
        out: list[Path] = []
        for f in folders:
            out.extend(self._live_files(f, keys))
        return out

    def read_table(self, day: date | str, keys: Iterable[str] | None = None) -> pa.Table:
        keys = None if keys is None else list(keys)
        flt = None if keys is None else [("key", "in", keys)]
        for attempt in range(5):
            files = self.files(day, keys)
            if not files:
                return SCHEMA.empty_table()
            try:
                tables = [self._read(f, filters=flt if _DAY_FILE.match(f.name) else None) for f in files]
                break
            except FileNotFoundError:  # a compaction committed and removed its inputs meanwhile: list again
                if attempt == 4:
                    raise
        t = pa.concat_tables(tables)
        t = t.append_column("_order", pc.coalesce(t["ts"], t["received"]))
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

        for attempt in range(5):
            files = self.files()
            con = duckdb.connect()
            try:
                if files:
                    lst = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
                    con.execute(f"CREATE VIEW ticks AS SELECT * FROM read_parquet([{lst}], union_by_name=true)")
                else:
                    con.register("ticks", SCHEMA.empty_table())
                return con.execute(sql).df()
            except duckdb.Error as e:
                if attempt < 4 and not all(f.exists() for f in files):
                    continue  # a compaction committed and removed its inputs meanwhile: list again
                raise DataError(f"tick query failed: {e}") from None
            finally:
                con.close()
        raise AssertionError("unreachable")

    # -- retention -----------------------------------------------------------------------------------
    def prune(self, today: date | str) -> list[date]:
        """Delete the days older than ``retention_days`` before ``today`` (flushed and compacted
        files alike); returns them. A no-op without a retention."""
        if self.retention_days is None:
            return []
        cut = _as_day(today) - timedelta(days=self.retention_days)
        gone = []
        for p in sorted(self.root.iterdir()):
            if p.is_dir() and _DAY_DIR.match(p.name) and date.fromisoformat(p.name) <= cut:
                shutil.rmtree(p)
                gone.append(date.fromisoformat(p.name))
                self._touched.discard(date.fromisoformat(p.name))
                self._next_seq.pop(p, None)
        return gone

    # -- internals -----------------------------------------------------------------------------------
    @staticmethod
    def _read(path: Path, **kw) -> pa.Table:
        try:
            return pq.read_table(path, schema=SCHEMA if "columns" not in kw else None, **kw)
        except FileNotFoundError:
            raise
        except (OSError, pa.ArrowInvalid) as e:
            raise DataError(f"{path}: cannot read ticks: {e}") from None

    def _live_files(self, day_folder: Path, keys: Iterable[str] | None = None) -> list[Path]:
        """The day's live files: flush and compacted files no compaction covers, plus the files
        of the earlier per-instrument layout."""
        if not day_folder.is_dir():
            return []
        out = [e.path for e in _split_live(_scan(day_folder))[0]]
        if keys is not None:
            subs = [day_folder / quote(k, safe="-_.&") for k in keys]
        else:
            subs = self._legacy_folders(day_folder)
        for sub in subs:
            out.extend(self._legacy_live(sub))
        return out

    @staticmethod
    def _legacy_folders(day_folder: Path) -> list[Path]:
        try:
            return sorted(p for p in day_folder.iterdir() if p.is_dir())
        except FileNotFoundError:
            return []

    @staticmethod
    def _legacy_live(sub: Path) -> list[Path]:
        """An instrument folder of the earlier layout: its newest compaction and the parts after it."""
        try:
            files = [(m.group(1), int(m.group(2)), sub / n) for n in os.listdir(sub) if (m := _LEGACY_FILE.match(n))]
        except (FileNotFoundError, NotADirectoryError):
            return []
        c = max((s for kind, s, _ in files if kind == "c"), default=0)
        return [p for kind, s, p in sorted(files, key=lambda x: x[1]) if (kind == "c" and s == c) or (kind == "p" and s > c)]

    def _take_seq(self, folder: Path) -> int:
        n = self._next_seq.get(folder)
        if n is None:
            n = max((e.hi for e in _scan(folder)), default=0) + 1
        self._next_seq[folder] = n + 1
        return n

    def _write_atomic(self, table: pa.Table, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            pq.write_table(table, tmp, compression="zstd")
            self._commit(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _commit(self, tmp: Path, path: Path) -> None:
        """fsync ``tmp``, rename it to ``path``, fsync the folder (the rename itself is durable)."""
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.files_written += 1

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
        for pattern in ("*/.*.tmp", "*/*/.*.tmp"):  # half-written files of a crashed writer
            for p in self.root.glob(pattern):
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
