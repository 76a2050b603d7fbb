"""Issue 13.11: signals that arrive while new orders are blocked are parked with their TTL and tried
again when trading resumes (``signals.when_blocked: park``), or refused (``refuse``); the receipt
says which. Parked signals survive a restart."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.signals.helpers import Recorder, record
from tradekit.config import TradekitConfig
from tradekit.signals.config import SignalsConfig
from tradekit.signals.pipeline import SignalPipeline
from tradekit.store import EventType


def events(journal, type_):
    return [e.payload for e in journal.events(types=(type_,))]


def test_a_blocked_signal_is_parked_and_taken_when_trading_resumes(sim_journal, clock):
    sink = Recorder(fail_on={"a", "b"})  # raises TradingHalted: new orders are blocked
    p = SignalPipeline(sim_journal, TradekitConfig(), sink=sink)
    rep = p.ingest([record("a", priority=1), record("b")])
    assert rep.accepted == [] and [x.signal.signal_id for x in rep.parked] == ["a", "b"]
    assert rep.usable  # a file of parked signals goes to processed/, not rejected/
    receipt = rep.to_dict()
    assert [x["signal_id"] for x in receipt["parked"]] == ["a", "b"] and receipt["refused"] == []
    assert "halted" in receipt["parked"][0]["reason"] and receipt["parked"][0]["expires_at"]
    assert [e["signal_id"] for e in events(sim_journal, EventType.SIGNAL_PARKED)] == ["a", "b"]
    assert events(sim_journal, EventType.SIGNAL_REJECTED) == []

    assert p.retry_parked().accepted == [] and len(p.parked) == 2  # still blocked: nothing changes
    sink.fail_on.clear()  # trading resumes
    clock.advance(30)
    again = p.retry_parked()
    assert again.accepted_ids == ["a", "b"] and sink.ids == ["a", "b"] and p.parked == []
    assert [(e["signal_id"], e["outcome"]) for e in events(sim_journal, EventType.SIGNAL_UNPARKED)] == [
        ("a", "taken"), ("b", "taken")]
    assert p.ingest([record("a")]).ids("duplicate") == ["a"]  # the key stays spent


def test_a_parked_signal_expires_with_its_ttl(sim_journal, clock):
    sink = Recorder(fail_on={"a"})
    p = SignalPipeline(sim_journal, TradekitConfig(), sink=sink)
    p.ingest([record("a", ttl_seconds=60)])
    clock.advance(120)
    sink.fail_on.clear()
    rep = p.retry_parked()
    assert rep.ids("expired") == ["a"] and sink.ids == [] and p.parked == []
    assert [e["outcome"] for e in events(sim_journal, EventType.SIGNAL_UNPARKED)] == ["expired"]


def test_parked_signals_survive_a_restart(open_journal, clock):
    p = SignalPipeline(open_journal(), TradekitConfig(), sink=Recorder(fail_on={"a"}))
    p.ingest([record("a")])
    sink = Recorder()
    restarted = SignalPipeline(open_journal(), TradekitConfig(), sink=sink)
    assert [x.signal.signal_id for x in restarted.parked] == ["a"]
    assert restarted.retry_parked().accepted_ids == ["a"] and sink.ids == ["a"]
    assert SignalPipeline(open_journal(), TradekitConfig(), sink=sink).parked == []


def test_refuse_refuses_at_once_and_the_receipt_says_so(sim_journal):
    p = SignalPipeline(sim_journal, TradekitConfig(), sink=Recorder(fail_on={"a"}),
                       settings=SignalsConfig(when_blocked="refuse"))
    rep = p.ingest([record("a")])
    assert rep.parked == [] and rep.ids("refused") == ["a"] and rep.to_dict()["parked"] == []
    assert p.retry_parked().accepted == []


def test_a_session_blocked_by_reconciliation_parks_then_places(tmp_path):
    from datetime import datetime

    from tradekit.clock import IST
    from tradekit.config import load_config
    from tradekit.risk.base import PassThroughGate
    from tradekit.session import Session

    t0 = datetime(2026, 11, 20, 9, 15, tzinfo=IST)
    cfg = load_config(overrides={"data_dir": str(tmp_path / "var"),
                                 "paper": {"latency_ms": 0, "participation": 0, "slippage": {"model": "none"}}})
    s = Session.for_replay(cfg, tmp_path / "j.db", t0, gate=PassThroughGate())
    s.broker.on_bar("NSE:RELIANCE", t0, t0, 1500, 1501, 1499, 1500, 100_000)
    p = SignalPipeline(s.journal, cfg, sink=s.submit_signal, emit=s._emit, clock=s.clock)
    s.oms.block_new_orders("reconciliation: 1 difference(s) with the broker")
    rec = {**record("r1"), "signal_time": t0.isoformat(), "quantity": 1}
    rep = p.ingest([rec])
    assert rep.to_dict()["parked"][0]["reason"].endswith("1 difference(s) with the broker")
    assert s.book.orders == {}
    s.oms.block_new_orders(None)
    s.clock.advance(timedelta(seconds=5).total_seconds())
    s.service(pipeline=p)
    (o,) = s.book.orders.values()
    assert o.signal_id == "r1"
