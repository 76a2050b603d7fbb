"""Trading states, the kill switch (trip, flatten, cool-off, unlock), journaling and restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.errors import TradingHalted, ValidationError
from tradekit.risk import KillSwitch, PreTradeGate, RiskConfig, RiskExecutor, RiskManager, TradingState
from tradekit.risk.killswitch import last_trip
from tradekit.store import Book, EventType as E

from .helpers import NOW, BookBuilder, FakeOMS, SimClock, ctx


def emitter(b: BookBuilder):
    """The session's emit: journal (here: apply) the event, then let the risk manager see it."""
    return lambda t, p: b.apply(t, p)


def test_state_payloads_and_escalation_never_loosens():
    g = PreTradeGate()
    p = g.set_state("REDUCING", cause="stale_feed", by="breaker", reason="no ticks for 31 s")
    assert p == {"state": "REDUCING", "previous": "ACTIVE", "cause": "stale_feed", "by": "breaker",
                 "reason": "no ticks for 31 s"}
    assert g.set_state("REDUCING", cause="x", by="y") is None
    assert g.escalate("HALTED", cause="daily_loss", by="breaker")["previous"] == "REDUCING"
    assert g.escalate("REDUCING", cause="stale_feed", by="breaker") is None
    assert g.state is TradingState.HALTED


def test_book_applies_the_journaled_state():
    b = BookBuilder()
    g = PreTradeGate()
    b.apply(E.TRADING_STATE, g.set_state("HALTED", cause="kill_switch", by="asha", reason="test"))
    assert b.book.trading_state == "HALTED"


def test_fake_oms_satisfies_the_executor_protocol():
    b = BookBuilder()
    assert isinstance(FakeOMS(b, PreTradeGate()), RiskExecutor)


def test_kill_switch_halts_cancels_and_flattens_a_paper_book():
    b = BookBuilder()
    b.fill("RELIANCE", "BUY", 100, "2400", strategy="momo")
    b.fill("INFY", "SELL", 50, "1500", strategy="meanrev")
    b.fill("ITC", "BUY", 200, "400", product="CNC", strategy="momo")
    b.mark({"RELIANCE": "2410", "INFY": "1490", "ITC": "405"})
    working = b.order("TCS", "BUY", 5, "LIMIT", price="3000", status="OPEN")
    risk = RiskManager(RiskConfig(), emit=emitter(b), clock=SimClock(b))
    oms = FakeOMS(b, risk.gate)
    risk.attach(executor=oms)

    res = risk.kill("fat-finger scare", by="asha")

    assert res["state"] == "HALTED" and res["problems"] == []
    assert b.book.trading_state == "HALTED"
    assert all(p.quantity == 0 for p in b.book.positions.values())
    assert b.book.orders[working.client_order_id].status.value == "CANCELLED"
    assert [c[0] for c in oms.calls] == ["cancel_all", "flatten"] and oms.calls[1][3] == "kill_switch"
    assert oms.denied == []
    # new risk is refused from the moment of the trip
    d = risk.gate.check(b.order("SBIN", "BUY", 1, "LIMIT", price="800"), ctx(b, 800))
    assert not d.allowed and d.codes == ["STATE"]
    types = [t for t, _ in risk.kill_switch.events]
    assert types == [E.KILL_SWITCH, E.TRADING_STATE]
    ks = dict(risk.kill_switch.events)[E.KILL_SWITCH]
    assert ks["by"] == "asha" and ks["reason"] == "fat-finger scare" and ks["action"] == "trip"


def test_unlock_needs_a_reason_and_waits_for_the_cooloff():
    b = BookBuilder()
    clock = SimClock(b)
    g = PreTradeGate(RiskConfig.model_validate({"breakers": {"cooloff_seconds": 600}}))
    ks = KillSwitch(g, emit=emitter(b), clock=clock)
    ks.trip("test", by="asha", flatten=False)
    assert any("no executor attached" in p["message"] for t, p in ks.events if t == E.ALERT)
    with pytest.raises(ValidationError):
        ks.unlock("  ", by="asha")
    clock.sleep(599)
    with pytest.raises(TradingHalted, match=r"cool-off .* runs until 11:10:00 \(1 s left\)"):
        ks.unlock("all clear", by="asha")
    assert g.state is TradingState.HALTED
    clock.sleep(1)
    change = ks.unlock("all clear", by="asha")
    assert change == {"state": "ACTIVE", "previous": "HALTED", "cause": "unlock", "by": "asha", "reason": "all clear"}
    assert b.book.trading_state == "ACTIVE"
    assert ks.unlock("again", by="asha") is None  # nothing to unlock


def test_unlock_to_reducing_and_a_retrip_restarts_the_cooloff():
    b = BookBuilder()
    clock = SimClock(b)
    g = PreTradeGate(RiskConfig.model_validate({"breakers": {"cooloff_seconds": 60}}))
    ks = KillSwitch(g, clock=clock)
    ks.trip("one", by="a", flatten=False)
    clock.sleep(61)
    ks.unlock("step down", by="a", to="REDUCING")
    assert g.state is TradingState.REDUCING
    ks.trip("two", by="a", flatten=False)
    clock.sleep(30)
    with pytest.raises(TradingHalted):
        ks.unlock("no", by="a")


def test_kill_switch_carries_on_when_the_executor_fails():
    class Broken:
        def __init__(self):
            self.flattened = False

        def cancel_all(self, *, reason, source):
            raise RuntimeError("broker down")

        def flatten(self, strategy=None, *, reason, source):
            self.flattened = True

    ex = Broken()
    ks = KillSwitch(PreTradeGate(), executor=ex)
    res = ks.trip("test", by="a", now=NOW)
    assert ex.flattened and res["problems"] == ["cancel_all failed: broker down"]
    assert ks.state is TradingState.HALTED


