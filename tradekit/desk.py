"""A read-only desk for notebooks: the state of a running or finished session as pandas frames.

>>> import tradekit
>>> desk = tradekit.connect()            # the default config's journal (or -c / $TRADEKIT_CONFIG)
>>> desk.positions                       # doctest: +SKIP
>>> desk.pnl(by="symbol")                # doctest: +SKIP
>>> desk.equity.plot()                   # doctest: +SKIP

The desk opens the journal **read-only** (no table is created, no writer is registered, nothing is
appended, not even on opening), so it is safe on the journal of a live session that another process
owns. :meth:`Desk.refresh` reads what was appended since the last call; every property answers
from the state after the last refresh (the first is done by :func:`connect`).

Money comes back as ``float`` rupees for analysis; ``connect(exact=True)`` keeps the journal's exact
``Decimal`` values (to the paisa), e.g. to check a contract note.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd

from tradekit.clock import IST
from tradekit.errors import StoreError
from tradekit.store.journal import Event, Journal
from tradekit.store.projection import Book

__all__ = ["Desk", "accounts_table", "connect", "connect_all"]

_MONEY = {
    "positions": ("avg", "last", "realized", "unrealized", "charges", "net", "turnover"),
    "orders": ("price", "trigger", "avg_price"),
    "fills": ("price", "value", "charges"),
    "pnl": ("realized", "unrealized", "gross", "charges", "net", "turnover"),
}


@dataclass(frozen=True)
class SessionInfo:
    """Who writes the journal now, and how far it has got."""

    running: bool
    holder: str | None  # "pid 1234 on host (since ...)" of the session that owns the journal
    last_seq: int
    last_event: datetime | None
    trading_state: str
    mode: str | None

    def __str__(self) -> str:
        t = f"{self.last_event:%Y-%m-%d %H:%M:%S}" if self.last_event else "never"
        who = f"RUNNING ({self.holder})" if self.running else "NO SESSION"
        return f"{who}; {self.mode or '?'} mode; {self.trading_state}; {self.last_seq} events, last at {t} IST"


class Desk:
    """The read side of one journal. Build it with :func:`connect`."""

    def __init__(self, journal: Journal, *, exact: bool = False, config=None):
        if not journal.read_only:
            raise StoreError("the desk reads a journal opened read-only (use tradekit.connect())")
        self.journal = journal
        self.exact = exact
        self.config = config
        self.book = Book()
        self.events: list[Event] = []
        self._mode: str | None = None
        self.refresh()

    def __repr__(self) -> str:
        acct = "" if self.account == "default" else f"account {self.account}: "
        return f"<tradekit.Desk {acct}{self.info}>"

    @property
    def account(self) -> str:
        """The account whose journal this desk reads (``default``: a one-account store)."""
        return getattr(self.journal, "account", "default")

    # -- reading -------------------------------------------------------------------------------------
    def refresh(self) -> int:
        """Read the events appended since the last call; return how many there were."""
        new = list(self.journal.events(after=self.book.last_seq))
        for ev in new:
            try:
                self.book.apply(ev)
            except StoreError as e:  # what a rebuild sets aside (two writers' leftovers) is listed, not fatal
                self.book.anomalies.append((ev.seq, ev.type, str(e)))
                self.book.last_seq = ev.seq
            if ev.type == "session.started" and self._mode is None:
                self._mode = ev.payload.get("mode")
        self.events.extend(new)
        return len(new)

    @property
    def info(self) -> SessionInfo:
        """Whether a session owns the journal now, its mode, trading state and the last event."""
        from tradekit.store.lease import current_holder

        try:
            holder = current_holder(self.journal.engine)
        except Exception:  # an old journal without the lease table: nobody holds it
            holder = None
        last = self.events[-1].time.astimezone(IST) if self.events else None
        return SessionInfo(running=holder is not None, holder=holder.describe() if holder else None,
                           last_seq=self.book.last_seq, last_event=last, trading_state=self.book.trading_state,
                           mode=self._mode)

    # -- frames ----------------------------------------------------------------------------------------
    def _money(self, df: pd.DataFrame, kind: str) -> pd.DataFrame:
        if self.exact or not len(df):
            return df
        out = df.copy()
        for c in _MONEY[kind]:
            if c in out.columns:
                out[c] = [None if v is None else float(v) for v in out[c]]
                out[c] = out[c].astype("float64")
        return out

    @property
    def positions(self) -> pd.DataFrame:
        """One row per (strategy, instrument, product): qty, avg, last, realized, unrealized, charges, net."""
        from tradekit.monitoring.report import _positions_table

        return self._money(_positions_table(self.book), "positions")

    @property
    def orders(self) -> pd.DataFrame:
        """Every order with its date and time (IST), status, fill and reason, oldest first."""
        from tradekit.monitoring.report import _orders_table

        return self._money(_orders_table(self.book, None), "orders")

    @property
    def fills(self) -> pd.DataFrame:
        """Every fill with its date and time (IST), price, value and charges, oldest first."""
        from tradekit.monitoring import analytics as an
        from tradekit.monitoring.report import _fills_table

        return self._money(_fills_table(an.fills_frame(self.events)), "fills")

    def pnl(self, by: str | None = "strategy") -> pd.DataFrame:
        """P&L net of charges grouped ``by`` ``"strategy"`` or ``"symbol"``; ``None``: one total row."""
        from tradekit.monitoring.report import _group_pnl, _positions_table

        if by not in ("strategy", "symbol", None):
            raise ValueError(f"by must be 'strategy', 'symbol' or None, not {by!r}")
        pos = _positions_table(self.book)
        if by is None:
            pos = pos.assign(total="total")
        return self._money(_group_pnl(pos, by or "total"), "pnl")

    @property
    def equity(self) -> pd.Series:
        """Equity (cash + positions at their marks) after every fill, in rupees: ``desk.equity.plot()``."""
        return self.equity_curve()["equity"]

    def equity_curve(self, bars=None, day: date | str | None = None) -> pd.DataFrame:
        """Cash, positions, equity, P&L and drawdown over time; with ``bars``, at every bar close."""
        from tradekit.monitoring.report import build_session_report

        rep = build_session_report(events=self.events, bars=bars, day=day, figures=False, plugins=False)
        return rep.equity

    @property
    def net_pnl(self) -> Decimal | float:
        """Realised + unrealised − charges (+ dividends) over the whole journal."""
        v = self.book.net_pnl
        return v if self.exact else float(v)

    # -- options (issue 21) ------------------------------------------------------------------------------
    def _master(self, day: date):
        from tradekit.market.instruments import InstrumentStore
        from tradekit.market.master import load_master

        store = load_master(self.config, day)[0]
        # the bundled NFO sample (Kite's dump of 2026-08-18) answers for the contracts the master lacks
        sample = InstrumentStore.bundled(include_nfo_sample=True)
        store.add(i for i in sample if i.is_derivative and store.find(i.exchange, i.tradingsymbol) is None)
        return store

    def option_chain(self, underlying: str, expiry=None, *, quotes, now: datetime | None = None, **kw) -> pd.DataFrame:
        """The option chain of ``underlying`` (:func:`tradekit.options.chain.option_chain`) on the config's
        instrument master, priced from ``quotes``: a session's hub (``session.market``) or ``kite.quote(...)``."""
        from tradekit.options.chain import option_chain

        now = now or datetime.now(IST)
        return option_chain(underlying, expiry, master=kw.pop("master", None) or self._master(now.date()),
                            quotes=quotes, now=now, **kw)

    def greeks(self, prices=None, *, now: datetime | None = None, rate: float | None = None):
        """The F&O book's Greeks: (per position, per strategy, account) frames
        (:func:`tradekit.risk.greeks_limit.greeks_report`). ``prices``: last prices by key for the
        underlyings (default: the journal's marks, which hold only the positions' own prices)."""
        from tradekit.risk.greeks_limit import greeks_report

        now = now or datetime.now(IST)
        marks = {p.instrument_key: p.last_price for p in self.book.positions.values() if p.last_price is not None}
        if rate is None:
            risk = getattr(self.config, "risk", None)
            rate = risk.greeks.rate if risk is not None else 0.065
        return greeks_report(self.book, now=now, instruments=self._master(now.date()), prices={**marks, **(prices or {})},
                             rate=rate)


