"""The option chain of an underlying and expiry: strikes, CE/PE quotes, OI, IV and Greeks as a DataFrame.

The contracts come from the instrument master (:mod:`tradekit.market.master`: the day's Kite dump,
the last cached one or the bundled sample); the prices from one quote source, whatever feeds it:

* the session's :class:`~tradekit.marketdata.hub.MarketDataHub` (anything with ``quote(key)``):
  the Kite ticker live, recorded ticks or bars in paper and replay: the same code path;
* a mapping of keys to :class:`~tradekit.data.types.Tick`, hub quotes, or the dicts of Kite's
  ``GET /quote`` (``kite.quote([...])``'s answer as it is).

The forward each option is priced on (Black-76, :mod:`tradekit.options.greeks`) is, in this order:
the future of the same expiry (its LTP), else the forward implied by put-call parity at the strike
where |C − P| is least (``F = K + e^{rt}(C − P)``, from mid prices where both sides are quoted),
else the underlying's spot grown at ``rate``. The chain says which in ``df.attrs["forward_source"]``.

Time to expiry runs to the F&O close of the expiry day in the exchange calendar (15:40 IST from
2026-08-03), in calendar years (/365).
OI change is ``oi − previous_oi[key]`` when the previous session's OI is given (Kite's quote has no
previous OI); without it the column is NaN and ``df.attrs["notes"]`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from datetime import date, datetime, time
from typing import Any

import numpy as np
import pandas as pd

from tradekit.clock import IST
from tradekit.errors import ValidationError
from tradekit.options.greeks import black76_greeks, implied_vol

__all__ = ["option_chain", "chain", "expiries", "spot_key", "time_to_expiry", "expiry_close", "EXPIRY_CLOSE", "COLUMNS"]

EXPIRY_CLOSE = time(15, 30)
"""The F&O close when the calendar cannot say (15:30 until 2026-07-31, 15:40 from 2026-08-03: india.md §2.2)."""

# index underlyings (the F&O ``name``) -> the index's quote key; stocks are NSE:<name>
INDEX_SPOT = {
    "NIFTY": "NSE:NIFTY 50",
    "BANKNIFTY": "NSE:NIFTY BANK",
    "FINNIFTY": "NSE:NIFTY FIN SERVICE",
    "MIDCPNIFTY": "NSE:NIFTY MID SELECT",
    "NIFTYNXT50": "NSE:NIFTY NEXT 50",
    "SENSEX": "BSE:SENSEX",
    "BANKEX": "BSE:BANKEX",
    "SENSEX50": "BSE:SENSEX50",
}
SIDE_FIELDS = ("key", "ltp", "bid", "ask", "bid_qty", "ask_qty", "oi", "oi_change", "oi_day_high", "oi_day_low",
               "volume", "iv", "iv_note", "delta", "gamma", "theta", "vega")
COLUMNS = tuple(f"{s}_{f}" for s in ("ce", "pe") for f in SIDE_FIELDS)


def spot_key(underlying: str, exchange: str = "NFO") -> str:
    """The quote key of an underlying's spot: the index (``NIFTY`` → ``NSE:NIFTY 50``) or the stock."""
    u = underlying.strip().upper()
    if u in INDEX_SPOT:
        return INDEX_SPOT[u]
    return f"{'BSE' if exchange.upper() == 'BFO' else 'NSE'}:{u}"


@lru_cache(maxsize=4096)
def expiry_close(expiry: date, exchange: str = "NFO") -> datetime:
    """When contracts expiring on ``expiry`` stop trading: the F&O close of that day in the exchange's
    calendar (:mod:`tradekit.market.calendar`), else :data:`EXPIRY_CLOSE`."""
    try:
        from tradekit.market.calendar import get_calendar

        return get_calendar("BSE" if exchange.upper() in ("BFO", "BSE") else "NSE").session_times(expiry, "fno").close
    except Exception:  # outside the calendar's years, or not a trading day there
        return datetime.combine(expiry, EXPIRY_CLOSE, IST)


def time_to_expiry(expiry: date, now: datetime, exchange: str = "NFO") -> float:
    """Calendar years from ``now`` to the close of ``expiry`` (negative once expired)."""
    return (expiry_close(expiry, exchange) - now.astimezone(IST)).total_seconds() / (365.0 * 86400.0)


def expiries(underlying: str, *, master, exchange: str = "NFO", kind: str = "options") -> list[date]:
    """Expiry dates of ``underlying``'s options (``kind="options"``) or futures (``"futures"``) in the master."""
    if kind not in ("options", "futures"):
        raise ValidationError(f"{kind!r} is not options or futures", field="kind")
    types = ("CE", "PE") if kind == "options" else ("FUT",)
    return sorted({i.expiry for t in types for i in master.search(exchange=exchange, underlying=underlying,
                                                                  instrument_type=t) if i.expiry})


