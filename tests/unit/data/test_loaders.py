"""Bar and tick loaders: real files load; broken ones are refused naming the file, the row and the problem."""

from __future__ import annotations

import gzip
import re

import pandas as pd
import pytest

from tradekit.clock import IST
from tradekit.data import load_bars, load_ticks, sample_path, sample_symbols
from tradekit.errors import DataError

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = [
    "2016-08-16T09:15:00+05:30,100,101,99,100.5,10\n",
    "2016-08-16T09:16:00+05:30,100.5,102,100,101,20\n",
    "2016-08-16T09:17:00+05:30,101,101.5,100.5,101,0\n",
]


def _write(tmp_path, lines, name="bars.csv", header=HEADER):
    p = tmp_path / name
    p.write_text(header + "".join(lines))
    return p


def test_bundled_bars_load_with_ist_index_and_types():
    df = load_bars(sample_path("RELIANCE"), start="2016-08-16", end="2016-08-16")
    assert len(df) == 375
    assert str(df.index.tz) == "Asia/Kolkata" and df.index.unit == "ns"
    assert df.index[0] == pd.Timestamp("2016-08-16 09:15", tz=IST) and df.index[-1].strftime("%H:%M") == "15:29"
    assert df.dtypes.to_dict() == {"open": "float64", "high": "float64", "low": "float64", "close": "float64", "volume": "int64"}
    assert "RELIANCE" in sample_symbols() and "NIFTY50" in sample_symbols("ticks_1s")
    assert sample_path("NSE:INFY", "1d").name == "NSE_INFY_1d.csv.gz"


def test_unknown_symbol_names_the_bundled_ones():
    with pytest.raises(DataError, match=r"no bundled 1min data for ACME; bundled: .*RELIANCE"):
        sample_path("ACME")


@pytest.mark.parametrize(
    "lines, message",
    [
        ([GOOD[0], "2016-08-16 9h16,100,101,99,100,1\n"], r"bars.csv: row 3: timestamp '2016-08-16 9h16' is not ISO 8601"),
        ([GOOD[0], "2016-08-16T09:16:00,100,101,99,100,1\n"], r"row 3: timestamp '2016-08-16T09:16:00' carries no timezone offset"),
        ([GOOD[0], GOOD[2], GOOD[1]], r"row 4: timestamps must be strictly increasing \(2016-08-16T09:16:00\+05:30 after 2016-08-16T09:17"),
        ([GOOD[0], GOOD[0]], r"row 3: timestamps must be strictly increasing"),
        ([GOOD[0], "2016-08-16T09:16:00+05:30,100,abc,99,100,1\n"], r"row 3: high is not a number \('abc'\)"),
        ([GOOD[0], "2016-08-16T09:16:00+05:30,100,99,98,100,1\n"], r"row 3: high/low do not contain open/close"),
        ([GOOD[0], "2016-08-16T09:16:00+05:30,0,0,0,0,1\n"], r"row 3: prices must be positive"),
        ([GOOD[0], "2016-08-16T09:16:00+05:30,100,101,99,100,-5\n"], r"row 3: volume is negative"),
        ([GOOD[0], "2016-08-16T09:16:00+05:30,100,101,99,100,1.5\n"], r"row 3: volume is not a whole number"),
        ([], r"no rows of bars"),
    ],
)
def test_malformed_bars_are_refused_with_file_row_and_problem(tmp_path, lines, message):
    p = _write(tmp_path, lines)
    with pytest.raises(DataError, match=message) as e:
        load_bars(p)
    assert str(p) in str(e.value)


def test_missing_columns_are_named(tmp_path):
    p = _write(tmp_path, ["2016-08-16T09:15:00+05:30,100,101,99\n"], header="timestamp,open,high,low\n")
    with pytest.raises(DataError, match=r"missing column\(s\) close, volume; expected timestamp,open,high,low,close,volume"):
        load_bars(p)
    p = _write(tmp_path, ["100,101,99,100,1\n"], name="nots.csv", header="open,high,low,close,volume\n")
    with pytest.raises(DataError, match=r"missing column\(s\) timestamp"):
        load_bars(p)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_bars(tmp_path / "nope.csv")


def test_other_offsets_are_converted_to_ist_and_headers_are_forgiving(tmp_path):
    p = _write(tmp_path, ["2016-08-16T03:45:00Z,100,101,99,100.5,10\n"], header=" Timestamp , Open,High,Low,Close,Volume\n")
    df = load_bars(p)
    assert df.index[0] == pd.Timestamp("2016-08-16 09:15", tz=IST)


def test_gzip_and_parquet_load_the_same(tmp_path):
    src = load_bars(sample_path("SBIN"), start="2016-08-16", end="2016-08-16")
    gz = tmp_path / "x.csv.gz"
    with gzip.open(gz, "wt") as f:
        f.write(HEADER + "".join(GOOD))
    assert len(load_bars(gz)) == 3
    pq = tmp_path / "sbin.parquet"
    src.reset_index().to_parquet(pq)
    back = load_bars(pq)
    pd.testing.assert_frame_equal(back, src)
    src.to_parquet(tmp_path / "indexed.parquet")  # the timestamps as the index
    pd.testing.assert_frame_equal(load_bars(tmp_path / "indexed.parquet"), src)


