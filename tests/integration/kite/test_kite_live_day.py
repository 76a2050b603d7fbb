"""A live-mode session against the Kite sandbox: a day's signals end to end with the official
client, injected faults on the way, and zero differences at the close."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from tests.integration.kite.conftest import kite_config, request_token, secrets, wait_for
from tradekit.brokers.kite.ratelimit import governor
from tradekit.errors import AuthExpired
from tradekit.model.order import OrderStatus

pytestmark = pytest.mark.slow


def replay_bars(sim, key: str) -> pd.DataFrame:
    s = sim.market.get(key)
    idx = pd.DatetimeIndex([sim.market._at(int(t)) for t in s.tod])
    return pd.DataFrame({"open": s.o, "high": s.h, "low": s.l, "close": s.c, "volume": s.v}, index=idx)




def test_a_live_day_against_the_sandbox(sim, tmp_path):
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.config import load_config
    from tradekit.session import Session
    from tradekit.strategies import SmaCrossover

    governor().min_backoff = 0.05
    cfg = load_config(overrides={
        "mode": "live", "live": {"allowed": True}, "data_dir": str(tmp_path / "var"),
        "approval": {"mode": "auto", "allow_auto_in_live": True},
        "execution": {"unknown_max_lookups": 2, "unknown_grace_seconds": 0},
        # the session now sees the sandbox's ticks (market-data hub): its synthetic paths through each
        # bar are not a volatility regime this test is about, so the volatility trigger stays out of it
        "risk": {"breakers": {"volatility_ratio": 1000, "volatility_move_pct": None}},
    })
    broker = KiteBroker(kite_config(sim, timeout_seconds=0.5, watchdog_seconds=2.0), secrets(), data_dir=tmp_path / "var")
    broker.complete_login(request_token(sim))
    session = Session(cfg, broker=broker, clock=sim.market.clock)  # the session's "now" is the sandbox's trading day
    assert session.mode.value == "live"
    oms = session.oms
    session.start(reconcile_every=0)  # order-update stream on, reconciled once (nothing anywhere yet)
    assert wait_for(lambda: broker.stream is not None and broker.stream.connected)
    rec = session.reconciler
    assert rec.run_once().ok

    strategy = SmaCrossover(5, 20, quantity=10)
    signals = sorted((s for k in ("NSE:INFY", "NSE:SBIN", "NSE:RELIANCE") for s in strategy.signals(replay_bars(sim, k), k)),
                     key=lambda s: s.signal_time)
    assert len(signals) > 20
    submitted, refused = [], []
    faults = {3: ("drop", dict(when="after")), 6: ("status", dict(status=500, when="before")),
              9: ("status", dict(status=502, when="after", body="success")), 12: ("no_content_type", dict(when="after")),
              15: ("status", dict(status=429, error_type="NetworkException")), 18: ("slow", dict(delay=1.0, when="after"))}
    i = 0
    while not sim.market.finished and sim.market.now.strftime("%H:%M") < "15:15":
        sim.step(1)
        while i < len(signals) and signals[i].signal_time <= sim.market.now:
            n = len(submitted)
            if n in faults:
                kind, kw = faults[n]
                sim.faults.add(kind, r"^POST /orders/regular$", 1, **kw)
            if n == 10:
                sim.hub.drop_all(abort=True)  # the ticker drops mid-day
            if n == 14 and not refused:
                sim.expire_tokens()  # the session dies (as at 06:00): refused, then a new login
                try:
                    session.submit_signal(signals[i])
                except AuthExpired:
                    refused.append(signals[i].signal_id)
                broker.complete_login(request_token(sim))  # also restarts the ticker with the new token
                session.after_login()
            else:
                submitted.append(session.submit_signal(signals[i]).client_order_id)
            i += 1
        if sim.market.m % 30 == 0:  # the session's periodic reconciliation (every N seconds live)
            oms.resolve_unknown()
            rec.run_once()
    # tradekit squares off before the broker's cut-off; then the remaining minutes fill it
    oms.flatten(reason="end of day", source="square_off")
    sim.step(3)
    for _ in range(3):
        oms.resolve_unknown()
    rec.run_once()
    ok = wait_for(lambda: all(o.status.is_terminal for o in session.book.orders.values()), timeout=10)
    if not ok:
        stuck = {o.client_order_id for o in session.book.orders.values() if not o.status.is_terminal}
        for e in session.journal.events():
            if e.payload.get("client_order_id") in stuck:
                print("EV", e.type, e.payload)
        print("STREAM", broker.stream.orders_seen, broker.stream.events)
    assert ok, [(o.client_order_id, o.status, o.broker_status, o.source, o.request.quantity) for o in session.book.orders.values() if not o.status.is_terminal]

    # no order was ever duplicated, nothing stayed unknown
    counts = Counter(t for _, t in sim.app.placements)
    assert counts and max(counts.values()) == 1
    assert oms.unknown_orders == [] and len(refused) == 1
    # the faults really happened
    assert len(sim.faults.log) >= 6 and broker.stream.opens >= 1
    # and the day reconciles to zero differences
    rep = rec.run_once()
    assert rep.ok, rep.summary()
    ours = {(str(p.exchange), p.tradingsymbol): 0 for p in session.book.positions.values()}
    for p in session.book.positions.values():
        ours[(str(p.exchange), p.tradingsymbol)] += p.quantity
    assert all(q == 0 for q in ours.values())
    assert all(p.quantity == 0 for p in broker.positions())
    filled = [o for o in session.book.orders.values() if o.status is OrderStatus.FILLED]
    assert len(filled) >= len(signals) // 2
    assert {t.trade_id for t in broker.trades()} == session.book.trade_ids
    session.close()
