"""Ingestion cannot be crashed: every fuzz finding of issue 13 item 5, and properties over mixed batches.

Each case used to raise out of ``SignalPipeline.ingest`` and lose the good records beside it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.signals.helpers import record
from tests.unit.signals.test_http import TOKEN, call
from tradekit.signals.config import SignalsConfig
from tradekit.signals.http import SignalServer
from tradekit.signals.limits import Limits, structure
from tradekit.signals.pipeline import SignalPipeline
from tradekit.signals.schema import parse_batch
from tradekit.store import EventType


def good(key: str) -> str:
    return json.dumps(record(key))


def with_field(key: str, name: str, raw_value: str) -> str:
    """A record whose field ``name`` holds ``raw_value`` as raw JSON text (json.dumps cannot write all of these)."""
    rec = record(key)
    rec.pop(name, None)
    return json.dumps(rec)[:-1] + f', "{name}": {raw_value}}}'


DEEP = "[" * 1000 + "]" * 1000
HOSTILE = {
    "int 2**64 as quantity": with_field("bad", "quantity", str(2**64)),
    "int 2**64 in an already bad record": with_field("bad", "side", '"SIDEWAYS", "priority": ' + str(2**70)),
    "int 2**64 in meta": with_field("bad", "meta", '{"n": ' + str(-(2**64)) + "}"),
    "year 1 with an offset": json.dumps(record("bad", signal_time="0001-01-01T00:00:00+05:30")),
    "year 9999 with an offset": json.dumps(record("bad", signal_time="9999-12-31T23:59:59-05:00")),
    "expires_at in year 9999": json.dumps(record("bad", expires_at="9999-12-31T23:59:59+14:00")),
    "ttl_seconds 10**12": json.dumps(record("bad", ttl_seconds=10**12)),
    "1,000-deep nesting in meta": with_field("bad", "meta", '{"x": ' + DEEP + "}"),
    "1,000-deep bare list": DEEP,
    "5,000-digit integer": with_field("bad", "quantity", "9" * 5000),
    "5,000-digit price": with_field("bad", "reference_price", "1" * 5000 + ".5"),
    "NaN price": with_field("bad", "reference_price", "NaN"),
    "Infinity in meta": with_field("bad", "meta", '{"x": -Infinity}'),
    "1e999 price": with_field("bad", "reference_price", "1e999"),
    "huge string": json.dumps(record("bad", strategy="s" * 100_000)),
    "huge key": with_field("bad", "meta", json.dumps({"k" * 100_000: 1})),
}


@pytest.mark.parametrize("junk", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_hostile_record_fails_alone_and_the_good_ones_are_taken(junk, fmt, sim_journal, sink):
    pipeline = SignalPipeline(sim_journal, sink=sink)
    parts = [good("g1"), junk, good("g2")]
    text = ("[" + ",".join(parts) + "]") if fmt == "json" else "\n".join(parts)
    report = pipeline.ingest(text, fmt=fmt)
    assert report.accepted_ids == ["g1", "g2"]
    (err,) = {e.index for e in report.errors}
    assert err == 1
    # and the journal took every event (the bad record's raw copy included)
    types = [e.type for e in sim_journal.events()]
    assert types.count(EventType.SIGNAL_RECEIVED) == 2 and types.count(EventType.SIGNAL_REJECTED) == 1


def test_a_deep_single_object_is_one_record_error():
    res = parse_batch('{"a":' * 3000 + "1" + "}" * 3000)
    assert res.accepted == [] and "nested deeper" in res.errors[0].message


def test_structure_finds_elements_and_depth_without_recursion():
    st_ = structure('[{"a": "[[[["}, [[1]], 3]')
    assert st_.depth == 3
    assert [d for _, _, d in st_.elements] == [1, 2, 0]
    assert structure("[" * 100_000).elements is None  # unclosed: not one array


# -- properties -----------------------------------------------------------------------------------
def _nest(depth: int) -> str:
    return "[" * depth + "]" * depth


junk_values = st.one_of(
    st.integers(min_value=2**63, max_value=2**200).map(str),
    st.integers(min_value=2**200, max_value=2**200).map(lambda _: "7" * 4400),
    st.integers(min_value=20, max_value=1500).map(_nest),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e-999", "1E+400"]),
    st.sampled_from(['"0001-01-01T00:00:00+05:30"', '"9999-12-31T23:59:59-05:00"', '"9999-12-31T23:59:59+14:00"',
                     '"not a date"', '"2026-13-45T99:99:99+05:30"']),
    st.integers(min_value=5000, max_value=60_000).map(lambda n: json.dumps("x" * n)),
    st.sampled_from(["null", "true", "[]", "{}", '"BUY"', "0", "-1", "3.5", '{"rule": "risk_pct"}']),
    st.text(max_size=20).map(json.dumps),
)
fields = st.sampled_from(["quantity", "priority", "ttl_seconds", "signal_time", "expires_at", "price", "meta",
                          "symbol", "side", "strategy", "reference_price", "confidence",
                          "sizing", "tag", "extra_field"])
whole_junk = st.one_of(
    st.integers(min_value=20, max_value=1500).map(_nest),
    st.sampled_from(["0", "null", '"x"', "NaN", str(2**70), "7" * 4400, "[1,2,3]"]),
)


@st.composite
def mixed_batches(draw):
    """(items, fmt): good records (key) interleaved with adversarial ones (key None).

    An adversarial record may still be valid (junk in a field that takes it): it then carries
    a key of its own, ``-maybe<n>``, and the properties only say it was not lost either way.
    """
    n_good = draw(st.integers(1, 5))
    prefix = uuid.uuid4().hex[:8]
    items: list[tuple[str, str | None]] = [(good(f"{prefix}-{i}"), f"{prefix}-{i}") for i in range(n_good)]
    for j in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            text = with_field(f"{prefix}-maybe{j}", draw(fields), draw(junk_values))
        else:
            text = draw(whole_junk)
        items.insert(draw(st.integers(0, len(items))), (text, None))
    fmt = draw(st.sampled_from(["json", "jsonl", "auto-list", "auto-lines"]))
    return items, fmt


def _render(items, fmt) -> tuple[str, str]:
    texts = [t for t, _ in items]
    if fmt in ("json", "auto-list"):
        return "[" + ",".join(texts) + "]", ("json" if fmt == "json" else "auto")
    return "\n".join(texts), ("jsonl" if fmt == "jsonl" else "auto")


def _check_verdicts(items, got: list[str], bad_indices: set[int]) -> None:
    want = [k for _, k in items if k is not None]
    assert [k for k in got if "-maybe" not in k] == want  # every good record, in order
    # every record has one verdict: accepted, or errors naming its index
    n_maybe_ok = sum(1 for k in got if "-maybe" in k)
    assert len(bad_indices) + len(want) + n_maybe_ok == len(items)
    assert all(items[i][1] is None for i in bad_indices)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mixed_batches())
def test_parsing_never_raises_and_never_loses_a_good_record(batch):
    items, fmt = batch
    text, mode = _render(items, fmt)
    res = parse_batch(text, fmt=mode)  # type: ignore[arg-type]
    assert res.records == len(items)
    _check_verdicts(items, [s.signal_id for s in res.accepted], {e.index for e in res.errors})


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(batch=mixed_batches())
def test_the_pipeline_never_raises_and_journals_every_good_record(batch, sim_journal):
    items, fmt = batch
    text, mode = _render(items, fmt)
    pipeline = SignalPipeline(sim_journal, settings=SignalsConfig(default_ttl_seconds=None))
    report = pipeline.ingest(text, fmt=mode)
    _check_verdicts(items, report.accepted_ids, {r.index for r in report.rejected if r.reason == "malformed"})
    received = {e.payload["signal_id"] for e in sim_journal.events(types=(EventType.SIGNAL_RECEIVED,))}
    assert set(report.accepted_ids) <= received


# -- compact journaling, limits wired -------------------------------------------------------------
def test_junk_records_are_journaled_compactly(sim_journal):
    pipeline = SignalPipeline(sim_journal, settings=SignalsConfig(max_rejected_events=5))
    report = pipeline.ingest("[" + ",".join(["0"] * 500 + [good("real")]) + "]")
    assert report.accepted_ids == ["real"] and len(report.rejected) == 500  # every record has its verdict
    rejected = list(sim_journal.events(types=(EventType.SIGNAL_REJECTED,)))
    assert len(rejected) == 6
    assert rejected[-1].payload["count"] == 495 and rejected[-1].payload["indices"][:2] == [5, 6]


def test_each_limit_setting_is_wired(sim_journal):
    def errors(text, **cfg):
        p = SignalPipeline(sim_journal, settings=SignalsConfig(**cfg))
        return [e.message for e in p.ingest(text).errors]

    assert errors(json.dumps(record("d1", meta={"a": {"b": [1]}})), max_depth=3)[0].startswith("nested deeper than 3")
    assert errors(json.dumps(record("d2", meta={"a": {"b": [1]}})), max_depth=4) == []
    assert "over the limit of 5" in errors(json.dumps(record("i1", priority=123456)), max_int_digits=5)[0]
    assert "over the limit of 100" in errors(json.dumps(record("s1", meta={"m": "x" * 101})), max_string_chars=100)[0]
    assert "max_records_per_batch" in errors(json.dumps([record(f"r{i}") for i in range(4)]), max_records_per_batch=3)[0]


def test_a_batch_over_the_record_limit_is_refused_whole_and_unread(sim_journal, sink):
    p = SignalPipeline(sim_journal, sink=sink, settings=SignalsConfig(max_records_per_batch=10))
    report = p.ingest(json.dumps([record(f"k{i}") for i in range(11)]))
    assert report.too_many and report.accepted == [] and sink.ids == []
    assert len(list(sim_journal.events(types=(EventType.SIGNAL_REJECTED,)))) == 1


def test_limits_come_from_settings():
    s = SignalsConfig(max_records_per_batch=7, max_depth=5, max_int_digits=9, max_string_chars=99)
    assert Limits.from_settings(s) == Limits(7, 5, 9, 99)


# -- HTTP: the client's fault is a 4xx, and junk cannot stall other senders -----------------------
@pytest.fixture
def server(sim_journal, sink):
    pipeline = SignalPipeline(sim_journal, sink=sink)
    srv = SignalServer(pipeline, TOKEN, max_body_bytes=256 * 1024).start()
    yield srv
    srv.stop()


@pytest.mark.parametrize("junk", [DEEP, "9" * 5000, json.dumps(record("x", ttl_seconds=10**12)),
                                  with_field("y", "quantity", str(2**64))])
def test_http_answers_4xx_for_a_hostile_body_never_503(server, junk):
    status, ans = call(f"{server.url}/signals", junk)
    assert status == 400, ans


def test_http_a_mixed_body_keeps_its_good_records(server, sink):
    body = "[" + ",".join([good("h1"), DEEP, with_field("h2x", "quantity", "9" * 5000), good("h2")]) + "]"
    status, ans = call(f"{server.url}/signals", body)
    assert status == 202 and [a["signal_id"] for a in ans["accepted"]] == ["h1", "h2"]
    assert sorted(e["index"] for e in ans["errors"]) == [1, 2]


def test_http_a_60kb_body_of_zeros_is_413_at_once_and_stalls_nobody(server, sim_journal, sink):
    zeros = "[" + ",".join(["0"] * 20_000) + "]"
    assert len(zeros) < 60_000
    out = {}

    def other():
        t = time.monotonic()
        out["other"] = call(f"{server.url}/signals", good("other"))[0], time.monotonic() - t

    t0 = time.monotonic()
    th = threading.Thread(target=other)
    th.start()
    status, ans = call(f"{server.url}/signals", zeros)
    took = time.monotonic() - t0
    th.join(10)
    assert status == 413 and "max_records_per_batch" in ans["error"]
    assert took < 2.0 and out["other"][0] == 202 and out["other"][1] < 2.0
    assert len(list(sim_journal.events(types=(EventType.SIGNAL_REJECTED,)))) == 1


def test_a_trusted_file_of_many_records_is_read_but_ingestion_caps_a_batch(sim_journal):
    text = json.dumps([record(f"m{i}") for i in range(1500)])
    assert len(parse_batch(text).accepted) == 1500  # a research day's file read back, `signals check`
    assert SignalPipeline(sim_journal).ingest(text).too_many  # the inbox and HTTP: signals.max_records_per_batch