def test_state_and_cooloff_survive_a_restart(journal):
    g = PreTradeGate()
    ks = KillSwitch(g, emit=lambda t, p: journal.append(t, p, ts=NOW))
    ks.trip("end of day", by="asha", flatten=False, now=NOW)
    book = Book.rebuild(journal.events())
    assert book.trading_state == "HALTED"

    risk = RiskManager()
    risk.restore(journal.events(types=(E.TRADING_STATE,)))
    assert risk.state is TradingState.HALTED
    assert risk.kill_switch.tripped_at == NOW
    assert last_trip(journal.events())[0] == "HALTED"


def test_a_kill_from_another_process_reaches_the_session_through_the_journal():
    b = BookBuilder()
    b.fill("SBIN", "BUY", 100, "800")
    risk = RiskManager(RiskConfig(), emit=emitter(b), clock=SimClock(b))
    oms = FakeOMS(b, risk.gate)
    risk.attach(executor=oms)
    # what `tradekit kill` appends, polled by the session and applied to its book
    for t, p in ((E.KILL_SWITCH, {"action": "trip", "reason": "manual", "by": "cli-user", "flatten": True, "origin": "cli"}),
                 (E.TRADING_STATE, {"state": "HALTED", "previous": "ACTIVE", "cause": "kill_switch", "by": "cli-user",
                                    "reason": "manual", "origin": "cli"})):
        risk.on_event(b.apply(t, p), b.book)
    assert risk.state is TradingState.HALTED
    assert b.book.positions["s|NSE|SBIN|MIS"].quantity == 0
    # and an unlock from the CLI re-opens it
    for t, p in ((E.KILL_SWITCH, {"action": "unlock", "reason": "ok", "by": "cli-user", "origin": "cli"}),
                 (E.TRADING_STATE, {"state": "ACTIVE", "previous": "HALTED", "cause": "unlock", "by": "cli-user",
                                    "reason": "ok", "origin": "cli"})):
        risk.on_event(b.apply(t, p), b.book)
    assert risk.state is TradingState.ACTIVE


def test_own_events_are_not_taken_for_external_ones():
    b = BookBuilder()
    risk = RiskManager(RiskConfig(), clock=SimClock(b))
    seen = []
    risk.attach(emit=lambda t, p: seen.append(b.apply(t, p)))
    risk.kill("x", by="a", flatten=False)
    for ev in seen:
        risk.on_event(ev, b.book)
    assert risk.state is TradingState.HALTED and risk.kill_switch.events[0][1]["origin"] == risk.kill_switch.origin


# -- reduce-only is never blocked ------------------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(
    qty=st.integers(1, 5000),
    frac=st.floats(0.01, 1.0),
    long=st.booleans(),
    state=st.sampled_from(["ACTIVE", "REDUCING", "HALTED"]),
    source=st.sampled_from(["kill_switch", "breaker", "square_off", "flatten"]),
    crash=st.floats(0.0, 0.6),
    restricted=st.booleans(),
    saturate=st.booleans(),
    product=st.sampled_from(["MIS", "CNC", "NRML"]),
)
def test_reduce_only_orders_from_the_risk_layer_always_pass(qty, frac, long, state, source, crash, restricted, saturate,
                                                            product):
    if product == "CNC" and not long:
        long = True  # delivery cannot be short
    b = BookBuilder()
    b.fill("SBIN", "BUY" if long else "SELL", qty, "500", product=product)
    cfg = RiskConfig.model_validate({
        "exposure": {"max_concentration_pct": 1, "max_gross_exposure_pct": 1, "max_net_exposure_pct": 1,
                     "max_open_orders": 1, "max_orders_per_day": 1, "max_position_value": 1},
        "money": {"max_order_value": 1, "max_order_quantity": 1},
        "compliance": {"restricted": ["SBIN"] if restricted else [], "require_algo_id": True},
        "var": {"limit": 1},
    })
    g = PreTradeGate(cfg)
    g.start_day(b.book, NOW.date())
    g.set_state(state, cause="test", by="t")
    b.mark({"SBIN": f"{500 * (1 - crash if long else 1 + crash):.2f}"})
    if saturate:
        g.governor.record(b.now + timedelta(milliseconds=250), 100)
    q = max(1, int(qty * frac))
    o = b.order("SBIN", "SELL" if long else "BUY", q, "MARKET", product=product)
    d = g.check(o, ctx(b, 500, source=source))
    assert d.allowed, d.reason
    assert d.reduce_only
    if state != "HALTED":  # in ACTIVE/REDUCING a strategy's own exit passes as well
        d = g.check(b.order("SBIN", "SELL" if long else "BUY", q, "MARKET", product=product), ctx(b, 500, source="signal"))
        assert d.allowed, d.reason


def test_the_gate_follows_trading_state_events_applied_to_the_book():
    b = BookBuilder()
    b.fill("SBIN", "BUY", 10, "800")
    g = PreTradeGate()
    b.apply(E.TRADING_STATE, {"state": "HALTED", "previous": "ACTIVE", "cause": "kill_switch", "by": "cli", "reason": "x"})
    d = g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="800"), ctx(b, 800))
    assert g.state is TradingState.HALTED and d.codes == ["STATE"]
    g.set_state("ACTIVE", cause="notebook", by="a")  # a change of the gate's own is not undone by a stale book
    assert g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="800"), ctx(b, 800)).allowed


def test_gate_from_a_tradekit_config(paper_config):
    g = PreTradeGate.from_config(paper_config)
    assert g.capital == float(paper_config.account.capital) and g.state is TradingState.ACTIVE
