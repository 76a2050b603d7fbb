"""The gate's incremental state (issue 20) equals what a full recomputation gives.

- the day's order count (``_new_day``) indexes a plain book's orders by creation day as they
  appear: the same count as the scan over every order, for orders created out of day order,
  statuses that change between days, and a book replaced by another;
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tradekit.model import Order, OrderRequest
from tradekit.model.order import OrderStatus
from tradekit.risk import PreTradeGate, RiskConfig
from tradekit.store import Book

from .helpers import NOW

_STATUSES = [OrderStatus.CREATED, OrderStatus.DENIED, OrderStatus.OPEN, OrderStatus.FILLED, OrderStatus.CANCELLED]


def _count_reference(book: Book, day) -> int:  # the scan over every order, before the index
    return sum(1 for o in book.orders.values()
               if o.created_at is not None and o.created_at.date() == day
               and o.status not in (OrderStatus.CREATED, OrderStatus.DENIED))


# each step: ("add", day offset or None, status) | ("status", which order, status) | ("day", day offset)
# | ("newbook",)
_step = st.one_of(
    st.tuples(st.just("add"), st.one_of(st.none(), st.integers(0, 4)), st.sampled_from(_STATUSES)),
    st.tuples(st.just("status"), st.integers(0, 10_000), st.sampled_from(_STATUSES)),
    st.tuples(st.just("day"), st.integers(0, 4)),
    st.tuples(st.just("newbook"), st.booleans()),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_step, max_size=60))
@example([("add", 0, OrderStatus.OPEN), ("day", 0), ("newbook", False), ("day", 1)])  # another dict, as large
@example([("add", 0, OrderStatus.OPEN), ("add", 1, OrderStatus.OPEN), ("day", 0), ("newbook", True), ("day", 1)])
def test_the_days_order_count_equals_the_scan_over_every_order(steps):
    gate = PreTradeGate(RiskConfig())
    book = Book()
    n = 0
    req = OrderRequest("NSE", "INFY", "BUY", 1, "MARKET", "MIS")
    for s in steps:
        if s[0] == "add":
            n += 1
            at = None if s[1] is None else NOW + timedelta(days=s[1], minutes=n)
            book.orders[f"C{n}"] = Order(f"C{n}", req, created_at=at, status=s[2])
        elif s[0] == "status" and book.orders:
            o = list(book.orders.values())[s[1] % len(book.orders)]
            o.status = s[2]
        elif s[0] == "newbook":
            old, book = book, Book()
            items = list(old.orders.items())
            # another dict: smaller than the one indexed, or as large with the orders in another order
            for cid, o in (items[::2] if s[1] else items[::-1]):
                book.orders[cid] = Order(cid, req, created_at=o.created_at + timedelta(days=1) if o.created_at else None,
                                         status=OrderStatus.OPEN)
        elif s[0] == "day":
            day = (NOW + timedelta(days=s[1])).date()
            gate._new_day(day, book)
            assert gate.orders_today == _count_reference(book, day)
