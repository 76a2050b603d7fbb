"""The pipeline: durable dedupe, expiry, priority order, routing, journaling, thread safety."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from tests.unit.signals.helpers import T0, Recorder, at, record
from tradekit.config import TradekitConfig
from tradekit.signals.config import SignalsConfig
from tradekit.signals.pipeline import SignalPipeline
from tradekit.signals.schema import signal_from_dict
from tradekit.store import Book, EventType


def events(journal, type_):
    return [e.payload for e in journal.events(types=(type_,))]


def paper(**approval) -> TradekitConfig:
    return TradekitConfig(approval={"mode": "auto", **approval})


def test_accepted_signals_are_journaled_in_full_and_handed_to_the_sink(sim_journal, sink):
    p = SignalPipeline(sim_journal, paper(), sink=sink)
    rep = p.ingest(json.dumps([record("a", order_type="LIMIT", price=2450.5), record("b")]), source="test")
    assert rep.accepted_ids == ["a", "b"] and sink.calls == [("a", "auto"), ("b", "auto")]
    assert rep.accepted[0].result == "order-for-a"
    got = events(sim_journal, EventType.SIGNAL_RECEIVED)
    assert [g["signal_id"] for g in got] == ["a", "b"]
    assert got[0]["route"] == "auto" and got[0]["source"] == "test" and got[0]["price"] == "2450.5"
    # the payload is the whole signal: the approval queue can rebuild it from the journal
    assert signal_from_dict(got[0]) == rep.accepted[0].signal
    assert Book.rebuild(sim_journal.events()).signals == {"a", "b"}


def test_a_signal_sent_twice_makes_one_proposal(sim_journal, sink):
    p = SignalPipeline(sim_journal, paper(), sink=sink)
    rep = p.ingest([record("a"), record("a", quantity=99)])
    assert rep.accepted_ids == ["a"] and rep.ids("duplicate") == ["a"]
    assert rep.accepted[0].signal.quantity == 10  # the first copy wins
    rep = p.ingest(record("a"))
    assert rep.accepted == [] and rep.ids("duplicate") == ["a"] and rep.usable
    assert sink.ids == ["a"]
    rejected = events(sim_journal, EventType.SIGNAL_REJECTED)
    assert [(r["reason"], r["signal_id"]) for r in rejected] == [("duplicate", "a"), ("duplicate", "a")]


def test_dedupe_survives_a_restart(open_journal, clock):
    first = Recorder()
    SignalPipeline(open_journal(), paper(), sink=first).ingest([record("a"), record("b")])
    # a new process: new journal object on the same file, new pipeline, same signals re-sent
    again = Recorder()
    p2 = SignalPipeline(open_journal(), paper(), sink=again)
    assert p2.seen("a") and p2.seen("b") and not p2.seen("c")
    rep = p2.ingest([record("b"), record("c")])
    assert rep.accepted_ids == ["c"] and rep.ids("duplicate") == ["b"]
    assert first.ids == ["a", "b"] and again.ids == ["c"]


def test_a_key_received_by_another_writer_is_a_duplicate(open_journal):
    one, two = Recorder(), Recorder()
    p1 = SignalPipeline(open_journal(), paper(), sink=one)
    p2 = SignalPipeline(open_journal(), paper(), sink=two)  # e.g. a second process on the journal
    p2.ingest(record("x"))
    assert p1.ingest(record("x")).ids("duplicate") == ["x"]
    assert one.ids == [] and two.ids == ["x"]


def test_expired_signals_are_rejected_with_the_reason(sim_journal, sink, clock):
    p = SignalPipeline(sim_journal, paper(), sink=sink, settings=SignalsConfig(default_ttl_seconds=300))
    clock.set(T0 + timedelta(seconds=120))
    rep = p.ingest([
        record("ttl-gone", ttl_seconds=60),
        record("at-gone", expires_at=at(119)),
        record("edge", expires_at=at(120)),  # expiring now counts as expired
        record("ttl-ok", ttl_seconds=600),
        record("default-ok"),  # 300 s default TTL from signal_time
    ])
    assert rep.accepted_ids == ["ttl-ok", "default-ok"]
    assert sorted(rep.ids("expired")) == ["at-gone", "edge", "ttl-gone"]
    rejected = events(sim_journal, EventType.SIGNAL_REJECTED)
    assert {r["reason"] for r in rejected} == {"expired"} and "expired at" in rejected[0]["message"]
    # the default TTL is written into the signal that goes on
    assert rep.accepted[1].signal.expires_at == T0 + timedelta(seconds=300)
    clock.set(T0 + timedelta(seconds=301))
    assert p.ingest(record("late")).ids("expired") == ["late"]


def test_no_default_ttl_means_no_expiry(sim_journal, clock):
    p = SignalPipeline(sim_journal, paper(), settings=SignalsConfig(default_ttl_seconds=None))
    clock.set(T0 + timedelta(days=2))
    rep = p.ingest(record("old"))
    assert rep.accepted_ids == ["old"] and rep.accepted[0].signal.expires_at is None


def test_priority_then_signal_time_then_input_order(sim_journal, sink):
    p = SignalPipeline(sim_journal, paper(), sink=sink)
    p.ingest([
        record("low", priority=-1),
        record("mid-later", priority=5, signal_time=at(0.5)),
        record("mid-first", priority=5),
        record("top", priority=9, signal_time=at(0.9)),
        record("zero-a"),
        record("zero-b"),
    ])
    assert sink.ids == ["top", "mid-first", "mid-later", "zero-a", "zero-b", "low"]
    assert [e["signal_id"] for e in events(sim_journal, EventType.SIGNAL_RECEIVED)] == sink.ids


def test_routing_by_strategy(sim_journal):
    cfg = TradekitConfig(approval={"mode": "auto", "strategies": {"careful": "manual"}})
    p = SignalPipeline(sim_journal, cfg)
    assert p.route_for("momo") == "auto" and p.route_for("careful") == "manual"
    p = SignalPipeline(sim_journal, TradekitConfig(approval={"mode": "manual", "strategies": {"fast": "auto"}}))
    assert p.route_for("other") == "manual" and p.route_for("fast") == "auto"
    p = SignalPipeline(sim_journal)
    assert p.route_for("fast") == "manual"  # without a config nothing goes out unattended


@pytest.mark.parametrize("allow, want", [(False, "manual"), (True, "auto")])
def test_live_mode_forces_manual_unless_allowed(sim_journal, sink, allow, want):
    cfg = TradekitConfig(mode="live", live={"allowed": True},
                         approval={"mode": "manual", "strategies": {"fast": "auto"}, "allow_auto_in_live": allow})
    p = SignalPipeline(sim_journal, cfg, sink=sink)
    rep = p.ingest([record("f", strategy="fast"), record("o", strategy="other")])
    assert sink.calls == [("f", want), ("o", "manual")]
    assert [e["route"] for e in events(sim_journal, EventType.SIGNAL_RECEIVED)] == [want, "manual"]
    assert [r.route for r in rep.accepted] == [want, "manual"]


def test_malformed_records_are_journaled_by_field_and_the_rest_go_on(sim_journal, sink):
    p = SignalPipeline(sim_journal, paper(), sink=sink)
    rep = p.ingest(json.dumps([record("a"), record("b", side="HOLD", quantity=0), record("c")]), source="file.json")
    assert rep.accepted_ids == ["a", "c"]
    assert {(e.index, e.field) for e in rep.errors} == {(1, "side"), (1, "quantity")}
    (rej,) = events(sim_journal, EventType.SIGNAL_REJECTED)
    assert rej["reason"] == "malformed" and rej["signal_id"] == "b" and rej["index"] == 1
    assert {e["field"] for e in rej["errors"]} == {"side", "quantity"} and rej["raw"]["side"] == "HOLD"
    # a malformed record spends no key: a corrected resend goes through
    assert p.ingest(record("b")).accepted_ids == ["b"]


def test_text_that_is_not_json_is_one_rejection(sim_journal, sink):
    p = SignalPipeline(sim_journal, paper(), sink=sink)
    rep = p.ingest("<html>", source="http:127.0.0.1")
    assert not rep.usable and len(rep.errors) == 1 and rep.errors[0].index is None
    (rej,) = events(sim_journal, EventType.SIGNAL_REJECTED)
    assert rej["reason"] == "malformed" and rej["index"] is None and rej["source"] == "http:127.0.0.1"


def test_a_sink_that_refuses_does_not_stop_the_batch(sim_journal):
    sink = Recorder(fail_on={"b"})
    p = SignalPipeline(sim_journal, paper(), sink=sink, settings=SignalsConfig(when_blocked="refuse"))
    rep = p.ingest([record("a"), record("b"), record("c")])
    assert rep.accepted_ids == ["a", "c"] and sink.ids == ["a", "c"]
    (refused,) = [r for r in rep.rejected if r.reason == "refused"]
    assert refused.signal_id == "b" and "halted" in refused.message
    assert events(sim_journal, EventType.SIGNAL_REJECTED)[0]["reason"] == "refused"
    assert p.seen("b")  # the key is spent: a halted signal does not fire later


def test_events_go_through_the_given_emit(sim_journal, sink):
    book = Book()

    def emit(type_, payload):  # what a session does: append, then apply to its Book
        ev = sim_journal.append(type_, payload)
        book.apply(ev)
        return ev

    p = SignalPipeline(sim_journal, paper(), sink=sink, emit=emit)
    p.ingest([record("a"), record("a"), record("b")])
    assert book.signals == {"a", "b"} and book.last_seq == sim_journal.last_seq == 3


def test_submit_takes_python_objects(sim_journal, sink):
    from tradekit.signals.schema import SignalIn

    p = SignalPipeline(sim_journal, paper(), sink=sink)
    sig = SignalIn.model_validate(record("obj")).to_signal()
    rep = p.submit([sig, SignalIn.model_validate(record("model")), record("dict"), record("bad", side="?")])
    assert rep.accepted_ids == ["obj", "model", "dict"] and [e.field for e in rep.errors] == ["side"]


def test_concurrent_feeds_make_one_proposal_per_key(open_journal):
    sink = Recorder()
    p = SignalPipeline(open_journal(), paper(), sink=sink)
    keys = [f"k{i}" for i in range(30)]
    barrier = threading.Barrier(4)

    def feed(offset: int) -> None:
        barrier.wait()
        for i in range(len(keys)):
            p.ingest(record(keys[(i + offset) % len(keys)]), source=f"t{offset}")

    threads = [threading.Thread(target=feed, args=(n * 7,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(sink.ids) == sorted(keys)
    received = [e.payload["signal_id"] for e in p.journal.events(types=(EventType.SIGNAL_RECEIVED,))]
    assert sorted(received) == sorted(keys)
    assert len(list(p.journal.events(types=(EventType.SIGNAL_REJECTED,)))) == 3 * len(keys)
