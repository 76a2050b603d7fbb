"""Instrument master: the Kite dump loader, lookups, the day's cache, the bundled master."""

from __future__ import annotations

import gzip
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.errors import DataError, MarketRuleError
from tradekit.market import InstrumentStore, lot_size_for, parse_instruments
from tradekit.model import Exchange, InstrumentType, Segment

SAMPLE = Path(__file__).resolve().parents[3] / "tradekit" / "data" / "sample"
HEADER = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n"
DAILY = [
    "RELIANCE",
    "HDFCBANK",
    "ICICIBANK",
    "INFY",
    "TCS",
    "SBIN",
    "ITC",
    "LT",
    "AXISBANK",
    "KOTAKBANK",
    "BHARTIARTL",
    "HINDUNILVR",
    "BAJFINANCE",
    "MARUTI",
    "SUNPHARMA",
    "TATAMOTORS",
    "TATASTEEL",
    "NTPC",
    "POWERGRID",
    "M&M",
    "ASIANPAINT",
    "TITAN",
    "ULTRACEMCO",
    "WIPRO",
    "HCLTECH",
]


@pytest.fixture(scope="module")
def bundled():
    return InstrumentStore.bundled()


def test_bundled_master_covers_every_sample_symbol(bundled):
    for sym in DAILY + ["HDFC"]:
        inst = bundled.get("NSE", sym)
        assert (
            inst.lot_size == 1 and inst.instrument_type is InstrumentType.EQ and inst.tick_size > 0
        )
        assert (
            inst.instrument_token == inst.exchange_token * 256 + 1
        )  # Kite's token structure, NSE segment id 1
        assert inst.meta["tick_rule"] == "nse-equity"
    for sym, token in (("NIFTY 50", 256265), ("NIFTY BANK", 260105)):
        assert (
            bundled.get("NSE", sym).instrument_token == token and bundled.get("NSE", sym).is_index
        )
    assert len(bundled) == 28 and bundled.problems == []


def test_lookup_by_symbol_and_token(bundled):
    assert bundled.get("NSE:RELIANCE").instrument_token == 738561
    assert bundled.by_token(408065).tradingsymbol == "INFY"
    assert bundled.get(Exchange.NSE, "m&m").tradingsymbol == "M&M"  # case-insensitive
    assert "NSE:TCS" in bundled and "NSE:NOPE" not in bundled


def test_unknown_symbol_and_token_name_the_instrument(bundled):
    with pytest.raises(
        MarketRuleError,
        match=r"^NSE:NOPE: unknown instrument: not in the instrument master \(bundled\)",
    ):
        bundled.get("NSE", "NOPE")
    with pytest.raises(MarketRuleError, match="instrument_token 1: unknown instrument"):
        bundled.by_token(1)
    with pytest.raises(MarketRuleError, match="EXCHANGE:TRADINGSYMBOL"):
        bundled.get("RELIANCE")
    with pytest.raises(MarketRuleError, match="exchange"):
        bundled.get("XYZ", "RELIANCE")


def test_official_fixture_dump_loads():
    store = InstrumentStore.load_csv(SAMPLE / "kite_instruments_fixture.csv")
    assert len(store) == 99 and store.problems == []
    opt = store.get("NFO", "BANKNIFTY18JAN23500CE")
    assert (opt.strike, opt.lot_size, opt.expiry, opt.underlying) == (
        Decimal("23500.0"),
        40,
        date(2018, 1, 25),
        "BANKNIFTY",
    )
    assert (
        opt.instrument_type is InstrumentType.CE
        and opt.segment is Segment.NFO_OPT
        and opt.is_option
    )
    eq = store.get("NSE", "ADANIPORTS")
    assert eq.strike is None and eq.expiry is None and eq.tick_size == Decimal("0.05")


def test_real_dump_sample_loads_with_lots_that_match_the_lot_table():
    store = InstrumentStore.load_csv(
        SAMPLE / "KITE_NFO_instruments_2026-08-18_sample.csv.gz", as_of=date(2026, 8, 18)
    )
    assert len(store) == 1184 and store.problems == []
    fut = store.get("NFO:NIFTY26AUGFUT")
    assert (fut.lot_size, fut.tick_size, fut.expiry) == (65, Decimal("0.1"), date(2026, 8, 25))
    assert fut.freeze_quantity == 1800  # NSE/FAOP/75521, in force on the dump's day
    assert store.get("NFO:BANKNIFTY26AUGFUT").freeze_quantity == 600
    futures = store.search(exchange="NFO", instrument_type="FUT")
    assert len(futures) == 640
    assert all(
        f.lot_size == lot_size_for(f.underlying) for f in futures if f.expiry == date(2026, 8, 25)
    )
    assert store.futures_expiries("BANKNIFTY") == [
        date(2026, 8, 25),
        date(2026, 9, 29),
        date(2026, 10, 27),
    ]


