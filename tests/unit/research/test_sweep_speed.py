"""Issue 20: the sweep's speed on Dask — what each defect fix keeps true.

- the per-symbol work is one vectorised pass over every pair, and it is each pair's own strategy to
  the share (a property test against :func:`tradekit.runs.research.execution_targets`);
- a charges task's priced orders travel as codes, not one pickled Decimal at a time, and come back
  exact to the Decimal's text;
- the workers are warmed up before the first task and run without Dask's profiler;
- the local cluster is no larger than the CPUs this process may use;
- every run says where its time went, per task.

One local cluster of two worker processes (conftest.py) serves the research tests.
"""

from __future__ import annotations

import os
import pickle
import sys
from datetime import time
from time import monotonic, sleep

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradekit.research import cluster as cluster_mod
from tradekit.research.cluster import SweepCluster, Task, local_cluster_size
from tradekit.research.config import DaskConfig
from tradekit.research.sweep import (
    PricedOrders,
    SweepPlan,
    charges_task,
    run_sweeps,
    sma_targets,
    vectorbt_task,
)
from tradekit.runs.research import execution_targets, load_research_bars
from tradekit.strategies import SmaCrossover

ASOF = "2026-11-20"


@pytest.fixture(scope="module")
def cluster(two_worker_cluster):
    return two_worker_cluster  # tests/unit/research/conftest.py: one for the session


@pytest.fixture(scope="module")
def bars():
    return load_research_bars("RELIANCE,INFY", "2016-08-16", "2016-08-17")[0]


# -- one pass over every pair is each pair's own strategy --------------------------------------------------
@st.composite
def _closes(draw):
    days = draw(st.lists(st.integers(1, 40), min_size=1, max_size=4))  # bars per day
    index = []
    for d, n in enumerate(days):
        start = pd.Timestamp("2024-01-01 15:00", tz="Asia/Kolkata") + pd.Timedelta(days=d)  # crosses 15:15
        index += list(pd.date_range(start, periods=n, freq="1min"))
    # few distinct prices: equal moving averages (ties) and flat stretches are common
    values = draw(st.lists(st.sampled_from([99.95, 100.0, 100.05, 100.1, 100.15]), min_size=len(index),
                           max_size=len(index)))
    return pd.Series(values, index=pd.DatetimeIndex(index), dtype="float64")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(close=_closes(),
       pairs=st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6)).filter(lambda p: p[0] < p[1]), min_size=1,
                      max_size=5, unique=True),
       quantity=st.integers(1, 50), square_off=st.sampled_from([None, time(15, 15)]), long_short=st.booleans())
def test_one_pass_over_every_pair_is_each_pairs_own_targets(close, pairs, quantity, square_off, long_short):
    want = np.column_stack([execution_targets(close, SmaCrossover(f, s, quantity, long_short=long_short), square_off)
                            for f, s in pairs])
    got = sma_targets(close, pairs, quantity, square_off, long_short)
    assert got.dtype == np.int64 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_a_symbol_task_over_all_pairs_is_its_tasks_over_parts_of_them(bars):
    key, df = "NSE:INFY", bars["NSE:INFY"]
    pairs = [(3, 20), (5, 20), (5, 30), (10, 30)]
    args = (10, "MIS", 2.0, 0.05, time(15, 15), True, 1e6)
    _, v_all, o_all = vectorbt_task(key, df, pairs, *args)
    parts = [vectorbt_task(key, df, pairs[i::2], *args) for i in range(2)]
    pd.testing.assert_frame_equal(v_all, pd.concat([p[1] for p in parts], axis=1)[v_all.columns], check_exact=True)
    both = pd.concat([p[2] for p in parts], ignore_index=True)
    order = ["fast", "slow", "time"]
    pd.testing.assert_frame_equal(o_all.sort_values(order, ignore_index=True), both.sort_values(order, ignore_index=True),
                                  check_exact=True)
    assert len(o_all) > 20 and str(o_all["time"].dt.tz) == "Asia/Kolkata"


