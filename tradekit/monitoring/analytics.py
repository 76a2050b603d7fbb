"""Performance and execution-quality analytics from journal events, fills and equity curves.

Money stays ``Decimal`` in per-fill and per-trade tables (they reconcile with the contract
note); statistics over many points (returns, Sharpe) are floats.

- :func:`fills_frame` — one row per ``fill`` event, with its charges by component.
- :func:`round_trips` — FIFO-matched entry/exit pieces per (strategy, instrument).
- :func:`trade_stats`, :func:`performance_stats`, :func:`daily_returns`, :func:`drawdown`,
  :func:`max_drawdown` — the usual numbers (Sharpe and Sortino on 252 trading days).
- :func:`fill_slippage`, :func:`execution_quality` — each fill against the price the strategy
  saw, signed so that a positive number is worse for the trader.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from tradekit.clock import IST
from tradekit.model.charges import COMPONENTS, Charges
from tradekit.model.money import ZERO, dec
from tradekit.store.events import EventType as E

log = logging.getLogger(__name__)

TRADING_DAYS = 252
FILL_COLUMNS = [
    "time", "seq", "client_order_id", "trade_id", "strategy", "key", "exchange", "tradingsymbol", "product",
    "side", "quantity", "price", "multiplier", "value", "charges", *COMPONENTS,
]


def _ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s).tz_convert(IST)


# -- bars as (end, close) for marking and reference prices ----------------------------------------
def closes_by_key(bars) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{key: (end_ns, close)}`` from a DataSet, BarArrays, a mapping of frames, or None.

    ``end_ns`` is when each bar completed (start + interval, clipped at the close), so a
    close is used only from the moment it was known.
    """
    from tradekit.data.feeds import BarArrays, DataSet

    if bars is None:
        return {}
    if isinstance(bars, DataSet):
        bars = bars.arrays()
    if isinstance(bars, Mapping):
        bars = BarArrays.merge([BarArrays.from_frame(df, k) for k, df in bars.items()]) if bars else None
        if bars is None:
            return {}
    if isinstance(bars, pd.DataFrame):
        raise TypeError("give bars as a mapping {key: frame}, a DataSet or BarArrays (a single frame has no key)")
    out = {}
    for i, k in enumerate(bars.keys):
        m = bars.key_id == i
        end, close = bars.end_ns[m], bars.close[m]
        o = np.argsort(end, kind="stable")
        out[k] = (end[o], close[o])
    return out


def resolve_key(key: str, available: Iterable[str]) -> str | None:
    """Match ``"NSE:RELIANCE"`` against available keys, accepting a bare ``"RELIANCE"`` there."""
    avail = list(available)
    if key in avail:
        return key
    sym = key.partition(":")[2] or key
    hits = [k for k in avail if k == sym or k.partition(":")[2] == sym]
    return hits[0] if len(hits) == 1 else None


def price_at(closes: Mapping[str, tuple[np.ndarray, np.ndarray]], key: str, t_ns: int) -> float | None:
    """The last close of ``key`` known at ``t_ns`` (None before its first bar or without bars)."""
    k = resolve_key(key, closes)
    if k is None:
        return None
    end, close = closes[k]
    i = int(np.searchsorted(end, t_ns, side="right")) - 1
    return float(close[i]) if i >= 0 else None


# -- fills ---------------------------------------------------------------------------------------
def fills_frame(events: Iterable) -> pd.DataFrame:
    """One row per ``fill`` event: time (IST), ids, strategy, key, side, quantity, price, charges.

    ``strategy`` comes from the fill or, when it has none, from its ``order.created`` event.
    Money columns (``price``, ``value``, ``charges`` and each component) are ``Decimal``.
    """
    strategy_of: dict[str, str] = {}
    rows = []
    for ev in events:
        p = ev.payload
        if ev.type == E.ORDER_CREATED:
            strategy_of[p["client_order_id"]] = p.get("strategy", "")
        elif ev.type == E.FILL:
            qty, price, m = int(p["quantity"]), dec(p["price"], "price"), int(p.get("multiplier", 1))
            ch = Charges.from_dict(p.get("charges"))
            cid = p.get("client_order_id")
            rows.append({
                "time": _ts(ev.ts), "seq": ev.seq, "client_order_id": cid, "trade_id": p.get("trade_id"),
                "strategy": p.get("strategy") or strategy_of.get(cid, ""),
                "key": f"{p['exchange']}:{p['tradingsymbol']}", "exchange": p["exchange"], "tradingsymbol": p["tradingsymbol"],
                "product": p.get("product"), "side": p["side"], "quantity": qty, "price": price, "multiplier": m,
                "value": price * qty * m, "charges": ch.total, **{c: getattr(ch, c) for c in COMPONENTS},
            })
    if not rows:
        df = pd.DataFrame({c: pd.Series(dtype="object") for c in FILL_COLUMNS})
        df["time"] = pd.DatetimeIndex([], tz=IST)
        return df
    return pd.DataFrame(rows, columns=FILL_COLUMNS)


