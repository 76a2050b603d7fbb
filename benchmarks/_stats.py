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
