"""Research: backtest the sample strategy with vectorbt on real NSE bars, sweep its
parameters, and export the chosen one's signals for the live (or paper) session.

The backtest follows the paper session's rules so that what was researched trades the same:

- **next-bar fills**: a signal made on a bar's close is filled at the *next* bar's open, plus
  the paper broker's slippage (``fixed_bps``), rounded to the tick against the trader;
- **intraday**: each day starts flat and sees only its own bars (a paper day replays one
  day); MIS positions are closed at tradekit's square-off (``execution.square_off_time``,
  default 15:15) and no new exposure is taken after it;
- **our charges**: every order goes into the day's contract note
  (:class:`~tradekit.execution.costs.FillCosts`, Zerodha's rates; ``charges_as_of`` prices
  days before 2020-07-01), so net P&L is what the broker would have left.

vectorbt simulates the fills and the gross P&L (one column per parameter pair); the charges
are then priced per order by tradekit. :func:`export_signals` writes the chosen parameters'
signals of a day in the published signal schema (JSON Lines), ready for
``tradekit run day --signals FILE`` or the inbox folder.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tradekit.errors import DataError, ValidationError
from tradekit.model.charges import COMPONENTS
from tradekit.model.enums import Product, Side
from tradekit.model.money import paise
from tradekit.runs.day import as_date, parse_symbols

log = logging.getLogger(__name__)

_SCALE = 10_000  # prices as integers of 0.0001 rupee, as the paper exchange handles them
_OOS = ("orders", "gross_pnl", "charges", "net_pnl", "max_drawdown")


# -- inputs ---------------------------------------------------------------------------------------------
def load_research_bars(symbols, start, end, data_dir=None) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """1-minute bars per symbol (the data directory's, else the bundled sample's) between ``start`` and ``end`` (inclusive), and their
    data-quality findings (gaps, jumps, missing sessions against the NSE calendar)."""
    from tradekit.data import check_bars
    from tradekit.data.store import load_symbol_bars
    from tradekit.market.calendar import get_calendar

    s, e = as_date(start), as_date(end)
    if e < s:
        raise ValidationError(f"end {e} is before start {s}", field="end")
    sessions = get_calendar("NSE").sessions(s, e)
    bars, findings = {}, []
    for sym in parse_symbols(symbols):
        df = load_symbol_bars(f"NSE:{sym}", "1min", data_dir=data_dir, start=s, end=e)
        if not len(df):
            raise DataError(f"no 1-minute bars for NSE:{sym} between {s} and {e}")
        key = f"NSE:{sym}"
        bars[key] = df
        have = sorted(set(df.index.date))
        findings.append(check_bars(df, key=key, expected_sessions=[d for d in sessions if have[0] <= d <= have[-1]]))
    return bars, pd.concat(findings, ignore_index=True)


# -- the rules shared with the paper session --------------------------------------------------------------
def execution_targets(close: pd.Series, strategy, square_off: time | None) -> np.ndarray:
    """The position to hold *from each bar's open*, per the paper session's rules.

    Per day: the strategy's target after bar ``i`` is executed at bar ``i + 1``'s open; the
    day starts flat; from ``square_off`` on the target is flat (MIS square-off, no new
    exposure after it).
    """
    out = np.zeros(len(close), dtype="int64")
    idx = close.index
    days = idx.normalize()
    values = close.to_numpy(dtype="float64")
    bounds = np.flatnonzero(np.r_[True, days[1:] != days[:-1], True])
    for a, b in pairwise(bounds):
        tgt = strategy.target_positions(values[a:b])
        out[a + 1:b] = tgt[:-1]
    if square_off is not None:
        minutes = idx.hour * 60 + idx.minute
        out[np.asarray(minutes >= square_off.hour * 60 + square_off.minute)] = 0
    return out


def fill_prices(open_: np.ndarray, *, bps: float, tick: float, buy: bool, high: np.ndarray | None = None,
                low: np.ndarray | None = None) -> np.ndarray:
    """The paper exchange's market fill: open ± ``bps`` slippage computed exactly and rounded once
    onto the tick grid against the trader; with ``high``/``low``, kept inside the bar's range
    (``paper.slippage.clamp_to_bar``)."""
    from fractions import Fraction

    units = np.rint(open_ * _SCALE).astype("int64")
    f = Fraction(str(bps))
    num, den = f.numerator, f.denominator * 10_000  # slippage = units × num / den, exactly
    t = max(1, int(round(tick * _SCALE)))
    if buy:
        px = -((-(units * (den + num))) // (t * den)) * t
        if high is not None:
            px = np.minimum(px, np.maximum(np.rint(high * _SCALE).astype("int64"), units))
    else:
        px = ((units * (den - num)) // (t * den)) * t
        if low is not None:
            px = np.maximum(px, np.minimum(np.rint(low * _SCALE).astype("int64"), units))
    return px / _SCALE


def _master(day: date | None):
    """The instrument master of the default config on ``day`` (its cached Kite dump, its
    ``market.instruments``, else the bundled sample): see :func:`tradekit.market.master.load_master`."""
    from tradekit.session import _default_instruments

    try:
        from tradekit.config import load_config

        cfg = load_config()
    except Exception:  # noqa: BLE001 - no readable default config: the master without one
        cfg = None
    return _default_instruments(cfg, day)


def _tick_for(key: str, price: float, day: date) -> float:
    from tradekit.market.rules import tick_size_for

    inst = _master(day).get(*key.split(":"))
    return float(tick_size_for(inst, price=price, on_date=day, reference_price=price))


# -- the backtest -----------------------------------------------------------------------------------------
@dataclass
class Backtest:
    """A sweep's raw results: each symbol's gross P&L curve per (fast, slow) (vectorbt's value less
    its starting cash; columns = (fast, slow)) and every order with its charges.

    ``pairs`` are the pairs the sweep completed; a pair whose task failed after its retries is not
    in them (nor in the curves or orders) but in ``failed`` (:mod:`tradekit.research.sweep`)."""

    values: dict[str, pd.DataFrame]
    orders: pd.DataFrame  # fast, slow, key, time, side, quantity, price, value, charges, <components>
    pairs: list[tuple[int, int]]
    capital: float
    failed: list = field(default_factory=list)  # TaskFailure of the tasks that failed after their retries

    def gross_curve(self) -> pd.DataFrame:
        """Gross P&L over time per (fast, slow) (columns), summed over symbols."""
        total = None
        for v in self.values.values():
            total = v if total is None else total.add(v, fill_value=0.0)
        if total is None:
            raise ValidationError("the sweep completed no (fast, slow) pair: " +
                                  "; ".join(str(f) for f in self.failed[:3]), field="sweep")
        return total.ffill().fillna(0.0)

    def charges_curve(self) -> pd.DataFrame:
        """Cumulative charges over time per (fast, slow), on the same index as :meth:`gross_curve`."""
        g = self.gross_curve()
        out = pd.DataFrame(0.0, index=g.index, columns=g.columns)
        if len(self.orders):
            for (f, s), grp in self.orders.groupby(["fast", "slow"]):
                c = grp.groupby("time")["charges"].sum().astype(float).cumsum()
                out[(f, s)] = c.reindex(g.index, method="ffill").fillna(0.0).to_numpy()
        return out

    def net_curve(self) -> pd.DataFrame:
        return self.gross_curve() - self.charges_curve()


def backtest(
    bars: Mapping[str, pd.DataFrame],
    pairs: Iterable[tuple[int, int]],
    *,
    quantity: int = 10,
    product: Product | str = Product.MIS,
    capital: float = 1_000_000.0,
    slippage_bps: float = 2.0,
    charges_as_of: date | str | None = None,
    square_off: time | str | None = time(15, 15),
    clamp_to_bar: bool = True,
    cluster=None,
) -> Backtest:
    """Backtest SMA crossovers for every ``(fast, slow)`` pair with vectorbt, next-bar fills and our charges.

    Parameters
    ----------
    bars : mapping of key to bars
        ``{"NSE:RELIANCE": DataFrame}`` of 1-minute bars (several days are fine).
    pairs : iterable of (fast, slow)
        Parameter pairs; each becomes one vectorbt column per symbol.
    quantity, product
        Shares per signal and the product (MIS is squared off at ``square_off``).
    capital : float
        Cash per symbol column in vectorbt (P&L is reported in rupees, so it only has to be enough).
    slippage_bps : float
        The paper broker's ``fixed_bps`` slippage, against the trader.
    charges_as_of : date, optional
        Price every order at this day's rates (needed before 2020-07-01).
    square_off : time or "HH:MM" or None
        tradekit's MIS square-off; None for no intraday close-out.
    clamp_to_bar : bool
        Keep fills inside the bar's high-low range, as the paper broker does by default.
    cluster : SweepCluster, optional
        Run the sweep's tasks there (:func:`tradekit.research.cluster.research_cluster`); None: in
        this process. The result is the same to the paisa either way.
    """
    from tradekit.research.sweep import sweep

    return sweep(bars, pairs, cluster, quantity=quantity, product=product, capital=capital, slippage_bps=slippage_bps,
                 charges_as_of=charges_as_of, square_off=square_off, clamp_to_bar=clamp_to_bar)


def sweep_table(bt: Backtest) -> pd.DataFrame:
    """One row per (fast, slow): orders, gross P&L, charges, net P&L, net max drawdown, return."""
    gross = bt.gross_curve()
    net = bt.net_curve()
    rows = []
    for f, s in bt.pairs:
        o = bt.orders[(bt.orders["fast"] == f) & (bt.orders["slow"] == s)]
        g = float(gross[(f, s)].iloc[-1])
        ch = float(sum(o["charges"], Decimal(0)))
        n = net[(f, s)]
        dd = float((n.cummax().clip(lower=0) - n).max())
        rows.append({"fast": f, "slow": s, "orders": len(o), "round_trips": int((o["side"] == "SELL").sum()),
                     "gross_pnl": round(g, 2), "charges": round(ch, 2), "net_pnl": round(g - ch, 2),
                     "max_drawdown": round(dd, 2), "charges_per_order": round(ch / len(o), 2) if len(o) else 0.0})
    return pd.DataFrame(rows)


def choose(table: pd.DataFrame, by: str = "net_pnl") -> tuple[int, int]:
    """The best ``(fast, slow)`` by ``by`` (ties: the smaller fast, then slow)."""
    if by not in table.columns:
        raise ValidationError(f"{by!r} is not a column of the sweep ({', '.join(table.columns)})", field="choose_by")
    t = table.sort_values([by, "fast", "slow"], ascending=[False, True, True], kind="stable")
    r = t.iloc[0]
    return int(r["fast"]), int(r["slow"])


# -- figures ---------------------------------------------------------------------------------------------
def heatmap_figure(table: pd.DataFrame, value: str = "net_pnl", *, title: str = "") -> Figure:
    """Heatmap of ``value`` over fast (rows) × slow (columns), each cell labelled in rupees."""
    pv = table.pivot(index="fast", columns="slow", values=value).sort_index().sort_index(axis=1)
    fig = Figure(figsize=(1.2 + 0.9 * pv.shape[1], 1.0 + 0.6 * pv.shape[0]), layout="constrained")
    ax = fig.add_subplot()
    vals = pv.to_numpy(dtype="float64")
    lim = np.nanmax(np.abs(vals)) if np.isfinite(vals).any() else 1.0
    im = ax.imshow(vals, cmap="RdYlGn", vmin=-lim or -1, vmax=lim or 1, aspect="auto")
    ax.set_xticks(range(pv.shape[1]), [str(c) for c in pv.columns])
    ax.set_yticks(range(pv.shape[0]), [str(i) for i in pv.index])
    ax.set_xlabel("slow SMA (bars)")
    ax.set_ylabel("fast SMA (bars)")
    for i in range(pv.shape[0]):
        for j in range(pv.shape[1]):
            v = vals[i, j]
            strong = not math.isnan(v) and abs(v) > 0.6 * lim  # white on the darkest cells
            ax.text(j, i, "" if math.isnan(v) else f"₹{v:,.0f}", ha="center", va="center", fontsize=8,
                    color="white" if strong else "black")
    fig.colorbar(im, ax=ax, label=f"{value.replace('_', ' ')} (₹)")
    ax.set_title(title or f"{value.replace('_', ' ')} by parameters (after charges)")
    return fig


def equity_figure(gross: pd.Series, net: pd.Series, *, title: str = "") -> Figure:
    """Gross and net (after charges) P&L of the chosen parameters, with the net drawdown below."""
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    x = np.arange(len(net))  # bar number: keeps nights and holidays from stretching the plot
    ax.plot(x, gross.to_numpy(), lw=1, label="gross")
    ax.plot(x, net.to_numpy(), lw=1.2, label="net of charges")
    ax.axhline(0, color="#999", lw=0.6)
    ax.set_ylabel("P&L (₹)")
    ax.legend(loc="upper left")
    ax.set_title(title)
    dd = net.cummax().clip(lower=0) - net
    ax2.fill_between(x, -dd.to_numpy(), 0, color="#b00020", alpha=0.4)
    ax2.set_ylabel("drawdown (₹)")
    days = net.index.normalize()
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    step = max(1, len(starts) // 8)
    ax2.set_xticks(starts[::step], [f"{d:%d %b}" for d in net.index[starts[::step]]])
    return fig


# -- the hand-off -----------------------------------------------------------------------------------------
def signal_record(sig) -> dict:
    """A :class:`~tradekit.model.signal.Signal` as one record of the published signal schema
    (``tradekit/signals/signal.schema.json``); :func:`tradekit.signals.parse_batch` reads it back."""
    rec = {
        "idempotency_key": sig.signal_id,
        "strategy": sig.strategy,
        "signal_time": sig.signal_time.isoformat(),
        "symbol": sig.tradingsymbol,
        "exchange": sig.exchange.value,
        "side": sig.side.value,
        "order_type": sig.order_type.value,
        "product": sig.product.value,
    }
    if sig.quantity is not None:
        rec["quantity"] = int(sig.quantity)
    else:
        rec["sizing"] = {k: (float(v) if isinstance(v, Decimal) else v) for k, v in (sig.sizing or {}).items()}
    for name in ("price", "trigger_price", "reference_price"):
        v = getattr(sig, name)
        if v is not None:
            rec[name] = float(v)  # JSON number; the parser reads it back as an exact Decimal
    if sig.expires_at is not None:
        rec["expires_at"] = sig.expires_at.isoformat()
    if sig.priority:
        rec["priority"] = sig.priority
    if sig.confidence is not None:
        rec["confidence"] = sig.confidence
    meta = sig.meta or {}
    br = meta.get("bracket")
    if br:  # a bracket: stop, targets and trail as the schema's fields (tradekit/signals/bracket_fields.py)
        rec["stop"] = br["stop"]
        if br.get("targets"):
            rec["targets"] = br["targets"]
        if br.get("trail"):
            rec["trail"] = {k: v for k, v in br["trail"].items() if v is not None}
    for name in ("algo", "slicing", "condition"):  # execution algorithm, iceberg, conditional order
        if meta.get(name) is not None:
            rec[name] = meta[name]
    if meta.get("tag"):
        rec["tag"] = meta["tag"]
    if meta.get("validity") not in (None, "DAY"):
        rec["validity"] = meta["validity"]
    return rec


def export_signals(signals: Sequence, path: str | Path) -> Path:
    """Write signals as JSON Lines in the published schema, checked by the same parser the
    session uses (a record the session would refuse is an error here)."""
    from tradekit.signals import parse_batch

    text = "".join(json.dumps(signal_record(s), ensure_ascii=False) + "\n" for s in signals)
    if signals:
        batch = parse_batch(text, fmt="jsonl")
        if batch.errors:
            raise ValidationError(f"exported signals fail the schema: {batch.errors[0]}", field="signals")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def day_signals(bars: Mapping[str, pd.DataFrame], day: date | str, fast: int, slow: int, *, quantity: int = 10,
                product: Product | str = Product.MIS) -> list:
    """The strategy's signals on ``day`` for each instrument (computed on that day's bars only)."""
    from tradekit.strategies import SmaCrossover

    d = as_date(day)
    strat = SmaCrossover(fast, slow, quantity, product=Product(product))
    out = []
    for key, df in bars.items():
        today = df[df.index.date == d]
        if len(today):
            out += strat.signals(today, key)
    return sorted(out, key=lambda s: (s.signal_time, s.signal_id))


def session_rules(cfg) -> dict:
    """The paper session's fill and close-out rules from a config, as :func:`run_research` arguments.

    Slippage models other than ``none``/``fixed_bps`` are approximated by their ``bps``.
    """
    sl = cfg.paper.slippage
    if sl.model not in ("none", "fixed_bps"):
        log.warning("research approximates the %s slippage model by %s bps", sl.model, sl.bps)
    if sl.noise_bps:
        log.warning("research ignores the paper broker's slippage noise (%s bps)", sl.noise_bps)
    return {"slippage_bps": 0.0 if sl.model == "none" else float(sl.bps),
            "square_off": cfg.execution.square_off_time,
            "charges_as_of": cfg.execution.charges_as_of, "clamp_to_bar": sl.clamp_to_bar}


# -- the notebook's entry point ---------------------------------------------------------------------------
@dataclass
class ResearchResult:
    """Everything the research notebook shows, and where the hand-off file went."""

    bars: dict[str, pd.DataFrame]
    quality: pd.DataFrame
    sweep: pd.DataFrame
    chosen: tuple[int, int]
    backtest: Backtest
    heatmap: Figure
    equity: pd.DataFrame  # gross, charges, net of the chosen pair
    equity_plot: Figure
    charges: pd.DataFrame  # by component, chosen pair
    orders: pd.DataFrame  # chosen pair's orders with charges
    signals: list
    signals_path: Path | None
    settings: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # losing after charges, no out-of-sample check, no export

    @property
    def strategy(self) -> str:
        q, p = self.settings.get("quantity", 10), self.settings.get("product", "MIS")
        return f"sma:{self.chosen[0]}:{self.chosen[1]}:{q}:{p}"

    def data_summary(self) -> pd.DataFrame:
        rows = [{"key": k, "bars": len(v), "sessions": len(set(v.index.date)), "first": v.index[0], "last": v.index[-1]}
                for k, v in self.bars.items()]
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        r = self.sweep[(self.sweep["fast"] == self.chosen[0]) & (self.sweep["slow"] == self.chosen[1])].iloc[0]
        rows = [("chosen", f"SMA {self.chosen[0]}/{self.chosen[1]} (best {self.settings.get('choose_by')})"),
                ("orders", int(r["orders"])), ("gross P&L", f"₹{r['gross_pnl']:,.2f}"),
                ("charges", f"₹{r['charges']:,.2f}"), ("net P&L in sample", f"₹{r['net_pnl']:,.2f}"),
                ("max drawdown (net)", f"₹{r['max_drawdown']:,.2f}"),
                ("charges priced as of", str(self.settings.get("charges_as_of") or "each trade date")),
                ("in sample", " .. ".join(self.settings.get("in_sample") or []) or "—"),
                ("out of sample", " .. ".join(self.settings.get("out_of_sample") or []) or "— (no days left)"),
                ("net P&L out of sample", f"₹{r['oos_net_pnl']:,.2f}" if "oos_net_pnl" in r else "—"),
                ("signals exported", (f"{len(self.signals)} for {self.settings.get('export_day')} → "
                                      f"{self.signals_path.name if self.signals_path else '—'}")),
                ("sweep ran on", f"{self.settings.get('ran_on', 'this process')}: {self.settings.get('tasks', '?')} "
                                 f"tasks, {len(self.settings.get('failed_tasks') or [])} failed"),
                ("warnings", len(self.warnings))]
        return pd.DataFrame(rows, columns=["", "value"]).set_index("")

    def handoff_command(self) -> str:
        if self.signals_path is None:
            return "—"
        return f"tradekit run day --date {self.settings.get('export_day')} --signals {self.signals_path}"

    def signals_preview(self, n: int = 5) -> str:
        """The first ``n`` lines of the exported signal file."""
        if self.signals_path is None:
            return "(no signals exported)"
        lines = self.signals_path.read_text(encoding="utf-8").splitlines()
        more = f"\n… {len(lines) - n} more" if len(lines) > n else ""
        return "\n".join(lines[:n]) + more

    def to_dict(self) -> dict:
        return {"chosen": list(self.chosen), "strategy": self.strategy, "settings": self.settings, "warnings": self.warnings,
                "sweep": self.sweep.to_dict("records"),
                "signals_path": str(self.signals_path) if self.signals_path else None, "signals": len(self.signals)}


def run_research(
    symbols="RELIANCE",
    start: date | str = "2016-08-16",
    end: date | str = "2016-09-09",
    *,
    fast: Iterable[int] = (5, 10, 15, 20),
    slow: Iterable[int] = (20, 30, 45, 60),
    quantity: int = 10,
    product: str = "MIS",
    capital: float = 1_000_000.0,
    slippage_bps: float = 2.0,
    charges_as_of: date | str | None = None,
    square_off: str | None = "15:15",
    clamp_to_bar: bool = True,
    choose_by: str = "net_pnl",
    export_day: date | str | None = None,
    out_dir: str | Path = ".",
    train_fraction: float = 0.7,
    export_if_losing: bool = False,
    cluster=None,
) -> ResearchResult:
    """Load bars, sweep SMA(fast, slow) with vectorbt, choose in sample, check out of sample, and
    export the chosen signals.

    The sessions are split in time: the first ``train_fraction`` of them choose the parameters
    (in sample), the rest test the chosen pair (out of sample; ``oos_*`` columns of the sweep).
    When the best pair loses after charges in sample, or the chosen pair loses out of sample,
    :attr:`ResearchResult.warnings` says so and no signals are exported (unless
    ``export_if_losing``).

    Writes into ``out_dir``: ``sweep.csv``, ``heatmap.png``, ``research.json`` and, when
    ``export_day`` is given and the check passes, ``signals_<strategy>_<day>.jsonl`` (the hand-off).

    ``cluster`` (a :class:`~tradekit.research.cluster.SweepCluster`, e.g.
    ``research_cluster(cfg)``) runs the in-sample and out-of-sample sweeps there as one graph of
    tasks, with a progress bar; None runs them in this process. The results are the same to the
    paisa. A task that still fails after its retries is named in the warnings, its pairs are left
    out of the sweep, and no signals are exported from an incomplete sweep.
    """
    from tradekit.runs.manifest import write_json

    try:
        train_fraction = float(train_fraction)
    except (TypeError, ValueError):
        raise ValidationError(f"train_fraction must be a number in (0, 1], not {train_fraction!r}",
                              field="train_fraction") from None
    if not 0 < train_fraction <= 1:
        raise ValidationError(f"train_fraction must be in (0, 1], not {train_fraction!r}", field="train_fraction")
    all_bars, findings = load_research_bars(symbols, start, end)
    sessions = sorted({d for v in all_bars.values() for d in v.index.date})
    n_train = min(max(1, math.floor(len(sessions) * train_fraction + 1e-9)), len(sessions))
    train_days, test_days = sessions[:n_train], sessions[n_train:]

    def _days(days) -> dict[str, pd.DataFrame]:
        keep = np.array(days, dtype="object")
        return {k: v[np.isin(np.asarray(v.index.date, dtype="object"), keep)] for k, v in all_bars.items()}

    bars = _days(train_days) if test_days else all_bars
    pairs = [(f, s) for f in sorted(set(map(int, fast))) for s in sorted(set(map(int, slow))) if f < s]
    kw = {"quantity": quantity, "product": product, "capital": capital, "slippage_bps": slippage_bps,
          "charges_as_of": charges_as_of, "square_off": square_off, "clamp_to_bar": clamp_to_bar}
    from tradekit.research.sweep import SweepPlan, run_sweeps

    plans = [SweepPlan(bars, pairs, name="in sample" if test_days else "sweep", **kw)]
    if test_days:
        plans.append(SweepPlan(_days(test_days), pairs, name="out of sample", **kw))
    done, outcome = run_sweeps(plans, cluster, desc="research sweep")
    bt = done[0]
    warnings: list[str] = []
    incomplete = [f for b in done for f in b.failed]
    if incomplete:
        lost = sorted(set(pairs) - set(bt.pairs) | (set(pairs) - set(done[-1].pairs)))
        warnings.append(f"{len(incomplete)} sweep task(s) failed after {outcome.cluster.retries} retries, so "
                        f"{len(lost)} of {len(pairs)} pairs are left out: " + "; ".join(str(f) for f in incomplete[:3]))
    if not bt.pairs:
        raise DataError("the research sweep completed no (fast, slow) pair: " +
                        "; ".join(str(f) for f in incomplete[:3]))
    table = sweep_table(bt)
    chosen = choose(table, choose_by)
    best_in = float(table[(table["fast"] == chosen[0]) & (table["slow"] == chosen[1])]["net_pnl"].iloc[0])
    oos_net = None
    if test_days:
        oos = sweep_table(done[1]) if done[1].pairs else pd.DataFrame(columns=["fast", "slow", *_OOS])
        oos = oos.rename(columns={c: f"oos_{c}" for c in _OOS})
        table = table.merge(oos[["fast", "slow", "oos_orders", "oos_gross_pnl", "oos_charges", "oos_net_pnl",
                                 "oos_max_drawdown"]], on=["fast", "slow"], how="left")
        oos_net = float(table[(table["fast"] == chosen[0]) & (table["slow"] == chosen[1])]["oos_net_pnl"].iloc[0])
        if math.isnan(oos_net):
            oos_net = None
            warnings.append(f"SMA {chosen[0]}/{chosen[1]} was not checked out of sample: its task failed")
    else:
        warnings.append(f"{len(sessions)} session(s) and train_fraction {train_fraction:g}: no out-of-sample days, "
                        "so nothing checks that the chosen parameters were not just the luckiest of the sweep")
    if best_in <= 0:
        warnings.append(f"every parameter pair loses after charges in sample: the best, SMA {chosen[0]}/{chosen[1]}, "
                        f"made ₹{best_in:,.2f} ({train_days[0]}..{train_days[-1]})")
    if oos_net is not None and oos_net <= 0:
        warnings.append(f"SMA {chosen[0]}/{chosen[1]} made ₹{best_in:,.2f} in sample ({train_days[0]}..{train_days[-1]}) "
                        f"but ₹{oos_net:,.2f} out of sample ({test_days[0]}..{test_days[-1]}) after charges")
    losing = best_in <= 0 or (oos_net is not None and oos_net <= 0)
    if test_days:  # the chosen pair over both periods
        (whole,), again = run_sweeps([SweepPlan(all_bars, [chosen], name="chosen pair", **kw)], cluster,
                                     desc="chosen pair")
        if whole.failed:
            raise DataError(f"the chosen pair's run over the whole period failed after {again.cluster.retries} "
                            "retries: " + "; ".join(str(f) for f in whole.failed[:3]))
    else:
        whole = bt
    gross = whole.gross_curve()[chosen]
    chg = whole.charges_curve()[chosen]
    equity = pd.DataFrame({"gross": gross, "charges": chg, "net": gross - chg})
    orders = whole.orders[(whole.orders["fast"] == chosen[0]) & (whole.orders["slow"] == chosen[1])].reset_index(drop=True)
    by_comp = pd.DataFrame({"rupees": [paise(sum(orders[c], Decimal(0))) for c in COMPONENTS]}, index=list(COMPONENTS))
    by_comp.loc["total"] = paise(sum(orders["charges"], Decimal(0)))
    out = Path(out_dir).resolve()  # the hand-off command names the file from anywhere
    out.mkdir(parents=True, exist_ok=True)
    sigs, path = [], None
    if export_day and incomplete:
        warnings.append("no signals exported: the sweep is incomplete (see the failed tasks above); run it again")
    elif export_day and losing and not export_if_losing:
        warnings.append("no signals exported: the strategy loses after charges (export_if_losing=True exports anyway)")
    elif export_day:
        d = as_date(export_day)
        sigs = day_signals(bars, d, *chosen, quantity=quantity, product=product)
        path = export_signals(sigs, out / f"signals_sma_{chosen[0]}_{chosen[1]}_{d:%Y-%m-%d}.jsonl")
    settings = {"symbols": parse_symbols(symbols), "start": str(as_date(start)), "end": str(as_date(end)),
                "quantity": quantity, "product": str(product), "slippage_bps": slippage_bps,
                "charges_as_of": str(charges_as_of) if charges_as_of else None, "square_off": square_off,
                "choose_by": choose_by, "export_day": str(as_date(export_day)) if export_day else None,
                "train_fraction": train_fraction, "in_sample": [str(train_days[0]), str(train_days[-1])],
                "out_of_sample": [str(test_days[0]), str(test_days[-1])] if test_days else None,
                "ran_on": outcome.cluster.description, "tasks": len(outcome.results) + len(outcome.failed),
                "sweep_seconds": round(outcome.seconds, 2), "failed_tasks": [str(f) for f in incomplete],
                "retried_tasks": sorted(outcome.retried)}
    heat = heatmap_figure(table, title=f"net P&L after charges, {', '.join(settings['symbols'])} "
                                       f"{train_days[0]}..{train_days[-1]}" + (" (in sample)" if test_days else ""))
    eq_fig = equity_figure(equity["gross"], equity["net"], title=f"SMA {chosen[0]}/{chosen[1]}: P&L, gross and net" + (
        f" (out of sample from {test_days[0]})" if test_days else ""))
    table.to_csv(out / "sweep.csv", index=False)
    heat.savefig(out / "heatmap.png", dpi=100, bbox_inches="tight")
    res = ResearchResult(all_bars, findings, table, chosen, bt, heat, equity, eq_fig, by_comp, orders, sigs, path, settings,
                         warnings)
    for w in warnings:
        log.warning("research: %s", w)
    write_json(out / "research.json", res.to_dict())
    return res

