"""``tradekit status`` and ``tradekit report``: one account of the store, or every account with a total.

Several accounts share one PostgreSQL store (:mod:`tradekit.store.accounts`). ``--account ID``
picks one (default: the config's ``store.account``); ``--account all`` shows each account of the
store side by side (who runs it, mode, trading state, events, open positions, P&L net of
charges) and a ``TOTAL`` row. Everything is read-only: nothing is created or appended.
"""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path
from typing import Optional

import typer

from tradekit.errors import TradekitError

ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG, else ./tradekit.yaml, "
                         "else the packaged default.yaml)")
AccountOpt = typer.Option(None, "--account", help="an account of the config's store (default: store.account), or "
                          "'all': every account and a total")


def _config(config: Optional[Path]):
    from tradekit.config import load_config

    return load_config(config)


def _desks(cfg, account: Optional[str]) -> dict:
    """{account id: read-only Desk} for ``--account`` (None: the config's own account)."""
    from tradekit.account_id import ALL, check_store, validate
    from tradekit.desk import connect, connect_all

    if account == ALL:
        return connect_all(cfg)
    if account is None:
        return {cfg.store.account: connect(cfg)}
    account = validate(account, field="--account")
    check_store(cfg.store.url, account, field="--account")
    return {account: connect(cfg, account=account)}


def _money(v) -> str:
    return f"{float(v):,.2f}"


def _text_table(df) -> str:
    shown = df.copy()
    for c in ("realized", "unrealized", "charges", "net"):
        shown[c] = [_money(v) for v in shown[c]]
    return shown.to_string(index=False)


def status(account: Optional[str] = AccountOpt, config: Optional[Path] = ConfigOpt) -> None:
    """Who runs each account's session, its trading state, events and P&L net of charges (read-only)."""
    from tradekit.desk import accounts_table
    from tradekit.store.accounts import describe

    cfg = _config(config)
    desks = _desks(cfg, account)
    table = accounts_table(desks)
    if account != "all":
        table = table[table["account"] != "TOTAL"]
        d = next(iter(desks.values()))
        typer.echo(f"journal: {describe(d.journal.engine)}")
    else:
        typer.echo(f"{len(desks)} account{'s' if len(desks) != 1 else ''} in {_safe_url(cfg)}")
    typer.echo(_text_table(table))
    for name, d in desks.items():
        if d.info.running:
            typer.echo(f"  {name}: {d.info.holder}")


def _safe_url(cfg) -> str:
    from sqlalchemy.engine import make_url

    from tradekit.store.accounts import split_url

    return make_url(split_url(cfg.store_url())[0]).render_as_string(hide_password=True)


def report(
    account: Optional[str] = AccountOpt,
    day: Optional[str] = typer.Option(None, "--date", help="only this day, YYYY-MM-DD (default: the whole journal)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="folder for the report (default: <data_dir>/reports)"),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """The session report of an account's journal (HTML and CSV tables); with --account all, one per
    account and accounts.html: a table per account and the total across them."""
    from tradekit.desk import accounts_table
    from tradekit.monitoring.report import build_session_report, table_html

    d: date | None = None
    if day is not None:
        try:
            d = date.fromisoformat(day)
        except ValueError:
            raise TradekitError(f"--date: {day!r} is not a date (YYYY-MM-DD)") from None
    cfg = _config(config)
    desks = _desks(cfg, account)
    out = Path(out) if out is not None else Path(cfg.data_dir).expanduser() / "reports"
    written = {}
    for name, desk in desks.items():
        rep = build_session_report(desk.journal, day=d, title=f"Account {name}" + (f" on {d}" if d else ""),
                                   figures=False, plugins=False)
        folder = out / name if account == "all" else out
        written[name] = (rep, rep.save(folder, html=folder / f"report-{name}.html")["html"])
    if account != "all":
        (name, (rep, path)), = written.items()
        typer.echo(f"account {name}: {rep.book.last_seq} events, net P&L ₹{_money(rep.net_pnl)}")
        typer.echo(f"report: {path}")
        return
    table = accounts_table(desks)
    parts = ["<h1>All accounts</h1>", f"<p>{html.escape(_safe_url(cfg))}" + (f", {d}" if d else "") + "</p>",
             "<h2>Accounts and total</h2>", table_html(table)]
    for name, (rep, path) in written.items():
        parts += [f"<h2>Account {html.escape(name)}</h2>",
                  f"<p><a href='{html.escape(str(path.relative_to(out)))}'>the account's full report</a></p>",
                  table_html(rep.pnl_by_strategy)]
    total_path = out / "accounts.html"
    total_path.parent.mkdir(parents=True, exist_ok=True)
    total_path.write_text("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>All accounts</title>"
                          "</head><body>" + "".join(parts) + "</body></html>", encoding="utf-8")
    typer.echo(_text_table(table))
    typer.echo(f"report: {total_path}")


def verify_all(config: Optional[Path], *, no_anchor_log: bool = False) -> int:
    """``tradekit audit verify --account all``: every account against its own chain and anchor log; 1 if any fails."""
    from tradekit.store import verify
    from tradekit.store.accounts import split_url, with_account
    from tradekit.store.audit import AnchorLog, anchor_log_path, open_read_only

    cfg = _config(config)
    desks = _desks(cfg, "all")
    failed = 0
    base = split_url(cfg.store_url())[0]
    for name in desks:
        url = with_account(base, name)
        log = AnchorLog(anchor_log_path(url, cfg.data_dir, cfg.store.anchor_log))
        res = verify(open_read_only(url), anchors=None if no_anchor_log else log)
        typer.echo(f"account {name}: {res}")
        failed += not res.ok
    return 1 if failed else 0


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("report")(report)
