"""Same-day CNC is intraday on the contract note (india.md §9, rule ``same_day_cnc_is_intraday``)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

from hypothesis import example, given, settings, strategies as st

from tradekit.execution.costs import FillCosts
from tradekit.market.charges import (
    SAME_DAY_CNC_IS_INTRADAY,
    ChargeSegment,
    ContractNote,
    RateTable,
    _compose,
    charges_exchange,
    charges_segment,
    fill_key,
    order_brokerage,
    round_trip,
)
from tradekit.model.charges import Charges
from tradekit.model.enums import Exchange, InstrumentType, Segment
from tradekit.model.instrument import Instrument
from tradekit.session import _default_instruments

DAY = date(2026, 11, 25)
SBIN = _default_instruments().get("NSE", "SBIN")
INFY = _default_instruments().get("NSE", "INFY")


def _sum(xs):
    out = Charges()
    for x in xs:
        out = out + x
    return out


def test_the_rule_is_dated_and_sourced():
    t = RateTable.bundled()
    assert t.rule_in_force(SAME_DAY_CNC_IS_INTRADAY, DAY)
    assert not t.rule_in_force(SAME_DAY_CNC_IS_INTRADAY, date(2020, 6, 30))
    assert "tradingqna" in t.rules[SAME_DAY_CNC_IS_INTRADAY].source


def test_a_same_day_cnc_round_trip_costs_what_the_intraday_calculator_says():
    fc = FillCosts()
    got = _sum([fc(SBIN, "CNC", "BUY", 250, D("812.40"), DAY, "1"), fc(SBIN, "CNC", "SELL", 250, D("818.15"), DAY, "2")])
    calc = round_trip("equity-intraday", "NSE", 250, "812.40", "818.15", trade_date=DAY)
    assert got.total == calc.total == D("119.45")
    assert got.dp == 0 and got.brokerage == D("40.00")
    delivery = round_trip("equity-delivery", "NSE", 250, "812.40", "818.15", trade_date=DAY)
    assert delivery.total > D("400")  # what it was charged before the rule


def test_only_the_matched_quantity_is_intraday_and_a_btst_sell_is_delivery():
    fc = FillCosts()
    got = _sum([fc(SBIN, "CNC", "BUY", 100, D("800"), DAY, "1"), fc(SBIN, "CNC", "SELL", 60, D("810"), DAY, "2")])
    intr = ContractNote("equity-intraday", "NSE", DAY)
    intr.add("BUY", 60, D("800"), order_id="1")
    intr.add("SELL", 60, D("810"), order_id="2")
    dlv = ContractNote("equity-delivery", "NSE", DAY)
    dlv.add("BUY", 40, D("800"), order_id="1")
    assert got == intr.charges + dlv.charges
    assert got.dp == 0
    # the next day the 40 left are sold: delivery, with DP
    nxt = fc(SBIN, "CNC", "SELL", 40, D("820"), DAY + timedelta(days=1), "3")
    assert nxt.dp > 0 and nxt.brokerage == 0


def test_a_sell_from_holdings_and_a_buy_back_the_same_day_are_matched_too():
    fc = FillCosts()
    got = _sum([fc(INFY, "CNC", "SELL", 10, D("1500"), DAY, "1"), fc(INFY, "CNC", "BUY", 10, D("1490"), DAY, "2")])
    assert got == round_trip("equity-intraday", "NSE", 10, "1490", "1500", trade_date=DAY).charges


def test_before_the_rule_a_same_day_cnc_round_trip_is_delivery():
    t = RateTable.bundled()
    old = RateTable(t.versions, [])  # a table without the rule
    fc = FillCosts(table=old)
    got = _sum([fc(SBIN, "CNC", "BUY", 250, D("812.40"), DAY, "1"), fc(SBIN, "CNC", "SELL", 250, D("818.15"), DAY, "2")])
    assert got.dp > 0 and got.brokerage == 0


fills = st.lists(st.tuples(st.sampled_from(["CNC", "MIS"]), st.sampled_from(["BUY", "SELL"]),
                           st.integers(1, 300), st.integers(50_000, 90_000), st.sampled_from([SBIN, INFY]),
                           st.integers(0, 4)), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(fills)
def test_a_days_fill_charges_add_up_to_its_notes_exactly(trades):
    fc = FillCosts()
    booked = _sum(fc(inst, prod, side, q, D(p) / 100, DAY, f"{prod}{o}") for prod, side, q, p, inst, o in trades)
    notes = _sum(fc.notes(DAY).values())
    assert booked == notes
    # and the notes are what the rule says: the matched CNC quantity on the intraday note, no DP for it
    bought = {k: sum(q for pr, s, q, _, i, _ in trades if pr == "CNC" and s == "BUY" and i.key == k) for k in (SBIN.key, INFY.key)}
    sold = {k: sum(q for pr, s, q, _, i, _ in trades if pr == "CNC" and s == "SELL" and i.key == k) for k in (SBIN.key, INFY.key)}
    dp_scrips = sum(1 for k in bought if sold[k] > bought[k])
    assert notes.dp == RateTable.bundled().rates_on(DAY).get("dp") * dp_scrips


def _reference_notes(fills, table, day, counts=False):
    """The day's notes priced from scratch as the rule reads (the Decimal reference): every fill so far
    placed in order, the first CNC units bought and sold of each scrip on the intraday note, each note
    composed by ``_compose`` with ``order_brokerage`` per order. (segment, exchange) -> Charges."""
    rates = table.rates_on(day)
    rule = table.rule_in_force(SAME_DAY_CNC_IS_INTRADAY, day)
    left = {}
    if rule:
        for i in {i for i, prod, *_ in fills if prod == "CNC"}:
            b = sum(q for j, prod, side, q, *_ in fills if j is i and prod == "CNC" and side == "BUY")
            s = sum(q for j, prod, side, q, *_ in fills if j is i and prod == "CNC" and side == "SELL")
            left[i.key] = [min(b, s), min(b, s)]
    notes = {}

    def put(seg, inst, side, q, p, oid):
        n = notes.setdefault((seg, inst.exchange), {"b": D(0), "s": D(0), "orders": {}, "dp": set(), "n": 0})
        key = oid if oid is not None else fill_key(n["n"])
        v = p * q * inst.multiplier
        n["orders"][key] = n["orders"].get(key, D(0)) + v
        n["b" if side == "BUY" else "s"] += v
        if seg is ChargeSegment.EQUITY_DELIVERY and side == "SELL" and p > 0:
            n["dp"].add(inst.key)
        n["n"] += 1

    for inst, prod, side, q, p, oid in fills:
        seg = charges_segment(inst, prod)
        rest = left.get(inst.key) if prod == "CNC" else None
        take = 0
        if rest is not None:
            k = 0 if side == "BUY" else 1
            take = min(q, rest[k])
            rest[k] -= take
            if take:
                put(ChargeSegment.EQUITY_INTRADAY, inst, side, take, p, oid)
        if q - take:
            put(seg, inst, side, q - take, p, oid)
    out = {}
    for (seg, ex), n in notes.items():
        brk = sum((order_brokerage(rates, seg, v) for v in n["orders"].values()), D(0))
        dp = rates.get("dp") * len(n["dp"]) if seg is ChargeSegment.EQUITY_DELIVERY else D(0)
        out[(seg, ex)] = _compose(rates, seg, charges_exchange(seg, ex), n["b"], n["s"], brk, dp, to_rupee=True)
        if counts:
            out[(seg, ex)] = (n["n"], len(n["orders"]))
    return out


BSE_TCS = Instrument(Exchange.BSE, "TCS", 11, segment=Segment.BSE)
NIFTY_FUT = Instrument(Exchange.NFO, "NIFTY26DECFUT", 12, instrument_type=InstrumentType.FUT, segment=Segment.NFO_FUT)
NIFTY_CE = Instrument(Exchange.NFO, "NIFTY26DEC24000CE", 13, instrument_type=InstrumentType.CE, segment=Segment.NFO_OPT)
USDINR = Instrument(Exchange.CDS, "USDINR26DECFUT", 14, instrument_type=InstrumentType.FUT, segment=Segment.CDS_FUT,
                    multiplier=1000)
_PRODUCTS = {SBIN: ["CNC", "CNC", "MIS", "MTF"], INFY: ["CNC", "MIS"], BSE_TCS: ["CNC", "MIS"],
             NIFTY_FUT: ["NRML", "MIS"], NIFTY_CE: ["NRML"], USDINR: ["NRML"]}
any_fill = st.sampled_from([SBIN, SBIN, SBIN, INFY, INFY, BSE_TCS, NIFTY_FUT, NIFTY_CE, USDINR]).flatmap(
    lambda i: st.tuples(st.just(i), st.sampled_from(_PRODUCTS[i]), st.sampled_from(["BUY", "SELL"]),
                        st.sampled_from([1, 50, 100, 100, 250, 150_000]) | st.integers(1, 400),
                        st.sampled_from([D(0)]) | st.integers(1, 400_000).map(lambda n: D(n) / 100)
                        | st.integers(1, 900_000).map(lambda n: D(n) / 10_000),
                        st.sampled_from([None, "1", "2", "3", "4"])))
days = st.sampled_from([DAY, date(2021, 3, 31), date(2022, 12, 1), date(2026, 3, 2)])


@settings(max_examples=80, deadline=None)
@given(st.lists(any_fill, min_size=1, max_size=20), days, st.booleans())
@example([(SBIN, "CNC", "BUY", 100, D("800"), "1"), (SBIN, "CNC", "SELL", 60, D("810"), "2"),
          (SBIN, "CNC", "SELL", 40, D("0"), None), (SBIN, "MIS", "BUY", 10, D("805.5"), "3")], DAY, True)
def test_each_fill_books_what_re_pricing_the_day_from_scratch_adds(trades, day, rule):
    """The incremental notes (a fill that raises the match moves only the newly matched units) against
    the reference that re-prices every fill of the day from scratch, for every segment, with and
    without the rule, at rates of several dates: each fill's charges and the day's notes agree."""
    t = RateTable.bundled()
    table = t if rule else RateTable(t.versions, [])
    fc = FillCosts(table=table)
    before: dict = {}
    for n, (inst, prod, side, q, p, oid) in enumerate(trades, 1):
        got = fc(inst, prod, side, q, p, day, oid)
        after = _reference_notes(trades[:n], table, day)
        want = _sum(after.get(k, Charges()).minus(before.get(k, Charges())) for k in {**before, **after})
        assert got.as_dict() == want.as_dict()  # what the fill event journals
        assert got == want
        before = after
    assert fc.notes(day) == before
    for (seg, ex), (fills, orders) in _reference_notes(trades, table, day, counts=True).items():
        if seg in (ChargeSegment.EQUITY_INTRADAY, ChargeSegment.EQUITY_DELIVERY):
            e = fc.equity_day(ex, day)
            note = e.intraday if seg is ChargeSegment.EQUITY_INTRADAY else e.delivery
            assert (note.fills, note.orders) == (fills, orders)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(any_fill, st.sampled_from([DAY, DAY, DAY + timedelta(days=1)])), min_size=1, max_size=25),
       st.integers(0, 25))
def test_pricing_a_days_fills_at_once_is_the_sum_of_pricing_them_one_by_one(trades, cut):
    """``FillCosts.many`` (the paper broker's debit at the close) returns exactly ``Charges()`` plus each
    fill's charges, to the Decimal exponent, and leaves the same notes (here after some fills one by one)."""
    one, batch = FillCosts(), FillCosts()
    rows = [(inst, prod, side, q, p, d, oid) for (inst, prod, side, q, p, oid), d in trades]
    for r in rows[:cut]:
        assert repr(one(*r)) == repr(batch(*r))
    want = _sum(one(*r) for r in rows[cut:])
    assert repr(batch.many(rows[cut:])) == repr(want)
    for d in (DAY, DAY + timedelta(days=1)):
        assert repr(batch.notes(d)) == repr(one.notes(d))

