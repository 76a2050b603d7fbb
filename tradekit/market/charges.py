"""Zerodha's charges, to the paisa, from versioned rate tables.

Three views of the same rates (``data/charges.yaml``, effective-dated, india.md §9):

* :func:`round_trip`: what Zerodha's brokerage calculator shows for one buy and one sell
  (the ``tradekit charges`` command). STT/CTT and stamp duty are rounded to the rupee.
* :class:`ContractNote` / :func:`contract_note`: a day's fills in one segment, as the
  contract note rounds them: brokerage per executed order (₹20 cap per order), STT and
  stamp duty on the day's totals rounded once, DP once per scrip sold from delivery.
* :func:`fill_charges`: one fill on its own, every component rounded to the paisa (for a
  running estimate; use a :class:`ContractNote` for the exact day).

Rounding is half-up on exact decimals: ``paise`` to 0.01, ``rupee`` to 1 (paise first, so
25.4963 → 25.50 → 26). GST is 18 % of brokerage + exchange charges + SEBI fee, each
already rounded. ``exchange_txn`` includes NSE's IPFT levy, as the contract note shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from tradekit.clock import to_ist, today_ist
from tradekit.errors import DataError, MarketRuleError, ValidationError
from tradekit.market._tables import load_yaml, parse_date, parse_rate
from tradekit.model.charges import COMPONENTS, NO_CHARGES, Charges
from tradekit.model.enums import Exchange, InstrumentType, Product, Side, StrEnum
from tradekit.model.fill import Fill
from tradekit.model.instrument import Instrument
from tradekit.model.money import PAISA, RUPEE, ZERO, dec, fmt_inr, paise, rupee


class ChargeSegment(StrEnum):
    """The segments of Zerodha's charges page and calculator."""

    EQUITY_DELIVERY = "equity-delivery"
    EQUITY_INTRADAY = "equity-intraday"
    FUTURES = "futures"
    OPTIONS = "options"
    CURRENCY_FUTURES = "currency-futures"
    CURRENCY_OPTIONS = "currency-options"
    COMMODITY_FUTURES = "commodity-futures"
    COMMODITY_OPTIONS = "commodity-options"

    @property
    def is_option(self) -> bool:
        return self in (
            ChargeSegment.OPTIONS,
            ChargeSegment.CURRENCY_OPTIONS,
            ChargeSegment.COMMODITY_OPTIONS,
        )

    @property
    def is_commodity(self) -> bool:
        return self in (ChargeSegment.COMMODITY_FUTURES, ChargeSegment.COMMODITY_OPTIONS)

    @property
    def rate_group(self) -> str:
        """The exchange-fee group: equity delivery and intraday share the cash rates."""
        return (
            "cash"
            if self in (ChargeSegment.EQUITY_DELIVERY, ChargeSegment.EQUITY_INTRADAY)
            else self.value
        )

    @property
    def stt_on_buy(self) -> bool:
        """STT is levied on the buy side too (delivery only)."""
        return self is ChargeSegment.EQUITY_DELIVERY


_PCT_BROKERAGE = frozenset(
    {
        ChargeSegment.EQUITY_INTRADAY,
        ChargeSegment.FUTURES,
        ChargeSegment.CURRENCY_FUTURES,
        ChargeSegment.COMMODITY_FUTURES,
    }
)
_NSE_IPFT = frozenset({"cash", "futures", "options"})
_ZERO_PAISE = paise(ZERO)


def parse_segment(value: ChargeSegment | str) -> ChargeSegment:
    """A charges segment from its name (``equity-delivery``, ``futures``, ...)."""
    return ChargeSegment.parse(value, "segment")


