"""kite-sim --data on a tradekit data directory: imported bars of a symbol no bundled list has."""

from __future__ import annotations

import gzip
import logging
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from tradekit.brokers.kite.sim.dump import instruments_csv
from tradekit.brokers.kite.sim.market import SimMarket
from tradekit.data.importer import import_bars
from tradekit.errors import DataError
from tradekit.market.instruments import InstrumentStore, check_dump
from tradekit.market.master import user_instrument

SAMPLE = Path(__file__).resolve().parents[3] / "tradekit" / "data" / "sample"


@pytest.fixture
def data_dir(tmp_path):
    lines = gzip.decompress((SAMPLE / "NSE_RELIANCE_1min.csv.gz").read_bytes()).decode().splitlines()[1:751]
    out = ["Datetime,Open,High,Low,Close,Volume"]
    for ln in lines:
        ts, o, h, lo, c, v = ln.split(",")
        t = datetime.fromisoformat(ts).astimezone(timezone.utc).replace(tzinfo=None)
        out.append(f"{t:%Y-%m-%d %H:%M:%S},{o},{h},{lo},{c},{v}")
    (tmp_path / "x.csv").write_text("\n".join(out))
    dd = tmp_path / "var"
    import_bars(tmp_path / "x.csv", "NSE:XYZ", dd, tz="UTC")
    return dd


def test_the_sandbox_replays_a_data_directory(data_dir):
    master = InstrumentStore.bundled()
    master.add([user_instrument("NSE:XYZ")])
    m = SimMarket(master, data_dir=data_dir, trade_date=date(2026, 12, 4))
    s = m.get("NSE:XYZ")
    assert s is not None and not s.static and len(s.o) == 375 and len(s.history) == 375
    assert s.source.startswith("XYZ.parquet, session of 2016-08-17")
    m.step(1)
    assert m.tick(s).last_price > 0
    # the dump it serves has Kite's columns and leaves the user's instrument out (Kite would not list it)
    dump = instruments_csv(master, "NSE", lambda k: 1.0)
    c = check_dump(dump)
    assert c.problems == [] and "XYZ" not in {r[2] for r in c.rows} and {r[4] for r in c.rows} == {"1.0"}


def test_an_unknown_symbol_is_refused_or_reported_never_dropped_quietly(data_dir, caplog):
    with pytest.raises(DataError, match=r"unknown instrument\(s\) NSE:XYZ: .*--instrument"):
        SimMarket(InstrumentStore.bundled(), data_dir=data_dir, symbols=["NSE:XYZ"], trade_date=date(2026, 12, 4))
    with pytest.raises(DataError, match=r"none of the bars .*\(NSE:XYZ\)"):
        SimMarket(InstrumentStore.bundled(), data_dir=data_dir, trade_date=date(2026, 12, 4))
    # next to known symbols it is named in a warning
    import shutil

    shutil.copy(SAMPLE / "NSE_INFY_1min.csv.gz", data_dir / "NSE_INFY_1min.csv.gz")
    with caplog.at_level(logging.WARNING, logger="tradekit.brokers.kite.sim.market"):
        m = SimMarket(InstrumentStore.bundled(), data_dir=data_dir, trade_date=date(2026, 12, 4))
    assert m.get("NSE:INFY") is not None and m.get("NSE:XYZ") is None
    assert any("NSE:XYZ: unknown instrument" in r.getMessage() for r in caplog.records)
