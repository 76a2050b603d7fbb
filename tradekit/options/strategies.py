"""Multi-leg option strategies resolved against the instrument master.

    from tradekit.options import strategies as st
    ic = st.iron_condor(master, "NIFTY", expiry="near", spot=24870, put_buy="ATM-3", put_sell="ATM-1",
                        call_sell="ATM+1", call_buy="ATM+3", lots=1, premiums={"NFO:NIFTY26AUG24800PE": 80, ...})
    ic.legs            # four Leg rows: instrument, side, lots, quantity (lots × the contract's lot), premium

**Strikes** are explicit (``24500``) or an offset from the at-the-money strike in *listed*
strikes of that chain: ``"ATM"``, ``"ATM+2"`` (two listed strikes above), ``"ATM-1"``. ATM is the
listed strike nearest ``spot`` (the lower one on a tie); a chain is the underlying's options of one
expiry on one exchange, as the master lists them (irregular spacing stays as listed).
**Expiries** are a date, ``"near"`` / ``"next"`` / ``"far"``, or an index (0 = nearest on or after
``today``). **Lots** are whole lots; the quantity is lots × the contract's own lot size (old
contracts keep old lots, india.md §6.2). **Premiums** (per unit, the expected entry price) come
from ``premiums`` (a mapping ``EXCHANGE:SYMBOL → price`` or a callable); a leg without one has
``premium=None`` and payoff/margin refuse it by name.

Builders: :func:`straddle`, :func:`strangle`, :func:`bull_call`, :func:`bear_call`,
:func:`bull_put`, :func:`bear_put`, :func:`iron_condor`, :func:`calendar`, :func:`custom`; and
:func:`build` (by name, from a dict: what a basket signal or ``session.basket`` carries).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from tradekit.errors import ValidationError
from tradekit.model.enums import Exchange, InstrumentType, Side
from tradekit.model.instrument import Instrument

_OFFSET = re.compile(r"^\s*ATM\s*(?:([+-])\s*(\d+))?\s*$", re.IGNORECASE)
_EXPIRY_WORDS = {"near": 0, "next": 1, "far": 2}

Prices = Mapping[str, object] | Callable[[str], object] | None


@dataclass(frozen=True)
class Leg:
    """One leg: ``lots`` whole lots of ``instrument`` bought or sold at ``premium`` per unit."""

    instrument: Instrument
    side: Side
    lots: int
    premium: Decimal | None = None

    @property
    def quantity(self) -> int:
        """Units to order: lots × the contract's lot size."""
        return self.lots * self.instrument.lot_size

    @property
    def sign(self) -> int:
        return 1 if self.side is Side.BUY else -1

    @property
    def key(self) -> str:
        return self.instrument.key

    @property
    def kind(self) -> str:
        return self.instrument.instrument_type.value

    @property
    def strike(self) -> Decimal | None:
        return self.instrument.strike

    @property
    def expiry(self) -> date | None:
        return self.instrument.expiry

    @property
    def multiplier(self) -> int:
        return self.instrument.multiplier or 1

    def units(self) -> int:
        """Quotation units the payoff is counted in (quantity × multiplier)."""
        return self.quantity * self.multiplier

    def with_premium(self, premium) -> Leg:
        return Leg(self.instrument, self.side, self.lots, _price(premium, f"{self.key} premium"))

    def to_dict(self) -> dict:
        return {"exchange": self.instrument.exchange.value, "tradingsymbol": self.instrument.tradingsymbol,
                "side": self.side.value, "lots": self.lots, "quantity": self.quantity,
                "lot_size": self.instrument.lot_size, "kind": self.kind,
                "strike": None if self.strike is None else str(self.strike),
                "expiry": None if self.expiry is None else self.expiry.isoformat(),
                "multiplier": self.multiplier, "premium": None if self.premium is None else str(self.premium)}

    def describe(self) -> str:
        px = "" if self.premium is None else f" @ {self.premium}"
        return f"{self.side.value} {self.lots} lot{'s' if self.lots != 1 else ''} {self.key} ({self.quantity}){px}"