# -- priced orders travel compactly -------------------------------------------------------------------------
def test_priced_orders_travel_as_codes_and_come_back_exact(bars):
    plan = SweepPlan(bars, [(5, 20), (10, 30)], charges_as_of=ASOF)
    parts = [vectorbt_task(k, df, plan.pairs, 10, "MIS", 2.0, plan.ticks[k], plan.square_off, True, 1e6)
             for k, df in bars.items()]
    priced = charges_task("MIS", plan.asof, plan.instruments, None, *parts)
    assert isinstance(priced, PricedOrders) and len(priced) > 100
    frame = priced.frame()
    back = pickle.loads(pickle.dumps(priced, protocol=5)).frame()
    pd.testing.assert_frame_equal(frame, back, check_exact=True)
    for c in ("value", "charges", "brokerage", "stt", "gst"):  # the same Decimal, down to its exponent
        assert [d.as_tuple() for d in frame[c]] == [d.as_tuple() for d in back[c]]
    assert frame["charges"].map(type).eq(type(frame["value"].iloc[0])).all()
    # a Decimal column pickles one object at a time (slowly, through its text); the codes are one array
    assert b"decimal" in pickle.dumps(frame, protocol=5) and b"decimal" not in pickle.dumps(priced, protocol=5)
    only = charges_task("MIS", plan.asof, plan.instruments, [(10, 30)], *parts).frame()
    pd.testing.assert_frame_equal(only, frame[frame["fast"] == 10].reset_index(drop=True), check_exact=True)


# -- the cluster: warmed, no profiler, sized to the CPUs --------------------------------------------------
def _worker_state() -> tuple[bool, bool]:
    import dask

    return "vectorbt" in sys.modules, bool(dask.config.get("distributed.worker.profile.enabled"))


def _warm_up_events(client, workers, seconds: float = 60.0) -> list[dict]:
    """The warm-up events, once one from each of ``workers`` has reached the scheduler.

    A worker logs its event on its batched stream to the scheduler, which is not the reply that told the
    client the plugin was set up: the client can ask for the events before the last one has arrived."""
    deadline = monotonic() + seconds
    while True:
        events = [e for _, e in client.get_events("tradekit-warm-up")]
        if {e["worker"] for e in events} >= workers or monotonic() > deadline:
            return events
        sleep(0.02)


def test_the_workers_are_warmed_up_once_and_run_without_the_profiler(cluster):
    states = cluster.client.run(_worker_state)
    assert len(states) == 2 and all(s == (True, False) for s in states.values())
    warmed = _warm_up_events(cluster.client, set(states))
    assert sorted(e["worker"] for e in warmed) == sorted(states)  # each worker warmed up once, when it started


def test_the_local_cluster_is_no_larger_than_the_cpus_this_process_may_use(monkeypatch):
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert cluster_mod.machine()[0] == 1
    assert local_cluster_size(DaskConfig())[:2] == (1, 1)
    assert local_cluster_size(DaskConfig(workers=3))[0] == 3  # set explicitly: the user's choice stands


def _http_address(dask_scheduler) -> tuple[str, int]:
    return dask_scheduler.http_server.address, dask_scheduler.http_server.port


def test_the_local_schedulers_http_server_takes_a_loopback_port_of_its_own():
    """Defects: without a dashboard the local scheduler still served HTTP on the fixed port 8787, so a second
    cluster on the machine (a test run beside this one, the user's own Dask dashboard) found it taken: a
    warning and another port, or the user's dashboard moved; with worker threads (``processes: false``) it
    bound the machine's network address, not loopback; and before that such a cluster did not start at all
    (Dask refused the address ``inproc://127.0.0.1:0``)."""
    import socket
    import warnings

    held = socket.socket()
    try:  # someone else's 8787 (if another process has it already, the point stands the same)
        held.bind(("127.0.0.1", 8787))
        held.listen(1)
    except OSError:
        pass
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            with SweepCluster(DaskConfig(workers=1, threads_per_worker=1, processes=False), progress="none") as cl:
                host, port = cl.client.run_on_scheduler(_http_address)
    finally:
        held.close()
    assert (host, port != 8787) == ("127.0.0.1", True), f"{host}:{port}"  # (it bound the machine's address, threads)
    assert [str(w.message) for w in seen if "8787" in str(w.message)] == []


