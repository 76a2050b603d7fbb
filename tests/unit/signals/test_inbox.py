"""The inbox folder: each file exactly once, moved with a result or reason, crash-safe."""

from __future__ import annotations

import fcntl
import json
import multiprocessing as mp
import os
import threading
import time
from pathlib import Path

import pytest

from tests.unit.signals.helpers import T0, Recorder, record
from tradekit.config import TradekitConfig
from tradekit.fswatch import FolderWatch
from tradekit.signals.inbox import Inbox, parse_only
from tradekit.signals.pipeline import SignalPipeline
from tradekit.store import EventType


def drop(folder: Path, name: str, content) -> Path:
    """Write the way a well-behaved engine does: a temporary name, then an atomic rename."""
    text = content if isinstance(content, str) else json.dumps(content)
    tmp = folder / f"{name}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, folder / name)
    return folder / name


def data_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".json", ".jsonl") and not p.name.endswith(".result.json"))


@pytest.fixture
def inbox_dir(tmp_path):
    return tmp_path / "inbox"


@pytest.fixture
def pipeline(sim_journal, sink):
    return SignalPipeline(sim_journal, TradekitConfig(), sink=sink)


def test_a_file_is_processed_once_and_moved_with_its_result(inbox_dir, pipeline, sink):
    inbox = Inbox(inbox_dir, pipeline, settle_seconds=0)
    drop(inbox_dir, "batch.json", [record("a"), record("b", side="HOLD"), record("c")])
    drop(inbox_dir, "more.jsonl", "\n".join(json.dumps(record(k)) for k in ("d", "a")) + "\n")
    results = inbox.poll()
    assert sorted(r.name for r in results) == ["batch.json", "more.jsonl"]
    assert all(r.status == "processed" for r in results)
    assert sorted(sink.ids) == ["a", "c", "d"]
    assert data_files(inbox_dir) == [] and data_files(inbox_dir / "processing") == []
    batch = next(r for r in results if r.name == "batch.json")
    assert batch.path.parent == inbox_dir / "processed" and batch.path.name.endswith("__batch.json") and batch.path.exists()
    result = json.loads(batch.path.with_name(batch.path.name + ".result.json").read_text())
    assert result["file"] == "batch.json" and [a["signal_id"] for a in result["accepted"]] == ["a", "c"]
    assert result["errors"] == [{"index": 1, "field": "side", "message": "'HOLD' is not one of BUY, SELL", "idempotency_key": "b"}]
    more = next(r for r in results if r.name == "more.jsonl")
    assert json.loads(more.path.with_name(more.path.name + ".result.json").read_text())["duplicates"] == ["a"]
    assert inbox.poll() == []  # nothing is read twice
    assert sorted(sink.ids) == ["a", "c", "d"]


@pytest.mark.parametrize("content, words", [
    ("not json at all", "not JSON"),
    ([record("x", side="HOLD"), {"symbol": "INFY"}], "record 1: idempotency_key: required field is missing"),
    ("", "empty"),
])
def test_a_file_with_nothing_usable_is_rejected_with_a_reason(inbox_dir, pipeline, sink, content, words):
    inbox = Inbox(inbox_dir, pipeline, settle_seconds=0)
    drop(inbox_dir, "bad.json", content)
    (r,) = inbox.poll()
    assert r.status == "rejected" and r.path.parent == inbox_dir / "rejected" and r.path.exists()
    reason = r.path.with_name(r.path.name + ".reason.txt").read_text()
    assert reason.startswith("bad.json: rejected: no usable record") and words in reason
    assert sink.ids == [] and data_files(inbox_dir) == []


def test_an_oversized_file_is_rejected_unread(inbox_dir, pipeline):
    inbox = Inbox(inbox_dir, pipeline, settle_seconds=0, max_file_bytes=100)
    drop(inbox_dir, "big.json", [record(f"k{i}") for i in range(5)])
    (r,) = inbox.poll()
    assert r.status == "rejected" and "over the limit of 100" in r.reason
    assert pipeline.journal.count() == 0


