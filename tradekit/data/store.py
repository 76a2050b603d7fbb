"""The data directory: a trader's own bars, one Parquet file per instrument and timeframe.

Layout (under the config's ``data_dir``, default ``var/``)::

    <data_dir>/bars/1min/NSE/RELIANCE.parquet
    <data_dir>/bars/1d/NSE/M&M.parquet
    <data_dir>/bars/1min/NFO/NIFTY26DECFUT.parquet

Each file holds ``timestamp`` (IST, tz-aware; bars labelled by their start, as Kite does),
``open, high, low, close`` (float) and ``volume`` (int) in strictly increasing time order —
what :func:`tradekit.data.bars.load_bars` returns. ``tradekit data import`` and ``tradekit data
fetch`` write here (atomically; a new import replaces the rows it overlaps and keeps the rest);
:func:`load_symbol_bars` is the one loader replay, ``kite-sim --data``, the research notebook,
VaR and the dashboards read through: the data directory first, then the bundled sample.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote, unquote

import pandas as pd

from tradekit.data.bars import SAMPLE_DIR, load_bars
from tradekit.errors import DataError, ValidationError

TIMEFRAMES = {"1m": "1min", "1min": "1min", "minute": "1min", "1d": "1d", "day": "1d", "1day": "1d"}
_SAFE = " &-_.()+"


def timeframe_of(tf: str, field: str = "--timeframe") -> str:
    """``1m``/``1min``/``minute`` -> ``1min``; ``1d``/``day`` -> ``1d``."""
    out = TIMEFRAMES.get(str(tf).strip().lower())
    if out is None:
        raise ValidationError(f"{tf!r} is not a timeframe: use 1m (1-minute bars) or 1d (daily bars)", field=field)
    return out


def split_key(key: str, field: str = "--symbol") -> tuple[str, str]:
    """``NSE:INFY`` -> (``NSE``, ``INFY``); a bare symbol is NSE's."""
    k = str(key).strip()
    ex, _, sym = k.rpartition(":")
    ex, sym = (ex or "NSE").strip().upper(), sym.strip().upper()
    if not sym or not ex.isalpha():
        raise ValidationError(f"{key!r}: give EXCHANGE:SYMBOL, e.g. NSE:INFY", field=field)
    return ex, sym


def default_data_dir() -> Path:
    """``$TRADEKIT_DATA_DIR``, else the config's ``data_dir`` (``$TRADEKIT_CONFIG`` or config/default.yaml)."""
    env = os.environ.get("TRADEKIT_DATA_DIR")
    if env:
        return Path(env).expanduser()
    try:
        from tradekit.config import load_config

        return Path(load_config().data_dir)
    except Exception:  # noqa: BLE001 - no readable config: the conventional folder
        return Path("var")


def bars_root(data_dir: str | Path) -> Path:
    return Path(data_dir).expanduser() / "bars"


def bars_file(data_dir: str | Path, key: str, timeframe: str = "1min") -> Path:
    """Where the bars of ``key`` and ``timeframe`` live in the data directory (whether or not they exist)."""
    ex, sym = split_key(key)
    return bars_root(data_dir) / timeframe_of(timeframe) / ex / f"{quote(sym, safe=_SAFE)}.parquet"


def _sample_file(ex: str, sym: str, timeframe: str) -> Path | None:
    for name in (f"{ex}_{sym}_{timeframe}.csv.gz", f"{ex}_{sym}_{timeframe}.csv"):
        if (SAMPLE_DIR / name).exists():
            return SAMPLE_DIR / name
    return None


def find_bars(key: str, timeframe: str = "1min", *, data_dir: str | Path | None = None) -> tuple[Path, str]:
    """(path, origin) of the bars of ``key``: the data directory first (origin ``data_dir``), then
    the bundled sample (``bundled``).

    Raises
    ------
    DataError
        Neither has them; the message names both places.
    """
    tf = timeframe_of(timeframe)
    ex, sym = split_key(key)
    dd = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    p = bars_file(dd, f"{ex}:{sym}", tf)
    if p.exists():
        return p, "data_dir"
    s = _sample_file(ex, sym, tf)
    if s is not None:
        return s, "bundled"
    raise DataError(f"no {tf} bars for {ex}:{sym}: not in the data directory ({p}) nor in the bundled sample; "
                    f"import them with `tradekit data import FILE --symbol {ex}:{sym} --timeframe "
                    f"{'1m' if tf == '1min' else '1d'}` (or `tradekit data fetch`)")


def load_symbol_bars(key: str, timeframe: str = "1min", *, data_dir: str | Path | None = None,
                     start=None, end=None) -> pd.DataFrame:
    """The bars of ``key`` (data directory first, then the bundled sample), as :func:`load_bars` returns them."""
    path, _ = find_bars(key, timeframe, data_dir=data_dir)
    return load_bars(path, start=start, end=end)


def write_bars(data_dir: str | Path, key: str, timeframe: str, bars: pd.DataFrame) -> tuple[Path, int, int]:
    """Store ``bars`` (IST DatetimeIndex, open..volume) for ``key``; rows already stored at the same
    timestamps are replaced, the others kept. Atomic. Returns (path, rows written, rows in the file)."""
    path = bars_file(data_dir, key, timeframe)
    new = bars[["open", "high", "low", "close", "volume"]].copy()
    new["volume"] = new["volume"].astype("int64")
    if path.exists():
        old = load_bars(path)
        old = old[~old.index.isin(new.index)]
        merged = pd.concat([old, new]).sort_index()
    else:
        merged = new.sort_index()
    merged.attrs = {}
    out = merged.reset_index()
    out = out.rename(columns={out.columns[0]: "timestamp"})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        out.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path, len(new), len(out)


@dataclass
class Holding:
    """One file of the data directory: what it covers and which trading days it lacks."""

    key: str
    timeframe: str
    path: Path
    rows: int
    first: date
    last: date
    sessions: int
    missing: list[date] | None
    note: str = ""

    def gaps_text(self, limit: int = 5) -> str:
        if self.missing is None:
            return self.note
        if not self.missing:
            return "none"
        shown = ", ".join(d.isoformat() for d in self.missing[:limit])
        more = f" (+{len(self.missing) - limit} more)" if len(self.missing) > limit else ""
        return f"{len(self.missing)} trading day(s): {shown}{more}"


def inventory(data_dir: str | Path, calendar=None) -> list[Holding]:
    """Every bar file in the data directory with its coverage and the trading days missing
    between its first and last day (trading days from ``calendar``, default NSE's)."""
    from tradekit.data.feeds import sessions_in

    root = bars_root(data_dir)
    if not root.is_dir():
        return []
    if calendar is None:
        from tradekit.market.calendar import MarketCalendar

        calendar = MarketCalendar("NSE")
    out = []
    for tf_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for ex_dir in sorted(p for p in tf_dir.iterdir() if p.is_dir()):
            for f in sorted(ex_dir.glob("*.parquet")):
                key = f"{ex_dir.name}:{unquote(f.stem)}"
                df = load_bars(f)
                days = sessions_in(df)
                note = ""
                try:
                    expected = calendar.sessions(days[0], days[-1])
                    missing: list[date] | None = sorted(set(expected) - set(days))
                except Exception as e:  # noqa: BLE001 - e.g. a year past the calendar's tables: said, not hidden
                    missing, note = None, f"not checked: {e}"
                out.append(Holding(key, tf_dir.name, f, len(df), days[0], days[-1], len(days), missing, note))
    return out
