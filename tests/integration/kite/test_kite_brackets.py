"""Brackets in a live session on the Kite sandbox, through the official client: the entry approved
once by a person, children placed on its fill without a second approval, target hit → stop
cancelled; a restart mid-bracket (close the session, open a new one on the same journal) that goes
on managing it, stop hit → target cancelled; a kill switch that takes the group down."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.integration.kite.conftest import kite_config, request_token, secrets, wait_for
from tradekit.brokers.kite.ratelimit import governor
from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.order import OrderRequest, OrderStatus
from tradekit.store.events import EventType as E

pytestmark = pytest.mark.slow
K = "NSE:INFY"


def live_session(sim, tmp_path, *, login: bool):
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.config import load_config
    from tradekit.session import Session

    cfg = load_config(overrides={
        "mode": "live", "live": {"allowed": True}, "data_dir": str(tmp_path / "var"),
        "approval": {"mode": "manual"},  # live: a person approves the entry; the group's approval covers the children
        "execution": {"unknown_max_lookups": 2, "unknown_grace_seconds": 0},
        "risk": {"breakers": {"volatility_ratio": 1000, "volatility_move_pct": None}},
    })
    broker = KiteBroker(kite_config(sim, timeout_seconds=1.0), secrets(), data_dir=tmp_path / "var")
    if login:
        broker.complete_login(request_token(sim))
    s = Session(cfg, broker=broker, clock=sim.market.clock)
    s.start(reconcile_every=0)
    assert wait_for(lambda: broker.stream is not None and broker.stream.connected)
    return s


def kids(s, b, role):
    return [s.book.orders[c] for c, r in b.children.items() if r == role]


def settle(sim, s, cond, minutes=6):
    """Step the sandbox a minute at a time until ``cond`` holds (the order stream brings the fills)."""
    for _ in range(minutes):
        if wait_for(cond, timeout=1.5, every=s.service):
            return True
        sim.step(1)
    return wait_for(cond, timeout=3, every=s.service)


def test_bracket_life_and_restart_on_the_sandbox(sim, tmp_path):
    governor().min_backoff = 0.05
    sim.step(2)
    s = live_session(sim, tmp_path, login=True)
    last = s.oms.last_price(K) or Decimal(str(sim.market.get(K).last))
    qty = 10
    b = s.brackets.submit(OrderRequest(Exchange.NSE, "INFY", Side.BUY, qty, OrderType.MARKET, Product.MIS), strategy="br",
                          stop={"percent": 2}, targets=[{"percent": 1, "share": 1}], reference_price=last)
    entry = s.book.orders[b.bracket_id]
    assert entry.status is OrderStatus.PENDING_APPROVAL and not b.children
    assert s.oms.approve(b.bracket_id, by="trader", reason="bracket ok").ok
    assert settle(sim, s, lambda: entry.status is OrderStatus.FILLED and len(b.children) == 2)
    (stop,), (tgt,) = kids(s, b, "stop"), kids(s, b, "target:0")
    assert wait_for(lambda: stop.status.is_working and tgt.status.is_working, every=s.service)
    # the children went out on the group's approval, not queued for a second one
    assert stop.approval_mode == "auto" and tgt.approval_mode == "auto"
    assert not [o for o in s.book.orders.values() if o.status is OrderStatus.PENDING_APPROVAL]
    assert stop.request.quantity == qty and stop.request.order_type is OrderType.SLM
    at_sandbox = {o.tag: o for o in s.broker.orders()}
    assert at_sandbox[stop.client_order_id].status == "TRIGGER PENDING" and at_sandbox[tgt.client_order_id].status == "OPEN"

    # a target hit: the stop is cancelled at the sandbox, the group closes flat
    sim.market.move(K, 1.6)
    assert settle(sim, s, lambda: b.closed is not None), s.brackets.describe(b.bracket_id)
    assert b.closed == "targets filled" and tgt.status is OrderStatus.FILLED
    assert wait_for(lambda: stop.status is OrderStatus.CANCELLED, every=s.service)
    assert {o.tag: o.status for o in s.broker.orders()}[stop.client_order_id] == "CANCELLED"

    # a second bracket, and a restart in the middle of it
    last = s.oms.last_price(K)
    b2 = s.brackets.submit(OrderRequest(Exchange.NSE, "INFY", Side.BUY, qty, OrderType.MARKET, Product.MIS), strategy="br",
                           stop={"percent": 1}, targets=[{"percent": 3, "share": 1}], reference_price=last)
    assert s.oms.approve(b2.bracket_id, by="trader", reason="again").ok
    assert settle(sim, s, lambda: len(b2.children) == 2 and all(o.status.is_working for o in kids(s, b2, "stop")))
    bid, children = b2.bracket_id, dict(b2.children)
    s.close()

    s2 = live_session(sim, tmp_path, login=False)  # the token file carries the login over
    r = s2.brackets.brackets[bid]
    assert r.closed is None and r.children == children
    sim.market.move(K, -2.5)  # through the stop
    assert settle(sim, s2, lambda: r.closed is not None), s2.brackets.describe(bid)
    assert r.closed == "stopped out"
    (tgt2,) = kids(s2, r, "target:0")
    assert wait_for(lambda: tgt2.status is OrderStatus.CANCELLED, every=s2.service)
    assert s2.book.net_quantity(Exchange.NSE, "INFY") == 0
    assert all(p.quantity == 0 for p in s2.broker.positions())
    assert not [o for o in s2.broker.orders() if o.status in ("OPEN", "TRIGGER PENDING")]

    # a third bracket, and the kill switch takes its whole group down
    b3 = s2.brackets.submit(OrderRequest(Exchange.NSE, "INFY", Side.BUY, qty, OrderType.MARKET, Product.MIS), strategy="br",
                            stop={"percent": 1}, targets=[{"percent": 3, "share": 1}], reference_price=s2.oms.last_price(K))
    assert s2.oms.approve(b3.bracket_id, by="trader", reason="third").ok
    assert settle(sim, s2, lambda: len(b3.children) == 2 and all(o.status.is_working for o in kids(s2, b3, "stop")))
    seq0 = s2.book.last_seq
    s2.kill("drill", by="test")
    ok = settle(sim, s2, lambda: b3.closed is not None and s2.book.net_quantity(Exchange.NSE, "INFY") == 0)
    if not ok:
        (tmp_path / "events.txt").write_text("\n".join(f"{e.type} {e.payload}" for e in s2.journal.events() if e.seq > seq0))
        print("EVENTS AT", tmp_path / "events.txt")
    assert ok, (s2.brackets.describe(b3.bracket_id), s2.book.net_quantity(Exchange.NSE, "INFY"),
                "\n".join(f"{e.type} {e.payload}" for e in s2.journal.events() if e.seq > seq0 and e.type != E.MARK))
    assert b3.closed == "taken down by kill_switch"
    assert wait_for(lambda: not [o for o in s2.broker.orders() if o.status in ("OPEN", "TRIGGER PENDING")], every=s2.service)
    assert all(p.quantity == 0 for p in s2.broker.positions())
    taken = [e.payload["bracket_id"] for e in s2.journal.events(types=(E.BRACKET_TAKEN_DOWN,))]
    assert taken == [b3.bracket_id]
    s2.close()
