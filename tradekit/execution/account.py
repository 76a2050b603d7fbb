"""The OMS-side account: available funds and margin, derived from the book.

Derived, not accumulated: margin for working orders is recomputed from the orders that are
working now, so it returns to exactly zero when nothing is open and the book is flat.
Funds model (documented, deliberately simple):

    available = cash                                   (capital ± trade values − charges)
              + value spent on open MIS/NRML positions  (they are carried on margin, not cash)
              − margin of open MIS/NRML positions
              − margin of working orders
              + unrealised losses of MIS/NRML positions (M2M losses reduce what can be used)
"""

from __future__ import annotations

from decimal import Decimal
from operator import attrgetter

from tradekit.errors import MarketRuleError
from tradekit.execution.margin import MarginModel
from tradekit.model.enums import Product
from tradekit.model.money import ZERO, dec
from tradekit.model.order import OrderRequest, OrderStatus
from tradekit.store.projection import Book

_last_price = attrgetter("last_price")
_order_fp = attrgetter("status", "filled_quantity", "broker_filled_quantity", "request")
_AT_BROKER = {OrderStatus.SUBMITTED, OrderStatus.UNKNOWN, OrderStatus.ACCEPTED, OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING,
              OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_MODIFY, OrderStatus.PENDING_CANCEL}


class Account:
    def __init__(self, book: Book, margin: MarginModel | None = None, instruments=None, prices: dict | None = None):
        self.book = book
        self.margin = margin or MarginModel()
        self.instruments = instruments
        self.prices: dict[str, Decimal] = prices if prices is not None else {}
        self.price_of = self.prices.get  # replaced by the OMS with its freshest source
        self._cache: tuple | None = None
        self._margins: dict[str, tuple] = {}  # client order id -> (request, pending, margin): priced orders only
        self._m2m: tuple | None = None  # (positions version, marks, loss)
        self._om: tuple | None = None  # (working orders, their fingerprints, margin) when all are priced

    def instrument(self, exchange, symbol):
        """The instrument, or None when unknown (the caller decides what that means)."""
        if self.instruments is None:
            return None
        try:
            return self.instruments.get(exchange, symbol)
        except MarketRuleError:
            return None

    def ref_price(self, request: OrderRequest) -> Decimal:
        if request.price is not None:
            return request.price
        if request.trigger_price is not None:
            return request.trigger_price
        return self.price_of(request.key) or ZERO

    def required_margin(self, request: OrderRequest, price: Decimal | None = None, quantity: int | None = None) -> Decimal:
        px = dec(price, "price") if price is not None else self.ref_price(request)
        q = request.quantity if quantity is None else quantity
        return self.margin.required(self.instrument(request.exchange, request.tradingsymbol), request.product, request.side, q, px)

    def order_margin(self) -> Decimal:
        # unchanged working orders (the same objects, statuses, fills and requests, compared in
        # C-level passes) with their own prices keep their total
        orders = list(self.book.open.values())
        fp = list(map(_order_fp, orders))
        c = self._om
        if c is not None and c[1] == fp and c[0] == orders:
            return c[2]
        total, priced = self._order_margin(), True
        for o in orders:
            if o.status in _AT_BROKER and o.request.price is None and o.request.trigger_price is None:
                priced = False
                break
        self._om = (orders, fp, total) if priced else None
        return total

    def _order_margin(self) -> Decimal:
        total = ZERO
        memo = self._margins
        if len(memo) > 4 * len(self.book.open) + 64:
            memo.clear()
        for o in self.book.open.values():
            if o.status in _AT_BROKER:
                r = o.request
                pending = r.quantity - max(o.filled_quantity, o.broker_filled_quantity)
                if pending > 0:
                    if r.price is None and r.trigger_price is None:  # valued at the moving last price
                        total += self.required_margin(r, quantity=pending)
                        continue
                    # requests are immutable (a modify replaces it): its margin for this quantity is fixed
                    hit = memo.get(o.client_order_id)
                    if hit is None or hit[0] is not r or hit[1] != pending:
                        hit = memo[o.client_order_id] = (r, pending, self.required_margin(r, quantity=pending))
                    total += hit[2]
        return total

    def _position_sums(self) -> tuple[Decimal, Decimal, list]:
        """(position margin, value carried on margin, open MIS/NRML positions), cached until a position changes."""
        v = self.book.positions_version
        if self._cache is not None and self._cache[0] == v:
            return self._cache[1]
        pm = carried = ZERO
        margined = []
        for p in self.book.positions.values():
            if not p.quantity:
                continue
            pm += self.margin.position_margin(self.instrument(p.exchange, p.tradingsymbol), p.product, p.quantity, p.average_price)
            if p.product is not Product.CNC:
                carried += p.open_value * p.multiplier
                margined.append(p)
        self._cache = (v, (pm, carried, margined))
        return pm, carried, margined

    def position_margin(self) -> Decimal:
        return self._position_sums()[0]

    def blocked(self) -> Decimal:
        return self.order_margin() + self.position_margin()

    def available(self) -> Decimal:
        pm, carried, margined = self._position_sums()
        # marks move every tick: kept while no position changed and no mark replaced a last price
        marks = list(map(_last_price, margined))
        c = self._m2m
        if c is not None and c[0] == self.book.positions_version and c[1] == marks:
            m2m_loss = c[2]
        else:
            m2m_loss = ZERO
            for p in margined:
                u = p.unrealized_pnl
                if u < 0:
                    m2m_loss += u
            self._m2m = (self.book.positions_version, marks, m2m_loss)
        return self.book.cash + carried - self.order_margin() - pm + m2m_loss

    def summary(self) -> dict:
        return {"cash": self.book.cash, "order_margin": self.order_margin(), "position_margin": self.position_margin(),
                "available": self.available()}
