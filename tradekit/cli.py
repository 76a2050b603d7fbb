"""The ``tradekit`` command line. Errors are one clear line and a non-zero exit, not a traceback."""

from __future__ import annotations

import importlib
import sys
from datetime import date
from pathlib import Path
from typing import Optional

import typer

from tradekit import __version__
from tradekit.errors import TradekitError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="tradekit: research-to-live trading for NSE/BSE.")
audit_app = typer.Typer(no_args_is_help=True, help="Verify and export the tamper-evident audit trail.")
config_app = typer.Typer(no_args_is_help=True, help="Check configuration files.")
app.add_typer(audit_app, name="audit")
app.add_typer(config_app, name="config")

ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG or config/default.yaml)")


def _cfg(path: Optional[Path], overrides: dict | None = None):
    from tradekit.config import load_config

    return load_config(path, overrides)


@app.command()
def version() -> None:
    """Print tradekit's version."""
    typer.echo(f"tradekit {__version__}")


@config_app.command("check")
def config_check(config: Optional[Path] = ConfigOpt) -> None:
    """Validate a config file and print the effective settings that matter."""
    cfg = _cfg(config)
    typer.echo(f"OK: {cfg.source}")
    typer.echo(f"  mode: {cfg.mode}   approval: {cfg.approval.mode}   data_dir: {cfg.data_dir}")
    typer.echo(f"  store: {cfg.store_url()}")


def _audit_target(config: Optional[Path], db: Optional[Path]):
    """(read-only journal, anchor log) for the audit commands: ``--db`` or the config's store."""
    from tradekit.store.audit import AnchorLog, anchor_log_path, open_read_only
    from tradekit.store.db import sqlite_url

    if db is not None:
        return open_read_only(db), AnchorLog(anchor_log_path(sqlite_url(db)))
    cfg = _cfg(config)
    url = cfg.store_url()
    if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).is_file():
        raise TradekitError(f"no journal at {url.split('///', 1)[-1]} (the config's store); give one with --db FILE")
    return open_read_only(url), AnchorLog(anchor_log_path(url, cfg.data_dir, cfg.store.anchor_log))


@audit_app.command("verify")
def audit_verify(
    config: Optional[Path] = ConfigOpt,
    db: Optional[Path] = typer.Option(None, "--db", help="a journal file (default: the config's store)"),
    expect_anchor: Optional[str] = typer.Option(None, "--anchor", help="an anchor hash from an earlier report that must be in the chain"),
    anchors: Optional[Path] = typer.Option(None, "--anchors", help="the anchor log (default: the journal's, under the data dir)"),
    no_anchor_log: bool = typer.Option(False, "--no-anchor-log", help="check the chain only, not the published anchors"),
) -> None:
    """Check the hash chain and the published anchors, read-only; name the first event altered, inserted or removed."""
    from tradekit.store import verify
    from tradekit.store.audit import AnchorLog

    journal, log = _audit_target(config, db)
    if anchors is not None:
        if not anchors.is_file():
            raise TradekitError(f"--anchors: {anchors}: no such anchor log")
        log = AnchorLog(anchors)
    res = verify(journal, expect_anchor=expect_anchor, anchors=None if no_anchor_log else log)
    typer.echo(str(res))
    if res.ok and not no_anchor_log and res.anchored_seq is None:
        typer.echo(f"note: no published anchors in {log.path}: nothing outside the database vouches for the journal's end")
    if not res.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    out: Path = typer.Option(..., "--out", "-o", help="output file (.csv or .jsonl)"),
    config: Optional[Path] = ConfigOpt,
    db: Optional[Path] = typer.Option(None, "--db", help="a journal file (default: the config's store)"),
    fmt: Optional[str] = typer.Option(None, "--format", help="csv or jsonl (default: from the file suffix)"),
) -> None:
    """Write the journal as CSV or JSONL for a compliance reviewer."""
    from tradekit.store import export

    journal, _ = _audit_target(config, db)
    try:
        n = export(journal, out, fmt=fmt)
    except ValueError as e:
        raise TradekitError(str(e)) from None
    typer.echo(f"wrote {n} events to {out}")


@audit_app.command("anchor")
def audit_anchor(
    day: Optional[str] = typer.Option(None, "--date", help="YYYY-MM-DD (default: the last event's day)"),
    config: Optional[Path] = ConfigOpt,
    db: Optional[Path] = typer.Option(None, "--db"),
    publish: bool = typer.Option(False, "--publish", help="also append it to the anchor log outside the database"),
) -> None:
    """Print a day's anchor hash: the hash of its last event (``--publish``: add it to the anchor log)."""
    j, log = _audit_target(config, db)
    if day is None:
        a = j.tail()
    else:
        try:
            d = date.fromisoformat(day)
        except ValueError:
            raise TradekitError(f"--date: {day!r} is not a date (YYYY-MM-DD)") from None
        a = j.anchor(d)
        if a is None:
            raise TradekitError(f"no events on {d}")
    typer.echo(f"{a[0]} {a[1]}")
    if publish:
        log.append(a[0], a[1], kind="manual" if day is None else "day_end")
        typer.echo(f"published to {log.path}")


