"""The option chain from the master and one quote source: the market-data hub fed by the sandbox's
modelled NIFTY contracts (the paper path), Kite quote dicts (the live /quote path), and edge cases."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pytest

from tradekit.clock import IST, ist
from tradekit.errors import ValidationError
from tradekit.market.instruments import InstrumentStore
from tradekit.options.chain import option_chain, time_to_expiry

DAY = date(2026, 8, 14)  # a Friday before the sample's NIFTY weekly expiry of 2026-08-18


@pytest.fixture(scope="module")
def market():
    from tradekit.brokers.kite.sim.market import SimMarket

    m = SimMarket(InstrumentStore.bundled(include_nfo_sample=True), symbols=["NIFTY50"], trade_date=DAY,
                  ticks_per_bar=4)
    m.step(5)
    return m


def _hub_from(market, keys):
    from tradekit.marketdata.hub import MarketDataHub

    hub = MarketDataHub(clock=market.clock)
    hub.on_ticks([market.tick(market.series[k], "full") for k in keys], source="paper")
    return hub


def test_chain_through_the_hub_recovers_the_sandbox_volatility(market):
    from tradekit.brokers.kite.sim import derivatives as model

    keys = [s.key for s in market.derived["NSE:NIFTY 50"]] + ["NSE:NIFTY 50"]
    hub = _hub_from(market, keys)
    now = market.now
    df = option_chain("NIFTY", master=market.instruments, quotes=hub, now=now, rate=model.RATE)
    assert df.attrs["expiry"] == date(2026, 8, 18) and df.attrs["lot_size"] == 65
    assert df.attrs["forward_source"].startswith("put-call parity")   # a weekly expiry has no future
    spot = market.series["NSE:NIFTY 50"].last
    t = time_to_expiry(date(2026, 8, 18), now)
    assert df.attrs["forward"] == pytest.approx(spot * math.exp(model.RATE * t), rel=2e-4)
    assert len(df) == 105 and {"ce_ltp", "pe_bid", "ce_oi", "pe_oi_day_high", "ce_iv", "pe_delta", "ce_vega"} <= set(df)
    # near the money the model's smile comes back out of the premiums (within tick rounding)
    F = df.attrs["forward"]
    near = df[(df.index > F * 0.99) & (df.index < F * 1.01)]
    assert len(near) >= 4
    for k, row in near.iterrows():
        want = model.INDEX_VOL * (1 + model.SMILE * math.log(k / F) ** 2)
        otm_iv = row.ce_iv if k >= F else row.pe_iv
        assert otm_iv == pytest.approx(want, abs=0.006), k
    # quotes as the sandbox serves them: two-sided, OI within the day's range, volume traded
    atm = df.iloc[int(np.argmin(np.abs(df.index - F)))]
    assert atm.ce_bid < atm.ce_ask and atm.pe_bid < atm.pe_ask
    assert atm.ce_oi_day_low <= atm.ce_oi <= atm.ce_oi_day_high and atm.ce_oi > 0 and atm.ce_volume > 0
    # Greeks behave: call delta falls with the strike, puts negative, Δc − Δp = e^{−rt}
    d = df.ce_delta.dropna()
    assert (np.diff(d.to_numpy()) <= 1e-12).all() and (df.pe_delta.dropna() < 0).all()
    assert atm.ce_delta - atm.pe_delta == pytest.approx(math.exp(-model.RATE * t), abs=1e-9)
    assert atm.ce_theta < 0 and atm.ce_vega > 0 and atm.ce_gamma > 0
    assert math.isnan(atm.ce_oi_change) and "previous_oi" in df.attrs["notes"][0]


def test_strikes_window_and_oi_change(market):
    keys = [s.key for s in market.derived["NSE:NIFTY 50"]]
    hub = _hub_from(market, keys)
    atm_key = "NFO:NIFTY2681822300CE"
    prev = {atm_key: 1_000_000}
    df = option_chain("NIFTY", "2026-08-18", master=market.instruments, quotes=hub, now=market.now, strikes=3,
                      previous_oi=prev)
    assert len(df) == 7
    row = df[df.ce_key == atm_key]
    if len(row):
        assert row.ce_oi_change.iloc[0] == row.ce_oi.iloc[0] - 1_000_000


def test_the_future_of_the_expiry_is_the_forward_when_quoted(market):
    keys = [s.key for s in market.derived["NSE:NIFTY BANK"]]
    hub = _hub_from(market, keys)
    df = option_chain("BANKNIFTY", date(2026, 8, 25), master=market.instruments, quotes=hub, now=market.now)
    fut = market.series["NFO:BANKNIFTY26AUGFUT"].last
    assert df.attrs["forward_source"] == "future NFO:BANKNIFTY26AUGFUT" and df.attrs["forward"] == fut


def test_kite_quote_dicts_give_the_same_chain(market):
    """The live path: kite.quote()'s entries as they are (depth lists, oi fields)."""
    keys = [s.key for s in market.derived["NSE:NIFTY 50"]]
    hub = _hub_from(market, keys)
    quotes = {}
    for k in keys:
        t = market.tick(market.series[k], "full")
        quotes[k] = {"last_price": t.last_price, "oi": t.oi, "oi_day_high": t.oi_day_high, "oi_day_low": t.oi_day_low,
                     "volume": t.volume,
                     "depth": {"buy": [{"price": b.price, "quantity": b.quantity, "orders": b.orders} for b in t.bids],
                               "sell": [{"price": a.price, "quantity": a.quantity, "orders": a.orders} for a in t.asks]}}
    a = option_chain("NIFTY", master=market.instruments, quotes=hub, now=market.now)
    b = option_chain("NIFTY", master=market.instruments, quotes=quotes, now=market.now)
    cols = ["ce_ltp", "ce_bid", "pe_ask", "ce_oi", "pe_oi_day_low", "ce_iv", "pe_delta"]
    assert np.allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), equal_nan=True)


