"""Fixtures for the signal pipeline: a simulated clock and a journal on it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.signals.helpers import T0, Recorder
from tradekit.clock import SimClock


@pytest.fixture
def clock():
    return SimClock(T0 + timedelta(seconds=1))


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "journal.db"


@pytest.fixture
def open_journal(db_path, clock):
    """Open (or re-open, as a restarted process would) the journal at ``db_path``."""
    from tradekit.store import Journal, make_engine, sqlite_url

    opened = []

    def _open(path=None):
        j = Journal(make_engine(sqlite_url(path or db_path)), clock=clock)
        opened.append(j)
        return j

    yield _open
    for j in opened:
        j.close()
        j.engine.dispose()


@pytest.fixture
def sim_journal(open_journal):
    return open_journal()


@pytest.fixture
def sink():
    return Recorder()
