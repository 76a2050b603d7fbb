"""The published JSON Schema is the generated one, and the documented examples pass both checks."""

from __future__ import annotations

import json
import re

import pytest

from tests.unit.signals.helpers import record
from tradekit.signals.schema import SCHEMA_PATH, json_schema, json_schema_text, parse_batch

README = SCHEMA_PATH.with_name("README.md")


def test_committed_schema_file_is_up_to_date():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == json_schema_text(), (
        "tradekit/signals/signal.schema.json is stale: run `tradekit signals schema --write tradekit/signals/signal.schema.json`"
    )


def _readme_example() -> list:
    blocks = re.findall(r"```json\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README.md has no json example"
    return json.loads(blocks[0])


def test_readme_example_is_valid():
    res = parse_batch(json.dumps(_readme_example()))
    assert res.ok and len(res.accepted) == 2


def test_schema_agrees_with_the_parser_on_examples():
    jsonschema = pytest.importorskip("jsonschema")
    v = jsonschema.Draft202012Validator(json_schema())
    good = [*_readme_example(), *json_schema()["$defs"]["SignalIn"]["examples"], record()]
    for rec in good:
        assert not list(v.iter_errors(rec)), rec
    assert not list(v.iter_errors(good))  # a list of signals is a valid file too
    bad = [
        record(colour="red"),
        record(quantity=None),
        record(sizing={"rule": "fixed_value", "value": 1000}),
        record(order_type="LIMIT"),
        record(order_type="SL-M"),
        record(ttl_seconds=5, expires_at="2026-11-23T09:20:00+05:30"),
        record(side="HOLD"),
        record(idempotency_key="x" * 65),
    ]
    for rec in bad:
        assert list(v.iter_errors(rec)), rec
        assert not parse_batch(rec).ok, rec
