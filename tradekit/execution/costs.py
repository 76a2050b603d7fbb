"""Charges on each fill, booked so that a day's fills add up to the day's contract note.

Each fill is added to the :class:`tradekit.market.charges.ContractNote` of its day, segment and
exchange, and books what it adds to the note. So brokerage is per executed order (fills of one
order share the ₹20 cap, or the options' flat ₹20), STT/CTT and stamp duty are rounded once on
the day's totals, DP falls once per scrip sold from delivery — and Σ fill charges of a day equals
the contract note to the paisa. A same-day CNC round trip is charged at delivery rates (the
conservative side; a broker may bill it as intraday).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tradekit.market.charges import ContractNote, RateTable, charges_segment
from tradekit.model.charges import Charges
from tradekit.model.enums import Product, Side
from tradekit.model.instrument import Instrument


class FillCosts:
    """``(instrument, product, side, quantity, price, day, order_id) -> Charges`` for one fill.

    ``as_of`` prices every fill at that date's rates (replays of days before the rate tables
    begin, 2020-07-01), while notes stay grouped by the fill's own day.
    """

    def __init__(self, table: RateTable | None = None, as_of: date | None = None):
        self.table = table or RateTable.bundled()
        self.as_of = as_of
        self._notes: dict[tuple, ContractNote] = {}
        self._day: date | None = None

    def check_day(self, day: date) -> None:
        """Raise DataError now if fills on ``day`` could not be priced (before a replay starts)."""
        self.table.rates_on(self.as_of or day)

    def note(self, instrument: Instrument, product: Product, day: date) -> ContractNote:
        if day != self._day:  # a new day: earlier notes are final
            if self._day is not None and day > self._day:
                self._notes = {k: v for k, v in self._notes.items() if k[0] >= day}
            self._day = day
        seg = charges_segment(instrument, product)
        k = (day, seg, instrument.exchange)
        n = self._notes.get(k)
        if n is None:
            n = self._notes[k] = ContractNote(seg, instrument.exchange, self.as_of or day, table=self.table)
        return n

    def __call__(self, instrument: Instrument, product: Product, side: Side, quantity: int, price: Decimal, day: date,
                 order_id: str | None = None) -> Charges:
        return self.note(instrument, product, day).add(side, quantity, price, order_id=order_id, symbol=instrument.key,
                                                      multiplier=instrument.multiplier)

    def notes(self, day: date) -> dict[tuple, Charges]:
        """The day's contract notes so far: (segment, exchange) → charges."""
        return {(k[1], k[2]): n.charges for k, n in self._notes.items() if k[0] == day}
