"""The reader of recorded option quotes (tradekit.options.chain_feed) on real tick stores in tmp_path."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from tests.unit.options.recorded_chain import (AT, DAY, EXPIRY, STRIKES, VOL, chain_ticks, key, option_tick, premium,
                                               record)
from tradekit.data.tickstore import TickStore
from tradekit.data.types import DepthLevel, Tick
from tradekit.options.chain import option_chain
from tradekit.options.chain_feed import (chain_master, option_days, option_underlyings, read_option_quotes,
                                         read_quotes, recorded_chain)


@pytest.fixture(scope="module")
def master():
    return chain_master(None, DAY)


def test_empty_store_reads_nothing_and_the_chain_is_unpriced(tmp_path, master):
    store = TickStore(tmp_path / "ticks")
    rq = read_option_quotes(store, "NIFTY", EXPIRY, master=master, day=DAY)
    assert rq.quotes == {} and rq.newest is None and key(24850, "CE") in rq.missing
    assert option_underlyings(store, DAY, master=master) == {}
    assert option_days(store, master=master) == []
    df = recorded_chain(store, "NIFTY", EXPIRY, master=master, day=DAY)
    assert len(df) == 105 and df.attrs["quotes"] == 0
    assert df["ce_ltp"].isna().all() and df["ce_iv"].isna().all()
    assert any("no quote recorded on 2026-08-17" in n for n in df.attrs["notes"])


def test_latest_quote_per_contract_gives_the_same_chain_as_the_notebook(tmp_path, master):
    later = AT + timedelta(minutes=5)
    record(tmp_path, chain_ticks() + [option_tick(24850, "CE", at=later, ltp=99.0, oi=123_456)])
    store = TickStore(tmp_path)
    rq = read_option_quotes(store, "NIFTY", EXPIRY, master=master, day=DAY)
    assert rq.quotes[key(24850, "CE")].last_price == 99.0 and rq.quotes[key(24850, "CE")].oi == 123_456
    assert rq.times[key(24850, "CE")] == later and rq.newest == later
    assert len(rq.quotes) == 2 * len(STRIKES) + 1  # every recorded contract and the spot
    assert option_underlyings(store, DAY, master=master) == {("NFO", "NIFTY"): [EXPIRY]}
    assert option_days(store, master=master) == [DAY]
    df = recorded_chain(store, "NIFTY", EXPIRY, master=master, day=DAY, strikes=5)
    same = option_chain("NIFTY", EXPIRY, master=master, quotes=rq.quotes, now=later, previous_oi=rq.previous_oi,
                        strikes=5)
    assert list(df.index) == list(same.index) == [float(k) for k in STRIKES]
    for col in ("ce_ltp", "pe_ltp", "ce_iv", "pe_iv", "ce_delta", "pe_oi"):
        assert df[col].tolist() == pytest.approx(same[col].tolist(), nan_ok=True)
    assert df.attrs["as_of"] == later  # no session clock on the day: the chain is as of the last quote
    assert df.attrs["forward_source"].startswith("put-call parity")
    assert df.loc[24900.0, "pe_iv"] == pytest.approx(VOL, abs=2e-3)  # recorded 14:00 quotes, priced at 14:05
    # ages: from the last quote of the day, or from the session clock's now when it is that day
    assert df.loc[24850.0, "ce_age_s"] == 0 and df.loc[24900.0, "ce_age_s"] == 300
    now = later + timedelta(seconds=30)
    df2 = recorded_chain(store, "NIFTY", EXPIRY, master=master, day=DAY, now=now, strikes=5)
    assert df2.loc[24900.0, "pe_age_s"] == 330 and df2.attrs["as_of"] == now


def test_a_contract_without_a_quote_is_a_blank_row_and_is_counted(tmp_path, master):
    record(tmp_path, [t for t in chain_ticks() if t.key != key(24900, "PE")])
    df = recorded_chain(TickStore(tmp_path), "NIFTY", EXPIRY, master=master, day=DAY, strikes=5)
    assert math.isnan(df.loc[24900.0, "pe_ltp"]) and math.isnan(df.loc[24900.0, "pe_iv"])
    assert math.isnan(df.loc[24900.0, "pe_age_s"])
    assert df.loc[24900.0, "ce_ltp"] == premium(24900, "CE")
    assert "1 of 22 contracts have no quote recorded on 2026-08-17" in df.attrs["notes"]


def test_nan_and_zero_prices(tmp_path, master):
    later = AT + timedelta(minutes=1)
    ticks = chain_ticks() + [
        # a later row without any price: the earlier priced quote stays the latest
        Tick(key(24850, "CE"), later, math.nan, None, "full", oi=1),
        Tick(key(24850, "PE"), later, 0.0, None, "quote"),
        # a zero LTP with a two-sided book: the row counts, its LTP is no price, the IV comes from the mid
        Tick(key(24900, "CE"), later, 0.0, None, "full", oi=100_900,
             bids=(DepthLevel(55.0, 650, 2), DepthLevel(0.0, 0, 0)), asks=(DepthLevel(57.0, 650, 1),)),
    ]
    record(tmp_path, ticks)
    rq = read_quotes(TickStore(tmp_path), DAY, [key(24850, "CE"), key(24850, "PE"), key(24900, "CE")])
    assert rq.quotes[key(24850, "CE")].last_price == premium(24850, "CE") and rq.times[key(24850, "CE")] == AT
    assert rq.quotes[key(24850, "PE")].last_price == premium(24850, "PE")
    z = rq.quotes[key(24900, "CE")]
    assert math.isnan(z.last_price) and z.bids[0].price == 55.0 and rq.times[key(24900, "CE")] == later
    df = recorded_chain(TickStore(tmp_path), "NIFTY", EXPIRY, master=master, day=DAY, strikes=3)
    assert math.isnan(df.loc[24900.0, "ce_ltp"]) and df.loc[24900.0, "ce_bid"] == 55.0
    assert 0.05 < df.loc[24900.0, "ce_iv"] < 0.5  # solved from the 56.00 mid


def test_oi_change_against_the_previous_recorded_day_else_the_first_of_the_day(tmp_path, master):
    prev_at = AT - timedelta(days=3)  # the Friday before
    record(tmp_path, [option_tick(24850, "CE", at=prev_at, oi=90_000), option_tick(24850, "CE", at=prev_at + timedelta(hours=1), oi=95_000)],
           clock_at=prev_at)
    record(tmp_path, [option_tick(24850, "CE", oi=96_000), option_tick(24850, "PE", oi=50_000),
                      option_tick(24850, "CE", at=AT + timedelta(minutes=1), oi=97_500),
                      option_tick(24850, "PE", at=AT + timedelta(minutes=1), oi=49_000)])
    store = TickStore(tmp_path)
    rq = read_quotes(store, DAY, [key(24850, "CE"), key(24850, "PE")])
    assert rq.previous_day == prev_at.date()
    assert rq.previous_oi == {key(24850, "CE"): 95_000, key(24850, "PE"): 50_000}
    assert rq.oi_basis == {key(24850, "CE"): "previous day", key(24850, "PE"): "first today"}
    df = recorded_chain(store, "NIFTY", EXPIRY, master=master, day=DAY, strikes=2)
    assert df.loc[24850.0, "ce_oi_change"] == 2_500 and df.loc[24850.0, "pe_oi_change"] == -1_000
    assert ("ΔOI: 1 against the last OI recorded on 2026-08-14; 1 against the day's first recorded OI"
            in df.attrs["notes"])
    assert option_days(store, master=master) == [DAY, prev_at.date()]


def test_a_store_being_written_is_read_as_flushed(tmp_path, master):
    ns = [int(AT.timestamp() * 1e9)]
    w = TickStore(tmp_path, flush_every=3600, background=False, compact_at=2, clock=lambda: ns[0])
    try:
        w.append(chain_ticks())
        w.flush()
        reader = TickStore(tmp_path)
        assert read_quotes(reader, DAY, [key(24850, "CE")]).quotes[key(24850, "CE")].last_price == premium(24850, "CE")
        w.append([option_tick(24850, "CE", at=AT + timedelta(seconds=1), ltp=81.0)])  # buffered, not flushed
        assert read_quotes(reader, DAY, [key(24850, "CE")]).quotes[key(24850, "CE")].last_price == premium(24850, "CE")
        w.flush()  # the second flush file: the writer compacts the day (compact_at=2) while readers read
        assert read_quotes(reader, DAY, [key(24850, "CE")]).quotes[key(24850, "CE")].last_price == 81.0
        w.append([option_tick(24850, "CE", at=AT + timedelta(seconds=2), ltp=82.0)])
        w.flush()
        df = recorded_chain(reader, "NIFTY", EXPIRY, master=master, day=DAY, strikes=1)
        assert df.loc[24850.0, "ce_ltp"] == 82.0
        assert any(p.name.startswith("c-") for p in (tmp_path / DAY.isoformat()).iterdir())
    finally:
        w.close()


def test_bad_expiry_is_named(tmp_path, master):
    from tradekit.errors import ValidationError

    with pytest.raises(ValidationError) as e:
        recorded_chain(TickStore(tmp_path), "NIFTY", "18-08-2026", master=master, day=DAY)
    assert e.value.field == "expiry"