def _fields(q: Any) -> dict | None:
    """ltp, bid, ask, bid_qty, ask_qty, oi, oi_day_high, oi_day_low, volume of a quote in any of the accepted forms."""
    if q is None:
        return None
    tick = getattr(q, "tick", None)
    if tick is not None and not isinstance(q, Mapping):  # a hub Quote
        q = tick
    if isinstance(q, Mapping):  # Kite's /quote entry
        depth = q.get("depth") or {}
        buy = [d for d in depth.get("buy") or [] if d.get("price")]
        sell = [d for d in depth.get("sell") or [] if d.get("price")]
        return {"ltp": q.get("last_price"), "bid": buy[0]["price"] if buy else None,
                "ask": sell[0]["price"] if sell else None, "bid_qty": buy[0]["quantity"] if buy else None,
                "ask_qty": sell[0]["quantity"] if sell else None, "oi": q.get("oi"),
                "oi_day_high": q.get("oi_day_high"), "oi_day_low": q.get("oi_day_low"), "volume": q.get("volume")}
    bids, asks = getattr(q, "bids", ()) or (), getattr(q, "asks", ()) or ()
    bids = [b for b in bids if b.price]
    asks = [a for a in asks if a.price]
    return {"ltp": getattr(q, "last_price", None), "bid": bids[0].price if bids else None,
            "ask": asks[0].price if asks else None, "bid_qty": bids[0].quantity if bids else None,
            "ask_qty": asks[0].quantity if asks else None, "oi": getattr(q, "oi", None),
            "oi_day_high": getattr(q, "oi_day_high", None), "oi_day_low": getattr(q, "oi_day_low", None),
            "volume": getattr(q, "volume", None)}


def _lookup(quotes: Any, key: str) -> dict | None:
    if quotes is None:
        return None
    if isinstance(quotes, Mapping):
        return _fields(quotes.get(key))
    if hasattr(quotes, "quote"):
        return _fields(quotes.quote(key))
    raise ValidationError(f"{type(quotes).__name__} is not a quote source (a market-data hub with quote(key), "
                          "or a mapping of keys to ticks or Kite quotes)", field="quotes")