def connect(config=None, *, exact: bool = False, journal: str | Path | None = None, account: str | None = None) -> Desk:
    """A read-only :class:`Desk` on a running or finished session.

    Parameters
    ----------
    config : str, Path or TradekitConfig, optional
        The session's config (default ``$TRADEKIT_CONFIG`` or the default config); its store is read.
    exact : bool
        Money as exact ``Decimal`` rupees instead of floats.
    journal : str or Path, optional
        A journal file (SQLite) to read instead of the config's store, e.g. a replay's or an
        archived day's ``journal.db``.
    account : str, optional
        Another account of the config's store (``store.account`` by default); every account at
        once is :func:`connect_all`.
    """
    from tradekit.account_id import ALL, validate
    from tradekit.config import TradekitConfig, load_config
    from tradekit.store.db import make_engine, sqlite_url

    if account == ALL:
        raise StoreError("account='all' is several desks: use tradekit.desk.connect_all()")
    if account is not None:
        account = validate(account, field="account")
        if journal is not None:
            raise StoreError("give journal= (a SQLite file: one account) or account=, not both")
        cfg = config if isinstance(config, TradekitConfig) else load_config(config)
        config = cfg.model_copy(update={"store": cfg.store.model_copy(update={"account": account})})
        from tradekit.account_id import check_store

        check_store(cfg.store.url, account, field="account")
    if journal is not None:
        p = Path(journal).expanduser()
        if not p.is_file():
            raise StoreError(f"no journal at {p}")
        url, cfg = sqlite_url(p), (config if isinstance(config, TradekitConfig) else None)
    else:
        cfg = config if isinstance(config, TradekitConfig) else load_config(config)
        url = cfg.store_url()
        if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).is_file():
            raise StoreError(f"no journal yet at {url.split('///', 1)[-1]}: start a session (tradekit demo, "
                             "tradekit run day) or pass journal=PATH")
    return Desk(Journal(make_engine(url), read_only=True), exact=exact, config=cfg)


