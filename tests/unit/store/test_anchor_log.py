"""Anchors outside the database: a forged, cut or rewritten tail is caught against the anchor log,
the log's own chain catches edits to it, and ``audit verify`` only reads (and never creates) a journal."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import date, datetime, timedelta, timezone

import pytest

from tradekit.cli import main
from tradekit.session import Session
from tradekit.store import Journal, chain_hash, make_engine, sqlite_url, verify
from tradekit.store.audit import AnchorLog, AnchorPublisher, anchor_log_path, open_read_only


@pytest.fixture
def anchored(tmp_path):
    """A 10-event journal whose tail (seq 10) was published to the anchor log."""
    path = tmp_path / "var" / "j.db"
    j = Journal(make_engine(sqlite_url(path)))
    for i in range(10):
        j.append("note", {"i": i})
    log = AnchorLog(anchor_log_path(sqlite_url(path)))
    AnchorPublisher(j, log).publish("interval")
    return path, log


def _rows(path):
    c = sqlite3.connect(path)
    return c, c.execute("SELECT seq, ts, recorded_at, type, payload, prev_hash, hash FROM events ORDER BY seq").fetchall()


def _forge_tail(path, *, recorded_at: str | None = None) -> int:
    """Append a consistent event at the end with raw SQL (hash, link and tail row all fixed up)."""
    c, rows = _rows(path)
    last = rows[-1]
    seq = last[0] + 1
    rec = recorded_at or datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    payload = json.dumps({"forged": True})
    h = chain_hash(last[6], seq, last[1], rec, "fill", payload)
    c.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?)", (seq, last[1], rec, "fill", payload, last[6], h))
    c.execute("UPDATE journal_tail SET seq=?, hash=?", (seq, h))
    c.commit()
    return seq


def _verify(path, log):
    return verify(open_read_only(path), anchors=log)


def test_an_untouched_journal_matches_its_published_anchor(anchored):
    path, log = anchored
    res = _verify(path, log)
    assert res.ok and res.anchored_seq == 10 and res.anchors_checked == 1
    assert "matches 1 published anchors" in str(res)


def test_events_cut_from_the_end_with_the_tail_rewritten_are_caught(anchored):
    path, log = anchored
    c, rows = _rows(path)
    c.execute("DELETE FROM events WHERE seq > 7")
    c.execute("UPDATE journal_tail SET seq=?, hash=?", (7, rows[6][6]))
    c.commit()
    assert verify(open_read_only(path)).ok  # the chain alone cannot see it
    res = _verify(path, log)
    assert not res.ok and res.problem == "truncated" and "events 8..10 were removed" in res.message


def test_a_rewritten_tail_is_caught(anchored):
    path, log = anchored
    c, rows = _rows(path)
    prev = rows[7][6]
    for seq, ts, rec, typ, _payload, _p, _h in rows[8:]:  # rewrite 9 and 10, rechained consistently
        payload = json.dumps({"i": "forged"})
        h = chain_hash(prev, seq, ts, rec, typ, payload)
        c.execute("UPDATE events SET payload=?, prev_hash=?, hash=? WHERE seq=?", (payload, prev, h, seq))
        prev = h
    c.execute("UPDATE journal_tail SET hash=?", (prev,))
    c.commit()
    assert verify(open_read_only(path)).ok
    res = _verify(path, log)
    assert not res.ok and res.problem == "rewritten" and res.seq == 10


def test_a_forged_event_at_the_end_is_caught_when_backdated_and_named_when_not(anchored, tmp_path):
    path, log = anchored
    back = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat(timespec="milliseconds")
    seq = _forge_tail(path, recorded_at=back)
    assert verify(open_read_only(path)).ok
    res = _verify(path, log)
    assert not res.ok and res.problem == "inserted" and res.seq == seq
    # a forgery dated after the anchor is not covered by any anchor yet: verify says so
    path2 = tmp_path / "b.db"
    j = Journal(make_engine(sqlite_url(path2)))
    j.append("note", {})
    log2 = AnchorLog(tmp_path / "b.jsonl")
    AnchorPublisher(j, log2).publish()
    _forge_tail(path2)
    res = _verify(path2, log2)
    assert res.ok and "events 2..2 are not anchored yet" in str(res)


def test_an_edited_anchor_log_is_caught(anchored):
    path, log = anchored
    j = open_read_only(path)
    log.append(*j.tail(), kind="manual")
    lines = log.path.read_text().splitlines()
    d = json.loads(lines[0])
    d["seq"] = 9
    lines[0] = json.dumps(d, sort_keys=True)
    log.path.write_text("\n".join(lines) + "\n")
    res = _verify(path, log)
    assert not res.ok and res.problem == "anchor_log" and "line 1" in res.message


def test_the_publisher_anchors_each_day_end_and_only_when_the_journal_moved(tmp_path):
    j = Journal(make_engine(sqlite_url(tmp_path / "j.db")))
    today = [date(2026, 11, 19)]
    seen = []
    pub = AnchorPublisher(j, AnchorLog(tmp_path / "a.jsonl"), interval=60, listeners=[seen.append],
                          today=lambda: today[0])
    j.append("note", {}, ts=datetime(2026, 11, 19, 15, 0, tzinfo=timezone.utc))
    pub.tick()  # same day: an interval anchor at seq 1
    pub.tick()  # nothing new: nothing published
    j.append("note", {}, ts=datetime(2026, 11, 20, 4, 0, tzinfo=timezone.utc))
    today[0] = date(2026, 11, 20)
    pub.tick()  # the day changed: the 19th's anchor (seq 1), then the interval anchor (seq 2)
    assert [(e["kind"], e["seq"]) for e in seen] == [("interval", 1), ("day_end", 1), ("interval", 2)]
    assert [e["seq"] for e in pub.log.entries()] == [1, 1, 2]


def test_a_session_publishes_its_last_anchor_when_it_closes(paper_config):
    s = Session(paper_config)
    got = []
    s.anchor_listeners.append(got.append)
    s.kill("test", by="t", flatten=False)
    s.close()
    log = AnchorLog(anchor_log_path(paper_config.store_url(), paper_config.data_dir))
    assert log.path.parent == paper_config.data_dir / "anchors"
    last = log.latest()
    assert last["kind"] == "session_end" and got == [last]
    assert (last["seq"], last["hash"]) == open_read_only(paper_config.store_url()).tail()


def _digest(path):
    """The database's content (not its bytes: SQLite may checkpoint the WAL into the file at any close)."""
    c = sqlite3.connect(path)
    try:
        return hashlib.sha256("\n".join(c.iterdump()).encode()).hexdigest()
    finally:
        c.close()


