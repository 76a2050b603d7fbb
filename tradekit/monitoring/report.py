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

Other capabilities add sections with :func:`register_section`, or name their module in
:data:`SECTION_MODULES` (imported before a report is built, so registering at import time is
enough; a module that does not import is an error, not a silently missing section). The
end-of-day stage adds the risk section itself (:mod:`tradekit.runs.eod`).
"""

from __future__ import annotations

import base64
import copy
import html
import importlib
import io
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tradekit.clock import IST
from tradekit.model.charges import COMPONENTS
from tradekit.model.money import ZERO, dec, fmt_inr, paise
from tradekit.monitoring import analytics as an
from tradekit.monitoring.charts import (equity_figure, inr_axis, new_figure, pnl_by_strategy_figure, price_figure,
                                        price_series, trade_marks)
from tradekit.store.events import EventType as E
from tradekit.store.journal import Event, Journal
from tradekit.store.projection import Book

log = logging.getLogger(__name__)

#: Modules imported before a report is built, so they can register sections at import time.
SECTION_MODULES: tuple[str, ...] = ("tradekit.market.corporate_actions",)


@dataclass
class ReportSection:
    """A titled part of the report: tables and figures by caption, and a paragraph of text."""

    title: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    text: str = ""

    def __post_init__(self) -> None:
        # Accept plain lists too: captions are then numbered.
        if not isinstance(self.tables, dict):
            self.tables = {f"Table {i + 1}": t for i, t in enumerate(self.tables)}
        if not isinstance(self.figures, dict):
            self.figures = {f"Figure {i + 1}": f for i, f in enumerate(self.figures)}


SectionBuilder = Callable[["SessionReport"], "ReportSection | Sequence[ReportSection] | None"]
_BUILDERS: list[SectionBuilder] = []


def register_section(builder: SectionBuilder) -> SectionBuilder:
    """Add a section builder to every report built from now on (usable as a decorator).

    ``builder(report)`` receives the :class:`SessionReport` (with ``events``, ``book``,
    ``journal``, ``day`` and the core tables) and returns a :class:`ReportSection`, a list of
    them, or None to add nothing.
    """
    if builder not in _BUILDERS:
        _BUILDERS.append(builder)
    return builder


def unregister_section(builder: SectionBuilder) -> None:
    if builder in _BUILDERS:
        _BUILDERS.remove(builder)


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


# -- the event walk: book + step functions of cash and positions -----------------------------------
@dataclass
class _Walk:
    book: Book
    cash_t: np.ndarray
    cash_v: np.ndarray
    qty: dict[str, tuple[np.ndarray, np.ndarray]]  # key -> (t, Σ quantity × multiplier after)
    fill_px: dict[str, tuple[np.ndarray, np.ndarray]]  # key -> (t, fill price)
    fill_t: np.ndarray


def _walk(evs: list[Event]) -> _Walk:
    book = Book()
    cash_t, cash_v = [], []
    qty: dict[str, tuple[list, list]] = {}
    px: dict[str, tuple[list, list]] = {}
    for ev in evs:
        book.apply(ev)
        if ev.type not in (E.FILL, E.CASH, E.POSITION_ADJUSTED, E.SESSION_STARTED):
            continue
        t = pd.Timestamp(ev.ts).value
        cash_t.append(t)
        cash_v.append(float(book.cash))
        if ev.type == E.FILL:
            p = ev.payload
            keys = [f"{p['exchange']}:{p['tradingsymbol']}"]
            px.setdefault(keys[0], ([], []))
            px[keys[0]][0].append(t)
            px[keys[0]][1].append(float(p["price"]))
        elif ev.type == E.POSITION_ADJUSTED:
            keys = sorted({pos.instrument_key for pos in book.positions.values()})
        else:
            keys = []
        for k in keys:
            net = sum(pos.quantity * pos.multiplier for pos in book.positions.values() if pos.instrument_key == k)
            qty.setdefault(k, ([], []))
            qty[k][0].append(t)
            qty[k][1].append(net)
    def arr(d):
        return {k: (np.asarray(a, dtype="int64"), np.asarray(b, dtype="float64")) for k, (a, b) in d.items()}

    fill_t = np.unique(np.concatenate([v[0] for v in arr(px).values()])) if px else np.array([], dtype="int64")
    return _Walk(book, np.asarray(cash_t, dtype="int64"), np.asarray(cash_v, dtype="float64"), arr(qty), arr(px), fill_t)


def _step(t: np.ndarray, v: np.ndarray, at: np.ndarray, before: float) -> np.ndarray:
    i = np.searchsorted(t, at, side="right") - 1
    return np.where(i >= 0, v[np.maximum(i, 0)] if len(v) else before, before)


def _empty_equity() -> pd.DataFrame:
    idx = pd.DatetimeIndex([], tz=IST, name="time")
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in ("cash", "positions", "equity", "pnl", "peak", "drawdown", "drawdown_pct")}, index=idx)


def _equity_curve(w: _Walk, closes, traded: list[str], capital: Decimal, offset: float, w0, w1) -> pd.DataFrame:
    """Cash + marked positions at every bar close in the window (vectorised)."""
    lo = w0.value if w0 is not None else -(2**62)
    hi = w1.value if w1 is not None else 2**62
    bar_keys = [an.resolve_key(k, closes) for k in traded] if traded else list(closes)
    ends = [closes[k][0] for k in bar_keys if k is not None]
    if ends:
        t = np.unique(np.concatenate(ends))
        t = t[(t > lo) & (t <= hi)]
    else:
        t = np.array([], dtype="int64")
    if len(t) == 0:  # no bars: a point at every fill, marked at fill prices
        t = w.fill_t[(w.fill_t >= lo) & (w.fill_t <= hi)]
    if len(t) == 0:
        return _empty_equity()
    start_cash = float(w.book.starting_cash)
    cash = _step(w.cash_t, w.cash_v, t, start_cash) + offset
    value = np.zeros(len(t))
    for k in traded:
        qt, qv = w.qty.get(k, (np.array([], dtype="int64"), np.array([])))
        q = _step(qt, qv, t, 0.0)
        ft, fv = w.fill_px.get(k, (np.array([], dtype="int64"), np.array([])))
        px = _step(ft, fv, t, np.nan)
        kk = an.resolve_key(k, closes)
        if kk is not None:
            e, c = closes[kk]
            j = np.searchsorted(e, t, side="right") - 1
            bar_px = np.where(j >= 0, c[np.maximum(j, 0)] if len(c) else np.nan, np.nan)
            px = np.where(np.isnan(bar_px), px, bar_px)
        value += np.where(q != 0, q * px, 0.0)
    eq = cash + value
    idx = pd.DatetimeIndex(pd.to_datetime(t, utc=True)).tz_convert(IST)
    idx.name = "time"
    df = pd.DataFrame({"cash": cash, "positions": value, "equity": eq, "pnl": eq - float(capital)}, index=idx)
    return df.join(an.drawdown(df["equity"]))


# -- tables ----------------------------------------------------------------------------------------
MAX_PRICE_CHARTS = 12


def _price_figures(b: Book, evs: list[Event], fills: pd.DataFrame, closes, w0, w1) -> dict:
    """A price chart with its fills marked for each symbol traded in the window (the busiest first)."""
    if not len(fills):
        return {}
    stops = {cid for cid, o in b.orders.items() if o.request.order_type.value in ("SL", "SL-M")}
    keys = list(fills["key"].value_counts().index[:MAX_PRICE_CHARTS])
    out = {}
    for key in keys:
        px = price_series(key, closes, evs, fills)
        if len(px) and w0 is not None:
            px = px[(px.index >= w0) & (px.index < w1)]
        marks = trade_marks(fills[fills["key"] == key])
        marks.loc[marks["client_order_id"].isin(stops) & (marks["kind"] == "exit"), "kind"] = "stop"
        out[f"price:{key}"] = price_figure(key, px, marks)
    return out


def _p(x) -> Decimal | None:
    return None if x is None else paise(x)


def _orders_table(b: Book, day: date | None) -> pd.DataFrame:
    rows = []
    for o in b.orders.values():
        t = o.created_at.astimezone(IST) if o.created_at else None
        if day is not None and t is not None and t.date() != day:
            continue
        r = o.request
        rows.append({
            "order": o.client_order_id, "time": t, "strategy": o.strategy, "symbol": r.key, "side": r.side.value,
            "qty": r.quantity, "type": r.order_type.value, "product": r.product.value, "price": r.price,
            "trigger": r.trigger_price, "status": o.status.value, "filled": o.filled_quantity,
            "avg_price": _p(o.average_price) if o.filled_quantity else None, "reason": o.status_message or "",
            "signal_id": o.signal_id or "",
        })
    cols = ["order", "time", "strategy", "symbol", "side", "qty", "type", "product", "price", "trigger", "status",
            "filled", "avg_price", "reason", "signal_id"]
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values("time", kind="stable").reset_index(drop=True) if len(df) else df


def _fills_table(f: pd.DataFrame) -> pd.DataFrame:
    cols = ["time", "strategy", "symbol", "side", "qty", "price", "value", "charges", "order", "trade_id"]
    if len(f) == 0:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame({
        "time": f["time"], "strategy": f["strategy"], "symbol": f["key"], "side": f["side"], "qty": f["quantity"],
        "price": f["price"], "value": [_p(v) for v in f["value"]], "charges": [_p(v) for v in f["charges"]],
        "order": f["client_order_id"], "trade_id": f["trade_id"],
    })
    return out.reset_index(drop=True)


def _positions_table(b: Book) -> pd.DataFrame:
    rows = []
    for p in sorted(b.positions.values(), key=lambda p: (p.strategy, p.instrument_key, str(p.product))):
        rows.append({
            "strategy": p.strategy, "symbol": p.instrument_key, "product": str(p.product), "qty": p.quantity,
            "avg": _p(p.average_price) if p.quantity else None, "last": _p(p.last_price) if p.last_price is not None else None,
            "realized": _p(p.realized_pnl), "unrealized": _p(p.unrealized_pnl), "charges": p.charges.total,
            "net": _p(p.net_pnl), "fills": p.fills, "turnover": _p(p.buy_value + p.sell_value),
        })
    cols = ["strategy", "symbol", "product", "qty", "avg", "last", "realized", "unrealized", "charges", "net", "fills", "turnover"]
    return pd.DataFrame(rows, columns=cols)


def _group_pnl(pos: pd.DataFrame, by: str) -> pd.DataFrame:
    cols = ["realized", "unrealized", "gross", "charges", "net", "fills", "turnover"]
    acc: dict[str, dict] = {}
    for r in pos.itertuples(index=False):
        g = acc.setdefault(getattr(r, by), {c: ZERO for c in cols} | {"fills": 0})
        g["realized"] += r.realized
        g["unrealized"] += r.unrealized
        g["gross"] += r.realized + r.unrealized
        g["charges"] += r.charges
        g["net"] += r.net
        g["fills"] += r.fills
        g["turnover"] += r.turnover
    df = pd.DataFrame.from_dict(acc, orient="index", columns=cols)
    df.index.name = by
    return df.sort_index()


def _charges_table(b: Book) -> pd.DataFrame:
    by_strat: dict[str, object] = {}
    for p in b.positions.values():
        by_strat[p.strategy] = by_strat[p.strategy] + p.charges if p.strategy in by_strat else p.charges
    data = {"total": [paise(getattr(b.charges_total, c)) for c in COMPONENTS] + [b.charges_total.total]}
    for s in sorted(by_strat):
        ch = by_strat[s]
        data[s or "(none)"] = [paise(getattr(ch, c)) for c in COMPONENTS] + [ch.total]
    return pd.DataFrame(data, index=pd.Index([*COMPONENTS, "total"], name="component"))


def _risk_events(evs: list[Event], day: date | None) -> pd.DataFrame:
    """Denials, limit breaches, trading-state changes and kill-switch events from the journal."""
    keys = {}
    rows = []
    for ev in evs:
        p = ev.payload
        if ev.type == E.ORDER_CREATED:
            r = p.get("request") or {}
            keys[p["client_order_id"]] = f"{r.get('exchange')}:{r.get('tradingsymbol')}"
        if day is not None and ev.day != day:
            continue
        if ev.type == E.RISK_DECISION and not p.get("allowed", True):
            kind, detail = "denied", p.get("reason") or "; ".join(c.get("message", c.get("code", "")) for c in p.get("checks", []) if not c.get("ok", True))
        elif ev.type == E.LIMIT_BREACH:
            kind, detail = "limit breach", p.get("message") or p.get("reason") or _kv(p)
        elif ev.type == E.TRADING_STATE:
            kind, detail = "trading state", f"{p.get('state')}" + (f": {p['reason']}" if p.get("reason") else "")
        elif ev.type == E.KILL_SWITCH:
            kind, detail = "kill switch", p.get("reason") or _kv(p)
        else:
            continue
        cid = p.get("client_order_id", "")
        rows.append({"time": pd.Timestamp(ev.ts).tz_convert(IST), "event": kind, "order": cid, "symbol": keys.get(cid, ""), "detail": detail})
    return pd.DataFrame(rows, columns=["time", "event", "order", "symbol", "detail"])


def _kv(p: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(p.items()) if not isinstance(v, (dict, list)))


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


# -- HTML ------------------------------------------------------------------------------------------
_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#1a1a1a;max-width:1280px}
h1{margin-bottom:4px}h2{border-bottom:2px solid #1f4e79;padding-bottom:3px;margin-top:32px}h3{margin-bottom:6px}
.meta{color:#555;margin:0 0 12px 0}.anchor{background:#f3f6fa;border:1px solid #c9d6e6;padding:10px 14px;border-radius:6px;
font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;word-break:break-all}
table{border-collapse:collapse;margin:6px 0 16px 0;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px}
th{background:#f0f0f0;text-align:left}td{white-space:nowrap}.tw{overflow-x:auto;max-width:100%}td.n{text-align:right;font-variant-numeric:tabular-nums}td.neg{color:#b00020}
tr:nth-child(even) td{background:#fafafa}img{max-width:100%;border:1px solid #eee}.note{color:#8a5a00}.empty{color:#777}
"""


