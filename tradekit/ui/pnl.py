"""The P&L dashboard: positions, orders, fills, P&L net of charges, equity curve, risk limits used.

Read-only: it follows the session's journal (a :class:`~tradekit.store.Book` kept current with
``journal.events(after=...)``) and redraws while the session runs. Shown by
``dashboards/pnl.ipynb``. Positions are marked at the latest price the journal carries (fills
and ``mark`` events).
"""

from __future__ import annotations

import io
import logging
import time
from datetime import date, datetime
from decimal import Decimal

import ipywidgets as w

from tradekit.clock import IST
from tradekit.errors import TradekitError
from tradekit.model.money import ZERO, dec, paise
from tradekit.store.events import EventType as E
from tradekit.store.follower import JournalFollower
from tradekit.store.journal import Event, Journal
from tradekit.store.projection import Book
from tradekit.ui._common import STYLE, RefreshLoop, calendar_flag, esc, hhmmss, inr, set_if_changed, table

log = logging.getLogger(__name__)

_EQUITY_EVENTS = (E.FILL, E.MARK, E.CASH, E.POSITION_ADJUSTED, E.SESSION_STARTED)


class PnlModel(JournalFollower):
    """The numbers behind the P&L page, followed incrementally from a journal.

    Parameters
    ----------
    journal : Journal
        The session's store.
    config : TradekitConfig, optional
        Gives the margin model and the ``risk`` section (limits used); defaults otherwise.
    """

    def __init__(self, journal: Journal, config=None, *, instruments=None):
        self.journal = journal
        self.config = config
        self.book = Book()
        self.prices: dict[str, Decimal] = {}
        self.seq = 0
        self.last_time: datetime | None = None
        self.equity: list[tuple[datetime, float]] = []  # (session time, equity) after each money event
        self.fills: list[dict] = []
        self.fill_rows: list[dict] = []  # raw fills (time, side, quantity, price, order, strategy, product) per chart
        self.price_points: dict[str, list[tuple[datetime, float]]] = {}  # fills and marks per symbol, for its chart
        self._instruments = instruments
        self._gate = None
        self._gate_error: str | None = None
        self._day: date | None = None
        self._orders_by_day: dict[date, list[str]] = {}  # ids of the orders created on each day
        self.refresh()



    def _apply(self, ev: Event) -> None:
        self.seq = ev.seq
        if ev.type not in (E.APPROVAL_DECISION, E.CONTROL):  # written on other clocks
            if ev.day != self._day:
                self._day = ev.day
                self._start_day(ev.day)
            self.last_time = ev.time
        try:
            self.book.apply(ev)
        except TradekitError as e:
            log.warning("journal event %s (%s) not applied: %s", ev.seq, ev.type, e)
        p = ev.payload
        if ev.type == E.ORDER_CREATED:  # each day's orders, for the limits' count (not a walk over every order)
            self._orders_by_day.setdefault(ev.day, []).append(p.get("client_order_id"))
        if ev.type == E.FILL:
            key = f"{p['exchange']}:{p['tradingsymbol']}"
            px = dec(p["price"], "price")
            self.prices[key] = px
            self.book.mark(p["exchange"], p["tradingsymbol"], px)
            charges = sum((dec(v, k) for k, v in (p.get("charges") or {}).items() if k != "total"), ZERO)
            self._price_point(key, ev.time, float(px))
            self.fill_rows.append({"time": ev.time, "key": key, "side": p.get("side"), "quantity": int(p.get("quantity") or 0),
                                   "price": float(px), "client_order_id": p.get("client_order_id"),
                                   "strategy": p.get("strategy") or "", "product": p.get("product")})
            self.fills.append({"time": when(ev.time), "strategy": p.get("strategy"), "symbol": key,
                               "side": p.get("side"), "qty": p.get("quantity"), "price": px,
                               "charges": paise(charges), "order": p.get("client_order_id"),
                               "trade": p.get("trade_id")})
        elif ev.type == E.MARK:
            for k, v in (p.get("prices") or {}).items():
                self.prices[k] = dec(v, "price")
                self._price_point(k, ev.time, float(v))
        if ev.type in _EQUITY_EVENTS:
            self.equity.append((ev.time, float(self.equity_now())))

    MAX_POINTS = 20_000  # per symbol: the oldest half is thinned out beyond it

    def _price_point(self, key: str, t: datetime, price: float) -> None:
        pts = self.price_points.setdefault(key, [])
        pts.append((t, price))
        if len(pts) > self.MAX_POINTS:
            self.price_points[key] = pts[: self.MAX_POINTS // 2: 2] + pts[self.MAX_POINTS // 2:]

    def traded(self) -> list[str]:
        """Symbols with fills, the most recently filled first."""
        seen: dict[str, None] = {}
        for f in reversed(self.fill_rows):
            seen.setdefault(f["key"], None)
        return list(seen)

    # -- figures ---------------------------------------------------------------------------------
    def equity_now(self) -> Decimal:
        """Cash plus positions at their latest prices."""
        return self.book.cash + sum((p.market_value for p in self.book.positions.values() if p.quantity), ZERO)

    def summary(self) -> dict:
        b = self.book
        return {"net": paise(b.net_pnl), "realized": paise(b.realized_pnl), "unrealized": paise(b.unrealized_pnl),
                "charges": b.charges_total.total, "cash": paise(b.cash), "equity": paise(self.equity_now()),
                "capital": b.starting_cash, "fills": b.fills, "available": self.available()}

    def available(self) -> Decimal | None:
        try:
            from tradekit.execution.account import Account
            from tradekit.execution.margin import MarginModel

            mm = MarginModel(self.config.paper.margin) if self.config is not None else MarginModel()
            return paise(Account(self.book, mm, self._instruments_store(), self.prices).available())
        except Exception as e:  # noqa: BLE001 - the page shows "—"
            log.debug("available funds unknown: %s", e)
            return None

    def _instruments_store(self):
        if self._instruments is None:
            try:
                from tradekit.session import _default_instruments

                # the session's master: the day's cached Kite dump, else the last one, else the bundled sample
                self._instruments = _default_instruments(self.config)
            except Exception:  # noqa: BLE001
                self._instruments = False
        return self._instruments or None

    def positions(self) -> list[dict]:
        rows = []
        for p in sorted(self.book.positions.values(), key=lambda p: (p.strategy, p.instrument_key, str(p.product))):
            rows.append({"strategy": p.strategy, "symbol": p.instrument_key, "product": str(p.product),
                         "qty": p.quantity,
                         "avg": paise(p.average_price) if p.quantity else None,
                         "last": None if p.last_price is None else paise(p.last_price),
                         "realized": paise(p.realized_pnl), "unrealized": paise(p.unrealized_pnl),
                         "charges": p.charges.total, "net": paise(p.net_pnl)})
        return rows

    def orders(self, limit: int = 50) -> list[dict]:
        rows = []
        for o in list(self.book.orders.values())[-limit:][::-1]:
            r = o.request
            rows.append({"time": when(o.created_at), "order": o.client_order_id, "strategy": o.strategy,
                         "symbol": r.key, "side": r.side.value, "qty": r.quantity, "type": r.order_type.value,
                         "price": r.price, "status": o.status.value, "filled": o.filled_quantity,
                         "avg": paise(o.average_price) if o.filled_quantity else None,
                         "note": o.status_message or ""})
        return rows

    # -- risk limits used ------------------------------------------------------------------------
    def _start_day(self, day: date) -> None:
        gate = self.gate()
        if gate is not None:
            try:
                gate.start_day(self.book, day)  # the day's P&L baseline: the book as the day begins
            except Exception as e:  # noqa: BLE001
                log.debug("risk day start failed: %s", e)

    def gate(self):
        if self._gate is None and self._gate_error is None:
            try:
                from tradekit.risk.config import RiskConfig
                from tradekit.risk.gate import PreTradeGate

                cfg = getattr(self.config, "risk", None) or RiskConfig()
                capital = getattr(getattr(self.config, "account", None), "capital", None)
                self._gate = PreTradeGate(cfg, capital=capital)
            except Exception as e:  # noqa: BLE001 - the page says why the limits are missing
                self._gate_error = f"{type(e).__name__}: {e}"
                log.warning("risk limits unavailable: %s", e)
        return self._gate

    def limits(self) -> tuple[list[dict], str | None]:
        """Limits used vs allowed, as the risk gate computes them for this book."""
        gate = self.gate()
        if gate is None:
            return [], self._gate_error
        try:
            gate.restore_state(self.book.trading_state)
            day = self._day
            if day is not None:
                orders = self.book.orders
                gate.orders_today = sum(1 for o in (orders.get(c) for c in dict.fromkeys(self._orders_by_day.get(day, ())))
                                        if o is not None and o.created_at is not None
                                        and o.created_at.astimezone(IST).date() == day
                                        and o.status.value not in ("CREATED", "DENIED"))
            rows = gate.usage(self.book, self.last_time)
        except Exception as e:  # noqa: BLE001
            log.warning("risk limits unavailable: %s", e)
            return [], f"{type(e).__name__}: {e}"
        return rows, None

    def close(self) -> None:
        self.journal.close()
        self.journal.engine.dispose()


def equity_png(points: list[tuple[datetime, float]], capital: float | None = None) -> bytes:
    """The equity curve as a PNG on a trading-time axis (nights and holidays take no room)."""
    from matplotlib.figure import Figure

    from tradekit.monitoring.charts import TradingAxis, inr_axis

    fig = Figure(figsize=(8, 2.6), dpi=90)
    ax = fig.add_subplot(111)
    if points:
        axis = TradingAxis([t for t, _ in points])
        xs = axis([t for t, _ in points])
        ys = [v for _, v in points]
        ax.step(xs, ys, where="post", color="#1a73e8", linewidth=1.5)
        if capital:
            ax.axhline(capital, color="#9aa0a6", linewidth=0.8, linestyle="--")
        axis.decorate(ax)
        ax.yaxis.set_major_formatter(inr_axis())
    else:
        ax.text(0.5, 0.5, "No fills yet: the equity curve starts with the first fill.", ha="center", va="center",
                transform=ax.transAxes, color="#80868b")
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_ylabel("equity (₹)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def price_png(model: PnlModel, key: str) -> bytes:
    """``key``'s prices (fills and marks) with its fills marked, as a PNG."""
    import pandas as pd

    from tradekit.monitoring.charts import price_figure, trade_marks

    pts = model.price_points.get(key, [])
    px = pd.Series([v for _, v in pts], index=pd.DatetimeIndex([t for t, _ in pts]), dtype="float64")
    px = px[~px.index.duplicated(keep="last")]
    rows = [f for f in model.fill_rows if f["key"] == key]
    fills = pd.DataFrame(rows, columns=["time", "key", "side", "quantity", "price", "client_order_id", "strategy",
                                        "product"])
    if len(fills):
        fills["time"] = pd.DatetimeIndex(fills["time"])
    stops = {cid for cid, o in model.book.orders.items() if o.request.order_type.value in ("SL", "SL-M")}
    marks = trade_marks(fills, stop_orders=stops) if len(fills) else fills.assign(kind=[])
    fig = price_figure(key, px, marks)
    fig.set_size_inches(8, 2.8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def when(t: datetime | None) -> str:
    """Date and time (IST) of a fill or order: two days never mix on the page."""
    return "—" if t is None else f"{t.astimezone(IST):%d %b %H:%M:%S}"


def _dates():
    import matplotlib.dates

    return matplotlib.dates


class PnlView(RefreshLoop):
    """The P&L dashboard.

    Parameters
    ----------
    model : PnlModel
        The journal follower.
    interval : float
        Seconds between journal polls while :meth:`start` runs (a SQLite journal wakes the
        page when written instead, :class:`~tradekit.ui._common.RefreshLoop`).
    chart_every : float
        The equity chart is redrawn at most this often (a matplotlib render costs ~50 ms).
    """

    min_gap = 0.2  # woken by the journal: at most five refreshes a second (tables, KPIs)

    def watched_journal(self):
        return self.model.journal

    def __init__(self, model: PnlModel, *, interval: float = 1.0, chart_every: float = 3.0):
        self.model = model
        self.interval = interval
        self.chart_every = chart_every
        self._chart_at = 0.0
        self._chart_n = -1
        self.state = w.HTML()
        self.state.add_class("tk-trading-state")
        self.kpis = w.HTML()
        self.kpis.add_class("tk-pnl-net")
        self.info = w.HTML()
        self.error = w.HTML()
        self.error.add_class("tk-view-error")
        self.positions = w.HTML()
        self.positions.add_class("tk-positions")
        self.orders = w.HTML()
        self.orders.add_class("tk-orders")
        self.fills = w.HTML()
        self.fills.add_class("tk-fills")
        self.limits = w.HTML()
        self.limits.add_class("tk-risk-limits")
        self.chart = w.Image(format="png", layout=w.Layout(max_width="900px"))
        self.chart.add_class("tk-equity")
        self.symbol = w.Dropdown(options=[], description="symbol", layout=w.Layout(width="260px"))
        self.symbol.add_class("tk-price-symbol")
        self.symbol.observe(lambda _change: self._price_chart(force=True), names="value")
        self.price_chart = w.Image(format="png", layout=w.Layout(max_width="900px"))
        self.price_chart.add_class("tk-price-chart")
        self.price_note = w.HTML('<span class="tk-meta">The price chart of each traded symbol, with its fills marked, '
                                 'appears here after the first fill.</span>')
        self._price_key: tuple | None = None
        from tradekit.ui.cards import CARD_STYLE, PageLiveness

        self.live = PageLiveness()  # RUNNING / NO SESSION and the kernel beat the page's script watches
        head = w.HBox([w.HTML("<h3 style='margin:4px 12px 4px 0'>P&amp;L and risk</h3>"), self.live.badge, self.state])
        head.add_class("tk-bar")
        from tradekit.ui.alerts import AlertToasts, writable_journal  # alert toasts with Ack

        self.toasts = AlertToasts(model.journal, writable_journal(model.journal, model.config))
        self.widget = w.VBox([
            w.HTML(STYLE + CARD_STYLE), self.toasts.widget, self.live.beat, head, self.info, self.error, self.kpis,
            w.HTML("<h4>Equity</h4>"), self.chart,
            w.HTML("<h4>Prices and fills</h4>"), self.price_note, self.symbol, self.price_chart,
            w.HTML("<h4>Positions</h4>"), self.positions,
            w.HTML("<h4>Risk limits used</h4>"), self.limits,
            w.HTML("<h4>Fills</h4>"), self.fills,
            w.HTML("<h4>Orders</h4>"), self.orders,
        ])
        self.widget.add_class("tk-root")
        self.widget.add_class("tk-pnl")
        self.refresh(force=True)

    @classmethod
    def from_config(cls, config=None, **kw):
        """Build from the config (``$TRADEKIT_CONFIG`` by default); a broken setup shows an error panel."""
        from tradekit.ui.approval import _Broken

        try:
            return cls(PnlModel.from_config(config), **kw)
        except Exception as e:  # noqa: BLE001
            log.exception("P&L dashboard could not start")
            return _Broken("P&L", f"{type(e).__name__}: {e}")

    def show_error(self, message: str) -> None:
        set_if_changed(self.error, value=f'<div class="tk-error">{esc(message)}</div>' if message else "")

    def refresh(self, *, force: bool = False) -> bool:
        m = self.model
        events = m.refresh()
        self.live.update(m.config, getattr(m.journal, "engine", None))
        if events or force:
            s = m.summary()
            st = m.book.trading_state
            set_if_changed(self.state, value=f'<span class="tk-badge tk-state-{esc(st)}">{esc(st)}</span>')
            cls = "tk-pos" if s["net"] > 0 else ("tk-neg" if s["net"] < 0 else "")
            set_if_changed(self.kpis, value=(
                f'<span class="tk-kpi">Net P&amp;L (after charges) <b class="{cls}">{inr(s["net"])}</b></span>'
                f'<span class="tk-kpi">realized {inr(s["realized"])}</span>'
                f'<span class="tk-kpi">unrealized {inr(s["unrealized"])}</span>'
                f'<span class="tk-kpi">charges {inr(s["charges"])}</span>'
                f'<span class="tk-kpi">fills {s["fills"]}</span>'
                f'<span class="tk-kpi">equity {inr(s["equity"])}</span>'
                f'<span class="tk-kpi">cash {inr(s["cash"])}</span>'
                f'<span class="tk-kpi">available {inr(s["available"])}</span>'))
            set_if_changed(self.positions, value=table(
                m.positions(), ["strategy", "symbol", "product", "qty", "avg", "last", "realized", "unrealized",
                                "charges", "net"], empty="no positions",
                money=("avg", "last", "realized", "unrealized", "charges", "net"),
                signed=("realized", "unrealized", "net")))
            set_if_changed(self.fills, value=table(
                m.fills[-50:][::-1],
                ["time", "strategy", "symbol", "side", "qty", "price", "charges", "order", "trade"],
                empty="no fills yet", money=("price", "charges")))
            set_if_changed(self.orders, value=table(
                m.orders(), ["time", "order", "strategy", "symbol", "side", "qty", "type", "price", "status", "filled",
                             "avg", "note"], empty="no orders yet", money=("price", "avg")))
            rows, err = m.limits()
            lim = [{"limit": r["limit"], "used": _num(r["used"], r["unit"]), "allowed": _num(r["allowed"], r["unit"]),
                    "used %": "—" if r.get("used_pct") is None else f"{max(0.0, float(r['used_pct'])):.0f} %"}
                   for r in rows]  # a gain uses none of a loss limit: 0 %, never "-0 %"
            html = table(lim, ["limit", "used", "allowed", "used %"], empty="no limits configured")
            if err:
                html += f'<div class="tk-warn">limits unavailable: {esc(err)}</div>'
            set_if_changed(self.limits, value=html)
        self._chart(force)
        if hasattr(self, "toasts"):
            self.toasts.update(m.seq)
        mode = getattr(m.config, "mode", "?")
        set_if_changed(self.info, value=f'<span class="tk-meta">{esc(mode)} · last event {hhmmss(m.last_time)} · '
                                         f'journal seq {m.seq} · page updated {hhmmss(datetime.now(IST))}'
                                         f'{calendar_flag(m.config, m._day)}</span>')
        return bool(events)

    def _chart(self, force: bool) -> None:
        m = self.model
        n = len(m.equity)
        now = time.monotonic()
        if n == self._chart_n or (not force and now - self._chart_at < self.chart_every):
            return
        self._chart_n, self._chart_at = n, now
        cap = float(m.book.starting_cash) if m.book.starting_cash else None
        self.chart.value = equity_png(m.equity, cap)
        self._price_chart(force=True)

    def _price_chart(self, force: bool = False) -> None:
        m = self.model
        traded = m.traded()
        if list(self.symbol.options) != traded:
            keep = self.symbol.value if self.symbol.value in traded else (traded[0] if traded else None)
            self.symbol.options = traded
            self.symbol.value = keep
        key = self.symbol.value
        set_if_changed(self.price_note, value="" if traded else (
            '<span class="tk-meta">The price chart of each traded symbol, with its fills marked, appears here after '
            'the first fill.</span>'))
        if key is None:
            return
        stamp = (key, len(m.price_points.get(key, ())), len(m.fill_rows))
        if stamp != self._price_key or force:
            self._price_key = stamp
            self.price_chart.value = price_png(m, key)


def _num(x, unit: str) -> str:
    if x is None:
        return "—"
    if unit == "₹":
        return inr(Decimal(str(round(float(x), 2))))
    if unit == "orders":
        return f"{int(x)}"
    return f"{float(x):.1f} {unit}"