# -- round trips ---------------------------------------------------------------------------------
TRIP_COLUMNS = ["strategy", "key", "direction", "quantity", "entry_time", "exit_time", "entry_price", "exit_price",
                "gross", "charges", "net", "holding"]


def round_trips(fills: pd.DataFrame) -> pd.DataFrame:
    """Match fills FIFO into round trips, per (strategy, instrument).

    Each piece of an opening fill closed by a later opposite fill is one round trip: buying
    100 and selling 60 then 40 gives two. Charges are shared out by quantity (an opening
    fill's charges follow its shares to whichever exits close them). Lots still open at the
    end are not trips.

    Returns
    -------
    DataFrame
        ``strategy, key, direction (long/short), quantity, entry_time, exit_time, entry_price,
        exit_price, gross, charges, net`` (Decimal) and ``holding`` (Timedelta).
    """
    trips = []
    if len(fills) == 0:
        return pd.DataFrame(columns=TRIP_COLUMNS)
    f = fills.sort_values(["time", "seq"], kind="stable") if "seq" in fills.columns else fills.sort_values("time", kind="stable")
    for (strategy, key), g in f.groupby(["strategy", "key"], sort=False):
        lots: deque[list] = deque()  # [remaining qty, price, time, charges per share, sign]
        for r in g.itertuples(index=False):
            sign = 1 if r.side == "BUY" else -1
            qty = int(r.quantity)
            cps = dec(r.charges) / qty if qty else ZERO
            m = int(getattr(r, "multiplier", 1) or 1)
            while qty and lots and lots[0][4] != sign:
                lot = lots[0]
                n = min(qty, lot[0])
                gross = (dec(r.price) - lot[1]) * n * m * lot[4]
                charges = (lot[3] + cps) * n
                trips.append({
                    "strategy": strategy, "key": key, "direction": "long" if lot[4] > 0 else "short", "quantity": n,
                    "entry_time": lot[2], "exit_time": r.time, "entry_price": lot[1], "exit_price": dec(r.price),
                    "gross": gross, "charges": charges, "net": gross - charges, "holding": r.time - lot[2],
                })
                lot[0] -= n
                qty -= n
                if lot[0] == 0:
                    lots.popleft()
            if qty:
                lots.append([qty, dec(r.price), r.time, cps, sign])
    return pd.DataFrame(trips, columns=TRIP_COLUMNS)


def trade_stats(trips: pd.DataFrame) -> dict:
    """Round trips, win rate, profit factor, average trade (net of charges) and extremes."""
    n = len(trips)
    if n == 0:
        return {"round_trips": 0, "wins": 0, "losses": 0, "win_rate": math.nan, "profit_factor": math.nan,
                "avg_trade": math.nan, "avg_win": math.nan, "avg_loss": math.nan, "largest_win": math.nan,
                "largest_loss": math.nan, "gross": ZERO, "net": ZERO}
    net = [dec(x) for x in trips["net"]]
    wins = [x for x in net if x > 0]
    losses = [x for x in net if x < 0]
    won, lost = sum(wins, ZERO), -sum(losses, ZERO)
    return {
        "round_trips": n,
        "wins": len(wins),
        "losses": len(losses),
        "win_rate": len(wins) / n,
        "profit_factor": float(won / lost) if lost else (math.inf if won else math.nan),
        "avg_trade": sum(net, ZERO) / n,
        "avg_win": won / len(wins) if wins else math.nan,
        "avg_loss": -lost / len(losses) if losses else math.nan,
        "largest_win": max(wins) if wins else math.nan,
        "largest_loss": min(losses) if losses else math.nan,
        "gross": sum((dec(x) for x in trips["gross"]), ZERO),
        "net": sum(net, ZERO),
    }


