"""A quiet run's volatility window brought to its end state at once (``quiet._window_after``) equals
:func:`push_window` minute by minute: the same entries in both queues, in the same order."""

from __future__ import annotations

from collections import deque

from hypothesis import example, given, settings, strategies as st

from tradekit.marketdata.quiet import _window_after
from tradekit.risk.breakers import push_window

_MIN = 60_000_000_000  # a minute in ns

prices = st.sampled_from([100.0, 100.05, 99.95, 100.1, 99.9, 101.0, 98.5])


@given(before=st.lists(st.tuples(st.integers(0, 3), prices), max_size=12),
       run=st.lists(st.tuples(st.integers(0, 3), prices), min_size=1, max_size=30),
       ns0_back=st.integers(0, 3), window=st.sampled_from([30.0, 60.0, 120.0, 180.0, 300.0, 1e9]),
       a=st.integers(0, 3), behind=st.sampled_from([0, 0, 0, 2, 8]))
@example(before=[(0, 99.9)], run=[(0, 101.0), (1, 100.1), (1, 100.05), (3, 101.0), (3, 100.1), (3, 101.0), (1, 100.1)],
         ns0_back=0, window=300.0, a=0, behind=8)  # queued entries newer than the run's first minutes
@settings(max_examples=400, deadline=None)
def test_the_window_after_a_run_equals_pushing_each_minute(before, run, ns0_back, window, a, behind):
    # ``behind``: the run starts that many minutes before the queues' newest entry (a clock that went
    # back, which a replay never does): the queues are then not in time order and every minute is pushed
    base = 1_471_319_100_000_000_000  # 2016-08-16 09:15 IST
    lows, highs = deque(), deque()
    t_ns = base
    for gap, px in before:  # the queues as earlier minutes left them
        t_ns += gap * _MIN
        t = (t_ns // 1000) / 1_000_000
        push_window(lows, highs, t, px, t - window)
    ends, closes = [], [0.0] * a  # minutes a .. of the run; closes[j0 + i] with j0 = 0
    e = t_ns - behind * _MIN
    for gap, px in run:
        e += gap * _MIN
        ends.append(e)
        closes.append(px)
    ends = [0] * a + ends
    ns0 = max(t_ns - behind * _MIN, ends[a] - ns0_back * _MIN)  # the clock at the run's start
    ref_l, ref_h = deque(lows), deque(highs)
    for i in range(a, len(ends)):
        x = ends[i] if ends[i] > ns0 else ns0
        t = (x // 1000) / 1_000_000
        push_window(ref_l, ref_h, t, closes[i], t - window)
    _window_after(lows, highs, ends, ns0, closes, 0, a, len(ends), window)
    assert list(lows) == list(ref_l)
    assert list(highs) == list(ref_h)
