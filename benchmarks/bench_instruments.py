"""Loading a full instrument master (100,000 rows, Kite's dump size): what every command pays.

A dump of 100,000 rows in Kite's format (NSE/BSE equities, NFO/BFO/CDS/MCX options, the real
column layout; synthesised, since no full dump is bundled) is checked and cached once
(``tradekit instruments update``); then, medians of repeats:

- ``load_cached``: :func:`tradekit.market.master.load_master` from the cache (the parsed copy:
  one line per checked row), plus three lookups by key and one by token, as a command does;
- ``check_dump``: the full check of the raw CSV (what the update and a cache without its parsed
  copy pay);
- ``eager_parse`` (baseline): building every :class:`Instrument` up front, as the loader did before
  (``parse_instruments``);
- ``bundled``: the 28-row bundled master, for scale.

Run: ``.venv/bin/python -m benchmarks.bench_instruments``.
"""

from __future__ import annotations

import csv
import io
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

ROWS = 100_000
REPEATS = 5
DAY = date(2026, 12, 4)


def make_dump(n: int = ROWS) -> bytes:
    seg = {"NSE": (1, "NSE"), "BSE": (4, "BSE"), "NFO": (2, "NFO-OPT"), "BFO": (8, "BFO-OPT"), "CDS": (3, "CDS-OPT"),
           "MCX": (5, "MCX-OPT")}
    mix = ["NSE"] * 9 + ["BSE"] * 11 + ["NFO"] * 55 + ["BFO"] * 10 + ["CDS"] * 5 + ["MCX"] * 10
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry", "strike",
                "tick_size", "lot_size", "instrument_type", "segment", "exchange"])
    for i in range(n):
        ex = mix[i % len(mix)]
        sid, segment = seg[ex]
        et = 100_000 + i
        if ex in ("NSE", "BSE"):
            w.writerow([et * 256 + sid, et, f"STOCK{i}", f"STOCK {i} LTD", "0.0", "", "0.0", "0.05", 1, "EQ", segment, ex])
        else:
            u = ("NIFTY", "BANKNIFTY", "SENSEX", "USDINR", "GOLD", "RELIANCE")[i % 6]
            w.writerow([et * 256 + sid, et, f"{u}26DEC{i}{'CE' if i % 2 else 'PE'}", u, "0.0", "2026-12-29",
                        f"{20000 + i}.0", "0.05", 75, "CE" if i % 2 else "PE", segment, ex])
    return buf.getvalue().encode()


def _median(fn, repeats: int = REPEATS) -> float:
    xs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t)
    return statistics.median(xs)


def run() -> dict:
    from tradekit.config import load_config
    from tradekit.market.instruments import InstrumentStore, check_dump, parse_instruments
    from tradekit.market.master import load_master, update_master

    raw = make_dump()
    tmp = Path(tempfile.mkdtemp(prefix="bench-instruments-"))
    try:
        cfg = load_config(None, {"data_dir": str(tmp)})
        update_master(cfg, DAY, fetch=lambda: raw)

        def load():
            store, info = load_master(cfg, DAY)
            assert info.source == "dump" and len(store) >= ROWS
            store.get("NSE:STOCK0")
            store.get("NFO:NIFTY26DEC24PE")
            store.get("MCX:GOLD26DEC94PE")
            store.by_token((100_000 + 17) * 256 + 4)

        return {
            "rows": f"{ROWS:,}",
            "load_cached_ms": round(_median(load) * 1000, 1),
            "check_dump_ms": round(_median(lambda: check_dump(raw), 3) * 1000, 1),
            "eager_parse_ms (baseline)": round(_median(lambda: parse_instruments(raw, as_of=DAY), 3) * 1000, 1),
            "bundled_ms": round(_median(InstrumentStore.bundled) * 1000, 1),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:>28}: {v}")
