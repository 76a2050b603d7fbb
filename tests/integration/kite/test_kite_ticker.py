"""The ticker: the official KiteTicker runs in a child process (its reactor runs once per
process); ticks, order updates, reconnect + resubscribe, the silence watchdog, 403 retries."""

from __future__ import annotations

import threading

import pytest

from tests.integration.kite.conftest import wait_for
from tradekit.clock import RealClock
from tradekit.model.order import OrderRequest, OrderStatus
from tradekit.store import Book

pytestmark = pytest.mark.slow




@pytest.fixture
def make_stream(broker):
    from tradekit.brokers.kite.stream import KiteStream

    made = []

    def make(watchdog_seconds: float = 8.0):
        ticks, orders, events = [], [], []
        s = KiteStream(broker.api_key, broker.kite.access_token, broker.config.ticker_url, on_ticks=ticks.extend,
                       on_order=orders.append, on_event=lambda n, i: events.append(n), watchdog_seconds=watchdog_seconds,
                       keys={408065: "NSE:INFY", 779521: "NSE:SBIN", 256265: "NSE:NIFTY 50"})
        s.ticks, s.orders, s.events = ticks, orders, events
        made.append(s.start())
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def stream(make_stream):
    return make_stream()


def test_ticks_in_every_mode_and_order_updates(stream, sim, kite):
    sim.step(1)
    stream.subscribe([408065], "full")
    stream.subscribe([779521], "ltp")
    stream.subscribe([256265], "quote")
    assert wait_for(lambda: stream.connected and len(sim.hub.clients) == 1)
    assert wait_for(lambda: sim.hub.subscriptions() == [{408065: "full", 779521: "ltp", 256265: "quote"}])
    frames = stream.frames
    assert wait_for(lambda: stream.frames >= frames + 2, timeout=10)  # heartbeats while the market is idle
    stream.ticks.clear()
    sim.step(1)
    assert wait_for(lambda: {t.key for t in stream.ticks} >= {"NSE:INFY", "NSE:SBIN", "NSE:NIFTY 50"})
    by = {t.key: t for t in stream.ticks}
    assert by["NSE:INFY"].mode == "full" and len(by["NSE:INFY"].bids) == 5
    assert by["NSE:SBIN"].mode == "ltp" and by["NSE:NIFTY 50"].tradable is False
    # the sandbox ticks along the bar's path: its last tick reaches the bar's close
    assert wait_for(lambda: [t for t in stream.ticks if t.key == "NSE:INFY"][-1].last_price
                    == sim.market.get("NSE:INFY").last)
    oid = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY", quantity=2,
                           product="MIS", order_type="MARKET", market_protection=-1, tag="WS1")
    sim.step(1)
    assert wait_for(lambda: any(o["order_id"] == oid and o["status"] == "COMPLETE" for o in stream.orders))
    assert all(o["tag"] == "WS1" and o["checksum"] for o in stream.orders)
    stream.unsubscribe([779521])
    assert wait_for(lambda: sim.hub.subscriptions() == [{408065: "full", 256265: "quote"}])


def test_reconnect_and_resubscribe_after_the_server_drops_us(stream, sim):
    sim.step(1)
    stream.subscribe([408065], "full")
    assert wait_for(lambda: sim.hub.subscriptions() == [{408065: "full"}])
    sim.hub.drop_all(abort=True)  # TCP gone without a close frame
    assert wait_for(lambda: stream.opens >= 2 and sim.hub.subscriptions() == [{408065: "full"}], timeout=12)
    sim.hub.drop_all(abort=False)  # a clean close: the client retries as well
    assert wait_for(lambda: stream.opens >= 3 and sim.hub.subscriptions() == [{408065: "full"}], timeout=12)
    stream.ticks.clear()
    sim.step(1)
    assert wait_for(lambda: any(t.mode == "full" for t in stream.ticks))
    assert stream.restarts == 0  # the client's own reconnect did it


def test_the_watchdog_restarts_a_silent_connection(make_stream, sim):
    stream = make_stream(watchdog_seconds=1.5)
    stream.subscribe([408065], "quote")
    assert wait_for(lambda: stream.connected)
    sim.faults.silence_ticker(4.0)  # the socket stays open, nothing arrives (not even heartbeats)
    assert wait_for(lambda: stream.restarts >= 1, timeout=6)
    assert "restart" in stream.events
    assert wait_for(lambda: not sim.faults.ticker_silent and stream.connected, timeout=8)
    stream.ticks.clear()
    sim.step(1)
    assert wait_for(lambda: any(t.key == "NSE:INFY" for t in stream.ticks), timeout=6)


def test_a_refused_handshake_is_retried(broker, sim):
    from tradekit.brokers.kite.stream import KiteStream

    sim.faults.refuse_ticker(1)
    s = KiteStream(broker.api_key, broker.kite.access_token, broker.config.ticker_url, watchdog_seconds=10).start()
    try:
        assert wait_for(lambda: s.connected, timeout=10)
        assert sim.hub.refused == 1
    finally:
        s.stop()


