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
    folder = tmp_path / "2026-12-04"
    (folder / ".f-000000000002.parquet.999.tmp").write_bytes(b"PAR1 half a file")
    (folder / ".c-000000000001-000000000002.parquet.999.tmp").write_bytes(b"PAR1 half a merge")
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


def test_a_flush_is_one_file_for_every_instrument_sorted_by_instrument(tmp_path):
    import pyarrow.parquet as pq

    s = TickStore(tmp_path, flush_every=3600, compact_at=0)
    keys = [f"NSE:S{i:03d}" for i in range(50)]
    s.append([full(k, sec, 100 + sec) for sec in range(3) for k in reversed(keys)])
    s.flush()
    files = sorted((tmp_path / "2026-12-04").glob("*.parquet"))
    assert [p.name for p in files] == ["f-000000000001.parquet"]
    got = pq.read_table(files[0], columns=["key", "seq"]).to_pylist()
    assert [r["key"] for r in got] == sorted(r["key"] for r in got)  # instrument column, sorted
    assert s.keys(DAY) == keys
    assert [t.last_price for t in s.iter_ticks(DAY, ["NSE:S007"])] == [100, 101, 102]


def test_compaction_on_threshold_and_close_keeps_every_tick_once(tmp_path):
    s = TickStore(tmp_path, flush_every=3600, compact_at=4)
    for i in range(10):
        s.append([full("NSE:INFY", i, 1500 + i), full("NSE:TCS", i, 3000 + i, token=2953217)])
        s.flush()
        assert [t.last_price for t in TickStore(tmp_path).iter_ticks(DAY, ["NSE:INFY"])] == [1500 + k for k in range(i + 1)]
    names = sorted(p.name for p in s.files(DAY))  # (the covered flushes stay on disk a while, for readers)
    assert len(names) < 10 and any(n.startswith("c-") for n in names) and any(n.startswith("f-") for n in names)
    s.close()  # the day becomes one file
    assert [p.name for p in (tmp_path / "2026-12-04").glob("*.parquet")] == ["c-000000000001-000000000010.parquet"]
    back = list(TickStore(tmp_path).iter_ticks(DAY))
    assert len(back) == 20 and [t.last_price for t in back if t.key == "NSE:TCS"] == [3000 + i for i in range(10)]
    assert TickStore(tmp_path).compact(DAY) == []  # nothing left to do: re-running is a no-op


def test_a_day_is_compacted_when_the_flushes_move_on(tmp_path):
    s = TickStore(tmp_path, flush_every=3600, compact_at=0)
    for i in range(3):
        s.append([full("NSE:INFY", i, 1500 + i)])
        s.flush()
    s.append([Tick("NSE:INFY", ist(2026, 12, 5, 9, 15), 1600.0)])
    s.flush()
    assert [p.name[:2] for p in s.files(DAY)] == ["c-"]
    assert [p.name[:2] for p in s.files("2026-12-05")] == ["f-"]
    assert len(s.read(DAY)) == 3 and len(s.read(date(2026, 12, 5))) == 1
    for i in range(3):  # late ticks of the ended day (a morning snapshot's old exchange time) do not
        s.append([full("NSE:INFY", 100 + i, 1400), Tick("NSE:INFY", ist(2026, 12, 5, 9, 16 + i), 1601.0)])
        s.flush()  # rewrite the whole day on every flush; close merges them
    assert sorted(p.name[:2] for p in s.files(DAY)) == ["c-", "f-", "f-", "f-"]
    s.close()
    assert [p.name[:2] for p in (tmp_path / "2026-12-04").glob("*.parquet")] == ["c-"]
    assert [p.name[:2] for p in (tmp_path / "2026-12-05").glob("*.parquet")] == ["c-"]  # nothing left behind
    assert len(TickStore(tmp_path).read(DAY)) == 6


