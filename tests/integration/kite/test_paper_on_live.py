"""Paper trading on live data: the paper broker fills on the Kite sandbox's ticks (through the official
client's ticker and the market-data hub), the ticks are recorded, Kite never sees an order, and the
recorded day replays at tick level to the same fills."""

from __future__ import annotations

import json
import threading
from datetime import date

import pandas as pd
import pytest

from tests.integration.kite.conftest import kite_config, request_token, secrets, wait_for
from tradekit.brokers.kite.ratelimit import governor
from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.signal import Signal

pytestmark = pytest.mark.slow

TRADING_DAY = date(2026, 12, 4)  # a Friday: the sandbox replays its bars as that day's market


@pytest.fixture
def sim():
    from tests.integration.kite.conftest import FAST, SYMBOLS
    from tradekit.brokers.kite.sim.server import KiteSimServer

    server = KiteSimServer(port=0, symbols=SYMBOLS, limits=FAST, heartbeat_seconds=0.5, trade_date=TRADING_DAY).start()
    yield server
    server.stop()


@pytest.fixture
def sim_today():
    from tests.integration.kite.conftest import FAST, SYMBOLS
    from tradekit.brokers.kite.sim.server import KiteSimServer

    server = KiteSimServer(port=0, symbols=SYMBOLS, limits=FAST, heartbeat_seconds=0.5).start()
    yield server
    server.stop()




def test_paper_session_on_kite_ticks_fills_on_the_book_records_ticks_and_sends_nothing_to_kite(sim, kite, tmp_path, monkeypatch):
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.config import load_config
    from tradekit.data.tickstore import TickStore
    from tradekit.runs.live import run_paper_live_day
    from tradekit.session import Session

    governor().min_backoff = 0.05
    var = tmp_path / "var"
    login = KiteBroker(kite_config(sim), secrets(), data_dir=var)  # `tradekit kite login`: the token file under data_dir
    login.complete_login(request_token(sim))
    login.close()
    monkeypatch.setenv("KITE_API_KEY", "simkey")
    monkeypatch.setenv("KITE_API_SECRET", "simsecret")
    cfg = load_config(overrides={
        "data_dir": str(var), "secrets_file": str(tmp_path / "none.env"),
        "kite": {"root": sim.url, "login_url": sim.login_url, "ticker_url": sim.ws_url},
        "paper": {"feed": "kite", "slippage": {"model": "none"}},
        "market_data": {"mark_interval_seconds": 0, "quote_wait_seconds": 3},
        "tick_store": {"flush_seconds": 0},
        "execution": {"square_off_time": None},
        "risk": {"breakers": {"stale_feed_seconds": 3600}},  # the sandbox jumps a market minute per step
    })
    cfg_file = tmp_path / "replay.yaml"
    cfg_file.write_text(f"data_dir: {tmp_path / 'rvar'}\n")
    s = Session.from_config(cfg, mode="paper", clock=sim.market.clock)
    done = threading.Event()
    out: dict = {}

    def run():
        try:
            out["run"] = run_paper_live_day(cfg, session=s, symbols=["NSE:INFY"], poll_interval=0.05, echo=None,
                                            stop=done.is_set)
        except BaseException as e:  # surfaced below
            out["error"] = e

    th = threading.Thread(target=run, daemon=True)
    th.start()
    try:
        def depth():
            q = s.market.quote("NSE:INFY")
            if q is None or not q.asks:
                sim.step(1)
                return "error" in out
            return True

        assert wait_for(depth, 20) and "error" not in out, (out, s.market.quote("NSE:INFY"))
        q = s.market.quote("NSE:INFY")
        assert q.asks and q.bids  # full mode (or a quote poll while the ticker connects): the depth the fills walk
        sig = Signal("pol-1", "live-paper", Exchange.NSE, "INFY", Side.BUY, 7, OrderType.MARKET, Product.MIS,
                     signal_time=s.clock.now())
        s.submit_signal(sig)
        for _ in range(10):
            if s.book.fills:
                break
            sim.step(1)
            wait_for(lambda: bool(s.book.fills), 1.0)
        assert s.book.fills >= 1
        trade = s.broker.trades()[0]
        assert trade.quantity == 7 or s.broker.orders()[0].filled_quantity == 7
        # a buy takes an ask of a tick the hub accepted (slippage none): never better than the quote
        # (the hub records a tick right after its listeners saw it: wait for the write)
        assert wait_for(lambda: float(trade.price) in {
            float(lv.price) for t in TickStore(var / "ticks").iter_ticks(TRADING_DAY, ["NSE:INFY"]) for lv in t.asks}, 60)
        # then a whole minute more, seen by the hub: how many ticks came before the fill depends on when the
        # ticker connected (on a loaded machine the snapshots alone may have priced and filled the order)
        # (the ticker subscribed at the sandbox first: on a loaded machine the hub may have priced everything so
        # far by quote polls while the ticker's child process started; the minute must come through the ticker)
        assert wait_for(lambda: any(sub.get(408065) == "full" for sub in sim.hub.subscriptions()), 60), \
            sim.hub.subscriptions()
        minute = [r for r in sim.step(1)[0] if r.series.key == "NSE:INFY"]
        last = minute[-1].end.replace(microsecond=0)

        def seen():  # the minute's last tick, from the ticker: the five before it came first, on one socket
            q = s.market.quote("NSE:INFY")
            return q.source == "kite" and q.exchange_time is not None and q.exchange_time >= last

        assert wait_for(seen, 60), (s.market.quote("NSE:INFY"), last)
    finally:
        done.set()
        th.join(15)
    assert "error" not in out, out
    assert out["run"].stop_reason == "stopped on request"
    # Kite never saw an order: the official client lists none
    assert kite.orders() == []
    day = s.clock.now().date()
    s.close()
    store = TickStore(var / "ticks")
    df = store.read(day, ["NSE:INFY"])
    assert len(df) >= len(minute) + 1 and df["bids"].map(len).max() == 5  # the snapshot(s), the minute's ticks
    assert day == TRADING_DAY
    assert store.query("select count(*) n from ticks where key = 'NSE:INFY'")["n"][0] == len(df)
    # the recorded day replays at tick level, twice to the same fills
    from tradekit.cli import main

    first = df["ts"].dropna().iloc[0] + pd.Timedelta(seconds=1)  # after the first quote
    sig = {"idempotency_key": "r1", "strategy": "s", "signal_time": first.isoformat(), "ttl_seconds": 600,
           "symbol": "INFY", "side": "BUY", "quantity": 3}
    (tmp_path / "s.json").write_text(json.dumps(sig))
    fills = []
    for i in range(2):
        assert main(["replay", "--ticks", "--date", str(day), "--store", str(var / "ticks"), "--signals",
                     str(tmp_path / "s.json"), "--out", str(tmp_path / f"r{i}"), "-c", str(cfg_file)]) == 0
        fills.append(pd.read_csv(tmp_path / f"r{i}" / "fills.csv"))
    assert len(fills[0]) >= 1
    pd.testing.assert_frame_equal(*fills)


