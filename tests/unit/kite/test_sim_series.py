"""kite-sim's day statistics of one instrument (``Series.trade``), shared by the equity and the option ticker."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from tradekit.brokers.kite.sim.market import Series
from tradekit.clock import IST

T = datetime(2026, 12, 7, 9, 15, tzinfo=IST)


def _series(is_index=False, last=0.0) -> Series:
    e = np.empty(0)
    return Series(key="NSE:X", token=1, tick=0.05, is_index=is_index, tod=e, o=e, h=e, l=e, c=e, v=e,
                  history=pd.DataFrame(), prev_close=last, last=last)


def test_trade_opens_the_day_and_keeps_high_low_last_volume_turnover():
    s = _series()
    s.trade(101.0, 100.0, 50, T, opens_at=101.0, quantity=2)  # a replayed instrument opens at its first tick
    assert (s.day_open, s.day_high, s.day_low, s.last) == (101.0, 101.0, 100.0, 101.0)
    assert (s.volume, s.turnover, s.last_quantity, s.last_trade_time, s.updated) == (50, 50 * 100.5, 2, T, T)
    later = T.replace(minute=16)
    s.trade(99.0, 101.0, 0, later, opens_at=99.0, quantity=0)  # no volume: no trade time, the open stays
    assert (s.day_open, s.day_high, s.day_low, s.last, s.volume) == (101.0, 101.0, 99.0, 99.0, 50)
    assert (s.last_quantity, s.last_trade_time, s.updated) == (2, T, later)


def test_a_contract_opens_at_its_price_before_the_tick_and_an_index_trades_without_volume():
    c = _series(last=80.0)
    c.trade(82.0, 80.0, 75, T, opens_at=80.0, quantity=75)
    assert (c.day_open, c.day_high, c.day_low, c.last_quantity) == (80.0, 82.0, 80.0, 75)
    i = _series(is_index=True)
    i.trade(24000.0, 23990.0, 0, T, opens_at=24000.0, quantity=0)
    assert i.last_trade_time == T and i.volume == 0 and i.day_open == 24000.0