def render_html(report: SessionReport, path: str | Path) -> Path:
    """Write the report as one self-contained HTML file (figures embedded as PNG); return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_html_document(report), encoding="utf-8")
    log.info("session report written to %s", path)
    return path


def _html_document(rep: SessionReport) -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(rep.title)}</title>"
            f"<style>{_CSS}</style></head><body>{_html_body(rep)}</body></html>")


def core_sections(rep: SessionReport) -> list[ReportSection]:
    """The report's own sections, in reading order (the HTML renders these, then ``rep.sections``)."""
    perf_df = performance_table(rep.performance)
    trips = rep.round_trips
    return [
        ReportSection("Summary", {"": rep.summary}),
        ReportSection("Equity and drawdown", figures={"": rep.figures["equity"]} if "equity" in rep.figures else {},
                      text=_dd_text(rep)),
        ReportSection("Prices and trades",
                      figures={k.split(":", 1)[1]: f for k, f in rep.figures.items() if k.startswith("price:")},
                      text="▲ buys, ▼ sells: green entries, blue exits, red ✕ stop-loss fills. Nights and holidays "
                           "take no room on the time axis." if any(k.startswith("price:") for k in rep.figures)
                      else "No fills in this report."),
        ReportSection("P&L by strategy and symbol", {"By strategy": rep.pnl_by_strategy, "By symbol": rep.pnl_by_symbol},
                      figures={"": rep.figures["pnl_by_strategy"]} if "pnl_by_strategy" in rep.figures else {}),
        ReportSection("Positions", {"": rep.positions}),
        ReportSection("Orders", {"": rep.orders}),
        ReportSection("Fills", {"": rep.fills}),
        ReportSection("Charges by component", {"": rep.charges}),
        ReportSection("Signal → fill quality",
                      {"By strategy and symbol": rep.execution,
                       "Per fill": rep.slippage.drop(columns=["signal_time", "order_time"], errors="ignore")},
                      text="Slippage is the fill price against the decision price: the signal's reference price "
                           "(or, without one, the market when the order was created); slippage vs arrival is against "
                           "the market when the order was created. Positive is worse for the trader."),
        ReportSection("Performance", {"Statistics": perf_df, "Round trips (FIFO)": trips}),
        ReportSection("Risk decisions and breaches", {"": rep.risk_events}),
    ]


