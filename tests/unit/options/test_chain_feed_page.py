"""The chain page's view (tradekit.options.view.ChainPage) without a kernel: pickers, table, empty state."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.unit.options.recorded_chain import AT, DAY, EXPIRY, chain_ticks, record
from tradekit.data.tickstore import TickStore
from tradekit.options.chain_feed import chain_master


@pytest.fixture(scope="module")
def master():
    m = chain_master(None, DAY)
    return lambda d: m


def test_empty_store_shows_the_empty_state_not_an_error(tmp_path, master):
    from tradekit.options.view import ChainPage

    p = ChainPage(TickStore(tmp_path), master, now=lambda: AT)
    assert p.error.value == "" and p.table.value == "" and p.last is None
    assert "No option quotes recorded today (2026-08-17)" in p.empty.value
    assert "tick_store.enabled" in p.empty.value  # says when the session records them
    p2 = ChainPage(TickStore(tmp_path), master, now=lambda: AT, enabled=False)
    assert "tick_store.enabled is false" in p2.empty.value


def test_recorded_quotes_fill_the_pickers_and_the_table(tmp_path, master):
    from tradekit.options.view import ChainPage

    record(tmp_path, chain_ticks())
    # a day later: today has no quotes, so the page opens on the last day that has, and says it is not today
    p = ChainPage(TickStore(tmp_path), master, now=lambda: AT + timedelta(days=1), flush_seconds=1.0)
    assert p.day.value == DAY.isoformat() and p.day.options[0] == (DAY + timedelta(days=1)).isoformat()
    assert p.underlying.value == "NIFTY" and p.expiry.value == EXPIRY.isoformat()
    assert p.empty.value == "" and "not today" in p.header.value
    assert "24,850.00" in p.table.value and "13.0 %" in p.table.value
    atm = re.search(r"<tr class='atm'>.*?<th class='strike'>([\d,.]+)</th>", p.table.value)
    assert atm and atm.group(1) == "24,850.00" and p.table.value.count("class='atm'") == 1  # the row nearest F
    assert "put-call parity at 24850" in p.header.value
    assert "Order" not in p.widget.children[0].value and "button" not in p.table.value.lower()
    assert len(p.last) == 21  # ten strikes each side of the one nearest the forward
    p.window.value = "all"
    assert len(p.last) == 105
    # another day: the empty state for it
    p.day.value = (DAY + timedelta(days=1)).isoformat()
    assert p.table.value == "" and "No option quotes recorded today (2026-08-18)" in p.empty.value
    # on the day itself, ages run from now
    q = ChainPage(TickStore(tmp_path), master, now=lambda: AT + timedelta(seconds=42), flush_seconds=1.0)
    assert q.day.value == DAY.isoformat() and "newest quote 42 s old" in q.header.value
    assert q.last.loc[24850.0, "ce_age_s"] == 42
    assert "at most 1 s after the session" in q.header.value
