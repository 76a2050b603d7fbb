"""Indicator conditions on replayed bundled minute bars (INFY, 2016-08-17), checked against pandas.

The bars are replayed as a paper session replays them: one tick per bar through the market-data
hub (close price, the day's volume so far). The conditions build their own bars from those ticks
with the session-aware resampler and compute the indicators with vectorbt / pandas-ta-classic;
the test computes the same series with plain pandas and finds the first crossing itself."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from tests.unit.execution.conditions_helpers import config, open_session, pipeline, record
from tradekit.clock import IST
from tradekit.data.bars import load_bars, sample_path
from tradekit.data.types import Tick
from tradekit.store.events import EventType as E

DAY = "2016-08-17"


@pytest.fixture(scope="module")
def bars():
    df = load_bars(sample_path("INFY"), start=DAY, end=DAY)
    assert len(df) > 300
    return df


def first_cross(value: pd.Series, level: float, cross: str) -> int | None:
    """First bar whose value crossed ``level`` (from strictly below to at-or-above for ``above``),
    counting from the first bar the value is defined (its side is the state then)."""
    v = value.to_numpy()
    prev = None
    for i, x in enumerate(v):
        if not np.isfinite(x):
            continue
        side = 1 if x > level else (-1 if x < level else 0)
        if prev is not None and ((cross == "above" and prev < 0 <= side) or (cross == "below" and prev > 0 >= side)):
            return i
        prev = side
    return None


def replay(tmp_path, bars, conditions: dict[str, dict]):
    t0 = datetime.fromisoformat(f"{DAY}T09:14:00+05:30")
    s = open_session(config(tmp_path, execution={"charges_as_of": "2026-11-20"}), t0)
    try:
        pipeline(s).ingest([record(k, condition=c, signal_time=t0.isoformat()) for k, c in conditions.items()])
        ids = {c.signal_id: c.id for c in s.conditions()}
        assert set(ids) == set(conditions)
        cum = 0
        for ts, row in bars.iterrows():
            cum += int(row.volume)
            s.clock.set(ts.to_pydatetime())
            s.market.on_ticks([Tick("NSE:INFY", ts.to_pydatetime(), float(row.close), None, "quote",
                                    last_quantity=int(row.volume), volume=cum)], "paper")
        fired = {ev.payload["condition_id"]: datetime.fromisoformat(ev.payload["at"])
                 for ev in s.journal.events(types=(E.CONDITION_TRIGGERED,))}
        counts = pd.Series([ev.payload["condition_id"] for ev in s.journal.events(types=(E.CONDITION_TRIGGERED,))])
        assert counts.value_counts().max() == 1 if len(counts) else True  # each fires once at most
        return {k: fired.get(ids[k]) for k in conditions}
    finally:
        s.close()


def test_sma_rsi_and_vwap_crossings_match_pandas(tmp_path, bars):
    close = bars["close"]
    sma = close.rolling(5).mean() - close.rolling(20).mean()
    ema = close.ewm(span=5, adjust=False).mean() - close.ewm(span=20, adjust=False).mean()
    delta = close.diff()
    up = delta.clip(lower=0).rolling(14).mean()
    down = (-delta.clip(upper=0)).rolling(14).mean()
    rsi = 100 - 100 / (1 + up / down)
    vwap = close - (close * bars["volume"]).cumsum() / bars["volume"].cumsum()  # one tick a bar: h = l = c
    want = {
        "sma": first_cross(sma, 0, "above"),
        "sma-down": first_cross(sma, 0, "below"),
        "rsi": first_cross(rsi, 60, "above"),
        "vwap": first_cross(vwap, 0, "below"),
    }
    assert all(v is not None for v in want.values()), want
    got = replay(tmp_path, bars, {
        "sma": {"kind": "indicator", "indicator": "sma_cross", "fast": 5, "slow": 20, "cross": "above"},
        "sma-down": {"kind": "indicator", "indicator": "sma_cross", "fast": 5, "slow": 20, "cross": "below"},
        "rsi": {"kind": "indicator", "indicator": "rsi", "window": 14, "level": 60, "cross": "above"},
        "vwap": {"kind": "indicator", "indicator": "vwap", "cross": "below"},
    })
    assert got == {k: bars.index[i].to_pydatetime() for k, i in want.items()}
    # the EMA crossing too (vectorbt's EMA is pandas' adjust=False EWM)
    assert first_cross(ema, 0, "above") is not None


def test_five_minute_bars_are_session_anchored(tmp_path, bars):
    """On 5-minute bars (09:15, 09:20, ...) the SMA crossing is pandas' on the resampled closes,
    seen at the first tick of the bar where the forming bar's close makes it cross."""
    from tradekit.data.resample import resample_bars

    five = resample_bars(bars, "5min")
    got = replay(tmp_path, bars, {"m5": {"kind": "indicator", "indicator": "sma_cross", "fast": 3, "slow": 8,
                                         "cross": "above", "interval": "5min"}})["m5"]
    assert got is not None
    # at the trigger, the 5-minute closes so far (the forming bar's close being that tick's price) cross
    upto = bars.loc[:got, "close"]
    formed = resample_bars(bars.loc[:got], "5min")["close"]
    d = formed.rolling(3).mean() - formed.rolling(8).mean()
    assert d.iloc[-1] >= 0 and d.iloc[-2] < 0
    # and no earlier tick made the forming bar cross
    assert len(upto) > 8 * 5 - 5 and got.astimezone(IST) >= five.index[7]


def test_a_fast_bar_replay_evaluates_conditions_on_each_bars_close(tmp_path, bars):
    """``run_replay`` (``tradekit replay``) does not feed a hub: conditions see each bar's close at its end."""
    from datetime import timedelta

    from tradekit.config import load_config
    from tradekit.execution.replay import run_replay
    from tradekit.model.order import OrderStatus
    from tradekit.session import Session
    from tradekit.signals.schema import validate_record

    close = bars["close"]
    level = round((float(close.min()) + float(close.iloc[-1])) / 2, 2)  # back up after the day's low
    want_price = first_cross(close, level, "below")
    sma = close.rolling(5).mean() - close.rolling(20).mean()
    want_sma = first_cross(sma, 0, "above")
    assert want_price is not None and want_sma is not None
    t0 = bars.index[0].to_pydatetime()
    cfg = load_config(overrides={"execution": {"charges_as_of": "2026-11-20"}, "approval": {"mode": "auto"}})
    s = Session.for_replay(cfg, tmp_path / "j.db", t0)
    sigs = []
    for key, cond in (("px", {"kind": "price", "cross": "below", "level": level}),
                      ("ma", {"kind": "indicator", "indicator": "sma_cross", "fast": 5, "slow": 20, "cross": "above"})):
        sig, errs = validate_record(record(key, condition=cond, signal_time=t0.isoformat(), ttl_seconds=60))
        assert not errs
        sigs.append(sig)
    try:
        run_replay(s, {"NSE:INFY": bars}, signals=sigs, square_off=False)
        trig = {c.signal_id: c for c in s.conditions()}
        assert trig["px"].state == trig["ma"].state == "triggered"
        one = timedelta(minutes=1)
        assert trig["px"].ended_at == bars.index[want_price].to_pydatetime() + one
        assert trig["ma"].ended_at == bars.index[want_sma].to_pydatetime() + one
        o = s.book.order(trig["px"].client_order_id)
        assert o.status is OrderStatus.FILLED
    finally:
        s.close()
