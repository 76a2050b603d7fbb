"""``tradekit conditions list|cancel ID``: conditional orders from a terminal.

Both read the config's journal (or ``--db``). ``cancel`` appends ``condition.cancelled`` when
no session owns the journal (the next session starts with the condition cancelled), or else a
``control`` request (``cancel_condition``) that the running session acts on at its next journal
poll: it journals ``condition.cancelled`` and unsubscribes the condition's instruments. Registered on the main app with one line in :mod:`tradekit.cli`.
"""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from tradekit.errors import ValidationError

app = typer.Typer(no_args_is_help=True, help="Conditional orders: list them with their state, cancel one.")
ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG or config/default.yaml)")
DbOpt = typer.Option(None, "--db", help="a journal file (default: the config's store)")


def _journal(config: Optional[Path], db: Optional[Path]):
    from tradekit.store import Journal, make_engine, sqlite_url

    if db is not None:
        if not db.exists():
            raise ValidationError(f"{db} does not exist", field="--db")
        return Journal(make_engine(sqlite_url(db)))
    from tradekit.config import load_config

    return Journal(make_engine(load_config(config).store_url()))


@app.command("list")
def list_(
    all_: bool = typer.Option(False, "--all", "-a", help="also the ended ones (triggered, cancelled, expired)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
    config: Optional[Path] = ConfigOpt,
    db: Optional[Path] = DbOpt,
) -> None:
    """The conditions: id, state, the order they hold, the condition, expiry, outcome."""
    from tradekit.execution.conditions import ARMED, ConditionLedger, hms

    j = _journal(config, db)
    try:
        items = ConditionLedger.from_journal(j).list(None if all_ else [ARMED])  # archived days too
    finally:
        j.close()
    if as_json:
        for c in items:
            typer.echo(json.dumps(c.to_dict()))
        return
    if not items:
        typer.echo("no conditions" if all_ else "no armed conditions (--all shows the ended ones)")
        return
    for c in items:
        d = c.to_dict()
        end = f" · {c.outcome('->')}" if not c.armed else ""
        typer.echo(f"{c.id}  {c.state:<9}  {d['order']}  when {c.description}  until {hms(c.expires_at) or '-'}{end}")


@app.command("cancel")
def cancel(
    condition_id: str = typer.Argument(..., metavar="ID", help="the condition's id (see `tradekit conditions list`)"),
    reason: str = typer.Option("cancelled from the command line", "--reason", "-r", help="why (recorded)"),
    by: Optional[str] = typer.Option(None, "--by", help="who (default: the OS user)"),
    config: Optional[Path] = ConfigOpt,
    db: Optional[Path] = DbOpt,
) -> None:
    """Cancel an armed condition: its order is never sent."""
    from tradekit.clock import IST
    from tradekit.execution.conditions import ConditionLedger
    from tradekit.store import EventType as E
    from tradekit.store.lease import JournalLeased

    cid = condition_id.strip()
    j = _journal(config, db)
    try:
        led = ConditionLedger.from_journal(j)
        c = led.items.get(cid)
        if c is None:
            known = ", ".join(led.items) or "none"
            raise ValidationError(f"no condition {cid!r} in the journal (known: {known})", field="ID")
        if not c.armed:
            raise ValidationError(f"condition {cid} is already {c.state}", field="ID")
        try:
            who = by or getpass.getuser()
        except Exception:  # noqa: BLE001 - no login name in some containers
            who = "cli"
        why = reason.strip() or "cancelled"
        try:  # no session running: the journal records the cancel, the next session starts without it
            j.append(E.CONDITION_CANCELLED, {"condition_id": cid, "at": datetime.now(IST).isoformat(),
                                             "reason": why, "by": who, "origin": "cli"})
            running = False
        except JournalLeased:  # a session owns the journal: ask it (it cancels at its next journal poll)
            j.append(E.CONTROL, {"action": "cancel_condition", "condition_id": cid, "reason": why, "by": who,
                                 "origin": "cli"})
            running = True
    finally:
        j.close()
    if running:
        typer.echo(f"{cid} cancel requested by {who}: the running session cancels it at its next journal poll "
                   f"({c.description}; {c.side} {c.instrument})")
    else:
        typer.echo(f"{cid} cancelled by {who}: {c.description} ({c.side} {c.instrument} is not sent)")


def register(main: typer.Typer) -> None:
    """Add ``conditions list|cancel`` to the main CLI."""
    main.add_typer(app, name="conditions")
