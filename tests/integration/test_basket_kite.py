"""A four-leg iron condor placed as one basket through tradekit kite-sim with the official client:
legs in a safe order (buys first), one leg rejected by the broker, and the configured policy applied
(unwind: the filled legs closed; retry: the leg placed again). The sandbox's /margins/basket answers
in Kite's shape with the paper estimate (initial without, final with the spread benefit)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.integration.kite.conftest import FAST, kite_config, request_token, secrets, wait_for

SPOT = 24870.0
DAY = date(2026, 8, 17)  # the strikes are picked as on the Monday before the sample's NIFTY weekly expiry
PX = {"NIFTY2681824700PE": 40.0, "NIFTY2681824800PE": 70.0, "NIFTY2681824900CE": 60.0, "NIFTY2681825000CE": 30.0}


def start_sim():
    from tradekit.brokers.kite.sim.server import KiteSimServer
    from tradekit.market.instruments import InstrumentStore

    store = InstrumentStore.bundled(include_nfo_sample=True)
    server = KiteSimServer(port=0, symbols=["INFY"], limits=FAST, heartbeat_seconds=0.5, instruments=store,
                           capital=10**8).start()  # today (the login token lives on the wall clock)
    with server.app._lock:
        for sym, px in PX.items():
            server.broker.set_previous_close(f"NFO:{sym}", px)
            server.broker.on_tick(f"NFO:{sym}", server.market.now, px, 0)
    index = server.market.get("NSE:NIFTY 50")  # the sandbox replays the index: bring it to SPOT
    server.market.move("NSE:NIFTY 50", (SPOT / index.last - 1) * 100)
    assert server.market.get("NSE:NIFTY 50").last == pytest.approx(SPOT)
    return server


@pytest.fixture
def ksim():
    server = start_sim()
    yield server
    server.stop()


def trade_all(sim, seconds: int = 5) -> None:
    """A trade at each leg's price a few seconds on (resting orders at that price fill)."""
    with sim.app._lock:
        for sym, px in PX.items():
            sim.broker.on_tick(f"NFO:{sym}", sim.market.now + timedelta(seconds=seconds), px, 1_000_000)
    sim.app.flush()


def live_session(sim, tmp_path, policy: str):
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.config import load_config
    from tradekit.market.instruments import InstrumentStore
    from tradekit.session import Session

    cfg = load_config(overrides={
        "mode": "live", "live": {"allowed": True}, "data_dir": str(tmp_path / "var"), "account": {"capital": 1e8},
        "approval": {"mode": "auto", "allow_auto_in_live": True},
        "baskets": {"on_leg_failure": policy, "retries": 1},
        "risk": {"money": {"max_order_value_pct": None, "max_order_quantity": None}, "var": {"limit_pct": None},
                 "exposure": {"max_concentration_pct": None, "max_gross_exposure_pct": None,
                              "max_net_exposure_pct": None, "max_sector_pct": None},
                 "loss": {"adverse_move_pct": None}},
    })
    broker = KiteBroker(kite_config(sim), secrets(), data_dir=tmp_path / "var")
    broker.complete_login(request_token(sim))
    s = Session(cfg, broker=broker, clock=sim.market.clock)
    s.instruments.add(InstrumentStore.bundled(include_nfo_sample=True).search(exchange="NFO", underlying="NIFTY"))
    s.start(reconcile_every=0)
    assert wait_for(lambda: broker.stream is not None and broker.stream.connected)
    for sym, px in PX.items():
        s.oms.mark(f"NFO:{sym}", px)
    return s


def condor(s):
    from tradekit.options import strategies as st

    return st.iron_condor(s.instruments, "NIFTY", expiry="near", spot=SPOT, lots=1, today=DAY,
                          premiums={f"NFO:{k}": v for k, v in PX.items()})


def advance(s, sim, b, until, turns: int = 60):
    """Let trades happen and the session service its baskets until ``until(b)``."""
    for _ in range(turns):
        trade_all(sim)
        if wait_for(lambda: until(b), timeout=0.25, every=s.service, step=0.02):
            return True
    return until(b)


def placed(sim):
    """(tradingsymbol, side) of every order the sandbox received, in order."""
    rows = {r.broker_order_id: r for r in sim.broker.orders()}
    return [(rows[oid].tradingsymbol, rows[oid].side.value) for oid, _tag in sim.app.placements if oid in rows]


def net_positions(sim):
    return {p.tradingsymbol: p.quantity for p in sim.broker.positions() if p.quantity}


