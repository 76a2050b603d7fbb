"""kite-sim's option and future quotes through the official client: OI, its day range, depth and
volume as Kite's /quote serves them, historical candles with oi=1, and a chain built from them."""

from __future__ import annotations

import math
from datetime import date

import pytest

from tests.integration.kite.conftest import FAST, request_token
from tradekit.market.instruments import InstrumentStore
from tradekit.options.chain import option_chain

DAY = date(2026, 8, 14)


@pytest.fixture(scope="module")
def fno_sim():
    from tradekit.brokers.kite.sim.server import KiteSimServer

    server = KiteSimServer(port=0, symbols=["NIFTY50"], limits=FAST, trade_date=DAY, ticks_per_bar=4,
                           instruments=InstrumentStore.bundled(include_nfo_sample=True)).start()
    server.market.step(3)
    yield server
    server.stop()


def test_option_quotes_are_kite_shaped_and_make_a_chain(fno_sim):
    from kiteconnect import KiteConnect

    kite = KiteConnect(fno_sim.api_key, root=fno_sim.url)
    kite.generate_session(request_token(fno_sim), "simsecret")
    master = fno_sim.instruments
    keys = [s.key for s in fno_sim.market.derived["NSE:NIFTY 50"]]
    q = kite.quote(keys[:200]) | kite.quote(keys[200:] + ["NSE:NIFTY 50", "NSE:INFY"])
    ce = q["NFO:NIFTY2681822300CE"]
    assert ce["oi"] > 0 and ce["oi_day_low"] <= ce["oi"] <= ce["oi_day_high"]
    assert ce["oi"] % 65 == 0                                           # whole NIFTY lots
    assert ce["depth"]["buy"][0]["price"] < ce["depth"]["sell"][0]["price"] and len(ce["depth"]["buy"]) == 5
    assert ce["volume"] > 0 and ce["last_price"] > 0
    assert q["NSE:INFY"]["oi"] == 0                                     # no OI on a cash instrument, as at Kite
    fut = kite.quote(["NFO:NIFTY26AUGFUT"])["NFO:NIFTY26AUGFUT"]
    assert fut["last_price"] > q["NSE:NIFTY 50"]["last_price"] and fut["oi"] > 0   # carry at a positive rate
    df = option_chain("NIFTY", master=master, quotes=q, now=fno_sim.market.now, rate=0.065)
    assert df.attrs["forward_source"].startswith("put-call parity")
    atm = df.iloc[(abs(df.index - df.attrs["forward"])).argmin()]
    assert 0.10 < atm.ce_iv < 0.16 and not math.isnan(atm.pe_delta)


def test_historical_candles_of_a_contract_carry_the_oi_its_quotes_show(fno_sim):
    """Kite's historical API with ``oi=1`` adds the open interest as a 7th column (kite.md §8, the official
    fixture ``historical_oi.json``): the sandbox's F&O candles carry the OI its quotes carry, not 0."""
    import json
    from datetime import timedelta

    from kiteconnect import KiteConnect

    from tests.integration.kite.conftest import FIX

    kite = KiteConnect(fno_sim.api_key, root=fno_sim.url)
    kite.generate_session(request_token(fno_sim), "simsecret")
    fno_sim.market.step(3)
    key = "NFO:NIFTY2681822300CE"
    tok = fno_sim.market.get(key).token
    now = fno_sim.market.now.replace(tzinfo=None)
    minute = kite.historical_data(tok, now - timedelta(hours=1), now, "minute", oi=True)
    q = kite.quote([key])[key]
    assert len(minute) >= 5 and set(minute[0]) == {"date", "open", "high", "low", "close", "volume", "oi"}
    assert all(c["oi"] > 0 and c["oi"] % 65 == 0 for c in minute)                  # whole NIFTY lots, never 0
    assert minute[-1]["oi"] == q["oi"] and minute[-1]["close"] == q["last_price"]   # what the quote shows now
    assert q["oi_day_low"] <= min(c["oi"] for c in minute) <= max(c["oi"] for c in minute) <= q["oi_day_high"]
    five = kite.historical_data(tok, now - timedelta(hours=1), now, "5minute", oi=True)
    assert five[-1]["oi"] == q["oi"] and sum(c["volume"] for c in five) == sum(c["volume"] for c in minute)
    day = kite.historical_data(tok, now - timedelta(days=3), now, "day", oi=True)
    assert len(day) == 1 and day[0]["oi"] == q["oi"]
    assert "oi" not in kite.historical_data(tok, now - timedelta(hours=1), now, "minute")[0]
    cash = kite.historical_data(fno_sim.market.get("NSE:NIFTY 50").token, now - timedelta(hours=1), now, "minute",
                                oi=True)
    assert cash and {c["oi"] for c in cash} == {0}                                 # no OI on the index, as at Kite
    # the same wire shape as Kite's own sample (historical_oi.json): 7 columns, the OI an integer
    want = json.loads((FIX / "historical_oi.json").read_text())["data"]["candles"][0]
    raw = fno_sim.app.handle("GET", f"/instruments/historical/{tok}/minute",
                             {"from": [(now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")],
                              "to": [now.strftime("%Y-%m-%d %H:%M:%S")], "oi": ["1"]}, {}, b"",
                             {"Authorization": f"token {fno_sim.api_key}:{kite.access_token}"})
    got = json.loads(raw.body)["data"]["candles"][0]
    assert len(got) == len(want) == 7 and [type(v) for v in (got[0], got[5], got[6])] == [str, int, int]
    assert [type(v) for v in (want[0], want[5], want[6])] == [str, int, int]
    assert all(isinstance(v, (int, float)) for v in got[1:5] + want[1:5])
