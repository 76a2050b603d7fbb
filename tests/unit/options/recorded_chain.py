"""Recorded option ticks for the chain-page tests: NIFTY weekly contracts of the bundled real Kite dump
(expiry 2026-08-18), priced with Black-76 at a known volatility, written into a real tick store as the
market-data hub records them (full-mode ticks with depth, OI and volume)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from tradekit.clock import IST
from tradekit.data.tickstore import TickStore
from tradekit.data.types import DepthLevel, Tick

DAY = date(2026, 8, 17)
EXPIRY = date(2026, 8, 18)
SPOT = 24870.0
VOL = 0.13
STRIKES = tuple(range(24600, 25150, 50))  # 11 strikes around the money
AT = datetime(2026, 8, 17, 14, 0, tzinfo=IST)


def key(strike: int, side: str) -> str:
    return f"NFO:NIFTY26818{strike}{side}"


def premium(strike: float, side: str, at: datetime = AT, spot: float = SPOT, vol: float = VOL) -> float:
    from tradekit.options.chain import time_to_expiry
    from tradekit.options.greeks import black76_price

    p = float(black76_price(spot, strike, time_to_expiry(EXPIRY, at), vol, 0.0, side[0].lower()))
    return round(max(p, 0.05) / 0.05) * 0.05


def option_tick(strike: int, side: str, *, at: datetime = AT, oi: int = 100_000, volume: int = 5_000,
                spot: float = SPOT, ltp: float | None = None, spread: float = 0.0) -> Tick:
    px = premium(strike, side, at, spot) if ltp is None else ltp
    mid = premium(strike, side, at, spot)
    bids = (DepthLevel(round(mid - spread, 2), 650, 3),) if spread else ()
    asks = (DepthLevel(round(mid + spread, 2), 650, 2),) if spread else ()
    return Tick(key(strike, side), at, px, None, "full", volume=volume, oi=oi, oi_day_high=oi + 500,
                oi_day_low=oi - 500, bids=bids, asks=asks, last_trade_time=at)


def chain_ticks(*, at: datetime = AT, oi: int = 100_000, spot: float = SPOT, strikes=STRIKES) -> list[Tick]:
    out = [option_tick(k, s, at=at, oi=oi + k - 24000, spot=spot) for k in strikes for s in ("CE", "PE")]
    out.append(Tick("NSE:NIFTY 50", at, spot, None, "full"))
    return out


def record(root: Path, ticks, *, clock_at: datetime | None = None) -> TickStore:
    """Write ``ticks`` into the store at ``root`` (flushed at once) and close it."""
    ns = int(((clock_at or AT) - datetime(1970, 1, 1, tzinfo=IST)).total_seconds() * 1e9) + 19_800 * 10**9
    s = TickStore(root, flush_every=0, background=False, clock=lambda: ns)
    s.append(list(ticks))
    s.close()
    return s


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
