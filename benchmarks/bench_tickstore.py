"""Tick store write rate: ``TickStore.append`` + flushes of full-mode ticks, against raw pyarrow.

Ticks are synthesised from the bundled NSE minute bars (:func:`tradekit.data.synth.ticks_from_bars`:
full mode, 5+5 depth levels, cumulative volume) for 5 instruments. Measured, medians of repeats:

- ``append_only``: what the ticker thread pays per tick (``append`` into the buffer, no write);
- ``store``: ``append`` in frames of 250 ticks, a flush every 20 frames (5,000 ticks, what a
  1-second ``flush_seconds`` gives at 5,000 ticks/s), then ``close`` — Parquet parts written
  atomically (tmp + fsync + rename) per instrument;
- ``pyarrow_baseline``: the same ticks, already converted to Arrow tables (not timed), written
  with ``pyarrow.parquet.write_table`` once per 5,000 ticks (no per-instrument split, no
  fsync, no rename): the floor under the store's conversion and safety costs.

Also the time to read a recorded day back as ``Tick`` objects in exchange-time order.
Run: ``.venv/bin/python -m benchmarks.bench_tickstore``.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

SYMBOLS = ("RELIANCE", "INFY", "TCS", "SBIN", "WIPRO")
FRAME = 250
FLUSH_FRAMES = 20
REPEATS = 5


def _ticks() -> list:
    from tradekit.data import load_bars, sample_path
    from tradekit.data.synth import ticks_from_bars

    out = []
    for sym in SYMBOLS:
        bars = load_bars(sample_path(sym, "1min")).iloc[:1500]
        out.extend(ticks_from_bars(bars, f"NSE:{sym}"))
    out.sort(key=lambda t: t.ts)
    return out


def _store_run(ticks, root: Path) -> float:
    from tradekit.data.tickstore import TickStore

    s = TickStore(root, flush_every=3600)
    t0 = time.perf_counter()
    for i in range(0, len(ticks), FRAME):
        s.append(ticks[i:i + FRAME])
        if (i // FRAME + 1) % FLUSH_FRAMES == 0:
            s.flush()
    s.close()
    return time.perf_counter() - t0


def _append_only(ticks, root: Path) -> float:
    from tradekit.data.tickstore import TickStore

    s = TickStore(root, flush_every=3600, max_buffer=10**9)
    t0 = time.perf_counter()
    for i in range(0, len(ticks), FRAME):
        s.append(ticks[i:i + FRAME])
    dt = time.perf_counter() - t0
    s._buf.clear()
    return dt


def _pyarrow_run(ticks, root: Path) -> float:
    import pyarrow.parquet as pq

    from tradekit.data.tickstore import _to_table

    step = FRAME * FLUSH_FRAMES
    tables = [_to_table("NSE:X", [0] * len(ticks[i:i + step]), list(range(i, i + len(ticks[i:i + step]))), ticks[i:i + step])
              for i in range(0, len(ticks), step)]  # conversion not timed: the floor is the write itself
    t0 = time.perf_counter()
    for k, t in enumerate(tables):
        pq.write_table(t, root / f"{k}.parquet", compression="zstd")
    return time.perf_counter() - t0


def run() -> dict:
    from tradekit.data.tickstore import TickStore

    ticks = _ticks()
    n = len(ticks)
    res = {"ticks": n}
    for name, fn in (("append_only", _append_only), ("store", _store_run), ("pyarrow_baseline", _pyarrow_run)):
        rates = []
        for _ in range(REPEATS):
            root = Path(tempfile.mkdtemp(prefix="bench-tickstore-"))
            try:
                rates.append(n / fn(ticks, root))
            finally:
                shutil.rmtree(root, ignore_errors=True)
        res[f"{name}_ticks_per_s"] = f"{statistics.median(rates):,.0f}"
    root = Path(tempfile.mkdtemp(prefix="bench-tickstore-"))
    try:
        _store_run(ticks, root)
        st = TickStore(root)
        day = st.days()[0]
        t0 = time.perf_counter()
        k = sum(1 for _ in st.iter_ticks(day))
        res["read_back_ticks_per_s"] = f"{k / (time.perf_counter() - t0):,.0f}"
        res["bytes_per_tick"] = f"{sum(p.stat().st_size for p in root.rglob('*.parquet')) / n:.1f}"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return res


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:>28}: {v}")
