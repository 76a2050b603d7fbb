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
