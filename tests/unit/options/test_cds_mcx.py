"""Currency (CDS) and commodity (MCX) futures through the same session path as equities and NFO:
the gate (lots, ticks, the segment's MIS cut-off), the paper fill in its own session (MCX's evening),
and Zerodha's charges for the segment (CTT on a commodity sell, contract value with the multiplier)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from tradekit.clock import IST, ist
from tradekit.config import load_config
from tradekit.market.calendar import get_calendar
from tradekit.market.charges import round_trip
from tradekit.market.instruments import InstrumentStore, parse_instruments
from tradekit.store.events import EventType as E

# rows as Kite's dump lists them (tests/unit/market/test_master.py uses the same two)
ROWS = ("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,"
        "instrument_type,segment,exchange\n"
        "268009475,1046912,USDINR26DECFUT,USDINR,0.0,2026-12-29,0.0,0.0025,1,FUT,CDS-FUT,CDS\n"
        "116012551,453174,GOLD26DECFUT,GOLD,0.0,2026-12-04,0.0,1.0,1,FUT,MCX-FUT,MCX\n"
        "116012807,453175,GOLD27FEBFUT,GOLD,0.0,2027-02-05,0.0,1.0,1,FUT,MCX-FUT,MCX\n")
DAY = date(2026, 12, 3)  # a Thursday: US standard time, MCX non-agri trades to 23:55


@pytest.fixture(scope="module")
def master():
    store = InstrumentStore.bundled()
    rows, problems = parse_instruments(ROWS, origin="test")
    assert not problems
    store.add(rows)
    return store


def test_sessions_and_cutoffs_of_the_segments():
    cal = get_calendar("NSE")
    assert cal.session_times(DAY, "commodity").close.time().isoformat() == "23:55:00"
    assert cal.session_times(date(2026, 8, 13), "commodity").close.time().isoformat() == "23:30:00"  # US daylight time
    assert cal.session_times(DAY, "currency").close.time().isoformat() == "17:00:00"
    assert cal.mis_cutoff(ist(2026, 12, 3, 12, 0), "commodity").time().isoformat() == "23:30:00"  # 25 min before
    assert cal.mis_cutoff(ist(2026, 12, 3, 12, 0), "currency").time().isoformat() == "16:45:00"


def _bars(start: datetime, base: float, tick: float, n: int = 20) -> pd.DataFrame:
    idx = pd.date_range(start, periods=n, freq="1min").as_unit("ns")
    close = np.round((base + np.arange(n) * tick * 4) / tick) * tick
    return pd.DataFrame({"open": close, "high": close + tick, "low": close - tick, "close": close,
                         "volume": np.full(n, 500)}, index=idx)


def _run(tmp_path, master, key, start, base, tick, product="NRML"):
    from tradekit.execution.replay import run_replay
    from tradekit.model import OrderRequest
    from tradekit.session import Session

    cfg = load_config(overrides={"account": {"capital": 50_000_000}, "approval": {"mode": "auto"}})
    s = Session.for_replay(cfg, tmp_path / f"{key.replace(':', '_')}.db", start - timedelta(minutes=1),
                           instruments=master)
    ex, sym = key.split(":")
    sent = []

    def pace(ns):
        n = len(sent)
        if n == 0:
            sent.append(s.submit(OrderRequest(ex, sym, "BUY", 1, "MARKET", product), strategy="x"))
        elif n < 10:
            sent.append(None)
        elif n == 10:
            sent.append(s.submit(OrderRequest(ex, sym, "SELL", 1, "MARKET", product), strategy="x"))
        return True

    run_replay(s, {key: _bars(start, base, tick)}, pace=pace, square_off=False)
    fills = [e.payload for e in s.journal.events(types=(E.FILL,))]
    decisions = [e.payload for e in s.journal.events(types=(E.RISK_DECISION,))]
    s.close()
    return fills, decisions


def test_mcx_gold_in_the_evening_session_fills_with_commodity_charges(tmp_path, master):
    fills, decisions = _run(tmp_path, master, "MCX:GOLD26DECFUT", ist(2026, 12, 3, 21, 0), 121500.0, 1.0)
    assert all(d["allowed"] for d in decisions) and len(fills) == 2
    buy, sell = sorted(fills, key=lambda f: f["side"])
    assert Decimal(sell["charges"]["stt"]) > 0 and Decimal(buy["charges"]["stt"]) == 0  # CTT on the sell only
    assert buy["multiplier"] == 100
    rt = round_trip("commodity-futures", "MCX", 100, buy["price"], sell["price"], DAY)  # 1 lot = 100 units (₹/10 g, 1 kg)
    paid = sum(Decimal(v) for f in fills for v in f["charges"].values())
    assert paid == pytest.approx(rt.total, abs=Decimal("1.01"))  # per-leg rupee rounding of CTT/stamp


def test_cds_usdinr_fills_with_currency_charges_and_the_gate_applies_the_cutoff(tmp_path, master):
    fills, decisions = _run(tmp_path, master, "CDS:USDINR26DECFUT", ist(2026, 12, 3, 11, 0), 90.1225, 0.0025)
    assert all(d["allowed"] for d in decisions) and len(fills) == 2
    assert all(Decimal(f["charges"]["stt"]) == 0 for f in fills)          # no STT on currency
    buy, sell = sorted(fills, key=lambda f: f["side"])
    rt = round_trip("currency-futures", "NSE", 1000, buy["price"], sell["price"], DAY)
    paid = sum(Decimal(v) for f in fills for v in f["charges"].values())
    assert paid == pytest.approx(rt.total, abs=Decimal("1.01"))
    # an MIS entry after the currency cut-off (16:45) is refused by the same gate
    fills, decisions = _run(tmp_path, master, "CDS:USDINR26DECFUT", ist(2026, 12, 3, 16, 46), 90.1225, 0.0025,
                            product="MIS")
    assert decisions and not decisions[0]["allowed"]
    assert any(c["code"] == "MIS_CUTOFF" and not c["ok"] for c in decisions[0]["checks"])
