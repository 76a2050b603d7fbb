"""The Broker protocol: what the order-management core needs from a broker.

Two implementations: :class:`tradekit.brokers.paper.PaperBroker` (a simulated exchange) and
:class:`tradekit.brokers.kite.KiteBroker` (the official ``kiteconnect`` client). Paper and live
differ only in which one sits behind the OMS.

Contract
--------
================================  =========  ===============================================
method                            required   notes
================================  =========  ===============================================
``place_order(cid, request)``     yes        returns the broker order id. Raises
                                             ``BrokerRejected`` (synchronous refusal),
                                             ``AuthExpired``, ``BrokerUnavailable`` (known not
                                             to have been placed) or ``AmbiguousOrderState``
                                             (may have been placed: look it up by tag).
``modify_order(boid, request)``   yes        the new request (quantity/price/trigger/type)
``cancel_order(boid, variety)``   yes
``orders()``                      yes        today's order book as ``BrokerOrder`` rows
``trades()``                      yes        today's trades as ``BrokerTrade`` rows
``positions()`` / ``holdings()``  yes        ``BrokerPosition`` / ``BrokerHolding`` rows
``funds()``                       yes        ``Funds``
``find_by_tag(tag)``              yes        the order whose tag is our client order id
``subscribe(listener)``           yes        push order updates and trades to the OMS
``place_gtt(request)``            optional   a GTT (single or two-leg OCO) kept by the broker;
                                             returns its id (:class:`GttBroker`)
``modify_gtt(id, request)``       optional   only an active GTT
``delete_gtt(id)``                optional   only an active GTT
``gtts()`` / ``get_gtt(id)``      optional   ``Gtt`` rows (status, each leg's fired order)
================================  =========  ===============================================

Order updates and trades reach the OMS through ``BrokerListener.on_order_update`` and
``on_trade``; they may arrive on another thread and in any order (a trade before the status
that announces it), and the OMS copes with both.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from tradekit.model.enums import Exchange, OrderType, Product, Side, Variety
from tradekit.model.gtt import Gtt, GttRequest
from tradekit.model.money import ZERO
from tradekit.model.order import OrderRequest

_NEW_DICT: dict = {}  # BrokerOrder's ``raw`` default: a new dict per row (the field's default_factory)


@dataclass(frozen=True, slots=True, init=False)
class BrokerOrder:
    """One row of the broker's order book (Kite's order object, normalised)."""

    broker_order_id: str
    tag: str | None
    status: str  # the broker's own string, e.g. "OPEN", "TRIGGER PENDING", "COMPLETE"
    exchange: Exchange
    tradingsymbol: str
    side: Side
    quantity: int
    filled_quantity: int = 0
    pending_quantity: int = 0
    cancelled_quantity: int = 0
    average_price: Decimal = ZERO
    order_type: OrderType = OrderType.MARKET
    product: Product = Product.MIS
    variety: Variety = Variety.REGULAR
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    timestamp: datetime | None = None
    exchange_order_id: str | None = None
    status_message: str | None = None
    parent_order_id: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    def __init__(self, broker_order_id: str, tag: str | None, status: str, exchange: Exchange, tradingsymbol: str,
                 side: Side, quantity: int, filled_quantity: int = 0, pending_quantity: int = 0,
                 cancelled_quantity: int = 0, average_price: Decimal = ZERO, order_type: OrderType = OrderType.MARKET,
                 product: Product = Product.MIS, variety: Variety = Variety.REGULAR, price: Decimal | None = None,
                 trigger_price: Decimal | None = None, timestamp: datetime | None = None,
                 exchange_order_id: str | None = None, status_message: str | None = None,
                 parent_order_id: str | None = None, raw: dict = _NEW_DICT):
        # the generated frozen __init__, through the slots' own setters (as Charges does): a paper
        # order builds two rows and a trade, about 40 % cheaper each than object.__setattr__ per field
        _o_set[0](self, broker_order_id)
        _o_set[1](self, tag)
        _o_set[2](self, status)
        _o_set[3](self, exchange)
        _o_set[4](self, tradingsymbol)
        _o_set[5](self, side)
        _o_set[6](self, quantity)
        _o_set[7](self, filled_quantity)
        _o_set[8](self, pending_quantity)
        _o_set[9](self, cancelled_quantity)
        _o_set[10](self, average_price)
        _o_set[11](self, order_type)
        _o_set[12](self, product)
        _o_set[13](self, variety)
        _o_set[14](self, price)
        _o_set[15](self, trigger_price)
        _o_set[16](self, timestamp)
        _o_set[17](self, exchange_order_id)
        _o_set[18](self, status_message)
        _o_set[19](self, parent_order_id)
        _o_set[20](self, {} if raw is _NEW_DICT else raw)


@dataclass(frozen=True, slots=True, init=False)
class BrokerTrade:
    trade_id: str
    broker_order_id: str
    exchange: Exchange
    tradingsymbol: str
    side: Side
    quantity: int
    price: Decimal
    timestamp: datetime
    product: Product = Product.MIS
    tag: str | None = None

    def __init__(self, trade_id: str, broker_order_id: str, exchange: Exchange, tradingsymbol: str, side: Side,
                 quantity: int, price: Decimal, timestamp: datetime, product: Product = Product.MIS,
                 tag: str | None = None):
        # the generated frozen __init__, through the slots' own setters (see BrokerOrder)
        _t_set[0](self, trade_id)
        _t_set[1](self, broker_order_id)
        _t_set[2](self, exchange)
        _t_set[3](self, tradingsymbol)
        _t_set[4](self, side)
        _t_set[5](self, quantity)
        _t_set[6](self, price)
        _t_set[7](self, timestamp)
        _t_set[8](self, product)
        _t_set[9](self, tag)


# each field's slot setter, in the order of the constructors' parameters
_o_set = tuple(BrokerOrder.__dict__[f.name].__set__ for f in fields(BrokerOrder))
_t_set = tuple(BrokerTrade.__dict__[f.name].__set__ for f in fields(BrokerTrade))


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    exchange: Exchange
    tradingsymbol: str
    product: Product
    quantity: int
    average_price: Decimal = ZERO
    overnight_quantity: int = 0
    realised: Decimal = ZERO
    day_buy_quantity: int = 0
    day_sell_quantity: int = 0


@dataclass(frozen=True, slots=True)
class BrokerHolding:
    exchange: Exchange
    tradingsymbol: str
    quantity: int  # settled
    t1_quantity: int = 0
    average_price: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Funds:
    available: Decimal
    utilised: Decimal = ZERO
    cash: Decimal = ZERO


@runtime_checkable
class BrokerListener(Protocol):
    def on_order_update(self, order: BrokerOrder) -> None: ...

    def on_trade(self, trade: BrokerTrade) -> None: ...


@runtime_checkable
class Broker(Protocol):
    name: str

    def subscribe(self, listener: BrokerListener) -> None: ...

    def place_order(self, client_order_id: str, request: OrderRequest) -> str: ...

    def modify_order(self, broker_order_id: str, request: OrderRequest) -> None: ...

    def cancel_order(self, broker_order_id: str, variety: Variety = Variety.REGULAR) -> None: ...

    def orders(self) -> list[BrokerOrder]: ...

    def trades(self) -> list[BrokerTrade]: ...

    def positions(self) -> list[BrokerPosition]: ...

    def holdings(self) -> list[BrokerHolding]: ...

    def funds(self) -> Funds: ...

    def find_by_tag(self, tag: str) -> BrokerOrder | None: ...


@runtime_checkable
class GttBroker(Protocol):
    """The optional GTT part of a broker: triggers the broker keeps while tradekit is down.

    Errors as for orders: ``BrokerRejected`` (refused, nothing changed), ``AuthExpired``,
    ``BrokerUnavailable``. A placement whose outcome is unknown is found again by listing.
    """

    def place_gtt(self, request: GttRequest) -> str: ...

    def modify_gtt(self, gtt_id: str, request: GttRequest) -> None: ...

    def delete_gtt(self, gtt_id: str) -> None: ...

    def gtts(self) -> list[Gtt]: ...

    def get_gtt(self, gtt_id: str) -> Gtt: ...


def supports_gtt(broker) -> bool:
    """True when ``broker`` implements :class:`GttBroker`."""
    return all(callable(getattr(broker, m, None)) for m in ("place_gtt", "modify_gtt", "delete_gtt", "gtts", "get_gtt"))
