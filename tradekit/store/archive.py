"""Archival: old days of the journal move to compressed files that ``tradekit audit verify`` still checks.

``archive(journal, older_than_days=N)`` moves the events of the days older than N (IST, by session
time) out of the live table into one gzip JSON-lines file: a header line (format, first and last
seq, the hash before the first event and the last event's hash, each day's anchor (seq, hash)),
then one line per event with its stored fields exactly as the chain hashes them
(``[seq, ts, recorded_at, type, payload text, prev_hash, hash]``). The file's SHA-256, its range
and its boundary hashes go into the ``journal_archives`` table.

The live table keeps only what comes after a snapshot covering the archived part (one is taken
first when needed), so a session still starts without reading the archive. Crash safety, in this
order: write the file under a temporary name, fsync, rename, fsync the folder; read it back and
check its chain and SHA-256; then, in ONE database transaction, record it and delete its events. A
kill -9 at any point leaves either the events in the table (and maybe an unrecorded file, which the
next run writes again) or the recorded file and no events: nothing is lost, nothing is counted twice.

:func:`archived_events` yields the archived events again (a full replay; ``audit verify`` through
:func:`archived_rows`), naming a missing, altered or unreadable file.

:func:`read_events` is the one reader for everything that reports on the journal's history (``gtt list``,
``conditions list``, ``alerts list``, the session report and ``tradekit report``, ``tradekit perf`` and the
weekly and monthly reviews, the compliance export, the end-of-day report, :meth:`Journal.anchor`, the kill
switch's and ``unlock``'s reading of the trading state): the events of a seq range, of some types
or of some days, archived files first and then the live table, in seq order, streamed, each file's
SHA-256 and hash chain checked, all in one read transaction so that an archival committing meanwhile
neither hides nor repeats an event.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
from collections import namedtuple
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from tradekit.clock import IST
from tradekit.errors import StoreError
from tradekit.store.journal import Event, Journal, chain_hash, events_table

log = logging.getLogger(__name__)

FORMAT = "tradekit.archive/1"

archive_metadata = MetaData()
archives_table = Table(
    "journal_archives",
    archive_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("prev_hash", String(64), nullable=False),  # the hash of the event before the first (the chain's boundary)
    Column("last_hash", String(64), nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("first_day", String(10), nullable=False),
    Column("last_day", String(10), nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
)

Row = namedtuple("Row", "seq ts recorded_at type payload prev_hash hash")


class ArchiveError(StoreError):
    """An archive file missing, unreadable or changed; ``seq`` is the first event it concerns."""

    def __init__(self, message: str, seq: int | None = None, path: str | None = None):
        super().__init__(message)
        self.seq, self.path = seq, path


@dataclass(frozen=True)
class ArchiveResult:
    path: Path | None
    first_seq: int
    last_seq: int
    events: int
    days: tuple[str, ...]
    snapshot_seq: int
    message: str

    def __str__(self) -> str:
        return self.message


def archive_dir_for(store_url: str, data_dir: str | Path | None = None, configured: str | Path | None = None) -> Path:
    """``store.archive_dir`` (relative to ``data_dir``), else ``<data_dir>/archive/<journal>/``."""
    from tradekit.store.audit import anchor_log_path

    base = Path(data_dir).expanduser() if data_dir is not None else None
    if configured is not None:
        p = Path(configured).expanduser()
        return p if p.is_absolute() or base is None else base / p
    anchors = anchor_log_path(store_url, data_dir)
    return anchors.parent.parent / "archive" / anchors.name.removesuffix(".jsonl")


def records(journal: Journal) -> list:
    """The archives recorded in the journal's database, oldest first."""
    try:
        with journal.engine.connect().execution_options(readonly=True) as conn:
            return conn.execute(select(archives_table).order_by(archives_table.c.first_seq)).all()
    except SQLAlchemyError:
        return []  # no archive table: nothing archived


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _stall(stage: str) -> None:
    """Crash tests only: ``TRADEKIT_TEST_ARCHIVE_STALL=<stage>`` stops here (printing the stage) to be killed."""
    if os.environ.get("TRADEKIT_TEST_ARCHIVE_STALL") == stage:
        import sys
        import time

        print(f"STALL {stage}", flush=True)
        sys.stdout.flush()
        while True:
            time.sleep(60)


