"""Where a follower's journal lives, and the watch that wakes a follower when it is written."""

from __future__ import annotations

import pytest

from tradekit.store import Journal, make_engine, sqlite_url
from tradekit.store.audit import open_read_only
from tradekit.store.events import EventType as E
from tradekit.store.follower import journal_file, watch_journal


def test_the_journal_file_of_a_plain_and_a_read_only_sqlite_journal(tmp_path):
    path = tmp_path / "my journal.db"  # a space: the read-only URI quotes it
    j = Journal(make_engine(sqlite_url(path)))
    j.append(E.NOTE, {"kind": "x"})
    ro = open_read_only(path)
    assert journal_file(j) == path and journal_file(ro).resolve() == path.resolve()
    assert journal_file(object()) is None


def test_the_watch_wakes_when_another_connection_writes(tmp_path):
    path = tmp_path / "j.db"
    writer = Journal(make_engine(sqlite_url(path)))
    writer.append(E.NOTE, {"kind": "first"})
    reader = open_read_only(path)
    w = watch_journal(reader)
    if w is None:
        pytest.skip("no inotify here: followers poll")
    try:
        assert w.wait(0.05) == []  # idle: nothing
        writer.append(E.NOTE, {"kind": "second"})
        writer.flush()
        assert w.wait(5) != []
    finally:
        w.close()
