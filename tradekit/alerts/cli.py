"""``tradekit alerts list|ack|watch``. Registered on the main app with one line in :mod:`tradekit.cli`.

``ack`` appends a request (``alert.ack_requested``): the running session journals ``alert.acked``
at its next poll (or the next session does, when none runs), which stops the alert's escalation.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Optional

import typer

from tradekit.errors import TradekitError

alerts_app = typer.Typer(no_args_is_help=True, help="Alerts: list them, acknowledge one, watch the session's heartbeat.")
ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG or config/default.yaml)")
DbOpt = typer.Option(None, "--db", help="a journal file (default: the config's store)")


def _journal(config: Optional[Path], db: Optional[Path], *, read_only: bool):
    from tradekit.clock import default_clock
    from tradekit.config import load_config
    from tradekit.store import Journal, make_engine, sqlite_url

    cfg = load_config(config)
    url = sqlite_url(db) if db is not None else cfg.store_url()
    if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).exists():
        raise TradekitError(f"no journal at {url.split('///', 1)[-1]} (the config's store); give one with --db FILE")
    return cfg, Journal(make_engine(url), clock=default_clock(), read_only=read_only)


def _outbox(j):
    from tradekit.alerts.outbox import ALERT_TYPES, Outbox
    from tradekit.store.archive import read_events

    return Outbox.rebuild(read_events(j, types=ALERT_TYPES))  # archived days too: an old alert may be unacknowledged


@alerts_app.command("list")
def list_(all_: bool = typer.Option(False, "--all", help="acknowledged alerts too"),
          config: Optional[Path] = ConfigOpt, db: Optional[Path] = DbOpt) -> None:
    """The alerts in the journal, newest first: id, priority, status, channels sent, title."""
    _, j = _journal(config, db, read_only=True)
    box = _outbox(j)
    rows = sorted(box.alerts.values(), key=lambda a: a.raised_at, reverse=True)
    shown = 0
    for a in rows:
        if a.acked and not all_:
            continue
        shown += 1
        ack = f" acked by {a.acked['by']} via {a.acked['via']}" if a.acked else (" ack requested" if a.ack_requested else "")
        typer.echo(f"{a.id}  {a.raised_at:%Y-%m-%d %H:%M:%S}  {a.priority:<8} {a.status:<8} "
                   f"[{','.join(sorted(a.sent)) or '-'}]  {a.kind}: {a.title}{ack}")
    if not shown:
        typer.echo("no alerts" if all_ else "no unacknowledged alerts")


@alerts_app.command("ack")
def ack(alert_id: str = typer.Argument(..., help="the alert's id (from `tradekit alerts list`; a unique prefix will do)"),
        by: Optional[str] = typer.Option(None, "--by", help="who (default: the OS user)"),
        config: Optional[Path] = ConfigOpt, db: Optional[Path] = DbOpt) -> None:
    """Acknowledge an alert: its escalation stops (the session journals the acknowledgement)."""
    from tradekit.store.events import EventType as E

    _, j = _journal(config, db, read_only=False)
    a = _outbox(j).find(alert_id.strip())
    if a is None:
        raise typer.BadParameter(f"no alert {alert_id!r} (or more than one starts so); see tradekit alerts list",
                                 param_hint="ID")
    if a.acked:
        typer.echo(f"{a.id} was already acknowledged by {a.acked['by']} via {a.acked['via']}")
        return
    if not by:
        try:
            by = getpass.getuser()
        except Exception:  # noqa: BLE001
            by = "cli"
    j.append(E.ALERT_ACK_REQUESTED, {"id": a.id, "by": by, "via": "cli"})
    typer.echo(f"acknowledgement of {a.id} ({a.title}) requested; the session records it at its next poll")


@alerts_app.command("watch")
def watch(every: float = typer.Option(10.0, "--every", min=0.1, help="seconds between looks"),
          once: bool = typer.Option(False, "--once", help="look once; exit 1 when the heartbeat is missing"),
          config: Optional[Path] = ConfigOpt, db: Optional[Path] = DbOpt) -> None:
    """A watchdog outside the session: alert when the session's heartbeat stops (its lease goes stale or
    its process dies without releasing it). Sent straight to the channels (the journal is the dead
    session's); once per outage, and once more when a session is back."""
    import time as _t

    from tradekit.alerts.manager import notify_now
    from tradekit.store.lease import _read, current_holder

    cfg, j = _journal(config, db, read_only=True)
    limit = cfg.alerts.sources.heartbeat_missing_seconds
    down = False
    while True:
        with j.engine.connect().execution_options(readonly=True) as conn:
            row = _read(conn)
            if conn.in_transaction():
                conn.rollback()
        holder = None if row is None else current_holder(j.engine, stale_after=limit)
        missing = row is not None and holder is None
        stalled = None if holder is None else _loop_stalled(cfg.data_dir, holder, limit)
        if missing and not down:
            ago = _t.time() - row.heartbeat
            title = f"the session's heartbeat is missing ({ago:.0f} s)"
            text = f"{row.owner} (pid {row.pid} on {row.host}) holds the journal but is silent or gone"
            typer.echo(f"ALERT {title}: {text}")
            notify_now(cfg, "heartbeat_missing", title, text, priority="critical", echo=typer.echo)
        elif stalled is not None and not down:
            missing = True  # the process lives (its lease thread beats) but its loop stopped: a hang
            title = f"the session's heartbeat is missing ({stalled:.0f} s)"
            text = (f"{holder.owner} (pid {holder.pid} on {holder.host}) holds the journal, but its run loop has not "
                    f"written its heartbeat file for {stalled:.0f} s: the session is hung")
            typer.echo(f"ALERT {title}: {text}")
            notify_now(cfg, "heartbeat_missing", title, text, priority="critical", echo=typer.echo)
        elif stalled is not None:
            missing = True
        elif down and not missing:
            typer.echo("the session's heartbeat is back")
            notify_now(cfg, "heartbeat_missing", "the session's heartbeat is back", "", priority="info", echo=typer.echo)
        down = missing
        if once:
            raise typer.Exit(1 if missing else 0)
        _t.sleep(every)


def _loop_stalled(data_dir, holder, limit: float) -> float | None:
    """Seconds since the lease holder's run loop last wrote ``<data_dir>/session-heartbeat.json``, when
    that is over ``limit`` (None: beating, stopped, or the file is not the holder's: another process,
    another machine, a notebook session without a run loop)."""
    import json
    import time as _t

    from tradekit.runs.heartbeat import heartbeat_path

    try:
        d = json.loads(heartbeat_path(data_dir).read_text())
        pid, host, wall = int(d["pid"]), str(d["host"]), float(d["wall_time"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if d.get("stopped") or pid != holder.pid or host != holder.host:
        return None
    age = _t.time() - wall
    return age if age > limit else None


def register(app: typer.Typer) -> None:
    """Add ``alerts`` to the main CLI."""
    app.add_typer(alerts_app, name="alerts")
