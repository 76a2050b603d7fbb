"""Issue 20: research sweeps on Dask — the same trades and P&L to the paisa as one process, failed tasks
retried and reported, a real separate scheduler, and config settings that are wired or refused.

One local cluster of two worker processes serves the research tests (conftest.py; starting one costs seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError as PydanticError

from tradekit.config import load_config
from tradekit.research.cluster import SweepCluster, Task, local_cluster_size, research_cluster
from tradekit.research.config import DaskConfig
from tradekit.research.sweep import parity_sweep
from tradekit.runs.research import backtest, load_research_bars, run_research, sweep_table

ROOT = Path(__file__).resolve().parents[3]
ASOF = "2026-11-20"
PAIRS = [(5, 20), (5, 30), (10, 20), (10, 30)]


@pytest.fixture(scope="module")
def cluster(two_worker_cluster):
    return two_worker_cluster  # tests/unit/research/conftest.py: one for the session


@pytest.fixture(scope="module")
def bars():
    return load_research_bars("RELIANCE,INFY", "2016-08-16", "2016-08-18")[0]


# -- functions the workers run (imported by name from this module) -------------------------------------
def _flaky(marker: str, value: int) -> int:
    """Raises the first time it runs (anywhere: the marker is a file), then returns ``value``."""
    p = Path(marker)
    if not p.exists():
        p.write_text("failed once")
        raise RuntimeError("a transient failure")
    return value


def _always_fails(x: int) -> int:
    raise ValueError(f"bad input {x}")


def _plus(a: int, b: int) -> int:
    return a + b


# -- the same results -------------------------------------------------------------------------------------
def test_the_cluster_sweep_is_the_one_process_sweep_to_the_paisa(cluster, tmp_path):
    """2 symbols × 4 pairs of real minute bars, in and out of sample: the same trades, the same P&L to
    the paisa, the same chosen pair, on a local cluster of two worker processes as in this process."""
    kw = {"fast": (5, 10), "slow": (20, 30), "charges_as_of": ASOF, "export_day": "2016-08-16",
          "export_if_losing": True, "train_fraction": 0.67}
    one = run_research("RELIANCE,INFY", "2016-08-16", "2016-08-18", out_dir=tmp_path / "one", **kw)
    many = run_research("RELIANCE,INFY", "2016-08-16", "2016-08-18", out_dir=tmp_path / "dask", cluster=cluster, **kw)
    assert cluster.info.kind == "local" and cluster.info.workers == 2
    assert many.settings["ran_on"].startswith("a local Dask cluster (2 workers")
    assert many.settings["tasks"] > 4 and many.settings["failed_tasks"] == []  # cut into several tasks
    assert one.settings["ran_on"] == "this process"
    pd.testing.assert_frame_equal(one.sweep, many.sweep, check_exact=True)  # in and out of sample
    pd.testing.assert_frame_equal(one.orders, many.orders, check_exact=True)  # the chosen pair's trades and charges
    pd.testing.assert_frame_equal(one.equity, many.equity, check_exact=True)
    pd.testing.assert_frame_equal(one.backtest.orders, many.backtest.orders, check_exact=True)  # every pair's
    assert one.chosen == many.chosen and one.warnings == many.warnings
    assert len(one.backtest.orders) > 100
    assert one.signals_path.read_text() == many.signals_path.read_text()


def test_one_pair_per_task_and_a_universe_give_the_same_orders(cluster, bars):
    cl = SweepCluster(DaskConfig(pairs_per_task=1), progress="none", client=cluster.client)
    a = backtest(bars, PAIRS, charges_as_of=ASOF, product="CNC", slippage_bps=0)
    b = backtest(bars, PAIRS, charges_as_of=ASOF, product="CNC", slippage_bps=0, cluster=cl)
    pd.testing.assert_frame_equal(a.orders, b.orders, check_exact=True)
    pd.testing.assert_frame_equal(sweep_table(a), sweep_table(b), check_exact=True)


# -- failures: retried, reported, never lost --------------------------------------------------------------
def test_a_task_that_fails_once_succeeds_on_its_retry(cluster, tmp_path, caplog):
    out = cluster.run([Task("flaky", _flaky, (str(tmp_path / "marker"), 40)), Task("after", _plus, (2,), ("flaky",))])
    assert out.ok and out.results == {"flaky": 40, "after": 42}
    assert out.retried == {"flaky": 1}  # one failure before the success, seen by the client
    assert "task flaky failed on a worker: RuntimeError: a transient failure" in caplog.text
    assert "after a retry" in out.report()


def test_a_task_that_always_fails_is_reported_with_the_tasks_it_blocked(cluster):
    out = cluster.run([Task("bad", _always_fails, (7,)), Task("needs bad", _plus, (1,), ("bad",)),
                       Task("fine", _plus, (1, 2))])
    assert out.results == {"fine": 3}
    bad = out.failed["bad"]
    assert bad.error == "ValueError: bad input 7" and bad.attempts == 3  # the first run and 2 retries
    assert out.failed["needs bad"].blocked_by == "bad" and out.failed["needs bad"].attempts == 0
    text = out.report()
    assert "2 of 3 tasks failed after 2 retries" in text and "bad input 7" in text and "needs bad: not run" in text


def test_in_this_process_the_same_retries_and_report(tmp_path):
    here = SweepCluster(DaskConfig(enabled=False, retries=1), progress="none")
    out = here.run([Task("flaky", _flaky, (str(tmp_path / "m"), 1)), Task("bad", _always_fails, (1,)),
                    Task("blocked", _plus, (1,), ("bad",))])
    assert out.results == {"flaky": 1} and out.retried == {"flaky": 1}
    assert out.failed["bad"].attempts == 2 and out.failed["blocked"].blocked_by == "bad"
    assert out.cluster.description == "this process"


def test_a_sweep_keeps_the_pairs_that_completed_and_names_the_failed_tasks(cluster, bars):
    """2016 bars with no charges date cannot be priced (the rate tables start 2020-07-01): the pair that
    trades fails after its retries and is left out, the pair that never trades (slow > a session) stays."""
    here = SweepCluster(DaskConfig(enabled=False, pairs_per_task=1), progress="none")
    for where in (cluster, here):
        bt = backtest(bars, [(5, 20), (400, 500)], cluster=where)
        assert bt.pairs == [(400, 500)] and len(bt.orders) == 0
        (f,) = bt.failed
        assert f.name == "sweep: charges pairs 1/2" and "2020-07-01" in f.error and f.attempts == 3
        assert list(sweep_table(bt)["fast"]) == [400]


def test_research_with_a_failed_task_warns_and_exports_nothing(cluster, tmp_path):
    res = run_research("SBIN", "2016-08-16", "2016-08-16", fast=(5, 400), slow=(20, 500), export_day="2016-08-16",
                       out_dir=tmp_path, cluster=cluster, export_if_losing=True)
    assert list(zip(res.sweep["fast"], res.sweep["slow"])) == [(5, 500), (400, 500)]  # (5, 20) failed: left out
    assert res.chosen == (5, 500) and res.signals_path is None
    assert any("failed after 2 retries" in w and "left out" in w for w in res.warnings)
    assert any("the sweep is incomplete" in w for w in res.warnings)
    assert res.settings["failed_tasks"]


# -- paper replays for parity, on the cluster -------------------------------------------------------------
def test_paper_replays_run_on_the_cluster_and_trade_as_vectorbt(cluster):
    one_day = {k: v[v.index.date == v.index[0].date()] for k, v in
               load_research_bars("RELIANCE,INFY", "2016-08-17", "2016-08-17")[0].items()}
    table, out = parity_sweep(one_day, [(10, 30)], None, cluster, charges_as_of=ASOF)
    here, _ = parity_sweep(one_day, [(10, 30)], None, None, charges_as_of=ASOF)
    assert out.ok and len(table) == 2 and out.cluster.kind == "local"
    pd.testing.assert_frame_equal(table, here)  # the replays on the workers are the replays here
    infy = table[table["key"] == "NSE:INFY"].iloc[0]
    assert infy["same"] and infy["vbt_trades"] == infy["replay_trades"] > 0
    assert infy["vbt_net_pnl"] == infy["replay_net_pnl"]


# -- a real separate scheduler ----------------------------------------------------------------------------
def test_a_sweep_through_a_separate_dask_scheduler_and_worker(tmp_path, bars):
    dask = Path(sys.executable).with_name("dask")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            assert procs[0].poll() is None, "the scheduler exited"
            time.sleep(0.05)
        import json

        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(subprocess.Popen([str(dask), "worker", address, "--nworkers", "1", "--nthreads", "2",
                                       "--no-dashboard", "--host", "127.0.0.1"], env=env, cwd=tmp_path,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        cfg_file = tmp_path / "research.yaml"
        cfg_file.write_text(f"research:\n  progress: none\n  dask:\n    scheduler: {address}\n    retries: 1\n"
                            "    connect_timeout_seconds: 60\n")
        with research_cluster(cfg_file) as cl:
            two = {k: v[v.index.date == v.index[0].date()] for k, v in bars.items()}
            got = backtest(two, PAIRS[:2], charges_as_of=ASOF, cluster=cl)
            assert cl.info.kind == "scheduler" and cl.info.address == address and cl.info.threads == 2
        want = backtest(two, PAIRS[:2], charges_as_of=ASOF)
        pd.testing.assert_frame_equal(want.orders, got.orders, check_exact=True)
        pd.testing.assert_frame_equal(want.gross_curve(), got.gross_curve(), check_exact=True)
        assert len(got.orders) > 10
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cl = SweepCluster(DaskConfig(scheduler=f"127.0.0.1:{port}", connect_timeout_seconds=1), progress="none")
    with pytest.raises(Exception, match=f"research.dask.scheduler: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"):
        cl.run([Task("x", _plus, (1, 2))])


# -- the config: every setting wired or refused ------------------------------------------------------------
def test_the_local_cluster_is_sized_to_the_machine():
    gib = 2**30
    assert local_cluster_size(DaskConfig(), cores=2, memory=24 * gib) == (2, 1, 12 * gib)
    assert local_cluster_size(DaskConfig(), cores=8, memory=3 * gib) == (3, 2, gib)  # at least 1 GiB a worker
    assert local_cluster_size(DaskConfig(), cores=1, memory=512 * 2**20) == (1, 1, 512 * 2**20)
    assert local_cluster_size(DaskConfig(workers=3, threads_per_worker=2, memory_limit="2GiB"), cores=2,
                              memory=24 * gib) == (3, 2, 2 * gib)


@pytest.mark.parametrize("block, field", [
    ({"scheduler": "tcp://127.0.0.1:8786", "workers": 2}, "research.dask.workers"),
    ({"scheduler": "127.0.0.1:8786", "memory_limit": "2GiB"}, "research.dask.memory_limit"),
    ({"scheduler": "tcp://127.0.0.1:8786", "processes": False}, "research.dask.processes"),
    ({"enabled": False, "scheduler": "tcp://127.0.0.1:8786"}, "research.dask.scheduler"),
    ({"enabled": False, "threads_per_worker": 2}, "research.dask.threads_per_worker"),
    ({"scheduler": "http://x:1"}, "not a scheduler address"),
    ({"memory_limit": "lots"}, "not an amount of memory"),
    ({"memory_limit": "1MB"}, "below 64 MiB"),
    ({"workers": 0}, "workers"),
    ({"retries": -1}, "retries"),
    ({"dashboard": True}, "dashboard"),
])
def test_settings_that_would_do_nothing_are_refused(block, field):
    with pytest.raises(PydanticError, match=field):
        DaskConfig(**block)


def test_the_config_file_block_is_read(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("research:\n  progress: text\n  dask:\n    scheduler: 10.0.0.5:8786\n    retries: 4\n")
    cfg = load_config(f)
    assert cfg.research.dask.scheduler == "tcp://10.0.0.5:8786" and cfg.research.dask.retries == 4
    cl = research_cluster(cfg)
    assert cl.progress == "text" and cl.retries == 4 and not cl.in_process
    f.write_text("research:\n  dask:\n    scheduler: 10.0.0.5:8786\n    workers: 2\n")
    with pytest.raises(Exception, match="research.dask.workers sizes a local cluster"):
        load_config(f)
