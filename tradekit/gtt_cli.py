"""``tradekit gtt list|protect|delete``: GTT protection from a terminal.

``list`` shows the protections the journal records (bracket or holding, instrument, exit side and
quantity, stop, target, GTT id, state); with ``--broker`` (a live config, logged in) also the
GTTs Kite holds. ``protect`` and ``delete`` append a ``gtt.request`` to the config's journal: the
running session (which owns the broker) acts on it at its next journal poll, like ``tradekit
kill`` — it places or deletes the GTT and journals the outcome. Registered on the main app with
one line in :mod:`tradekit.cli`.
"""

from __future__ import annotations

import getpass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Optional

import typer

from tradekit.errors import ValidationError

gtt_app = typer.Typer(no_args_is_help=True, help="GTT protection kept by the broker (survives a crash).")
ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG or config/default.yaml)")
DbOpt = typer.Option(None, "--db", help="a journal file (default: the config's store)")


def _open(config: Optional[Path], db: Optional[Path]):
    from tradekit.config import load_config
    from tradekit.store import Journal, make_engine, sqlite_url

    cfg = load_config(config)
    url = sqlite_url(db) if db is not None else cfg.store_url()
    return cfg, Journal(make_engine(url))


def _price(v: str, name: str) -> Decimal:
    try:
        d = Decimal(str(v).strip())
    except InvalidOperation:
        raise ValidationError(f"{v!r} is not a price", field=name) from None
    if not d.is_finite() or d <= 0:
        raise ValidationError(f"must be a positive price, {v!r} was given", field=name)
    return d


def _who() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli"


def _protections(journal) -> dict:
    from tradekit.execution.gtt import GTT_EVENTS, Protection
    from tradekit.store import EventType as E

    class _View:  # the protector's own event logic, without a broker
        def __init__(self):
            self.protections: dict[str, Protection] = {}
            self._reported, self._adopted = set(), set()

    from tradekit.execution.gtt import GttProtector

    from tradekit.store.archive import read_events

    view = _View()
    pending = []
    for ev in read_events(journal, types=(*GTT_EVENTS, E.GTT_REQUEST)):  # archived days too
        if ev.type == E.GTT_REQUEST:
            pending.append(ev.payload)
        else:
            GttProtector.apply(view, ev.type, ev.payload)
    return {"protections": view.protections, "requests": pending}


@gtt_app.command("list")
def list_(
    broker: bool = typer.Option(False, "--broker", help="also list the GTTs Kite holds (a live config, logged in)"),
    config: Optional[Path] = ConfigOpt,
    db: Optional[Path] = DbOpt,
) -> None:
    """The protections the journal records (and, with --broker, Kite's GTTs)."""
    cfg, j = _open(config, db)
    try:
        view = _protections(j)
    finally:
        j.close()
    rows = list(view["protections"].values())
    if not rows:
        typer.echo("no GTT protections in the journal")
    for p in rows:
        typer.echo(f"{p.bracket_id:<28} {p.key:<18} {p.product:<4} {p.side} {p.quantity:>6}  stop {p.stop}  "
                   f"target {p.target}  gtt {p.gtt_id or '-':<8} {p.state}")
    if broker:
        if cfg.mode != "live":
            raise ValidationError("a paper account's GTTs live in its running session: `tradekit gtt list` shows "
                                  "what its journal records", field="--broker")
        from tradekit.brokers.kite.broker import KiteBroker
        from tradekit.config.secrets import Secrets

        b = KiteBroker(cfg.kite, Secrets.load(cfg.secrets_file), data_dir=cfg.data_dir)
        for g in b.gtts():
            r = g.request
            legs = ", ".join(f"{leg.side.value} {leg.quantity} @ {leg.price}" for leg in r.legs)
            typer.echo(f"kite gtt {g.id:<10} {r.key:<18} {g.status.value:<9} triggers "
                       f"{'/'.join(str(v) for v in r.trigger_values)}  {legs}")


@gtt_app.command("protect")
def protect(
    instrument: str = typer.Argument(..., help="EXCHANGE:SYMBOL of a CNC holding or an NRML position"),
    stop: str = typer.Option(..., "--stop", help="stop trigger price"),
    target: str = typer.Option(..., "--target", help="target trigger price"),
    quantity: Optional[int] = typer.Option(None, "--quantity", "-q", min=1, help="default: the whole position"),
    product: Optional[str] = typer.Option(None, "--product", help="CNC or NRML (default: whichever is held)"),
    config: Optional[Path] = ConfigOpt,
    db: Optional[Path] = DbOpt,
) -> None:
    """Ask the running session to protect a holding with a GTT OCO (stop and target legs)."""
    from tradekit.model.enums import Exchange, Product
    from tradekit.store import EventType as E

    ex, sep, sym = instrument.partition(":")
    if not sep or not sym.strip():
        raise ValidationError(f"{instrument!r} is not EXCHANGE:SYMBOL (e.g. NSE:INFY)", field="INSTRUMENT")
    ex = Exchange.parse(ex, "INSTRUMENT").value
    s, t = _price(stop, "--stop"), _price(target, "--target")
    if s == t:
        raise ValidationError("the stop and the target must differ", field="--target")
    if product is not None:
        prod = Product.parse(product, "--product")
        if prod not in (Product.CNC, Product.NRML):
            raise ValidationError(f"GTT protection is for CNC and NRML, not {prod.value}", field="--product")
        product = prod.value
    cfg, j = _open(config, db)
    if not cfg.gtt.enabled:
        j.close()
        raise ValidationError("GTT protection is off in this config", field="gtt.enabled")
    j.append(E.GTT_REQUEST, {"action": "protect", "exchange": ex, "tradingsymbol": sym.strip(), "stop": str(s),
                             "target": str(t), "quantity": quantity, "product": product, "by": _who(), "origin": "cli"})
    j.close()
    typer.echo(f"asked: protect {ex}:{sym.strip()} with a GTT OCO (stop {s}, target {t}); the running session places it "
               "at its next journal poll (see: tradekit gtt list)")


@gtt_app.command("delete")
def delete(
    bracket_id: Optional[str] = typer.Argument(None, help="the protection's bracket id (tradekit gtt list)"),
    gtt_id: Optional[str] = typer.Option(None, "--gtt", help="a GTT id instead"),
    config: Optional[Path] = ConfigOpt,
    db: Optional[Path] = DbOpt,
) -> None:
    """Ask the running session to delete a protection's GTT."""
    from tradekit.store import EventType as E

    if bool(bracket_id) == bool(gtt_id):
        raise ValidationError("name one protection: a BRACKET_ID or --gtt ID", field="BRACKET_ID")
    if gtt_id is not None and not gtt_id.strip().isdigit():
        raise ValidationError(f"{gtt_id!r} is not a GTT id (digits)", field="--gtt")
    _cfg, j = _open(config, db)
    j.append(E.GTT_REQUEST, {"action": "delete", "bracket_id": bracket_id, "gtt_id": gtt_id and gtt_id.strip(),
                             "by": _who(), "origin": "cli"})
    j.close()
    typer.echo(f"asked: delete the GTT of {bracket_id or 'GTT ' + str(gtt_id)}; the running session does it at its next "
               "journal poll")


def register(app: typer.Typer) -> None:
    """Add ``gtt`` to the main CLI."""
    app.add_typer(gtt_app, name="gtt")
