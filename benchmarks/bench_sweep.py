"""Research sweep: one process against a local Dask cluster, the same sweep, identical results.

The sweep of the research notebook (:func:`tradekit.runs.research.backtest`: SMA crossovers with
next-bar fills, slippage, MIS square-off and Zerodha charges per contract note) over the 10 NSE
stocks with 1-minute bars in the data (``/work/shared/data`` or the bundled sample) × 30
``(fast, slow)`` pairs. A year of minute bars is not available here: the stocks have 18 sessions
each (2016-08-16 .. 2016-09-09, 6,750 bars per stock), so the sweep is 10 × 30 × 18 sessions.

Measured in the same run: the sweep in this process, then on a local cluster sized to the machine
(:func:`tradekit.research.cluster.local_cluster_size`), whose start (worker processes spawned,
vectorbt imported in each) is timed apart from the sweep. The speed-up is one process ÷ cluster,
without and with the start. The orders (every trade and its charges, to the paisa), the sweep table
and the chosen pair must be identical, or the benchmark fails. On a machine shared with other work
(this one has 2 cores) the figures say what that machine did, not what the code can do.

``python -m benchmarks.bench_sweep [--symbols N] [--pairs N] [--workers N]``
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


def run(n_symbols: int = 10, n_pairs: int = 30, workers: int | None = None) -> dict:
    import pandas as pd
    import vectorbt  # noqa: F401 - imported before timing, as a notebook has it

    from tradekit.research.cluster import SweepCluster, machine
    from tradekit.research.config import DaskConfig
    from tradekit.research.sweep import SweepPlan, run_sweeps
    from tradekit.runs.research import backtest, choose, sweep_table

    bars = _load(n_symbols)
    pairs = [(f, s) for f in FAST for s in SLOW if f < s][:n_pairs]
    kw = {"charges_as_of": ASOF, "quantity": 10, "slippage_bps": 2.0}
    sessions = len({d for df in bars.values() for d in df.index.date})

    t0 = time.perf_counter()
    one = backtest(bars, pairs, **kw)
    t_one = time.perf_counter() - t0
    table_one = sweep_table(one)

    cores, memory = machine()
    settings = DaskConfig(workers=workers) if workers else DaskConfig()
    t0 = time.perf_counter()
    with SweepCluster(settings, progress="none") as cl:
        info = cl.info  # starts the cluster: worker processes, tradekit and vectorbt imported in each
        t_start = time.perf_counter() - t0
        t0 = time.perf_counter()
        (many,), outcome = run_sweeps([SweepPlan(bars, pairs, **kw)], cl)
        t_many = time.perf_counter() - t0
    table_many = sweep_table(many)

    pd.testing.assert_frame_equal(one.orders, many.orders, check_exact=True)
    pd.testing.assert_frame_equal(table_one, table_many, check_exact=True)
    assert choose(table_one) == choose(table_many) and not many.failed
    return {
        "sweep": f"{len(bars)} symbols × {len(pairs)} pairs × {sessions} sessions of 1-minute bars "
                 f"({sum(len(b) for b in bars.values()):,} bars; a year of minute bars is not in the data)",
        "machine": f"{cores} cores, {memory / 2**30:.1f} GiB; load average {os.getloadavg()[0]:.1f} at the end",
        "cluster": info.description,
        "tasks": f"{len(outcome.results)} ({len(outcome.failed)} failed)",
        "orders (trades priced)": f"{len(one.orders):,}",
        "one process (s)": round(t_one, 2),
        "cluster start (s)": round(t_start, 2),
        "cluster sweep (s)": round(t_many, 2),
        "speed-up": round(t_one / t_many, 2),
        "speed-up with the start": round(t_one / (t_many + t_start), 2),
        "identical (orders, charges, table)": True,
        "chosen pair": "SMA {}/{}".format(*choose(table_one)),
    }


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=10)
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--workers", type=int, default=None, help="local cluster workers (default: sized to the machine)")
    a = ap.parse_args()
    for k, v in run(a.symbols, a.pairs, a.workers).items():
        print(f"{k:>36}: {v}")
