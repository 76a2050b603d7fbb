"""Kite tick parsing: tradekit's vectorised parser against the official client's parser.

Frames are built from real NSE minute bars (the bundled sample data): each bar's close is the
last price, with a 5-level book around it, 250 packets per frame as the ticker sends for a
busy subscription. The official ``KiteTicker._parse_binary`` is timed in the same run on the
same frames. Figures are ticks per second, the median of several repeats.

Two of ours are measured: ``columns`` (numpy columns, :func:`parse_columns`, what a hot loop
uses) and ``ticks`` (``Tick`` objects, :func:`parse_frame`).

Run: ``.venv/bin/python -m benchmarks.bench_ticks`` (or ``python benchmarks/bench_ticks.py``).
"""

from __future__ import annotations

import random
import statistics
import time

PACKETS_PER_FRAME = 250
FRAMES = 40
REPEATS = 7


def _frames(mode: str, seed: int = 1) -> list[bytes]:
    from tradekit.brokers.kite.ticks import encode_ticks
    from tradekit.clock import IST
    from tradekit.data.bars import load_bars, sample_path
    from tradekit.data.types import DepthLevel, Tick

    rng = random.Random(seed)
    symbols = {"RELIANCE": 738561, "INFY": 408065, "SBIN": 779521, "TCS": 2953217, "WIPRO": 969473}
    series = []
    for sym, token in symbols.items():
        df = load_bars(sample_path(sym, "1min")).iloc[:2000]
        series.append((token, df))
    frames = []
    for f in range(FRAMES):
        ticks = []
        for k in range(PACKETS_PER_FRAME):
            token, df = series[k % len(series)]
            row = df.iloc[(f * PACKETS_PER_FRAME + k) % len(df)]
            ts = df.index[(f * PACKETS_PER_FRAME + k) % len(df)].to_pydatetime().astimezone(IST)
            px = float(row["close"])
            tick = round(0.05 * rng.randint(1, 4), 2)
            bids = tuple(DepthLevel(round(px - tick * (i + 1), 2), rng.randint(1, 5000), rng.randint(1, 40)) for i in range(5))
            asks = tuple(DepthLevel(round(px + tick * (i + 1), 2), rng.randint(1, 5000), rng.randint(1, 40)) for i in range(5))
            ticks.append(Tick(
                None, ts, px, token, mode, True, rng.randint(1, 500), round(px * 0.999, 2), int(row["volume"]) * 40,
                rng.randint(1, 10**6), rng.randint(1, 10**6), float(row["open"]), float(row["high"]),
                float(row["low"]), float(row["close"]) * 0.99, None, ts, 0, 0, 0, bids, asks,
            ))
        frames.append(encode_ticks(ticks, mode))
    return frames


def _rate(fn, frames: list[bytes]) -> float:
    """Median ticks/s of ``fn`` over all frames, across REPEATS."""
    n = len(frames) * PACKETS_PER_FRAME
    rates = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for fr in frames:
            fn(fr)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def run() -> dict:
    """Measure and print ticks/s per mode; return the figures and the ratios."""
    from kiteconnect import KiteTicker

    from tradekit.brokers.kite.ticks import parse_columns, parse_frame

    official = KiteTicker("bench", "bench")._parse_binary
    out: dict = {"packets_per_frame": PACKETS_PER_FRAME, "frames": FRAMES, "repeats": REPEATS}
    for mode in ("full", "quote", "ltp"):
        frames = _frames(mode)
        base = _rate(official, frames)
        cols = _rate(parse_columns, frames)
        objs = _rate(parse_frame, frames)
        out[mode] = {
            "official_ticks_per_s": round(base),
            "columns_ticks_per_s": round(cols),
            "tick_objects_ticks_per_s": round(objs),
            "columns_ratio": round(cols / base, 1),
            "tick_objects_ratio": round(objs / base, 2),
        }
        print(
            f"{mode:>5}: official {base:>12,.0f}/s | ours columns {cols:>13,.0f}/s ({cols / base:5.1f}x) | "
            f"ours Tick objects {objs:>11,.0f}/s ({objs / base:4.2f}x)"
        )
    out["target_met_columns"] = all(out[m]["columns_ratio"] >= 5 for m in ("full", "quote", "ltp"))
    print(f"target >= 5x (columns, every mode): {'met' if out['target_met_columns'] else 'NOT met'}")
    return out


if __name__ == "__main__":
    run()