def charges_exchange(segment: ChargeSegment | str, exchange: Exchange | str) -> Exchange:
    """The exchange whose fees apply: NSE or BSE, or MCX for every commodity segment.

    Derivative exchange codes map to their parent (NFO/CDS → NSE, BFO/BCD → BSE).
    Commodity segments accept any exchange (MCX, or NSE/BSE ignored) and use MCX.
    """
    if (exchange is Exchange.NSE or exchange is Exchange.BSE) and segment.__class__ is ChargeSegment \
            and not segment.is_commodity:
        return exchange
    seg = parse_segment(segment)
    ex = Exchange.parse(exchange, "exchange")
    if seg.is_commodity:
        if ex in (Exchange.MCX, Exchange.NSE, Exchange.BSE):
            return Exchange.MCX
        raise MarketRuleError(
            f"{ex} is not an exchange of the {seg} rate tables (MCX)", field="exchange"
        )
    parent = {
        Exchange.NFO: Exchange.NSE,
        Exchange.CDS: Exchange.NSE,
        Exchange.BFO: Exchange.BSE,
        Exchange.BCD: Exchange.BSE,
    }
    ex = parent.get(ex, ex)
    if ex not in (Exchange.NSE, Exchange.BSE):
        raise MarketRuleError(
            f"{ex} is not an exchange of the {seg} rate tables (NSE or BSE)", field="exchange"
        )
    return ex


# -- rate tables ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rates:
    """The rates in force on one day, resolved from the versioned table.

    Every rate is a fraction of value (0.0003 for 0.03 %) except ``brokerage.cap``,
    ``brokerage.flat`` and ``dp``, which are rupees.
    """

    on: date
    effective: date  # date of the latest version applied
    values: Mapping[str, Decimal]
    sources: tuple[str, ...] = ()

    def get(self, key: str) -> Decimal:
        try:
            return self.values[key]
        except KeyError:
            raise DataError(f"charges.yaml: no rate {key!r} on {self.on}") from None

    def stt(self, seg: ChargeSegment) -> Decimal:
        return self.get(f"stt.{seg.value}")

    def stamp(self, seg: ChargeSegment) -> Decimal:
        return self.get(f"stamp.{seg.value}")

    def exchange(self, ex: Exchange, seg: ChargeSegment) -> Decimal:
        return self.get(f"exchange.{ex.value}.{seg.rate_group}")

    def ipft(self, ex: Exchange, seg: ChargeSegment) -> Decimal:
        return self.values.get(f"ipft.{ex.value}.{seg.rate_group}", ZERO)


def _required_keys() -> set[str]:
    keys = {
        "brokerage.pct",
        "brokerage.cap",
        "brokerage.flat",
        "brokerage.delivery",
        "gst",
        "sebi",
        "dp",
    }
    for s in ChargeSegment:
        keys |= {f"stt.{s.value}", f"stamp.{s.value}"}
        for ex in ("MCX",) if s.is_commodity else ("NSE", "BSE"):
            keys.add(f"exchange.{ex}.{s.rate_group}")
    keys |= {f"ipft.NSE.{g}" for g in _NSE_IPFT}
    return keys


@dataclass(frozen=True, slots=True)
class ChargeRule:
    """A charging rule (not a rate) in force from ``effective``, with its source."""

    name: str
    effective: date
    source: str
    description: str = ""


#: Same-day CNC buy and sell of a scrip is charged as intraday (india.md §9).
SAME_DAY_CNC_IS_INTRADAY = "same_day_cnc_is_intraday"


