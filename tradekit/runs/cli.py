"""``tradekit run day`` and ``tradekit schedule``: the daily chain from a terminal or a scheduler.

Registered on the main app with one line in :mod:`tradekit.cli`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG or config/default.yaml)")
OutOpt = typer.Option(None, "--out", help="folder of run folders (default: runs)")
ModeOpt = typer.Option(None, "--mode", help="paper or live (default: the config's mode)")

run_app = typer.Typer(no_args_is_help=True, help="Run the day's notebooks (premarket, session, eod) with papermill.")


def _root(out: Optional[Path], cfg) -> Path:
    from tradekit.runs.config import runs_settings

    return out if out is not None else runs_settings(cfg).root


def _exit_on_failure(res) -> None:
    """A notebook run that failed: its message on stderr and exit status 1."""
    if not res.ok:
        typer.echo(f"error: {res.message}", err=True)
        raise typer.Exit(1)


@run_app.command("day")
def run_day_cmd(
    day: Optional[str] = typer.Option(None, "--date", help="YYYY-MM-DD (default: today, IST)"),
    mode: Optional[str] = ModeOpt,
    config: Optional[Path] = ConfigOpt,
    out: Optional[Path] = OutOpt,
    symbols: Optional[str] = typer.Option(None, "--symbols", help="paper: bundled symbols, e.g. RELIANCE,INFY,TCS"),
    strategy: Optional[str] = typer.Option(None, "--strategy",
                                           help="paper: sma:FAST:SLOW[:QTY[:PRODUCT]], or none"),
    signals: Optional[Path] = typer.Option(None, "--signals", help="a signal file for the day (the research export)"),
    kill_at: Optional[str] = typer.Option(None, "--kill-at", help="paper drill: trip the kill switch at HH:MM"),
    timeout: Optional[int] = typer.Option(None, "--timeout", help="per-cell timeout in seconds (paper default 900)"),
    rehearse: bool = typer.Option(False, "--rehearse", help="live day against tradekit kite-sim (kite.root on loopback): "
                                                            "the day and clock are the sandbox's replayed ones"),
) -> None:
    """Run premarket → session → eod for a day into runs/<date>/ and print the report's path.

    Stops at the first failing notebook with its error; a holiday ends cleanly after premarket.
    Exit status: 0 done (or holiday, or halted by the kill switch), 1 a notebook failed.
    """
    from tradekit.config import load_config
    from tradekit.runs.chain import run_day

    cfg = load_config(config)
    res = run_day(day, mode, cfg, _root(out, cfg), symbols=symbols, strategy=strategy, signals=signals,
                  kill_at=kill_at, execution_timeout=timeout if timeout is not None else -1, echo=typer.echo,
                  rehearse=rehearse)
    if not res.ok:
        typer.echo(f"error: {res.message}", err=True)
        typer.echo(f"the executed notebooks and manifest are in {res.run_dir}", err=True)
        raise typer.Exit(1)


@run_app.command("research")
def run_research_cmd(
    symbols: str = typer.Option("RELIANCE,INFY,TCS", "--symbols", help="bundled symbols, comma-separated"),
    start: str = typer.Option("2016-08-16", "--start", help="first day of the backtest"),
    end: str = typer.Option("2016-09-09", "--end", help="last day of the backtest"),
    fast: str = typer.Option("5,10,15,20", "--fast", help="fast SMA lengths to sweep"),
    slow: str = typer.Option("20,30,45,60", "--slow", help="slow SMA lengths to sweep"),
    quantity: int = typer.Option(10, "--quantity", help="shares per signal"),
    export_day: Optional[str] = typer.Option(None, "--export-day", help="day whose signals are exported"),
    config: Optional[Path] = ConfigOpt,
    out: Optional[Path] = OutOpt,
) -> None:
    """Run the research notebook into runs/research/<day>/: sweep, heatmap, and the signal hand-off."""
    from tradekit.config import load_config
    from tradekit.errors import ValidationError
    from tradekit.runs.chain import run_research_notebook

    def ints(text: str, name: str) -> list[int]:
        try:
            return [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise ValidationError(f"{text!r} is not a comma-separated list of whole numbers", field=name) from None

    cfg = load_config(config)
    params = {"symbols": symbols, "start": start, "end": end, "fast": ints(fast, "--fast"),
              "slow": ints(slow, "--slow"), "quantity": quantity, "export_day": export_day or ""}
    res = run_research_notebook(cfg, _root(out, cfg), parameters=params, echo=typer.echo)
    _exit_on_failure(res)


@run_app.command("weekly")
def run_weekly_cmd(
    day: str = typer.Option(..., "--date", help="any day of the ISO week to review, YYYY-MM-DD"),
    config: Optional[Path] = ConfigOpt,
    out: Optional[Path] = OutOpt,
) -> None:
    """Run the weekly checklist notebook over the week's run folders into runs/weekly/<monday>/."""
    from datetime import date

    from tradekit.config import load_config
    from tradekit.errors import ValidationError
    from tradekit.runs.review import run_weekly_notebook

    try:
        d = date.fromisoformat(day)
    except ValueError:
        raise ValidationError(f"{day!r} is not a date YYYY-MM-DD", field="--date") from None
    cfg = load_config(config)
    res = run_weekly_notebook(cfg, _root(out, cfg), d, echo=typer.echo)
    _exit_on_failure(res)


