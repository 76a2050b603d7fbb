"""The signal schema: each bad field is named, one bad record never stops the batch."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError as PydanticValidationError

from tests.unit.signals.helpers import T0, record
from tradekit.clock import IST
from tradekit.errors import ValidationError
from tradekit.model import Exchange, OrderRequest, OrderType, Product, Side
from tradekit.signals.schema import SignalIn, parse_batch, signal_from_dict, signal_to_dict, validate_record


def errors_of(rec) -> dict[str | None, str]:
    sig, errs = validate_record(rec)
    assert sig is None, f"expected {rec} to be refused"
    return {e.field: e.message for e in errs}


def test_minimal_record_takes_the_defaults():
    s = SignalIn.model_validate(record()).to_signal()
    assert (s.signal_id, s.strategy, s.tradingsymbol, s.side, s.quantity) == ("k1", "momo", "RELIANCE", Side.BUY, 10)
    assert (s.exchange, s.order_type, s.product) == (Exchange.NSE, OrderType.MARKET, Product.MIS)
    assert s.price is None and s.trigger_price is None and s.expires_at is None and s.priority == 0
    assert s.signal_time == T0 and s.meta == {"validity": "DAY"}


def test_enums_are_case_insensitive_and_symbols_upper_cased():
    s = SignalIn.model_validate(record(side="sell", exchange="nfo", product="nrml", order_type="sl-m",
                                       trigger_price=101, validity="ioc", symbol=" nifty26novfut ")).to_signal()
    assert (s.side, s.exchange, s.product, s.order_type) == (Side.SELL, Exchange.NFO, Product.NRML, OrderType.SLM)
    assert s.tradingsymbol == "NIFTY26NOVFUT" and s.meta["validity"] == "IOC"


def test_prices_are_exact_decimals_from_json_text():
    res = parse_batch(json.dumps(record(order_type="LIMIT", price=2450.05, reference_price="2449.95", meta={"z": 0.25})))
    (s,) = res.accepted
    assert s.price == Decimal("2450.05") and s.reference_price == Decimal("2449.95")
    assert s.meta["z"] == 0.25 and isinstance(s.meta["z"], float)  # meta is free-form, not money


def test_times_need_an_offset_and_land_in_ist():
    s = SignalIn.model_validate(record(signal_time="2026-11-23T03:45:00Z", ttl_seconds=90)).to_signal()
    assert s.signal_time == T0 and s.signal_time.tzinfo == IST
    assert s.expires_at == T0 + timedelta(seconds=90)
    assert "no UTC offset" in errors_of(record(signal_time="2026-11-23T09:15:00"))["signal_time"]
    assert "no UTC offset" in errors_of(record(expires_at="2026-11-23T09:20:00"))["expires_at"]
    assert "ISO 8601" in errors_of(record(signal_time=1763869500))["signal_time"]


@pytest.mark.parametrize(
    "over, field, words",
    [
        ({"idempotency_key": None}, "idempotency_key", "required"),
        ({"idempotency_key": "x" * 65}, "idempotency_key", "1 to 64"),
        ({"idempotency_key": "has space"}, "idempotency_key", "printable"),
        ({"strategy": "  "}, "strategy", "empty"),
        ({"symbol": None}, "symbol", "required"),
        ({"symbol": "TATA MOTORS"}, "symbol", "spaces"),
        ({"exchange": "NYSE"}, "exchange", "not one of"),
        ({"side": "HOLD"}, "side", "BUY, SELL"),
        ({"quantity": 0}, "quantity", "greater than 0"),
        ({"quantity": -3}, "quantity", "greater than 0"),
        ({"quantity": 2.5}, "quantity", "whole number"),
        ({"quantity": True}, "quantity", "whole number"),
        ({"quantity": "10"}, "quantity", "whole number"),
        ({"quantity": None}, "sizing", "quantity or a sizing rule"),
        ({"sizing": {"rule": "fixed_value", "value": 50000}}, "sizing", "not both"),
        ({"order_type": "STOP"}, "order_type", "not one of"),
        ({"order_type": "LIMIT"}, "price", "needs a positive price"),
        ({"order_type": "LIMIT", "price": -1}, "price", "needs a positive price"),
        ({"price": 100}, "price", "MARKET order takes no price"),
        ({"price": "abc", "order_type": "LIMIT"}, "price", "not a number"),
        ({"price": "NaN", "order_type": "LIMIT"}, "price", "not a finite number"),
        ({"order_type": "SL-M"}, "trigger_price", "needs a positive trigger_price"),
        ({"trigger_price": 99}, "trigger_price", "takes no trigger_price"),
        ({"order_type": "SL", "price": 100, "trigger_price": 101}, "trigger_price", "BUY SL order needs trigger_price <= price"),
        ({"product": "BO"}, "product", "not one of"),
        ({"validity": "TTL"}, "validity", "DAY, IOC"),
        ({"signal_time": None}, "signal_time", "required"),
        ({"signal_time": "yesterday"}, "signal_time", "ISO 8601"),
        ({"expires_at": "2026-11-23T09:14:00+05:30"}, "expires_at", "not after signal_time"),
        ({"ttl_seconds": 0}, "ttl_seconds", "greater than 0"),
        ({"ttl_seconds": 60, "expires_at": "2026-11-23T09:20:00+05:30"}, "ttl_seconds", "not both"),
        ({"priority": 1.5}, "priority", "whole number"),
        ({"confidence": 1.2}, "confidence", "less than or equal to 1"),
        ({"confidence": "high"}, "confidence", "0 to 1"),
        ({"reference_price": 0}, "reference_price", "greater than 0"),
        ({"meta": [1, 2]}, "meta", "JSON object"),
        ({"meta": {"validity": "IOC"}}, "meta", "reserved"),
        ({"tag": ""}, "tag", "empty"),
        ({"tradingsymbol": "RELIANCE"}, "tradingsymbol", "did you mean 'symbol'"),
        ({"qty": 5}, "qty", "did you mean 'quantity'"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_each_bad_field_is_named(over, field, words):
    errs = errors_of(record(**over))
    assert field in errs, errs
    assert words in errs[field]


@pytest.mark.parametrize(
    "sizing, field, words",
    [
        ({"value": 5}, "sizing", "needs a rule"),
        ({"rule": "kelly", "value": 5}, "sizing", "'kelly' was received"),
        ({"rule": "fixed_value", "value": 0}, "sizing.value", "greater than 0"),
        ({"rule": "fixed_value"}, "sizing.value", "required"),
        ({"rule": "capital_pct", "value": 150}, "sizing.value", "at most 100"),
        ({"rule": "risk_pct", "value": 0.5, "stop": 2500, "extra": 1}, "sizing.extra", "unknown field"),
        ({"rule": "risk_pct", "value": 0.5, "stop": "x"}, "sizing.stop", "not a number"),
    ],
)
def test_sizing_errors_name_the_dotted_field(sizing, field, words):
    errs = errors_of(record(quantity=None, sizing=sizing))
    assert field in errs, errs
    assert words in errs[field]


def test_risk_pct_without_a_stop_is_valid_the_session_measures_one_by_risk_sizing_method():
    from tradekit.signals.schema import validate_record

    sig, errs = validate_record(record(quantity=None, sizing={"rule": "risk_pct", "value": 0.5}))
    assert not errs and sig.sizing["rule"] == "risk_pct" and sig.sizing.get("stop") is None


def test_sizing_rules_become_the_signal_sizing():
    s = SignalIn.model_validate(record(quantity=None, sizing={"rule": "FIXED_VALUE", "value": 50000})).to_signal()
    assert s.quantity is None and s.sizing == {"rule": "fixed_value", "value": Decimal("50000")}
    # risk_pct takes its stop from an SL trigger when none is given
    s = SignalIn.model_validate(record(quantity=None, side="SELL", order_type="SL", price=1850, trigger_price=1852,
                                       sizing={"rule": "risk_pct", "value": 0.5})).to_signal()
    assert s.sizing == {"rule": "risk_pct", "value": Decimal("0.5"), "stop": Decimal("1852")}
    # a stop on the wrong side of the entry is refused
    errs = errors_of(record(quantity=None, order_type="LIMIT", price=2450, sizing={"rule": "risk_pct", "value": 1, "stop": 2500}))
    assert "below the entry price" in errs["sizing"]


_PRICES = [None, 0, 100, -5]
_TRIGGERS = [None, 0, 99, 101]


@pytest.mark.parametrize("order_type", ["MARKET", "LIMIT", "SL", "SL-M"])
def test_price_rules_match_order_request(order_type):
    """Same rules as OrderRequest, for every combination (the docstring promise)."""
    for side, price, trigger in itertools.product(["BUY", "SELL"], _PRICES, _TRIGGERS):
        try:
            req = OrderRequest(Exchange.NSE, "RELIANCE", side, 10, order_type, price=price, trigger_price=trigger)
            want = None
        except ValidationError as e:
            req, want = None, e.field
        over = {"side": side, "order_type": order_type, "price": price, "trigger_price": trigger}
        sig, errs = validate_record(record(**{k: v for k, v in over.items() if v is not None}))
        got = errs[0].field if errs else None
        assert got == want, (over, errs)
        if req is not None:
            assert (sig.price, sig.trigger_price) == (req.price, req.trigger_price)


def test_one_bad_record_does_not_stop_the_batch():
    batch = [record("a"), record("b", side="HOLD", quantity=0), "not an object", record("c")]
    res = parse_batch(json.dumps(batch))
    assert [s.signal_id for s in res.accepted] == ["a", "c"]
    assert res.records == 4 and res.bad_records == 2
    assert {(e.index, e.field) for e in res.errors} == {(1, "side"), (1, "quantity"), (2, None)}
    assert str(res.errors[0]).startswith("record 1: ")
    assert res.errors[0].raw["idempotency_key"] == "b" and res.errors[0].key == "b"


def test_json_lines_with_a_broken_line():
    text = "\n".join([json.dumps(record("a")), "{oops", "", json.dumps(record("b"))])
    res = parse_batch(text)
    assert [s.signal_id for s in res.accepted] == ["a", "b"]
    (err,) = res.errors
    assert err.index == 1 and err.field is None and err.message.startswith("not JSON")


@pytest.mark.parametrize("text, words", [
    ("this is not json", "not JSON"),
    ('{"idempotency_key": "a",\n "strategy": ', "not JSON"),
    ("", "empty"),
    ("[]", "empty list"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_text_that_is_not_json_is_one_error_for_the_file(text, words):
    res = parse_batch(text)
    assert res.accepted == [] and len(res.errors) == 1
    assert res.errors[0].index is None and words in res.errors[0].message


def test_parsed_objects_and_a_utf8_bom_are_taken():
    assert len(parse_batch(record()).accepted) == 1
    assert len(parse_batch([record("a"), record("b")]).accepted) == 2
    assert len(parse_batch(("\ufeff" + json.dumps(record())).encode("utf-8")).accepted) == 1


def test_model_refuses_extra_fields_directly():
    with pytest.raises(PydanticValidationError):
        SignalIn.model_validate(record(surprise=1))


def test_meta_and_tag_travel_in_signal_meta_and_round_trip_through_json():
    rec = record(order_type="SL", price=2450, trigger_price=2449.5, tag="open-drive", meta={"bar": 17, "z": [1.5]},
                 priority=3, confidence=0.8, reference_price=2448.1, quantity=None,
                 sizing={"rule": "risk_pct", "value": "0.5", "stop": 2400}, expires_at="2026-11-23T09:30:00+05:30")
    s = SignalIn.model_validate(rec).to_signal()
    assert s.meta == {"bar": 17, "z": [1.5], "validity": "DAY", "tag": "open-drive"}
    d = signal_to_dict(s)
    assert json.loads(json.dumps(d)) == d  # JSON-safe
    back = signal_from_dict(d)
    assert back == s and back.meta == s.meta
