"""Fill: one execution (a Kite trade) of part or all of an order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tradekit.model.charges import NO_CHARGES, Charges
from tradekit.model.enums import Exchange, Product, Side


@dataclass(frozen=True, slots=True)
class Fill:
    client_order_id: str
    trade_id: str
    exchange: Exchange
    tradingsymbol: str
    side: Side
    quantity: int
    price: Decimal
    timestamp: datetime
    product: Product
    strategy: str = ""
    broker_order_id: str | None = None
    charges: Charges = NO_CHARGES

    @property
    def value(self) -> Decimal:
        return self.price * self.quantity

    @property
    def signed_quantity(self) -> int:
        return self.quantity * self.side.sign
