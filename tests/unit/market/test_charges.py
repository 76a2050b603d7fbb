"""Zerodha charges: the worked examples of india.md §9 to the paisa, rate history, contract notes."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from tradekit.clock import IST
from tradekit.errors import DataError, MarketRuleError, ValidationError
from tradekit.market import (
    ChargeSegment,
    ContractNote,
    Trade,
    charges_exchange,
    charges_segment,
    contract_note,
    fill_charges,
    fill_charges_for,
    order_brokerage,
    rates_on,
    round_trip,
)
from tradekit.model import (
    Charges,
    Exchange,
    Fill,
    Instrument,
    InstrumentType,
    Product,
    Segment,
    Side,
)

D = Decimal
TODAY = date(2026, 11, 24)  # "rates of 2026-11-24" in india.md

# (segment, exchange, Q, buy, sell) -> every component and the total, from india.md §9
WORKED = [
    (
        ("equity-delivery", "NSE", 40, "2450.50", "2512.75"),
        {
            "brokerage": "0.00",
            "stt": "199.00",
            "exchange_txn": "6.09",
            "sebi": "0.20",
            "stamp_duty": "15.00",
            "gst": "1.13",
            "dp": "15.34",
            "total": "236.76",
        },
    ),
    (
        ("equity-intraday", "BSE", 250, "812.40", "818.15"),
        {
            "brokerage": "40.00",
            "stt": "51.00",
            "exchange_txn": "15.29",
            "sebi": "0.41",
            "stamp_duty": "6.00",
            "gst": "10.03",
            "dp": "0.00",
            "total": "122.73",
        },
    ),
    (
        ("futures", "NSE", 65, "25840.00", "25912.50"),
        {
            "brokerage": "40.00",
            "stt": "842.00",
            "exchange_txn": "61.56",
            "sebi": "3.36",
            "stamp_duty": "34.00",
            "gst": "18.89",
            "dp": "0.00",
            "total": "999.81",
        },
    ),
    (
        ("options", "NSE", 325, "118.35", "104.60"),
        {
            "brokerage": "40.00",
            "stt": "51.00",
            "exchange_txn": "25.74",
            "sebi": "0.07",
            "stamp_duty": "1.00",
            "gst": "11.85",
            "dp": "0.00",
            "total": "129.66",
        },
    ),
    (
        ("currency-futures", "NSE", 19000, "105.2625", "105.3400"),
        {
            "brokerage": "40.00",
            "stt": "0.00",
            "exchange_txn": "14.01",
            "sebi": "4.00",
            "stamp_duty": "2.00",
            "gst": "10.44",
            "dp": "0.00",
            "total": "70.45",
        },
    ),
    (
        ("commodity-futures", "MCX", 100, "121500", "121800"),
        {
            "brokerage": "40.00",
            "stt": "1218.00",
            "exchange_txn": "510.93",
            "sebi": "24.33",
            "stamp_duty": "243.00",
            "gst": "103.55",
            "dp": "0.00",
            "total": "2139.81",
        },
    ),
]


@pytest.mark.parametrize("args,expected", WORKED, ids=[a[0] for a, _ in WORKED])
def test_worked_examples_reproduce_to_the_paisa(args, expected):
    r = round_trip(*args, TODAY)
    assert {k: str(v) for k, v in r.as_dict().items()} == expected


def test_worked_example_values_and_turnover():
    r = round_trip("futures", "NSE", 65, "25840", "25912.50", TODAY)
    assert (r.buy_value, r.sell_value, r.turnover) == (
        D("1679600.00"),
        D("1684312.500"),
        D("3363912.50"),
    )
    assert r.net_pnl == D("4712.50") - D("999.81")


# The "open points" totals were read off the calculator in March 2026, before the STT rise of
# 2026-04-01: they reproduce with the rates of March 2026 (delivery excludes DP).
OPEN_POINTS = [
    ("equity-intraday", "224.61"),
    ("equity-delivery", "1112.41"),
    ("futures", "179.97"),
    ("options", "982.63"),
]


@pytest.mark.parametrize("segment,total", OPEN_POINTS)
def test_open_point_totals_with_march_2026_rates(segment, total):
    r = round_trip(segment, "NSE", 500, 1000, 1000, date(2026, 3, 15))
    assert r.total - r.charges.dp == D(total)


def test_open_points_today_differ_only_where_stt_rose_on_2026_04_01():
    assert round_trip("equity-intraday", "NSE", 500, 1000, 1000, TODAY).total == D("224.61")
    assert round_trip("equity-delivery", "NSE", 500, 1000, 1000, TODAY).total == D("1112.41") + D(
        "15.34"
    )
    assert round_trip("futures", "NSE", 500, 1000, 1000, TODAY).total == D(
        "329.97"
    )  # STT 250 instead of 100
    assert round_trip("options", "NSE", 500, 1000, 1000, TODAY).total == D(
        "1232.63"
    )  # STT 750 instead of 500


# -- rate history ----------------------------------------------------------------------------

HISTORY = [
    # key, day before, value before, effective day, value from then
    ("exchange.NSE.cash", date(2020, 12, 31), "0.0000325", date(2021, 1, 1), "0.0000345"),
    ("sebi", date(2021, 3, 31), "0.0000005", date(2021, 4, 1), "0.000001"),
    ("exchange.BSE.cash", date(2022, 11, 30), "0.00003", date(2022, 12, 1), "0.0000375"),
    ("ipft.NSE.options", date(2023, 3, 31), "0", date(2023, 4, 1), "0.000005"),
    ("stt.futures", date(2023, 3, 31), "0.0001", date(2023, 4, 1), "0.000125"),
    ("exchange.NSE.futures", date(2024, 3, 31), "0.000019", date(2024, 4, 1), "0.0000188"),
    ("dp", date(2024, 5, 31), "15.93", date(2024, 6, 1), "15.34"),
    ("exchange.NSE.options", date(2024, 9, 30), "0.000495", date(2024, 10, 1), "0.0003503"),
    (
        "exchange.MCX.commodity-futures",
        date(2024, 9, 30),
        "0.000026",
        date(2024, 10, 1),
        "0.000021",
    ),
    ("exchange.NSE.cash", date(2026, 2, 28), "0.0000297", date(2026, 3, 1), "0.000030699"),
    ("ipft.NSE.cash", date(2026, 2, 28), "0.000001", date(2026, 3, 1), "0.000000001"),
    ("stt.options", date(2026, 3, 31), "0.001", date(2026, 4, 1), "0.0015"),
]


@pytest.mark.parametrize("key,before,old,eff,new", HISTORY, ids=[f"{h[0]}@{h[3]}" for h in HISTORY])
def test_rate_history_changes_on_its_effective_date(key, before, old, eff, new):
    assert rates_on(before).values.get(key, D(0)) == D(old)
    assert rates_on(eff).values[key] == D(new)


def test_a_replay_uses_that_days_rates():
    # NSE intraday, 2023-06-01: exchange 0.00325% + IPFT ₹10/crore, SEBI ₹10/crore
    r = round_trip("equity-intraday", "NSE", 500, 1000, 1000, date(2023, 6, 1))
    assert r.charges.exchange_txn == D("33.50")  # 32.50 + 1.00 IPFT
    assert r.total == D("227.91")
    # 2020-07-01, first day: SEBI ₹5/crore, DP ₹15.93
    r = round_trip("equity-delivery", "NSE", 40, "2450.50", "2512.75", date(2020, 7, 1))
    assert r.charges.sebi == D("0.10") and r.charges.dp == D("15.93")


def test_dates_before_2020_07_01_are_refused():
    with pytest.raises(DataError, match="2020-06-30 is before 2020-07-01"):
        round_trip("equity-delivery", "NSE", 1, 100, 101, date(2020, 6, 30))
    with pytest.raises(DataError):
        fill_charges("futures", "NSE", "BUY", 65, 100, date(2019, 1, 1))
    assert round_trip("equity-delivery", "NSE", 1, 100, 101, date(2020, 7, 1)).total > 0


# -- the pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        ("10000", "3.00"),
        ("66665", "20.00"),
        ("66670", "20.00"),
        ("5000000", "20.00"),
        ("1", "0.00"),
    ],
)
def test_brokerage_is_0_03_pct_or_20_per_order(value, expected):
    assert order_brokerage(rates_on(TODAY), ChargeSegment.EQUITY_INTRADAY, D(value)) == D(expected)


def test_options_brokerage_is_flat_and_a_zero_premium_leg_is_no_order():
    r = round_trip("options", "NSE", 75, "12.5", "0", TODAY)  # expired worthless
    assert r.charges.brokerage == D("20.00") and r.charges.stt == 0
    r = round_trip("options", "NSE", 75, "0", "12.5", TODAY)  # short that expired
    assert r.charges.brokerage == D("20.00") and r.charges.stamp_duty == 0


def test_delivery_without_a_sell_pays_no_dp():
    assert round_trip("equity-delivery", "NSE", 10, "100", "0", TODAY).charges.dp == 0


def test_bse_fees():
    # T = 4,000 + 4,200 = 8,200; × 0.0325 % (Sensex/Bankex options) = 2.665 → 2.67
    assert round_trip("options", "BSE", 20, "200", "210", TODAY).charges.exchange_txn == D("2.67")
    assert round_trip("futures", "BSE", 20, "80000", "80100", TODAY).charges.exchange_txn == 0


def test_stt_and_stamp_are_rounded_to_the_paisa_then_to_the_rupee():
    # STT: 1,01,985.20 × 0.025 % = 25.4963 → 25.50 → ₹26 (a direct rupee rounding would give 25)
    assert round_trip("equity-intraday", "NSE", 1, "100000", "101985.20", TODAY).charges.stt == D(
        "26"
    )
    # stamp: 4,24,795 × 0.002 % = 8.4959 → 8.50 → ₹9
    assert round_trip("futures", "NSE", 1, "424795", "424795", TODAY).charges.stamp_duty == D("9")


def test_nse_ipft_is_rounded_on_its_own_inside_exchange_txn():
    # 2026-02: 0.00297 % + IPFT ₹10/crore on T = 1,98,530: 5.8963 → 5.90 plus 0.19853 → 0.20
    r = round_trip("equity-delivery", "NSE", 40, "2450.50", "2512.75", date(2026, 2, 16))
    assert r.charges.exchange_txn == D("6.10")


def test_bad_input_is_refused_with_the_field_named():
    with pytest.raises(ValidationError, match="segment"):
        round_trip("stocks", "NSE", 1, 100, 101, TODAY)
    with pytest.raises(ValidationError, match="quantity"):
        round_trip("futures", "NSE", 0, 100, 101, TODAY)
    with pytest.raises(ValidationError, match="sell"):
        round_trip("futures", "NSE", 1, 100, -1, TODAY)
    with pytest.raises(ValidationError, match="nothing to price"):
        round_trip("futures", "NSE", 1, 0, 0, TODAY)
    with pytest.raises(MarketRuleError, match="exchange: MCX"):
        round_trip("futures", "MCX", 1, 100, 101, TODAY)


def test_charges_exchange():
    assert charges_exchange("commodity-futures", "NSE") is Exchange.MCX
    assert charges_exchange("futures", "NFO") is Exchange.NSE
    assert charges_exchange("currency-options", "BCD") is Exchange.BSE
    with pytest.raises(MarketRuleError):
        charges_exchange("equity-delivery", "MCX")


def test_render_reads_like_a_contract_note():
    text = round_trip("commodity-futures", "MCX", 100, "121500", "121800", TODAY).render()
    for part in ("CTT", "1,218.00", "2,139.81", "2,43,30,000.00", "Total charges"):
        assert part in text


# -- instruments and products ----------------------------------------------------------------


def _inst(exchange, itype="EQ", segment=None, symbol="X", **kw):
    if segment is None:
        kind = "OPT" if itype in ("CE", "PE") else "FUT"
        segment = exchange if exchange in ("NSE", "BSE") else f"{exchange}-{kind}"
    return Instrument(
        Exchange(exchange),
        symbol,
        1,
        segment=Segment(segment),
        instrument_type=InstrumentType(itype),
        **kw,
    )


@pytest.mark.parametrize(
    "exchange,itype,product,segment",
    [
        ("NSE", "EQ", "CNC", "equity-delivery"),
        ("BSE", "EQ", "MTF", "equity-delivery"),
        ("NSE", "EQ", "MIS", "equity-intraday"),
        ("NFO", "FUT", "NRML", "futures"),
        ("BFO", "FUT", "MIS", "futures"),
        ("NFO", "CE", "NRML", "options"),
        ("CDS", "FUT", "NRML", "currency-futures"),
        ("BCD", "PE", "MIS", "currency-options"),
        ("MCX", "FUT", "NRML", "commodity-futures"),
        ("MCX", "CE", "NRML", "commodity-options"),
    ],
)
def test_charges_segment_of_an_instrument_and_product(exchange, itype, product, segment):
    assert charges_segment(_inst(exchange, itype), product) is ChargeSegment(segment)


def test_charges_segment_refuses_what_cannot_trade():
    with pytest.raises(MarketRuleError, match="NSE:X: product NRML"):
        charges_segment(_inst("NSE"), "NRML")
    with pytest.raises(MarketRuleError, match="CNC is for equity cash"):
        charges_segment(_inst("NFO", "FUT"), "CNC")
    with pytest.raises(MarketRuleError, match="index"):
        charges_segment(_inst("NSE", segment="INDICES"), "CNC")
    with pytest.raises(MarketRuleError, match="NCO"):
        charges_segment(_inst("NCO", "FUT"), "NRML")


# -- per fill --------------------------------------------------------------------------------


def test_fill_charges_put_each_component_on_its_side():
    buy = fill_charges("equity-intraday", "NSE", "BUY", 250, "812.40", TODAY)
    sell = fill_charges("equity-intraday", "NSE", Side.SELL, 250, "818.15", TODAY)
    assert (buy.stt, buy.stamp_duty, buy.brokerage) == (
        0,
        D("6.09"),
        D("20.00"),
    )  # 2,03,100 × 0.003 % = 6.093
    assert (sell.stamp_duty, sell.stt, sell.dp) == (
        0,
        D("51.13"),
        0,
    )  # 2,04,537.50 × 0.025 % = 51.134, paise only
    d_buy = fill_charges("equity-delivery", "NSE", "BUY", 40, "2450.50", TODAY)
    assert d_buy.stt == D("98.02") and d_buy.brokerage == 0 and d_buy.dp == 0


def test_fill_charges_dp_only_on_a_delivery_sell_when_asked():
    assert fill_charges("equity-delivery", "NSE", "SELL", 40, "2512.75", TODAY, dp=True).dp == D(
        "15.34"
    )
    assert fill_charges("equity-delivery", "NSE", "SELL", 40, "2512.75", TODAY).dp == 0
    assert fill_charges("equity-delivery", "NSE", "BUY", 40, "2450.50", TODAY, dp=True).dp == 0
    assert fill_charges("equity-intraday", "NSE", "SELL", 40, "2512.75", TODAY, dp=True).dp == 0


def test_fill_charges_product_picks_the_equity_segment():
    assert fill_charges("equity", "NSE", "SELL", 10, 100, TODAY, Product.MIS) == fill_charges(
        "equity-intraday", "NSE", "SELL", 10, 100, TODAY
    )
    assert fill_charges("equity", "NSE", "SELL", 10, 100, TODAY, "CNC") == fill_charges(
        "equity-delivery", "NSE", "SELL", 10, 100, TODAY
    )
    with pytest.raises(MarketRuleError, match="needs product MIS"):
        fill_charges("equity-intraday", "NSE", "SELL", 10, 100, TODAY, "CNC")


def test_fill_charges_for_uses_the_instruments_multiplier():
    gold = _inst("MCX", "FUT", symbol="GOLD26DECFUT", multiplier=100)
    c = fill_charges_for(gold, "NRML", "BUY", 1, "121500", TODAY)
    assert c.stamp_duty == D("243.00")  # 1 lot × 100 × 1,21,500 × 0.002 %


# -- contract notes --------------------------------------------------------------------------


def test_brokerage_is_capped_per_order_not_per_fill():
    # one order of 1,00,000 filled in two trades: 0.03 % = 30 → ₹20 once
    one = contract_note(
        "equity-intraday",
        "NSE",
        TODAY,
        [Trade(Side.BUY, 100, D("500"), "A"), Trade(Side.BUY, 100, D("500"), "A")],
    )
    # two orders of 50,000: 15 + 15
    two = contract_note(
        "equity-intraday",
        "NSE",
        TODAY,
        [Trade(Side.BUY, 100, D("500"), "A"), Trade(Side.BUY, 100, D("500"), "B")],
    )
    assert one.brokerage == D("20.00") and two.brokerage == D("30.00")


def test_stt_is_summed_and_rounded_once_per_contract_note():
    sells = [Trade(Side.SELL, 1, D("1000.40"), f"o{i}") for i in range(3)]  # 0.2501 each
    note = contract_note("equity-intraday", "NSE", TODAY, sells)
    assert note.stt == D("1")  # 3,001.20 × 0.025 % = 0.7503 → 0.75 → ₹1
    per_fill = [
        fill_charges("equity-intraday", "NSE", "SELL", 1, "1000.40", TODAY).stt for _ in sells
    ]
    assert sum(per_fill) == D("0.75")


def test_delivery_note_charges_dp_once_per_scrip_sold():
    trades = [
        Trade(Side.SELL, 10, D("1500"), "1", "NSE:INFY"),
        Trade(Side.SELL, 5, D("1501"), "2", "NSE:INFY"),
        Trade(Side.SELL, 3, D("4000"), "3", "NSE:TCS"),
        Trade(Side.BUY, 3, D("900"), "4", "NSE:SBIN"),
    ]
    assert contract_note("equity-delivery", "NSE", TODAY, trades).dp == D("30.68")


def test_a_round_trip_is_a_one_day_note_of_two_orders():
    for seg, q, b, s in [
        ("equity-intraday", 250, "812.40", "818.15"),
        ("futures", 65, "25840", "25912.50"),
        ("options", 325, "118.35", "104.60"),
    ]:
        note = contract_note(
            seg, "NSE", TODAY, [Trade(Side.BUY, q, D(b), "b"), Trade(Side.SELL, q, D(s), "s")]
        )
        assert note == round_trip(seg, "NSE", q, b, s, TODAY).charges


def test_the_marginal_charges_of_each_fill_add_up_to_the_note():
    note = ContractNote("futures", "NFO", TODAY)
    parts = [
        note.add("BUY", 65, "25840", order_id="1"),
        note.add("BUY", 65, "25841.10", order_id="1"),
        note.add("SELL", 130, "25900", order_id="2"),
    ]
    total = parts[0] + parts[1] + parts[2]
    assert total == note.charges and note.orders == 2 and note.fills == 3
    assert all(
        getattr(p, c) >= 0
        for p in parts
        for c in ("brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst", "dp")
    )


def test_a_note_takes_model_fills_of_its_day_only():
    def fill(i, side, ts):
        return Fill(
            f"c{i}",
            f"t{i}",
            Exchange.NSE,
            "INFY",
            side,
            10,
            D("1500"),
            ts,
            Product.MIS,
            broker_order_id=f"b{i}",
        )

    note = ContractNote("equity-intraday", "NSE", TODAY)
    note.add_fill(fill(1, Side.BUY, datetime(2026, 11, 24, 10, 0, tzinfo=IST)))
    note.add_fill(fill(2, Side.SELL, datetime(2026, 11, 24, 14, 0, tzinfo=IST)))
    assert note.charges == round_trip("equity-intraday", "NSE", 10, 1500, 1500, TODAY).charges
    with pytest.raises(ValidationError, match="not of this note's day"):
        note.add_fill(fill(3, Side.BUY, datetime(2026, 11, 25, 10, 0, tzinfo=IST)))


def test_charges_total_is_the_sum_of_components():
    c = round_trip("options", "NSE", 325, "118.35", "104.60", TODAY).charges
    assert isinstance(c, Charges)
    assert c.total == sum(
        (c.brokerage, c.stt, c.exchange_txn, c.sebi, c.stamp_duty, c.gst, c.dp), D(0)
    )
