"""One writer per journal: the lease a session holds on its journal.

Two sessions appending their own state to one journal (both filling the same orders, both
rolling the day) corrupt it beyond repair, so a session takes the journal's **lease** before
it writes anything, and a second one meets a refusal naming the owner::

    journal paper.db is in use by tradekit paper (pid 4242 on desk-1, since 2026-11-20 09:14:03 IST,
    heartbeat 2 s ago)

The lease is two things:

- an **exclusive OS lock** that dies with its process: ``flock`` on a lock file beside the
  SQLite file (``paper.db.lock``, which also holds the owner as JSON for people), or a
  PostgreSQL session-level advisory lock on a connection the lease keeps open;
- a **lease row** in the journal's database (table ``journal_lease``): owner, host, pid,
  since, heartbeat and an **epoch** that every takeover increments. The owner's appends check
  the epoch inside their write transaction (a fence), so an owner that lost its lease (it hung,
  its heartbeats stopped, another session took over) can never append again.

Stale leases are taken over: a dead owner's OS lock is gone (the kernel or the server dropped
it), and an owner whose heartbeats stopped for ``stale_after`` seconds is fenced out by the
new epoch. Other processes (dashboards, the CLI, a notebook's desk view) hold no lease; they
read the journal and append *requests* only (:data:`REQUEST_TYPES`): a running session acts on
them (:meth:`tradekit.session.Session.poll`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import BigInteger, Boolean, Column, Float, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from tradekit.clock import IST
from tradekit.errors import StoreError
from tradekit.store.events import EventType as E

log = logging.getLogger(__name__)

#: What another process may append to a journal a session owns: requests the session acts on
#: (a person's approval decision, cancel/flatten, the kill switch) and the operator's trading
#: state change that goes with a kill or an unlock from the CLI. Everything else is the
#: session's own state and needs the lease.
REQUEST_TYPES = frozenset({E.APPROVAL_DECISION, E.CONTROL, E.KILL_SWITCH, E.TRADING_STATE,
                           E.GTT_REQUEST,  # tradekit gtt protect|delete (issue 15)
                           E.ALERT_ACK_REQUESTED})  # tradekit alerts ack, the dashboards (issue 18)

HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 60.0

_meta = MetaData()
lease_table = Table(
    "journal_lease",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False),
    Column("owner", String(200), nullable=False),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("since", Float, nullable=False),  # wall time, seconds since the epoch
    Column("heartbeat", Float, nullable=False),
    Column("os_lock", Boolean, nullable=False),  # the owner also holds the OS lock
    Column("released", Boolean, nullable=False),
)


class JournalLeased(StoreError):
    """The journal is owned by another live session; ``holder`` says who."""

    def __init__(self, message: str, holder: "LeaseInfo | None" = None):
        super().__init__(message)
        self.holder = holder


class LeaseLost(StoreError):
    """This session's lease was taken over (its heartbeats had stopped): it must not write."""


@dataclass(frozen=True)
class LeaseInfo:
    owner: str
    host: str
    pid: int
    since: float
    heartbeat: float
    epoch: int
    os_lock: bool = True

    def describe(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        since = datetime.fromtimestamp(self.since, timezone.utc).astimezone(IST)
        ago = max(0.0, now - self.heartbeat)
        return (f"{self.owner} (pid {self.pid} on {self.host}, since {since:%Y-%m-%d %H:%M:%S} IST, "
                f"heartbeat {ago:.0f} s ago)")


def default_owner() -> str:
    """A readable name for this process: ``tradekit paper``, ``ipykernel_launcher``, ..."""
    argv = [os.path.basename(a) for a in sys.argv[:2] if a and not a.startswith("-")]
    name = " ".join(argv) or "python"
    return name.replace("__main__.py", "tradekit")[:200]


def _lock_path(engine: Engine) -> Path | None:
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return None
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db).with_name(Path(db).name + ".lock")


#: The advisory lock key ("trkl"); advisory locks are per database, like journals.
ADVISORY_KEY = 0x74726B6C


