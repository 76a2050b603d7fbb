"""The session report: what happened, what it cost, what it earned, and the audit anchor.

Built from the journal (or a list of its events, or a :class:`~tradekit.store.Book` alone)
plus bars to mark positions::

    report = build_session_report(journal, bars=load_dataset(["RELIANCE"], day, day), day=day)
    report.orders, report.fills, report.positions, report.summary, report.charges  # DataFrames
    report.equity            # cash + marked positions at every bar close, with drawdown
    report.figures["equity"] # matplotlib Figure: equity over drawdown
    render_html(report, "runs/2016-08-16/report.html")

Tables keep money as ``Decimal`` rounded to the paisa; times are IST. The equity curve is
computed with numpy from the step functions of cash and positions (which change only at
fills) evaluated at every bar close, so a day of 100,000 bars costs milliseconds.

Other capabilities add sections with :func:`register_section` (kept in the light
:mod:`tradekit.monitoring.sections`, so registering does not import this module), or name their module in
:data:`SECTION_MODULES` (imported before a report is built, so registering at import time is
enough; a module that does not import is an error, not a silently missing section). The
end-of-day stage adds the risk section itself (:mod:`tradekit.runs.eod`).

The numbers (the event walk, the equity curve, the tables) are in :mod:`tradekit.monitoring.report_tables`,
the HTML (sections, tables, the verify command) in :mod:`tradekit.monitoring.report_html`; every name
stays importable from here.
"""

from __future__ import annotations

import copy
import importlib
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from tradekit.clock import IST
from tradekit.model.money import ZERO, dec, paise
from tradekit.monitoring import analytics as an
from tradekit.monitoring.charts import equity_figure, inr_axis, new_figure, pnl_by_strategy_figure
from tradekit.monitoring.report_html import (  # noqa: F401 - importable from here as before the split
    _CSS,
    _COUNT_STATS,
    _PCT_STATS,
    _RATIO_STATS,
    ReportSection,
    _dd_text,
    _fmt_cell,
    _fmt_time,
    _html_body,
    _html_document,
    _png64,
    _section_html,
    _td,
    core_sections,
    performance_table,
    render_html,
    table_html,
    verify_command,
)
from tradekit.monitoring.report_tables import (  # noqa: F401 - importable from here as before the split
    MAX_PRICE_CHARTS,
    _charges_table,
    _empty_equity,
    _equity_curve,
    _fills_table,
    _group_pnl,
    _kv,
    _orders_table,
    _p,
    _positions_table,
    _price_figures,
    _risk_events,
    _step,
    _Walk,
    _walk,
)
from tradekit.monitoring.sections import (  # noqa: F401 - the registry lives apart (no heavy imports)
    _BUILDERS,
    SectionBuilder,
    register_section,
    unregister_section,
)
from tradekit.store.journal import Event, Journal
from tradekit.store.projection import Book

log = logging.getLogger(__name__)

#: Modules imported before a report is built, so they can register sections at import time.
SECTION_MODULES: tuple[str, ...] = ("tradekit.market.corporate_actions",)