def test_partially_written_and_temporary_files_are_not_taken(inbox_dir):
    inbox = Inbox(inbox_dir, settle_seconds=30)
    fresh = inbox_dir / "writing.json"
    fresh.write_text('[{"idempotency_key": "a", ')  # a writer still at it, in place
    (inbox_dir / "next.json.tmp").write_text("{}")
    (inbox_dir / ".hidden.json").write_text("{}")
    old = time.time() - 120
    for p in (inbox_dir / "next.json.tmp", inbox_dir / ".hidden.json"):
        os.utime(p, (old, old))
    assert inbox.poll() == []
    assert fresh.exists()
    fresh.write_text(json.dumps([record("a")]))  # finished
    os.utime(fresh, (old, old))  # ...and unchanged for longer than settle_seconds
    (r,) = inbox.poll()
    assert r.name == "writing.json" and r.status == "processed" and r.accepted_ids == ["a"]
    assert (inbox_dir / "next.json.tmp").exists() and (inbox_dir / ".hidden.json").exists()


def test_same_name_dropped_twice_is_kept_twice(inbox_dir):
    inbox = Inbox(inbox_dir, settle_seconds=0)
    drop(inbox_dir, "s.json", record("a"))
    (r1,) = inbox.poll()
    drop(inbox_dir, "s.json", record("b"))
    (r2,) = inbox.poll()
    assert r1.path != r2.path and r1.path.exists() and r2.path.exists()
    assert (r1.accepted_ids, r2.accepted_ids) == (["a"], ["b"])


def test_a_file_left_in_processing_is_read_again_and_dedupe_makes_it_safe(inbox_dir, open_journal):
    content = [record("a"), record("b")]
    first = Recorder()
    Inbox(inbox_dir, SignalPipeline(open_journal(), TradekitConfig(), sink=first), settle_seconds=0)
    drop(inbox_dir, "x.json", content)
    # what a crash after journaling but before the move leaves behind:
    SignalPipeline(open_journal(), TradekitConfig(), sink=first).ingest(json.dumps(content))
    os.replace(inbox_dir / "x.json", inbox_dir / "processing" / "20261123T091500-deadbeef__x.json")
    again = Recorder()
    restarted = Inbox(inbox_dir, SignalPipeline(open_journal(), TradekitConfig(), sink=again), settle_seconds=0)
    (r,) = restarted.poll()
    assert r.name == "x.json" and r.status == "processed"
    assert r.report.ids("duplicate") == ["a", "b"] and again.ids == []
    assert data_files(inbox_dir / "processing") == []


def _crash_after_first_signal(inbox_dir: str, db: str) -> None:
    # Runs in a child process: the sink journals the first signal's order, then the process dies
    # (like a kill -9) before the signal's transaction commits.
    from tradekit.clock import SimClock
    from tradekit.store import Journal, make_engine, sqlite_url

    def die(signal, route):
        journal.append("order.created", {"client_order_id": "TK1", "signal_id": signal.signal_id})
        os._exit(3)

    journal = Journal(make_engine(sqlite_url(db)), clock=SimClock(T0))
    pipeline = SignalPipeline(journal, TradekitConfig(), sink=die)
    Inbox(inbox_dir, pipeline, settle_seconds=0).poll()
    os._exit(0)  # not reached


def test_a_real_crash_mid_file_loses_nothing_and_repeats_nothing(inbox_dir, open_journal, db_path):
    Inbox(inbox_dir, settle_seconds=0)
    drop(inbox_dir, "day.json", [record("a", priority=2), record("b", priority=1), record("c")])
    child = mp.get_context("fork").Process(target=_crash_after_first_signal, args=(str(inbox_dir), str(db_path)))
    child.start()
    child.join(20)
    assert child.exitcode == 3
    assert len(data_files(inbox_dir / "processing")) == 1  # left mid-file, its lock died with the process
    journal = open_journal()
    # the signal, its key and its order commit together: the kill left none of them
    assert list(journal.events()) == []
    sink = Recorder()
    pipeline = SignalPipeline(journal, TradekitConfig(), sink=sink)
    (r,) = Inbox(inbox_dir, pipeline, settle_seconds=0).poll()
    assert r.status == "processed" and r.report.ids("duplicate") == [] and sink.ids == ["a", "b", "c"]
    received = [e.payload["signal_id"] for e in pipeline.journal.events(types=(EventType.SIGNAL_RECEIVED,))]
    assert received == ["a", "b", "c"]  # each exactly once across the crash, none lost


