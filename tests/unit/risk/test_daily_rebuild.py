"""The daily risk rebuild (``RiskManager.start_day``) reads the daily closes once and reuses them:
the VaR model and the volatility regime of every day must equal, to the bit, what the old
per-day rebuild computed from the whole files (the reference below is that old code)."""

from __future__ import annotations

import gzip
import struct
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.risk import RiskConfig, RiskManager
from tradekit.risk import var as V
from tradekit.risk.config import SizingSettings, VarSettings
from tradekit.risk.sizing import RegimeSeries, vol_regime

from .helpers import BookBuilder

# -- the old way -------------------------------------------------------------------------------

_OLD: dict = {}  # the old code kept the joined frame and its returns per set of read series too


def _old_frame(symbols) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    cols = []
    for s in dict.fromkeys(symbols):
        try:
            cols.append(V._closes(s))
        except V.DataError:
            continue
    k = tuple(id(c) for c in cols)
    hit = _OLD.get(k)
    if hit is None or any(a is not b for a, b in zip(hit[0], cols)):
        px = pd.concat(cols, axis=1, sort=True) if cols else pd.DataFrame()
        hit = _OLD[k] = (cols, px, None if px.empty else px.pct_change(fill_method=None))
    return hit[1], hit[2]


def _old_cov(symbols, end, lookback, min_obs=20):
    px, r = _old_frame(symbols)
    if px.empty:
        return [], np.zeros((0, 0))
    if end is not None:
        r = r[r.index <= pd.Timestamp(end)]
        if r.empty:
            return [], np.zeros((0, 0))
    r = r.iloc[1:].iloc[-lookback:]
    r = r.loc[:, r.notna().sum() >= min_obs]
    if r.shape[1] == 0:
        return [], np.zeros((0, 0))
    c = r.cov(min_periods=min_obs).fillna(0.0).to_numpy()
    w, v = np.linalg.eigh((c + c.T) / 2.0)
    if (w < 0).any():
        c = (v * np.clip(w, 0.0, None)) @ v.T
    return list(r.columns), c


def _old_model(s: VarSettings, symbols, end) -> V.VarModel:
    syms, c = _old_cov(symbols, end, s.lookback_days)
    return V.VarModel(syms, c, s.confidence, s.horizon_days)


def _old_regime(day: date, s: SizingSettings):
    px = _old_frame([s.regime_index])[0]
    if not px.empty:
        px = px[px.index <= pd.Timestamp(day - timedelta(days=1))]
    series = px[s.regime_index].dropna() if s.regime_index in px else None
    if series is None or len(series) < s.regime_short + 2 or (day - series.index[-1].date()).days > 7:
        last = "none" if series is None or not len(series) else f"the last is {series.index[-1].date()}"
        return None, (f"volatility regime not measured for {day}: no recent daily closes of "
                      f"{s.regime_index} (risk.sizing.regime_index; {last}); limits unscaled")
    reg = vol_regime(series, s)
    return reg, f"volatility regime {day}: {reg}"


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def _same_model(new: V.VarModel, old: V.VarModel) -> None:
    assert new.symbols == old.symbols
    assert new.cov_np.shape == old.cov_np.shape
    assert new.cov_np.tobytes() == old.cov_np.tobytes()  # to the bit
    assert new.cov_np.flags.c_contiguous == old.cov_np.flags.c_contiguous  # Σw sums in the same order
    assert new.cov_np.flags.f_contiguous == old.cov_np.flags.f_contiguous
    assert _bits(new.scale) == _bits(old.scale)


def _same_regime(a, b) -> None:
    assert (a is None) == (b is None)
    if a is not None:
        assert a.name == b.name
        assert [_bits(x) for x in (a.ratio, a.short_vol, a.normal_vol)] == [_bits(x) for x in (b.ratio, b.short_vol, b.normal_vol)]


# -- the bundled daily data: NIFTY 50 from 2015, the stocks from 2020-10 ------------------------

DAYS = st.dates(date(2014, 12, 1), date(2026, 1, 31))


@settings(max_examples=8, deadline=None)
@given(days=st.lists(DAYS, min_size=1, max_size=3), lookback=st.sampled_from([30, 60, 250, 400]),
       conf=st.sampled_from([0.95, 0.99]), horizon=st.integers(1, 10), fresh=st.booleans())
def test_the_days_var_model_equals_a_fresh_rebuild_from_the_whole_files(days, lookback, conf, horizon, fresh):
    if fresh:
        V.clear_caches()
    s = VarSettings(lookback_days=lookback, confidence=conf, horizon_days=horizon)
    syms = V.available_symbols()
    for day in days:  # in any order: a later day, then an earlier one, re-uses what was read
        end = day - timedelta(days=1)
        _same_model(V.VarModel.from_settings(s, None, end=end), _old_model(s, syms, end))
        _same_model(V.VarModel.from_settings(s, ["TCS", "NIFTY50", "NOPE"], end=end),
                    _old_model(s, ["TCS", "NIFTY50", "NOPE"], end))


