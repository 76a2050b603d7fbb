"""Issue 20: the journal's cheaper per-event path gives exactly what the straightforward one gave.

- ``recorded_at`` text (formatted once per second, milliseconds appended) equals
  ``datetime.isoformat(timespec="milliseconds")`` for any instant;
- :func:`verify` (row tuples straight from the driver, the failure maps built only on a failure)
  reports exactly what the reference walk (SQLAlchemy rows, the maps built up front) reports,
  for any tampering of a journal;
- batch and sync journals write the same rows as :func:`chain_hash` over :func:`canonical` says.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from tradekit.store import GENESIS, Journal, canonical, chain_hash, make_engine, sqlite_url, verify
from tradekit.store import accounts as _accounts
from tradekit.store.audit import VerifyResult, _genesis_owner
from tradekit.store.journal import _format_ms, events_table

_MS = st.integers(min_value=0, max_value=4_102_444_800_000)  # 1970 .. 2100


@given(st.lists(_MS, min_size=1, max_size=30))
@settings(max_examples=200, deadline=None)
def test_recorded_at_text_equals_isoformat(values):
    cache = [0, "", -1, ""]
    for ms in sorted(values) + values:  # in order (the cache's case) and out of order
        want = datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds")
        assert _format_ms(ms, cache) == want


def _reference_verify(journal, expect_anchor=None) -> VerifyResult:
    """The walk as it was before issue 20's changes (anchor log and archives aside)."""
    with journal.engine.connect().execution_options(readonly=True) as conn:
        rows = conn.execute(select(events_table).order_by(events_table.c.seq)).all()
    tail_seq, tail_hash = journal.tail()
    account = getattr(journal, "account", _accounts.DEFAULT)
    prev_hash, prev_seq = _accounts.genesis(account), 0
    seen: dict[str, int] = {}
    every = {r.hash: r.seq for r in rows}
    found = expect_anchor is None

    def fail(problem, seq, message):
        last = rows[-1] if rows else None
        return VerifyResult(False, len(rows), last.seq if last else 0, last.hash if last else GENESIS, problem, seq, message)

    for r in rows:
        try:
            own = chain_hash(r.prev_hash, r.seq, r.ts, r.recorded_at, r.type, r.payload)
        except ValueError:
            own = None
        if r.seq != prev_seq + 1:
            if r.seq > prev_seq + 1:
                missing = prev_seq + 1 if r.seq - prev_seq == 2 else f"{prev_seq + 1}..{r.seq - 1}"
                return fail("removed", r.seq, f"event {missing} is missing (removed); the chain jumps from {prev_seq} to {r.seq}")
            return fail("inserted", r.seq, f"sequence number {r.seq} is out of order after {prev_seq}")
        if own != r.hash:
            return fail("altered", r.seq, f"event {r.seq} ({r.type}) was altered: its content does not match its hash")
        if r.prev_hash != prev_hash:
            src = _genesis_owner(journal.engine, r.prev_hash) if prev_seq == 0 else None
            if src is not None:
                return fail("account", r.seq, f"event {r.seq} starts the chain of {src}, not of account {account}: its "
                            "events were moved here from another account")
            if r.prev_hash in every and every[r.prev_hash] > r.seq:
                kind, what = "reordered", f"event {r.seq} links to event {every[r.prev_hash]}, which comes later: events were reordered"
            elif r.prev_hash in seen:
                kind, what = "removed", f"event {r.seq} links to event {seen[r.prev_hash]}: the events between were removed and renumbered"
            else:
                kind, what = "inserted", (f"event {r.seq} ({r.type}) does not follow event {prev_seq}: it was inserted, "
                                          f"or event {prev_seq} was altered and rehashed")
            return fail(kind, r.seq, what)
        seen[r.hash] = r.seq
        if expect_anchor is not None and r.hash == expect_anchor:
            found = True
        prev_hash, prev_seq = r.hash, r.seq
    if tail_seq != prev_seq or tail_hash != prev_hash:
        if tail_seq > prev_seq:
            return fail("truncated", prev_seq + 1, f"the journal records {tail_seq} events but holds {prev_seq}: events "
                        f"{prev_seq + 1}..{tail_seq} were removed from the end")
        return fail("altered", tail_seq, f"the tail record (seq {tail_seq}) does not match the last event (seq {prev_seq})")
    if not found:
        return fail("anchor", None, f"anchor {expect_anchor} is not in the chain: the history it certified was rewritten")
    return VerifyResult(True, len(rows), prev_seq, prev_hash)


_EDIT = st.one_of(
    st.tuples(st.just("payload"), st.integers(1, 12), st.text(max_size=8)),
    st.tuples(st.just("delete"), st.integers(1, 12), st.just("")),
    st.tuples(st.just("renumber"), st.integers(1, 12), st.integers(-3, 14)),
    st.tuples(st.just("swap"), st.integers(1, 12), st.integers(1, 12)),
    st.tuples(st.just("rehash"), st.integers(1, 12), st.text(max_size=8)),
    st.tuples(st.just("copy_hash"), st.integers(1, 12), st.integers(1, 12)),
    st.tuples(st.just("tail"), st.integers(0, 14), st.just("")),
)


