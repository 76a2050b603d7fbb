"""The official client, unchanged, against the sandbox: every route, shapes as in the fixtures."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from tests.integration.kite.conftest import fixture_data, request_token



def keys_of(rows):
    rows = rows if isinstance(rows, list) else [rows]
    out = set()
    for r in rows:
        out |= set(r)
    return out


def assert_shape(ours, fixture, allowed_missing=()):
    missing = keys_of(fixture) - keys_of(ours) - set(allowed_missing)
    assert not missing, f"keys Kite has and the sandbox lacks: {sorted(missing)}"


def place(k, tag, symbol="INFY", qty=1, **kw):
    args = dict(variety="regular", exchange="NSE", tradingsymbol=symbol, transaction_type="BUY", quantity=qty,
                product="MIS", order_type="MARKET", market_protection=-1, tag=tag)
    args.update(kw)
    return k.place_order(**args)


def test_login_flow_checksum_and_token_check(sim):
    k = KiteConnect(sim.api_key, root=sim.url)
    assert k.login_url() == f"https://kite.zerodha.com/connect/login?api_key={sim.api_key}&v=3"
    k._default_login_uri = sim.login_url  # the client keeps it in a class attribute
    r = requests.get(k.login_url(), allow_redirects=False, timeout=5)
    assert r.status_code == 302 and "request_token=" in r.headers["Location"]
    rt = request_token(sim)
    with pytest.raises(kex.TokenException):
        k.generate_session(rt, "wrong-secret")  # bad checksum (and the token is now used up)
    with pytest.raises(kex.TokenException):
        k.generate_session(rt, "simsecret")  # single use
    with pytest.raises(kex.TokenException) as ei:
        k.profile()  # no token yet
    assert ei.value.code == 403
    s = k.generate_session(request_token(sim), "simsecret")
    assert_shape(s, fixture_data("generate_session.json"))
    assert isinstance(s["login_time"], datetime) and s["access_token"] == k.access_token
    assert_shape(k.profile(), fixture_data("profile.json"))
    # an unknown api key is refused at the login page
    assert requests.get(f"{sim.login_url}?api_key=nope&v=3", allow_redirects=False, timeout=5).status_code == 400


def test_every_route_refuses_a_bad_token(sim):
    k = KiteConnect(sim.api_key, access_token="not-a-token", root=sim.url)
    calls = [k.profile, k.margins, k.orders, k.trades, k.positions, k.holdings, k.get_gtts,
             lambda: k.ltp("NSE:INFY"), lambda: k.order_history("1"), lambda: place(k, "X1")]
    for call in calls:
        with pytest.raises(kex.TokenException) as ei:
            call()
        assert ei.value.code == 403
    # the instrument dump is public at Kite (https://api.kite.trade/instruments needs no session)
    assert any(r["tradingsymbol"] == "INFY" for r in k.instruments("NSE"))


def test_user_and_margins(kite):
    assert_shape(kite.margins(), fixture_data("margins.json"))
    eq = kite.margins("equity")
    assert_shape(eq, fixture_data("margins_equity.json"))
    assert eq["net"] == 10_000_000
    assert_shape(kite.margins("commodity"), fixture_data("margin_commodity.json"))
    with pytest.raises(kex.InputException):
        kite.margins("forex")


def test_orders_trades_history_positions(kite, sim):
    sim.step(2)
    oid = place(kite, "TKA1", qty=5)
    lim_px = round(sim.market.get("NSE:SBIN").last * 0.97, 1)
    lim = place(kite, "TKA2", symbol="SBIN", qty=3, order_type="LIMIT", price=lim_px, product="CNC", market_protection=None)
    sim.step(1)
    orders = {o["tag"]: o for o in kite.orders()}
    assert orders["TKA1"]["status"] == "COMPLETE" and orders["TKA1"]["filled_quantity"] == 5
    assert orders["TKA2"]["status"] == "OPEN" and orders["TKA2"]["pending_quantity"] == 3
    assert "mktp" in orders["TKA1"]["tags"] and orders["TKA1"]["market_protection"] == -1
    assert isinstance(orders["TKA1"]["order_timestamp"], datetime)
    assert_shape(list(orders.values()), fixture_data("orders.json"), allowed_missing={"auction_number"})
    hist = kite.order_history(oid)
    assert [h["status"] for h in hist][:4] == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "OPEN"]
    assert hist[-1]["status"] == "COMPLETE" and hist[0]["exchange_order_id"] is None
    assert_shape(hist, fixture_data("order_info.json"))
    kite.modify_order("regular", lim, price=lim_px + 0.5, quantity=4)
    mod = [o for o in kite.orders() if o["order_id"] == lim][0]
    assert (mod["quantity"], mod["price"], mod["modified"]) == (4, lim_px + 0.5, True)
    assert kite.cancel_order("regular", lim) == lim
    assert [o for o in kite.orders() if o["order_id"] == lim][0]["status"] == "CANCELLED"
    with pytest.raises(kex.OrderException):
        kite.cancel_order("regular", lim)
    trades = kite.trades()
    assert_shape(trades, fixture_data("trades.json"))
    assert sum(t["quantity"] for t in trades) == 5 and trades[0]["order_timestamp"].count(":") == 2
    assert_shape(kite.order_trades(oid), fixture_data("order_trades.json"))
    pos = kite.positions()
    assert_shape(pos["net"], fixture_data("positions.json")["net"])
    assert_shape(pos["day"], fixture_data("positions.json")["day"])
    infy = [p for p in pos["net"] if p["tradingsymbol"] == "INFY"][0]
    assert infy["quantity"] == 5 and infy["day_buy_quantity"] == 5 and infy["product"] == "MIS"


def test_kite_order_rules(kite, sim):
    sim.step(1)
    with pytest.raises(kex.InputException, match="market protection"):
        place(kite, "TKR1", market_protection=None)
    with pytest.raises(kex.InputException, match="market protection"):
        place(kite, "TKR2", order_type="SL-M", trigger_price=2000, market_protection=0)
    with pytest.raises(kex.InputException, match="tag"):
        place(kite, "T" * 21)
    with pytest.raises(kex.InputException, match="tag"):
        place(kite, "TK-1")
    with pytest.raises(kex.InputException):
        place(kite, "TKR3", symbol="NOSUCH")
    with pytest.raises(kex.InputException, match="AMO"):
        place(kite, "TKR4", variety="amo")  # the market is open
    ice = place(kite, "TKR5", qty=100, variety="iceberg", iceberg_legs=4, iceberg_quantity=25,
                order_type="LIMIT", price=round(sim.market.get("NSE:INFY").last * 0.97, 1), market_protection=None)
    row = [o for o in kite.orders() if o["order_id"] == ice][0]
    assert row["variety"] == "iceberg" and row["meta"]["iceberg"]["legs"] == 4
    px = round(sim.market.get("NSE:INFY").last * 0.95, 1)
    lim = place(kite, "TKR6", order_type="LIMIT", price=px, market_protection=None)
    for i in range(25):
        kite.modify_order("regular", lim, price=px + 0.1 * ((i % 3) + 1))
    with pytest.raises(kex.OrderException, match="Maximum allowed order modifications"):
        kite.modify_order("regular", lim, price=px)


def test_amo_before_the_open_and_async_rejects(kite, sim):
    amo = place(kite, "TKM1", variety="amo", order_type="LIMIT", price=1100, market_protection=None)
    assert [o for o in kite.orders() if o["order_id"] == amo][0]["status"] == "AMO REQ RECEIVED"
    sim.app.reject_next_orders(1, "RMS:Margin Exceeds")
    rej = place(kite, "TKM2", variety="amo", order_type="LIMIT", price=1000, market_protection=None)
    sim.step(1)
    rows = {o["order_id"]: o for o in kite.orders()}
    assert rows[amo]["status"] in ("OPEN", "COMPLETE")
    assert rows[rej]["status"] == "REJECTED" and rows[rej]["status_message"] == "RMS:Margin Exceeds"


def test_holdings_after_delivery(kite, sim):
    sim.step(1)
    place(kite, "TKH1", symbol="SBIN", qty=7, product="CNC")
    sim.step(1)
    sim.broker.end_of_day(sim.market.trade_date)  # today's CNC buys become T1
    h = kite.holdings()
    assert_shape(h, fixture_data("holdings.json"))
    assert h[0]["tradingsymbol"] == "SBIN" and h[0]["t1_quantity"] == 7
    assert kite.get_auction_instruments() == []


def test_margins_basket_and_charges(kite, sim):
    sim.step(1)
    item = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "variety": "regular",
            "product": "CNC", "order_type": "LIMIT", "quantity": 10, "price": 1000, "trigger_price": 0}
    om = kite.order_margins([item])
    assert_shape(om, fixture_data("order_margins.json"))
    assert om[0]["total"] == pytest.approx(10_000) and om[0]["charges"]["transaction_tax_type"] == "stt"
    assert om[0]["charges"]["total"] > 0
    basket = kite.basket_order_margins([item, {**item, "product": "MIS"}], consider_positions=True)
    assert_shape(basket, fixture_data("basket_margins.json"))
    assert basket["initial"]["total"] == pytest.approx(10_000 + 2_000)
    vcn = kite.get_virtual_contract_note([{**item, "order_id": "1", "average_price": 1000}])
    assert_shape(vcn, fixture_data("virtual_contract_note.json"))
    with pytest.raises(kex.InputException):
        kite.get_virtual_contract_note([{**item, "order_id": "1", "average_price": 0}])


def test_instruments_tokens_and_quotes(kite, sim):
    allrows = kite.instruments()
    nse = kite.instruments("NSE")
    assert len(allrows) >= len(nse) > 5
    fix_cols = set(fixture_data_csv_header())
    assert set(allrows[0]) == fix_cols
    for r in allrows:
        seg = {"NSE": 1, "INDICES": 9}.get(r["segment"])
        if seg is not None:
            assert r["instrument_token"] == int(r["exchange_token"]) * 256 + seg
    sim.step(3)
    q = kite.quote("NSE:INFY", "NSE:NIFTY 50", "NSE:NOPE")
    assert set(q) == {"NSE:INFY", "NSE:NIFTY 50"}  # unknown keys are left out
    fx = fixture_data("quote.json")
    assert_shape(q["NSE:INFY"], list(fx.values())[0])
    assert len(q["NSE:INFY"]["depth"]["buy"]) == 5 and isinstance(q["NSE:INFY"]["timestamp"], datetime)
    assert_shape(kite.ohlc("NSE:INFY")["NSE:INFY"], list(fixture_data("ohlc.json").values())[0])
    ltp = kite.ltp("NSE:INFY")["NSE:INFY"]
    assert_shape(ltp, list(fixture_data("ltp.json").values())[0])
    assert ltp["last_price"] == sim.market.get("NSE:INFY").last


def fixture_data_csv_header():
    from tests.integration.kite.conftest import FIX

    return (FIX / "instruments_all.csv").read_text().splitlines()[0].split(",")


def test_historical_candles(kite, sim):
    sim.step(30)
    tok = sim.market.get("NSE:INFY").token
    now = sim.market.now.replace(tzinfo=None)
    # a week back holds earlier whole sessions whatever today is (three days back from a Monday morning
    # reached only Friday afternoon: 345 + 30 minutes)
    minute = kite.historical_data(tok, now - timedelta(days=7), now, "minute")
    assert minute[-1]["date"].hour == 9 and len(minute) > 375
    assert set(minute[0]) == {"date", "open", "high", "low", "close", "volume"}
    with_oi = kite.historical_data(tok, now - timedelta(hours=1), now, "5minute", oi=True)
    assert set(with_oi[0]) == {"date", "open", "high", "low", "close", "volume", "oi"}
    day = kite.historical_data(tok, now - timedelta(days=10), now, "day")
    assert day[-1]["date"].date() == sim.market.trade_date and day[-1]["close"] == sim.market.get("NSE:INFY").last
    with pytest.raises(kex.InputException):
        kite.historical_data(tok, now - timedelta(days=61), now, "minute")
    with pytest.raises(kex.InputException):
        kite.historical_data(tok, now - timedelta(days=1), now, "minute", continuous=True)
    with pytest.raises(kex.InputException):
        kite.historical_data(tok, now, now, "2minute")


def test_gtt_lifecycle_and_trigger(kite, sim):
    sim.step(1)
    last = sim.market.get("NSE:INFY").last
    gid = kite.place_gtt(kite.GTT_TYPE_SINGLE, "INFY", "NSE", [round(last * 1.5, 1)], last,
                         [{"transaction_type": "SELL", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": round(last * 1.5, 1)}])["trigger_id"]
    assert_shape(kite.get_gtts(), fixture_data("gtt_get_orders.json"))
    assert_shape(kite.get_gtt(gid), fixture_data("gtt_get_order.json"))
    kite.modify_gtt(gid, kite.GTT_TYPE_SINGLE, "INFY", "NSE", [round(last * 1.4, 1)], last,
                    [{"transaction_type": "SELL", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": round(last * 1.4, 1)}])
    assert kite.get_gtt(gid)["condition"]["trigger_values"] == [round(last * 1.4, 1)]
    assert kite.delete_gtt(gid)["trigger_id"] == gid
    assert kite.get_gtt(gid)["status"] == "deleted"
    # an OCO straddling the last price fires its lower leg when the price falls through it
    oco = kite.place_gtt(kite.GTT_TYPE_OCO, "INFY", "NSE", [round(last * 0.95, 1), round(last * 1.2, 1)], last,
                         [{"transaction_type": "SELL", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": round(last * 0.9, 1)},
                          {"transaction_type": "SELL", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": round(last * 1.2, 1)}])["trigger_id"]
    sim.market.move("NSE:INFY", -8)
    g = kite.get_gtt(oco)
    assert g["status"] == "triggered" and g["orders"][0]["result"]["order_result"]["status"] in ("success", "failed")
    assert g["orders"][1]["result"] is None


def test_logout_kills_the_token(kite, sim):
    assert kite.invalidate_access_token() is True
    with pytest.raises(kex.TokenException):
        kite.orders()


def test_server_rate_limits_answer_429_network_exception(sim, kite):
    from tradekit.brokers.kite.ratelimit import DEFAULT_LIMITS

    sim.app.set_limits(DEFAULT_LIMITS)
    kite.ltp("NSE:INFY")
    with pytest.raises(kex.NetworkException, match="Too many requests") as ei:
        kite.ltp("NSE:INFY")
    assert ei.value.code == 429


def test_postback_checksum_matches_the_documented_formula(sim):
    payload = {"order_id": "220303000308932", "order_timestamp": "2022-03-03 09:24:25"}
    want = hashlib.sha256(b"2203030003089322022-03-03 09:24:25simsecret").hexdigest()
    assert sim.app.postback_checksum(payload) == want


def test_partial_fills_and_update_status(kite, sim):
    updates = []
    sim.app.order_listeners.append(updates.append)
    sim.step(1)
    s = sim.market.get("NSE:INFY")
    big = int(s.v[s.i] * 0.25) + 10  # more than the 10 % of a bar's volume one order may take
    oid = place(kite, "TKBIG1", qty=big)
    sim.step(1)
    row = [o for o in kite.orders() if o["order_id"] == oid][0]
    assert row["status"] == "OPEN" and 0 < row["filled_quantity"] < big
    assert row["pending_quantity"] == big - row["filled_quantity"]
    assert any(u["status"] == "UPDATE" and u["order_id"] == oid for u in updates)
    sim.step(6)
    row = [o for o in kite.orders() if o["order_id"] == oid][0]
    assert row["status"] == "COMPLETE" and row["filled_quantity"] == big
    assert len(kite.order_trades(oid)) >= 2
    assert updates[-1]["status"] == "COMPLETE" and updates[-1]["unfilled_quantity"] == 0
