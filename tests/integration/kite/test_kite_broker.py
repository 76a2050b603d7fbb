"""tradekit's KiteBroker (on the official client) against the sandbox."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.integration.kite.conftest import kite_config, request_token, secrets
from tradekit.brokers.base import Broker
from tradekit.errors import AuthExpired, BrokerRejected, SecretError
from tradekit.model.enums import Variety
from tradekit.model.order import OrderRequest


def market(symbol="INFY", qty=1, **kw):
    return OrderRequest("NSE", symbol, "BUY", qty, **kw)


class FixedClock:
    def __init__(self, t):
        self.t = t

    def now(self):
        return self.t

    def sleep(self, s):
        pass


def test_it_is_a_broker(broker):
    assert isinstance(broker, Broker)


def test_login_stores_the_token_owner_only_and_logout_removes_it(sim, tmp_path):
    from tradekit.brokers.kite.broker import KiteBroker

    b = KiteBroker(kite_config(sim), secrets(), data_dir=tmp_path)
    assert not b.logged_in and "log in" in b.session_status()
    assert b.login_url() == f"{sim.login_url}?api_key=simkey&v=3"
    s = b.complete_login(request_token(sim))
    path = b.tokens.path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert s.access_token.get_secret_value() not in repr(s) and "SB0001" in b.session_status()
    assert s.expires_at.hour == 6 and timedelta(0) < s.expires_at - s.login_time <= timedelta(days=1)
    # a new broker in another process picks the session up from the file
    b2 = KiteBroker(kite_config(sim), secrets(), data_dir=tmp_path)
    assert b2.logged_in and b2.funds().available > 0
    os.chmod(path, 0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        KiteBroker(kite_config(sim), secrets(), data_dir=tmp_path)
    os.chmod(path, 0o600)
    b.logout()
    assert not path.exists()
    with pytest.raises(AuthExpired):
        b2.orders()  # the token was invalidated at the server


def test_expired_session_refuses_to_trade_with_a_clear_message(sim, tmp_path):
    from tradekit.brokers.kite.broker import KiteBroker

    b = KiteBroker(kite_config(sim), secrets(), data_dir=tmp_path)
    b.complete_login(request_token(sim))
    late = FixedClock(b.session.expires_at + timedelta(minutes=1))
    b.clock = late
    with pytest.raises(AuthExpired, match="log in again with `tradekit kite login`"):
        b.place_order("TK1", market(market_protection=-1))
    assert sim.app.placements == []  # nothing reached the server
    # a token file from yesterday is not used at all
    b3 = KiteBroker(kite_config(sim), secrets(), data_dir=tmp_path, clock=late)
    assert not b3.logged_in


def test_server_side_expiry_403_becomes_auth_expired(broker, sim):
    sim.step(1)
    broker.orders()
    sim.expire_tokens()  # 06:00 IST came early
    with pytest.raises(AuthExpired, match="log in again"):
        broker.orders()
    with pytest.raises(AuthExpired):  # and it stays refused without another round trip
        broker.place_order("TK2", market(market_protection=-1))
    assert sim.app.placements == []
    broker.complete_login(request_token(sim))
    assert broker.orders() is not None


def test_place_modify_cancel_regular_amo_iceberg(broker, sim):
    amo = broker.place_order("TKAMO1", OrderRequest("NSE", "SBIN", "BUY", 2, "LIMIT", "CNC", price=Decimal("250"),
                                                    variety=Variety.AMO))
    row = broker.find_by_tag("TKAMO1")
    assert row.broker_order_id == amo and row.status == "AMO REQ RECEIVED" and row.variety is Variety.AMO
    sim.step(1)
    oid = broker.place_order("TKREG1", market(qty=3))  # no protection given: the config's -1 is sent
    meta = sim.app._meta[oid]
    assert meta.market_protection == -1 and meta.tag == "TKREG1"
    px = Decimal(str(round(sim.market.get("NSE:INFY").last * 0.97, 1)))
    lim = broker.place_order("TKLIM1", market(qty=4, order_type="LIMIT", price=px))
    broker.modify_order(lim, market(qty=5, order_type="LIMIT", price=px + Decimal("0.5")))
    row = broker.find_by_tag("TKLIM1")
    assert (row.quantity, row.price) == (5, px + Decimal("0.5"))
    broker.cancel_order(lim)
    assert broker.find_by_tag("TKLIM1").status == "CANCELLED"
    ice = broker.place_order("TKICE1", market(qty=100, order_type="LIMIT", price=px, variety=Variety.ICEBERG, iceberg_legs=4))
    assert broker.find_by_tag("TKICE1").raw["meta"]["iceberg"]["legs"] == 4
    assert sim.app._meta[ice].iceberg_quantity == 25
    sim.step(1)
    assert broker.find_by_tag("TKREG1").status == "COMPLETE"
    assert broker.find_by_tag("NOPE") is None
    slm = broker.place_order("TKSLM1", market(order_type="SL-M", trigger_price=px * 2))
    assert sim.app._meta[slm].market_protection == -1  # SL-M carries protection too


def test_algo_id_goes_with_every_order(sim, tmp_path):
    from tradekit.brokers.kite.broker import KiteBroker

    b = KiteBroker(kite_config(sim, algo_id="ALGO42"), secrets(), data_dir=tmp_path)
    b.complete_login(request_token(sim))
    sim.step(1)
    oid = b.place_order("TKALGO1", market())
    assert sim.app._meta[oid].algo_id == "ALGO42"


def test_the_26th_modification_is_refused_locally(broker, sim):
    sim.step(1)
    px = Decimal(str(round(sim.market.get("NSE:INFY").last * 0.95, 1)))
    lim = broker.place_order("TKMOD1", market(order_type="LIMIT", price=px))
    for i in range(25):
        broker.modify_order(lim, market(order_type="LIMIT", price=px + Decimal("0.1") * (i % 3 + 1)))
    seen = sim.app.requests_seen
    with pytest.raises(BrokerRejected, match="25"):
        broker.modify_order(lim, market(order_type="LIMIT", price=px))
    assert sim.app.requests_seen == seen  # refused without a request


def test_synchronous_rejection_is_broker_rejected_with_kites_words(broker, sim):
    sim.step(1)
    sim.app.refuse_next_orders(1, "Insufficient funds. Required margin is 95.00 but available margin is 0.00.")
    with pytest.raises(BrokerRejected) as ei:
        broker.place_order("TKSYNC1", market())
    assert "Insufficient funds" in ei.value.broker_message and ei.value.code == 400
    assert broker.find_by_tag("TKSYNC1") is None


def test_portfolio_rows_and_funds(broker, sim):
    sim.step(1)
    broker.place_order("TKP1", market(qty=4))
    broker.place_order("TKP2", OrderRequest("NSE", "SBIN", "BUY", 3, "MARKET", "CNC", market_protection=-1))
    sim.step(1)
    pos = {(p.tradingsymbol, p.product.value): p for p in broker.positions()}
    assert pos[("INFY", "MIS")].quantity == 4 and pos[("SBIN", "CNC")].quantity == 3
    assert pos[("INFY", "MIS")].day_buy_quantity == 4
    assert {p.tradingsymbol for p in broker.day_positions()} == {"INFY", "SBIN"}
    trades = broker.trades()
    assert {t.tag for t in trades} == {"TKP1", "TKP2"} and all(t.timestamp.tzinfo is not None for t in trades)
    sim.broker.end_of_day(sim.market.trade_date)
    h = broker.holdings()
    assert h[0].tradingsymbol == "SBIN" and h[0].t1_quantity == 3
    f = broker.funds()
    assert f.cash < Decimal(10_000_000) and f.available > 0


def test_quotes_ltp_and_instruments_cached(broker, sim, tmp_path):
    sim.step(2)
    q = broker.quote(["NSE:INFY", "NSE:SBIN"])
    assert set(q) == {"NSE:INFY", "NSE:SBIN"}
    assert broker.ltp(["NSE:INFY"])["NSE:INFY"] == Decimal(str(sim.market.get("NSE:INFY").last))
    assert "NSE:INFY" in broker.ohlc(["NSE:INFY"])
    store = broker.instruments()
    assert store.get("NSE", "INFY").instrument_token == 408065
    seen = sim.app.requests_seen
    broker.instruments()  # from the day's cache file
    assert sim.app.requests_seen == seen
    assert broker.token_of("NSE:SBIN") == 779521


def test_historical_is_cached_on_disk(broker, sim):
    sim.step(10)
    now = sim.market.now
    df = broker.historical("NSE:INFY", now - timedelta(days=4), now, "minute")
    assert len(df) > 375 and df.index.tz is not None and list(df.columns) == ["open", "high", "low", "close", "volume"]
    seen = sim.app.requests_seen
    df2 = broker.historical("NSE:INFY", now - timedelta(days=4), now - timedelta(days=1), "minute")
    assert sim.app.requests_seen == seen  # past days come from disk
    assert len(df2) and df2.index.max() < now - timedelta(days=1) + timedelta(seconds=1)
    today = broker.historical(408065, now.replace(hour=9, minute=0), now, "minute")
    assert sim.app.requests_seen == seen + 1 and len(today) == 10  # today is always fetched
    assert broker.historical("NSE:INFY", now - timedelta(days=200), now, "day").index[-1].date() == now.date()


def test_margins_and_contract_note(broker, sim):
    sim.step(1)
    req = OrderRequest("NSE", "INFY", "BUY", 10, "LIMIT", "CNC", price=Decimal("1000"))
    assert broker.order_margins([req])[0]["total"] == pytest.approx(10_000)
    assert broker.basket_margins([req, req])["final"]["total"] == pytest.approx(20_000)
    broker.place_order("TKCN1", market(qty=2))
    sim.step(1)
    note = broker.contract_note(broker.trades())
    assert note[0]["charges"]["total"] > 0


def test_the_governor_keeps_us_under_kites_own_limits(sim, tmp_path):
    """Kite's limits on the server, ours on the client: a burst is spaced, never answered 429."""
    import time

    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.brokers.kite.config import KiteRateLimits
    from tradekit.brokers.kite.ratelimit import DEFAULT_LIMITS

    sim.app.set_limits(DEFAULT_LIMITS)
    b = KiteBroker(kite_config(sim, rate_limits=KiteRateLimits()), secrets(), data_dir=tmp_path)
    b.complete_login(request_token(sim))
    sim.step(1)
    t0 = time.monotonic()
    for i in range(22):
        b.place_order(f"TKRATE{i}", market())
    for _ in range(3):
        b.ltp(["NSE:INFY"])
    elapsed = time.monotonic() - t0
    # The windows carry a 50 ms margin; a thread descheduled for longer between its slot and
    # the send (a loaded CI box) can still meet a 429, which is retried (Kite did nothing).
    assert sim.app.throttled <= 2
    assert elapsed >= 2.0  # 22 orders at 10/s, 3 quotes at 1/s
    assert sorted(t for _, t in sim.app.placements) == sorted(f"TKRATE{i}" for i in range(22))


def test_make_live_broker_builds_from_a_session(monkeypatch, tmp_path, sim):
    from tradekit.brokers.kite import make_live_broker
    from tradekit.config import load_config

    monkeypatch.setenv("KITE_API_KEY", "simkey")
    cfg = load_config(overrides={"mode": "live", "live": {"allowed": True}, "data_dir": str(tmp_path / "v"),
                                 "approval": {"mode": "manual"}, "orders": {"algo_id": "ALGO7"}})

    class S:
        config = cfg
        clock = None
        instruments = None

    b = make_live_broker(S)
    assert b.name == "kite" and b.algo_id == "ALGO7" and not b.logged_in
    assert b.tokens.path == tmp_path / "v" / "kite" / "session.json"
