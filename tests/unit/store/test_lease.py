"""One writer per journal: a second session is refused naming the owner, a notebook gets a
read-only desk view, requests still flow, stale leases are taken over and fenced out, and a
journal two writers damaged can always be loaded again. Real processes, real SQLite."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from tradekit.clock import RealClock
from tradekit.session import Session
from tradekit.session_view import SessionView
from tradekit.store import Book, EventType as E, Journal, make_engine
from tradekit.store.lease import JournalLease, JournalLeased, LeaseLost, current_holder

HOLD = textwrap.dedent("""
    import sys, time
    from tradekit.config import load_config
    from tradekit.session import Session
    s = Session.from_config(load_config(sys.argv[1]), view=False)
    print("ready", flush=True)
    while True:
        s.poll()
        time.sleep(0.05)
""")

WRITER = textwrap.dedent("""
    import sys, time
    from tradekit.store import Journal, make_engine
    from tradekit.errors import StoreError
    from tradekit.store.lease import JournalLease
    eng = make_engine(sys.argv[1])
    lease = JournalLease.acquire(eng, owner="writer", heartbeat_seconds=0.1, stale_after=0.6)
    j = Journal(eng, lease=lease)
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        try:
            j.append("note", {"i": i, "by": "old"})
        except StoreError as e:  # LeaseLost, or the journal's failure wrapping it
            print("lost", str(e), flush=True)
            break
        time.sleep(0.05)
""")


def _spawn(code: str, arg: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", code, arg], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if line.strip() != "ready":
        p.kill()
        raise AssertionError(f"helper did not start: {line!r} {p.stderr.read()}")
    return p


@pytest.fixture
def owner(paper_config):
    """A paper session in another process, owning the config's journal."""
    p = _spawn(HOLD, paper_config.source)
    yield p
    if p.poll() is None:
        p.kill()
    p.wait(10)


def _types(cfg) -> list[str]:
    j = Journal(make_engine(cfg.store_url()), read_only=True)
    return [e.type for e in j.events()]


def test_a_second_session_is_refused_naming_the_owner(paper_config, owner):
    with pytest.raises(JournalLeased) as e:
        Session.from_config(paper_config, view=False)
    msg = str(e.value)
    assert f"pid {owner.pid}" in msg and socket.gethostname() in msg and "since" in msg
    assert e.value.holder.pid == owner.pid
    with pytest.raises(JournalLeased, match=f"pid {owner.pid}"):
        Session(paper_config)  # built directly: the same refusal
    with pytest.raises(JournalLeased, match=f"pid {owner.pid}"):
        Session.from_config(paper_config, clock=RealClock(), mode="paper")  # how `tradekit paper` builds one


def test_a_notebook_on_a_running_sessions_config_gets_a_read_only_desk_view(paper_config, owner):
    before = _types(paper_config)
    view = Session.from_config(paper_config)
    assert isinstance(view, SessionView) and view.read_only
    assert view.holder.pid == owner.pid
    assert _types(paper_config) == before  # no day roll, no session start, nothing at all
    assert view.book.starting_cash > 0 and view.account is not None
    with pytest.raises(JournalLeased, match=f"pid {owner.pid}"):
        view.submit  # noqa: B018 - only the owner places orders
    with pytest.raises(JournalLeased, match="read-only desk view"):
        view.broker  # noqa: B018
    # requests still flow: the owner acts on the kill switch at its next poll
    view.kill("desk test", by="tester")
    deadline = time.time() + 10
    while time.time() < deadline and "HALTED" not in [e.payload.get("state") for e in
                                                      Journal(make_engine(paper_config.store_url()), read_only=True)
                                                      .events(types=(E.TRADING_STATE,))]:
        time.sleep(0.05)
    halted = [e for e in view.journal.events(types=(E.TRADING_STATE,))]
    assert halted and halted[-1].payload["state"] == "HALTED"
    assert view.refresh() and view.book.trading_state == "HALTED"
    view.close()


def test_other_processes_append_requests_but_not_state(paper_config, owner):
    j = Journal(make_engine(paper_config.store_url()))
    j.append(E.CONTROL, {"action": "cancel_all", "reason": "test", "by": "cli"})  # a request: fine
    with pytest.raises(JournalLeased, match=f"pid {owner.pid}"):
        j.append(E.DAY_ROLLED, {"day": "2026-11-21"})
    with pytest.raises(JournalLeased):
        j.append(E.FILL, {"trade_id": "X"})
    assert E.DAY_ROLLED not in _types(paper_config)


def test_a_dead_owners_lease_is_taken_over(paper_config, owner):
    owner.send_signal(signal.SIGKILL)
    owner.wait(10)
    assert current_holder(make_engine(paper_config.store_url())) is None  # its OS lock died with it
    s = Session.from_config(paper_config, view=False)
    try:
        assert s.journal.lease.took_over is not None and s.journal.lease.took_over.pid == owner.pid
    finally:
        s.close()


def test_in_one_process_too_and_a_closed_session_hands_over(paper_config):
    a = Session(paper_config)
    with pytest.raises(JournalLeased, match=f"pid {os.getpid()}"):
        Session(paper_config)
    a.close()
    b = Session(paper_config)
    assert b.journal.lease.took_over is None  # a clean release, not a takeover
    b.close()


