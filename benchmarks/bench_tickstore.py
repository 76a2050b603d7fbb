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

Many instruments (``wide_*``): flushes of ``WIDE_KEYS`` (500) instruments × ``WIDE_TICKS`` (3)
full-mode ticks each, the store's layout (one Parquet file per flush holding every instrument,
sorted by instrument) against the earlier layout (one file per instrument per flush, each
written tmp + fsync + rename), both measured here in the same run: flush latency p50/p99 and
ticks/s. Then compaction: ``WIDE_FLUSHES`` flush files of a day merged into one day file, and
the time to read one instrument of that day before and after compaction.
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


WIDE_KEYS = 500
WIDE_TICKS = 3
WIDE_REPEATS = 12  # old-layout flushes (each ~1.5 s)
WIDE_NEW = 60  # store flushes
WIDE_FLUSHES = 120


def _wide_frames(n_frames: int) -> list[list]:
    """``n_frames`` flushes' worth of ticks: every instrument ``WIDE_TICKS`` times, full mode with depth."""
    from datetime import timedelta

    from tradekit.data import load_bars, sample_path
    from tradekit.data.synth import ticks_from_bars

    base = list(ticks_from_bars(load_bars(sample_path("INFY", "1min")).iloc[:n_frames], "NSE:INFY"))
    frames = []
    for f in range(n_frames):
        proto = base[(f * 4) % len(base)]
        frames.append([proto._replace(key=f"NSE:S{k:03d}", instrument_token=1000 + k,
                                      ts=proto.ts + timedelta(milliseconds=k + 1000 * j))
                       for j in range(WIDE_TICKS) for k in range(WIDE_KEYS)])
    return frames


def _old_layout_flush(root: Path, buf: list, seq: list[int]) -> None:
    """The earlier layout's flush: one Parquet part per instrument, each tmp + fsync + rename."""
    import os
    from urllib.parse import quote

    import pyarrow.parquet as pq

    from tradekit.data._tickarrow import _to_table

    groups: dict[str, tuple[list, list, list]] = {}
    for recv, t in buf:
        seq[0] += 1
        g = groups.setdefault(t.key, ([], [], []))
        g[0].append(recv)
        g[1].append(seq[0])
        g[2].append(t)
    for key, (recvs, seqs, ticks) in groups.items():
        folder = root / "2026-01-01" / quote(key, safe="-_.&")
        folder.mkdir(parents=True, exist_ok=True)
        seq[1] += 1
        path = folder / f"p-{seq[1]:012d}.parquet"
        tmp = folder / f".{path.name}.tmp"
        pq.write_table(_to_table(key, recvs, seqs, ticks), tmp, compression="zstd")
        fd = os.open(tmp, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        os.replace(tmp, path)


def _wide(res: dict) -> None:
    import time as _t

    from benchmarks._stats import latency_stats
    from tradekit.data.tickstore import TickStore

    frames = _wide_frames(max(WIDE_NEW + 1, WIDE_FLUSHES))
    per = WIDE_KEYS * WIDE_TICKS
    res["wide_ticks_per_flush"] = f"{per:,} ({WIDE_KEYS} instruments x {WIDE_TICKS})"
    root = Path(tempfile.mkdtemp(prefix="bench-tickstore-"))
    try:
        old, new = [], []
        seq = [0, 0]
        s = TickStore(root / "new", flush_every=3600, compact_at=0)
        s.append(frames[-1])
        s.flush(compact=False)  # warm-up (the first write takes the lock, makes the day folder)
        _old_layout_flush(root / "old", [(0, t) for t in frames[-1]], seq)
        for i in range(WIDE_NEW):  # interleaved: both layouts see the same disk and load
            if i < WIDE_REPEATS:
                buf = [(0, t) for t in frames[i]]
                t0 = _t.perf_counter()
                _old_layout_flush(root / "old", buf, seq)
                old.append(_t.perf_counter() - t0)
            s.append(frames[i])
            t0 = _t.perf_counter()
            s.flush(compact=False)
            new.append(_t.perf_counter() - t0)
        for name, xs in (("old_layout", old), ("store", new)):
            st = latency_stats(xs, (50, 99))
            res[f"wide_{name}_flush_p50_p99_ms"] = f"{st['p50_ms']} / {st['p99_ms']}"
            res[f"wide_{name}_ticks_per_s"] = f"{per * len(xs) / sum(xs):,.0f}"
        s.close()
        s = TickStore(root / "day", flush_every=3600, compact_at=0)
        for fr in frames[:WIDE_FLUSHES]:
            s.append(fr)
            s.flush(compact=False)
        day = s.days()[0]
        t0 = _t.perf_counter()
        one_before = sum(1 for _ in s.iter_ticks(day, ["NSE:S123"]))
        read_before = _t.perf_counter() - t0
        t0 = _t.perf_counter()
        s.compact(day)
        dt = _t.perf_counter() - t0
        t0 = _t.perf_counter()
        one_after = sum(1 for _ in s.iter_ticks(day, ["NSE:S123"]))
        read_after = _t.perf_counter() - t0
        assert one_before == one_after == WIDE_FLUSHES * WIDE_TICKS
        n = WIDE_FLUSHES * per
        res["compaction_day"] = f"{WIDE_FLUSHES} flush files, {n:,} ticks -> 1 file in {dt:.2f} s ({n / dt:,.0f} ticks/s)"
        res["one_instrument_read_ms"] = f"{read_before * 1000:.0f} before, {read_after * 1000:.0f} after compaction"
        s.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


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
    _wide(res)
    return res


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:>28}: {v}")
