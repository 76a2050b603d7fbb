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

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from tradekit.market.charges import (
    SAME_DAY_CNC_IS_INTRADAY,
    ChargeSegment,
    ContractNote,
    RateTable,
    _price,
    _quantity,
    charges_segment,
    fill_key,
)
from tradekit.model.charges import Charges
from tradekit.model.enums import Exchange, Product, Segment, Side
from tradekit.model.instrument import Instrument

_INTRADAY, _DELIVERY = ChargeSegment.EQUITY_INTRADAY, ChargeSegment.EQUITY_DELIVERY
_NSE, _BSE = Exchange.NSE, Exchange.BSE
_MIS, _CNC, _MTF = Product.MIS, Product.CNC, Product.MTF
_BUY = Side.BUY


def _change(i1: Charges, d1: Charges, i0: Charges, d0: Charges) -> Charges:
    """``(i1 + d1).minus(i0 + d0)``: what a fill changed on a day's two equity notes."""
    return Charges(i1.brokerage + d1.brokerage - (i0.brokerage + d0.brokerage), i1.stt + d1.stt - (i0.stt + d0.stt),
                   i1.exchange_txn + d1.exchange_txn - (i0.exchange_txn + d0.exchange_txn),
                   i1.sebi + d1.sebi - (i0.sebi + d0.sebi), i1.stamp_duty + d1.stamp_duty - (i0.stamp_duty + d0.stamp_duty),
                   i1.gst + d1.gst - (i0.gst + d0.gst), i1.dp + d1.dp - (i0.dp + d0.dp))


def _segment(instrument: Instrument, product: Product) -> ChargeSegment:
    """:func:`charges_segment` (equity cash answered here; the rest, and every refusal, by it)."""
    ex = instrument.exchange
    if (ex is _NSE or ex is _BSE) and instrument.segment is not Segment.INDICES:
        if product is _MIS:
            return _INTRADAY
        if product is _CNC or product is _MTF:
            return _DELIVERY
    return charges_segment(instrument, product)


class _Trade:
    """One CNC fill of the day and how many of its units are matched (on the intraday note)."""

    __slots__ = ("dp", "intraday", "key", "multiplier", "price", "quantity")

    def __init__(self, quantity: int, price: Decimal, key: object, multiplier: int, dp: str | None):
        self.quantity, self.price, self.key, self.multiplier, self.dp = quantity, price, key, multiplier, dp
        self.intraday = 0


class _Scrip:
    """A scrip's CNC fills of the day on each side, in order; the first ``matched`` units of
    each side are intraday. ``at[k]`` is the first fill of side ``k`` not wholly matched yet."""

    __slots__ = ("at", "fills", "total")

    def __init__(self):
        self.fills: tuple[list[_Trade], list[_Trade]] = ([], [])  # buys, sells
        self.total = [0, 0]
        self.at = [0, 0]


