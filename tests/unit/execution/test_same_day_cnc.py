"""Same-day CNC is intraday on the contract note (india.md §9, rule ``same_day_cnc_is_intraday``)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

from hypothesis import given, settings, strategies as st

from tradekit.execution.costs import FillCosts
from tradekit.market.charges import SAME_DAY_CNC_IS_INTRADAY, ContractNote, RateTable, round_trip
from tradekit.model.charges import COMPONENTS, Charges
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


class _RepricingEveryTime(FillCosts):
    """The reference: every CNC fill of a scrip bought and sold today re-prices the day (what
    ``_EquityDay.add`` did before it re-priced only when the matched quantity changed)."""

    def equity_day(self, exchange, day):
        e = super().equity_day(exchange, day)
        if not getattr(e, "_ref", False):
            e._ref = True

            def add(product, side, qty, price, order_id, symbol, multiplier, _e=e):
                _e.trades.append((product, side, qty, price, order_id, symbol, multiplier))
                if product.value == "CNC":
                    q = _e.cnc.setdefault(symbol, [0, 0])
                    q[0 if side.value == "BUY" else 1] += qty
                    if _e.cnc_rule and min(q) > 0:
                        before = _e.charges
                        _e.intraday, _e.delivery = _e._notes()
                        left = {s: [m, m] for s, m in _e.matched().items()}
                        for t in _e.trades:
                            _e._place(*t, left, compose=False)
                        _e.intraday.recompose()
                        _e.delivery.recompose()
                        return Charges(**{c: getattr(_e.charges, c) - getattr(before, c) for c in COMPONENTS})
                return _e._place(product, side, qty, price, order_id, symbol, multiplier, {})

            e.add = add
        return e


@settings(max_examples=60, deadline=None)
@given(fills)
def test_re_pricing_only_when_the_match_changes_books_what_re_pricing_every_fill_does(trades):
    fast, ref = FillCosts(), _RepricingEveryTime()
    for prod, side, q, p, inst, o in trades:
        a = fast(inst, prod, side, q, D(p) / 100, DAY, f"{prod}{o}")
        b = ref(inst, prod, side, q, D(p) / 100, DAY, f"{prod}{o}")
        assert a == b
    assert fast.notes(DAY) == ref.notes(DAY)
