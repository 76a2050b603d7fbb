"""The approval dashboard's *Conditional orders* section: each condition with its state, kept
current from the journal the dashboard reads (a second connection, as a dashboard kernel has)."""

from __future__ import annotations

from tradekit.data.types import Tick
from tradekit.ui.approval import ApprovalView


def _tick(desk, px):
    desk.clock.advance(5)
    desk.session.market.on_ticks([Tick("NSE:RELIANCE", desk.clock.now(), float(px), None, "quote")], "paper")


def test_the_section_lists_conditions_with_state_and_follows_the_journal(desk, queue):
    _tick(desk, 1490)
    cond = {"kind": "price", "cross": "above", "level": 1500}
    rep = desk.pipeline.submit([
        {"idempotency_key": "c-up", "strategy": "momo", "signal_time": desk.clock.now().isoformat(),
         "symbol": "RELIANCE", "side": "BUY", "quantity": 10, "condition": cond},
        {"idempotency_key": "c-nifty", "strategy": "momo", "signal_time": desk.clock.now().isoformat(),
         "symbol": "RELIANCE", "side": "SELL", "quantity": 4,
         "condition": {"kind": "symbol", "symbol": "NSE:NIFTY 50", "cross": "below", "level": 24000}}])
    assert len(rep.accepted) == 2
    view = ApprovalView(queue)
    html = view.conditions.widget.value
    assert "tk-conditions" in view.conditions.widget._dom_classes and view.conditions.widget in view.widget.children
    assert "Conditional orders" in html and "2 armed" in html
    assert "C1" in html and "BUY 10 NSE:RELIANCE" in html and "NSE:RELIANCE crosses above 1500" in html
    assert "C2" in html and "NSE:NIFTY 50 crosses below 24000" in html and "15:30:00" in html

    _tick(desk, 1501)  # C1 fires: a manual route, so its order waits on this same dashboard
    desk.session.cancel_condition("C2", "not today")
    view.refresh()
    html = view.conditions.widget.value
    assert "1 armed" not in html and "0 armed" in html
    cid = [c for c in desk.session.conditions() if c.id == "C1"][0].client_order_id
    assert cid and "triggered" in html and cid in html and "1501.0" in html
    assert "cancelled" in html and "not today" in html
    assert cid in queue.pending_ids()  # and its proposal is a card like any other
