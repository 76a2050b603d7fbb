"""Fault injection through the real OMS: no order is ever duplicated, every unknown is resolved."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from tests.integration.kite.conftest import kite_config, request_token, secrets, wait_for
from tradekit.brokers.kite.ratelimit import governor
from tradekit.brokers.kite.reconcile import Reconciler
from tradekit.clock import RealClock
from tradekit.errors import AuthExpired, TradingHalted
from tradekit.model.order import OrderRequest, OrderStatus
from tradekit.store import Book
from tradekit.store.events import EventType as E

PLACE = r"^POST /orders/regular$"


@pytest.fixture
def fast_broker(sim, tmp_path):
    from tradekit.brokers.kite.broker import KiteBroker

    governor().min_backoff = 0.05  # keep the 429 backoff short in tests
    b = KiteBroker(kite_config(sim, timeout_seconds=0.5), secrets(), data_dir=tmp_path / "var")
    b.complete_login(request_token(sim))
    yield b
    b.close()


@pytest.fixture
def oms(fast_broker, journal, sim):
    from tradekit.execution.oms import OrderManager

    sim.step(1)
    book = Book()
    # a request is on its way at most 0.5 s (the client's timeout); the broker acts within 0.3 s of it
    return OrderManager(journal=journal, book=book, broker=fast_broker, clock=RealClock(), mode="live",
                        allow_auto_in_live=True, unknown_max_lookups=2, unknown_grace_seconds=0,
                        placement_timeout_seconds=0.5, broker_processing_seconds=0.3)


def buy(qty=1):
    return OrderRequest("NSE", "INFY", "BUY", qty, "MARKET", "MIS")


def settle(oms, sim, broker, timeout=5.0):
    """Resolve unknowns by tag (until each is found or its deadline has passed) and sync statuses."""
    end = time.monotonic() + timeout
    while True:
        oms.resolve_unknown()
        if not oms.unknown_orders or time.monotonic() > end:
            break
        time.sleep(0.05)
    sim.step(1)
    Reconciler(broker, oms.book, oms=oms).run_once()


def no_duplicates(sim):
    counts = Counter(t for _, t in sim.app.placements)
    assert all(n == 1 for n in counts.values()), f"duplicated at the server: {[t for t, n in counts.items() if n > 1]}"


@pytest.mark.parametrize("fault,placed,final", [
    (("status", dict(status=500, when="before")), 0, OrderStatus.REJECTED),    # 5xx, nothing done: unknown -> not found
    (("status", dict(status=500, when="after")), 1, OrderStatus.FILLED),       # 5xx after placing: unknown -> found
    (("status", dict(status=503, when="after", error_type="NetworkException")), 1, OrderStatus.FILLED),
    (("status", dict(status=502, when="after", body="success")), 1, OrderStatus.FILLED),  # the client's 5xx-success trap
    (("status", dict(status=504, when="after", error_type="DataException")), 1, OrderStatus.FILLED),
    (("drop", dict(when="after")), 1, OrderStatus.FILLED),                     # connection dropped after sending
    (("drop", dict(when="before")), 0, OrderStatus.REJECTED),
    (("slow", dict(delay=1.0, when="after")), 1, OrderStatus.FILLED),          # read timeout, order placed
    (("no_content_type", dict(when="after")), 1, OrderStatus.FILLED),          # the client's KeyError trap
    (("no_error_type", dict(status=400)), 0, OrderStatus.REJECTED),            # the client's TypeError trap, a 400
    (("status", dict(status=429, error_type="NetworkException", times=2)), 1, OrderStatus.FILLED),  # retried: 429 = not done
    (("status", dict(status=429, error_type="NetworkException", times=5)), 0, OrderStatus.REJECTED),  # retries used up
], ids=["500-before", "500-after", "503-after", "502-success-body", "504-data", "drop-after", "drop-before",
        "timeout-after", "no-content-type", "no-error-type", "429-retried", "429-exhausted"])
def test_placement_faults_never_duplicate_and_always_resolve(oms, sim, fast_broker, journal, fault, placed, final):
    kind, kw = fault
    times = kw.pop("times", 1)
    sim.faults.add(kind, PLACE, times, **kw)
    order = oms.submit(buy(), strategy="t")
    settle(oms, sim, fast_broker)
    cid = order.client_order_id
    assert sim.app.count_by_tag(cid) == placed
    assert oms.unknown_orders == []
    assert oms.book.orders[cid].status is final
    no_duplicates(sim)
    went_unknown = any(e.payload["client_order_id"] == cid for e in journal.events(types=(E.ORDER_UNKNOWN,)))
    ambiguous = kind in ("drop", "slow", "no_content_type") or (kind == "status" and kw["status"] >= 500 and kw.get("body") != "success")
    assert went_unknown == ambiguous


def test_token_expiry_mid_session_refuses_and_blocks(oms, sim):
    sim.expire_tokens()
    with pytest.raises(AuthExpired, match="log in again"):
        oms.submit(buy(), strategy="t")
    assert sim.app.placements == []
    with pytest.raises(TradingHalted, match="log in again"):
        oms.submit(buy(), strategy="t")


def test_async_rms_reject_reaches_the_book(oms, sim, fast_broker):
    sim.app.reject_next_orders(1, "RMS:Margin Exceeds, Required:100, Available:0")
    order = oms.submit(buy(), strategy="t")
    settle(oms, sim, fast_broker)
    o = oms.book.orders[order.client_order_id]
    assert o.status is OrderStatus.REJECTED and "Margin Exceeds" in (o.status_message or "")


def test_random_fault_storm(oms, sim, fast_broker):
    """Thirty orders, a random fault on most placements: the server holds each tag at most once,
    nothing stays unknown, and the book reconciles to zero differences."""
    rng = random.Random(20261124)
    menu = [
        ("status", dict(status=500, when="before")), ("status", dict(status=500, when="after")),
        ("status", dict(status=502, when="after", body="success")), ("drop", dict(when="after")),
        ("drop", dict(when="before")), ("no_content_type", dict(when="after")),
        ("status", dict(status=429, error_type="NetworkException")), None, None,
    ]
    cids = []
    for i in range(30):
        f = rng.choice(menu)
        if f is not None:
            sim.faults.add(f[0], PLACE, 1, **f[1])
        cids.append(oms.submit(buy(rng.randint(1, 5)), strategy="storm").client_order_id)
        if i % 7 == 0:
            sim.step(1)
    settle(oms, sim, fast_broker)
    no_duplicates(sim)
    assert oms.unknown_orders == []
    for cid in cids:
        assert sim.app.count_by_tag(cid) <= 1
        st = oms.book.orders[cid].status
        assert st in (OrderStatus.FILLED, OrderStatus.REJECTED), (cid, st)
        assert (st is OrderStatus.FILLED) == (sim.app.count_by_tag(cid) == 1)
    rep = Reconciler(fast_broker, oms.book, oms=oms).run_once()
    assert rep.ok, rep.summary()


def test_a_placement_the_broker_holds_past_the_timeout_is_not_concluded_not_placed(fast_broker, journal, sim):
    """Issue 13.3: the broker holds the request 1.5 s (the client gives up after 0.5 s), then places it.

    The OMS keeps looking the tag up until sent + timeout + the broker's processing window, so
    it finds the order when it lands: FILLED, never REJECTED first, and the book reconciles.
    """
    from tradekit.execution.oms import OrderManager

    sim.step(1)
    oms = OrderManager(journal=journal, book=Book(), broker=fast_broker, clock=RealClock(), mode="live",
                       allow_auto_in_live=True, unknown_max_lookups=2, unknown_grace_seconds=0,
                       placement_timeout_seconds=0.5, broker_processing_seconds=3.0)
    sim.faults.add("slow", PLACE, 1, delay=1.5, when="before")
    order = oms.submit(buy(), strategy="t")
    assert order.status is OrderStatus.UNKNOWN
    outcomes = []
    end = time.monotonic() + 6
    while oms.unknown_orders and time.monotonic() < end:
        outcomes.append(oms.resolve_unknown().get(order.client_order_id))
        time.sleep(0.1)
    assert "not placed" not in outcomes and outcomes[-1].startswith("found")
    settle(oms, sim, fast_broker)
    assert order.status is OrderStatus.FILLED and sim.app.count_by_tag(order.client_order_id) == 1
    statuses = [e.payload.get("status") for e in journal.events(types=(E.ORDER_UPDATE,))]
    assert "REJECTED" not in statuses
    rep = Reconciler(fast_broker, oms.book, oms=oms).run_once()
    assert rep.ok, rep.summary()


def test_a_late_order_of_ours_concluded_not_placed_is_adopted_never_external(fast_broker, journal, sim):
    """Issue 13.3: even when the window was set too short and the order was concluded not placed,
    the broker order carrying its tag is adopted as that order (fills booked), not reported external."""
    from tradekit.execution.oms import OrderManager

    sim.step(1)
    oms = OrderManager(journal=journal, book=Book(), broker=fast_broker, clock=RealClock(), mode="live",
                       allow_auto_in_live=True, unknown_max_lookups=1, unknown_grace_seconds=0,
                       placement_timeout_seconds=0.0, broker_processing_seconds=0.0)
    sim.faults.add("slow", PLACE, 1, delay=1.2, when="before")
    order = oms.submit(buy(2), strategy="t")
    assert order.status is OrderStatus.REJECTED  # concluded at once: the window is zero
    # the held request lands (1.2 s after it was sent; waited for, not slept: a loaded server resumes late)
    assert wait_for(lambda: sim.app.count_by_tag(order.client_order_id) == 1, 15)
    sim.step(1)
    rec = Reconciler(fast_broker, oms.book, oms=oms)
    rep = rec.run_once()
    assert rep.ok, rep.summary()
    assert rep.external_orders == []
    assert order.status is OrderStatus.FILLED and order.filled_quantity == 2
    assert oms.book.net_quantity("NSE", "INFY") == 2
    adopted = [e.payload for e in journal.events(types=(E.ORDER_UPDATE,)) if e.payload.get("adopted_late")]
    assert len(adopted) == 1 and adopted[0]["client_order_id"] == order.client_order_id
    rebuilt = Book.rebuild(journal.events())  # the adoption replays
    assert rebuilt.snapshot() == oms.book.snapshot()
