"""A real paper session (SQLite journal with its lease, risk manager, hub) for conditional-order tests."""

from __future__ import annotations

from datetime import datetime

from tradekit.clock import IST, SimClock
from tradekit.config import load_config
from tradekit.data.types import Tick
from tradekit.session import Session
from tradekit.signals.pipeline import SignalPipeline

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=IST)  # a Friday, market open


def config(tmp_path, approval="auto", **over):
    base = {"data_dir": str(tmp_path / "var"), "execution": {"charges_as_of": "2026-11-20"},
            "approval": {"mode": approval}, **over}
    return load_config(overrides=base)


def open_session(cfg, at=T0):
    """A session on the config's journal; the paper broker fills on the hub's ticks (as a paper run's does)."""
    s = Session.from_config(cfg, clock=SimClock(at), mode="paper")
    s.market.add_listener(s.broker.on_tick)
    return s


def pipeline(s):
    return SignalPipeline(s.journal, s.config, sink=s.submit_signal, emit=s._emit)


def record(key="c1", symbol="INFY", side="BUY", qty=5, condition=None, **kw):
    r = {"idempotency_key": key, "strategy": "condtest", "symbol": symbol, "side": side, "quantity": qty,
         "signal_time": kw.pop("signal_time", T0.isoformat()), **kw}
    if condition is not None:
        r["condition"] = condition
    return r


def feed(s, key, *prices, step=10.0):
    """Ticks of ``key`` through the hub, ``step`` session seconds apart."""
    for px in prices:
        s.clock.advance(step)
        s.market.on_ticks([Tick(key, s.clock.now(), float(px), None, "quote")], "paper")


def events(s, type_):
    return [ev.payload for ev in s.journal.events(types=(type_,))]
