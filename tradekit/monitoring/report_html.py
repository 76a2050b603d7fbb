"""The session report as HTML: its sections in reading order, tables (₹ in Indian grouping, times in IST) and
figures embedded as PNG, one self-contained file; the performance statistics as display strings; the
exact ``audit verify`` command for the report's anchor.

Used by :mod:`tradekit.monitoring.report` (every name stays importable from there).
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tradekit.clock import IST
from tradekit.model.money import dec, fmt_inr

if TYPE_CHECKING:
    from tradekit.monitoring.report import SessionReport

log = logging.getLogger("tradekit.monitoring.report")


@dataclass
class ReportSection:
    """A titled part of the report: tables and figures by caption, and a paragraph of text."""

    title: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    text: str = ""

    def __post_init__(self) -> None:
        # Accept plain lists too: captions are then numbered.
        if not isinstance(self.tables, dict):
            self.tables = {f"Table {i + 1}": t for i, t in enumerate(self.tables)}
        if not isinstance(self.figures, dict):
            self.figures = {f"Figure {i + 1}": f for i, f in enumerate(self.figures)}


# -- HTML ------------------------------------------------------------------------------------------
_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#1a1a1a;max-width:1280px}
h1{margin-bottom:4px}h2{border-bottom:2px solid #1f4e79;padding-bottom:3px;margin-top:32px}h3{margin-bottom:6px}
.meta{color:#555;margin:0 0 12px 0}.anchor{background:#f3f6fa;border:1px solid #c9d6e6;padding:10px 14px;border-radius:6px;
font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;word-break:break-all}
table{border-collapse:collapse;margin:6px 0 16px 0;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px}
th{background:#f0f0f0;text-align:left}td{white-space:nowrap}.tw{overflow-x:auto;max-width:100%}td.n{text-align:right;font-variant-numeric:tabular-nums}td.neg{color:#b00020}
tr:nth-child(even) td{background:#fafafa}img{max-width:100%;border:1px solid #eee}.note{color:#8a5a00}.empty{color:#777}
"""


def render_html(report: SessionReport, path: str | Path) -> Path:
    """Write the report as one self-contained HTML file (figures embedded as PNG); return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_html_document(report), encoding="utf-8")
    log.info("session report written to %s", path)
    return path


def _html_document(rep: SessionReport) -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(rep.title)}</title>"
            f"<style>{_CSS}</style></head><body>{_html_body(rep)}</body></html>")


def core_sections(rep: SessionReport) -> list[ReportSection]:
    """The report's own sections, in reading order (the HTML renders these, then ``rep.sections``)."""
    perf_df = performance_table(rep.performance)
    trips = rep.round_trips
    return [
        ReportSection("Summary", {"": rep.summary}),
        ReportSection("Equity and drawdown", figures={"": rep.figures["equity"]} if "equity" in rep.figures else {},
                      text=_dd_text(rep)),
        ReportSection("Prices and trades",
                      figures={k.split(":", 1)[1]: f for k, f in rep.figures.items() if k.startswith("price:")},
                      text="▲ buys, ▼ sells: green entries, blue exits, red ✕ stop-loss fills. Nights and holidays "
                           "take no room on the time axis." if any(k.startswith("price:") for k in rep.figures)
                      else "No fills in this report."),
        ReportSection("P&L by strategy and symbol", {"By strategy": rep.pnl_by_strategy, "By symbol": rep.pnl_by_symbol},
                      figures={"": rep.figures["pnl_by_strategy"]} if "pnl_by_strategy" in rep.figures else {}),
        ReportSection("Positions", {"": rep.positions}),
        ReportSection("Orders", {"": rep.orders}),
        ReportSection("Fills", {"": rep.fills}),
        ReportSection("Charges by component", {"": rep.charges}),
        ReportSection("Signal → fill quality",
                      {"By strategy and symbol": rep.execution,
                       "Per fill": rep.slippage.drop(columns=["signal_time", "order_time"], errors="ignore")},
                      text="Slippage is the fill price against the decision price: the signal's reference price "
                           "(or, without one, the market when the order was created); slippage vs arrival is against "
                           "the market when the order was created. Positive is worse for the trader."),
        ReportSection("Performance", {"Statistics": perf_df, "Round trips (FIFO)": trips}),
        ReportSection("Risk decisions and breaches", {"": rep.risk_events}),
    ]


_PCT_STATS = {"total_return", "mean_daily_return", "daily_volatility", "annual_volatility", "max_drawdown_pct", "win_rate"}
_RATIO_STATS = {"sharpe", "sortino", "profit_factor"}
_COUNT_STATS = {"sessions", "round_trips", "wins", "losses"}


def performance_table(perf: pd.Series) -> pd.DataFrame:
    """Performance statistics as display strings (percentages, ratios, counts, ₹)."""
    rows = []
    for name, v in perf.items():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            text = "—"
        elif isinstance(v, float) and math.isinf(v):
            text = "∞" if v > 0 else "-∞"
        elif name in _PCT_STATS:
            text = f"{float(v):.3%}"
        elif name in _RATIO_STATS:
            text = f"{float(v):.2f}"
        elif name in _COUNT_STATS:
            text = f"{int(v)}"
        else:
            d = dec(v)
            text = ("-₹" if d < 0 else "₹") + fmt_inr(abs(d))
        rows.append((str(name).replace("_", " "), text))
    return pd.DataFrame(rows, columns=["statistic", "value"]).set_index("statistic")