def _num(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def _mid(f: dict | None) -> float:
    """The mid of a two-sided quote, else the LTP, else NaN."""
    if not f:
        return math.nan
    b, a = _num(f["bid"]), _num(f["ask"])
    if b > 0 and a > 0 and a >= b:
        return (a + b) / 2
    ltp = _num(f["ltp"])
    return ltp if ltp > 0 else math.nan


def option_chain(underlying: str, expiry: date | str | None = None, *, master, quotes=None,
                 now: datetime | None = None, rate: float = 0.0, exchange: str = "NFO",
                 strikes: int | None = None, previous_oi: Mapping[str, int] | None = None,
                 price: str = "mid") -> pd.DataFrame:
    """The chain of ``underlying`` (the F&O name, e.g. ``NIFTY``) for ``expiry`` (default: the nearest
    not yet expired at ``now``), one row per strike, CE columns ``ce_*`` and PE columns ``pe_*``.

    Parameters
    ----------
    master
        The instrument master (:func:`tradekit.market.master.load_master`).
    quotes
        The quote source (see the module docstring); None: contracts only, prices NaN.
    now
        The time the chain is for (IV and Greeks depend on it); default: now in IST.
    rate
        The continuously compounded rate that discounts premiums (and grows spot to a forward).
    strikes
        Keep only this many strikes each side of the forward (None: all).
    previous_oi
        The previous session's OI per key, for ``*_oi_change``.
    price
        The premium the IV is solved from: ``mid`` (bid/ask mid, else LTP) or ``ltp``.
    """
    if price not in ("mid", "ltp"):
        raise ValidationError(f"{price!r} is not mid or ltp", field="price")
    if not isinstance(rate, (int, float)) or not math.isfinite(rate) or not -0.5 < rate < 1.0:
        raise ValidationError(f"{rate!r} is not a rate between -0.5 and 1.0 (0.065 is 6.5 %)", field="rate")
    now = (now or datetime.now(IST)).astimezone(IST)
    u = underlying.strip().upper()
    if isinstance(expiry, str):
        try:
            expiry = date.fromisoformat(expiry)
        except ValueError:
            raise ValidationError(f"{expiry!r} is not a date (YYYY-MM-DD)", field="expiry") from None
    listed = expiries(u, master=master, exchange=exchange)
    if not listed:
        raise ValidationError(f"{exchange}:{u}: no options in the instrument master", field="underlying")
    if expiry is None:
        live = [d for d in listed if time_to_expiry(d, now, exchange) > 0]
        if not live:
            raise ValidationError(f"{u}: every expiry in the master ({listed[-1]} the last) is past at {now:%Y-%m-%d %H:%M}",
                                  field="expiry")
        expiry = live[0]
    elif expiry not in listed:
        raise ValidationError(f"{u} has no options expiring {expiry} in the master "
                              f"(expiries: {', '.join(d.isoformat() for d in listed[:8])})", field="expiry")
    contracts = [i for i in master.search(exchange=exchange, underlying=u, expiry=expiry) if i.is_option]
    by_strike: dict[float, dict[str, Any]] = {}
    for i in contracts:
        by_strike.setdefault(float(i.strike), {})[i.instrument_type.value] = i
    ks = np.array(sorted(by_strike), dtype=float)
    t = time_to_expiry(expiry, now, exchange)
    notes = []
    rows = {}
    premiums: dict[str, np.ndarray] = {}  # what each side's IV is solved from
    for side in ("CE", "PE"):
        data = {f: [] for f in SIDE_FIELDS}
        prem = []
        for k in ks:
            inst = by_strike[k].get(side)
            f = _lookup(quotes, inst.key) if inst is not None else None
            data["key"].append(inst.key if inst is not None else None)
            for name in ("ltp", "bid", "ask", "bid_qty", "ask_qty", "oi", "oi_day_high", "oi_day_low", "volume"):
                data[name].append(_num(f[name]) if f else math.nan)
            prev = (previous_oi or {}).get(inst.key) if inst is not None else None
            data["oi_change"].append(_num(f["oi"]) - float(prev) if f and prev is not None else math.nan)
            prem.append(_mid(f) if price == "mid" else (_num(f["ltp"]) if f else math.nan))
        rows[side] = data
        premiums[side] = np.array(prem, float)
    if previous_oi is None:
        notes.append("OI change needs the previous session's OI (previous_oi=); Kite's quote has none")
    # the forward
    fwd, src = math.nan, "none"
    fut = next((i for i in master.search(exchange=exchange, underlying=u, instrument_type="FUT", expiry=expiry)), None)
    if fut is not None:
        ff = _lookup(quotes, fut.key)
        if ff and _num(ff["ltp"]) > 0:
            fwd, src = _num(ff["ltp"]), f"future {fut.key}"
    if not fwd > 0 and len(ks):
        c, p = premiums["CE"], premiums["PE"]
        both = np.isfinite(c) & np.isfinite(p)
        if both.any():
            j = int(np.nanargmin(np.where(both, np.abs(c - p), np.inf)))
            fwd = float(ks[j] + math.exp(rate * max(t, 0.0)) * (c[j] - p[j]))
            src = f"put-call parity at {ks[j]:g}"
    if not fwd > 0:
        sf = _lookup(quotes, spot_key(u, exchange))
        if sf and _num(sf["ltp"]) > 0:
            fwd, src = _num(sf["ltp"]) * math.exp(rate * max(t, 0.0)), f"spot {spot_key(u, exchange)} grown at {rate:g}"
    if not fwd > 0:
        notes.append("no forward: no quote for the future, a CE/PE pair or the spot; IV and Greeks are NaN")
    out = pd.DataFrame(index=pd.Index(ks, name="strike"))
    for side, flag in (("CE", "c"), ("PE", "p")):
        d = rows[side]
        premium = premiums[side]
        iv, why = implied_vol(premium, fwd, ks, t, rate, flag, with_reason=True) if len(ks) else (np.array([]), [])
        g = black76_greeks(fwd, ks, t, iv, rate, flag) if len(ks) else {}
        d["iv"], d["iv_note"] = iv, list(why)
        for name in ("delta", "gamma", "theta", "vega"):
            d[name] = g.get(name, [])
        for name in SIDE_FIELDS:
            out[f"{side.lower()}_{name}"] = d[name]
    if strikes is not None and fwd > 0 and len(ks):
        atm = int(np.argmin(np.abs(ks - fwd)))
        out = out.iloc[max(0, atm - strikes): atm + strikes + 1]
    out.attrs.update({"underlying": u, "exchange": exchange, "expiry": expiry, "as_of": now, "t_years": t,
                      "forward": fwd, "forward_source": src, "rate": rate, "price": price, "notes": notes,
                      "lot_size": contracts[0].lot_size if contracts else None})
    return out


def chain(underlying: str, expiry: date | str | None = None, **kw) -> pd.DataFrame:
    """:func:`option_chain` with the master loaded for the day when none is given (``master=``)."""
    if kw.get("master") is None:
        from tradekit.market.master import load_master

        now = kw.get("now") or datetime.now(IST)
        kw["master"], _ = load_master(kw.pop("config", None), now.astimezone(IST).date())
        if not kw["master"].search(exchange=kw.get("exchange", "NFO"), underlying=underlying.upper()):
            from tradekit.market.instruments import InstrumentStore

            kw["master"] = InstrumentStore.bundled(include_nfo_sample=True)
    kw.pop("config", None)
    return option_chain(underlying, expiry, **kw)
