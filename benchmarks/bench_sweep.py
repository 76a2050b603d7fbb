"""Research sweep: one process against a local Dask cluster, the same sweep, identical results.

The sweep of the research notebook (:func:`tradekit.runs.research.backtest`: SMA crossovers with
next-bar fills, slippage, MIS square-off and Zerodha charges per contract note) over the 10 NSE
stocks with 1-minute bars in the data (``/work/shared/data`` or the bundled sample) × 30
``(fast, slow)`` pairs. A year of minute bars is not available here: the stocks have 18 sessions
each (2016-08-16 .. 2016-09-09, 6,750 bars per stock), so the sweep is 10 × 30 × 18 sessions.

Measured in the same run: a local cluster sized to the machine
(:func:`tradekit.research.cluster.local_cluster_size`) is started (worker processes spawned, each
warmed up once: tradekit and vectorbt imported, vectorbt's compiled functions loaded), timed apart
from the sweep; then the sweep runs in this process (warmed up the same way) and on the cluster, in
turn, ``--repeats`` times, and the best of each are compared. Both run the same tasks
(:mod:`tradekit.research.sweep`). The orders (every trade and its charges, to the paisa), the sweep
table and the chosen pair must be identical, or the benchmark fails. It prints the cores each run
got (processor seconds per second), the processor time of this process and each worker, a bound for
a quiet machine derived from them, and where each cluster task's time went (waited, transfer,
compute, cpu, fetch). On a machine shared with other work (this one has 2 cores, and its kernel
shares them out by session) the timings say what that machine did, not what the code can do.

``python -m benchmarks.bench_sweep [--symbols N] [--pairs N] [--workers N] [--repeats N]``
"""

from __future__ import annotations

import os
import time

SYMBOLS = ["RELIANCE", "INFY", "HDFCBANK", "TCS", "SBIN", "ICICIBANK", "TATAMOTORS", "WIPRO", "HCLTECH", "HDFC"]
FAST, SLOW = (3, 5, 8, 10, 12, 15), (20, 30, 45, 60, 90)  # 6 × 5 = 30 pairs, fast < slow in each
START, END = "2016-08-16", "2016-09-09"
ASOF = "2026-11-20"  # the 2016 bars predate the rate tables: price them at a later day's rates


def _load(n_symbols: int):
    from tradekit.runs.research import load_research_bars

    return load_research_bars(",".join(SYMBOLS[:n_symbols]), START, END)[0]


def _cpu(proc) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def _sharing() -> str:
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            on = f.read().strip() == "1"
    except OSError:
        return "per thread"
    return ("by session (autogroup): while other sessions are busy, this run's processes together get about "
            "one session's share of the cores, however many workers it starts") if on else "per thread"