def _dd_text(rep: SessionReport) -> str:
    m = rep.max_drawdown
    if not m["amount"]:
        return "No drawdown."
    rec = f", recovered {_fmt_time(m['recovery_time'])}" if m["recovery_time"] is not None else ", not recovered"
    return (f"Max drawdown ₹{fmt_inr(m['amount'])} ({m['pct']:.2%} of the peak) from {_fmt_time(m['peak_time'])} "
            f"to {_fmt_time(m['trough_time'])}{rec}.")


def verify_command(rep: SessionReport, anchor_hash: str) -> str:
    """The exact command that checks ``anchor_hash`` against this report's journal."""
    import shlex

    target = rep.verify_target
    if target is None and rep.journal is not None:
        url = rep.journal.engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            target = f"--db {shlex.quote(str(Path(url.database).resolve()))}"
    target = target or "-c <the config whose store holds the journal>"
    return f"tradekit audit verify {target} --anchor {anchor_hash}"


def _html_body(rep: SessionReport) -> str:
    out = [f"<h1>{html.escape(rep.title)}</h1>",
           f"<p class='meta'>Generated {_fmt_time(rep.generated_at)} IST · capital ₹{fmt_inr(rep.capital)} · "
           f"net P&amp;L ₹{fmt_inr(rep.book.net_pnl)}</p>"]
    if rep.anchor is not None or rep.tail is not None:
        a = rep.anchor or rep.tail
        label = f"Audit anchor for {rep.day:%Y-%m-%d}" if rep.day else "Audit anchor (journal tail)"
        out.append(f"<div class='anchor'><b>{label}</b>: event {a[0]}, hash <span class='hash'>{a[1]}</span>"
                   + (f"<br>Journal tail: event {rep.tail[0]}, hash {rep.tail[1]}" if rep.tail and rep.tail != a else "")
                   + f"<br>Verify with <code>{html.escape(verify_command(rep, a[1]))}</code></div>")
    else:
        out.append("<div class='anchor'>No journal: no audit anchor.</div>")
    for s in [*core_sections(rep), *rep.sections]:
        out.append(_section_html(s))
    if rep.notes:
        out.append("<h2>Notes</h2><ul>" + "".join(f"<li class='note'>{html.escape(n)}</li>" for n in rep.notes) + "</ul>")
    return "\n".join(out)


def _section_html(s: ReportSection) -> str:
    parts = [f"<h2>{html.escape(s.title)}</h2>"]
    if s.text:
        parts.append(f"<p>{html.escape(s.text)}</p>")
    for cap, fig in s.figures.items():
        if cap:
            parts.append(f"<h3>{html.escape(cap)}</h3>")
        parts.append(f"<img alt='{html.escape(cap or s.title)}' src='data:image/png;base64,{_png64(fig)}'>")
    for cap, df in s.tables.items():
        if cap:
            parts.append(f"<h3>{html.escape(cap)}</h3>")
        parts.append(table_html(df))
    return "\n".join(parts)


def _png64(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def table_html(df: pd.DataFrame, *, max_rows: int = 5000) -> str:
    """A DataFrame as an HTML table: ₹ amounts (Decimal) in Indian grouping, times in IST."""
    if df is None or len(df) == 0:
        return "<p class='empty'>None.</p>"
    shown = df.head(max_rows)
    show_index = not isinstance(df.index, pd.RangeIndex)
    head = ([html.escape(str(df.index.name or ""))] if show_index else []) + [html.escape(str(c)) for c in df.columns]
    rows = ["<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    cols = list(shown.columns)
    for idx, rec in zip(shown.index, shown.itertuples(index=False, name=None)):
        cells = [_td(idx, "")] if show_index else []
        cells += [_td(v, str(c)) for c, v in zip(cols, rec)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class='empty'>… {len(df) - max_rows} more rows not shown.</p>" if len(df) > max_rows else ""
    return "<div class='tw'><table>" + "".join(rows) + "</table></div>" + more


def _td(v, col: str) -> str:
    text, numeric, neg = _fmt_cell(v, col)
    cls = " ".join(c for c in ("n" if numeric else "", "neg" if neg else "") if c)
    return f"<td class='{cls}'>{html.escape(text)}</td>" if cls else f"<td>{html.escape(text)}</td>"


def _fmt_time(t) -> str:
    if t is None:
        return ""
    ts = pd.Timestamp(t)
    if ts.tz is None:
        return ts.strftime("%Y-%m-%d %H:%M:%S")
    return ts.tz_convert(IST).strftime("%Y-%m-%d %H:%M:%S")


def _fmt_cell(v, col: str) -> tuple[str, bool, bool]:
    """(text, right-align, negative) for one cell; Decimal means rupees."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return "", False, False
    if isinstance(v, Decimal):
        return fmt_inr(v), True, v < 0
    if isinstance(v, (pd.Timestamp, datetime)):
        return _fmt_time(v), False, False
    if isinstance(v, (pd.Timedelta, timedelta)):
        return str(pd.Timedelta(v)).replace("0 days ", ""), True, False
    if isinstance(v, date):
        return v.isoformat(), False, False
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)), False, False
    if isinstance(v, (int, np.integer)):
        return f"{int(v)}", True, v < 0
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isinf(f):
            return ("∞" if f > 0 else "-∞"), True, f < 0
        c = col.lower()
        if any(w in c for w in ("pct", "frac", "ratio", "rate", "return")):  # fractions: 0.0344 is 3.44 %
            return f"{f:.2%}", True, f < 0
        if "bps" in c or c.endswith("_s") or "_s_" in c:
            return f"{f:,.1f}", True, f < 0
        if any(w in c for w in ("sharpe", "sortino", "factor", "volatility")):
            return f"{f:.3f}", True, f < 0
        return fmt_inr(f), True, f < 0
    return str(v), False, False
