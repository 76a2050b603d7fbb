"""A real paper session (SQLite journal, risk manager, book) on a simulated clock, and its hub."""

from __future__ import annotations

from datetime import datetime

import pytest

from tradekit.clock import IST, SimClock
from tradekit.config import load_config
from tradekit.data.types import DepthLevel, Tick
from tradekit.session import Session

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=IST)  # a Friday, market open


class FakeMono:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def make_session(tmp_path, **over):
    base = {"data_dir": str(tmp_path / "var"), "execution": {"charges_as_of": "2026-11-20"}}
    for k, v in over.items():
        base[k] = v
    cfg = load_config(overrides=base)
    return Session.from_config(cfg, clock=SimClock(T0), mode="paper")


@pytest.fixture
def session(tmp_path):
    s = make_session(tmp_path)
    yield s
    s.close()


def tick(key, px, at=None, *, bid=None, ask=None, close=None, token=None):
    bids = (DepthLevel(bid, 10, 1),) if bid else ()
    asks = (DepthLevel(ask, 10, 1),) if ask else ()
    return Tick(key, at, float(px), token, "full", close=close, bids=bids, asks=asks)


def notes(session, **match):
    out = []
    for ev in session.journal.events(types=("note",)):
        if all(ev.payload.get(k) == v for k, v in match.items()):
            out.append(ev.payload)
    return out
