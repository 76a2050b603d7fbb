"""Tamper tests: every edit, insertion, deletion and reordering is found and named."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tradekit.store import GENESIS, Journal, chain_hash, export, make_engine, sqlite_url, verify


@pytest.fixture
def filled(tmp_path):
    path = tmp_path / "j.db"
    j = Journal(make_engine(sqlite_url(path)))
    for i in range(10):
        j.append("note", {"i": i, "text": f"event {i}"})
    assert verify(j).ok
    return j, path


def sql(path, stmt, *args):
    c = sqlite3.connect(path)
    c.execute(stmt, args)
    c.commit()
    c.close()


def test_untouched_journal_verifies_and_reports_its_anchor(filled):
    j, _ = filled
    res = verify(j)
    assert res.ok and res.events == 10 and res.last_seq == 10 and res.last_hash == j.tail()[1]


def test_edited_payload_is_named(filled):
    j, path = filled
    sql(path, "UPDATE events SET payload=? WHERE seq=4", json.dumps({"i": 4, "text": "forged"}))
    res = verify(j)
    assert not res.ok and res.seq == 4 and res.problem == "altered"


def test_edited_and_rehashed_event_breaks_the_next_link(filled):
    j, path = filled
    c = sqlite3.connect(path)
    r = c.execute("SELECT seq, ts, recorded_at, type, prev_hash FROM events WHERE seq=4").fetchone()
    payload = json.dumps({"i": 4, "text": "forged"})
    h = chain_hash(r[4], r[0], r[1], r[2], r[3], payload)
    c.execute("UPDATE events SET payload=?, hash=? WHERE seq=4", (payload, h))
    c.commit()
    res = verify(j)
    assert not res.ok and res.seq == 5 and res.problem == "inserted"


def test_deleted_event_is_named(filled):
    j, path = filled
    sql(path, "DELETE FROM events WHERE seq=6")
    res = verify(j)
    assert not res.ok and res.problem == "removed" and res.seq == 7 and "event 6 is missing" in res.message


def test_deleted_and_renumbered_events_are_found(filled):
    j, path = filled
    sql(path, "DELETE FROM events WHERE seq=6")
    for s in range(7, 11):
        sql(path, "UPDATE events SET seq=? WHERE seq=?", s - 1, s)
    sql(path, "UPDATE journal_tail SET seq=9")
    res = verify(j)
    assert not res.ok and res.seq == 6


def test_inserted_event_is_found(filled):
    j, path = filled
    for s in range(10, 5, -1):
        sql(path, "UPDATE events SET seq=? WHERE seq=?", s + 1, s)
    c = sqlite3.connect(path)
    prev = c.execute("SELECT hash FROM events WHERE seq=5").fetchone()[0]
    payload = json.dumps({"i": 99})
    ts = "2026-11-24T10:00:00+05:30"
    c.execute("INSERT INTO events VALUES (6, ?, ?, 'note', ?, ?, ?)", (ts, ts, payload, prev, chain_hash(prev, 6, ts, ts, "note", payload)))
    c.execute("UPDATE journal_tail SET seq=11")
    c.commit()
    res = verify(j)
    assert not res.ok and res.seq == 7


def test_reordered_events_are_found(filled):
    j, path = filled
    c = sqlite3.connect(path)
    a = c.execute("SELECT ts, recorded_at, type, payload, prev_hash, hash FROM events WHERE seq=3").fetchone()
    b = c.execute("SELECT ts, recorded_at, type, payload, prev_hash, hash FROM events WHERE seq=4").fetchone()
    c.execute("UPDATE events SET ts=?, recorded_at=?, type=?, payload=?, prev_hash=?, hash=? WHERE seq=3", b)
    c.execute("UPDATE events SET ts=?, recorded_at=?, type=?, payload=?, prev_hash=?, hash=? WHERE seq=4", a)
    c.commit()
    res = verify(j)
    assert not res.ok and res.seq == 3


def test_truncated_tail_is_found_against_the_tail_record(filled):
    j, path = filled
    sql(path, "DELETE FROM events WHERE seq>=9")
    res = verify(j)
    assert not res.ok and res.problem == "truncated" and res.seq == 9


def test_rewritten_history_is_found_against_a_printed_anchor(filled, tmp_path):
    j, path = filled
    anchor = j.tail()[1]
    # rewrite the whole journal consistently (an attacker with the DB and the algorithm)
    c = sqlite3.connect(path)
    rows = c.execute("SELECT seq, ts, recorded_at, type, payload FROM events ORDER BY seq").fetchall()
    prev = GENESIS
    for seq, ts, rec, typ, payload in rows:
        if seq == 2:
            payload = json.dumps({"i": 2, "text": "forged"})
        h = chain_hash(prev, seq, ts, rec, typ, payload)
        c.execute("UPDATE events SET payload=?, prev_hash=?, hash=? WHERE seq=?", (payload, prev, h, seq))
        prev = h
    c.execute("UPDATE journal_tail SET hash=?", (prev,))
    c.commit()
    assert verify(j).ok  # self-consistent...
    res = verify(j, expect_anchor=anchor)
    assert not res.ok and res.problem == "anchor"  # ...but the printed anchor exposes it


def test_export_csv_and_jsonl(filled, tmp_path):
    j, _ = filled
    assert export(j, tmp_path / "a.csv") == 10
    assert export(j, tmp_path / "a.jsonl") == 10
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["payload"] == {"i": 0, "text": "event 0"}
    header = (tmp_path / "a.csv").read_text().splitlines()[0]
    assert header.startswith("seq,ts_ist,recorded_at_utc,type,summary")
    with pytest.raises(ValueError):
        export(j, tmp_path / "a.xml")
