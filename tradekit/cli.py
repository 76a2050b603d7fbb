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

ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG, else ./tradekit.yaml (a workspace), else the packaged default.yaml)")


def _cfg(path: Optional[Path], overrides: dict | None = None):
    from tradekit.config import load_config

    return load_config(path, overrides)


@app.command()
def version() -> None:
    """Print tradekit's version."""
    typer.echo(f"tradekit {__version__}")


@config_app.command("check")
def config_check(config: Optional[Path] = ConfigOpt) -> None:
    """Validate a config file: list every problem (file, field, what is wrong), or print the
    effective settings that matter. Exit status 2 when there is a problem."""
    from tradekit.errors import ConfigError

    try:
        cfg = _cfg(config)
    except ConfigError as e:
        problems = getattr(e, "problems", None) or []
        if len(problems) < 2:
            raise
        typer.echo(f"error: {e.file}: {len(problems)} problems", err=True)
        for field, msg in problems:
            typer.echo(f"  {field}: {msg}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"OK: {cfg.source}")
    typer.echo(f"  mode: {cfg.mode}   approval: {cfg.approval.mode}   data_dir: {cfg.data_dir}")
    typer.echo(f"  store: {cfg.store_url()}")


AccountOpt = typer.Option(None, "--account", help="the store's account to read (default: the config's store.account; "
                          "see tradekit status --account all)")


def _account_overrides(account: Optional[str]) -> dict | None:
    """``--account`` as config overrides (checked here, so the error names the option)."""
    from tradekit.account_id import validate

    if account is None:
        return None
    return {"store": {"account": validate(account, field="--account")}}


def _audit_target(config: Optional[Path], db: Optional[Path], account: Optional[str] = None):
    """(read-only journal, anchor log) for the audit commands: ``--db`` or the config's store (``--account``: one of its accounts)."""
    from tradekit.store.audit import AnchorLog, anchor_log_path, open_read_only
    from tradekit.store.db import sqlite_url

    overrides = _account_overrides(account)
    if db is not None:
        if overrides is not None and overrides["store"]["account"] != "default":
            raise TradekitError("--account: a journal file (--db) holds one account, the default; "
                                "leave --db out to read an account of the config's store")
        return open_read_only(db), AnchorLog(anchor_log_path(sqlite_url(db)))
    if overrides is not None:
        from tradekit.account_id import check_store

        check_store(_cfg(config).store.url, overrides["store"]["account"], field="--account")
    cfg = _cfg(config, overrides)
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
    account: Optional[str] = typer.Option(None, "--account", help="the store's account to check (default: the config's "
                                          "store.account); 'all': every account of the store, each against its own chain "
                                          "and anchor log"),
) -> None:
    """Check the hash chain and the published anchors, read-only; name the first event altered, inserted or removed."""
    from tradekit.store import verify
    from tradekit.store.audit import AnchorLog

    if account == "all":
        if db is not None or anchors is not None or expect_anchor is not None:
            raise TradekitError("--account all checks every account of the config's store against its own anchor log: "
                                "give no --db, --anchors or --anchor with it")
        from tradekit.accounts_cli import verify_all

        raise typer.Exit(verify_all(config, no_anchor_log=no_anchor_log))
    journal, log = _audit_target(config, db, account)
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
    account: Optional[str] = AccountOpt,
) -> None:
    """Write the journal as CSV or JSONL for a compliance reviewer."""
    from tradekit.store import export

    journal, _ = _audit_target(config, db, account)
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
    account: Optional[str] = AccountOpt,
) -> None:
    """Print a day's anchor hash: the hash of its last event (``--publish``: add it to the anchor log)."""
    j, log = _audit_target(config, db, account)
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

    if day is None and feed != "kite":
        raise typer.BadParameter("give --date YYYY-MM-DD (a bundled day), or --feed kite for today's live data",
                                 param_hint="'--date'")
    res = paper_command(day, symbols, speed or None, strategy, config, http, feed=feed)
    if hasattr(res, "summary"):
        typer.echo(res.summary())
    else:  # a session on live data: the day's outcome
        p = res.pnl
        typer.echo(f"paper on live data {res.day}: ended at {res.ended_at:%H:%M:%S} ({res.stop_reason}); "
                   f"{p['fills']} fills, realized ₹{p['realized']:.2f}, charges ₹{p['charges']:.2f}, net ₹{p['net']:.2f}")


