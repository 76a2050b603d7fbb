"""``tradekit kite-sim`` (the local sandbox) and ``tradekit kite login|logout|status``.

Registered in ``tradekit/cli.py`` with one line: ``register(app)``.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path
from typing import Optional

import typer

from tradekit.errors import TradekitError

kite_app = typer.Typer(no_args_is_help=True, help="Kite Connect session: log in, log out, status.")
ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG or config/default.yaml)")


def _broker(config: Optional[Path]):
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.brokers.kite.config import KiteConfig
    from tradekit.config import load_config
    from tradekit.config.secrets import Secrets, install_redaction

    cfg = load_config(config)
    secrets = Secrets.load(cfg.secrets_file)
    install_redaction(secrets)
    return KiteBroker(getattr(cfg, "kite", None) or KiteConfig(), secrets, data_dir=cfg.data_dir)


@kite_app.command("login")
def login(
    config: Optional[Path] = ConfigOpt,
    request_token: Optional[str] = typer.Option(None, "--request-token", help="the request_token from the redirect URL"),
) -> None:
    """Log in: open the printed URL, then give the request_token from the redirect (kept 0600 on disk)."""
    b = _broker(config)
    if request_token is None:
        typer.echo(f"Open this page and log in:\n  {b.login_url()}")
        request_token = typer.prompt("request_token from the redirect URL", hide_input=False).strip()
    s = b.complete_login(request_token)
    typer.echo(f"logged in as {s.user_id}; the session lasts until {s.expires_at:%Y-%m-%d %H:%M} IST ({b.tokens.path})")


@kite_app.command("logout")
def logout(config: Optional[Path] = ConfigOpt) -> None:
    """Invalidate the access token at Kite and delete the token file."""
    b = _broker(config)
    b.logout()
    typer.echo("logged out")


@kite_app.command("status")
def status(config: Optional[Path] = ConfigOpt) -> None:
    """Say whether the Kite session is usable (never prints the token)."""
    typer.echo(_broker(config).session_status())


def kite_sim(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (keep it on loopback)"),
    port: int = typer.Option(8765, "--port", min=0, max=65535,
                             help="port for REST and the ticker (/ws); 0 picks a free one"),
    api_key: Optional[str] = typer.Option(None, "--api-key", help="default: $KITE_API_KEY or simkey"),
    api_secret: Optional[str] = typer.Option(None, "--api-secret", help="default: $KITE_API_SECRET or simsecret"),
    data: Optional[Path] = typer.Option(None, "--data", help="a data directory (its bars/1min/<EX>/<SYMBOL>.parquet, see `tradekit data import`) or a folder of NSE_<SYMBOL>_1min.csv[.gz] (default: bundled sample)"),
    master: Optional[Path] = typer.Option(None, "--master", help="a Kite instrument dump (CSV or .csv.gz, e.g. one `tradekit instruments update` cached) to serve and trade (default: the bundled master)"),
    instrument: Optional[list[str]] = typer.Option(None, "--instrument", help="an instrument no master knows, EXCHANGE:SYMBOL[:TYPE][:tick=T][:lot=L]; repeatable"),
    symbols: Optional[str] = typer.Option(None, "--symbols", help="comma-separated symbols to replay (default: all files)"),
    source_day: Optional[str] = typer.Option(None, "--source-day", help="recorded session to replay, YYYY-MM-DD (default: the last)"),
    trade_date: Optional[str] = typer.Option(None, "--date", help="the date the replay pretends to be (default: today)"),
    speed: float = typer.Option(1.0, "--speed", help="minutes of market per real minute (0: never moves by itself)"),
    capital: float = typer.Option(10_000_000, "--capital", help="the sandbox account's cash in rupees"),
    postback_url: Optional[str] = typer.Option(None, "--postback-url", help="where to POST order postbacks"),
    redirect_url: Optional[str] = typer.Option(None, "--redirect-url", help="where the login page redirects (default: a page showing the token)"),
    ticks_per_bar: int = typer.Option(6, "--ticks-per-bar", help="ticks per replayed 1-minute bar, 1-60 (4+ pass through O, H, L, C)"),
    start: Optional[str] = typer.Option(None, "--start", help="time of day the replayed clock starts at, HH:MM (default: a minute before the first bar)"),
    drift: Optional[list[str]] = typer.Option(None, "--drift", help="SYMBOL=PCT: its replayed prices move PCT %% per minute (e.g. NSE:INFY=-0.5); repeatable"),
) -> None:
    """Serve a Kite Connect-compatible sandbox backed by the paper exchange (official client works unchanged)."""
    import logging

    from tradekit.brokers.kite.sim.server import KiteSimServer

    def _d(s: Optional[str], name: str) -> Optional[date]:
        if s is None:
            return None
        try:
            return date.fromisoformat(s)
        except ValueError:
            raise TradekitError(f"{name}: {s!r} is not a date (YYYY-MM-DD)") from None

    from tradekit.brokers.kite.sim.paths import check_ticks_per_bar

    try:
        check_ticks_per_bar(ticks_per_bar)
    except ValueError as e:
        raise TradekitError(f"--ticks-per-bar: {e}") from None
    if speed < 0:
        raise TradekitError(f"--speed: {speed:g} is negative")
    start_t = None
    if start is not None:
        try:
            start_t = datetime.strptime(start, "%H:%M").time()
        except ValueError:
            raise TradekitError(f"--start: {start!r} is not a time of day (HH:MM)") from None
    drifts = []
    for item in drift or []:
        key, sep, pct = item.rpartition("=")
        try:
            drifts.append((key if ":" in key else f"NSE:{key}", float(pct)))
        except ValueError:
            sep = ""
        if not sep or not key:
            raise TradekitError(f"--drift: {item!r} is not SYMBOL=PCT (e.g. NSE:INFY=-0.5)")
    if not logging.getLogger().handlers:
        from tradekit.logfmt import ist_formatter

        console = logging.StreamHandler()
        console.setFormatter(ist_formatter())
        logging.basicConfig(level=logging.INFO, handlers=[console])
    instruments = None
    if master is not None or instrument:
        from tradekit.market.instruments import InstrumentStore
        from tradekit.market.master import user_instrument

        instruments = InstrumentStore.load_csv(master) if master is not None else InstrumentStore.bundled()
        if master is not None:
            instruments.add(i for i in InstrumentStore.bundled() if instruments.find(i.key) is None)
        instruments.add(user_instrument(s) for s in instrument or [])
    sim = KiteSimServer(
        host, port, api_key=api_key, api_secret=api_secret, data_dir=data, instruments=instruments,
        symbols=[s.strip() for s in symbols.split(",")] if symbols else None,
        source_day=_d(source_day, "--source-day"), trade_date=_d(trade_date, "--date"), speed=speed,
        capital=int(capital), postback_url=postback_url, redirect_url=redirect_url, ticks_per_bar=ticks_per_bar,
        start=start_t,
    )
    for key, pct in drifts:
        try:
            sim.market.set_drift(key, pct)
        except (KeyError, ValueError) as e:
            raise TradekitError(f"--drift: {e.args[0] if e.args else e}") from None
    key_src = "--api-key" if api_key else ("$KITE_API_KEY" if os.environ.get("KITE_API_KEY") else "default")
    typer.echo(f"Kite sandbox: REST {sim.url}  ticker {sim.ws_url}  login {sim.login_url}?api_key={sim.shown_api_key}&v=3")
    typer.echo(f"  api_key {sim.shown_api_key} ({key_src}); replaying {len(sim.market.series)} instruments on "
               f"{sim.market.trade_date} at {speed:g}x; Ctrl-C to stop")
    typer.echo(f"  config: kite: {{root: {sim.url}, login_url: {sim.login_url}, ticker_url: {sim.ws_url}}}")
    typer.echo(f"  replayed clock: GET {sim.url}/sim/clock; switches: POST {sim.url}/sim/... (see tradekit/brokers/kite/sim/admin.py)")
    sim.serve_forever()


def register(app: typer.Typer) -> None:
    """Add ``kite`` and ``kite-sim`` to the ``tradekit`` command line."""
    app.add_typer(kite_app, name="kite")
    app.command("kite-sim")(kite_sim)
