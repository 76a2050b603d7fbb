"""risk.var.fetch_history and risk.var.history_days are obeyed by the live session's start
(Session._go_live -> fetch_var_history), on the Kite sandbox through the official client: a
restarted session that holds INFY fetches its daily history only when fetch_history is on, and
only history_days of it."""

from __future__ import annotations

import re
import threading
from decimal import Decimal

import pytest

from tests.integration.kite.conftest import kite_config, secrets, wait_for
from tests.integration.kite.test_kite_crash import data_dir, live_config  # noqa: F401 - fixture
from tradekit.model import OrderRequest
from tradekit.store import EventType as E

pytestmark = pytest.mark.slow


def _session(sim, data_dir, **var):  # noqa: F811
    from types import SimpleNamespace

    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.session import Session

    cfg = live_config(sim.url, sim.login_url, sim.ws_url, data_dir)
    cfg = cfg.model_copy(update={"risk": cfg.risk.model_copy(update={"var": cfg.risk.var.model_copy(
        update={"limit": Decimal("1e9"), **var})})})
    broker = KiteBroker(kite_config(SimpleNamespace(url=sim.url, login_url=sim.login_url, ws_url=sim.ws_url),
                                    timeout_seconds=0.5), secrets(), data_dir=data_dir)
    return Session(cfg, broker=broker)


def _start(s):
    """Start the session and wait for the history thread the start may have begun."""
    s.start(reconcile_every=0)
    for t in [t for t in threading.enumerate() if t.name == "var-history"]:
        t.join(30)


def _notes(s):
    return [e.payload for e in s.journal.events(types=(E.NOTE,)) if e.payload.get("text") == "daily history for VaR"]


def test_fetch_history_and_history_days_are_obeyed_at_the_start_of_a_live_session(sim, data_dir):  # noqa: F811
    from tradekit.data.store import bars_file

    s = _session(sim, data_dir, fetch_history=False)
    try:
        _start(s)
        assert wait_for(lambda: s.broker.stream is not None and s.broker.stream.connected)
        last = Decimal(str(sim.market.get("NSE:INFY").last))
        px = (last * Decimal("1.01") / Decimal("0.1")).quantize(Decimal(1)) * Decimal("0.1")
        s.submit(OrderRequest("NSE", "INFY", "BUY", 5, "LIMIT", "CNC", price=px), strategy="swing")
        assert wait_for(lambda: s.book.net_quantity("NSE", "INFY", "CNC") == 5, every=lambda: sim.step(1), timeout=15)
    finally:
        s.close()
    path = bars_file(data_dir, "NSE:INFY", "1d")

    s = _session(sim, data_dir, fetch_history=False)  # restarted, holding INFY: told not to fetch
    try:
        _start(s)
        assert s.book.net_quantity("NSE", "INFY", "CNC") == 5
        assert _notes(s) == [] and not path.exists()
    finally:
        s.close()

    s = _session(sim, data_dir, fetch_history=True, history_days=60)  # restarted again: fetch 60 days
    try:
        _start(s)
        [note] = _notes(s)
    finally:
        s.close()
    # 60 calendar days before the session's day hold 40-44 trading days (the default 400 would be ~270)
    n = int(re.search(r"for (\d+) day\(s\)", note["instruments"]["NSE:INFY"]).group(1))
    assert 38 <= n <= 44, note
    assert path.exists()