@dataclass(frozen=True)
class Strategy:
    """A named list of legs on one underlying (``spot``: the underlying's price it was built at)."""

    name: str
    underlying: str
    legs: tuple[Leg, ...]
    spot: Decimal | None = None
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not self.legs:
            raise ValidationError("a strategy needs at least one leg", field="legs")

    @property
    def expiries(self) -> list[date]:
        return sorted({leg.expiry for leg in self.legs if leg.expiry is not None})

    @property
    def net_premium(self) -> Decimal:
        """₹ paid (positive, a debit) or received (negative, a credit) for the whole basket."""
        total = Decimal(0)
        for leg in self.legs:
            if leg.premium is None:
                raise ValidationError(f"{leg.key}: no premium (pass premiums= or a limit price)", field="premium")
            total += leg.sign * leg.premium * leg.units()
        return total

    def with_premiums(self, premiums: Prices) -> Strategy:
        """The same legs priced from ``premiums`` (legs it does not price keep theirs)."""
        legs = []
        for leg in self.legs:
            p = _lookup(premiums, leg.key)
            legs.append(leg if p is None else leg.with_premium(p))
        return Strategy(self.name, self.underlying, tuple(legs), self.spot, dict(self.meta))

    def to_dict(self) -> dict:
        return {"name": self.name, "underlying": self.underlying, "spot": None if self.spot is None else str(self.spot),
                "legs": [leg.to_dict() for leg in self.legs]}

    @classmethod
    def from_dict(cls, d: Mapping, master) -> Strategy:
        """Rebuild from :meth:`to_dict` (the journal's copy) with the master's instruments."""
        legs = []
        for i, ld in enumerate(d.get("legs") or ()):
            inst = _instrument(master, ld["exchange"], ld["tradingsymbol"], f"legs.{i}")
            legs.append(Leg(inst, Side.parse(ld["side"], f"legs.{i}.side"), int(ld["lots"]),
                            None if ld.get("premium") in (None, "") else Decimal(str(ld["premium"]))))
        spot = d.get("spot")
        return cls(str(d.get("name") or "custom"), str(d.get("underlying") or ""), tuple(legs),
                   None if spot in (None, "") else Decimal(str(spot)))


# -- parsing helpers ---------------------------------------------------------------------------------
def _price(v, name: str) -> Decimal | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValidationError(f"must be a number, {v!r} was received", field=name)
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise ValidationError(f"must be a number, {v!r} was received", field=name) from None
    if not d.is_finite() or d < 0:
        raise ValidationError(f"must be a price of 0 or more, {v!r} was received", field=name)
    return d


def _lookup(prices: Prices, key: str):
    if prices is None:
        return None
    if callable(prices):
        return prices(key)
    return prices.get(key)


def _lots(v, name: str = "lots") -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ValidationError(f"must be a whole number of lots above 0, {v!r} was received", field=name)
    return v


def _side(v, name: str) -> Side:
    return Side.parse(v, name)


def _instrument(master, exchange, symbol, name: str) -> Instrument:
    inst = master.find(exchange, symbol)
    if inst is None:
        raise ValidationError(f"{exchange}:{symbol} is not in the instrument master", field=name)
    return inst