def _loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run(n_symbols: int = 10, n_pairs: int = 30, workers: int | None = None, repeats: int = 3) -> dict:
    import pandas as pd
    import psutil

    from tradekit.research.cluster import SweepCluster, machine
    from tradekit.research.config import DaskConfig
    from tradekit.research.sweep import SweepPlan, run_sweeps, warm_up
    from tradekit.runs.research import choose, sweep_table

    bars = _load(n_symbols)
    pairs = [(f, s) for f in FAST for s in SLOW if f < s][:n_pairs]
    kw = {"charges_as_of": ASOF, "quantity": 10, "slippage_bps": 2.0}
    sessions = len({d for df in bars.values() for d in df.index.date})
    here = SweepCluster(DaskConfig(enabled=False), progress="none")

    def one_run(where, pids=()):
        procs = [psutil.Process(p) for p in pids]
        here0, workers0 = time.process_time(), [_cpu(p) for p in procs]
        t0 = time.perf_counter()
        (bt,), out = run_sweeps([SweepPlan(bars, pairs, **kw)], where)
        wall = time.perf_counter() - t0
        cpu = [time.process_time() - here0] + [_cpu(p) - c for p, c in zip(procs, workers0)]  # this process, workers
        return wall, bt, out, cpu

    warm_up()  # this process as ready as each worker: vectorbt imported, its compiled functions loaded
    cores, memory = machine()
    settings = DaskConfig(workers=workers) if workers else DaskConfig()
    loads = [_loadavg()]
    t0 = time.perf_counter()
    with SweepCluster(settings, progress="none") as cl:
        info = cl.info  # starts the cluster: worker processes, each warmed up once (tradekit, vectorbt)
        t_start = time.perf_counter() - t0
        pids = list(cl.client.run(os.getpid).values())
        ones, runs = [], []
        for _ in range(repeats):  # in turn, so that both see the same load on a shared machine
            ones.append(one_run(here))
            runs.append(one_run(cl, pids))
            table_one = sweep_table(ones[-1][1])
            pd.testing.assert_frame_equal(ones[-1][1].orders, runs[-1][1].orders, check_exact=True)
            pd.testing.assert_frame_equal(table_one, sweep_table(runs[-1][1]), check_exact=True)
            assert choose(table_one) == choose(sweep_table(runs[-1][1])) and not runs[-1][1].failed
            loads.append(_loadavg())
    t_one, one, out_one, cpu_one = min(ones, key=lambda r: r[0])
    t_many, _, outcome, cpu_many = min(runs, key=lambda r: r[0])
    # what a quiet machine could do at best, from the processor time each process needed (not a timing):
    # each worker needs its own processor time, and all of them together share the cores with this process
    quiet_one = cpu_one[0]
    quiet_many = max(max(cpu_many[1:]), sum(cpu_many) / cores)
    table_one = sweep_table(one)
    ratios = sorted(a[0] / b[0] for a, b in zip(ones, runs))

    return {
        "sweep": f"{len(bars)} symbols × {len(pairs)} pairs × {sessions} sessions of 1-minute bars "
                 f"({sum(len(b) for b in bars.values()):,} bars; a year of minute bars is not in the data)",
        "machine": f"{cores} cores, {memory / 2**30:.1f} GiB",
        "load average (/proc/loadavg)": " → ".join(loads),
        "cluster": info.description,
        "tasks": f"one process {len(out_one.results)}, cluster {len(outcome.results)} ({len(outcome.failed)} failed)",
        "orders (trades priced)": f"{len(one.orders):,}",
        "one process (s)": f"{t_one:.2f} (best of {repeats}: {', '.join(f'{r[0]:.2f}' for r in ones)})",
        "cluster start (s)": round(t_start, 2),
        "cluster sweep (s)": f"{t_many:.2f} (best of {repeats}: {', '.join(f'{r[0]:.2f}' for r in runs)})",
        "speed-up": f"{t_one / t_many:.2f} (best against best; run by run {', '.join(f'{r:.2f}' for r in ratios)})",
        "speed-up with the start": round(t_one / (t_many + t_start), 2),
        "cores the runs got (cpu s / wall s)": f"one process {', '.join(f'{sum(r[3]) / r[0]:.2f}' for r in ones)}; "
                                               f"cluster (workers and this process) "
                                               f"{', '.join(f'{sum(r[3]) / r[0]:.2f}' for r in runs)}",
        "processor time (s)": f"one process {quiet_one:.2f}; cluster: this process {cpu_many[0]:.2f}, workers "
                              f"{', '.join(f'{c:.2f}' for c in cpu_many[1:])} (the best runs)",
        "bound for a quiet machine": f"one process {quiet_one:.2f} s, cluster at least {quiet_many:.2f} s: speed-up "
                                     f"at most {quiet_one / quiet_many:.2f} (from the processor times above: each "
                                     f"worker on a core of its own, all sharing the {cores} cores with this process, "
                                     "no worker ever idle; not a timing)",
        "the kernel's CPU sharing": _sharing(),
        "identical (orders, charges, table)": True,
        "chosen pair": "SMA {}/{}".format(*choose(table_one)),
        "one process, where the time went": out_one.timing_summary(),
        "cluster, where the time went": outcome.timing_summary(),
        "cluster, per task (s)": "\n" + outcome.timing_table().round(3).to_string(index=False),
    }


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=10)
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--workers", type=int, default=None, help="local cluster workers (default: sized to the machine)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each (in turn; the best of each is compared)")
    a = ap.parse_args()
    for k, v in run(a.symbols, a.pairs, a.workers, a.repeats).items():
        print(f"{k:>36}: {v}")