EMPTY_FIELDS = [
    "408065,1594,INFY,INFOSYS,,,,,,EQ,NSE,NSE",  # every numeric field empty
    "14866434,58072,NIFTY26AUGFUT,NIFTY,,2026-08-25,,,,FUT,NFO-FUT,NFO",
    ",5,NOTOKEN,,,,,,,EQ,NSE,NSE",
    "7,8,GIFTNIFTY,,,,,,,EQ,NSEIX,NSEIX",
    "9,10,ODDEXPIRY,,0,not-a-date,0,0.05,1,FUT,NFO-FUT,NFO",
]


def test_empty_numeric_fields_do_not_crash_the_loader():
    text = HEADER + "\n".join(EMPTY_FIELDS) + "\n"
    instruments, problems = parse_instruments(text)
    by = {i.tradingsymbol: i for i in instruments}
    assert set(by) == {"INFY", "NIFTY26AUGFUT", "ODDEXPIRY"}
    assert (by["INFY"].tick_size, by["INFY"].lot_size, by["INFY"].meta["last_price"]) == (0, 1, 0)
    assert (
        by["NIFTY26AUGFUT"].tick_size,
        by["NIFTY26AUGFUT"].lot_size,
        by["NIFTY26AUGFUT"].strike,
    ) == (0, 0, None)
    assert by["ODDEXPIRY"].expiry is None
    assert (
        len(problems) == 3
        and any("NOTOKEN" in p for p in problems)
        and any("NSEIX" in p for p in problems)
    )


def test_a_file_that_is_not_a_dump_is_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,price\nINFY,1\n")
    with pytest.raises(DataError, match="missing column.*instrument_token"):
        InstrumentStore.load_csv(bad)
    with pytest.raises(DataError, match="not found"):
        InstrumentStore.load_csv(tmp_path / "missing.csv")


def test_currency_and_commodity_multipliers():
    text = (
        HEADER
        + "1,2,USDINR26DECFUT,USDINR,0,2026-12-29,0,0.0025,1,FUT,CDS-FUT,CDS\n3,4,GOLD26DECFUT,GOLD,0,2026-12-04,0,1,1,FUT,MCX-FUT,MCX\n"
    )
    store = InstrumentStore.load_csv(text.encode())
    assert store.get("CDS:USDINR26DECFUT").multiplier == 1000
    assert store.get("MCX:GOLD26DECFUT").multiplier == 100


def test_the_days_dump_is_cached_on_disk(tmp_path):
    raw = (SAMPLE / "kite_instruments_fixture.csv").read_bytes()
    calls = []

    def fetch():
        calls.append(1)
        return raw

    day = date(2026, 11, 23)
    s1 = InstrumentStore.cached_or_fetch(tmp_path, day, fetch)
    path = InstrumentStore.cache_path(tmp_path, day)
    assert path.name == "instruments_2026-11-23.csv.gz" and path.exists()
    assert gzip.decompress(path.read_bytes()) == raw
    s2 = InstrumentStore.cached_or_fetch(
        tmp_path, day, lambda: pytest.fail("fetched although cached")
    )
    assert len(s1) == len(s2) == 99 and calls == [1] and s2.as_of == day
    InstrumentStore.cached_or_fetch(tmp_path, date(2026, 11, 25), fetch)
    assert calls == [1, 1]
    assert InstrumentStore.from_cache(tmp_path, date(2026, 1, 1)) is None


def test_a_broken_fetch_is_not_cached(tmp_path):
    with pytest.raises(DataError):
        InstrumentStore.cached_or_fetch(tmp_path, date(2026, 11, 23), lambda: b"<html>error</html>")
    assert not InstrumentStore.cache_path(tmp_path, date(2026, 11, 23)).exists()


def test_bundled_with_the_nfo_sample():
    store = InstrumentStore.bundled(include_nfo_sample=True)
    assert store.get("NSE:INFY").instrument_token == 408065
    assert store.get("NFO:RELIANCE26AUGFUT").lot_size == 500
    assert store.by_token(14866434).tradingsymbol == "NIFTY26AUGFUT"


def test_cache_dir_comes_from_the_config_or_the_data_dir(tmp_path):
    from tradekit.market import MarketConfig, instrument_cache_dir

    assert instrument_cache_dir(tmp_path) == tmp_path / "cache" / "instruments"
    assert (
        instrument_cache_dir(tmp_path, MarketConfig(instrument_cache_dir=tmp_path / "x"))
        == tmp_path / "x"
    )


@settings(max_examples=300, deadline=None)
@given(ex=st.sampled_from(list(Exchange)),
       sym=st.one_of(st.sampled_from(["INFY", "infy", " RELIANCE ", "Tcs\t", "NIFTY", "M&M", "", " ", "NOPE"]),
                     st.text(max_size=8)))
def test_a_member_and_a_symbol_find_what_the_exchange_text_finds(bundled, ex, sym):
    """InstrumentStore.get's shortcut for an Exchange member (every order's look-up) against the
    general path a plain exchange text takes (_split: parse, strip): the same instrument or error."""
    store = bundled

    def outcome(exchange):
        try:
            return ("ok", store.get(exchange, sym))
        except MarketRuleError as e:
            return ("error", str(e), e.field)

    assert outcome(ex) == outcome(ex.value)

