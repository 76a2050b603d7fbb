"""The research sweep as tasks: one process or a Dask cluster, the same trades to the paisa.

A sweep of SMA ``(fast, slow)`` pairs over symbols (:func:`tradekit.runs.research.backtest`) is
cut into two kinds of task:

- **vectorbt** — one symbol × one chunk of pairs: the paper session's targets, fills and
  vectorbt's orders and gross P&L curve (columns are independent in vectorbt, so a chunk's
  columns are the same numbers as in one run over every pair);
- **charges** — one chunk of pairs over every symbol (it needs that chunk's vectorbt tasks): each
  pair's orders into its own day's contract notes, as the one-process sweep prices them (a
  contract note spans the symbols of a day, so the charges stage cannot be split by symbol).

:func:`run_sweeps` runs any number of sweeps (the in-sample and out-of-sample halves of the
research notebook) as one graph on a :class:`~tradekit.research.cluster.SweepCluster`; pairs
whose task failed after its retries are left out and named in :attr:`Backtest.failed`, never
half-counted. :func:`parity_sweep` runs paper replays of the same pairs on the cluster
(vectorbt against the paper broker, trade by trade: :mod:`tradekit.research.parity`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, time
from decimal import Decimal

import numpy as np
import pandas as pd

from tradekit.errors import ValidationError
from tradekit.research.cluster import Shared, SweepCluster, Task, TaskFailure, TaskOutcome, auto_chunks

__all__ = ["SweepPlan", "parity_sweep", "run_sweeps", "sweep"]

_ORDER_COLUMNS = ["fast", "slow", "key", "time", "side", "quantity", "price"]


# -- the tasks (module-level functions: a worker imports them by name) ------------------------------------
def vectorbt_task(key: str, df: pd.DataFrame, pairs: list[tuple[int, int]], quantity: int, product: str,
                  slippage_bps: float, tick: float, square_off: time | None, clamp_to_bar: bool,
                  capital: float) -> tuple[str, pd.DataFrame, list[dict]]:
    """One symbol × some pairs through vectorbt: ``(key, gross P&L per bar and pair, orders)``."""
    import vectorbt as vbt

    from tradekit.model.enums import Product
    from tradekit.runs.research import execution_targets, fill_prices
    from tradekit.strategies import SmaCrossover

    product = Product(product)
    cols = pd.MultiIndex.from_tuples(pairs, names=["fast", "slow"])
    close = df["close"]
    opens = df["open"].to_numpy(dtype="float64")
    hi = df["high"].to_numpy(dtype="float64") if clamp_to_bar else None
    lo = df["low"].to_numpy(dtype="float64") if clamp_to_bar else None
    buy_px, sell_px = fill_prices(opens, bps=slippage_bps, tick=tick, buy=True, high=hi), fill_prices(
        opens, bps=slippage_bps, tick=tick, buy=False, low=lo)
    tgt = np.column_stack([execution_targets(close, SmaCrossover(f, s, quantity, product=product), square_off)
                           for f, s in pairs]).astype("float64")
    delta = np.diff(np.vstack([np.zeros((1, tgt.shape[1])), tgt]), axis=0)
    size = np.where(delta != 0, tgt, np.nan)
    price = np.where(delta > 0, buy_px[:, None], np.where(delta < 0, sell_px[:, None], opens[:, None]))
    pf = vbt.Portfolio.from_orders(
        close=pd.DataFrame(np.repeat(close.to_numpy()[:, None], len(pairs), axis=1), index=df.index, columns=cols),
        size=pd.DataFrame(size, index=df.index, columns=cols), size_type="targetamount",
        price=pd.DataFrame(price, index=df.index, columns=cols), fees=0.0, init_cash=float(capital), freq="1min",
    )
    rows = []
    rec = pf.orders.records
    if len(rec):
        times = df.index[rec["idx"]]
        for (c, t, sz, px, sd) in zip(rec["col"], times, rec["size"], rec["price"], rec["side"]):
            f, s = pairs[int(c)]
            rows.append({"fast": f, "slow": s, "key": key, "time": t, "side": "BUY" if sd == 0 else "SELL",
                         "quantity": int(round(sz)), "price": round(float(px), 4)})
    return key, pf.value() - pf.init_cash, rows


def charges_task(product: str, asof: date | None, instruments: dict, *parts) -> pd.DataFrame:
    """Every order of some pairs (over all symbols) priced into its pair's contract notes."""
    from tradekit.execution.costs import FillCosts
    from tradekit.model.charges import COMPONENTS
    from tradekit.model.enums import Product, Side
    from tradekit.model.money import paise

    product = Product(product)
    rows = [r for _, _, part_rows in parts for r in part_rows]
    orders = pd.DataFrame(rows, columns=_ORDER_COLUMNS)
    orders = orders.sort_values(["fast", "slow", "time", "key"], kind="stable").reset_index(drop=True)
    comp = {c: [] for c in COMPONENTS}
    totals = []
    for (f, s), grp in orders.groupby(["fast", "slow"], sort=False):
        costs = FillCosts(as_of=asof)
        for i, r in enumerate(grp.itertuples()):
            ch = costs(instruments[r.key], product, Side(r.side), r.quantity, Decimal(f"{r.price:.4f}"), r.time.date(),
                       order_id=f"{f}-{s}-{i}")
            for c in COMPONENTS:
                comp[c].append(getattr(ch, c))
            totals.append(ch.total)
    orders["value"] = [paise(Decimal(f"{p:.4f}") * q) for p, q in zip(orders["price"], orders["quantity"])]
    orders["charges"] = totals
    for c in COMPONENTS:
        orders[c] = comp[c]
    return orders


