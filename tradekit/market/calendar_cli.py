"""``tradekit calendar import FILE`` and ``tradekit calendar show YEAR``.

Registered on the main app in :mod:`tradekit.cli`. Errors are :class:`TradekitError` (one
line, exit 2); a usage mistake is one line with exit 2 as everywhere.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from tradekit.errors import TradekitError, ValidationError

app = typer.Typer(no_args_is_help=True, help="Trading calendar: import the exchange's holiday list, show a year.")

MAX_YEARS_AHEAD = 2  # NSE publishes next year's list in December; further ahead is a typo

ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG or config/default.yaml)")


def _year(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    s = text.strip()
    if not (s.isdigit() and len(s) == 4):
        raise ValidationError(f"{text!r} is not a year (YYYY)", field=option)
    return int(s)


@app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., metavar="FILE", help="the exchange's holiday list: NSE's CSV (Sr. No, Date, Day, Description) or "
                                          "the table pasted from its circular; with --special, special sessions"),
    special: bool = typer.Option(False, "--special", help="FILE lists special sessions: date, kind (muhurat, budget, "
                                                          "dr-test, regular-saturday, other), open, close [, markets, "
                                                          "pre_open, post_close, block_deal]"),
    source: Optional[str] = typer.Option(None, "--source", help="where the list comes from, e.g. the circular: "
                                                                "\"NSE/CMTR/12345 (2026-12-12)\""),
    year: Optional[str] = typer.Option(None, "--year", help="the year the file must hold (default: its first date's)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="check and print, write nothing"),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Import a year's holiday list (or special sessions) as a dated override of the calendar.

    It replaces the provisional calendar (or the bundled list) for that year in every run of
    a config with the same data_dir. A holiday on a weekend is flagged, not refused; a
    duplicate, an unparseable date or a weekday that disagrees with its date is an error
    naming the line, and nothing is written.
    """
    from tradekit.clock import IST
    from tradekit.config import load_config
    from tradekit.market.calendar import CALENDAR_START, calendar_for
    from tradekit.market.calendar_import import (
        CalendarImportError,
        calendar_dir,
        parse_bytes,
        read_file,
        sha256_of,
        write_override,
    )

    want = _year(year, "--year")
    cfg = load_config(config)
    raw = read_file(file)
    parsed = parse_bytes(raw, str(file), special=special, year=want)
    folder = calendar_dir(cfg.data_dir, cfg.market)
    kind = "special" if special else "holidays"
    this_year = datetime.now(IST).year
    if not CALENDAR_START.year <= parsed.year <= this_year + MAX_YEARS_AHEAD:
        first = (parsed.sessions[0].line if special else min(h.line for h in parsed.holidays + parsed.weekend))
        raise CalendarImportError(f"line {first}: a list for {parsed.year}: tradekit takes lists for "
                                  f"{CALENDAR_START.year}..{this_year + MAX_YEARS_AHEAD} (a typo in the year?)",
                                  file=str(file))
    for w in parsed.warnings:
        typer.echo(f"warning: {file}: {w}")
    if special:
        try:
            current = calendar_for(cfg)
            listed = {h.date for h in current.holidays(parsed.sessions[0].date.replace(month=1, day=1),
                                                         parsed.sessions[0].date.replace(month=12, day=31))}
        except TradekitError:
            listed = set()
        for s in parsed.sessions:
            if s.kind == "muhurat" and s.date.weekday() < 5 and s.date not in listed:
                typer.echo(f"warning: {file}: line {s.line}: {s.date} ({s.date:%A}) is not a holiday in the {s.date.year} "
                           "list: a weekday Muhurat day is a holiday for regular trading (import the year's list)")
            if s.open is None:
                typer.echo(f"warning: {file}: line {s.line}: {s.date} {s.kind}: no timings: the day is a holiday for "
                           "regular trading and the session is skipped until its timings are imported")
    if dry_run:
        _print_parsed(parsed, special)
        typer.echo(f"dry run: nothing written (would write {folder / f'{parsed.year}-{kind}.yaml'})")
        return
    now = datetime.now(IST)
    path, replaced = write_override(folder, parsed, kind=kind, file_name=Path(file).name, sha256=sha256_of(raw),
                                    source_text=(source or "").strip(), now=now)
    try:
        cal = calendar_for(cfg)  # read back: what the runs will see
        src = cal.year_source(parsed.year)
    except TradekitError as e:
        path.unlink(missing_ok=True)
        if replaced is not None:
            replaced.rename(path)
        raise TradekitError(f"{file}: the imported list cannot be used, nothing changed: {e}") from None
    if special:
        typer.echo(f"imported {len(parsed.sessions)} special session(s) for {parsed.year} from {file} into {path}")
    else:
        typer.echo(f"imported {len(parsed.holidays)} weekday holiday(s) for {parsed.year} from {file} into {path} "
                   f"({len(parsed.weekend)} on weekends, flagged)")
    if replaced is not None:
        typer.echo(f"the earlier import was kept as {replaced}")
    typer.echo(f"the {parsed.year} calendar now comes from: {src.source}")


