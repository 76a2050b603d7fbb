"""Small builders for risk tests: a Book driven by real events (no database), orders, contexts."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from tradekit.clock import ist
from tradekit.model import Instrument, OrderRequest
from tradekit.model.enums import Exchange, InstrumentType, Segment
from tradekit.risk import RiskContext
from tradekit.store import Book, Event, EventType as E

NOW = ist(2026, 11, 25, 11, 0)  # a Wednesday, a trading day, mid-session


class BookBuilder:
    """Applies events to a Book the way the OMS does (``Book.apply``), without a journal."""

    def __init__(self, capital: float = 1_000_000, now: datetime = NOW):
        self.book = Book()
        self.seq = 0
        self.now = now
        self.n = 0
        self.apply(E.SESSION_STARTED, {"capital": str(capital)})

    def apply(self, type_: str, payload: dict, ts: datetime | None = None) -> Event:
        self.seq += 1
        t = (ts or self.now).isoformat()
        ev = Event(self.seq, t, t, type_, payload, "", "")
        self.book.apply(ev)
        return ev

    def fill(self, symbol: str, side: str, qty: int, price, *, product="MIS", strategy="s", exchange="NSE", multiplier=1):
        self.n += 1
        return self.apply(E.FILL, {"trade_id": f"T{self.n}", "quantity": qty, "price": str(price), "side": side,
                                   "exchange": exchange, "tradingsymbol": symbol, "product": product,
                                   "strategy": strategy, "multiplier": multiplier})

    def mark(self, prices: dict, ts: datetime | None = None):
        return self.apply(E.MARK, {"prices": {(k if ":" in k else f"NSE:{k}"): str(v) for k, v in prices.items()}}, ts)

    def order(self, symbol: str, side: str, qty: int, order_type: str = "LIMIT", price=None, *, product="MIS",
              strategy="s", exchange="NSE", trigger_price=None, market_protection=None, status: str | None = None):
        self.n += 1
        cid = f"C{self.n}"
        if order_type in ("LIMIT", "SL") and price is None:
            price = Decimal("100")
        if order_type in ("MARKET", "SL-M") and market_protection is None:
            market_protection = Decimal("-1")
        req = OrderRequest(exchange, symbol, side, qty, order_type, product, price=price, trigger_price=trigger_price,
                           market_protection=market_protection)
        self.apply(E.ORDER_CREATED, {"client_order_id": cid, "strategy": strategy, "request": req.to_dict()})
        if status == "OPEN":
            self.apply(E.APPROVAL_GRANTED, {"client_order_id": cid, "by": "t"})
            self.apply(E.ORDER_SUBMITTED, {"client_order_id": cid})
            self.apply(E.ORDER_UPDATE, {"client_order_id": cid, "status": "OPEN", "filled_quantity": 0})
        return self.book.orders[cid]


def ctx(builder: BookBuilder, last_price=None, *, now=None, **kw) -> RiskContext:
    """A context at the builder's clock, which moves 0.25 s per call (4 orders/s: under the governor)."""
    lp = None if last_price is None else Decimal(str(last_price))
    if now is None:
        builder.now = builder.now + timedelta(milliseconds=250)
        now = builder.now
    return RiskContext(now, builder.book, last_price=lp, **kw)


def equity(symbol="RELIANCE", tick="0.10", exchange="NSE") -> Instrument:
    return Instrument(Exchange(exchange), symbol, 1000 + len(symbol), tick_size=Decimal(tick), lot_size=1)


def future(symbol="NIFTY26DECFUT", lot=65, freeze=1800, underlying="NIFTY", tick="0.10") -> Instrument:
    return Instrument(Exchange.NFO, symbol, 9001, tick_size=Decimal(tick), lot_size=lot, segment=Segment.NFO_FUT,
                      instrument_type=InstrumentType.FUT, name=underlying, freeze_quantity=freeze, underlying=underlying)


class FakeOMS:
    """A tiny stand-in for the OMS's cancel_all/flatten (the RiskExecutor protocol), tests only.

    ``flatten`` sends one closing order per open position through the gate with the given
    source and fills it at the position's last price (minus ``slippage`` against us).
    """

    def __init__(self, builder: BookBuilder, gate, slippage: float = 0.0):
        self.b = builder
        self.gate = gate
        self.slippage = slippage
        self.calls: list[tuple] = []
        self.denied: list = []
        self.cost = 0.0

    def cancel_all(self, *, reason: str, source: str):
        self.calls.append(("cancel_all", reason, source))
        for o in list(self.b.book.open_orders()):
            if o.status.is_working:
                self.b.apply(E.ORDER_UPDATE, {"client_order_id": o.client_order_id, "status": "CANCELLED",
                                              "filled_quantity": o.filled_quantity})

    def flatten(self, strategy=None, *, reason: str, source: str):
        self.calls.append(("flatten", strategy, reason, source))
        for p in list(self.b.book.positions.values()):
            if not p.quantity or (strategy is not None and p.strategy != strategy):
                continue
            side = "SELL" if p.quantity > 0 else "BUY"
            o = self.b.order(p.tradingsymbol, side, abs(p.quantity), "MARKET", product=str(p.product),
                             strategy=p.strategy, exchange=str(p.exchange))
            d = self.gate.check(o, ctx(self.b, p.last_price, source=source))
            if not d.allowed:
                self.denied.append(d)
                continue
            self.execute(o, float(p.last_price))

    def execute(self, o, price: float):
        """Approve, submit and fill ``o`` at ``price`` moved against us by the slippage."""
        cid = o.client_order_id
        sgn = 1 if o.request.side.value == "BUY" else -1
        px = round(price * (1 + sgn * self.slippage), 2)
        self.cost += abs(px - price) * o.quantity
        self.b.apply(E.APPROVAL_GRANTED, {"client_order_id": cid, "by": "auto"})
        self.b.apply(E.ORDER_SUBMITTED, {"client_order_id": cid})
        self.b.n += 1
        r = o.request
        return self.b.apply(E.FILL, {"client_order_id": cid, "trade_id": f"F{self.b.n}", "quantity": o.quantity,
                                     "price": f"{px:.2f}", "side": r.side.value, "exchange": r.exchange.value,
                                     "tradingsymbol": r.tradingsymbol, "product": r.product.value,
                                     "strategy": o.strategy})


class FakeAccount:
    def __init__(self, available, margin_pct=100):
        self._avail = Decimal(str(available))
        self.pct = Decimal(margin_pct) / 100

    def available(self):
        return self._avail

    def required_margin(self, request, price=None):
        return Decimal(str(price)) * request.quantity * self.pct


class SimClock:
    """The builder's clock for code that asks a Clock for "now" (kill switch, manager)."""

    def __init__(self, b: BookBuilder):
        self.b = b

    def now(self):
        return self.b.now

    def sleep(self, s):
        self.b.now += timedelta(seconds=s)
