"""Journal snapshots: state from a snapshot plus the events after it equals the state from a full replay,
at random cut points of a real multi-day journal; a snapshot that does not match the chain is ignored."""

from __future__ import annotations

import logging
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, update

from tests.unit.store.snapshot_helpers import DAY4, book_picture, config, copy, fingerprint, open_session
from tradekit.alerts.outbox import ALERT_TYPES, Outbox
from tradekit.execution.conditions import TYPES as CONDITION_TYPES
from tradekit.execution.conditions import ConditionLedger
from tradekit.market.corporate_actions import applied_ids
from tradekit.risk.killswitch import last_trip
from tradekit.store import Book, Journal, make_engine, sqlite_url
from tradekit.store import EventType as E
from tradekit.store import snapshot as snap
from tradekit.store.snapshot import StartState, decode, encode


_book = book_picture


def _components(events_of) -> dict:
    """What the components that rebuild from kinds of events would hold."""
    led = ConditionLedger.rebuild(events_of(CONDITION_TYPES))
    box = Outbox.rebuild(events_of(ALERT_TYPES))
    return {
        "conditions": encode(led.items),
        "alerts": encode(box.alerts), "alert_keys": encode(box.last_key),
        "trip": encode(last_trip(events_of((E.TRADING_STATE, E.KILL_SWITCH)))),
        "corporate_actions": sorted(applied_ids(events_of((E.POSITION_ADJUSTED,)))),
        "first_session": [ev.seq for ev in events_of((E.SESSION_STARTED,))][:1],
        "parked": [(ev.seq, ev.type) for ev in events_of((E.SIGNAL_PARKED, E.SIGNAL_UNPARKED))],
        "brackets": [ev.seq for ev in events_of((E.BRACKET_CREATED, E.BRACKET_CLOSED, E.BRACKET_TAKEN_DOWN))],
    }


def _snapshot_at(j: Journal, k: int) -> None:
    """Exactly one snapshot, standing on event ``k``."""
    snap.ensure_table(j)
    with j.engine.begin() as conn:
        conn.execute(delete(snap.snapshots_table))
    state = snap.build(j, use_snapshots=False, up_to=k)
    assert state.seq == k
    snap.save(j, state)


def test_codec_keeps_decimals_times_order_and_dataclasses_exact():
    from tradekit.model.charges import Charges

    v = {"b": Decimal("1.50"), "a": (1, "x"), 3: {Decimal("0.1")}, "c": Charges(brokerage=Decimal("20.00"))}
    back = decode(encode(v))
    assert back == v and list(back) == ["b", "a", 3, "c"] and str(back["b"]) == "1.50"


@settings(max_examples=6, deadline=None)
@given(st.floats(min_value=0, max_value=1))
def test_snapshot_plus_tail_equals_a_full_replay_at_random_cuts(journal_db, tmp_path_factory, where):
    j = Journal(make_engine(sqlite_url(copy(journal_db, tmp_path_factory.mktemp("cut")))))
    n = j.last_seq
    k = max(1, min(n, int(where * n)))
    _snapshot_at(j, k)
    full = Book.rebuild(j.events())
    got = snap.build(j)
    assert got.source == f"snapshot at seq {k}" and got.seq == n and got.hash == j.last_hash
    assert _book(got.book) == _book(full)
    assert got.book.signals == full.signals  # signal de-duplication survives the snapshot
    j.base = got
    assert _components(lambda t: list(snap.history(j, t))) == _components(lambda t: list(j.events(types=t)))


def test_cuts_around_the_day_rolls(journal_db, tmp_path):
    j = Journal(make_engine(sqlite_url(copy(journal_db, tmp_path))))
    rolls = [ev.seq for ev in j.events(types=(E.DAY_ROLLED,))]
    assert rolls
    full = _book(Book.rebuild(j.events()))
    for k in {r + d for r in rolls for d in (-1, 0, 1)}:
        _snapshot_at(j, k)
        assert _book(snap.build(j).book) == full, k


def _reference_session(db, cfg, monkeypatch):
    """A session started the way tradekit did before snapshots: every component reads the journal itself."""
    with monkeypatch.context() as m:
        m.setattr(snap, "history", lambda journal, types: journal.events(types=types))
        real_attach = snap.attach

        def attach(journal, **kw):
            state = real_attach(journal, use_snapshots=False)
            journal.base = None
            return state

        m.setattr(snap, "attach", attach)
        s = open_session(db, cfg, DAY4)
        fp = fingerprint(s)
    return s, fp


