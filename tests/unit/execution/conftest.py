from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tradekit.clock import IST
from tradekit.config import load_config
from tradekit.risk.base import PassThroughGate
from tradekit.session import Session

T0 = datetime(2026, 11, 20, 9, 15, tzinfo=IST)


def make_session(tmp_path, gate=None, **overrides):
    base = {"paper": {"latency_ms": 0, "participation": 0, "slippage": {"model": "none"}}}
    for k, v in overrides.items():
        base.setdefault(k, {}).update(v) if isinstance(v, dict) else base.__setitem__(k, v)
    cfg = load_config(overrides=base)
    s = Session.for_replay(cfg, tmp_path / "j.db", T0, gate=gate or PassThroughGate())
    return s


def step(s, key, minute, o, h, l, c, v=100_000):
    """Feed one 1-minute bar at T0 + minute and move the clock to its end."""
    start = T0 + timedelta(minutes=minute)
    s.clock.set(start)
    s.broker.on_bar(key, start, start + timedelta(minutes=1), o, h, l, c, v)
    s.clock.set(start + timedelta(minutes=1))
    s.oms.mark(key, c)


@pytest.fixture
def session(tmp_path):
    return make_session(tmp_path)
