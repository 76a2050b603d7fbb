"""The NSE intraday volume curve VWAP uses: estimated from minute bars and the tick store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd

from tradekit.clock import IST
from tradekit.data.tickstore import TickStore
from tradekit.data.types import Tick
from tradekit.execution.algos import volume_curve as vc


def test_the_bundled_curve_is_estimated_from_the_sample_bars_and_has_nse_s_u_shape():
    curve = vc.load_curve()
    assert len(curve) == vc.MINUTES == 375 and abs(sum(curve) - 1) < 1e-6
    doc = json.loads(vc.CURVE_FILE.read_text())
    assert doc["sources"]["bar_symbol_days"] >= 100 and "RELIANCE" in doc["sources"]["bars"]
    open_, mid, close = sum(curve[:15]), sum(curve[165:180]), sum(curve[-15:])
    assert open_ > 1.5 * mid and close > 1.5 * mid  # busy open and close, quiet lunch


def test_shares_from_bars_weigh_each_day_equally():
    idx = pd.date_range("2016-08-16 09:15", periods=375, freq="1min", tz=IST)
    heavy = pd.DataFrame({"volume": [1000] * 375}, index=idx)
    light = pd.DataFrame({"volume": [0] * 374 + [10]}, index=idx + pd.Timedelta(days=1))
    shares = vc.shares_from_bars(pd.concat([heavy, light]))
    curve = vc.build_curve(shares)
    assert abs(curve[-1] - (1 / 375 + 1) / 2) < 1e-12  # the light day's single minute counts as much as the heavy day


def test_the_tick_store_adds_minute_volumes_from_cumulative_day_volume(tmp_path):
    store = TickStore(tmp_path / "ticks", flush_every=0)
    t0 = datetime(2026, 11, 20, 9, 15, 5, tzinfo=IST)
    ticks, cum = [], 0
    for m, traded in ((0, 100), (0, 100), (1, 600), (374, 200)):  # two ticks in 09:15, one in 09:16 and 15:29
        cum += traded
        ticks.append(Tick("NSE:INFY", t0 + timedelta(minutes=m, seconds=len(ticks)), 1500.0, 408065, "quote", volume=cum))
    store.append(ticks)
    store.flush()
    shares = vc.shares_from_tick_store(store)
    assert len(shares) == 1
    s = shares[0]
    # the first tick's volume has no predecessor: 09:15 counts only the 100 traded after it
    assert s[1] == 600 / 900 and s[374] == 200 / 900 and s[0] == 100 / 900
    store.close()


def test_rebuild_writes_a_curve_and_the_cli_refuses_a_bad_folder(tmp_path, capsys):
    out = tmp_path / "curve.json"
    sample = vc.Path(vc.__file__).resolve().parents[2] / "data" / "sample"
    assert vc.main(["--data", str(sample), "-o", str(out)]) == 0
    assert len(json.loads(out.read_text())["minutes"]) == 375
    assert vc.main(["--data", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err
