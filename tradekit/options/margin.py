"""The margin a basket of F&O legs blocks: Kite's basket-margins call in live, a SPAN-like estimate in paper.

**Live** asks Kite (``POST /margins/basket?consider_positions=true`` through the official
client's ``basket_order_margins``; :meth:`tradekit.brokers.kite.broker.KiteBroker.basket_margins`)
and reads its answer with :func:`from_kite`. **Paper and kite-sim** use :func:`estimate`, so a
rehearsal on the sandbox and a paper session agree: the sandbox's ``/margins/basket`` answers
with this very estimate in Kite's shape.

The estimate (documented model, not the exchange's SPAN engine)
---------------------------------------------------------------
Legs are grouped by underlying, priced from the underlying's price ``U``:

* **scan**: scenarios ``U × (1 + x)`` for ``x`` in ``±scan_pct`` (``scan_steps`` each side, plus
  every strike inside the range). In each, a leg is worth its expiry value (option: intrinsic;
  future: the price); an option expiring after the group's first expiry is valued
  conservatively — a long one at its intrinsic value, a short one at its premium plus the change
  of its intrinsic value. The group's *worst loss* is the largest ``−Σ sign × units × (value − premium)``.
* **span** = worst loss − the net option premium (so that span + premium = the worst loss), at
  least 0 and at least the **short option minimum** (``short_option_min_pct`` × U × the short
  option units not covered by long options of the same kind).
* **exposure** = ``exposure_pct`` × U × (short option units + future units), plus the extra
  ELM on short options on their expiry day (dated table, india.md §6.1).
* **option_premium**: per order, a buy's premium (a sell shows 0, as Kite does); for the basket
  (``final``) the net premium, a credit negative.
* ``initial`` = the sum of each order alone (no spread benefit); ``final`` = the basket as one
  group (the hedge benefit of defined-risk spreads: an iron condor's span is its widest wing,
  not two naked shorts). On a leg's expiry day legs of different expiries get no benefit from
  each other (india.md §6.1, from 2025-02-01).
* ``consider_positions``: the open positions join the group; ``final`` then holds the extra
  span and exposure the basket adds (not below 0) and the basket's own premium.

Parameters: ``baskets.margin`` (:class:`~tradekit.options.basket_config.SpanLikeConfig`,
tradekit's values, dated); verified rules: ``tradekit/options/data/margin_rules.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

import yaml

from tradekit.errors import DataError, ValidationError
from tradekit.model.enums import Exchange, InstrumentType, Side
from tradekit.model.instrument import Instrument
from tradekit.options.basket_config import SpanLikeConfig

ZERO = Decimal(0)
_H = Decimal(100)
RULES = Path(__file__).resolve().parent / "data" / "margin_rules.yaml"


@cache
def rules() -> dict:
    """The dated margin rules (``data/margin_rules.yaml``)."""
    try:
        return yaml.safe_load(RULES.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise DataError(f"{RULES}: cannot read the margin rules: {e}") from None


def _dated(name: str, day: date):
    out = None
    for eff, value in rules()[name]["rows"]:
        eff = eff if isinstance(eff, date) else date.fromisoformat(str(eff))
        if eff <= day:
            out = value
    return out


def underlying_key(instrument: Instrument) -> str:
    """The quote a derivative's underlying is priced from: the index (``NSE:NIFTY 50``) or the stock."""
    u = (instrument.underlying or instrument.name or "").upper()
    idx = rules()["index_spot"]["rows"]
    if u in idx:
        return idx[u]
    ex = "BSE" if instrument.exchange in (Exchange.BFO,) else "NSE"
    return f"{ex}:{u}"


def is_index(underlying: str) -> bool:
    return underlying.upper() in rules()["index_spot"]["rows"]


@dataclass(frozen=True)
class MarginLeg:
    """One leg for the margin: ``quantity`` units (lots × lot) bought or sold at ``price`` per unit."""

    instrument: Instrument
    side: Side
    quantity: int
    price: Decimal

    @property
    def sign(self) -> int:
        return 1 if self.side is Side.BUY else -1

    @property
    def units(self) -> int:
        return self.quantity * (self.instrument.multiplier or 1)

    @property
    def underlying(self) -> str:
        return (self.instrument.underlying or self.instrument.name or "").upper()

    @classmethod
    def of(cls, leg) -> MarginLeg:
        """From a :class:`~tradekit.options.strategies.Leg` (its premium is the price)."""
        if leg.premium is None:
            raise ValidationError(f"{leg.key}: no premium to compute the margin", field="premium")
        return cls(leg.instrument, leg.side, leg.quantity, leg.premium)


