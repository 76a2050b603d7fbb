"""The paper broker's own MIS square-off at its cut-off: it is not refused by the cut-off rule it
enforces, and its ₹50 + GST fee reaches the journal, so the book and the broker's ledger agree."""

from __future__ import annotations

from decimal import Decimal


from tradekit.config import load_config
from tradekit.data import load_bars, sample_path
from tradekit.execution.replay import run_replay
from tradekit.model import OrderStatus
from tradekit.session import Session
from tradekit.store import Book, EventType as E
from tradekit.strategies import SmaCrossover


def _replay(tmp_path, square_off_time, days=("2016-08-17", "2016-08-18")):
    cfg = load_config(overrides={"execution": {"charges_as_of": "2026-11-20", "square_off_time": square_off_time}})
    data = {"NSE:RELIANCE": load_bars(sample_path("RELIANCE"), start=days[0], end=days[1])}
    s = Session.for_replay(cfg, tmp_path / "j.db", data["NSE:RELIANCE"].index[0].to_pydatetime())
    r = run_replay(s, data, strategies=[SmaCrossover(10, 30, 20)])
    return s, r


def test_without_tradekit_square_off_the_broker_squares_off_at_its_cut_off_and_the_fee_is_journaled(tmp_path):
    s, r = _replay(tmp_path, None)
    rms = [o for o in s.broker._orders.values() if o.tag.startswith("RMSSQ")]
    assert rms, "the broker's cut-off found an open MIS position"
    assert all(o.status == "COMPLETE" for o in rms), [(o.status, o.message) for o in rms]
    assert s.book.net_quantity("NSE", "RELIANCE") == 0  # not carried overnight
    fees = [e for e in s.journal.events(types=(E.POSITION_ADJUSTED,)) if e.payload["kind"] == "charges"]
    assert len(fees) == len(rms)
    assert {Decimal(f.payload["charges"]["brokerage"]) + Decimal(f.payload["charges"]["gst"]) for f in fees} == {Decimal("59.00")}
    assert s.broker.cash == s.book.cash
    assert s.broker.charges_paid.total == s.book.charges_total.total
    assert Book.rebuild(s.journal.events()).snapshot() == s.book.snapshot()


def test_an_early_square_off_time_leaves_nothing_for_the_broker_and_nothing_overnight(tmp_path):
    s, r = _replay(tmp_path, "14:30")
    assert s.book.net_quantity("NSE", "RELIANCE") == 0
    assert s.broker.cash == s.book.cash
    assert all(o.status in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.DENIED)
               for o in s.book.orders.values())


def test_square_off_order_is_not_refused_by_the_cut_off(tmp_path):
    from datetime import datetime, time

    from tradekit.brokers.paper import PaperBroker
    from tradekit.clock import IST, SimClock
    from tradekit.model import OrderRequest
    from tradekit.session import _default_instruments

    day = datetime(2024, 6, 3, 15, 0, tzinfo=IST)
    clock = SimClock(day)
    b = PaperBroker(clock, _default_instruments(), mis_cutoff=lambda inst, d: datetime.combine(d, time(15, 20), IST))
    fees = []
    b.on_fee = fees.append
    b.on_bar("NSE:SBIN", day, day.replace(minute=1), 800, 801, 799, 800, 100_000)
    b.place_order("C1", OrderRequest("NSE", "SBIN", "BUY", 10, "MARKET", "MIS", market_protection=Decimal(-1)))
    b.on_bar("NSE:SBIN", day.replace(minute=1), day.replace(minute=2), 800, 801, 799, 800, 100_000)
    clock.set(day.replace(minute=20))
    assert b.square_off_mis() == 1
    sq = [o for o in b._orders.values() if o.tag.startswith("RMSSQ")][0]
    assert sq.status != "REJECTED", sq.message
    b.on_bar("NSE:SBIN", day.replace(minute=20), day.replace(minute=21), 800, 801, 799, 800, 100_000)
    assert sq.status == "COMPLETE"
    assert [p.quantity for p in b.positions()] == [0]
    assert fees and fees[0]["charges"]["brokerage"] == "50.00" and fees[0]["charges"]["gst"] == "9.00"
    # the broker still refuses a trader's MIS order after the cut-off
    oid = b.place_order("C2", OrderRequest("NSE", "SBIN", "BUY", 10, "MARKET", "MIS", market_protection=Decimal(-1)))
    assert b._orders[oid].status == "REJECTED"


def test_a_thin_stock_is_squared_off_in_full_by_the_close(tmp_path):
    """Bars too thin for the square-off (participation cap): what is left fills at the close."""
    cfg = load_config(overrides={"execution": {"charges_as_of": "2026-11-20"}, "paper": {"participation": 0.0002}})
    data = {"NSE:SBIN": load_bars(sample_path("SBIN"), start="2016-08-17", end="2016-08-18")}
    s = Session.for_replay(cfg, tmp_path / "j.db", data["NSE:SBIN"].index[0].to_pydatetime())
    run_replay(s, data, strategies=[SmaCrossover(10, 30, 1000)])
    rms = [o for o in s.broker._orders.values() if o.tag.startswith("RMSSQ")]
    assert rms and all(o.status == "COMPLETE" for o in rms)
    assert s.book.net_quantity("NSE", "SBIN") == 0
    assert s.broker.cash == s.book.cash
    assert Book.rebuild(s.journal.events()).snapshot() == s.book.snapshot()