@run_app.command("monthly")
def run_monthly_cmd(
    month: str = typer.Option(..., "--month", help="the month to review, YYYY-MM"),
    config: Optional[Path] = ConfigOpt,
    out: Optional[Path] = OutOpt,
) -> None:
    """Run the monthly checklist notebook (audit verify, compliance export, limit review) into runs/monthly/<month>/."""
    from tradekit.config import load_config
    from tradekit.runs.review import run_monthly_notebook

    cfg = load_config(config)
    res = run_monthly_notebook(cfg, _root(out, cfg), month, echo=typer.echo)
    _exit_on_failure(res)


def schedule(
    at: Optional[str] = typer.Option(None, "--at", help="start time, IST HH:MM (default 08:45)"),
    mode: Optional[str] = ModeOpt,
    config: Optional[Path] = ConfigOpt,
    out: Optional[Path] = OutOpt,
    once: bool = typer.Option(False, "--once", help="a flag: one pass (report missed days, run today if due), then exit"),
    print_cron: bool = typer.Option(False, "--print-cron",
                                    help="a flag: print a crontab entry instead of running (live configs; a paper "
                                         "config is refused: it has no bars for real dates)"),
    weekly: bool = typer.Option(True, "--weekly/--no-weekly",
                                help="after the last trading day of each ISO week (and of each month), run the weekly "
                                     "(and monthly) checklist notebook into runs/weekly/<monday>/ (runs/monthly/<month>/); "
                                     "default on"),
) -> None:
    """Run the daily chain at a set time on trading days only; report missed runs.

    Resident loop by default (one scheduler per runs folder, one run at a time); use
    --print-cron to let cron start it, or --once from any other scheduler.
    """
    from tradekit.config import load_config
    from tradekit.runs.chain import run_day
    from tradekit.runs.config import runs_settings
    from tradekit.runs.schedule import Scheduler, cron_lines, parse_hhmm

    cfg = load_config(config)
    when = parse_hhmm(at or runs_settings(cfg).schedule_at)
    root = _root(out, cfg)
    if print_cron:
        from datetime import datetime

        from tradekit.clock import IST
        from tradekit.errors import TradekitError
        from tradekit.runs.schedule import cron_refusal

        why = cron_refusal(mode or cfg.mode, runs_settings(cfg).symbols, datetime.now(IST).date())
        if why:
            raise TradekitError(f"no crontab entry: {why}")
        typer.echo(cron_lines(at=when, config=cfg.source, out_root=root, mode=mode))
        return

    cal = _calendar(cfg)

    def run(d):
        res = run_day(d, mode, cfg, root, echo=typer.echo)
        if weekly:
            from tradekit.runs.review import (last_trading_day_of_month, last_trading_day_of_week, run_monthly_notebook,
                                              run_weekly_notebook)

            for due, kind, fn in ((last_trading_day_of_week, "weekly", run_weekly_notebook),
                                  (last_trading_day_of_month, "monthly", run_monthly_notebook)):
                if not due(cal, d):
                    continue
                try:  # the review reads what the period left; its failure is reported, the day's entry stands
                    fn(cfg, root, d, echo=typer.echo)
                except Exception as e:  # noqa: BLE001
                    typer.echo(f"warning: the {kind} review for {d} failed: {type(e).__name__}: {e}", err=True)
        return res

    sch = Scheduler(run, root, when, calendar=cal, echo=typer.echo)
    if once:
        done = sch.tick()
        if not done:
            nxt = sch.next_run()
            typer.echo(f"nothing due now; next run {nxt:%Y-%m-%d %H:%M} IST")
        if any(e.outcome == "failed" for e in done):
            raise typer.Exit(1)
        return
    sch.run_forever()


def _calendar(cfg):
    from tradekit.market.calendar import calendar_for

    return calendar_for(cfg)  # the config's market section and the lists imported with tradekit calendar import


def register(app: typer.Typer) -> None:
    """Add ``run`` (``run day``) and ``schedule`` to the main CLI."""
    app.add_typer(run_app, name="run")
    app.command("schedule")(schedule)
