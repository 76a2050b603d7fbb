"""Reconciliation against the sandbox, with orders placed behind tradekit's back."""

from __future__ import annotations

import pytest
from kiteconnect import KiteConnect

from tests.integration.kite.conftest import request_token
from tradekit.brokers.kite.reconcile import Reconciler
from tradekit.clock import RealClock
from tradekit.errors import TradingHalted
from tradekit.model.order import OrderRequest, OrderStatus
from tradekit.store import Book
from tradekit.store.events import EventType as E


@pytest.fixture
def oms(broker, journal, sim):
    from tradekit.execution.oms import OrderManager

    sim.step(1)
    return OrderManager(journal=journal, book=Book(), broker=broker, clock=RealClock(), mode="live",
                        allow_auto_in_live=True, unknown_max_lookups=2, unknown_grace_seconds=0)


@pytest.fixture
def outsider(sim):
    """Another app session (a phone, Kite web, a script) on the same account."""
    k = KiteConnect(sim.api_key, root=sim.url)
    k.generate_session(request_token(sim), "simsecret")
    return k


def test_in_sync_after_a_normal_day_including_missed_updates(oms, broker, sim, journal):
    a = oms.submit(OrderRequest("NSE", "INFY", "BUY", 5, "MARKET", "MIS"), strategy="s1")
    oms.submit(OrderRequest("NSE", "SBIN", "SELL", 3, "MARKET", "MIS"), strategy="s2")
    sim.step(2)  # fills happen; no update stream is running, so the book has not heard of them
    assert oms.book.orders[a.client_order_id].status is not OrderStatus.FILLED
    rec = Reconciler(broker, oms.book, oms=oms, emit=lambda t, p: journal.append(t, p))
    rep = rec.run_once()
    assert rep.ok, rep.summary()
    assert rep.synced >= 2 and "in sync" in rep.summary()
    assert oms.book.orders[a.client_order_id].status is OrderStatus.FILLED
    assert oms.book.net_quantity("NSE", "SBIN") == -3
    ev = list(journal.events(types=(E.RECONCILIATION,)))[-1]
    assert ev.payload["ok"] is True and ev.payload["mismatches"] == []


def test_an_external_order_is_flagged_blocks_trading_and_is_adopted_when_acknowledged(oms, broker, sim, outsider):
    oms.submit(OrderRequest("NSE", "INFY", "BUY", 2, "MARKET", "MIS"), strategy="s1")
    ext = outsider.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                               quantity=3, product="MIS", order_type="MARKET", market_protection=-1)
    sim.step(1)
    rec = Reconciler(broker, oms.book, oms=oms)
    rep = rec.run_once()
    assert not rep.ok
    kinds = {d.kind for d in rep.differences}
    assert kinds == {"external_order", "position"}
    assert rep.external_orders == [ext]
    pos = [d for d in rep.differences if d.kind == "position"][0]
    assert (pos.ours, pos.theirs) == (2, 5)
    with pytest.raises(TradingHalted) as ei:
        oms.submit(OrderRequest("NSE", "SBIN", "BUY", 1, "MARKET", "MIS"), strategy="s1")
    assert ext in str(ei.value) and "not placed by tradekit" in str(ei.value)
    # risk-reducing actions are still allowed while halted
    rep = rec.acknowledge(ext)
    assert rep.ok, rep.summary()
    assert oms.book.net_quantity("NSE", "INFY") == 5
    assert any(p.strategy == "EXTERNAL" and p.quantity == 3 for p in oms.book.positions.values())
    oms.submit(OrderRequest("NSE", "SBIN", "BUY", 1, "MARKET", "MIS"), strategy="s1")  # unblocked


def test_an_external_order_with_a_foreign_tag_and_a_cancel_behind_our_back(oms, broker, sim, outsider):
    px = round(sim.market.get("NSE:INFY").last * 0.95, 1)
    mine = oms.submit(OrderRequest("NSE", "INFY", "BUY", 2, "LIMIT", "MIS", price=px), strategy="s1")
    # someone cancels our working order from Kite web, and places their own tagged order
    outsider.cancel_order("regular", oms.book.orders[mine.client_order_id].broker_order_id)
    ext = outsider.place_order(variety="regular", exchange="NSE", tradingsymbol="SBIN", transaction_type="BUY",
                               quantity=1, product="CNC", order_type="LIMIT", price=round(sim.market.get("NSE:SBIN").last * 0.9, 1),
                               tag="WEBORDER")
    rec = Reconciler(broker, oms.book, oms=oms)
    rep = rec.run_once()
    assert oms.book.orders[mine.client_order_id].status is OrderStatus.CANCELLED  # synced
    assert [d.kind for d in rep.differences] == ["external_order"] and "WEBORDER" in rep.summary()
    assert rec.acknowledge(ext).ok


def test_periodic_reconciler_runs_in_the_background(oms, broker, sim):
    import time

    rec = Reconciler(broker, oms.book, oms=oms, interval=0.2)
    reports = []
    rec.on_report.append(reports.append)
    rec.start()
    try:
        deadline = time.time() + 15  # a bounded wait for two runs 0.2 s apart (a loaded box runs them late)
        while len(reports) < 2 and time.time() < deadline:
            time.sleep(0.05)
    finally:
        rec.stop()
    assert len(reports) >= 2 and all(r.ok for r in reports)
