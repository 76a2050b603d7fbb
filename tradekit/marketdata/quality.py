"""Live data quality: each tick is checked against what the hub accepted before for its key.

A suspect print (outside the day's price band, a jump far beyond recent volatility, a crossed
quote) is *quarantined*: nobody trades on it. The next ticks decide: ``confirm_ticks`` ticks
consistent with it confirm it (the market really moved, e.g. news); a tick consistent with the
last accepted price drops it (a bad print). A tick older, in exchange time, than the last
accepted one is dropped at once. Every decision is a finding the hub journals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tradekit.data.types import Tick
from tradekit.marketdata.config import QualitySettings

_EWMA = 0.94  # RiskMetrics' decay for the per-tick variance of log returns


@dataclass(slots=True)
class KeyState:
    """What the checks remember of one instrument."""

    last: float = 0.0  # last accepted price
    ts: object = None  # last accepted exchange timestamp
    n: int = 0  # accepted returns
    var: float = 0.0  # EWMA of squared log returns
    prev_close: float | None = None
    band: tuple[float, float] | None = None  # circuit limits when known
    quarantined: Tick | None = None
    q_why: str = ""
    q_since: float = 0.0  # monotonic seconds
    q_confirms: int = 0
    findings: int = 0

    def accept(self, t: Tick) -> None:
        self.accept_price(t.last_price)
        ts = t.ts or t.last_trade_time
        if ts is not None:
            self.ts = ts
        if t.close:
            self.prev_close = t.close

    def accept_price(self, p: float) -> None:
        """The price part of :meth:`accept` (a replay's quiet run of bars takes their prices one by
        one and their last tick's time once)."""
        if self.last > 0 and p > 0:
            r = math.log(p / self.last)
            self.var = r * r if self.n == 0 else _EWMA * self.var + (1 - _EWMA) * r * r
            self.n += 1
        self.last = p


@dataclass(frozen=True, slots=True)
class Finding:
    """One quality decision: ``quarantined``, ``confirmed``, ``dropped``."""

    what: str
    key: str
    price: float
    why: str

    def payload(self) -> dict:
        return {"kind": "market_data", "finding": self.what, "key": self.key, "price": f"{self.price:.4f}",
                "why": self.why}


class QualityChecker:
    """Decides, tick by tick, what the hub accepts (see the module docstring)."""

    def __init__(self, settings: QualitySettings | None = None, *, is_index=lambda key: False) -> None:
        self.cfg = settings or QualitySettings()
        self.is_index = is_index

    def band(self, key: str, st: KeyState, t: Tick) -> tuple[float, float] | None:
        if st.band is not None:
            return st.band
        pct = self.cfg.default_band_pct
        base = t.close or st.prev_close
        if pct is None or not base or self.is_index(key):
            return None
        return base * (1 - pct / 100), base * (1 + pct / 100)

    def _jump_limit(self, st: KeyState) -> float:
        c = self.cfg
        lim = math.log1p(c.jump_min_pct / 100)  # log space: the same limit up and down
        if st.n >= c.jump_min_ticks and st.var > 0:
            lim = max(lim, c.jump_sigmas * math.sqrt(st.var))
        return lim

    def why(self, key: str, st: KeyState, t: Tick) -> str:
        """Why ``t`` is suspect against the accepted state ("" when it is not)."""
        c = self.cfg
        p = t.last_price
        if c.crossed_check and t.bids and t.asks:
            b, a = t.bids[0].price, t.asks[0].price
            if b > 0 and a > 0 and b > a:
                return f"crossed quote: best bid {b:.2f} above best ask {a:.2f}"
        if c.band_check:
            band = self.band(key, st, t)
            if band is not None and not (band[0] <= p <= band[1]):
                return f"price {p:.2f} outside the price band {band[0]:.2f}-{band[1]:.2f}"
        if st.last > 0:
            move = abs(math.log(p / st.last))
            lim = self._jump_limit(st)
            if move > lim:
                return (f"moved {100 * (p / st.last - 1):+.2f} % from the last accepted {st.last:.2f} "
                        f"(limit {100 * (math.exp(lim) - 1):.2f} %)")
        return ""

    def check(self, key: str, st: KeyState, t: Tick, mono: float) -> tuple[bool, list[Finding]]:
        """``(accept t?, findings)``; updates the quarantine of ``st`` (not its accepted state)."""
        c = self.cfg
        p = t.last_price
        if not c.enabled:
            return True, []
        ts = t.ts or t.last_trade_time
        if c.order_check and ts is not None and st.ts is not None and ts < st.ts:
            return False, [Finding("dropped", key, p, f"exchange time {ts:%H:%M:%S} before the last accepted "
                                                     f"{st.ts:%H:%M:%S} (out of order)")]
        why = self.why(key, st, t)
        q = st.quarantined
        if q is None:
            if not why:
                return True, []
            st.quarantined, st.q_why, st.q_since, st.q_confirms = t, why, mono, 0
            return False, [Finding("quarantined", key, p, why)]
        if not why:  # back in line with the accepted prices: the quarantined print was bad
            st.quarantined = None
            return True, [Finding("dropped", key, q.last_price, f"{st.q_why}; not confirmed: the next print "
                                                                f"{p:.2f} is in line with {st.last:.2f}")]
        near = abs(math.log(p / q.last_price)) <= self._jump_limit(st)
        crossed = bool(c.crossed_check and t.bids and t.asks and 0 < t.asks[0].price < t.bids[0].price)
        if near and not crossed:
            st.q_confirms += 1
            if st.q_confirms >= c.confirm_ticks:
                st.quarantined = None
                if "band" in st.q_why:  # the market trades there: the band we knew is out of date
                    st.band = (0.0, math.inf)
                return True, [Finding("confirmed", key, p, f"{st.q_why}; confirmed by {st.q_confirms} consistent "
                                                           f"tick(s)")]
        return False, []

    def expire(self, key: str, st: KeyState, mono: float) -> list[Finding]:
        """Drop a quarantined tick that waited longer than ``quarantine_seconds``."""
        q = st.quarantined
        if q is None or mono - st.q_since < self.cfg.quarantine_seconds:
            return []
        st.quarantined = None
        return [Finding("dropped", key, q.last_price, f"{st.q_why}; not confirmed within "
                                                      f"{self.cfg.quarantine_seconds:g} s")]