class _OsLock:
    """The exclusive OS lock: flock on a file (SQLite) or a PostgreSQL advisory lock."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.path = _lock_path(engine)
        self.is_pg = engine.url.get_backend_name() == "postgresql"
        self._key: int | None = None  # the account's advisory-lock key (tradekit.store.accounts.advisory_key)
        self._fd: int | None = None
        self._conn: Connection | None = None
        self._release_lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._fd is not None or self._conn is not None

    @property
    def key(self) -> int:
        """The advisory-lock key: one per account (the default account's is :data:`ADVISORY_KEY`)."""
        if self._key is None:
            from tradekit.store.accounts import advisory_key

            self._key = advisory_key(self.engine)
        return self._key

    def try_acquire(self) -> bool:
        if self.held:
            return True
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._fd = fd
            return True
        if self.is_pg:
            conn = self.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            conn.commit()
            if not got:
                conn.close()
                return False
            self._conn = conn
            return True
        return True  # an in-memory database: one process by construction

    def busy(self) -> bool:
        """True when another holder has the OS lock (probed without keeping it)."""
        if self.held:
            return False
        if self.path is not None:
            if not self.path.exists():
                return False
            fd = os.open(self.path, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            finally:
                os.close(fd)  # closing drops the probe's lock
            return False
        if self.is_pg:
            with self.engine.connect() as conn:
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                conn.commit()
            return not got
        return False

    def describe_owner(self, info: dict) -> None:
        with self._release_lock:  # never write to a descriptor another thread is closing
            if self._fd is not None:
                data = json.dumps(info).encode()
                os.ftruncate(self._fd, 0)
                os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        # the heartbeat thread and a fenced-out append may both give the lock up: take the handles
        # once, under a lock, so the second caller finds nothing to release
        with self._release_lock:
            fd, self._fd = self._fd, None
            conn, self._conn = self._conn, None
        if fd is not None:
            try:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        if conn is not None:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                conn.commit()
            except Exception as e:  # the connection died: the server dropped the lock with it
                log.debug("advisory unlock: %s", e)
            finally:
                conn.close()


def _pid_gone(info: LeaseInfo) -> bool:
    """True when the owner ran on this host and its process no longer exists."""
    if info.host != socket.gethostname():
        return False
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists (another user's)
        return False
    return False


def _read(conn: Connection) -> LeaseInfo | None:
    try:
        row = conn.execute(select(lease_table).where(lease_table.c.id == 1)).first()
    except (OperationalError, ProgrammingError):
        return None  # no lease table yet: nobody ever held one
    if row is None or row.released:
        return None
    return LeaseInfo(row.owner, row.host, row.pid, row.since, row.heartbeat, row.epoch, bool(row.os_lock))


def current_holder(engine: Engine, *, stale_after: float = STALE_AFTER_SECONDS, probe: _OsLock | None = None,
                   now: float | None = None) -> LeaseInfo | None:
    """The live owner of the journal on ``engine``, or None (never held, released, dead or stale)."""
    with engine.connect().execution_options(readonly=True) as conn:
        info = _read(conn)
        if conn.in_transaction():
            conn.rollback()
    if info is None:
        return None
    now = time.time() if now is None else now
    os_lock = probe or _OsLock(engine)
    if info.os_lock and (info.host == socket.gethostname() or os_lock.is_pg) and not os_lock.busy():
        return None  # the owner's OS lock is gone: it died
    if _pid_gone(info):
        return None  # its process is gone
    if now - info.heartbeat > stale_after:
        return None  # alive perhaps, but silent: a new session may take over (and fence it out)
    return info


class JournalLease:
    """The lease on one journal. :meth:`acquire` it, keep it (a heartbeat thread), :meth:`release` it.

    Parameters
    ----------
    engine
        The journal's database.
    owner
        A name for people (``tradekit paper``, ``session notebook``); host and pid are added.
    heartbeat_seconds, stale_after
        How often the owner says it is alive, and how long a silence makes its lease stale.
    """

    def __init__(self, engine: Engine, *, owner: str | None = None, heartbeat_seconds: float = HEARTBEAT_SECONDS,
                 stale_after: float = STALE_AFTER_SECONDS):
        if heartbeat_seconds <= 0 or stale_after <= heartbeat_seconds:
            raise StoreError("the lease needs heartbeat_seconds > 0 and stale_after > heartbeat_seconds")
        self.engine = engine
        self.owner = owner or default_owner()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.heartbeat_seconds = heartbeat_seconds
        self.stale_after = stale_after
        self.epoch: int | None = None
        self.since: float | None = None
        self.took_over: LeaseInfo | None = None  # the stale or dead lease this one replaced
        self.lost: str | None = None
        self._os = _OsLock(engine)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- acquiring ---------------------------------------------------------------------------------
    @classmethod
    def acquire(cls, engine: Engine, **kw) -> "JournalLease":
        return cls(engine, **kw).take()

    def take(self) -> "JournalLease":
        """Take the lease, or raise :class:`JournalLeased` naming the live owner."""
        from tradekit.store.accounts import ensure_schema

        ensure_schema(self.engine)
        _meta.create_all(self.engine)
        got_os = self._os.try_acquire()
        now = time.time()
        try:
            with self.engine.begin() as conn:
                self._lock_tail(conn)
                row = conn.execute(select(lease_table).where(lease_table.c.id == 1)).first()
                prev = None if row is None or row.released else LeaseInfo(
                    row.owner, row.host, row.pid, row.since, row.heartbeat, row.epoch, bool(row.os_lock))
                if prev is not None:
                    # its OS lock was free: the owner is gone (a lock file on a network share says
                    # nothing about another host, so there only the heartbeat counts)
                    dead = (got_os and prev.os_lock and (prev.host == self.host or self._os.is_pg)) or _pid_gone(prev)
                    stale = now - prev.heartbeat > self.stale_after
                    if not (dead or stale):
                        raise JournalLeased(f"{self._name()} is in use by {prev.describe(now)}; open it read-only "
                                            "(Session.from_config gives a desk view) or stop that session first", prev)
                    self.took_over = prev
                epoch = (row.epoch if row is not None else 0) + 1
                values = dict(epoch=epoch, owner=self.owner, host=self.host, pid=self.pid, since=now, heartbeat=now,
                              os_lock=got_os, released=False)
                if row is None:
                    conn.execute(insert(lease_table).values(id=1, **values))
                else:
                    conn.execute(update(lease_table).where(lease_table.c.id == 1).values(**values))
        except BaseException:
            if got_os:
                self._os.release()
            raise
        self.epoch, self.since, self.lost = epoch, now, None
        self._os.describe_owner({"owner": self.owner, "host": self.host, "pid": self.pid, "since": now, "epoch": epoch})
        if self.took_over is not None:
            log.warning("%s: took over the lease of %s", self._name(), self.took_over.describe(now))
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="journal-lease-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _name(self) -> str:
        p = _lock_path(self.engine)
        if p is not None:
            return f"journal {p.with_suffix('').name}"
        from tradekit.store.accounts import DEFAULT, account_of

        acct = account_of(self.engine)
        return "the journal" if acct == DEFAULT else f"the journal of account {acct}"

    @staticmethod
    def _lock_tail(conn: Connection) -> None:
        # A takeover waits for an append in flight (it holds the tail row), so the old owner's
        # next append reads the new epoch in its fence.
        if conn.engine.url.get_backend_name() == "postgresql":
            from tradekit.store.journal import tail_table  # the account's tail: the engine's schema map applies

            try:
                with conn.begin_nested():
                    conn.execute(select(tail_table.c.id).where(tail_table.c.id == 1).with_for_update())
            except ProgrammingError:
                pass  # no journal yet

    # -- keeping it --------------------------------------------------------------------------------
    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                self.heartbeat()
            except LeaseLost as e:
                log.error("%s", e)
                return
            except Exception as e:  # a busy database: try again at the next beat
                log.warning("journal lease heartbeat failed: %s", e)

    def heartbeat(self) -> None:
        """Say this owner is alive (the heartbeat thread does it every ``heartbeat_seconds``)."""
        if self.epoch is None:
            return
        os_lock = self._os.held or self._os.try_acquire()
        with self.engine.begin() as conn:
            n = conn.execute(update(lease_table).where(lease_table.c.id == 1, lease_table.c.epoch == self.epoch)
                             .values(heartbeat=time.time(), os_lock=os_lock)).rowcount
        if n != 1:
            self._lose()

    def _lose(self, conn: Connection | None = None) -> None:
        if conn is not None:  # inside the append's own transaction: read with it (a second one would wait for it)
            holder = _read(conn)
        else:
            with self.engine.connect().execution_options(readonly=True) as c:
                holder = _read(c)
                if c.in_transaction():
                    c.rollback()
        who = holder.describe() if holder is not None else "another session"
        self.lost = f"this session's lease on {self._name()} was taken over by {who}: it must not write any more"
        self.epoch = None
        self._stop.set()
        self._os.release()
        raise LeaseLost(self.lost)

    def fence(self, conn: Connection) -> None:
        """Inside an append's write transaction: refuse unless this lease is still the journal's."""
        if self.epoch is None:
            raise LeaseLost(self.lost or f"{self._name()}: this session released its lease; it cannot write")
        epoch = conn.execute(select(lease_table.c.epoch).where(lease_table.c.id == 1)).scalar()
        if epoch != self.epoch:
            self._lose(conn)

    def release(self) -> None:
        """Give the lease up (the session closed); the next session takes it without waiting."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)
        if self.epoch is not None:
            try:
                with self.engine.begin() as conn:
                    conn.execute(update(lease_table).where(lease_table.c.id == 1, lease_table.c.epoch == self.epoch)
                                 .values(released=True, heartbeat=time.time()))
            except Exception as e:  # the database is gone: the stale lease is taken over later
                log.warning("could not release the journal lease: %s", e)
            self.epoch = None
        self._os.release()

    @property
    def held(self) -> bool:
        return self.epoch is not None

    def __repr__(self) -> str:
        return f"JournalLease({self.owner!r}, pid={self.pid}, host={self.host!r}, epoch={self.epoch})"