def connect_all(config=None, *, exact: bool = False) -> dict[str, Desk]:
    """A read-only :class:`Desk` per account of the config's store (a SQLite store: its one account),
    by account id; :func:`accounts_table` sets them side by side with a total."""
    from tradekit.config import TradekitConfig, load_config
    from tradekit.store.accounts import list_accounts, split_url
    from tradekit.store.db import make_engine

    cfg = config if isinstance(config, TradekitConfig) else load_config(config)
    url = cfg.store_url()
    if url.startswith("sqlite"):
        return {"default": connect(cfg, exact=exact)}
    base = make_engine(split_url(url)[0])
    try:
        names = list_accounts(base)
    finally:
        base.dispose()
    if not names:
        raise StoreError(f"no account has a journal in {base.url.render_as_string(hide_password=True)} yet")
    return {a: connect(cfg, exact=exact, account=a) for a in names}


ACCOUNT_COLUMNS = ["account", "session", "mode", "state", "events", "last_event", "open_positions", "realized",
                   "unrealized", "charges", "net"]


def accounts_table(desks: dict[str, Desk]) -> pd.DataFrame:
    """One row per account (who runs it, mode, trading state, events, open positions, P&L net of
    charges) and a ``TOTAL`` row summing the money and counts: the "all accounts" view."""
    from tradekit.model.money import dec

    rows = []
    for name, d in desks.items():
        info, b = d.info, d.book
        charges = b.charges_total.total
        rows.append({"account": name, "session": "running" if info.running else "-", "mode": info.mode or "?",
                     "state": info.trading_state, "events": info.last_seq,
                     "last_event": f"{info.last_event:%Y-%m-%d %H:%M:%S}" if info.last_event else "never",
                     "open_positions": sum(1 for p in b.positions.values() if p.quantity),
                     "realized": b.realized_pnl, "unrealized": b.unrealized_pnl, "charges": charges, "net": b.net_pnl})
    if rows:
        total = {"account": "TOTAL", "session": f"{sum(r['session'] == 'running' for r in rows)} running",
                 "mode": "", "state": "", "events": sum(r["events"] for r in rows), "last_event": "",
                 "open_positions": sum(r["open_positions"] for r in rows)}
        for c in ("realized", "unrealized", "charges", "net"):
            total[c] = sum((r[c] for r in rows), dec(0))
        rows.append(total)
    df = pd.DataFrame(rows, columns=ACCOUNT_COLUMNS)
    exact = all(d.exact for d in desks.values()) and bool(desks)
    if not exact:
        for c in ("realized", "unrealized", "charges", "net"):
            df[c] = df[c].astype("float64")
    return df
