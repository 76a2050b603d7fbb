"""Database engines. SQLite (WAL) is the embedded default; PostgreSQL takes a URL.

All access goes through SQLAlchemy Core so the same code runs on both.
"""

from __future__ import annotations

import sqlite3  # noqa: F401 - the default store's driver and dialect load with this module, not in the first engine
from pathlib import Path

import sqlalchemy.dialects.sqlite.pysqlite  # noqa: F401
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from tradekit.errors import StoreError


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def make_engine(url: str, *, synchronous: str = "NORMAL", account: str | None = None) -> Engine:
    """Create an engine, bound to one account (:mod:`tradekit.store.accounts`): ``account`` or the
    URL's ``?account=`` parameter (taken off before the driver sees it); neither: the default
    account, i.e. the journal as it always was. For SQLite: WAL, a busy timeout, and BEGIN
    IMMEDIATE transactions.

    ``BEGIN IMMEDIATE`` takes the write lock at the start of each transaction, so two
    processes appending to one journal (the session and a dashboard kernel) serialise cleanly
    instead of failing on a lock upgrade. ``synchronous=NORMAL`` in WAL mode is durable
    against process crashes (the case we test); ``FULL`` adds power-loss durability.
    """
    from tradekit.store import accounts

    url, in_url = accounts.split_url(url)
    if in_url is not None:
        in_url = accounts.validate(in_url, field="store.url")
        if account is not None and accounts.validate(account) != in_url:
            raise StoreError(f"the store URL names account {in_url!r} but account {account!r} was asked for")
    account = accounts.validate(account if account is not None else in_url)
    if account != accounts.DEFAULT and not url.startswith("postgresql"):
        accounts.with_account(url, account)  # raises the error naming store.account
    return accounts.bind(_make_engine(url, synchronous), account)


def _make_engine(url: str, synchronous: str) -> Engine:
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            try:
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the store folder for {db_path}: {e}") from e
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every test
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            # synchronous first: switching a new file to WAL is a write, synced as this setting says (a
            # replay's journal, synchronous=OFF, skips the 20-40 ms fsync; NORMAL and FULL still sync it)
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # pragma: no cover
            # Readers (execution option readonly=True) take no write lock.
            if conn.get_execution_options().get("readonly"):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except Exception as e:  # bad URL, missing driver
        raise StoreError(f"cannot open store {url.split('@')[-1]}: {e}") from e
