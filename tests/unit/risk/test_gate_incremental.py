"""The gate's incremental state (issue 20) equals what a full recomputation gives.

- the day's order count (``_new_day``) indexes a plain book's orders by creation day as they
  appear: the same count as the scan over every order, for orders created out of day order,
  statuses that change between days, and a book replaced by another;
- the book summary's marks keep each position's open value as a float while it is the same
  Decimal: the same figures as converting it on every mark, through fills, marks, splits (quantity,
  price and cost change in memory) and prices taken away.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tradekit.model import Order, OrderRequest
from tradekit.model.order import OrderStatus
from tradekit.risk import PreTradeGate, RiskConfig
from tradekit.risk.gate_book import BookSummary
from tradekit.store import Book

from .helpers import NOW, BookBuilder

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


# -- the book summary's marks keep each position's open value as a float until it changes ---------

class _ReferenceSummary(BookSummary):
    """The summary with ``_marks`` as it was: the open value converted on every mark."""

    def _marks(self, lps):
        for i in range(len(lps)):
            if lps[i] is self.lps[i]:
                continue
            pos, lp, row = self.positions[i], lps[i], self.rows[i]
            q, k, m = pos.quantity, row[0], row[3]
            ov = float(pos.open_value)
            px = float(lp) if lp is not None else (ov / q if q else 0.0)
            mv = px * q * m
            u = (px * q - ov) * m if q else 0.0
            before = self.value[k]
            after = before + mv - row[1]
            self.value[k] = after
            self.qty[k] += q - row[4]
            self.unreal += u - row[2]
            if lp is not None:
                self.price[k] = px
            d_abs = abs(after) - abs(before)
            self.gross += d_abs
            self.net += after - before
            s = self.sector_of(k)
            if s:
                self.sector[s] = self.sector.get(s, 0.0) + d_abs
            self.deltas.append((k, after - before))
            row[1], row[2], row[4] = mv, u, q
        self.lps = lps
        self.version += 1


def _state(s: BookSummary):
    return (s.qty, s.value, s.price, s.cnc, s.sector, s.gross, s.net, s.unreal, s.fixed, s.deltas, s.version,
            [r[:5] for r in s.rows])


_SYMS = ["AAA", "BBB", "CCC"]
_mark_step = st.one_of(
    st.tuples(st.just("fill"), st.sampled_from(_SYMS), st.sampled_from(["BUY", "SELL"]), st.integers(1, 50),
              st.integers(1000, 1100)),
    st.tuples(st.just("mark"), st.lists(st.tuples(st.sampled_from(_SYMS), st.integers(900, 1200)), min_size=1,
                                        max_size=3)),
    st.tuples(st.just("split"), st.sampled_from(_SYMS), st.sampled_from([2, 5])),  # quantity and price move
    st.tuples(st.just("bonus"), st.sampled_from(_SYMS), st.sampled_from([(1, 3), (2, 7)])),  # and the cost (fractions)
    st.tuples(st.just("unmark"), st.sampled_from(_SYMS)),  # a position without a price
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_mark_step, max_size=40))
@example([("fill", "AAA", "BUY", 10, 1000), ("bonus", "AAA", (1, 3))])
def test_the_summarys_marks_equal_the_conversion_on_every_mark(steps):
    b = BookBuilder()
    sector = {"AAA": "bank", "BBB": "it"}.get
    fast, ref = BookSummary(lambda k: sector(k.partition(":")[2])), _ReferenceSummary(lambda k: sector(k.partition(":")[2]))
    for s in steps:
        if s[0] == "fill":
            b.fill(s[1], s[2], s[3], s[4], product="CNC" if s[1] == "CCC" else "MIS")
        elif s[0] == "mark":
            b.mark({sym: px / 10 for sym, px in s[1]})
        else:
            for p in b.book.positions.values():  # in memory, as a corporate action or the replay's marks do
                if p.tradingsymbol == s[1]:
                    if s[0] == "split":
                        p.apply_split(s[2])
                    elif s[0] == "bonus":
                        p.apply_bonus(*s[2])
                    else:
                        p.last_price = None
            fast.seq = ref.seq = None  # no event moved the book's sequence (CircuitBreakers.on_book(marked=True))
        fast.refresh(b.book)
        ref.refresh(b.book)
        assert _state(fast) == _state(ref)


# -- the working orders skip their rescans while book.orders_version stands still -----------------

# each step: ("new", symbol, side, qty, working) | ("fill", which, qty) | ("status", which, status)
# | ("modify", which, qty) | ("note",) | ("mark", symbol, price) | ("denied", which)
_o_step = st.one_of(
    st.tuples(st.just("new"), st.sampled_from(["AAA", "BBB"]), st.sampled_from(["BUY", "SELL"]),
              st.integers(1, 50), st.booleans()),
    st.tuples(st.just("fill"), st.integers(0, 1000), st.integers(1, 20)),
    st.tuples(st.just("status"), st.integers(0, 1000), st.sampled_from(["CANCELLED", "REJECTED", "OPEN"])),
    st.tuples(st.just("modify"), st.integers(0, 1000), st.integers(1, 60)),
    st.tuples(st.just("denied"), st.integers(0, 1000)),
    st.tuples(st.just("note")),
    st.tuples(st.just("mark"), st.sampled_from(["AAA", "BBB"]), st.integers(90, 110)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_o_step, max_size=40), st.integers(1, 4))
@example([("new", "AAA", "BUY", 5, False), ("new", "AAA", "SELL", 5, False), ("denied", 0), ("note",)], 1)
def test_the_working_orders_equal_a_fresh_scan_after_every_event(steps, every):
    """OpenOrders and the daily-loss worst case's base, kept across events (and skipping their
    rescans while no event changed an order), equal the rescanning ones (and a fresh scan's orders)
    (refreshed after every ``every``-th event, so several events land between two refreshes)."""
    from tradekit.risk.gate_book import OpenOrders
    from tradekit.risk.worstcase import _Base
    from tradekit.store import EventType as E

    b = BookBuilder()
    b.fill("AAA", "BUY", 10, 100)
    b.fill("BBB", "SELL", 7, 100)
    class Reference(OpenOrders):  # the rescans as they were: the version never matches
        __slots__ = ()

        def refresh(self, book):
            self.version = -1
            return super().refresh(book)

    summary = BookSummary(lambda k: None)
    kept, base, ref, ref_base = OpenOrders(), _Base(), Reference(), _Base()
    cids: list[str] = []

    def pick(i):
        return cids[i % len(cids)] if cids else None

    for n, s in enumerate(steps):
        if s[0] == "new":
            o = b.order(s[1], s[2], s[3], "LIMIT", price="100", status="OPEN" if s[4] else None)
            cids.append(o.client_order_id)
        elif s[0] == "fill" and (cid := pick(s[1])):
            o = b.book.orders[cid]
            if o.status.is_working and o.pending_quantity:
                q = min(s[2], o.pending_quantity)
                done = q == o.pending_quantity
                b.n += 1
                b.apply(E.FILL, {"trade_id": f"T{b.n}", "client_order_id": cid, "quantity": q, "price": "100",
                                 "side": o.request.side.value, "exchange": "NSE", "tradingsymbol": o.request.tradingsymbol,
                                 "product": "MIS", "strategy": "s"})
                b.apply(E.ORDER_UPDATE, {"client_order_id": cid, "status": "COMPLETE" if done else "OPEN",
                                         "filled_quantity": o.filled_quantity})
        elif (s[0] == "status" and (cid := pick(s[1])) and b.book.orders[cid].status.is_working
              and not (s[2] == "REJECTED" and b.book.orders[cid].filled_quantity)):
            o = b.book.orders[cid]
            b.apply(E.ORDER_UPDATE, {"client_order_id": cid, "status": s[2], "filled_quantity": o.filled_quantity})
        elif s[0] == "modify" and (cid := pick(s[1])) and b.book.orders[cid].status.is_working:
            b.apply(E.ORDER_MODIFIED, {"client_order_id": cid, "quantity": max(s[2], b.book.orders[cid].filled_quantity + 1)})
        elif s[0] == "denied" and (cid := pick(s[1])) and b.book.orders[cid].status is OrderStatus.CREATED:
            b.apply(E.RISK_DECISION, {"client_order_id": cid, "allowed": False, "reason": "no"})
        elif s[0] == "mark":
            b.mark({s[1]: s[2]})
        else:
            b.apply(E.NOTE, {"n": n})
        if n % every:
            continue
        summary.refresh(b.book)
        live = kept.refresh(b.book)
        want = ref.refresh(b.book)
        assert list(live) == list(want) and all(live[c] is want[c] for c in want)  # the same order: float sums
        assert set(want) == set(OpenOrders().refresh(b.book))
        assert base.of(summary, live, kept.version) == ref_base.of(summary, want)
        for sym in ("AAA", "BBB", "CCC"):  # the per-symbol index the reducing and CNC checks walk
            assert list(kept.of_symbol(live, sym)) == [o for o in live.values() if o.request.tradingsymbol == sym]


# -- VarModel.prepare keeps its last answers by the exposures -------------------------------------

@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from(["NSE:AAA", "BSE:AAA", "NSE:BBB", "NSE:ZZZ", "CCC"]),
                                   st.sampled_from([0.0, -0.0, 1.5, -250000.25, 1e-300, 123456.789])),
                         max_size=5).map(dict), max_size=12))
def test_prepare_answers_as_numpy_does_for_the_same_exposures(books):
    """A model that has answered before (and whose answers the caller patched in place, as the
    gate's VaR state does) gives the figures a fresh model computes, bit for bit."""
    import numpy as np

    from tradekit.risk.var import VarModel

    rng = np.random.default_rng(3)
    a = rng.normal(size=(40, 3)) * 0.01
    cov = np.cov(a, rowvar=False)
    kept = VarModel(["AAA", "BBB", "CCC"], cov)
    for values in books + books:  # every exposure twice: the second time from what was kept
        wsw, sw = kept.prepare(values, as_array=True)
        want_wsw, want_sw = VarModel(["AAA", "BBB", "CCC"], cov).prepare(values, as_array=True)
        assert wsw.hex() == want_wsw.hex() and sw.tobytes() == want_sw.tobytes()
        sw += 1.0  # the caller's patches do not reach what was kept
        assert kept.prepare(values)[1] == want_sw.tolist()


# -- the freeze rule's answers are kept per instrument, day and quantity ---------------------------

@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 60), st.booleans()), min_size=1, max_size=25))
def test_the_freeze_check_equals_the_rule_for_every_order(orders):
    """The gate's FREEZE result and slice size, kept per (instrument, day, quantity), are what
    ``_rules.freeze`` says for that order (days and quantities repeat and alternate)."""
    from tradekit.risk import RiskContext, _rules
    from tradekit.risk.config import load_lists

    from .helpers import future

    futs = [future(), future("BANKNIFTY26DECFUT", lot=30, freeze=900, underlying="BANKNIFTY")]
    for deny in (False, True):
        cfg = RiskConfig.model_validate({"instrument": {"freeze": "deny" if deny else "slice"}})
        g = PreTradeGate(cfg, lists=load_lists(cfg))
        b = BookBuilder()
        for n, (days, lots, which) in enumerate(orders):
            inst = futs[which]
            now = NOW + timedelta(days=days, seconds=n)
            o = b.order(inst.tradingsymbol, "BUY", inst.lot_size * lots, "LIMIT", price="100", product="NRML",
                        exchange="NFO")
            d = g.check(o, RiskContext(now, b.book, instrument=inst, last_price=Decimal("100")))
            want, size = _rules.freeze(o.request, inst, now.date(), deny=deny)
            assert tuple(d.check("FREEZE")) == (tuple(want) if want else ("FREEZE", True, "", None, None))
            assert d.needs_slicing == size
