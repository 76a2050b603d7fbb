"""State and money invariants of the paper core, on random price paths and random order flow."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.model import OrderRequest, Side
from tradekit.store import Book

from .conftest import make_session, step

KEY = "NSE:INFY"

moves = st.lists(st.integers(-40, 40), min_size=5, max_size=40)  # price path in ticks of 0.05
actions = st.lists(st.tuples(st.sampled_from(["BUY", "SELL"]), st.integers(1, 50),
                             st.sampled_from(["MARKET", "LIMIT", "SL-M", "cancel"]), st.integers(-20, 20)),
                   min_size=1, max_size=30)


@settings(max_examples=40, deadline=None)
@given(moves, actions)
def test_money_and_state_invariants(tmp_path_factory, path, acts):
    s = make_session(tmp_path_factory.mktemp("inv"), paper={"participation": 0.5})
    price = Decimal("1500.00")
    cash_flows = Decimal(0)
    for i, mv in enumerate(path):
        price = max(Decimal("100"), price + Decimal(mv) * Decimal("0.05"))
        p = float(price)
        step(s, KEY, i, p, p + 0.5, p - 0.5, p, 200)
        if i < len(acts):
            side, q, kind, off = acts[i]
            if kind == "cancel":
                for o in list(s.book.open.values()):
                    s.oms.cancel(o.client_order_id, reason="test")
                continue
            if kind == "LIMIT":
                req = OrderRequest("NSE", "INFY", side, q, "LIMIT", "MIS", price=price + Decimal(off) * Decimal("0.05"))
            elif kind == "SL-M":
                trig = price + (Decimal("0.50") if side == "BUY" else Decimal("-0.50"))
                req = OrderRequest("NSE", "INFY", side, q, "SL-M", "MIS", trigger_price=trig)
            else:
                req = OrderRequest("NSE", "INFY", side, q, "MARKET", "MIS")
            s.submit(req, strategy="s")
    fills = [e.payload for e in s.journal.events(types=("fill",))]
    signed = sum(int(f["quantity"]) * (1 if f["side"] == "BUY" else -1) for f in fills)
    cash_flows = sum(Decimal(f["price"]) * int(f["quantity"]) * (-1 if f["side"] == "BUY" else 1) for f in fills)
    charges = sum(sum(Decimal(v) for v in f["charges"].values()) for f in fills)
    pos = s.book.position("s", "NSE", "INFY", "MIS")
    qty = pos.quantity if pos else 0
    # position quantity = Σ signed fills
    assert qty == signed
    # realized + unrealized = Σ cash flows + marked value − charges
    if pos:
        pos.mark(price)
        assert pos.net_pnl == cash_flows + price * qty - charges
        assert pos.charges.total == charges
    # filled never exceeds quantity, and fills per order add up
    for o in s.book.orders.values():
        assert 0 <= o.filled_quantity <= o.request.quantity
    # the book rebuilt from the journal equals the live one
    s.journal.flush()
    assert Book.rebuild(s.journal.events()).snapshot() == s.book.snapshot()
    # margin blocked returns to zero when nothing is open and the book is flat
    for o in list(s.book.open.values()):
        s.oms.cancel(o.client_order_id, reason="end")
    s.oms.flatten(reason="end", source="square_off")
    step(s, KEY, len(path), float(price), float(price) + 0.5, float(price) - 0.5, float(price), 10_000)
    assert not s.book.open
    assert s.book.net_quantity("NSE", "INFY") == 0
    assert s.account.blocked() == 0
    assert s.broker.utilised() == 0
