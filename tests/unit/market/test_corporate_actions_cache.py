"""Issue 20 (per-day session work): at a day roll, a session that already saw every due corporate
action applied (or before its first day) does not read the journal again. Property: a run of day
rolls, with actions imported before and during it, journals exactly what it journals when the
journal is read at every roll (the reference)."""

from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.execution.conftest import make_session
from tradekit.market.corporate_actions import CorporateAction, CorporateActionStore
from tradekit.store import EventType as E

FIRST = date(2026, 11, 20)  # the session's first day (conftest's T0)

actions = st.lists(st.builds(
    lambda sym, kind, off, n: CorporateAction(
        "NSE", sym, FIRST + timedelta(days=off), kind,
        **({"ratio": Decimal(n + 1)} if kind == "split" else {"new": n, "held": 1} if kind == "bonus"
           else {"per_share": Decimal(n)})),
    st.sampled_from(["INFY", "RELIANCE"]), st.sampled_from(["split", "bonus", "dividend"]),
    st.integers(-3, 9), st.integers(1, 3)), max_size=5)


def _run(folder: Path, before, during, at: int, *, reference: bool) -> list:
    s = make_session(folder, data_dir=str(folder / "var"))
    store = CorporateActionStore(folder / "var")
    stamp = 1_700_000_000
    try:
        for i in range(1, 10):
            if i == 1 and before:
                store.add(before, source="a.csv", sha256="0")
                os.utime(store.path, ns=(stamp * 10**9,) * 2)
            if i == at and during:
                store.add(during, source="b.csv", sha256="1")
                os.utime(store.path, ns=((stamp + 60) * 10**9,) * 2)  # a new mtime, whatever the clock's grain
            if reference:
                s.__dict__.pop("_ca_known", None)  # the journal read at every roll
            s._emit(E.DAY_ROLLED, {"day": (FIRST + timedelta(days=i)).isoformat()})
        s.journal.flush()
        return [(e.type, e.payload) for e in s.journal.events()]
    finally:
        s.close()


@settings(max_examples=6, deadline=None)
@given(before=actions, during=actions, at=st.integers(2, 8))
def test_day_rolls_journal_the_same_actions_as_reading_the_journal_each_time(tmp_path_factory, before, during, at):
    got = _run(tmp_path_factory.mktemp("fast"), before, during, at, reference=False)
    want = _run(tmp_path_factory.mktemp("ref"), before, during, at, reference=True)
    assert got == want
    applied = [p["action_id"] for t, p in got if t == E.POSITION_ADJUSTED]
    assert len(applied) == len(set(applied))  # each once
    assert sorted(applied) == sorted({a.id for a in [*before, *during] if a.ex_date >= FIRST})