_PCT_STATS = {"total_return", "mean_daily_return", "daily_volatility", "annual_volatility", "max_drawdown_pct", "win_rate"}
_RATIO_STATS = {"sharpe", "sortino", "profit_factor"}
_COUNT_STATS = {"sessions", "round_trips", "wins", "losses"}


def performance_table(perf: pd.Series) -> pd.DataFrame:
    """Performance statistics as display strings (percentages, ratios, counts, ₹)."""
    rows = []
    for name, v in perf.items():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            text = "—"
        elif isinstance(v, float) and math.isinf(v):
            text = "∞" if v > 0 else "-∞"
        elif name in _PCT_STATS:
            text = f"{float(v):.3%}"
        elif name in _RATIO_STATS:
            text = f"{float(v):.2f}"
        elif name in _COUNT_STATS:
            text = f"{int(v)}"
        else:
            d = dec(v)
            text = ("-₹" if d < 0 else "₹") + fmt_inr(abs(d))
        rows.append((str(name).replace("_", " "), text))
    return pd.DataFrame(rows, columns=["statistic", "value"]).set_index("statistic")


def _dd_text(rep: SessionReport) -> str:
    m = rep.max_drawdown
    if not m["amount"]:
        return "No drawdown."
    rec = f", recovered {_fmt_time(m['recovery_time'])}" if m["recovery_time"] is not None else ", not recovered"
    return (f"Max drawdown ₹{fmt_inr(m['amount'])} ({m['pct']:.2%} of the peak) from {_fmt_time(m['peak_time'])} "
            f"to {_fmt_time(m['trough_time'])}{rec}.")


