"""The OMS's shortcuts (issue 20) against the long way: listeners routed by the types they read get
what they got when every listener saw every event; the book the OMS hands its request to equals the
book rebuilt from the journal."""

from __future__ import annotations

from decimal import Decimal

from tradekit.model import OrderRequest
from tradekit.store import Book
from tradekit.store.listeners import listens

from .conftest import make_session, step

KEY = "NSE:INFY"


def test_a_typed_listener_gets_only_its_types_and_in_the_same_place_among_the_others(tmp_path):
    s = make_session(tmp_path)
    seen: list[tuple[str, str]] = []

    def before(ev):
        seen.append(("before", ev.type))

    @listens("fill", "order.created")
    def typed(ev):
        seen.append(("typed", ev.type))

    def after(ev):
        seen.append(("after", ev.type))

    for fn in (before, typed, after):
        s.oms.listeners.append(fn)
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    s.submit(OrderRequest("NSE", "INFY", "BUY", 10, "MARKET", "MIS"), strategy="s1")
    step(s, KEY, 1, 1500.5, 1502, 1500, 1501)
    types = [t for who, t in seen if who == "before"]
    assert {"order.created", "risk.decision", "approval.granted", "order.submitted", "order.update", "fill"} <= set(types)
    expected = []
    for t in types:
        expected.append(("before", t))
        if t in ("fill", "order.created"):
            expected.append(("typed", t))
        expected.append(("after", t))
    assert seen == expected
    s.oms.listeners.remove(typed)  # a change to the list is seen by the next event
    n = len(seen)
    s.submit(OrderRequest("NSE", "INFY", "SELL", 10, "MARKET", "MIS"), strategy="s1")
    assert ("typed", "order.created") not in seen[n:] and ("after", "order.created") in seen[n:]


def _order_fields(book):
    return {cid: (tuple((n, type(getattr(o.request, n)), repr(getattr(o.request, n))) for n in OrderRequest.__dataclass_fields__),
                  repr(o.reference_price), o.strategy, o.signal_id, o.approval_mode, o.source, o.status, o.created_at)
            for cid, o in book.orders.items()}


def test_the_book_the_oms_hands_its_requests_to_equals_the_book_rebuilt_from_the_journal(tmp_path):
    s = make_session(tmp_path)
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    refs = [None, Decimal("1500.50"), Decimal("1.5E+3"), 1500.25, "1500.1", 1500]  # a float's, str's, int's text is decoded
    for i, ref in enumerate(refs):
        s.submit(OrderRequest("NSE", "INFY", "BUY" if i % 2 == 0 else "SELL", 10, "LIMIT", "CNC", price=Decimal("1499.00")),
                 strategy="s1", reference_price=ref)
    s.submit(OrderRequest("NSE", "INFY", "BUY", 10, "MARKET", "MIS"), strategy="s2")  # the last price as reference
    s.journal.flush()
    rebuilt = Book.rebuild(s.journal.events())
    assert _order_fields(s.book) == _order_fields(rebuilt)
    assert [repr(o.reference_price) for o in s.book.orders.values()][:3] == ["Decimal('1500')", "Decimal('1500.50')",
                                                                              "Decimal('1.5E+3')"]  # None: the last price