# -- a sweep as a plan of tasks ---------------------------------------------------------------------------
class SweepPlan:
    """One sweep (bars × pairs with the session's rules) cut into tasks, and put back together."""

    def __init__(self, bars: Mapping[str, pd.DataFrame], pairs: Iterable[tuple[int, int]], *, quantity: int = 10,
                 product="MIS", capital: float = 1_000_000.0, slippage_bps: float = 2.0, charges_as_of=None,
                 square_off: time | str | None = time(15, 15), clamp_to_bar: bool = True, name: str = "sweep"):
        from tradekit.model.enums import Product
        from tradekit.runs.day import as_date
        from tradekit.runs.research import _master, _tick_for

        self.pairs = [(int(f), int(s)) for f, s in pairs]
        if not self.pairs:
            raise ValidationError("no (fast, slow) pairs to test; fast must be below slow", field="fast/slow")
        if len(set(self.pairs)) != len(self.pairs):
            raise ValidationError("a (fast, slow) pair is listed twice", field="fast/slow")
        self.product = Product(product) if not isinstance(product, Product) else product
        if isinstance(square_off, str):
            hh, mm = square_off.split(":")
            square_off = time(int(hh), int(mm))
        if self.product is not Product.MIS:
            square_off = None
        self.square_off = square_off
        self.asof = as_date(charges_as_of) if charges_as_of else None
        self.bars = dict(bars)
        if not self.bars:
            raise ValidationError("no bars to sweep", field="bars")
        self.quantity, self.capital, self.slippage_bps = int(quantity), float(capital), float(slippage_bps)
        self.clamp_to_bar, self.name = bool(clamp_to_bar), name
        # resolved here, in the client, so that a remote worker needs no config or data directory
        self.ticks = {k: _tick_for(k, float(df["open"].iloc[0]), df.index[0].date()) for k, df in self.bars.items()}
        master = _master(min(df.index[0].date() for df in self.bars.values()))
        self.instruments = {k: master.get(*k.split(":")) for k in self.bars}

    def chunks(self, slots: int, pairs_per_task: int | None) -> list[list[tuple[int, int]]]:
        n = auto_chunks(len(self.pairs), slots, pairs_per_task)
        return [list(c) for c in np.array_split(np.array(self.pairs, dtype="int64"), n) if len(c)] \
            if n > 1 else [list(self.pairs)]

    def tasks(self, slots: int = 1, pairs_per_task: int | None = None) -> tuple[list[Task], dict]:
        chunks = [[(int(f), int(s)) for f, s in c] for c in self.chunks(slots, pairs_per_task)]
        self._chunks = chunks
        shared = {f"{self.name}:bars:{k}": df for k, df in self.bars.items()}
        tasks = []
        for i, chunk in enumerate(chunks):
            tag = f"pairs {i + 1}/{len(chunks)}"
            needs = []
            for k in self.bars:
                t = Task(f"{self.name}: vectorbt {k} {tag}", vectorbt_task,
                         (k, Shared(f"{self.name}:bars:{k}"), chunk, self.quantity, self.product.value, self.slippage_bps,
                          self.ticks[k], self.square_off, self.clamp_to_bar, self.capital))
                tasks.append(t)
                needs.append(t.name)
            tasks.append(Task(self._charges_name(i), charges_task,
                              (self.product.value, self.asof, self.instruments), tuple(needs)))
        return tasks, shared

    def _charges_name(self, i: int) -> str:
        return f"{self.name}: charges pairs {i + 1}/{len(self._chunks)}"

    def assemble(self, outcome: TaskOutcome):
        """The :class:`~tradekit.runs.research.Backtest` of the pairs whose tasks all succeeded."""
        from tradekit.runs.research import Backtest

        ok_pairs, values, priced, failed = [], {}, [], []
        for i, chunk in enumerate(self._chunks):
            name = self._charges_name(i)
            if name not in outcome.results:
                failed += [f for f in outcome.failed.values() if f.name.startswith(f"{self.name}: ")
                           and (f.name == name or f.name.endswith(f" pairs {i + 1}/{len(self._chunks)}"))]
                continue
            ok_pairs += chunk
            priced.append(outcome.results[name])
            for k in self.bars:
                _, v, _ = outcome.results[f"{self.name}: vectorbt {k} pairs {i + 1}/{len(self._chunks)}"]
                values.setdefault(k, []).append(v)
        keep = [p for p in self.pairs if p in set(ok_pairs)]
        vals = {k: pd.concat(v, axis=1)[pd.MultiIndex.from_tuples(keep, names=["fast", "slow"])] if keep else None
                for k, v in values.items()}
        frames = [o for o in priced if len(o)]
        if frames:
            orders = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            orders = orders.sort_values(["fast", "slow", "time", "key"], kind="stable").reset_index(drop=True)
        else:
            orders = priced[0] if priced else charges_task(self.product.value, self.asof, self.instruments)
        return Backtest(vals if keep else {}, orders, keep, self.capital, failed=_unique(failed))


