"""``tradekit perf --from D --to D``: performance across the days of a period (see :mod:`tradekit.monitoring.perf`).

Registered on the main app with one line in :mod:`tradekit.cli`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG or config/default.yaml)")


def perf(
    start: str = typer.Option(..., "--from", help="first day, YYYY-MM-DD"),
    end: str = typer.Option(..., "--to", help="last day, YYYY-MM-DD"),
    runs: Optional[Path] = typer.Option(None, "--runs", help="the folder of run folders (default: <data_dir>/../runs)"),
    journal: Optional[list[str]] = typer.Option(None, "--journal", help="another journal file to include, e.g. the live one (repeatable)"),
    out: Optional[Path] = typer.Option(None, "--out", help="folder for perf-<from>-<to>.html (default: the runs folder)"),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Roll the journals of a period into one report: daily, weekly, monthly P&L net of charges,
    Sharpe, Sortino, drawdown, win rate, per strategy and symbol, paper and live apart."""
    from tradekit.model.money import fmt_inr
    from tradekit.monitoring.perf import perf_command

    rep, path = perf_command(start, end, config=config, runs=str(runs) if runs else None,
                             out=str(out) if out else None, journals=journal)
    for mode, st in rep.modes.items():
        typer.echo(f"{mode}: {st['days']} day(s), net ₹{fmt_inr(st['net_pnl'])} (charges ₹{fmt_inr(st['charges'])}), "
                   f"max drawdown ₹{fmt_inr(st['max_drawdown'])}")
    if not rep.modes:
        typer.echo("no journals in the period")
    typer.echo(f"report: {path}")


def register(app: typer.Typer) -> None:
    app.command("perf")(perf)
