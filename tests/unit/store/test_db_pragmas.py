"""Every SQLite connection is WAL with the configured synchronous level, whichever order the
PRAGMAs run in (a replay's synchronous=OFF journal switches a new file to WAL without an fsync)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from tradekit.store import make_engine, sqlite_url

LEVELS = {"OFF": 0, "NORMAL": 1, "FULL": 2}


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_a_new_journal_file_is_wal_with_the_configured_synchronous_level(tmp_path, level):
    path = tmp_path / "j.db"
    engine = make_engine(sqlite_url(path), synchronous=level)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == LEVELS[level]
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
    plain = sqlite3.connect(path)  # WAL is kept in the file: any later reader finds it
    assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    plain.close()
