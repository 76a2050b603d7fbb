"""End to end on the Kite sandbox through the official client: a live session arms a price
condition from a signal; ``POST /sim/move`` lifts the price across the level; the ticker's ticks
reach the session's market-data hub, the condition triggers, and its order goes through the gate
to the sandbox (KiteBroker on the official ``kiteconnect`` client) and fills."""

from __future__ import annotations

import pytest
import requests

from tests.integration.kite.conftest import wait_for
from tests.integration.kite.test_kite_marketdata import live_session, step
from tradekit.model.order import OrderStatus
from tradekit.signals.pipeline import SignalPipeline
from tradekit.store.events import EventType as E

pytestmark = pytest.mark.slow


def test_a_price_crossing_from_sim_move_triggers_an_order_that_fills(sim, tmp_path):
    s = live_session(sim, tmp_path)
    try:
        step(sim, s, 2)
        last = sim.market.get("NSE:INFY").last
        level = round(last * 1.008, 1)  # 0.8 % above: /sim/move +1.5 % crosses it (below the 2 % jump check)
        pipe = SignalPipeline(s.journal, s.config, sink=s.submit_signal, emit=s._emit, clock=s.clock)
        rep = pipe.ingest({"idempotency_key": "cond-e2e-1", "strategy": "condtest", "symbol": "INFY", "side": "BUY",
                           "quantity": 3, "signal_time": s.clock.now().isoformat(),
                           "condition": {"kind": "price", "cross": "above", "level": level}})
        assert rep.accepted_ids == ["cond-e2e-1"], rep.to_dict()
        c = s.conditions()[0]
        assert c.state == "armed" and c.initial == {"": -1}
        assert not s.book.orders
        r = requests.post(f"{sim.url}/sim/move", json={"instrument": "NSE:INFY", "percent": 1.5}, timeout=5)
        assert r.status_code == 200, r.text
        assert wait_for(lambda: s.conditions()[0].state == "triggered", 10, every=lambda: step(sim, s, 1))
        trig = [ev.payload for ev in s.journal.events(types=(E.CONDITION_TRIGGERED,))]
        assert len(trig) == 1 and float(trig[0]["value"]) >= level
        cid = trig[0]["client_order_id"]
        assert wait_for(lambda: s.book.order(cid).status is OrderStatus.FILLED, 10, every=lambda: step(sim, s, 1))
        o = s.book.order(cid)
        assert o.signal_id == "cond-e2e-1" and o.broker_order_id  # placed at the sandbox, filled there
        assert any(x.get("tag") == cid and x["status"] == "COMPLETE" for x in s.broker.kite.orders())
    finally:
        s.close()