def _read_file(path: Path, rec) -> tuple[dict, list[Row], str]:
    """(header, rows, sha256 of the bytes) of one archive file; :class:`ArchiveError` naming it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ArchiveError(f"archive file {path} (events {rec.first_seq}..{rec.last_seq}) is missing",
                           rec.first_seq, str(path)) from None
    except OSError as e:
        raise ArchiveError(f"archive file {path}: cannot read it ({e})", rec.first_seq, str(path)) from None
    sha = hashlib.sha256(raw).hexdigest()
    try:
        lines = gzip.decompress(raw).splitlines()
        header = orjson.loads(lines[0])
        rows = [Row(*orjson.loads(line)) for line in lines[1:] if line.strip()]
    except (OSError, EOFError, ValueError, TypeError, IndexError, gzip.BadGzipFile) as e:
        raise ArchiveError(f"archive file {path} (events {rec.first_seq}..{rec.last_seq}) is damaged and cannot be read "
                           f"({e})", rec.first_seq, str(path)) from None
    return header, rows, sha


def _check_file(path: Path, rec) -> list[Row]:
    header, rows, sha = _read_file(path, rec)
    if sha != rec.sha256:
        # name the first event that no longer matches its hash, else the file as a whole
        prev = rec.prev_hash
        for r in rows:
            try:
                own = chain_hash(r.prev_hash, r.seq, r.ts, r.recorded_at, r.type, r.payload)
            except (TypeError, ValueError):
                own = None
            if own != r.hash or r.prev_hash != prev:
                raise ArchiveError(f"archive file {path}: event {r.seq} ({r.type}) was altered (its content does not "
                                   "match its hash)", r.seq, str(path))
            prev = r.hash
        raise ArchiveError(f"archive file {path} was changed after it was written: its SHA-256 is {sha[:16]}…, "
                           f"the journal recorded {rec.sha256[:16]}…", rec.first_seq, str(path))
    if header.get("format") != FORMAT or header.get("first_seq") != rec.first_seq or header.get("last_seq") != rec.last_seq:
        raise ArchiveError(f"archive file {path} does not hold events {rec.first_seq}..{rec.last_seq}", rec.first_seq,
                           str(path))
    if len(rows) != rec.events:
        raise ArchiveError(f"archive file {path} holds {len(rows)} events, the journal recorded {rec.events}",
                           rec.first_seq, str(path))
    return rows


def archived_rows(journal: Journal) -> list[Row]:
    """Every archived event as stored (seq order), each file checked against its recorded SHA-256."""
    out: list[Row] = []
    for rec in records(journal):
        out.extend(_check_file(Path(rec.path), rec))
    return out


def archived_events(journal: Journal) -> Iterator[Event]:
    for rec in records(journal):
        for r in _check_file(Path(rec.path), rec):
            yield Event(r.seq, r.ts, r.recorded_at, r.type, orjson.loads(r.payload), r.prev_hash, r.hash)


_READ_CHUNK = 5000  # live-table rows per query of read_events


def _records_in(conn) -> list:
    """:func:`records` on an open read transaction (a journal never archived has no table: none)."""
    sp = conn.begin_nested()
    try:
        recs = conn.execute(select(archives_table).order_by(archives_table.c.first_seq)).all()
    except SQLAlchemyError:
        sp.rollback()
        return []
    sp.commit()
    return recs


def _file_sha256(path: Path, rec) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except FileNotFoundError:
        raise ArchiveError(f"archive file {path} (events {rec.first_seq}..{rec.last_seq}) is missing",
                           rec.first_seq, str(path)) from None
    except OSError as e:
        raise ArchiveError(f"archive file {path}: cannot read it ({e})", rec.first_seq, str(path)) from None
    return h.hexdigest()


def _stream_file(rec, keep, after: int, up_to: int | None, check: bool) -> Iterator[Event]:
    """One archive file's events after ``after`` (up to ``up_to``) that ``keep(type, event)`` wants.

    The file's SHA-256 must match its record before any event is handed out (a changed file is named with
    its first altered event, as ``audit verify`` names it); while it streams, each event must follow the
    one before (seq and link) and, with ``check``, match its own hash; at its end, the count and the last
    hash must match the record."""
    path = Path(rec.path)
    if _file_sha256(path, rec) != rec.sha256:
        _check_file(path, rec)  # raises, naming the first altered event or the file
        raise ArchiveError(f"archive file {path} was changed after it was written", rec.first_seq, str(path))
    prev, expect, n = rec.prev_hash, rec.first_seq, 0
    try:
        with gzip.open(path, "rb") as g:
            header = orjson.loads(g.readline())
            if (header.get("format") != FORMAT or header.get("first_seq") != rec.first_seq
                    or header.get("last_seq") != rec.last_seq):
                raise ArchiveError(f"archive file {path} does not hold events {rec.first_seq}..{rec.last_seq}",
                                   rec.first_seq, str(path))
            for line in g:
                if not line.strip():
                    continue
                seq, ts, recorded_at, type_, payload, prev_hash, h = orjson.loads(line)
                if seq != expect or prev_hash != prev or (
                        check and chain_hash(prev_hash, seq, ts, recorded_at, type_, payload) != h):
                    raise ArchiveError(f"archive file {path}: event {seq} ({type_}) does not follow event {expect - 1} "
                                       "or does not match its hash", seq, str(path))
                prev, expect, n = h, expect + 1, n + 1
                if seq <= after:
                    continue
                if up_to is not None and seq > up_to:
                    return
                ev = keep(type_, lambda: Event(seq, ts, recorded_at, type_, orjson.loads(payload), prev_hash, h))
                if ev is not None:
                    yield ev
    except ArchiveError:
        raise
    except (OSError, EOFError, ValueError, TypeError, gzip.BadGzipFile) as e:
        raise ArchiveError(f"archive file {path} (events {rec.first_seq}..{rec.last_seq}) is damaged and cannot be "
                           f"read ({e})", rec.first_seq, str(path)) from None
    if n != rec.events or prev != rec.last_hash:
        raise ArchiveError(f"archive file {path} holds {n} events ending in {prev[:16]}…, the journal recorded "
                           f"{rec.events} ending in {rec.last_hash[:16]}…", rec.first_seq, str(path))


def read_events(journal: Journal, *, after: int = 0, up_to: int | None = None, types: tuple[str, ...] | None = None,
                since: date | None = None, until: date | None = None, check: bool = True) -> Iterator[Event]:
    """The journal's events, archived days included: the archive files oldest first, then the live table.

    ``after``/``up_to``: the seq range (after it, up to and including ``up_to``); ``types``: only these;
    ``since``/``until``: only events whose session day (IST) is in that range, both included (by each
    event's own time: a journal's times need not be in seq order). Seq order; streamed (one archive line,
    one chunk of the table at a time). Each archive file is checked against its recorded SHA-256 before
    its first event is handed out, then its chain as it streams (``check=False``: the file hash and the
    links only); the live table's first event must continue the last archive's hash. A missing, changed
    or unreadable file raises :class:`ArchiveError` naming it. The records and the table are read in one
    read transaction: an archival that commits meanwhile neither hides nor repeats an event.
    """
    journal.flush()
    want = frozenset(types) if types else None

    def keep(type_: str, make) -> Event | None:
        if want is not None and type_ not in want:
            return None
        ev = make()
        if since is not None or until is not None:
            d = ev.day
            if (since is not None and d < since) or (until is not None and d > until):
                return None
        return ev

    opts: dict = {"readonly": True}
    if journal.engine.dialect.name == "postgresql":
        opts["isolation_level"] = "REPEATABLE READ"  # one snapshot for the records and every chunk of the table
    with journal.engine.connect().execution_options(**opts) as conn:
        recs = _records_in(conn)  # on SQLite (WAL) this first read starts the transaction's snapshot
        last = after
        for rec in recs:
            if up_to is not None and rec.first_seq > up_to:
                return
            if rec.last_seq > after:
                yield from _stream_file(rec, keep, after, up_to, check)
            last = max(last, rec.last_seq)
        if recs:
            end = recs[-1]
            nxt = conn.execute(select(events_table.c.prev_hash).where(events_table.c.seq == end.last_seq + 1)).first()
            if nxt is not None and nxt.prev_hash != end.last_hash:
                raise ArchiveError(f"event {end.last_seq + 1} of the live journal does not follow the last archived "
                                   f"event ({end.path})", end.last_seq + 1, end.path)
        c = events_table.c
        while up_to is None or last < up_to:
            q = select(events_table).where(c.seq > last).order_by(c.seq).limit(_READ_CHUNK)
            if up_to is not None:
                q = q.where(c.seq <= up_to)
            if want is not None:
                q = q.where(c.type.in_(sorted(want)))
            rows = conn.execute(q).all()
            for r in rows:
                ev = keep(r.type, lambda r=r: Event(r.seq, r.ts, r.recorded_at, r.type, orjson.loads(r.payload),
                                                    r.prev_hash, r.hash))
                if ev is not None:
                    yield ev
            if len(rows) < _READ_CHUNK:
                return
            last = rows[-1].seq


def _cut(journal: Journal, before: date) -> int:
    """The last seq of the prefix of events whose session day is before ``before`` (IST)."""
    cutoff = datetime.combine(before, dtime(0, 0), IST)
    last = 0
    for ev in journal.events():  # session times are ISO strings with offsets: compared as times
        if ev.time >= cutoff:
            break
        last = ev.seq
    return last


def archive(journal: Journal, *, older_than_days: int, archive_dir: str | Path, today: date | None = None,
            name: str = "journal") -> ArchiveResult:
    """Move the days older than ``older_than_days`` (before ``today - older_than_days``) to an archive file."""
    from tradekit.store import snapshot as snap

    if journal.read_only:
        raise StoreError("the journal was opened read-only; nothing was archived")
    if older_than_days < 0:
        raise StoreError(f"older_than_days must be 0 or more, {older_than_days} was received")
    journal.flush()
    archive_metadata.create_all(journal.engine)
    today = today or journal.clock.now().astimezone(IST).date()
    before = today - timedelta(days=older_than_days)
    cut = _cut(journal, before)
    with journal.engine.connect().execution_options(readonly=True) as conn:
        first = conn.execute(select(func.min(events_table.c.seq))).scalar()
    if not cut or first is None or cut < first:
        return ArchiveResult(None, 0, 0, 0, (), 0, f"nothing to archive: no live event before {before} (IST)")
    # the live table keeps the tail after a snapshot that covers what leaves it
    state = snap.latest_valid(journal)
    if state is None or state.seq < cut:
        snap.take(journal)
        state = snap.latest_valid(journal)
        if state is None or state.seq < cut:
            raise StoreError("no snapshot covers the events to archive; nothing was archived")
    rows: list = []
    with journal.engine.connect().execution_options(readonly=True) as conn:
        rows = conn.execute(select(events_table).where(events_table.c.seq >= first, events_table.c.seq <= cut)
                            .order_by(events_table.c.seq)).all()
    if not rows or rows[0].seq != first or rows[-1].seq != cut or len(rows) != cut - first + 1:
        raise StoreError(f"events {first}..{cut} are not all in the table; nothing was archived")
    anchors: dict[str, list] = {}
    for r in rows:
        anchors[datetime.fromisoformat(r.ts).astimezone(IST).date().isoformat()] = [r.seq, r.hash]
    days = tuple(anchors)
    header = {"format": FORMAT, "first_seq": first, "last_seq": cut, "prev_hash": rows[0].prev_hash,
              "last_hash": rows[-1].hash, "events": len(rows), "anchors": anchors, "snapshot_seq": state.seq}
    folder = Path(archive_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{first:012d}-{cut:012d}.jsonl.gz"
    tmp = path.with_name(path.name + ".tmp")
    body = bytearray(orjson.dumps(header, option=orjson.OPT_SORT_KEYS) + b"\n")
    for r in rows:
        body += orjson.dumps([r.seq, r.ts, r.recorded_at, r.type, r.payload, r.prev_hash, r.hash]) + b"\n"
    data = gzip.compress(bytes(body), compresslevel=6, mtime=0)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(folder)
    _stall("written")
    rec = dict(first_seq=first, last_seq=cut, prev_hash=rows[0].prev_hash, last_hash=rows[-1].hash, events=len(rows),
               first_day=days[0], last_day=days[-1], path=str(path.resolve()), sha256=hashlib.sha256(data).hexdigest(),
               created_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"))
    back = _check_file(path, namedtuple("Rec", rec)(**rec))  # read back: the file holds exactly these events
    if [(r.seq, r.hash) for r in back] != [(r.seq, r.hash) for r in rows]:
        raise StoreError(f"archive file {path} does not read back as written; nothing was deleted")
    with journal.engine.begin() as conn:
        conn.execute(insert(archives_table), rec)
        n = conn.execute(delete(events_table).where(events_table.c.seq >= first, events_table.c.seq <= cut)).rowcount
        if n != len(rows):
            raise StoreError(f"expected to move {len(rows)} events, the table held {n}; nothing was deleted")
        _stall("deleting")
    msg = (f"archived events {first}..{cut} ({len(rows)} events, {days[0]}..{days[-1]}) to {path}; the live journal "
           f"starts at seq {cut + 1} (snapshot at seq {state.seq})")
    log.info("%s", msg)
    return ArchiveResult(path, first, cut, len(rows), days, state.seq, msg)


def archive_session(session, older_than_days: int | None = None) -> ArchiveResult:
    """:func:`archive` for a session: its config's age (``store.archive_after_days``) and folder, its clock's day."""
    from tradekit.errors import ConfigError

    cfg = session.config
    days = cfg.store.archive_after_days if older_than_days is None else older_than_days
    if days is None:
        raise ConfigError("no age to archive after: set store.archive_after_days", file=cfg.source,
                          field="store.archive_after_days")
    url = session.journal.engine.url.render_as_string(hide_password=True)
    return archive(session.journal, older_than_days=days, archive_dir=archive_dir_for(url, cfg.data_dir, cfg.store.archive_dir),
                   today=session.clock.now().astimezone(IST).date())


def at_close(session) -> None:
    """A session's close: a journal snapshot when ``store.snapshot_every_events`` passed since the last one,
    then the archival of the days older than ``store.archive_after_days``. Neither may lose the close."""
    snaps = getattr(session, "_snapshots", None)
    j = session.journal
    if snaps is None or j.read_only or (j.lease is not None and not j.lease.held):
        return
    snaps.join()
    try:
        j.flush()
        if snaps.due():  # not a fast replay's own journal (batch durability)
            from tradekit.store.snapshot import take

            take(j)
        if session.config.store.archive_after_days is not None:
            archive_session(session)
    except Exception:
        log.exception("the journal snapshot or archival at close failed (the journal is intact)")


__all__ = ["ArchiveError", "ArchiveResult", "archive", "archive_dir_for", "archived_events", "archived_rows", "read_events",
           "records"]
