"""Property: for random price paths, a crossing condition fires at the first crossing and only then.

A real paper session (journal, hub, OMS); each example arms a new condition on an instrument of
its own (the order it sends waits for a person: manual approval), feeds the path through the
hub and finds where ``condition.triggered`` was journaled."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, strategies as st

from tests.unit.execution.conditions_helpers import config, feed, open_session, pipeline, record
from tradekit.store.events import EventType as E

LEVEL = 100
_n = itertools.count()


@pytest.fixture(scope="module")
def s(tmp_path_factory):
    sess = open_session(config(tmp_path_factory.mktemp("props"), approval="manual"))
    yield sess
    sess.close()


def first_crossing(path: list[float], cross: str) -> int | None:
    """The oracle: the first i >= 1 where the path goes from strictly below to at-or-above the level
    (``above``), or from strictly above to at-or-below it (``below``)."""
    for i in range(1, len(path)):
        a, b = path[i - 1], path[i]
        if (cross == "above" and a < LEVEL <= b) or (cross == "below" and a > LEVEL >= b):
            return i
    return None


prices = st.one_of(st.integers(95, 105).map(float), st.floats(94, 106, allow_nan=False).map(lambda x: round(x, 2)))


@given(path=st.lists(prices, min_size=1, max_size=25), cross=st.sampled_from(["above", "below"]),
       kind=st.sampled_from(["price", "symbol"]))
def test_fires_at_the_first_crossing_only(s, path, cross, kind):
    n = next(_n)
    watch = f"NSE:PROP{n}"
    feed(s, watch, path[0], step=0.1)  # the price at creation: its side is the state recorded
    cond = {"kind": kind, "cross": cross, "level": LEVEL, "symbol": watch}
    rep = pipeline(s).ingest(record(f"p{n}", condition=cond, signal_time=s.clock.now().isoformat()))
    assert rep.accepted_ids == [f"p{n}"]
    cid = rep.accepted[0].result.id
    seq0 = s.book.last_seq
    fired_at = []
    for i, px in enumerate(path[1:], start=1):
        feed(s, watch, px, step=0.1)
        if s.conditions_book.ledger.items[cid].state == "triggered" and not fired_at:
            fired_at.append(i)
    fired = [ev for ev in s.journal.events(types=(E.CONDITION_TRIGGERED,), after=seq0) if ev.payload["condition_id"] == cid]
    assert len(fired) == len(fired_at)  # journaled once, when it fired
    want = first_crossing(path, cross)
    assert fired_at == ([] if want is None else [want])
    if want is None:
        s.cancel_condition(cid, "example over")  # leave no armed condition behind
