"""Latency statistics shared by the benchmarks (nearest-rank percentiles of a sample)."""

from __future__ import annotations

import statistics


def percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    k = min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


def latency_stats(seconds: list[float], percentiles: tuple[int, ...] = (50, 95), places: int = 1) -> dict:
    """``{"n", "p50_ms", "p95_ms", ..., "mean_ms", "max_ms"}`` of durations given in seconds."""
    ms = [x * 1000 for x in seconds]
    out = {"n": len(ms)}
    out.update({f"p{p}_ms": round(percentile(ms, p), places) for p in percentiles})
    out.update({"mean_ms": round(statistics.fmean(ms), places), "max_ms": round(max(ms), places)})
    return out


def print_latencies(figures: dict) -> None:
    """One line per latency figure (a dict from :func:`latency_stats`): p50, p95, max and n."""
    for k, v in figures.items():
        if isinstance(v, dict) and "p95_ms" in v:
            print(f"{k:>34}: p50 {v['p50_ms']:7.1f} ms   p95 {v['p95_ms']:7.1f} ms   max {v['max_ms']:7.1f} ms   "
                  f"(n={v['n']})")