@app.command()
def replay(
    data: Optional[str] = typer.Option(None, "--data", help="symbols (RELIANCE,NSE:XYZ: the data directory's bars, else the bundled sample), files NSE_SYM_1min.csv, or NSE:SYM=path; with --ticks: the symbols to replay (default all)"),
    signals: Optional[str] = typer.Option(None, "--signals",
                                          help="a signal file in the published schema (JSON/JSONL); "
                                               "this or --strategy is required"),
    start: Optional[str] = typer.Option(None, "--from", help="first day, YYYY-MM-DD"),
    end: Optional[str] = typer.Option(None, "--to", help="last day, YYYY-MM-DD"),
    strategy: Optional[str] = typer.Option(None, "--strategy",
                                           help="built-in signals, e.g. sma:10:30:10:MIS; this or --signals is required"),
    out: Optional[Path] = typer.Option(None, "--out", help="folder for the journal and the report (an earlier run there moves to previous/N)"),
    timeframe: str = typer.Option("1min", "--timeframe", help="bundled bars: 1min or 1d"),
    ticks: bool = typer.Option(False, "--ticks", help="replay a day recorded in the tick store, at tick level"),
    day: Optional[str] = typer.Option(None, "--date", help="with --ticks: the recorded day, YYYY-MM-DD"),
    store: Optional[Path] = typer.Option(None, "--store", help="with --ticks: the tick store folder (default: tick_store.dir)"),
    instrument: Optional[list[str]] = typer.Option(None, "--instrument", help="an instrument no master knows: EXCHANGE:SYMBOL[:TYPE][:tick=T][:lot=L], e.g. NSE:XYZ:EQ (repeatable)"),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Replay recorded days through the paper broker fast, then write the session report.

    Needs a source of orders: --signals FILE, --strategy SPEC, or both. Bars before 2020-07-01
    (the bundled 2016 days) need a config with execution.charges_as_of, e.g. -c config/demo.yaml.
    With --ticks --date D, a day recorded in the tick store is replayed at tick level.
    Exits 1 when signals were given and every one was rejected or malformed.
    """
    from tradekit.execution.replay_cli import replay_command

    if not ticks and not data:
        raise typer.BadParameter("give the bars to replay, e.g. --data RELIANCE,INFY (or --ticks --date D for a "
                                 "day recorded in the tick store)", param_hint="'--data'")
    if timeframe in ("1m", "minute"):
        timeframe = "1min"
    if timeframe not in ("1min", "1d"):
        raise TradekitError(f"--timeframe: {timeframe!r} is not 1m (1min) or 1d")
    res, errors, out_dir, paths = replay_command(data, signals, start, end, strategy, str(out) if out else None, config,
                                                 timeframe=timeframe, ticks=ticks, day=day,
                                                 store=str(store) if store else None, instruments=instrument)
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
                   "tradekit.market.calendar_cli",  # calendar import|show
                   "tradekit.risk.cli",  # kill, unlock
                   "tradekit.runs.cli",  # run day, run research, schedule
                   "tradekit.ui.cli",  # serve
                   "tradekit.market.ca_cli",  # corporate-actions import|list
                   "tradekit.gtt_cli",  # gtt list|protect|delete
                   "tradekit.data.cli",  # data import|fetch|list, instruments update|show
                   "tradekit.execution.conditions_cli",  # conditions list|cancel
                   "tradekit.alerts.cli",  # alerts list|ack|watch
                   "tradekit.monitoring.perf_cli",  # perf --from --to
                   "tradekit.store.journal_cli",  # journal snapshot|archive|status
                   "tradekit.accounts_cli",  # status, report (--account A|all)
                   "tradekit.workspace"):  # init, upgrade-workspace
        importlib.import_module(module).register(app)


_register_capabilities()


def _plain_help(t: typer.Typer) -> None:
    """Plain click help everywhere: typer's rich help prints ``<bool>`` after every flag, which
    reads as if ``--once`` took a value, and boxes that do not survive a pipe or a narrow terminal."""
    t.rich_markup_mode = None
    for g in t.registered_groups:
        _plain_help(g.typer_instance)


_plain_help(app)


def _click_exceptions() -> list:
    """The click exception modules in play: typer >= 0.20 carries its own copy of click
    (``typer._click``), older typer uses plain ``click``; either may raise."""
    mods = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            mods.append(importlib.import_module(name))
        except ImportError:
            continue
    return mods


def _of(mods: list, name: str) -> tuple:
    return tuple(getattr(m, name) for m in mods if hasattr(m, name))


def _command_path(argv: list[str]) -> str:
    """``tradekit run day`` for ``["run", "day", "--bad"]``: the command the arguments name (for
    usage errors click raises without a context, e.g. an option given without its value)."""
    from typer.main import get_command

    cmd, path = (get_command(app) if isinstance(app, typer.Typer) else app), ["tradekit"]
    for a in argv:
        sub = getattr(cmd, "commands", {}).get(a)
        if sub is None:
            break
        cmd, path = sub, [*path, a]
    return " ".join(path)


def usage_line(e: BaseException, argv: list[str] | None = None) -> str:
    """One line for a command-line usage mistake: the command, what is wrong, where the help is."""
    ctx = getattr(e, "ctx", None)
    path = getattr(ctx, "command_path", None) or _command_path(list(sys.argv[1:] if argv is None else argv))
    cmd = getattr(ctx, "command", None)
    if hasattr(cmd, "list_commands") and (type(e).__name__ == "NoArgsIsHelpError"
                                          or str(getattr(e, "message", "")).lower().startswith("missing command")):
        # a group named without its command (click's message for this is the whole help page)
        names = [n for n in cmd.list_commands(ctx) if not getattr(cmd.get_command(ctx, n), "hidden", False)]
        text = f"missing command: {path} COMMAND, one of: {', '.join(names)}"
    else:
        text = e.format_message() if hasattr(e, "format_message") else str(e)
    text = " ".join(text.split())  # one line even when the message spans several
    return f"error: {path}: {text} (see '{path} --help')"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; tradekit errors and usage mistakes become one line on stderr.

    Exit status: 0 done, 1 what the command reports as failed, 2 an error or a usage mistake,
    130 interrupted.
    """
    mods = _click_exceptions()
    usage, click_errors = _of(mods, "UsageError"), _of(mods, "ClickException")
    exits = tuple({typer.Exit, *_of(mods, "Exit")})
    aborts = tuple({typer.Abort, *_of(mods, "Abort")})
    try:
        rv = app(args=argv, prog_name="tradekit", standalone_mode=False)
        if isinstance(rv, int):  # click returns Exit codes instead of raising when not standalone
            return rv
    except TradekitError as e:
        typer.echo(f"error: {e}", err=True)
        return 2
    except exits as e:
        return getattr(e, "exit_code", 0)
    except aborts:
        typer.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except usage as e:
        typer.echo(usage_line(e, argv), err=True)
        return 2
    except click_errors as e:  # e.g. a file option that cannot be opened
        typer.echo(f"error: {' '.join(e.format_message().split())}", err=True)
        return e.exit_code or 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
