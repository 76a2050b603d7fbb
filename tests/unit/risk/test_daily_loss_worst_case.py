"""The daily-loss check counts the new order's worst case and the open exposure (issue 13, item 8).

Before: only the loss so far was compared with the limit, so an order allowed just under the
limit took the day past it (+26 % with a large order just before the limit).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tradekit.risk import PreTradeGate, RiskConfig
from tradekit.risk.config import load_lists
from tradekit.risk.var import VarModel

from .helpers import NOW, BookBuilder, ctx

LIMIT = 20_000.0  # 2 % of ₹10 lakh
# limits other than the daily loss stay out of the way
OTHERS_OFF = {
    "money": {"max_order_value_pct": None, "max_order_quantity": None, "fat_finger_pct": None},
    "exposure": {"max_concentration_pct": None, "max_gross_exposure_pct": None, "max_net_exposure_pct": None,
                 "max_sector_pct": None, "max_open_orders": None, "max_orders_per_day": None},
    "var": {"limit_pct": None},
    "compliance": {"max_orders_per_second": 9.0},
    "product": {"mis_cutoff": False},
}


def gate(adverse: float | None = 1.0, positions: bool = True, **kw) -> PreTradeGate:
    cfg = {**OTHERS_OFF, "loss": {"max_drawdown_pct": None, "adverse_move_pct": adverse,
                                  "include_open_positions": positions}}
    c = RiskConfig.model_validate(cfg)
    return PreTradeGate(c, lists=load_lists(c), **kw)


def loss_check(d):
    return d.check("DAILY_LOSS")


def test_a_large_order_just_before_the_limit_is_refused_with_its_worst_case():
    b = BookBuilder()
    b.fill("SBIN", "BUY", 1000, "100")
    g = gate(adverse=2.0)
    g.start_day(b.book, NOW.date())
    b.mark({"SBIN": "85"})  # loss 15,000 of 20,000; SBIN 85,000 open → 1,700 under a 2 % move
    # the old check allowed this ₹3 lakh order: a 2 % move on it alone is 6,000 → 22,700 > 20,000
    d = g.check(b.order("TCS", "BUY", 3000, "LIMIT", price="100"), ctx(b, 100))
    assert not d.allowed and d.codes == ["DAILY_LOSS"]
    assert "open exposure ₹1,700.00" in d.reason and "worst case ₹6,000.00 (2 % adverse move)" in d.reason
    assert "₹22,700.00 would pass the daily loss limit ₹20,000.00" in d.reason
    # a smaller one fits: 15,000 + 1,700 + 1,000 × 100 × 2 % = 18,700
    assert g.check(b.order("TCS", "BUY", 1000, "LIMIT", price="100"), ctx(b, 100)).allowed
    # exits still pass at any loss
    assert g.check(b.order("SBIN", "SELL", 1000, "MARKET"), ctx(b, 85)).allowed


def test_old_behaviour_when_the_adverse_move_is_off():
    b = BookBuilder()
    b.fill("SBIN", "BUY", 1000, "100")
    g = gate(adverse=None)
    g.start_day(b.book, NOW.date())
    b.mark({"SBIN": "85"})
    assert g.check(b.order("TCS", "BUY", 3000, "LIMIT", price="100"), ctx(b, 100)).allowed


def test_open_positions_can_be_left_out():
    b = BookBuilder()
    b.fill("SBIN", "BUY", 10_000, "100")  # ₹10 lakh open: a 1 % move is 10,000
    g = gate(adverse=1.0, positions=False)
    g2 = gate(adverse=1.0, positions=True)
    g.start_day(b.book, NOW.date())
    g2.start_day(b.book, NOW.date())
    b.mark({"SBIN": "98.6"})  # loss 14,000
    assert g.check(b.order("TCS", "BUY", 5000, "LIMIT", price="100"), ctx(b, 100)).allowed  # 14,000 + 5,000
    assert not g2.check(b.order("TCS", "BUY", 5000, "LIMIT", price="100"), ctx(b, 100)).allowed  # + 9,860 open


def test_a_stop_sets_the_order_worst_case():
    b = BookBuilder()
    g = gate(adverse=5.0)
    g.start_day(b.book, NOW.date())
    o = b.order("TCS", "BUY", 5000, "LIMIT", price="100")  # ₹5 lakh: 5 % is 25,000, over the limit
    assert not g.check(o, ctx(b, 100)).allowed
    d = g.check(o, ctx(b, 100, extra={"stop": Decimal("98")}))  # 2 × 5,000 = 10,000
    assert d.allowed and loss_check(d).value == 10_000.0
    # a stop too far away counts in full
    d = g.check(o, ctx(b, 100, extra={"stop": Decimal("95.5")}))
    assert not d.allowed and "(stop 95.50)" in d.reason


def test_a_signal_stop_is_found_by_the_order_signal_id():
    b = BookBuilder()
    g = gate(adverse=5.0)
    g.start_day(b.book, NOW.date())
    o = b.order("TCS", "BUY", 5000, "LIMIT", price="100")
    o.signal_id = "sig-1"
    assert not g.check(o, ctx(b, 100)).allowed
    g.note_signal_stop("sig-1", Decimal("99"))
    assert g.check(o, ctx(b, 100)).allowed


def test_working_orders_count_as_open_exposure():
    b = BookBuilder()
    g = gate(adverse=1.0)
    g.start_day(b.book, NOW.date())
    b.order("INFY", "BUY", 15_000, "LIMIT", price="100", status="OPEN")  # ₹15 lakh working: 15,000 at 1 %
    assert not g.check(b.order("TCS", "BUY", 6000, "LIMIT", price="100"), ctx(b, 100)).allowed  # + 6,000
    assert g.check(b.order("TCS", "BUY", 4000, "LIMIT", price="100"), ctx(b, 100)).allowed


def test_a_var_model_raises_the_worst_case_of_a_volatile_symbol():
    rng = np.random.default_rng(3)
    rets = pd.DataFrame({"TCS": rng.normal(0, 0.03, 300), "INFY": rng.normal(0, 0.001, 300)})
    vm = VarModel.from_returns(rets) if hasattr(VarModel, "from_returns") else VarModel(rets)
    b = BookBuilder()
    g = gate(adverse=1.0, var_model=vm)
    g.start_day(b.book, NOW.date())
    # TCS: ~7 % one-day 99 % VaR, far above 1 %: ₹3 lakh → ~21,000 > limit
    d = g.check(b.order("TCS", "BUY", 3000, "LIMIT", price="100"), ctx(b, 100))
    assert not d.allowed and "its VaR" in d.reason
    assert g.check(b.order("INFY", "BUY", 3000, "LIMIT", price="100"), ctx(b, 100)).allowed


def test_an_order_priced_through_the_mark_counts_what_it_pays_on_filling():
    """A buy limit above the price the book marks the symbol at loses the difference the moment it
    fills (the book values the new shares at the mark); the worst case counts it."""
    b = BookBuilder()
    b.fill("SBIN", "BUY", 1000, "100")
    g = gate(adverse=1.0)
    g.start_day(b.book, NOW.date())
    # 1,000 × 100 × 1 % = 1,000 open; a buy of 18,000 at 100 adds 18,000: 19,000 fits the 20,000 limit
    assert g.check(b.order("SBIN", "BUY", 18_000, "LIMIT", price="100"), ctx(b, 100)).allowed
    # at a limit of 100.10 it also pays 0.10 × 18,000 = 1,800 through the mark of 100 on filling:
    # 1,000 + 18,018 + 1,800 = 20,818 > 20,000 (before: 19,018, allowed, and the fill alone lost 1,800)
    d = g.check(b.order("SBIN", "BUY", 18_000, "LIMIT", price="100.10"), ctx(b, 100))
    assert not d.allowed and "+ ₹1,800.00 paid through the mark 100.00" in d.reason
    assert "= ₹20,818.00 would pass" in d.reason
    # a sell below the mark pays the same way; one priced better than the mark pays nothing extra
    assert g.check(b.order("TCS", "SELL", 1_000, "LIMIT", price="99"), ctx(b, 100)).check("DAILY_LOSS").value == 1_000 + 990 + 1_000
    d = g.check(b.order("SBIN", "BUY", 18_000, "LIMIT", price="99.90"), ctx(b, 100))
    assert d.allowed and d.check("DAILY_LOSS").value == 1_000 + 17_982
    # with a stop the distance is already measured from the order's own price
    d = g.check(b.order("SBIN", "BUY", 1_000, "LIMIT", price="100.50"), ctx(b, 100, extra={"stop": Decimal("99.50")}))
    assert d.allowed and d.check("DAILY_LOSS").value == 1_000 + 1_000


# -- the property -------------------------------------------------------------------------------
SYMS = ("AAA", "BBB", "CCC")
order_st = st.tuples(st.integers(0, 2), st.sampled_from(["BUY", "SELL"]), st.integers(1, 4000),
                     st.one_of(st.none(), st.floats(0.002, 0.08)))
step_st = st.tuples(st.lists(order_st, min_size=1, max_size=3), st.tuples(*[st.floats(-0.01, 0.01)] * 3))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adverse=st.sampled_from([0.5, 1.0, 2.0, 5.0]), path=st.lists(step_st, min_size=1, max_size=12))
# found by hypothesis: the last buy of 2,941 CCC at its limit 991.65 with CCC marked 991.646019 paid
# ₹11.71 through the mark, which the worst case left out: the day reached ₹20,001.58 under the move
@example(adverse=0.5, path=[([(1, "SELL", 534, None)], (0.0, 0.0, -0.009999999999999998)),
                            ([(2, "SELL", 95, None)], (0.0, -0.0084407136140564, 0.0)),
                            ([(2, "BUY", 361, None)], (0.0, 0.0, 0.0016626454644483712)),
                            ([(2, "BUY", 471, None)], (0.0, 0.0025338238569205876, 0.0)),
                            ([(2, "BUY", 467, None), (2, "BUY", 2941, None)], (0.0, 0.0, 0.0))])
# a buy with a stop, priced 0.0049 above the mark (the mark rounded up to the tick): the fill's difference from
# the mark is already in the day's loss, and the model counted it again in the fall to the stop
@example(adverse=5.0, path=[([(1, "BUY", 1, None)], (0.0, 0.0012204, 0.0)), ([(1, "BUY", 3997, 0.01997)], (0.0, 0.0, 0.0))])
def test_accepted_orders_never_take_the_loss_past_the_limit_under_the_adverse_move(adverse, path):
    """After every accepted order, move every open position against its holder by ``adverse`` %
    (or to the order's stop, for the order that had one): the day's loss stays within the limit."""
    b = BookBuilder(capital=1_000_000)
    g = gate(adverse=adverse)
    g.start_day(b.book, NOW.date())
    prices = [100.0, 250.0, 1000.0]
    for orders, moves in path:
        for i, side, qty, stop_pct in orders:
            sym, px = SYMS[i], round(prices[i], 2)
            o = b.order(sym, side, qty, "LIMIT", price=f"{px:.2f}")
            stop = None
            if stop_pct is not None:
                stop = round(px * (1 - stop_pct) if side == "BUY" else px * (1 + stop_pct), 2)
            extra = {"stop": Decimal(f"{stop:.2f}")} if stop is not None else {}
            d = g.check(o, ctx(b, px, extra=extra))
            if not d.allowed or d.reduce_only:
                continue
            before_pos = {p.tradingsymbol: p.quantity for p in b.book.positions.values()}
            b.fill(sym, side, qty, f"{px:.2f}")
            # the worst case the gate budgeted: every position moves adverse % against its holder,
            # except that this order's own quantity stops out at its stop
            worst = {}
            for p in b.book.positions.values():
                q = p.quantity
                if not q:
                    continue
                cur = prices[SYMS.index(p.tradingsymbol)]
                worst[p.tradingsymbol] = (q, cur)
            loss_now = -float(b.book.net_pnl)
            extra_loss = 0.0
            for s_, (q, cur) in worst.items():
                if s_ == sym and stop is not None:
                    q_old = before_pos.get(sym, 0)
                    # the order's quantity falls from the mark to its stop: what the fill paid through the
                    # mark (px against cur) is already in loss_now
                    extra_loss += abs(q_old) * cur * adverse / 100 + qty * ((cur - stop) if side == "BUY" else (stop - cur))
                else:
                    extra_loss += abs(q) * cur * adverse / 100
            assert loss_now + extra_loss <= LIMIT * (1 + 1e-9) + 1e-6, (loss_now, extra_loss)
            # and the same by really marking the adverse prices in the book
            adverse_px = {}
            for s_, (q, cur) in worst.items():
                if s_ == sym and stop is not None and before_pos.get(sym, 0) == 0:
                    adverse_px[s_] = f"{stop:.2f}"
                elif s_ != sym or stop is None:
                    adverse_px[s_] = f"{cur * (1 - adverse / 100) if q > 0 else cur * (1 + adverse / 100):.6f}"
            if adverse_px and (stop is None or before_pos.get(sym, 0) == 0):
                b.mark(adverse_px)
                assert -float(b.book.net_pnl) <= LIMIT * (1 + 1e-9) + 1e-3
                b.mark({s_: f"{prices[SYMS.index(s_)]:.6f}" for s_ in adverse_px})
        prices = [p * (1 + m) for p, m in zip(prices, moves)]
        b.mark({s: f"{p:.6f}" for s, p in zip(SYMS, prices)})
