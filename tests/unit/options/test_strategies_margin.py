"""The paper margin (SPAN-like estimate, tradekit.options.margin) of each listed strategy, hand-checked with the
default baskets.margin values: NIFTY at 24,870, scan ±9 % (22,631.70 .. 27,108.30), exposure 2 %, short option
minimum 3 %; lot 65; premiums of helpers.PX. And Kite's answer read back (the official fixture)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.unit.options.helpers import DAY, NEAR, PX, SPOT, master
from tradekit.errors import ValidationError
from tradekit.model.enums import Side
from tradekit.options import strategies as st
from tradekit.options.basket_config import SpanLikeConfig
from tradekit.options.margin import MarginLeg, estimate, from_kite, underlying_key

D = Decimal
EXPO = D("0.02") * SPOT * 65  # 32,331: exposure on one short lot


def est(builder, today=DAY, **kw):
    s = builder(master(), "NIFTY", spot=SPOT, premiums=PX, today=DAY, **kw)
    return estimate(s.legs, spot={"NIFTY": SPOT}, today=today)


# (builder, kwargs, final span, final exposure, final option premium, final total) — worked by hand
CASES = [
    (st.straddle, {}, 0, 0, 215 * 65, 13975),  # long: the premium, nothing else
    # short: worst at +9 %: (27,108.30 − 24,850 − 215) × 65 = 132,814.50; span = that + the 13,975 credit
    (st.straddle, {"side": "SELL"}, D("146789.5"), 2 * EXPO, -215 * 65, D("197476.5")),
    (st.strangle, {}, 0, 0, 160 * 65, 10400),
    (st.bull_call, {}, 0, EXPO, 30 * 65, D("34281")),  # debit spread: span 0, exposure on the short leg
    (st.bear_call, {}, 50 * 65, EXPO, -30 * 65, D("33631")),  # credit spread: span = the width
    (st.bull_put, {}, 50 * 65, EXPO, -25 * 65, D("33956")),
    (st.bear_put, {}, 0, EXPO, 25 * 65, D("33956")),
    (st.iron_condor, {}, 100 * 65, 2 * EXPO, -90 * 65, D("65312")),  # span = one wing, not two naked shorts
    # long calendar (day before the near expiry): the far call counted at its intrinsic value only: worst loss = the
    # 80 debit at every price, so span 0
    (st.calendar, {}, 0, EXPO, 80 * 65, D("37531")),
]


@pytest.mark.parametrize("builder,kw,span,exposure,premium,total", CASES, ids=lambda x: getattr(x, "__name__", None))
def test_margin_of_each_strategy_hand_checked(builder, kw, span, exposure, premium, total):
    m = est(builder, **kw)
    f = m.final
    assert (f.span, f.exposure, f.option_premium, f.total) == (D(span), D(exposure), D(premium), D(total))
    assert m.initial.total == sum(o.total for o in m.orders)
    assert m.final.total <= m.initial.total  # the spread benefit never costs more
    assert m.source == "estimate" and m.spots == {"NIFTY": SPOT}


def test_each_order_alone_like_kites_blocks():
    m = est(st.iron_condor)
    by = {o.tradingsymbol: o for o in m.orders}
    assert by["NIFTY2681824700PE"].total == 40 * 65 and by["NIFTY2681824700PE"].span == 0  # a buy: its premium
    short = by["NIFTY2681824800PE"]  # a sell alone: (24,800 − 22,631.70) × 65 + exposure, no premium shown
    assert (short.span, short.exposure, short.option_premium) == (D("140939.5"), EXPO, 0)
    assert m.initial.total == D("353691")


def test_expiry_day_adds_the_extra_elm_and_drops_the_calendar_benefit():
    """india.md §6.1: +2 % ELM on short options on their expiry day (from 2024-11-20); no calendar-spread benefit on
    the expiry day (from 2025-02-01): the near short is margined alone, the far long pays its premium."""
    ic_before, ic_on = est(st.iron_condor).final, est(st.iron_condor, today=NEAR).final
    assert ic_on.span == ic_before.span and ic_on.exposure == 2 * ic_before.exposure
    cal = est(st.calendar, today=NEAR).final
    # near short alone: (27,108.30 − 24,850) × 65 = 146,789.50 span; exposure 2 % + 2 % extra; premium −120 + 200
    assert (cal.span, cal.exposure, cal.option_premium) == (D("146789.5"), 2 * EXPO, 80 * 65)
    assert cal.total == D("216651.5")


def test_open_positions_considered():
    s = st.iron_condor(master(), "NIFTY", spot=SPOT, premiums=PX, today=DAY)
    longs = [MarginLeg.of(leg) for leg in s.legs if leg.side is Side.BUY]
    shorts = [leg for leg in s.legs if leg.side is Side.SELL]
    alone = estimate(shorts, spot={"NIFTY": SPOT}, today=DAY)
    held = estimate(shorts, spot={"NIFTY": SPOT}, today=DAY, positions=longs)
    assert held.final.span == 100 * 65 and held.final.exposure == 2 * EXPO  # the wings already held hedge the shorts
    assert held.final.total < alone.final.total / 3 and held.notes
    assert held.initial.total == alone.initial.total  # initial: each order alone, positions or not


def test_config_values_move_the_estimate_and_the_underlying_needs_a_price():
    s = st.straddle(master(), "NIFTY", spot=SPOT, premiums=PX, side="SELL", today=DAY)
    wider = estimate(s.legs, spot={"NIFTY": SPOT}, today=DAY, config=SpanLikeConfig(scan_pct_index=D(12)))
    assert wider.final.span == (D("27854.4") - 24850) * 65  # 24,870 × 1.12; the credit is not in the span
    assert underlying_key(s.legs[0].instrument) == "NSE:NIFTY 50"
    assert estimate(s.legs, spot=lambda key: SPOT if key == "NSE:NIFTY 50" else None, today=DAY).final.total > 0
    with pytest.raises(ValidationError, match="no price for NIFTY") as e:
        estimate(s.legs, spot={}, today=DAY)
    assert e.value.field == "spot"
    from tradekit.config import load_config
    from tradekit.errors import ConfigError

    with pytest.raises(ConfigError, match="scan_pct_index"):
        load_config(overrides={"baskets": {"margin": {"scan_pct_index": 0}}})
    assert load_config(overrides={"baskets": {"margin": {"scan_pct_index": 12}}}).baskets.margin.scan_pct_index == 12


def test_kites_answer_is_read_back_as_is():
    raw = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "kite" / "basket_margins.json").read_text())
    m = from_kite(raw["data"])
    assert m.source == "kite"
    assert m.initial.total == D("96504.98") and m.final.total == D("34786.73")  # Kite's floats, to the paisa
    assert m.final.option_premium == D("-2152.5") and m.blocked == m.final.total
    assert [o.tradingsymbol for o in m.orders] == ["NIFTY23JUL20600CE", "NIFTY23JUL20700CE"]
