"""Property tests of the quality state machine and the failover poll rotation."""

from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from tests.unit.marketdata.conftest import FakeMono, tick
from tradekit.marketdata import MarketDataConfig, MarketDataHub, QualityChecker, QualitySettings
from tradekit.marketdata.quality import KeyState

prices = st.lists(st.floats(min_value=50, max_value=150, allow_nan=False, allow_infinity=False), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(prices, st.integers(min_value=1, max_value=3))
def test_an_accepted_jump_is_always_a_confirmed_one(path, confirm):
    cfg = QualitySettings(jump_min_pct=5.0, jump_min_ticks=10_000, confirm_ticks=confirm, default_band_pct=None)
    q = QualityChecker(cfg)
    s = KeyState()
    last = None
    for i, p in enumerate(path):
        ok, found = q.check("NSE:X", s, tick("NSE:X", p), float(i))
        if ok:
            if last is not None and abs(math.log(p / last)) > math.log(1.05) + 1e-12:
                assert any(f.what == "confirmed" for f in found), (last, p, found)
            s.accept(tick("NSE:X", p))
            last = p
        else:
            assert s.quarantined is not None or any(f.what == "dropped" for f in found)
    # the accepted state never holds a price that was not sent
    assert s.last == 0.0 or s.last in path


@settings(max_examples=100, deadline=None)
@given(prices)
def test_with_checks_off_every_positive_print_is_accepted(path):
    q = QualityChecker(QualitySettings(enabled=False))
    s = KeyState()
    for p in path:
        assert q.check("NSE:X", s, tick("NSE:X", p), 0.0)[0]


def test_failover_polls_take_turns_over_more_instruments_than_one_request_holds():
    mono = FakeMono()
    h = MarketDataHub(MarketDataConfig(failover_max_instruments=2, failover_after_seconds=1), monotonic=mono)
    asked = []
    h.attach_source(type("S", (), {"subscribe": lambda *a: None, "unsubscribe": lambda *a: None})(), "kite",
                    poller=lambda keys: asked.append(keys) or [])
    h.want(["NSE:A", "NSE:B", "NSE:C"], "watchlist")
    for _ in range(4):
        mono.t += 1.5
        h.poll()
    assert asked[:3] == [["NSE:A", "NSE:B"], ["NSE:C", "NSE:A"], ["NSE:B", "NSE:C"]]
    assert all(len(k) <= 2 for k in asked)
