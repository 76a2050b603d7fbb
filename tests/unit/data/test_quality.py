"""Quality findings: what the real bundled data is known to hold, and each check on a made-up defect."""

from __future__ import annotations

from datetime import date, time

import pandas as pd
import pytest

from tradekit.clock import IST
from tradekit.data import check_bars, check_ticks, load_bars, load_dataset, load_ticks, sample_path, summarize


def _bars(rows):
    idx = pd.DatetimeIndex([pd.Timestamp(t, tz=IST) for t, *_ in rows], name="timestamp")
    return pd.DataFrame([r[1:] for r in rows], columns=["open", "high", "low", "close", "volume"], index=idx)


def test_hdfcbank_2016_zero_volume_minutes_are_reported():
    f = check_bars(load_bars(sample_path("HDFCBANK")), key="NSE:HDFCBANK")
    z = f[f["check"] == "zero_volume"]
    assert [t.strftime("%Y-%m-%d %H:%M") for t in z["timestamp"]] == ["2016-08-17 10:26", "2016-08-23 10:11", "2016-08-23 10:12"]
    assert set(z["severity"]) == {"info"} and set(f["check"]) == {"zero_volume"}  # 18 full sessions, nothing else
    assert "NSE:HDFCBANK 2016-08-17 10:26: no trade in this bar (volume 0)" in z["message"].tolist()


def test_nifty_minutes_miss_budget_day_and_2024_03_04_against_expected_sessions():
    minutes = load_bars(sample_path("NIFTY50"))
    expected = load_bars(sample_path("NIFTY50", "1d"), start="2024-01-01", end="2024-03-28").index.date
    f = check_bars(minutes, key="NSE:NIFTY50", expected_sessions=expected)
    missing = f[f["check"] == "missing_session"]
    assert list(missing["session"]) == [date(2024, 2, 1), date(2024, 3, 4)]
    assert "no data for session 2024-02-01 (Thu)" in missing["message"].iloc[0]
    extra = f[f["check"] == "extra_session"]  # the Saturday sessions, absent from Yahoo's calendar
    assert list(extra["session"]) == [date(2024, 1, 20), date(2024, 3, 2)]
    gaps = f[f["check"] == "gap"]
    assert list(gaps["value"]) == [90, 180] and set(gaps["session"]) == {date(2024, 3, 2)}
    assert "90 bar(s) missing 10:00-11:29" in gaps["message"].iloc[0]
    # an index has no volume: one note, not 22,230 zero-volume findings
    assert (f["check"] == "no_volume").sum() == 1 and (f["check"] == "zero_volume").sum() == 0
    # the split session is fine when its real hours are given
    hours = {date(2024, 3, 2): (time(9, 15), time(10, 0))}
    f2 = check_bars(minutes.loc["2024-03-02":"2024-03-02 09:59"], key="NSE:NIFTY50", hours=hours)
    assert not (f2["check"] == "gap").any()


def test_a_real_overnight_gap_is_a_price_jump_and_daily_data_skips_intraday_checks():
    f = check_bars(load_bars(sample_path("TCS")), key="NSE:TCS")
    assert list(f["check"]) == ["price_jump"]
    assert "2016-09-08 09:15" in f["message"].iloc[0] and "previous session's close" in f["message"].iloc[0]
    d = check_bars(load_bars(sample_path("RELIANCE", "1d")), key="NSE:RELIANCE")
    assert len(d) == 0  # no daily move above NSE's 20 % band, and no gap/hours checks on daily bars


def test_each_check_on_made_up_defects():
    df = _bars([
        ("2024-01-02 09:15", 100, 101, 99, 100, 10),
        ("2024-01-02 09:16", 100, 101, 99, 100, 10),
        ("2024-01-02 09:16", 100, 101, 99, 100, 10),  # duplicate
        ("2024-01-02 09:20", 100, 99, 98, 100, 10),  # high below open/close; 09:17-09:19 missing
        ("2024-01-02 09:19", 100, 101, 99, 100, 10),  # out of order
        ("2024-01-02 09:21", 111, 112, 110, 111, 0),  # +11 % jump, zero volume
        ("2024-01-02 15:30", 111, 111, 111, 111, 5),  # after the close
        ("2024-01-02 08:00", 100, 100, 100, 100, 5),  # before the open (and out of order)
    ])
    f = check_bars(df, key="NSE:X", interval="1min")
    checks = f.groupby("check")["row"].apply(list).to_dict()
    assert checks["duplicate"] == [2]
    assert checks["out_of_order"] == [4, 7]
    assert checks["ohlc"] == [3]
    assert checks["zero_volume"] == [5]
    assert checks["price_jump"] == [5] and f.loc[f["check"] == "price_jump", "value"].iloc[0] == pytest.approx(0.12)
    assert sorted(checks["outside_hours"]) == [6, 7]
    gaps = f[f["check"] == "gap"]
    assert list(gaps["value"]) == [2, 368]  # 09:17-09:18 inside; 09:22-15:29 at the end of the session
    assert set(f.loc[f["check"].isin(["duplicate", "out_of_order", "ohlc"]), "severity"]) == {"error"}
    s = summarize(f)
    assert set(s.columns) == {"key", "check", "severity", "count"} and s["count"].sum() == len(f)


def test_missing_and_nonpositive_values():
    df = _bars([("2024-01-02 09:15", 100, 101, 99, float("nan"), 1), ("2024-01-02 09:16", 0, 0, 0, 0, 1)])
    f = check_bars(df, key="X", interval="1min")
    assert {"missing_value", "nonpositive_price"} <= set(f["check"])


def test_clean_data_has_no_findings_and_findings_have_fixed_columns():
    df = load_bars(sample_path("RELIANCE"))
    f = check_bars(df, key="NSE:RELIANCE")
    assert len(f) == 0 and list(f.columns) == ["check", "severity", "key", "session", "timestamp", "row", "value", "message"]
    assert len(check_bars(df.iloc[:0])) == 0


def test_ticks_checks():
    tk = load_ticks(sample_path("NIFTY50", "ticks_1s"), start="2022-08-10", end="2022-08-10")
    assert len(check_ticks(tk, key="NSE:NIFTY50")) == 0  # 09:15:00..15:30:00, one per second
    holed = pd.concat([tk.iloc[:100], tk.iloc[300:]])
    bad = pd.concat([holed, pd.DataFrame({"price": [20000.0]}, index=[pd.Timestamp("2022-08-10 16:00", tz=IST)])])
    f = check_ticks(bad, key="NSE:NIFTY50", expected_sessions=[date(2022, 8, 10), date(2022, 8, 11)])
    assert set(f["check"]) == {"gap", "outside_hours", "price_jump", "missing_session"}
    assert f.loc[f["check"] == "gap", "value"].iloc[0] == 201.0


def test_dataset_quality_runs_every_instrument():
    ds = load_dataset(["HDFCBANK", "WIPRO"])
    f = ds.quality()
    assert f.groupby("key").size().to_dict() == {"NSE:HDFCBANK": 3, "NSE:WIPRO": 3}
