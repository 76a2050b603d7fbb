"""Orders: the request, the order state machine, and Kite's statuses mapped onto it.

Local states come first (an order is born CREATED, passes the risk gate and, in manual mode,
a person), then the broker's statuses take over::

    CREATED ──► DENIED                                   (risk gate said no)
       │  └───► PENDING_APPROVAL ──► APPROVAL_REJECTED    (a person said no)
       │               │        └──► EXPIRED              (TTL passed)
       ▼               ▼
    APPROVED ◄─────────┘
       ▼
    SUBMITTED ──► UNKNOWN  (timeout/5xx: resolved by looking the tag up, never by resending)
       ▼
    ACCEPTED (PUT ORDER REQ RECEIVED, VALIDATION PENDING, OPEN PENDING, AMO REQ RECEIVED)
       ▼
    OPEN / TRIGGER_PENDING ⇄ PENDING_MODIFY, PENDING_CANCEL, PARTIALLY_FILLED
       ▼
    FILLED (COMPLETE) · CANCELLED · REJECTED

Terminal states are final: nothing moves them. An illegal transition raises
:class:`~tradekit.errors.IllegalTransition` and leaves the order unchanged.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from decimal import Decimal
from enum import Enum

from tradekit.errors import IllegalTransition, ValidationError
from tradekit.model.enums import Exchange, OrderType, Product, Side, Validity, Variety
from tradekit.model.money import ZERO, dec

MAX_TAG_LENGTH = 20
MAX_MODIFICATIONS = 25  # Kite allows at most 25 modifications of one order
_TAG_RE = re.compile(r"^[A-Za-z0-9]{1,20}$")


class OrderStatus(str, Enum):
    CREATED = "CREATED"
    DENIED = "DENIED"  # by our risk gate
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    APPROVAL_REJECTED = "APPROVAL_REJECTED"  # by a person
    EXPIRED = "EXPIRED"  # approval TTL, or an IOC/TTL order the exchange lapsed
    SUBMITTED = "SUBMITTED"  # sent, no answer yet
    UNKNOWN = "UNKNOWN"  # outcome ambiguous: to be resolved by tag
    ACCEPTED = "ACCEPTED"  # broker has it, not yet open at the exchange
    OPEN = "OPEN"
    TRIGGER_PENDING = "TRIGGER_PENDING"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_MODIFY = "PENDING_MODIFY"
    PENDING_CANCEL = "PENDING_CANCEL"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"  # by the broker or the exchange
    SLICED = "SLICED"  # a parent sent as child orders (freeze slices or an algo); its fills are on the children

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_working(self) -> bool:
        """At the broker and able to fill."""
        return self in WORKING

    @property
    def is_local(self) -> bool:
        """Not yet sent to a broker."""
        return self in LOCAL


S = OrderStatus
TERMINAL = frozenset({S.DENIED, S.APPROVAL_REJECTED, S.EXPIRED, S.FILLED, S.CANCELLED, S.REJECTED, S.SLICED})
LOCAL = frozenset({S.CREATED, S.PENDING_APPROVAL, S.APPROVED})
WORKING = frozenset(
    {S.SUBMITTED, S.UNKNOWN, S.ACCEPTED, S.OPEN, S.TRIGGER_PENDING, S.PARTIALLY_FILLED, S.PENDING_MODIFY, S.PENDING_CANCEL}
)
_BROKER_LIVE = {S.ACCEPTED, S.OPEN, S.TRIGGER_PENDING, S.PARTIALLY_FILLED, S.PENDING_MODIFY, S.PENDING_CANCEL}
_ENDS = {S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.CREATED: frozenset({S.DENIED, S.PENDING_APPROVAL, S.APPROVED}),
    S.PENDING_APPROVAL: frozenset({S.APPROVED, S.APPROVAL_REJECTED, S.EXPIRED, S.DENIED}),
    S.APPROVED: frozenset({S.SUBMITTED, S.DENIED, S.SLICED}),
    S.SUBMITTED: frozenset({S.UNKNOWN} | _BROKER_LIVE | _ENDS),
    S.UNKNOWN: frozenset(_BROKER_LIVE | _ENDS),
    S.ACCEPTED: frozenset(_BROKER_LIVE | _ENDS),
    S.OPEN: frozenset(_BROKER_LIVE | _ENDS),
    S.TRIGGER_PENDING: frozenset(_BROKER_LIVE | _ENDS),
    S.PARTIALLY_FILLED: frozenset((_BROKER_LIVE - {S.ACCEPTED, S.TRIGGER_PENDING}) | _ENDS - {S.REJECTED}),
    S.PENDING_MODIFY: frozenset(_BROKER_LIVE | _ENDS),
    S.PENDING_CANCEL: frozenset(_BROKER_LIVE | _ENDS),
}
for _t in TERMINAL:
    TRANSITIONS[_t] = frozenset()

# Members as module constants: an Enum class attribute costs ~0.25 us per access on Python 3.11
_S_APPROVAL_REJECTED = S.APPROVAL_REJECTED
_S_CANCELLED = S.CANCELLED
_S_DENIED = S.DENIED
_S_EXPIRED = S.EXPIRED
_S_FILLED = S.FILLED
_S_OPEN = S.OPEN
_S_PARTIALLY_FILLED = S.PARTIALLY_FILLED
_S_PENDING_CANCEL = S.PENDING_CANCEL
_S_REJECTED = S.REJECTED
_S_SUBMITTED = S.SUBMITTED
_OT_MARKET, _OT_LIMIT, _OT_SL, _OT_SLM = OrderType.MARKET, OrderType.LIMIT, OrderType.SL, OrderType.SLM
_BUY, _SELL = Side.BUY, Side.SELL
_TTL, _ICEBERG = Validity.TTL, Variety.ICEBERG

# Kite's status strings (order book, order history, postbacks, WebSocket updates).
KITE_STATUS_MAP: dict[str, OrderStatus] = {
    "PUT ORDER REQ RECEIVED": S.ACCEPTED,
    "VALIDATION PENDING": S.ACCEPTED,
    "OPEN PENDING": S.ACCEPTED,
    "AMO REQ RECEIVED": S.ACCEPTED,
    "OPEN": S.OPEN,
    "TRIGGER PENDING": S.TRIGGER_PENDING,
    "MODIFY VALIDATION PENDING": S.PENDING_MODIFY,
    "MODIFY PENDING": S.PENDING_MODIFY,
    "MODIFIED": S.OPEN,
    "CANCEL PENDING": S.PENDING_CANCEL,
    "COMPLETE": S.FILLED,
    "CANCELLED": S.CANCELLED,
    "CANCELLED AMO": S.CANCELLED,
    "REJECTED": S.REJECTED,
    "LAPSED": S.EXPIRED,
    "UPDATE": S.OPEN,  # postbacks/WS use UPDATE for modifications and partial fills
}


def map_broker_status(status: str, filled_quantity: int = 0, quantity: int | None = None) -> OrderStatus | None:
    """Map a Kite status string to our state; ``None`` for statuses we do not know.

    Kite's docs warn that other values may appear: callers treat ``None`` as non-terminal
    and keep the raw string.
    """
    mapped = KITE_STATUS_MAP.get(status)  # already Kite's spelling (the keys are upper case, unpadded)
    if mapped is None:
        mapped = KITE_STATUS_MAP.get(status.strip().upper())
    if mapped is _S_OPEN and filled_quantity > 0:
        if quantity is not None and filled_quantity >= quantity:
            return _S_FILLED
        return _S_PARTIALLY_FILLED
    return mapped


def _check_tag(tag: str | None) -> None:
    if tag is not None and not _TAG_RE.match(tag):
        raise ValidationError(f"{tag!r} must be 1-{MAX_TAG_LENGTH} letters or digits (Kite's tag rule)", field="tag")


_ENUM_FIELDS = (("exchange", Exchange), ("side", Side), ("order_type", OrderType), ("product", Product),
                ("validity", Validity), ("variety", Variety))


@dataclass(frozen=True, slots=True, init=False)
class OrderRequest:
    """What to send. Validated on construction; errors name the field."""

    exchange: Exchange
    tradingsymbol: str
    side: Side
    quantity: int
    order_type: OrderType = OrderType.MARKET
    product: Product = Product.MIS
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    validity: Validity = Validity.DAY
    validity_ttl: int | None = None
    variety: Variety = Variety.REGULAR
    disclosed_quantity: int = 0
    tag: str | None = None
    market_protection: Decimal | None = None  # percent; -1 = automatic (Kite)
    iceberg_legs: int | None = None
    iceberg_quantity: int | None = None

    def __init__(self, exchange: Exchange, tradingsymbol: str, side: Side, quantity: int,
                 order_type: OrderType = OrderType.MARKET, product: Product = Product.MIS, price: Decimal | None = None,
                 trigger_price: Decimal | None = None, validity: Validity = Validity.DAY, validity_ttl: int | None = None,
                 variety: Variety = Variety.REGULAR, disclosed_quantity: int = 0, tag: str | None = None,
                 market_protection: Decimal | None = None, iceberg_legs: int | None = None,
                 iceberg_quantity: int | None = None) -> None:
        # the generated frozen __init__ (the fields' order and defaults: test_order_fast_paths checks them),
        # through the slots' own setters instead of object.__setattr__ per field (a third cheaper; every order)
        _r_set[0](self, exchange)
        _r_set[1](self, tradingsymbol)
        _r_set[2](self, side)
        _r_set[3](self, quantity)
        _r_set[4](self, order_type)
        _r_set[5](self, product)
        _r_set[6](self, price)
        _r_set[7](self, trigger_price)
        _r_set[8](self, validity)
        _r_set[9](self, validity_ttl)
        _r_set[10](self, variety)
        _r_set[11](self, disclosed_quantity)
        _r_set[12](self, tag)
        _r_set[13](self, market_protection)
        _r_set[14](self, iceberg_legs)
        _r_set[15](self, iceberg_quantity)
        self.__post_init__()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if (self.exchange.__class__ is not Exchange or self.side.__class__ is not Side  # all six members already:
                or self.order_type.__class__ is not OrderType or self.product.__class__ is not Product  # nothing to parse
                or self.validity.__class__ is not Validity or self.variety.__class__ is not Variety):
            for name, enum in _ENUM_FIELDS:
                v = getattr(self, name)
                if v.__class__ is not enum:
                    set_(self, name, enum.parse(v, name))
        if not isinstance(self.tradingsymbol, str) or not self.tradingsymbol.strip():
            raise ValidationError("must be a non-empty symbol", field="tradingsymbol")
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise ValidationError(f"must be a whole number, {self.quantity!r} was received", field="quantity")
        if self.quantity <= 0:
            raise ValidationError(f"must be positive, {self.quantity} was received", field="quantity")
        for name in ("price", "trigger_price", "market_protection"):
            v = getattr(self, name)
            if v is not None:
                d = dec(v, name)
                if d is not v:  # a finite Decimal comes back as it is
                    set_(self, name, d)
        ot = self.order_type
        if ot is _OT_LIMIT or ot is _OT_SL:
            if self.price is None or self.price <= 0:
                raise ValidationError(f"a {ot.value} order needs a positive price", field="price")
        elif self.price not in (None, ZERO):
            raise ValidationError(f"a {ot.value} order takes no price", field="price")
        else:
            set_(self, "price", None)
        if ot is _OT_SL or ot is _OT_SLM:
            if self.trigger_price is None or self.trigger_price <= 0:
                raise ValidationError(f"a {ot.value} order needs a positive trigger_price", field="trigger_price")
            if ot is _OT_SL and self.price is not None:
                # A buy stop triggers on the way up: trigger <= limit; a sell stop the other way.
                if self.side is _BUY and self.trigger_price > self.price:
                    raise ValidationError("a BUY SL order needs trigger_price <= price", field="trigger_price")
                if self.side is _SELL and self.trigger_price < self.price:
                    raise ValidationError("a SELL SL order needs trigger_price >= price", field="trigger_price")
        elif self.trigger_price not in (None, ZERO):
            raise ValidationError(f"a {ot.value} order takes no trigger_price", field="trigger_price")
        else:
            set_(self, "trigger_price", None)
        if self.validity is _TTL:
            if not isinstance(self.validity_ttl, int) or self.validity_ttl <= 0:
                raise ValidationError("a TTL order needs validity_ttl in whole minutes > 0", field="validity_ttl")
        elif self.validity_ttl is not None:
            raise ValidationError("validity_ttl is only for validity TTL", field="validity_ttl")
        if not isinstance(self.disclosed_quantity, int) or not 0 <= self.disclosed_quantity <= self.quantity:
            raise ValidationError("must be between 0 and quantity", field="disclosed_quantity")
        if self.tag is not None:
            _check_tag(self.tag)
        if self.market_protection is not None:
            mp = self.market_protection
            if not (mp == -1 or 0 <= mp <= 100):
                raise ValidationError("must be -1 (automatic) or a percent from 0 to 100", field="market_protection")
        if self.variety is _ICEBERG:
            legs = self.iceberg_legs
            if not isinstance(legs, int) or not 2 <= legs <= 10:
                raise ValidationError("an iceberg order needs 2 to 10 legs", field="iceberg_legs")
            if self.iceberg_quantity is None:
                set_(self, "iceberg_quantity", -(-self.quantity // legs))

    @property
    def key(self) -> str:
        return f"{self.exchange._value_}:{self.tradingsymbol}"

    @property
    def is_market(self) -> bool:
        ot = self.order_type
        return ot is _OT_MARKET or ot is _OT_SLM

    def with_changes(self, **changes) -> OrderRequest:
        return replace(self, **changes)

    def stamped(self, tag: str, market_protection: Decimal | None = None, *, tag_checked: bool = False) -> OrderRequest:
        """``with_changes(tag=tag[, market_protection=...])`` (``None``: unchanged) for a request that is
        already valid: only the two changed fields are checked (by the same rules as a construction);
        every other field keeps its validated value, which a full re-validation would leave as it is.
        ``tag_checked``: ``tag`` is known to pass the tag rule (a :class:`ClientOrderIdGenerator` id,
        valid by construction), so it is not matched again."""
        if self.__class__ is not OrderRequest:
            return self.with_changes(tag=tag) if market_protection is None else \
                self.with_changes(tag=tag, market_protection=market_protection)
        mp = self.market_protection if market_protection is None else dec(market_protection, "market_protection")
        if not tag_checked:
            _check_tag(tag)  # in the order a construction checks them
        if market_protection is not None and not (mp == -1 or 0 <= mp <= 100):
            raise ValidationError("must be -1 (automatic) or a percent from 0 to 100", field="market_protection")
        new = _new_request(OrderRequest)
        s = _r_set  # every field, as __init__ sets them (unrolled: no loop)
        s[0](new, self.exchange)
        s[1](new, self.tradingsymbol)
        s[2](new, self.side)
        s[3](new, self.quantity)
        s[4](new, self.order_type)
        s[5](new, self.product)
        s[6](new, self.price)
        s[7](new, self.trigger_price)
        s[8](new, self.validity)
        s[9](new, self.validity_ttl)
        s[10](new, self.variety)
        s[11](new, self.disclosed_quantity)
        s[12](new, tag)
        s[13](new, mp)
        s[14](new, self.iceberg_legs)
        s[15](new, self.iceberg_quantity)
        return new

    def to_dict(self) -> dict:
        d = {
            "exchange": self.exchange._value_,
            "tradingsymbol": self.tradingsymbol,
            "side": self.side._value_,
            "quantity": self.quantity,
            "order_type": self.order_type._value_,
            "product": self.product._value_,
            "price": None if self.price is None else str(self.price),
            "trigger_price": None if self.trigger_price is None else str(self.trigger_price),
            "validity": self.validity._value_,
            "validity_ttl": self.validity_ttl,
            "variety": self.variety._value_,
            "disclosed_quantity": self.disclosed_quantity,
            "tag": self.tag,
            "market_protection": None if self.market_protection is None else str(self.market_protection),
            "iceberg_legs": self.iceberg_legs,
            "iceberg_quantity": self.iceberg_quantity,
        }
        return d

    @classmethod
    def from_dict(cls, d: dict) -> OrderRequest:
        """Inverse of :meth:`to_dict` (validated like any construction): ``from_dict(to_dict(r))``
        rebuilds ``r`` field for field (enum values, exact Decimal text), also through JSON; the OMS
        relies on it to hand the book its request instead of this decoding (``Book.made``)."""
        kw = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for name, enum in _ENUM_FIELDS:  # journal values are exact enum values: direct lookup
            v = kw.get(name)
            if isinstance(v, str):
                member = enum._value2member_map_.get(v)
                if member is not None:
                    kw[name] = member
        for name in ("price", "trigger_price", "market_protection"):
            v = kw.get(name)
            if isinstance(v, str):
                kw[name] = Decimal(v)
        return cls(**kw)


_new_request = object.__new__
_r_set = tuple(OrderRequest.__dict__[f.name].__set__ for f in fields(OrderRequest))  # each field's slot setter, in order


@dataclass(slots=True)
class Order:
    """One order and where it is in its life. Change it only through its methods."""

    client_order_id: str
    request: OrderRequest
    strategy: str = ""
    status: OrderStatus = OrderStatus.CREATED
    created_at: datetime | None = None
    updated_at: datetime | None = None
    broker_order_id: str | None = None
    exchange_order_id: str | None = None
    filled_quantity: int = 0
    filled_value: Decimal = ZERO  # Σ fill quantity × price, exact
    cancelled_quantity: int = 0
    broker_status: str | None = None  # the raw status string last seen from the broker
    broker_filled_quantity: int = 0
    status_message: str | None = None
    modifications: int = 0
    signal_id: str | None = None
    approval_mode: str | None = None
    reference_price: Decimal | None = None  # the price when proposed (for drift and slippage)
    source: str = "signal"
    history: list = field(default_factory=list, repr=False)

    @property
    def quantity(self) -> int:
        return self.request.quantity

    @property
    def average_price(self) -> Decimal:
        return self.filled_value / self.filled_quantity if self.filled_quantity else ZERO

    @property
    def pending_quantity(self) -> int:
        if self.status in TERMINAL:  # OrderStatus.is_terminal, without the property call
            return 0
        return self.request.quantity - self.filled_quantity

    @property
    def side(self) -> Side:
        return self.request.side

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    def can_transition(self, to: OrderStatus) -> bool:
        return to is self.status and not self.status.is_terminal or to in TRANSITIONS[self.status]

    def transition(self, to: OrderStatus, ts: datetime | None = None, reason: str | None = None) -> None:
        """Move to ``to`` or raise IllegalTransition, changing nothing."""
        if self.status in TERMINAL:
            raise IllegalTransition(
                f"order {self.client_order_id} is {self.status.value}, a final state; it cannot become {to.value}"
            )
        if to is self.status:
            return
        if to not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"order {self.client_order_id}: {self.status.value} -> {to.value} is not allowed")
        self.history.append((ts, self.status._value_, to._value_, reason))
        self.status = to
        if ts is not None:
            self.updated_at = ts
        if reason:
            self.status_message = reason

    def reopen_late(self, ts: datetime | None = None) -> None:
        """A placement concluded "not placed" (looked up by tag, not found) turned up at the broker after all.

        The one way out of a final state: REJECTED with no broker id and nothing filled goes back
        to SUBMITTED, so the broker's update that follows applies. Anything else raises.
        """
        if self.status is not _S_REJECTED or self.broker_order_id is not None or self.filled_quantity:
            raise IllegalTransition(f"order {self.client_order_id} ({self.status.value}) was not concluded not placed; "
                                    "it cannot be adopted")
        self.history.append((ts, self.status.value, S.SUBMITTED.value, "placement landed late"))
        self.status = _S_SUBMITTED
        if ts is not None:
            self.updated_at = ts

    def check_fill(self, quantity: int) -> OrderStatus | None:
        """Raise IllegalTransition if a fill of ``quantity`` cannot be booked; changes nothing.

        Returns the state the order would move to (``None``: it stays final).
        """
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise IllegalTransition(f"order {self.client_order_id}: fill quantity must be positive, {quantity!r} was received")
        if self.status in (_S_DENIED, _S_APPROVAL_REJECTED, _S_REJECTED) or self.status in LOCAL:
            raise IllegalTransition(f"order {self.client_order_id} is {self.status.value}; it cannot be filled")
        new_filled = self.filled_quantity + quantity
        if new_filled > self.request.quantity:
            raise IllegalTransition(
                f"order {self.client_order_id}: fill of {quantity} would make {new_filled} filled of {self.request.quantity}"
            )
        if self.status in (_S_CANCELLED, _S_EXPIRED) and new_filled > self.broker_filled_quantity:
            raise IllegalTransition(
                f"order {self.client_order_id} is {self.status.value} with {self.broker_filled_quantity} filled at the broker; "
                f"a fill taking it to {new_filled} is not possible"
            )
        if self.status in TERMINAL:
            return None
        target = _S_FILLED if new_filled == self.request.quantity else _S_PARTIALLY_FILLED
        if self.status is _S_PENDING_CANCEL and target is _S_PARTIALLY_FILLED:
            target = _S_PENDING_CANCEL  # the cancel is still in flight
        if target is not self.status and target not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"order {self.client_order_id}: {self.status.value} cannot take a fill")
        return target

    def apply_fill(self, quantity: int, price: Decimal, ts: datetime | None = None) -> None:
        """Book an execution. Quantity never goes past the order's quantity."""
        target = self.check_fill(quantity)
        new_filled = self.filled_quantity + quantity
        price = dec(price, "price")
        self.filled_value += price * quantity
        self.filled_quantity = new_filled
        self.broker_filled_quantity = max(self.broker_filled_quantity, new_filled)
        if target is not None and target is not self.status:
            self.history.append((ts, self.status._value_, target._value_, "fill"))
            self.status = target
        if ts is not None:
            self.updated_at = ts

    def check_broker_update(self, status: str, filled_quantity: int | None = None) -> OrderStatus:
        """What ``apply_broker_update`` would do, without changing anything (raises the same errors)."""
        q = self.request.quantity
        bf = self.broker_filled_quantity if filled_quantity is None else int(filled_quantity)
        target = map_broker_status(status, bf, q)
        if self.status in TERMINAL:
            if target is self.status and bf == max(self.broker_filled_quantity, self.filled_quantity):
                return self.status
            raise IllegalTransition(f"order {self.client_order_id} is {self.status.value}, a final state; update {status!r} ignored")
        if bf < 0 or bf > q:
            raise IllegalTransition(f"order {self.client_order_id}: broker filled_quantity {bf} is outside 0..{q}")
        if bf < self.broker_filled_quantity:
            raise IllegalTransition(f"order {self.client_order_id}: stale update ({bf} filled < {self.broker_filled_quantity} already known)")
        if target is None:
            target = self.status
        if target is _S_OPEN and self.filled_quantity > 0:
            target = _S_PARTIALLY_FILLED
        if target is not self.status and target not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"order {self.client_order_id}: {self.status.value} -> {target.value} ({status}) is not allowed")
        return target

    def apply_broker_update(
        self,
        status: str,
        *,
        filled_quantity: int | None = None,
        broker_order_id: str | None = None,
        exchange_order_id: str | None = None,
        message: str | None = None,
        ts: datetime | None = None,
    ) -> OrderStatus:
        """Apply a status reported by the broker (order book, history, postback or WS).

        ``filled_quantity`` is the broker's cumulative figure; fills themselves are booked
        through :meth:`apply_fill`. A stale update (less filled than already known) or an
        update to a final order raises IllegalTransition and changes nothing.
        """
        q = self.request.quantity
        bf = self.broker_filled_quantity if filled_quantity is None else int(filled_quantity)
        target = map_broker_status(status, bf, q)
        if self.status in TERMINAL:
            # A repeat of the final state (COMPLETE after the fills completed the order) is a
            # no-op; anything else would move a final order and is refused.
            if target is self.status and bf == max(self.broker_filled_quantity, self.filled_quantity):
                self.broker_status = status
                self.broker_order_id = self.broker_order_id or broker_order_id
                self.exchange_order_id = self.exchange_order_id or exchange_order_id
                return self.status
            raise IllegalTransition(
                f"order {self.client_order_id} is {self.status.value}, a final state; update {status!r} ignored"
            )
        if bf < 0 or bf > q:
            raise IllegalTransition(f"order {self.client_order_id}: broker filled_quantity {bf} is outside 0..{q}")
        if bf < self.broker_filled_quantity:
            raise IllegalTransition(
                f"order {self.client_order_id}: stale update ({bf} filled < {self.broker_filled_quantity} already known)"
            )
        if target is None:  # unknown status: keep state, remember the raw string
            target = self.status
        if target is _S_OPEN and self.filled_quantity > 0:
            target = _S_PARTIALLY_FILLED
        if target is not self.status and target not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"order {self.client_order_id}: {self.status.value} -> {target.value} ({status}) is not allowed")
        self.broker_status = status
        self.broker_filled_quantity = bf
        if broker_order_id:
            self.broker_order_id = broker_order_id
        if exchange_order_id:
            self.exchange_order_id = exchange_order_id
        if target is not self.status:
            self.history.append((ts, self.status._value_, target._value_, status))
            self.status = target
        if target in (_S_CANCELLED, _S_EXPIRED):
            self.cancelled_quantity = q - bf
        if message:
            self.status_message = message
        if ts is not None:
            self.updated_at = ts
        return target

    def apply_modify(self, *, quantity: int | None = None, price=None, trigger_price=None, order_type=None) -> OrderRequest:
        """Record a modification accepted by the broker; returns the new request."""
        if self.status in TERMINAL:
            raise IllegalTransition(f"order {self.client_order_id} is {self.status.value}; it cannot be modified")
        if self.modifications >= MAX_MODIFICATIONS:
            raise IllegalTransition(
                f"order {self.client_order_id} was modified {self.modifications} times; Kite allows {MAX_MODIFICATIONS}: cancel and place a new order"
            )
        changes: dict = {}
        if quantity is not None:
            done = max(self.filled_quantity, self.broker_filled_quantity)
            if quantity < max(done, 1):
                raise IllegalTransition(f"order {self.client_order_id}: new quantity {quantity} is below the {done} already filled")
            changes["quantity"] = quantity
        if order_type is not None:
            changes["order_type"] = order_type
        if price is not None:
            changes["price"] = price
        if trigger_price is not None:
            changes["trigger_price"] = trigger_price
        new_req = self.request.with_changes(**changes) if changes else self.request
        self.request = new_req
        self.modifications += 1
        return new_req


