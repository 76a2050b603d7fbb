"""The weekly checklist (``notebooks/weekly.ipynb``): performance review, risk-limit use, alerts of the week.

:func:`weekly_review` reads the run folders of the ISO week that ends on (or contains) a day and
returns the performance roll-up (:mod:`tradekit.monitoring.perf`), the risk events per day (gate
denials, limit breaches, trading-state changes, kill switch), the week's ``alert*`` events (the
alert manager's, when it exists; the kill switch's failed-cancel alert otherwise) and the seed's
execution targets day by day (:func:`tradekit.monitoring.execution.success_trend`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from tradekit.clock import IST
from tradekit.monitoring.execution import success_trend
from tradekit.monitoring.perf import PerfReport, build_perf_report, find_journals, load_source, render_perf_html
from tradekit.store.events import EventType as E

RISK_TYPES = (E.RISK_DECISION, E.LIMIT_BREACH, E.TRADING_STATE, E.KILL_SWITCH)


@dataclass
class WeeklyReview:
    start: date
    end: date
    perf: PerfReport
    risk: pd.DataFrame
    alerts: pd.DataFrame
    targets: pd.DataFrame
    html: Path | None = None


def week_of(day: date) -> tuple[date, date]:
    """Monday..Sunday of ``day``'s ISO week."""
    mon = day - timedelta(days=day.weekday())
    return mon, mon + timedelta(days=6)


def _day(ts: str) -> date:
    return pd.Timestamp(ts).tz_convert(IST).date()


def weekly_review(cfg, day: date | str, *, runs: str | Path | None = None, out: str | Path | None = None,
                  journals: list[str | Path] = ()) -> WeeklyReview:
    d = date.fromisoformat(day) if isinstance(day, str) else day
    start, end = week_of(d)
    root = Path(runs) if runs else cfg.data_dir.parent / "runs"
    sources = [load_source(p, capital=cfg.account.capital) for p in [*find_journals(root), *map(Path, journals)]]
    perf = build_perf_report(sources, start, end)
    risk_rows, alert_rows, evs = [], [], []
    for s in sources:
        for e in s.events:
            ed = _day(e.ts)
            if not start <= ed <= end:
                continue
            evs.append(e)
            p = e.payload
            if e.type in RISK_TYPES and not (e.type == E.RISK_DECISION and p.get("allowed", True)):
                risk_rows.append({"day": ed, "mode": s.mode, "type": e.type,
                                  "what": p.get("reason") or p.get("limit") or p.get("state") or
                                  "; ".join(c.get("code", "") for c in p.get("checks", []) if not c.get("ok", True))
                                  or str(p.get("client_order_id", ""))})
            elif e.type.startswith("alert"):
                alert_rows.append({"time": pd.Timestamp(e.ts).tz_convert(IST), "mode": s.mode, "type": e.type,
                                   "priority": p.get("priority") or p.get("severity") or "",
                                   "message": p.get("message") or p.get("text") or p.get("title") or str(p)})
    risk = (pd.DataFrame(risk_rows, columns=["day", "mode", "type", "what"])
            .groupby(["day", "mode", "type"], as_index=False).agg(count=("what", "size"), examples=("what", lambda s: "; ".join(sorted(set(s))[:3])))
            if risk_rows else pd.DataFrame(columns=["day", "mode", "type", "count", "examples"]))
    alerts = pd.DataFrame(alert_rows, columns=["time", "mode", "type", "priority", "message"])
    evs.sort(key=lambda e: pd.Timestamp(e.ts))
    targets = success_trend(evs)
    html = render_perf_html(perf, Path(out) / f"weekly-{start}.html") if out else None
    return WeeklyReview(start, end, perf, risk, alerts, targets, html)
