"""Columnar bar arrays: the bundled 1-minute sample loaded into one merged ``BarArrays``, and a replay-style pass over its columns.

Timed, each repeated: ``load_dataset(sample_symbols("1min")).arrays()`` (twelve gzipped CSV files read,
checked and merged in completion order: 111,960 bars), and one pass over the merged bars as plain lists
(``close.tolist()``, ``key_id.tolist()``, each key's last close kept), the way a replay loop reads them.
Baseline in the same run: the same pass over the data set's pandas frames with ``itertuples``.
Medians of the repeats. (This was a wall-clock bound in ``tests/unit/data/test_feeds.py``, which a
loaded machine broke.)
"""

from __future__ import annotations

import statistics
import time


def _pass_lists(arr) -> list[float]:
    closes, kid = arr.close.tolist(), arr.key_id.tolist()
    last = [0.0] * len(arr.keys)
    for k, c in zip(kid, closes):
        last[k] = c
    return last


def _pass_frames(ds) -> dict[str, float]:
    last = {}
    for key, df in ds.bars.items():
        for row in df.itertuples():
            last[key] = row.close
    return last


def run(repeats: int = 5) -> dict:
    from tradekit.data import load_dataset, sample_symbols

    build, lists, frames = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ds = load_dataset(sample_symbols("1min"))
        arr = ds.arrays()
        build.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        got = _pass_lists(arr)
        lists.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        want = _pass_frames(ds)
        frames.append(time.perf_counter() - t0)
        assert got == [float(want[k]) for k in arr.keys]
    med = statistics.median
    return {"bars": len(arr), "repeats": repeats, "build_seconds": round(med(build), 3),
            "pass_over_lists_seconds": round(med(lists), 4), "pass_over_frames_seconds": round(med(frames), 4),
            "lists_vs_frames": round(med(frames) / med(lists), 1)}
