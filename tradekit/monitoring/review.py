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


# -- the monthly checklist ----------------------------------------------------------------------------
@dataclass
class MonthlyReview:
    month: str
    perf: PerfReport
    audit: pd.DataFrame  # one row per journal: events, verified or the first bad event
    exports: pd.DataFrame  # the compliance export: one file per journal with events in the month
    limits: pd.DataFrame  # the daily-loss limit against each day's net P&L
    denials: pd.DataFrame  # gate denials and breaches of the month by check


def _daily_loss_limit(cfg, capital) -> float | None:
    loss = getattr(getattr(cfg, "risk", None), "loss", None)
    if loss is None:
        return None
    caps = [float(loss.max_daily_loss)] if loss.max_daily_loss is not None else []
    if loss.max_daily_loss_pct is not None:
        caps.append(float(capital) * loss.max_daily_loss_pct / 100)
    return min(caps) if caps else None


def monthly_review(cfg, month: str, *, runs: str | Path | None = None, out: str | Path | None = None,
                   journals: list[str | Path] = ()) -> MonthlyReview:
    """``month`` is ``YYYY-MM``: audit verify of every journal with events in it, the compliance
    export (CSV per journal into ``<out>/compliance/``), the daily-loss limit review and the
    month's denials, and the performance roll-up."""
    from tradekit.store.audit import export, open_read_only, verify

    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        from tradekit.errors import ValidationError

        raise ValidationError(f"{month!r} is not a month YYYY-MM", field="month") from None
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    root = Path(runs) if runs else cfg.data_dir.parent / "runs"
    paths = [*find_journals(root), *map(Path, journals)]
    sources = [load_source(p, capital=cfg.account.capital) for p in paths]
    inside = [s for s in sources if any(first <= _day(e.ts) <= last for e in s.events)]
    perf = build_perf_report(inside, first, last)
    audit_rows, export_rows, denial_rows = [], [], []
    folder = Path(out) / "compliance" if out else None
    for s in inside:
        j = open_read_only(s.path)
        try:
            res = verify(j)
            audit_rows.append({"journal": str(s.path), "mode": s.mode, "events": res.events, "ok": res.ok,
                               "result": str(res)})
            if folder is not None:
                name = f"{s.path.parent.name}-{s.path.stem}.csv"
                n = export(j, folder / name)
                export_rows.append({"journal": str(s.path), "file": str(folder / name), "rows": n})
        finally:
            j.engine.dispose()
        for e in s.events:
            if first <= _day(e.ts) <= last and e.type in (E.RISK_DECISION, E.LIMIT_BREACH) \
                    and not (e.type == E.RISK_DECISION and e.payload.get("allowed", True)):
                codes = [c.get("code", "") for c in e.payload.get("checks", []) if not c.get("ok", True)]
                for c in codes or [e.payload.get("limit") or e.payload.get("reason") or e.type]:
                    denial_rows.append({"mode": s.mode, "type": e.type, "check": c})
    limit = _daily_loss_limit(cfg, cfg.account.capital)
    lim_rows = []
    for r in perf.days.to_dict("records"):
        loss = max(0.0, -float(r["net"]))
        lim_rows.append({"day": r["period"], "mode": r["mode"], "net": r["net"], "daily_loss_limit": limit,
                         "used_pct": 100 * loss / limit if limit else None})
    denials = (pd.DataFrame(denial_rows).groupby(["mode", "type", "check"], as_index=False).size()
               .rename(columns={"size": "count"}) if denial_rows else pd.DataFrame(columns=["mode", "type", "check", "count"]))
    if out:
        render_perf_html(perf, Path(out) / f"monthly-{month}.html")
    return MonthlyReview(month, perf, pd.DataFrame(audit_rows, columns=["journal", "mode", "events", "ok", "result"]),
                         pd.DataFrame(export_rows, columns=["journal", "file", "rows"]),
                         pd.DataFrame(lim_rows, columns=["day", "mode", "net", "daily_loss_limit", "used_pct"]), denials)
