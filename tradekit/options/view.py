"""The option chain on a screen: an HTML table (calls left, strike in the middle, puts right; in-the-money
sides shaded, the strike nearest the forward marked) and a small ipywidgets view around it that a
notebook or a Voila page displays (``ChainView(load).widget``).

UI only: the numbers come from :func:`tradekit.options.chain.option_chain`. :class:`ChainPage` is the
dashboard page ``dashboards/chain.ipynb`` (``tradekit serve``): the chain of the option quotes the
session recorded (:mod:`tradekit.options.chain_feed`), refreshed every :attr:`ChainPage.interval` s.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from tradekit.clock import IST

log = logging.getLogger(__name__)

__all__ = ["chain_html", "ChainView", "ChainPage", "PAGE_COLUMNS"]

SIDE_COLUMNS = (("oi", "OI", "{:,.0f}"), ("oi_change", "ΔOI", "{:+,.0f}"), ("volume", "Volume", "{:,.0f}"),
                ("iv", "IV %", "{:.1%}"), ("delta", "Δ", "{:+.2f}"), ("theta", "Θ/day", "{:+.2f}"),
                ("vega", "Vega", "{:.2f}"), ("bid", "Bid", "{:,.2f}"), ("ask", "Ask", "{:,.2f}"),
                ("ltp", "LTP", "{:,.2f}"))
# the served page: outermost first (calls read left to right towards the strike, puts mirror them)
PAGE_COLUMNS = (("age_s", "Age s", "{:,.0f}"), ("vega", "Vega", "{:.2f}"), ("theta", "Θ/day", "{:+.2f}"),
                ("delta", "Δ", "{:+.2f}"), ("iv", "IV %", "{:.1%}"), ("volume", "Volume", "{:,.0f}"),
                ("oi_change", "ΔOI", "{:+,.0f}"), ("oi", "OI", "{:,.0f}"), ("bid", "Bid", "{:,.2f}"),
                ("ask", "Ask", "{:,.2f}"), ("ltp", "LTP", "{:,.2f}"))


def _cell(v, fmt: str) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(f):
        return "–"
    return html.escape(fmt.format(f).replace("%", " %") if "%" in fmt else fmt.format(f))


def chain_html(df: pd.DataFrame, *, columns=SIDE_COLUMNS, notes: bool = True) -> str:
    """The chain as an HTML table (class ``tk-chain``), with its forward, expiry and time in a caption."""
    a = df.attrs
    F = a.get("forward", math.nan)
    atm = None
    if len(df) and F == F:
        atm = df.index[int(abs(df.index.to_numpy(float) - F).argmin())]
    head = ([f"<th>{h}</th>" for _, h, _ in columns] + ["<th>Strike</th>"]
            + [f"<th>{h}</th>" for _, h, _ in reversed(columns)])
    rows = []
    for k, r in df.iterrows():
        ce_itm = F == F and k < F
        pe_itm = F == F and k > F
        ce = [f"<td class='ce c-{c}{' itm' if ce_itm else ''}'>{_cell(r.get(f'ce_{c}'), fmt)}</td>"
              for c, _, fmt in columns]
        pe = [f"<td class='pe c-{c}{' itm' if pe_itm else ''}'>{_cell(r.get(f'pe_{c}'), fmt)}</td>"
              for c, _, fmt in reversed(columns)]
        cls = " class='atm'" if k == atm else ""
        rows.append(f"<tr{cls}>{''.join(ce)}<th class='strike'>{k:,.2f}</th>{''.join(pe)}</tr>")
    when = a.get("as_of")
    cap = (f"{html.escape(str(a.get('underlying', '')))} {a.get('expiry', '')} · forward {_cell(F, '{:,.2f}')} "
           f"({html.escape(str(a.get('forward_source', '')))}) · {when:%Y-%m-%d %H:%M} IST" if when else "")
    notes = "".join(f"<div class='tk-chain-note'>{html.escape(n)}</div>" for n in a.get("notes", [])) if notes else ""
    style = ("<style>.tk-chain{border-collapse:collapse;font:12px monospace}.tk-chain td,.tk-chain th{padding:2px 6px;"
             "text-align:right;border-bottom:1px solid #eee}.tk-chain td.itm{background:#fff6dd}"
             ".tk-chain tr.atm th.strike{background:#ffe08a}.tk-chain th.strike{background:#f3f3f3}</style>")
    return (f"{style}<table class='tk-chain'><caption>CALLS · {cap} · PUTS</caption><thead><tr>{''.join(head)}</tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>{notes}")


class ChainView:
    """Underlying and expiry pickers, a refresh button and the table; ``load(underlying, expiry)`` gives the chain."""

    def __init__(self, load: Callable[[str, object], pd.DataFrame], underlyings: list[str],
                 expiries: Callable[[str], list] | None = None):
        import ipywidgets as w

        self.load = load
        self.expiries = expiries
        self.underlying = w.Dropdown(options=underlyings, description="Underlying")
        self.expiry = w.Dropdown(options=[], description="Expiry")
        self.button = w.Button(description="Refresh")
        self.table = w.HTML()
        self.status = w.HTML()
        for x, cls in ((self.table, "tk-chain-table"), (self.button, "tk-chain-refresh")):
            x.add_class(cls)
        self.underlying.observe(lambda _: self._expiries(), names="value")
        self.expiry.observe(lambda _: self.refresh(), names="value")
        self.button.on_click(lambda _: self.refresh())
        self.widget = w.VBox([w.HBox([self.underlying, self.expiry, self.button]), self.status, self.table])
        self._expiries()

    def _expiries(self) -> None:
        opts = self.expiries(self.underlying.value) if self.expiries else []
        self.expiry.options = [str(d) for d in opts]  # the first is picked (a refresh may follow from it)
        self.refresh()

    def refresh(self) -> pd.DataFrame | None:
        try:
            df = self.load(self.underlying.value, self.expiry.value or None)
        except Exception as e:  # a bad pick shows its reason instead of breaking the page
            self.status.value = f"<span class='tk-error'>{html.escape(str(e))}</span>"
            return None
        self.status.value = ""
        self.table.value = chain_html(df)
        return df


EMPTY_HELP = ("The session records them as its market-data hub receives them: a live session and a paper session "
              "on live ticks (<code>tradekit paper --feed kite</code>) record every tick (<code>tick_store.enabled</code>), "
              "a paper session on recorded bars records its F&amp;O contracts' quotes; subscribe the contracts "
              "(the watchlist, <code>--symbols</code>) so that the hub receives them.")


class ChainPage:
    """The option-chain dashboard: day, underlying, expiry and strike-window pickers, the chain of the
    recorded quotes (calls left, puts right, the strike nearest the forward highlighted), the forward
    and its source, each row's age, and an empty state instead of an error. Read-only: no order
    buttons. ``ChainPage.from_config().widget``; :meth:`start` refreshes it every :attr:`interval` s.

    Parameters
    ----------
    store
        The tick store to read (:class:`~tradekit.data.tickstore.TickStore`, never written here).
    master
        ``master(day)`` -> the instrument master of ``day``.
    config
        The session's config (its heartbeat gives the session's clock; ``tick_store.flush_seconds``
        the staleness); None: the wall clock.
    rate
        The rate of the chain's Black-76 (the config's ``risk.greeks.rate``).
    now
        ``now()`` -> the wall time (tests).
    """

    interval = 2.0  # as the execution page: seconds between refreshes
    strike_windows = (("±10", 10), ("±20", 20), ("all", None))

    def __init__(self, store, master: Callable, *, config=None, rate: float = 0.0, flush_seconds: float | None = None,
                 now: Callable | None = None, enabled: bool = True):
        import ipywidgets as w

        from tradekit.ui.cards import PageLiveness

        self.store = store
        self.master = master
        self.config = config
        self.rate = rate
        self.flush_seconds = flush_seconds
        self.enabled = enabled
        self._now = now
        self._masters: dict = {}
        self._task = None
        self.live = PageLiveness()  # the session's clock (RUNNING / NO SESSION) and the kernel beat
        self.day = w.Dropdown(options=[], description="Day")
        self.underlying = w.Dropdown(options=[], description="Underlying")
        self.expiry = w.Dropdown(options=[], description="Expiry")
        self.window = w.Dropdown(options=[x for x, _ in self.strike_windows], value="±10", description="Strikes")
        self.header = w.HTML()
        self.table = w.HTML()
        self.notes = w.HTML()
        self.empty = w.HTML()
        self.error = w.HTML()
        for x, cls in ((self.day, "tk-chain-day"), (self.underlying, "tk-chain-underlying"),
                       (self.expiry, "tk-chain-expiry"), (self.window, "tk-chain-window"),
                       (self.header, "tk-chain-header"), (self.table, "tk-chain-table"),
                       (self.empty, "tk-chain-empty"), (self.error, "tk-view-error"), (self.notes, "tk-chain-notes")):
            x.add_class(cls)
        self._quiet = False
        self.day.observe(lambda _: self._picked("day"), names="value")
        self.underlying.observe(lambda _: self._picked("underlying"), names="value")
        for x in (self.expiry, self.window):
            x.observe(lambda _: self._picked("expiry"), names="value")
        from tradekit.ui._common import STYLE

        self.widget = w.VBox([w.HTML(STYLE + "<h3>Option chain <span class='tk-meta'>(recorded quotes; read-only)</span></h3>"),
                              w.HBox([self.live.badge, self.live.beat]),
                              w.HBox([self.day, self.underlying, self.expiry, self.window]),
                              self.error, self.header, self.empty, self.table, self.notes])
        self.widget.add_class("tk-root")
        self.widget.add_class("tk-chain-page")
        self.refreshes = 0
        self._today = None
        self.last = None  # the last chain shown (a DataFrame)
        self.refresh()

    @classmethod
    def from_config(cls, config=None, **kw):
        """Build from the config (``$TRADEKIT_CONFIG`` by default): its tick store, instrument master and
        Greeks rate. A broken setup shows an error panel."""
        try:
            from tradekit.config import TradekitConfig, load_config
            from tradekit.data.tickstore import TickStore
            from tradekit.options.chain_feed import chain_master

            cfg = config if isinstance(config, TradekitConfig) else load_config(config)
            tcfg = cfg.tick_store
            root = Path(tcfg.dir).expanduser()
            if not root.is_absolute():
                root = Path(cfg.data_dir) / root
            greeks = getattr(getattr(cfg, "risk", None), "greeks", None)
            return cls(TickStore(root), lambda d: chain_master(cfg, d), config=cfg,
                       rate=float(greeks.rate) if greeks is not None else 0.0, flush_seconds=tcfg.flush_seconds,
                       enabled=tcfg.enabled, **kw)
        except Exception as e:  # noqa: BLE001
            from tradekit.ui._common import error_panel

            log.exception("option chain page could not start")
            panel = error_panel("Option chain", f"{type(e).__name__}: {e}")
            panel.start = lambda: None
            return _Panel(panel)

    # -- time --------------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The session's clock when a session is running (a paper day's simulated time), else the wall clock."""
        if self.live.heartbeat is not None and self.live.heartbeat.alive and self.live.clock is not None:
            return self.live.clock
        return (self._now() if self._now else datetime.now(IST)).astimezone(IST)

    def _master(self, day):
        if day not in self._masters:
            self._masters = {day: self.master(day)}
        return self._masters[day]

    # -- pickers -----------------------------------------------------------------------------------
    def _picked(self, what: str) -> None:
        if self._quiet:
            return
        try:
            if what == "day":
                self._fill_underlyings()
            elif what == "underlying":
                self._fill_expiries()
            self._show()
        except Exception as e:  # noqa: BLE001 - a bad pick shows its reason instead of breaking the page
            log.exception("option chain page")
            self.show_error(f"{type(e).__name__}: {e}")

    def _set(self, dd, options, keep=True):
        value = dd.value if keep and dd.value in options else (options[0] if options else None)
        self._quiet = True
        try:
            if list(dd.options) != list(options):
                dd.options = options
            if dd.value != value:
                dd.value = value
        finally:
            self._quiet = False

    def _fill_days(self) -> None:
        from tradekit.options.chain_feed import option_days

        today = self.now().date()
        master = self._master(today)
        days = option_days(self.store, master=master, limit=10)
        opts = [d.isoformat() for d in sorted({today, *days}, reverse=True)]
        first_time = self.day.value is None
        self._set(self.day, opts)
        if first_time:  # today when it has option quotes, else the last day that has
            pick = today if today in days or not days else days[0]
            self._quiet = True
            try:
                self.day.value = pick.isoformat()
            finally:
                self._quiet = False

    def _fill_underlyings(self) -> None:
        from tradekit.options.chain_feed import option_underlyings

        d = date.fromisoformat(self.day.value) if self.day.value else self.now().date()
        self._found = option_underlyings(self.store, d, master=self._master(d))
        names = [f"{u}" if ex == "NFO" else f"{ex}:{u}" for ex, u in self._found]
        self._set(self.underlying, names)
        self._fill_expiries()

    def _fill_expiries(self) -> None:
        exps = []
        for (ex, u), ds in getattr(self, "_found", {}).items():
            if self.underlying.value in (u, f"{ex}:{u}"):
                exps = ds
        d = date.fromisoformat(self.day.value) if self.day.value else self.now().date()
        live = [e for e in exps if e >= d] or exps  # the nearest expiry not past that day first
        self._set(self.expiry, [e.isoformat() for e in live])

    # -- refresh -----------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Read the recorded quotes again and redraw; the underlyings and expiries of the day every 5th time
        (or while there are none), the days when the day changes."""
        self.live.update(self.config)
        today = self.now().date()
        if today != self._today:  # the first refresh, or the (session's) day rolled: list the days again
            self._today = today
            self._fill_days()
            self._fill_underlyings()
        elif self.refreshes % 5 == 0 or not self.expiry.value:  # contracts that started ticking meanwhile
            self._fill_underlyings()
        self.refreshes += 1
        self._show()
        return True

    def _show(self) -> None:
        from tradekit.options.chain_feed import recorded_chain
        from tradekit.ui._common import esc, set_if_changed

        self.show_error("")
        d = date.fromisoformat(self.day.value) if self.day.value else self.now().date()
        if not self.enabled:
            return self._empty(d, "tick_store.enabled is false in the config: the session records no ticks, "
                                  "so this page has nothing to show.")
        if not self.underlying.value or not self.expiry.value:
            today = self.now().date()
            when = "today" if d == today else f"on {d}"
            return self._empty(d, f"No option quotes recorded {when} ({d}). {EMPTY_HELP}")
        ex, _, u = self.underlying.value.rpartition(":")
        ex = ex or "NFO"
        n = dict(self.strike_windows)[self.window.value]
        df = recorded_chain(self.store, u, self.expiry.value, master=self._master(d), day=d, now=self.now(),
                            rate=self.rate, exchange=ex, strikes=n)
        self.last = df
        a = df.attrs
        newest = a.get("newest_quote")
        age = (self.now() - newest).total_seconds() if newest is not None and self.now().date() == d else None
        fresh = ("" if age is None else f" · newest quote {age:,.0f} s old")
        flush = ("" if self.flush_seconds is None else
                 f" · quotes reach this page at most {self.flush_seconds:g} s after the session (tick_store.flush_seconds)")
        not_today = "" if d == self.now().date() else " · <b class='tk-warn'>not today</b>"
        fwd = a.get("forward")
        head = (f"<div class='tk-chain-forward'>{esc(u)} {a['expiry']} · forward <b>{_cell(fwd, '{:,.2f}')}</b> "
                f"<span class='tk-chain-forward-source'>({esc(a.get('forward_source'))})</span> · "
                f"{a['quotes']} of {a['contracts']} contracts quoted · as of {a['as_of']:%Y-%m-%d %H:%M:%S} IST"
                f"{not_today}{fresh}{flush}</div>")
        set_if_changed(self.header, value=head)
        set_if_changed(self.empty, value="")
        set_if_changed(self.table, value=chain_html(df, columns=PAGE_COLUMNS, notes=False))
        set_if_changed(self.notes, value="".join(f"<div class='tk-chain-note tk-meta'>{esc(x)}</div>"
                                                 for x in a.get("notes", [])))

    def _empty(self, d, text: str) -> None:
        from tradekit.ui._common import set_if_changed

        self.last = None
        set_if_changed(self.header, value="")
        set_if_changed(self.table, value="")
        set_if_changed(self.notes, value="")
        set_if_changed(self.empty, value=f"<div class='tk-empty'>{text}</div>")

    def show_error(self, message: str) -> None:
        from tradekit.ui._common import esc, set_if_changed

        set_if_changed(self.error, value=f"<div class='tk-error'>{esc(message)}</div>" if message else "")

    # -- the refresh loop --------------------------------------------------------------------------
    def start(self):
        """Refresh every :attr:`interval` s on the kernel's loop (errors shown on the page, the loop goes on)."""
        from tradekit.ui._common import RefreshLoop

        page = self

        class _Loop(RefreshLoop):
            interval = page.interval

            def refresh(self):
                import time

                t0 = time.monotonic()
                try:
                    return page.refresh()
                finally:  # a big day's read never takes more than a third of the kernel's time
                    self.interval = max(page.interval, 3 * (time.monotonic() - t0))

            def show_error(self, message):
                page.show_error(message)

        self._task = _Loop()
        return self._task.start()

    def stop(self) -> None:
        if self._task is not None:
            self._task.stop()


class _Panel:
    """An error panel where the page could not be built (``.widget``, a no-op ``start``)."""

    def __init__(self, widget):
        self.widget = widget

    def start(self):
        return None