# -- equity statistics ---------------------------------------------------------------------------
def _equity_series(equity: pd.Series | pd.DataFrame) -> pd.Series:
    s = equity["equity"] if isinstance(equity, pd.DataFrame) else equity
    return s.astype("float64")


def drawdown(equity: pd.Series | pd.DataFrame) -> pd.DataFrame:
    """``peak``, ``drawdown`` (≤ 0, in rupees) and ``drawdown_pct`` (≤ 0, of the peak) per point."""
    s = _equity_series(equity)
    peak = s.cummax()
    dd = s - peak
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(peak > 0, dd / peak, np.nan)
    return pd.DataFrame({"peak": peak, "drawdown": dd, "drawdown_pct": pct}, index=s.index)


def max_drawdown(equity: pd.Series | pd.DataFrame) -> dict:
    """The deepest fall from a running peak: ``amount`` (₹, positive), ``pct``, peak/trough/recovery times."""
    s = _equity_series(equity)
    if len(s) == 0:
        return {"amount": 0.0, "pct": 0.0, "peak_time": None, "trough_time": None, "recovery_time": None}
    dd = drawdown(s)
    j = int(np.argmin(dd["drawdown"].to_numpy()))
    amount = float(-dd["drawdown"].iloc[j])
    if amount <= 0:
        return {"amount": 0.0, "pct": 0.0, "peak_time": None, "trough_time": None, "recovery_time": None}
    peak_val = dd["peak"].iloc[j]
    i = int(np.flatnonzero(s.to_numpy()[: j + 1] == peak_val)[-1])
    after = np.flatnonzero(s.to_numpy()[j:] >= peak_val)
    return {
        "amount": amount,
        "pct": float(-dd["drawdown_pct"].iloc[j]) if not np.isnan(dd["drawdown_pct"].iloc[j]) else math.nan,
        "peak_time": s.index[i],
        "trough_time": s.index[j],
        "recovery_time": s.index[j + int(after[0])] if len(after) else None,
    }


def daily_returns(equity: pd.Series | pd.DataFrame, *, starting_equity: float | None = None) -> pd.Series:
    """Returns from one IST session's closing equity to the next.

    With ``starting_equity`` the first session's return is measured from it (the capital
    before the first trade); without it the first session has no return.
    """
    s = _equity_series(equity)
    if len(s) == 0:
        return pd.Series(dtype="float64")
    idx = s.index.tz_convert(IST) if isinstance(s.index, pd.DatetimeIndex) and s.index.tz is not None else s.index
    by_day = s.groupby(pd.Index([t.date() for t in idx], name="session")).last()
    prev = by_day.shift(1)
    if starting_equity is not None:
        prev.iloc[0] = float(starting_equity)
    r = by_day / prev - 1.0
    return r.dropna() if starting_equity is None else r