class Chain:
    """The listed options of ``underlying`` on ``exchange``: expiries, strikes, contracts."""

    def __init__(self, master, underlying: str, exchange: Exchange | str = Exchange.NFO):
        self.underlying = underlying.upper()
        self.exchange = Exchange.parse(exchange, "exchange")
        opts = [i for i in master.search(exchange=self.exchange, underlying=self.underlying)
                if i.is_option and i.expiry is not None and i.strike is not None]
        if not opts:
            raise ValidationError(f"no {self.exchange.value} options of {self.underlying} in the instrument master",
                                  field="underlying")
        self._by: dict[tuple[date, Decimal, InstrumentType], Instrument] = {
            (i.expiry, i.strike, i.instrument_type): i for i in opts}
        self.expiries = sorted({i.expiry for i in opts})

    def expiry(self, spec, today: date | None = None, name: str = "expiry") -> date:
        """An expiry from a date, ``near``/``next``/``far`` or an index (0 = the nearest on or after ``today``)."""
        if isinstance(spec, date):
            if spec not in self.expiries:
                raise ValidationError(f"{self.underlying} has no options expiring {spec} (listed: "
                                      f"{', '.join(d.isoformat() for d in self.expiries)})", field=name)
            return spec
        if isinstance(spec, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", spec.strip()):
            return self.expiry(date.fromisoformat(spec.strip()), today, name)
        if isinstance(spec, str):
            if spec.strip().lower() not in _EXPIRY_WORDS:
                raise ValidationError(f"{spec!r}: give a date, near, next, far or an index", field=name)
            idx = _EXPIRY_WORDS[spec.strip().lower()]
        elif isinstance(spec, int) and not isinstance(spec, bool) and spec >= 0:
            idx = spec
        else:
            raise ValidationError(f"{spec!r}: give a date, near, next, far or an index", field=name)
        live = [d for d in self.expiries if today is None or d >= today]
        if idx >= len(live):
            raise ValidationError(f"{spec!r}: {self.underlying} lists {len(live)} expiries from "
                                  f"{today or 'the start'}", field=name)
        return live[idx]

    def strikes(self, expiry: date, kind: InstrumentType | None = None) -> list[Decimal]:
        return sorted({s for (e, s, k) in self._by if e == expiry and (kind is None or k is kind)})

    def strike(self, spec, expiry: date, spot: Decimal | None, kind: InstrumentType, name: str) -> Decimal:
        """An explicit strike (must be listed) or ``ATM[±n]`` in listed strikes of this kind."""
        listed = self.strikes(expiry, kind)
        if not listed:
            raise ValidationError(f"{self.underlying} lists no {kind.value} options expiring {expiry}", field=name)
        if isinstance(spec, str) and _OFFSET.match(spec):
            m = _OFFSET.match(spec)
            if spot is None:
                raise ValidationError(f"{spec!r} needs the underlying's price (spot=)", field=name)
            atm = min(range(len(listed)), key=lambda i: (abs(listed[i] - spot), listed[i]))
            off = int(m.group(2) or 0) * (-1 if m.group(1) == "-" else 1)
            if not 0 <= atm + off < len(listed):
                raise ValidationError(f"{spec!r}: only {atm} listed strikes below and {len(listed) - atm - 1} above "
                                      f"ATM {listed[atm]} for {self.underlying} {expiry}", field=name)
            return listed[atm + off]
        value = _price(spec, name)
        if value not in listed:
            near = sorted(listed, key=lambda s: abs(s - value))[:3]
            raise ValidationError(f"{spec!r} is not a listed {kind.value} strike of {self.underlying} {expiry} "
                                  f"(nearest: {', '.join(str(s) for s in sorted(near))})", field=name)
        return value

    def contract(self, expiry: date, strike: Decimal, kind: InstrumentType) -> Instrument:
        return self._by[(expiry, strike, kind)]


# -- builders ----------------------------------------------------------------------------------------
def _ctx(master, underlying, exchange, expiry, spot, today):
    chain = Chain(master, underlying, exchange)
    exp = chain.expiry(expiry, today)
    return chain, exp, _price(spot, "spot")


def _leg(chain: Chain, exp: date, spot, kind: InstrumentType, strike, side, lots, premiums: Prices, name: str) -> Leg:
    k = chain.strike(strike, exp, spot, kind, name)
    inst = chain.contract(exp, k, kind)
    return Leg(inst, _side(side, f"{name}.side") if not isinstance(side, Side) else side, _lots(lots),
               _price(_lookup(premiums, inst.key), f"{inst.key} premium"))


def _flip(side) -> Side:
    s = Side.parse(side, "side") if not isinstance(side, Side) else side
    return Side.SELL if s is Side.BUY else Side.BUY


def _made(name, chain, legs, spot, **meta) -> Strategy:
    return Strategy(name, chain.underlying, tuple(legs), spot, meta)


def straddle(master, underlying: str, *, expiry="near", strike="ATM", side="BUY", lots: int = 1, spot=None,
             premiums: Prices = None, exchange="NFO", today: date | None = None) -> Strategy:
    """A call and a put at one strike, both bought (long) or both sold (short)."""
    chain, exp, spot = _ctx(master, underlying, exchange, expiry, spot, today)
    s = Side.parse(side, "side")
    return _made(f"{'long' if s is Side.BUY else 'short'} straddle", chain,
                 [_leg(chain, exp, spot, InstrumentType.CE, strike, s, lots, premiums, "strike"),
                  _leg(chain, exp, spot, InstrumentType.PE, strike, s, lots, premiums, "strike")], spot)


def strangle(master, underlying: str, *, expiry="near", call_strike="ATM+1", put_strike="ATM-1", side="BUY",
             lots: int = 1, spot=None, premiums: Prices = None, exchange="NFO", today: date | None = None) -> Strategy:
    """An out-of-the-money call and put, both bought or both sold."""
    chain, exp, spot = _ctx(master, underlying, exchange, expiry, spot, today)
    s = Side.parse(side, "side")
    legs = [_leg(chain, exp, spot, InstrumentType.PE, put_strike, s, lots, premiums, "put_strike"),
            _leg(chain, exp, spot, InstrumentType.CE, call_strike, s, lots, premiums, "call_strike")]
    if legs[0].strike >= legs[1].strike:
        raise ValidationError(f"the put strike {legs[0].strike} must be below the call strike {legs[1].strike}",
                              field="put_strike")
    return _made(f"{'long' if s is Side.BUY else 'short'} strangle", chain, legs, spot)


def _vertical(name, kind, buy_low: bool, master, underlying, *, expiry, lower, upper, lots, spot, premiums,
              exchange, today) -> Strategy:
    chain, exp, spot = _ctx(master, underlying, exchange, expiry, spot, today)
    lo_side, hi_side = (Side.BUY, Side.SELL) if buy_low else (Side.SELL, Side.BUY)
    lo = _leg(chain, exp, spot, kind, lower, lo_side, lots, premiums, "lower")
    hi = _leg(chain, exp, spot, kind, upper, hi_side, lots, premiums, "upper")
    if lo.strike >= hi.strike:
        raise ValidationError(f"the lower strike {lo.strike} must be below the upper strike {hi.strike}", field="lower")
    return _made(name, chain, [lo, hi], spot)


def bull_call(master, underlying, *, expiry="near", lower="ATM", upper="ATM+1", lots=1, spot=None, premiums=None,
              exchange="NFO", today=None) -> Strategy:
    """Buy the lower call, sell the upper call (a debit spread)."""
    return _vertical("bull call spread", InstrumentType.CE, True, master, underlying, expiry=expiry, lower=lower,
                     upper=upper, lots=lots, spot=spot, premiums=premiums, exchange=exchange, today=today)


def bear_call(master, underlying, *, expiry="near", lower="ATM", upper="ATM+1", lots=1, spot=None, premiums=None,
              exchange="NFO", today=None) -> Strategy:
    """Sell the lower call, buy the upper call (a credit spread)."""
    return _vertical("bear call spread", InstrumentType.CE, False, master, underlying, expiry=expiry, lower=lower,
                     upper=upper, lots=lots, spot=spot, premiums=premiums, exchange=exchange, today=today)


def bull_put(master, underlying, *, expiry="near", lower="ATM-1", upper="ATM", lots=1, spot=None, premiums=None,
             exchange="NFO", today=None) -> Strategy:
    """Buy the lower put, sell the upper put (a credit spread)."""
    return _vertical("bull put spread", InstrumentType.PE, True, master, underlying, expiry=expiry, lower=lower,
                     upper=upper, lots=lots, spot=spot, premiums=premiums, exchange=exchange, today=today)


def bear_put(master, underlying, *, expiry="near", lower="ATM-1", upper="ATM", lots=1, spot=None, premiums=None,
             exchange="NFO", today=None) -> Strategy:
    """Sell the lower put, buy the upper put (a debit spread)."""
    return _vertical("bear put spread", InstrumentType.PE, False, master, underlying, expiry=expiry, lower=lower,
                     upper=upper, lots=lots, spot=spot, premiums=premiums, exchange=exchange, today=today)


def iron_condor(master, underlying, *, expiry="near", put_buy="ATM-3", put_sell="ATM-1", call_sell="ATM+1",
                call_buy="ATM+3", side="SELL", lots=1, spot=None, premiums=None, exchange="NFO", today=None) -> Strategy:
    """A bull put spread and a bear call spread (``side="SELL"``, a credit); ``side="BUY"`` flips every leg."""
    chain, exp, spot = _ctx(master, underlying, exchange, expiry, spot, today)
    short = Side.parse(side, "side") is Side.SELL
    b, s = (Side.BUY, Side.SELL) if short else (Side.SELL, Side.BUY)
    legs = [_leg(chain, exp, spot, InstrumentType.PE, put_buy, b, lots, premiums, "put_buy"),
            _leg(chain, exp, spot, InstrumentType.PE, put_sell, s, lots, premiums, "put_sell"),
            _leg(chain, exp, spot, InstrumentType.CE, call_sell, s, lots, premiums, "call_sell"),
            _leg(chain, exp, spot, InstrumentType.CE, call_buy, b, lots, premiums, "call_buy")]
    k = [leg.strike for leg in legs]
    if not (k[0] < k[1] <= k[2] < k[3]):
        raise ValidationError(f"strikes must rise put_buy < put_sell <= call_sell < call_buy, {k} were resolved",
                              field="put_buy")
    return _made(f"{'short' if short else 'long'} iron condor", chain, legs, spot)


def calendar(master, underlying, *, near="near", far="next", strike="ATM", kind="CE", side="BUY", lots=1, spot=None,
             premiums=None, exchange="NFO", today=None) -> Strategy:
    """Sell the near expiry and buy the far one at one strike (``side="BUY"``, a long calendar); SELL flips."""
    chain = Chain(master, underlying, exchange)
    spot_d = _price(spot, "spot")
    e1, e2 = chain.expiry(near, today, "near"), chain.expiry(far, today, "far")
    if e1 >= e2:
        raise ValidationError(f"the near expiry {e1} must be before the far expiry {e2}", field="near")
    k = InstrumentType.parse(kind, "kind")
    if k not in (InstrumentType.CE, InstrumentType.PE):
        raise ValidationError(f"must be CE or PE, {kind!r} was received", field="kind")
    long_ = Side.parse(side, "side") is Side.BUY
    # the strike is resolved on the near chain; the far chain must list it too
    strike_v = chain.strike(strike, e1, spot_d, k, "strike")
    legs = [_leg(chain, e1, spot_d, k, strike_v, Side.SELL if long_ else Side.BUY, lots, premiums, "strike"),
            _leg(chain, e2, spot_d, k, strike_v, Side.BUY if long_ else Side.SELL, lots, premiums, "strike")]
    return _made(f"{'long' if long_ else 'short'} calendar", chain, legs, spot_d)


def custom(master, legs, *, name: str = "custom", spot=None, premiums: Prices = None, underlying: str | None = None,
           exchange="NFO", today=None) -> Strategy:
    """Any list of legs: each ``{"tradingsymbol", ["exchange"], "side", "lots", ["premium"]}`` or
    ``{"kind": "CE"|"PE", "strike": 24500|"ATM+1", "expiry": ..., "side", "lots"}`` (needs ``underlying``)."""
    if not isinstance(legs, (list, tuple)) or not legs:
        raise ValidationError("give a non-empty list of legs", field="legs")
    spot_d = _price(spot, "spot")
    chain = None
    out: list[Leg] = []
    for i, ld in enumerate(legs):
        if isinstance(ld, Leg):
            out.append(ld)
            continue
        if not isinstance(ld, Mapping):
            raise ValidationError(f"each leg is a mapping, {ld!r} was received", field=f"legs.{i}")
        unknown = set(ld) - {"tradingsymbol", "exchange", "side", "lots", "premium", "kind", "strike", "expiry"}
        if unknown:
            raise ValidationError(f"unknown field(s) {', '.join(sorted(unknown))}", field=f"legs.{i}")
        side = Side.parse(ld.get("side"), f"legs.{i}.side")
        lots = _lots(ld.get("lots", 1), f"legs.{i}.lots")
        if ld.get("tradingsymbol"):
            inst = _instrument(master, ld.get("exchange", exchange), ld["tradingsymbol"], f"legs.{i}.tradingsymbol")
            if not inst.is_derivative:
                raise ValidationError(f"{inst.key} is not a future or an option", field=f"legs.{i}.tradingsymbol")
        else:
            if underlying is None:
                raise ValidationError("a leg given by kind/strike/expiry needs underlying=", field=f"legs.{i}")
            chain = chain or Chain(master, underlying, exchange)
            k = InstrumentType.parse(ld.get("kind"), f"legs.{i}.kind")
            exp = chain.expiry(ld.get("expiry", "near"), today, f"legs.{i}.expiry")
            strike = chain.strike(ld.get("strike"), exp, spot_d, k, f"legs.{i}.strike")
            inst = chain.contract(exp, strike, k)
        prem = ld.get("premium")
        if prem is None:
            prem = _lookup(premiums, inst.key)
        out.append(Leg(inst, side, lots, _price(prem, f"legs.{i}.premium")))
    unders = {(leg.instrument.underlying or "").upper() for leg in out}
    if len(unders) != 1:
        raise ValidationError(f"every leg must be on one underlying, {', '.join(sorted(unders))} were given", field="legs")
    return Strategy(name, unders.pop(), tuple(out), spot_d)


BUILDERS: dict[str, Callable[..., Strategy]] = {
    "straddle": straddle, "strangle": strangle, "bull_call": bull_call, "bear_call": bear_call,
    "bull_put": bull_put, "bear_put": bear_put, "iron_condor": iron_condor, "calendar": calendar,
}


def build(master, spec: Mapping, *, premiums: Prices = None, spot=None, today: date | None = None) -> Strategy:
    """A strategy from a dict: ``{"strategy": "iron_condor", "underlying": "NIFTY", "expiry": "near", ...}``
    or ``{"strategy": "custom", "legs": [...]}``; unknown keys are refused by name."""
    if not isinstance(spec, Mapping):
        raise ValidationError(f"a strategy is a mapping, {spec!r} was received", field="strategy")
    kw = dict(spec)
    name = kw.pop("strategy", None)
    if spot is not None and kw.get("spot") is None:
        kw["spot"] = spot
    if name == "custom":
        legs = kw.pop("legs", None)
        allowed = {"name", "spot", "underlying", "exchange"}
        bad = set(kw) - allowed
        if bad:
            raise ValidationError(f"unknown field(s) {', '.join(sorted(bad))} for custom", field="strategy")
        return custom(master, legs, premiums=premiums, today=today, **kw)
    fn = BUILDERS.get(name)
    if fn is None:
        raise ValidationError(f"{name!r} is not one of {', '.join(['custom', *BUILDERS])}", field="strategy")
    underlying = kw.pop("underlying", None)
    if not underlying:
        raise ValidationError(f"{name} needs an underlying", field="underlying")
    import inspect

    params = set(inspect.signature(fn).parameters) - {"master", "underlying", "premiums", "today"}
    bad = set(kw) - params
    if bad:
        raise ValidationError(f"unknown field(s) {', '.join(sorted(bad))} for {name} "
                              f"(it takes {', '.join(sorted(params))})", field="strategy")
    return fn(master, underlying, premiums=premiums, today=today, **kw)
