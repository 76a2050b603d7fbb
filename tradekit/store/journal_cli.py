"""``tradekit journal snapshot|archive|status``: journal snapshots and archival from a terminal.

``snapshot`` writes a snapshot of the journal as committed now (the state a session rebuilds at
start, :mod:`tradekit.store.snapshot`); ``archive`` moves the days older than
``--older-than-days`` (default ``store.archive_after_days``) to a compressed archive file
(:mod:`tradekit.store.archive`) that ``tradekit audit verify`` still checks; ``status`` lists the
snapshots and archives. Registered on the main app with one line in :mod:`tradekit.cli`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tradekit.errors import TradekitError

journal_app = typer.Typer(no_args_is_help=True, help="Journal snapshots (fast start-up) and archival of old days.")
ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG, else ./tradekit.yaml, else the packaged default.yaml)")
DbOpt = typer.Option(None, "--db", help="a journal file (default: the config's store)")


def _open(config: Optional[Path], db: Optional[Path]):
    """(config, journal, archive folder) of ``--db`` or the config's store; a missing file is an error, not a new journal."""
    from tradekit.config import load_config
    from tradekit.store import Journal, make_engine, sqlite_url
    from tradekit.store.archive import archive_dir_for

    cfg = load_config(config)
    if db is not None:
        if not db.is_file():
            raise TradekitError(f"--db: {db}: no such journal file")
        url, data_dir = sqlite_url(db), None
    else:
        url, data_dir = cfg.store_url(), cfg.data_dir
        if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).is_file():
            raise TradekitError(f"no journal at {url.split('///', 1)[-1]} (the config's store); give one with --db FILE")
    folder = archive_dir_for(url, data_dir, cfg.store.archive_dir)
    return cfg, Journal(make_engine(url, synchronous=cfg.store.synchronous)), folder


@journal_app.command("snapshot")
def snapshot_cmd(config: Optional[Path] = ConfigOpt, db: Optional[Path] = DbOpt) -> None:
    """Write a snapshot of the journal now: the next session starts from it and the events after it."""
    from tradekit.store.snapshot import take

    _, j, _ = _open(config, db)
    try:
        row = take(j)
    finally:
        j.engine.dispose()
    what = "already the latest snapshot" if row.get("existing") else f"snapshot written ({row['bytes']} bytes)"
    typer.echo(f"{what}: seq {row['seq']}, hash {row['hash']}, body SHA-256 {row['body_sha256']}")


@journal_app.command("archive")
def archive_cmd(
    older_than_days: Optional[int] = typer.Option(None, "--older-than-days", min=1,
                                                  help="days older than this (IST) leave the database (default: store.archive_after_days)"),
    archive_dir: Optional[Path] = typer.Option(None, "--archive-dir", help="where the archive file goes (default: store.archive_dir, else <data_dir>/archive/<journal>/)"),
    config: Optional[Path] = ConfigOpt,
    db: Optional[Path] = DbOpt,
) -> None:
    """Move the journal's old days to a compressed archive file; `tradekit audit verify` still checks them."""
    from tradekit.store.archive import archive

    cfg, j, folder = _open(config, db)
    days = older_than_days if older_than_days is not None else cfg.store.archive_after_days
    if days is None:
        j.engine.dispose()
        raise TradekitError("no age given: use --older-than-days N or set store.archive_after_days in the config")
    try:
        res = archive(j, older_than_days=days, archive_dir=archive_dir or folder)
    finally:
        j.engine.dispose()
    typer.echo(str(res))


@journal_app.command("status")
def status_cmd(config: Optional[Path] = ConfigOpt, db: Optional[Path] = DbOpt) -> None:
    """The journal's live range, its snapshots and its archive files."""
    from sqlalchemy import func, select

    from tradekit.store.archive import records
    from tradekit.store.journal import events_table
    from tradekit.store.snapshot import list_snapshots

    _, j, _ = _open(config, db)
    try:
        with j.engine.connect() as conn:
            lo, hi, n = conn.execute(select(func.min(events_table.c.seq), func.max(events_table.c.seq),
                                            func.count())).one()
        typer.echo(f"live events: {n} (seq {lo}..{hi}); tail seq {j.last_seq}")
        for s in list_snapshots(j):
            typer.echo(f"snapshot: seq {s['seq']} hash {s['hash'][:16]}… written {s['created_at']}")
        for a in records(j):
            typer.echo(f"archive: events {a.first_seq}..{a.last_seq} ({a.events}, {a.first_day}..{a.last_day}) {a.path}")
    finally:
        j.engine.dispose()


def register(app: typer.Typer) -> None:
    app.add_typer(journal_app, name="journal")