def test_parquet_with_naive_timestamps_is_refused(tmp_path):
    df = pd.DataFrame({"timestamp": pd.to_datetime(["2016-08-16 09:15"]), "open": [1.0], "high": [1.0], "low": [1.0],
                       "close": [1.0], "volume": [1]})
    df.to_parquet(tmp_path / "naive.parquet")
    with pytest.raises(DataError, match=r"naive.parquet: row 1: timestamps carry no timezone offset"):
        load_bars(tmp_path / "naive.parquet")


def test_start_and_end_bounds():
    p = sample_path("INFY")
    assert len(load_bars(p, start="2016-08-16", end="2016-08-17")) == 750
    df = load_bars(p, start="2016-08-16T10:00:00+05:30", end="2016-08-16T10:04:00+05:30")
    assert list(df.index.strftime("%H:%M")) == ["10:00", "10:01", "10:02", "10:03", "10:04"]


# -- ticks ---------------------------------------------------------------------------------------
def test_bundled_ticks_load():
    tk = load_ticks(sample_path("NIFTY50", "ticks_1s"))
    assert len(tk) == 112_505 and list(tk.columns) == ["price"]
    assert tk.index[0] == pd.Timestamp("2022-08-10 09:15:00", tz=IST)
    day = load_ticks(sample_path("NIFTY50", "ticks_1s"), start="2022-08-12", end="2022-08-12")
    assert len(day) == 22_501 and day.index[-1].strftime("%H:%M:%S") == "15:30:00"


def test_ticks_with_volume_and_equal_timestamps(tmp_path):
    p = _write(tmp_path, ["2024-01-02T09:15:00.250+05:30,100.5,10\n", "2024-01-02T09:15:00.250+05:30,100.55,5\n",
                          "2024-01-02T09:15:01+05:30,100.4,1\n"], name="t.csv", header="timestamp,price,volume\n")
    tk = load_ticks(p)
    assert tk["volume"].tolist() == [10, 5, 1] and tk["volume"].dtype == "int64"
    assert tk.index[0].microsecond == 250_000


@pytest.mark.parametrize(
    "lines, message",
    [
        (["2024-01-02T09:15:00+05:30,100\n", "yesterday,100\n"], r"t.csv: row 3: timestamp 'yesterday' is not ISO 8601"),
        (["2024-01-02T09:15:00+05:30,100\n", "2024-01-02T09:15:01,100\n"], r"row 3: timestamp .* carries no timezone offset"),
        (["2024-01-02T09:15:01+05:30,100\n", "2024-01-02T09:15:00+05:30,100\n"], r"row 3: timestamps must be in time order"),
        (["2024-01-02T09:15:00+05:30,x\n"], r"row 2: price is not a number"),
        (["2024-01-02T09:15:00+05:30,-1\n"], r"row 2: price must be positive"),
    ],
)
def test_malformed_ticks_are_refused(tmp_path, lines, message):
    p = _write(tmp_path, lines, name="t.csv", header="timestamp,price\n")
    with pytest.raises(DataError, match=message):
        load_ticks(p)


def test_ticks_missing_price_column_and_parquet(tmp_path):
    p = _write(tmp_path, ["2024-01-02T09:15:00+05:30,100\n"], name="t.csv", header="timestamp,ltp\n")
    with pytest.raises(DataError, match=r"missing column\(s\) price; expected timestamp,price\[,volume\]"):
        load_ticks(p)
    tk = load_ticks(sample_path("NIFTY50", "ticks_1s"), start="2022-08-10", end="2022-08-10")
    tk.reset_index().rename(columns={"price": "last_price"}).to_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(load_ticks(tmp_path / "t.parquet"), tk)


@pytest.mark.parametrize("stamp", ["0000-01-01T00:00:00+05:30", "-0001-01-01T09:15:00+05:30", "9999-12-31T09:15:00Z",
                                   "1677-09-21T00:00:00Z", "2262-04-11T23:59:00Z"])
def test_bars_and_ticks_outside_what_pandas_can_hold_name_the_row(tmp_path, stamp):
    """Before: pandas 3 parsed these (to µs) and the move to ns raised OutOfBoundsDatetime, not a DataError."""
    p = _write(tmp_path, [GOOD[0], f"{stamp},100,101,99,100,1\n"])
    with pytest.raises(DataError, match=rf"bars.csv: row 3: timestamp '{re.escape(stamp)}' is out of the supported range"):
        load_bars(p)
    t = tmp_path / "ticks.csv"
    t.write_text(f"timestamp,price\n2016-08-16T09:15:00+05:30,100\n{stamp},101\n")
    with pytest.raises(DataError, match=rf"ticks.csv: row 3: timestamp '{re.escape(stamp)}' is out of the supported range"):
        load_ticks(t)


def test_parquet_times_outside_what_pandas_can_hold_name_the_row(tmp_path):
    ts = pd.DatetimeIndex(["2016-08-16 09:15", "9999-01-01 09:15"]).as_unit("us").tz_localize("UTC")
    df = pd.DataFrame({"timestamp": ts, "open": [1.0, 1.0], "high": [1.0, 1.0], "low": [1.0, 1.0],
                       "close": [1.0, 1.0], "volume": [1, 1]})
    df.to_parquet(tmp_path / "far.parquet")
    with pytest.raises(DataError, match=r"far.parquet: row 2: timestamp '9999-01-01T09:15.*' is out of the supported range"):
        load_bars(tmp_path / "far.parquet")
    df.set_index("timestamp").to_parquet(tmp_path / "far_index.parquet")
    with pytest.raises(DataError, match=r"far_index.parquet: row 2: timestamp .* is out of the supported range"):
        load_bars(tmp_path / "far_index.parquet")
