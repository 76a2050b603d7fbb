"""The account's cached figures (working-order margin, M2M loss) always equal a fresh
computation: across new orders, a modify, partial and full fills, marks and a cancel."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.risk.helpers import BookBuilder
from tradekit.execution.account import Account
from tradekit.store import EventType as E

STEP = st.sampled_from(["order", "market", "modify", "partial", "mark", "cancel", "fill"])


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(STEP, st.integers(1, 50), st.integers(90, 110)), min_size=1, max_size=25))
def test_cached_account_figures_equal_a_fresh_account(steps):
    b = BookBuilder()
    b.fill("RELIANCE", "BUY", 10, "100")  # an open MIS position: M2M loss applies
    acct = Account(b.book)
    acct.prices["NSE:INFY"] = Decimal("100")
    working = []
    for kind, q, px in steps:
        if kind == "order" or (kind != "market" and not working):
            working.append(b.order("INFY", "BUY", q, "LIMIT", price=Decimal(px), status="OPEN"))
        elif kind == "market":
            working.append(b.order("INFY", "SELL", q, "MARKET", status="OPEN"))
        else:
            o = working[q % len(working)]
            cid = o.client_order_id
            if o.status.is_terminal:
                continue
            if kind == "modify" and o.request.price is not None:
                b.apply(E.ORDER_MODIFIED, {"client_order_id": cid, "price": str(px), "quantity": o.quantity + 1})
            elif kind in ("partial", "fill"):
                done = max(o.filled_quantity, o.broker_filled_quantity)  # the broker's count
                left = o.quantity - done
                n = left if kind == "fill" else max(1, left // 2)
                if left:
                    b.apply(E.ORDER_UPDATE, {"client_order_id": cid, "status": "COMPLETE" if n == left else "OPEN",
                                             "filled_quantity": done + n})
            elif kind == "mark":
                b.mark({"RELIANCE": px, "INFY": px})
                acct.prices["NSE:INFY"] = Decimal(px)
            elif kind == "cancel":
                b.apply(E.ORDER_UPDATE, {"client_order_id": cid, "status": "CANCELLED",
                                         "filled_quantity": max(o.filled_quantity, o.broker_filled_quantity)})
        fresh_acct = Account(b.book, prices=acct.prices)
        assert acct.order_margin() == fresh_acct.order_margin()
        assert acct.available() == fresh_acct.available()