class RateTable:
    """Versioned charge rates: each version changes some rates from its effective date.

    Parameters
    ----------
    versions
        ``(effective, source, {key: rate})`` in any order; the earliest must set every rate.
    """

    def __init__(self, versions: Iterable[tuple[date, str, Mapping[str, Decimal]]],
                 rules: Iterable[ChargeRule] = ()):
        self.rules = {r.name: r for r in rules}
        self.versions = sorted(versions, key=lambda v: v[0])
        self._on: dict[date, Rates] = {}  # rates_on, resolved once per day
        self._notes: dict[tuple, tuple] = {}  # note_rates, resolved once per day, segment and exchange
        if not self.versions:
            raise DataError("charges: the rate table is empty")
        missing = _required_keys() - set(self.versions[0][2])
        if missing:
            raise DataError(
                f"charges: the first version ({self.versions[0][0]}) lacks {', '.join(sorted(missing))}"
            )
        known = set(self.versions[0][2])
        for eff, _, rates in self.versions[1:]:
            extra = set(rates) - known
            if extra:
                raise DataError(
                    f"charges: version {eff} sets unknown rate(s) {', '.join(sorted(extra))}"
                )

    @classmethod
    @lru_cache(maxsize=1)
    def bundled(cls) -> RateTable:
        """The table in ``tradekit/market/data/charges.yaml``."""
        raw = load_yaml("charges.yaml")
        versions = []
        for i, v in enumerate(raw["versions"]):
            where = f"charges.yaml:versions[{i}]"
            eff = parse_date(v["effective"], where)
            rates = {k: parse_rate(r, f"{where}.{k}") for k, r in v["rates"].items()}
            versions.append((eff, str(v.get("source", "")), rates))
        rules = []
        for i, r in enumerate(raw.get("rules") or []):
            where = f"charges.yaml:rules[{i}]"
            rules.append(ChargeRule(str(r["name"]), parse_date(r["effective"], where), str(r.get("source", "")),
                                    " ".join(str(r.get("description", "")).split())))
        return cls(versions, rules)

    def rule_in_force(self, name: str, d: date) -> bool:
        """Whether the charging rule ``name`` (``rules:`` in charges.yaml) applies on ``d``."""
        r = self.rules.get(name)
        return r is not None and r.effective <= d

    @property
    def first_date(self) -> date:
        return self.versions[0][0]

    def rates_on(self, d: date) -> Rates:
        """The rates in force on ``d``.

        Raises
        ------
        DataError
            ``d`` is before the first version (2020-07-01 in the bundled table).
        """
        if isinstance(d, datetime):
            d = to_ist(d).date()
        hit = self._on.get(d)
        if hit is not None:
            return hit
        if d < self.first_date:
            raise DataError(
                f"charges: {d.isoformat()} is before {self.first_date.isoformat()}, the first day of the rate tables "
                "(stamp duty was state-wise and charged on both sides before 2020-07-01)"
            )
        values: dict[str, Decimal] = {}
        sources, eff = [], self.first_date
        for e, src, rates in self.versions:
            if e > d:
                break
            values.update(rates)
            sources.append(f"{e}: {src}")
            eff = e
        r = self._on[d] = Rates(on=d, effective=eff, values=values, sources=tuple(sources))
        return r


    def note_rates(self, d: date, seg: ChargeSegment, ex: Exchange) -> tuple:
        """What a :class:`ContractNote` of segment ``seg`` on ``ex`` (its fee exchange) looks up on ``d``,
        resolved once: ``(rates, stt, stt_on_buy, exchange, ipft or None, sebi, gst, stamp, dp or None,
        fixed brokerage or None, brokerage pct, brokerage cap, paise(cap))``."""
        k = (d, seg, ex)
        hit = self._notes.get(k)
        if hit is not None:
            return hit
        r = self.rates_on(d)
        delivery = seg is ChargeSegment.EQUITY_DELIVERY
        if delivery:
            fixed, pct, cap, capped = paise(r.get("brokerage.delivery")), None, None, None
        elif seg.is_option:
            fixed, pct, cap, capped = paise(r.get("brokerage.flat")), None, None, None
        else:
            fixed, pct, cap = None, r.get("brokerage.pct"), r.get("brokerage.cap")
            capped = paise(cap)
        hit = self._notes[k] = (
            r, r.stt(seg), seg.stt_on_buy, r.exchange(ex, seg),
            r.ipft(ex, seg) if ex is Exchange.NSE and seg.rate_group in _NSE_IPFT else None,
            r.get("sebi"), r.get("gst"), r.stamp(seg), r.get("dp") if delivery else None, fixed, pct, cap, capped)
        return hit


def rates_on(d: date) -> Rates:
    """The bundled rates in force on ``d``."""
    return RateTable.bundled().rates_on(d)


# -- the arithmetic ------------------------------------------------------------------------


def order_brokerage(
    rates: Rates, seg: ChargeSegment, value: Decimal, price: Decimal | None = None
) -> Decimal:
    """Zerodha's brokerage on one executed order of ``value`` rupees.

    Delivery is free; options pay ₹20 per order; the rest pay 0.03 % or ₹20, whichever is
    lower (the ₹20 test is on the unrounded product). An order at price 0 (an option that
    expired worthless) is no order and pays nothing.
    """
    if value <= 0 or (price is not None and price <= 0):
        return ZERO
    if seg is ChargeSegment.EQUITY_DELIVERY:
        return paise(rates.get("brokerage.delivery"))
    if seg.is_option:
        return paise(rates.get("brokerage.flat"))
    raw = value * rates.get("brokerage.pct")
    cap = rates.get("brokerage.cap")
    return paise(cap) if raw > cap else paise(raw)


