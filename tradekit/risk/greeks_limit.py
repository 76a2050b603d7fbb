"""Greeks of the F&O book, per position, strategy and account, and the gate's limits on them.

Codes: ``NET_DELTA`` (₹ of underlying), ``NET_VEGA`` (₹ per volatility point) and
``PREMIUM_AT_RISK`` (₹ of long option premium), each per strategy and for the account. The
rules are registered in the gate's registry (:func:`tradekit.risk.gate_checks.register_entry_rule`) when
this module is imported (``tradekit.risk.config`` imports it), for derivatives only: an equity order
does not call them (the gate tests one flag), and only on entries (a reducing order skips them, as
every exposure check).

Greeks (:mod:`tradekit.options.greeks`, Black-76) per unit of each F&O position:

* a future: delta 1, vega 0;
* an option: implied volatility from its mark (the position's last price; for the order, its
  price) on the forward, which is the quote of the future of the same expiry if there is one,
  else the underlying's spot (``NSE:NIFTY 50`` for NIFTY, ``NSE:<name>`` for a stock) grown at
  ``rate``; a premium below the intrinsic value counts at zero volatility (delta ±1 or 0).

₹ delta = delta × quantity × multiplier × forward (a move of the underlying by 1 % moves the book
by 1 % of it); ₹ vega = vega × quantity × multiplier; premium at risk = Σ of long options'
quantity × multiplier × mark (what expiring worthless would lose), plus a buy order's premium.
Prices come from the account's last prices (the market-data hub's, in paper and live alike).

A position whose Greeks cannot be computed (no price for the underlying, no premium) makes the
check fail closed for new entries, naming the instrument and what is missing.

Config (``risk.greeks``)::

    risk:
      greeks:
        rate: 0.065
        account: {max_net_delta: 2500000, max_net_vega: 40000, max_premium_at_risk: 200000}
        strategy_default: {max_net_delta: 1000000}
        strategies: {straddle: {max_net_vega: 15000}}
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from tradekit.risk.base import CheckResult

if TYPE_CHECKING:  # pragma: no cover
    from tradekit.model.instrument import Instrument

__all__ = ["GreekLimits", "GreeksSettings", "GreeksRule", "position_greeks", "book_greeks", "greeks_report", "build"]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GreekLimits(_Base):
    """Limits of one scope (a strategy or the account); ``null`` = no limit."""

    max_net_delta: float | None = Field(None, gt=0, description="|Σ delta × qty × multiplier × forward|, rupees")
    max_net_vega: float | None = Field(None, gt=0, description="|Σ vega × qty × multiplier|, rupees per vol point")
    max_premium_at_risk: float | None = Field(None, gt=0, description="Σ long option premium at its mark, rupees")

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.max_net_delta, self.max_net_vega, self.max_premium_at_risk))


class GreeksSettings(_Base):
    """The ``risk.greeks`` section (see the module docstring)."""

    rate: float = Field(0.065, ge=-0.5, lt=1.0, description="continuously compounded rate for forwards and discounting")
    account: GreekLimits = Field(default_factory=GreekLimits, description="limits on the whole account")
    strategy_default: GreekLimits = Field(default_factory=GreekLimits,
                                          description="limits on each strategy not named under strategies")
    strategies: dict[str, GreekLimits] = Field(default_factory=dict, description="limits per strategy name")

    @property
    def active(self) -> bool:
        return self.account.any or self.strategy_default.any or any(v.any for v in self.strategies.values())


class Unpriced(Exception):
    """A position's Greeks cannot be computed (the message says why)."""


def _price(prices, key: str) -> float | None:
    v = prices.get(key) if prices is not None else None
    try:
        f = float(v) if v is not None else None
    except (TypeError, ValueError):
        return None
    return f if f is not None and math.isfinite(f) and f > 0 else None


def _forward(inst: "Instrument", instruments, prices, rate: float, t: float) -> tuple[float, str]:
    from tradekit.options.chain import spot_key

    u = (inst.underlying or inst.name or "").upper()
    if instruments is not None and hasattr(instruments, "search") and inst.expiry is not None:
        for f in instruments.search(exchange=inst.exchange, underlying=u, instrument_type="FUT", expiry=inst.expiry):
            p = _price(prices, f.key)
            if p is not None:
                return p, f.key
    sk = spot_key(u, inst.exchange.value)
    p = _price(prices, sk)
    if p is None:
        raise Unpriced(f"{inst.key}: no price for its underlying ({sk}) or a future of its expiry to compute Greeks")
    return p * math.exp(rate * max(t, 0.0)), sk


