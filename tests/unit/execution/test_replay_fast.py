"""The replay's quiet-run fast path (``run_replay(fast=True)``, the default) against the per-bar
reference (``fast=False``): on random bar paths (gaps, limit moves, minutes without volume, a
second instrument on its own minutes or on the same ones) with the breakers armed on tight
thresholds, both write the same journal, event for event, and leave the same book."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from tradekit.clock import IST
from tradekit.config import load_config
from tradekit.execution.replay import run_replay
from tradekit.model.enums import Product
from tradekit.session import Session
from tradekit.strategies import SmaCrossover

_RANDOM_IDS = {"origin", "id"}  # a session's risk origin and an alert's id are random per run


def _bars(start: datetime, steps: list[tuple[int, float, int]], price: float) -> pd.DataFrame:
    """One bar per step: ``(minutes after the previous bar, return, volume)``; a bar keeps to the
    session (09:15-15:29) and rolls to the next weekday's open past it."""
    idx, rows = [], []
    t = start
    for gap, r, v in steps:
        t = t + timedelta(minutes=gap)
        if t.hour * 60 + t.minute > 15 * 60 + 29:
            t = (t + timedelta(days=1)).replace(hour=9, minute=15 + gap % 10)
            while t.weekday() >= 5:
                t += timedelta(days=1)
        o = price
        price = round(max(1.0, price * (1 + r)), 2)
        idx.append(t)
        rows.append((o, max(o, price) + 0.05, min(o, price) - 0.05, price, v))
    df = pd.DataFrame(rows, columns=["open", "high", "low", "close", "volume"], index=pd.DatetimeIndex(idx))
    df["volume"] = df["volume"].astype("int64")
    return df


step = st.tuples(st.sampled_from([1, 1, 1, 1, 2, 3, 7, 25]),  # minutes to the next bar: mostly the next minute
                 st.one_of(st.floats(-0.004, 0.004), st.sampled_from([0.05, -0.05, 0.1, -0.1, 0.0])),  # limit moves
                 st.sampled_from([0, 0, 120, 5000]))
scenario = st.fixed_dictionaries({
    "a": st.lists(step, min_size=20, max_size=140),
    "b": st.one_of(st.none(), st.lists(step, min_size=5, max_size=40)),
    "b_same_minutes": st.booleans(),
    "start_minute": st.integers(0, 360),
    "product": st.sampled_from([Product.MIS, Product.CNC]),
    "ratio": st.sampled_from([1.2, 1.5, 3.0]),
    "move_pct": st.sampled_from([None, 0.3, 2.0]),
    "loss": st.sampled_from([None, 600, 3000]),
    "breakers": st.booleans(),
})


def _measures(s) -> tuple:
    """What the risk manager and the hub measure minute by minute, to the last bit: the gate's
    book summary (patched per mark), today's P&L and peak, the volatility breaker's state, the
    quality state, the clock, and which Decimal objects the positions and the summary share."""
    g, brk = s.risk.gate, s.risk.breakers
    m = g.summary
    summary = (m.seq, m.version, m.full_version, m.fills, m.npos, m.gross, m.net, m.unreal, m.fixed, dict(m.qty),
               dict(m.value), dict(m.price), dict(m.cnc), dict(m.sector), list(m.deltas), [list(r) for r in m.rows],
               [str(x) for x in m.lps], [x is p.last_price for x, p in zip(m.lps, m.positions)])
    vol = {k: (v.last, v.last_t, v.n, v.fast, v.slow, list(v.lows), list(v.highs)) for k, v in brk._vol.items()}
    quality = {k: (q.last, q.ts, q.n, q.var) for k, q in s.market.state.items()}
    return (summary, (g.day.day, g.day.baseline, g.day.peak, g.day.last), vol, brk.last_tick, quality, s.clock.ns,
            s.market.last_packet, dict(s.market._dirty))


