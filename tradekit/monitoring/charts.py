"""The report's and the P&L page's charts, on a **trading-time** axis: bars and points are laid out
one after another and nights, weekends and holidays take no room, so a three-day equity curve is
three trading sessions side by side, not two flat nights between them.

- :func:`equity_figure` — equity and drawdown;
- :func:`price_figure` — one symbol's price with its fills marked (entries, exits, stop fills);
- :func:`pnl_by_strategy_figure` — one bar per strategy: net P&L, labelled with gross and charges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tradekit.clock import IST
from tradekit.model.money import fmt_inr

__all__ = ["TradingAxis", "equity_figure", "price_figure", "pnl_by_strategy_figure", "trade_marks"]


def new_figure(w: float, h: float) -> Figure:
    # A bare Figure renders through Agg when saved and needs no display or pyplot state.
    return Figure(figsize=(w, h), layout="constrained")


def inr_axis():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: fmt_inr(v, 0) if math.isfinite(v) else "")


class TradingAxis:
    """Maps IST times to positions with the gaps between sessions closed.

    Within a session a position is minutes since the session's first point; each later session
    starts one ``gap`` after the previous one's last point. Ticks: the first point of each
    session (its date), and times within a session when there are few sessions.
    """

    def __init__(self, times: Iterable, gap_minutes: float = 20.0):
        t = pd.DatetimeIndex(pd.to_datetime(list(times), utc=True)).tz_convert(IST).sort_values().unique()
        self.gap = gap_minutes
        self.days: list[tuple[object, float, float, pd.Timestamp]] = []  # (date, offset, first minute, first time)
        off = 0.0
        if len(t):
            s = pd.Series(t, index=t)
            for d, g in s.groupby(t.date):
                first, last = g.iloc[0], g.iloc[-1]
                span = (last - first).total_seconds() / 60.0
                self.days.append((d, off, _minute(first), first))
                off += span + self.gap
        self._index = {d: (o, m) for d, o, m, _ in self.days}

    def __call__(self, times) -> np.ndarray:
        t = pd.DatetimeIndex(pd.to_datetime(list(times) if not isinstance(times, pd.DatetimeIndex) else times,
                                            utc=True)).tz_convert(IST)
        out = np.full(len(t), np.nan)
        for i, x in enumerate(t):
            o = self._index.get(x.date())
            if o is not None:
                out[i] = o[0] + (_minute(x) - o[1])
        return out

    def decorate(self, ax) -> None:
        """Date ticks at each session's start; HH:MM ticks within one or two sessions."""
        if not self.days:
            return
        ticks, labels = [], []
        few = len(self.days) <= 2
        for d, off, m0, first in self.days:
            ticks.append(off)
            labels.append(f"{d:%d %b}\n{first:%H:%M}" if few else f"{d:%d %b}")
            if few:
                for hh in range(first.hour + 1, 16):
                    pos = off + (hh * 60 - m0)
                    ticks.append(pos)
                    labels.append(f"{hh:02d}:00")
        ax.set_xticks(ticks, labels, fontsize=8)
        for _d, off, _m0, _f in self.days[1:]:
            ax.axvline(off - self.gap / 2, color="#bbb", lw=0.6, ls=":")
        ax.set_xlabel("trading time (IST; nights and holidays left out)")


def _rs(v: float) -> str:
    return ("-₹" if v < 0 else "₹") + fmt_inr(abs(v))


def _minute(t: pd.Timestamp) -> float:
    return t.hour * 60 + t.minute + t.second / 60.0


