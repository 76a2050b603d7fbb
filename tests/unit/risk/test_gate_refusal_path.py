"""A refused order's path made cheaper (issue 20, the gate's p99) gives what the general path gives.

- ``rs``'s short path (positive floats up to 11 rupee digits, one text per size) is the text of
  ``fmt_inr``, at every size boundary and for the amounts that round up across one;
- the daily-loss worst case without working orders on the order's key (three terms each before and
  after the order reduced to one) gives the same floats as the three-term formula, and the
  DAILY_LOSS text, whose book part is kept while today's loss, the open exposure's and the limit
  stay the same, is the text written out in full from the check's parts, as the book moves;
- the VaR coverage note, whose text after the percentage is kept per symbol while the book's
  uncovered symbols stay the same, is the note written out in full from the coverage's symbols.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tradekit.model.money import fmt_inr
from tradekit.risk import PreTradeGate, RiskConfig
from tradekit.risk import worstcase as W
from tradekit.risk.config import load_lists
from tradekit.risk.gate_checks import rs
from tradekit.risk.var import VarModel

from .helpers import NOW, BookBuilder, ctx, equity


def _rs_reference(x) -> str:
    s = fmt_inr(x)
    if s.startswith("-"):
        return f"-₹{s[1:]}" if s.strip("-0.,") else f"₹{s[1:]}"
    return f"₹{s}"


_EDGES = [10.0 ** k + d for k in range(13) for d in (-0.006, -0.005, -0.004, -0.001, 0.0, 0.004, 0.005)]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(min_value=0.0, max_value=2e11),
                 st.integers(0, 2 * 10**14).map(lambda n: n / 1000),  # three decimals: the ties x.xx5
                 st.sampled_from(_EDGES)))
@example(0.0)
@example(-0.0)
@example(5e-324)
@example(999.999)
@example(99999.995)
@example(99999999999.994)
@example(99999999999.999)  # rounds to 12 rupee digits: the general path
@example(1e11)
def test_the_short_path_of_rs_is_the_text_of_fmt_inr(x):
    assert rs(x) == _rs_reference(x)


def _three_terms(pos, b, s, signed_value, pct):  # the worst case's formula before the short path
    before = max(abs(pos + b), abs(pos - s), abs(pos))
    if signed_value > 0.0:
        after = max(abs(pos + b + signed_value), abs(pos - s), abs(pos))
    else:
        after = max(abs(pos + b), abs(pos - (s - signed_value)), abs(pos))
    return (after - before if after > before else 0.0) * pct / 100.0


SYMS = ["SBIN", "INFY", "TCS"]
_side = st.sampled_from(["BUY", "SELL"])
_px = st.integers(5000, 300000).map(lambda n: Decimal(n) / 100)


@settings(max_examples=60, deadline=None)
@given(fills=st.lists(st.tuples(st.sampled_from(SYMS), _side, st.integers(1, 3000), _px), max_size=5),
       working=st.lists(st.tuples(st.sampled_from(SYMS), _side, st.integers(1, 3000), _px), max_size=3),
       orders=st.lists(st.tuples(st.sampled_from(SYMS), _side, st.integers(1, 20000), _px,
                                 st.one_of(st.none(), st.integers(80, 120)), st.integers(-3000, 3000)),
                       min_size=1, max_size=4))
def test_the_daily_loss_worst_case_and_its_text_are_those_written_out_in_full(fills, working, orders):
    cfg = RiskConfig.model_validate({"loss": {"max_daily_loss": 5_000, "adverse_move_pct": 1.0},
                                     "money": {"max_order_value_pct": None},
                                     "exposure": {"max_position_value": None, "max_concentration_pct": None,
                                                  "max_gross_exposure_pct": None, "max_net_exposure_pct": None}})
    g = PreTradeGate(cfg, lists=load_lists(cfg))
    b = BookBuilder(capital=10_000_000)
    g.start_day(b.book, NOW.date())
    for s, side, q, px in fills:
        b.fill(s, side, q, px)
    for s, side, q, px in working:
        b.order(s, side, q, "LIMIT", price=px, status="OPEN")
    for s, side, q, px, move, shift in orders:
        if move is not None:  # the book moves between orders: today's loss and the open exposure's change
            b.mark({s: (px * move / 100).quantize(Decimal("0.05"))})
        if shift:  # today's loss alone changes (the day's baseline moves)
            g.summary.refresh(b.book)
            g.day.start(NOW.date(), g.summary.total_pnl + shift)
        o = b.order(s, side, q, "LIMIT", price=px)
        d = g.check(o, ctx(b, px, instrument=equity(s)))
        c = d.check("DAILY_LOSS")
        if c is None:  # the order reduces the position: no loss check
            assert d.reduce_only
            continue
        live = g.open_orders.refresh(b.book)
        key = f"NSE:{s}"
        price, sv = float(px), (q if side == "BUY" else -q) * float(px)
        loss = 0.0 - g.day.last
        mark = g.summary.price.get(key, price)
        ok, total, parts = W.headroom(loss_so_far=loss, limit=5000.0, summary=g.summary, open_orders=live, key=key,
                                      signed_value=sv, q=q, price=price, mult=1, stop=None, adverse_pct=1.0,
                                      include_positions=True, mark=mark)
        # the order's worst case by the three-term formula, from the working orders on its key
        bw, sw = W.working_orders(g.summary, live).get(key, (0.0, 0.0))
        grow = _three_terms(g.summary.value.get(key, 0.0), bw, sw, sv, 1.0)
        paid = W.through_mark(signed_value=sv, q=q, price=price, mult=1, mark=mark)
        assert parts["order"] == grow + paid if paid > 0 else parts["order"] == grow
        if loss >= 5000.0:
            continue  # refused on the loss so far: the worst case is not computed
        assert c.value == total and c.ok == ok
        if not ok:
            assert c.message == (
                f"{s}: today's loss {rs(parts['loss'])} + open exposure {rs(parts['open'])} at a 1 % adverse move + "
                f"this order's worst case {rs(parts['order'])} ({parts['how']}) = {rs(total)} would pass the daily "
                f"loss limit {rs(5000.0)}")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["SBIN", "XYZ", "ABC", "PQR", "LMN", "UVW", "DEF"]), _side,
                          st.integers(1, 500)), min_size=1, max_size=8))
def test_the_var_coverage_note_is_the_note_written_out_in_full(steps):
    vm = VarModel(["SBIN", "INFY", "TCS"], np.eye(3) * 1e-4)  # the others have no return history
    cfg = RiskConfig.model_validate({"var": {"limit_pct": 50.0}})
    g = PreTradeGate(cfg, var_model=vm, lists=load_lists(cfg))
    b = BookBuilder(capital=10_000_000)
    for i, (s, side, q) in enumerate(steps):
        if i % 2:  # every other step a fill: the book's uncovered symbols change (or stay the same)
            b.fill(s, side, q, "100")
        for sym in (s, "INFY"):
            o = b.order(sym, side, q, "LIMIT", price=Decimal(100))
            d = g.check(o, ctx(b, 100, instrument=equity(sym)))
            if d.reduce_only:  # no VaR check for an order that reduces the position
                continue
            msg = d.check("VAR").message
            delta = (q if side == "BUY" else -q) * 100.0
            pct, names = g._var_coverage(sym, delta)  # equal to the sum over every position (test_gate_fast_paths)
            if pct + 1e-9 < 100.0:
                assert msg == (f"VaR covers {pct:.0f} % of the exposure (risk.var.min_coverage_pct 100): no daily "
                               f"return history for {', '.join(sorted(set(names))[:5])} (tradekit data import|fetch "
                               f"--timeframe 1d)")
            else:
                assert "VaR covers" not in msg