def _tamper(path, edits) -> None:
    c = sqlite3.connect(path)
    for kind, seq, arg in edits:
        if kind == "payload":
            c.execute("UPDATE events SET payload=? WHERE seq=?", (json.dumps({"forged": arg}), seq))
        elif kind == "delete":
            c.execute("DELETE FROM events WHERE seq=?", (seq,))
        elif kind == "renumber" and not c.execute("SELECT 1 FROM events WHERE seq=?", (arg,)).fetchone():
            c.execute("UPDATE events SET seq=? WHERE seq=?", (arg, seq))
        elif kind == "swap":
            a = c.execute("SELECT ts, recorded_at, type, payload, prev_hash, hash FROM events WHERE seq=?", (seq,)).fetchone()
            b = c.execute("SELECT ts, recorded_at, type, payload, prev_hash, hash FROM events WHERE seq=?", (arg,)).fetchone()
            if a and b:
                q = "UPDATE events SET ts=?, recorded_at=?, type=?, payload=?, prev_hash=?, hash=? WHERE seq=?"
                c.execute(q, (*b, seq))
                c.execute(q, (*a, arg))
        elif kind == "rehash":  # an edit whose own hash is made consistent again
            r = c.execute("SELECT seq, ts, recorded_at, type, prev_hash FROM events WHERE seq=?", (seq,)).fetchone()
            if r:
                p = json.dumps({"forged": arg})
                c.execute("UPDATE events SET payload=?, hash=? WHERE seq=?", (p, chain_hash(r[4], r[0], r[1], r[2], r[3], p), seq))
        elif kind == "copy_hash":
            h = c.execute("SELECT hash FROM events WHERE seq=?", (arg,)).fetchone()
            if h:
                c.execute("UPDATE events SET prev_hash=? WHERE seq=?", (h[0], seq))
        elif kind == "tail":
            c.execute("UPDATE journal_tail SET seq=? WHERE id=1", (seq,))
    c.commit()
    c.close()


@pytest.fixture(scope="module")
def twelve(tmp_path_factory):
    """A journal of 12 events (batch-written) and its hashes; each example edits the same file and restores it."""
    path = tmp_path_factory.mktemp("v") / "j.db"
    j = Journal(make_engine(sqlite_url(path)), durability="batch", batch_size=5)
    for i in range(12):
        j.append("note" if i % 3 else "fill", {"i": i, "price": "1.05", "text": f"event {i}"})
    j.flush()
    c = sqlite3.connect(path)
    hashes = [r[0] for r in c.execute("SELECT hash FROM events ORDER BY seq")]
    rows = c.execute("SELECT * FROM events").fetchall()
    c.close()
    return j, path, hashes, rows


def _restore(path, rows, tail) -> None:
    c = sqlite3.connect(path)
    c.execute("DELETE FROM events")
    c.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    c.execute("UPDATE journal_tail SET seq=?, hash=? WHERE id=1", tail)
    c.commit()
    c.close()


@given(edits=st.lists(_EDIT, max_size=3), anchor=st.integers(0, 14))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_verify_reports_what_the_reference_walk_reports(twelve, edits, anchor):
    j, path, hashes, rows = twelve
    expect = hashes[anchor - 1] if 1 <= anchor <= 12 else (None if anchor == 0 else "f" * 64)
    _tamper(path, edits)
    try:
        assert verify(j, expect_anchor=expect) == _reference_verify(j, expect_anchor=expect)
    finally:
        _restore(path, rows, (12, hashes[-1]))


def test_batch_and_sync_rows_are_the_chain_of_the_canonical_payloads(tmp_path):
    from decimal import Decimal

    for mode in ("batch", "sync"):
        path = tmp_path / f"{mode}.db"
        j = Journal(make_engine(sqlite_url(path)), durability=mode, batch_size=3)
        payloads = [{"price": Decimal("101.50"), "q": i, "when": datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)} for i in range(7)]
        with j.transaction():
            j.append("note", {"in": "transaction"})
        evs = [j.append("fill", p) for p in payloads]
        j.flush()
        rows = sqlite3.connect(path).execute("SELECT seq, ts, recorded_at, type, payload, prev_hash, hash FROM events ORDER BY seq").fetchall()
        prev = GENESIS
        for seq, ts, rec, type_, payload, ph, h in rows:
            assert ph == prev and h == chain_hash(ph, seq, ts, rec, type_, payload)
            prev = h
        assert [r[4] for r in rows[1:]] == [canonical(p) for p in payloads]
        assert [(e.seq, e.hash, e.payload) for e in evs] == [(r[0], r[6], json.loads(r[4])) for r in rows[1:]]
        assert j.tail() == (rows[-1][0], rows[-1][6]) and j.own_seqs >= set(range(1, 9))
        assert verify(j).ok