class ClientOrderIdGenerator:
    """Client order ids that fit Kite's ``tag``: ≤ 20 letters/digits, unique per account per day.

    Layout: ``<prefix ≤4><YYMMDD><run 3, base36><sequence, base36>``. The run code comes from
    the store (one per writer process start), the sequence restarts each day, so two processes
    sharing an account never collide and an id is found again at the broker by its tag.
    Every id passes Kite's tag rule by construction (letters and digits, at most 20: checked in
    :meth:`next`), so the OMS stamps it on a request without matching it again.
    """

    _ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def __init__(self, prefix: str = "TK", run: int = 0):
        if not re.fullmatch(r"[A-Za-z]{1,4}", prefix):
            raise ValidationError("must be 1-4 letters", field="orders.tag_prefix")
        self.prefix = prefix.upper()
        self.run = self._b36(run % 36**3).rjust(3, "0")
        self._day: date | None = None
        self._head = ""  # prefix + the day + run, for self._day
        self._seq = 0
        self._lock = threading.Lock()

    @classmethod
    def _b36(cls, n: int) -> str:
        if n == 0:
            return "0"
        out = ""
        while n:
            n, r = divmod(n, 36)
            out = cls._ALPHABET[r] + out
        return out

    def next(self, day: date) -> str:
        with self._lock:
            if day != self._day:
                self._day, self._seq = day, 0
                self._head = f"{self.prefix}{day:%y%m%d}{self.run}"
            self._seq += 1
            seq = self._b36(self._seq)
            head = self._head
        cid = head + seq.rjust(4, "0")
        if len(cid) > MAX_TAG_LENGTH:
            raise ValidationError(f"id space for {day} is exhausted", field="client_order_id")
        return cid
