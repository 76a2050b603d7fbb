"""The per-event path's routing shortcuts do what calling every listener with every event did.

- an idle bracket manager (no bracket yet) is routed ``bracket.created`` alone: for any other event,
  whatever its payload, its ``on_event`` changes nothing; from its first bracket on, ``on_event``
  itself gets every event, in the place the idle listener held among the OMS's listeners;
- the session's risk listener is routed exactly the risk manager's types (the risk manager does
  nothing with the others: tests/unit/store/test_event_path.py);
- ``Journal.transaction()`` in batch durability: the journal, nested blocks, errors as they are;
- the heartbeat's "last event this session appended": none after the build, then each append, and
  for an append inside a listener the outer event (what a journal listener subscribed last saw).
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.execution.conftest import T0, make_session, step
from tradekit.model.order import OrderRequest
from tradekit.risk.manager import RiskManager
from tradekit.store.events import EventType as E
from tradekit.store.journal import Event

KEY = "NSE:INFY"
_ALL_TYPES = sorted(v for k, v in vars(E).items() if k.isupper() and isinstance(v, str))
_TEXT = st.sampled_from(["", "b1", "B1", "TK1", "x", "stop", "target:1", "NSE", "INFY", "BUY", "SELL", "CNC"])
_PAYLOADS = st.dictionaries(st.sampled_from(["client_order_id", "bracket_id", "parent_id", "role", "status", "meta",
                                             "reason", "quantity", "filled_quantity", "exchange", "tradingsymbol"]),
                            st.one_of(st.none(), _TEXT, st.integers(0, 10),
                                      st.fixed_dictionaries({}, optional={"bracket_id": _TEXT, "parent_id": _TEXT,
                                                                          "role": _TEXT})),
                            max_size=6)


def _state(mgr) -> tuple:
    return (copy.deepcopy(mgr.brackets), dict(mgr._child_of), set(mgr._dirty), mgr._busy)


@pytest.fixture(scope="module")
def idle(tmp_path_factory):
    s = make_session(tmp_path_factory.mktemp("idle"))
    yield s
    s.close()


@given(type_=st.sampled_from([t for t in _ALL_TYPES if t != E.BRACKET_CREATED]), payload=_PAYLOADS)
@settings(max_examples=150, deadline=None)
def test_an_idle_bracket_manager_does_nothing_with_any_event_but_bracket_created(idle, type_, payload):
    mgr = idle.brackets
    assert not mgr.brackets
    before = _state(mgr)
    mgr.on_event(Event(99, "2026-11-20T09:15:00+05:30", "", type_, payload, "", ""))
    assert _state(mgr) == before
    route = idle.oms.listeners.route(type_)
    assert mgr.on_event not in route and mgr._idle not in route  # so the OMS does not call it
    assert mgr._idle in idle.oms.listeners.route(E.BRACKET_CREATED)


def test_the_first_bracket_routes_every_event_to_the_manager_in_its_place(tmp_path):
    s = make_session(tmp_path)
    try:
        ls = s.oms.listeners
        where = ls.index(s.brackets._idle)
        names = [getattr(fn, "__name__", type(fn).__name__) for fn in ls]
        step(s, KEY, 0, 1500, 1501, 1499, 1500)
        s.brackets.submit(OrderRequest("NSE", "INFY", "BUY", 10, "MARKET", "MIS"), strategy="s1",
                          stop=1485, targets=[{"price": 1520, "share": 1}])
        assert s.brackets._idle is None
        assert ls[where] == s.brackets.on_event  # the same place: the listeners keep their order
        assert [getattr(fn, "__name__", type(fn).__name__) for fn in ls][where + 1:] == names[where + 1:]
        for t in (E.ORDER_CREATED, E.FILL, E.ORDER_UPDATE, E.BRACKET_STOP_MOVED):
            assert s.brackets.on_event in ls.route(t)
        step(s, KEY, 1, 1500.5, 1502, 1500, 1501)  # the entry fills: the bracket places its stop and target
        (b,) = s.brackets.brackets.values()
        assert s.book.orders[b.bracket_id].filled_quantity == 10 and {"stop", "target:0"} <= set(b.children.values())
    finally:
        s.close()


def test_a_session_restored_with_a_bracket_listens_to_every_event(tmp_path):
    from tradekit.session import Session
    from tradekit.store import Journal, make_engine, sqlite_url

    s = make_session(tmp_path)
    step(s, KEY, 0, 1500, 1501, 1499, 1500)
    s.brackets.submit(OrderRequest("NSE", "INFY", "BUY", 10, "MARKET", "MIS"), strategy="s1",
                      stop=1485, targets=[{"price": 1520, "share": 1}])
    cfg, clock, broker, gate = s.config, s.clock, s.broker, s.gate
    s.journal.flush()
    s.broker._listeners.remove(s.oms)
    s.close()
    again = Session(cfg, clock=clock, journal=Journal(make_engine(sqlite_url(tmp_path / "j.db")), clock=clock),
                    broker=broker, gate=gate)
    try:
        assert len(again.brackets.brackets) == 1 and again.brackets._idle is None
        assert again.brackets.on_event in again.oms.listeners.route(E.FILL)
    finally:
        again.close()


def test_the_session_routes_the_risk_manager_exactly_its_types(tmp_path):
    from tradekit.config import load_config
    from tradekit.session import Session

    s = Session.for_replay(load_config(), tmp_path / "j.db", T0)  # the configured gate: a risk manager
    try:
        assert s.risk is not None
        for t in _ALL_TYPES:
            assert (s._risk_event in s.oms.listeners.route(t)) == (t in RiskManager.EVENT_TYPES), t
    finally:
        s.close()


def test_a_batch_transaction_is_the_journal_nests_and_lets_errors_through(tmp_path):
    s = make_session(tmp_path)
    j = s.journal
    try:
        assert j.durability == "batch"
        n = j.last_seq
        with j.transaction() as a:
            assert a is j
            with j.transaction() as b:
                assert b is j
                j.append(E.NOTE, {"kind": "x"})
            j.append(E.NOTE, {"kind": "y"})
        with pytest.raises(ZeroDivisionError), j.transaction():
            j.append(E.NOTE, {"kind": "z"})
            1 / 0  # noqa: B018
        done = []
        j.after_commit(lambda: done.append(1))  # no open transaction in batch durability: at once
        assert done == [1]
        j.flush()
        assert [e.payload["kind"] for e in j.events(after=n)] == ["x", "y", "z"]  # batch: appended is appended
    finally:
        s.close()


def test_the_heartbeat_sees_this_sessions_appends_as_a_last_listener_did(tmp_path):
    s = make_session(tmp_path)
    try:
        assert s._last_event is None  # what the build appended does not count
        ev = s.journal.append(E.NOTE, {"kind": "a"})
        assert s._last_event is ev
        inner = []

        def nested(e):  # a listener that appends: a listener subscribed before it saw the outer event last
            if e.payload.get("kind") == "outer":
                inner.append(s.journal.append(E.NOTE, {"kind": "inner"}))

        s.journal.subscribe(nested, types=(E.NOTE,))
        outer = s.journal.append(E.NOTE, {"kind": "outer"})
        assert inner and s._last_event is outer
        s.submit(OrderRequest("NSE", "INFY", "BUY", 1, "MARKET", "MIS"), strategy="s1")
        assert s._last_event.type == s.journal.last_appended.type and s._last_event.seq > outer.seq
    finally:
        s.close()
