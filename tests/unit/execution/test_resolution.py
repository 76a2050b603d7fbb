"""Issue 13.3 as a property: a placement the broker holds before acting on it is never concluded
"not placed" while it can still land (sent + placement timeout + the broker's processing window);
one that lands later still is adopted as ours; the book always equals its rebuild from the journal."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.unit.execution.conftest import make_session, step
from tradekit.brokers.kite.reconcile import Reconciler
from tradekit.errors import AmbiguousOrderState
from tradekit.model.order import OrderRequest, OrderStatus as S
from tradekit.store import Book

KEY = "NSE:RELIANCE"
PT, WINDOW = 7.0, 15.0  # the request's timeout, the broker's processing window (seconds)


class Holding:
    """The paper broker behind a link that holds a placement ``hold`` seconds (None: loses it); the client
    gives up at once (AmbiguousOrderState) and no update reaches us when it lands."""

    def __init__(self, inner, clock, hold):
        self.inner, self.clock, self.hold = inner, clock, hold
        self.name, self.calls, self.queue = "holding", 0, []

    def __getattr__(self, k):
        return getattr(self.inner, k)

    def place_order(self, cid, req):
        self.calls += 1
        if self.hold is not None:
            self.queue.append((self.clock.now() + timedelta(seconds=self.hold), cid, req))
        raise AmbiguousOrderState("read timed out")

    def land(self):
        for item in list(self.queue):
            if self.clock.now() >= item[0]:
                self.queue.remove(item)
                listeners, self.inner._listeners = self.inner._listeners, []
                try:
                    self.inner.place_order(item[1], item[2])
                finally:
                    self.inner._listeners = listeners

    def find_by_tag(self, tag):
        self.land()
        return self.inner.find_by_tag(tag)

    def orders(self):
        self.land()
        return self.inner.orders()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hold=st.one_of(st.none(), st.floats(0, 60)), every=st.floats(0.5, 10), lookups=st.integers(1, 4))
def test_never_concluded_not_placed_while_it_can_land_and_adopted_if_later(tmp_path_factory, hold, every, lookups):
    s = make_session(tmp_path_factory.mktemp("r"), execution={"unknown_max_lookups": lookups, "unknown_grace_seconds": 0,
                                                               "placement_timeout_seconds": PT,
                                                               "broker_processing_seconds": WINDOW})
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    s.oms.broker = link = Holding(s.broker, s.clock, hold)
    o = s.submit(OrderRequest("NSE", "RELIANCE", "BUY", 1, "LIMIT", "MIS", price=1400), strategy="s1")
    sent = o.updated_at
    concluded_at = None
    for _ in range(int(90 / every) + 2):
        s.clock.advance(every)
        s.oms.resolve_unknown()
        if o.status is S.REJECTED and concluded_at is None:
            concluded_at = s.clock.now()
    link.land()
    Reconciler(link, s.book, oms=s.oms, clock=s.clock).run_once()  # a late order is handed over by its tag
    if concluded_at is not None:
        assert concluded_at >= sent + timedelta(seconds=PT + WINDOW)  # never before the deadline
    if hold is not None and hold <= PT + WINDOW:
        assert concluded_at is None  # it landed in time: found, never "not placed"
    if hold is None:
        assert o.status is S.REJECTED and "not placed" in o.status_message
    else:  # found, or adopted after it was concluded: ours either way, placed once
        assert o.status is S.OPEN and o.broker_order_id and not s.oms.unknown_orders
    assert link.calls == 1 and len(s.broker.orders()) == (0 if hold is None else 1)
    assert Book.rebuild(s.journal.events()).snapshot() == s.book.snapshot()