def test_a_replays_days_var_models_and_regimes_equal_the_old_rebuild():
    """Day by day across the start of the stock files (NIFTY 50 alone before 2020-10-01)."""
    V.clear_caches()
    cfg = RiskConfig.model_validate({"var": {"limit": 1e9}})
    risk = RiskManager(cfg)
    book = BookBuilder().book
    syms = V.available_symbols()
    day = date(2020, 9, 27)
    for _ in range(37):
        day += timedelta(days=1)
        risk.start_day(book, day)
        _same_model(risk.gate.var_model, _old_model(cfg.var, syms, day - timedelta(days=1)))
        reg, note = _old_regime(day, cfg.sizing)
        _same_regime(risk.regime, reg)
        assert risk.regime_note == note
    assert "INFY" in risk.gate.var_model.symbols  # the stock files were read once the window reached them


@settings(max_examples=40, deadline=None)
@given(days=st.lists(DAYS, min_size=1, max_size=6),
       short=st.integers(5, 40), long=st.integers(20, 300), ratio=st.floats(1.01, 3.0))
def test_the_days_regime_equals_the_old_measure(days, short, long, ratio):
    cfg = RiskConfig.model_validate({"sizing": {"regime_short": short, "regime_long": long, "high_vol_ratio": ratio}})
    risk = RiskManager(cfg)
    book = BookBuilder().book
    for day in days:
        risk.start_day(book, day)
        reg, note = _old_regime(day, cfg.sizing)
        _same_regime(risk.regime, reg)
        assert risk.regime_note == note


closes_lists = st.lists(st.floats(0.01, 1e6, allow_nan=False, allow_infinity=False), min_size=0, max_size=90)


@settings(max_examples=30, deadline=None)
@given(values=closes_lists, short=st.integers(5, 25), long=st.integers(20, 50), ratio=st.floats(1.01, 3.0),
       steps=st.lists(st.integers(0, 100), min_size=1, max_size=6), flat=st.integers(0, 30))
def test_regime_series_equals_vol_regime_of_every_leading_part(values, short, long, ratio, steps, flat):
    if values and flat:  # a run of equal closes: a zero volatility, a zero median
        values = values[:3] + [values[0]] * flat + values[3:]
    s = SizingSettings(regime_short=short, regime_long=long, high_vol_ratio=ratio)
    idx = pd.date_range("2020-01-01", periods=len(values), freq="D")
    closes = pd.Series(values, index=idx, dtype=float)
    rs = RegimeSeries(closes, s)
    for k in [*steps, len(values), *range(short, min(short + long + 20, len(values) + 1))]:  # jumps, then day by day
        _same_regime(rs.at(k), vol_regime(closes.iloc[:k], s))


# -- synthetic daily files: gaps, late listings, a broken file, a Parquet import ---------------

def _write_csv(path, days, px, *, broken=False):
    rows = ["timestamp,open,high,low,close,volume"]
    for d, p in zip(days, px):
        rows.append(f"{d:%Y-%m-%d}T00:00:00+05:30,{p},{p * 1.01},{p * 0.99},{p},100")
    if broken and len(rows) > 3:
        rows[2], rows[3] = rows[3], rows[2]  # not in time order: the loader refuses the file
    with gzip.open(path, "wt") as f:
        f.write("\n".join(rows) + "\n")


@st.composite
def universes(draw):
    bdays = pd.bdate_range("2021-01-01", "2021-12-31")
    n = draw(st.integers(1, 5))
    out = []
    for i in range(n):
        start = draw(st.integers(0, len(bdays) - 25))
        length = draw(st.integers(5, len(bdays) - start))
        keep = draw(st.lists(st.booleans(), min_size=length, max_size=length))  # own holidays: gaps in pairs
        days = [d for d, k in zip(bdays[start:start + length], keep) if k or d == bdays[start]]
        seed = draw(st.integers(0, 10_000))
        rng = np.random.default_rng(seed)
        px = list(np.round(100 * np.cumprod(1 + rng.normal(0, draw(st.sampled_from([0.0, 0.01, 0.05])), len(days))), 2))
        px = [max(p, 0.05) for p in px]
        out.append((f"S{i}", days, px, draw(st.booleans()) and i > 0 and len(days) > 3))
    return out


@settings(max_examples=15, deadline=None)
@given(universe=universes(), ends=st.lists(st.dates(date(2020, 12, 20), date(2022, 1, 10)), min_size=1, max_size=5),
       lookback=st.sampled_from([30, 60, 250]), parquet=st.booleans())