def test_a_file_in_flight_in_another_poller_is_not_taken(inbox_dir):
    inbox = Inbox(inbox_dir, settle_seconds=0)
    held = inbox_dir / "processing" / "20261123T091500-cafebabe__busy.json"
    held.write_text(json.dumps(record("a")))
    with open(held, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # another poller is reading it
        assert inbox.poll() == [] and held.exists()
    (r,) = inbox.poll()  # that poller died: its lock is gone, the file is recovered
    assert r.name == "busy.json" and r.status == "processed"


class _Logged:
    """A handler that appends each file it is given to a log (shared by processes)."""

    def __init__(self, log: Path):
        self.log = log

    def __call__(self, data, *, source, fmt):
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}-{threading.get_ident()} {source}\n")
        time.sleep(0.003)  # long enough for the pollers to overlap
        return parse_only(data, source=source, fmt=fmt)


def _poll_until_empty(inbox_dir: str, log: str) -> None:
    inbox = Inbox(inbox_dir, _Logged(Path(log)), settle_seconds=0)
    deadline = time.time() + 15
    while time.time() < deadline and any(p.suffix == ".json" for p in Path(inbox_dir).iterdir()):
        inbox.poll()


N_FILES = 60


def _assert_each_once(inbox_dir: Path, log: Path) -> None:
    lines = [line.split(" ", 1) for line in log.read_text().splitlines()]
    assert len({who for who, _ in lines}) > 1, "the pollers did not run side by side"
    taken = [what for _, what in lines]
    assert sorted(taken) == sorted(f"inbox:f{i:03d}.json" for i in range(N_FILES))
    assert len(data_files(inbox_dir / "processed")) == N_FILES
    assert data_files(inbox_dir) == [] and data_files(inbox_dir / "processing") == []


def test_two_poller_processes_never_take_the_same_file(inbox_dir, tmp_path):
    Inbox(inbox_dir)
    for i in range(N_FILES):
        drop(inbox_dir, f"f{i:03d}.json", record(f"k{i}"))
    log = tmp_path / "taken.log"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_poll_until_empty, args=(str(inbox_dir), str(log))) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    _assert_each_once(inbox_dir, log)


