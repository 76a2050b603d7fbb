"""The OMS hands each event to the listeners that read its type, in the order they were added."""

from __future__ import annotations

from tradekit.model import OrderRequest
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