def performance_stats(
    equity: pd.Series | pd.DataFrame,
    *,
    starting_equity: float | None = None,
    trips: pd.DataFrame | None = None,
    periods_per_year: int = TRADING_DAYS,
    risk_free: float = 0.0,
) -> pd.Series:
    """Total return, daily return statistics, Sharpe, Sortino, max drawdown and trade stats.

    Parameters
    ----------
    equity : Series or DataFrame
        Equity over time (a DataFrame's ``equity`` column), IST-indexed.
    starting_equity : float, optional
        Capital before the first point; default the first point.
    trips : DataFrame, optional
        From :func:`round_trips`; adds win rate, profit factor, average trade, round trips.
    periods_per_year : int
        Annualisation (252 trading days).
    risk_free : float
        Annual risk-free rate subtracted in Sharpe and Sortino (0 by default).

    Returns
    -------
    Series
        Sharpe/Sortino are NaN with fewer than two daily returns; Sortino is inf when no
        day lost money and the mean is positive.
    """
    s = _equity_series(equity)
    start = float(starting_equity) if starting_equity is not None else (float(s.iloc[0]) if len(s) else math.nan)
    end = float(s.iloc[-1]) if len(s) else math.nan
    r = daily_returns(s, starting_equity=starting_equity)
    excess = r - risk_free / periods_per_year
    n = len(r)
    mean = float(excess.mean()) if n else math.nan
    sd = float(r.std(ddof=1)) if n > 1 else math.nan
    downside = float(np.sqrt(np.mean(np.minimum(excess.to_numpy(), 0.0) ** 2))) if n else math.nan
    ann = math.sqrt(periods_per_year)
    sharpe = mean / sd * ann if n > 1 and sd > 0 else math.nan
    if n > 1 and downside > 0:
        sortino = mean / downside * ann
    elif n > 1 and mean > 0:
        sortino = math.inf
    else:
        sortino = math.nan
    mdd = max_drawdown(s)
    out = {
        "start_equity": start,
        "end_equity": end,
        "pnl": end - start,
        "total_return": end / start - 1.0 if start else math.nan,
        "sessions": n,
        "mean_daily_return": float(r.mean()) if n else math.nan,
        "daily_volatility": sd,
        "annual_volatility": sd * ann if n > 1 else math.nan,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": mdd["amount"],
        "max_drawdown_pct": mdd["pct"],
    }
    if trips is not None:
        out.update(trade_stats(trips))
    return pd.Series(out, dtype="object")


# -- execution quality ---------------------------------------------------------------------------
SLIPPAGE_COLUMNS = [
    "time", "client_order_id", "trade_id", "strategy", "key", "side", "quantity", "price", "reference_price",
    "reference_source", "slippage", "slippage_bps", "slippage_inr", "arrival_price", "slippage_vs_arrival_bps",
    "signal_time", "order_time", "signal_to_fill_s",
]


def fill_slippage(events: Iterable, *, bars=None) -> pd.DataFrame:
    """Each fill against the price the strategy decided on.

    The reference (the decision price) is, in order: ``reference_price`` in the order's
    ``signal.received`` event; ``reference_price`` in its ``order.created`` event (the market
    when the order was made); the last bar close known when the order was created (needs
    ``bars``). ``arrival_price`` is the market when the order was made (``order.created``'s
    reference price, else that bar close) and ``slippage_vs_arrival_bps`` the fill against it. ``slippage`` is per share (₹), ``slippage_inr`` for
    the fill (× quantity × multiplier), ``slippage_bps`` of the reference; all positive when
    the fill is worse for the trader (paid more on a buy, received less on a sell).
    ``signal_to_fill_s`` runs from the signal (or, without one, the order) to the fill.
    """
    closes = closes_by_key(bars)
    orders: dict[str, dict] = {}
    signals: dict[str, dict] = {}
    rows = []
    for ev in events:
        p = ev.payload
        if ev.type == E.SIGNAL_RECEIVED and p.get("signal_id"):
            signals[p["signal_id"]] = {"time": _ts(p["signal_time"]) if p.get("signal_time") else _ts(ev.ts),
                                       "ref": p.get("reference_price")}
        elif ev.type == E.ORDER_CREATED:
            sig = signals.get(p.get("signal_id") or "")
            t = _ts(ev.ts)
            req = p.get("request") or {}
            key = f"{req.get('exchange')}:{req.get('tradingsymbol')}"
            # the decision price is the signal's; the arrival price is the market when the order was made
            arrival = p.get("reference_price")
            if arrival is None:
                arrival = price_at(closes, key, t.value)
            if sig and sig["ref"] is not None:
                ref, src = sig["ref"], "signal"
            elif p.get("reference_price") is not None:
                ref, src = p["reference_price"], "order"
            else:
                px = price_at(closes, key, t.value)
                ref, src = (px, "bar_close") if px is not None else (None, "none")
            orders[p["client_order_id"]] = {"time": t, "signal_time": sig["time"] if sig else None,
                                            "ref": None if ref is None else dec(ref, "reference_price"), "src": src,
                                            "arrival": None if arrival is None else dec(arrival, "reference_price"),
                                            "strategy": p.get("strategy", "")}
        elif ev.type == E.FILL:
            o = orders.get(p.get("client_order_id") or "", {})
            qty, price, m = int(p["quantity"]), dec(p["price"], "price"), int(p.get("multiplier", 1))
            t = _ts(ev.ts)
            ref = o.get("ref")
            sign = 1 if p["side"] == "BUY" else -1
            slip = (price - ref) * sign if ref is not None else None
            since = o.get("signal_time") or o.get("time")
            rows.append({
                "time": t, "client_order_id": p.get("client_order_id"), "trade_id": p.get("trade_id"),
                "strategy": p.get("strategy") or o.get("strategy", ""), "key": f"{p['exchange']}:{p['tradingsymbol']}",
                "side": p["side"], "quantity": qty, "price": price, "reference_price": ref,
                "reference_source": o.get("src", "none"), "slippage": slip,
                "slippage_bps": float(slip / ref * 10_000) if slip is not None and ref else math.nan,
                "slippage_inr": slip * qty * m if slip is not None else None,
                "arrival_price": o.get("arrival"),
                "slippage_vs_arrival_bps": (float((price - o["arrival"]) * sign / o["arrival"] * 10_000)
                                            if o.get("arrival") else math.nan),
                "signal_time": o.get("signal_time"), "order_time": o.get("time"),
                "signal_to_fill_s": (t - since).total_seconds() if since is not None else math.nan,
            })
    return pd.DataFrame(rows, columns=SLIPPAGE_COLUMNS)


