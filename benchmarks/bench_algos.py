"""Execution quality: TWAP, VWAP and POV against one MARKET order at arrival (implementation shortfall, bps).

On the bundled real NSE minute bars (2016; several symbols and days), one BUY parent per
symbol-day arrives at 10:00 IST for ``QTY_SHARE`` of that day's traded volume and is worked until
11:00 by each method through the real session (risk gate, OMS, journal) and the paper broker's
fill model — the same for all four: at most ``participation`` (10 %) of a bar's volume per
order per bar, square-root volume impact (``paper.slippage.model: volume_impact``, 2 bps +
50 bps × √(quantity / bar volume)), fills kept inside the bar's range, 50 ms latency.

Implementation shortfall per run, in basis points of the arrival price (the close of the 09:59
bar, what the trader saw when deciding)::

    IS = (Σ fill qty × fill price + unfilled × close at 11:05 − Q × arrival) / (Q × arrival) × 10,000

(unfilled quantity is charged at the price after the window: the cost of not trading). Charges
are the same for every method and left out. Positive = worse than arrival. The table prints
each symbol-day side by side and the mean and median per method; the baseline, measured in the
same run, is the MARKET order at arrival.
"""

from __future__ import annotations

import statistics
import tempfile
from datetime import time as dtime, timedelta
from pathlib import Path

SYMBOLS = ("RELIANCE", "INFY", "TCS", "SBIN")
DAYS_PER_SYMBOL = 3
QTY_SHARE = 0.005  # the parent is 0.5 % of the day's volume (about 5 % of the 10:00-11:00 volume)
ARRIVAL, END = dtime(10, 0), dtime(11, 0)
METHODS = ("market", "twap", "vwap", "pov")
POV_PARTICIPATION = 0.08


def _config():
    from tradekit.config import load_config

    return load_config(overrides={
        "account": {"capital": 1e10},
        "execution": {"charges_as_of": "2026-11-20", "square_off_time": None},
        "paper": {"participation": 0.10, "latency_ms": 50, "rms_square_off": False,
                  "slippage": {"model": "volume_impact", "bps": 2.0, "impact_bps": 50.0}},
        "risk": {"money": {"max_order_value_pct": None, "max_order_quantity": None}, "var": {"limit_pct": None},
                 "exposure": {"max_concentration_pct": None, "max_gross_exposure_pct": None,
                              "max_net_exposure_pct": None, "max_sector_pct": None},
                 "loss": {"adverse_move_pct": None},
                 "breakers": {"volatility_ratio": 1000, "volatility_move_pct": None}},
    })


def run_one(symbol: str, day_bars, method: str, cfg, workdir: Path) -> dict:
    """One parent on one symbol-day; returns its fills and the reference prices."""
    from tradekit.data.types import Tick
    from tradekit.model import OrderRequest
    from tradekit.session import Session
    from tradekit.store import EventType as E

    key = f"NSE:{symbol}"
    qty = max(1, int(day_bars["volume"].sum() * QTY_SHARE))
    first = day_bars.index[0].to_pydatetime()
    s = Session.for_replay(cfg, workdir / f"{symbol}-{method}.db", first)
    clock = s.clock
    cum = 0
    arrival_px = after_px = None
    stop_at = None
    try:
        for ts, o, h, lo, c, v in zip(day_bars.index, day_bars["open"], day_bars["high"], day_bars["low"],
                                      day_bars["close"], day_bars["volume"]):
            start = ts.to_pydatetime()
            end = start + timedelta(minutes=1)
            clock.set(max(start, clock.now()))
            s.broker.on_bar(key, start, end, float(o), float(h), float(lo), float(c), int(v))
            clock.set(max(end, clock.now()))
            cum += int(v)
            s.market.on_ticks([Tick(key, end, float(c), None, "quote", last_quantity=int(v), volume=cum)], "paper")
            if end.time() == ARRIVAL:
                arrival_px = float(c)
                stop_at = end.replace(hour=END.hour, minute=END.minute) + timedelta(minutes=5)
                req = OrderRequest("NSE", symbol, "BUY", qty, "MARKET", "MIS")
                meta = None
                if method != "market":
                    spec = {"kind": method, "start": ARRIVAL.strftime("%H:%M"), "end": END.strftime("%H:%M")}
                    if method == "pov":
                        spec["participation"] = POV_PARTICIPATION
                    meta = {"algo": spec}
                s.submit(req, strategy=method, meta=meta)
            if stop_at is not None and end >= stop_at:
                after_px = float(c)
                break
        fills = [(int(p["quantity"]), float(p["price"])) for p in (e.payload for e in s.journal.events(types=(E.FILL,)))]
    finally:
        s.close()
    filled = sum(q for q, _ in fills)
    cost = sum(q * p for q, p in fills) + (qty - filled) * after_px
    is_bps = (cost - qty * arrival_px) / (qty * arrival_px) * 1e4
    return {"qty": qty, "filled": filled, "is_bps": is_bps}


def run() -> dict:
    from tradekit.data import load_bars, sample_path

    cfg = _config()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        for sym in SYMBOLS:
            bars = load_bars(sample_path(sym, "1min"))
            days = sorted(set(bars.index.date))[:DAYS_PER_SYMBOL]
            for day in days:
                day_bars = bars[bars.index.date == day]
                res = {m: run_one(sym, day_bars, m, cfg, work / f"{sym}-{day}") for m in METHODS}
                rows.append((sym, day, res))
    head = f"{'symbol':<9} {'day':<10} {'qty':>7} " + " ".join(f"{m.upper():>14}" for m in METHODS)
    print("   implementation shortfall vs arrival, bps (filled/qty when short); BUY 0.5 % of the day's volume, "
          "10:00-11:00 IST")
    print("   " + head)
    for sym, day, res in rows:
        cells = []
        for m in METHODS:
            r = res[m]
            short = "" if r["filled"] == r["qty"] else f" ({r['filled'] * 100 // r['qty']}%)"
            cells.append(f"{r['is_bps']:+8.2f}{short:>6}")
        print(f"   {sym:<9} {day!s:<10} {res['market']['qty']:>7} " + " ".join(f"{c:>14}" for c in cells))
    out = {"symbol-days": len(rows)}
    for m in METHODS:
        vals = [res[m]["is_bps"] for _s, _d, res in rows]
        out[f"{m} IS mean (bps)"] = round(statistics.fmean(vals), 2)
        out[f"{m} IS median (bps)"] = round(statistics.median(vals), 2)
        out[f"{m} fully filled"] = f"{sum(res[m]['filled'] == res[m]['qty'] for _s, _d, res in rows)}/{len(rows)}"
    return out


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:>30}: {v}")