def position_greeks(inst: "Instrument", quantity: int, mark: float | None, *, now: datetime, instruments=None,
                    prices=None, rate: float = 0.065) -> dict:
    """₹ delta, ₹ vega and premium at risk of ``quantity`` units of ``inst`` at ``mark``; raises :class:`Unpriced`."""
    mult = inst.multiplier or 1
    if inst.instrument_type.value == "FUT":
        f = mark if mark and mark > 0 else _price(prices, inst.key)
        if f is None:
            raise Unpriced(f"{inst.key}: no price to value the future's delta")
        return {"delta": quantity * mult * f, "vega": 0.0, "premium": 0.0, "delta_per_unit": 1.0, "iv": math.nan}
    from tradekit.options.chain import time_to_expiry
    from tradekit.options.greeks import black76_greeks, implied_vol

    t = time_to_expiry(inst.expiry, now) if inst.expiry else 0.0
    fwd, _ = _forward(inst, instruments, prices, rate, t)
    if mark is None or not mark > 0:
        raise Unpriced(f"{inst.key}: no premium to imply its volatility")
    flag = "c" if inst.instrument_type.value == "CE" else "p"
    k = float(inst.strike or 0)
    iv, why = implied_vol(mark, fwd, k, t, rate, flag, with_reason=True)
    if why in ("below intrinsic", "expired"):
        iv = 0.0
    elif not iv == iv:  # NaN: above the maximum, bad input
        raise Unpriced(f"{inst.key}: no implied volatility from {mark:g} on a forward of {fwd:,.2f} ({why})")
    g = black76_greeks(fwd, k, t, iv, rate, flag)
    return {"delta": g["delta"] * quantity * mult * fwd, "vega": g["vega"] * quantity * mult,
            "premium": quantity * mult * mark if quantity > 0 else 0.0, "delta_per_unit": g["delta"], "iv": iv}


def book_greeks(book, *, now: datetime, instruments, prices=None, rate: float = 0.065, strategy: str | None = None):
    """Rows (strategy, instrument, quantity, delta, vega, premium, iv, problem) of the book's F&O positions.

    Aggregate with pandas: ``df.groupby("strategy")[["delta", "vega", "premium"]].sum()``.
    """
    rows = []
    for p in list(book.positions.values()):
        if not p.quantity or (strategy is not None and p.strategy != strategy):
            continue
        inst = instruments.find(p.exchange, p.tradingsymbol) if instruments is not None else None
        if inst is None or not inst.is_derivative:
            continue
        mark = float(p.last_price) if p.last_price is not None else _price(prices, inst.key)
        try:
            g = position_greeks(inst, p.quantity, mark, now=now, instruments=instruments, prices=prices, rate=rate)
            problem = ""
        except Unpriced as e:
            g, problem = {"delta": math.nan, "vega": math.nan, "premium": math.nan, "iv": math.nan}, str(e)
        rows.append({"strategy": p.strategy, "instrument": inst.key, "quantity": p.quantity, "delta": g["delta"],
                     "vega": g["vega"], "premium": g["premium"], "iv": g["iv"], "problem": problem})
    return rows


def greeks_report(book, *, now: datetime, instruments, prices=None, rate: float = 0.065):
    """The F&O book's Greeks as three DataFrames: per position, per strategy, and the account's total.

    ``prices``: last prices by key (a session's ``session.account.prices``, which its market-data hub keeps),
    for the underlyings and the options' premiums; a position that cannot be valued keeps its ``problem``.
    """
    import pandas as pd

    cols = ["strategy", "instrument", "quantity", "delta", "vega", "premium", "iv", "problem"]
    pos = pd.DataFrame(book_greeks(book, now=now, instruments=instruments, prices=prices, rate=rate), columns=cols)
    sums = ["delta", "vega", "premium"]
    by_strategy = pos.groupby("strategy")[sums].sum(min_count=1) if len(pos) else pd.DataFrame(columns=sums)
    account = pos[sums].sum(min_count=1).rename("account").to_frame().T
    return pos, by_strategy, account


