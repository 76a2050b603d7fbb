"""Issue 20: the per-event path's shortcuts give exactly what the long way gave.

- the journal serialises a payload with str keys only first, with any keys when orjson refuses that:
  the text (or the error) one dumps with every option gives;
- the journal hashes a payload's bytes as orjson wrote them: the hash :func:`chain_hash` gives over
  its text, whatever the text (non-ASCII included);
- ``Event.time`` remembers the last time it parsed: the same datetime as parsing, the same error;
- the book's fill remembers charges breakdowns by their texts: the same Charges as ``from_dict``;
- the risk manager is not called for event types it does nothing with: for those types,
  ``on_event`` and the breakers' ``observe`` do nothing, whatever the payload.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from tradekit.model.charges import COMPONENTS, Charges
from tradekit.model.enums import Product, Side
from tradekit.store.events import EventType as E
from tradekit.store.journal import _ORJSON_OPTS, Event, _default, _hash_of, canonical, chain_hash

_TEXT = st.text(max_size=12)  # any code point but lone surrogates (which no journal text can hold)
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
              _TEXT, st.decimals(allow_nan=False, allow_infinity=False, places=4)),
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(_TEXT, kids, max_size=4)),
    max_leaves=12)


@given(prev=_TEXT, seq=st.integers(0, 10**12), ts=_TEXT, rec=_TEXT, type_=_TEXT, payload=st.dictionaries(_TEXT, _JSON, max_size=5))
@settings(max_examples=100, deadline=None)
def test_the_hash_of_the_payload_bytes_is_the_chain_hash_of_its_text(prev, seq, ts, rec, type_, payload):
    b = orjson.dumps(payload, default=_default, option=_ORJSON_OPTS)
    assert b.decode("utf-8") == canonical(payload)
    assert _hash_of(prev, seq, ts, rec, type_, b) == chain_hash(prev, seq, ts, rec, type_, canonical(payload))


class _Obj:
    def __init__(self, x):
        self.x = x

    def as_dict(self):
        return {"x": self.x}


_KEYS = st.one_of(_TEXT, st.sampled_from(["BUY", "SELL", "x"]).map(lambda k: Side(k) if k != "x" else k),
                  st.integers(-3, 3), st.dates(), st.booleans())
_ANY = st.recursive(
    st.one_of(_JSON, st.sampled_from([Side.BUY, Product.CNC]), st.dates(), st.datetimes(timezones=st.just(timezone.utc)),
              st.frozensets(st.integers(0, 5), max_size=3), st.builds(_Obj, st.integers()), st.just(object())),
    lambda kids: st.one_of(st.tuples(kids, kids), st.dictionaries(_KEYS, kids, max_size=3)), max_leaves=8)


def _dumped(fn, payload):
    try:
        return fn(payload)
    except (orjson.JSONEncodeError, TypeError) as e:
        return type(e), str(e)


@given(st.dictionaries(_KEYS, _ANY, max_size=5))
@settings(max_examples=100, deadline=None)
def test_the_canonical_text_is_the_one_step_dumps_with_non_str_keys(payload):
    """The str-keys pass first, the non-str-keys pass when orjson refuses it: the same text (or error)
    as one dumps with every option, for keys of any type (enums, ints, dates) and any value."""
    from tradekit.store.journal import _canonical_bytes

    assert _dumped(_canonical_bytes, payload) == _dumped(lambda p: orjson.dumps(p, default=_default, option=_ORJSON_OPTS),
                                                         payload)


def test_the_journal_writes_non_str_keys_as_before(tmp_path):
    import sqlite3

    from tradekit.store import Journal, make_engine, sqlite_url

    j = Journal(make_engine(sqlite_url(tmp_path / "k.db")), durability="batch")
    payloads = [{1: "a", "b": {Side.BUY: 2}}, {"z": 1, "a": [{"y": 2, "x": 3}]}, {date(2026, 1, 2): Decimal("1.50")}]
    evs = [j.append("note", p) for p in payloads]
    j.flush()
    stored = [r[0] for r in sqlite3.connect(tmp_path / "k.db").execute("SELECT payload FROM events ORDER BY seq")]
    assert stored == [orjson.dumps(p, default=_default, option=_ORJSON_OPTS).decode() for p in payloads]
    assert [e.payload for e in evs] == [orjson.loads(t) for t in stored]


_TS = st.sampled_from(["2016-08-16T11:30:00+05:30", "2016-08-16T11:31:00+05:30", "2026-01-02T09:15:00.250000+05:30",
                       "2026-01-02T03:45:00+00:00", "", "not a time", "2026-13-01T00:00:00"])


@given(st.lists(_TS, max_size=12))
@settings(max_examples=150, deadline=None)
def test_event_time_is_the_parsed_session_time_repeated_or_not(texts):
    for ts in texts:
        ev = Event(1, ts, "", "note", {}, "", "")
        try:
            want = datetime.fromisoformat(ts)
        except ValueError as e:
            with pytest.raises(ValueError, match=str(e)):
                ev.time
            continue
        got = ev.time
        assert got == want and got.utcoffset() == want.utcoffset() and ev.day == want.astimezone(ev.time.tzinfo).date()


_AMOUNT = st.one_of(st.sampled_from(["0.00", "0.0", "0", "0.31", "10.00", "-15.34", " 2.00", "1,000.50", "x", ""]),
                    st.integers(-5, 5), st.floats(-3, 3), st.decimals(places=2, min_value=-9, max_value=9), st.none(),
                    st.booleans())
_CHARGES = st.one_of(st.none(), st.just({}), st.dictionaries(st.sampled_from([*COMPONENTS, "total", "other"]), _AMOUNT, max_size=9))


def _outcome(fn, d):
    try:
        c = fn(d)
    except Exception as e:  # noqa: BLE001 - the same error is the point
        return type(e), str(e)
    return tuple((f, str(getattr(c, f))) for f in COMPONENTS)  # str: the Decimals' exponents too


@given(st.lists(_CHARGES, max_size=8))
@settings(max_examples=150, deadline=None)
def test_a_fills_charges_are_what_from_dict_makes_of_them_remembered_or_not(dicts):
    from tradekit.store import projection

    for d in dicts + dicts:  # the second time round, from what was remembered
        assert _outcome(projection._charges_of, d) == _outcome(Charges.from_dict, d)


def test_remembered_charges_stay_bounded():
    from tradekit.store import projection

    for i in range(projection._CHARGES_SEEN_MAX + 10):
        d = {"stt": f"{i}.00"}
        assert projection._charges_of(d).stt == Decimal(f"{i}.00")
    assert len(projection._charges_seen) <= projection._CHARGES_SEEN_MAX


# -- the risk manager and the event types it reads -----------------------------------------------------------
_TYPES = sorted(v for k, v in vars(E).items() if k.isupper() and isinstance(v, str))
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(
    ["REJECTED", "rejected", "trip", "unlock", "HALTED", "REDUCING", "ACTIVE", "2026-11-26", "x", "50", "NSE:SBIN"]),
    st.lists(st.just("m"), max_size=2), st.just({"NSE:SBIN": "50"}))
_PAYLOADS = st.dictionaries(st.sampled_from(
    ["status", "action", "state", "previous", "ok", "mismatches", "problems", "message", "error", "client_order_id",
     "origin", "day", "prices", "fed", "exchange", "tradingsymbol", "product", "strategy", "flatten", "by"]),
    _VALUES, max_size=8)


def _losing_manager():
    """A manager whose breakers fire at the least provocation, on a book holding a 50 % loss."""
    from tests.unit.risk.helpers import NOW, BookBuilder, FakeOMS
    from tradekit.risk import RiskConfig
    from tradekit.risk.manager import RiskManager

    b = BookBuilder()
    b.fill("SBIN", "BUY", 1000, "100")
    cfg = RiskConfig.model_validate({"breakers": {"reject_burst": 1, "broker_error_burst": 1,
                                                  "reconciliation_grace_seconds": 0}})
    risk = RiskManager(cfg)
    risk.attach(executor=FakeOMS(b, risk.gate), emit=lambda t, p: b.apply(t, p))
    risk.start_day(b.book, NOW.date())
    b.now = NOW + timedelta(minutes=5)
    return b, risk


def _state(risk, b):
    return (risk.state, sorted(risk.breakers.latched), len(risk.actions), list(risk.kill_switch.events), risk.dynamic.scale,
            dict(risk._realized), b.book.trading_state, b.book.positions["s|NSE|SBIN|MIS"].quantity, risk.gate.day.peak)


_SHARED: list = []


@given(type_=st.sampled_from(_TYPES), payload=_PAYLOADS)
@settings(max_examples=150, deadline=None)
def test_the_risk_manager_does_nothing_with_other_event_types_whatever_the_payload(type_, payload):
    from tradekit.risk.manager import RiskManager

    if type_ in RiskManager.EVENT_TYPES:
        return
    b, risk = _SHARED or _SHARED.extend(_losing_manager()) or _SHARED  # one manager: these events leave it as it was
    before = _state(risk, b)
    ev = Event(99, b.now.isoformat(), "", type_, payload, "", "")
    assert risk.on_event(ev, b.book) == [] and risk.breakers.observe(ev, b.book) == []
    assert _state(risk, b) == before


def test_the_types_the_risk_manager_reads_do_act_on_it():
    """The other side: each type :attr:`CircuitBreakers.OBSERVED` names trips a breaker with some payload
    (so the list is not wider than the code), and the state and day types change the manager."""
    from tradekit.risk.breakers import CircuitBreakers
    from tradekit.risk.manager import RiskManager

    triggers = {E.MARK: None, E.FILL: None,  # applied to the book first (below)
                E.ORDER_UPDATE: {"status": "REJECTED", "message": "margin"}, E.BROKER_ERROR: {"message": "timeout"},
                E.RECONCILIATION: {"ok": False}}
    assert set(triggers) == CircuitBreakers.OBSERVED
    for type_, payload in triggers.items():
        b, risk = _losing_manager()
        before = _state(risk, b)
        if type_ == E.MARK:
            ev = b.mark({"SBIN": "50"})
        elif type_ == E.FILL:
            ev = b.fill("SBIN", "SELL", 500, "50")
        else:
            ev = Event(99, b.now.isoformat(), "", type_, payload, "", "")
        risk.on_event(ev, b.book)
        assert _state(risk, b) != before, type_
    assert {E.KILL_SWITCH, E.TRADING_STATE, E.DAY_ROLLED} <= RiskManager.EVENT_TYPES
    b, risk = _losing_manager()
    risk.on_event(Event(99, b.now.isoformat(), "", E.TRADING_STATE, {"state": "HALTED", "cause": "cli"}, "", ""), b.book)
    assert risk.state.value == "HALTED"
