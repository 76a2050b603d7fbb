"""Performance across days: the journals of a period rolled into one report (``tradekit perf``).

Every run folder under a root (``runs/<day>/journal.db``, ``runs/replay-…/journal.db``; archived
reruns under ``previous/`` are skipped) and any extra journal (the live journal of the config) is
read; its mode comes from the folder's ``manifest.json`` or the journal's ``session.started``.

Daily P&L per (mode, strategy, symbol), net of charges::

    net(day) = Σ sells − Σ buys (× multiplier) of the day's fills
             + position at the day's end × the day's last price − position at the previous end × its last price
             − the day's charges

The day's last price is its last ``mark`` of the symbol, else its last fill price (a replay squares
intraday positions off, so a flat book needs no price). The sum of the days is the period's P&L
(the position terms telescope), which is what makes the roll-up of a week equal to its days.

Statistics per mode: daily, weekly (ISO week) and monthly P&L; Sharpe and Sortino (252 days, on
daily returns of capital + cumulative P&L), maximum drawdown, share of winning days and FIFO
round-trip win rate; P&L per strategy and symbol. Figures: a calendar heat map of daily P&L,
equity across days and its drawdown on the trading-time axis.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from tradekit.clock import IST
from tradekit.errors import ValidationError
from tradekit.model.charges import Charges
from tradekit.model.money import ZERO, dec, fmt_inr
from tradekit.monitoring import analytics as an
from tradekit.store.events import EventType as E

DAILY_COLUMNS = ["day", "mode", "strategy", "key", "buys", "sells", "fills", "gross", "charges", "net", "source"]


@dataclass
class JournalSource:
    """One journal of the period: where it is, its mode and capital, and its events."""

    path: Path
    mode: str
    capital: Decimal
    events: list = field(repr=False, default_factory=list)


def find_journals(root: str | Path) -> list[Path]:
    """``<root>/*/journal.db`` (and ``<root>/journal.db``), skipping ``previous/`` archives."""
    root = Path(root)
    if not root.exists():
        raise ValidationError(f"{root}: no such folder of runs", field="--runs")
    found = [root / "journal.db"] if (root / "journal.db").is_file() else []
    found += sorted(p for p in root.glob("*/journal.db") if p.parent.name != "previous")
    return found


def load_source(path: str | Path, *, capital: Decimal, mode: str | None = None) -> JournalSource:
    """Read one journal (read-only); mode from ``manifest.json`` beside it, else ``session.started``."""
    from tradekit.runs.manifest import load_manifest
    from tradekit.store.archive import read_events
    from tradekit.store.audit import open_read_only

    path = Path(path)
    j = open_read_only(path)
    try:
        evs = list(read_events(j))  # archived days too
    finally:
        j.engine.dispose()
    man = load_manifest(path.parent) if path.name == "journal.db" else None
    started = next((e.payload for e in evs if e.type == E.SESSION_STARTED), {})
    m = mode or (man or {}).get("mode") or started.get("mode") or "paper"
    cap = dec(started["capital"], "capital") if started.get("capital") else capital
    return JournalSource(path, str(m), cap, evs)


def _day_of(ts: str) -> date:
    return pd.Timestamp(ts).tz_convert(IST).date()