# -- listeners that declare the event types they act on ---------------------------------------------------
_TYPES = sorted(v for k, v in vars(__import__("tradekit.store.events", fromlist=["EventType"]).EventType).items()
                if k.isupper() and isinstance(v, str))
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(
    ["REJECTED", "rejected", "trip", "unlock", "market_data", "instrument_stale", "failover", "HALTED", "REDUCING",
     "ACTIVE", "x"]), st.lists(st.just("m"), max_size=2))
_PAYLOADS = st.dictionaries(st.sampled_from(
    ["status", "kind", "event", "action", "state", "previous", "ok", "mismatches", "problems", "message", "client_order_id",
     "trigger", "key", "origin"]), _VALUES, max_size=6)


# payloads that make some branch of Sources.observe raise an alert (for the type it is written for)
_TRIGGERS = [
    {"state": "HALTED", "trigger": "daily_loss"}, {"state": "REDUCING"}, {"state": "ACTIVE", "previous": "HALTED"},
    {"action": "trip"}, {"action": "unlock"}, {"message": "cancel failed"}, {"status": "REJECTED", "message": "x"},
    {"ok": False, "mismatches": ["m"]}, {"kind": "market_data", "event": "instrument_stale", "key": "NSE:X"},
    {"kind": "market_data", "event": "failover"}, {"client_order_id": "c1", "reason": "timeout"},
]


def _observe_all(type_, payloads):
    from tradekit.alerts.config import AlertsConfig
    from tradekit.alerts.sources import Sources
    from tradekit.store.journal import Event

    src = Sources(AlertsConfig())
    out = []
    for p in payloads * 12:  # the burst rules raise after a few in a row
        out += src.observe(Event(1, "2026-01-02T09:15:00+05:30", "2026-01-02T03:45:00.000+00:00", type_, p, GENESIS, GENESIS))
    return out


def test_alert_sources_raise_alerts_only_for_the_types_they_declare():
    from tradekit.alerts.sources import Sources

    raising = {t for t in _TYPES if _observe_all(t, _TRIGGERS)}
    assert raising <= Sources.OBSERVED
    assert len(raising) >= 7  # the triggers do reach the branches


@given(type_=st.sampled_from(_TYPES), payload=_PAYLOADS)
@settings(max_examples=200, deadline=None)
def test_alert_sources_raise_nothing_for_other_types_whatever_the_payload(type_, payload):
    from tradekit.alerts.sources import Sources

    if type_ not in Sources.OBSERVED:
        assert _observe_all(type_, [payload]) == []


def test_a_listener_with_types_is_called_for_those_only_and_in_subscription_order(tmp_path):
    j = Journal(make_engine(sqlite_url(tmp_path / "l.db")), durability="batch")
    seen = []
    j.subscribe(lambda ev: seen.append(("all", ev.type)))
    j.append("note", {})
    j.subscribe(lambda ev: seen.append(("fills", ev.type)), types=("fill",))  # a later subscription reaches later events
    j.subscribe(lambda ev: seen.append(("all2", ev.type)))
    for t in ("fill", "note", "fill"):
        j.append(t, {})
    with j.transaction():
        j.append("fill", {})
    assert seen == [("all", "note"), ("all", "fill"), ("fills", "fill"), ("all2", "fill"), ("all", "note"), ("all2", "note"),
                    ("all", "fill"), ("fills", "fill"), ("all2", "fill"),
                    ("all", "fill"), ("fills", "fill"), ("all2", "fill")]


# -- the book's net quantity: one pass, the symbol tested first ---------------------------------------------
@given(st.lists(st.tuples(st.sampled_from(["s1", "s2"]), st.sampled_from(["NSE", "BSE"]), st.sampled_from(["INFY", "TCS"]),
                          st.sampled_from(["CNC", "MIS"]), st.integers(-50, 50)), max_size=8),
       st.sampled_from(["NSE", "BSE"]), st.sampled_from(["INFY", "TCS", "SBIN"]), st.sampled_from([None, "CNC", "MIS"]),
       st.booleans())
@settings(max_examples=200, deadline=None)
def test_net_quantity_equals_the_sum_over_matching_positions(rows, ex, sym, product, as_enums):
    from tradekit.model.enums import Exchange, Product
    from tradekit.model.position import Position, position_key
    from tradekit.store.projection import Book

    b = Book()
    for strat, e, s, pr, q in rows:
        b.positions[position_key(strat, e, s, pr)] = Position(strategy=strat, exchange=Exchange(e), tradingsymbol=s,
                                                              product=Product(pr), quantity=q)
    want = sum(p.quantity for p in b.positions.values()
               if str(p.exchange) == ex and p.tradingsymbol == sym and (product is None or str(p.product) == product))
    args = (Exchange(ex), sym, None if product is None else Product(product)) if as_enums else (ex, sym, product)
    assert b.net_quantity(*args) == want
