"""The paper broker: a simulated exchange plus a broker's RMS and books, behind the Broker protocol.

It keeps its *own* account (cash, margin, positions, holdings) the way Zerodha does, so the
OMS's book can be reconciled against it exactly as against the live broker. Rejects carry the
exchange/broker-style messages a trader sees in Kite.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from tradekit.brokers.base import BrokerHolding, BrokerListener, BrokerOrder, BrokerPosition, BrokerTrade, Funds
from tradekit.brokers.paper.config import PaperConfig
from tradekit.brokers.paper.gtt import PaperGttMixin
from tradekit.brokers.paper.exchange import (
    CANCELLED,
    FINAL,
    REJECTED,
    SimExchange,
    SimOrder,
    SimTrade,
    to_units,
)
from tradekit.clock import Clock, dt_to_ns
from tradekit.data.types import Tick
from tradekit.errors import BrokerRejected, MarketRuleError
from tradekit.execution.margin import MarginModel
from tradekit.model.charges import Charges
from tradekit.model.enums import Exchange, OrderType, Product, Side, Variety
from tradekit.model.instrument import Instrument
from tradekit.model.money import ZERO, dec
from tradekit.model.order import MAX_MODIFICATIONS, OrderRequest
from tradekit.model.position import Position

# Enum members as module constants: an Enum class attribute costs ~0.25 us per access on Python 3.11
_BUY = Side.BUY
_OT_SLM = OrderType.SLM
_P_CNC = Product.CNC
_P_MIS = Product.MIS
_SELL = Side.SELL
_V_AMO = Variety.AMO
_V_ICEBERG = Variety.ICEBERG
_V_REGULAR = Variety.REGULAR

log = logging.getLogger(__name__)

_NO_MARGIN = Decimal(0)  # MarginModel.position_margin of a flat or CNC position
MSG_NO_PROTECTION = ("Market orders without market protection are not allowed via API. "
                     "Please set market protection or use a Limit order.")


@dataclass
class _Holding:
    quantity: int = 0  # settled
    t1: int = 0  # bought on the previous session, settling today
    today: int = 0  # CNC bought today (becomes t1 at the day's end)
    cost: Decimal = ZERO


class PaperBroker(PaperGttMixin):
    """Implements :class:`tradekit.brokers.base.Broker` over a :class:`SimExchange`.

    Parameters
    ----------
    clock: the session clock (simulated in replays).
    instruments: an object with ``get(exchange, tradingsymbol) -> Instrument`` raising
        ``MarketRuleError`` for an unknown symbol.
    capital: starting cash in rupees.
    charges: ``fn(instrument, product, side, quantity, price, trade_date, order_id) -> Charges`` for each
        of the day's trades, debited at the close (``None``: no charges); when it also has
        ``many(trades) -> Charges`` (:class:`~tradekit.execution.costs.FillCosts`), the close calls that
        once with the day's trades instead (the same sum).
    bands: ``fn(key) -> (lower, upper) | None``; default: ``band_pct`` around the previous close.
    """

    name = "paper"

    def __init__(self, clock: Clock, instruments, *, capital: Decimal | int = 1_000_000, config: PaperConfig | None = None,
                 charges: Callable[..., Charges] | None = None, bands: Callable[[str], tuple | None] | None = None,
                 mis_cutoff: Callable[[Instrument, date], datetime | None] | None = None):
        self.clock = clock
        self.instruments = instruments
        self.config = config or PaperConfig()
        self.exchange = SimExchange(self.config)
        self.exchange.on_update = self._on_update
        self.exchange.on_trade = self._on_trade
        self.margin = MarginModel(self.config.margin)
        self.charges_fn = charges
        self.bands_fn = bands
        self.mis_cutoff = mis_cutoff
        self.cash = dec(capital, "capital")
        self.charges_paid = Charges()
        self._listeners: list[BrokerListener] = []
        self._orders: dict[str, SimOrder] = {}
        self._by_tag: dict[str, str] = {}
        self._trades: list[BrokerTrade] = []
        self._positions: dict[tuple, Position] = {}
        self._holdings: dict[tuple, _Holding] = {}
        self._blocked: dict[str, Decimal] = {}  # order id -> margin blocked now
        self._day_trades: list[tuple] = []  # charged per contract note at the day's end
        self._prev_close: dict[str, float] = {}
        self._ticks: dict[tuple, Decimal] = {}
        self._tick_units: dict[Decimal, int] = {}  # tick -> max(1, to_units(tick)): a handful of ticks
        self._seq = 0
        self._lock = threading.RLock()
        self.reject_all: str | None = None  # fault injection: reject every order with this message
        #: ``fn(payload)`` for a charge the broker debits outside a fill (the RMS square-off fee), so the
        #: session journals it and the book pays what the ledger paid
        self.on_fee: Callable[[dict], None] | None = None
        self._rms_orders: set[str] = set()  # the broker's own square-off orders
        self._last_ref: tuple | None = None  # (last price float, its Decimal): _ref_price's last
        self._last_margin: tuple | None = None  # (inst, product, side, qty, ref price, margin): _order_margin's last
        self._bands: dict[str, tuple] = {}  # key -> (previous close, band %, tick, lower, upper): _band's last

    # -- Broker protocol -------------------------------------------------------------------------
    def subscribe(self, listener: BrokerListener) -> None:
        self._listeners.append(listener)

    def place_order(self, client_order_id: str, request: OrderRequest) -> str:
        return self._place(client_order_id, request)

    def _place(self, client_order_id: str, request: OrderRequest, *, rms: bool = False) -> str:
        """``rms``: the broker's own square-off order, which its MIS cut-off and funds checks do not stop."""
        with self._lock:
            now = self.clock.now()
            if request.variety not in (_V_REGULAR, _V_AMO, _V_ICEBERG):
                raise BrokerRejected(f"variety {request.variety.value} is not supported by the paper broker",
                                     broker_message="Invalid variety", code=400)
            if request.is_market and (request.market_protection is None or request.market_protection == 0):
                raise BrokerRejected(MSG_NO_PROTECTION, broker_message=MSG_NO_PROTECTION, code=400)
            try:
                inst = self.instruments.get(request.exchange, request.tradingsymbol)
            except MarketRuleError as e:
                raise BrokerRejected(str(e), broker_message="Invalid `tradingsymbol`.", code=400) from None
            self._seq += 1
            oid = str(260000000000000 + self._seq)
            tick = self._tick(inst, request, now.date())
            tick_units = self._tick_units.get(tick)
            if tick_units is None:  # to_units reads a tick's value alone (a Decimal key is its value)
                tick_units = self._tick_units[tick] = max(1, to_units(tick))
            order = SimOrder(oid, request.tag or client_order_id, request, inst.key, now, 0, tick_units, inst=inst)
            self._orders[oid] = order
            if order.tag:
                self._by_tag[order.tag] = oid
            reason = self._rms_reject(order, inst, request, now, rms=rms)
            if reason:
                order.history.append((now, "PUT ORDER REQ RECEIVED", None))
                order.set_status(REJECTED, now, reason)
                self._notify_order(order)
                return oid
            self._blocked[oid] = self._order_margin(inst, request)
            self.exchange.accept(order, now)
            return oid

    def modify_order(self, broker_order_id: str, request: OrderRequest) -> None:
        with self._lock:
            order = self._get(broker_order_id)
            if order.is_final:
                raise BrokerRejected(f"Order cannot be modified as it is being processed or is {order.status.lower()}.",
                                     broker_message=f"Order is {order.status}", code=400)
            if order.modifications >= MAX_MODIFICATIONS:
                raise BrokerRejected("Maximum allowed order modifications exceeded.",
                                     broker_message="Maximum allowed order modifications exceeded.", code=400)
            if request.quantity < order.filled:
                raise BrokerRejected("Quantity cannot be less than the filled quantity.", code=400)
            inst = self.instruments.get(request.exchange, request.tradingsymbol)
            reason = self._price_reject(inst, request)
            if reason:
                raise BrokerRejected(reason, broker_message=reason, code=400)
            self.exchange.modify(order, request, self.clock.now())
            self._blocked[broker_order_id] = self._order_margin(inst, request, order.remaining) if not order.is_final else ZERO

    def cancel_order(self, broker_order_id: str, variety: Variety = Variety.REGULAR) -> None:
        with self._lock:
            order = self._get(broker_order_id)
            if order.is_final:
                raise BrokerRejected(f"Order cannot be cancelled as it is {order.status.lower()}.",
                                     broker_message=f"Order is {order.status}", code=400)
            self.exchange.cancel(order, self.clock.now())

    def orders(self) -> list[BrokerOrder]:
        with self._lock:
            return [self._row(o) for o in self._orders.values()]

    def order_history(self, broker_order_id: str) -> list[tuple]:
        return list(self._get(broker_order_id).history)

    def trades(self) -> list[BrokerTrade]:
        with self._lock:
            return list(self._trades)

    def positions(self) -> list[BrokerPosition]:
        with self._lock:
            return [BrokerPosition(p.exchange, p.tradingsymbol, p.product, p.quantity, p.average_price, p.overnight_quantity,
                                   p.realized_pnl, p.day_buy_quantity, p.day_sell_quantity)
                    for p in self._positions.values()]

    def holdings(self) -> list[BrokerHolding]:
        with self._lock:
            out = []
            for (ex, sym), h in self._holdings.items():
                q = h.quantity
                if q or h.t1:
                    avg = h.cost / (q + h.t1) if (q + h.t1) else ZERO
                    out.append(BrokerHolding(Exchange(ex), sym, q, h.t1, avg))
            return out

    def funds(self) -> Funds:
        with self._lock:
            used = self.utilised()
            return Funds(available=self.cash - used, utilised=used, cash=self.cash)

    def find_by_tag(self, tag: str) -> BrokerOrder | None:
        with self._lock:
            oid = self._by_tag.get(tag)
            return self._row(self._orders[oid]) if oid else None

    # -- market data and the trading day ----------------------------------------------------------
    def on_bar(self, key: str, start: datetime | int, end: datetime | int, o: float, h: float, l: float, c: float, v: int) -> None:
        """One bar of market data; ``start``/``end`` as datetimes or ns since the epoch."""
        if not isinstance(start, int):
            start, end = dt_to_ns(start), dt_to_ns(end)
        with self._lock:
            self.exchange.on_bar(key, start, end, o, h, l, c, v)

    def on_tick(self, tick: Tick | str, ts: datetime | None = None, price: float | None = None,
                volume: int | None = None) -> None:
        """One tick of market data (tick mode, see :mod:`tradekit.brokers.paper.exchange`): market
        orders take the displayed depth (at most ``depth_participation`` × the tick's liquidity per
        tick, the rest stays open), limits fill on trades through them. A tick without an
        exchange time counts at the clock's now; one without a key is ignored (its instrument is
        unknown). ``on_tick(key, ts, price[, volume])`` is a last-price tick, ``volume`` the
        quantity it traded."""
        if not isinstance(tick, Tick):
            if price is None:
                raise TypeError("on_tick(key, ts, price): price is required")
            cum = None
            if volume is not None:  # the exchange follows Kite's cumulative day volume
                cum = self.exchange._cum_volume.get(tick, 0) + int(volume)
            tick = Tick(tick, ts, float(price), mode="ltp", volume=cum)
        if tick.key is None:
            return
        with self._lock:
            self.exchange.on_tick(tick, None if tick.ts is not None else dt_to_ns(self.clock.now()))

    def on_ticks(self, ticks) -> None:
        """Several ticks in order (a ticker frame)."""
        for t in ticks:
            self.on_tick(t)

    def set_previous_close(self, key: str, price: float) -> None:
        self._prev_close[key] = price

    def last_price(self, key: str) -> float | None:
        return self.exchange.last_price.get(key)

    def square_off_mis(self, reason: str = "RMS auto square-off") -> int:
        """The broker's own MIS square-off at its cut-off: cancel MIS orders, close MIS positions."""
        with self._lock:
            now = self.clock.now()
            n = 0
            for o in list(self.exchange.resting()):
                if o.request.product is Product.MIS:
                    self.exchange.cancel(o, now, reason)
            for p in list(self._positions.values()):
                if p.product is Product.MIS and p.quantity != 0:
                    side = Side.SELL if p.quantity > 0 else Side.BUY
                    req = OrderRequest(p.exchange, p.tradingsymbol, side, abs(p.quantity), OrderType.MARKET, Product.MIS,
                                       market_protection=Decimal(-1))
                    oid = self._place(f"RMSSQ{self._seq + 1}", req.with_changes(tag=None), rms=True)
                    self._rms_orders.add(oid)
                    fee = self._square_off_fee(now.date())
                    self.cash -= fee.total
                    self.charges_paid = self.charges_paid + fee
                    if self.on_fee is not None:
                        self.on_fee({"kind": "charges", "exchange": p.exchange.value, "tradingsymbol": p.tradingsymbol,
                                     "product": Product.MIS.value, "charges": fee.as_dict(with_total=False),
                                     "reason": f"{reason}: ₹{self.config.rms_square_off_fee} + GST per order",
                                     "broker_order_id": oid})
                    n += 1
            return n

    def _complete_square_off(self, now: datetime) -> None:
        """The RMS square-off does not stop at the close: what thin bars (the participation cap)
        left of it fills at the last traded price, so no MIS position is carried overnight."""
        for o in list(self.exchange.resting()):
            if o.order_id in self._rms_orders and o.remaining > 0:
                last = self.exchange.last_price.get(o.key)
                if last is not None:
                    self.exchange._book_fill(o, o.remaining, to_units(last), now)

    def _square_off_fee(self, day: date) -> Charges:
        """The RMS square-off fee per order (``rms_square_off_fee``, Zerodha ₹50) plus GST at the day's rate."""
        from tradekit.market.charges import RateTable
        from tradekit.model.money import paise

        fee = dec(self.config.rms_square_off_fee, "rms_square_off_fee")
        try:
            gst = RateTable.bundled().rates_on(day).get("gst")
        except Exception:  # before the bundled tables: today's rate
            gst = RateTable.bundled().rates_on(date.today()).get("gst")
        return Charges(brokerage=paise(fee), gst=paise(fee * gst))

    def debit_charges(self) -> Charges:
        """Debit the day's contract-note charges from the ledger (Zerodha does this after the close)."""
        total = Charges()
        if self.charges_fn is not None:
            many = getattr(self.charges_fn, "many", None)  # FillCosts: the same sum, each note composed once
            if many is not None:
                total = many(self._day_trades)
            else:
                for trade in self._day_trades:
                    total = total + self.charges_fn(*trade)
        self._day_trades = []
        self.cash -= total.total
        self.charges_paid = self.charges_paid + total
        return total

    def end_of_day(self, day: date) -> None:
        """Exchange closes: DAY orders lapse (CANCELLED); charges debited; today's CNC buys become T1; T1 settles."""
        with self._lock:
            now = self.clock.now()
            self._complete_square_off(now)
            self.debit_charges()
            for o in list(self.exchange.resting()):
                self.exchange.cancel(o, now, "Order cancelled by the exchange at the end of the day")
            for h in self._holdings.values():
                h.quantity += h.t1
                h.t1, h.today = h.today, 0
            for key, p in list(self._positions.items()):
                p.roll_day()
                if p.product is Product.CNC or p.quantity == 0:
                    del self._positions[key]  # delivery trades live on in holdings
            for key, px in self.exchange.last_price.items():
                self._prev_close[key] = px

    def restore(self, book) -> None:
        """Start from the account a journal recorded (a new process on a later day): cash, CNC
        holdings (settled and T1) and carried NRML/MTF positions. The paper fills were the OMS's
        fills, so the book is the paper account's history."""
        with self._lock:
            # order and trade ids continue after the journal's, so a resumed account never reuses one
            top_order, top_trade = _max_int(book.by_broker_id), _max_int(book.trade_ids)
            if top_order:
                self._seq = max(self._seq, top_order - 260000000000000)
            if top_trade:
                self.exchange._trade_seq = max(self.exchange._trade_seq, top_trade - 50000000)
            self.cash = book.cash
            for h in book.holdings():
                self._holdings[(h["exchange"], h["tradingsymbol"])] = _Holding(
                    quantity=h["settled"], t1=h["t1"], today=h["today"], cost=h["average_price"] * h["quantity"])
            for p in book.positions.values():
                if p.quantity and p.product is not Product.CNC:
                    k = (str(p.exchange), p.tradingsymbol, p.product.value)
                    mine = self._positions.get(k)
                    if mine is None:
                        mine = self._positions[k] = Position("", p.exchange, p.tradingsymbol, p.product, multiplier=p.multiplier)
                    mine.quantity += p.quantity
                    mine.open_value += p.open_value
                    mine.overnight_quantity += p.quantity

    def apply_corporate_action(self, kind: str, exchange: str, tradingsymbol: str, **params) -> None:
        """The broker's side of a split/bonus/dividend: positions, holdings and (for dividends) cash."""
        with self._lock:
            for (ex, sym, _prod), p in self._positions.items():
                if ex == exchange and sym == tradingsymbol:
                    if kind == "split":
                        p.apply_split(dec(params["ratio"], "ratio"))
                    elif kind == "bonus":
                        p.apply_bonus(int(params["new"]), int(params["held"]))
            h = self._holdings.get((exchange, tradingsymbol))
            if h is not None:
                if kind in ("split", "bonus"):
                    f = dec(params["ratio"], "ratio") if kind == "split" else Decimal(int(params["new"]) + int(params["held"])) / int(params["held"])
                    h.quantity, h.t1, h.today = (int(Decimal(x) * f) for x in (h.quantity, h.t1, h.today))
                elif kind == "dividend":
                    self.cash += dec(params["per_share"], "per_share") * (h.quantity + h.t1)

    def utilised(self) -> Decimal:
        # one pass, each sum added up in the positions' order: pm, the sum of position_margin; spent, what
        # the ledger spent on MIS/NRML positions (bought on margin: added back)
        pm = spent = ZERO
        for p in self._positions.values():
            if p.product is _P_CNC:
                pm = pm + _NO_MARGIN  # what position_margin says for it, whatever the instrument and price
                continue
            q = p.quantity
            pm = pm + (_NO_MARGIN if q == 0 else self.margin.position_margin(self._inst(p), p.product, q, p.average_price))
            spent = spent + p.open_value * p.multiplier
        return sum(self._blocked.values(), ZERO) + pm - spent

    # -- internals ---------------------------------------------------------------------------------
    def _inst(self, p) -> Instrument | None:
        try:
            return self.instruments.get(p.exchange, p.tradingsymbol)
        except MarketRuleError:
            return None

    def _get(self, oid: str) -> SimOrder:
        try:
            return self._orders[oid]
        except KeyError:
            raise BrokerRejected(f"Order {oid} not found.", broker_message="Invalid order_id", code=400) from None

    def _ref_price(self, inst: Instrument, request: OrderRequest) -> Decimal:
        if request.price is not None:
            return request.price
        if request.trigger_price is not None:
            return request.trigger_price
        lp = self.exchange.last_price.get(inst.key)
        if lp is None:
            return ZERO
        last = self._last_ref
        if last is not None and last[0] is lp:  # the same float object: the same Decimal
            return last[1]
        px = dec(lp, "last_price")
        self._last_ref = (lp, px)
        return px

    def _order_margin(self, inst: Instrument, request: OrderRequest, qty: int | None = None) -> Decimal:
        q = request.quantity if qty is None else qty
        ref = self._ref_price(inst, request)
        # MarginModel.required is a pure function of these (its config is frozen): placing an order
        # asks for the same figure up to three times (funds check, blocked margin, acceptance)
        last = self._last_margin
        if (last is not None and last[0] is inst and last[1] is request.product and last[2] is request.side
                and last[3] == q and last[4] is ref and last[6] is self.margin):  # the very same price object
            return last[5]
        m = self.margin.required(inst, request.product, request.side, q, ref)
        self._last_margin = (inst, request.product, request.side, q, ref, m, self.margin)
        return m

    def _band(self, inst: Instrument) -> tuple[Decimal, Decimal] | None:
        """The day's price band: from ``bands`` when given, else ``band_pct`` around the previous close,
        with the limits on the tick grid inside the band (lower rounded up, upper rounded down)."""
        key = inst.key
        if self.bands_fn is not None:
            b = self.bands_fn(key)
            if b is not None:
                return b
        prev = self._prev_close.get(key)
        if prev is None:
            return None
        band_pct = self.config.band_pct
        tick = self._tick(inst, None, self.clock.now().date()) or Decimal("0.05")
        # the band is a pure function of (previous close, band %, tick): remembered per symbol for the
        # same close and the very same band % and tick objects (so the same exponents)
        hit = self._bands.get(key)
        if hit is not None and hit[0] is prev and hit[1] is band_pct and hit[2] is tick:
            return hit[3], hit[4]
        pct = band_pct / 100
        p = dec(prev, "previous close")
        lo = (p * (1 - pct) / tick).to_integral_value(rounding=ROUND_CEILING) * tick
        hi = (p * (1 + pct) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
        self._bands[key] = (prev, band_pct, tick, lo, hi)
        return lo, hi

    def _tick(self, inst: Instrument, request: OrderRequest | None, day: date) -> Decimal:
        """The tick in force on ``day``: the dump's value, or NSE's dated price-band table for rule-based rows."""
        k = (inst.exchange, inst.tradingsymbol, day)  # inst.key's parts (an exchange value has no ":")
        t = self._ticks.get(k)
        if t is None:
            if not inst.meta.get("tick_rule"):
                t = inst.tick_size
            else:
                from tradekit.market.rules import tick_size_for

                ref = self._prev_close.get(inst.key) or self.exchange.last_price.get(inst.key)
                if ref is None and request is not None:
                    ref = request.price or request.trigger_price
                try:
                    t = tick_size_for(inst, price=ref, on_date=day, reference_price=ref)
                except MarketRuleError:
                    t = inst.tick_size
            self._ticks[k] = t
        return t

    def _price_reject(self, inst: Instrument, request: OrderRequest) -> str | None:
        if request.price is None and request.trigger_price is None:
            return None  # (a market order: no price to put on the tick grid or inside the band)
        tick = self._tick(inst, request, self.clock.now().date())
        for name in ("price", "trigger_price"):
            px = getattr(request, name)
            if px is not None and tick > 0 and (px % tick) != 0:
                return (f"Tick size for this script is {tick}. Kindly enter {name.replace('_', ' ')} "
                        f"in the multiple of tick size for this script")
        band = self._band(inst)
        if band is not None:
            lo, hi = band
            for px in (request.price, request.trigger_price):
                if px is None:
                    continue
                if px < lo:
                    return (f"Your order price is lower than the current lower circuit limit of {lo}. "
                            f"Place an order within the daily range.")
                if px > hi:
                    return (f"Your order price is higher than the current upper circuit limit of {hi}. "
                            f"Place an order within the daily range.")
        return None

    def _rms_reject(self, order: SimOrder, inst: Instrument, request: OrderRequest, now: datetime, *,
                    rms: bool = False) -> str | None:
        if self.reject_all:
            return self.reject_all
        if inst.is_index:
            return f"{inst.key} is an index and cannot be traded."
        if inst.lot_size > 1 and request.quantity % inst.lot_size:
            return f"Quantity should be a multiple of lot size ({inst.lot_size})."
        if inst.freeze_quantity and request.quantity > inst.freeze_quantity and request.variety is not _V_ICEBERG:
            return (f"Quantity exceeds the freeze limit of {inst.freeze_quantity} for {inst.tradingsymbol}. "
                    f"Place a smaller order, or use autoslice or an iceberg order.")
        if request.variety is _V_ICEBERG:  # issue 15: Kite's iceberg rules (tradekit/brokers/paper/iceberg.py)
            from tradekit.brokers.paper.iceberg import reject_reason

            reason = reject_reason(request, inst)
            if reason:
                return reason
        if request.order_type is _OT_SLM and inst.is_option:
            return "SL-M orders are not allowed for options. Place an SL order instead."
        if request.product is _P_CNC and inst.is_derivative:
            return "CNC is for equity delivery; use NRML or MIS for derivatives."
        reason = self._price_reject(inst, request)
        if reason:
            return reason
        if request.product is _P_MIS and self.mis_cutoff is not None and not rms:
            cut = self.mis_cutoff(inst, now.date())
            if cut is not None and now >= cut:
                return "MIS orders are blocked after the intraday square-off time. Place a CNC/NRML order."
        if request.product is _P_CNC and request.side is _SELL:
            h = self._holdings.get((inst.exchange._value_, inst.tradingsymbol))
            if h is None:  # (not built on every sell just to be thrown away)
                h = _Holding()
            pending = sum(o.remaining for o in self.exchange.resting(inst.key)
                          if o.request.product is _P_CNC and o.request.side is _SELL)
            have = h.quantity + h.t1 + h.today  # settled + T1 (BTST) + bought today
            if request.quantity + pending > have:
                return (f"Insufficient holdings to sell {request.quantity} {inst.tradingsymbol}: "
                        f"{have - pending} available (CNC does not allow short selling).")
        if self.config.reject_on_funds and not rms:
            need = self._order_margin(inst, request)
            avail = self.cash - self.utilised()
            if need > avail:
                return (f"Insufficient funds. Required margin is {need:.2f} but available margin is {avail:.2f}. "
                        f"Check the orderbook for open orders.")
        return None

    def _on_update(self, order: SimOrder) -> None:
        if order.is_final or order.remaining == 0:
            self._blocked.pop(order.order_id, None)
        elif order.order_id in self._blocked:
            self._blocked[order.order_id] = self._order_margin(self._order_inst(order), order.request, order.remaining)
        self._notify_order(order)

    def _notify_order(self, order: SimOrder) -> None:
        row = self._row(order)
        for listener in self._listeners:
            listener.on_order_update(row)

    def _order_inst(self, order: SimOrder) -> Instrument:
        """The instrument of ``order``: the one it was placed with (the same object the master would return)."""
        inst = order.inst
        if inst is None:
            inst = self.instruments.get(order.request.exchange, order.request.tradingsymbol)
        return inst

    def _on_trade(self, t: SimTrade) -> None:
        order = t.order
        req = order.request
        inst = self._order_inst(order)
        ex, sym, product, side, qty, price = req.exchange, req.tradingsymbol, req.product, req.side, t.quantity, t.price
        key = (ex._value_, sym, product._value_)
        pos = self._positions.get(key)
        if pos is None:
            pos = self._positions[key] = Position("", ex, sym, product, multiplier=inst.multiplier)
        pos.apply_fill(side, qty, price)
        value = price * qty * inst.multiplier
        self.cash += value if side is _SELL else -value
        self._day_trades.append((inst, product, side, qty, price, t.timestamp.date(), order.order_id))
        if product is _P_CNC:
            hk = (ex._value_, sym)
            h = self._holdings.get(hk)
            if h is None:
                h = self._holdings[hk] = _Holding()
            if side is _BUY:
                h.today += qty
                h.cost += value
            else:
                # sell from settled holdings first, then T1 (BTST), then today's buys
                q = qty
                tot = h.quantity + h.t1 + h.today
                if tot:
                    h.cost -= h.cost * min(q, tot) / tot
                take = min(q, h.quantity)
                h.quantity -= take
                q -= take
                take = min(q, h.t1)
                h.t1 -= take
                q -= take
                h.today -= min(q, h.today)
        trade = BrokerTrade(t.trade_id, order.order_id, ex, sym, side, qty, price, t.timestamp, product, order.tag)
        self._trades.append(trade)
        for listener in self._listeners:
            listener.on_trade(trade)

    def _row(self, o: SimOrder) -> BrokerOrder:
        req = o.request
        status = o.status
        rest = req.quantity - o.filled  # o.remaining
        # (positional, in BrokerOrder's field order: broker_order_id, tag, status, exchange, tradingsymbol,
        # side, quantity, filled, pending, cancelled, average_price, order_type, product, variety, price,
        # trigger_price, timestamp, exchange_order_id, status_message)
        return BrokerOrder(
            o.order_id, o.tag, status, req.exchange, req.tradingsymbol, req.side, req.quantity, o.filled,
            0 if status in FINAL else rest, rest if status == CANCELLED else 0, o.average_price, req.order_type,
            req.product, req.variety, req.price, req.trigger_price, o.updated_at or o.placed_at, o.exchange_order_id,
            o.message)


def _max_int(ids) -> int:
    """The largest all-digit id of a book's ids (a book from a snapshot answers for the old ones it keeps
    out of memory: ``max_int``, :mod:`tradekit.store.lazy`)."""
    f = getattr(ids, "max_int", None)
    return f() if f is not None else max((int(k) for k in ids if k.isdigit()), default=0)
