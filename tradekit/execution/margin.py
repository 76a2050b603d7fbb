"""The margin model shared by the paper broker's RMS and the OMS's funds check."""

from __future__ import annotations

from decimal import Decimal

from tradekit.brokers.paper.config import MarginConfig
from tradekit.model.enums import Exchange, Product, Side
from tradekit.model.instrument import Instrument

_HUNDRED = Decimal(100)
_COMMODITY = {Exchange.MCX, Exchange.NCO}
_CURRENCY = {Exchange.CDS, Exchange.BCD}


class MarginModel:
    """Margin per unit of exposure (see :class:`~tradekit.brokers.paper.config.MarginConfig`)."""

    def __init__(self, config: MarginConfig | None = None):
        self.c = config or MarginConfig()

    def pct(self, instrument: Instrument | None, product: Product, side: Side) -> Decimal:
        """Percent of contract value blocked for one unit of this exposure."""
        if instrument is not None and instrument.is_derivative:
            if instrument.is_option:
                return _HUNDRED if side is Side.BUY else self.c.option_sell_pct
            if instrument.exchange in _COMMODITY:
                return self.c.commodity_pct
            if instrument.exchange in _CURRENCY:
                return self.c.currency_pct
            return self.c.futures_pct
        if product is Product.CNC:
            return _HUNDRED if side is Side.BUY else Decimal(0)  # a CNC sell delivers held shares
        if product is Product.MTF:
            return Decimal(50)
        return self.c.mis_pct

    def required(self, instrument: Instrument | None, product: Product, side: Side, quantity: int, price: Decimal) -> Decimal:
        mult = instrument.multiplier if instrument is not None else 1
        return price * quantity * mult * self.pct(instrument, product, side) / _HUNDRED

    def position_margin(self, instrument: Instrument | None, product: Product, quantity: int, average_price: Decimal) -> Decimal:
        """Margin an open (non-delivery) position keeps blocked."""
        if quantity == 0 or product is Product.CNC:
            return Decimal(0)
        side = Side.BUY if quantity > 0 else Side.SELL
        if instrument is not None and instrument.is_option and side is Side.BUY:
            return Decimal(0)  # the premium was paid in cash
        return self.required(instrument, product, side, abs(quantity), abs(average_price))
