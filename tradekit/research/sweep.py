"""The research sweep as tasks: one process or a Dask cluster, the same trades to the paisa.

A sweep of SMA ``(fast, slow)`` pairs over symbols (:func:`tradekit.runs.research.backtest`) is
cut into two kinds of task, and both ways of running it run the same tasks:

- **vectorbt** — one symbol × its pairs (all of them, unless a cluster needs more tasks than
  there are symbols): the paper session's targets for every pair in one vectorised pass
  (:func:`sma_targets`), the fills, and one vectorbt portfolio with a column per pair, giving each
  pair's orders and gross P&L curve (columns are independent in vectorbt, so any split of the
  pairs gives the same numbers);
- **charges** — one chunk of pairs over every symbol (it needs the vectorbt tasks of its pairs):
  each pair's orders into its own day's contract notes, as the paper broker prices them (a
  contract note spans the symbols of a day, so this stage cannot be split by symbol). It is most
  of the sweep's work (exact Decimal charges per order), so on a cluster the pairs are dealt out
  over two chunks per worker thread. Its priced orders come back as :class:`PricedOrders`.

:func:`run_sweeps` runs any number of sweeps (the in-sample and out-of-sample halves of the
research notebook) as one graph on a :class:`~tradekit.research.cluster.SweepCluster`; pairs
whose task failed after its retries are left out and named in :attr:`Backtest.failed`, never
half-counted. :func:`parity_sweep` runs paper replays of the same pairs on the cluster
(vectorbt against the paper broker, trade by trade: :mod:`tradekit.research.parity`).

``python -m benchmarks.bench_sweep`` measures one process against a local cluster and prints
where each task's time went (:meth:`~tradekit.research.cluster.TaskOutcome.timing_summary`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal

import numpy as np
import pandas as pd

from tradekit.errors import ValidationError
from tradekit.research.cluster import (
    Shared,
    SweepCluster,
    Task,
    TaskFailure,
    TaskOutcome,
    auto_chunks,
)

__all__ = ["SweepPlan", "parity_sweep", "run_sweeps", "sweep"]

_ORDER_COLUMNS = ["fast", "slow", "key", "time", "side", "quantity", "price"]


# -- the tasks (module-level functions: a worker imports them by name) ------------------------------------
def sma_targets(close: pd.Series, pairs: Sequence[tuple[int, int]], quantity: int, square_off: time | None,
                long_short: bool = False) -> np.ndarray:
    """The position to hold from each bar's open for every ``(fast, slow)`` pair at once (one column each).

    The same numbers as :func:`tradekit.runs.research.execution_targets` of each pair's
    :class:`~tradekit.strategies.SmaCrossover` (a test holds them equal), computed for all pairs
    together: each distinct window's moving average once per day (pandas' rolling mean on each day's
    closes alone, so the floating point is the strategy's own), then the crossings, the target held
    until the next crossing, the next bar's execution and the square-off as array operations.
    """
    values = close.to_numpy(dtype="float64")
    n, m = len(values), len(pairs)
    out = np.zeros((n, m), dtype="int64")
    if n == 0 or m == 0:
        return out
    idx = close.index
    days = idx.normalize()
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    lens = np.diff(np.r_[starts, n])
    day_of = np.repeat(np.arange(len(lens)), lens)
    pos = np.arange(n) - starts[day_of]
    first = np.zeros(n, dtype=bool)
    first[starts] = True
    grid = np.full((int(lens.max()), len(lens)), np.nan)  # one column per day: each day's closes from row 0
    grid[pos, day_of] = values
    frame = pd.DataFrame(grid)
    windows = sorted({int(w) for p in pairs for w in p})
    col = {w: i for i, w in enumerate(windows)}
    means = np.column_stack([frame.rolling(w, min_periods=w).mean().to_numpy()[pos, day_of] for w in windows])
    f = means[:, [col[int(a)] for a, _ in pairs]]
    s = means[:, [col[int(b)] for _, b in pairs]]
    above = f > s
    valid = ~(np.isnan(f) | np.isnan(s))
    prev_above = np.vstack([np.zeros((1, m), dtype=bool), above[:-1]])
    prev_valid = np.vstack([np.zeros((1, m), dtype=bool), valid[:-1]])
    prev_valid[first] = False  # a day sees only its own bars
    both = valid & prev_valid
    up = both & above & ~prev_above
    down = both & ~above & prev_above
    state = np.where(up, 1, np.where(down, -1 if long_short else 0, 0)).astype("int64")
    # the target after each bar: the last crossing's state that day (flat before the first)
    last = np.maximum.accumulate(np.where(up | down | first[:, None], np.arange(n)[:, None], 0), axis=0)
    tgt = np.take_along_axis(state, last, axis=0) * int(quantity)
    out[1:] = tgt[:-1]  # executed at the next bar's open
    out[first] = 0  # each day starts flat
    if square_off is not None:
        minutes = idx.hour * 60 + idx.minute
        out[np.asarray(minutes >= square_off.hour * 60 + square_off.minute)] = 0
    return out


def vectorbt_task(key: str, df: pd.DataFrame, pairs: list[tuple[int, int]], quantity: int, product: str,
                  slippage_bps: float, tick: float, square_off: time | None, clamp_to_bar: bool,
                  capital: float) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """One symbol × some pairs through vectorbt, all pairs in one portfolio (a column each):
    ``(key, gross P&L per bar and pair, orders)``."""
    import vectorbt as vbt

    from tradekit.model.enums import Product
    from tradekit.runs.research import fill_prices
    from tradekit.strategies import SmaCrossover

    strategies = [SmaCrossover(f, s, quantity, product=Product(product)) for f, s in pairs]  # checks each pair
    opens = df["open"].to_numpy(dtype="float64")
    hi = df["high"].to_numpy(dtype="float64") if clamp_to_bar else None
    lo = df["low"].to_numpy(dtype="float64") if clamp_to_bar else None
    buy_px, sell_px = fill_prices(opens, bps=slippage_bps, tick=tick, buy=True, high=hi), fill_prices(
        opens, bps=slippage_bps, tick=tick, buy=False, low=lo)
    tgt = sma_targets(df["close"], pairs, quantity, square_off, strategies[0].long_short).astype("float64")
    delta = np.diff(tgt, axis=0, prepend=0.0)
    size = np.where(delta != 0, tgt, np.nan)
    price = np.where(delta > 0, buy_px[:, None], np.where(delta < 0, sell_px[:, None], opens[:, None]))
    # vectorbt on positions: a time-zone aware index costs it a conversion to Timestamp objects per call
    rows, cols = pd.RangeIndex(len(df)), pd.RangeIndex(len(pairs))
    pf = vbt.Portfolio.from_orders(
        close=pd.DataFrame(np.repeat(df["close"].to_numpy(dtype="float64")[:, None], len(pairs), axis=1), index=rows,
                           columns=cols),
        size=pd.DataFrame(size, index=rows, columns=cols), size_type="targetamount",
        price=pd.DataFrame(price, index=rows, columns=cols), fees=0.0, init_cash=float(capital), freq="1min",
    )
    values = pd.DataFrame(pf.value().to_numpy() - float(capital), index=df.index,
                          columns=pd.MultiIndex.from_tuples(pairs, names=["fast", "slow"]))
    rec = pf.orders.values
    pa = np.asarray(pairs, dtype="int64").reshape(-1, 2)
    c = rec["col"]
    orders = pd.DataFrame({"fast": pa[c, 0], "slow": pa[c, 1], "key": key, "time": df.index[rec["idx"]],
                           "side": np.where(rec["side"] == 0, "BUY", "SELL"),
                           "quantity": np.rint(rec["size"]).astype("int64"),
                           "price": np.round(rec["price"].astype("float64"), 4)}, columns=_ORDER_COLUMNS)
    return key, values, orders


_AMOUNTS = ("value", "charges")  # then the components (tradekit.model.charges.COMPONENTS): Decimal rupees


@dataclass(frozen=True)
class PricedOrders:
    """What a charges task returns: the orders, and their rupee amounts (Decimals) dictionary-encoded.

    A Decimal pickles one by one through its text, which made sending a chunk's priced orders back
    cost as much as pricing them; an amount column has a few hundred distinct values, so it travels
    as integer codes into the distinct values' exact text. :meth:`frame` puts the Decimals back.
    """

    orders: pd.DataFrame  # the _ORDER_COLUMNS, sorted by pair, time and key
    amounts: dict[str, tuple[np.ndarray, list[str]]]  # column -> (codes, distinct amounts as text)

    def __len__(self) -> int:
        return len(self.orders)

    def frame(self) -> pd.DataFrame:
        """The orders with ``value``, ``charges`` and each charge component as Decimal columns."""
        out = self.orders.copy()
        for c, (codes, texts) in self.amounts.items():
            table = np.empty(len(texts), dtype=object)
            table[:] = [Decimal(t) for t in texts]
            out[c] = table[codes]
        return out


def charges_task(product: str, asof: date | None, instruments: dict, pairs: list[tuple[int, int]] | None,
                 *parts) -> PricedOrders:
    """The orders of ``pairs`` (None: all) over all symbols (``parts``: :func:`vectorbt_task` results),
    each priced into its pair's contract notes, the day's orders in time order."""
    from tradekit.execution.costs import FillCosts
    from tradekit.model.charges import COMPONENTS
    from tradekit.model.enums import Product, Side
    from tradekit.model.money import paise

    product = Product(product)
    frames = [o for _, _, o in parts if len(o)]
    if not frames:
        orders = pd.DataFrame([], columns=_ORDER_COLUMNS)
    else:
        orders = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        if pairs is not None:
            code = orders["fast"].to_numpy() * 1_000_000 + orders["slow"].to_numpy()
            orders = orders[np.isin(code, [f * 1_000_000 + s for f, s in pairs])]
        orders = orders.sort_values(["fast", "slow", "time", "key"], kind="stable").reset_index(drop=True)
        if not len(orders):
            orders = pd.DataFrame([], columns=_ORDER_COLUMNS)
    n = len(orders)
    names = (*_AMOUNTS, *COMPONENTS)
    texts: dict[str, dict[str, int]] = {c: {} for c in names}
    codes = {c: np.zeros(n, dtype="int32") for c in names}
    if n:
        fast, slow = orders["fast"].to_numpy(), orders["slow"].to_numpy()
        insts = [instruments[k] for k in orders["key"].tolist()]
        sides = [Side.BUY if s == "BUY" else Side.SELL for s in orders["side"].tolist()]
        qtys = orders["quantity"].tolist()
        prices = [Decimal(f"{p:.4f}") for p in orders["price"].tolist()]
        days = [d.date() for d in orders["time"].dt.normalize().tolist()]
        starts = np.flatnonzero(np.r_[True, (fast[1:] != fast[:-1]) | (slow[1:] != slow[:-1])])

        def put(c: str, i: int, amount: Decimal) -> None:
            t = texts[c]
            s = str(amount)
            k = t.get(s)
            if k is None:
                k = t[s] = len(t)
            codes[c][i] = k

        for a, b in zip(starts, [*starts[1:], n]):
            f, s = int(fast[a]), int(slow[a])
            costs = FillCosts(as_of=asof)
            for i in range(a, b):
                ch = costs(insts[i], product, sides[i], qtys[i], prices[i], days[i], order_id=f"{f}-{s}-{i - a}")
                put("value", i, paise(prices[i] * qtys[i]))
                put("charges", i, ch.total)
                for c in COMPONENTS:
                    put(c, i, getattr(ch, c))
    return PricedOrders(orders, {c: (codes[c], list(texts[c])) for c in names})


def warm_up() -> float:
    """Run a tiny sweep (vectorbt's compiled functions loaded, the charge tables read): seconds taken.

    Each Dask worker runs it once when it starts (:class:`tradekit.research.cluster.SweepCluster`),
    so that no sweep task pays for it; a benchmark runs it in its own process before timing."""
    import time as _time

    from tradekit.model.enums import Exchange
    from tradekit.model.instrument import Instrument

    t0 = _time.perf_counter()
    idx = pd.date_range("2026-01-05 09:15", periods=60, freq="1min", tz="Asia/Kolkata")
    close = 100.0 + np.sin(np.arange(60) / 4.0)
    df = pd.DataFrame({"open": close, "high": close + 0.1, "low": close - 0.1, "close": close, "volume": 1}, index=idx)
    inst = Instrument(Exchange.NSE, "WARMUP", 0)
    part = vectorbt_task("NSE:WARMUP", df, [(2, 5)], 1, "MIS", 2.0, 0.05, time(15, 15), True, 1e6)
    charges_task("MIS", date(2026, 1, 5), {"NSE:WARMUP": inst}, [(2, 5)], part)
    return _time.perf_counter() - t0


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

    def layout(self, slots: int, pairs_per_task: int | None) -> tuple[list[list[tuple[int, int]]], list[list[int]]]:
        """How the sweep is cut: ``(chunks, groups)``.

        ``chunks`` are the pairs of each charges task, dealt out in turn (pair 1 to chunk 1, pair 2
        to chunk 2, ...) so that the pairs that trade most (the short windows) are spread over all
        chunks; ``groups`` are the chunks each vectorbt task covers per symbol. In one process: one
        chunk, one vectorbt task per symbol over all pairs. On a cluster: two charges chunks per
        worker thread, and vectorbt tasks over all pairs of a symbol unless there are too few
        symbols to keep the threads busy. ``pairs_per_task`` sets both to that many pairs.
        """
        n = auto_chunks(len(self.pairs), slots, pairs_per_task)
        chunks = [self.pairs[i::n] for i in range(n)]
        if pairs_per_task or slots <= 1:
            per_symbol = len(chunks) if pairs_per_task else 1
        else:
            per_symbol = min(len(chunks), math.ceil(2 * slots / len(self.bars)))
        groups = [[int(i) for i in g] for g in np.array_split(np.arange(len(chunks)), per_symbol)]
        return chunks, groups

    def tasks(self, slots: int = 1, pairs_per_task: int | None = None) -> tuple[list[Task], dict]:
        chunks, groups = self.layout(slots, pairs_per_task)
        self._chunks, self._groups = chunks, groups
        self._group_of = {i: g for g, members in enumerate(groups) for i in members}
        shared = {f"{self.name}:bars:{k}": df for k, df in self.bars.items()}
        tasks = []
        for g, members in enumerate(groups):
            pairs = self._group_pairs(g)
            for k in self.bars:
                tasks.append(Task(self._vectorbt_name(k, g), vectorbt_task,
                                  (k, Shared(f"{self.name}:bars:{k}"), pairs, self.quantity, self.product.value,
                                   self.slippage_bps, self.ticks[k], self.square_off, self.clamp_to_bar, self.capital)))
        for i, chunk in enumerate(chunks):
            needs = tuple(self._vectorbt_name(k, self._group_of[i]) for k in self.bars)
            only = None if len(chunks) == 1 else chunk
            tasks.append(Task(self._charges_name(i), charges_task, (self.product.value, self.asof, self.instruments,
                                                                    only), needs))
        return tasks, shared

    def _group_pairs(self, g: int) -> list[tuple[int, int]]:
        inside = {p for i in self._groups[g] for p in self._chunks[i]}
        return [p for p in self.pairs if p in inside]

    def _vectorbt_name(self, key: str, g: int) -> str:
        return f"{self.name}: vectorbt {key} pairs {g + 1}/{len(self._groups)}"

    def _charges_name(self, i: int) -> str:
        return f"{self.name}: charges pairs {i + 1}/{len(self._chunks)}"

    def assemble(self, outcome: TaskOutcome):
        """The :class:`~tradekit.runs.research.Backtest` of the pairs whose tasks all succeeded."""
        from tradekit.runs.research import Backtest

        ok_pairs, priced, failed = set(), [], []
        for i, chunk in enumerate(self._chunks):
            name = self._charges_name(i)
            if name not in outcome.results:
                mine = {name} | {self._vectorbt_name(k, self._group_of[i]) for k in self.bars}
                failed += [f for f in outcome.failed.values() if f.name in mine]
                continue
            ok_pairs.update(chunk)
            priced.append(outcome.results[name])
        keep = [p for p in self.pairs if p in ok_pairs]
        values = {}
        for k in self.bars:
            parts = [outcome.results[n][1] for g in range(len(self._groups))
                     if (n := self._vectorbt_name(k, g)) in outcome.results]
            if keep:
                v = pd.concat(parts, axis=1) if len(parts) > 1 else parts[0]
                values[k] = v[pd.MultiIndex.from_tuples(keep, names=["fast", "slow"])]
        frames = [o.frame() for o in priced if len(o)]
        if frames:
            orders = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            orders = orders.sort_values(["fast", "slow", "time", "key"], kind="stable").reset_index(drop=True)
        else:
            orders = (priced[0] if priced else charges_task(self.product.value, self.asof, self.instruments, None)).frame()
        return Backtest(values, orders, keep, self.capital, failed=_unique(failed))


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