def test_no_callback_runs_after_stop_returns(broker, sim):
    """A frame read just before stop: stop returns only once its callback has finished, so the owner
    can close what the callbacks write to (the session closes its tick store right after; a tick the
    hub counted as accepted must not land in a closed store)."""
    from tradekit.brokers.kite.stream import KiteStream

    inside, release, order = threading.Event(), threading.Event(), []

    def on_ticks(ticks):
        if not inside.is_set():
            inside.set()
            release.wait(30)
            order.append("callback done")

    s = KiteStream(broker.api_key, broker.kite.access_token, broker.config.ticker_url, on_ticks=on_ticks,
                   keys={408065: "NSE:INFY"}, watchdog_seconds=10).start()
    try:
        s.subscribe([408065], "quote")  # answered with a snapshot: a frame with a packet
        assert wait_for(inside.is_set, 15)
        child = s._proc
        stopper = threading.Thread(target=lambda: (s.stop(), order.append("stop returned")), daemon=True)
        stopper.start()
        assert wait_for(lambda: child.poll() is not None, 15)  # the child has ended; the callback is still inside
        stopper.join(0.5)  # (a stop that does not wait returns now)
        release.set()
        stopper.join(15)
        assert order == ["callback done", "stop returned"]
    finally:
        release.set()
        s.stop()


def test_the_ticker_child_has_no_secret_on_its_command_line(stream, broker):
    """``ps`` shows every user's command lines: the key and the token go down a pipe instead."""
    import os

    assert wait_for(lambda: stream.connected)
    pid = stream._proc.pid
    cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode()
    environ = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
    for secret in (broker.api_key, broker.kite.access_token):
        assert secret not in cmdline
        assert secret not in environ
    assert "tickerproc" in cmdline and os.getpid() != pid


def test_order_updates_move_the_oms_and_resolve_an_unknown_order(broker, sim, journal):
    """The update stream resolves an UNKNOWN order when the tag lookup itself failed."""
    from tradekit.execution.oms import OrderManager

    sim.step(1)
    oms = OrderManager(journal=journal, book=Book(), broker=broker, clock=RealClock(), mode="live", allow_auto_in_live=True,
                       unknown_max_lookups=5, unknown_grace_seconds=60)
    broker.start_updates()
    assert wait_for(lambda: broker.stream.connected)
    a = oms.submit(OrderRequest("NSE", "INFY", "BUY", 3, "MARKET", "MIS"), strategy="s")
    sim.step(1)
    assert wait_for(lambda: oms.book.orders[a.client_order_id].status is OrderStatus.FILLED)
    assert wait_for(lambda: oms.book.orders[a.client_order_id].filled_quantity == 3)  # trades fetched on the update
    sim.faults.drop(1, r"^POST /orders/regular$", when="after")        # placed, answer lost
    sim.faults.server_error(1, r"^GET /orders$", status=503)            # and the lookup fails too
    b = oms.submit(OrderRequest("NSE", "SBIN", "BUY", 2, "MARKET", "MIS"), strategy="s")
    assert oms.book.orders[b.client_order_id].status is OrderStatus.UNKNOWN
    sim.step(1)
    assert wait_for(lambda: oms.book.orders[b.client_order_id].status is OrderStatus.FILLED)
    assert oms.unknown_orders == [] and sim.app.count_by_tag(b.client_order_id) == 1


def test_postbacks_are_verified_and_move_the_oms(sim, tmp_path, journal):
    import json
    import urllib.request

    from tests.integration.kite.conftest import kite_config, request_token, secrets
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.brokers.kite.config import KitePostbackConfig
    from tradekit.execution.oms import OrderManager

    b = KiteBroker(kite_config(sim, order_updates="postback", postback=KitePostbackConfig(enabled=True)), secrets(),
                   data_dir=tmp_path)
    b.complete_login(request_token(sim))
    b.start_updates()
    try:
        sim.app.postback_url = b.postbacks.url
        sim.step(1)
        oms = OrderManager(journal=journal, book=Book(), broker=b, clock=RealClock(), mode="live", allow_auto_in_live=True)
        a = oms.submit(OrderRequest("NSE", "INFY", "BUY", 1, "MARKET", "MIS"), strategy="s")
        sim.step(1)
        assert wait_for(lambda: oms.book.orders[a.client_order_id].status is OrderStatus.FILLED)
        assert b.postbacks.accepted >= 1
        forged = json.dumps({"order_id": "1", "order_timestamp": "2026-01-01 09:15:00", "checksum": "0" * 64,
                             "status": "COMPLETE"}).encode()
        req = urllib.request.Request(b.postbacks.url, data=forged, headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(req, timeout=3)
        assert ei.value.code == 400 and b.postbacks.refused == 1
    finally:
        b.close()