def _run(sc: dict, tmp: str, fast: bool):
    start = datetime(2016, 8, 16, 9, 15, tzinfo=IST) + timedelta(minutes=sc["start_minute"])
    a = _bars(start, sc["a"], 1000.0)
    data = {"NSE:RELIANCE": a}
    if sc["b"] is not None:
        if sc["b_same_minutes"]:  # minutes with both instruments: packets of two ticks
            b = _bars(start, sc["b"], 500.0).iloc[: len(a)]
            b.index = a.index[: len(b)]
        else:  # its own minutes, 30 s off the first's: runs break where the instrument changes
            b = _bars(start + timedelta(seconds=30), sc["b"], 500.0)
        data["NSE:INFY"] = b
    cfg = load_config(overrides={
        "data_dir": f"{tmp}/var",
        "execution": {"charges_as_of": "2026-11-20"},
        "paper": {"slippage": {"model": "none"}, "latency_ms": 0, "participation": 0},
        "risk": {"loss": {"max_daily_loss": sc["loss"], "max_drawdown": sc["loss"]},
                 "breakers": {"enabled": sc["breakers"], "volatility_ratio": sc["ratio"], "volatility_min_ticks": 3,
                              "volatility_move_pct": sc["move_pct"], "volatility_move_window_seconds": 180.0}}})
    first = min(df.index[0] for df in data.values()).to_pydatetime()
    s = Session.for_replay(cfg, f"{tmp}/{'fast' if fast else 'ref'}.db", first)
    try:
        run_replay(s, data, strategies=[SmaCrossover(2, 5, 20, product=sc["product"])], fast=fast)
        events = [(e.seq, e.ts, e.type, {k: v for k, v in e.payload.items() if k not in _RANDOM_IDS})
                  for e in s.journal.events()]
        b = s.book
        book = (sorted((k, p.quantity, p.average_price, p.last_price, p.realized_pnl) for k, p in b.positions.items()),
                b.cash, b.charges_total, b.net_pnl, sorted((o.client_order_id, o.status.value, o.filled_quantity)
                                                           for o in b.orders.values()),
                s.risk.state.value, s.market.counts, {k: q[0] for k, q in s.market.quotes.items()},
                dict(s.market.prices or {}), sorted(s.risk.breakers.latched), _measures(s))
    finally:
        s.close()
    return events, book


@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(scenario)
def test_the_fast_path_writes_the_per_bar_journal_and_book(tmp_path_factory, sc):
    tmp = str(tmp_path_factory.mktemp("fast"))
    fast_events, fast_book = _run(sc, tmp, True)
    ref_events, ref_book = _run(sc, tmp, False)
    assert [e[2] for e in fast_events] == [e[2] for e in ref_events]
    assert fast_events == ref_events
    assert fast_book == ref_book


def test_a_breaker_trips_on_the_same_bar_in_the_middle_of_a_quiet_run(tmp_path):
    """A held position, then a limit move deep inside a quiet stretch: the trip (and the orders
    it cancels and the state it sets) lands on that bar in both paths."""
    steps = [(1, 0.0005 * ((i % 5) - 2), 100) for i in range(60)] + [(1, -0.1, 100)] + [(1, 0.0002, 100)] * 40
    sc = {"a": steps, "b": None, "b_same_minutes": False, "start_minute": 0, "product": Product.CNC, "ratio": 3.0,
          "move_pct": 2.0, "loss": 600, "breakers": True}
    fast_events, fast_book = _run(sc, str(tmp_path), True)
    ref_events, ref_book = _run(sc, str(tmp_path), False)
    assert any(e[2] == "risk.limit_breach" for e in ref_events)
    assert fast_events == ref_events
    assert fast_book == ref_book