def test_readers_ignore_files_a_committed_compaction_covers(tmp_path):
    import shutil

    s = TickStore(tmp_path, flush_every=3600, compact_at=0)
    for i in range(4):
        s.append([full("NSE:INFY", i, 1500 + i)])
        s.flush()
    folder = tmp_path / "2026-12-04"
    kept = tmp_path / "kept"
    kept.mkdir()
    for p in folder.glob("f-*.parquet"):
        shutil.copy(p, kept / p.name)
    s.append([full("NSE:INFY", 9, 1509)])
    s.flush()  # f-5, after the compaction below
    s.compact(DAY)
    for p in kept.iterdir():  # a crash after the commit, before the covered flushes were deleted
        shutil.copy(p, folder / p.name)
    s.append([full("NSE:INFY", 10, 1510)])
    s.flush()
    r = TickStore(tmp_path)
    assert [t.last_price for t in r.iter_ticks(DAY)] == [1500, 1501, 1502, 1503, 1509, 1510]
    assert len(r.query("select * from ticks")) == 6
    r.compact()  # re-run after the crash: nothing is doubled
    assert [p.name for p in r.files(DAY)] == ["c-000000000001-000000000006.parquet"]
    r.compact(grace=0)  # the leftovers go (at once: no reader to wait for)
    assert [p.name for p in folder.glob("*.parquet")] == ["c-000000000001-000000000006.parquet"]
    assert len(r.read(DAY)) == 6


def test_size_tiers_merge_compactions(tmp_path):
    s = TickStore(tmp_path, flush_every=3600, compact_at=2)
    n = 0
    for i in range(40):
        s.append([full("NSE:INFY", i, 1500 + i)])
        s.flush()
        n += 1
        live = s.files(DAY)
        assert len([p for p in live if p.name.startswith("c-")]) <= 8 * 3  # a few tiers, never one file per flush
    assert [t.last_price for t in s.iter_ticks(DAY)] == [1500 + i for i in range(40)]


def test_days_of_the_per_instrument_layout_are_still_read(tmp_path):
    import pyarrow.parquet as pq

    from tradekit.data._tickarrow import _to_table

    old = tmp_path / "2026-12-04" / "NSE%3AINFY"
    old.mkdir(parents=True)
    ticks = [full("NSE:INFY", i, 1500 + i) for i in range(3)]
    pq.write_table(_to_table("NSE:INFY", [0] * 3, [1, 2, 3], ticks), old / "p-000000000001.parquet")
    s = TickStore(tmp_path, flush_every=3600)
    assert s.days() == [DAY] and s.keys(DAY) == ["NSE:INFY"]
    s.append([full("NSE:TCS", 1, 3000, token=2953217)])
    s.close()
    assert [t.key for t in TickStore(tmp_path).iter_ticks(DAY)] == ["NSE:INFY", "NSE:INFY", "NSE:TCS", "NSE:INFY"]
    assert list(TickStore(tmp_path).iter_ticks(DAY, ["NSE:INFY"])) == ticks


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


_CRASH_WRITER = textwrap.dedent("""
    import os, sys
    from datetime import timedelta
    from tradekit.clock import ist
    from tradekit.data.tickstore import TickStore
    from tradekit.data.types import Tick
    root, die_in = sys.argv[1], sys.argv[2]
    if die_in != "none":  # a deterministic kill inside a compaction: before or after its commit
        import tradekit.data.tickstore as m
        real = getattr(m.TickStore, die_in)
        def dying(self, *a, **k):
            if die_in == "_commit" and not str(a[1].name).startswith("c-"):
                return real(self, *a, **k)
            if die_in == "_delete" and not list(a[0]):
                return real(self, *a, **k)
            if die_in == "_delete":
                os._exit(9)  # the compaction is committed; its inputs are still on disk
            os._exit(9)  # the merge is written but not renamed
        setattr(m.TickStore, die_in, dying)
    s = TickStore(root, flush_every=3600, compact_at=3)
    t0 = ist(2026, 12, 4, 9, 15)
    n = 0
    for i in range(100000):
        s.append([Tick(f"NSE:S{j % 20:02d}", t0 + timedelta(milliseconds=n + j), 100.0 + j, volume=n + j) for j in range(50)])
        s.flush()
        n += 50
        print(n, flush=True)  # every id below n is on disk
        if i % 4 == 3:
            s.compact()
""")


def _crash_check(root: Path, confirmed: int) -> list[int]:
    ids = [t.volume for t in TickStore(root).iter_ticks(DAY)]
    assert len(ids) == len(set(ids)), "a tick is visible twice"
    assert set(range(confirmed)) <= set(ids), "a flushed tick was lost"
    assert max(ids, default=-1) < confirmed + 50  # at most the flush in flight, whole or not at all
    assert sorted(ids) == list(range(len(ids)))
    return ids


