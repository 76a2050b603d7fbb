"""Parity: a strategy researched in vectorbt and replayed through the paper broker trade the same.

Both sides use the same signals (``SmaCrossover``, computed on closes), the same fill timing
(the open of the bar after the signal bar) and the same charges: vectorbt gets each trade's
exact contract-note charges as a per-order fixed fee, computed by the same
:class:`~tradekit.execution.costs.FillCosts` the OMS uses. With the paper broker's frictions
off (no slippage, no latency, no participation cap, no square-off) the trades must be
identical; with them on, :func:`compare` puts the two side by side and says why each
differs (slippage, a later bar because of latency, partial fills, a reject). The replay here
does not feed the session's market-data hub (``run_replay(feed=None)``): vectorbt has no
tick-driven breakers (volatility, market-wide), so a trip would be a difference of the risk
layer, not of the trade logic this compares; the loss and drawdown breakers still see marks.

**Close rule** (both sides): an order only fills within the session it was sent in. The
strategy signals nothing on a session's last bar (the change waits for the end of the next
session's first bar, see :meth:`SmaCrossover.trade_deltas`), and an order still open at the
close lapses (a DAY order): vectorbt is never given a fill in a later session than its
signal, and :func:`compare` names the rule when an order lapsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from tradekit.execution.costs import FillCosts
from tradekit.model.enums import Side
from tradekit.strategies.sma import SmaCrossover


@dataclass
class VbtResult:
    trades: pd.DataFrame  # time, side, quantity, price, charges
    portfolio: object  # the vectorbt Portfolio
    net_pnl: float


def planned_trades(bars: pd.DataFrame, strategy: SmaCrossover) -> pd.DataFrame:
    """Trades the strategy makes with next-bar-open fills: one row per signal, under the close rule
    (a fill only in the signal's own session; daily bars fill at the next day's open)."""
    delta = strategy.trade_deltas(bars)
    sig = np.nonzero(delta)[0]
    sig = sig[sig + 1 < len(bars)]  # a signal on the last bar has no next bar to fill on
    if not getattr(strategy, "daily", False):
        days = np.asarray(bars.index.normalize())
        sig = sig[days[sig] == days[sig + 1]]  # close rule: an order does not outlive its session
    fill = sig + 1
    return pd.DataFrame({
        "signal_time": bars.index[sig],
        "time": bars.index[fill],
        "side": np.where(delta[sig] > 0, "BUY", "SELL"),
        "quantity": np.abs(delta[sig]).astype(int),
        "price": bars["open"].to_numpy()[fill],
        "bar": fill,
    })


def vectorbt_run(bars: pd.DataFrame, strategy: SmaCrossover, instrument, *, capital: float = 1_000_000,
                 costs: FillCosts | None = None) -> VbtResult:
    """Backtest ``strategy`` in vectorbt with next-bar-open fills and tradekit's charges."""
    import vectorbt as vbt

    plan = planned_trades(bars, strategy)
    costs = costs or FillCosts()
    fees = np.zeros(len(bars))
    charges = []
    for i, r in enumerate(plan.itertuples()):
        c = costs(instrument, strategy.trade_product, Side(r.side), int(r.quantity), Decimal(str(r.price)), r.time.date(),
                  f"vbt-{i}")
        fees[r.bar] += float(c.total)
        charges.append(c.total)
    plan["charges"] = charges
    size = np.full(len(bars), np.nan)
    size[plan["bar"].to_numpy()] = np.where(plan["side"] == "BUY", 1, -1) * plan["quantity"].to_numpy()
    close = pd.Series(bars["close"].to_numpy(), index=bars.index.tz_localize(None))
    price = pd.Series(bars["open"].to_numpy(), index=close.index)
    pf = vbt.Portfolio.from_orders(close, size=pd.Series(size, index=close.index), price=price,
                                   fixed_fees=pd.Series(fees, index=close.index), init_cash=capital, freq=pd.Timedelta(strategy.bar))
    return VbtResult(plan, pf, float(pf.total_profit()))


def replay_trades(session) -> pd.DataFrame:
    rows = []
    for ev in session.journal.events(types=("fill",)):
        p = ev.payload
        rows.append({"time": pd.Timestamp(p["fill_time"]), "side": p["side"], "quantity": int(p["quantity"]),
                     "price": float(p["price"]),
                     "charges": sum(Decimal(v) for v in p["charges"].values()), "client_order_id": p["client_order_id"]})
    return pd.DataFrame(rows, columns=["time", "side", "quantity", "price", "charges", "client_order_id"])


