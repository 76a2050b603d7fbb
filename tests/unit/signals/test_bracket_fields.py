"""The signal's bracket fields: stop, targets, trail — parsed with per-field errors, carried to the session."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradekit.signals.schema import validate_record

BASE = {"idempotency_key": "k1", "strategy": "momo", "symbol": "INFY", "side": "BUY", "quantity": 100,
        "signal_time": "2026-11-20T09:16:00+05:30", "order_type": "LIMIT", "price": 1500}


def errors(**extra):
    sig, errs = validate_record({**BASE, **extra})
    return {e.field: e.message for e in errs}


def test_a_full_bracket_reaches_the_signal_meta_as_json():
    sig, errs = validate_record({**BASE, "stop": {"points": 15}, "trail": {"kind": "ATR", "value": 2},
                                 "targets": [{"points": 20, "share": 0.5}, {"price": "1540", "share": 0.5}]})
    assert not errs
    assert sig.meta["bracket"] == {"stop": {"points": "15"}, "targets": [{"points": "20", "share": "0.5"},
                                                                         {"price": "1540", "share": "0.5"}],
                                   "trail": {"kind": "atr", "value": "2", "atr_period": 14}}


@pytest.mark.parametrize("extra, field, words", [
    ({"stop": {"price": 1510}}, "stop", "below the entry"),
    ({"stop": {"points": 5, "price": 1490}}, "stop", "exactly one"),
    ({"stop": {"percent": 150}}, "stop", "below 100"),
    ({"stop": {"pts": 5}}, "stop.pts", "unknown field"),
    ({"targets": [{"points": 5, "share": 1}]}, "targets", "need a stop"),
    ({"trail": {"kind": "points", "value": 5}}, "trail", "needs a stop"),
    ({"stop": {"points": 5}, "targets": [{"points": 5, "share": 0.6}, {"points": 9, "share": 0.6}]}, "targets", "1.2"),
    ({"stop": {"points": 5}, "targets": [{"points": 5, "share": 0}]}, "targets.0.share", "above 0"),
    ({"stop": {"points": 5}, "targets": [{"points": 5}]}, "targets.0.share", "missing"),
    ({"stop": {"points": 5}, "targets": [{"price": 1490, "share": 1}]}, "targets", "above the entry"),
    ({"stop": {"points": 5}, "trail": {"kind": "fibonacci", "value": 1}}, "trail.kind", "atr"),
    ({"stop": {"points": 5}, "trail": {"kind": "atr", "value": 2, "atr_period": 1}}, "trail.atr_period", "2"),
    ({"stop": {"points": 5}, "trail": {"kind": "points", "value": -1}}, "trail.value", "above 0"),
    ({"meta": {"bracket": {}}}, "meta", "reserved"),
])
def test_each_mistake_names_its_field(extra, field, words):
    errs = errors(**extra)
    assert field in errs and words in errs[field], errs


def test_a_sell_checks_the_other_way():
    assert errors(side="SELL", stop={"points": 5}, targets=[{"points": 5, "share": 1}]) == {}
    assert "above the entry" in errors(side="SELL", stop={"price": 1490})["stop"]


@given(side=st.sampled_from(["BUY", "SELL"]), kind=st.sampled_from(["price", "points", "percent"]),
       value=st.decimals(min_value=Decimal("-10"), max_value=Decimal("3000"), places=2, allow_nan=False))
def test_any_stop_is_accepted_on_the_losing_side_or_refused_naming_stop(side, kind, value):
    sig, errs = validate_record({**BASE, "side": side, "stop": {kind: str(value)}})
    if sig is None:
        assert errs and all(e.field.startswith("stop") for e in errs)
        return
    from tradekit.execution.bracket_spec import resolve
    from tradekit.model.enums import Side

    spec = resolve(Side(side), Decimal(1500), sig.meta["bracket"]["stop"])  # the bracket agrees with the parser
    assert (spec.stop < 1500) if side == "BUY" else (spec.stop > 1500)


def test_a_bracket_signal_becomes_a_bracket_in_the_session(tmp_path):
    from tests.unit.execution.conftest import make_session, step

    s = make_session(tmp_path)
    step(s, "NSE:INFY", 0, 1500, 1501, 1499, 1500)
    sig, _ = validate_record({**BASE, "stop": {"points": 15}, "targets": [{"points": 20, "share": 1}]})
    order = s.submit_signal(sig)
    b = s.brackets.brackets[order.client_order_id]
    assert b.stop == Decimal("1485") and [t.price for t in b.targets] == [Decimal("1520")]
    step(s, "NSE:INFY", 1, 1500, 1501, 1499, 1500)
    assert sorted(b.children.values()) == ["stop", "target:0"]
    assert s.book.orders[order.client_order_id].signal_id == "k1"