def test_a_hung_owner_is_fenced_out_after_missed_heartbeats(tmp_path):
    url = f"sqlite:///{tmp_path / 'j.db'}"
    old = _spawn(WRITER, url)
    try:
        eng = make_engine(url)
        with pytest.raises(JournalLeased, match="writer"):
            JournalLease.acquire(eng, heartbeat_seconds=0.1, stale_after=0.6)
        old.send_signal(signal.SIGSTOP)  # alive, holding its OS lock, silent
        time.sleep(1.0)
        new = JournalLease.acquire(eng, owner="new", heartbeat_seconds=0.1, stale_after=0.6)
        assert new.took_over is not None and new.took_over.pid == old.pid
        j = Journal(eng, lease=new)
        first = j.append("note", {"by": "new"})
        old.send_signal(signal.SIGCONT)
        line = old.stdout.readline()
        assert line.startswith("lost") and "taken over by new" in line, old.stderr.read() if not line else line
        j.append("note", {"by": "new"})
        evs = list(j.events())
        assert not [e for e in evs if e.seq > first.seq and e.payload.get("by") == "old"]
        assert [e.payload["by"] for e in evs if e.seq >= first.seq] == ["new", "new"]
        j.close()
        with pytest.raises(LeaseLost):
            j.append("note", {"by": "new"})  # released: this writer is done
    finally:
        if old.poll() is None:
            old.kill()
        old.wait(10)


def test_a_fill_journaled_twice_never_stops_the_journal_loading(paper_config):
    j = Journal(make_engine(paper_config.store_url()))
    j.append(E.SESSION_STARTED, {"mode": "paper", "capital": "100000"})
    req = {"exchange": "NSE", "tradingsymbol": "INFY", "side": "BUY", "quantity": 10, "order_type": "MARKET",
           "product": "MIS"}
    j.append(E.ORDER_CREATED, {"client_order_id": "A1", "request": req, "strategy": "t"})
    j.append(E.APPROVAL_GRANTED, {"client_order_id": "A1", "by": "auto"})
    j.append(E.ORDER_SUBMITTED, {"client_order_id": "A1"})
    fill = {"client_order_id": "A1", "trade_id": "T1", "exchange": "NSE", "tradingsymbol": "INFY", "side": "BUY",
            "quantity": 10, "price": "1500", "product": "MIS", "strategy": "t"}
    j.append(E.FILL, fill)
    dup = j.append(E.FILL, fill)  # what a second session on the same journal did
    other = j.append(E.FILL, {**fill, "trade_id": "T2"})  # and its own numbering: an overfill
    j.close()
    with pytest.raises(Exception):
        Book.rebuild(Journal(make_engine(paper_config.store_url())).events(), strict=True)
    book = Book.rebuild(Journal(make_engine(paper_config.store_url())).events())
    assert [a[0] for a in book.anomalies] == [dup.seq, other.seq]
    assert book.net_quantity("NSE", "INFY") == 10 and book.last_seq == other.seq
    s = Session(paper_config)  # the journal loads again
    try:
        assert s.book.net_quantity("NSE", "INFY") == 10
    finally:
        s.close()


def test_a_second_tradekit_paper_on_the_journal_is_one_line_naming_the_owner(paper_config, owner):
    r = subprocess.run([sys.executable, "-m", "tradekit", "paper", "--date", "2016-08-17", "--speed", "0",
                        "-c", paper_config.source], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "in use by" in r.stderr and f"pid {owner.pid}" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_lease_row_of_a_process_that_is_gone_is_taken_over_at_once(tmp_path):
    """An owner without the OS lock (it took a hung owner's lease over) that died: its pid is gone."""
    from sqlalchemy import update

    from tradekit.store.lease import lease_table

    eng = make_engine(f"sqlite:///{tmp_path / 'j.db'}")
    first = JournalLease.acquire(eng, owner="first")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    with eng.begin() as c:  # the row now says: pid `gone` owns it, heartbeat fresh, without the OS lock
        c.execute(update(lease_table).values(pid=int(gone), os_lock=False, heartbeat=time.time()))
    first._stop.set()
    first._os.release()
    assert current_holder(eng) is None
    nxt = JournalLease.acquire(eng, owner="next")
    assert nxt.took_over.pid == int(gone)
    nxt.release()


def test_the_os_lock_is_released_once_when_two_threads_give_it_up(tmp_path):
    """A fenced-out append and the heartbeat thread may release together (seen under load: a
    TypeError from closing a descriptor the other thread had already closed)."""
    import threading

    from tradekit.store.lease import _OsLock

    for i in range(50):
        lock = _OsLock(make_engine(f"sqlite:///{tmp_path / f'r{i}.db'}"))
        assert lock.try_acquire()
        errors: list[BaseException] = []
        go = threading.Barrier(4)

        def give_up():
            go.wait()
            try:
                lock.release()
                lock.describe_owner({"pid": 1})
            except BaseException as e:  # noqa: BLE001 - any error is the defect
                errors.append(e)

        threads = [threading.Thread(target=give_up) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and not lock.held