def _compose(
    rates: Rates,
    seg: ChargeSegment,
    ex: Exchange,
    buy_value: Decimal,
    sell_value: Decimal,
    brokerage: Decimal,
    dp: Decimal,
    *,
    to_rupee: bool,
) -> Charges:
    turnover = paise(buy_value + sell_value)
    stt_base = turnover if seg.stt_on_buy else sell_value
    stt = paise(stt_base * rates.stt(seg))
    if ex is Exchange.NSE and seg.rate_group in _NSE_IPFT:
        exchange_txn = paise(
            paise(turnover * rates.exchange(ex, seg)) + paise(turnover * rates.ipft(ex, seg))
        )
    else:
        exchange_txn = paise(turnover * rates.exchange(ex, seg))
    sebi = paise(turnover * rates.get("sebi"))
    brokerage = paise(brokerage)
    gst = paise(rates.get("gst") * (brokerage + exchange_txn + sebi))
    stamp = paise(buy_value * rates.stamp(seg))
    if to_rupee:
        stt, stamp = rupee(stt), rupee(stamp)
    return Charges(
        brokerage=brokerage,
        stt=stt,
        exchange_txn=exchange_txn,
        sebi=sebi,
        stamp_duty=stamp,
        gst=gst,
        dp=paise(dp),
    )


def _price(value: object, name: str) -> Decimal:
    p = dec(value, name)
    if p < 0:
        raise ValidationError(f"{p} is negative", field=name)
    return p


