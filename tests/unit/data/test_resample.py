"""Session-aware resampling: properties on any bars, and the real NSE edge cases."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.clock import IST
from tradekit.data import infer_interval, load_bars, load_ticks, parse_rule, resample_bars, sample_path, ticks_to_bars
from tradekit.errors import DataError

SESSIONS = [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 5)]


@st.composite
def minute_bars(draw):
    """Random valid 1-minute bars on up to three sessions, with random holes."""
    rows = []
    for d in SESSIONS[: draw(st.integers(1, 3))]:
        minutes = draw(st.lists(st.integers(0, 374), min_size=1, max_size=60, unique=True))
        for m in sorted(minutes):
            o = draw(st.floats(50, 150, allow_nan=False))
            c = draw(st.floats(50, 150, allow_nan=False))
            hi = max(o, c) + draw(st.floats(0, 5))
            lo = min(o, c) - draw(st.floats(0, 5))
            v = draw(st.integers(0, 10_000))
            rows.append((pd.Timestamp(d, tz=IST) + pd.Timedelta(hours=9, minutes=15 + m), o, hi, lo, c, v))
    idx = pd.DatetimeIndex([r[0] for r in rows], name="timestamp").as_unit("ns")
    df = pd.DataFrame([r[1:] for r in rows], columns=["open", "high", "low", "close", "volume"], index=idx)
    df.attrs["interval"] = pd.Timedelta(minutes=1)
    return df


@settings(max_examples=80, deadline=None)
@given(minute_bars(), st.sampled_from(["3min", "5min", "15min", "30min", "1h", "75min", "375min", "1d"]))
def test_resampled_bars_aggregate_their_constituents(df, rule):
    out = resample_bars(df, rule)
    iv = parse_rule(rule)
    assert out.attrs["interval"] == iv
    assert out["volume"].sum() == df["volume"].sum()
    assert out.index.is_monotonic_increasing and out.index.is_unique
    covered = 0
    for start, bar in out.iterrows():
        if iv == pd.Timedelta(days=1):
            assert start == start.normalize()
            part = df[df.index.normalize() == start]
        else:
            # on the 09:15 grid of its own session, never spanning two dates
            offset = start - start.normalize() - pd.Timedelta(hours=9, minutes=15)
            assert offset % iv == pd.Timedelta(0) and offset >= pd.Timedelta(0)
            part = df[(df.index >= start) & (df.index < start + iv)]
            assert (part.index.normalize() == start.normalize()).all()
        assert len(part) > 0
        covered += len(part)
        assert bar["high"] == part["high"].max() and (bar["high"] >= part["high"]).all()
        assert bar["low"] == part["low"].min()
        assert bar["open"] == part["open"].iloc[0] and bar["close"] == part["close"].iloc[-1]
        assert bar["volume"] == part["volume"].sum()
    assert covered == len(df)  # every input bar lands in exactly one output bar


@settings(max_examples=40, deadline=None)
@given(minute_bars())
def test_resampling_in_two_steps_equals_one_step(df):
    pd.testing.assert_frame_equal(resample_bars(resample_bars(df, "5min"), "15min"), resample_bars(df, "15min"))


def test_5_minute_bars_start_at_0915_and_split_session_has_two_halves():
    df = load_bars(sample_path("NIFTY50"), start="2024-03-01", end="2024-03-02")
    five = resample_bars(df, "5min")
    fri = five.loc["2024-03-01"]
    assert len(fri) == 75 and fri.index[0].strftime("%H:%M") == "09:15" and fri.index[1].strftime("%H:%M") == "09:20"
    assert fri.index[-1].strftime("%H:%M") == "15:25"
    sat = five.loc["2024-03-02"]
    times = list(sat.index.strftime("%H:%M"))
    assert times[:2] == ["09:15", "09:20"] and "09:55" in times and "11:30" in times and times[-1] == "12:25"
    assert len(sat) == 9 + 12 and not any("10:00" <= t < "11:30" for t in times)
    hour = resample_bars(df, "1h").loc["2024-03-01"]
    assert list(hour.index.strftime("%H:%M")) == ["09:15", "10:15", "11:15", "12:15", "13:15", "14:15", "15:15"]
    last = df.loc["2024-03-01 15:15":"2024-03-01 15:29"]
    assert hour["close"].iloc[-1] == last["close"].iloc[-1] and hour["high"].iloc[-1] == last["high"].max()


def test_daily_bars_from_minutes_match_the_exchange_open_and_label_the_session_date():
    minutes = load_bars(sample_path("NIFTY50"))
    daily = resample_bars(minutes, "1d")
    assert len(daily) == 60 and (daily.index == daily.index.normalize()).all()
    yahoo = load_bars(sample_path("NIFTY50", "1d"), start="2024-01-01", end="2024-03-28")
    both = daily.join(yahoo.add_suffix("_y"), how="inner")
    assert len(both) == 58  # the two Saturday sessions are not in Yahoo's file
    assert (both["open"] == both["open_y"]).all()  # the data README: first minute's open = official open
    assert ((both["high"] - both["high_y"]).abs() < 10).all()
    assert daily.loc["2024-03-02", "volume"] == 0
    stock = resample_bars(load_bars(sample_path("RELIANCE"), start="2016-08-16", end="2016-08-16"), "D")
    assert stock["volume"].iloc[0] == 3_048_398  # the data README's figure for this day


def test_ticks_become_375_minute_bars_labelled_by_start():
    tk = load_ticks(sample_path("NIFTY50", "ticks_1s"), start="2022-08-10", end="2022-08-10")
    bars = ticks_to_bars(tk)
    assert len(bars) == 375 and bars.index[0].strftime("%H:%M") == "09:15" and bars.index[-1].strftime("%H:%M") == "15:29"
    first = tk.loc["2022-08-10 09:15:00":"2022-08-10 09:15:59", "price"]
    assert bars["open"].iloc[0] == first.iloc[0] and bars["close"].iloc[0] == first.iloc[-1]
    assert bars["high"].iloc[0] == first.max() and bars["low"].iloc[0] == first.min()
    assert bars["close"].iloc[-1] == tk["price"].iloc[-1]  # the 15:30:00 value closes the 15:29 bar
    assert infer_interval(bars) == pd.Timedelta(minutes=1)
    five = ticks_to_bars(tk, "5min")
    pd.testing.assert_frame_equal(five, resample_bars(bars, "5min"))
    assert len(ticks_to_bars(tk, close=None)) == 376


def test_tick_volume_is_summed():
    idx = pd.DatetimeIndex([pd.Timestamp("2024-01-02 09:15:10", tz=IST), pd.Timestamp("2024-01-02 09:15:40", tz=IST),
                            pd.Timestamp("2024-01-02 09:16:05", tz=IST)])
    tk = pd.DataFrame({"price": [10.0, 11.0, 9.0], "volume": [3, 4, 5]}, index=idx)
    b = ticks_to_bars(tk)
    assert b["volume"].tolist() == [7, 5] and b["high"].tolist() == [11.0, 9.0]


def test_bad_requests_are_refused():
    df = load_bars(sample_path("INFY"), start="2016-08-16", end="2016-08-16")
    five = resample_bars(df, "5min")
    with pytest.raises(DataError, match="cannot resample 5-minute bars to 7-minute"):
        resample_bars(five, "7min")
    with pytest.raises(DataError, match="cannot resample 5-minute bars to 1-minute"):
        resample_bars(five, "1min")
    with pytest.raises(DataError, match="not understood"):
        parse_rule("fortnightly")
    with pytest.raises(DataError, match="go backwards"):
        resample_bars(df.iloc[::-1], "5min")
    naive = df.copy()
    naive.index = naive.index.tz_localize(None)
    with pytest.raises(DataError, match="timezone-aware"):
        resample_bars(naive, "5min")
    assert len(resample_bars(df.iloc[:0], "5min")) == 0
    assert infer_interval(load_bars(sample_path("INFY", "1d"))) == pd.Timedelta(days=1)
    assert parse_rule(15) == pd.Timedelta(minutes=15) and parse_rule("1H") == pd.Timedelta(hours=1)
    assert np.array_equal(resample_bars(df, "1min").to_numpy(), df.to_numpy())