def test_synthetic_files_give_the_old_models(tmp_path_factory, universe, ends, lookback, parquet):
    from tradekit.data import bars as B
    from tradekit.data import store

    sample = tmp_path_factory.mktemp("sample")
    data = tmp_path_factory.mktemp("data")
    for name, days, px, broken in universe:
        _write_csv(sample / f"NSE_{name}_1d.csv.gz", days, px, broken=broken)
    if parquet:  # the first symbol imported into the data directory (read, never peeked)
        name, days, px, _ = universe[0]
        idx = pd.DatetimeIndex(days).tz_localize("Asia/Kolkata")
        store.write_bars(data, f"NSE:{name}", "1d", pd.DataFrame(
            {"open": px, "high": px, "low": px, "close": px, "volume": 1}, index=idx))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(B, "SAMPLE_DIR", sample)
        mp.setattr(store, "SAMPLE_DIR", sample)
        mp.setenv("TRADEKIT_DATA_DIR", str(data))
        _compare_synthetic(universe, ends, lookback)


def _compare_synthetic(universe, ends, lookback):
    V.clear_caches()
    try:
        s = VarSettings(lookback_days=lookback)
        syms = V.available_symbols()
        assert sorted(syms) == sorted(u[0] for u in universe)
        for end in ends:
            _same_model(V.VarModel.from_settings(s, None, end=end), _old_model(s, syms, end))
        _same_model(V.VarModel.from_settings(s, None), _old_model(s, syms, None))
    finally:
        V.clear_caches()


# -- the caches follow new data ----------------------------------------------------------------

def test_rebuild_var_reads_daily_bars_that_arrived_since(tmp_path, monkeypatch):
    from tradekit.data.store import write_bars

    monkeypatch.setenv("TRADEKIT_DATA_DIR", str(tmp_path / "d"))
    V.clear_caches()
    risk = RiskManager(RiskConfig.model_validate({"var": {"limit": 1e9}}))
    book = BookBuilder().book
    risk.start_day(book, date(2024, 3, 5))
    assert "NEWCO" not in risk.gate.var_model.symbols
    days = V._closes("INFY").loc["2023-12-01":"2024-03-01"].index
    px = 100 * np.cumprod(1 + np.random.default_rng(1).normal(0, 0.02, len(days)))
    write_bars(tmp_path / "d", "NSE:NEWCO", "1d", pd.DataFrame(
        {"open": px, "high": px, "low": px, "close": px, "volume": 1}, index=days.tz_localize("Asia/Kolkata")))
    risk.start_day(book, date(2024, 3, 6))  # kept until told: as before
    assert "NEWCO" not in risk.gate.var_model.symbols
    risk.rebuild_var(date(2024, 3, 6))
    assert "NEWCO" in risk.gate.var_model.symbols
    _same_model(risk.gate.var_model, _old_model(risk.config.var, V.available_symbols(), date(2024, 3, 5)))
    V.clear_caches()


def test_regime_series_day_by_day_on_the_bundled_index():
    nifty = V._closes("NIFTY50")
    s = SizingSettings()
    rs = RegimeSeries(nifty, s)
    for k in [*range(40), *range(900, 1100), 30, 2000, *range(2001, 2020), len(nifty)]:
        _same_regime(rs.at(k), vol_regime(nifty.iloc[:k], s))


def test_a_peeked_first_day_never_comes_after_the_files_first_day():
    """The cheap look at a daily CSV's first row is a lower bound of what the loader reads."""
    V.clear_caches()
    for s in V.available_symbols():
        first = V._first_day(s)
        assert first is not None  # the bundled files are CSVs with an offset
        assert first <= V._closes(s).index[0]
        assert V._closes(s).index[0] - first <= pd.Timedelta(days=1)


@pytest.mark.parametrize(("text", "first"), [
    ("timestamp,open,high,low,close,volume\n2021-03-02T00:00:00+05:30,1,1,1,1,1\n", date(2021, 3, 1)),
    ("\ufeffTimestamp , open,high,low,close,volume\r\n\r\n2021-03-02T09:15:00+05:30,1,1,1,1,1\r\n", date(2021, 3, 1)),
    ("timestamp,open,high,low,close,volume\n2021-03-01T20:00:00Z,1,1,1,1,1\n", date(2021, 3, 1)),  # 2 March in IST
    ("timestamp,open,high,low,close,volume\n2021-03-02 00:00:00,1,1,1,1,1\n", None),  # no offset: read the file
    ("timestamp,open,high,low,close,volume\n2021-03-02T00:00:00+05:30,1,1,1\n", None),  # a short row
    ("date,open,high,low,close,volume\n2021-03-02T00:00:00+05:30,1,1,1,1,1\n", None),  # no timestamp column
    ("timestamp,open,high,low,close,volume\n" + "x" * 5000 + "\n", None),  # no whole row in the first 2 kB
    ("", None),
])
def test_the_peek_at_a_daily_files_first_row(tmp_path, text, first):
    from tradekit.data import bars as B
    from tradekit.data import store

    sample = tmp_path / "sample"
    sample.mkdir()
    with gzip.open(sample / "NSE_PEEK_1d.csv.gz", "wt", newline="") as f:
        f.write(text)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(B, "SAMPLE_DIR", sample)
        mp.setattr(store, "SAMPLE_DIR", sample)
        V.clear_caches()
        try:
            got = V._first_day("PEEK")
            assert got == (None if first is None else pd.Timestamp(first))
        finally:
            V.clear_caches()