def equity_figure(equity: pd.DataFrame, *, title: str = "") -> Figure:
    """Equity (top) and drawdown (bottom) on a shared trading-time axis."""
    fig = new_figure(10, 5.5)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.3])
    if len(equity):
        axis = TradingAxis(equity.index)
        x = axis(equity.index)
        ax1.plot(x, equity["equity"].to_numpy(), color="#1f4e79", lw=1.2)
        ax1.axhline(float(equity["equity"].iloc[0] - equity["pnl"].iloc[0]), color="#888", lw=0.8, ls="--")
        ax2.fill_between(x, equity["drawdown"].to_numpy(), 0.0, color="#c0392b", alpha=0.35, lw=0)
        ax2.plot(x, equity["drawdown"].to_numpy(), color="#c0392b", lw=0.8)
        axis.decorate(ax2)
    else:
        ax1.text(0.5, 0.5, "No fills yet: the equity curve starts with the first fill.", ha="center", va="center",
                 transform=ax1.transAxes, color="#555")
        ax2.set_xticks([])
    ax1.set_ylabel("equity (₹)")
    ax2.set_ylabel("drawdown (₹)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.yaxis.set_major_formatter(inr_axis())
    ax1.set_title(title or "Equity and drawdown")
    return fig


def trade_marks(fills: pd.DataFrame, stop_orders: set[str] | None = None) -> pd.DataFrame:
    """Each fill of one symbol classified as an ``entry`` (opens or adds to a position), an ``exit``
    (reduces or closes it) or a ``stop`` (an exit by a stop-loss order), from the running position
    per strategy and product. ``fills`` needs time, side, quantity, price, client_order_id and
    strategy (the columns of :func:`tradekit.monitoring.analytics.fills_frame`)."""
    stop_orders = stop_orders or set()
    pos: dict[tuple, int] = {}
    kinds = []
    for r in fills.sort_values("time", kind="stable").itertuples(index=False):
        k = (getattr(r, "strategy", ""), getattr(r, "product", None))
        q = int(r.quantity) * (1 if r.side == "BUY" else -1)
        before = pos.get(k, 0)
        after = before + q
        pos[k] = after
        reduces = before != 0 and (abs(after) < abs(before) or (before > 0) != (after > 0))
        if reduces:
            kinds.append("stop" if r.client_order_id in stop_orders else "exit")
        else:
            kinds.append("entry")
    out = fills.sort_values("time", kind="stable").reset_index(drop=True).copy()
    out["kind"] = kinds
    return out


_MARKERS = {  # (marker for a buy, marker for a sell, colour)
    "entry": ("^", "v", "#2e7d32"),
    "exit": ("^", "v", "#1565c0"),
    "stop": ("X", "X", "#c62828"),
}


def price_figure(key: str, prices: pd.Series, marks: pd.DataFrame, *, title: str = "") -> Figure:
    """``key``'s price (a series on IST times: bar closes, marks or fill prices) with ``marks``
    (:func:`trade_marks`) on it: ▲ buys, ▼ sells; green entries, blue exits, red ✕ stop fills."""
    fig = new_figure(10, 3.6)
    ax = fig.subplots()
    times = list(prices.index) + list(marks["time"]) if len(marks) else list(prices.index)
    if not times:
        ax.text(0.5, 0.5, f"No prices or fills for {key} yet.", ha="center", va="center", transform=ax.transAxes,
                color="#555")
        ax.set_xticks([])
        return fig
    axis = TradingAxis(times)
    if len(prices):
        x = axis(prices.index)
        y = prices.to_numpy(dtype="float64")
        # no line across the night: break it where a new session starts
        day = np.asarray(pd.DatetimeIndex(prices.index).tz_convert(IST).date)
        brk = np.r_[False, day[1:] != day[:-1]]
        y = np.where(brk, np.nan, y) if brk.any() else y
        ax.plot(x, y, color="#444", lw=0.9, label="price")
    for kind, (mb, ms, colour) in _MARKERS.items():
        for side, m in (("BUY", mb), ("SELL", ms)):
            g = marks[(marks["kind"] == kind) & (marks["side"] == side)] if len(marks) else marks
            if len(g):
                ax.scatter(axis(g["time"]), g["price"].astype("float64"), marker=m, s=46, color=colour,
                           edgecolor="white", linewidth=0.6, zorder=3, label=f"{kind} {side.lower()} ({len(g)})")
    axis.decorate(ax)
    ax.set_ylabel("₹")
    ax.grid(alpha=0.3)
    if len(marks) or len(prices):
        ax.legend(frameon=False, fontsize=8, ncol=4, loc="best")
    ax.set_title(title or f"{key}: price and fills")
    return fig


def pnl_by_strategy_figure(pnl: pd.DataFrame) -> Figure:
    """One horizontal bar per strategy (net P&L after charges), labelled ``net (gross − charges)``."""
    n = len(pnl)
    fig = new_figure(8, max(1.6, 0.55 * n + 1.1))
    ax = fig.subplots()
    if n:
        names = [str(i) or "(none)" for i in pnl.index]
        net = np.array([float(x) for x in pnl["net"]])
        ch = [float(x) for x in pnl["charges"]]
        gross = [float(x) for x in pnl["gross"]] if "gross" in pnl.columns else [a + c for a, c in zip(net, ch)]
        y = np.arange(n)
        ax.barh(y, net, 0.55, color=["#2e7d32" if v >= 0 else "#c0392b" for v in net])
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.axvline(0, color="#333", lw=0.8)
        span = float(np.max(np.abs(net))) or 1.0
        ax.set_xlim(-span * 1.9 if (net < 0).any() else -span * 0.1, span * 1.9 if (net > 0).any() else span * 0.1)
        for yi, v, g, c in zip(y, net, gross, ch):
            ax.text(v + (span * 0.03 if v >= 0 else -span * 0.03), yi,
                    f"{_rs(v)}  (gross {_rs(g)} − charges {_rs(c)})",
                    va="center", ha="left" if v >= 0 else "right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "No positions yet: each strategy's net P&L appears here after its first fill.",
                ha="center", va="center", transform=ax.transAxes, color="#555")
        ax.set_yticks([])
    ax.set_xlabel("net P&L after charges (₹)")
    ax.xaxis.set_major_formatter(inr_axis())
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("P&L by strategy")
    return fig


def price_series(key: str, closes: dict, events: Sequence, fills: pd.DataFrame) -> pd.Series:
    """The best price history for ``key``: bar closes when there are bars, else the journal's marks,
    else the fill prices."""
    from tradekit.monitoring import analytics as an

    kk = an.resolve_key(key, closes) if closes else None
    if kk is not None and len(closes[kk][0]):
        e, c = closes[kk]
        idx = pd.DatetimeIndex(pd.to_datetime(e, utc=True)).tz_convert(IST)
        return pd.Series(np.asarray(c, dtype="float64"), index=idx)
    pts = {}
    for ev in events:
        if ev.type == "mark":
            p = (ev.payload.get("prices") or {}).get(key)
            if p is not None:
                pts[pd.Timestamp(ev.ts).tz_convert(IST)] = float(p)
    if pts:
        return pd.Series(pts).sort_index()
    g = fills[fills["key"] == key] if len(fills) else fills
    if len(g):
        return pd.Series(g["price"].astype("float64").to_numpy(), index=pd.DatetimeIndex(g["time"])).sort_index()
    return pd.Series(dtype="float64")