def test_audit_verify_reads_only_and_never_creates_a_journal(tmp_path, capsys, paper_config, anchored):
    path, _ = anchored
    before = _digest(path)
    assert main(["audit", "verify", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: 10 events") and "published anchors" in out
    assert _digest(path) == before  # not even the journal_tail's writers count moved
    # no --db and no journal yet: one line, exit 2, and still no file
    db = paper_config.data_dir / "paper.db"
    assert main(["audit", "verify", "-c", paper_config.source]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no journal at" in err and not db.exists()
    assert main(["audit", "verify", "--db", str(tmp_path / "none.db")]) == 2
    assert "no such journal" in capsys.readouterr().err and not (tmp_path / "none.db").exists()
    text = tmp_path / "not-a-db.db"
    text.write_text("hello")
    assert main(["audit", "verify", "--db", str(text)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read the journal" in err


def test_audit_verify_fails_on_a_cut_tail_without_being_given_an_anchor(anchored, capsys):
    path, _ = anchored
    c, rows = _rows(path)
    c.execute("DELETE FROM events WHERE seq = 10")
    c.execute("UPDATE journal_tail SET seq=?, hash=?", (9, rows[8][6]))
    c.commit()
    assert main(["audit", "verify", "--db", str(path)]) == 1
    assert "FAILED at event 10" in capsys.readouterr().out
    assert main(["audit", "verify", "--db", str(path), "--no-anchor-log"]) == 0
