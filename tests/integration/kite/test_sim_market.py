"""The sandbox's market data through the official clients: snapshots on subscribe, every
instrument priced, ticks along each bar's path, index packets, a paused ticker, moves and drift."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.integration.kite.conftest import FAST, request_token, wait_for
from tradekit.clock import IST
from tradekit.data.bars import SAMPLE_DIR, load_bars

pytestmark = pytest.mark.slow

CHILD = Path(__file__).with_name("official_ticker_child.py")
INFY, SBIN, ITC, NIFTY, SENSEX = 408065, 779521, 424961, 256265, 265




class OfficialTicker:
    """The official KiteTicker in a child process; its callbacks as a list of events."""

    def __init__(self, sim, token: str, tokens: list[int], mode: str = "full"):
        self.events: list[dict] = []
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), sim.api_key, sim.ws_url, mode, ",".join(map(str, tokens))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.proc.stdin.write(token + "\n")
        self.proc.stdin.flush()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                pass

    def of(self, ev: str) -> list[dict]:
        return [e for e in list(self.events) if e["ev"] == ev]

    def ticks(self, token: int | None = None, since: float = 0.0) -> list[dict]:
        return [t for e in self.of("ticks") if e["t"] >= since for t in e["ticks"]
                if token is None or t["instrument_token"] == token]

    def send(self, cmd: dict) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def close(self):
        try:
            self.send({"stop": True})
            self.proc.wait(5)
        except Exception:  # noqa: BLE001
            self.proc.kill()


@pytest.fixture
def make_sim():
    from tradekit.brokers.kite.sim.server import KiteSimServer

    made = []

    def make(**kw):
        kw.setdefault("symbols", ["INFY", "SBIN", "NIFTY50"])
        s = KiteSimServer(port=0, limits=FAST, heartbeat_seconds=0.5, **kw).start()
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def ticker():
    made = []

    def make(sim, tokens, mode="full"):
        t = OfficialTicker(sim, sim.login(), tokens, mode)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def _kite(sim):
    from kiteconnect import KiteConnect

    k = KiteConnect(sim.api_key, root=sim.url)
    k.generate_session(request_token(sim), "simsecret")
    return k


def test_a_tick_arrives_within_a_second_of_subscribing_at_speed_1(make_sim, ticker):
    sim = make_sim(speed=1.0)  # the first bar's first tick is a minute away
    t = ticker(sim, [INFY, NIFTY, ITC], "quote")
    assert wait_for(lambda: t.of("connect"), timeout=60)
    connected = t.of("connect")[0]["t"]
    assert wait_for(lambda: {x["instrument_token"] for x in t.ticks()} >= {INFY, NIFTY, ITC}, timeout=60)
    first = min(e["t"] for e in t.of("ticks"))
    # The hub answers the subscription itself with a snapshot; the replay at speed 1 releases its first
    # tick a minute after the start, and has released nothing yet: these ticks are the snapshot, sent on
    # the subscription, not a replayed tick waited for. (How soon after the connect they arrive is the
    # machine's scheduling: on an idle box well under a second, on a loaded one several; the bound is
    # the minute before the replay could have sent anything.)
    assert first - connected < 60
    assert not sim.market.started and sim.market.ticks_released == 0
    infy = t.ticks(INFY)[-1]
    assert infy["last_price"] == sim.market.get("NSE:INFY").prev_close and infy["ohlc"]["close"] == infy["last_price"]
    # a mode change is answered at once too
    n = len(t.ticks(INFY))
    t.send({"mode": "full", "tokens": [INFY]})
    assert wait_for(lambda: any(x["mode"] == "full" for x in t.ticks(INFY)[n:]), timeout=60)
    assert not sim.market.started  # the snapshot of the mode change, not a replayed tick
    full = [x for x in t.ticks(INFY) if x["mode"] == "full"][-1]
    assert len(full["depth"]["buy"]) == 5 and full["depth"]["buy"][0]["price"] < full["last_price"] < full["depth"]["sell"][0]["price"]


def test_an_instrument_without_minute_data_is_priced_at_its_last_close(sim, kite, ticker):
    close = float(load_bars(SAMPLE_DIR / "NSE_ITC_1d.csv.gz")["close"].iloc[-1])
    assert kite.ltp("NSE:ITC")["NSE:ITC"]["last_price"] == close
    assert kite.ohlc("NSE:ITC")["NSE:ITC"]["ohlc"]["close"] == close
    q = kite.quote("NSE:ITC")["NSE:ITC"]
    assert q["last_price"] == close and q["volume"] == 0 and len(q["depth"]["buy"]) == 5 and q["depth"]["buy"][0]["price"] > 0
    # every instrument of the master answers, indices and the SENSEX stand-in included
    keys = [i.key for i in sim.instruments]
    got = kite.ltp(keys)
    assert set(got) == set(keys) and all(v["last_price"] > 0 for v in got.values())
    assert "BSE:SENSEX" in got and got["BSE:SENSEX"]["instrument_token"] == SENSEX
    t = ticker(sim, [ITC], "full")
    assert wait_for(lambda: t.ticks(ITC), timeout=60)
    assert t.ticks(ITC)[0]["last_price"] == close


def test_each_bar_ticks_along_its_path_with_its_volume(make_sim, ticker):
    sim = make_sim(ticks_per_bar=5)
    t = ticker(sim, [INFY], "full")
    # the snapshots, in order on the socket: the subscription's (quote), then the mode's (full); no more come
    assert wait_for(lambda: any(x["mode"] == "full" for x in t.ticks(INFY)), timeout=60)
    before = len(t.ticks(INFY))
    s = sim.market.get("NSE:INFY")
    sim.step(1)
    o, h, lo, c, v = sim.market.bar(s, 0)
    assert wait_for(lambda: len(t.ticks(INFY)) >= before + 5, timeout=60)
    ticks = t.ticks(INFY)[before:]
    prices = [x["last_price"] for x in ticks]
    assert len(ticks) >= 3 and prices[0] == o and prices[-1] == c
    assert max(prices) == h and min(prices) == lo  # the path visits the bar's high and low
    assert ticks[-1]["volume_traded"] == v  # the whole bar's volume, split over the ticks
    steps = [b["volume_traded"] - a["volume_traded"] for a, b in zip(ticks, ticks[1:])]
    assert all(d >= 0 for d in steps) and ticks[0]["volume_traded"] + sum(steps) == v
    start = datetime(*sim.market.trade_date.timetuple()[:3], 9, 15, tzinfo=IST).timestamp()
    stamps = [datetime.fromisoformat(x["exchange_timestamp"]).timestamp() for x in ticks]
    assert all(start <= ts < start + 60 for ts in stamps) and stamps == sorted(stamps)  # inside the bar's minute
    last = ticks[-1]
    assert last["ohlc"]["high"] == h and last["ohlc"]["low"] == lo and last["ohlc"]["open"] == o
    assert 0 < last["last_traded_quantity"] <= v and lo <= last["average_traded_price"] <= h
    tick = float(s.tick)
    bids, asks = [d["price"] for d in last["depth"]["buy"]], [d["price"] for d in last["depth"]["sell"]]
    assert len(bids) == len(asks) == 5 and bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert all(abs(round(p / tick) * tick - p) < 1e-6 for p in bids + asks) and bids[0] < c < asks[0]


def test_resting_orders_fill_where_the_ticks_go(make_sim):
    sim = make_sim(ticks_per_bar=6)
    kite = _kite(sim)
    s = sim.market.get("NSE:INFY")
    o, h, lo, c, v = sim.market.bar(s, 0)
    assert lo < o  # the first bar dips below its open
    tick = float(s.tick)
    limit = round((int(lo / tick + 1e-9) + 1) * tick, 2)  # on the grid, just above the low
    assert lo < limit < o
    oid = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY", quantity=5,
                           product="MIS", order_type="LIMIT", price=limit)
    released = sim.step(1)[0]
    mine = [r for r in released if r.series is s]
    hit = next(r for r in mine if r.l <= limit)  # the first tick segment that reaches the limit
    fills = kite.order_trades(oid)
    assert sum(f["quantity"] for f in fills) == 5
    assert all(f["average_price"] == limit for f in fills)
    when = fills[0]["fill_timestamp"].replace(tzinfo=IST)  # the client parses it (naive, IST)
    assert hit.start.replace(microsecond=0) <= when <= hit.end


def test_index_packets_parse_in_the_official_client_and_an_index_can_be_moved(make_sim, ticker):
    sim = make_sim()
    t = ticker(sim, [NIFTY, SENSEX], "full")
    assert wait_for(lambda: all(any(x["mode"] == "full" for x in t.ticks(k)) for k in (NIFTY, SENSEX)), timeout=60)
    n0 = t.ticks(NIFTY)[-1]
    nifty = sim.market.get("NSE:NIFTY 50")
    assert n0["tradable"] is False and n0["mode"] == "full" and n0["last_price"] == nifty.prev_close
    assert n0["ohlc"]["close"] == nifty.prev_close and "exchange_timestamp" in n0
    sim.step(1)
    assert wait_for(lambda: t.ticks(NIFTY)[-1]["last_price"] == nifty.last, timeout=60)
    moved = t.ticks(NIFTY)[-1]
    assert moved["last_price"] == nifty.last and moved["ohlc"]["high"] == nifty.day_high
    r = requests.post(f"{sim.url}/sim/move", json={"instrument": "NSE:NIFTY 50", "percent": -10}, timeout=5)
    assert r.status_code == 200, r.text
    assert wait_for(lambda: t.ticks(NIFTY)[-1]["last_price"] < moved["last_price"] * 0.91, timeout=60)
    after = t.ticks(NIFTY)[-1]
    assert after["change"] == pytest.approx((after["last_price"] / nifty.prev_close - 1) * 100, abs=1e-6)
    assert after["change"] < -9  # a market-wide breaker sees the index down from its previous close
    sens = sim.market.get("BSE:SENSEX")
    assert t.ticks(SENSEX)[-1]["tradable"] is False and sens.prev_close > 3 * nifty.prev_close
    bad = requests.post(f"{sim.url}/sim/move", json={"instrument": "NSE:NOPE", "percent": -10}, timeout=5)
    assert bad.status_code == 400 and "instrument" in bad.json()["message"]
    bad = requests.post(f"{sim.url}/sim/move", json={"instrument": "NSE:NIFTY 50", "percent": "x"}, timeout=5)
    assert bad.status_code == 400 and "percent" in bad.json()["message"]


def test_a_paused_ticker_keeps_the_socket_open_and_sends_no_packets(make_sim, ticker):
    sim = make_sim()
    t = ticker(sim, [INFY], "quote")
    # the snapshots of the subscription and of the mode: the only data frames of a market that stands still
    assert wait_for(lambda: len(t.ticks(INFY)) >= 2, timeout=60)
    r = requests.post(f"{sim.url}/sim/ticker/pause", json={}, timeout=60)
    assert r.status_code == 200 and r.json()["data"] == {"paused": True, "heartbeats": True}
    paused_at = time.time()
    (client,) = sim.hub.clients
    sim.step(2)  # the market moves on
    assert wait_for(lambda: any(e["t"] >= paused_at for e in t.of("message")), timeout=60)
    assert t.ticks(INFY, since=paused_at) == []
    during = [e for e in t.of("message") if e["t"] >= paused_at]
    assert during and all(e["size"] == 1 for e in during)  # heartbeats only, as Kite sends when idle
    assert t.of("close") == [] and len(sim.hub.clients) == 1  # the connection stays open
    requests.post(f"{sim.url}/sim/ticker/pause", json={"heartbeats": False}, timeout=5)
    silent_from = client.last_sent  # the hub's own record (monotonic) of its last write to this client
    time.sleep(1.2)  # more than two heartbeat intervals (0.5 s) in which a heartbeat would be due
    # nothing written while silent: read at the hub, not from the child's clock (a heartbeat written just
    # before the switch can still be on its way to the child when it is thrown)
    assert client.last_sent == silent_from and t.of("close") == []
    assert requests.post(f"{sim.url}/sim/ticker/resume", timeout=5).status_code == 200
    resumed = time.time()
    stepped = sim.step(1)
    assert wait_for(lambda: t.ticks(INFY, since=resumed)[-1:] and
                    t.ticks(INFY)[-1]["last_price"] == sim.market.get("NSE:INFY").last, timeout=60)
    # the socket keeps order: had the paused minutes been sent, their ticks would have come before the
    # last one of the minute released after the resume; the ticks since the pause are that minute's alone
    minute = [r.c for r in stepped[0] if r.series.key == "NSE:INFY"]
    assert [x["last_price"] for x in t.ticks(INFY, since=paused_at)] == minute
    assert t.of("connect")[-1] is t.of("connect")[0]  # never reconnected


def test_a_drift_makes_the_replayed_prices_fall_steadily(make_sim):
    sim = make_sim()
    kite = _kite(sim)
    s = sim.market.get("NSE:INFY")
    raw = [float(x) for x in s.c[:10]]
    r = requests.post(f"{sim.url}/sim/drift", json={"instrument": "NSE:INFY", "percent_per_minute": -1}, timeout=5)
    assert r.status_code == 200, r.text
    sim.step(10)
    closes = [sim.market.bar(s, k)[3] for k in range(10)]
    for k in range(10):
        assert closes[k] == pytest.approx(raw[k] * 0.99 ** (k + 1), abs=float(s.tick))
    assert kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"] == closes[-1]
    assert closes[-1] < raw[-1] * 0.91
    bad = requests.post(f"{sim.url}/sim/drift", json={"instrument": "NSE:ITC", "percent_per_minute": -1}, timeout=5)
    assert bad.status_code == 400 and "no minute bars" in bad.json()["message"]


def test_the_replayed_clock_is_served_and_followed(make_sim, monkeypatch):
    import tradekit.clock as clock_module
    from datetime import time as dtime

    from tradekit.clock import SandboxClock

    # From 08:45 the first replayed tick (09:15) is a minute of real time away at 30x: until then the
    # sandbox's clock runs exactly at 30x (a clock waiting for its market thread's next tick would stand
    # at it when that thread is late; none is due during this test), so every reading below is compared
    # with the sandbox's own clock at the same moment, not with the machine's wall clock.
    sim = make_sim(speed=30.0, start=dtime(8, 45))
    info = requests.get(f"{sim.url}/sim/clock", timeout=5).json()["data"]
    assert info["day"] == sim.market.trade_date.isoformat() and info["speed"] == 30.0 and info["ticks_per_bar"] == 6
    reads: list[float] = []  # how long each reading of /sim/clock took

    def fetch():
        t0 = time.monotonic()
        try:
            return requests.get(f"{sim.url}/sim/clock", timeout=3).json()["data"]
        finally:
            reads.append(time.monotonic() - t0)

    clock = SandboxClock(sim.url, resync_seconds=0.5, fetch=fetch)
    assert clock.day == sim.market.trade_date and clock.speed == 30.0

    def reading():
        """(the sandbox's clock just before, the SandboxClock, the sandbox's clock just after)."""
        before = sim.market.now
        c = clock.now()
        return before, c, sim.market.now

    def follows(before, c, after):
        # The clock takes the sandbox's time from a reading and runs on from the moment the answer came
        # back: it is never ahead of the sandbox, and behind it by at most 30x the longest reading.
        assert before - timedelta(seconds=30 * max(reads)) <= c <= after, (before, c, after, reads)

    a = reading()
    follows(*a)
    time.sleep(1.0)  # ~30 s of replayed time; the clock re-reads the sandbox every 0.5 s meanwhile
    b = reading()
    follows(*b)
    assert b[1] - a[1] >= timedelta(seconds=20)  # it ran on at the sandbox's speed, not the wall clock's
    assert not sim.market.started and sim.market.now < datetime.combine(sim.market.trade_date, dtime(9, 15), IST)
    slept = []
    real_sleep = time.sleep
    me = threading.current_thread()
    monkeypatch.setattr(clock_module.time, "sleep",
                        lambda s: (threading.current_thread() is me and slept.append(s), real_sleep(s)))
    m0 = sim.market.now
    t0 = time.monotonic()
    clock.sleep(15)  # 15 s of replayed time at 30x: half a real second
    elapsed = time.monotonic() - t0
    monkeypatch.undo()
    assert slept == [0.5] and elapsed >= 0.5 and sim.market.now - m0 >= timedelta(seconds=15)
    with pytest.raises(ConnectionError):
        SandboxClock("http://127.0.0.1:9", timeout=0.5)


def test_a_held_placement_lands_only_after_the_hold(make_sim):
    from kiteconnect import KiteConnect

    sim = make_sim()
    kite = _kite(sim)
    sim.step(1)
    r = requests.post(f"{sim.url}/sim/faults/hold", json={"seconds": 1.5}, timeout=5)
    assert r.status_code == 200 and r.json()["data"]["kind"] == "hold"
    impatient = KiteConnect(sim.api_key, access_token=kite.access_token, root=sim.url, timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        impatient.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY", quantity=1,
                              product="MIS", order_type="LIMIT", price=100, tag="HELD1")
    # not at the broker while held (read before the hold ends; a client thread that a loaded machine lets
    # notice its timeout only after the hold may already find it there)
    early = [sim.app.count_by_tag("HELD1"), [o for o in kite.orders() if o["tag"] == "HELD1"], time.monotonic() - t0]
    assert early[2] >= 1.4 or early[:2] == [0, []], early
    assert wait_for(lambda: sim.app.count_by_tag("HELD1") == 1, timeout=60)
    assert time.monotonic() - t0 >= 1.4  # it reached the broker after the hold, though the client gave up
    assert [o["tag"] for o in kite.orders() if o["tag"] == "HELD1"] == ["HELD1"]
    # the other kind: processed at once, answered late
    requests.post(f"{sim.url}/sim/faults/delay", json={"seconds": 1.5}, timeout=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        impatient.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY", quantity=1,
                              product="MIS", order_type="LIMIT", price=100, tag="LATE1")
    assert wait_for(lambda: sim.app.count_by_tag("LATE1") == 1, timeout=60)  # placed, though never answered in time
    bad = requests.post(f"{sim.url}/sim/faults/hold", json={"seconds": -1}, timeout=5)
    assert bad.status_code == 400 and "seconds" in bad.json()["message"]


def _node_kiteconnect() -> str | None:
    """``node`` if it can load the npm ``kiteconnect`` package (from NODE_PATH or a node_modules), else None."""
    import shutil

    node = shutil.which("node")
    if node is None:
        return None
    ok = subprocess.run([node, "-e", "require('kiteconnect')"], capture_output=True, cwd=Path(__file__).parent)
    return node if ok.returncode == 0 else None


def test_the_official_nodejs_client_quotes_and_ticks(make_sim):
    """Optional: runs when ``node`` and the npm ``kiteconnect`` package are there (e.g. NODE_PATH=...)."""
    import os

    node = _node_kiteconnect()
    if node is None:
        pytest.skip("node or the npm kiteconnect package is not installed")
    sim = make_sim()
    sim.step(1)
    env = {**os.environ, "ROOT": sim.url, "WS": sim.ws_url, "API_KEY": sim.api_key, "ACCESS_TOKEN": sim.login(),
           "TOKENS": f"{INFY},{NIFTY}", "LISTEN_MS": "2000"}
    out = subprocess.run([node, str(Path(__file__).with_name("node_client_check.js"))], capture_output=True, text=True,
                         env=env, timeout=60, cwd=Path(__file__).parent)
    data = json.loads(out.stdout)
    assert "error" not in data, data
    close = float(load_bars(SAMPLE_DIR / "NSE_ITC_1d.csv.gz")["close"].iloc[-1])
    assert data["ltp"]["NSE:ITC"]["last_price"] == close
    assert data["ltp"]["NSE:INFY"]["last_price"] == sim.market.get("NSE:INFY").last
    assert len(data["quote"]["NSE:INFY"]["depth"]["buy"]) == 5
    by = {}
    for t in data["ticks"]:
        by.setdefault(t["instrument_token"], []).append(t)
    assert data["connected"] and set(by) == {INFY, NIFTY}
    assert min(t["received_at"] for t in data["ticks"]) - data["connected_at"] < 1000  # snapshot within 1 s
    nifty = [t for t in by[NIFTY] if t["mode"] == "full"][-1]
    assert nifty["tradable"] is False and nifty["last_price"] == sim.market.get("NSE:NIFTY 50").last
    assert nifty["ohlc"]["close"] == sim.market.get("NSE:NIFTY 50").prev_close
    infy = [t for t in by[INFY] if t["mode"] == "full"][-1]
    assert infy["volume_traded"] == sim.market.get("NSE:INFY").volume and len(infy["depth"]["buy"]) == 5
