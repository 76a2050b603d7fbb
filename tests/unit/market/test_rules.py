"""Tick, lot, band and freeze rules with the messages the risk gate shows."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tradekit.errors import DataError, MarketRuleError
from tradekit.market import (
    InstrumentStore,
    MarketConfig,
    check_band,
    check_freeze,
    check_lot,
    check_tick,
    freeze_for,
    freeze_from_index_level,
    freeze_quantity,
    lot_size_for,
    max_order_quantity,
    needs_slicing,
    nse_equity_tick,
    price_band,
    reference_price,
    round_to_tick,
    slice_quantity,
    tick_size_for,
)
from tradekit.model import Side

D = Decimal


@pytest.fixture(scope="module")
def store():
    return InstrumentStore.bundled(include_nfo_sample=True)


# -- tick --------------------------------------------------------------------------------------


def test_off_tick_price_names_the_instrument_and_the_rule(store):
    reliance = store.get("NSE:RELIANCE")
    with pytest.raises(
        MarketRuleError,
        match=r"^NSE:RELIANCE: price 2450.03 is not a multiple of the tick size 0.10$",
    ):
        check_tick(reliance, "2450.03", on_date=date(2026, 3, 2))
    assert check_tick(reliance, 2450.1, on_date=date(2026, 3, 2)) == D("2450.1")
    with pytest.raises(MarketRuleError, match="price -5 is not positive"):
        check_tick(reliance, -5)


def test_the_dump_tick_wins_over_the_tables(store):
    fut = store.get("NFO:NIFTY26AUGFUT")
    assert tick_size_for(fut, D("25000"), date(2026, 8, 18)) == D("0.1")
    with pytest.raises(
        MarketRuleError,
        match=r"NFO:NIFTY26AUGFUT: price 25000.05 is not a multiple of the tick size 0.10",
    ):
        check_tick(fut, "25000.05")


@pytest.mark.parametrize(
    "on,price,tick",
    [
        (date(2016, 8, 16), "1036.00", "0.05"),
        (date(2024, 6, 7), "240", "0.05"),  # before the 0.01 tick below ₹250
        (date(2024, 6, 10), "240", "0.01"),
        (date(2024, 6, 10), "260", "0.05"),
        (date(2025, 4, 14), "1400", "0.05"),  # the slab table starts 2025-04-15
        (date(2025, 4, 15), "249.99", "0.01"),
        (date(2025, 4, 15), "250", "0.05"),
        (date(2025, 4, 15), "1000", "0.05"),
        (date(2025, 4, 15), "1000.05", "0.10"),
        (date(2025, 4, 15), "5000", "0.10"),
        (date(2025, 4, 15), "5000.50", "0.50"),
        (date(2025, 4, 15), "10000", "0.50"),
        (date(2025, 4, 15), "10001", "1.00"),
        (date(2025, 4, 15), "20000", "1.00"),
        (date(2025, 4, 15), "20005", "5.00"),
    ],
)
def test_nse_equity_tick_table_by_date(store, on, price, tick):
    assert nse_equity_tick(price, on) == D(tick)
    assert tick_size_for(store.get("NSE:RELIANCE"), price, on) == D(tick)


def test_reference_price_is_the_previous_month_end_close(store):
    closes = {date(2025, 3, 27): "248.00", date(2025, 3, 28): "251.00", date(2025, 4, 1): "240.00"}
    ref = reference_price(closes, date(2025, 4, 15))
    assert ref == D("251.00")
    assert tick_size_for(
        store.get("NSE:SBIN"), D("240.00"), date(2025, 4, 15), reference_price=ref
    ) == D("0.05")
    with pytest.raises(DataError):
        reference_price(closes, date(2025, 3, 1))


def test_the_tick_of_a_rule_based_row_needs_a_price_once_it_depends_on_one(store):
    with pytest.raises(MarketRuleError, match="depends on the reference price"):
        tick_size_for(store.get("NSE:TCS"), on_date=date(2025, 6, 2))
    assert tick_size_for(store.get("NSE:TCS"), on_date=date(2020, 1, 2)) == D("0.05")


@pytest.mark.parametrize(
    "price,tick,direction,expected",
    [
        ("2450.03", "0.10", Side.BUY, "2450.00"),
        ("2450.03", "0.10", Side.SELL, "2450.10"),
        ("2450.03", "0.10", None, "2450.00"),
        ("2450.05", "0.10", "nearest", "2450.10"),
        ("105.2613", "0.0025", "down", "105.2600"),
        ("20003", "5", "up", "20005"),
    ],
)
def test_round_to_tick_is_an_explicit_step(price, tick, direction, expected):
    out = round_to_tick(price, tick, direction)
    assert out == D(expected) and out % D(tick) == 0


# -- lot ---------------------------------------------------------------------------------------


def test_lot_multiples(store):
    fut = store.get("NFO:NIFTY26AUGFUT")
    assert check_lot(fut, 130) == 130
    with pytest.raises(
        MarketRuleError,
        match=r"^NFO:NIFTY26AUGFUT: quantity 100 is not a multiple of the lot size 65 \(nearest: 65 or 130\)$",
    ):
        check_lot(fut, 100)
    with pytest.raises(MarketRuleError, match="quantity 0 is not positive"):
        check_lot(fut, 0)
    with pytest.raises(MarketRuleError, match="not a whole number"):
        check_lot(fut, 65.0)
    with pytest.raises(MarketRuleError, match="index"):
        check_lot(store.get("NSE:NIFTY 50"), 1)


def test_lot_table_of_2026_08_18():
    assert [
        lot_size_for(u)
        for u in ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "RELIANCE")
    ] == [65, 30, 60, 120, 25, 500]
    with pytest.raises(MarketRuleError, match="HDFC: no F&O lot size"):
        lot_size_for("HDFC")


# -- band --------------------------------------------------------------------------------------


def test_band_check_names_the_instrument_and_the_band(store):
    infy = store.get("NSE:INFY")
    assert check_band("1528.60", "1250.70", "1528.60", instrument=infy) == D("1528.60")  # inclusive
    with pytest.raises(
        MarketRuleError,
        match=r"^NSE:INFY: price 1600.00 is outside the price band 1250.70-1528.60$",
    ):
        check_band("1600.00", "1250.70", "1528.60", instrument=infy)
    with pytest.raises(MarketRuleError, match="price 1250.65 is outside"):
        check_band("1250.65", "1250.70", None)


def test_price_band_from_a_quote_or_config(store):
    infy = store.get("NSE:INFY")
    quote = {
        "lower_circuit_limit": 1250.7,
        "upper_circuit_limit": 1528.6,
    }  # kite_fixtures/quote.json
    band = price_band(infy, quote=quote)
    assert (band.lower, band.upper, band.source) == (D("1250.7"), D("1528.6"), "quote")
    # ±10 % of the close 1,389.65, the lower bound rounded up and the upper down to the tick
    cfg = MarketConfig(price_bands={"nse:infy": {"pct": 10}})
    band = price_band(infy, base_price="1389.65", config=cfg, tick=D("0.05"))
    assert (band.lower, band.upper) == (D("1250.70"), D("1528.60"))
    capped = price_band(infy, quote=quote, base_price="1389.65", cap_pct=5, tick=D("0.05"))
    assert (capped.lower, capped.upper) == (D("1320.20"), D("1459.10"))  # DR-test day cap
    with pytest.raises(MarketRuleError, match="NSE:INFY: no price band known"):
        price_band(infy)


# -- freeze ------------------------------------------------------------------------------------

FREEZE = [  # india.md §6.3
    ("2025-08-01", "NSE/FAOP/69431", 600, 1800, 1800, 2800, 600),
    ("2025-09-01", "NSE/FAOP/69913", 900, 1800, 1800, 2800, 600),
    ("2025-11-03", "NSE/FAOP/71087", 600, 1800, 1800, 2800, 600),
    ("2025-12-01", "NSE/FAOP/71540", 600, 1800, 1200, 2800, 600),
    ("2026-01-01", "NSE/FAOP/72094", 600, 1800, 1200, 2800, 600),
    ("2026-02-01", "NSE/FAOP/72534", 600, 1800, 1800, 2800, 600),
    ("2026-03-02", "NSE/FAOP/73039", 600, 1800, 1200, 2800, 600),
    ("2026-04-01", "NSE/FAOP/73531", 900, 1800, 1800, 2800, 600),
    ("2026-05-04", "NSE/FAOP/73991", 900, 1800, 1800, 2800, 600),
    ("2026-06-01", "NSE/FAOP/74469", 900, 1800, 1800, 2800, 600),
    ("2026-07-01", "NSE/FAOP/74942", 600, 1800, 1800, 2800, 600),
    ("2026-08-03", "NSE/FAOP/75521", 600, 1800, 1800, 2800, 600),
]


@pytest.mark.parametrize("row", FREEZE, ids=[r[1] for r in FREEZE])
def test_index_freeze_limits_by_circular(row):
    day = date.fromisoformat(row[0])
    got = [
        freeze_quantity(u, day)
        for u in ("BANKNIFTY", "NIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50")
    ]
    assert got == list(row[2:])


def test_freeze_limits_outside_the_table_are_refused_unless_told():
    with pytest.raises(DataError, match="2025-10-15 is not in the tables .NSE/FAOP/70530"):
        freeze_quantity("NIFTY", date(2025, 10, 15))
    with pytest.raises(DataError, match="market.freeze_limits"):
        freeze_quantity("NIFTY", date(2026, 11, 2))
    assert freeze_quantity("NIFTY", date(2026, 11, 2), index_level=25500) == 1800  # slabs
    cfg = MarketConfig(
        freeze_limits=[{"effective": "2026-09-01", "limits": {"nifty": 1755}, "source": "test"}]
    )
    assert freeze_quantity("NIFTY", date(2026, 11, 2), config=cfg) == 1755
    assert freeze_quantity("NIFTY", date(2026, 8, 20), config=cfg) == 1800


def test_other_freeze_sources():
    assert freeze_quantity("SENSEX", date(2026, 8, 18), exchange="BFO") == 1000
    assert freeze_quantity("BANKEX", date(2026, 8, 18), exchange="BSE") == 900
    assert (
        freeze_quantity("BANKNIFTY", date(2023, 6, 1)) == 900
    )  # NSE sheet of 2023-03-31, for 2023 only
    with pytest.raises(DataError):
        freeze_quantity("TRENT", date(2024, 6, 1))


@pytest.mark.parametrize(
    "level,qty",
    [("5750", 8500), ("5750.01", 5500), ("25000", 1800), ("55000", 900), ("55000.05", 600)],
)
def test_index_level_slabs(level, qty):
    assert freeze_from_index_level(level) == qty


def test_slicing_above_the_freeze_limit(store):
    assert max_order_quantity(1800, 65) == 1755  # 27 NIFTY lots
    assert (
        not needs_slicing(1800, 1800)
        and needs_slicing(1801, 1800)
        and not needs_slicing(10**6, None)
    )
    assert slice_quantity(65 * 62, 1800, 65) == [1755, 1755, 520]
    assert sum(slice_quantity(65 * 300, 1800, 65)) == 65 * 300
    with pytest.raises(
        MarketRuleError,
        match="needs 12 orders of at most 1755 .freeze limit 1800.; the limit is 10",
    ):
        slice_quantity(65 * 300, 1800, 65, max_slices=10)
    with pytest.raises(MarketRuleError, match="not a multiple of the lot size 65"):
        slice_quantity(4000, 1800, 65)
    fut = store.get("NFO:NIFTY26AUGFUT")
    assert (
        freeze_for(fut, date(2026, 8, 18)) == 1800
        and freeze_for(store.get("NSE:INFY"), date(2026, 8, 18)) is None
    )
    assert check_freeze(fut, 1755, 1800) == 1755
    with pytest.raises(
        MarketRuleError,
        match=r"^NFO:NIFTY26AUGFUT: quantity 1820 is above the freeze limit 1800: needs slicing into orders of at most 1755$",
    ):
        check_freeze(fut, 1820, 1800)