@app.command()
def demo(
    config: Optional[Path] = ConfigOpt,
    out: Optional[Path] = typer.Option(None, "--out", help="folder for the demo's journal and report"),
) -> None:
    """Run a paper-trading demo on bundled real NSE data (no account needed)."""
    from tradekit.demo import run_demo

    cfg = _cfg(config)
    result = run_demo(cfg, out)
    typer.echo(result.summary())


@app.command()
def paper(
    day: Optional[str] = typer.Option(None, "--date", help="a bundled trading day, YYYY-MM-DD (e.g. 2016-08-17); with --feed kite: today (the default)"),
    symbols: str = typer.Option("RELIANCE", "--symbols", help="comma-separated symbols (bundled ones for recorded days; subscribed on the ticker with --feed kite)"),
    speed: Optional[float] = typer.Option(5.0, "--speed", help="simulated minutes per wall minute (approval TTLs run on this clock); 0 = as fast as possible"),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="built-in signals, e.g. sma:10:30:10:MIS (recorded days)"),
    http: bool = typer.Option(False, "--http", help="also accept signals on the loopback HTTP endpoint"),
    feed: str = typer.Option("recorded", "--feed", help="recorded (bundled bars) or kite (today's live Kite ticks; needs `tradekit kite login`, never sends an order to Kite)"),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Run a paper session, on a recorded day (paced) or on live Kite ticks, taking signals from the inbox and decisions from the dashboard."""
    from tradekit.runs.live import paper_command

    res = paper_command(day, symbols, speed or None, strategy, config, http, feed=feed)
    if hasattr(res, "summary"):
        typer.echo(res.summary())
    else:  # a session on live data: the day's outcome
        p = res.pnl
        typer.echo(f"paper on live data {res.day}: ended at {res.ended_at:%H:%M:%S} ({res.stop_reason}); "
                   f"{p['fills']} fills, realized ₹{p['realized']:.2f}, charges ₹{p['charges']:.2f}, net ₹{p['net']:.2f}")


@app.command()
def replay(
    data: Optional[str] = typer.Option(None, "--data", help="bundled symbols (RELIANCE,INFY), files NSE_SYM_1min.csv, or NSE:SYM=path; with --ticks: the symbols to replay (default all)"),
    signals: Optional[str] = typer.Option(None, "--signals", help="a signal file in the published schema (JSON/JSONL)"),
    start: Optional[str] = typer.Option(None, "--from", help="first day, YYYY-MM-DD"),
    end: Optional[str] = typer.Option(None, "--to", help="last day, YYYY-MM-DD"),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="built-in signals, e.g. sma:10:30:10:MIS"),
    out: Optional[Path] = typer.Option(None, "--out", help="folder for the journal and the report (an earlier run there moves to previous/N)"),
    timeframe: str = typer.Option("1min", "--timeframe", help="bundled bars: 1min or 1d"),
    ticks: bool = typer.Option(False, "--ticks", help="replay a day recorded in the tick store, at tick level"),
    day: Optional[str] = typer.Option(None, "--date", help="with --ticks: the recorded day, YYYY-MM-DD"),
    store: Optional[Path] = typer.Option(None, "--store", help="with --ticks: the tick store folder (default: tick_store.dir)"),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Replay recorded days through the paper broker fast, then write the session report.

    Exits 1 when signals were given and every one was rejected or malformed."""
    from tradekit.execution.replay_cli import replay_command

    if timeframe not in ("1min", "1d"):
        raise TradekitError(f"--timeframe: {timeframe!r} is not 1min or 1d")
    res, errors, out_dir, paths = replay_command(data, signals, start, end, strategy, str(out) if out else None, config,
                                                 timeframe=timeframe, ticks=ticks, day=day,
                                                 store=str(store) if store else None)
    for e in errors:
        typer.echo(f"signal record {e.index}: {e.field}: {e.message}", err=True)
    for sid, why in res.rejected_signals:
        typer.echo(f"signal {sid} rejected: {why}", err=True)
    typer.echo(res.summary())
    typer.echo(f"journal: {out_dir / 'journal.db'}")
    if "html" in paths:
        typer.echo(f"report: {paths['html']}")
    if res.previous_run is not None:
        typer.echo(f"the earlier run in this folder was kept in {res.previous_run}")
    if res.all_rejected:
        typer.echo(f"error: every signal was rejected ({len(res.rejected_signals)} rejected, {res.malformed} malformed)",
                   err=True)
        raise typer.Exit(1)


def _register_capabilities() -> None:
    """Each capability keeps its commands in its own module; they are attached here, in one place."""
    from tradekit.market.cli import charges
    from tradekit.signals.cli import app as signals_app

    app.command("charges")(charges)
    app.add_typer(signals_app, name="signals")
    for module in ("tradekit.brokers.kite.cli",  # kite login|logout|status, kite-sim
                   "tradekit.risk.cli",  # kill, unlock
                   "tradekit.runs.cli",  # run day, run research, schedule
                   "tradekit.ui.cli"):  # serve
        importlib.import_module(module).register(app)


_register_capabilities()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning tradekit errors into one line on stderr."""
    try:
        rv = app(args=argv, standalone_mode=False)
        if isinstance(rv, int):  # click returns Exit codes instead of raising when not standalone
            return rv
    except TradekitError as e:
        typer.echo(f"error: {e}", err=True)
        return 2
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as e:  # click usage errors and the like
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            return e.exit_code
        if isinstance(e, click.exceptions.Exit):
            return e.exit_code
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
