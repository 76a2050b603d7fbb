"""The margin model shared by the paper broker's RMS and the OMS's funds check."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from tradekit.model.enums import Exchange, Product, Side
from tradekit.model.instrument import Instrument

_HUNDRED = Decimal(100)
_COMMODITY = {Exchange.MCX, Exchange.NCO}
_CURRENCY = {Exchange.CDS, Exchange.BCD}


class MarginConfig(BaseModel):
    """A simple, documented margin model (not Zerodha's SPAN/VaR engine).

    Equity: CNC buys block the full order value; MIS blocks ``mis_pct`` % of it (20 % = 5×,
    Zerodha's usual intraday leverage on liquid stocks). F&O: futures and option writing block
    a SPAN-like ``futures_pct`` / ``option_sell_pct`` % of contract value; option buys pay the
    premium in full. Margin for an open order is blocked at placement and released exactly
    when the order fills (it moves to the position) or is cancelled.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mis_pct: Decimal = Field(Decimal("20"), gt=0, le=100, description="% of order value an MIS equity order blocks "
                             "(20 = 5× leverage)")
    futures_pct: Decimal = Field(Decimal("12"), gt=0, le=100, description="% of contract value a futures position "
                                 "blocks (SPAN + exposure, approximated)")
    option_sell_pct: Decimal = Field(Decimal("15"), gt=0, le=100, description="% of contract value a short option "
                                     "blocks (option buys pay the premium in full)")
    currency_pct: Decimal = Field(Decimal("3"), gt=0, le=100, description="% of contract value for CDS futures and "
                                  "option writing")
    commodity_pct: Decimal = Field(Decimal("10"), gt=0, le=100, description="% of contract value for MCX futures and "
                                   "option writing")


class MarginModel:
    """Margin per unit of exposure (see :class:`MarginConfig`)."""

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