class _EquityDay:
    """One day's equity cash trades on one exchange (MIS and CNC/MTF): its intraday and delivery notes.

    Same-day CNC: the notes always hold what re-pricing the whole day would give, "the first units
    bought and sold are the matched ones": when a fill raises a scrip's matched quantity from m0 to m1
    (its side had m0 units before it, the other side more), its first m1 - m0 units go to the intraday
    note with the other side's units m0..m1, which move there from the delivery note fill by fill (in
    order, from the first fill not wholly matched). Nothing else changes, so a fill costs the same
    whatever the day's length (it used to re-add every fill of the day to fresh notes).
    """

    def __init__(self, exchange: Exchange, rate_day: date, table: RateTable, cnc_rule: bool):
        self.exchange, self.rate_day, self.table, self.cnc_rule = exchange, rate_day, table, cnc_rule
        self.cnc: dict[str, _Scrip] = {}  # scrip -> its CNC fills today
        self.intraday, self.delivery = self._notes()
        self._n = 0  # fills so far (the order key of a fill without an order id)

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
        return {s: min(c.total) for s, c in self.cnc.items() if min(c.total) > 0}

    def add(self, product: Product, side: Side, qty: int, price: Decimal, order_id: str | None, symbol: str,
            multiplier: int, compose: bool = True) -> Charges | None:
        """Book one fill (``qty`` a positive int, ``price`` a finite Decimal >= 0: checked by the caller);
        return what it adds to the day's notes, or None with ``compose=False`` (then :meth:`recompose`)."""
        # a fill without an order id is an order of its own on each note (fill_key: no order id can be it)
        key = order_id if order_id is not None else fill_key(self._n)
        self._n += 1
        buy = side is _BUY
        if product is _MIS:
            note = self.intraday
            note._book(key, buy, price * qty * multiplier, 1, None, 0)
            return note.recomposed() if compose else None
        dp = None if buy or not price > 0 else (symbol.upper() or key)
        delivery = self.delivery
        if product is _CNC and self.cnc_rule:
            sc = self.cnc.get(symbol)
            if sc is None:
                sc = self.cnc[symbol] = _Scrip()
            tot = sc.total
            k = 0 if buy else 1
            had = tot[k]
            tot[k] = had + qty
            other = tot[1 - k]
            # the units of this fill the other side matches now: the new matched quantity is had + own
            own = (qty if other >= had + qty else other - had) if other > had else 0
            if own:
                fills = sc.fills[k]
                t = _Trade(qty, price, key, multiplier, dp)
                t.intraday = own
                fills.append(t)
                if own == qty:
                    sc.at[k] = len(fills)  # every earlier fill of this side was wholly matched already
                intraday = self.intraday
                i0, d0 = intraday._charges, delivery._charges
                intraday._book(key, buy, price * own * multiplier, 1, None, 0)
                if own != qty:
                    delivery._book(key, buy, price * (qty - own) * multiplier, 1, dp, 1)
                self._match(sc, 1 - k, own)
                if not compose:
                    return None
                intraday.recompose()
                delivery.recompose()
                return _change(intraday._charges, delivery._charges, i0, d0)
            sc.fills[k].append(_Trade(qty, price, key, multiplier, dp))
        delivery._book(key, buy, price * qty * multiplier, 1, dp, 1)
        # (Charges() + this, as it was: the same Decimals, as every component's exponent is <= 0)
        return delivery.recomposed() if compose else None

    def _match(self, sc: _Scrip, k: int, units: int) -> None:
        """Move the next ``units`` unmatched units of side ``k`` (0 buys, 1 sells) to the intraday note."""
        buy = k == 0
        fills = sc.fills[k]
        intraday, delivery = self.intraday, self.delivery
        i = sc.at[k]
        while units:
            t = fills[i]
            take = t.quantity - t.intraday
            if take > units:
                take = units
            value = t.price * take * t.multiplier
            intraday._book(t.key, buy, value, 0 if t.intraday else 1, None, 0)
            t.intraday += take
            units -= take
            if t.intraday == t.quantity:  # wholly matched: off the delivery note
                delivery._book(t.key, buy, -value, -1, t.dp, -1)
                i += 1
            else:
                delivery._book(t.key, buy, -value, 0, None, 0)
        sc.at[k] = i

    def recompose(self) -> None:
        self.intraday.recompose()
        self.delivery.recompose()


