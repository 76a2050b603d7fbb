"""Portfolio risk: VaR and expected shortfall, component VaR, correlation, stress scenarios.

Conventions
-----------
- Positions are linear exposures in rupees (quantity × price × multiplier, signed); options
  are treated delta-one at their premium, which understates their risk (stated in reports).
- Returns are simple daily close-to-close returns of the bundled (or given) daily bars.
- VaR and ES are positive rupee losses at ``confidence`` over ``horizon_days``.
  Historical: the empirical quantile of the portfolio P&L over overlapping ``h``-day returns.
  Parametric (variance-covariance): ``z · sqrt(wᵀΣw) · sqrt(h)`` (mean ignored, the usual
  short-horizon convention); ES = ``σ · φ(z) / (1 − c)``. Monte Carlo: multivariate normal
  draws with the sample covariance, seeded.
- Component VaR is the Euler split of the parametric VaR: ``wᵢ (Σw)ᵢ / σ · z√h``; the
  components add up to the total, by symbol and by strategy.
- No look-ahead: :func:`daily_returns` takes ``end`` and a replay passes the day before it
  trades.
"""

from __future__ import annotations

import math
import os
import zlib
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from statistics import NormalDist
from typing import TYPE_CHECKING, Iterable, Mapping

import numpy as np
import pandas as pd

from tradekit.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from tradekit.risk.config import VarSettings
    from tradekit.store.projection import Book

_N = NormalDist()


# -- data --------------------------------------------------------------------------------------

def _env_key() -> tuple:
    return (os.environ.get("TRADEKIT_DATA_DIR"), os.environ.get("TRADEKIT_CONFIG"))


_DATA_DIRS: dict[tuple, "os.PathLike"] = {}  # (env...) -> the default data directory, until clear_caches()


def _data_dir():
    """The default data directory (``default_data_dir``), found once per environment: finding it
    reads the config, which every symbol's file would otherwise pay again."""
    k = _env_key()
    d = _DATA_DIRS.get(k)
    if d is None:
        from tradekit.data.store import default_data_dir

        d = _DATA_DIRS[k] = default_data_dir()
    return d


@lru_cache(maxsize=64)
def _closes(symbol: str) -> pd.Series:
    from tradekit.data.store import load_symbol_bars

    # the data directory, else bundled
    bars = load_symbol_bars(symbol if ":" in symbol else f"NSE:{symbol}", "1d", data_dir=_data_dir())
    s = bars["close"].astype(float)
    s.index = s.index.tz_localize(None).normalize()
    s.name = symbol
    return s


_FIRST: dict[tuple, "pd.Timestamp | None"] = {}  # (env..., symbol) -> see _first_day, until clear_caches()


def _first_day(symbol: str) -> "pd.Timestamp | None":
    """A day on or before the first day of ``symbol``'s daily bars, read from the first row of its
    CSV without loading the file; None when that cannot be told cheaply (a Parquet file, an
    unusual first row, no file): then the file is read.

    Sound because a file that loads is strictly increasing (``load_bars`` refuses it otherwise),
    so none of its days comes before its first row's; a day of margin covers any difference
    between this parse and pandas'.
    """
    k = (*_env_key(), symbol)
    if k in _FIRST:
        return _FIRST[k]
    out = None
    try:
        from tradekit.data.store import find_bars

        path, _ = find_bars(symbol if ":" in symbol else f"NSE:{symbol}", "1d", data_dir=_data_dir())
        name = path.name.lower()
        if name.endswith((".csv", ".csv.gz")):
            with open(path, "rb") as f:
                raw = f.read(4096)
            if name.endswith(".gz"):
                raw = zlib.decompressobj(wbits=47).decompress(raw, 2048)  # the first 2 kB of text
            lines = raw[:raw.rfind(b"\n") + 1].decode("utf-8-sig").splitlines()  # whole lines only
            rows = [ln for ln in lines[1:] if ln.strip()]
            cols = [c.strip().lower() for c in lines[0].split(",")] if lines else []
            vals = rows[0].split(",") if rows else []
            if "timestamp" in cols and len(vals) == len(cols):
                t = datetime.fromisoformat(vals[cols.index("timestamp")].strip())
                if t.tzinfo is not None:
                    from tradekit.clock import IST

                    out = pd.Timestamp(t.astimezone(IST).date()) - pd.Timedelta(days=1)
    except (DataError, OSError, ValueError, EOFError, UnicodeError, zlib.error):
        out = None
    _FIRST[k] = out
    return out


