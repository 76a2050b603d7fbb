"""The gate split into modules: the old import paths still work, and a rule registered from
another module runs on entries (not on reducing orders) and can deny."""

from __future__ import annotations

from tradekit.risk import PreTradeGate, RiskConfig
from tradekit.risk.base import CheckResult
from tradekit.risk.config import load_lists
from tradekit.risk.gate_checks import EntryFacts, register_entry_rule, unregister_entry_rule

from .helpers import BookBuilder, ctx


def test_public_names_import_from_the_gate_module():
    from tradekit.risk.gate import (  # noqa: F401
        BookSummary,
        DayPnL,
        OpenOrders,
        PreTradeGate,
        RateGovernor,
        rs,
        underlying_of,
    )

    assert rs(1234567.8) == "₹12,34,567.80"
    assert underlying_of("NIFTY26AUGFUT") == "NIFTY"


def test_a_registered_rule_runs_on_entries_and_denies_with_its_code():
    seen: list[EntryFacts] = []

    def max_qty_50(gate, order, ctx_, facts):
        seen.append(facts)
        ok = abs(facts.position + facts.signed) <= 50
        return CheckResult("TEST_RULE", ok, "" if ok else f"{facts.symbol}: over 50", float(facts.quantity), 50.0)

    c = RiskConfig()
    g = PreTradeGate(c, lists=load_lists(c))
    b = BookBuilder()
    register_entry_rule(max_qty_50)
    register_entry_rule(max_qty_50)  # once only
    try:
        d = g.check(b.order("INFY", "BUY", 40, "LIMIT", price="1500"), ctx(b, 1500))
        assert d.allowed and "TEST_RULE" in [c.code for c in d.checks]
        assert len(seen) == 1 and seen[0].key == "NSE:INFY" and seen[0].price == 1500.0
        b.fill("INFY", "BUY", 40, "1500")
        d = g.check(b.order("INFY", "BUY", 20, "LIMIT", price="1500"), ctx(b, 1500))
        assert not d.allowed and d.codes == ["TEST_RULE"] and "over 50" in d.reason
        n = len(seen)
        d = g.check(b.order("INFY", "SELL", 20, "LIMIT", price="1500"), ctx(b, 1500))  # reduces: rule skipped
        assert d.allowed and len(seen) == n
    finally:
        unregister_entry_rule(max_qty_50)
    d = g.check(b.order("INFY", "BUY", 20, "LIMIT", price="1500"), ctx(b, 1500))
    assert d.allowed and "TEST_RULE" not in [c.code for c in d.checks]