def test_two_poller_threads_never_take_the_same_file(inbox_dir, tmp_path):
    Inbox(inbox_dir)
    for i in range(N_FILES):
        drop(inbox_dir, f"f{i:03d}.json", record(f"k{i}"))
    log = tmp_path / "taken.log"
    threads = [threading.Thread(target=_poll_until_empty, args=(str(inbox_dir), str(log))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    _assert_each_once(inbox_dir, log)


def test_watch_in_a_thread_and_a_clean_stop(inbox_dir, pipeline, sink):
    inbox = Inbox(inbox_dir, pipeline, settle_seconds=0)
    seen = []
    got = threading.Event()

    def on_result(r):
        seen.append(r)
        got.set()

    thread = inbox.start(on_result, interval=0.02)
    drop(inbox_dir, "live.json", record("w"))
    assert got.wait(5)
    t0 = time.monotonic()
    inbox.stop()
    assert time.monotonic() - t0 < 2 and not thread.is_alive()
    assert [r.name for r in seen] == ["live.json"] and sink.ids == ["w"]


def test_a_failing_pipeline_leaves_the_file_for_a_retry(inbox_dir):
    calls = []

    def flaky(data, *, source, fmt):
        calls.append(source)
        if len(calls) == 1:
            from tradekit.errors import StoreError

            raise StoreError("cannot append to the journal: disk I/O error")
        return parse_only(data, source=source, fmt=fmt)

    inbox = Inbox(inbox_dir, flaky, settle_seconds=0)
    drop(inbox_dir, "r.json", record("a"))
    (r,) = inbox.poll()
    assert r.status == "error" and "StoreError" in r.reason and r.path.parent.name == "processing"
    (r,) = inbox.poll()
    assert r.status == "processed" and r.accepted_ids == ["a"] and len(calls) == 2


def test_a_file_that_keeps_failing_goes_to_rejected_with_a_reason(inbox_dir):
    calls = []

    def broken(data, *, source, fmt):
        calls.append(source)
        raise KeyError("a handler bug this file trips")

    inbox = Inbox(inbox_dir, broken, settle_seconds=0, poll_interval=0.0, max_attempts=3)
    drop(inbox_dir, "r.json", record("a"))
    statuses = [r.status for _ in range(5) for r in inbox.poll()]
    assert statuses == ["error", "error", "rejected"] and len(calls) == 3
    (moved,) = (inbox_dir / "rejected").glob("*__r.json")
    reason = moved.with_name(moved.name + ".reason.txt").read_text()
    assert "after 3 tries" in reason and "KeyError" in reason
    assert not any((inbox_dir / "processing").iterdir())  # no attempts file left behind


def test_a_failed_file_waits_before_it_is_tried_again(inbox_dir):
    def broken(data, *, source, fmt):
        raise ValueError("a handler bug")

    inbox = Inbox(inbox_dir, broken, settle_seconds=0, poll_interval=30.0)
    drop(inbox_dir, "r.json", record("a"))
    assert [r.status for r in inbox.poll()] == ["error"]
    assert inbox.poll() == []  # backing off: not retried at once, every poll


def test_an_adversarial_file_is_rejected_not_retried(inbox_dir, sim_journal):
    from tradekit.signals import SignalPipeline

    inbox = Inbox(inbox_dir, SignalPipeline(sim_journal), settle_seconds=0)
    (inbox_dir / "junk.json").write_text('[' * 5000 + ']' * 5000)
    (r,) = inbox.poll()
    assert r.status == "rejected" and "nested deeper" in r.reason
    (inbox_dir / "big.json").write_text("[" + ",".join("0" * 1) * 0 + ",".join(["0"] * 20000) + "]")
    (r,) = inbox.poll()
    assert r.status == "rejected" and "max_records_per_batch" in r.reason
    assert inbox.poll() == [] and not any((inbox_dir / "processing").iterdir())


def test_a_journal_outage_keeps_the_file_in_processing_however_long(inbox_dir):
    from tradekit.errors import StoreError

    down = [True]

    def journal(data, *, source, fmt):
        if down[0]:
            raise StoreError("database or disk is full")
        return parse_only(data, source=source, fmt=fmt)

    inbox = Inbox(inbox_dir, journal, settle_seconds=0, max_attempts=2)
    drop(inbox_dir, "r.json", record("a"))
    for _ in range(6):  # never rejected for the journal's fault, retried every poll (no back-off)
        (r,) = inbox.poll()
        assert r.status == "error" and r.path.parent.name == "processing"
    down[0] = False
    (r,) = inbox.poll()
    assert r.status == "processed" and r.accepted_ids == ["a"]


def test_a_file_whose_signals_were_all_parked_is_processed_not_rejected(inbox_dir, sim_journal):
    from tests.unit.signals.helpers import Recorder
    from tradekit.config import TradekitConfig
    from tradekit.signals.pipeline import SignalPipeline

    p = SignalPipeline(sim_journal, TradekitConfig(), sink=Recorder(fail_on={"a"}))  # new orders blocked
    inbox = Inbox(inbox_dir, p, settle_seconds=0)
    drop(inbox_dir, "r.json", record("a"))
    (r,) = inbox.poll()
    assert r.status == "processed" and r.path.parent.name == "processed"


# -- waking up and settling (tradekit.fswatch) ------------------------------------------------------
native = pytest.mark.skipif(not FolderWatch(Path(__file__).parent).native, reason="no inotify on this platform")


@native
def test_a_file_renamed_in_is_taken_at_once_even_with_a_long_settle(inbox_dir):
    inbox = Inbox(inbox_dir, settle_seconds=30)
    drop(inbox_dir, "renamed.json", [record("a")])
    (r,) = inbox.poll()
    assert r.name == "renamed.json" and r.status == "processed"
    inbox.close()


@native
def test_a_renamed_file_written_to_afterwards_must_settle(inbox_dir):
    inbox = Inbox(inbox_dir, settle_seconds=30)
    path = drop(inbox_dir, "late.json", [record("a")])
    with open(path, "a", encoding="utf-8") as fh:  # a writer still at it after its rename
        fh.write(" ")
    assert inbox.poll() == [] and path.exists()
    old = time.time() - 120
    os.utime(path, (old, old))
    (r,) = inbox.poll()
    assert r.name == "late.json" and r.status == "processed"


@pytest.mark.parametrize("watch_changes", [True, False], ids=["inotify", "stat-poll"])
def test_a_half_written_file_is_never_read(inbox_dir, watch_changes):
    """A writer writing in place, pausing less than settle_seconds between chunks, while the
    poller waits and polls as a session does: the file is read once, complete. (settle 0.3 s,
    not the shipped 0.1 s, so that a loaded test machine stalling the writer's thread for more
    than 0.1 s does not count as a pause.)"""
    read: list[bytes] = []

    def handler(data, **kw):
        read.append(data)
        return parse_only(data, **kw)

    inbox = Inbox(inbox_dir, handler, settle_seconds=0.3, watch_changes=watch_changes)
    lines = [json.dumps(record(f"k{i}")) for i in range(12)]
    body = ("\n".join(lines) + "\n").encode()
    done = threading.Event()

    def writer():
        with open(inbox_dir / "slow.jsonl", "wb") as fh:
            for i in range(0, len(body), len(body) // 12 + 1):
                fh.write(body[i:i + len(body) // 12 + 1])
                fh.flush()
                time.sleep(0.03)
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    results = []
    deadline = time.monotonic() + 10
    while not results and time.monotonic() < deadline:
        inbox.wait(0.05)
        results = inbox.poll()
    t.join()
    assert done.is_set() and [r.status for r in results] == ["processed"]
    assert read == [body] and len(results[0].accepted_ids) == 12


@pytest.mark.parametrize("watch_changes", [True, False], ids=["inotify", "stat-poll"])
def test_wait_wakes_when_a_file_lands_and_sleeps_when_idle(inbox_dir, watch_changes):
    inbox = Inbox(inbox_dir, settle_seconds=0, watch_changes=watch_changes)
    inbox.poll()
    cpu0, t0 = time.process_time(), time.monotonic()
    assert inbox.wait(0.3) is False  # nothing came: the full pause, without burning CPU
    assert time.monotonic() - t0 >= 0.29 and time.process_time() - cpu0 < 0.1
    timer = threading.Timer(0.05, lambda: drop(inbox_dir, "now.json", [record("n")]))
    timer.start()
    t0 = time.monotonic()
    assert inbox.wait(5) is True
    assert time.monotonic() - t0 < 1.0
    timer.join()
    (r,) = inbox.poll()
    assert r.name == "now.json"


@native
def test_wait_wakes_when_a_file_written_in_place_has_settled(inbox_dir):
    inbox = Inbox(inbox_dir, settle_seconds=0.2)
    inbox.poll()
    (inbox_dir / "inplace.json").write_text(json.dumps([record("p")]))
    t0 = time.monotonic()
    assert inbox.wait(5) is True
    waited = time.monotonic() - t0
    assert 0.15 <= waited < 1.5
    (r,) = inbox.poll()
    assert r.name == "inplace.json" and r.status == "processed"


def test_stop_interrupts_a_watch_waiting_for_files(inbox_dir):
    inbox = Inbox(inbox_dir, settle_seconds=0)
    thread = inbox.start(interval=30)
    time.sleep(0.05)
    t0 = time.monotonic()
    inbox.stop()
    assert time.monotonic() - t0 < 2 and not thread.is_alive()
