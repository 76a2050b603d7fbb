"""Charges on each fill, booked so that a day's fills add up to the day's contract note.

Each fill is added to the :class:`tradekit.market.charges.ContractNote` of its day, segment and
exchange, and books what it adds to the note. So brokerage is per executed order (fills of one
order share the ₹20 cap, or the options' flat ₹20), STT/CTT and stamp duty are rounded once on
the day's totals, DP falls once per scrip sold from delivery — and Σ fill charges of a day equals
the contract notes to the paisa.

Same-day CNC is intraday (the dated rule ``same_day_cnc_is_intraday`` in ``charges.yaml``,
india.md §9): per scrip and day, the quantity both bought and sold in CNC is charged on the
intraday note (intraday STT, stamp duty and brokerage, no DP); only the unmatched rest is
delivery. The first bought and the first sold units of the day are taken as the matched ones.
A fill that changes the match re-prices the day's equity notes, and it books the difference:
a component of that fill may then be negative (a buy booked as delivery that a later sell made
intraday pays less stamp duty), while the day's sum is still the contract notes exactly.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tradekit.market.charges import (
    SAME_DAY_CNC_IS_INTRADAY,
    ChargeSegment,
    ContractNote,
    RateTable,
    charges_segment,
)
from tradekit.model.charges import COMPONENTS, Charges
from tradekit.model.enums import Exchange, Product, Side
from tradekit.model.instrument import Instrument

_EQUITY = (ChargeSegment.EQUITY_INTRADAY, ChargeSegment.EQUITY_DELIVERY)


def _minus(a: Charges, b: Charges) -> Charges:
    return Charges(**{c: getattr(a, c) - getattr(b, c) for c in COMPONENTS})


class _EquityDay:
    """One day's equity cash trades on one exchange (MIS and CNC/MTF): its intraday and delivery notes."""

    def __init__(self, exchange: Exchange, rate_day: date, table: RateTable, cnc_rule: bool):
        self.exchange, self.rate_day, self.table, self.cnc_rule = exchange, rate_day, table, cnc_rule
        self.trades: list[tuple[Product, Side, int, Decimal, str | None, str, int]] = []
        self.cnc: dict[str, list[int]] = {}  # scrip -> [bought, sold] in CNC today
        self.intraday, self.delivery = self._notes()

    def _notes(self) -> tuple[ContractNote, ContractNote]:
        return (ContractNote(ChargeSegment.EQUITY_INTRADAY, self.exchange, self.rate_day, table=self.table),
                ContractNote(ChargeSegment.EQUITY_DELIVERY, self.exchange, self.rate_day, table=self.table))

    @property
    def charges(self) -> Charges:
        return self.intraday.charges + self.delivery.charges

    def matched(self) -> dict[str, int]:
        """Scrip -> the CNC quantity bought and sold today (charged as intraday)."""
        if not self.cnc_rule:
            return {}
        return {s: min(q) for s, q in self.cnc.items() if min(q) > 0}

    def add(self, product: Product, side: Side, qty: int, price: Decimal, order_id: str | None, symbol: str,
            multiplier: int) -> Charges:
        self.trades.append((product, side, qty, price, order_id, symbol, multiplier))
        if product is Product.CNC:
            q = self.cnc.setdefault(symbol, [0, 0])
            matched = min(q)
            q[0 if side is Side.BUY else 1] += qty
            # the match changed: re-price the day. Unchanged, this fill's side had at least the matched
            # quantity before it (the first units are the matched ones): it is all delivery, as below
            if self.cnc_rule and min(q) > matched:
                before = self.charges
                self.intraday, self.delivery = self._notes()
                left = {s: [m, m] for s, m in self.matched().items()}
                # the day's fills again, composed once per note at the end (the same final notes)
                for prod, sd, n, px, oid, sym, mult in self.trades:
                    self._place(prod, sd, n, px, oid, sym, mult, left, compose=False)
                self.intraday.recompose()
                self.delivery.recompose()
                return _minus(self.charges, before)
        return self._place(product, side, qty, price, order_id, symbol, multiplier, {})

    def _place(self, product, side, qty, price, order_id, symbol, mult, left: dict, compose: bool = True) -> Charges:
        kw = {"order_id": order_id, "symbol": symbol, "multiplier": mult, "compose": compose}
        if product is Product.MIS:
            return self.intraday.add(side, qty, price, **kw)
        rest = left.get(symbol) if product is Product.CNC else None
        take = 0
        out = Charges()
        if rest is not None:
            k = 0 if side is Side.BUY else 1
            take = min(qty, rest[k])
            rest[k] -= take
            if take:
                c = self.intraday.add(side, take, price, **kw)
                if compose:
                    out = out + c
        if qty - take:
            c = self.delivery.add(side, qty - take, price, **kw)
            if compose:
                out = out + c
        return out


