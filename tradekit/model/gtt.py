"""GTT (good till triggered) as domain values: a standing trigger on the last price that places
a LIMIT order when the price reaches it, kept by the broker while tradekit is down.

``GttRequest`` is what to place: one trigger value and one leg (``single``), or two trigger
values and two legs (``two-leg``, one-cancels-other: the lower value fires the first leg, the
upper value the second; the first to be reached fires and the GTT is done). ``Gtt`` is what the
broker holds: the request, an id, a status and, once fired, each leg's result.

Nothing here knows a broker: the broker adapters turn these into their own shapes, and the
broker's rules (which products, how far from the last price, how many at once, how long)
live with the rules table (:mod:`tradekit.market.gtt_rules`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum

from tradekit.errors import ValidationError
from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.money import dec


class GttType(str, Enum):
    SINGLE = "single"
    OCO = "two-leg"

    def __str__(self) -> str:
        return self.value


class GttStatus(str, Enum):
    ACTIVE = "active"
    TRIGGERED = "triggered"
    DISABLED = "disabled"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    DELETED = "deleted"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: object, field_: str = "status") -> GttStatus:
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise ValidationError(f"{value!r} is not one of {allowed}", field=field_) from None


@dataclass(frozen=True, slots=True)
class GttLegResult:
    """What happened when a leg fired: the order placed (or why it was not)."""

    order_id: str | None
    ok: bool
    triggered_at: Decimal | None = None  # the last price that fired it
    at: datetime | None = None
    rejection_reason: str | None = None

    def to_dict(self) -> dict:
        return {"order_id": self.order_id, "ok": self.ok,
                "triggered_at": None if self.triggered_at is None else str(self.triggered_at),
                "at": None if self.at is None else self.at.isoformat(), "rejection_reason": self.rejection_reason}


@dataclass(frozen=True, slots=True)
class GttLeg:
    """The order a trigger places: always LIMIT (a GTT places limit orders)."""

    side: Side
    quantity: int
    price: Decimal
    product: Product
    order_type: OrderType = OrderType.LIMIT
    result: GttLegResult | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "side", Side.parse(self.side, "side"))
        set_(self, "product", Product.parse(self.product, "product"))
        set_(self, "order_type", OrderType.parse(self.order_type, "order_type"))
        if self.order_type is not OrderType.LIMIT:
            raise ValidationError(f"a GTT places LIMIT orders, {self.order_type.value} was given", field="order_type")
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int) or self.quantity <= 0:
            raise ValidationError(f"must be a positive whole number, {self.quantity!r} was given", field="quantity")
        p = dec(self.price, "price")
        if p <= 0:
            raise ValidationError(f"must be positive, {p} was given", field="price")
        set_(self, "price", p)

    def to_dict(self) -> dict:
        return {"side": self.side.value, "quantity": self.quantity, "price": str(self.price),
                "product": self.product.value, "order_type": self.order_type.value,
                "result": None if self.result is None else self.result.to_dict()}


@dataclass(frozen=True, slots=True)
class GttRequest:
    """A GTT to place or the new form of one to modify. Validated on construction."""

    exchange: Exchange
    tradingsymbol: str
    trigger_values: tuple[Decimal, ...]
    legs: tuple[GttLeg, ...]
    last_price: Decimal | None = None  # the last price when placed (Kite's ``condition.last_price``)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "exchange", Exchange.parse(self.exchange, "exchange"))
        if not isinstance(self.tradingsymbol, str) or not self.tradingsymbol.strip():
            raise ValidationError("must be a non-empty symbol", field="tradingsymbol")
        tv = tuple(dec(v, "trigger_values") for v in (self.trigger_values or ()))
        if len(tv) not in (1, 2):
            raise ValidationError(f"one value (single) or two (two-leg OCO) are needed, {len(tv)} were given",
                                  field="trigger_values")
        if any(v <= 0 for v in tv):
            raise ValidationError("every trigger value must be positive", field="trigger_values")
        if len(tv) == 2 and not tv[0] < tv[1]:
            raise ValidationError(f"a two-leg GTT needs the lower trigger first: {tv[0]} is not below {tv[1]}",
                                  field="trigger_values")
        legs = tuple(x if isinstance(x, GttLeg) else GttLeg(**x) for x in (self.legs or ()))
        if len(legs) != len(tv):
            raise ValidationError(f"{len(tv)} trigger value(s) need {len(tv)} leg(s), {len(legs)} were given", field="orders")
        set_(self, "trigger_values", tv)
        set_(self, "legs", legs)
        if self.last_price is not None:
            lp = dec(self.last_price, "last_price")
            if lp <= 0:
                raise ValidationError(f"must be positive, {lp} was given", field="last_price")
            set_(self, "last_price", lp)

    @property
    def type(self) -> GttType:
        return GttType.SINGLE if len(self.trigger_values) == 1 else GttType.OCO

    @property
    def key(self) -> str:
        return f"{self.exchange.value}:{self.tradingsymbol}"

    def with_last_price(self, price) -> GttRequest:
        return replace(self, last_price=price)

    def to_dict(self) -> dict:
        return {"exchange": self.exchange.value, "tradingsymbol": self.tradingsymbol, "type": self.type.value,
                "trigger_values": [str(v) for v in self.trigger_values], "legs": [leg.to_dict() for leg in self.legs],
                "last_price": None if self.last_price is None else str(self.last_price)}

    @classmethod
    def oco(cls, exchange, tradingsymbol: str, *, side: Side | str, quantity: int, product: Product | str,
            stop_trigger, stop_price, target_trigger, target_price, last_price=None) -> GttRequest:
        """A two-leg GTT that exits a position: the stop leg and the target leg, the same side
        (SELL exits a long, BUY a short). A long's stop is the lower trigger, a short's the upper."""
        side = Side.parse(side, "side")
        stop = GttLeg(side, quantity, stop_price, product)
        target = GttLeg(side, quantity, target_price, product)
        if side is Side.SELL:
            return cls(exchange, tradingsymbol, (stop_trigger, target_trigger), (stop, target), last_price)
        return cls(exchange, tradingsymbol, (target_trigger, stop_trigger), (target, stop), last_price)


@dataclass(frozen=True, slots=True)
class Gtt:
    """A GTT as the broker holds it."""

    id: str
    request: GttRequest
    status: GttStatus
    created_at: datetime | None = None
    updated_at: datetime | None = None
    expires_at: datetime | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def type(self) -> GttType:
        return self.request.type

    @property
    def key(self) -> str:
        return self.request.key

    @property
    def is_active(self) -> bool:
        return self.status is GttStatus.ACTIVE

    @property
    def fired(self) -> tuple[int, GttLegResult] | None:
        """(leg index, result) of the leg that fired, or None."""
        for i, leg in enumerate(self.request.legs):
            if leg.result is not None:
                return i, leg.result
        return None

    def to_dict(self) -> dict:
        return {"id": self.id, "status": self.status.value, **self.request.to_dict(),
                "created_at": None if self.created_at is None else self.created_at.isoformat(),
                "updated_at": None if self.updated_at is None else self.updated_at.isoformat(),
                "expires_at": None if self.expires_at is None else self.expires_at.isoformat()}


__all__ = ["Gtt", "GttLeg", "GttLegResult", "GttRequest", "GttStatus", "GttType"]