def bundled_symbols() -> list[str]:
    from tradekit.data import sample_symbols

    return sample_symbols("1d")


_AVAILABLE: dict[tuple, list[str]] = {}  # (env...) -> symbols of the default data directory, until clear_caches()


def clear_caches() -> None:
    """Forget the daily closes, symbol lists and models read so far (after new daily bars arrived)."""
    _closes.cache_clear()
    _AVAILABLE.clear()
    _DATA_DIRS.clear()
    _FIRST.clear()
    _UPTO.clear()
    _FRAMES.clear()
    _RETURNS.clear()
    _MODELS.clear()


def available_symbols(data_dir=None) -> list[str]:
    """Symbols with daily bars: the bundled sample's and the data directory's (``tradekit data
    import|fetch``), as plain trading symbols. Without ``data_dir`` (the default data directory,
    found through the config) the answer is kept until :func:`clear_caches`."""
    if data_dir is None:
        return list(_available_default(_env_key()))
    return _available(data_dir)


def _available_default(env: tuple) -> list[str]:
    hit = _AVAILABLE.get(env)
    if hit is None:
        hit = _AVAILABLE[env] = _available(_data_dir())
    return hit


def _available(data_dir) -> list[str]:
    from tradekit.data.store import bars_root

    out = dict.fromkeys(bundled_symbols())
    root = bars_root(data_dir) / "1d"
    if root.is_dir():
        for f in sorted(root.glob("*/*.parquet")):
            out.setdefault(f.stem, None)
    return list(out)


def coverage(exposures, symbols: Iterable[str]) -> dict:
    """How much of the gross exposure has return history: ``{"pct", "covered", "gross", "missing"}``
    (``missing``: uncovered symbols, the largest exposure first)."""
    by = _by_symbol(exposures).abs()
    have = set(symbols)
    gross = float(by.sum())
    miss = by[[s not in have for s in by.index]].sort_values(ascending=False)
    covered = gross - float(miss.sum())
    return {"pct": 100.0 * covered / gross if gross else 100.0, "covered": covered, "gross": gross,
            "missing": [(s, float(v)) for s, v in miss.items() if v]}


_FRAMES: dict[tuple, tuple[tuple, pd.DataFrame]] = {}  # symbols -> (their cached series, the joined frame)
_RETURNS: dict[int, "_Returns"] = {}  # id(frame) -> its daily returns (checked: the same frame)


def _closes_frame(symbols: Iterable[str]) -> pd.DataFrame:
    """The joined daily closes of ``symbols`` (all dates), built once per set of cached series:
    a new read of any symbol's closes (``_closes`` cleared) builds it again."""
    cols = []
    for s in dict.fromkeys(symbols):
        try:
            cols.append(_closes(s))
        except DataError:
            continue
    k = tuple(c.name for c in cols)
    hit = _FRAMES.get(k)
    if hit is not None and len(hit[0]) == len(cols) and all(a is b for a, b in zip(hit[0], cols)):
        return hit[1]
    df = pd.concat(cols, axis=1, sort=True) if cols else pd.DataFrame()
    if len(_FRAMES) > 16:
        _FRAMES.clear()
    _FRAMES[k] = (tuple(cols), df)
    return df


def closes(symbols: Iterable[str], *, start=None, end=None) -> pd.DataFrame:
    """Daily closes of ``symbols`` from the bundled data, one column each (missing ones skipped)."""
    df = _closes_frame(symbols)
    if df.empty:
        return pd.DataFrame()
    if start is not None:
        df = df[df.index >= pd.Timestamp(start)]
    if end is not None:
        df = df[df.index <= pd.Timestamp(end)]
    return df


