"""Shared set-up for the slicing and algo tests: a paper session with the real risk gate on a SimClock."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from tradekit.clock import IST, SimClock
from tradekit.config import load_config
from tradekit.data.types import Tick
from tradekit.model.enums import Exchange, InstrumentType, Segment
from tradekit.model.instrument import Instrument
from tradekit.session import Session
from tradekit.store import Journal, make_engine, sqlite_url

T0 = datetime(2026, 11, 20, 9, 15, tzinfo=IST)
FUT = "NIFTY26DECFUT"
FKEY = f"NFO:{FUT}"
LOT, FREEZE = 75, 1800  # largest slice: 1,800 (24 lots)
EKEY = "NSE:INFY"

LOOSE = {
    "money": {"max_order_value_pct": None, "max_order_quantity": None},
    "exposure": {"max_concentration_pct": None, "max_gross_exposure_pct": None, "max_net_exposure_pct": None,
                 "max_sector_pct": None},
    "var": {"limit_pct": None},
    "loss": {"adverse_move_pct": None},
}

def future() -> Instrument:
    return Instrument(Exchange.NFO, FUT, 9001, tick_size=Decimal("0.10"), lot_size=LOT, segment=Segment.NFO_FUT,
                      instrument_type=InstrumentType.FUT, name="NIFTY", freeze_quantity=FREEZE, underlying="NIFTY")


def config(tmp_path, **over):
    base = {"data_dir": str(tmp_path / "var"), "account": {"capital": 1e11},
            "paper": {"latency_ms": 0, "participation": 0, "slippage": {"model": "none"}, "margin": {}},
            "risk": LOOSE}
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = {**base[k], **v}
        else:
            base[k] = v
    return load_config(overrides=base)


def open_session(tmp_path, clock=None, *, cfg=None, **over) -> Session:
    """A paper session on ``tmp_path/j.db`` (kept between calls: a second call is a restart)."""
    cfg = cfg or config(tmp_path, **over)
    clock = clock or SimClock(T0)
    journal = Journal(make_engine(sqlite_url(tmp_path / "j.db")), clock=clock)
    s = Session(cfg, clock=clock, journal=journal, mode="paper")
    s.instruments.add([future()])
    return s


def bar(s: Session, key: str, minute: int, price: float, volume: int = 1_000_000, *, tick: bool = True) -> None:
    """One 1-minute bar at T0 + minute into the paper broker, then its tick into the market-data hub
    (carrying the day's cumulative volume, as the paper runner sends them)."""
    start = T0 + timedelta(minutes=minute)
    if s.clock.now() < start:
        s.clock.set(start)
    s.broker.on_bar(key, start, start + timedelta(minutes=1), price, price + 1, price - 1, price, volume)
    end = start + timedelta(minutes=1)
    if s.clock.now() < end:
        s.clock.set(end)
    cum = getattr(s, "_test_cum", {})
    cum[key] = cum.get(key, 0) + volume
    s._test_cum = cum
    if tick:
        s.market.on_ticks([Tick(key, end, price, None, "quote", last_quantity=volume, volume=cum[key])], "paper")