@pytest.mark.parametrize("where", [0.3, 0.97])
def test_a_session_from_a_snapshot_equals_a_session_from_the_whole_journal(journal_db, tmp_path, monkeypatch, where):
    cfg = config(tmp_path)
    ref_db = copy(journal_db, tmp_path / "ref")
    ref, want = _reference_session(ref_db, cfg, monkeypatch)
    ref.close()
    db = copy(journal_db, tmp_path / "snap")
    j = Journal(make_engine(sqlite_url(db)))
    _snapshot_at(j, int(where * j.last_seq))
    j.engine.dispose()
    s = open_session(db, cfg, DAY4)
    assert s.start_state.source.startswith("snapshot at seq")
    got = fingerprint(s)
    assert got == want
    assert want["brackets"] and want["conditions"] and want["signals_seen"] and want["trading_state"][0] == "HALTED"
    s.close()


def test_a_signal_id_seen_before_the_snapshot_is_still_refused_after_a_restart(journal_db, tmp_path):
    from tradekit.signals.pipeline import SignalPipeline

    db = copy(journal_db, tmp_path)
    j = Journal(make_engine(sqlite_url(db)))
    _snapshot_at(j, j.last_seq)  # sig-0 .. sig-2 were received before it
    j.engine.dispose()
    s = open_session(db, config(tmp_path), DAY4)
    assert s.start_state.snapshot_seq > 0
    pipe = SignalPipeline(s.journal, s.config, sink=s.submit_signal, emit=s._emit, clock=s.clock)
    rep = pipe.ingest([{"idempotency_key": "sig-1", "strategy": "momo", "signal_time": s.clock.now().isoformat(),
                        "symbol": "RELIANCE", "side": "BUY", "quantity": 5}])
    assert rep.ids("duplicate") == ["sig-1"]
    s.close()


def _tamper(db, **values):
    j = Journal(make_engine(sqlite_url(db)))
    with j.engine.begin() as conn:
        conn.execute(update(snap.snapshots_table).values(**values))
    return j


@pytest.mark.parametrize("how", ["edited", "stale", "other_journal"])
def test_a_snapshot_that_does_not_match_is_ignored_with_a_warning(journal_db, tmp_path, caplog, how):
    db = copy(journal_db, tmp_path)
    j = Journal(make_engine(sqlite_url(db)))
    k = j.last_seq // 2
    _snapshot_at(j, k)
    want = _book(Book.rebuild(j.events()))
    with j.engine.connect() as conn:
        row = conn.execute(snap.snapshots_table.select()).one()
    if how == "edited":  # a position's cash changed in the body, the stored SHA-256 left as it was
        body = row.body.replace('"cash":{"$D":"', '"cash":{"$D":"9', 1)
        assert body != row.body
        _tamper(db, body=body)
    elif how == "stale":  # a body re-hashed consistently, but standing on a hash this chain never had
        st_ = snap.StartState.from_body(__import__("orjson").loads(row.body), engine=j.engine)
        st_.hash = "f" * 64
        text = snap.body_text(st_)
        _tamper(db, hash=st_.hash, body=text, body_sha256=snap.body_sha256(text))
    else:  # a snapshot of another journal: its own seq, but its chain's hash
        other = Journal(make_engine(sqlite_url(tmp_path / "other.db")), durability="batch")
        for i in range(k):
            other.append(E.NOTE, {"i": i})
        other.flush()
        snap.save(other, snap.build(other, use_snapshots=False))
        with other.engine.connect() as conn:
            orow = conn.execute(snap.snapshots_table.select()).one()
        _tamper(db, seq=orow.seq, hash=orow.hash, body=orow.body, body_sha256=orow.body_sha256)
    caplog.set_level(logging.WARNING, logger="tradekit.store.snapshot")
    got = snap.build(j)
    assert got.source == "replay" and got.snapshot_seq == 0
    assert _book(got.book) == want
    assert any("ignored" in r.getMessage() for r in caplog.records), caplog.text


