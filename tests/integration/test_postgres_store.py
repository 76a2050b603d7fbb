"""The journal on a real PostgreSQL server: the same chain, the same tamper detection, concurrent writers.

The server is the suite's one throwaway cluster (``pg_url`` in ``tests/integration/conftest.py``).
"""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import time

import pytest

from tradekit.store import Book, Journal, make_engine, verify


@pytest.fixture
def fresh(pg_url):
    from sqlalchemy import text

    eng = make_engine(pg_url)
    with eng.begin() as c:
        c.execute(text("DROP TABLE IF EXISTS events, journal_tail, journal_lease"))
    return pg_url


def test_append_verify_and_tamper_detection_on_postgres(fresh):
    from sqlalchemy import text

    j = Journal(make_engine(fresh))
    for i in range(20):
        j.append("note", {"i": i})
    res = verify(j)
    assert res.ok and res.events == 20 and res.last_seq == 20
    with j.engine.begin() as c:
        c.execute(text("UPDATE events SET payload = :p WHERE seq = 7"), {"p": '{"i":99}'})
    bad = verify(j)
    assert not bad.ok and bad.seq == 7 and bad.problem == "altered"


def _writer(url: str, tag: str, n: int) -> None:
    j = Journal(make_engine(url))
    for i in range(n):
        j.append("note", {"writer": tag, "i": i})


def test_concurrent_writers_never_fork_the_chain_on_postgres(fresh):
    Journal(make_engine(fresh))  # tables
    ctx = mp.get_context("spawn")
    ps = [ctx.Process(target=_writer, args=(fresh, t, 40)) for t in "abc"]
    for p in ps:
        p.start()
    for p in ps:
        p.join(120)
        assert p.exitcode == 0
    j = Journal(make_engine(fresh))
    res = verify(j)
    assert res.ok and res.events == 120


def test_a_paper_replay_journals_to_postgres_and_rebuilds(fresh, tmp_path):
    from tradekit.config import load_config
    from tradekit.data import load_bars, sample_path
    from tradekit.execution.replay import run_replay
    from tradekit.session import Session
    from tradekit.strategies import SmaCrossover
    from tradekit.clock import SimClock

    cfg = load_config(overrides={"store": {"url": fresh}, "execution": {"charges_as_of": "2026-11-20"},
                                 "data_dir": str(tmp_path / "var")})
    bars = load_bars(sample_path("INFY"), start="2016-08-17", end="2016-08-17")
    s = Session.from_config(cfg, clock=SimClock(bars.index[0].to_pydatetime()), mode="paper")
    r = run_replay(s, {"NSE:INFY": bars}, strategies=[SmaCrossover(10, 30, 10)])
    assert r.fills > 5
    j = Journal(make_engine(fresh))
    assert verify(j).ok
    assert Book.rebuild(j.events()).snapshot() == s.book.snapshot()
    s.close()  # gives the journal's lease back


_HOLD_PG = """
import sys, time
from tradekit.store import Journal, make_engine
from tradekit.store.lease import JournalLease
eng = make_engine(sys.argv[1])
j = Journal(eng, lease=JournalLease.acquire(eng, owner="pg-holder"))
j.append("note", {"by": "holder"})
print("ready", flush=True)
time.sleep(120)
"""