def test_a_quiet_run_takes_most_minutes(tmp_path):
    """The fast path is taken: the hub's packets and the clock agree with the reference, and most
    minutes went through ``on_quiet_bars`` (counted by a wrapper around it)."""
    steps = [(1, 0.001 * np.sin(i / 3), 100) for i in range(200)]
    sc = {"a": steps, "b": None, "b_same_minutes": False, "start_minute": 0, "product": Product.CNC, "ratio": 3.0,
          "move_pct": None, "loss": None, "breakers": True}
    from tradekit.marketdata.hub import MarketDataHub

    taken = []
    orig = MarketDataHub.on_quiet_bars

    def counting(self, *a, **kw):
        n = orig(self, *a, **kw)
        taken.append(n)
        return n

    MarketDataHub.on_quiet_bars = counting
    try:
        fast = _run(sc, str(tmp_path), True)
    finally:
        MarketDataHub.on_quiet_bars = orig
    assert sum(taken) > 100
    assert fast == _run(sc, str(tmp_path), False)


def test_bars_on_a_microsecond_index_replay_at_their_own_times(tmp_path):
    """pandas makes a microsecond index from Python datetimes; the replay read its integers as
    nanoseconds (every bar in January 1970: no signal ever came due, nothing traded)."""
    steps = [(1, 0.002 * ((i % 7) - 3), 100) for i in range(60)]
    a = _bars(datetime(2016, 8, 16, 9, 15, tzinfo=IST), steps, 1000.0)
    assert str(a.index.dtype) == "datetime64[us, Asia/Kolkata]"
    sc = {"a": steps, "b": None, "b_same_minutes": False, "start_minute": 0, "product": Product.MIS, "ratio": 3.0,
          "move_pct": None, "loss": None, "breakers": True}
    events, _ = _run(sc, str(tmp_path), True)
    fills = [e for e in events if e[2] == "fill"]
    assert fills and all(e[1].startswith("2016-08-16T") for e in fills)


@settings(max_examples=300, deadline=None)
@given(st.integers(-4_000_000_000 * 10**9, 8_000_000_000 * 10**9))
def test_ns_to_dt_equals_the_zone_lookup(ns):
    """The replay clock's datetimes (plain arithmetic from 1946 on) equal the zone's own reading,
    before and after Asia/Kolkata's last offset change (1945), to the microsecond."""
    from tradekit.clock import SimClock, ist_day_no, ns_to_dt

    ref = datetime.fromtimestamp(ns // 1_000_000_000, IST).replace(microsecond=(ns // 1000) % 1_000_000)
    got = ns_to_dt(ns)
    dn = ist_day_no(ns)  # the day without the datetime, from 1946 on
    assert dn is None if ns < -757_382_400 * 10**9 else date(1970, 1, 1) + timedelta(days=dn) == ref.date()
    assert (got, got.tzinfo, got.fold, got.utcoffset(), got.isoformat()) == (ref, ref.tzinfo, ref.fold, ref.utcoffset(),
                                                                             ref.isoformat())
    assert got.timestamp() == ref.timestamp()
    c = SimClock(ns_to_dt(-5 * 10**18))
    c.set_ns(ns)
    assert c.now() == ref and c.now_iso() == ref.isoformat()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(0, 10**12)), max_size=60))
def test_day_volumes_are_each_keys_running_sum_per_day(rows):
    """The replay's ticks carry each key's volume since its day's first bar: computed once for all
    bars, it equals the running sum the per-minute loop kept (bars in time order, days ascending)."""
    from tradekit.execution.replay import _day_volumes

    rows = sorted(rows, key=lambda r: r[1])  # days never go back in a replay
    ref, run, seen = [], {}, {}
    for k, d, v in rows:
        if seen.get(k) != d:
            seen[k], run[k] = d, 0
        run[k] += v
        ref.append(run[k])
    got = _day_volumes(np.array([r[0] for r in rows], dtype=np.int32), np.array([r[1] for r in rows], dtype=np.int64),
                       np.array([r[2] for r in rows], dtype=np.int64))
    assert got == ref and all(type(x) is int for x in got)
