"""compare(): each kind of difference, from hand-made books and broker rows."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tradekit.brokers.base import BrokerHolding, BrokerOrder, BrokerPosition, BrokerTrade
from tradekit.brokers.kite.reconcile import compare
from tradekit.clock import IST
from tradekit.model.enums import Exchange, Product, Side
from tradekit.model.order import Order, OrderRequest, OrderStatus
from tradekit.model.position import Position
from tradekit.store import Book

NOW = datetime(2026, 11, 24, 11, 0, tzinfo=IST)


def order(cid, status, boid=None, filled=0, qty=5):
    o = Order(cid, OrderRequest("NSE", "INFY", "BUY", qty, "MARKET", "MIS", market_protection=-1, tag=cid),
              created_at=NOW, status=status, broker_order_id=boid)
    o.filled_quantity = filled
    return o


def row(boid, tag, status, filled=0, qty=5, symbol="INFY"):
    return BrokerOrder(boid, tag, status, Exchange.NSE, symbol, Side.BUY, qty, filled_quantity=filled)


def book_with(*orders):
    b = Book()
    for o in orders:
        b.orders[o.client_order_id] = o
        if o.broker_order_id:
            b.by_broker_id[o.broker_order_id] = o.client_order_id
    return b


def kinds(rep):
    return sorted(d.kind for d in rep.differences)


def test_clean_book_is_ok():
    b = book_with(order("A", OrderStatus.OPEN, "1"))
    rep = compare(b, [row("1", "A", "OPEN")], [], [], [], day=NOW.date())
    assert rep.ok and "in sync" in rep.summary()


def test_each_order_difference():
    b = book_with(order("A", OrderStatus.OPEN, "1"), order("B", OrderStatus.OPEN, "2"),
                  order("C", OrderStatus.UNKNOWN), order("D", OrderStatus.PARTIALLY_FILLED, "4", filled=2),
                  order("E", OrderStatus.REJECTED))  # rejected locally, never at the broker: fine
    rows = [row("1", "A", "COMPLETE", filled=5), row("4", "D", "OPEN", filled=3), row("9", None, "OPEN")]
    rep = compare(b, rows, [], [], [], day=NOW.date())
    assert kinds(rep) == ["external_order", "filled", "filled", "missing_order", "status", "unknown_order"]
    text = rep.summary()
    assert "external order 9" in text and "order B" in text and "order C" in text


def test_acknowledged_external_orders_and_other_days_are_not_differences():
    old = order("Z", OrderStatus.OPEN, "7")
    old.created_at = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
    rep = compare(book_with(old), [row("9", "X1", "COMPLETE", 5)], [], [], [], day=NOW.date(), acknowledged={"9"})
    assert rep.ok


def test_unbooked_trades_positions_and_holdings():
    b = book_with(order("A", OrderStatus.FILLED, "1", filled=5))
    p = Position("s", Exchange.NSE, "INFY", Product.MIS)
    p.apply_fill(Side.BUY, 5, Decimal("100"))
    b.positions[p.key] = p
    c = Position("s", Exchange.NSE, "SBIN", Product.CNC, overnight_quantity=10, quantity=10, open_value=Decimal("2000"))
    b.positions[c.key] = c
    trades = [BrokerTrade("T1", "1", Exchange.NSE, "INFY", Side.BUY, 5, Decimal("100"), NOW)]
    positions = [BrokerPosition(Exchange.NSE, "INFY", Product.MIS, 4), BrokerPosition(Exchange.NSE, "SBIN", Product.CNC, 10)]
    holdings = [BrokerHolding(Exchange.NSE, "SBIN", 6, 0)]
    rep = compare(b, [row("1", "A", "COMPLETE", filled=5)], trades, positions, holdings, day=NOW.date())
    assert kinds(rep) == ["holding", "position", "unbooked_trade"]
    ev = rep.to_event()
    assert ev["ok"] is False and len(ev["mismatches"]) == 3 and ev["mismatches"][0]["kind"]


def test_an_order_the_stream_moved_during_the_fetch_waits_for_the_next_cycle():
    """The broker's rows were fetched between 11:00:00 and 11:00:02; a fill that reached the book at
    11:00:01 is newer than them: not a difference now (the next cycle compares it). One booked
    before the fetch began is."""
    from datetime import timedelta

    from tradekit.model.position import position_key

    during, before = order("A", OrderStatus.FILLED, "1", filled=5), order("B", OrderStatus.FILLED, "2", filled=5)
    during.updated_at, before.updated_at = NOW + timedelta(seconds=1), NOW - timedelta(seconds=5)
    b = book_with(during)
    p = b.positions[position_key("s", "NSE", "INFY", "MIS")] = Position("s", Exchange.NSE, "INFY", Product.MIS)
    p.apply_fill(Side.BUY, 5, Decimal("1500"))
    window = dict(day=NOW.date(), placed_before=NOW, fetched_at=NOW + timedelta(seconds=2))
    assert compare(b, [row("1", "A", "OPEN")], [], [], [], **window).ok
    b2 = book_with(before)
    b2.positions.update(b.positions)
    rep = compare(b2, [row("2", "B", "OPEN")], [], [], [], **window)
    assert kinds(rep) == ["filled", "position", "status"]


def test_an_order_row_older_than_the_brokers_own_trade_book_is_not_a_difference():
    """Orders are fetched before trades: a fill in between shows in the trade book (and so in ours)
    but not yet in the order row. The broker's trade book agrees with the book: no difference."""
    o = order("A", OrderStatus.FILLED, "1", filled=5)
    b = book_with(o)
    t = BrokerTrade("T1", "1", Exchange.NSE, "INFY", Side.BUY, 5, Decimal("1500"), NOW, Product.MIS, tag="A")
    rep = compare(b, [row("1", "A", "OPEN")], [t], [], [], day=NOW.date())
    assert "status" not in kinds(rep) and "filled" not in kinds(rep)
    rep = compare(b, [row("1", "A", "OPEN")], [], [], [], day=NOW.date())  # no such trade at the broker
    assert "status" in kinds(rep) and "filled" in kinds(rep)
