from __future__ import annotations

import multiprocessing as mp
from datetime import date, datetime
from decimal import Decimal

from tradekit.clock import IST, SimClock
from tradekit.store import Journal, make_engine, sqlite_url, verify


def test_events_carry_session_time_and_canonical_payloads(tmp_path):
    clock = SimClock(datetime(2026, 11, 23, 9, 15, tzinfo=IST))
    j = Journal(make_engine(sqlite_url(tmp_path / "j.db")), clock=clock)
    ev = j.append("fill", {"price": Decimal("2450.05"), "when": datetime(2026, 11, 23, 9, 16, tzinfo=IST)})
    assert ev.seq == 1 and ev.ts == "2026-11-23T09:15:00+05:30"
    assert ev.payload == {"price": "2450.05", "when": "2026-11-23T09:16:00+05:30"}
    got = list(j.events())
    assert got == [ev]
    assert j.anchor(date(2026, 11, 23)) == (1, ev.hash)
    assert j.anchor(date(2026, 11, 24)) is None


def test_sync_mode_commits_before_returning(tmp_path):
    path = tmp_path / "j.db"
    j = Journal(make_engine(sqlite_url(path)))
    j.append("note", {"a": 1})
    other = Journal(make_engine(sqlite_url(path)))  # a second reader sees it at once
    assert other.count() == 1


def test_batch_mode_buffers_then_flushes_in_one_transaction(tmp_path):
    path = tmp_path / "j.db"
    j = Journal(make_engine(sqlite_url(path)), durability="batch", batch_size=1000)
    for i in range(50):
        j.append("note", {"i": i})
    other = Journal(make_engine(sqlite_url(path)))
    assert other.count() == 0
    j.flush()
    assert other.count() == 50 and verify(other).ok


def test_batch_writer_rechains_after_another_writer(tmp_path):
    path = tmp_path / "j.db"
    batch = Journal(make_engine(sqlite_url(path)), durability="batch")
    sync = Journal(make_engine(sqlite_url(path)))
    batch.append("note", {"from": "batch", "i": 0})
    sync.append("note", {"from": "sync"})  # lands first
    batch.append("note", {"from": "batch", "i": 1})
    batch.flush()
    res = verify(sync)
    assert res.ok and res.events == 3
    assert [e.payload.get("from") for e in sync.events()] == ["sync", "batch", "batch"]


def _writer(path: str, n: int, tag: str) -> None:
    j = Journal(make_engine(sqlite_url(path)))
    for i in range(n):
        j.append("note", {"writer": tag, "i": i})


def test_two_processes_appending_never_fork_the_chain(tmp_path):
    path = str(tmp_path / "j.db")
    Journal(make_engine(sqlite_url(path)))  # create tables first
    ctx = mp.get_context("spawn")
    ps = [ctx.Process(target=_writer, args=(path, 60, t)) for t in ("a", "b")]
    for p in ps:
        p.start()
    for p in ps:
        p.join(60)
        assert p.exitcode == 0
    j = Journal(make_engine(sqlite_url(path)))
    res = verify(j)
    assert res.ok and res.events == 120
    seen = {(e.payload["writer"], e.payload["i"]) for e in j.events()}
    assert len(seen) == 120
