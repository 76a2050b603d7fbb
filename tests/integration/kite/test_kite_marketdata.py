"""A live session sees the market: the Kite sandbox's ticker feeds the market-data hub through
the official client, and prices reach the OMS, the risk manager, the journal and approvals."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import requests

from tests.integration.kite.conftest import kite_config, request_token, secrets, wait_for
from tradekit.brokers.kite.ratelimit import governor
from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.order import OrderStatus
from tradekit.model.signal import Signal
from tradekit.store.events import EventType as E

pytestmark = pytest.mark.slow




def live_session(sim, tmp_path, *, approval="auto", market_data=None, risk=None, watchdog=10.0):
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.config import load_config
    from tradekit.session import Session

    governor().min_backoff = 0.05
    over = {"mode": "live", "live": {"allowed": True}, "data_dir": str(tmp_path / "var"),
            "approval": {"mode": approval, "allow_auto_in_live": True},
            "market_data": {"mark_interval_seconds": 0, "quote_wait_seconds": 3, **(market_data or {})}}
    if risk:
        over["risk"] = risk
    cfg = load_config(overrides=over)
    broker = KiteBroker(kite_config(sim, timeout_seconds=2.0, watchdog_seconds=watchdog), secrets(),
                        data_dir=tmp_path / "var")
    broker.complete_login(request_token(sim))
    s = Session(cfg, broker=broker, clock=sim.market.clock)
    s.start(reconcile_every=0)
    assert wait_for(lambda: broker.stream is not None and broker.stream.connected)
    return s


def cycle(s):
    """One turn of the live loop (run_realtime): the hub's and the risk manager's timed work."""
    s.poll()
    s.market.poll()
    s.risk.poll(s.clock.now(), s.book, market_open=True)


def step(sim, s, n=1):
    """Release ``n`` market minutes and wait until the session's hub has their ticks.

    A minute goes out as one frame per tick step, each with a packet for every instrument the
    session's connection subscribed: the hub has the minute when it has read that many more
    packets (any packet after the step, a heartbeat say, does not mean the minute's last frame
    has arrived; on a loaded machine the frames can still be on their way)."""
    for _ in range(n):
        subs = sim.hub.subscriptions()
        tokens = set(subs[0]) if len(subs) == 1 else None
        seen = s.market.counts["ticks"]
        released = sim.step(1)
        t = sim.market.clock.now()
        expected = None if tokens is None else sum(r.series.token in tokens for minute in released for r in minute)
        assert wait_for(lambda: s.market.last_packet is not None and s.market.last_packet >= t
                        and (expected is None or s.market.counts["ticks"] >= seen + expected), 10), \
            (expected, s.market.counts, s.market.status())
        cycle(s)


def signal(sid, symbol, side=Side.BUY, qty=10, **kw):
    return Signal(sid, "mdtest", Exchange.NSE, symbol, side, qty, OrderType.MARKET, Product.MIS, **kw)


def breaches(s):
    return [ev.payload for ev in s.journal.events(types=(E.LIMIT_BREACH,))]


def test_marks_are_journaled_for_every_subscribed_instrument(sim, tmp_path):
    s = live_session(sim, tmp_path, market_data={"watchlist": ["NSE:INFY", "NSE:SBIN", "NSE:TCS"]})
    try:
        step(sim, s, 3)
        subscribed = set(s.market.subscribed)
        assert {"NSE:INFY", "NSE:SBIN", "NSE:TCS", "NSE:NIFTY 50", "BSE:SENSEX"} <= subscribed
        marked = set()
        for ev in s.journal.events(types=(E.MARK,)):
            marked |= set(ev.payload["prices"])
        assert subscribed <= marked
        q = s.broker.live_quote("NSE:INFY")
        assert q.exchange_time is not None and q.bid is not None and q.ask is not None and q.bid < q.ask
        assert s.broker.last_price("NSE:INFY") == Decimal(str(sim.market.get("NSE:INFY").last))
    finally:
        s.close()


def test_a_market_signal_without_a_price_fills_at_the_sandbox_price(sim, tmp_path):
    s = live_session(sim, tmp_path)
    try:
        step(sim, s, 2)
        ltp = sim.market.get("NSE:RELIANCE").last
        o = s.submit_signal(signal("m1", "RELIANCE"))  # never subscribed before: the snapshot prices it
        assert o.reference_price == Decimal(str(ltp))
        assert o.status is not OrderStatus.DENIED
        step(sim, s, 1)
        assert wait_for(lambda: s.book.order(o.client_order_id).status is OrderStatus.FILLED, 5, every=s.poll)
        fills = [ev.payload for ev in s.journal.events(types=(E.FILL,))]
        px = float(fills[0]["price"])
        assert abs(px / ltp - 1) < 0.01
    finally:
        s.close()


def test_a_market_signal_without_a_quote_is_denied_naming_the_feed_state(sim, tmp_path):
    s = live_session(sim, tmp_path, market_data={"quote_wait_seconds": 0.3})
    try:
        step(sim, s, 1)
        sim.faults.pause_ticker(heartbeats=False)
        s.broker.stream.on_heartbeat = None  # nothing at all reaches the hub
        o = s.submit_signal(signal("m2", "TCS"))
        reason = [ev.payload for ev in s.journal.events(types=(E.RISK_DECISION,))][-1]["reason"]
        assert s.book.order(o.client_order_id).status is OrderStatus.DENIED
        assert "no quote for NSE:TCS within 0.3 s: ticker" in reason
    finally:
        sim.faults.resume_ticker()
        s.close()


def test_mark_to_market_daily_loss_trips_from_ticks_on_a_falling_path(sim, tmp_path):
    # the pre-trade worst case (adverse_move_pct) would refuse this entry outright; this test is about the breaker
    s = live_session(sim, tmp_path, risk={"loss": {"max_daily_loss": 1500, "adverse_move_pct": None}})
    try:
        step(sim, s, 2)
        o = s.submit_signal(signal("m3", "INFY", qty=200))
        step(sim, s, 1)
        assert wait_for(lambda: s.book.order(o.client_order_id).status is OrderStatus.FILLED, 5, every=s.poll)
        fills_before = s.book.fills
        sim.market.set_drift("NSE:INFY", -0.5)
        for _ in range(20):
            if s.book.trading_state == "HALTED":
                break
            step(sim, s, 1)
        assert s.book.trading_state == "HALTED"
        b = [x for x in breaches(s) if x["trigger"] == "daily_loss"]
        assert b and s.book.fills == fills_before  # tripped by marks from ticks, not by a fill
    finally:
        s.close()


def test_stale_feed_trips_when_the_ticker_pauses_not_on_a_flat_price(sim, tmp_path):
    # a static instrument (priced at its last close, never moving) and heartbeats only: flat, alive
    s = live_session(sim, tmp_path, market_data={"failover_after_seconds": 3600, "indices": {}})
    try:
        s.market.want(["NSE:ITC"], "watchlist")
        assert wait_for(lambda: s.market.last_price("NSE:ITC") is not None)
        p0 = s.market.last_price("NSE:ITC")
        for _ in range(3):  # three market minutes without a price change: heartbeats keep it alive
            sim.step(1)
            t = sim.market.clock.now()
            assert wait_for(lambda: s.market.last_packet >= t, 5)
            cycle(s)
        assert s.market.last_price("NSE:ITC") == p0
        assert s.book.trading_state == "ACTIVE" and not breaches(s)
        # paused through the sandbox's HTTP switch (it acts on the server's event loop: no frame is written
        # after its answer); then every frame written before it has been handled by the session's hub: a
        # heartbeat still on its way when the market moves on would be stamped after the move
        assert requests.post(f"{sim.url}/sim/ticker/pause", json={"heartbeats": False}, timeout=5).status_code == 200
        (client,) = sim.hub.clients
        assert wait_for(lambda: s.broker.stream.frames_handled >= client.binary_sent, 10)
        sim.step(1)  # a market minute without a packet
        cycle(s)
        assert s.book.trading_state == "REDUCING"
        assert breaches(s)[-1]["trigger"] == "stale_feed"
    finally:
        sim.faults.resume_ticker()
        s.close()


def test_the_market_wide_breaker_acts_on_index_ticks(sim, tmp_path):
    s = live_session(sim, tmp_path)
    try:
        step(sim, s, 2)
        assert s.market.last_price("NSE:NIFTY 50") is not None
        nifty = sim.market.get("NSE:NIFTY 50")
        sim.market.move("NSE:NIFTY 50", (nifty.prev_close * 0.895 / nifty.last - 1) * 100)  # -10.5 % on the day
        # a 10 % jump in one print is quarantined until the next ticks confirm it; then the breaker acts
        assert wait_for(lambda: any(ev.payload.get("finding") == "quarantined" for ev in s.journal.events(types=(E.NOTE,))), 5)
        assert s.book.trading_state == "ACTIVE"
        for _ in range(3):
            if s.book.trading_state == "HALTED":
                break
            step(sim, s, 1)
        assert s.book.trading_state == "HALTED"
        b = [x for x in breaches(s) if x["trigger"] == "mwcb"]
        assert b and "NIFTY 50" in b[0]["reason"] and "10 % level" in b[0]["reason"]
    finally:
        s.close()


def test_an_approval_recheck_refuses_after_a_move(sim, tmp_path):
    s = live_session(sim, tmp_path, approval="manual")
    try:
        step(sim, s, 2)
        o = s.submit_signal(signal("m4", "SBIN"))
        assert s.book.order(o.client_order_id).status is OrderStatus.PENDING_APPROVAL
        sim.market.move("NSE:SBIN", 1.6)  # past the 1 % drift limit, within the 2 % jump check
        moved = Decimal(str(sim.market.get("NSE:SBIN").last))
        assert wait_for(lambda: s.market.last_price("NSE:SBIN") == moved, 5)
        out = s.oms.approve(o.client_order_id, by="asha")
        assert not out.ok and any("price moved +" in m for m in out.messages)
    finally:
        s.close()


def test_failover_to_quote_polling_and_back(sim, tmp_path):
    s = live_session(sim, tmp_path, market_data={"failover_after_seconds": 1.0, "watchlist": ["NSE:INFY"]},
                     watchdog=30.0)
    try:
        step(sim, s, 2)
        sim.faults.pause_ticker(heartbeats=False)
        assert wait_for(lambda: s.market.failover, 5, every=lambda: cycle(s))
        sim.market.move("NSE:INFY", 1.0)  # the ticker is paused: only a quote poll can see this
        moved = Decimal(str(sim.market.get("NSE:INFY").last))
        assert wait_for(lambda: s.market.last_price("NSE:INFY") == moved, 5, every=lambda: cycle(s))
        assert s.market.counts["polls"] >= 1 and "polling quotes since" in s.market.feed_state()
        sim.faults.resume_ticker()
        step(sim, s, 1)  # the ticker's ticks of the next minute
        assert wait_for(lambda: not s.market.failover, 5, every=lambda: cycle(s))
        events = [ev.payload.get("event") for ev in s.journal.events(types=(E.NOTE,))
                  if ev.payload.get("kind") == "market_data"]
        assert "failover" in events and "failback" in events
        assert wait_for(lambda: any(ev.payload.get("event") == "backfill"
                                    for ev in s.journal.events(types=(E.NOTE,))), 10, every=s.journal.flush)
        assert s.book.trading_state == "ACTIVE"  # polls kept the feed alive: no stale-feed breaker
    finally:
        sim.faults.resume_ticker()
        s.close()