class FillCosts:
    """``(instrument, product, side, quantity, price, day, order_id) -> Charges`` for one fill.

    ``as_of`` prices every fill at that date's rates (replays of days before the rate tables
    begin, 2020-07-01), while notes stay grouped by the fill's own day.
    """

    def __init__(self, table: RateTable | None = None, as_of: date | None = None):
        self.table = table or RateTable.bundled()
        self.as_of = as_of
        self._notes: dict[tuple, ContractNote] = {}
        self._equity: dict[tuple, _EquityDay] = {}
        self._day: date | None = None

    def check_day(self, day: date) -> None:
        """Raise DataError now if fills on ``day`` could not be priced (before a replay starts)."""
        self.table.rates_on(self.as_of or day)

    def _roll(self, day: date) -> None:
        if day != self._day:  # a new day: earlier notes are final
            if self._day is not None and day > self._day:
                self._notes = {k: v for k, v in self._notes.items() if k[0] >= day}
                self._equity = {k: v for k, v in self._equity.items() if k[0] >= day}
            self._day = day

    def note(self, instrument: Instrument, product: Product, day: date) -> ContractNote:
        """The day's note of a non-equity-cash segment (equity cash: :meth:`equity_day`)."""
        self._roll(day)
        seg = charges_segment(instrument, product)
        k = (day, seg, instrument.exchange)
        n = self._notes.get(k)
        if n is None:
            n = self._notes[k] = ContractNote(seg, instrument.exchange, self.as_of or day, table=self.table)
        return n

    def equity_day(self, exchange: Exchange, day: date) -> _EquityDay:
        self._roll(day)
        k = (day, exchange)
        e = self._equity.get(k)
        if e is None:
            rate_day = self.as_of or day
            e = self._equity[k] = _EquityDay(exchange, rate_day, self.table,
                                             self.table.rule_in_force(SAME_DAY_CNC_IS_INTRADAY, rate_day))
        return e

    def __call__(self, instrument: Instrument, product: Product, side: Side, quantity: int, price: Decimal, day: date,
                 order_id: str | None = None) -> Charges:
        product = Product.parse(product, "product")
        seg = charges_segment(instrument, product)
        if seg in _EQUITY:
            return self.equity_day(instrument.exchange, day).add(
                product, Side.parse(side, "side"), quantity, price, order_id, instrument.key, instrument.multiplier)
        return self.note(instrument, product, day).add(side, quantity, price, order_id=order_id, symbol=instrument.key,
                                                      multiplier=instrument.multiplier)

    def notes(self, day: date) -> dict[tuple, Charges]:
        """The day's contract notes so far: (segment, exchange) → charges."""
        out = {(k[1], k[2]): n.charges for k, n in self._notes.items() if k[0] == day}
        for (d, ex), e in self._equity.items():
            if d == day:
                for n in (e.intraday, e.delivery):
                    if n.fills:
                        out[(n.segment, ex)] = n.charges
        return out
