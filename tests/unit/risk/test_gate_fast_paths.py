"""The gate's fast paths (issue 20) give what the general paths give.

- ``rs`` formats floats without Decimal: the same text as ``fmt_inr`` for every number, ties
  (x.xx5) included;
- VaR coverage sums the book once per summary version: the same coverage and symbols as the
  sum over every position for each order;
- the daily-loss worst case keeps its base while the book took no event, and sees a working
  order's modification (an event) at once;
- derivative-only entry rules (the Greek limits) are not called for an equity order;
- the start-up heap is frozen once per process, and not when the config says no.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tradekit.model.money import fmt_inr
from tradekit.risk import PreTradeGate, RiskConfig
from tradekit.risk.base import CheckResult
from tradekit.risk.config import load_lists
from tradekit.risk.gate_checks import register_entry_rule, rs, unregister_entry_rule
from tradekit.risk.var import VarModel
from tradekit.store import EventType as E

from .helpers import NOW, BookBuilder, ctx, equity, future


def _rs_reference(x) -> str:  # the formatting before the fast path
    s = fmt_inr(x)
    if s.startswith("-"):
        return f"-₹{s[1:]}" if s.strip("-0.,") else f"₹{s[1:]}"
    return f"₹{s}"


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e16, max_value=1e16),
                 st.integers(-10**9, 10**9).map(lambda n: n / 1000),  # three decimals: the ties x.xx5
                 st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**14, max_value=10**14, places=4),
                 st.integers(-10**12, 10**12)))
@example(-0.0)
@example(-0.004)
@example(1.005)
@example(-2.675)
@example(999.995)
@example(1e12)
@example(99999999999.995)
def test_rupees_are_formatted_as_fmt_inr_formats_them(x):
    assert rs(x) == _rs_reference(x)


def _coverage_reference(gate, sym: str, delta: float):  # the loop over every position, per order
    vm, s = gate.var_model, gate.summary
    gross = unc = 0.0
    names = []
    for k, v in s.value.items():
        ks = k.partition(":")[2] or k
        if ks == sym:
            v = v + delta
        gross += abs(v)
        if ks not in vm.index and v:
            unc += abs(v)
            names.append(ks)
    if sym not in vm.index and not any(n == sym for n in names) and delta:
        gross += abs(delta)
        unc += abs(delta)
        names.append(sym)
    return (100.0 * (gross - unc) / gross if gross else 100.0), names


SYMS = ["SBIN", "INFY", "TCS", "XYZ", "ABC"]  # the last two have no return history


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SYMS), st.sampled_from(["BUY", "SELL"]), st.integers(1, 500),
                          st.sampled_from(["NSE", "BSE"])), max_size=8),
       st.sampled_from(SYMS), st.floats(-1e6, 1e6, allow_nan=False))
def test_var_coverage_is_the_sum_over_every_position(fills, sym, delta):
    b = BookBuilder()
    for s, side, q, ex in fills:
        b.fill(s, side, q, "100", exchange=ex)
    vm = VarModel(["SBIN", "INFY", "TCS"], np.eye(3) * 1e-4)
    g = PreTradeGate(RiskConfig(), var_model=vm, lists=load_lists(RiskConfig()))
    g.summary.refresh(b.book)
    for d in (delta, -delta, 0.0):
        pct, names = g._var_coverage(sym, d)
        ref_pct, ref_names = _coverage_reference(g, sym, d)
        assert abs(pct - ref_pct) <= 1e-9 * max(1.0, abs(ref_pct)) and set(names) == set(ref_names)
    b.mark({"SBIN": "120", "XYZ": "90", "BSE:ABC": "80"})  # a new summary version: the book's part again
    g.summary.refresh(b.book)
    assert set(g._var_coverage(sym, delta)[1]) == set(_coverage_reference(g, sym, delta)[1])


def test_the_daily_loss_worst_case_sees_a_working_order_modified_at_once():
    cfg = RiskConfig.model_validate({"loss": {"max_daily_loss": 20_000, "adverse_move_pct": 1.0}})
    g = PreTradeGate(cfg, lists=load_lists(cfg))
    b = BookBuilder()
    g.start_day(b.book, NOW.date())
    w = b.order("INFY", "BUY", 10_000, "LIMIT", price="100", status="OPEN")  # ₹10 lakh working: ₹10,000 at 1 %
    d1 = g.check(b.order("TCS", "BUY", 5000, "LIMIT", price="100"), ctx(b, 100))
    d2 = g.check(b.order("TCS", "BUY", 5000, "LIMIT", price="100"), ctx(b, 100))  # no event in between
    assert d1.check("DAILY_LOSS").value == d2.check("DAILY_LOSS").value == 15_000.0
    # the broker accepted a smaller quantity: the book's positions and marks are unchanged
    b.apply(E.ORDER_MODIFIED, {"client_order_id": w.client_order_id, "quantity": 6000})
    d3 = g.check(b.order("TCS", "BUY", 5000, "LIMIT", price="100"), ctx(b, 100))
    assert d3.check("DAILY_LOSS").value == 11_000.0  # 6,000 working: ₹6,000 at 1 %, + ₹5,000


def test_derivative_only_rules_are_not_called_for_an_equity_order():
    calls = []

    def greek_like(gate, order, ctx_, facts):
        calls.append(facts.symbol)
        return CheckResult("TEST_DERIV", True)

    c = RiskConfig()
    g = PreTradeGate(c, lists=load_lists(c))
    b = BookBuilder()
    register_entry_rule(greek_like, derivatives_only=True)
    try:
        d = g.check(b.order("INFY", "BUY", 10, "LIMIT", price="1500"), ctx(b, 1500, instrument=equity("INFY")))
        assert d.allowed and calls == [] and d.check("TEST_DERIV") is None
        fut = b.order("NIFTY26DECFUT", "BUY", 65, "LIMIT", price="24500", exchange="NFO", product="NRML")
        d = g.check(fut, ctx(b, 24500, instrument=future()))
        assert calls == ["NIFTY26DECFUT"] and d.check("TEST_DERIV") is not None
    finally:
        unregister_entry_rule(greek_like)


def test_the_greek_limits_are_registered_for_derivatives_only():
    import tradekit.risk.greeks_limit  # noqa: F401  (registers them)
    from tradekit.risk import gate_checks

    names = {r.__name__: only for r, only in gate_checks._ENTRY_RULES}
    assert names["greek_limit_net_delta"] and names["greek_limit_net_vega"] and names["greek_limit_premium_at_risk"]
    assert not any(r.__name__.startswith("greek_limit") for r in gate_checks._RULES_OTHER)


def test_the_start_up_heap_is_frozen_once_per_process_and_only_when_configured():
    code = ("import gc; from tradekit.risk.gcpolicy import freeze_after_startup as f, frozen; "
            "print(f(False), frozen(), gc.get_freeze_count() == 0); n = f(True); "
            "print(n > 0, frozen(), f(True))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["None", "False", "True", "True", "True", "None"]


def test_a_session_freezes_its_start_up_heap_as_configured(monkeypatch, tmp_path):
    from tradekit.config import load_config
    from tradekit.risk import gcpolicy
    from tradekit.session import Session

    assert load_config().execution.gc_freeze_after_start is True  # the default
    seen = []
    monkeypatch.setattr(gcpolicy, "freeze_after_startup", lambda enabled=True: seen.append(enabled))
    cfg = load_config(overrides={"execution": {"gc_freeze_after_start": False}})
    s = Session.for_replay(cfg, tmp_path / "j.db", NOW)
    s.close()
    assert seen == [False]


def test_rs_keeps_the_general_path_for_decimals_and_ints():
    assert rs(Decimal("-1234567.805")) == "-₹12,34,567.81"
    assert rs(1234567) == "₹12,34,567.00"
    assert rs(-0.001) == "₹0.00"


def test_a_rule_that_does_not_apply_to_a_gates_config_is_not_called_until_the_config_changes():
    calls = []

    def limited(gate, order, ctx_, facts):
        calls.append(facts.symbol)
        return CheckResult("TEST_LIMITED", True)

    limited.applies_to = lambda gate: gate.config.exposure.max_position_quantity is not None
    c = RiskConfig()
    g = PreTradeGate(c, lists=load_lists(c))
    b = BookBuilder()
    register_entry_rule(limited)
    try:
        d = g.check(b.order("INFY", "BUY", 10, "LIMIT", price="1500"), ctx(b, 1500, instrument=equity("INFY")))
        assert d.allowed and calls == [] and d.check("TEST_LIMITED") is None
        g.config = RiskConfig.model_validate({"exposure": {"max_position_quantity": 1000}})  # another config object
        d = g.check(b.order("INFY", "BUY", 10, "LIMIT", price="1500"), ctx(b, 1500, instrument=equity("INFY")))
        assert calls == ["INFY"] and d.check("TEST_LIMITED") is not None
    finally:
        unregister_entry_rule(limited)
