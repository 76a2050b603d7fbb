"""``tradekit.backtest``: a signal function through vectorbt with tradekit's charges and fill rules.

>>> import tradekit
>>> def cross(bars):                                      # 1 = long, 0 = flat (NaN: keep the last)
...     fast, slow = bars.close.rolling(10).mean(), bars.close.rolling(30).mean()
...     return (fast > slow).astype(int)
>>> bt = tradekit.backtest("NSE:INFY", cross, quantity=10, charges_as_of="2026-11-20")  # doctest: +SKIP
>>> bt.stats()                                             # doctest: +SKIP

The function gets the bars (an IST-indexed frame of open, high, low, close, volume) and returns the
**target position** after each bar, in units of ``quantity``: booleans (long or flat), or numbers
(+1 long, −1 short, 0 flat; NaN keeps the previous target). The trades are the changes of that
target, filled at the **next bar's open** within the signal's own session (the close rule of
:mod:`tradekit.research.parity`), each charged the exact contract-note charges tradekit computes.
Intraday products (MIS, the default on minute bars) are closed by the strategy's own trade at the
config's ``execution.square_off_time`` (15:15 by default) and stay flat until the session ends.

``parity=True`` also replays the same signals through the paper broker (the OMS, the gate and the
journal, frictions off) and puts the two side by side: :attr:`Backtest.comparison`, with the reason
for any difference, and :attr:`Backtest.replay_net_pnl`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time, timedelta

import numpy as np
import pandas as pd

from tradekit.errors import ValidationError
from tradekit.strategies.sma import SmaCrossover

__all__ = ["Backtest", "FunctionStrategy", "backtest"]

_MAX_UNITS = 1_000_000  # a target beyond a million units is a bug in the function, not a position


@dataclass(frozen=True)
class FunctionStrategy(SmaCrossover):
    """A strategy whose target position comes from ``fn(bars)`` (see the module's docstring)."""

    fn: Callable[[pd.DataFrame], object] | None = None
    #: Intraday (MIS): the target is forced flat from the bar ending at this IST time, so the
    #: strategy itself closes what is open before the broker's square-off (both sides trade it).
    flatten_at: time | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not callable(self.fn):
            raise ValidationError("the signal function must be callable: fn(bars) -> target per bar", field="fn")
        if int(self.quantity) < 1:
            raise ValidationError(f"quantity must be a whole number of at least 1, not {self.quantity!r}",
                                  field="quantity")

    @property
    def strategy(self) -> str:
        return self.name or getattr(self.fn, "__name__", "fn").strip("<>") or "fn"

    def _targets(self, bars: pd.DataFrame) -> np.ndarray:
        out = self.fn(bars)
        if isinstance(out, pd.DataFrame):
            if out.shape[1] != 1:
                raise ValidationError(f"{self.strategy} returned a frame of {out.shape[1]} columns; return one "
                                      "target per bar", field="fn")
            out = out.iloc[:, 0]
        if isinstance(out, pd.Series):
            if len(out) == len(bars) and not out.index.equals(bars.index) and isinstance(out.index, pd.DatetimeIndex):
                raise ValidationError(f"{self.strategy} returned a series on another index than the bars'", field="fn")
            out = out.to_numpy()
        try:
            a = np.asarray(out, dtype="float64").reshape(-1)
        except (TypeError, ValueError) as e:
            raise ValidationError(f"{self.strategy} returned {type(out).__name__}, not numbers per bar: {e}",
                                  field="fn") from None
        if len(a) != len(bars):
            raise ValidationError(f"{self.strategy} returned {len(a)} values for {len(bars)} bars", field="fn")
        if np.isinf(a).any():
            raise ValidationError(f"{self.strategy} returned an infinite target at bar {int(np.flatnonzero(np.isinf(a))[0])}",
                                  field="fn")
        a = pd.Series(a).ffill().fillna(0.0).to_numpy()
        if (np.abs(a) > _MAX_UNITS).any():
            i = int(np.flatnonzero(np.abs(a) > _MAX_UNITS)[0])
            raise ValidationError(f"{self.strategy} returned a target of {a[i]:g} units at bar {i} "
                                  f"(more than {_MAX_UNITS:,})", field="fn")
        units = a * int(self.quantity)
        whole = np.round(units)
        if (np.abs(units - whole) > 1e-9).any():
            i = int(np.flatnonzero(np.abs(units - whole) > 1e-9)[0])
            raise ValidationError(f"{self.strategy}: target {a[i]:g} × quantity {self.quantity} is not a whole number "
                                  f"of shares at bar {i}", field="fn")
        if self.trade_product.value == "CNC" and (whole < 0).any():
            i = int(np.flatnonzero(whole < 0)[0])
            raise ValidationError(f"{self.strategy} wants a short position at bar {i}, which delivery (CNC) cannot hold; "
                                  "trade it as MIS (intraday) or NRML (futures)", field="product")
        if self.flatten_at is not None and len(bars):
            ends = bars.index + pd.Timedelta(self.bar)
            late = np.asarray(ends.hour * 60 + ends.minute >= self.flatten_at.hour * 60 + self.flatten_at.minute)
            whole[late] = 0.0
        return whole.astype("int64")


@dataclass
class Backtest:
    """What :func:`backtest` returns."""

    strategy: FunctionStrategy
    key: str
    bars: pd.DataFrame
    portfolio: object  # vectorbt's Portfolio
    trades: pd.DataFrame  # signal_time, time, side, quantity, price, charges
    net_pnl: float  # vectorbt's total profit after tradekit's charges
    comparison: pd.DataFrame | None = None  # with parity=True: trade by trade, with the reason for differences
    replay_net_pnl: float | None = None  # with parity=True: the paper broker's net P&L on the same signals
    notes: list[str] = field(default_factory=list)

    def stats(self) -> pd.Series:
        """vectorbt's portfolio statistics (return, Sharpe, drawdown, trades, ...)."""
        return self.portfolio.stats()

    @property
    def charges(self) -> float:
        return float(sum(self.trades["charges"])) if len(self.trades) else 0.0

    @property
    def same(self) -> bool | None:
        """With parity: every trade the same in vectorbt and the paper broker."""
        if self.comparison is None:
            return None
        return bool(len(self.comparison) == 0 or (self.comparison["reason"] == "same").all())

    def __repr__(self) -> str:
        p = f", paper {self.replay_net_pnl:,.2f}" if self.replay_net_pnl is not None else ""
        return (f"<Backtest {self.strategy.strategy} on {self.key}: {len(self.trades)} trades, "
                f"net ₹{self.net_pnl:,.2f} after ₹{self.charges:,.2f} charges{p}>")


def _bar_size(idx: pd.DatetimeIndex) -> timedelta:
    if len(idx) < 2:
        return timedelta(minutes=1)
    step = pd.Series(idx[1:] - idx[:-1]).median()
    return timedelta(days=1) if step >= pd.Timedelta(hours=12) else step.to_pytimedelta()


def backtest(bars, fn: Callable[[pd.DataFrame], object], *, symbol: str | None = None, quantity: int = 1,
             product: str | None = None, name: str = "", start=None, end=None, timeframe: str = "1min",
             capital: float | None = None, charges_as_of=None, config=None, parity: bool = False) -> Backtest:
    """Backtest ``fn`` on ``bars`` with tradekit's charges and fill rules.

    Parameters
    ----------
    bars : DataFrame or str
        Bars indexed by IST time, or a symbol (``"NSE:INFY"``) or file path to load
        (:func:`tradekit.data.feeds.load_dataset`).
    fn : callable
        ``fn(bars) -> target position per bar`` in units of ``quantity``.
    symbol : str
        The instrument (``"NSE:INFY"``) when ``bars`` is a frame; its charges and lot come from it.
    quantity : int
        Shares per unit of target.
    product : str, optional
        ``MIS`` (default on minute bars), ``CNC`` (default on daily bars) or ``NRML``.
    start, end, timeframe
        When ``bars`` is loaded by symbol: the window and ``1min`` or ``1d``.
    capital : float, optional
        Starting cash (default the config's ``account.capital``).
    charges_as_of : date or ISO str, optional
        Price every trade at this day's charge rates (the config's ``execution.charges_as_of`` by
        default; needed for bars before 2020-07-01, where the rate tables start).
    config : str, Path or TradekitConfig, optional
        The config whose charges date and capital apply (default the default config).
    parity : bool
        Also replay through the paper broker and compare trade by trade.
    """
    from tradekit.config import TradekitConfig, load_config
    from tradekit.execution.costs import FillCosts
    from tradekit.research.parity import parity_report, replay_trades, vectorbt_run

    if isinstance(bars, pd.DataFrame):
        if not symbol:
            raise ValidationError("name the instrument of the bars: symbol='NSE:INFY'", field="symbol")
        key = symbol if ":" in symbol else f"NSE:{symbol}"
        frame = bars
    else:
        from tradekit.data.feeds import load_dataset

        ds = load_dataset(bars, start, end, timeframe=timeframe)
        if len(ds) != 1:
            raise ValidationError(f"backtest runs on one instrument; {len(ds)} were loaded", field="bars")
        key, frame = next(iter(ds.items()))
    missing = [c for c in ("open", "high", "low", "close") if c not in frame.columns]
    if missing:
        raise ValidationError(f"the bars have no {', '.join(missing)} column", field="bars")
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.tz is None:
        raise ValidationError("the bars need a time-zone aware DatetimeIndex (IST)", field="bars")
    if len(frame) < 2:
        raise ValidationError(f"{len(frame)} bar(s): too few to trade on the next bar's open", field="bars")
    cfg = config if isinstance(config, TradekitConfig) else load_config(config)
    bar = _bar_size(frame.index)
    strat = FunctionStrategy(quantity=int(quantity), product=product, name=name, bar=bar, fn=fn)
    if strat.trade_product.value == "MIS":  # flat at the square-off time, by the strategy's own trade
        hh, mm = map(int, (cfg.execution.square_off_time or "15:15").split(":"))
        strat = FunctionStrategy(quantity=int(quantity), product=product, name=name, bar=bar, fn=fn,
                                 flatten_at=time(hh, mm), flat_at_session_end=False)
    if charges_as_of is not None:
        cfg = cfg.model_copy(update={"execution": cfg.execution.model_copy(
            update={"charges_as_of": pd.Timestamp(charges_as_of).date()})})
    ex, _, sym = key.partition(":")
    from tradekit.session import _default_instruments

    inst = _default_instruments(cfg, frame.index[0].date()).get(ex, sym)  # the config's master (dump, user-named)
    cash = float(capital) if capital is not None else float(cfg.account.capital)
    v = vectorbt_run(frame, strat, inst, capital=cash, costs=FillCosts(as_of=cfg.execution.charges_as_of))
    out = Backtest(strat, key, frame, v.portfolio, v.trades, v.net_pnl)
    if parity:
        if capital is not None:
            cfg = cfg.model_copy(update={"account": cfg.account.model_copy(update={"capital": capital})})
        cmp, _, s = parity_report(frame, key, strat, cfg)
        out.comparison = cmp
        rt = replay_trades(s)
        out.replay_net_pnl = float(s.book.net_pnl)
        if len(rt) != len(v.trades):
            out.notes.append(f"vectorbt made {len(v.trades)} trades, the paper broker {len(rt)}: see .comparison")
    return out