@pytest.mark.parametrize("die_in", ["_commit", "_delete"])
def test_a_kill_inside_a_compaction_neither_loses_nor_doubles_ticks(tmp_path, die_in):
    r = subprocess.run([sys.executable, "-c", _CRASH_WRITER, str(tmp_path), die_in], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert r.returncode == 9, r.stderr
    confirmed = int(r.stdout.split()[-1]) if r.stdout.split() else 0
    before = _crash_check(tmp_path, confirmed)
    s = TickStore(tmp_path)
    s.compact()  # re-run after the crash
    assert sorted(_crash_check(tmp_path, confirmed)) == sorted(before)
    assert len(s.files(DAY)) == 1


def test_kill_9_at_random_points_never_loses_flushed_or_doubles_ticks(tmp_path):
    import random
    import signal
    import time

    rnd = random.Random(20261204)
    for k in range(4):
        root = tmp_path / f"r{k}"
        p = subprocess.Popen([sys.executable, "-c", _CRASH_WRITER, str(root), "none"], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        confirmed = 0
        try:
            want = rnd.randint(3, 25)
            for _ in range(want):
                line = p.stdout.readline()
                if not line:
                    break
                confirmed = int(line)
            time.sleep(rnd.uniform(0, 0.03))  # somewhere inside a flush or a compaction
            p.send_signal(signal.SIGKILL)
            p.wait(30)
            for line in p.stdout.read().split():  # flushes it confirmed before it died
                confirmed = int(line)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        _crash_check(root, confirmed)
        w = TickStore(root, flush_every=0)
        w.compact()
        ids = _crash_check(root, confirmed)
        w.append([Tick("NSE:S00", T0 + timedelta(hours=1), 1.0, volume=len(ids))])  # a new writer carries on
        w.close()
        _crash_check(root, len(ids) + 1)


def test_readers_running_beside_a_compacting_writer_see_every_tick_once(tmp_path):
    import threading

    s = TickStore(tmp_path, flush_every=3600, compact_at=2)
    stop = threading.Event()
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def reader():
        r = TickStore(tmp_path)
        while not stop.is_set():
            try:
                ids = [t.volume for t in r.iter_ticks(DAY)]
                n = int(r.query("select count(*) n from ticks")["n"][0])
            except BaseException as e:  # noqa: BLE001 - surfaced below
                errors.append(e)
                return
            seen.append((len(ids), len(set(ids))))
            assert n >= len(ids)

    th = threading.Thread(target=reader)
    th.start()
    try:
        for i in range(40):
            s.append([Tick("NSE:INFY", T0 + timedelta(seconds=i), 1500.0, volume=i)])
            s.flush()
            if i % 10 == 9:
                s.compact()
    finally:
        stop.set()
        th.join()
    assert not errors, errors
    assert seen and all(a == b for a, b in seen)  # never a tick twice


def test_covered_files_are_deleted_once_the_readers_grace_has_passed(tmp_path):
    s = TickStore(tmp_path, flush_every=3600, compact_at=2)
    for i in range(2):
        s.append([full("NSE:INFY", i, 1500 + i)])
        s.flush()
    folder = tmp_path / "2026-12-04"
    assert len(list(folder.glob("f-*.parquet"))) == 2 and len(s.files(DAY)) == 1  # covered, kept for readers
    (c,) = folder.glob("c-*.parquet")
    os.utime(c, (c.stat().st_atime - 120, c.stat().st_mtime - 120))  # committed two minutes ago
    s.append([full("NSE:INFY", 5, 1505)])
    s.flush()
    assert sorted(p.name[:2] for p in folder.glob("*.parquet")) == ["c-", "f-"]
    assert [t.last_price for t in s.iter_ticks(DAY)] == [1500, 1501, 1505]


def test_close_leaves_no_covered_file_of_an_ended_day(tmp_path):
    s = TickStore(tmp_path, flush_every=3600, compact_at=0)
    for i in range(3):
        s.append([full("NSE:INFY", i, 1500 + i)])
        s.flush()
    s.append([Tick("NSE:INFY", ist(2026, 12, 5, 9, 15), 1600.0)])
    s.flush()  # 12-04 ended: compacted, its flush files kept a while for readers
    s.close()
    assert sorted(p.name[:2] for p in tmp_path.rglob("*.parquet")) == ["c-", "c-"]