def execution_quality(slippage: pd.DataFrame, book=None) -> pd.DataFrame:
    """Per (strategy, instrument): fills, slippage (mean, median, quantity-weighted bps; total ₹),
    fill ratio (filled ÷ ordered quantity of orders sent to the broker, from ``book``) and time
    from signal to fill (mean, median, max seconds)."""
    cols = ["strategy", "key", "fills", "filled_qty", "orders_sent", "ordered_qty", "fill_ratio", "slippage_bps_mean",
            "slippage_bps_median", "slippage_bps_weighted", "slippage_inr", "signal_to_fill_s_mean",
            "signal_to_fill_s_median", "signal_to_fill_s_max"]
    sent: dict[tuple[str, str], list[int]] = {}
    if book is not None:
        for o in book.orders.values():
            # Only orders that reached the broker can fill; denied or unapproved ones are not
            # the broker's fill ratio.
            if not any(h[2] == "SUBMITTED" for h in o.history):
                continue
            k = (o.strategy, o.request.key)
            acc = sent.setdefault(k, [0, 0, 0])
            acc[0] += 1
            acc[1] += o.request.quantity
            acc[2] += o.filled_quantity
    rows = []
    groups = set(sent)
    if len(slippage):
        groups |= set(zip(slippage["strategy"], slippage["key"]))
    for strat, key in sorted(groups):
        g = slippage[(slippage["strategy"] == strat) & (slippage["key"] == key)] if len(slippage) else slippage
        bps = g["slippage_bps"].astype("float64") if len(g) else pd.Series(dtype="float64")
        q = g["quantity"].astype("float64") if len(g) else pd.Series(dtype="float64")
        ok = bps.notna()
        lat = g["signal_to_fill_s"].astype("float64") if len(g) else pd.Series(dtype="float64")
        inr = [x for x in g["slippage_inr"] if x is not None] if len(g) else []
        n_sent, ordered, filled = sent.get((strat, key), [0, 0, 0])
        rows.append({
            "strategy": strat, "key": key, "fills": len(g), "filled_qty": int(q.sum()) if len(q) else 0,
            "orders_sent": n_sent, "ordered_qty": ordered, "fill_ratio": filled / ordered if ordered else math.nan,
            "slippage_bps_mean": float(bps[ok].mean()) if ok.any() else math.nan,
            "slippage_bps_median": float(bps[ok].median()) if ok.any() else math.nan,
            "slippage_bps_weighted": float((bps[ok] * q[ok]).sum() / q[ok].sum()) if ok.any() and q[ok].sum() else math.nan,
            "slippage_inr": sum((dec(x) for x in inr), ZERO),
            "signal_to_fill_s_mean": float(lat.mean()) if lat.notna().any() else math.nan,
            "signal_to_fill_s_median": float(lat.median()) if lat.notna().any() else math.nan,
            "signal_to_fill_s_max": float(lat.max()) if lat.notna().any() else math.nan,
        })
    return pd.DataFrame(rows, columns=cols)