def test_the_session_writes_a_snapshot_every_n_events_and_the_next_start_uses_it(journal_db, tmp_path):
    db = copy(journal_db, tmp_path)
    cfg = config(tmp_path, snapshot_every_events=100)
    s = open_session(db, cfg, DAY4)  # 400+ events replayed: a snapshot at start
    rows = snap.list_snapshots(s.journal)
    assert rows and rows[0]["seq"] == s.start_state.seq
    s.close()
    s2 = open_session(db, cfg, DAY4)
    assert s2.start_state.snapshot_seq == rows[0]["seq"]
    s2.close()
    off = open_session(copy(journal_db, tmp_path / "off"), config(tmp_path / "off"), DAY4)  # 0: none written
    assert snap.list_snapshots(off.journal) == []
    off.close()


def test_random_cut_points_of_a_synthetic_history_with_every_order_fate(tmp_path):
    """Many small cuts of a history with fills, cancels, denials and marks (cheap, no session)."""
    from tradekit.model import OrderRequest

    j = Journal(make_engine(sqlite_url(tmp_path / "j.db")), durability="batch")
    rnd = random.Random(11)
    j.append(E.SESSION_STARTED, {"capital": "1000000"})
    for i in range(60):
        cid = f"C{i}"
        side = rnd.choice(["BUY", "SELL"])
        px = f"{rnd.uniform(100, 200):.2f}"
        req = OrderRequest("NSE", "INFY", side, rnd.randint(1, 9), "LIMIT", "CNC", price=px)
        j.append(E.SIGNAL_RECEIVED, {"signal_id": f"s{i}"})
        j.append(E.ORDER_CREATED, {"client_order_id": cid, "strategy": "s", "request": req.to_dict()})
        fate = rnd.choice(["fill", "deny", "cancel"])
        if fate == "deny":
            j.append(E.RISK_DECISION, {"client_order_id": cid, "allowed": False, "reason": "no"})
            continue
        j.append(E.APPROVAL_GRANTED, {"client_order_id": cid})
        j.append(E.ORDER_SUBMITTED, {"client_order_id": cid})
        j.append(E.ORDER_UPDATE, {"client_order_id": cid, "status": "OPEN", "broker_order_id": f"B{i}"})
        if fate == "fill":
            j.append(E.FILL, {"client_order_id": cid, "trade_id": f"T{i}", "quantity": req.quantity, "price": px,
                              "side": side, "exchange": "NSE", "tradingsymbol": "INFY", "product": "CNC",
                              "charges": {"brokerage": "0.01"}})
        else:
            j.append(E.ORDER_UPDATE, {"client_order_id": cid, "status": "CANCELLED"})
        j.append(E.MARK, {"prices": {"NSE:INFY": px}})
        if i % 20 == 19:
            j.append(E.DAY_ROLLED, {"day": f"2026-11-{i // 20 + 20}"})
    j.flush()
    full = _book(Book.rebuild(j.events()))
    for k in rnd.sample(range(1, j.last_seq + 1), 8):
        _snapshot_at(j, k)
        assert _book(snap.build(j).book) == full, k


def test_a_running_session_writes_a_snapshot_every_n_events_on_its_service_cycle(journal_db, tmp_path):
    s = open_session(copy(journal_db, tmp_path), config(tmp_path, snapshot_every_events=50), DAY4)
    first = snap.list_snapshots(s.journal)[0]["seq"]
    s.service()
    s._snapshots.join()
    assert snap.list_snapshots(s.journal)[0]["seq"] == first  # fewer than 50 events since: none
    for i in range(50):
        s._emit(E.NOTE, {"i": i})
    s.service()
    s._snapshots.join()
    assert snap.list_snapshots(s.journal)[0]["seq"] >= first + 50
    s.close()


def test_a_writers_hand_over_to_the_next_order_created_is_not_part_of_a_snapshot():
    """Book.made (the OMS's request handed to the book for its next order.created) is transient: a
    snapshot written between the hand-over and the event neither keeps it nor needs it."""
    from tradekit.model import OrderRequest

    state = StartState()
    req = OrderRequest(exchange="NSE", tradingsymbol="INFY", side="BUY", quantity=1, order_type="MARKET", product="CNC")
    state.book.made("TK1", req, Decimal("1500"))
    body = state.body()
    assert "_made" not in body["book"] and "orders_version" in body["book"]
    back = StartState.from_body(body)
    assert back.book._made is None and back.book.orders_version == state.book.orders_version
