"""Signal: what a strategy engine asks for. Validation of raw input lives in tradekit.signals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.money import dec


@dataclass(frozen=True, slots=True)
class Signal:
    """A strategy's intent to trade. ``quantity`` may be None when a sizing rule is given."""

    signal_id: str  # the idempotency key: a signal sent twice makes one proposal
    strategy: str
    exchange: Exchange
    tradingsymbol: str
    side: Side
    quantity: int | None
    order_type: OrderType = OrderType.MARKET
    product: Product = Product.MIS
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    signal_time: datetime | None = None
    expires_at: datetime | None = None
    priority: int = 0
    confidence: float | None = None
    sizing: dict | None = None  # e.g. {"rule": "risk_pct", "value": 0.5}
    reference_price: Decimal | None = None  # the price the strategy saw (for slippage analytics)
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name, enum in (("exchange", Exchange), ("side", Side), ("order_type", OrderType), ("product", Product)):
            v = getattr(self, name)
            if v.__class__ is not enum:
                set_(self, name, enum.parse(v, name))
        for name in ("price", "trigger_price", "reference_price"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, Decimal):
                set_(self, name, dec(v, name))

    @property
    def key(self) -> str:
        return f"{self.exchange._value_}:{self.tradingsymbol}"  # _value_: Enum.value is a descriptor call