def _unique(fs: list[TaskFailure]) -> list[TaskFailure]:
    seen, out = set(), []
    for f in fs:
        if f.name not in seen:
            seen.add(f.name)
            out.append(f)
    return out


def run_sweeps(plans: Sequence[SweepPlan], cluster: SweepCluster | None = None, *, desc: str = "sweep"):
    """Run sweeps as one graph on ``cluster`` (None: this process, one task after another).

    Returns ``([Backtest per plan], TaskOutcome)``.
    """
    from tradekit.research.config import DaskConfig

    cl = cluster if cluster is not None else SweepCluster(DaskConfig(enabled=False), progress="none")
    names = [p.name for p in plans]
    if len(set(names)) != len(names):
        raise ValidationError("two sweeps share a name", field="name")
    ppt = cl.settings.pairs_per_task
    slots = 1 if cl.in_process else cl.slots
    tasks, shared = [], {}
    for p in plans:
        t, s = p.tasks(slots, ppt)
        tasks += t
        shared.update(s)
    outcome = cl.run(tasks, shared, desc=desc)
    return [p.assemble(outcome) for p in plans], outcome


def sweep(bars: Mapping[str, pd.DataFrame], pairs: Iterable[tuple[int, int]], cluster: SweepCluster | None = None,
          **kw):
    """One sweep (the arguments of :func:`tradekit.runs.research.backtest`) on ``cluster``."""
    (bt,), _ = run_sweeps([SweepPlan(bars, pairs, **kw)], cluster)
    return bt


# -- paper replays of the same pairs, for parity ----------------------------------------------------------
def parity_task(key: str, df: pd.DataFrame, fast: int, slow: int, quantity: int, product: str, config) -> dict:
    """vectorbt against the paper broker (a full replay, journal in a temporary folder) on one symbol and pair."""
    from tradekit.research.parity import parity_report, replay_trades
    from tradekit.strategies import SmaCrossover

    cmp, v, s = parity_report(df, key, SmaCrossover(fast, slow, quantity, product=product), config)
    reasons = [r for r in (cmp["reason"] if len(cmp) else []) if r != "same"]
    return {"key": key, "fast": fast, "slow": slow, "vbt_trades": len(v.trades), "replay_trades": len(replay_trades(s)),
            "same": not reasons, "vbt_net_pnl": round(float(v.net_pnl), 2),
            "replay_net_pnl": round(float(s.book.net_pnl), 2), "difference": reasons[0] if reasons else ""}


def parity_sweep(bars: Mapping[str, pd.DataFrame], pairs: Iterable[tuple[int, int]], config=None,
                 cluster: SweepCluster | None = None, *, quantity: int = 10, product: str = "MIS",
                 charges_as_of=None):
    """Each symbol × pair replayed through the paper broker and compared with vectorbt, on ``cluster``.

    Returns ``(table, TaskOutcome)``: one row per symbol and pair that ran (trades on each side,
    ``same``, net P&L on each side, the first difference's reason); failures are in the outcome.
    ``charges_as_of`` overrides the config's ``execution.charges_as_of`` (bars before 2020-07-01).
    """
    from tradekit.config import TradekitConfig, load_config
    from tradekit.research.config import DaskConfig

    cfg = config if isinstance(config, TradekitConfig) else load_config(config)
    # a worker may run elsewhere: give it absolute paths
    cfg = cfg.model_copy(update={"data_dir": cfg.data_dir.expanduser().resolve()})
    if charges_as_of:
        from tradekit.runs.day import as_date

        cfg = cfg.model_copy(update={"execution": cfg.execution.model_copy(
            update={"charges_as_of": as_date(charges_as_of)})})
    cl = cluster if cluster is not None else SweepCluster(DaskConfig(enabled=False), progress="none")
    shared = {f"parity:bars:{k}": df for k, df in bars.items()}
    tasks = [Task(f"parity: {k} SMA {f}/{s}", parity_task, (k, Shared(f"parity:bars:{k}"), int(f), int(s), int(quantity),
                                                            str(product), cfg))
             for f, s in pairs for k in bars]
    outcome = cl.run(tasks, shared, desc="parity replays")
    rows = [outcome.results[t.name] for t in tasks if t.name in outcome.results]
    cols = ["key", "fast", "slow", "vbt_trades", "replay_trades", "same", "vbt_net_pnl", "replay_net_pnl", "difference"]
    return pd.DataFrame(rows, columns=cols), outcome