def verify_command(rep: SessionReport, anchor_hash: str) -> str:
    """The exact command that checks ``anchor_hash`` against this report's journal."""
    import shlex

    target = rep.verify_target
    if target is None and rep.journal is not None:
        url = rep.journal.engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            target = f"--db {shlex.quote(str(Path(url.database).resolve()))}"
    target = target or "-c <the config whose store holds the journal>"
    return f"tradekit audit verify {target} --anchor {anchor_hash}"


def _html_body(rep: SessionReport) -> str:
    out = [f"<h1>{html.escape(rep.title)}</h1>",
           f"<p class='meta'>Generated {_fmt_time(rep.generated_at)} IST · capital ₹{fmt_inr(rep.capital)} · "
           f"net P&amp;L ₹{fmt_inr(rep.book.net_pnl)}</p>"]
    if rep.anchor is not None or rep.tail is not None:
        a = rep.anchor or rep.tail
        label = f"Audit anchor for {rep.day:%Y-%m-%d}" if rep.day else "Audit anchor (journal tail)"
        out.append(f"<div class='anchor'><b>{label}</b>: event {a[0]}, hash <span class='hash'>{a[1]}</span>"
                   + (f"<br>Journal tail: event {rep.tail[0]}, hash {rep.tail[1]}" if rep.tail and rep.tail != a else "")
                   + f"<br>Verify with <code>{html.escape(verify_command(rep, a[1]))}</code></div>")
    else:
        out.append("<div class='anchor'>No journal: no audit anchor.</div>")
    for s in [*core_sections(rep), *rep.sections]:
        out.append(_section_html(s))
    if rep.notes:
        out.append("<h2>Notes</h2><ul>" + "".join(f"<li class='note'>{html.escape(n)}</li>" for n in rep.notes) + "</ul>")
    return "\n".join(out)


