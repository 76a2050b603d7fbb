"""Issue 13.6: a journal that cannot be written halts new orders, applies nothing uncommitted,
loses no signal, and resumes when it can be written again; a long lock wait is shown and journaled.

Disk full is simulated with SQLite's ``PRAGMA max_page_count`` (writes past it fail with
"database or disk is full", as on a full disk); the lock is held by another real process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime

import pytest
from sqlalchemy import event

from tradekit.clock import IST, SimClock
from tradekit.config import load_config
from tradekit.risk.base import PassThroughGate
from tradekit.session import Session
from tradekit.signals import Inbox, SignalPipeline
from tradekit.store import EventType as E, Journal, make_engine, sqlite_url, verify
from tradekit.store.journal import JournalUnavailable

T0 = datetime(2026, 11, 20, 9, 15, tzinfo=IST)
KEY = "NSE:RELIANCE"


class DiskLimit:
    """Caps the journal file at its current size (``full()``) or lifts the cap (``free()``)."""

    def __init__(self, engine):
        self.engine = engine
        self.pages: int | None = None
        event.listen(engine, "connect", self._apply)

    def _apply(self, dbapi_conn, _rec):
        dbapi_conn.execute(f"PRAGMA max_page_count={self.pages or 1073741823}")

    def full(self):
        with self.engine.connect() as c:
            self.pages = c.exec_driver_sql("PRAGMA page_count").scalar()
        self.engine.dispose()  # new connections take the cap

    def free(self):
        self.pages = None
        self.engine.dispose()


def live_like_session(tmp_path, **store):
    cfg = load_config(overrides={"data_dir": str(tmp_path / "var"),
                                 "paper": {"latency_ms": 0, "participation": 0, "slippage": {"model": "none"}},
                                 "store": store})
    clock = SimClock(T0)
    engine = make_engine(sqlite_url(tmp_path / "j.db"))
    journal = Journal(engine, clock=clock, lock_warn_seconds=cfg.store.lock_warn_seconds,
                      lock_timeout_seconds=cfg.store.lock_timeout_seconds)
    s = Session(cfg, clock=clock, journal=journal, mode="paper", gate=PassThroughGate())
    s.broker.on_bar(KEY, T0, T0, 1500, 1501, 1499, 1500, 100_000)
    s.oms.mark(KEY, 1500)
    return s


def signal_file(folder, name, *keys):
    recs = [{"idempotency_key": k, "strategy": "momo", "signal_time": T0.isoformat(), "symbol": "RELIANCE",
             "side": "BUY", "quantity": 1, "order_type": "MARKET", "product": "MIS"} for k in keys]
    tmp = folder / f".{name}.tmp"
    tmp.write_text(json.dumps(recs))
    os.replace(tmp, folder / name)


def test_disk_full_halts_orders_keeps_the_book_committed_and_loses_no_signal(tmp_path):
    s = live_like_session(tmp_path)
    pipeline = SignalPipeline(s.journal, s.config, sink=s.submit_signal, emit=s._emit, clock=s.clock)
    inbox = Inbox(tmp_path / "inbox", pipeline, settle_seconds=0)
    signal_file(inbox.folder, "a.json", "s1")
    s.service(inbox=inbox, pipeline=pipeline)
    assert len(s.book.orders) == 1
    before = s.book.snapshot()

    disk = DiskLimit(s.journal.engine)
    disk.full()
    signal_file(inbox.folder, "b.json", "s2", "s3")
    s.service(inbox=inbox, pipeline=pipeline)  # no traceback out of the loop
    st = s.status()
    assert st["trading_state"] == "HALTED" and st["blocked"].startswith("journal unavailable")
    assert "full" in st["journal"]
    assert s.book.snapshot() == before  # nothing uncommitted reached the book
    assert (inbox.folder / "processing").exists() and len(list((inbox.folder / "processing").glob("*b.json"))) == 1
    with pytest.raises(Exception, match="journal unavailable"):
        s.submit_signal(pipeline.parked[0].signal if pipeline.parked else _sig("x"))
    for _ in range(3):  # the loop goes on while the disk is full
        s.clock.advance(1)
        s.service(inbox=inbox, pipeline=pipeline)
    assert s.status()["trading_state"] == "HALTED"

    disk.free()
    s.clock.advance(1)
    s.service(inbox=inbox, pipeline=pipeline)  # writable: resumes, the file is read again
    s.service(inbox=inbox, pipeline=pipeline)
    assert s.status()["trading_state"] == "ACTIVE" and s.status()["blocked"] is None
    received = [e.payload["signal_id"] for e in s.journal.events(types=(E.SIGNAL_RECEIVED,))]
    assert received == ["s1", "s2", "s3"]  # each once: none lost, none doubled
    created = [e.payload["signal_id"] for e in s.journal.events(types=(E.ORDER_CREATED,))]
    assert created == ["s1", "s2", "s3"]
    assert verify(s.journal).ok
    from tradekit.store import Book

    assert Book.rebuild(s.journal.events()).snapshot() == s.book.snapshot()
    notes = [e.payload for e in s.journal.events(types=(E.NOTE,)) if e.payload.get("kind") == "journal_available"]
    assert notes and all("full" in n["reason"] for n in notes)  # small probe writes may fit a nearly full disk


def _sig(key):
    from tradekit.signals.schema import validate_record

    sig, _ = validate_record({"idempotency_key": key, "strategy": "momo", "signal_time": T0.isoformat(),
                              "symbol": "RELIANCE", "side": "BUY", "quantity": 1})
    return sig


def test_a_failed_transaction_is_dropped_never_written_later(tmp_path):
    j = Journal(make_engine(sqlite_url(tmp_path / "j.db")))
    j.append("note", {"i": 0})
    disk = DiskLimit(j.engine)
    disk.full()
    failures = []
    j.on_failure(failures.append)
    ran = []
    with pytest.raises(JournalUnavailable) as ei:
        with j.transaction():
            for i in range(200):  # more than the page left
                j.append("note", {"i": 1, "pad": "x" * 500})
            j.after_commit(lambda: ran.append(1))
    assert ei.value.dropped == 200 and failures == [ei.value] and ran == []
    disk.free()
    j.append("note", {"i": 2})
    assert [e.payload["i"] for e in j.events()] == [0, 2]  # the stale transaction never lands
    assert verify(j).ok


LOCKER = r"""
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("COMMIT")
"""


def hold_lock(path, seconds):
    p = subprocess.Popen([sys.executable, "-c", LOCKER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "locked"
    return p


def test_a_lock_held_by_another_process_is_shown_and_journaled(tmp_path):
    s = live_like_session(tmp_path, lock_warn_seconds=0.3, lock_timeout_seconds=10)
    seen = []
    s.journal.on_lock_wait(lambda w: seen.append((w, s.status()["journal"])))
    p = hold_lock(tmp_path / "j.db", 1.2)
    t0 = time.monotonic()
    s.submit_signal(_sig("a"))  # waits for the other process, then goes through
    waited = time.monotonic() - t0
    p.wait(10)
    assert waited >= 1.0
    assert seen[0][0] >= 0.3 and seen[0][1].startswith("locked by another process")
    assert seen[-1][0] is None and s.status()["journal"] == "ok"
    notes = [e.payload for e in s.journal.events(types=(E.NOTE,)) if e.payload.get("kind") == "journal_lock_wait"]
    assert len(notes) == 1 and notes[0]["seconds"] >= 1.0
    assert len(s.book.orders) == 1 and s.status()["trading_state"] == "ACTIVE"


def test_a_lock_held_past_the_timeout_halts_then_resumes(tmp_path):
    s = live_like_session(tmp_path, lock_warn_seconds=0.2, lock_timeout_seconds=0.8)
    p = hold_lock(tmp_path / "j.db", 2.0)
    s.service()
    with pytest.raises(JournalUnavailable, match="locked by another process"):
        s.submit_signal(_sig("a"))
    assert s.status()["trading_state"] == "HALTED" and "journal unavailable" in s.status()["blocked"]
    assert s.book.orders == {}
    p.wait(10)
    s.service()
    assert s.status()["trading_state"] == "ACTIVE"
    s.submit_signal(_sig("b"))
    assert [o.signal_id for o in s.book.orders.values()] == ["b"]