@dataclass
class MarginBlock:
    """Kite's order-margin block (kite.md §5): span, exposure, option_premium, additional, total."""

    span: Decimal = ZERO
    exposure: Decimal = ZERO
    option_premium: Decimal = ZERO
    additional: Decimal = ZERO
    tradingsymbol: str = ""
    exchange: str = ""
    type: str = ""

    @property
    def total(self) -> Decimal:
        return self.span + self.exposure + self.option_premium + self.additional

    def to_kite(self, charges: dict | None = None, leverage: float = 0) -> dict:
        f = lambda x: float(x)
        return {"type": self.type, "tradingsymbol": self.tradingsymbol, "exchange": self.exchange,
                "span": f(self.span), "exposure": f(self.exposure), "option_premium": f(self.option_premium),
                "additional": f(self.additional), "bo": 0, "cash": 0, "var": 0, "pnl": {"realised": 0, "unrealised": 0},
                "leverage": leverage, "charges": charges if charges is not None else _zero_charges(),
                "total": f(self.total)}


def _zero_charges() -> dict:
    return {"transaction_tax": 0, "transaction_tax_type": "", "exchange_turnover_charge": 0, "sebi_turnover_charge": 0,
            "brokerage": 0, "stamp_duty": 0, "gst": {"igst": 0, "cgst": 0, "sgst": 0, "total": 0}, "total": 0}


@dataclass
class BasketMargin:
    """What a basket blocks: ``final.total`` (with the spread benefit) against ``initial.total`` (without)."""

    initial: MarginBlock
    final: MarginBlock
    orders: list[MarginBlock]
    source: str = "estimate"  # "estimate" (paper, kite-sim) or "kite" (the broker's answer)
    spots: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> Decimal:
        """₹ the broker would block for the basket."""
        return self.final.total

    @property
    def benefit(self) -> Decimal:
        return self.initial.total - self.final.total

    def summary(self) -> dict:
        r = lambda x: str(Decimal(x).quantize(Decimal("0.01")))
        return {"source": self.source, "initial": r(self.initial.total), "final": r(self.final.total),
                "benefit": r(self.benefit), "span": r(self.final.span), "exposure": r(self.final.exposure),
                "option_premium": r(self.final.option_premium), "spots": {k: str(v) for k, v in self.spots.items()},
                "notes": list(self.notes)}


def from_kite(data: Mapping) -> BasketMargin:
    """Kite's ``/margins/basket`` answer (the client's ``data``) as a :class:`BasketMargin`."""
    def blk(d: Mapping) -> MarginBlock:
        g = lambda k: Decimal(str(d.get(k) or 0)).quantize(Decimal("0.01"))
        # Kite's total may include parts tradekit does not split out (bo, cash, var): keep them in `additional`
        b = MarginBlock(g("span"), g("exposure"), g("option_premium"), g("additional"), str(d.get("tradingsymbol") or ""),
                        str(d.get("exchange") or ""), str(d.get("type") or ""))
        b.additional += g("total") - b.total
        return b

    try:
        return BasketMargin(blk(data["initial"]), blk(data["final"]), [blk(o) for o in data.get("orders") or ()],
                            source="kite")
    except (KeyError, TypeError, ArithmeticError) as e:
        raise DataError(f"Kite's basket margins answer is not in the documented shape: {e}") from None


# -- the estimate -------------------------------------------------------------------------------------
def _value(inst: Instrument, s: Decimal) -> Decimal:
    if inst.instrument_type is InstrumentType.CE:
        return max(s - inst.strike, ZERO)
    if inst.instrument_type is InstrumentType.PE:
        return max(inst.strike - s, ZERO)
    return s


def _pct(cfg: SpanLikeConfig, underlying: str, what: str) -> Decimal:
    return getattr(cfg, f"{what}_{'index' if is_index(underlying) else 'stock'}") / _H


def _group(legs: Sequence[MarginLeg], u: Decimal, cfg: SpanLikeConfig, today: date, underlying: str) -> MarginBlock:
    """span / exposure / option premium of legs on one underlying treated as one portfolio."""
    if not legs:
        return MarginBlock()
    first = min((lg.instrument.expiry for lg in legs if lg.instrument.expiry is not None), default=None)
    scan = _pct(cfg, underlying, "scan_pct")
    n = cfg.scan_steps
    lo, hi = u * (1 - scan), u * (1 + scan)
    xs = {u * (1 + scan * j / n) for j in range(-n, n + 1)}
    xs |= {lg.instrument.strike for lg in legs if lg.instrument.strike is not None and lo <= lg.instrument.strike <= hi}
    worst = None
    for s in xs:
        pnl = ZERO
        for lg in legs:
            inst = lg.instrument
            if inst.is_option and first is not None and inst.expiry is not None and inst.expiry > first:
                v = _value(inst, s) if lg.sign > 0 else lg.price + _value(inst, s) - _value(inst, u)
            else:
                v = _value(inst, s)
            pnl += lg.sign * lg.units * (v - lg.price)
        worst = -pnl if worst is None or -pnl > worst else worst
    premium = sum((lg.sign * lg.units * lg.price for lg in legs if lg.instrument.is_option), ZERO)
    span = max(worst - premium, ZERO)
    uncovered = ZERO
    for kind in (InstrumentType.CE, InstrumentType.PE):
        short = sum((lg.units for lg in legs if lg.instrument.instrument_type is kind and lg.sign < 0), 0)
        long_ = sum((lg.units for lg in legs if lg.instrument.instrument_type is kind and lg.sign > 0), 0)
        uncovered += max(short - long_, 0)
    span = max(span, _pct(cfg, underlying, "short_option_min_pct") * u * uncovered)
    exp_units = sum((lg.units for lg in legs if (lg.instrument.is_option and lg.sign < 0)
                     or lg.instrument.instrument_type is InstrumentType.FUT), 0)
    exposure = _pct(cfg, underlying, "exposure_pct") * u * exp_units
    extra = _dated("extra_elm_expiry_day", today)
    if extra:
        due = sum((lg.units for lg in legs if lg.instrument.is_option and lg.sign < 0 and lg.instrument.expiry == today), 0)
        exposure += Decimal(str(extra)) / _H * u * due
    return MarginBlock(span=span, exposure=exposure, option_premium=premium)