@dataclass
class SessionReport:
    """Everything the end-of-day report shows; build it with :func:`build_session_report`."""

    title: str
    day: date | None
    generated_at: datetime
    capital: Decimal
    book: Book
    events: list[Event]
    orders: pd.DataFrame
    fills: pd.DataFrame
    positions: pd.DataFrame
    summary: pd.DataFrame
    pnl_by_strategy: pd.DataFrame
    pnl_by_symbol: pd.DataFrame
    charges: pd.DataFrame
    equity: pd.DataFrame
    max_drawdown: dict
    slippage: pd.DataFrame
    execution: pd.DataFrame
    round_trips: pd.DataFrame
    performance: pd.Series
    risk_events: pd.DataFrame
    anchor: tuple[int, str] | None
    tail: tuple[int, str] | None
    figures: dict[str, Figure] = field(default_factory=dict)
    sections: list[ReportSection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    journal: Journal | None = None
    # how a reviewer reaches this journal later: ``--db FILE`` or ``-c CONFIG`` (set by whoever
    # keeps the journal, e.g. the eod stage); default: the journal's own SQLite file
    verify_target: str | None = None

    @property
    def net_pnl(self) -> Decimal:
        return self.book.net_pnl

    def add_section(self, section: ReportSection) -> None:
        self.sections.append(section)

    def save_figures(self, folder: str | Path) -> dict[str, Path]:
        """Write each figure as ``<name>.png`` in ``folder``; return the paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = {}
        for name, fig in self.figures.items():
            p = folder / f"{name.replace(':', '_')}.png"  # price:NSE:INFY -> price_NSE_INFY.png
            fig.savefig(p, format="png", dpi=110, bbox_inches="tight")
            out[name] = p
        return out

    def save(self, folder: str | Path, *, html: str | Path | None = None) -> dict[str, Path]:
        """Write the figures (PNG) and the main tables (CSV) into ``folder`` and the report once,
        as ``html`` (default ``folder/report.html``)."""
        folder = Path(folder)
        paths = self.save_figures(folder)
        for name in ("orders", "fills", "positions", "summary", "pnl_by_strategy", "pnl_by_symbol", "charges", "slippage"):
            p = folder / f"{name}.csv"
            getattr(self, name).to_csv(p)
            paths[name] = p
        paths["html"] = render_html(self, Path(html) if html is not None else folder / "report.html")
        return paths

    def to_html(self) -> str:
        return _html_document(self)

    def _repr_html_(self) -> str:  # a notebook shows the report inline
        return _html_body(self)


# -- building --------------------------------------------------------------------------------------
def build_session_report(
    journal: Journal | None = None,
    *,
    events: Iterable[Event] | None = None,
    book: Book | None = None,
    bars=None,
    day: date | str | None = None,
    starting_cash=None,
    title: str | None = None,
    figures: bool = True,
    sections: Sequence[ReportSection | SectionBuilder] = (),
    plugins: bool = True,
) -> SessionReport:
    """Build the session report.

    Parameters
    ----------
    journal : Journal, optional
        The session's journal: events, the audit tail and the day's anchor come from it.
    events : iterable of Event, optional
        Events to use instead of reading ``journal`` (e.g. a replay's in-memory list).
    book : Book, optional
        Used only when there are no events (then there are no fills, equity or slippage).
        Otherwise the book is rebuilt from the events, which is the same by construction.
    bars : DataSet, BarArrays or mapping of key to bar frame, optional
        Prices for marking positions and the equity curve (keys ``"NSE:RELIANCE"`` or
        ``"RELIANCE"``). Without bars, positions are marked at their last fill and the
        equity curve has a point per fill.
    day : date or ISO str, optional
        Report one IST session: state as of its end, its orders and fills, its bars, and
        its anchor. Default: everything in the journal.
    starting_cash : Decimal-like, optional
        Capital; default the ``capital`` of the ``session.started`` event.
    figures : bool
        Draw the matplotlib figures (off for speed when only numbers are wanted).
    sections : sequence of ReportSection or builder
        Extra sections for this report only (registered builders are added too).
    plugins : bool
        Import :data:`SECTION_MODULES` and run the registered builders.
    """
    day = pd.Timestamp(day).date() if isinstance(day, str) else day
    notes: list[str] = []
    if events is not None:
        evs = list(events)
    elif journal is not None:
        from tradekit.store.archive import read_events

        evs = list(read_events(journal))  # archived days too: the book and the day's anchor need them
    else:
        evs = []
    if day is not None:
        evs = [e for e in evs if e.day <= day]
    if evs:
        walk = _walk(evs)
        b = walk.book
    elif book is not None:
        b, walk = copy.deepcopy(book), None
        notes.append("Built from a book without journal events: no fills table, equity curve or slippage.")
    else:
        b, walk = Book(), None
        notes.append("The journal has no events.")

    capital = dec(starting_cash, "starting_cash") if starting_cash is not None else b.starting_cash
    offset = float(capital - b.starting_cash)

    # The report's time window.
    if day is not None:
        w0 = pd.Timestamp(day, tz=IST)
    elif evs:
        w0 = pd.Timestamp(evs[0].day, tz=IST)
    else:
        w0 = None
    w1 = (pd.Timestamp(day, tz=IST) + pd.Timedelta(days=1)) if day is not None else (
        pd.Timestamp(evs[-1].day, tz=IST) + pd.Timedelta(days=1) if evs else None)

    closes = an.closes_by_key(bars)
    if w1 is not None:
        closes = {k: (e[e <= w1.value], c[e <= w1.value]) for k, (e, c) in closes.items()}
    traded = sorted({p.instrument_key for p in b.positions.values()})
    for k in traded:
        kk = an.resolve_key(k, closes)
        if kk is not None and len(closes[kk][0]):
            ex, _, sym = k.partition(":")
            b.mark(ex, sym, round(float(closes[kk][1][-1]), 4))
        elif bars is not None:
            notes.append(f"No bars for {k}: it is marked at its last fill price.")

    equity = _equity_curve(walk, closes, traded, capital, offset, w0, w1) if walk else _empty_equity()
    mdd = an.max_drawdown(equity) if len(equity) else an.max_drawdown(pd.Series(dtype="float64"))

    fills = an.fills_frame(evs)
    slippage = an.fill_slippage(evs, bars=bars) if evs else pd.DataFrame(columns=an.SLIPPAGE_COLUMNS)
    if day is not None:
        fills = fills[[t.date() == day for t in fills["time"]]] if len(fills) else fills
        slippage = slippage[[t.date() == day for t in slippage["time"]]] if len(slippage) else slippage
    trips = an.round_trips(an.fills_frame(evs))
    if day is not None and len(trips):
        trips = trips[[t.date() == day for t in trips["exit_time"]]].reset_index(drop=True)
    perf = an.performance_stats(equity, starting_equity=float(capital) if capital else None, trips=trips) if len(equity) else pd.Series(dtype="object")

    positions = _positions_table(b)
    orders = _orders_table(b, day)
    rep = SessionReport(
        title=title or (f"Session report {day:%Y-%m-%d}" if day else "Session report"),
        day=day,
        generated_at=datetime.now(IST),
        capital=capital,
        book=b,
        events=evs,
        orders=orders,
        fills=_fills_table(fills),
        positions=positions,
        summary=pd.DataFrame(),
        pnl_by_strategy=_group_pnl(positions, "strategy"),
        pnl_by_symbol=_group_pnl(positions, "symbol"),
        charges=_charges_table(b),
        equity=equity,
        max_drawdown=mdd,
        slippage=slippage,
        execution=an.execution_quality(slippage, b),
        round_trips=trips,
        performance=perf,
        risk_events=_risk_events(evs, day),
        anchor=None,
        tail=None,
        notes=notes,
        journal=journal,
    )
    rep.tail, rep.anchor = _audit(journal, evs, day)
    rep.summary = _summary(rep)
    if figures:
        rep.figures = {"equity": equity_figure(equity, title=rep.title), "pnl_by_strategy": pnl_by_strategy_figure(rep.pnl_by_strategy)}
        rep.figures.update(_price_figures(b, evs, fills, closes, w0, w1))
    for s in sections:
        _add_built(rep, s if isinstance(s, ReportSection) else _run_builder(s, rep))
    if plugins:
        _import_plugins()
        for builder in list(_BUILDERS):
            _add_built(rep, _run_builder(builder, rep))
    return rep


def _import_plugins() -> None:
    for name in SECTION_MODULES:
        importlib.import_module(name)  # a missing or broken section module is an error, never skipped


def _run_builder(builder: SectionBuilder, rep: SessionReport):
    try:
        return builder(rep)
    except Exception as e:  # one broken section must not cost the trader the whole report
        log.exception("report section %s failed", getattr(builder, "__name__", builder))
        return ReportSection(f"Section failed: {getattr(builder, '__qualname__', builder)}", text=f"{type(e).__name__}: {e}")


def _add_built(rep: SessionReport, built) -> None:
    if built is None:
        return
    for s in [built] if isinstance(built, ReportSection) else list(built):
        rep.add_section(s)


def _audit(journal: Journal | None, evs: list[Event], day: date | None):
    if journal is not None:
        tail = journal.tail()
        anchor = journal.anchor(day) if day is not None else tail
    elif evs:
        last = [e for e in evs if day is None or e.day == day]
        tail = (evs[-1].seq, evs[-1].hash)
        anchor = (last[-1].seq, last[-1].hash) if last else None
    else:
        tail = anchor = None
    return tail, anchor


def _summary(rep: SessionReport) -> pd.DataFrame:
    b = rep.book
    realized, unrealized = paise(b.realized_pnl), paise(b.unrealized_pnl)
    charges = b.charges_total.total
    dividends = paise(sum((p.dividends for p in b.positions.values()), ZERO))
    net = paise(b.net_pnl)
    rows: list[tuple[str, object]] = [
        ("Starting capital", paise(rep.capital)),
        ("Realized P&L (gross)", realized),
        ("Unrealized P&L (gross)", unrealized),
        ("Gross P&L", realized + unrealized),
        ("Charges", charges),
    ]
    if dividends:
        rows.append(("Dividends", dividends))
    rows += [
        ("Net P&L", net),
        ("Ending equity", paise(rep.capital + b.net_pnl)),
        ("Return on capital", f"{float(b.net_pnl / rep.capital):.3%}" if rep.capital else "—"),
        ("Max drawdown", paise(dec(rep.max_drawdown["amount"]))),
        ("Max drawdown (% of peak)", f"{rep.max_drawdown['pct']:.3%}" if rep.max_drawdown["amount"] and not math.isnan(rep.max_drawdown["pct"]) else "—"),
        ("Orders", len(rep.orders)),
        ("Fills", len(rep.fills)),
        ("Round trips", len(rep.round_trips)),
    ]
    if len(rep.round_trips):
        st = an.trade_stats(rep.round_trips)
        rows += [("Win rate", f"{st['win_rate']:.1%}"),
                 ("Profit factor", "∞" if math.isinf(st["profit_factor"]) else f"{st['profit_factor']:.2f}"),
                 ("Average trade (net)", paise(st["avg_trade"]))]
    if len(rep.slippage) and rep.slippage["slippage_inr"].notna().any():
        total = sum((x for x in rep.slippage["slippage_inr"] if x is not None), ZERO)
        rows.append(("Slippage vs signal (₹, + = worse)", paise(total)))
    return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")


# -- figures ---------------------------------------------------------------------------------------
# The figures live in :mod:`tradekit.monitoring.charts` (trading-time axes); the names stay importable here.
_new_figure, _inr_axis = new_figure, inr_axis

