"""Kite's JSON (as the official client returns it, or as a postback/WebSocket update carries
it) turned into tradekit's normalised broker rows.

Kite's numbers arrive as JSON floats; money goes through ``str`` into ``Decimal`` (``dec``), so
``1573.7`` stays ``1573.7``. Timestamps are IST wall-clock strings, or naive datetimes after
the client's own conversion; both become timezone-aware IST datetimes.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from tradekit.brokers.base import BrokerHolding, BrokerOrder, BrokerPosition, BrokerTrade, Funds
from tradekit.clock import IST
from tradekit.errors import ValidationError
from tradekit.model.enums import Exchange, OrderType, Product, Side, Variety
from tradekit.model.money import ZERO, dec

log = logging.getLogger(__name__)


def ts(value) -> datetime | None:
    """A Kite timestamp (``YYYY-MM-DD HH:MM:SS`` in IST, or the client's naive datetime) as IST."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=IST) if value.tzinfo is None else value.astimezone(IST)
    s = str(value)
    try:
        if len(s) == 19:
            return datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
        d = datetime.fromisoformat(s)
        return d.replace(tzinfo=IST) if d.tzinfo is None else d.astimezone(IST)
    except ValueError:
        return None


def money(value) -> Decimal:
    if value is None or value == "":
        return ZERO
    return dec(value, "price")


def _price(value) -> Decimal | None:
    d = money(value)
    return d if d > 0 else None


def _enum(cls, value, default):
    try:
        return cls.parse(value)
    except ValidationError:
        return default


def order(d: dict) -> BrokerOrder:
    """One order (order book row, history entry, postback or WebSocket update)."""
    tag = d.get("tag") or None
    if tag is None:
        for t in d.get("tags") or ():
            if t and not str(t).startswith(("mktp", "autoslice")):
                tag = t
                break
    qty = int(d.get("quantity") or 0)
    filled = int(d.get("filled_quantity") or 0)
    pending = d.get("pending_quantity", d.get("unfilled_quantity"))
    return BrokerOrder(
        broker_order_id=str(d["order_id"]),
        tag=tag,
        status=str(d.get("status") or ""),
        exchange=_enum(Exchange, d.get("exchange"), Exchange.NSE),
        tradingsymbol=str(d.get("tradingsymbol") or ""),
        side=Side.parse(d.get("transaction_type"), "transaction_type"),
        quantity=qty,
        filled_quantity=filled,
        pending_quantity=int(pending) if pending is not None else max(0, qty - filled),
        cancelled_quantity=int(d.get("cancelled_quantity") or 0),
        average_price=money(d.get("average_price")),
        order_type=_enum(OrderType, d.get("order_type"), OrderType.MARKET),
        product=_enum(Product, d.get("product"), Product.MIS),
        variety=_enum(Variety, d.get("variety"), Variety.REGULAR),
        price=_price(d.get("price")),
        trigger_price=_price(d.get("trigger_price")),
        timestamp=ts(d.get("exchange_update_timestamp")) or ts(d.get("order_timestamp")),
        exchange_order_id=str(d["exchange_order_id"]) if d.get("exchange_order_id") else None,
        status_message=d.get("status_message"),
        parent_order_id=str(d["parent_order_id"]) if d.get("parent_order_id") else None,
        raw=d,
    )


def trade(d: dict, tag: str | None = None) -> BrokerTrade:
    """One trade; Kite's trades carry no tag, so the caller passes the order's."""
    when = ts(d.get("fill_timestamp")) or ts(d.get("exchange_timestamp")) or datetime.now(IST)
    return BrokerTrade(
        trade_id=str(d["trade_id"]),
        broker_order_id=str(d["order_id"]),
        exchange=_enum(Exchange, d.get("exchange"), Exchange.NSE),
        tradingsymbol=str(d.get("tradingsymbol") or ""),
        side=Side.parse(d.get("transaction_type"), "transaction_type"),
        quantity=int(d.get("quantity") or 0),
        price=money(d.get("average_price")),
        timestamp=when,
        product=_enum(Product, d.get("product"), Product.MIS),
        tag=tag,
    )


def position(d: dict) -> BrokerPosition:
    return BrokerPosition(
        exchange=_enum(Exchange, d.get("exchange"), Exchange.NSE),
        tradingsymbol=str(d.get("tradingsymbol") or ""),
        product=_enum(Product, d.get("product"), Product.MIS),
        quantity=int(d.get("quantity") or 0),
        average_price=money(d.get("average_price")),
        overnight_quantity=int(d.get("overnight_quantity") or 0),
        realised=money(d.get("realised")) if d.get("realised") is not None else ZERO,
        day_buy_quantity=int(d.get("day_buy_quantity") or 0),
        day_sell_quantity=int(d.get("day_sell_quantity") or 0),
    )


def holding(d: dict) -> BrokerHolding:
    return BrokerHolding(
        exchange=_enum(Exchange, d.get("exchange"), Exchange.NSE),
        tradingsymbol=str(d.get("tradingsymbol") or ""),
        quantity=int(d.get("quantity") or 0),
        t1_quantity=int(d.get("t1_quantity") or 0),
        average_price=money(d.get("average_price")),
    )


def funds(margins: dict) -> Funds:
    """Funds from ``/user/margins`` (the equity segment, where cash trading happens)."""
    eq = margins.get("equity", margins)
    available = dec(eq.get("net", 0), "net")
    utilised = dec((eq.get("utilised") or {}).get("debits", 0), "utilised.debits")
    cash = dec((eq.get("available") or {}).get("cash", 0), "available.cash")
    return Funds(available=available, utilised=utilised, cash=cash)
