"""Paper parity: a paper session on recorded bars (`tradekit paper --date D --symbols ...`) feeds its hub, and the
hub records the F&O contracts' quotes in the tick store through the path a live session's ticks take; the chain
page's reader then reads them as it reads a live day's."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.unit.options.recorded_chain import DAY, EXPIRY, key, premium
from tradekit.config import load_config
from tradekit.data.store import write_bars
from tradekit.data.tickstore import TickStore
from tradekit.options.chain_feed import chain_master, option_days, recorded_chain


def _bars(first: float, n: int = 20) -> pd.DataFrame:
    idx = pd.date_range(f"{DAY} 09:15", periods=n, freq="1min", tz="Asia/Kolkata")
    close = [round(first + 0.05 * i, 2) for i in range(n)]
    return pd.DataFrame({"open": close, "high": [c + 0.5 for c in close], "low": [c - 0.5 for c in close],
                         "close": close, "volume": [650] * n}, index=idx)


@pytest.mark.parametrize("record", [True, False])
def test_a_paper_day_on_option_bars_records_their_quotes_for_the_chain(tmp_path, record):
    from tradekit.runs.live import paper_command

    var = tmp_path / "var"
    cfg_path = tmp_path / "desk.yaml"
    cfg_path.write_text(f"extends: tradekit:default.yaml\ndata_dir: {var}\n"
                        f"tick_store: {{record_paper: {str(record).lower()}}}\n")
    opts = {key(k, s): premium(k, s) for k in (24800, 24850, 24900) for s in ("CE", "PE")}
    for k, p in opts.items():
        write_bars(var, k, "1min", _bars(p))
    write_bars(var, "NSE:RELIANCE", "1min", _bars(1300.0))
    res = paper_command(DAY.isoformat(), symbols=",".join(opts) + ",NSE:RELIANCE", speed=None, config=str(cfg_path))
    assert res.bars == 7 * 20  # every key's minutes went through the session
    cfg = load_config(cfg_path)
    store = TickStore(var / cfg.tick_store.dir)
    master = chain_master(cfg, DAY)
    if not record:
        assert store.days() == []
        return
    assert option_days(store, master=master) == [DAY]
    assert set(store.keys(DAY)) == set(opts)  # the F&O contracts only: the equity's bars are in the data dir already
    df = recorded_chain(store, "NIFTY", EXPIRY, master=master, day=DAY, strikes=1)
    last = {k: round(p + 0.05 * 19, 2) for k, p in opts.items()}  # each contract's last bar close
    assert df.loc[24850.0, "ce_ltp"] == pytest.approx(last[key(24850, "CE")])
    assert df.loc[24900.0, "pe_ltp"] == pytest.approx(last[key(24900, "PE")])
    assert df.attrs["newest_quote"] == pd.Timestamp(f"{DAY} 09:35", tz="Asia/Kolkata")  # the last minute's close
    assert df.attrs["forward_source"].startswith("put-call parity") and 0.05 < df.loc[24850.0, "ce_iv"] < 0.5
