"""The sandbox's futures and options: priced from their underlying's replayed price, with OI and depth.

No recorded option data ships with tradekit, so the sandbox *models* the F&O contracts of its
master whose underlying it replays (``NIFTY`` from ``NSE:NIFTY 50``, ``BANKNIFTY`` from
``NSE:NIFTY BANK``, a stock future from ``NSE:<name>``): every time the underlying ticks (or is
moved), each of its contracts that has not expired gets a tick of its own, in the same release,
so the ticker, quotes, the paper exchange's fills and the order book all see it as Kite would
show a real contract. The model (not market data, and said so in each series' ``source``):

* future = spot · e^{r·t} (:data:`RATE`), t to the expiry day's F&O close in years/365;
* option = Black-76 on that forward (:mod:`tradekit.options.greeks`) with a volatility smile
  σ(K) = base · (1 + :data:`SMILE` · ln(K/F)²), base :data:`INDEX_VOL` for indices and
  :data:`STOCK_VOL` for stocks; premiums on the contract's tick grid, at least one tick;
* open interest: a deterministic hump around the money (seeded by the token) at the start of
  the day, then moving by whole lots with the traded volume; ``oi_day_high``/``oi_day_low``
  follow it as the exchange's do (kite.md §8: full quote and full ticker packet carry all three);
* volume: whole lots per underlying tick, more near the money.

Depth comes from :meth:`SimMarket.depth` as for every instrument (five levels a tick apart).
"""

from __future__ import annotations

import math
import zlib
from datetime import datetime, time

import numpy as np
import pandas as pd

from tradekit.clock import IST
from tradekit.options.chain import INDEX_SPOT, expiry_close
from tradekit.options.greeks import black76_price

RATE = 0.065
"""The sandbox's continuously compounded rate (futures' carry, options' discounting)."""
INDEX_VOL, STOCK_VOL, SMILE = 0.13, 0.30, 4.0
"""The sandbox's volatility model: at-the-money vol for indices and stocks, and the smile's curvature."""
DERIVATIVE_EXCHANGES = ("NFO", "BFO")


def _spot_keys(market) -> dict[str, str]:
    """F&O underlying name -> the replayed spot key, for every underlying the market prices."""
    out = {name: key for name, key in INDEX_SPOT.items() if key in market.series}
    for key, s in market.series.items():
        if key.startswith("NSE:") and not s.is_index:
            out.setdefault(key.partition(":")[2], key)
    return out


def attach(market) -> int:
    """Add the master's live F&O contracts on the market's underlyings; returns how many."""
    from tradekit.model.enums import Exchange

    master = market.instruments
    if not hasattr(master, "search"):
        return 0
    if hasattr(master, "keys") and not any(k.startswith(DERIVATIVE_EXCHANGES) for k in master.keys()):
        return 0
    spots = _spot_keys(market)
    if not spots:
        return 0
    from tradekit.brokers.kite.sim.market import Series

    by_spot: dict[str, list] = {}
    no_history = pd.DataFrame(columns=["open", "high", "low", "close", "volume"])  # shared, read only
    empty_f, empty_i = np.empty(0, float), np.empty(0, np.int64)
    for ex in DERIVATIVE_EXCHANGES:
        for inst in master.search(exchange=Exchange(ex)):
            spot = spots.get((inst.underlying or inst.name or "").upper())
            if spot is None or inst.expiry is None or inst.expiry < market.trade_date or not inst.is_derivative:
                continue
            s = Series(key=inst.key, token=inst.instrument_token, tick=float(inst.tick_size) or 0.05, is_index=False,
                       tod=empty_i, o=empty_f, h=empty_f, l=empty_f, c=empty_f, v=empty_i,
                       history=no_history, prev_close=0.0,
                       static=True, source=f"model: Black-76 on {spot} (sandbox, not market data)")
            s.extra["deriv"] = {"spot": spot, "expiry": inst.expiry, "strike": float(inst.strike or 0),
                                "type": inst.instrument_type.value, "lot": max(int(inst.lot_size or 1), 1),
                                "index": spot in INDEX_SPOT.values()}
            by_spot.setdefault(spot, []).append(s)
    n = 0
    start = datetime.combine(market.trade_date, time(9, 15), IST)
    for spot, group in by_spot.items():
        base = market.series[spot]
        prices = _prices(group, base.prev_close, start)
        for s, p in zip(group, prices, strict=True):
            s.prev_close = s.last = p
            d = s.extra["deriv"]
            d["oi"] = d["oi_prev"] = d["oi_day_high"] = d["oi_day_low"] = _start_oi(s, base.prev_close)
            market._add(s)
            n += 1
        market.derived.setdefault(spot, []).extend(group)
    return n


