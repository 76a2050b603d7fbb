"""``tradekit corporate-actions import|list``: the splits, bonuses and dividends a session applies at
their ex-dates (:mod:`tradekit.market.corporate_actions`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer

from tradekit.errors import ValidationError

app = typer.Typer(no_args_is_help=True, help="Import and list corporate actions (splits, bonuses, dividends).")
ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG or config/default.yaml)")


def _data_dir(config: Optional[Path]) -> Path:
    from tradekit.config import load_config

    return Path(load_config(config).data_dir)


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="the exchange's corporate-actions CSV, or symbol,ex_date,kind,ratio,amount"),
    config: Optional[Path] = ConfigOpt,
    note: str = typer.Option("", "--source", help="where the file came from (kept with the actions)"),
) -> None:
    """Keep a file's splits, bonuses and dividends; a session applies each at its ex-date. A file
    with a bad row is refused whole, naming the rows."""
    from tradekit.market.corporate_actions import import_file

    res, added, known = import_file(file, _data_dir(config), note=note)
    typer.echo(f"{file.name} ({res.format} format): {len(res.actions)} action(s), {added} new, {known} already known; "
               f"{len(res.skipped)} row(s) skipped")
    for i, why in res.skipped[:20]:
        typer.echo(f"  skipped row {i}: {why}")
    if len(res.skipped) > 20:
        typer.echo(f"  … {len(res.skipped) - 20} more skipped")


@app.command("list")
def list_(
    config: Optional[Path] = ConfigOpt,
    since: Optional[str] = typer.Option(None, "--from", help="ex-dates from this day (YYYY-MM-DD)"),
    symbol: Optional[str] = typer.Option(None, "--symbol", help="one symbol, e.g. NSE:INFY"),
) -> None:
    """The imported actions, by ex-date."""
    from tradekit.market.corporate_actions import CorporateActionStore

    try:
        start = date.fromisoformat(since) if since else None
    except ValueError:
        raise ValidationError(f"{since!r} is not a date (YYYY-MM-DD)", field="--from") from None
    acts = CorporateActionStore(_data_dir(config)).actions()
    if symbol:
        key = symbol.upper() if ":" in symbol else f"NSE:{symbol.upper()}"
        acts = [a for a in acts if a.key == key]
    if start:
        acts = [a for a in acts if a.ex_date >= start]
    if not acts:
        typer.echo("no corporate actions imported" + (" for that selection" if (symbol or since) else
                                                       " (tradekit corporate-actions import FILE)"))
        return
    for a in acts:
        typer.echo(a.describe())


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="corporate-actions")
