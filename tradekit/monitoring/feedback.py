"""Feedback to the strategy engine: one JSON file per strategy per day, written by the EOD stage.

``<run folder>/feedback/<strategy>.json`` (documented in ``tradekit/signals/README.md``, next to the
signal schema)::

    {"schema": 1, "day": "2016-08-17", "mode": "paper", "strategy": "sma",
     "orders": 34, "fills": 32, "ordered_qty": 340, "filled_qty": 320, "fill_rate_pct": 94.1,
     "slippage_bps": 1.8,                       # quantity-weighted, fill vs the signal's decision price
     "shortfall": {"delay_inr": "…", "trading_inr": "…", "opportunity_inr": "…", "fees_inr": "…",
                   "total_inr": "…", "total_bps": 12.3, "unmeasured_orders": 0},
     "latency_ms": {"order_to_ack": {"p50": …, "p95": …, "p99": …}, "signal_to_fill": {…}},
     "pnl": {"gross_inr": "…", "charges_inr": "…", "net_inr": "…"}}

Money is a string of rupees (exact); ratios are numbers; a figure that cannot be measured is null.
A strategy with no orders that day gets no file.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from tradekit.model.money import ZERO
from tradekit.monitoring.analytics import fill_slippage
from tradekit.monitoring.execution import implementation_shortfall, latency_breakdown, shortfall_summary

SCHEMA = 1
FEEDBACK_DIR = "feedback"


def _num(x):
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else round(x, 4)


def _pct(v: pd.Series) -> dict:
    v = v.astype("float64").dropna()
    return {f"p{q}": (round(float(np.percentile(v, q)), 3) if len(v) else None) for q in (50, 95, 99)} | {"count": len(v)}


def strategy_feedback(events, day: date, mode: str) -> dict[str, dict]:
    """``{strategy: feedback dict}`` for the day's events (see the module docstring)."""
    from tradekit.monitoring.perf import JournalSource, daily_pnl

    evs = list(events)
    sf = implementation_shortfall(evs)
    slip = fill_slippage(evs)
    lat = latency_breakdown(evs)
    pnl = daily_pnl([JournalSource(Path("."), mode, Decimal(0), evs)], day, day)
    out = {}
    for strat in sorted(set(sf["strategy"]) | set(lat["strategy"])):
        g = sf[sf["strategy"] == strat]
        s = shortfall_summary(g, "strategy")
        s = s.iloc[0] if len(s) else None
        f = slip[slip["strategy"] == strat]
        bps, q = f["slippage_bps"].astype("float64"), f["quantity"].astype("float64")
        ok = bps.notna()
        lg = lat[lat["strategy"] == strat]
        p = pnl[pnl["strategy"] == strat]
        ordered, filled = int(g["ordered_qty"].sum()), int(g["filled_qty"].sum())
        out[strat or "(none)"] = {
            "schema": SCHEMA, "day": day.isoformat(), "mode": mode, "strategy": strat,
            "orders": len(g), "fills": len(f), "ordered_qty": ordered, "filled_qty": filled,
            "fill_rate_pct": _num(100 * filled / ordered) if ordered else None,
            "slippage_bps": _num((bps[ok] * q[ok]).sum() / q[ok].sum()) if ok.any() and q[ok].sum() else None,
            "shortfall": None if s is None else {
                "delay_inr": str(s["delay_cost"]), "trading_inr": str(s["trading_cost"]),
                "opportunity_inr": str(s["opportunity_cost"]), "fees_inr": str(s["fees"]),
                "total_inr": str(s["total"]), "total_bps": _num(s["total_bps"]), "unmeasured_orders": int(s["unmeasured"])},
            "latency_ms": {"order_to_ack": _pct(lg["order_ms"]), "signal_to_fill": _pct(lg["total_ms"])},
            "pnl": {"gross_inr": str(sum(p["gross"], ZERO)), "charges_inr": str(sum(p["charges"], ZERO)),
                    "net_inr": str(sum(p["net"], ZERO))},
        }
    return out


def write_feedback(events, day: date, mode: str, run_dir: str | Path) -> dict[str, Path]:
    """Write ``<run_dir>/feedback/<strategy>.json`` for each strategy of the day; return the paths."""
    folder = Path(run_dir) / FEEDBACK_DIR
    paths = {}
    for strat, data in strategy_feedback(events, day, mode).items():
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", strat) or "_"
        p = folder / f"{name}.json"
        p.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths[strat] = p
    return paths