def _prices(group, spot: float, now: datetime) -> list[float]:
    """Model prices of ``group``'s contracts at spot ``spot`` (vectorised per underlying)."""
    if not spot or not math.isfinite(spot):
        return [s.last for s in group]
    t = np.array([max((expiry_close(s.extra["deriv"]["expiry"]) - now).total_seconds(), 0.0)
                  for s in group]) / (365.0 * 86400.0)
    fwd = spot * np.exp(RATE * t)
    k = np.array([s.extra["deriv"]["strike"] for s in group])
    typ = [s.extra["deriv"]["type"] for s in group]
    opt = np.array([x != "FUT" for x in typ])
    base = np.array([INDEX_VOL if s.extra["deriv"]["index"] else STOCK_VOL for s in group])
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(opt & (k > 0), np.log(np.where(k > 0, k, 1.0) / fwd), 0.0)
    vol = base * (1.0 + SMILE * m * m)
    flags = ["c" if x == "CE" else "p" for x in typ]
    prem = black76_price(fwd, np.where(opt, k, fwd), t, vol, RATE, flags)
    out = []
    for s, is_opt, f, p in zip(group, opt, fwd, prem, strict=True):
        tick = s.tick or 0.05
        v = float(p) if is_opt else float(f)
        v = round(round(v / tick) * tick, 2)
        out.append(max(v, tick) if is_opt else v)
    return out


def _start_oi(s, spot: float) -> int:
    """The day's opening OI: a hump around the money, in whole lots, different per contract."""
    d = s.extra["deriv"]
    seed = zlib.crc32(s.key.encode()) & 0xFFFF
    if d["type"] == "FUT":
        lots = 2000 + seed % 3000
    else:
        dist = abs(math.log(d["strike"] / spot)) if spot and d["strike"] else 1.0
        lots = int(200 + 20000 * math.exp(-((dist / 0.03) ** 2)) * (0.6 + (seed % 100) / 125))
    return lots * d["lot"]


def reprice(market, released: list) -> list:
    """Releases for the contracts of every underlying in ``released`` (appended by the market)."""
    extra = []
    for r in released:
        group = market.derived.get(r.series.key)
        if not group:
            continue
        now = r.end
        prices = _prices(group, r.series.last, now)
        spot = max(r.series.last, 1e-9)
        rng = np.random.default_rng((zlib.crc32(r.series.key.encode()) + market.ticks_released * 7919) & 0xFFFFFFFF)
        trades = bool(r.v) or r.series.is_index
        draw_lots = rng.integers(0, 6, len(group)) if trades else np.zeros(len(group), np.int64)
        draw_oi = rng.random(len(group))
        for s, p, lots6, u in zip(group, prices, draw_lots.tolist(), draw_oi.tolist(), strict=True):
            d = s.extra["deriv"]
            if now >= expiry_close(d["expiry"]):
                continue  # expired: no more ticks
            prev = s.last
            near = d["type"] == "FUT" or abs(math.log(d["strike"] / spot)) < 0.03
            lots = lots6 if near else lots6 // 4  # far strikes trade less
            dv = lots * d["lot"]
            if lots:
                d["oi"] = max(d["lot"], d["oi"] + int(round((2 * u - 1) * lots)) * d["lot"])
                d["oi_day_high"] = max(d["oi_day_high"], d["oi"])
                d["oi_day_low"] = min(d["oi_day_low"], d["oi"])
            s.trade(p, prev, dv, now, opens_at=prev, quantity=dv)  # a contract is never an index
            record_minute(s, r.start, prev, p, dv, d["oi"])
            extra.append(type(r)(s, r.start, now, prev, max(p, prev), min(p, prev), p, dv))
    return extra


def record_minute(s, start: datetime, prev: float, p: float, dv: int, oi: int) -> None:
    """One tick of a contract into its minute bars (``s.extra["bars"]``: ``[minute, o, h, l, c, volume, oi]``,
    the OI after the minute's last tick), from which the historical API serves its candles (``oi=1``: the
    OI the quotes showed). ``start`` is the tick's segment start: a bar's last tick ends on the next minute."""
    minute = start.replace(second=0, microsecond=0)
    bars = s.extra.setdefault("bars", [])
    if bars and bars[-1][0] == minute:
        b = bars[-1]
        b[2], b[3], b[4], b[5], b[6] = max(b[2], p, prev), min(b[3], p, prev), p, b[5] + dv, oi
    else:
        bars.append([minute, prev, max(p, prev), min(p, prev), p, dv, oi])


def oi_of(s) -> tuple[int, int, int]:
    """(oi, oi_day_high, oi_day_low) of a series: the model's for a contract, 0 for anything else (as Kite)."""
    d = s.extra.get("deriv") if s.extra else None
    if not d:
        return 0, 0, 0
    return int(d["oi"]), int(d["oi_day_high"]), int(d["oi_day_low"])


def sandbox_quotes(day, minutes: int = 30, symbols=("NIFTY50", "BANKNIFTY"), *, ticks_per_bar: int = 4):
    """(master, hub, now): the sandbox's replay of ``symbols`` on ``day`` stepped ``minutes`` in, every
    modelled F&O contract's last tick fed through a market-data hub as a paper session's would be.

    For notebooks and demos without a Kite login; the master is the bundled sample with its NFO rows."""
    from tradekit.brokers.kite.sim.market import SimMarket
    from tradekit.market.instruments import InstrumentStore
    from tradekit.marketdata.hub import MarketDataHub

    m = SimMarket(InstrumentStore.bundled(include_nfo_sample=True), symbols=list(symbols), trade_date=day,
                  ticks_per_bar=ticks_per_bar)
    m.step(minutes)
    hub = MarketDataHub(clock=m.clock)
    keys = [s.key for group in m.derived.values() for s in group] + list(m.derived)
    hub.on_ticks([m.tick(m.series[k], "full") for k in keys], source="paper")
    return m.instruments, hub, m.now