# -- the layout: every pair vectorised per symbol in one process, the charges spread on a cluster -----------
def test_the_sweep_layout(bars):
    pairs = [(f, s) for f in (3, 5, 8) for s in (20, 30)]
    plan = SweepPlan(bars, pairs, charges_as_of=ASOF)
    tasks, _ = plan.tasks(1)  # one process: one task per symbol over every pair, one charges task
    assert [t.name for t in tasks] == ["sweep: vectorbt NSE:RELIANCE pairs 1/1", "sweep: vectorbt NSE:INFY pairs 1/1",
                                       "sweep: charges pairs 1/1"]
    assert tasks[0].args[2] == pairs
    tasks, _ = plan.tasks(2)  # two threads, two symbols: each symbol's pairs in two halves, four charges chunks
    vbt = [t for t in tasks if "vectorbt" in t.name]
    chg = [t for t in tasks if "charges" in t.name]
    assert len(vbt) == 4 and len(chg) == 4
    assert sorted(p for t in chg for p in t.args[3]) == sorted(pairs)
    assert chg[0].args[3] == [(3, 20), (8, 20)]  # dealt out in turn: the short windows in every chunk
    tasks, _ = plan.tasks(2, pairs_per_task=2)
    assert all(len(t.args[2]) <= 2 for t in tasks if "vectorbt" in t.name)
    assert all(len(t.args[3]) <= 2 for t in tasks if "charges" in t.name)


# -- where the time went ------------------------------------------------------------------------------------
def _square(x: int) -> int:
    return x * x


def _add(a: int, b: int) -> int:
    return a + b


def test_every_run_says_where_its_time_went(cluster, bars):
    here = SweepCluster(DaskConfig(enabled=False), progress="none")
    _, out = run_sweeps([SweepPlan(bars, [(5, 20), (10, 30)], charges_as_of=ASOF)], here)
    assert set(out.timings) == set(out.results)
    assert all(t.worker == "this process" and t.compute > 0 and t.cpu is not None for t in out.timings.values())
    assert "sweep: vectorbt: 2 tasks" in out.timing_summary() and "sweep: charges pairs: 1 task" in out.timing_summary()

    run = cluster.run([Task("a", _square, (3,)), Task("b", _square, (4,)), Task("sum", _add, (), ("a", "b"))])
    assert run.results["sum"] == 25 and set(run.timings) == {"a", "b", "sum"}
    workers = set(cluster.client.scheduler_info(n_workers=-1)["workers"])
    for t in run.timings.values():
        assert t.worker in workers and t.compute >= 0 and t.waited >= 0 and t.transfer >= 0
        assert t.cpu is None or t.cpu >= 0  # the worker's processor-time event may come after the result
    table = run.timing_table()
    assert list(table.columns) == ["task", "worker", "waited", "transfer", "compute", "cpu", "fetch"]
    assert table["task"].iloc[-1] == "sum"  # in the order they ran


def _durations(dask_scheduler) -> dict:
    return {name: p.duration_average for name, p in dask_scheduler.task_prefixes.items()}


def test_dask_learns_how_long_each_kind_of_task_takes(cluster, bars):
    """One key prefix per kind of task (not per task): the scheduler's duration estimates, which place
    the charges tasks and decide when an idle worker steals one, come from the tasks already run."""
    _, out = run_sweeps([SweepPlan(bars, [(5, 20), (10, 30), (5, 30)], charges_as_of=ASOF, name="learn")],
                            cluster)
    assert out.ok and len(out.results) > 4
    known = cluster.client.run_on_scheduler(_durations)
    assert known["learn:_vectorbt"] > 0 and known["learn:_charges_pairs"] > 0
    assert not any(name.startswith("learn:_charges_pairs_") for name in known)


def test_a_task_is_never_listed_before_one_it_needs():
    # The task stream's times come from each worker's clock shifted by the scheduler's estimate of its
    # offset: for tasks of microseconds a dependant can seem to start before what it needs finished.
    from tradekit.research.cluster import _dask_timings

    tasks = [Task("a", _square, (3,)), Task("b", _square, (4,)), Task("sum", _add, (), ("a", "b"))]
    stream = [
        {"key": "ka", "worker": "w1", "startstops": [{"action": "compute", "start": 10.0, "stop": 10.0001}]},
        {"key": "kb", "worker": "w2", "startstops": [{"action": "compute", "start": 10.005, "stop": 10.0051}]},
        {"key": "ks", "worker": "w1", "startstops": [{"action": "transfer", "start": 10.003, "stop": 10.004},
                                                     {"action": "compute", "start": 10.004, "stop": 10.0041}]},
    ]
    out = _dask_timings(stream, {"ka": "a", "kb": "b", "ks": "sum"}, tasks, dict.fromkeys(["a", "b", "sum"], 9.9),
                        {}, {})
    assert list(out) == ["a", "b", "sum"]
    assert out["sum"].transfer == pytest.approx(0.001) and out["sum"].worker == "w1"