def _section_html(s: ReportSection) -> str:
    parts = [f"<h2>{html.escape(s.title)}</h2>"]
    if s.text:
        parts.append(f"<p>{html.escape(s.text)}</p>")
    for cap, fig in s.figures.items():
        if cap:
            parts.append(f"<h3>{html.escape(cap)}</h3>")
        parts.append(f"<img alt='{html.escape(cap or s.title)}' src='data:image/png;base64,{_png64(fig)}'>")
    for cap, df in s.tables.items():
        if cap:
            parts.append(f"<h3>{html.escape(cap)}</h3>")
        parts.append(table_html(df))
    return "\n".join(parts)


def _png64(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def table_html(df: pd.DataFrame, *, max_rows: int = 5000) -> str:
    """A DataFrame as an HTML table: ₹ amounts (Decimal) in Indian grouping, times in IST."""
    if df is None or len(df) == 0:
        return "<p class='empty'>None.</p>"
    shown = df.head(max_rows)
    show_index = not isinstance(df.index, pd.RangeIndex)
    head = ([html.escape(str(df.index.name or ""))] if show_index else []) + [html.escape(str(c)) for c in df.columns]
    rows = ["<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    cols = list(shown.columns)
    for idx, rec in zip(shown.index, shown.itertuples(index=False, name=None)):
        cells = [_td(idx, "")] if show_index else []
        cells += [_td(v, str(c)) for c, v in zip(cols, rec)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class='empty'>… {len(df) - max_rows} more rows not shown.</p>" if len(df) > max_rows else ""
    return "<div class='tw'><table>" + "".join(rows) + "</table></div>" + more


def _td(v, col: str) -> str:
    text, numeric, neg = _fmt_cell(v, col)
    cls = " ".join(c for c in ("n" if numeric else "", "neg" if neg else "") if c)
    return f"<td class='{cls}'>{html.escape(text)}</td>" if cls else f"<td>{html.escape(text)}</td>"


def _fmt_time(t) -> str:
    if t is None:
        return ""
    ts = pd.Timestamp(t)
    if ts.tz is None:
        return ts.strftime("%Y-%m-%d %H:%M:%S")
    return ts.tz_convert(IST).strftime("%Y-%m-%d %H:%M:%S")


def _fmt_cell(v, col: str) -> tuple[str, bool, bool]:
    """(text, right-align, negative) for one cell; Decimal means rupees."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return "", False, False
    if isinstance(v, Decimal):
        return fmt_inr(v), True, v < 0
    if isinstance(v, (pd.Timestamp, datetime)):
        return _fmt_time(v), False, False
    if isinstance(v, (pd.Timedelta, timedelta)):
        return str(pd.Timedelta(v)).replace("0 days ", ""), True, False
    if isinstance(v, date):
        return v.isoformat(), False, False
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)), False, False
    if isinstance(v, (int, np.integer)):
        return f"{int(v)}", True, v < 0
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isinf(f):
            return ("∞" if f > 0 else "-∞"), True, f < 0
        c = col.lower()
        if any(w in c for w in ("pct", "frac", "ratio", "rate", "return")):  # fractions: 0.0344 is 3.44 %
            return f"{f:.2%}", True, f < 0
        if "bps" in c or c.endswith("_s") or "_s_" in c:
            return f"{f:,.1f}", True, f < 0
        if any(w in c for w in ("sharpe", "sortino", "factor", "volatility")):
            return f"{f:.3f}", True, f < 0
        return fmt_inr(f), True, f < 0
    return str(v), False, False