def _portfolio(legs: Sequence[MarginLeg], u: Decimal, cfg, today: date, underlying: str) -> MarginBlock:
    """The group, split by expiry on a leg's expiry day (no calendar benefit then)."""
    exps = {lg.instrument.expiry for lg in legs if lg.instrument.is_option}
    if len(exps) > 1 and today in exps and _dated("no_calendar_benefit_on_expiry_day", today):
        out = MarginBlock()
        for e in sorted(exps, key=lambda d: (d is None, d)):
            b = _group([lg for lg in legs if lg.instrument.expiry == e or not lg.instrument.is_option and e == min(exps)],
                       u, cfg, today, underlying)
            out.span += b.span
            out.exposure += b.exposure
            out.option_premium += b.option_premium
        return out
    return _group(legs, u, cfg, today, underlying)


def estimate(legs: Iterable, *, spot: Mapping[str, object] | Callable[[str], object], today: date,
             config: SpanLikeConfig | None = None, positions: Iterable[MarginLeg] = ()) -> BasketMargin:
    """The SPAN-like estimate of a basket (see the module docstring).

    ``legs``: :class:`MarginLeg` rows or strategy legs (priced). ``spot``: the underlying's price by
    underlying name (``"NIFTY"``) or by quote key (``"NSE:NIFTY 50"``), or a callable on the quote key.
    ``positions``: open positions to consider (their average price as ``price``).
    """
    cfg = config or SpanLikeConfig()
    mlegs = [lg if isinstance(lg, MarginLeg) else MarginLeg.of(lg) for lg in legs]
    if not mlegs:
        raise ValidationError("a basket needs at least one leg", field="legs")
    for lg in mlegs:
        if not lg.instrument.is_derivative:
            raise ValidationError(f"{lg.instrument.key} is not a future or an option: the basket estimate covers F&O",
                                  field="legs")
        if lg.quantity <= 0:
            raise ValidationError(f"{lg.instrument.key}: quantity must be above 0", field="quantity")
    pos = [p for p in positions if p.instrument.is_derivative and p.quantity > 0]
    spots: dict[str, Decimal] = {}

    def price_of(lg: MarginLeg) -> Decimal:
        u = lg.underlying
        if u not in spots:
            key = underlying_key(lg.instrument)
            v = spot(key) if callable(spot) else (spot.get(u) if spot.get(u) is not None else spot.get(key))
            if v is None or Decimal(str(v)) <= 0:
                raise ValidationError(f"no price for {u} ({key}): the margin estimate needs the underlying's price",
                                      field="spot")
            spots[u] = Decimal(str(v))
        return spots[u]

    orders, initial = [], MarginBlock()
    for lg in mlegs:
        u = price_of(lg)
        b = _group([lg], u, cfg, today, lg.underlying)
        if lg.instrument.is_option and lg.sign < 0:
            b.option_premium = ZERO  # alone, a sell shows no premium (Kite's per-order block): span + exposure
        b.tradingsymbol, b.exchange = lg.instrument.tradingsymbol, lg.instrument.exchange.value
        b.type = "commodity" if lg.instrument.exchange in (Exchange.MCX, Exchange.NCO) else "equity"
        orders.append(b)
        initial.span += b.span
        initial.exposure += b.exposure
        initial.option_premium += b.option_premium
    final = MarginBlock()
    notes = []
    for u_name in dict.fromkeys(lg.underlying for lg in mlegs):
        group = [lg for lg in mlegs if lg.underlying == u_name]
        u = spots[u_name]
        held = [p for p in pos if p.underlying == u_name]
        b = _portfolio(group + held, u, cfg, today, u_name)
        if held:
            before = _portfolio(held, u, cfg, today, u_name)
            notes.append(f"{u_name}: {len(held)} open position(s) considered")
            b = MarginBlock(span=max(b.span - before.span, ZERO), exposure=max(b.exposure - before.exposure, ZERO),
                            option_premium=b.option_premium - before.option_premium)
        final.span += b.span
        final.exposure += b.exposure
        final.option_premium += b.option_premium
    return BasketMargin(initial, final, orders, "estimate", spots, notes)