def daily_pnl(sources: list[JournalSource], start: date | None = None, end: date | None = None) -> pd.DataFrame:
    """One row per (day, mode, strategy, symbol) with fills or a carried position: net of charges."""
    rows = []
    for src in sources:
        strategy_of: dict[str, str] = {}
        # per (strategy, key): [position, multiplier]; last price per key per day
        pos: dict[tuple[str, str], list] = {}
        prev_px: dict[str, Decimal] = {}
        day_rows: dict[tuple, dict] = {}
        day_px: dict[str, Decimal] = {}
        cur: date | None = None

        def close_day(d: date | None) -> None:
            if d is None:
                return
            for (strat, key), (q, m) in pos.items():
                r = day_rows.get((strat, key))
                px, px0 = day_px.get(key, prev_px.get(key)), prev_px.get(key)
                if r is None and q == 0:
                    continue
                r = r or day_rows.setdefault((strat, key), _row(d, src, strat, key))
                q0 = r.pop("_q0", q)
                hold = (Decimal(q) * px if q and px is not None else ZERO) - (Decimal(q0) * px0 if q0 and px0 is not None else ZERO)
                r["gross"] = r["sells"] - r["buys"] + hold * m
            for (strat, key), r in day_rows.items():
                r.pop("_q0", None)
                r["net"] = r["gross"] - r["charges"]
                if (start is None or d >= start) and (end is None or d <= end):
                    rows.append(r)
            prev_px.update(day_px)
            day_rows.clear()
            day_px.clear()

        for ev in src.events:
            p = ev.payload
            if ev.type not in (E.FILL, E.MARK, E.ORDER_CREATED):
                continue
            d = _day_of(ev.ts)
            if d != cur:
                close_day(cur)
                cur = d
            if ev.type == E.ORDER_CREATED:
                strategy_of[p["client_order_id"]] = p.get("strategy", "")
            elif ev.type == E.MARK:
                for k, v in (p.get("prices") or {}).items():
                    day_px[k] = dec(v, "mark")
            else:
                key = f"{p['exchange']}:{p['tradingsymbol']}"
                strat = p.get("strategy") or strategy_of.get(p.get("client_order_id") or "", "")
                q, price, m = int(p["quantity"]), dec(p["price"], "price"), int(p.get("multiplier", 1))
                ps = pos.setdefault((strat, key), [0, m])
                r = day_rows.get((strat, key))
                if r is None:
                    r = day_rows[(strat, key)] = _row(d, src, strat, key)
                    r["_q0"] = ps[0]
                value = price * q * m
                if p["side"] == "BUY":
                    r["buys"] += value
                    ps[0] += q
                else:
                    r["sells"] += value
                    ps[0] -= q
                r["fills"] += 1
                r["charges"] += Charges.from_dict(p.get("charges")).total
                day_px[key] = price
        close_day(cur)
    df = pd.DataFrame(rows, columns=DAILY_COLUMNS)
    return df.sort_values(["day", "mode", "strategy", "key"], kind="stable").reset_index(drop=True)


def _row(d, src, strat, key) -> dict:
    return {"day": d, "mode": src.mode, "strategy": strat, "key": key, "buys": ZERO, "sells": ZERO, "fills": 0,
            "gross": ZERO, "charges": ZERO, "net": ZERO, "source": str(src.path)}