def _print_parsed(parsed, special: bool) -> None:
    if special:
        for s in parsed.sessions:
            t = f"{s.open:%H:%M}-{s.close:%H:%M}" if s.open else "timings not given (skipped)"
            typer.echo(f"  {s.date} {s.date:%a} {s.kind}: {t}; {', '.join(s.markets)}")
        return
    for h in parsed.holidays:
        typer.echo(f"  {h.date} {h.date:%a} {h.name}")
    for h in parsed.weekend:
        typer.echo(f"  {h.date} {h.date:%a} {h.name} (weekend: no effect)")


@app.command("show")
def show_cmd(
    year: str = typer.Argument(..., metavar="YEAR", help="YYYY"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object: year, source, holidays, special sessions"),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Print where a year's calendar comes from (tables, imported file, provisional) and its holidays."""
    from datetime import date

    from tradekit.config import load_config
    from tradekit.market.calendar import calendar_for

    y = _year(year, "YEAR")
    cfg = load_config(config)
    cal = calendar_for(cfg)
    src = cal.year_source(y)
    start, end = max(date(y, 1, 1), cal.first_day), min(date(y, 12, 31), cal.last_day)
    hols = cal.holidays(start, end)
    specials = cal.special_sessions(start, end)
    weekend = cal.weekend_holidays(y)
    if as_json:
        typer.echo(json.dumps({
            **src.to_dict(),
            "trading_days": len(cal.sessions(start, end)),
            "holidays": [{"date": h.date.isoformat(), "name": h.name} for h in hols],
            "weekend_holidays": [{"date": h.date.isoformat(), "name": h.name} for h in weekend],
            "special_sessions": [{"date": s.date.isoformat(), "kind": s.kind, "timings_known": s.timings_known,
                                  "source": s.source} for s in specials],
        }, ensure_ascii=False))
        return
    label = {"tables": "bundled tables", "imported": "imported file", "config": "config (market.holidays)",
             "exchange_calendars": "exchange_calendars XBOM", "provisional": "PROVISIONAL calendar"}[src.kind]
    typer.echo(f"{cal.exchange} {y}: {label}")
    typer.echo(f"  source: {src.source}")
    if src.file:
        typer.echo(f"  file: {src.file}")
    typer.echo(f"  {len(cal.sessions(start, end))} trading days, {len(hols)} weekday holidays")
    for h in hols:
        mark = " (provisional: fixed date)" if h.provisional else ""
        typer.echo(f"  {h.date} {h.date:%a}  {h.name}{mark}")
    for h in weekend:
        typer.echo(f"  {h.date} {h.date:%a}  {h.name} (weekend: no effect)")
    for s in specials:
        if s.timings_known:
            st = cal.session_times(s.date) if cal.is_trading_day(s.date) else None
            when = f"{st.open:%H:%M}-{st.close:%H:%M}" if st else "no equity session"
        else:
            when = "timings not configured: skipped"
        typer.echo(f"  {s.date} {s.date:%a}  special session: {s.kind}, {when}")
    if src.provisional:
        typer.echo("  movable festival holidays (Holi, Id, Good Friday, Diwali, ...) are not known: import the "
                   "exchange's list when it is published: tradekit calendar import FILE --source \"NSE/CMTR/...\"")


def register(root: typer.Typer) -> None:
    """Add ``calendar`` (``calendar import``, ``calendar show``) to the main CLI."""
    root.add_typer(app, name="calendar")