def _checked(instrument: Instrument, product, side, quantity, price) -> tuple:
    """(segment, product, side, quantity, price) with each argument checked, or parsed once when it is not
    already of its type: an equity fill's side, quantity and price (the other segments' notes check theirs)."""
    if product.__class__ is not Product:
        product = Product.parse(product, "product")
    seg = _segment(instrument, product)
    if seg is _INTRADAY or seg is _DELIVERY:
        if side.__class__ is not Side:
            side = Side.parse(side, "side")
        if quantity.__class__ is not int or quantity <= 0:
            quantity = _quantity(quantity)
        if price.__class__ is not Decimal or not price.is_finite() or price < 0:
            price = _price(price, "price")
    return seg, product, side, quantity, price


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
        self._last: tuple | None = None  # (exchange, equity day) of the current day

    def check_day(self, day: date) -> None:
        """Raise DataError now if fills on ``day`` could not be priced (before a replay starts)."""
        self.table.rates_on(self.as_of or day)

    def _roll(self, day: date) -> None:
        if day != self._day:  # a new day: earlier notes are final
            if self._day is not None and day > self._day:
                self._notes = {k: v for k, v in self._notes.items() if k[0] >= day}
                self._equity = {k: v for k, v in self._equity.items() if k[0] >= day}
            self._day = day
            self._last = None

    def note(self, instrument: Instrument, product: Product, day: date) -> ContractNote:
        """The day's note of a non-equity-cash segment (equity cash: :meth:`equity_day`)."""
        return self._note(charges_segment(instrument, product), instrument, day)

    def _note(self, seg: ChargeSegment, instrument: Instrument, day: date) -> ContractNote:
        self._roll(day)
        k = (day, seg, instrument.exchange)
        n = self._notes.get(k)
        if n is None:
            n = self._notes[k] = ContractNote(seg, instrument.exchange, self.as_of or day, table=self.table)
        return n

    def equity_day(self, exchange: Exchange, day: date) -> _EquityDay:
        last = self._last  # the day's last one, kept until the day changes
        if last is not None and last[0] is exchange and day == self._day:
            return last[1]
        self._roll(day)
        k = (day, exchange)
        e = self._equity.get(k)
        if e is None:
            rate_day = self.as_of or day
            e = self._equity[k] = _EquityDay(exchange, rate_day, self.table,
                                             self.table.rule_in_force(SAME_DAY_CNC_IS_INTRADAY, rate_day))
        self._last = (exchange, e)
        return e

    def __call__(self, instrument: Instrument, product: Product, side: Side, quantity: int, price: Decimal, day: date,
                 order_id: str | None = None) -> Charges:
        seg, product, side, quantity, price = _checked(instrument, product, side, quantity, price)
        if seg is _INTRADAY or seg is _DELIVERY:
            return self.equity_day(instrument.exchange, day).add(product, side, quantity, price, order_id,
                                                                 instrument.key, instrument.multiplier)
        return self._note(seg, instrument, day).add(side, quantity, price, order_id=order_id, symbol=instrument.key,
                                                    multiplier=instrument.multiplier)

    def many(self, trades: Iterable[tuple]) -> Charges:
        """``Charges()`` plus what ``self(*t)`` returns for each of ``trades`` in turn (the same
        amounts to the paisa, and the same notes after), composing each note touched once at the
        end instead of after every fill (a day's fills priced at the close)."""
        touched: dict[int, tuple] = {}  # id -> (equity day or note, its charges before)
        for instrument, product, side, quantity, price, day, *rest in trades:
            order_id = rest[0] if rest else None
            seg, product, side, quantity, price = _checked(instrument, product, side, quantity, price)
            if seg is _INTRADAY or seg is _DELIVERY:
                e = self.equity_day(instrument.exchange, day)
                if id(e) not in touched:
                    touched[id(e)] = (e, e.intraday._charges, e.delivery._charges)
                e.add(product, side, quantity, price, order_id, instrument.key, instrument.multiplier, compose=False)
            else:
                n = self._note(seg, instrument, day)
                if id(n) not in touched:
                    touched[id(n)] = (n, n._charges, None)
                n.add(side, quantity, price, order_id=order_id, symbol=instrument.key, multiplier=instrument.multiplier,
                      compose=False)
        total = Charges()
        for unit, before, d0 in touched.values():
            unit.recompose()
            if d0 is None:
                total = total + unit._charges.minus(before)
            else:
                total = total + _change(unit.intraday._charges, unit.delivery._charges, before, d0)
        return total

    def notes(self, day: date) -> dict[tuple, Charges]:
        """The day's contract notes so far: (segment, exchange) → charges."""
        out = {(k[1], k[2]): n.charges for k, n in self._notes.items() if k[0] == day}
        for (d, ex), e in self._equity.items():
            if d == day:
                for n in (e.intraday, e.delivery):
                    if n.fills:
                        out[(n.segment, ex)] = n.charges
        return out
