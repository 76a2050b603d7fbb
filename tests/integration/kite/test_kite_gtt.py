"""GTT on kite-sim through the official client: KiteBroker's place/list/modify/delete, the
protector of a live session, a trigger on /sim/move whose order and fill reach the OMS, and the
drill of issue 15: a GTT OCO surviving a kill -9 of the session and still protecting the position."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from tests.integration.kite.conftest import wait_for
from tests.integration.kite.test_kite_crash import data_dir, open_session  # noqa: F401 - fixture
from tradekit.errors import BrokerRejected
from tradekit.model.enums import Side
from tradekit.model.gtt import GttLeg, GttRequest, GttStatus
from tradekit.model.order import OrderRequest, OrderStatus
from tradekit.store.events import EventType as E

ROOT = str(Path(__file__).resolve().parents[3])


def test_kite_broker_places_lists_modifies_and_deletes_gtts(broker, sim, kite):
    sim.step(1)
    last = Decimal(str(sim.market.get("NSE:INFY").last))
    lo, hi = (last * Decimal("0.95")).quantize(Decimal("0.1")), (last * Decimal("1.1")).quantize(Decimal("0.1"))
    req = GttRequest.oco("NSE", "INFY", side="SELL", quantity=2, product="CNC", stop_trigger=lo, stop_price=lo - 5,
                         target_trigger=hi, target_price=hi)
    gid = broker.place_gtt(req)
    g = broker.get_gtt(gid)
    assert g.status is GttStatus.ACTIVE and g.request.trigger_values == (lo, hi) and g.request.last_price == last
    assert [leg.side for leg in g.request.legs] == [Side.SELL, Side.SELL]
    assert [x.id for x in broker.gtts()] == [gid]
    assert kite.get_gtt(int(gid))["condition"]["trigger_values"] == [float(lo), float(hi)]  # what Kite's client sees
    broker.modify_gtt(gid, GttRequest.oco("NSE", "INFY", side="SELL", quantity=1, product="CNC", stop_trigger=lo - 1,
                                          stop_price=lo - 6, target_trigger=hi, target_price=hi))
    assert broker.get_gtt(gid).request.legs[0].quantity == 1
    broker.delete_gtt(gid)
    assert broker.get_gtt(gid).status is GttStatus.DELETED
    with pytest.raises(BrokerRejected, match="deleted and cannot be deleted"):
        broker.delete_gtt(gid)
    with pytest.raises(BrokerRejected, match="takes CNC, not MIS"):
        broker.place_gtt(GttRequest("NSE", "INFY", (lo,), (GttLeg("SELL", 1, lo, "MIS"),)))
    with pytest.raises(BrokerRejected, match="between the two trigger values"):
        broker.place_gtt(GttRequest.oco("NSE", "INFY", side="SELL", quantity=1, product="CNC", stop_trigger=hi,
                                        stop_price=hi, target_trigger=hi + 10, target_price=hi + 10))


def buy_cnc(s, sim, qty=5):
    o = s.submit(OrderRequest("NSE", "INFY", "BUY", qty, "MARKET", "CNC"), strategy="swing")
    assert wait_for(lambda: s.book.net_quantity("NSE", "INFY", "CNC") == qty, every=lambda: sim.step(1), timeout=15)
    return o


def sells_at_sim(kite):
    return [o for o in kite.orders() if o["tradingsymbol"] == "INFY" and o["transaction_type"] == "SELL"]


def test_a_protected_position_is_exited_by_the_gtt_and_the_book_learns_it(sim, data_dir, kite):  # noqa: F811
    s = open_session(sim.url, sim.login_url, sim.ws_url, data_dir)
    try:
        s.start(reconcile_every=0)
        assert wait_for(lambda: s.broker.stream is not None and s.broker.stream.connected)
        buy_cnc(s, sim)
        last = Decimal(str(sim.market.get("NSE:INFY").last))
        gid = s.gtt.protect("B1", "NSE:INFY", 5, last * Decimal("0.97"), last * Decimal("1.05"), "CNC")
        assert gid and s.broker.get_gtt(gid).is_active
        s.gtt.update("B1", 5, last * Decimal("0.96"), last * Decimal("1.06"))
        p = s.gtt.protections["B1"]
        assert s.broker.get_gtt(gid).request.trigger_values == (p.stop, p.target)
        assert abs(p.stop - last * Decimal("0.96")) <= Decimal("0.05") and p.gtt_id == gid
        r = requests.post(f"{sim.url}/sim/move", json={"instrument": "NSE:INFY", "percent": -4.5}, timeout=5)
        assert r.ok
        g = s.broker.get_gtt(gid)
        assert g.status is GttStatus.TRIGGERED and g.fired[0] == 0
        [sell] = sells_at_sim(kite)
        assert sell["order_id"] == g.fired[1].order_id and sell["meta"]["gtt"] == int(gid) and sell["tag"] is None
        # the update stream brings the order and its fill to the OMS, which books them to the position
        assert wait_for(lambda: s.book.net_quantity("NSE", "INFY", "CNC") == 0, every=lambda: sim.step(1), timeout=15)
        [adopted] = [o for o in s.book.orders.values() if o.source == "gtt"]
        assert adopted.broker_order_id == sell["order_id"] and adopted.strategy == "swing"
        assert wait_for(lambda: adopted.status is OrderStatus.FILLED)
        assert s.gtt.protections["B1"].state in ("triggered", "closed")
        rep = s.reconciler.run_once()
        assert rep.ok, rep.summary()
        trig = [e.payload for e in s.journal.events(types=(E.GTT_TRIGGERED,))]
        assert len(trig) == 1 and trig[0]["leg"] == "stop" and trig[0]["bracket_id"] == "B1"
    finally:
        s.close()


CHILD = r"""
import os, signal, sys, time
from decimal import Decimal
sys.path.insert(0, sys.argv[1])
import requests
from tests.integration.kite.test_kite_crash import open_session
from tradekit.model.order import OrderRequest
url = sys.argv[2]
s = open_session(*sys.argv[2:6])
s.start(reconcile_every=0)
end = time.time() + 20
while not (s.broker.stream is not None and s.broker.stream.connected) and time.time() < end:
    time.sleep(0.05)