def _quantity(value: object, name: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        d = dec(value, name)
        if d != d.to_integral_value():
            raise ValidationError(f"{value} is not a whole number of units", field=name)
        value = int(d)
    if value <= 0:
        raise ValidationError(f"{value} is not a positive quantity", field=name)
    return value


# -- the calculator --------------------------------------------------------------------------

_LABELS = {
    "brokerage": "Brokerage",
    "stt": "STT",
    "exchange_txn": "Exchange transaction charges",
    "sebi": "SEBI turnover fee",
    "stamp_duty": "Stamp duty",
    "gst": "GST (18%)",
    "dp": "DP charges",
}


def _places(price: Decimal) -> int:
    return 2 if price == paise(price) else 4


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One buy and one sell of ``quantity`` units, priced as Zerodha's calculator does."""

    segment: ChargeSegment
    exchange: Exchange
    trade_date: date
    quantity: int
    buy: Decimal
    sell: Decimal
    buy_value: Decimal
    sell_value: Decimal
    charges: Charges
    rates: Rates = field(repr=False)

    @property
    def turnover(self) -> Decimal:
        return paise(self.buy_value + self.sell_value)

    @property
    def total(self) -> Decimal:
        return self.charges.total

    @property
    def net_pnl(self) -> Decimal:
        """Sell value − buy value − charges."""
        return paise(self.sell_value - self.buy_value - self.total)

    @property
    def breakeven_points(self) -> Decimal:
        """Price move per unit that pays the charges."""
        return paise(self.total / self.quantity)

    def as_dict(self) -> dict[str, Decimal]:
        """The components and the total, in rupees (two decimals)."""
        out = {c: paise(getattr(self.charges, c)) for c in COMPONENTS}
        out["total"] = self.total
        return out

    def to_json(self) -> str:
        """One JSON object; amounts are JSON numbers with exactly two decimals."""
        return "{" + ", ".join(f'"{k}": {v:.2f}' for k, v in self.as_dict().items()) + "}"

    def render(self) -> str:
        """A contract-note style breakdown a person can read."""
        stt_label = "CTT" if self.segment.is_commodity else "STT"
        w = 34
        lines = [
            f"Charges at Zerodha: {self.segment}, {self.exchange}, rates in force on {self.trade_date.isoformat()}",
            (
                f"Quantity {self.quantity:,}   Buy {fmt_inr(self.buy, _places(self.buy))}"
                f"   Sell {fmt_inr(self.sell, _places(self.sell))}"
            ),
            "",
            f"{'Buy value':<{w}}{fmt_inr(self.buy_value):>16}",
            f"{'Sell value':<{w}}{fmt_inr(self.sell_value):>16}",
            f"{'Turnover':<{w}}{fmt_inr(self.turnover):>16}",
            "",
        ]
        for c in COMPONENTS:
            label = stt_label if c == "stt" else _LABELS[c]
            lines.append(f"  {label:<{w - 2}}{fmt_inr(getattr(self.charges, c)):>16}")
        lines += [
            f"{'Total charges':<{w}}{fmt_inr(self.total):>16}",
            "",
            f"{'Net P&L':<{w}}{fmt_inr(self.net_pnl):>16}",
            f"{'Points to breakeven':<{w}}{fmt_inr(self.breakeven_points):>16}",
        ]
        return "\n".join(lines)


def round_trip(
    segment: ChargeSegment | str,
    exchange: Exchange | str,
    quantity: int,
    buy: Decimal | float | str,
    sell: Decimal | float | str,
    trade_date: date | None = None,
    *,
    table: RateTable | None = None,
) -> RoundTrip:
    """Charges on one buy and one sell of ``quantity`` units, as Zerodha's calculator shows.

    Parameters
    ----------
    segment
        ``equity-delivery``, ``equity-intraday``, ``futures``, ``options``,
        ``currency-futures``, ``currency-options``, ``commodity-futures`` or
        ``commodity-options``.
    exchange
        ``NSE`` or ``BSE`` (commodity: MCX; NSE/BSE are accepted and ignored).
    quantity
        Units, so that value = price × quantity (lots × lot size; for options B and P
        are premiums).
    buy, sell
        Prices; 0 means that leg is absent (it pays no brokerage, and no DP on delivery).
    trade_date
        Rates in force that day (default: today in IST); before 2020-07-01 is refused.
    """
    seg = parse_segment(segment)
    ex = charges_exchange(seg, exchange)
    q = _quantity(quantity)
    b, s = _price(buy, "buy"), _price(sell, "sell")
    if b == 0 and s == 0:
        raise ValidationError("buy and sell are both 0: there is nothing to price", field="buy")
    d = trade_date or today_ist()
    rates = (table or RateTable.bundled()).rates_on(d)
    bv, sv = b * q, s * q
    brokerage = paise(order_brokerage(rates, seg, bv, b) + order_brokerage(rates, seg, sv, s))
    dp = rates.get("dp") if seg is ChargeSegment.EQUITY_DELIVERY and s > 0 else ZERO
    charges = _compose(rates, seg, ex, bv, sv, brokerage, dp, to_rupee=True)
    return RoundTrip(seg, ex, d, q, b, s, bv, sv, charges, rates)


# -- per fill and per contract note ----------------------------------------------------------


def _segment_with_product(
    segment: ChargeSegment | str, product: Product | str | None
) -> ChargeSegment:
    if product is None:
        return parse_segment(segment)
    prod = Product.parse(product, "product")
    if isinstance(segment, str) and segment.strip().lower() in ("equity", "cash", "eq"):
        if prod is Product.MIS:
            return ChargeSegment.EQUITY_INTRADAY
        if prod in (Product.CNC, Product.MTF):
            return ChargeSegment.EQUITY_DELIVERY
        raise MarketRuleError(
            f"product {prod} is not an equity cash product (CNC, MIS or MTF)", field="product"
        )
    seg = parse_segment(segment)
    if seg is ChargeSegment.EQUITY_INTRADAY and prod is not Product.MIS:
        raise MarketRuleError(f"segment {seg} needs product MIS, not {prod}", field="product")
    if seg is ChargeSegment.EQUITY_DELIVERY and prod not in (Product.CNC, Product.MTF):
        raise MarketRuleError(
            f"segment {seg} needs product CNC or MTF, not {prod}", field="product"
        )
    return seg


def fill_charges(
    segment: ChargeSegment | str,
    exchange: Exchange | str,
    side: Side | str,
    quantity: int,
    price: Decimal | float | str,
    trade_date: date,
    product: Product | str | None = None,
    *,
    multiplier: int = 1,
    dp: bool = False,
    table: RateTable | None = None,
) -> Charges:
    """Charges on one fill taken as its own order, each component rounded to the paisa.

    Parameters
    ----------
    segment
        A :class:`ChargeSegment`, or ``"equity"`` with ``product`` CNC/MTF (delivery)
        or MIS (intraday).
    side, quantity, price
        The fill; value = price × quantity × ``multiplier``.
    dp
        Charge the DP fee with this fill: pass True for the first delivery sell of a scrip
        on a day (ignored for anything else).

    Notes
    -----
    The contract note rounds STT and stamp duty to the rupee once per day and caps
    brokerage per order, not per fill: use :class:`ContractNote` for the exact day.
    """
    seg = _segment_with_product(segment, product)
    ex = charges_exchange(seg, exchange)
    sd = Side.parse(side, "side")
    q = _quantity(quantity)
    p = _price(price, "price")
    if multiplier < 1:
        raise ValidationError(f"{multiplier} is not a positive multiplier", field="multiplier")
    rates = (table or RateTable.bundled()).rates_on(trade_date)
    value = p * q * multiplier
    bv, sv = (value, ZERO) if sd is Side.BUY else (ZERO, value)
    dp_fee = (
        rates.get("dp")
        if dp and seg is ChargeSegment.EQUITY_DELIVERY and sd is Side.SELL and p > 0
        else ZERO
    )
    return _compose(
        rates, seg, ex, bv, sv, order_brokerage(rates, seg, value, p), dp_fee, to_rupee=False
    )


def charges_segment(instrument: Instrument, product: Product | str) -> ChargeSegment:
    """The charges segment of a trade in ``instrument`` with ``product``.

    CNC/MTF on NSE/BSE equity → equity-delivery, MIS → equity-intraday; NFO/BFO futures
    and options; CDS/BCD → currency; MCX → commodity.
    """
    prod = Product.parse(product, "product")
    ex = instrument.exchange
    if instrument.is_index:
        raise MarketRuleError(f"{instrument.key}: an index is not traded", field="instrument")
    if ex in (Exchange.NSE, Exchange.BSE):
        if prod is Product.MIS:
            return ChargeSegment.EQUITY_INTRADAY
        if prod in (Product.CNC, Product.MTF):
            return ChargeSegment.EQUITY_DELIVERY
        raise MarketRuleError(
            f"{instrument.key}: product {prod} is not for equity cash (use CNC or MIS)",
            field="product",
        )
    if prod in (Product.CNC, Product.MTF):
        raise MarketRuleError(
            f"{instrument.key}: product {prod} is for equity cash only (use NRML or MIS)",
            field="product",
        )
    option = instrument.instrument_type in (InstrumentType.CE, InstrumentType.PE)
    if ex in (Exchange.NFO, Exchange.BFO):
        return ChargeSegment.OPTIONS if option else ChargeSegment.FUTURES
    if ex in (Exchange.CDS, Exchange.BCD):
        return ChargeSegment.CURRENCY_OPTIONS if option else ChargeSegment.CURRENCY_FUTURES
    if ex is Exchange.MCX:
        return ChargeSegment.COMMODITY_OPTIONS if option else ChargeSegment.COMMODITY_FUTURES
    raise MarketRuleError(
        f"{instrument.key}: charges for {ex} are not in the rate tables", field="exchange"
    )


def fill_charges_for(
    instrument: Instrument,
    product: Product | str,
    side: Side | str,
    quantity: int,
    price: Decimal | float | str,
    trade_date: date,
    *,
    dp: bool = False,
) -> Charges:
    """:func:`fill_charges` for a fill in ``instrument`` (segment, exchange and multiplier from it)."""
    seg = charges_segment(instrument, product)
    return fill_charges(
        seg,
        instrument.exchange,
        side,
        quantity,
        price,
        trade_date,
        multiplier=instrument.multiplier,
        dp=dp,
    )


def fill_key(n: int) -> tuple[str, int]:
    """The order key of a note's ``n``-th fill that carries no order id: an order of its own, under a
    key no order id (a string) can be, so it never shares another order's brokerage."""
    return ("#fill", n)


class ContractNote:
    """A day's trades in one segment on one exchange, charged as the contract note does.

    Brokerage is per executed order (fills of one ``order_id`` share one ₹20 cap; fills
    without an id are orders of their own); STT/CTT and stamp duty are computed on the
    day's totals and rounded once; DP is charged once per scrip sold from delivery.
    :meth:`add` returns what the fill added, so the sum of what it returns always equals
    :attr:`charges`.

    Notes
    -----
    How the contract note rounds stamp duty is not confirmed from a source (india.md §9):
    the calculator's rupee rounding is used. DP is posted to the ledger, not the note; it
    is included here so that ``charges.total`` is the day's cost.

    The note keeps running totals (buy and sell value, each order's value and brokerage, the
    scrips sold from delivery) and composes its charges from them with the rates of its day,
    resolved once. The arithmetic is exact Decimal (no rounding before the note's own
    rounding points) while values stay below 10^18 rupees, so the totals do not depend on the
    order in which fills arrive or are moved between notes (see :meth:`_book`).
    """

    def __init__(
        self,
        segment: ChargeSegment | str,
        exchange: Exchange | str,
        trade_date: date,
        *,
        table: RateTable | None = None,
    ):
        self.segment = seg = segment if segment.__class__ is ChargeSegment else parse_segment(segment)
        self.exchange = ex = charges_exchange(seg, exchange)
        self.trade_date = trade_date
        if isinstance(trade_date, datetime):
            trade_date = to_ist(trade_date).date()  # as rates_on reads it
        (self.rates, self._stt, self._stt_on_buy, self._exr, self._ipft, self._sebi, self._gst, self._stamp,
         self._dp_fee, self._brk_fixed, self._brk_pct, self._brk_cap, self._brk_capped) = (
            (table or RateTable.bundled()).note_rates(trade_date, seg, ex))
        self._delivery = seg is ChargeSegment.EQUITY_DELIVERY
        self.buy_value = ZERO
        self.sell_value = ZERO
        # order key -> [value, brokerage, fills]: brokerage = order_brokerage(value) always (a fill at
        # price 0 adds no value and so leaves it); fills counts the fills on this note
        self._orders: dict[object, list] = {}
        self._brokerage = ZERO
        self._dp_scrips: dict[str, int] = {}  # scrip -> fills sold from delivery at a price above 0
        self._fills = 0
        self._charges = NO_CHARGES

    @property
    def charges(self) -> Charges:
        return self._charges

    @property
    def turnover(self) -> Decimal:
        return paise(self.buy_value + self.sell_value)

    @property
    def orders(self) -> int:
        return len(self._orders)

    @property
    def fills(self) -> int:
        return self._fills

    def add(
        self,
        side: Side | str,
        quantity: int,
        price: Decimal | float | str,
        *,
        order_id: str | None = None,
        symbol: str = "",
        multiplier: int = 1,
        compose: bool = True,
    ) -> Charges | None:
        """Add one fill; return the charges it adds to the note (never negative).

        ``compose=False`` (adding many fills at once) only accumulates the fill and returns
        None: call :meth:`recompose` after the last one; the note ends in the same state."""
        sd = side if side.__class__ is Side else Side.parse(side, "side")
        q = quantity if quantity.__class__ is int and quantity > 0 else _quantity(quantity)
        p = price if price.__class__ is Decimal and price.is_finite() and price >= 0 else _price(price, "price")
        key = order_id if order_id is not None else fill_key(self._fills)
        buy = sd is Side.BUY
        dp = (symbol.upper() or key) if not buy and self._delivery and p > 0 else None
        self._book(key, buy, p * q * multiplier, 1, dp, 1)
        return self.recomposed() if compose else None

    def _book(self, key: object, buy: bool, value: Decimal, fills: int, dp: str | None, dp_fills: int) -> None:
        """Add ``value`` (negative: take it off) to order ``key`` on the buy or sell side, with
        ``fills`` more (or fewer) fills on the note and ``dp_fills`` more (or fewer) delivery sells
        of scrip ``dp``. The note then holds what adding its remaining fills one by one would
        (sums of exact Decimals; an order's brokerage is a function of its value)."""
        o = self._orders.get(key)
        if o is None:
            o = self._orders[key] = [ZERO, ZERO, 0]
        if value:
            v = o[0] + value
            if self._brk_fixed is not None:  # order_brokerage, with the note's rates
                brk = self._brk_fixed if v > 0 else ZERO
            elif v > 0:
                raw = v * self._brk_pct
                brk = self._brk_capped if raw > self._brk_cap else raw.quantize(PAISA, ROUND_HALF_UP)
            else:
                brk = ZERO
            self._brokerage += brk - o[1]
            o[0] = v
            o[1] = brk
            if buy:
                self.buy_value += value
            else:
                self.sell_value += value
        o[2] += fills
        if not o[2]:
            del self._orders[key]
        self._fills += fills
        if dp is not None:
            n = self._dp_scrips.get(dp, 0) + dp_fills
            if n:
                self._dp_scrips[dp] = n
            else:
                del self._dp_scrips[dp]

    def recomposed(self) -> Charges:
        """:meth:`recompose`, returning what it added to the note's charges."""
        before = self._charges
        self.recompose()
        return self._charges.minus(before)

    def recompose(self) -> None:
        """The note's charges from its accumulated values (after ``add(..., compose=False)``):
        :func:`_compose` with ``to_rupee=True``, on the rates resolved at the note's start."""
        if not self._fills:
            self._charges = NO_CHARGES
            return
        q2 = PAISA
        bv = self.buy_value
        sv = self.sell_value
        turnover = (bv + sv).quantize(q2, ROUND_HALF_UP)
        stt = ((turnover if self._stt_on_buy else sv) * self._stt).quantize(q2, ROUND_HALF_UP)
        if self._ipft is not None:
            exchange_txn = ((turnover * self._exr).quantize(q2, ROUND_HALF_UP)
                            + (turnover * self._ipft).quantize(q2, ROUND_HALF_UP)).quantize(q2, ROUND_HALF_UP)
        else:
            exchange_txn = (turnover * self._exr).quantize(q2, ROUND_HALF_UP)
        sebi = (turnover * self._sebi).quantize(q2, ROUND_HALF_UP)
        brokerage = self._brokerage.quantize(q2, ROUND_HALF_UP)
        gst = (self._gst * (brokerage + exchange_txn + sebi)).quantize(q2, ROUND_HALF_UP)
        stamp = (bv * self._stamp).quantize(q2, ROUND_HALF_UP)
        dp = (self._dp_fee * len(self._dp_scrips)).quantize(q2, ROUND_HALF_UP) if self._delivery else _ZERO_PAISE
        self._charges = Charges(brokerage, stt.quantize(RUPEE, ROUND_HALF_UP), exchange_txn, sebi,
                                stamp.quantize(RUPEE, ROUND_HALF_UP), gst, dp)

    def add_fill(self, fill: Fill, *, multiplier: int = 1) -> Charges:
        """Add a :class:`~tradekit.model.Fill` (its broker or client order id groups brokerage)."""
        day = to_ist(fill.timestamp).date()
        if day != self.trade_date:
            raise ValidationError(
                f"fill {fill.trade_id} is of {day}, not of this note's day {self.trade_date}",
                field="timestamp",
            )
        return self.add(
            fill.side,
            fill.quantity,
            fill.price,
            order_id=fill.broker_order_id or fill.client_order_id,
            symbol=f"{fill.exchange}:{fill.tradingsymbol}",
            multiplier=multiplier,
        )


@dataclass(frozen=True, slots=True)
class Trade:
    """A fill for :func:`contract_note`: side, quantity in units, price, and its order."""

    side: Side
    quantity: int
    price: Decimal
    order_id: str | None = None
    symbol: str = ""
    multiplier: int = 1


def contract_note(
    segment: ChargeSegment | str,
    exchange: Exchange | str,
    trade_date: date,
    trades: Iterable[Trade | Fill],
    *,
    table: RateTable | None = None,
) -> Charges:
    """The charges of a day's trades in one segment, as one contract note (see :class:`ContractNote`)."""
    note = ContractNote(segment, exchange, trade_date, table=table)
    for t in trades:
        if isinstance(t, Fill):
            note.add_fill(t)
        else:
            note.add(
                t.side,
                t.quantity,
                t.price,
                order_id=t.order_id,
                symbol=t.symbol,
                multiplier=t.multiplier,
            )
    return note.charges
