"""The append-only event journal and its audit hash chain.

Each event is ``(seq, ts, recorded_at, type, payload, prev_hash, hash)`` where

    hash = SHA-256( prev_hash ⏎ seq ⏎ ts ⏎ recorded_at ⏎ type ⏎ canonical_json(payload) )

and the first event's ``prev_hash`` is 64 zeros (another account's chain starts from its own
genesis hash, :func:`tradekit.store.accounts.genesis`: one journal per account, each in its own
PostgreSQL schema; an engine bound to an account reads and writes only that account's tables).
Editing, inserting, deleting or reordering any event breaks the chain at that event; ``tradekit
audit verify`` names it. A one-row ``journal_tail`` table holds the last seq and hash; appends update it in the same
transaction, so concurrent writers (a session and a dashboard kernel) can never fork the
chain, and deleting events from the end is detected against it (and against the day's anchor
hash printed in the report).

Durability: ``append`` commits before it returns (write-ahead: an order is journaled before
it is sent). In ``batch`` mode (fast replays) events are buffered and written in one
transaction by ``flush`` — every ``batch_size`` events, on ``flush()``, and on ``close()``.

Transactions (:meth:`Journal.transaction`) are per thread: the events a thread appends inside
the block are committed together when its outermost block ends, or not at all. Work that must
follow the commit (calling the broker) is registered with :meth:`Journal.after_commit`.

Failures: a write that cannot be committed (disk full, read-only file, the lock held by another
process past ``lock_timeout_seconds``) raises :class:`JournalUnavailable`; the events of a failed
transaction are dropped (never written later by a stale buffer) and every ``on_failure``
listener is told, so the owner can re-read its state from what *was* committed. A lock wait
longer than ``lock_warn_seconds`` is logged, reported to ``on_lock_wait`` listeners (session
status) and journaled as a ``note`` (``kind: journal_lock_wait``) once the write goes through.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

import orjson
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from tradekit.clock import IST, Clock, RealClock
from tradekit.errors import StoreError
from tradekit.store import accounts as _accounts, lease as _lease
from tradekit.store.listeners import Listeners, typed

log = logging.getLogger(__name__)

GENESIS = "0" * 64
_LOCK_SLICE_S = 0.25  # one attempt's busy wait while another process holds the write lock
_DEFAULT_BUSY_MS = 30000  # the engine's own busy timeout (tradekit.store.db), restored after a write


class JournalUnavailable(StoreError):
    """The journal could not be written; nothing of the failed write was committed.

    ``dropped`` is the number of events of a failed transaction that were discarded (their
    effects on any in-memory state must be undone by re-reading the journal).
    """

    def __init__(self, message: str, *, dropped: int = 0, locked: bool = False):
        super().__init__(message)
        self.dropped = dropped
        self.locked = locked


def _is_locked(e: OperationalError) -> bool:
    msg = str(getattr(e, "orig", e)).lower()
    return "locked" in msg or "busy" in msg


class _Tx:
    __slots__ = ("rows", "hooks", "depth")

    def __init__(self):
        self.rows: list[tuple] = []  # rows as in _COLUMNS order
        self.hooks: list = []
        self.depth = 0


class _TxLocal(threading.local):
    state: "_Tx | None" = None  # this thread's open transaction (read without a failed lookup when there is none)


class _Grouping:
    """:meth:`Journal.transaction` in ``batch`` durability: the block only groups appends into the
    buffer, so entering and leaving it does nothing (no lock is held across it: a sink may take the
    OMS's lock inside it). One per journal, stateless, so any thread may use it at any depth; a plain
    object instead of a generator-based context manager (built and driven again at every order)."""

    __slots__ = ("journal",)

    def __init__(self, journal: "Journal") -> None:
        self.journal = journal

    def __enter__(self) -> "Journal":
        return self.journal

    def __exit__(self, *exc) -> bool:
        return False


metadata = MetaData()
events_table = Table(
    "events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("ts", String(40), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("type", String(64), nullable=False, index=True),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
tail_table = Table(
    "journal_tail",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("writers", BigInteger, nullable=False),
)


#: A row of the events table as the journal buffers and writes it (a tuple in this order).
_COLUMNS = ("seq", "ts", "recorded_at", "type", "payload", "prev_hash", "hash")
_INSERT_SQLITE = f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"

_rec_cache: list = [0, "", -1, ""]  # [ms, its text, the second, that second's text up to the seconds]


def _recorded_at() -> str:
    """Wall time (UTC, ISO 8601, millisecond resolution), formatted once per millisecond.

    The text is ``datetime.isoformat(timespec="milliseconds")``'s: the part up to the seconds is
    formatted once per second and the milliseconds appended (a property test compares the two)."""
    ms = time.time_ns() // 1_000_000
    c = _rec_cache
    if ms != c[0]:
        c[0] = ms
        c[1] = _format_ms(ms, c)
    return c[1]


def _format_ms(ms: int, c: list) -> str:
    s, frac = divmod(ms, 1000)
    if s != c[2]:
        c[2] = s
        c[3] = datetime.fromtimestamp(s, timezone.utc).isoformat(timespec="seconds")[:-6]  # without "+00:00"
    return f"{c[3]}.{frac:03d}+00:00"


def _default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, datetime):
        return o.isoformat()
    if isinstance(o, float):
        return repr(o)
    if isinstance(o, date):
        return o.isoformat()
    if isinstance(o, Enum):
        return o.value
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if hasattr(o, "as_dict"):
        return o.as_dict()
    if hasattr(o, "to_dict"):
        return o.to_dict()
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable in a journal payload")


_ORJSON_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
# the same without OPT_NON_STR_KEYS: a third cheaper, and the same text for a payload whose every key is a
# str; a key of any other type (a str subclass included) makes orjson refuse it instead (see _canonical_bytes)
_STR_KEYS_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_dumps, _loads, _sha256, _JSONError = orjson.dumps, orjson.loads, hashlib.sha256, orjson.JSONEncodeError


def _canonical_bytes(obj: Any) -> bytes:
    """:func:`canonical` as orjson's UTF-8 bytes: first on the cheaper str-keys-only path, and when
    orjson refuses that (a non-str key, or a value nothing serialises), again with non-str keys, which
    gives that payload's text or its error (a property test compares the two with the one-step dumps).
    (:meth:`Journal.append` runs the same two steps inline.)"""
    try:
        return _dumps(obj, default=_default, option=_STR_KEYS_OPTS)
    except _JSONError:
        return _dumps(obj, default=_default, option=_ORJSON_OPTS)


def canonical(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8, Decimals and datetimes as strings.

    The hash chain covers this stored text, so verification never re-serialises a payload.
    """
    return _canonical_bytes(obj).decode("utf-8")


def chain_hash(prev_hash: str, seq: int, ts: str, recorded_at: str, type_: str, payload_json: str) -> str:
    """SHA-256 over the previous hash and this event's fields, the payload as its stored canonical text.

    (:func:`tradekit.store.audit.verify` computes the same expression inline; :meth:`Journal.append`
    computes :func:`_hash_of`, the same hash from the payload's bytes.)"""
    return _sha256(f"{prev_hash}\n{seq}\n{ts}\n{recorded_at}\n{type_}\n{payload_json}".encode("utf-8")).hexdigest()


def _hash_of(prev_hash: str, seq: int, ts: str, recorded_at: str, type_: str, payload_bytes: bytes) -> str:
    """:func:`chain_hash` with the payload as orjson's UTF-8 bytes (``payload_json.encode("utf-8")``):
    the fields' text encoded, then the payload's bytes appended, without copying the payload into one
    string and encoding it again (:meth:`Journal.append` computes this expression inline; a property
    test compares it with :func:`chain_hash`)."""
    return _sha256(f"{prev_hash}\n{seq}\n{ts}\n{recorded_at}\n{type_}\n".encode("utf-8") + payload_bytes).hexdigest()


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    ts: str  # session time (IST, ISO 8601)
    recorded_at: str  # wall time (UTC, ISO 8601)
    type: str
    payload: dict
    prev_hash: str
    hash: str

    def __init__(self, seq: int, ts: str, recorded_at: str, type: str, payload: dict, prev_hash: str, hash: str) -> None:  # noqa: A002
        # what the generated frozen __init__ does, through the slots' own setters (no object.__setattr__
        # lookup of each field's descriptor: about a third of the construction, once per event)
        _set_seq(self, seq)
        _set_ts(self, ts)
        _set_recorded_at(self, recorded_at)
        _set_type(self, type)
        _set_payload(self, payload)
        _set_prev_hash(self, prev_hash)
        _set_hash(self, hash)

    @property
    def time(self) -> datetime:
        """The session time as a datetime. Consecutive events mostly share it (an order's events, a
        replay's minute): the last text parsed is remembered (a datetime is immutable)."""
        global _last_time
        ts = self.ts
        last = _last_time  # one tuple, replaced whole: another thread never sees a text with another's time
        if last[0] == ts:
            return last[1]
        t = datetime.fromisoformat(ts)
        _last_time = (ts, t)
        return t

    @property
    def day(self) -> date:
        return self.time.astimezone(IST).date()


_set_seq, _set_ts, _set_recorded_at, _set_type, _set_payload, _set_prev_hash, _set_hash = (
    Event.__dict__[f].__set__ for f in ("seq", "ts", "recorded_at", "type", "payload", "prev_hash", "hash"))
_last_time: tuple = (None, None)  # (ts, its datetime) of the last Event.time parsed; None equals no text


class Journal:
    """Append-only, hash-chained event log on a SQLAlchemy engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock | None = None,
        durability: str = "sync",
        batch_size: int = 2000,
        lease: "_lease.JournalLease | None" = None,
        read_only: bool = False,
        lock_warn_seconds: float = 5.0,
        lock_timeout_seconds: float = 30.0,
    ):
        """``lease``: the session's :class:`~tradekit.store.lease.JournalLease` (its appends are
        fenced by it); without one, only requests (``lease.REQUEST_TYPES``) may be appended while
        another process owns the journal. ``read_only``: no writes at all, not even on opening."""
        if durability not in ("sync", "batch"):
            raise StoreError(f"durability must be 'sync' or 'batch', {durability!r} was received")
        self.engine = engine
        self.clock = clock or RealClock()
        self.durability = durability
        self._grouping = _Grouping(self)  # transaction() in batch durability
        self.batch_size = batch_size
        self._lock = threading.RLock()
        self._buffer: list[tuple] = []  # batch durability: rows (in _COLUMNS order) not written yet
        self._listeners = Listeners()  # in subscription order, each called for the types it reads
        self._tx = _TxLocal()
        self._failure_listeners: list = []
        self._lock_listeners: list = []
        self.lock_warn_seconds = float(lock_warn_seconds)
        self.lock_timeout_seconds = float(lock_timeout_seconds)
        self.lock_waiting_since: float | None = None  # time.time() when a lock wait past the threshold began
        self.last_failure: str | None = None  # the last write failure, cleared by the next successful write
        self.own_seqs: set[int] = set()  # seqs this writer appended (sync mode), to tell others' events apart
        # the last event append() returned, set once its listeners have run (a session's heartbeat reads its time)
        self.last_appended: Event | None = None
        self.base = None  # the start state a session rebuilt (tradekit.store.snapshot.history reads it)
        # a simulated clock hands out its ISO string directly (it is already IST)
        self._clock_iso = getattr(self.clock, "now_iso", None)
        self.lease, self.read_only = lease, read_only
        self.account = _accounts.account_of(engine)  # one account's chain (tradekit.store.accounts)
        self._sqlite = engine.dialect.name == "sqlite"  # rows go to the driver directly (one account, no schema)
        if read_only:
            self._open_read_only()
            return
        try:
            _accounts.ensure_schema(engine)
            metadata.create_all(engine)
            _lease._meta.create_all(engine)
            with engine.begin() as conn:
                row = conn.execute(select(tail_table).where(tail_table.c.id == 1)).first()
                if row is None:
                    last = conn.execute(
                        select(events_table.c.seq, events_table.c.hash).order_by(events_table.c.seq.desc()).limit(1)
                    ).first()
                    seq, h = (last.seq, last.hash) if last else (0, _accounts.genesis(self.account))
                    conn.execute(insert(tail_table).values(id=1, seq=seq, hash=h, writers=1))
                    self.writer_id = 1
                else:
                    self.writer_id = row.writers + 1
                    conn.execute(update(tail_table).where(tail_table.c.id == 1).values(writers=self.writer_id))
                tail = conn.execute(select(tail_table).where(tail_table.c.id == 1)).one()
        except OperationalError as e:
            raise StoreError(f"cannot open the journal: {e.orig}") from e
        self._seq = tail.seq
        self._hash = tail.hash

    def _open_read_only(self) -> None:
        try:
            _accounts.require_existing(self.engine)
            with self.engine.connect().execution_options(readonly=True) as conn:
                tail = conn.execute(select(tail_table).where(tail_table.c.id == 1)).first()
                if conn.in_transaction():
                    conn.rollback()
        except SQLAlchemyError as e:  # not a database, no such table, no server
            raise StoreError(f"cannot read the journal: {getattr(e, 'orig', None) or e}") from e
        if tail is None:
            raise StoreError("not a tradekit journal (no journal_tail record)")
        self.writer_id = tail.writers
        self._seq, self._hash = tail.seq, tail.hash

    def _may_append(self, type_: str) -> None:
        if self.read_only:
            raise StoreError(f"the journal was opened read-only; {type_} was not written")
        if self.lease is None and type_ not in _lease.REQUEST_TYPES:
            holder = _lease.current_holder(self.engine)
            if holder is not None:
                raise _lease.JournalLeased(f"{type_} not written: the journal is owned by {holder.describe()}; "
                                           "another process may only append requests "
                                           f"({', '.join(sorted(_lease.REQUEST_TYPES))})", holder)

    # -- writing -----------------------------------------------------------------------------
    def subscribe(self, fn, types=None) -> None:
        """Call ``fn(event)`` after each event is appended (in-process listeners); with ``types``, only
        after events of those types (a listener that ignores the others is then not called for them)."""
        self._listeners.append(fn if types is None else typed(fn, types))

    def append(self, type_: str, payload: dict | None = None, *, ts: datetime | None = None) -> Event:
        """Append one event; in ``sync`` mode it is committed when this returns."""
        if self.read_only or self.lease is None:
            self._may_append(type_)
        if ts is None and self._clock_iso is not None:
            ts_s = self._clock_iso()
        else:
            ts_s = (ts or self.clock.now()).astimezone(IST).isoformat()
        rec = _recorded_at()
        # canonical(), kept as its UTF-8 bytes too: the hash takes them as they are (see _hash_of)
        try:  # _canonical_bytes(payload or {}), inline
            payload_bytes = _dumps(payload or {}, default=_default, option=_STR_KEYS_OPTS)
        except _JSONError:
            payload_bytes = _dumps(payload or {}, default=_default, option=_ORJSON_OPTS)
        payload_json = payload_bytes.decode("utf-8")
        tx: _Tx | None = self._tx.state
        if tx is not None:
            with self._lock:
                seq, prev = (tx.rows[-1][0], tx.rows[-1][6]) if tx.rows else (self._seq, self._hash)
            seq += 1
            h = _sha256(f"{prev}\n{seq}\n{ts_s}\n{rec}\n{type_}\n".encode("utf-8") + payload_bytes).hexdigest()  # _hash_of
            tx.rows.append((seq, ts_s, rec, type_, payload_json, prev, h))
            ev = Event(seq, ts_s, rec, type_, _loads(payload_bytes), prev, h)
            for fn in self._listeners.route(type_):
                fn(ev)
            self.last_appended = ev
            return ev
        with self._lock:
            if self.durability == "sync":
                try:
                    ev = self._commit_one(ts_s, rec, type_, payload_json)
                except JournalUnavailable as e:
                    self._raise_failure(e)
            else:
                seq, prev = self._seq + 1, self._hash
                h = _sha256(f"{prev}\n{seq}\n{ts_s}\n{rec}\n{type_}\n".encode("utf-8") + payload_bytes).hexdigest()  # _hash_of
                buf = self._buffer
                buf.append((seq, ts_s, rec, type_, payload_json, prev, h))
                self._seq, self._hash = seq, h
                ev = Event(seq, ts_s, rec, type_, _loads(payload_bytes), prev, h)
                if len(buf) >= self.batch_size:
                    self._flush_locked()
        for fn in self._listeners.route(type_):
            fn(ev)
        self.last_appended = ev
        return ev

    def _commit_one(self, ts_s: str, rec: str, type_: str, payload_json: str) -> Event:
        seq, prev = self._seq + 1, self._hash
        self._write(rows := [(seq, ts_s, rec, type_, payload_json, prev, chain_hash(prev, seq, ts_s, rec, type_, payload_json))])
        seq, _, _, _, _, prev, h = rows[0]  # re-chained if another writer moved the tail
        return Event(seq, ts_s, rec, type_, _loads(payload_json), prev, h)

    # -- the one writer ---------------------------------------------------------------------------
    @contextmanager
    def _begin(self, busy_ms: int | None):
        """A write transaction; on SQLite with a short busy timeout, so lock waits come back to us."""
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection if self._sqlite and busy_ms is not None else None
            if raw is not None:
                raw.execute(f"PRAGMA busy_timeout={busy_ms}")
            try:
                with conn.begin():
                    yield conn
            finally:
                if raw is not None:
                    try:
                        raw.execute(f"PRAGMA busy_timeout={_DEFAULT_BUSY_MS}")
                    except Exception:  # the connection is going back to the pool either way
                        pass

    def _write(self, rows: list[tuple], *, note_wait: bool = True) -> None:
        """Commit ``rows`` after the current tail (re-chained if another writer moved it); caller holds the lock.

        Waits for another process's write lock up to ``lock_timeout_seconds`` (telling the
        ``on_lock_wait`` listeners once it passes ``lock_warn_seconds``); any other failure, or
        a longer wait, raises :class:`JournalUnavailable` with nothing written.
        """
        t0 = time.monotonic()
        warned = False
        busy_ms = max(1, int(min(_LOCK_SLICE_S, self.lock_warn_seconds or _LOCK_SLICE_S) * 1000))
        collisions = 0
        while True:
            try:
                with self._begin(busy_ms) as conn:
                    tail = conn.execute(select(tail_table).where(tail_table.c.id == 1).with_for_update()).one()
                    if self.lease is not None:
                        self.lease.fence(conn)
                    if tail.seq != rows[0][0] - 1 or tail.hash != rows[0][5]:
                        # Another writer appended meanwhile: re-chain our events after it (in place: the
                        # caller's list then holds the rows as written).
                        prev, seq = tail.hash, tail.seq
                        for i, (_, ts, rec, type_, payload, _, _) in enumerate(rows):
                            seq += 1
                            h = chain_hash(prev, seq, ts, rec, type_, payload)
                            rows[i] = (seq, ts, rec, type_, payload, prev, h)
                            prev = h
                    if self._sqlite:  # plain tuples to the driver (no per-row parameter processing)
                        conn.exec_driver_sql(_INSERT_SQLITE, rows)
                    else:
                        conn.execute(insert(events_table), [dict(zip(_COLUMNS, r)) for r in rows])
                    conn.execute(update(tail_table).where(tail_table.c.id == 1).values(seq=rows[-1][0], hash=rows[-1][6]))
                break
            except IntegrityError:
                collisions += 1
                if collisions >= 5:
                    raise self._failed("the tail kept moving (too much write contention)") from None
                continue  # another writer took this seq: re-read the tail and retry
            except OperationalError as e:
                waited = time.monotonic() - t0
                if _is_locked(e) and waited < self.lock_timeout_seconds:
                    if not warned and waited >= self.lock_warn_seconds:
                        warned = True
                        self.lock_waiting_since = time.time() - waited
                        log.warning("the journal is locked by another process: waiting (%.1f s so far, up to %.0f s)",
                                    waited, self.lock_timeout_seconds)
                        self._tell(self._lock_listeners, waited)
                    continue
                if warned:
                    self._tell(self._lock_listeners, None)
                self.lock_waiting_since = None
                why = (f"locked by another process for {waited:.1f} s (store.lock_timeout_seconds)" if _is_locked(e)
                       else str(e.orig))
                raise self._failed(why, locked=_is_locked(e)) from e
        waited = time.monotonic() - t0
        self._seq, self._hash = rows[-1][0], rows[-1][6]
        self.own_seqs.update(range(rows[0][0], rows[-1][0] + 1))  # consecutive seqs
        self.last_failure = None
        if warned:
            self.lock_waiting_since = None
            self._tell(self._lock_listeners, None)
        if note_wait and waited >= self.lock_warn_seconds and self.lock_warn_seconds > 0:
            log.warning("the journal was locked by another process for %.1f s", waited)
            payload = canonical({"kind": "journal_lock_wait", "seconds": round(waited, 3),
                                 "threshold_seconds": self.lock_warn_seconds})
            ts_s = rows[-1][1]
            rec = _recorded_at()
            note = (self._seq + 1, ts_s, rec, "note", payload, self._hash,
                    chain_hash(self._hash, self._seq + 1, ts_s, rec, "note", payload))
            try:
                self._write([note], note_wait=False)
            except JournalUnavailable:
                pass  # journaled when possible: the wait was logged

    def _failed(self, why: str, *, locked: bool = False, dropped: int = 0) -> JournalUnavailable:
        # once per outage (and per new reason), not once per retry
        (log.debug if why == self.last_failure else log.error)("cannot write the journal: %s", why)
        self.last_failure = why
        return JournalUnavailable(f"cannot write the journal: {why}", dropped=dropped, locked=locked)

    @staticmethod
    def _tell(listeners, arg) -> None:
        for fn in list(listeners):
            try:
                fn(arg)
            except Exception:  # a listener must not break the journal
                log.exception("journal listener failed")

    def on_failure(self, fn) -> None:
        """Call ``fn(error)`` with each :class:`JournalUnavailable` (after a failed transaction's events are dropped)."""
        self._failure_listeners.append(fn)

    def on_lock_wait(self, fn) -> None:
        """Call ``fn(seconds)`` when a lock wait passes ``lock_warn_seconds``, and ``fn(None)`` when it ends."""
        self._lock_listeners.append(fn)

    def _raise_failure(self, err: JournalUnavailable) -> None:
        self._tell(self._failure_listeners, err)
        raise err

    # -- transactions ------------------------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self._tx.state is not None

    def transaction(self):
        """Appends inside the block (by this thread) are committed together when it ends, or not at all.

        For events that belong together (a signal received and the order it makes; an order
        created, its risk decision, its approval and its submission): one commit, durable
        before the block's caller goes on (e.g. calls the broker — register that with
        :meth:`after_commit`). Nested blocks join the outer one. If the commit fails, the
        block's events are dropped and :class:`JournalUnavailable` is raised (the ``on_failure``
        listeners are told first); the after-commit work does not run.

        In ``batch`` durability (fast replays) the block only groups appends into the buffer.
        """
        if self.durability == "batch":
            return self._grouping  # no lock held across the block: a sink may take the OMS's lock inside it
        return self._transaction()

    @contextmanager
    def _transaction(self):
        """:meth:`transaction` in ``sync`` durability."""
        tx: _Tx | None = self._tx.state
        if tx is not None:
            tx.depth += 1
            try:
                yield self
            finally:
                tx.depth -= 1
            return
        tx = self._tx.state = _Tx()
        try:
            yield self
        finally:
            self._tx.state = None
            rows, hooks = tx.rows, tx.hooks
            if rows:
                with self._lock:  # _write re-chains after the tail if another writer moved it
                    try:
                        self._write(rows)
                    except JournalUnavailable as e:
                        e.dropped = len(rows)
                        self._raise_failure(e)
        self._run_hooks(hooks)

    def after_commit(self, fn) -> None:
        """Run ``fn()`` once this thread's transaction has committed (at once when there is none)."""
        tx: _Tx | None = self._tx.state
        if tx is None:
            fn()
        else:
            tx.hooks.append(fn)

    @staticmethod
    def _run_hooks(hooks: list) -> None:
        first: BaseException | None = None
        for fn in hooks:
            try:
                fn()
            except BaseException as e:  # run the rest; the first error is raised after
                if first is None:
                    first = e
                else:
                    log.exception("after-commit work failed")
        if first is not None:
            raise first

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._buffer:
            return
        rows = self._buffer
        try:
            self._write(rows)  # on failure the buffer stays, to be written (re-chained) by the next flush
        except JournalUnavailable as e:
            self._raise_failure(e)
        self._buffer = []

    def close(self) -> None:
        """Write what is buffered and give the lease up (a session's journal)."""
        try:
            self.flush()
        finally:
            if self.lease is not None:
                self.lease.release()

    # -- reading -----------------------------------------------------------------------------
    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def last_hash(self) -> str:
        return self._hash

    def events(self, *, after: int = 0, types: tuple[str, ...] | None = None, chunk: int = 5000) -> Iterator[Event]:
        """Iterate committed events in sequence order (buffered ones are flushed first)."""
        self.flush()
        last = after
        while True:
            q = select(events_table).where(events_table.c.seq > last).order_by(events_table.c.seq).limit(chunk)
            if types:
                q = q.where(events_table.c.type.in_(types))
            with self.engine.connect().execution_options(readonly=True) as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for r in rows:
                yield Event(r.seq, r.ts, r.recorded_at, r.type, orjson.loads(r.payload), r.prev_hash, r.hash)
            last = rows[-1].seq

    def count(self) -> int:
        self.flush()
        with self.engine.connect().execution_options(readonly=True) as conn:
            return conn.execute(select(func.count()).select_from(events_table)).scalar_one()

    def tail(self) -> tuple[int, str]:
        """The committed (seq, hash) of the last event, as the tail row records it."""
        with self.engine.connect().execution_options(readonly=True) as conn:
            row = conn.execute(select(tail_table).where(tail_table.c.id == 1)).one()
        return row.seq, row.hash

    def anchor(self, day: date) -> tuple[int, str] | None:
        """The day's anchor: (seq, hash) of the last event whose session time falls on ``day`` (IST), archived
        days included (:func:`tradekit.store.archive.read_events`)."""
        from tradekit.store.archive import read_events

        last = None
        for ev in read_events(self):
            if ev.day == day:
                last = (ev.seq, ev.hash)
            elif ev.day > day and last is not None:
                break
        return last
