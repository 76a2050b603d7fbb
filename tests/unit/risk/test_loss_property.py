"""Property: on adversarial price paths the gate and the daily-loss breaker bound the day's loss.

The bound
---------
The breaker sees the day's P&L ``P`` after every fill and every mark (the session feeds it
each event). Let ``L`` be the daily loss limit, ``t*`` the first observation with
``P(t*) <= -L`` and ``t*-1`` the observation before it (so ``P(t*-1) > -L``). Then

    final loss  <=  L + G + F

where ``G = P(t*-1) - P(t*)`` is what was lost between those two observations — when ``t*``
is a mark, exactly the gap loss of the positions already open, ``Σ qᵢ (pᵢ before − pᵢ
after)``; when ``t*`` is a fill, that one fill's execution cost — and ``F`` is the execution
cost (slippage) of the flatten orders. In words: orders the gate allows never take the
loss past the limit by more than one gap on positions already open (or one fill's cost),
plus the cost of getting out. And a breach always halts: from ``t*`` on the state is HALTED,
positions are flat, and no order that adds exposure is allowed.
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tradekit.risk import RiskConfig, RiskManager, TradingState
from tradekit.store import EventType as E

from .helpers import NOW, BookBuilder, FakeOMS, SimClock, ctx

SYMBOLS = ("AAA", "BBB", "CCC")
START = (100.0, 250.0, 1000.0)
LIMIT = 20_000.0  # 2 % of ₹10 lakh
SLIPPAGE = 0.001

move = st.one_of(st.floats(-0.02, 0.02), st.floats(-0.15, 0.15))  # ordinary ticks and gaps
order = st.tuples(st.integers(0, 2), st.sampled_from(["BUY", "SELL"]), st.integers(1, 3000))
step = st.tuples(st.lists(order, max_size=4), st.tuples(move, move, move))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.lists(step, min_size=1, max_size=25))
def test_allowed_orders_never_take_the_loss_past_the_limit_by_more_than_one_gap(path):
    b = BookBuilder(capital=1_000_000)
    risk = RiskManager(RiskConfig.model_validate({"loss": {"max_drawdown_pct": None}}), clock=SimClock(b))
    oms = FakeOMS(b, risk.gate, slippage=SLIPPAGE)
    risk.attach(executor=oms, emit=lambda t, p: b.apply(t, p))
    risk.start_day(b.book, NOW.date())
    prices = list(START)
    obs: list[float] = [0.0]
    breach: dict | None = None

    for orders, moves in path:
        for i, side, qty in orders:
            o = b.order(SYMBOLS[i], side, qty, "MARKET")
            halted_before = risk.state is TradingState.HALTED
            d = risk.gate.check(o, ctx(b, round(prices[i], 2)))
            if not d.allowed:
                b.apply(E.RISK_DECISION, {"client_order_id": o.client_order_id, "allowed": False, "reason": d.reason})
                continue
            if halted_before or breach is not None:
                assert d.reduce_only, "after a breach only exposure-reducing orders may pass"
            cost0 = oms.cost
            ev = oms.execute(o, round(prices[i], 2))
            fill_cost = oms.cost - cost0
            p_fill = float(b.book.net_pnl)  # observed by the breaker when it gets the fill
            new_breach = breach is None and p_fill <= -LIMIT
            if new_breach:
                breach = {"kind": "fill", "G": obs[-1] - p_fill, "fill_cost": fill_cost}
            obs.append(p_fill)
            cost0 = oms.cost
            risk.on_event(ev, b.book)
            if new_breach:
                breach["F"] = oms.cost - cost0  # what the flatten cost
            obs.append(float(b.book.net_pnl))
        # positions open before the gap, at the book's own marks (a fill marks at its price)
        before = [(p.quantity, float(p.last_price), SYMBOLS.index(p.tradingsymbol)) for p in b.book.positions.values()
                  if p.quantity]
        prices = [round(p * (1 + m), 2) for p, m in zip(prices, moves)]
        gap_loss = sum(q * (last - prices[i]) for q, last, i in before)
        ev = b.mark({s: f"{p:.2f}" for s, p in zip(SYMBOLS, prices)})
        p_mark = float(b.book.net_pnl)
        cost0 = oms.cost
        risk.on_event(ev, b.book)
        # observe the mark itself, then what the breaker did about it
        if breach is None and p_mark <= -LIMIT:
            breach = {"kind": "mark", "G": obs[-1] - p_mark, "gap_loss": gap_loss, "F": oms.cost - cost0}
        obs.append(p_mark)
        obs.append(float(b.book.net_pnl))
        if breach is not None:
            assert risk.state is TradingState.HALTED, "a breach always halts"
            assert all(p.quantity == 0 for p in b.book.positions.values()), "and flattens"

    final_loss = -float(b.book.net_pnl)
    event(f"breach at a {breach['kind']}" if breach else "no breach")
    if breach is None:
        assert final_loss < LIMIT + 1e-6
        return
    if breach["kind"] == "mark":
        assert abs(breach["G"] - breach["gap_loss"]) < 1e-6  # the jump is the gap on positions already open
    else:
        assert abs(breach["G"] - breach["fill_cost"]) < 1e-6  # or one fill's execution cost
    assert final_loss <= LIMIT + breach["G"] + breach.get("F", 0.0) + 1e-6
    assert risk.state is TradingState.HALTED
