"""Archival: old days move to compressed files that `audit verify` still checks end to end; a tampered or
missing file is named; a kill -9 in the middle loses nothing; the session starts the same afterwards."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import orjson
import pytest
from sqlalchemy import delete, func, select

from tests.unit.store.snapshot_helpers import DAY4, book_picture, config, copy, fingerprint, open_session
from tradekit.cli import main
from tradekit.errors import ConfigError
from tradekit.store import EventType as E
from tradekit.store import Journal, make_engine, sqlite_url, verify
from tradekit.store import snapshot as snap
from tradekit.store.archive import archive, archived_events, records
from tradekit.store.journal import events_table

ROOT = Path(__file__).resolve().parents[3]
TODAY = date(2016, 8, 19)  # the journal's days: 2016-08-16, -17 (replay), -18 (a session) and -19 (restarts)


def _live(j: Journal) -> int:
    with j.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(events_table)).scalar_one()


def _state(j: Journal) -> dict:
    return book_picture(snap.build(j).book)  # the whole book (a snapshot's old orders are read from its side table)


@pytest.fixture
def archived(journal_db, tmp_path):
    db = copy(journal_db, tmp_path / "db")
    j = Journal(make_engine(sqlite_url(db)))
    before = {"total": j.last_seq, "state": _state(j), "tail": (j.last_seq, j.last_hash),
              "archived_signal": next(ev.payload["signal_id"] for ev in j.events(types=(E.SIGNAL_RECEIVED,))
                                      if ev.day < date(2016, 8, 18))}
    res = archive(j, older_than_days=1, archive_dir=tmp_path / "arch", today=TODAY)
    return db, j, res, before


def test_old_days_move_to_an_archive_file_and_verify_checks_them_end_to_end(archived, capsys):
    db, j, res, before = archived
    assert res.days == ("2016-08-16", "2016-08-17") and res.first_seq == 1 and res.path.is_file()
    assert _live(j) == before["total"] - res.events and res.events > 100  # the live table keeps the tail
    assert res.snapshot_seq >= res.last_seq  # a snapshot covers what left
    r = verify(j)
    assert r.ok and r.events == before["total"] and (r.last_seq, r.last_hash) == before["tail"], r
    assert _state(j) == before["state"]  # from the snapshot: the archive is not read
    snap.ensure_table(j)
    with j.engine.begin() as conn:
        conn.execute(delete(snap.snapshots_table))
    assert _state(j) == before["state"]  # no snapshot: the full replay reads the archive file first
    assert [ev.seq for ev in archived_events(j)] == list(range(1, res.last_seq + 1))
    assert main(["audit", "verify", "--db", str(db), "--no-anchor-log"]) == 0
    assert f"{before['total']} events verify" in capsys.readouterr().out
    header = orjson.loads(gzip.decompress(res.path.read_bytes()).splitlines()[0])
    assert set(header["anchors"]) == set(res.days) and header["last_hash"] == records(j)[0].last_hash


def test_a_session_after_archival_starts_the_same_and_still_refuses_an_archived_signal_id(archived, journal_db, tmp_path):
    from tradekit.signals.pipeline import SignalPipeline

    db, j, res, before = archived
    j.engine.dispose()
    ref = open_session(copy(journal_db, tmp_path / "ref"), config(tmp_path), DAY4)
    want = fingerprint(ref)
    ref.close()
    s = open_session(db, config(tmp_path), DAY4)
    assert fingerprint(s) == want
    sid = before["archived_signal"]
    pipe = SignalPipeline(s.journal, s.config, sink=s.submit_signal, emit=s._emit, clock=s.clock)
    rep = pipe.ingest([{"idempotency_key": sid, "strategy": "momo", "signal_time": s.clock.now().isoformat(),
                        "symbol": "RELIANCE", "side": "BUY", "quantity": 5}])
    assert rep.ids("duplicate") == [sid]
    s.close()


def _rewrite(path: Path, fn) -> None:
    lines = gzip.decompress(path.read_bytes()).splitlines()
    path.write_bytes(gzip.compress(b"\n".join(fn(lines)) + b"\n"))


def test_an_altered_event_in_an_archive_file_is_named(archived, capsys):
    db, j, res, _ = archived

    def alter(lines):
        row = orjson.loads(lines[10])  # header + events 1..: this is event 10
        row[4] = row[4].replace("}", ',"x":1}', 1)
        lines[10] = orjson.dumps(row)
        return lines

    _rewrite(res.path, alter)
    r = verify(j)
    assert not r.ok and r.problem == "archive" and r.seq == 10
    assert str(res.path) in r.message and "event 10" in r.message and "altered" in r.message
    assert main(["audit", "verify", "--db", str(db), "--no-anchor-log"]) == 1
    assert str(res.path) in capsys.readouterr().out


def test_a_missing_or_replaced_archive_file_is_named(archived):
    db, j, res, _ = archived
    data = res.path.read_bytes()
    res.path.unlink()
    r = verify(j)
    assert not r.ok and r.problem == "archive" and "missing" in r.message and str(res.path) in r.message
    res.path.write_bytes(gzip.compress(gzip.decompress(data), mtime=1))  # the same events in another file
    r = verify(j)
    assert not r.ok and r.problem == "archive" and "changed after it was written" in r.message


def _crash_at(stage: str, db: Path, folder: Path) -> None:
    code = ("import sys; from datetime import date; sys.path.insert(0, sys.argv[1]);"
            "from tradekit.store import Journal, make_engine, sqlite_url;"
            "from tradekit.store.archive import archive;"
            "archive(Journal(make_engine(sqlite_url(sys.argv[2]))), older_than_days=1, archive_dir=sys.argv[3],"
            " today=date(2016, 8, 19))")
    env = {**os.environ, "TRADEKIT_TEST_ARCHIVE_STALL": stage}
    p = subprocess.Popen([sys.executable, "-c", code, str(ROOT), str(db), str(folder)], stdout=subprocess.PIPE,
                         env=env, text=True)
    try:
        line = p.stdout.readline()
        assert line.strip() == f"STALL {stage}", line
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("stage", ["written", "deleting"])
def test_a_kill_9_in_the_middle_of_archival_loses_nothing(journal_db, tmp_path, stage):
    db = copy(journal_db, tmp_path / "db")
    j = Journal(make_engine(sqlite_url(db)))
    total, state = j.last_seq, _state(j)
    j.engine.dispose()
    _crash_at(stage, db, tmp_path / "arch")
    j = Journal(make_engine(sqlite_url(db)))
    assert records(j) == [] and _live(j) == total  # the file may be there; the events never left the table
    r = verify(j)
    assert r.ok and r.events == total
    res = archive(j, older_than_days=1, archive_dir=tmp_path / "arch", today=TODAY)  # again: it completes
    assert res.events > 0 and verify(j).events == total and _state(j) == state


def test_the_session_archives_at_close_when_configured_and_the_setting_is_checked(journal_db, tmp_path):
    db = copy(journal_db, tmp_path / "db")
    cfg = config(tmp_path, archive_after_days=1, archive_dir=str(tmp_path / "arch"))
    s = open_session(db, cfg, DAY4)
    total_before_close = s.journal.last_seq
    s.close()
    j = Journal(make_engine(sqlite_url(db)))
    (rec,) = records(j)
    assert Path(rec.path).parent == tmp_path / "arch" and rec.last_day == "2016-08-17"
    r = verify(j)
    assert r.ok and r.events >= total_before_close
    with pytest.raises(ConfigError, match="archive_after_days"):
        config(tmp_path, archive_after_days=0)


def test_journal_commands(journal_db, tmp_path, capsys):
    db = copy(journal_db, tmp_path / "db")
    assert main(["journal", "snapshot", "--db", str(db)]) == 0
    assert "snapshot written" in capsys.readouterr().out
    assert main(["journal", "archive", "--db", str(db)]) == 2  # no age: neither the option nor the config
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--older-than-days" in err and "store.archive_after_days" in err
    assert main(["journal", "archive", "--db", str(db), "--older-than-days", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["journal", "snapshot", "--db", str(tmp_path / "none.db")]) == 2
    assert "no such journal file" in capsys.readouterr().err
    assert main(["journal", "archive", "--db", str(db), "--older-than-days", "30",
                 "--archive-dir", str(tmp_path / "a")]) == 0
    assert "archived events 1.." in capsys.readouterr().out
    assert main(["journal", "status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "archive: events 1.." in out and "snapshot: seq" in out
    assert main(["audit", "verify", "--db", str(db), "--no-anchor-log"]) == 0
