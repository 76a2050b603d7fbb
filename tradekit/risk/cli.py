"""``tradekit kill`` and ``tradekit unlock``: the kill switch from a terminal.

Both append to the config's journal. A running session polls the journal, so it sees a kill
within one poll: it halts, cancels open orders and flattens. With no session running, the
halt is still recorded: the next session starts HALTED. Unlock needs a reason and is refused
inside the cool-off (``risk.breakers.cooloff_seconds``) after the last trip.
Registered on the main app with one line in :mod:`tradekit.cli`.
"""

from __future__ import annotations

import getpass
from datetime import timedelta
from pathlib import Path
from typing import Optional

import typer

from tradekit.errors import TradingHalted, ValidationError

ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG or config/default.yaml)")
DbOpt = typer.Option(None, "--db", help="a journal file (default: the config's store)")


def _open(config: Optional[Path], db: Optional[Path]):
    from tradekit.clock import default_clock
    from tradekit.config import load_config
    from tradekit.risk.config import RiskConfig
    from tradekit.store import Journal, make_engine, sqlite_url

    cfg = load_config(config)
    risk = getattr(cfg, "risk", None) or RiskConfig()
    url = sqlite_url(db) if db is not None else cfg.store_url()
    # the session's clock: real time, or the sandbox's replayed day in a rehearsal ($TRADEKIT_SANDBOX_CLOCK), so
    # the request is stamped, and the cool-off judged, on the same time line as the trip it answers
    return Journal(make_engine(url), clock=default_clock()), risk


def _who(by: Optional[str]) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli"


def kill(
    reason: str = typer.Option(..., "--reason", "-r", help="why (recorded in the audit trail)"),
    by: Optional[str] = typer.Option(None, "--by", help="who (default: the OS user)"),
    no_flatten: bool = typer.Option(False, "--no-flatten", help="halt and cancel, but keep positions"),
    config: Optional[Path] = ConfigOpt,
    db: Optional[Path] = DbOpt,
) -> None:
    """Kill switch: HALT trading, cancel open orders and flatten positions."""
    from tradekit.risk.killswitch import last_trip
    from tradekit.store.archive import read_events
    from tradekit.store import EventType as E

    reason = reason.strip()
    if not reason:
        raise ValidationError("say why the kill switch is tripped", field="--reason")
    j, risk = _open(config, db)
    who = _who(by)
    state, _, _ = last_trip(read_events(j, types=(E.TRADING_STATE,)))  # an archived trip still counts
    j.append(E.KILL_SWITCH, {"action": "trip", "reason": reason, "by": who, "flatten": not no_flatten,
                             "previous": state, "origin": "cli"})
    if state != "HALTED":
        j.append(E.TRADING_STATE, {"state": "HALTED", "previous": state, "cause": "kill_switch", "by": who,
                                   "reason": reason, "origin": "cli"})
    j.close()
    what = "cancel open orders" + ("" if no_flatten else " and flatten positions")
    typer.echo(f"HALTED by {who}: {reason}")
    typer.echo(f"a running session will {what} at its next journal poll; a new session starts HALTED.")
    typer.echo(f"unlock (after {risk.breakers.cooloff_seconds} s) with: tradekit unlock --reason \"...\"")


def unlock(
    reason: str = typer.Option(..., "--reason", "-r", help="why it is safe to trade again (recorded)"),
    by: Optional[str] = typer.Option(None, "--by", help="who (default: the OS user)"),
    to: str = typer.Option("ACTIVE", "--to", help="ACTIVE, or REDUCING (only exposure-reducing orders)"),
    config: Optional[Path] = ConfigOpt,
    db: Optional[Path] = DbOpt,
) -> None:
    """Unlock trading after a kill switch or breaker trip, once the cool-off has passed."""
    from tradekit.clock import IST
    from tradekit.risk.killswitch import last_trip
    from tradekit.store.archive import read_events
    from tradekit.store import EventType as E

    reason = reason.strip()
    if not reason:
        raise ValidationError("an unlock needs a reason (it is recorded in the audit trail)", field="--reason")
    target = to.strip().upper()
    if target not in ("ACTIVE", "REDUCING"):
        raise ValidationError(f"{to!r} is not ACTIVE or REDUCING", field="--to")
    j, risk = _open(config, db)
    state, at, cause = last_trip(read_events(j, types=(E.TRADING_STATE,)))  # an archived trip still counts
    rank = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
    if rank[target] >= rank[state]:
        typer.echo(f"trading is {state}: nothing to unlock")
        return
    cool = risk.breakers.cooloff_seconds
    now = j.clock.now().astimezone(IST)
    if at is not None:
        until = at + timedelta(seconds=cool)
        if now < until:
            left = int((until - now).total_seconds()) + 1
            raise TradingHalted(f"unlock refused: the cool-off after the {cause} trip at {at.astimezone(IST):%H:%M:%S} "
                                f"runs until {until.astimezone(IST):%H:%M:%S} ({left // 60} min {left % 60} s left)")
    who = _who(by)
    j.append(E.KILL_SWITCH, {"action": "unlock", "reason": reason, "by": who, "to": target, "origin": "cli"})
    j.append(E.TRADING_STATE, {"state": target, "previous": state, "cause": "unlock", "by": who, "reason": reason,
                               "origin": "cli"})
    j.close()
    typer.echo(f"{target} (was {state}), unlocked by {who}: {reason}")


def register(app: typer.Typer) -> None:
    """Add ``kill`` and ``unlock`` to the main CLI."""
    app.command("kill")(kill)
    app.command("unlock")(unlock)
