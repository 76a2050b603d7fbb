"""The NSE intraday volume curve: the share of a day's volume traded in each minute of the session.

VWAP schedules its children on it. It is *estimated* from data, never written by hand: each
symbol-day's minute volumes are divided by that day's total (so a heavy day does not outweigh a
light one), the shares are averaged over every symbol-day, and the result is normalised to sum
to 1. Sources: the bundled 1-minute bars (``tradekit/data/sample``, or ``/work/shared/data``-style
folders of ``NSE_<SYMBOL>_1min.csv[.gz]``) and, when given, a tick store (``tradekit.data.tickstore``:
minute volumes from the ticks' cumulative day volume).

The session is NSE's normal market 09:15–15:30 IST (375 one-minute bars labelled by their start,
the Kite convention; see ``tradekit/market`` calendar tables and NSE's trading-hours circular).

Rebuild the bundled curve::

    python -m tradekit.execution.algos.volume_curve [--data DIR ...] [--ticks STORE_DIR] [-o FILE]
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from tradekit.clock import IST

SESSION_OPEN = time(9, 15)  # NSE normal market open (equities)
MINUTES = 375  # 09:15 .. 15:29, one-minute bars labelled by their start
CURVE_FILE = Path(__file__).with_name("nse_volume_curve.json")


def minute_of_session(ts: datetime) -> int:
    """0 for 09:15 IST, 374 for 15:29; may be negative or ≥ 375 outside the session."""
    t = ts.astimezone(IST) if ts.tzinfo is not None else ts
    return (t.hour * 60 + t.minute) - (SESSION_OPEN.hour * 60 + SESSION_OPEN.minute)


def _day_shares(minute_volumes: pd.Series) -> np.ndarray | None:
    """One symbol-day's minute volumes (index: minute of session) as shares of the day; None if empty."""
    v = np.zeros(MINUTES)
    idx = minute_volumes.index.to_numpy()
    ok = (idx >= 0) & (idx < MINUTES)
    np.add.at(v, idx[ok].astype(int), minute_volumes.to_numpy(dtype="float64")[ok])
    total = v.sum()
    if total <= 0:
        return None
    return v / total


def shares_from_bars(bars: pd.DataFrame) -> list[np.ndarray]:
    """Per-day shares from a frame of 1-minute bars (DatetimeIndex in IST, a ``volume`` column)."""
    if bars.empty or "volume" not in bars:
        return []
    idx = bars.index.tz_convert(IST) if bars.index.tz is not None else bars.index
    minute = pd.Series((idx.hour * 60 + idx.minute - (9 * 60 + 15)).to_numpy(), index=bars.index)
    out = []
    for _day, grp in bars["volume"].groupby(idx.date):
        s = pd.Series(grp.to_numpy(), index=minute.loc[grp.index].to_numpy())
        sh = _day_shares(s)
        if sh is not None:
            out.append(sh)
    return out


def shares_from_tick_store(store, days: list[date | str] | None = None, keys: list[str] | None = None) -> list[np.ndarray]:
    """Per symbol-day shares from a :class:`~tradekit.data.tickstore.TickStore` (its public ``days``/``keys``/``read``)."""
    out = []
    for day in days if days is not None else store.days():
        for key in keys if keys is not None else store.keys(day):
            df = store.read(day, [key])
            if df.empty or "volume" not in df or df["volume"].isna().all():
                continue
            df = df.dropna(subset=["volume", "ts"])
            cum = df["volume"].astype("int64").to_numpy()
            traded = np.diff(cum, prepend=cum[0])
            traded[traded < 0] = 0  # a counter reset (new day, reconnect): no trade
            ts = pd.DatetimeIndex(df["ts"])
            ts = ts.tz_convert(IST) if ts.tz is not None else ts
            minute = (ts.hour * 60 + ts.minute - (9 * 60 + 15)).to_numpy()
            sh = _day_shares(pd.Series(traded, index=minute))
            if sh is not None:
                out.append(sh)
    return out


