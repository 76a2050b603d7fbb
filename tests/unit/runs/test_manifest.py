"""The manifest: what it records, and a results digest that ignores wall-clock stamps."""

from __future__ import annotations

import hashlib
import json

from tradekit.clock import SimClock, ist
from tradekit.runs.manifest import (
    REQUIRED,
    Manifest,
    describe_file,
    git_revision,
    package_versions,
    results_digest,
    write_json,
)
from tradekit.store import Journal, make_engine, sqlite_url


def _journal(path, payloads):
    j = Journal(make_engine(sqlite_url(path)), clock=SimClock(ist(2016, 8, 17, 9, 15)))
    for p in payloads:
        j.append("note", p)
    return j


def test_equal_events_give_equal_digests_although_the_chain_hashes_differ(tmp_path):
    a = _journal(tmp_path / "a.db", [{"x": 1}, {"y": "2"}])
    b = _journal(tmp_path / "b.db", [{"x": 1}, {"y": "2"}])
    ea, eb = list(a.events()), list(b.events())
    assert results_digest(ea) == results_digest(eb)
    c = _journal(tmp_path / "c.db", [{"x": 1}, {"y": "3"}])
    assert results_digest(list(c.events())) != results_digest(ea)


def test_the_sessions_liveness_heartbeats_are_not_results(tmp_path):
    """Defect: a re-run of a paper day gave another digest because the journal's heartbeat notes
    (written after wall-paced quiet spells, with the process id) went into it."""
    a = _journal(tmp_path / "a.db", [{"x": 1}, {"kind": "heartbeat", "pid": 11}, {"y": "2"}])
    b = _journal(tmp_path / "b.db", [{"x": 1}, {"y": "2"}, {"kind": "heartbeat", "pid": 12}])
    assert results_digest(list(a.events())) == results_digest(list(b.events()))
    c = _journal(tmp_path / "c.db", [{"y": "2"}, {"x": 1}])
    assert results_digest(list(c.events())) != results_digest(list(b.events()))  # order still counts


def test_a_fresh_manifest_names_what_is_still_missing_and_saves_as_json(tmp_path):
    m = Manifest(date="2016-08-17", mode="paper", run_dir=str(tmp_path))
    assert {"config", "inputs", "notebooks", "ended_at", "duration_s", "seed"} <= set(m.missing())
    path = m.save()
    data = json.loads(path.read_text())
    assert set(REQUIRED) <= set(data)
    assert data["outcome"] == "running" and data["packages"]["papermill"]
    assert "run_dir" not in data  # the folder is where the file is


def test_the_checkout_revision_and_package_versions_are_recorded():
    g = git_revision()
    assert g["revision"] is None or len(g["revision"]) == 40
    v = package_versions()
    assert v["tradekit"] and v["pandas"] and "vectorbt" in v


def test_input_files_are_described_by_hash(tmp_path):
    f = tmp_path / "x.csv"
    f.write_bytes(b"a,b\n1,2\n")
    d = describe_file(f)
    assert d == {"path": str(f), "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest(), "bytes": 8}


def test_json_is_written_atomically_without_leftovers(tmp_path):
    d = tmp_path / "out"
    write_json(d / "m.json", {"a": 1})
    write_json(d / "m.json", {"a": 2})
    assert json.loads((d / "m.json").read_text()) == {"a": 2}
    assert [p.name for p in d.iterdir()] == ["m.json"]
