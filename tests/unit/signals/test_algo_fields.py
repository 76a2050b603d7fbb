"""The `algo` and `slicing` signal fields: per-field errors, and what the session makes of them."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.unit.execution.algo_helpers import EKEY, T0, bar, open_session
from tests.unit.signals.helpers import record
from tradekit.model import OrderStatus as S
from tradekit.signals.schema import parse_batch
from tradekit.store import EventType as E


@pytest.mark.parametrize("algo,field,words", [
    ({"kind": "pov"}, "algo.participation", "pov needs a participation"),
    ({"kind": "twap", "participation": 0.1}, "algo.participation", "only pov"),
    ({"kind": "pov", "participation": 0.9}, "algo.participation", "0.5"),
    ({"kind": "vwap", "interval_seconds": 30}, "algo.interval_seconds", "only twap"),
    ({"kind": "twap", "min_child": 5}, "algo.min_child", "only pov"),
    ({"kind": "twap", "start": "10:00", "end": "09:30"}, "algo.end", "not after start"),
    ({"kind": "twap", "start": "9am"}, "algo.start", "HH:MM"),
    ({"kind": "twap", "end": "2026-11-23T11:00:00"}, "algo.end", "no UTC offset"),
    ({"kind": "twap", "limit_price": 0}, "algo.limit_price", "greater than 0"),
    ({"kind": "iceberg"}, "algo.kind", "twap"),
    ({"kind": "twap", "speed": 3}, "algo.speed", None),
])
def test_bad_algo_fields_are_named(algo, field, words):
    res = parse_batch(json.dumps(record(algo=algo)))
    assert not res.ok
    err = res.errors[0]
    assert err.field == field, (err.field, err.message)
    if words:
        assert words in err.message


def test_slicing_legs_are_checked():
    res = parse_batch(json.dumps(record(slicing={"kind": "iceberg", "legs": 11})))
    assert not res.ok and res.errors[0].field == "slicing.legs"


def test_good_algo_travels_in_the_signal_meta():
    res = parse_batch(json.dumps(record(algo={"kind": "TWAP", "start": "10:00", "end": "11:00", "limit_price": 1510.5})))
    assert res.ok
    sig = res.accepted[0]
    assert sig.meta["algo"] == {"kind": "twap", "start": "10:00", "end": "11:00", "limit_price": "1510.5"}


def signal(**over):
    rec = record(symbol="INFY", quantity=1000, signal_time=T0.isoformat(), **over)
    res = parse_batch(json.dumps(rec))
    assert res.ok, res.errors
    return res.accepted[0]


def test_a_signal_with_an_algo_becomes_a_parent_order_worked_by_it(tmp_path):
    s = open_session(tmp_path)
    bar(s, EKEY, 0, 1500)
    sig = signal(order_type="LIMIT", price=1505, algo={"kind": "twap", "start": "09:16", "end": "09:20"})
    o = s.submit_signal(sig)
    assert o.status is S.SLICED
    started = [e.payload for e in s.journal.events(types=(E.ALGO_STARTED,))][0]
    assert started["kind"] == "twap" and started["limit_price"] == "1505"  # the LIMIT price bounds the children
    assert datetime.fromisoformat(started["end"]).strftime("%H:%M") == "09:20"


def test_a_signal_asking_for_an_iceberg_goes_as_kites_iceberg_variety(tmp_path):
    s = open_session(tmp_path)
    bar(s, EKEY, 0, 1500)
    o = s.submit_signal(signal(product="CNC", slicing={"kind": "iceberg", "legs": 4}))
    assert o.request.variety.value == "iceberg" and o.request.iceberg_legs == 4 and o.request.iceberg_quantity == 250
    for m in range(1, 6):
        bar(s, EKEY, m, 1500)
    fills = [e.payload for e in s.journal.events(types=(E.FILL,))]
    assert [f["quantity"] for f in fills] == [250, 250, 250, 250] and len({f["fill_time"] for f in fills}) == 4