def test_paper_on_live_without_a_login_is_one_clear_error(sim, tmp_path, monkeypatch):
    from tradekit.config import load_config
    from tradekit.errors import TradekitError
    from tradekit.runs.live import run_paper_live_day
    from tradekit.session import Session

    monkeypatch.setenv("KITE_API_KEY", "simkey")
    monkeypatch.delenv("KITE_ACCESS_TOKEN", raising=False)
    cfg = load_config(overrides={"data_dir": str(tmp_path / "var"), "secrets_file": str(tmp_path / "none.env"),
                                 "kite": {"root": sim.url, "login_url": sim.login_url, "ticker_url": sim.ws_url},
                                 "paper": {"feed": "kite"}})
    s = Session.from_config(cfg, mode="paper", clock=sim.market.clock)
    with pytest.raises(TradekitError, match="needs a Kite login"):
        run_paper_live_day(cfg, session=s, echo=None)
    s.close()


def test_a_live_session_records_every_tick_it_accepts(sim_today, tmp_path):
    from tests.integration.kite.test_kite_marketdata import live_session, step
    from tradekit.data.tickstore import TickStore

    sim = sim_today
    s = live_session(sim, tmp_path, market_data={"watchlist": ["NSE:INFY", "NSE:SBIN"]})
    try:
        step(sim, s, 3)
    finally:
        s.close()  # ends the ticker (no tick arrives after it), then flushes the store's buffer
    # counted after the close: a frame still on its way when the steps were seen (a late subscription's
    # snapshot, the rest of the last minute) is accepted and recorded after any earlier reading
    accepted = s.market.counts["accepted"]
    assert accepted >= 3 * 2  # at least a tick a minute for each of the two (the watchlist's and the indices' too)
    store = TickStore(tmp_path / "var" / "ticks")
    (day,) = store.days()
    assert set(store.keys(day)) >= {"NSE:INFY", "NSE:SBIN"}
    assert len(store.read(day)) == accepted


@pytest.mark.parametrize("logged_in", [True, False])
def test_premarket_checks_a_paper_day_on_kite_data(sim_today, tmp_path, monkeypatch, logged_in):
    sim = sim_today

    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.config import load_config
    from tradekit.runs.premarket import PremarketCheck, _paper_live_checks

    var = tmp_path / "var"
    if logged_in:
        b = KiteBroker(kite_config(sim), secrets(), data_dir=var)
        b.complete_login(request_token(sim))
        b.close()
    monkeypatch.setenv("KITE_API_KEY", "simkey")
    monkeypatch.delenv("KITE_ACCESS_TOKEN", raising=False)
    cfg = load_config(overrides={"data_dir": str(var), "secrets_file": str(tmp_path / "none.env"),
                                 "kite": {"root": sim.url, "login_url": sim.login_url, "ticker_url": sim.ws_url},
                                 "paper": {"feed": "kite"}})
    from tradekit.clock import default_clock

    today = default_clock().now().date()
    chk = PremarketCheck(today, "paper", True, "")
    _paper_live_checks(chk, cfg, today, tmp_path / "run")
    rows = {r.check: (r.status, r.detail) for r in chk.checks.itertuples()}
    assert rows["market data"][0] == ("ok" if logged_in else "fail"), rows
    assert ("no order is sent to Kite" if logged_in else "needs a Kite login") in rows["market data"][1]
    assert rows["paper account"][0] == "ok" and "recording ticks to" in rows["tick store"][1]
    assert chk.ok == logged_in