def daily_returns(symbols: Iterable[str] | None = None, *, end=None, lookback: int = 250,
                  prices: pd.DataFrame | None = None) -> pd.DataFrame:
    """Simple daily returns, the last ``lookback`` rows up to ``end`` (inclusive).

    ``prices`` (a DataFrame of closes) replaces the bundled data. Rows where any symbol is
    missing are dropped, so every method sees the same days.
    """
    px = prices if prices is not None else closes(symbols if symbols is not None else bundled_symbols(), end=end)
    if px.empty:
        return px
    if end is not None and prices is not None:
        px = px[px.index <= pd.Timestamp(end)]
    r = px.pct_change(fill_method=None).iloc[1:].dropna(how="all", axis=1).dropna()
    return r.iloc[-lookback:]


# -- exposures ---------------------------------------------------------------------------------

def exposures_from_book(book: "Book", prices: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per open position: strategy, symbol, key, quantity, price, exposure (₹, signed)."""
    rows = []
    for p in book.positions.values():
        if not p.quantity:
            continue
        key = f"{p.exchange}:{p.tradingsymbol}"
        if prices and (key in prices or p.tradingsymbol in prices):
            px = float(prices.get(key, prices.get(p.tradingsymbol)))
        else:
            px = float(p.last_price if p.last_price is not None else p.average_price)
        rows.append({"strategy": p.strategy, "symbol": p.tradingsymbol, "key": key, "product": str(p.product),
                     "quantity": p.quantity, "price": px, "exposure": px * p.quantity * p.multiplier})
    return pd.DataFrame(rows, columns=["strategy", "symbol", "key", "product", "quantity", "price", "exposure"])


def _by_symbol(exposures) -> pd.Series:
    if isinstance(exposures, pd.DataFrame):
        return exposures.groupby("symbol")["exposure"].sum()
    if isinstance(exposures, Mapping):
        s: dict[str, float] = {}
        for k, v in exposures.items():
            sym = str(k).partition(":")[2] or str(k)
            s[sym] = s.get(sym, 0.0) + float(v)
        return pd.Series(s, dtype=float)
    return pd.Series(exposures, dtype=float)


# -- VaR ---------------------------------------------------------------------------------------

@dataclass
class VarResult:
    """One VaR/ES figure. ``pnl`` holds the scenario P&Ls (historical, Monte Carlo)."""

    method: str
    confidence: float
    horizon_days: int
    var: float
    es: float
    exposure: float = 0.0
    uncovered: list[str] = field(default_factory=list)  # symbols with no returns (left out)
    pnl: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"method": self.method, "confidence": self.confidence, "horizon_days": self.horizon_days,
                "var": round(self.var, 2), "es": round(self.es, 2), "exposure": round(self.exposure, 2),
                "uncovered": list(self.uncovered)}


def var_es(pnl: np.ndarray, confidence: float) -> tuple[float, float]:
    """Empirical VaR and ES (positive losses) of P&L scenarios."""
    pnl = np.asarray(pnl, dtype=float)
    if pnl.size == 0:
        return 0.0, 0.0
    q = float(np.quantile(pnl, 1.0 - confidence, method="linear"))
    tail = pnl[pnl <= q]
    es = -float(tail.mean()) if tail.size else -q
    return -q, es


def _align(exposures, returns: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    w = _by_symbol(exposures)
    w = w[w != 0]
    uncovered = [s for s in w.index if s not in returns.columns]
    return w[[s for s in w.index if s in returns.columns]], uncovered


def _horizon_returns(returns: pd.DataFrame, h: int) -> pd.DataFrame:
    if h == 1:
        return returns
    lr = np.log1p(returns)
    return np.expm1(lr.rolling(h).sum()).dropna()


def historical_var(exposures, returns: pd.DataFrame, confidence: float = 0.99, horizon_days: int = 1) -> VarResult:
    """Historical-simulation VaR/ES: today's exposures revalued with each past (h-day) return."""
    w, unc = _align(exposures, returns)
    r = _horizon_returns(returns[w.index], horizon_days)
    pnl = r.to_numpy() @ w.to_numpy() if len(w) else np.zeros(0)
    v, es = var_es(pnl, confidence)
    return VarResult("historical", confidence, horizon_days, v, es, float(w.abs().sum()), unc, pnl)


def parametric_var(exposures, returns: pd.DataFrame | None = None, confidence: float = 0.99, horizon_days: int = 1,
                   *, cov: pd.DataFrame | None = None) -> VarResult:
    """Variance-covariance VaR/ES under normal returns (``cov`` given, or from ``returns``)."""
    if cov is None:
        if returns is None:
            raise ValueError("parametric_var needs returns or cov")
        cov = returns.cov()
    w, unc = _align(exposures, cov)
    if not len(w):
        return VarResult("parametric", confidence, horizon_days, 0.0, 0.0, 0.0, unc)
    c = cov.loc[w.index, w.index].to_numpy()
    sigma = math.sqrt(max(float(w.to_numpy() @ c @ w.to_numpy()), 0.0)) * math.sqrt(horizon_days)
    z = _N.inv_cdf(confidence)
    es = sigma * _N.pdf(z) / (1.0 - confidence)
    return VarResult("parametric", confidence, horizon_days, z * sigma, es, float(w.abs().sum()), unc)


def monte_carlo_var(exposures, returns: pd.DataFrame, confidence: float = 0.99, horizon_days: int = 1,
                    *, paths: int = 20_000, seed: int = 7) -> VarResult:
    """Monte Carlo VaR/ES: multivariate normal h-day returns with the sample covariance."""
    w, unc = _align(exposures, returns)
    if not len(w):
        return VarResult("monte_carlo", confidence, horizon_days, 0.0, 0.0, 0.0, unc, np.zeros(0))
    c = returns[w.index].cov().to_numpy() * horizon_days
    rng = np.random.default_rng(seed)
    sims = rng.multivariate_normal(np.zeros(len(w)), c, size=paths, method="cholesky" if _pd(c) else "eigh")
    pnl = sims @ w.to_numpy()
    v, es = var_es(pnl, confidence)
    return VarResult("monte_carlo", confidence, horizon_days, v, es, float(w.abs().sum()), unc, pnl)


def _pd(c: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(c)
        return True
    except np.linalg.LinAlgError:
        return False


METHODS = {"historical": historical_var, "parametric": parametric_var, "monte_carlo": monte_carlo_var}


def portfolio_var(exposures, returns: pd.DataFrame, method: str = "historical", confidence: float = 0.99,
                  horizon_days: int = 1, **kw) -> VarResult:
    """VaR/ES by ``method`` ("historical", "parametric" or "monte_carlo")."""
    try:
        fn = METHODS[method]
    except KeyError:
        raise ValueError(f"VaR method must be one of {', '.join(METHODS)}, {method!r} was received") from None
    if method != "monte_carlo":
        kw.pop("paths", None)
        kw.pop("seed", None)
    return fn(exposures, returns, confidence, horizon_days, **kw)


def component_var(positions: pd.DataFrame, returns: pd.DataFrame, confidence: float = 0.99,
                  horizon_days: int = 1) -> pd.DataFrame:
    """Euler (parametric) component VaR per position row; sums to the portfolio VaR.

    ``positions`` has ``strategy``, ``symbol`` and ``exposure`` columns (see
    :func:`exposures_from_book`). Returns the rows with a ``component_var`` column; group it
    by ``symbol`` or ``strategy``.
    """
    pos = positions[positions["symbol"].isin(returns.columns) & (positions["exposure"] != 0)].copy()
    if pos.empty:
        pos["component_var"] = []
        return pos
    w_sym = pos.groupby("symbol")["exposure"].sum()
    cov = returns[w_sym.index].cov()
    sw = cov.to_numpy() @ w_sym.to_numpy()
    sigma = math.sqrt(max(float(w_sym.to_numpy() @ sw), 0.0))
    z = _N.inv_cdf(confidence) * math.sqrt(horizon_days)
    marginal = pd.Series(sw / sigma if sigma else 0.0, index=w_sym.index)  # d sigma / d w_i
    pos["component_var"] = pos["exposure"] * pos["symbol"].map(marginal) * z
    return pos


def correlation(returns: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation matrix of the returns."""
    return returns.corr()


# -- stress ------------------------------------------------------------------------------------

def stress_gap(exposures, pct: float) -> float:
    """P&L (₹) if every price gaps by ``pct`` percent at once (−5 → a 5 % fall)."""
    return float(_by_symbol(exposures).sum()) * pct / 100.0


def worst_day(index: str = "NIFTY50", *, start=None, end=None) -> tuple[date, float]:
    """The largest close-to-close fall of ``index`` in the bundled data, as (day, return)."""
    s = _closes(index)
    r = s.pct_change(fill_method=None).dropna()
    if start is not None:
        r = r[r.index >= pd.Timestamp(start)]
    if end is not None:
        r = r[r.index <= pd.Timestamp(end)]
    if r.empty:
        raise DataError(f"no {index} returns between {start} and {end}")
    d = r.idxmin()
    return d.date(), float(r.loc[d])


def default_crash_day() -> date:
    """The worst NIFTY 50 day inside the bundled stock data (2024-06-04, −5.9 %, election results).

    2020-03-23 (−13.0 %) is worse but lies before the stock files start (2020-10-01).
    """
    stocks = closes([s for s in bundled_symbols() if s != "NIFTY50"])
    return worst_day("NIFTY50", start=stocks.index[0] + pd.Timedelta(days=1) if not stocks.empty else None)[0]


def day_returns(day: date, symbols: Iterable[str], *, index: str = "NIFTY50") -> pd.DataFrame:
    """Each symbol's real return on ``day``; a symbol without data that day takes the index's
    return (beta-one proxy), flagged in ``proxy``."""
    syms = list(dict.fromkeys(symbols))
    ts = pd.Timestamp(day)
    idx_r = None
    try:
        ic = _closes(index)
        if ts in ic.index:
            i = ic.index.get_loc(ts)
            idx_r = float(ic.iloc[i] / ic.iloc[i - 1] - 1.0) if i > 0 else None
    except DataError:
        pass
    rows = []
    for s in syms:
        r, proxy = None, False
        try:
            c = _closes(s)
            if ts in c.index:
                i = c.index.get_loc(ts)
                if i > 0:
                    r = float(c.iloc[i] / c.iloc[i - 1] - 1.0)
        except DataError:
            pass
        if r is None:
            r, proxy = idx_r, True
        rows.append({"symbol": s, "return": r, "proxy": proxy})
    return pd.DataFrame(rows).set_index("symbol") if rows else pd.DataFrame(columns=["return", "proxy"])


def stress_replay(exposures, day: date, *, index: str = "NIFTY50") -> tuple[float, pd.DataFrame]:
    """P&L (₹) of today's exposures if ``day``'s real moves happened again."""
    w = _by_symbol(exposures)
    w = w[w != 0]
    if w.empty:
        return 0.0, pd.DataFrame(columns=["exposure", "return", "proxy", "pnl"])
    r = day_returns(day, w.index, index=index)
    out = r.assign(exposure=w)
    out["pnl"] = out["exposure"] * out["return"].fillna(0.0)
    return float(out["pnl"].sum()), out[["exposure", "return", "proxy", "pnl"]]


def crash_path(day: date, symbols: Iterable[str]) -> list[dict[str, float]]:
    """Marks that replay ``day`` for a breaker: previous close, open, low, close per symbol.

    The low comes before the close, the adverse order for a long book; a daily bar cannot say
    more (the bundled minute data does not cover the crash days).
    """
    from tradekit.data.store import load_symbol_bars

    ts = pd.Timestamp(day)
    points: list[dict[str, float]] = [{}, {}, {}, {}]
    for s in dict.fromkeys(symbols):
        try:
            b = load_symbol_bars(s if ":" in s else f"NSE:{s}", "1d")
        except DataError:
            continue
        b.index = b.index.tz_localize(None).normalize()
        if ts not in b.index:
            continue
        i = b.index.get_loc(ts)
        if i == 0:
            continue
        row = b.iloc[i]
        for n, v in enumerate((b["close"].iloc[i - 1], row["open"], row["low"], row["close"])):
            points[n][s] = float(v)
    return points


# -- the pre-trade model -----------------------------------------------------------------------

_MODELS: dict[tuple, tuple[list, np.ndarray]] = {}  # (symbols, last day, lookback, ...) -> covariance


_UPTO: dict[tuple, "_Upto"] = {}  # (env..., symbols) -> which of them a window needs, until clear_caches()
_EPOCH = date(1970, 1, 1).toordinal()
_DAY_NS = 86_400 * 10**9


def _naive_ns(end) -> int | None:
    """``pd.Timestamp(end).value`` (ns) for a naive ``end``; None for a time with a zone."""
    if type(end) is date:  # the usual case (the day before a replayed day), without pandas
        return (end.toordinal() - _EPOCH) * _DAY_NS
    ts = pd.Timestamp(end)
    return None if ts.tz is not None else ts.value


class _Upto:
    """For one list of symbols: which of them have a day on or before a given day, by their
    :func:`_first_day` (kept per distinct answer)."""

    __slots__ = ("bounds", "firsts", "need", "syms")

    def __init__(self, syms: list[str]) -> None:
        self.syms = syms
        self.firsts = [None if d is None else d.value for d in map(_first_day, syms)]  # ns; None: always read
        self.bounds = sorted({d for d in self.firsts if d is not None})  # the distinct first days
        self.need: dict[int, list[str]] = {}

    def upto(self, ns: int) -> list[str]:
        j = bisect_right(self.bounds, ns)  # the first j first days are on or before the end
        hit = self.need.get(j)
        if hit is None:
            lim = self.bounds[j - 1] if j else None
            hit = self.need[j] = [s for s, d in zip(self.syms, self.firsts) if d is None or (lim is not None and d <= lim)]
        return hit


def _frame_upto(symbols: Iterable[str], ns: int | None, env: tuple | None = None) -> pd.DataFrame:
    """The joined daily closes of those of ``symbols`` that have a day on or before ``ns`` (a naive
    time in ns; None: all of them): a file that starts after it is not read (see :func:`_first_day`).

    Its rows up to ``ns`` are those of the whole set's frame: a symbol left out has no day up to
    then, so it adds no row there and its column there is empty (which the window drops)."""
    syms = list(dict.fromkeys(symbols))
    if ns is None:
        return _closes_frame(syms)
    k = (*(env or _env_key()), *syms)
    u = _UPTO.get(k)
    if u is None:
        if len(_UPTO) > 16:
            _UPTO.clear()
        u = _UPTO[k] = _Upto(syms)
    return _closes_frame(u.upto(ns))


class _Returns:
    """A frame's daily returns as one array, with its days, computed once per frame."""

    __slots__ = ("columns", "days", "days_ns", "frame", "rets")

    def __init__(self, px: pd.DataFrame) -> None:
        self.frame = px
        self.days = px.index
        self.days_ns = px.index.as_unit("ns").asi8 if isinstance(px.index, pd.DatetimeIndex) else None
        self.rets = px.pct_change(fill_method=None).to_numpy(dtype=float, na_value=np.nan)
        self.columns = list(px.columns)


def _empty(px: pd.DataFrame) -> bool:
    """``px.empty``, without its generic machinery."""
    return not len(px.columns) or not len(px.index)


def _returns_of(px: pd.DataFrame) -> _Returns:
    hit = _RETURNS.get(id(px))
    if hit is None or hit.frame is not px:
        if len(_RETURNS) > 16:
            _RETURNS.clear()
        hit = _RETURNS[id(px)] = _Returns(px)
    return hit


def _cov_window(r: _Returns, upto: int, lookback: int, min_obs: int) -> tuple[list, np.ndarray]:
    """The covariance of the returns of the last ``lookback`` days among the frame's first ``upto``
    rows, pair by pair (see :func:`_pairwise_cov`): ``DataFrame.cov``'s own computation (``np.cov``
    without a gap, pandas' pairwise ``nancorr`` with one) on the same numbers in the same layout."""
    if upto <= 0:
        return [], np.zeros((0, 0))
    rows = range(1, upto)[-lookback:]  # the first row has no return; then the window
    win = r.rets[rows.start:rows.stop]
    nan = np.isnan(win)
    keep = len(win) - nan.sum(axis=0) >= min_obs  # returns per symbol in the window
    if keep.all():
        cols, mat, gap = list(r.columns), win, nan.any()
    elif not keep.any():
        return [], np.zeros((0, 0))
    else:
        cols = [c for c, k in zip(r.columns, keep.tolist()) if k]
        mat, gap = win[:, keep], nan[:, keep].any()
    n = len(cols)
    if not gap:
        if min_obs is not None and min_obs > len(mat):
            c = np.full((n, n), np.nan)
        else:
            c = _cov(np.ascontiguousarray(mat.T)).reshape((n, n))
    else:
        c = _nancov(mat, min_obs)
    c = np.ascontiguousarray(np.where(np.isnan(c), 0.0, c))  # pairs without enough overlap: no covariance
    if n == 1 and 0.0 <= c[0, 0] < math.inf:
        return cols, c  # a variance is its own eigenvalue, never below zero: nothing to clip
    w, v = np.linalg.eigh((c + c.T) / 2.0)
    if (w < 0).any():
        c = (v * np.clip(w, 0.0, None)) @ v.T
    return cols, c


def _cov(x: np.ndarray) -> np.ndarray:
    """``np.cov(x, ddof=1)`` of float rows, the same steps without its argument handling."""
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] < 2:
        return np.cov(x, ddof=1)  # its own answer (and warning) for the odd shapes
    x = np.array(x, dtype=np.float64)
    x -= x.mean(axis=1)[:, None]
    c = np.dot(x, x.T.conj())
    c *= np.true_divide(1, x.shape[1] - 1)
    return c.squeeze()


def _nancov(mat: np.ndarray, min_obs: int) -> np.ndarray:
    try:
        from pandas._libs.algos import nancorr
    except ImportError:  # pragma: no cover - the same computation through the public API
        return pd.DataFrame(mat).cov(min_periods=min_obs).to_numpy()
    return nancorr(mat, cov=True, minp=min_obs)


def _pairwise_cov(symbols: Iterable[str], end, lookback: int, min_obs: int = 20) -> tuple[list, np.ndarray]:
    """Covariance of daily returns over the last ``lookback`` days up to ``end``, pair by pair, so a
    symbol with a short history (a recent listing, a recent import) does not shorten everyone's
    window; symbols with fewer than ``min_obs`` returns are left out (uncovered). Pairs without
    overlap get no covariance, and the matrix is made positive semi-definite (eigenvalues clipped)."""
    ns = None if end is None else _naive_ns(end)
    px = _frame_upto(symbols, ns)
    if _empty(px):
        return [], np.zeros((0, 0))
    # the returns of the whole history, computed once per frame; a prefix of them is the
    # returns of the prefix (each is one close over the one before)
    r = _returns_of(px)
    if end is None:
        upto = len(r.days)
    elif ns is not None and r.days_ns is not None:
        upto = int(np.searchsorted(r.days_ns, ns, side="right"))
    else:  # pandas says what it thinks of comparing a time with a zone with naive days
        upto = int(r.days.searchsorted(pd.Timestamp(end), side="right"))
    return _cov_window(r, upto, lookback, min_obs)


class VarModel:
    """Parametric VaR with a fixed covariance, fast enough for the pre-trade gate.

    The gate keeps ``wᵀΣw`` and ``Σw`` for the current book and prices an order's change
    ``δ`` in symbol ``i`` in O(1): ``wᵀΣw + 2δ(Σw)ᵢ + δ²Σᵢᵢ``.
    """

    def __init__(self, symbols: list[str], cov: np.ndarray, confidence: float = 0.99, horizon_days: int = 1):
        self.symbols = list(symbols)
        self.index = {s: i for i, s in enumerate(self.symbols)}
        self.cov_np = np.asarray(cov, dtype=float)
        self.cov = self.cov_np.tolist()  # scalar access from Python lists is cheaper than numpy
        self.cols = [np.ascontiguousarray(self.cov_np[:, i]) for i in range(len(self.symbols))]
        self._prepared: dict[tuple, tuple[float, np.ndarray]] = {}  # exposures -> (wᵀΣw, Σw) (prepare)
        self.confidence = confidence
        self.horizon_days = horizon_days
        self.scale = _N.inv_cdf(confidence) * math.sqrt(horizon_days)

    @classmethod
    def from_returns(cls, returns: pd.DataFrame, confidence: float = 0.99, horizon_days: int = 1) -> "VarModel":
        c = returns.cov()
        return cls(list(c.columns), c.to_numpy(), confidence, horizon_days)

    @classmethod
    def from_settings(cls, settings: "VarSettings", symbols: Iterable[str] | None = None, *, end=None) -> "VarModel":
        """Build from the bundled daily data up to ``end`` (pass the day before a replayed day)."""
        env = _env_key()
        syms = list(symbols) if symbols is not None else list(_available_default(env))
        # keyed by the last day of data the window reaches, not by ``end``: a replay's days past
        # the end of the daily data (or across a weekend) share one model
        last = upto = None
        ns = None if end is None else _naive_ns(end)
        px = _frame_upto(syms, ns, env)
        r = None if _empty(px) else _returns_of(px)
        if end is not None:
            if r is None:
                upto, last = 0, "before"
            elif ns is not None and r.days_ns is not None:
                upto = int(np.searchsorted(r.days_ns, ns, side="right"))
                last = int(r.days_ns[upto - 1]) if upto else "before"
            else:  # pandas says what it thinks of comparing a time with a zone with naive days
                upto = int(px.index.searchsorted(pd.Timestamp(end), side="right"))
                last = px.index[upto - 1].value if upto else "before"
        key = (tuple(syms), last, settings.lookback_days, settings.confidence, settings.horizon_days)
        hit = _MODELS.get(key)
        if hit is None:
            if r is None:
                hit = [], np.zeros((0, 0))
            else:
                hit = _cov_window(r, len(r.days) if upto is None else upto, settings.lookback_days, 20)
            if len(_MODELS) > 256:
                _MODELS.clear()
            _MODELS[key] = hit
        return cls(hit[0], hit[1], settings.confidence, settings.horizon_days)

    def coverage(self, values: Mapping[str, float]) -> dict:
        """The share of ``values``' gross exposure this model has history for (see :func:`coverage`)."""
        return coverage({k: v for k, v in values.items()}, self.symbols)

    def _w(self, values: Mapping[str, float]) -> np.ndarray:
        w = np.zeros(len(self.symbols))
        for k, v in values.items():
            i = self.index.get(k.partition(":")[2] or k)
            if i is not None:
                w[i] += v
        return w

    def prepare(self, values: Mapping[str, float], *, as_array: bool = False) -> tuple[float, "np.ndarray | list"]:
        """(wᵀΣw, Σw) for exposures ``values`` keyed by symbol or ``EXCHANGE:SYMBOL``.

        The last few answers are kept by the exposures (their keys and floats in order, which
        fix ``w`` bit for bit): a book that returns to exposures it had (flat again after a
        round trip) gets the numbers numpy gave for them, without the matrix products."""
        k = tuple(values.items())
        hit = self._prepared.get(k)
        if hit is None:
            w = self._w(values)
            sw = self.cov_np @ w if len(w) else w
            if len(self._prepared) >= 32:
                self._prepared.clear()
            hit = self._prepared[k] = (float(w @ sw), sw)
        wsw, sw = hit
        return wsw, (sw.copy() if as_array else sw.tolist())

    def var_of(self, values: Mapping[str, float]) -> float:
        wsw, _ = self.prepare(values)
        return self.scale * math.sqrt(max(wsw, 0.0))