s.submit(OrderRequest("NSE", "INFY", "BUY", 5, "MARKET", "CNC"), strategy="swing")
end = time.time() + 20
while s.book.net_quantity("NSE", "INFY", "CNC") != 5 and time.time() < end:
    requests.post(url + "/sim/step", json={"minutes": 1}, timeout=5)
    time.sleep(0.1)
last = Decimal(str(s.market.last_price("NSE:INFY") or s.broker.ltp(["NSE:INFY"])["NSE:INFY"]))
gid = s.gtt.protect("DRILL1", "NSE:INFY", 5, last * Decimal("0.97"), last * Decimal("1.05"), "CNC")
print(gid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_gtt_oco_survives_a_kill_9_and_still_protects_the_position(sim, data_dir, kite):  # noqa: F811
    p = subprocess.run([sys.executable, "-c", CHILD, ROOT, sim.url, sim.login_url, sim.ws_url, data_dir],
                       capture_output=True, text=True, timeout=90)
    assert p.returncode == -9, p.stderr[-3000:]
    gid = p.stdout.split()[0]
    assert gid != "None", p.stderr[-3000:]
    assert kite.get_gtt(int(gid))["status"] == "active"  # the session is dead; the GTT lives at the broker
    # while tradekit is down, the price falls through the stop: the sim's GTT fires, the position is sold
    requests.post(f"{sim.url}/sim/move", json={"instrument": "NSE:INFY", "percent": -3.5}, timeout=5).raise_for_status()
    sim.step(2)
    g = kite.get_gtt(int(gid))
    assert g["status"] == "triggered" and g["orders"][0]["result"]["order_result"]["status"] == "success"
    [sell] = sells_at_sim(kite)
    assert sell["status"] == "COMPLETE" and sell["filled_quantity"] == 5
    assert [h for h in kite.positions()["net"] if h["tradingsymbol"] == "INFY"][0]["quantity"] == 0
    # a new session starts, reconciles, and its book shows the exit — with no duplicate order
    s = open_session(sim.url, sim.login_url, sim.ws_url, data_dir)
    try:
        assert s.gtt.protections["DRILL1"].gtt_id == gid  # the mapping, rebuilt from the journal
        assert s.book.net_quantity("NSE", "INFY", "CNC") == 5  # what the journal knew at the kill
        s.start(reconcile_every=0)
        assert s.reconciler.last.ok, s.reconciler.last.summary()
        assert s.book.net_quantity("NSE", "INFY", "CNC") == 0
        [adopted] = [o for o in s.book.orders.values() if o.source == "gtt"]
        assert adopted.broker_order_id == sell["order_id"] and adopted.status is OrderStatus.FILLED
        assert adopted.strategy == "swing" and adopted.filled_quantity == 5
        findings = [e.payload for e in s.journal.events(types=(E.GTT_FINDING,))]
        assert [f["kind"] for f in findings] == ["triggered"] and findings[0]["bracket_id"] == "DRILL1"
        assert s.gtt.protections["DRILL1"].state == "closed"
        sim.step(1)
        s.reconciler.run_once()
        assert len(sells_at_sim(kite)) == 1 and len(kite.get_gtts()) == 1  # nothing sent twice, nothing re-placed
        assert [o for o in s.book.orders.values() if o.request.side is Side.SELL] == [adopted]
    finally:
        s.close()


def test_fixtures_parse_into_gtts():
    from tests.integration.kite.conftest import fixture_data
    from tradekit.brokers.kite.gtt import parse_gtt

    single, oco = (parse_gtt(d) for d in fixture_data("gtt_get_orders.json"))
    assert single.id == "112127" and single.status is GttStatus.ACTIVE and single.type.value == "single"
    assert single.request.trigger_values == (Decimal(702),) and single.request.legs[0].price == Decimal("702.5")
    assert oco.status is GttStatus.TRIGGERED and oco.fired[0] == 1
    res = oco.fired[1]
    assert res.ok is False and res.order_id is None and "lower circuit" in res.rejection_reason
    assert res.triggered_at == Decimal("103.7")


def test_the_sim_refuses_what_kite_refuses_and_disables_a_trigger_too_close(kite, sim):
    import kiteconnect.exceptions as kex

    sim.step(1)
    last = sim.market.get("NSE:INFY").last
    leg = {"transaction_type": "SELL", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": round(last * 0.9, 1)}
    with pytest.raises(kex.InputException, match="LIMIT"):
        kite.place_gtt(kite.GTT_TYPE_SINGLE, "INFY", "NSE", [round(last * 0.9, 1)], last, [{**leg, "order_type": "MARKET"}])
    with pytest.raises(kex.InputException, match="takes CNC, not MIS"):
        kite.place_gtt(kite.GTT_TYPE_SINGLE, "INFY", "NSE", [round(last * 0.9, 1)], last, [{**leg, "product": "MIS"}])
    with pytest.raises(kex.InputException, match="tradingsymbol"):
        kite.place_gtt(kite.GTT_TYPE_SINGLE, "NOPE", "NSE", [100.0], 100.0, [leg])
    with pytest.raises(kex.InputException, match="Invalid trigger id"):
        kite.get_gtt(999)
    near = kite.place_gtt(kite.GTT_TYPE_SINGLE, "INFY", "NSE", [round(last * 1.001, 1)], last,
                          [{**leg, "price": round(last * 1.001, 1)}])["trigger_id"]
    assert kite.get_gtt(near)["status"] == "disabled"  # Zerodha: placed within 0.25% of the last price
    sim.market.move("NSE:INFY", 5)
    assert kite.get_gtt(near)["status"] == "disabled" and not [o for o in kite.orders() if o["transaction_type"] == "SELL"]


def test_a_live_session_fetches_the_daily_history_of_its_holdings_for_var(sim, data_dir, kite):  # noqa: F811
    """Issue 16: VaR on real holdings — after login the session fetches each held instrument's daily bars
    from Kite's historical API into the data directory, and the pre-trade VaR model covers them."""
    from types import SimpleNamespace

    from tests.integration.kite.conftest import kite_config, secrets
    from tests.integration.kite.test_kite_crash import live_config
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.data.store import bars_file
    from tradekit.session import Session

    cfg = live_config(sim.url, sim.login_url, sim.ws_url, data_dir)
    cfg = cfg.model_copy(update={"risk": cfg.risk.model_copy(update={"var": cfg.risk.var.model_copy(
        update={"fetch_history": False, "limit": Decimal("1e9")})})})  # called by hand below; a VaR limit builds the model
    broker = KiteBroker(kite_config(SimpleNamespace(url=sim.url, login_url=sim.login_url, ws_url=sim.ws_url),
                                    timeout_seconds=0.5), secrets(), data_dir=data_dir)
    s = Session(cfg, broker=broker)  # the configured risk manager (its VaR model), not a pass-through gate
    try:
        s.start(reconcile_every=0)
        assert wait_for(lambda: s.broker.stream is not None and s.broker.stream.connected)
        last = Decimal(str(sim.market.get("NSE:INFY").last))
        px = (last * Decimal("1.01") / Decimal("0.1")).quantize(Decimal(1)) * Decimal("0.1")  # marketable, on the tick
        o = s.submit(OrderRequest("NSE", "INFY", "BUY", 5, "LIMIT", "CNC", price=px), strategy="swing")
        assert wait_for(lambda: s.book.net_quantity("NSE", "INFY", "CNC") == 5, every=lambda: sim.step(1), timeout=15), \
            (o.status, s.book.orders[o.client_order_id].status, s.book.orders[o.client_order_id].status_message)
        out = s.fetch_var_history()
        assert list(out) == ["NSE:INFY"] and "fetched" in out["NSE:INFY"], out
        assert bars_file(s.config.data_dir, "NSE:INFY", "1d").exists()
        vm = s.risk.gate.var_model
        assert vm is not None and "INFY" in vm.symbols
        [note] = [e.payload for e in s.journal.events(types=(E.NOTE,)) if e.payload.get("text") == "daily history for VaR"]
        assert note["var_coverage_pct"] == 100.0
        again = s.fetch_var_history()  # only the days it lacks: nothing the second time
        assert "nothing to fetch" in again["NSE:INFY"]
    finally:
        s.close()