def period_pnl(daily: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Daily rows summed per mode and ``freq``: ``"D"`` (day), ``"W"`` (ISO week) or ``"M"`` (month)."""
    cols = ["mode", "period", "days", "fills", "gross", "charges", "net"]
    if not len(daily):
        return pd.DataFrame(columns=cols)
    d = daily.copy()
    if freq == "D":
        d["period"] = d["day"].map(lambda x: x.isoformat())
    elif freq == "W":
        d["period"] = d["day"].map(lambda x: "{}-W{:02d}".format(*x.isocalendar()[:2]))
    elif freq == "M":
        d["period"] = d["day"].map(lambda x: f"{x:%Y-%m}")
    else:
        raise ValueError(f"freq must be D, W or M, not {freq!r}")
    rows = []
    for (mode, per), g in d.groupby(["mode", "period"], sort=True):
        rows.append({"mode": mode, "period": per, "days": g["day"].nunique(), "fills": int(g["fills"].sum()),
                     "gross": sum(g["gross"], ZERO), "charges": sum(g["charges"], ZERO), "net": sum(g["net"], ZERO)})
    return pd.DataFrame(rows, columns=cols)


def equity_by_day(daily: pd.DataFrame, mode: str, capital: Decimal) -> pd.DataFrame:
    """Capital + cumulative net P&L at each day's close (15:30 IST), with drawdown, for one mode."""
    g = daily[daily["mode"] == mode]
    per = g.groupby("day")["net"].apply(lambda s: sum(s, ZERO)).sort_index()
    idx = pd.DatetimeIndex([pd.Timestamp(datetime.combine(d, datetime.min.time())).tz_localize(IST)
                            + pd.Timedelta(hours=15, minutes=30) for d in per.index])
    pnl = np.cumsum([float(x) for x in per.to_numpy()]) if len(per) else np.array([])
    eq = pd.DataFrame({"pnl": pnl, "equity": float(capital) + pnl}, index=idx)
    eq["drawdown"] = eq["equity"] - np.maximum(eq["equity"].cummax(), float(capital))  # from the starting capital
    eq["day_net"] = [float(x) for x in per.to_numpy()]
    return eq


def mode_stats(daily: pd.DataFrame, events: list, mode: str, capital: Decimal) -> pd.Series:
    """Net P&L, Sharpe, Sortino, max drawdown, winning days and round-trip stats for one mode."""
    eq = equity_by_day(daily, mode, capital)
    g = daily[daily["mode"] == mode]
    net = sum(g["net"], ZERO)
    perf = an.performance_stats(eq[["equity"]], starting_equity=float(capital)) if len(eq) else {}
    days = eq["day_net"] if len(eq) else pd.Series(dtype="float64")
    trips = an.round_trips(an.fills_frame(events))
    ts = an.trade_stats(trips)
    return pd.Series({
        "days": len(eq), "net_pnl": net, "gross_pnl": sum(g["gross"], ZERO), "charges": sum(g["charges"], ZERO),
        "sharpe": perf.get("sharpe", math.nan), "sortino": perf.get("sortino", math.nan),
        "max_drawdown": float(-eq["drawdown"].min()) if len(eq) else 0.0,
        "win_rate_days": float((days > 0).mean()) if len(days) else math.nan,
        "round_trips": ts.get("round_trips", 0), "win_rate": ts.get("win_rate", math.nan),
    })


def by_group(daily: pd.DataFrame, col: str) -> pd.DataFrame:
    """Net P&L per mode and ``col`` (``"strategy"`` or ``"key"``)."""
    cols = ["mode", col, "days", "fills", "gross", "charges", "net"]
    if not len(daily):
        return pd.DataFrame(columns=cols)
    rows = [{"mode": m, col: k, "days": g["day"].nunique(), "fills": int(g["fills"].sum()), "gross": sum(g["gross"], ZERO),
             "charges": sum(g["charges"], ZERO), "net": sum(g["net"], ZERO)}
            for (m, k), g in daily.groupby(["mode", col], sort=True)]
    return pd.DataFrame(rows, columns=cols)


# -- figures -------------------------------------------------------------------------------------
def calendar_figure(daily: pd.DataFrame, mode: str):
    """A calendar heat map of daily net P&L: one row per ISO week, one column per weekday (Mon–Fri)."""
    from matplotlib.colors import TwoSlopeNorm

    from tradekit.monitoring.charts import new_figure

    per = daily[daily["mode"] == mode].groupby("day")["net"].apply(lambda s: float(sum(s, ZERO))).sort_index()
    fig = new_figure(7, 1.2 + 0.45 * max(1, len({d.isocalendar()[:2] for d in per.index})))
    ax = fig.subplots()
    if not len(per):
        ax.text(0.5, 0.5, "No trading days in the period.", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    weeks = sorted({d.isocalendar()[:2] for d in per.index})
    grid = np.full((len(weeks), 5), np.nan)
    for d, v in per.items():
        wd = d.weekday()
        if wd < 5:
            grid[weeks.index(d.isocalendar()[:2]), wd] = v
    lim = max(float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0, 1.0)
    im = ax.imshow(grid, cmap="RdYlGn", norm=TwoSlopeNorm(0.0, -lim, lim), aspect="auto")
    for (i, j), v in np.ndenumerate(grid):
        if np.isfinite(v):
            ax.text(j, i, fmt_inr(v, 0), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(5), ["Mon", "Tue", "Wed", "Thu", "Fri"])
    ax.set_yticks(range(len(weeks)), [f"{y}-W{w:02d}" for y, w in weeks])
    fig.colorbar(im, ax=ax, label="net P&L (₹)")
    ax.set_title(f"Daily net P&L ({mode})")
    return fig


# -- the report ----------------------------------------------------------------------------------
@dataclass
class PerfReport:
    start: date
    end: date
    sources: list[JournalSource]
    daily: pd.DataFrame
    modes: dict[str, pd.Series]
    weekly: pd.DataFrame
    monthly: pd.DataFrame
    days: pd.DataFrame
    by_strategy: pd.DataFrame
    by_symbol: pd.DataFrame
    execution: pd.DataFrame
    targets: pd.DataFrame = field(default_factory=pd.DataFrame)
    figures: dict = field(default_factory=dict)

    def total(self, mode: str | None = None) -> Decimal:
        d = self.daily if mode is None else self.daily[self.daily["mode"] == mode]
        return sum(d["net"], ZERO)


def build_perf_report(sources: list[JournalSource], start: date, end: date, *, figures: bool = True) -> PerfReport:
    if end < start:
        raise ValidationError(f"--to {end} is before --from {start}", field="--to")
    from tradekit.monitoring.execution import implementation_shortfall, shortfall_summary, success_trend

    daily = daily_pnl(sources, start, end)
    modes, figs, ex, tg = {}, {}, [], []
    for mode in sorted({s.mode for s in sources}):
        srcs = [s for s in sources if s.mode == mode]
        evs = [e for s in srcs for e in s.events if start <= _day_of(e.ts) <= end]
        cap = srcs[0].capital
        modes[mode] = mode_stats(daily, evs, mode, cap)
        sf = shortfall_summary(implementation_shortfall(evs), ["strategy", "key"])
        sf.insert(0, "mode", mode)
        ex.append(sf)
        t = success_trend(sorted(evs, key=lambda e: pd.Timestamp(e.ts)))
        t.insert(0, "mode", mode)
        tg.append(t)
        if figures:
            from tradekit.monitoring.charts import equity_figure

            figs[f"calendar:{mode}"] = calendar_figure(daily, mode)
            figs[f"equity:{mode}"] = equity_figure(equity_by_day(daily, mode, cap),
                                                   title=f"Equity and drawdown across days ({mode})")
    return PerfReport(start, end, sources, daily, modes, period_pnl(daily, "W"), period_pnl(daily, "M"),
                      period_pnl(daily, "D"), by_group(daily, "strategy"), by_group(daily, "key"),
                      pd.concat(ex, ignore_index=True) if ex else pd.DataFrame(),
                      pd.concat(tg, ignore_index=True) if tg else pd.DataFrame(), figs)


def render_perf_html(rep: PerfReport, path: str | Path) -> Path:
    """One self-contained HTML file in the session report's style."""
    from tradekit.monitoring.report import _CSS, ReportSection, _section_html, performance_table

    title = f"Performance {rep.start} – {rep.end}"
    parts = [f"<h1>{html.escape(title)}</h1>",
             "<p class='meta'>" + html.escape(f"{len(rep.sources)} journal(s): "
                                              + ", ".join(f"{s.path} ({s.mode})" for s in rep.sources)) + "</p>"]
    for mode, st in rep.modes.items():
        parts.append(_section_html(ReportSection(
            f"{mode.capitalize()}: statistics", {"": performance_table(st)},
            figures={k.split(":")[0].replace("calendar", "Calendar of daily P&L").replace("equity", "Equity across days"): f
                     for k, f in rep.figures.items() if k.endswith(f":{mode}")})))
    for title_, df in (("Daily P&L (net of charges)", rep.days), ("Weekly P&L", rep.weekly),
                       ("Monthly P&L", rep.monthly), ("P&L by strategy", rep.by_strategy),
                       ("P&L by symbol", rep.by_symbol), ("Implementation shortfall by strategy and symbol", rep.execution),
                       ("Targets day by day: slippage < 5 bps, fill rate > 99 %, order latency (p95 created → "
                        "broker ack) < 100 ms, uptime > 99.9 %", rep.targets)):
        parts.append(_section_html(ReportSection(title_, {"": df})))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                    f"<style>{_CSS}</style></head><body>" + "\n".join(parts) + "</body></html>", encoding="utf-8")
    return path


def perf_command(start: str, end: str, *, config=None, runs: str | None = None, out: str | None = None,
                 journals: list[str] | None = None) -> tuple[PerfReport, Path]:
    """``tradekit perf``: read the run folders (default ``<data_dir>/../runs``) and write ``perf-<from>-<to>.html``."""
    from tradekit.config import load_config

    def day(s, name):
        try:
            return date.fromisoformat(s)
        except (TypeError, ValueError):
            raise ValidationError(f"{name} must be a date YYYY-MM-DD, not {s!r}", field=name) from None

    d0, d1 = day(start, "--from"), day(end, "--to")
    cfg = load_config(config)
    root = Path(runs) if runs else cfg.data_dir.parent / "runs"
    paths = find_journals(root) + [Path(p) for p in journals or ()]
    for p in paths:
        if not p.is_file():
            raise ValidationError(f"{p}: no such journal", field="--journal")
    sources = [load_source(p, capital=cfg.account.capital) for p in paths]
    rep = build_perf_report(sources, d0, d1)
    out_dir = Path(out) if out else root
    html_path = render_perf_html(rep, out_dir / f"perf-{d0}-{d1}.html")
    return rep, html_path
