"""``tradekit signals ...``: check a signal file offline, print or refresh the JSON Schema."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tradekit.errors import TradekitError

app = typer.Typer(no_args_is_help=True, help="Signal files: validate them, publish their schema.")


@app.command("check")
def check(files: list[Path] = typer.Argument(..., help="signal files (.json or .jsonl)")) -> None:
    """Validate signal files without trading: list the valid ids and every error by record and field."""
    from tradekit.signals.schema import parse_batch

    bad = 0
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise TradekitError(f"{path}: cannot read: {e.strerror}") from None
        res = parse_batch(data, fmt="jsonl" if path.suffix.lower() == ".jsonl" else "auto")
        typer.echo(f"{path}: {len(res.accepted)} valid, {res.bad_records} bad")
        for e in res.errors:
            typer.echo(f"  {e}")
        bad += res.bad_records
    if bad:
        raise typer.Exit(1)


@app.command("schema")
def schema(
    write: Optional[Path] = typer.Option(None, "--write", help="write the schema to this file instead of printing it"),
) -> None:
    """Print the JSON Schema of a signal file (tradekit/signals/signal.schema.json)."""
    from tradekit.signals.schema import json_schema_text, write_json_schema

    if write is None:
        typer.echo(json_schema_text(), nl=False)
    else:
        typer.echo(f"wrote {write_json_schema(write)}")