def test_basket_margins_through_the_official_client(ksim):
    from kiteconnect import KiteConnect

    kite = KiteConnect(ksim.api_key, root=ksim.url)
    kite.generate_session(request_token(ksim), "simsecret")
    legs = [("NIFTY2681824700PE", "BUY"), ("NIFTY2681824800PE", "SELL"), ("NIFTY2681824900CE", "SELL"),
            ("NIFTY2681825000CE", "BUY")]
    items = [{"exchange": "NFO", "tradingsymbol": t, "transaction_type": side, "variety": "regular", "product": "NRML",
              "order_type": "LIMIT", "quantity": 65, "price": PX[t], "trigger_price": 0} for t, side in legs]
    data = kite.basket_order_margins(items, consider_positions=False)
    from tests.integration.kite.conftest import fixture_data
    from tests.integration.kite.test_kite_sim_routes import assert_shape

    assert_shape(data, fixture_data("basket_margins.json"))
    # hand-checked (tradekit.options.margin's model, default baskets.margin, NIFTY at 24,870):
    # final span = the wider wing 100 × 65; exposure 2 % × 24,870 × 130 short units; premium = the net credit
    assert data["final"]["span"] == pytest.approx(6500)
    assert data["final"]["exposure"] == pytest.approx(64662)
    assert data["final"]["option_premium"] == pytest.approx(-3900)
    assert data["final"]["total"] == pytest.approx(67262)
    assert data["initial"]["total"] == pytest.approx(sum(o["total"] for o in data["orders"]))
    by = {o["tradingsymbol"]: o for o in data["orders"]}
    assert by["NIFTY2681824700PE"]["total"] == pytest.approx(40 * 65) and by["NIFTY2681824700PE"]["span"] == 0
    assert by["NIFTY2681824800PE"]["option_premium"] == 0  # a sell shows no premium alone, as Kite's fixture does
    assert by["NIFTY2681824800PE"]["span"] == pytest.approx((24800 - SPOT * 0.91) * 65)
    assert by["NIFTY2681824800PE"]["charges"]["total"] > 0
    # consider_positions: with the two long wings already held, the shorts add less than alone
    shorts = [i for i in items if i["transaction_type"] == "SELL"]
    alone = kite.basket_order_margins(shorts, consider_positions=True)["final"]["total"]
    for i in items:
        if i["transaction_type"] == "BUY":
            kite.place_order(variety="regular", **{k: i[k] for k in ("exchange", "tradingsymbol", "transaction_type",
                                                                     "quantity", "product", "order_type", "price")})
    trade_all(ksim)
    assert wait_for(lambda: len(net_positions(ksim)) == 2)
    hedged = kite.basket_order_margins(shorts, consider_positions=True)["final"]["total"]
    assert hedged < alone / 3
    assert kite.basket_order_margins(shorts, consider_positions=False)["final"]["total"] == pytest.approx(alone)


def run_condor_with_a_rejected_leg(sim, tmp_path, policy: str):
    """The condor through a live session on the sandbox; the first SELL leg is rejected by the broker's RMS."""
    s = live_session(sim, tmp_path, policy)
    b = s.basket(condor(s), name="ic")
    assert b.state == "proposed", b.reason
    assert b.margin["source"] == "kite" and Decimal(b.margin["final"]) == Decimal("67262.00")  # Kite's call, answered by the sandbox
    assert advance(s, sim, b, lambda b: len(b.opens) == 2), b.describe()  # both buys sent, no sell yet
    sim.app.reject_next_orders(1, "Insufficient funds: margin exceeds the available balance (injected)")
    return s, b


def test_iron_condor_leg_rejected_then_unwound(ksim, tmp_path):
    from tradekit.store.events import EventType as E

    s, b = run_condor_with_a_rejected_leg(ksim, tmp_path, "unwind")
    try:
        assert advance(s, ksim, b, lambda b: b.state == "unwound"), b.describe()
        assert placed(ksim) == [("NIFTY2681824700PE", "BUY"), ("NIFTY2681825000CE", "BUY"),  # buys first
                                ("NIFTY2681824800PE", "SELL"),  # rejected
                                ("NIFTY2681825000CE", "SELL"), ("NIFTY2681824700PE", "SELL")]  # unwound, last in first out
        assert net_positions(ksim) == {}  # nothing stranded at the broker
        states = [e.payload["state"] for e in s.journal.events(types=(E.BASKET_STATE,)) if e.payload["basket_id"] == b.basket_id]
        assert states == ["working", "leg_failed", "unwinding", "unwound"]
        failed = [e.payload for e in s.journal.events(types=(E.BASKET_STATE,)) if e.payload["state"] == "leg_failed"][0]
        assert "Insufficient funds" in failed["reason"] and failed["leg"] == 1
        approvals = [e.payload for e in s.journal.events(types=(E.APPROVAL_GRANTED,))]
        assert sum(1 for a in approvals if a.get("covered_by") is None) == 1  # one decision for the whole basket
    finally:
        s.close()


def test_iron_condor_leg_rejected_then_retried(ksim, tmp_path):
    s, b = run_condor_with_a_rejected_leg(ksim, tmp_path, "retry")
    try:
        assert advance(s, ksim, b, lambda b: b.state == "complete"), b.describe()
        assert placed(ksim) == [("NIFTY2681824700PE", "BUY"), ("NIFTY2681825000CE", "BUY"),
                                ("NIFTY2681824800PE", "SELL"),  # rejected
                                ("NIFTY2681824800PE", "SELL"),  # placed again
                                ("NIFTY2681824900CE", "SELL")]
        assert net_positions(ksim) == {"NIFTY2681824700PE": 65, "NIFTY2681824800PE": -65, "NIFTY2681824900CE": -65,
                                       "NIFTY2681825000CE": 65}
        assert [len(b.opens[i]) for i in range(4)] == [1, 2, 1, 1]
    finally:
        s.close()
