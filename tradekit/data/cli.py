"""``tradekit data import|fetch|list`` and ``tradekit instruments update|show``.

Registered on the main app with one line in :mod:`tradekit.cli`.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Optional

import typer

from tradekit.errors import DataError, ValidationError

data_app = typer.Typer(no_args_is_help=True, help="A trader's own bars: import a CSV, fetch from Kite, list the data directory.")
instruments_app = typer.Typer(no_args_is_help=True, help="The instrument master: Kite's daily dump, cached per day.")
ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG or config/default.yaml)")


def _cfg(config: Optional[Path]):
    from tradekit.config import load_config

    return load_config(config)


def _day(s: Optional[str], name: str) -> Optional[date]:
    if s is None:
        return None
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise ValidationError(f"{s!r} is not a date (YYYY-MM-DD)", field=name) from None


def _today() -> date:
    from tradekit.clock import IST

    return datetime.now(IST).date()


# -- data ------------------------------------------------------------------------------------------
@data_app.command("import")
def data_import(
    file: Path = typer.Argument(..., help="a CSV of bars (Kite historical export, a vendor's file, any export)"),
    symbol: str = typer.Option(..., "--symbol", help="the instrument, EXCHANGE:SYMBOL, e.g. NSE:XYZ"),
    timeframe: str = typer.Option("1m", "--timeframe", help="1m (1-minute bars) or 1d (daily bars)"),
    columns: Optional[str] = typer.Option(None, "--columns", help="FIELD=COLUMN,... for date, time, open, high, low, "
                                          "close, volume (volume=none: no volume), e.g. date=Datetime,open=Open"),
    tz: Optional[str] = typer.Option(None, "--tz", help="time zone of timestamps written without an offset, e.g. UTC "
                                     "or Asia/Kolkata (refused without it: nothing is guessed)"),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Check a CSV of bars (loader and data-quality rules) and store it as Parquet in the data directory.
    A bad file is refused with its row and column; nothing is written then."""
    from tradekit.data.importer import import_bars
    from tradekit.data.store import timeframe_of

    tf = timeframe_of(timeframe)
    cfg = _cfg(config)
    res = import_bars(file, symbol, cfg.data_dir, timeframe=tf, columns=columns, tz=tz)
    used = ", ".join(f"{k}={v if v is not None else 'none'}" for k, v in res.columns.items())
    typer.echo(res.summary())
    typer.echo(f"  columns: {used}" + (f"; time zone {tz}" if tz else ""))
    for n in res.notes:
        typer.echo(f"  note: {n}")
    for w in res.warnings[:10]:
        typer.echo(f"  data quality: {w}")
    if len(res.warnings) > 10:
        typer.echo(f"  data quality: ... {len(res.warnings) - 10} more warning(s)")


