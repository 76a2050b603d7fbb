"""Replay feeds: ordering across instruments, subscriptions, the Feed protocol, the columnar fast path."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tradekit.clock import IST
from tradekit.data import (
    Bar,
    BarArrays,
    BarReplayFeed,
    DataSet,
    Feed,
    Tick,
    TickReplayFeed,
    load_bars,
    load_dataset,
    load_ticks,
    resample_bars,
    sample_path,
    sample_symbols,
    sessions_in,
)
from tradekit.errors import DataError

DAY = "2016-08-16"


def test_multi_symbol_bars_interleave_by_time_in_the_given_instrument_order():
    ds = load_dataset(["RELIANCE", "INFY", "TCS"], DAY, DAY)
    bars = list(BarReplayFeed(ds))
    assert len(bars) == 3 * 375
    assert [b.key for b in bars[:6]] == ["NSE:RELIANCE", "NSE:INFY", "NSE:TCS"] * 2
    ends = [b.end for b in bars]
    assert ends == sorted(ends)
    first = bars[0]
    assert isinstance(first, Bar) and first.start.tzinfo is not None and first.end - first.start == timedelta(minutes=1)
    assert first.start.utcoffset() == timedelta(hours=5, minutes=30)
    rel = ds["RELIANCE"]
    assert (first.open, first.close, first.volume) == (rel["open"].iloc[0], rel["close"].iloc[0], rel["volume"].iloc[0])
    assert bars[-1].end.strftime("%H:%M") == "15:30"


def test_days_of_different_instruments_merge_by_time_not_by_file():
    # NIFTY (2024) and RELIANCE (2016) in one replay: all of 2016 comes first
    feed = BarReplayFeed(load_dataset(["NIFTY50", "RELIANCE"]))
    a = feed.arrays
    assert np.all(np.diff(a.end_ns) >= 0)
    keys = np.asarray(a.keys)[a.key_id]
    assert keys[0] == "NSE:RELIANCE" and keys[-1] == "NSE:NIFTY50"
    assert (keys == "NSE:RELIANCE").sum() == 6750 and (keys == "NSE:NIFTY50").sum() == 22230


def test_mixed_intervals_release_a_bar_when_it_is_complete():
    one = load_bars(sample_path("INFY"), start=DAY, end=DAY)
    five = resample_bars(load_bars(sample_path("SBIN"), start=DAY, end=DAY), "5min")
    bars = list(BarReplayFeed({"NSE:INFY": one, "NSE:SBIN": five}))
    pos = {(b.key, b.start.strftime("%H:%M")): i for i, b in enumerate(bars)}
    # the 09:15 five-minute SBIN bar completes at 09:20: after INFY's 09:19 bar, before its 09:20 bar
    assert pos[("NSE:INFY", "09:19")] < pos[("NSE:SBIN", "09:15")] < pos[("NSE:INFY", "09:20")]
    sbin = [b for b in bars if b.key == "NSE:SBIN"]
    assert sbin[0].end - sbin[0].start == timedelta(minutes=5)


def test_a_session_anchored_hour_bar_ends_at_the_close():
    hour = resample_bars(load_bars(sample_path("INFY"), start=DAY, end=DAY), "1h")
    a = BarArrays.from_frame(hour, "NSE:INFY")
    last = a.bar(len(a) - 1)
    assert last.start.strftime("%H:%M") == "15:15" and last.end.strftime("%H:%M") == "15:30"
    daily = BarArrays.from_frame(load_bars(sample_path("INFY", "1d"), end="2020-10-05"), "NSE:INFY")
    b = daily.bar(0)
    assert b.end - b.start == timedelta(days=1)


def test_subscriptions_choose_what_is_yielded():
    feed = BarReplayFeed(load_dataset(["RELIANCE", "INFY"], DAY, DAY))
    assert isinstance(feed, Feed)
    assert feed.subscribed == {"NSE:RELIANCE", "NSE:INFY"}
    feed.unsubscribe(["NSE:INFY"])
    assert {b.key for b in feed} == {"NSE:RELIANCE"}
    assert feed.active_arrays().keys == ("NSE:RELIANCE",) and len(feed.active_arrays()) == 375
    feed.subscribe(["NSE:INFY"], mode="full")
    assert len(list(feed)) == 750
    with pytest.raises(DataError, match="the replay holds no data for NSE:TCS"):
        feed.subscribe(["NSE:TCS"])


def test_a_subscription_can_change_during_the_replay():
    feed = BarReplayFeed(load_dataset(["RELIANCE", "INFY"], DAY, DAY))
    seen = []
    for b in feed:
        seen.append(b.key)
        if len(seen) == 10:
            feed.unsubscribe(["NSE:RELIANCE"])
    assert seen[:10].count("NSE:RELIANCE") == 5 and set(seen[10:]) == {"NSE:INFY"}


def test_tick_replay_merges_instruments_and_keeps_file_order_for_equal_times():
    t = [pd.Timestamp("2024-01-02 09:15:00", tz=IST) + pd.Timedelta(seconds=s) for s in (0, 1, 1, 3)]
    a = pd.DataFrame({"price": [10.0, 11.0, 12.0, 13.0], "volume": [1, 2, 3, 4]}, index=pd.DatetimeIndex(t))
    b = pd.DataFrame({"price": [20.0, 21.0]}, index=pd.DatetimeIndex([t[0] + pd.Timedelta(seconds=1), t[0] + pd.Timedelta(seconds=2)]))
    feed = TickReplayFeed({"NSE:A": a, "NSE:B": b})
    assert isinstance(feed, Feed)
    ticks = list(feed)
    assert [(x.key, x.last_price) for x in ticks] == [
        ("NSE:A", 10.0), ("NSE:A", 11.0), ("NSE:A", 12.0), ("NSE:B", 20.0), ("NSE:B", 21.0), ("NSE:A", 13.0)]
    assert isinstance(ticks[0], Tick) and ticks[0].last_quantity == 1 and ticks[3].last_quantity is None
    assert ticks[0].mode == "ltp" and ticks[0].ts == ticks[0].last_trade_time
    feed.unsubscribe(["NSE:A"])
    assert [x.last_price for x in feed] == [20.0, 21.0]


def test_real_tick_replay():
    tk = load_ticks(sample_path("NIFTY50", "ticks_1s"), start="2022-08-10", end="2022-08-10")
    feed = TickReplayFeed(tk, key="NSE:NIFTY50")
    ticks = list(feed)
    assert len(ticks) == 22_501 and ticks[0].last_price == tk["price"].iloc[0]
    with pytest.raises(DataError, match="needs key"):
        TickReplayFeed(tk)


def test_bar_arrays_are_the_fast_path_for_a_replay_loop():
    # how fast they are built and passed over is measured in benchmarks/bench_bararrays.py (here it was a
    # wall-clock bound, which a loaded machine broke: 6.6 s > 5 s to load the 12 files)
    ds = load_dataset(sample_symbols("1min"))
    arr = ds.arrays()
    assert len(arr) == 10 * 6750 + 2 * 22230
    assert arr.start_ns.dtype == np.int64 and arr.close.dtype == np.float64 and arr.volume.dtype == np.int64
    assert np.all(np.diff(arr.end_ns) >= 0)
    # a whole-replay pass over plain lists of the columns: each key's last close is its frame's
    closes, kid = arr.close.tolist(), arr.key_id.tolist()
    last = [0.0] * len(arr.keys)
    for k, c in zip(kid, closes):
        last[k] = c
    assert last == [float(ds[k]["close"].iloc[-1]) for k in arr.keys]
    rel = arr.select(["NSE:RELIANCE"])
    assert rel.key == "NSE:RELIANCE" and len(rel) == 6750
    pd.testing.assert_frame_equal(rel.frame(), ds["RELIANCE"], check_freq=False)
    with pytest.raises(DataError, match="hold 12 instruments"):
        arr.key
    b = arr.bar(0)
    assert isinstance(b, Bar) and b.start == pd.Timestamp("2016-08-16 09:15", tz=IST)


def test_load_dataset_by_symbol_path_and_mapping(tmp_path):
    ds = load_dataset("NSE:RELIANCE", DAY, DAY)
    assert list(ds) == ["NSE:RELIANCE"] and ds.n_bars == 375
    p = tmp_path / "NSE_ACME_1min.csv"
    load_bars(sample_path("SBIN"), start=DAY, end=DAY).reset_index().assign(
        timestamp=lambda d: d["timestamp"].map(lambda t: t.isoformat())).to_csv(p, index=False)
    by_path = load_dataset([p, "INFY"], DAY, DAY)
    assert list(by_path) == ["NSE:ACME", "NSE:INFY"]
    by_map = load_dataset({"NSE:SBIN-EQ": p})
    assert list(by_map) == ["NSE:SBIN-EQ"] and by_map["SBIN-EQ"].shape == (375, 5)
    daily = load_dataset(["TCS", "INFY"], "2024-01-01", "2024-01-31", timeframe="1d")
    # 23 weekdays, less the 22nd and 26th (holidays), plus Saturday the 20th
    assert daily.sessions()[0] == date(2024, 1, 1) and len(daily.sessions()) == 22 and date(2024, 1, 20) in daily.sessions()
    with pytest.raises(DataError, match="no 1min bars for NSE:ACME"):
        load_dataset("ACME")
    with pytest.raises(DataError, match="given twice"):
        load_dataset(["INFY", "NSE:INFY"])
    with pytest.raises(KeyError, match="no bars for 'TCS'"):
        by_path["TCS"]
    assert isinstance(ds.resample("15min"), DataSet) and len(ds.resample("15min")["RELIANCE"]) == 25


def test_sessions_in_lists_ist_dates():
    df = load_bars(sample_path("NIFTY50"))
    s = sessions_in(df)
    assert len(s) == 60 and date(2024, 1, 20) in s and date(2024, 2, 1) not in s
    assert sessions_in(load_bars(sample_path("NIFTY50", "1d"), start="2024-01-01", end="2024-01-03")) == [
        date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)]
    assert sessions_in(df.iloc[:0]) == []
