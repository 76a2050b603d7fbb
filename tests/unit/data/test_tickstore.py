"""The tick store: round trips, exchange-time order, atomic files, crashes, compaction, retention, DuckDB."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradekit.clock import IST, ist
from tradekit.data.tickstore import TickStore, open_tick_store
from tradekit.data.types import DepthLevel, Tick
from tradekit.errors import DataError, ValidationError

ROOT = Path(__file__).resolve().parents[3]
T0 = ist(2026, 12, 4, 9, 15)
DAY = date(2026, 12, 4)


def full(key, sec, price, volume=0, token=408065):
    return Tick(key, T0 + timedelta(seconds=sec), price, token, "full", volume=volume, last_quantity=5,
                average_price=price - 0.5, buy_quantity=100, sell_quantity=120, open=price - 1, high=price + 1,
                low=price - 2, close=price - 3, change=3.0, last_trade_time=T0 + timedelta(seconds=sec), oi=0,
                bids=tuple(DepthLevel(price - 0.05 * (i + 1), 10 * (i + 1), i + 1) for i in range(5)),
                asks=tuple(DepthLevel(price + 0.05 * (i + 1), 12 * (i + 1), i + 2) for i in range(5)))


def test_round_trip_keeps_every_field_and_depth(tmp_path):
    ticks = [full("NSE:INFY", i, 1500 + i * 0.05, volume=1000 + i) for i in range(20)]
    ticks.append(Tick("NSE:M&M", T0, 3000.0, mode="ltp"))
    with TickStore(tmp_path, flush_every=3600) as s:
        s.append(ticks)
        assert s.buffered == 21 and s.days() == []  # buffered, not yet written
    s2 = TickStore(tmp_path)
    assert s2.days() == [DAY]
    assert s2.keys(DAY) == ["NSE:INFY", "NSE:M&M"]
    back = list(s2.iter_ticks(DAY, ["NSE:INFY"]))
    assert back == ticks[:20]
    assert list(s2.iter_ticks("2026-12-04", ["NSE:M&M"]))[0].last_price == 3000.0
    df = s2.read(DAY)
    assert len(df) == 21 and str(df["volume"].dtype) == "Int64"
    assert df["ts"].dt.tz is not None


def test_exchange_time_order_across_flushes_and_keys(tmp_path):
    s = TickStore(tmp_path, flush_every=3600)
    s.append([full("NSE:INFY", 10, 1501), full("NSE:TCS", 3, 3400, token=2953217)])
    s.flush()
    s.append([full("NSE:INFY", 1, 1500), full("NSE:TCS", 7, 3401, token=2953217)])  # arrived late
    s.close()
    got = [(t.key, t.ts) for t in TickStore(tmp_path).iter_ticks(DAY)]
    assert got == sorted(got, key=lambda x: x[1])
    assert [k for k, _ in got] == ["NSE:INFY", "NSE:TCS", "NSE:TCS", "NSE:INFY"]


def test_ticks_without_an_exchange_time_are_dated_by_arrival(tmp_path):
    recv = int(ist(2026, 12, 5, 10, 0).timestamp() * 1e9)
    s = TickStore(tmp_path, flush_every=0, clock=lambda: recv)
    s.append([Tick(None, None, 99.5, 256265, "ltp")])  # an index LTP packet: no key, no time
    assert s.days() == [date(2026, 12, 5)]
    (t,) = list(s.iter_ticks(date(2026, 12, 5)))
    assert t.key is None and t.instrument_token == 256265 and t.last_price == 99.5


def test_flush_every_and_max_buffer_are_honoured(tmp_path):
    import time

    bg = TickStore(tmp_path / "bg", flush_every=0.05)
    bg.append([full("NSE:INFY", 1, 1500)])
    bg.append([full("NSE:INFY", 2, 1500)])  # the writer thread starts; the caller does not write
    deadline = time.time() + 10
    while bg.written < 2 and time.time() < deadline:
        bg.append([])
        time.sleep(0.02)
    assert bg.written == 2 and len(TickStore(tmp_path / "bg").read(DAY)) == 2
    bg.close()
    s = TickStore(tmp_path / "a", flush_every=3600, max_buffer=5)
    s.append([full("NSE:INFY", i, 1500) for i in range(4)])
    assert s.written == 0
    s.append([full("NSE:INFY", 5, 1500)])
    assert s.written == 5 and s.buffered == 0
    s0 = TickStore(tmp_path / "b", flush_every=0)
    s0.append([full("NSE:INFY", 1, 1500)])
    assert s0.written == 1


def test_bad_settings_and_naive_times_name_the_field(tmp_path):
    with pytest.raises(ValidationError, match="retention_days"):
        TickStore(tmp_path, retention_days=0)
    with pytest.raises(ValidationError, match="flush_every"):
        TickStore(tmp_path, flush_every=-1)
    s = TickStore(tmp_path, flush_every=0)
    with pytest.raises(ValidationError, match="naive"):
        s.append([Tick("NSE:INFY", datetime(2026, 12, 4, 9, 15), 1.0)])
    with pytest.raises(ValidationError, match="day"):
        s.read("04/12/2026")


def test_half_written_files_are_never_read(tmp_path):
    s = TickStore(tmp_path, flush_every=0)
    s.append([full("NSE:INFY", 1, 1500)])
    folder = next((tmp_path / "2026-12-04").iterdir())
    (folder / ".p-000000000002.parquet.999.tmp").write_bytes(b"PAR1 half a file")
    assert len(TickStore(tmp_path).read(DAY)) == 1
    s.append([full("NSE:INFY", 2, 1500)])
    assert len(TickStore(tmp_path).read(DAY)) == 2


def test_a_crash_loses_only_the_unflushed_buffer(tmp_path):
    code = textwrap.dedent(f"""
        import os
        from datetime import timedelta
        from tradekit.clock import ist
        from tradekit.data.tickstore import TickStore
        from tradekit.data.types import Tick
        s = TickStore({str(tmp_path)!r}, flush_every=3600)
        t0 = ist(2026, 12, 4, 9, 15)
        s.append([Tick("NSE:INFY", t0 + timedelta(milliseconds=i), 1500.0, volume=i) for i in range(5000)])
        s.flush()
        s.append([Tick("NSE:INFY", t0 + timedelta(seconds=10), 1501.0)])
        os._exit(9)  # killed before the next flush
    """)
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert r.returncode == 9
    s = TickStore(tmp_path, flush_every=0)
    assert len(s.read(DAY)) == 5000
    s.append([full("NSE:INFY", 20, 1502)])  # the dead writer's lock does not block a new one
    assert len(s.read(DAY)) == 5001


def test_a_second_live_writer_is_refused(tmp_path):
    code = f"import time; from tradekit.data.tickstore import TickStore\n" \
           f"from tradekit.data.types import Tick\nfrom tradekit.clock import ist\n" \
           f"s = TickStore({str(tmp_path)!r}, flush_every=0); s.append([Tick('NSE:INFY', ist(2026,12,4,9,15), 1.0)])\n" \
           f"print('ready', flush=True); time.sleep(30)"
    p = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        s = TickStore(tmp_path, flush_every=0)
        assert len(s.read(DAY)) == 1  # reading is fine
        with pytest.raises(DataError, match="one writer"):
            s.append([full("NSE:INFY", 1, 1500)])
    finally:
        p.kill()
        p.wait()


def test_compaction_merges_parts_without_duplicates_even_after_a_crash(tmp_path):
    s = TickStore(tmp_path, flush_every=3600, compact_at=4)
    for i in range(10):
        s.append([full("NSE:INFY", i, 1500 + i)])
        s.flush()
    folder = next((tmp_path / "2026-12-04").iterdir())
    names = sorted(p.name for p in folder.glob("*.parquet"))
    assert len(names) <= 4 and any(n.startswith("c-") for n in names)
    assert [t.last_price for t in s.iter_ticks(DAY)] == [1500 + i for i in range(10)]
    # a crash between writing the merge and deleting its parts: the covered parts are ignored
    comp = max(folder.glob("c-*.parquet"))
    seq = int(comp.stem[2:])
    import shutil

    shutil.copy(comp, folder / f"p-{seq - 1:012d}.parquet")  # a part the merge covered, left behind
    assert len(TickStore(tmp_path).read(DAY)) == 10


def test_prune_keeps_retention_days(tmp_path):
    s = TickStore(tmp_path, retention_days=2, flush_every=3600)
    for d in range(1, 6):
        s.append([Tick("NSE:INFY", ist(2026, 12, d, 10, 0), 1.0)])
    s.flush()
    assert len(s.days()) == 5
    gone = s.prune(date(2026, 12, 5))
    assert gone == [date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)]
    assert s.days() == [date(2026, 12, 4), date(2026, 12, 5)]
    assert TickStore(tmp_path).prune(date(2027, 1, 1)) == []  # no retention: keep all


def test_query_runs_sql_over_every_day(tmp_path):
    s = TickStore(tmp_path, flush_every=3600)
    assert len(s.query("select * from ticks")) == 0
    s.append([full("NSE:INFY", i, 1500 + i, volume=10 * i) for i in range(5)])
    s.append([Tick("NSE:INFY", ist(2026, 12, 5, 10, 0), 1600.0, volume=7)])
    s.flush()
    df = s.query("select cast(ts as date) d, count(*) n, max(volume) v from ticks group by 1 order by 1")
    assert df["n"].tolist() == [5, 1] and df["v"].tolist() == [40, 7]
    with pytest.raises(DataError, match="tick query failed"):
        s.query("select nope from ticks")


def test_config_section_is_wired(tmp_path):
    from tradekit.config import load_config

    f = tmp_path / "c.yaml"
    f.write_text(f"data_dir: {tmp_path / 'var'}\ntick_store: {{dir: rec, retention_days: 3, flush_seconds: 0, "
                 f"max_buffer: 7, compact_parts: 5}}\n")
    s = open_tick_store(load_config(f))
    assert s.root == tmp_path / "var" / "rec"
    assert (s.retention_days, s.flush_every, s.max_buffer, s.compact_at) == (3, 0.0, 7, 5)
    f.write_text("tick_store: {enabled: false}\n")
    assert open_tick_store(load_config(f)) is None
    f.write_text("tick_store: {flush_secnds: 1}\n")
    with pytest.raises(Exception, match="flush_secnds"):
        load_config(f)


prices = st.floats(min_value=0.05, max_value=1e6, allow_nan=False, allow_infinity=False)
levels = st.tuples(prices, st.integers(0, 10**9), st.integers(0, 10**4)).map(lambda x: DepthLevel(*x))
ticks_st = st.tuples(
    st.sampled_from(["NSE:INFY", "NSE:M&M", "BSE:500325", "NFO:NIFTY26DECFUT"]),
    st.integers(0, 6 * 3600 * 10**6).map(lambda us: T0 + timedelta(microseconds=us)),
    prices, st.none() | st.integers(1, 2**32), st.sampled_from(["ltp", "quote", "full"]),
    st.none() | st.integers(0, 2**40), st.lists(levels, max_size=5).map(tuple), st.lists(levels, max_size=5).map(tuple),
).map(lambda x: Tick(x[0], x[1], x[2], x[3], x[4], volume=x[5], bids=x[6], asks=x[7]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ticks_st, min_size=1, max_size=40), st.integers(1, 5))
def test_property_what_goes_in_comes_out_in_time_order(tmp_path_factory, ticks, flushes):
    root = tmp_path_factory.mktemp("ts")
    s = TickStore(root, flush_every=3600, compact_at=3)
    step = max(1, len(ticks) // flushes)
    for i in range(0, len(ticks), step):
        s.append(ticks[i:i + step])
        s.flush()
    s.close()
    back = list(TickStore(root).iter_ticks(DAY))
    assert sorted(back, key=repr) == sorted(ticks, key=repr)
    assert [t.ts for t in back] == sorted(t.ts for t in ticks)
    assert all(t.ts.tzinfo is not None and t.ts.utcoffset() == IST.utcoffset(t.ts) for t in back)