def test_without_quotes_and_bad_arguments():
    master = InstrumentStore.bundled(include_nfo_sample=True)
    now = ist(2026, 8, 14, 10, 0)
    df = option_chain("NIFTY", master=master, now=now)
    assert df.ce_ltp.isna().all() and df.ce_iv.isna().all() and df.attrs["forward_source"] == "none"
    assert (df.ce_iv_note == "no price").all()
    with pytest.raises(ValidationError, match="expiry"):
        option_chain("NIFTY", "2026-08-19", master=master, now=now)
    with pytest.raises(ValidationError, match="expiry"):
        option_chain("NIFTY", "18-08-2026", master=master, now=now)
    with pytest.raises(ValidationError, match="underlying"):
        option_chain("NOSUCH", master=master, now=now)
    with pytest.raises(ValidationError, match="expiry"):  # everything expired
        option_chain("NIFTY", master=master, now=datetime(2026, 8, 18, 15, 41, tzinfo=IST))
    with pytest.raises(ValidationError, match="quotes"):
        option_chain("NIFTY", master=master, now=now, quotes=[1, 2])
    with pytest.raises(ValidationError, match="rate"):
        option_chain("NIFTY", master=master, now=now, rate=6.5)


def test_the_chain_view_renders_and_refreshes(market):
    from tradekit.options.chain import expiries
    from tradekit.options.view import ChainView, chain_html

    keys = [s.key for s in market.derived["NSE:NIFTY 50"]] + [s.key for s in market.derived["NSE:NIFTY BANK"]]
    hub = _hub_from(market, keys)

    def load(u, e):
        return option_chain(u, e, master=market.instruments, quotes=hub, now=market.now, strikes=5)

    df = load("NIFTY", None)
    page = chain_html(df)
    assert 9 <= len(df) <= 11 and page.count("<tr") == 1 + len(df) and "class='atm'" in page and "put-call parity" in page and "itm" in page
    v = ChainView(load, ["NIFTY", "BANKNIFTY"], lambda u: expiries(u, master=market.instruments))
    assert v.expiry.options == ("2026-08-18",) and "tk-chain" in v.table.value
    v.underlying.value = "BANKNIFTY"
    assert "BANKNIFTY 2026-08-25" in v.table.value
    v.expiry.options = ["2030-01-01"]
    v.expiry.value = "2030-01-01"
    assert "no options expiring 2030-01-01" in v.status.value   # the reason, not a traceback