def bar_files(folders: list[Path]) -> list[Path]:
    files: list[Path] = []
    for d in folders:
        files += sorted(Path(d).glob("NSE_*_1min.csv*"))
    return files


def build_curve(shares: list[np.ndarray]) -> np.ndarray:
    """The average of per-day shares, normalised (375 values summing to 1)."""
    if not shares:
        raise ValueError("no minute volumes to estimate the curve from")
    c = np.mean(np.vstack(shares), axis=0)
    return c / c.sum()


def rebuild(data: list[Path] | None = None, ticks: Path | None = None, out: Path = CURVE_FILE) -> dict:
    """Estimate the curve from bar folders (default: the bundled sample) and a tick store; write ``out``."""
    from tradekit.data.bars import load_bars

    folders = data or [Path(__file__).resolve().parents[2] / "data" / "sample"]
    shares: list[np.ndarray] = []
    used: list[str] = []
    for f in bar_files(folders):
        s = shares_from_bars(load_bars(f))
        if s:  # indices carry volume 0 and drop out here
            shares += s
            used.append(f.name.split("_")[1])
    n_bar_days = len(shares)
    if ticks is not None:
        from tradekit.data.tickstore import TickStore

        shares += shares_from_tick_store(TickStore(ticks))
    curve = build_curve(shares)
    doc = {
        "what": "share of the day's volume traded in each minute of NSE's normal session (09:15..15:29 IST, bar start)",
        "how": "per symbol-day minute volume / day volume, averaged over symbol-days, normalised to sum 1",
        "sources": {"bars": sorted(set(used)), "bar_symbol_days": n_bar_days, "tick_symbol_days": len(shares) - n_bar_days},
        "built": datetime.now(IST).isoformat(timespec="seconds"),
        "minutes": [round(float(x), 8) for x in curve],
    }
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    load_curve.cache_clear()
    return doc


@lru_cache(maxsize=4)
def load_curve(path: str | None = None) -> tuple[float, ...]:
    """The curve (375 shares); built from the bundled bars on first use if the file is missing."""
    p = Path(path) if path else CURVE_FILE
    if not p.exists():
        if path:
            raise FileNotFoundError(f"{p}: no volume curve (build one with python -m tradekit.execution.algos.volume_curve)")
        rebuild()
    mins = json.loads(p.read_text(encoding="utf-8"))["minutes"]
    if len(mins) != MINUTES:
        raise ValueError(f"{p}: a volume curve has {MINUTES} minutes, not {len(mins)}")
    return tuple(float(x) for x in mins)


def window_share(curve, first: int, last: int) -> float:
    """Sum of the curve over minutes ``first`` .. ``last - 1`` (clipped to the session)."""
    a, b = max(0, first), min(MINUTES, last)
    return float(sum(curve[a:b])) if b > a else 0.0


def main(argv: list[str] | None = None) -> int:
    import argparse  # the rebuild command only: a session that loads the curve never needs it

    ap = argparse.ArgumentParser(prog="python -m tradekit.execution.algos.volume_curve",
                                 description="Rebuild the NSE intraday volume curve VWAP uses.")
    ap.add_argument("--data", action="append", type=Path, help="folder of NSE_<SYMBOL>_1min.csv[.gz] (repeatable)")
    ap.add_argument("--ticks", type=Path, help="a tick store folder to add")
    ap.add_argument("-o", "--out", type=Path, default=CURVE_FILE)
    a = ap.parse_args(argv)
    for d in a.data or []:
        if not d.is_dir():
            print(f"volume_curve: --data {d}: not a folder", file=sys.stderr)
            return 2
    try:
        doc = rebuild(a.data, a.ticks, a.out)
    except (ValueError, OSError) as e:
        print(f"volume_curve: {e}", file=sys.stderr)
        return 1
    src = doc["sources"]
    print(f"{a.out}: {MINUTES} minutes from {src['bar_symbol_days']} bar symbol-days ({', '.join(src['bars'])}) "
          f"and {src['tick_symbol_days']} tick symbol-days")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