@data_app.command("fetch")
def data_fetch(
    symbol: str = typer.Option(..., "--symbol", help="the instrument, EXCHANGE:SYMBOL, e.g. NSE:INFY"),
    start: str = typer.Option(..., "--from", help="first day, YYYY-MM-DD"),
    end: Optional[str] = typer.Option(None, "--to", help="last day, YYYY-MM-DD (default: today)"),
    timeframe: str = typer.Option("1m", "--timeframe", help="1m (minute candles) or 1d (day candles)"),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Fetch bars through Kite's historical API (needs `tradekit kite login`): within Kite's span per
    request and its rate limit, resumable (a re-run asks only for the days still missing), stored
    in the data directory."""
    from tradekit.brokers.kite.cli import _broker
    from tradekit.data.fetch import fetch_bars
    from tradekit.data.store import timeframe_of

    tf = timeframe_of(timeframe)
    d0 = _day(start, "--from")
    d1 = _day(end, "--to") or _today()
    cfg = _cfg(config)
    b = _broker(config)
    try:
        if not b.logged_in:
            raise DataError(f"not logged in to Kite ({b.session_status()}): run `tradekit kite login` first")
        res = fetch_bars(b, symbol, d0, d1, cfg.data_dir, timeframe=tf)
    finally:
        b.close()
    typer.echo(res.summary())
    if res.calendar_note:
        typer.echo(f"  note: {res.calendar_note}")


@data_app.command("list")
def data_list(config: Optional[Path] = ConfigOpt) -> None:
    """What the data directory holds: per instrument and timeframe, the days covered and the
    trading days missing in between (NSE calendar)."""
    from tradekit.data.store import bars_root, inventory

    cfg = _cfg(config)
    rows = inventory(cfg.data_dir)
    if not rows:
        typer.echo(f"no bars in {bars_root(cfg.data_dir)} (import some with `tradekit data import FILE --symbol NSE:X`)")
        return
    typer.echo(f"{bars_root(cfg.data_dir)}:")
    w = max(len(h.key) for h in rows)
    for h in rows:
        typer.echo(f"  {h.key:<{w}}  {h.timeframe:<4}  {h.first} .. {h.last}  {h.sessions:>5} day(s)  "
                   f"{h.rows:>9,} bars  gaps: {h.gaps_text()}")


# -- instruments -------------------------------------------------------------------------------------
@instruments_app.command("update")
def instruments_update(
    url: Optional[str] = typer.Option(None, "--url", help="Kite's REST root (default: kite.root of the config; "
                                      "the dump is GET <root>/instruments, public)"),
    logged_in: bool = typer.Option(False, "--logged-in", help="through the logged-in client's instruments() instead"),
    day: Optional[str] = typer.Option(None, "--date", help="the day the dump is cached for (default: today, IST)"),
    max_bad: float = typer.Option(0.5, "--max-bad", min=0.0, max=1.0, help="refuse a dump with more than this share of bad rows"),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Download Kite's instrument dump, check it, cache it for the day; every NSE, BSE, NFO, BFO,
    CDS and MCX instrument then becomes known to replay, the gate, the sandbox and the session.
    When the download fails, says which master commands will use instead (exit 1)."""
    from tradekit.market.master import load_master, update_master

    cfg = _cfg(config)
    d = _day(day, "--date") or _today()
    fetch = None
    b = None
    if logged_in:
        from tradekit.brokers.kite.broker import _dump_csv
        from tradekit.brokers.kite.cli import _broker

        b = _broker(config)
        if not b.logged_in:
            b.close()
            raise DataError(f"not logged in to Kite ({b.session_status()}): run `tradekit kite login`, or drop --logged-in")

        def fetch() -> bytes:
            return _dump_csv(b._call("fetch the instrument dump", "other", b.kite.instruments))
    try:
        store, check, path = update_master(cfg, d, fetch=fetch, root=url, max_bad_fraction=max_bad)
    except DataError as e:
        _, info = load_master(cfg, d)
        typer.echo(f"error: {e}", err=True)
        typer.echo(f"using instead: {info.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        if b is not None:
            b.close()
    per = ", ".join(f"{ex} {n:,}" for ex, n in check.by_exchange().items())
    typer.echo(f"instrument dump of {d}: {len(check.rows):,} instruments ({per}) cached in {path}")
    skipped = len(check.problems)
    if skipped:
        typer.echo(f"  {check.bad} bad row(s), {check.duplicates} duplicate(s), {check.unsupported} of other exchanges; "
                   f"first: {check.problems[0]}")
        for p in check.problems[1:5]:
            typer.echo(f"  {p}")


@instruments_app.command("show")
def instruments_show(
    symbols: Optional[list[str]] = typer.Argument(None, help="EXCHANGE:SYMBOL to look up"),
    day: Optional[str] = typer.Option(None, "--date", help="the master of this day (default: today)"),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Which master commands use (the day's dump, an older cached one, the bundled sample), and instruments in it."""
    from tradekit.market.master import load_master

    cfg = _cfg(config)
    store, info = load_master(cfg, _day(day, "--date") or _today())
    typer.echo(info.message)
    for k in symbols or []:
        i = store.get(k)
        typer.echo(f"  {i.key}: token {i.instrument_token}, {i.instrument_type.value} {i.segment.value}, tick "
                   f"{i.tick_size if i.meta.get('tick_rule') != 'nse-equity' else 'NSE dated table'}, lot {i.lot_size}"
                   + (f", expiry {i.expiry}" if i.expiry else "") + f" ({i.meta.get('source')})")


def register(app: typer.Typer) -> None:
    """Add ``data`` and ``instruments`` to the ``tradekit`` command line."""
    app.add_typer(data_app, name="data")
    app.add_typer(instruments_app, name="instruments")