class GreeksRule:
    """The Greek limits of one ``risk`` section (see :func:`_registered`)."""

    CODES = ("NET_DELTA", "NET_VEGA", "PREMIUM_AT_RISK")

    def __init__(self, settings: GreeksSettings):
        self.settings = settings
        self._memo: tuple | None = None  # (order id, time, results): the three registered rules share one evaluation

    def limits_for(self, strategy: str) -> GreekLimits:
        s = self.settings
        return s.strategies.get(strategy, s.strategy_default)

    def results(self, order, ctx, inst, signed: int, price: float | None) -> dict[str, CheckResult]:
        """Per code, the result of the scope (strategy or account) nearest to or past its limit."""
        memo = self._memo
        if memo is not None and memo[0] is order and memo[1] == ctx.now and memo[2] == signed:
            return memo[3]
        out = self._evaluate(order, ctx, inst, signed, price)
        self._memo = (order, ctx.now, signed, out)
        return out

    def _evaluate(self, order, ctx, inst, signed, price) -> dict[str, CheckResult]:
        s = self.settings
        acct = ctx.account
        instruments = getattr(acct, "instruments", None)
        prices = getattr(acct, "prices", None)
        strat = order.strategy
        scopes = [(f"strategy {strat}", self.limits_for(strat), strat), ("account", s.account, None)]
        scopes = [x for x in scopes if x[1].any]
        if not scopes:
            return {}
        try:
            mark = price if price is not None else _price(prices, inst.key)
            after = position_greeks(inst, signed, mark, now=ctx.now, instruments=instruments, prices=prices,
                                    rate=s.rate)
            before_rows = book_greeks(ctx.book, now=ctx.now, instruments=instruments, prices=prices, rate=s.rate)
            bad = [r for r in before_rows if r["problem"]]
            if bad:
                raise Unpriced(bad[0]["problem"])
        except Unpriced as e:  # fail closed: the limits cannot be evaluated
            return {"NET_DELTA": CheckResult("NET_DELTA", False, f"Greek limits: {e}")}
        out: dict[str, CheckResult] = {}
        for label, lim, only in scopes:
            rows = [r for r in before_rows if only is None or r["strategy"] == only]
            d0, v0, p0 = (sum(r[k] for r in rows) for k in ("delta", "vega", "premium"))
            d1, v1, p1 = d0 + after["delta"], v0 + after["vega"], p0 + after["premium"]
            for code, lim_v, new, cur, unit in (
                    ("NET_DELTA", lim.max_net_delta, d1, d0, "₹ of underlying"),
                    ("NET_VEGA", lim.max_net_vega, v1, v0, "₹ per vol point"),
                    ("PREMIUM_AT_RISK", lim.max_premium_at_risk, p1, p0, "₹ of long premium")):
                if lim_v is None:
                    continue
                ok = abs(new) <= lim_v * (1 + 1e-12) or abs(new) <= abs(cur)
                msg = "" if ok else (f"{inst.tradingsymbol}: {label}'s {code.lower().replace('_', ' ')} would be "
                                     f"{new:+,.0f} {unit}, limit {lim_v:,.0f}")
                r = CheckResult(code, ok, msg, abs(new), lim_v)
                prev = out.get(code)
                # keep the failing one, else the one using more of its limit
                if prev is None or (prev.ok and (not ok or r.value / r.limit > prev.value / prev.limit)):
                    out[code] = r
        return out


def _rule_of(gate) -> GreeksRule | None:
    """The gate's rule, built once per config object (None when its ``risk.greeks`` sets no limit)."""
    cfg = gate.config
    cached = gate.__dict__.get("_greeks_rule")
    if cached is None or cached[0] is not cfg:
        cached = gate._greeks_rule = (cfg, build(cfg))
    return cached[1]


def _registered(code: str):
    def rule(gate, order, ctx, facts):
        # registered for derivatives only: an equity order never calls this
        inst = ctx.instrument
        if inst is None or not inst.is_derivative:  # an F&O exchange's order without its instrument
            return None
        r = _rule_of(gate)
        if r is None:
            return None
        return r.results(order, ctx, inst, facts.signed, facts.price).get(code)

    rule.__name__ = rule.__qualname__ = f"greek_limit_{code.lower()}"
    rule.applies_to = lambda gate: _rule_of(gate) is not None  # no Greek limit configured: never a result
    return rule


def _register() -> None:
    from tradekit.risk.gate_checks import register_entry_rule

    for code in GreeksRule.CODES:
        register_entry_rule(_registered(code), derivatives_only=True)


def build(risk_config) -> GreeksRule | None:
    """The rule for a ``risk`` section, or None when it sets no Greek limit (the gate then skips it)."""
    g = getattr(risk_config, "greeks", None)
    return GreeksRule(g) if g is not None and g.active else None


_register()  # the gate's registry (tradekit.risk.gate_checks): NET_DELTA, NET_VEGA, PREMIUM_AT_RISK
