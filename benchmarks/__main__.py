"""Run every benchmark and print its figures: ``python -m benchmarks [name ...]`` (or ``make bench``).

Each ``benchmarks/bench_*.py`` exposes ``run() -> dict``; figures are medians of repeats with a
baseline measured in the same run (see each module's docstring for what is measured).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    results = {}
    for name in names:
        mod = importlib.import_module(f"benchmarks.{name}")
        print(f"\n== {name}: {(mod.__doc__ or '').strip().splitlines()[0]}", flush=True)
        t0 = time.perf_counter()
        try:
            res = mod.run()
        except Exception as e:  # one broken benchmark must not hide the others
            print(f"   FAILED: {type(e).__name__}: {e}")
            results[name] = {"error": str(e)}
            continue
        for k, v in res.items():
            print(f"   {k:>34}: {v}")
        print(f"   {'(wall time)':>34}: {time.perf_counter() - t0:.1f} s")
        results[name] = res
    out = here.parent / "var" / "benchmarks.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nfigures saved to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
