"""A session started from a snapshot keeps the finished orders of earlier days, the signal, trade and
broker ids out of memory (the snapshot's side tables), and reads them when something asks: a late
fill for an old order books exactly as after a full replay, an old signal id is refused, a report
over an old day lists its orders."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from sqlalchemy import update

from tests.unit.store.snapshot_helpers import config, copy, open_session
from tradekit.brokers.base import BrokerOrder, BrokerTrade
from tradekit.clock import IST, SimClock
from tradekit.errors import StoreError
from tradekit.model import OrderRequest
from tradekit.model.enums import Exchange, Product, Side
from tradekit.store import EventType as E
from tradekit.store import Journal, make_engine, snapshot_cold, sqlite_url
from tradekit.store import snapshot as snap

D1, D2, D3 = (datetime(2026, 12, d, 9, 15, tzinfo=IST) for d in (1, 2, 3))
LATE_BOID = "260000000000101"  # order A's broker id: cancelled at the broker with 3 of 5 filled, trades not yet seen


def _order(j: Journal, cid: str, qty: int, *, boid: str, signal: str | None = None) -> None:
    req = OrderRequest("NSE", "INFY", "BUY", qty, "LIMIT", "CNC", price="1500")
    if signal:
        j.append(E.SIGNAL_RECEIVED, {"signal_id": signal, "strategy": "s"})
    j.append(E.ORDER_CREATED, {"client_order_id": cid, "strategy": "s", "request": req.to_dict(), "signal_id": signal})
    j.append(E.RISK_DECISION, {"client_order_id": cid, "allowed": True, "checks": []})
    j.append(E.APPROVAL_GRANTED, {"client_order_id": cid, "by": "auto"})
    j.append(E.ORDER_SUBMITTED, {"client_order_id": cid})
    j.append(E.ORDER_UPDATE, {"client_order_id": cid, "status": "OPEN", "broker_order_id": boid})


def _fill(j: Journal, cid: str, tid: str, qty: int, px: str = "1500") -> None:
    j.append(E.FILL, {"client_order_id": cid, "trade_id": tid, "quantity": qty, "price": px, "side": "BUY",
                      "exchange": "NSE", "tradingsymbol": "INFY", "product": "CNC", "charges": {"brokerage": "0.00"}})
    j.append(E.ORDER_UPDATE, {"client_order_id": cid, "status": "COMPLETE", "filled_quantity": qty})


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    """Day 1: order A (cancelled at the broker with 3 of 5 filled, no trade seen yet), order B (filled,
    signal sig-old); day 2: order C (filled). A snapshot at the end of day 2: A and B are old."""
    db = tmp_path_factory.mktemp("lazy") / "j.db"
    clock = SimClock(D1)
    j = Journal(make_engine(sqlite_url(db)), clock=clock)
    j.append(E.SESSION_STARTED, {"mode": "paper", "capital": "1000000", "account": "t"})
    _order(j, "A", 5, boid=LATE_BOID)
    j.append(E.ORDER_UPDATE, {"client_order_id": "A", "status": "CANCELLED", "filled_quantity": 3})
    _order(j, "B", 2, boid="260000000000102", signal="sig-old")
    _fill(j, "B", "50000102", 2)
    j.append(E.APPROVAL_DECISION, {"client_order_id": "B", "decision": "approve", "by": "asha", "via": "dashboard"})
    clock.set(D2)
    j.append(E.DAY_ROLLED, {"day": D2.date().isoformat()})
    _order(j, "C", 4, boid="260000000000103", signal="sig-new")
    _fill(j, "C", "50000103", 4)
    j.engine.dispose()
    return db


def _pair(two_days, tmp_path):
    """(a session from the whole journal, a session from a snapshot at the end of day 2)."""
    cfg = config(tmp_path)
    full = open_session(copy(two_days, tmp_path / "full"), cfg, D3)
    db = copy(two_days, tmp_path / "snap")
    j = Journal(make_engine(sqlite_url(db)))
    snap.save(j, snap.build(j, use_snapshots=False))
    j.engine.dispose()
    lazy = open_session(db, cfg, D3)
    assert full.start_state.source == "replay" and lazy.start_state.source.startswith("snapshot")
    return full, lazy


def _late_trade(tid: str = "50000999", boid: str = LATE_BOID, qty: int = 3) -> BrokerTrade:
    return BrokerTrade(tid, boid, Exchange.NSE, "INFY", Side.BUY, qty, Decimal("1499.50"), D3, Product.CNC)


def _after(s, seq: int) -> list[tuple[str, dict]]:
    return [(ev.type, ev.payload) for ev in s.journal.events(after=seq)]


def test_a_late_fill_of_an_order_of_an_earlier_day_books_as_after_a_full_replay(two_days, tmp_path):
    full, lazy = _pair(two_days, tmp_path)
    assert "A" not in lazy.book.orders.hot and "C" in lazy.book.orders.hot  # old and finished: not in memory
    assert "B" not in lazy.book.decisions.hot and lazy.book.decisions["B"] == full.book.decisions["B"]
    assert full.book.snapshot() == lazy.book.snapshot()
    marks = full.journal.last_seq, lazy.journal.last_seq
    for s in (full, lazy):
        s.oms.on_trade(_late_trade())  # found by its broker id, booked on the old order
        s.oms.on_trade(_late_trade())  # the same trade again: already booked
        s.oms.on_trade(_late_trade("50000102", "260000000000102", 2))  # B's trade of day 1 replayed: already booked
        s.oms.on_order_update(BrokerOrder(LATE_BOID, None, "CANCELLED", Exchange.NSE, "INFY", Side.BUY, 5,
                                          filled_quantity=3, product=Product.CNC))  # a repeat of its final state
    got, want = _after(lazy, marks[1]), _after(full, marks[0])
    assert [t for t, _ in want] == [E.FILL] and got == want
    a = lazy.book.orders["A"]
    assert (a.status.value, a.filled_quantity) == ("CANCELLED", 3)
    assert lazy.book.snapshot() == full.book.snapshot()
    assert lazy.book.cash == full.book.cash and lazy.book.positions == full.book.positions
    # the changed old order is in the next snapshot: a restart from it still equals the full replay
    snap.take(lazy.journal)
    db = lazy.journal.engine.url.database
    for s in (full, lazy):
        s.close()
    again = open_session(db, config(tmp_path), D3)
    assert again.start_state.source.startswith("snapshot") and again.book.snapshot() == full.book.snapshot()
    again.close()


def test_an_old_signal_id_is_refused_after_a_snapshot_start(two_days, tmp_path):
    from tradekit.signals.pipeline import SignalPipeline

    _, s = _pair(two_days, tmp_path)
    pipe = SignalPipeline(s.journal, s.config, sink=s.submit_signal, emit=s._emit, clock=s.clock)
    assert pipe.seen("sig-old") and pipe.seen("sig-new") and not pipe.seen("sig-other")
    now = s.clock.now().isoformat()
    rep = pipe.ingest([{"idempotency_key": k, "strategy": "momo", "signal_time": now, "symbol": "INFY", "side": "BUY",
                        "quantity": 1, "product": "CNC"} for k in ("sig-old", "sig-x")])
    assert rep.ids("duplicate") == ["sig-old"] and rep.accepted_ids == ["sig-x"]
    s.close()


def test_a_report_over_an_old_day_lists_the_orders_read_from_the_side_table(two_days, tmp_path):
    from tradekit.monitoring.report import build_session_report

    full, lazy = _pair(two_days, tmp_path)
    reps = [build_session_report(book=s.book, day=D1.date(), figures=False, plugins=False) for s in (full, lazy)]
    assert sorted(reps[1].orders["order"]) == ["A", "B"]
    assert reps[1].orders.equals(reps[0].orders)
    assert sorted(lazy.book.orders) == ["A", "B", "C"] and len(lazy.book.orders) == 3
    full.close()
    lazy.close()


def test_an_edited_side_table_row_is_refused_by_name(two_days, tmp_path):
    _, s = _pair(two_days, tmp_path)
    with s.journal.engine.begin() as conn:
        conn.execute(update(snapshot_cold.orders_table).where(snapshot_cold.orders_table.c.client_order_id == "A")
                     .values(body=snapshot_cold.orders_table.c.body + " "))
    with pytest.raises(StoreError, match="order A .*was edited"):
        s.book.orders["A"]
    s.close()


def test_a_day_without_a_snapshot_of_its_own_is_unaffected(two_days, tmp_path):
    """Without a snapshot, the book is plain dicts and sets, as before."""
    full, _ = _pair(two_days, tmp_path)
    assert type(full.book.orders) is dict and type(full.book.signals) is set
    assert date(2026, 12, 1) == full.book.orders["A"].created_at.date()
    full.close()


def test_threads_closed_on_an_earlier_day_leave_the_snapshot_body(journal_db, tmp_path):
    """The real journal's bracket closed on day 3 and its MIS square-offs of days 1-2 are not in a snapshot
    taken on day 5, nor an alert acknowledged on day 4; the armed condition and the open alert are; a
    session from it holds what a full replay does, less those closed threads."""
    from tests.unit.store.snapshot_helpers import DAY4, fingerprint

    cfg = config(tmp_path)
    db = copy(journal_db, tmp_path / "j")
    s = open_session(db, cfg, DAY4)
    acked = next(a for a in s.alerts.outbox.alerts.values() if a.kind == "kill_switch").id
    assert s.alerts.ack(acked, by="test", via="test")
    s.close()
    s.journal.engine.dispose()
    day5 = DAY4.replace(day=22)
    full = open_session(copy(db, tmp_path / "full"), cfg, day5)
    want = fingerprint(full)
    row = snap.take(full.journal)
    with full.journal.engine.connect() as conn:
        body = orjson.loads(conn.execute(snap.snapshots_table.select()
                                                      .where(snap.snapshots_table.c.id == row["id"])).one().body)
    kept = {(t, p.get("bracket_id") or p.get("condition_id") or p.get("id") or p.get("client_order_id"))
            for _, _, _, t, p, _, _ in ((*r[:4], orjson.loads(r[4]), *r[5:]) for r in body["retained"])}
    assert not any(t.startswith("bracket.") for t, _ in kept), kept
    assert (E.CONDITION_CREATED, "C1") in kept and (E.ALERT_RAISED, acked) not in kept
    assert any(t == E.ALERT_RAISED for t, _ in kept)  # the other alert, never acknowledged
    assert not any(t == E.ORDER_CREATED for t, _ in kept)  # square-offs and the bracket's orders: all old and final
    src = Path(full.journal.engine.url.database)
    snap_db = copy(src, tmp_path / "snap")
    shutil.copyfile(f"{src}-wal", f"{snap_db}-wal")  # the snapshot is in the write-ahead log yet
    full.close()
    full.journal.engine.dispose()
    lazy = open_session(snap_db, cfg, day5)
    assert lazy.start_state.snapshot_seq == row["seq"]
    got = fingerprint(lazy)
    assert want["brackets"] and acked in want["alerts"]
    assert got == {**want, "brackets": {}, "bracket_children": snap.encode({}),
                   "alerts": {k: v for k, v in want["alerts"].items() if k != acked}}
    lazy.close()
