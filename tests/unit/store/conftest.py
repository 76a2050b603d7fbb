"""Fixtures of the store tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def journal_db(tmp_path_factory):
    """A real multi-day journal (tests/unit/store/snapshot_helpers.py); copy it before changing it."""
    from tests.unit.store.snapshot_helpers import build_journal

    return build_journal(tmp_path_factory.mktemp("real"))
