"""The daily risk report: limits used vs allowed, breaches and state changes, VaR/ES, stress.

``build_risk_report(risk, book, events=journal.events())`` returns a :class:`RiskReport`
with DataFrames (``limits``, ``breaches``, ``states``, ``var``, ``stress``, ``components``,
``correlation``), matplotlib figures (:meth:`RiskReport.figures`) and an HTML section
(:meth:`RiskReport.to_html`) for the day's run report.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Iterable

import numpy as np
import pandas as pd

from tradekit.model.money import fmt_inr
from tradekit.risk.config import VarSettings
from tradekit.risk.var import (
    component_var,
    coverage,
    correlation,
    daily_returns,
    default_crash_day,
    exposures_from_book,
    portfolio_var,
    stress_gap,
    stress_replay,
)
from tradekit.store.events import EventType as E

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from tradekit.store.journal import Event
    from tradekit.store.projection import Book


@dataclass
class RiskReport:
    day: date | None
    state: str
    capital: float
    limits: pd.DataFrame
    breaches: pd.DataFrame
    states: pd.DataFrame
    var: pd.DataFrame
    stress: pd.DataFrame
    components: pd.DataFrame
    correlation: pd.DataFrame
    exposures: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    scenarios: np.ndarray | None = field(default=None, repr=False)  # historical P&L scenarios

    # -- text --------------------------------------------------------------------------------
    def summary(self) -> str:
        lines = [f"risk: state {self.state}; {len(self.breaches)} breach(es), {len(self.states)} state change(s)"]
        for _, r in self.limits.iterrows():
            pct = "" if pd.isna(r["used_frac"]) else f" ({r['used_frac']:.0%} used)"
            lines.append(f"  {r['limit']}: {_fmt(r['used'], r['unit'])} of {_fmt(r['allowed'], r['unit'])}{pct}")
        for _, r in self.var.iterrows():
            lines.append(f"  VaR {r['method']} {r['confidence'] * 100:g} % {r['horizon_days']} d: ₹{r['var']:,.0f}, "
                         f"ES ₹{r['es']:,.0f}")
        for _, r in self.stress.iterrows():
            lines.append(f"  stress {r['scenario']}: ₹{r['pnl']:,.0f}")
        for _, r in self.breaches.iterrows():
            lines.append(f"  breach {r['time']:%H:%M:%S} {r['trigger']} -> {r['state']}: {r['reason']}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    # -- figures -----------------------------------------------------------------------------
    def figures(self) -> dict[str, "Figure"]:
        """Limits used (bars), the historical P&L distribution with VaR/ES, stress P&L."""
        from matplotlib.figure import Figure

        figs: dict[str, Figure] = {}
        lim = self.limits.dropna(subset=["used_frac"])
        if not lim.empty:
            fig = Figure(figsize=(7, 0.45 * len(lim) + 1.2))
            ax = fig.add_subplot()
            used = 100 * lim["used_frac"].astype(float)
            colors = ["#c0392b" if p >= 100 else "#e67e22" if p >= 80 else "#27ae60" for p in used]
            ax.barh(lim["limit"], used.clip(upper=150), color=colors)
            ax.axvline(100, color="black", lw=1)
            ax.set_xlabel("% of limit used")
            ax.invert_yaxis()
            ax.set_title("Limits used vs allowed")
            fig.tight_layout()
            figs["limits"] = fig
        if self.scenarios is not None and len(self.scenarios):
            fig = Figure(figsize=(7, 3.2))
            ax = fig.add_subplot()
            ax.hist(self.scenarios, bins=50, color="#7f8c8d")
            for _, r in self.var.iterrows():
                if r["method"] == "historical":
                    ax.axvline(-r["var"], color="#c0392b", label=f"VaR {r['confidence'] * 100:g} %")
                    ax.axvline(-r["es"], color="#8e44ad", ls="--", label="ES")
            ax.set_xlabel("1-day P&L of today's positions (₹), historical scenarios")
            ax.legend()
            fig.tight_layout()
            figs["var"] = fig
        if not self.stress.empty:
            fig = Figure(figsize=(7, 0.5 * len(self.stress) + 1.2))
            ax = fig.add_subplot()
            ax.barh(self.stress["scenario"], self.stress["pnl"],
                    color=["#c0392b" if v < 0 else "#27ae60" for v in self.stress["pnl"]])
            ax.set_xlabel("P&L (₹)")
            ax.set_title("Stress scenarios")
            ax.invert_yaxis()
            fig.tight_layout()
            figs["stress"] = fig
        return figs

    def to_html(self, *, figures: bool = True) -> str:
        """An HTML section (tables, embedded PNG figures) for the daily run report."""
        parts = [f"<h2>Risk</h2><p>State: <b>{html.escape(self.state)}</b>; capital ₹{self.capital:,.0f}</p>"]

        def table(title, df):
            if df is None or df.empty:
                return f"<h3>{title}</h3><p>none</p>"
            return f"<h3>{title}</h3>" + df.to_html(index=False, float_format=lambda v: f"{v:,.2f}", border=0)

        parts.append(table("Limits used vs allowed", self.limits))
        parts.append(table("Breaches", self.breaches))
        parts.append(table("Trading state changes", self.states))
        parts.append(table("VaR and expected shortfall", self.var))
        parts.append(table("Stress scenarios", self.stress))
        if not self.components.empty:
            parts.append(table("Component VaR by symbol",
                               self.components.groupby("symbol", as_index=False)["component_var"].sum()))
            parts.append(table("Component VaR by strategy",
                               self.components.groupby("strategy", as_index=False)["component_var"].sum()))
        if figures:
            for name, fig in self.figures().items():
                buf = io.BytesIO()
                fig.savefig(buf, format="png", dpi=90)
                b64 = base64.b64encode(buf.getvalue()).decode()
                parts.append(f'<img alt="{name}" src="data:image/png;base64,{b64}"/>')
        if self.notes:
            parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in self.notes) + "</ul>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:  # notebooks
        return self.to_html()


def _fmt(v, unit: str) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    if unit == "₹":
        return f"₹{v:,.0f}"
    if unit.startswith("%"):
        return f"{v:.1f} %"
    return f"{v:,.0f}"


def limits_table(usage: Iterable[dict]) -> pd.DataFrame:
    """The gate's usage rows as a table: ``used_frac`` is used ÷ allowed as a *fraction* (0.0344
    is 3.44 % of the limit), the convention of every ``*_frac``/``*_pct`` column in the reports;
    ``status`` is BREACH when that fraction reaches 1."""
    rows = []
    for r in usage:
        used, allowed = r["used"], r["allowed"]
        frac = (float(used) / float(allowed)) if allowed else None
        rows.append({"limit": r["limit"], "used": used, "allowed": allowed, "unit": r["unit"], "used_frac": frac,
                     "status": "BREACH" if frac is not None and frac >= 1 else "ok"})
    return pd.DataFrame(rows, columns=["limit", "used", "allowed", "unit", "used_frac", "status"])


def _events_table(events: Iterable["Event"], day: date | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    breaches, states = [], []
    for ev in events:
        if day is not None and ev.day != day:
            continue
        p = ev.payload
        if ev.type == E.LIMIT_BREACH:
            breaches.append({"time": ev.time, "trigger": p.get("trigger"), "state": p.get("state"),
                             "reason": p.get("reason"), "flatten": p.get("flatten")})
        elif ev.type == E.TRADING_STATE:
            states.append({"time": ev.time, "state": p.get("state"), "previous": p.get("previous"),
                           "cause": p.get("cause"), "by": p.get("by"), "reason": p.get("reason")})
        elif ev.type == E.KILL_SWITCH and p.get("action") == "trip":
            breaches.append({"time": ev.time, "trigger": "kill_switch", "state": "HALTED", "reason": p.get("reason"),
                             "flatten": p.get("flatten")})
    return (pd.DataFrame(breaches, columns=["time", "trigger", "state", "reason", "flatten"]),
            pd.DataFrame(states, columns=["time", "state", "previous", "cause", "by", "reason"]))


def build_risk_report(risk, book: "Book", *, events: Iterable["Event"] | None = None, day: date | None = None,
                      returns: pd.DataFrame | None = None, settings: VarSettings | None = None,
                      crash_day: date | None = None) -> RiskReport:
    """Assemble the report for ``book`` from a :class:`~tradekit.risk.manager.RiskManager`
    or a :class:`~tradekit.risk.gate.PreTradeGate` (``risk``).

    ``returns`` (daily, one column per symbol) defaults to the bundled data's last
    ``lookback_days``; positions in symbols without history are listed in the notes.
    """
    gate = getattr(risk, "gate", risk)
    settings = settings or gate.config.var
    notes: list[str] = [risk.regime_note] if getattr(risk, "regime_note", "") else []
    capital = gate.capital_for(book)
    limits = limits_table(gate.usage(book))
    breaches, states = _events_table(events or [], day)

    pos = exposures_from_book(book)
    var_rows, scenarios = [], None
    comps = pd.DataFrame(columns=["strategy", "symbol", "exposure", "component_var"])
    corr = pd.DataFrame()
    if pos.empty:
        notes.append("no open positions: VaR and stress are zero")
    else:
        if returns is None:
            returns = daily_returns(pos["symbol"].unique(), lookback=settings.lookback_days)
        if returns.empty:
            notes.append("no daily returns for the held symbols: VaR not computed")
        else:
            for m in ("historical", "parametric", "monte_carlo"):
                r = portfolio_var(pos, returns, m, settings.confidence, settings.horizon_days,
                                  paths=settings.mc_paths, seed=settings.seed)
                var_rows.append(r.to_dict())
                if m == "historical":
                    scenarios = r.pnl
                if r.uncovered and m == "historical":
                    notes.append(f"no return history for {', '.join(r.uncovered)}: left out of VaR")
            notes.append(f"VaR from {len(returns)} daily returns {returns.index[0]:%Y-%m-%d}..{returns.index[-1]:%Y-%m-%d}; "
                         f"report method: {settings.method}; positions treated as linear (options delta-one)")
            ref = day or date.today()
            lag = (ref - returns.index[-1].date()).days
            if lag > 7:
                notes.append(f"the return history ends {returns.index[-1]:%Y-%m-%d}, {lag} days before {ref}: VaR reflects "
                             "that period; import or fetch recent daily bars (tradekit data import|fetch --timeframe 1d)")
            comps = component_var(pos, returns, settings.confidence, settings.horizon_days)
            corr = correlation(returns[[s for s in pos["symbol"].unique() if s in returns.columns]])
        cov = coverage(pos, [] if returns.empty else list(returns.columns))
        miss = ", ".join(f"{s} (₹{fmt_inr(v, 0)})" for s, v in cov["missing"][:6])
        notes.append(f"VaR covers {cov['pct']:.1f} % of the gross exposure (₹{fmt_inr(cov['covered'], 0)} of "
                     f"₹{fmt_inr(cov['gross'], 0)})"
                     + (f"; no daily return history for {miss}" if miss else ""))
    var_df = pd.DataFrame(var_rows, columns=["method", "confidence", "horizon_days", "var", "es", "exposure", "uncovered"])

    stress_rows = []
    for g in settings.stress_gaps_pct:
        pnl = stress_gap(pos, g) if not pos.empty else 0.0
        stress_rows.append({"scenario": f"gap {g:+g} %", "pnl": pnl, "frac_of_capital": pnl / capital})
    cd = crash_day or settings.crash_day
    try:
        cd = cd or default_crash_day()
        pnl, detail = stress_replay(pos, cd) if not pos.empty else (0.0, None)
        stress_rows.append({"scenario": f"replay {cd:%Y-%m-%d}", "pnl": pnl, "frac_of_capital": pnl / capital})
        if detail is not None and detail["proxy"].any():
            notes.append(f"crash replay {cd}: {', '.join(detail.index[detail['proxy']])} took the NIFTY move (no data)")
    except Exception as e:  # noqa: BLE001 - a report shows what it could not compute
        notes.append(f"crash-day replay not available: {e}")
    stress = pd.DataFrame(stress_rows, columns=["scenario", "pnl", "frac_of_capital"])
    return RiskReport(day, gate.state.value, capital, limits, breaches, states, var_df, stress, comps, corr, pos, notes,
                      scenarios)
