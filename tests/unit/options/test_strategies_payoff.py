"""Payoff at expiry of each listed strategy, hand-checked (NIFTY lot 65, premiums of helpers.PX): net premium,
max profit and loss (unbounded said as such), breakevens; and a property test against brute force."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from tests.unit.options.helpers import DAY, PX, SPOT, master
from tradekit.options import strategies as st
from tradekit.options.payoff import payoff

U = 65  # units per lot
D = Decimal


def po(builder, **kw):
    return payoff(builder(master(), "NIFTY", spot=SPOT, premiums=PX, today=DAY, **kw), today=DAY)


# (builder, kwargs, net premium, max profit, max loss, breakevens) — worked by hand:
CASES = [
    # long straddle 24,850: pay 120 + 95 = 215; loses it all at 24,850; BE 24,850 ± 215
    (st.straddle, {}, 215 * U, None, 215 * U, [24635, 25065]),
    (st.straddle, {"side": "SELL"}, -215 * U, 215 * U, None, [24635, 25065]),
    # long strangle 24,800 PE @70 + 24,900 CE @90: pay 160; BE 24,640 and 25,060
    (st.strangle, {}, 160 * U, None, 160 * U, [24640, 25060]),
    # bull call 24,850/24,900: pay 120 − 90 = 30; profit 50 − 30 = 20; BE 24,880
    (st.bull_call, {}, 30 * U, 20 * U, 30 * U, [24880]),
    (st.bear_call, {}, -30 * U, 30 * U, 20 * U, [24880]),
    # bull put 24,800/24,850: receive 95 − 70 = 25; lose 50 − 25 = 25; BE 24,850 − 25
    (st.bull_put, {}, -25 * U, 25 * U, 25 * U, [24825]),
    (st.bear_put, {}, 25 * U, 25 * U, 25 * U, [24825]),
    # iron condor 24,700/24,800/24,900/25,000: receive 70 + 90 − 40 − 30 = 90 (> the 100 wing? no: 90 < 100):
    # max loss 100 − 90 = 10; BE 24,800 − 90 and 24,900 + 90
    (st.iron_condor, {}, -90 * U, 90 * U, 10 * U, [24710, 24990]),
]


@pytest.mark.parametrize("builder,kw,net,mp,ml,bes", CASES, ids=lambda x: getattr(x, "__name__", None))
def test_payoff_of_each_strategy_hand_checked(builder, kw, net, mp, ml, bes):
    p = po(builder, **kw)
    assert p.exact
    assert p.net_premium == net
    assert p.max_profit == (None if mp is None else D(mp))
    assert p.max_loss == (None if ml is None else D(ml))
    assert p.profit_unbounded is (mp is None) and p.loss_unbounded is (ml is None)
    assert [b for b in p.breakevens] == [D(b) for b in bes]
    for b in p.breakevens:
        assert p.value(b) == 0


def test_lots_scale_the_rupees_not_the_breakevens():
    one, three = po(st.iron_condor), po(st.iron_condor, lots=3)
    assert three.max_loss == 3 * one.max_loss and three.net_premium == 3 * one.net_premium
    assert three.breakevens == one.breakevens


def test_custom_protective_put_on_a_future():
    """Long BANKNIFTY future @52,000 + long 51,500 put @300 (lot 30): the loss stops at 500 + 300 below the strike."""
    s = st.custom(master(), [{"tradingsymbol": "BANKNIFTY26AUGFUT", "side": "BUY", "lots": 1, "premium": 52000},
                             {"tradingsymbol": "BANKNIFTY26AUG51500PE", "side": "BUY", "lots": 1, "premium": 300}])
    p = payoff(s)
    assert p.max_loss == 800 * 30 and p.max_profit is None and p.breakevens == (D(52300),)
    assert p.net_premium == (52000 + 300) * 30  # a future's "premium" is its entry price


def test_calendar_is_a_model_at_the_near_expiry_and_bounded():
    """Long calendar 24,850 CE: sell 08-18 @120, buy 08-25 @200 (debit 80/unit). At the near expiry the far call is
    valued by Black-76 at the volatility its premium implies; far from the strike both calls are near worthless
    (below) or near parity (above), so the loss tends to the debit, and the best outcome is at the strike."""
    p = payoff(st.calendar(master(), "NIFTY", spot=SPOT, premiums=PX, today=DAY), today=DAY)
    assert not p.exact and "Black-76" in p.model and p.at.isoformat() == "2026-08-18"
    assert p.net_premium == 80 * U
    assert p.max_loss is not None and p.max_profit is not None
    assert p.max_loss <= 80 * U
    assert abs(p.value(12425) + 80 * U) < 1  # far below: both worthless, the debit lost
    # at the strike the far call keeps about sqrt(7/9) of its time value: (200 × 0.88 − 200 + 120) × 65 ≈ 6,250
    assert 5500 < p.value(24850) < 7000
    assert p.max_profit >= p.value(24850)
    assert len(p.breakevens) == 2 and p.breakevens[0] < 24850 < p.breakevens[1]


def test_figure_svg_and_png():
    p = po(st.iron_condor)
    svg = p.svg()
    assert svg.startswith("<svg") and svg.count('class="tk-breakeven"') == 2 and "polyline" in svg
    fig = p.figure()
    assert fig.axes[0].get_title().startswith("short iron condor")
    import matplotlib.pyplot as plt

    plt.close(fig)
    assert p.png()[:8] == b"\x89PNG\r\n\x1a\n"


legs_st = hs.lists(hs.tuples(hs.sampled_from(["CE", "PE"]), hs.integers(0, 8), hs.sampled_from(["BUY", "SELL"]),
                             hs.integers(1, 3), hs.integers(1, 400)), min_size=1, max_size=5)


@settings(max_examples=40, deadline=None)
@given(legs_st)
def test_exact_extremes_and_breakevens_match_brute_force(legs):
    """Any legs of one expiry: no price beats max profit or loses more than max loss; breakevens are zeros."""
    spec = [{"kind": k, "strike": 24600 + 50 * i, "expiry": "near", "side": side, "lots": lots, "premium": prem}
            for k, i, side, lots, prem in legs]
    s = st.custom(master(), spec, underlying="NIFTY", today=DAY)
    p = payoff(s)
    # piecewise linear between the strikes (24,600..25,000): its kinks, points between and beyond them say it all
    xs = [D(x) for x in (0, 5000, 20000, 24000, 26000, 40000, 60000)] + [D(24600 + 25 * i) for i in range(17)]
    vals = [p.value(x) for x in xs]
    if p.max_profit is not None:
        assert max(vals) <= p.max_profit and p.max_profit in vals
    else:
        assert p.value(10**7) > max(vals)
    if p.max_loss is not None:
        assert -min(vals) <= p.max_loss and -p.max_loss in vals
    else:
        assert p.value(10**7) < min(vals)
    for b in p.breakevens:
        assert abs(p.value(b)) < D("0.01") * sum(leg.units() for leg in s.legs)
