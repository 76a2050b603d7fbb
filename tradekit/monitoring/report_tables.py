"""The session report's numbers: the walk of the journal's events into a book and the step functions of cash
and positions, the equity curve at every bar close (vectorised), and the report's tables (orders, fills,
positions, P&L by strategy or symbol, charges by component, risk decisions and breaches).

Used by :func:`tradekit.monitoring.report.build_session_report`; every name stays importable from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd

from tradekit.clock import IST
from tradekit.model.charges import COMPONENTS
from tradekit.model.money import ZERO, paise
from tradekit.monitoring import analytics as an
from tradekit.monitoring.charts import price_figure, price_series, trade_marks
from tradekit.store.events import EventType as E
from tradekit.store.journal import Event
from tradekit.store.projection import Book


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
