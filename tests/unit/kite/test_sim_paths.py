"""The sandbox's tick paths, volume split and market bends; the sandbox clock (no server)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradekit.brokers.kite.sim.paths import (check_ticks_per_bar, on_grid, split_volume, tick_path, tick_times)
from tradekit.clock import IST

TICK = 0.05


@st.composite
def bars(draw):
    units = st.integers(1, 400_000)  # prices in ticks of 0.05
    a, b, c, d = (draw(units) for _ in range(4))
    lo, hi = min(a, b, c, d), max(a, b, c, d)
    o = draw(st.integers(lo, hi))
    cl = draw(st.integers(lo, hi))
    return o * TICK, hi * TICK, lo * TICK, cl * TICK


@given(bars(), st.integers(4, 60))
def test_a_path_opens_closes_and_visits_both_extremes(bar, n):
    o, h, lo, c = (round(x, 2) for x in bar)
    p = tick_path(o, h, lo, c, n, TICK)
    assert len(p) == n and p[0] == o and p[-1] == c
    assert max(p) == h and min(p) == lo
    assert all(abs(on_grid(x, TICK) - x) < 1e-9 for x in p)
    first_low, first_high = p.index(lo), p.index(h)
    if c > o:  # a rising bar dips first
        assert first_low <= first_high
    elif c < o:
        assert first_high <= first_low


@given(bars(), st.integers(1, 3))
def test_fewer_than_four_ticks_keep_the_last_anchors(bar, n):
    o, h, lo, c = (round(x, 2) for x in bar)
    p = tick_path(o, h, lo, c, n, TICK)
    assert len(p) == n and p[-1] == c and all(lo <= x <= h for x in p)


@given(st.integers(0, 10**9), st.integers(1, 60))
def test_the_volume_split_sums_to_the_bar(v, n):
    parts = split_volume(v, n)
    assert len(parts) == n and sum(parts) == v and max(parts) - min(parts) <= 1 and min(parts) >= 0


@given(st.integers(1, 60))
def test_tick_times_stay_inside_the_minute(n):
    start = datetime(2026, 12, 7, 9, 15, tzinfo=IST)
    ts = tick_times(start, n)
    assert ts == sorted(ts) and start < ts[0] and ts[-1] < start + timedelta(minutes=1)
    assert all(int(t.timestamp()) // 60 == int(start.timestamp()) // 60 for t in ts)


@pytest.mark.parametrize("bad", [0, 61, -1, 2.5, True, "6"])
def test_ticks_per_bar_is_checked(bad):
    with pytest.raises(ValueError, match="ticks_per_bar"):
        check_ticks_per_bar(bad)


@pytest.fixture(scope="module")
def market():
    from tradekit.brokers.kite.sim.market import SimMarket
    from tradekit.market.instruments import InstrumentStore

    return SimMarket(InstrumentStore.bundled(), symbols=["INFY", "NIFTY50"], trade_date=date(2026, 12, 7), ticks_per_bar=4)


def test_every_listed_instrument_is_priced_and_sensex_follows_nifty(market):
    from tradekit.brokers.kite.sim.market import SENSEX_PER_NIFTY
    from tradekit.data.bars import SAMPLE_DIR, load_bars

    for inst in market.instruments:
        s = market.get(inst.key)
        assert s is not None and s.last > 0, inst.key
    assert market.get("NSE:TCS").static and market.get("NSE:TCS").last == float(
        load_bars(SAMPLE_DIR / "NSE_TCS_1d.csv.gz")["close"].iloc[-1])
    sensex, nifty = market.get("BSE:SENSEX"), market.get("NSE:NIFTY 50")
    assert sensex.token == 265 and sensex.is_index and sensex.prev_close == round(nifty.prev_close * SENSEX_PER_NIFTY, 2)
    day = market.candles(market.get("NSE:TCS").token, "day", datetime(2026, 11, 1, tzinfo=IST), datetime(2026, 12, 7, tzinfo=IST))
    assert len(day) > 10 and day.index[-1].date() < date(2026, 12, 7)
    assert market.candles(market.get("NSE:TCS").token, "minute", datetime(2026, 11, 1, tzinfo=IST),
                          datetime(2026, 12, 7, tzinfo=IST)).empty


def test_moves_and_drift_bend_the_replay():
    from tradekit.brokers.kite.sim.market import SimMarket
    from tradekit.market.instruments import InstrumentStore

    m = SimMarket(InstrumentStore.bundled(), symbols=["INFY"], trade_date=date(2026, 12, 7), ticks_per_bar=4)
    s = m.get("NSE:INFY")
    raw = [float(x) for x in s.c[:3]]
    with pytest.raises(ValueError, match="percent"):
        m.move("NSE:INFY", -100)
    with pytest.raises(KeyError, match="instrument"):
        m.move("NSE:NOPE", 1)
    with pytest.raises(ValueError, match="no minute bars"):
        m.set_drift("NSE:TCS", -1)
    r = m.move("NSE:ITC", 5)  # a static instrument moves too
    assert r.c == on_grid(r.o * 1.05, 0.05) and m.get("NSE:ITC").last == r.c
    m.set_drift("NSE:INFY", -2)
    m.step(3)
    for k in range(3):
        assert m.bar(s, k)[3] == pytest.approx(raw[k] * 0.98 ** (k + 1), abs=0.1)
    assert s.volume == int(s.v[:3].sum()) and s.last == m.bar(s, 2)[3]


def test_the_sandbox_clock_follows_the_sandbox():
    from tradekit.clock import SandboxClock

    readings = [{"day": "2026-12-07", "time": "2026-12-07T10:00:00+05:30", "speed": 60.0}]
    clock = SandboxClock("http://127.0.0.1:1", fetch=lambda: readings[-1], resync_seconds=0.0)
    assert clock.day == date(2026, 12, 7) and clock.speed == 60.0
    a = clock.now()
    assert a >= datetime(2026, 12, 7, 10, 0, tzinfo=IST)
    readings.append({"day": "2026-12-07", "time": "2026-12-07T09:00:00+05:30", "speed": 0.0})  # behind: never backwards
    assert clock.now() >= a
    readings.append({"day": "2026-12-07", "time": "2026-12-07T11:00:00+05:30", "speed": 0.0})
    assert clock.now() == datetime(2026, 12, 7, 11, 0, tzinfo=IST)
    with pytest.raises(ConnectionError):
        SandboxClock("x", fetch=lambda: {"time": "nonsense"})


def test_the_sandbox_clock_follows_a_stopped_sandbox_that_starts_at_once():
    """Defect: a clock read while the sandbox stood at 09:14 (speed 0) kept 09:14 for resync_seconds
    (5 s) after a /sim/speed 60 started it: five replayed minutes behind the market's ticks."""
    import time

    from tradekit.clock import SandboxClock

    readings = [{"day": "2026-12-07", "time": "2026-12-07T09:14:00+05:30", "speed": 0.0}]
    clock = SandboxClock("http://127.0.0.1:1", fetch=lambda: readings[-1])
    assert clock.now() == datetime(2026, 12, 7, 9, 14, tzinfo=IST)
    readings.append({"day": "2026-12-07", "time": "2026-12-07T09:17:00+05:30", "speed": 60.0})  # started, 3 min on
    time.sleep(0.15)
    assert clock.now() >= datetime(2026, 12, 7, 9, 17, tzinfo=IST) and clock.speed == 60.0
    readings.append({"day": "2026-12-07", "time": "2026-12-07T09:17:30+05:30", "speed": 60.0})
    time.sleep(0.15)
    assert clock.now() < datetime(2026, 12, 7, 9, 17, 30, tzinfo=IST)  # running: re-read every resync_seconds only