def compare(vbt_trades: pd.DataFrame, ours: pd.DataFrame, session=None) -> pd.DataFrame:
    """Side by side, trade by trade (in order), with the reason for each difference."""
    n = max(len(vbt_trades), len(ours))
    rows = []
    orders = session.book.orders if session is not None else {}
    for i in range(n):
        v = vbt_trades.iloc[i] if i < len(vbt_trades) else None
        o = ours.iloc[i] if i < len(ours) else None
        row = {"n": i + 1,
               "vbt_time": None if v is None else v["time"], "vbt_side": None if v is None else v["side"],
               "vbt_qty": None if v is None else int(v["quantity"]), "vbt_price": None if v is None else float(v["price"]),
               "time": None if o is None else o["time"], "side": None if o is None else o["side"],
               "qty": None if o is None else int(o["quantity"]), "price": None if o is None else float(o["price"])}
        if v is None or o is None:
            row["reason"] = "only in " + ("the replay" if v is None else "vectorbt") + _why(o, orders)
        elif (v["side"], int(v["quantity"])) != (o["side"], int(o["quantity"])):
            row["reason"] = "different trade (partial fill or reject)" + _why(o, orders)
        elif pd.Timestamp(o["time"]).date() != pd.Timestamp(v["time"]).date():
            row["reason"] = CLOSE_RULE + ": filled in another session than vectorbt's"
        elif abs(pd.Timestamp(o["time"]).floor("min") - pd.Timestamp(v["time"])) >= pd.Timedelta(minutes=1):
            row["reason"] = "later bar (latency or participation cap)"
        elif abs(float(o["price"]) - float(v["price"])) > 1e-9:
            row["reason"] = f"price {float(o['price']) - float(v['price']):+.2f} (slippage / tick rounding)"
        else:
            row["reason"] = "same"
        rows.append(row)
    return pd.DataFrame(rows)


CLOSE_RULE = "close rule (an order fills only in its own session; a DAY order lapses at the close)"


def _lapsed(orders) -> list:
    """Orders cancelled by the exchange at the day's end (the close rule), in time order."""
    return sorted((o for o in orders.values() if o.status.value == "CANCELLED" and not o.filled_quantity
                   and "end of the day" in (o.status_message or "")), key=lambda o: o.created_at)


def _why(o, orders) -> str:
    if o is None:
        lapsed = _lapsed(orders) if orders else []
        return f": {CLOSE_RULE}; {len(lapsed)} order(s) lapsed" if lapsed else ""
    order = orders.get(o["client_order_id"]) if orders else None
    return f": {order.status.value} {order.status_message or ''}".rstrip() if order is not None else ""


def parity_report(bars: pd.DataFrame, key: str, strategy: SmaCrossover, config=None, *, frictions: bool = False,
                  workdir=None):
    """Run both sides on ``bars`` and return ``(comparison, vbt_result, replay_session)``.

    The replay's journal goes to a temporary folder that is removed before returning (the
    returned session keeps its book; its journal is closed). Pass ``workdir`` to keep it there.
    """
    import shutil
    import tempfile

    from tradekit.config import load_config
    from tradekit.execution.replay import run_replay
    from tradekit.session import Session

    over = {"execution": {"square_off_time": None}}
    if not frictions:
        over["paper"] = {"slippage": {"model": "none"}, "latency_ms": 0, "participation": 0, "rms_square_off": False}
    if hasattr(config, "model_dump"):  # a config object: the frictions switches apply to it too
        from tradekit.config import TradekitConfig
        from tradekit.config.loader import _deep_merge

        cfg = TradekitConfig.model_validate(_deep_merge(config.model_dump(), over))
    else:
        cfg = load_config(config, over)
    from pathlib import Path

    d = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="tk-parity-"))
    d.mkdir(parents=True, exist_ok=True)
    s = Session.for_replay(cfg, d / "journal.db", bars.index[0].to_pydatetime())
    try:
        run_replay(s, {key: bars}, strategies=[strategy], square_off=False, feed=None)
        ex, _, sym = key.partition(":")
        inst = s.instruments.get(ex, sym)
        v = vectorbt_run(bars, strategy, inst, capital=float(cfg.account.capital),
                         costs=FillCosts(as_of=cfg.execution.charges_as_of))
        cmp = compare(v.trades, replay_trades(s), s)
    finally:
        if workdir is None:
            s.close()
            shutil.rmtree(d, ignore_errors=True)
    return cmp, v, s
