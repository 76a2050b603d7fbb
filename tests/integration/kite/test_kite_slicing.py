"""Orders above the freeze quantity on the Kite sandbox, through the official client:
Kite's ``autoslice=true`` served faithfully, and the OMS's own slices through KiteBroker."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.integration.kite.conftest import FAST, SYMBOLS, kite_config, request_token, secrets, wait_for
from tradekit.model.enums import Exchange, InstrumentType, Segment
from tradekit.model.instrument import Instrument

FUT, LOT, FREEZE = "NIFTY26DECFUT", 75, 1800
FKEY = f"NFO:{FUT}"
Q = 4500  # 2.5 × the freeze quantity


def future() -> Instrument:
    return Instrument(Exchange.NFO, FUT, 9001 * 256 + 2, tick_size=Decimal("0.10"), lot_size=LOT, segment=Segment.NFO_FUT,
                      instrument_type=InstrumentType.FUT, name="NIFTY", freeze_quantity=FREEZE, underlying="NIFTY",
                      exchange_token=9001)


def start_sim(capital=10**11):
    """The sandbox with a NIFTY future (freeze 1,800) priced at 24,000."""
    from tradekit.brokers.kite.sim.server import KiteSimServer
    from tradekit.market.instruments import InstrumentStore

    store = InstrumentStore.bundled()
    store.add([future()])
    server = KiteSimServer(port=0, symbols=SYMBOLS, limits=FAST, heartbeat_seconds=0.5, instruments=store,
                           capital=capital).start()
    with server.app._lock:
        server.broker.set_previous_close(FKEY, 24000.0)
        server.broker.on_tick(FKEY, server.market.now, 24000.0, 0)
    return server


@pytest.fixture
def fsim():
    server = start_sim()
    yield server
    server.stop()


def trade_at(sim, price: float, volume: int = 100_000) -> None:
    """A trade in the future a few seconds after now (orders rest from their arrival, latency included)."""
    with sim.app._lock:
        sim.broker.on_tick(FKEY, sim.market.now + timedelta(seconds=5), price, volume)
    sim.app.flush()  # the order updates out (ticker text frames, postbacks), as after a market step


def test_autoslice_through_the_official_client(fsim):
    from kiteconnect import KiteConnect
    from kiteconnect.exceptions import InputException

    kite = KiteConnect(fsim.api_key, root=fsim.url)
    kite.generate_session(request_token(fsim), "simsecret")
    data = kite.place_autoslice_order(variety="regular", exchange="NFO", tradingsymbol=FUT, transaction_type="BUY",
                                      quantity=Q, product="NRML", order_type="LIMIT", price=24010, tag="slicer1")
    parent, kids = data["order_id"], data["children"]
    assert len(kids) == 3 and all("order_id" in c for c in kids)
    ids = [c["order_id"] for c in kids]
    book = {o["order_id"]: o for o in kite.orders()}
    assert parent not in book  # the parent is no order of its own
    assert [book[i]["quantity"] for i in ids] == [1800, 1800, 900]
    for i in ids:
        assert book[i]["tag"] == "slicer1" and book[i]["tags"] == ["slicer1", "autoslice", f"autoslice:{parent}"]
    trade_at(fsim, 24000.0)
    assert wait_for(lambda: sum(t["quantity"] for t in kite.trades() if t["order_id"] in ids) == Q)
    assert all(o["status"] == "COMPLETE" for o in kite.orders() if o["order_id"] in ids)
    # Kite caps autoslice at 10 slices
    with pytest.raises(InputException, match="the limit is 10"):
        kite.place_autoslice_order(variety="regular", exchange="NFO", tradingsymbol=FUT, transaction_type="BUY",
                                   quantity=11 * 1800, product="NRML", order_type="LIMIT", price=24010)
    # a plain order above the freeze quantity is still refused, as at the exchange
    oid = kite.place_order(variety="regular", exchange="NFO", tradingsymbol=FUT, transaction_type="BUY", quantity=Q,
                           product="NRML", order_type="LIMIT", price=24010)
    row = [o for o in kite.orders() if o["order_id"] == oid][0]
    assert row["status"] == "REJECTED" and "freeze" in row["status_message"]


def test_autoslice_answers_a_slice_refused_for_funds_in_its_child_entry():
    from kiteconnect import KiteConnect

    sim = start_sim(capital=11_000_000)  # margin for two slices of 1,800, not for the third
    try:
        kite = KiteConnect(sim.api_key, root=sim.url)
        kite.generate_session(request_token(sim), "simsecret")
        kids = kite.place_autoslice_order(variety="regular", exchange="NFO", tradingsymbol=FUT, transaction_type="BUY",
                                          quantity=Q, product="NRML", order_type="LIMIT", price=24010)["children"]
        assert "order_id" in kids[0] and "order_id" in kids[1]
        err = kids[2]["error"]
        assert err["code"] == 400 and err["error_type"] == "MarginException" and err["message"].startswith("Insufficient funds")
    finally:
        sim.stop()


def test_the_oms_sends_an_order_above_the_freeze_quantity_as_slices_through_kite_broker(fsim, tmp_path):
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.config import load_config
    from tradekit.model import OrderRequest, OrderStatus
    from tradekit.session import Session
    from tradekit.store import EventType as E

    cfg = load_config(overrides={
        "mode": "live", "live": {"allowed": True}, "data_dir": str(tmp_path / "var"), "account": {"capital": 1e11},
        "approval": {"mode": "auto", "allow_auto_in_live": True},
        "risk": {"money": {"max_order_value_pct": None, "max_order_quantity": None}, "var": {"limit_pct": None},
                 "exposure": {"max_concentration_pct": None, "max_gross_exposure_pct": None,
                              "max_net_exposure_pct": None, "max_sector_pct": None},
                 "loss": {"adverse_move_pct": None}},
    })
    broker = KiteBroker(kite_config(fsim), secrets(), data_dir=tmp_path / "var")
    broker.complete_login(request_token(fsim))
    s = Session(cfg, broker=broker, clock=fsim.market.clock)
    try:
        s.instruments.add([future()])
        s.start(reconcile_every=0)
        assert wait_for(lambda: broker.stream is not None and broker.stream.connected)
        s.oms.mark(FKEY, 24000)
        parent = s.submit(OrderRequest("NFO", FUT, "BUY", Q, "LIMIT", "NRML", price=Decimal("24010")), strategy="fno")
        assert parent.status is OrderStatus.SLICED
        kids = [s.book.orders[p["client_order_id"]] for p in (e.payload for e in s.journal.events(types=(E.ORDER_CREATED,)))
                if p.get("parent_id") == parent.client_order_id]
        assert [k.request.quantity for k in kids] == [1800, 1800, 900]
        at_sim = [tag for _oid, tag in fsim.app.placements]
        assert at_sim == [k.client_order_id for k in kids]  # three orders at Kite, each tagged with its own id
        trade_at(fsim, 24000.0)
        assert wait_for(lambda: all(k.status is OrderStatus.FILLED for k in kids), every=lambda: s.service()), \
            ([(k.status, k.status_message) for k in kids], [(r.status, r.filled_quantity, r.status_message) for r in fsim.broker.orders()])
        assert wait_for(lambda: bool(list(s.journal.events(types=(E.SLICE_COMPLETED,)))), every=lambda: s.service())
        done = [e.payload for e in s.journal.events(types=(E.SLICE_COMPLETED,))][0]
        assert done["status"] == "COMPLETE" and done["filled_quantity"] == Q
        assert s.book.position("fno", "NFO", FUT, "NRML").quantity == Q
    finally:
        s.close()