def test_default_clock_is_real_unless_rehearsing(monkeypatch):
    from tradekit.clock import SANDBOX_CLOCK_ENV, RealClock, default_clock

    monkeypatch.delenv(SANDBOX_CLOCK_ENV, raising=False)
    assert isinstance(default_clock(), RealClock)
    monkeypatch.setenv(SANDBOX_CLOCK_ENV, "http://127.0.0.1:9")
    with pytest.raises(ConnectionError):  # rehearsing, and the sandbox is not there: no silent real clock
        default_clock()


def test_a_drift_falls_along_the_minute_not_in_a_step_at_its_start():
    """Defect: a drift bent each whole bar by the minute's move at its first tick: a -1 %/min drift
    was a 1 % gap every minute (a daily-loss breaker then tripped a whole step past its limit)."""
    from tradekit.brokers.kite.sim.market import SimMarket
    from tradekit.market.instruments import InstrumentStore

    m = SimMarket(InstrumentStore.bundled(), symbols=["INFY"], trade_date=date(2026, 12, 7), ticks_per_bar=4)
    s = m.get("NSE:INFY")
    raw_o, raw_c = float(s.o[0]), float(s.c[0])
    m.set_drift("NSE:INFY", -2)
    ticks = [r.c for r in m.step(1)[0] if r.series is s]
    assert ticks[0] == pytest.approx(raw_o * 0.98 ** 0.25, abs=0.05)  # a quarter of the minute's drift
    assert ticks[-1] == pytest.approx(raw_c * 0.98, abs=0.05)  # the whole minute's by its end