def test_one_writer_per_journal_on_postgres_an_advisory_lock(fresh):
    """The lease on PostgreSQL: an advisory lock held by the owner's connection plus the lease row."""
    import sys

    from tradekit.store.lease import JournalLease, JournalLeased, current_holder

    p = subprocess.Popen([sys.executable, "-c", _HOLD_PG, fresh], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        eng = make_engine(fresh)
        with pytest.raises(JournalLeased, match=f"pg-holder \\(pid {p.pid} on"):
            JournalLease.acquire(eng)
        assert current_holder(eng).pid == p.pid
        j = Journal(eng)
        j.append("control", {"action": "cancel_all"})  # a request from another process: allowed
        with pytest.raises(JournalLeased):
            j.append("fill", {"trade_id": "x"})
        p.kill()
        p.wait(10)
        deadline = time.time() + 10  # the server drops the advisory lock with the connection
        while current_holder(eng) is not None and time.time() < deadline:
            time.sleep(0.1)
        lease = JournalLease.acquire(eng, owner="next")
        assert lease.took_over is not None and lease.took_over.pid == p.pid
        owned = Journal(eng, lease=lease)
        owned.append("fill", {"trade_id": "y"})
        owned.close()
        assert verify(Journal(eng, read_only=True)).ok
    finally:
        if p.poll() is None:
            p.kill()


# -- journal snapshots and archival on PostgreSQL (tradekit.store.snapshot, tradekit.store.archive) ---------------
from datetime import date, datetime, timedelta  # noqa: E402

from tradekit.clock import IST, SimClock  # noqa: E402
from tradekit.model import OrderRequest  # noqa: E402
from tradekit.store import EventType as E  # noqa: E402
from tradekit.store import snapshot as snap  # noqa: E402
from tradekit.store.archive import archive, records  # noqa: E402


@pytest.fixture
def pg_journal(pg_url):
    from sqlalchemy import text

    eng = make_engine(pg_url)
    with eng.begin() as c:
        c.execute(text("DROP TABLE IF EXISTS events, journal_tail, journal_lease, journal_snapshots, journal_archives, "
                       "journal_snapshot_orders, journal_snapshot_keys"))
    clock = SimClock(datetime(2026, 1, 5, 9, 15, tzinfo=IST))
    j = Journal(eng, clock=clock)
    j.append(E.SESSION_STARTED, {"capital": "1000000"})
    for i in range(40):
        cid = f"C{i}"
        req = OrderRequest("NSE", "INFY", "BUY" if i % 3 else "SELL", 1 + i % 5, "LIMIT", "CNC", price=f"{1500 + i}.05")
        with j.transaction():
            j.append(E.SIGNAL_RECEIVED, {"signal_id": f"s{i}"})
            j.append(E.ORDER_CREATED, {"client_order_id": cid, "strategy": "s", "request": req.to_dict()})
            j.append(E.APPROVAL_GRANTED, {"client_order_id": cid})
            j.append(E.ORDER_SUBMITTED, {"client_order_id": cid})
            j.append(E.FILL, {"client_order_id": cid, "trade_id": f"T{i}", "quantity": req.quantity, "price": str(req.price),
                              "side": str(req.side), "exchange": "NSE", "tradingsymbol": "INFY", "product": "CNC",
                              "charges": {"stt": "1.51"}})
        if i % 10 == 9:
            clock.set(clock.now() + timedelta(days=1))
            j.append(E.DAY_ROLLED, {"day": clock.now().date().isoformat()})
    yield j
    with eng.begin() as c:  # no snapshot or archive record may outlive this journal (the other tests' `fresh` keeps them)
        c.execute(text("DROP TABLE IF EXISTS journal_snapshots, journal_archives, journal_snapshot_orders, "
                       "journal_snapshot_keys"))
    j.engine.dispose()


def _snap_book(b: Book) -> dict:
    from tests.unit.store.snapshot_helpers import book_picture

    return book_picture(b)  # the whole book: a snapshot's old orders and ids are read from its side tables


def test_snapshot_plus_tail_equals_a_full_replay_on_postgres(pg_journal):
    j = pg_journal
    full = _snap_book(Book.rebuild(j.events()))
    for k in (1, 57, 133, j.last_seq):
        snap.save(j, snap.build(j, use_snapshots=False, up_to=k))
        got = snap.build(j)
        assert got.source == f"snapshot at seq {k}" and _snap_book(got.book) == full


def test_an_account_bound_session_reads_old_orders_from_its_own_schema(pg_url):
    """The side tables of a snapshot are read through the account's schema (one indexed row each)."""
    from sqlalchemy import text

    eng = make_engine(pg_url)
    with eng.begin() as c:
        c.execute(text('DROP SCHEMA IF EXISTS "tradekit_snapacct" CASCADE'))
    eng.dispose()
    acct = make_engine(pg_url, account="snapacct")
    clock = SimClock(datetime(2026, 1, 5, 9, 15, tzinfo=IST))
    j = Journal(acct, clock=clock)
    req = OrderRequest("NSE", "INFY", "BUY", 2, "LIMIT", "CNC", price="1500")
    j.append(E.SIGNAL_RECEIVED, {"signal_id": "old-sig"})
    j.append(E.ORDER_CREATED, {"client_order_id": "OLD", "strategy": "s", "request": req.to_dict()})
    j.append(E.APPROVAL_GRANTED, {"client_order_id": "OLD"})
    j.append(E.ORDER_SUBMITTED, {"client_order_id": "OLD"})
    j.append(E.ORDER_UPDATE, {"client_order_id": "OLD", "status": "CANCELLED", "broker_order_id": "B-OLD"})
    clock.set(clock.now() + timedelta(days=1))
    j.append(E.DAY_ROLLED, {"day": clock.now().date().isoformat()})
    snap.save(j, snap.build(j, use_snapshots=False))
    got = snap.build(j)
    assert got.source.startswith("snapshot") and "OLD" not in got.book.orders.hot
    assert got.book.orders["OLD"].status.value == "CANCELLED" and got.book.by_broker_id.get("B-OLD") == "OLD"
    assert "old-sig" in got.book.signals and "other" not in got.book.signals
    assert _snap_book(got.book) == _snap_book(Book.rebuild(j.events()))
    with acct.connect() as c:  # the rows are in the account's schema, not the default one
        assert c.execute(text('SELECT count(*) FROM "tradekit_snapacct".journal_snapshot_orders')).scalar() == 1
    acct.dispose()


def test_archival_on_postgres_verifies_end_to_end(pg_journal, tmp_path):
    j = pg_journal
    total, full = j.last_seq, _snap_book(Book.rebuild(j.events()))
    res = archive(j, older_than_days=1, archive_dir=tmp_path, today=date(2026, 1, 9))
    assert res.events > 0 and records(j)[0].last_seq == res.last_seq
    r = verify(j)
    assert r.ok and r.events == total, r
    assert _snap_book(snap.build(j).book) == full
