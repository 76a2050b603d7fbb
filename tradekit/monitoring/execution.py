"""Execution quality from the journal: implementation shortfall, latency by stage, the seed's targets.

- :func:`implementation_shortfall` — one row per order: decision price (the signal's
  ``reference_price``), arrival price (the market when the order was created: ``order.created``'s
  ``reference_price``, else the last bar close), the fills, the opportunity cost of what did not
  fill (at the last ``mark`` of the period, else the last bar close) and the charges, in ₹ and bps
  of the decision value. The decomposition (Perold's paper portfolio) sums exactly::

      delay       = s · (arrival − decision) · filled · m
      trading     = s · Σ (fill price − arrival) · fill qty · m
      opportunity = s · (close − decision) · (ordered − filled) · m
      fees        = Σ charges of the fills
      total       = delay + trading + opportunity + fees

  with ``s`` = +1 for a buy, −1 for a sell (positive = cost to the trader). Without a decision
  price the arrival price stands in (``decision_source = "arrival"``, delay 0); without either the
  order's shortfall is not measurable (``None``) and only its fees count.
- :func:`shortfall_summary` — the same summed per strategy, per symbol, or per (strategy, symbol).
- :func:`latency_breakdown`, :func:`latency_stats` — per order: signal received → created → risk
  decision → approved → submitted → broker acknowledgement → first fill (ms), and p50/p95/p99 by stage.
- :func:`success_metrics`, :func:`success_trend` — slippage < 5 bps, fill rate > 99 %, order latency
  < 100 ms, uptime > 99.9 %, met or not, per day.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from datetime import time as dtime
from decimal import Decimal

import numpy as np
import pandas as pd

from tradekit.clock import IST
from tradekit.model.charges import Charges
from tradekit.model.money import ZERO, dec
from tradekit.monitoring.analytics import closes_by_key, fill_slippage, price_at
from tradekit.store.events import EventType as E

BPS = Decimal(10_000)
TERMINAL = {"COMPLETE", "CANCELLED", "REJECTED", "EXPIRED", "LAPSED"}

SHORTFALL_COLUMNS = [
    "client_order_id", "strategy", "key", "side", "ordered_qty", "filled_qty", "unfilled_qty", "status",
    "decision_price", "decision_source", "arrival_price", "avg_fill_price", "close_price", "close_source",
    "decision_value", "delay_cost", "trading_cost", "opportunity_cost", "fees", "total",
    "delay_bps", "trading_bps", "opportunity_bps", "fees_bps", "total_bps", "children",
]
_COSTS = ("delay_cost", "trading_cost", "opportunity_cost", "fees", "total")


def _ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s).tz_convert(IST)


def _bps(x: Decimal | None, base: Decimal | None) -> float:
    return float(x / base * BPS) if x is not None and base else math.nan


def implementation_shortfall(events: Iterable, *, bars=None, sent_only: bool = True,
                             rollup: bool = True) -> pd.DataFrame:
    """One row per order (see the module docstring for the arithmetic).

    ``sent_only`` keeps orders that reached the broker (``order.submitted``; a parent: one of its
    children); orders the gate or a person refused never traded and are not the execution's
    shortfall. Money is ``Decimal``.

    ``rollup`` (default): a parent order worked as children (freeze-quantity slices, a TWAP/VWAP/POV
    algo: ``slice.started`` / ``algo.started``, children with ``parent_id``) is ONE row, measured as
    the trader's decision: the parent's decision price (its signal's), its arrival (the market when
    the parent was created), every child's fills weighted by quantity against that arrival, the
    opportunity cost of the parent's quantity no child filled, and all the children's charges. Its
    ``children`` column counts them; the children have no rows of their own. ``rollup=False``: each
    child is a row against its own arrival (the parent then has none: it never traded itself).
    """
    closes = closes_by_key(bars)
    signals: dict[str, dict] = {}
    orders: dict[str, dict] = {}
    last_mark: dict[str, Decimal] = {}
    for ev in events:
        p = ev.payload
        t = ev.type
        if t == E.SIGNAL_RECEIVED and p.get("signal_id"):
            signals[p["signal_id"]] = p
        elif t == E.ORDER_CREATED:
            req = p.get("request") or {}
            key = f"{req.get('exchange')}:{req.get('tradingsymbol')}"
            sig = signals.get(p.get("signal_id") or "") or {}
            ts = _ts(ev.ts)
            arrival = p.get("reference_price")
            if arrival is None:
                arrival = price_at(closes, key, ts.value)
            orders[p["client_order_id"]] = {
                "client_order_id": p["client_order_id"], "strategy": p.get("strategy", ""), "key": key,
                "side": req.get("side"), "ordered_qty": int(req.get("quantity") or 0),
                "multiplier": int(p.get("multiplier") or req.get("multiplier") or 1),
                "decision": None if sig.get("reference_price") is None else dec(sig["reference_price"], "reference_price"),
                "arrival": None if arrival is None else dec(arrival, "reference_price"),
                "sent": False, "status": "CREATED", "fills": [], "fees": ZERO,
                "parent_id": p.get("parent_id"), "children": 0,
            }
        elif t in (E.SLICE_STARTED, E.ALGO_STARTED, E.SLICE_MODIFIED, E.ALGO_MODIFIED):
            o = orders.get(p.get("client_order_id") or "")
            if o:
                o["parent"] = True
                if t in (E.SLICE_STARTED, E.ALGO_STARTED):
                    o["status"] = "SLICED"
                if p.get("quantity") is not None and t in (E.SLICE_MODIFIED, E.ALGO_MODIFIED):
                    o["ordered_qty"] = int(p["quantity"])  # the parent's new total
        elif t in (E.SLICE_COMPLETED, E.ALGO_COMPLETED, E.SLICE_CANCELLED, E.ALGO_CANCELLED):
            o = orders.get(p.get("client_order_id") or "")
            if o and p.get("status"):
                o["status"] = p["status"]
        elif t == E.ORDER_SUBMITTED:
            o = orders.get(p.get("client_order_id") or "")
            if o:
                o["sent"] = True
                o["status"] = "SUBMITTED"
        elif t == E.ORDER_UPDATE:
            o = orders.get(p.get("client_order_id") or "")
            if o and p.get("status"):
                o["status"] = p["status"]
        elif t == E.FILL:
            o = orders.get(p.get("client_order_id") or "")
            if o:
                o["fills"].append((int(p["quantity"]), dec(p["price"], "price")))
                o["multiplier"] = int(p.get("multiplier", o["multiplier"]))
                o["fees"] += Charges.from_dict(p.get("charges")).total
                last_mark[f"{p['exchange']}:{p['tradingsymbol']}"] = dec(p["price"], "price")
        elif t == E.MARK:
            for k, v in (p.get("prices") or {}).items():
                last_mark[k] = dec(v, "mark")
    end_ns = max((c[0][-1] for c in closes.values() if len(c[0])), default=None)
    if rollup:
        for o in orders.values():
            par = orders.get(o["parent_id"] or "")
            if par is None:
                continue
            par["children"] += 1
            par["fills"] += o["fills"]
            par["fees"] += o["fees"]
            par["sent"] = par["sent"] or o["sent"]
            par["multiplier"] = o["multiplier"] if o["fills"] else par["multiplier"]
    rows = []
    for o in orders.values():
        if rollup and o["parent_id"] in orders:
            continue  # in its parent's row
        if not rollup and o.get("parent"):
            continue  # it never traded itself: its children are the rows
        if sent_only and not o["sent"]:
            continue
        rows.append(_shortfall_row(o, last_mark, closes, end_ns))
    df = pd.DataFrame(rows, columns=SHORTFALL_COLUMNS)
    return df


def _shortfall_row(o: dict, last_mark: dict, closes: dict, end_ns) -> dict:
    s = 1 if o["side"] == "BUY" else -1
    m = o["multiplier"]
    Q = o["ordered_qty"]
    q = sum(x for x, _ in o["fills"])
    unfilled = max(Q - q, 0)
    decision, src = o["decision"], "signal"
    arrival = o["arrival"]
    if decision is None:
        decision, src = arrival, ("arrival" if arrival is not None else "none")
    if arrival is None:
        arrival = decision
    close, csrc = last_mark.get(o["key"]), "mark"
    if close is None and end_ns is not None:
        px = price_at(closes, o["key"], int(end_ns))
        close, csrc = (None, "none") if px is None else (dec(px, "close"), "bar_close")
    elif close is None:
        csrc = "none"
    fees = o["fees"]
    row = {"client_order_id": o["client_order_id"], "strategy": o["strategy"], "key": o["key"], "side": o["side"],
           "ordered_qty": Q, "filled_qty": q, "unfilled_qty": unfilled, "status": o["status"],
           "decision_price": decision, "decision_source": src, "arrival_price": o["arrival"],
           "avg_fill_price": (sum(x * p for x, p in o["fills"]) / q) if q else None,
           "close_price": close, "close_source": csrc, "fees": fees, "children": o["children"]}
    if decision is None:
        row.update(decision_value=None, delay_cost=None, trading_cost=None, opportunity_cost=None, total=None)
    else:
        delay = s * (arrival - decision) * q * m
        trading = s * sum((p - arrival) * x for x, p in o["fills"]) * m if q else ZERO
        if unfilled == 0:
            opp = ZERO
        elif close is None:
            opp = None
        else:
            opp = s * (close - decision) * unfilled * m
        total = None if opp is None else delay + trading + opp + fees
        row.update(decision_value=decision * Q * m, delay_cost=delay, trading_cost=trading, opportunity_cost=opp, total=total)
    base = row["decision_value"]
    for c in _COSTS:
        row[("fees" if c == "fees" else c.replace("_cost", "")) + "_bps"] = _bps(row[c], base)
    return row


def shortfall_summary(shortfall: pd.DataFrame, by: str | list[str] = "strategy") -> pd.DataFrame:
    """Sum the shortfall per ``by`` (``"strategy"``, ``"key"`` or both): ₹ and bps of the decision value.

    Orders whose shortfall is not measurable are counted in ``orders`` and left out of the sums
    (``unmeasured`` says how many).
    """
    by = [by] if isinstance(by, str) else list(by)
    cols = [*by, "orders", "unmeasured", "ordered_qty", "filled_qty", "decision_value", *_COSTS,
            "delay_bps", "trading_bps", "opportunity_bps", "fees_bps", "total_bps"]
    rows = []
    if not len(shortfall):
        return pd.DataFrame(columns=cols)
    for k, g in shortfall.groupby(by, sort=True):
        k = k if isinstance(k, tuple) else (k,)
        ok = g[g["total"].notna()]
        r = dict(zip(by, k))
        r.update(orders=len(g), unmeasured=len(g) - len(ok), ordered_qty=int(g["ordered_qty"].sum()),
                 filled_qty=int(g["filled_qty"].sum()), decision_value=sum(ok["decision_value"], ZERO))
        for c in _COSTS:
            r[c] = sum(ok[c], ZERO)
        for c in _COSTS:
            r[("fees" if c == "fees" else c.replace("_cost", "")) + "_bps"] = _bps(r[c], r["decision_value"])
        rows.append(r)
    return pd.DataFrame(rows, columns=cols)


# -- latency -------------------------------------------------------------------------------------
STAGES = ["signal", "created", "risk", "approved", "submitted", "ack", "first_fill"]
STAGE_NAMES = {"created": "signal → created", "risk": "created → risk decision", "approved": "risk → approved",
               "submitted": "approved → submitted", "ack": "submitted → broker ack", "first_fill": "ack → first fill"}


def latency_breakdown(events: Iterable) -> pd.DataFrame:
    """One row per order: the time of each stage and the milliseconds each stage took.

    The broker acknowledgement is the first ``order.update`` after submission (it carries the
    broker's order id or status). A stage that did not happen is NaN; the next one then runs from
    the last stage that did. ``total_ms`` runs from the signal (else the order) to the first fill
    (else the acknowledgement).
    """
    signals: dict[str, pd.Timestamp] = {}
    orders: dict[str, dict] = {}
    for ev in events:
        p = ev.payload
        cid = p.get("client_order_id")
        t = ev.type
        if t == E.SIGNAL_RECEIVED and p.get("signal_id"):
            signals[p["signal_id"]] = _ts(ev.ts)
        elif t == E.ORDER_CREATED:
            orders[cid] = {"client_order_id": cid, "strategy": p.get("strategy", ""),
                           "key": "{exchange}:{tradingsymbol}".format(**{"exchange": None, "tradingsymbol": None,
                                                                          **(p.get("request") or {})}),
                           "signal": signals.get(p.get("signal_id") or ""), "created": _ts(ev.ts)}
        elif cid in orders:
            o = orders[cid]
            stage = {E.RISK_DECISION: "risk", E.APPROVAL_GRANTED: "approved", E.ORDER_SUBMITTED: "submitted",
                     E.FILL: "first_fill"}.get(t)
            if t == E.ORDER_UPDATE and "submitted" in o:
                stage = "ack"
            if stage and stage not in o:
                o[stage] = _ts(ev.ts)
    rows = []
    for o in orders.values():
        r = {k: o.get(k) for k in ("client_order_id", "strategy", "key", *STAGES)}
        prev = r["signal"]
        for st in STAGES[1:]:
            cur = r[st]
            r[f"{st}_ms"] = (cur - prev).total_seconds() * 1000 if cur is not None and prev is not None else math.nan
            if cur is not None:
                prev = cur
        start = r["signal"] or r["created"]
        end = r["first_fill"] or r["ack"]
        r["total_ms"] = (end - start).total_seconds() * 1000 if end is not None else math.nan
        r["order_ms"] = ((r["ack"] - r["created"]).total_seconds() * 1000
                         if r["ack"] is not None and r["created"] is not None else math.nan)
        rows.append(r)
    cols = ["client_order_id", "strategy", "key", *STAGES, *[f"{s}_ms" for s in STAGES[1:]], "total_ms", "order_ms"]
    return pd.DataFrame(rows, columns=cols)


def latency_stats(latency: pd.DataFrame) -> pd.DataFrame:
    """p50/p95/p99 (and count, mean, max) in ms for each stage, the created → ack order latency and the total."""
    rows = []
    for st in [*STAGES[1:], "order", "total"]:
        col = f"{st}_ms"
        v = latency[col].astype("float64").dropna() if len(latency) else pd.Series(dtype="float64")
        name = STAGE_NAMES.get(st, {"order": "created → broker ack", "total": "signal → first fill"}.get(st))
        rows.append({"stage": name, "count": len(v),
                     **{f"p{q}": float(np.percentile(v, q)) if len(v) else math.nan for q in (50, 95, 99)},
                     "mean": float(v.mean()) if len(v) else math.nan, "max": float(v.max()) if len(v) else math.nan})
    return pd.DataFrame(rows)


# -- the seed's success metrics ------------------------------------------------------------------
TARGETS = {  # the seed's success metrics: (comparison, threshold, unit)
    "slippage_bps": ("<", 5.0, "bps"),
    "fill_rate_pct": (">", 99.0, "%"),
    "order_latency_ms": ("<", 100.0, "ms"),
    "uptime_pct": (">", 99.9, "%"),
}
MARKET_OPEN, MARKET_CLOSE = dtime(9, 15), dtime(15, 30)  # NSE equity normal market (see india.md)


# events other processes append (a dashboard, the CLI): they say nothing about the session being up
_FOREIGN = {E.APPROVAL_DECISION, E.CONTROL, E.ALERT_ACK_REQUESTED, E.GTT_REQUEST}
HEARTBEAT_SECONDS = 15.0  # a quiet session journals a heartbeat this often (Session.HEARTBEAT_SECONDS)
GAP_SECONDS = 90.0  # a silence longer than this is down time (a replay journals at least once a bar minute)


def uptime(events: Iterable, *, gap_seconds: float = GAP_SECONDS,
           beat_seconds: float = HEARTBEAT_SECONDS) -> pd.DataFrame:
    """Per day: the share of market hours (09:15–15:30 IST) the session was up, from its heartbeats.

    A running session journals something at least every ``beat_seconds`` of its clock (a heartbeat
    note when nothing else happens: :meth:`tradekit.session.Session.journal_heartbeat`), so the
    journal holds its life. Between two consecutive session events ``a`` and ``b``:

    - ``b − a ≤ gap_seconds``: up all along;
    - longer: a gap. The session was up until its next heartbeat was due (``a + beat_seconds``)
      and down from then to ``b`` (``b − a − beat_seconds`` of down time).

    Market time before the day's first event and after its last (or its ``session.ended``) is down.
    Requests other processes append (approval decisions, controls, acknowledgements) are not the
    session's and are left out. Days without a session event are not listed. A day without a
    single heartbeat note had no running session loop (a batch ``tradekit replay``, a journal from
    before heartbeats were journaled): its uptime is not measured (NaN). Columns: day, up_seconds,
    down_seconds, market_seconds, gaps (how many), longest_gap_seconds, uptime_pct.
    """
    by_day: dict = {}
    beating: set = set()
    for ev in events:
        if ev.type in _FOREIGN:
            continue
        t = _ts(ev.ts)
        by_day.setdefault(t.date(), []).append((t, ev.type))
        if ev.type == E.NOTE and ev.payload.get("kind") == "heartbeat":
            beating.add(t.date())
    rows = []
    gap, beat = pd.Timedelta(seconds=gap_seconds), pd.Timedelta(seconds=beat_seconds)
    for d, evs in sorted(by_day.items()):
        o = pd.Timestamp.combine(d, MARKET_OPEN).tz_localize(IST)
        c = pd.Timestamp.combine(d, MARKET_CLOSE).tz_localize(IST)
        ts = sorted(t for t, _ in evs)
        ended = [t for t, ty in evs if ty == E.SESSION_ENDED]
        end = max(ended) if ended else ts[-1]
        up, n_gaps, longest = 0.0, 0, 0.0
        for a, b in itertools.pairwise(ts):
            if a >= end:
                break
            b = min(b, end)
            if b - a > gap:
                hi = a + beat
                seen = (min(b, c) - max(a, o)).total_seconds()
                if seen > 0:  # a gap within market hours
                    n_gaps += 1
                    longest = max(longest, seen)
            else:
                hi = b
            up += max((min(hi, c) - max(a, o)).total_seconds(), 0.0)
        total = (c - o).total_seconds()
        if d not in beating:
            up = n_gaps = longest = math.nan
        rows.append({"day": d, "up_seconds": up, "down_seconds": total - up, "market_seconds": total,
                     "gaps": n_gaps, "longest_gap_seconds": longest, "uptime_pct": 100.0 * up / total})
    return pd.DataFrame(rows, columns=["day", "up_seconds", "down_seconds", "market_seconds", "gaps",
                                       "longest_gap_seconds", "uptime_pct"])


def _day_metrics(evs: list, bars=None) -> dict:
    slip = fill_slippage(evs, bars=bars)
    sf = implementation_shortfall(evs, bars=bars)
    lat = latency_breakdown(evs)
    up = uptime(evs)
    bps = slip["slippage_bps"].astype("float64")
    q = slip["quantity"].astype("float64")
    ok = bps.notna() & (q > 0)
    ordered, filled = int(sf["ordered_qty"].sum()) if len(sf) else 0, int(sf["filled_qty"].sum()) if len(sf) else 0
    ol = lat["order_ms"].astype("float64").dropna() if len(lat) else pd.Series(dtype="float64")
    return {
        "slippage_bps": float((bps[ok] * q[ok]).sum() / q[ok].sum()) if ok.any() else math.nan,
        "fill_rate_pct": 100.0 * filled / ordered if ordered else math.nan,
        "order_latency_ms": float(np.percentile(ol, 95)) if len(ol) else math.nan,
        "uptime_pct": _uptime_pct(up),
    }


def _uptime_pct(up: pd.DataFrame) -> float:
    m = up[up["up_seconds"].notna()]
    return float(m["up_seconds"].sum() / m["market_seconds"].sum() * 100) if len(m) else math.nan


def _met(name: str, v: float):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    op, thr, _ = TARGETS[name]
    return bool(v < thr) if op == "<" else bool(v > thr)


def success_trend(events: Iterable, *, bars=None) -> pd.DataFrame:
    """One row per day: each target's value and whether it was met (None when not measurable).

    Slippage is the quantity-weighted mean against the decision price; fill rate is filled ÷
    ordered quantity of orders sent to the broker; order latency is the p95 of created → broker
    acknowledgement; uptime as :func:`uptime`.
    """
    by_day: dict = {}
    for ev in events:
        by_day.setdefault(_ts(ev.ts).date(), []).append(ev)
    rows = []
    for d, evs in sorted(by_day.items()):
        m = _day_metrics(evs, bars)
        rows.append({"day": d, **{k: v for k, v in m.items()}, **{f"{k}_met": _met(k, v) for k, v in m.items()}})
    cols = ["day", *TARGETS, *[f"{k}_met" for k in TARGETS]]
    return pd.DataFrame(rows, columns=cols)


def success_metrics(events: Iterable, *, bars=None) -> pd.DataFrame:
    """The seed's targets over all the events: metric, value, target, met (True/False/None)."""
    m = _day_metrics(list(events), bars)
    return pd.DataFrame([{"metric": k, "value": v, "target": f"{TARGETS[k][0]} {TARGETS[k][1]:g} {TARGETS[k][2]}",
                          "met": _met(k, v)} for k, v in m.items()])


def targets_trend(day_events: list, d, history: Iterable = (), *, days: int = 20) -> pd.DataFrame:
    """The seed's targets on day ``d`` and the ``days`` days before it that have events (``history``:
    the earlier days' events, of any journals of the same mode), one row per day, oldest first, with
    each target's value and met flag, then a last row ``"days met"`` counting the days each target was
    met (``"3/5"``): the trend across days the end-of-day report shows."""
    import datetime as _dt

    lo = d - _dt.timedelta(days=days * 2)  # calendar days: weekends and holidays have no events
    hist = [e for e in history if lo <= _ts(e.ts).date() < d]
    tr = success_trend(sorted([*hist, *day_events], key=lambda e: pd.Timestamp(e.ts)))
    tr = tr[tr["day"] <= d].tail(days + 1).reset_index(drop=True)
    if not len(tr):
        return tr
    count = {"day": "days met"}
    for k in TARGETS:
        flags = tr[f"{k}_met"].dropna()
        count[k] = f"{int(flags.sum())}/{len(flags)}"
        count[f"{k}_met"] = None
    return pd.concat([tr.astype({"day": object}), pd.DataFrame([count])], ignore_index=True)


def execution_section(day_events: list, d, history: Iterable = (), *, bars=None):
    """The end-of-day report's execution quality: the seed's targets met or not today and their
    trend across days, the uptime measured from the session's heartbeats (gaps), and the
    implementation shortfall by strategy and symbol."""
    from tradekit.monitoring.report import ReportSection

    today = success_metrics(day_events, bars=bars)
    up = uptime(day_events)
    sf = shortfall_summary(implementation_shortfall(day_events, bars=bars), ["strategy", "key"])
    text = ("Targets (the seed's success metrics): slippage < 5 bps, fill rate > 99 %, order latency (p95 created "
            "→ broker ack) < 100 ms, uptime > 99.9 % of 09:15–15:30 IST, measured from the session's heartbeats "
            f"in the journal (a silence over {GAP_SECONDS:g} s is down time).")
    return ReportSection("Execution quality", {"Targets today": today, "Targets across days": targets_trend(
        day_events, d, history), "Uptime (session heartbeats)": up, "Implementation shortfall": sf}, text=text)


# -- paper against live on the same signals --------------------------------------------------------
def _by_signal(events) -> pd.DataFrame:
    evs = list(events)
    sig_of = {}
    for e in evs:
        if e.type == E.ORDER_CREATED and e.payload.get("signal_id"):
            sig_of[e.payload["client_order_id"]] = e.payload["signal_id"]
    sf = implementation_shortfall(evs)
    sf["signal_id"] = sf["client_order_id"].map(sig_of)
    return sf[sf["signal_id"].notna()]


def paper_vs_live(live_events, paper_events) -> pd.DataFrame:
    """The live orders and the shadow paper orders of the same signals, side by side.

    One row per signal either side took: strategy, symbol, side, then for each of ``live`` and
    ``paper`` the filled quantity, average fill price, slippage against the decision price (bps
    of the fills) and the implementation shortfall in ₹; ``fill_diff_bps`` is the live average fill
    against the paper one (positive = live worse for the trader).
    """
    lv, pp = _by_signal(live_events), _by_signal(paper_events)
    cols = ["signal_id", "strategy", "key", "side"]
    rows = []
    for sid in sorted(set(lv["signal_id"]) | set(pp["signal_id"])):
        a, b = lv[lv["signal_id"] == sid], pp[pp["signal_id"] == sid]
        ref = a if len(a) else b
        r = {c: ref.iloc[0][c] for c in cols}
        for name, g in (("live", a), ("paper", b)):
            o = g.iloc[0] if len(g) else None
            r[f"{name}_filled"] = int(g["filled_qty"].sum()) if len(g) else 0
            r[f"{name}_avg_price"] = None if o is None else o["avg_fill_price"]
            r[f"{name}_trading_bps"] = math.nan if o is None else o["trading_bps"] + o["delay_bps"]
            r[f"{name}_shortfall"] = None if o is None else o["total"]
        s = 1 if r["side"] == "BUY" else -1
        la, pa = r["live_avg_price"], r["paper_avg_price"]
        r["fill_diff_bps"] = float(s * (la - pa) / pa * BPS) if la is not None and pa else math.nan
        rows.append(r)
    return pd.DataFrame(rows, columns=[*cols, "live_filled", "paper_filled", "live_avg_price", "paper_avg_price",
                                       "live_trading_bps", "paper_trading_bps", "live_shortfall", "paper_shortfall",
                                       "fill_diff_bps"])
