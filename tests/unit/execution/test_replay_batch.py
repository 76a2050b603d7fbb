"""A replay's batched journal: the same trades, P&L and events as a run that commits every event,
a chain verified once at the end, and a crash mid-batch leaves only what was committed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tradekit.config import load_config
from tradekit.data import load_bars, sample_path
from tradekit.execution.replay import run_replay
from tradekit.session import Session
from tradekit.store.audit import open_read_only, verify
from tradekit.strategies import SmaCrossover

FROM, TO = "2016-08-17", "2016-08-18"
SYMBOLS = ("INFY", "RELIANCE")
BATCH = 40  # small batches: a two-day replay commits many times


def _cfg(tmp_path: Path):
    return load_config(overrides={"data_dir": str(tmp_path / "var"), "execution": {"charges_as_of": "2026-11-20"},
                                  "store": {"batch_size": BATCH}})


def _data():
    return {f"NSE:{s}": load_bars(sample_path(s), start=FROM, end=TO) for s in SYMBOLS}


def _replay(tmp_path: Path, name: str, durability: str = "batch"):
    data = _data()
    s = Session.for_replay(_cfg(tmp_path), tmp_path / name, data["NSE:INFY"].index[0].to_pydatetime(),
                           durability=durability)
    try:
        r = run_replay(s, data, strategies=[SmaCrossover(5, 15, 10)])
        out = {"events": _events(s.journal), "net": s.book.net_pnl, "fills": _fills(s.journal), "verified": r.verified,
               "orders": r.orders}
    finally:
        s.close()
    return out


def _events(journal) -> list[tuple]:
    """Everything but the wall time (``recorded_at``) and the hashes that cover it."""
    return [(e.seq, e.ts, e.type, e.payload) for e in journal.events()]


def _fills(journal) -> list[tuple]:
    return [(e.payload["side"], e.payload["quantity"], e.payload["price"], e.ts) for e in journal.events(types=("fill",))]


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory):
    return _replay(tmp_path_factory.mktemp("batch"), "batch.db")


def test_a_batch_replay_writes_the_journal_a_durable_run_writes(tmp_path, batch_run):
    sync = _replay(tmp_path, "sync.db", durability="sync")
    assert batch_run["orders"] > 10 and len(batch_run["events"]) > 3 * BATCH
    assert batch_run["fills"] == sync["fills"]
    assert batch_run["net"] == sync["net"]
    assert batch_run["events"] == sync["events"]
    v = batch_run["verified"]  # the chain was verified once, at the end of the batch run
    assert v is not None and v.ok and v.last_seq == len(batch_run["events"])
    assert sync["verified"] is None  # a durable run commits (and chains) each event as it goes
    assert verify(open_read_only(tmp_path / "sync.db")).ok


CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path[:0] = [{root!r}, {tests!r}]
    from test_replay_batch import _cfg, _data
    from pathlib import Path
    from tradekit.execution.replay import run_replay
    from tradekit.session import Session
    from tradekit.strategies import SmaCrossover

    tmp, kill_after = Path(sys.argv[1]), int(sys.argv[2])
    data = _data()
    s = Session.for_replay(_cfg(tmp), tmp / "j.db", data["NSE:INFY"].index[0].to_pydatetime())
    n = [0]

    def pace(ns):
        n[0] += 1
        j = s.journal
        if n[0] >= kill_after and j._buffer and j.last_seq > j.tail()[0]:  # mid-batch: events not yet written
            print("KILL", j.last_seq, j.tail()[0], flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return True

    run_replay(s, data, strategies=[SmaCrossover(5, 15, 10)], pace=pace)
    print("DONE", flush=True)
""")


def test_a_replay_killed_mid_batch_leaves_a_verifying_prefix_and_a_redo_is_exact(tmp_path, batch_run):
    here = Path(__file__).resolve().parent
    code = CHILD.format(root=str(here.parents[2]), tests=str(here))
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path), "500"], capture_output=True, text=True, timeout=120)
    assert p.returncode == -9, p.stderr[-2000:]
    _, claimed, committed = p.stdout.split()[-3:]
    claimed, committed = int(claimed), int(committed)
    assert committed < claimed  # killed with events in memory only

    j = open_read_only(tmp_path / "j.db")
    res = verify(j)
    assert res.ok, str(res)
    assert res.last_seq == committed == j.tail()[0]  # the journal claims exactly what it holds
    assert committed > 0
    assert _events(j) == batch_run["events"][:committed]  # a prefix of the complete run
    j.engine.dispose()

    # the run done again on the same path starts a fresh journal and ends as the complete run
    again = _replay(tmp_path, "j.db")
    assert again["events"] == batch_run["events"] and again["net"] == batch_run["net"]
    assert again["verified"].ok
