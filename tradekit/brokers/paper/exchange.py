"""A simulated exchange: resting orders matched against replayed bars or ticks.

Fill rules (documented for traders, tested in ``tests/unit/paper``):

- An order reaches the exchange ``latency_ms`` after it is placed and can only fill against
  market data that comes *after* it arrived: on bars, the first bar that ends after the
  arrival (an order placed at a bar's close fills in the next bar, never in the bar that
  produced the signal); on ticks, the first tick at or after the arrival.
- On a bar the reference price of a fill is the bar's open (the first trade after arrival
  that a bar reveals); on a tick it is the tick's price.
- MARKET: fills at the reference price plus slippage (always against the trader, rounded
  against the trader onto the tick grid). On a bar the fill stays inside the bar's high-low
  range (a price outside it never traded) unless ``slippage.clamp_to_bar`` is false.
- LIMIT: fills only when price trades *through* the limit (a bar's low below a buy limit,
  high above a sell limit; a tick strictly beyond it): at the open if the bar opens on the
  right side of the limit, else at the limit. Never beyond the limit.
- SL / SL-M: wait in TRIGGER PENDING until price reaches the trigger (high ≥ trigger for a
  buy, low ≤ trigger for a sell; a gap through the trigger triggers at the open); then SL-M
  fills like a market order at the trigger (or the open after a gap), SL like a limit order.
- A bar lets one instrument trade at most ``participation`` × its volume across all orders;
  the rest waits for later bars (partial fills). A bar with zero volume in a series that
  has volume is a minute without trades: nothing fills. Series without volume (indices)
  have no cap.
- IOC orders get one chance (their first eligible bar or tick); the rest is cancelled.
- Prices land on the instrument's tick grid, rounded against the trader: the model's price
  is computed exactly and rounded once, so a fill is never a tick better than the model says.

Tick mode (:meth:`SimExchange.on_tick`, a :class:`~tradekit.data.types.Tick` at a time, e.g.
live Kite ticks or a recorded day from the tick store):

- MARKET (and a triggered SL-M) takes the displayed depth of a full-mode tick: a buy walks the
  asks from the best one, a sell the bids, one trade per level, each level at most its
  displayed quantity (shared by the orders matched on that tick), each at the level's price
  plus the slippage model (``spread`` adds nothing here: the quote already pays the spread).
  What the book cannot take waits for the next tick. The orders of one tick together take at
  most ``depth_participation`` × the tick's liquidity on that side: the larger of the displayed
  depth (the quantities of the levels shown) and the volume traded since the previous tick.
  Model: the displayed quotes are what is there now, the traded volume what the market
  absorbed between two snapshots (refills, hidden size); other traders race for the same
  quotes, so one participant gets a share of it, not all of it. A large order therefore walks
  the book and fills over ticks as liquidity allows, the rest staying OPEN, as live would
  (``depth_participation: 0`` takes every displayed level at once). A marketable LIMIT on its
  first tick takes the book under the same cap. Without depth (LTP/quote ticks) a MARKET
  order fills at the last price plus slippage, capped like a limit order.
- A LIMIT order that is marketable against the depth on its first tick takes the levels up to
  its limit like a market order. Otherwise it fills when a trade goes *through* it (a trade
  strictly below a buy limit, above a sell limit), at its limit; on its first tick a trade
  already through it fills at that trade's price (never beyond the limit).
- A trade is a tick whose cumulative ``volume`` grew (series without volume: every tick).
  Passive fills take at most ``participation`` × the volume traded since the previous tick,
  across all orders of the instrument.
- SL / SL-M trigger on a trade at or through the trigger price, then behave as LIMIT / MARKET.

Randomness (slippage noise) comes from one ``random.Random(seed)``, so a replay with the
same inputs and seed gives the same fills.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from tradekit.brokers.paper import iceberg
from tradekit.brokers.paper.config import PaperConfig
from tradekit.clock import dt_to_ns, ns_to_dt
from tradekit.data.types import Tick
from tradekit.model.enums import OrderType, Side, Validity
from tradekit.model.order import OrderRequest

# Enum members as module constants: an Enum class attribute costs ~0.25 us per access on Python 3.11
_BUY = Side.BUY
_IOC = Validity.IOC
_OT_MARKET = OrderType.MARKET
_OT_SL = OrderType.SL
_OT_SLM = OrderType.SLM

SCALE = 10_000  # prices are handled as integers of 0.0001 rupee (currency ticks are 0.0025)
_UNIT = Decimal("0.0001")
_NO_PRICE = Decimal(0)  # an unfilled order's average price (one immutable Decimal, not one per row)

# Kite's status strings
PUT_REQ = "PUT ORDER REQ RECEIVED"
VALIDATION = "VALIDATION PENDING"
OPEN_PENDING = "OPEN PENDING"
OPEN = "OPEN"
TRIGGER_PENDING = "TRIGGER PENDING"
COMPLETE = "COMPLETE"
CANCELLED = "CANCELLED"
REJECTED = "REJECTED"
MODIFY_VALIDATION = "MODIFY VALIDATION PENDING"
MODIFY_PENDING = "MODIFY PENDING"
MODIFIED = "MODIFIED"
CANCEL_PENDING = "CANCEL PENDING"
FINAL = frozenset({COMPLETE, CANCELLED, REJECTED})


def to_units(price: float | Decimal) -> int:
    return int(round(float(price) * SCALE))


def units_to_decimal(units: int) -> Decimal:
    return Decimal(units) / SCALE


@dataclass(slots=True)
class SimOrder:
    order_id: str
    tag: str | None
    request: OrderRequest
    key: str
    placed_at: datetime
    arrival_ns: int
    tick_units: int
    status: str = PUT_REQ
    filled: int = 0
    filled_value_units: int = 0  # Σ qty × price in 0.0001 rupee
    triggered: bool = False
    message: str | None = None
    modifications: int = 0
    exchange_order_id: str | None = None
    exchange_ns: int | None = None  # when the exchange took it (its first arrival), ns since the epoch
    updated_at: datetime | None = None
    history: list = field(default_factory=list)
    chances: int = 0  # eligible bars/ticks seen (IOC gets one)
    meta: dict = field(default_factory=dict)
    inst: object = None  # the broker's Instrument for ``key`` (looked up once, at placement)

    @property
    def remaining(self) -> int:
        return self.request.quantity - self.filled

    @property
    def arrival(self) -> datetime:
        return ns_to_dt(self.arrival_ns)

    @property
    def exchange_timestamp(self) -> datetime | None:
        """When the exchange took the order (built on demand: nothing on the order path reads it)."""
        return None if self.exchange_ns is None else ns_to_dt(self.exchange_ns)

    @property
    def average_price(self) -> Decimal:
        if not self.filled:
            return _NO_PRICE
        return (Decimal(self.filled_value_units) / self.filled / SCALE).quantize(_UNIT)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    def set_status(self, status: str, ts: datetime, message: str | None = None) -> None:
        self.status = status
        self.updated_at = ts
        if message is not None:
            self.message = message
        self.history.append((ts, status, message))


@dataclass(frozen=True, slots=True, init=False)
class SimTrade:
    trade_id: str
    order: SimOrder
    quantity: int
    price: Decimal
    timestamp: datetime

    def __init__(self, trade_id: str, order: SimOrder, quantity: int, price: Decimal, timestamp: datetime):
        # the generated frozen __init__, through the slots' own setters (one trade per fill)
        _trade_set[0](self, trade_id)
        _trade_set[1](self, order)
        _trade_set[2](self, quantity)
        _trade_set[3](self, price)
        _trade_set[4](self, timestamp)


_trade_set = tuple(SimTrade.__dict__[f.name].__set__ for f in fields(SimTrade))


class SimExchange:
    """Matching core shared by the paper broker and the Kite-compatible sandbox server."""

    def __init__(self, config: PaperConfig | None = None):
        self.config = config or PaperConfig()
        self.rng = random.Random(self.config.seed)
        self._resting: dict[str, list[SimOrder]] = defaultdict(list)
        self._volume_keys: set[str] = set()
        self._trade_seq = 0
        self._exch_seq = 0
        self.last_price: dict[str, float] = {}
        self.quotes: dict[str, tuple[float | None, float | None]] = {}  # best bid, best ask (tick mode)
        self._cum_volume: dict[str, int] = {}  # the last tick's cumulative day volume
        self.on_update: Callable[[SimOrder], None] = lambda o: None
        self.on_trade: Callable[[SimTrade], None] = lambda t: None
        self._latency_ns = int(self.config.latency_ms) * 1_000_000

    # -- order entry -----------------------------------------------------------------------------
    def accept(self, order: SimOrder, now: datetime) -> None:
        """Put a validated order on the book (the broker did the RMS checks)."""
        order.arrival_ns = dt_to_ns(now) + self._latency_ns
        order.history.extend(((now, PUT_REQ, None), (now, VALIDATION, None), (now, OPEN_PENDING, None)))
        self._exch_seq += 1
        order.exchange_order_id = str(1100000000000000 + self._exch_seq)
        order.exchange_ns = order.arrival_ns
        status = TRIGGER_PENDING if order.request.order_type in (_OT_SL, _OT_SLM) else OPEN
        iceberg.start(order)  # an iceberg: only its first leg is live
        order.set_status(status, now)
        self._resting[order.key].append(order)
        self.on_update(order)

    def cancel(self, order: SimOrder, now: datetime, message: str | None = None) -> None:
        if order.is_final:
            return
        order.history.append((now, CANCEL_PENDING, None))
        order.set_status(CANCELLED, now, message)
        self._remove(order)
        self.on_update(order)

    def modify(self, order: SimOrder, request: OrderRequest, now: datetime) -> None:
        for st in (MODIFY_VALIDATION, MODIFY_PENDING, MODIFIED):
            order.history.append((now, st, None))
        order.request = request
        order.modifications += 1
        order.arrival_ns = dt_to_ns(now) + self._latency_ns  # a modified order loses its place
        if request.order_type in (_OT_SL, _OT_SLM) and not order.triggered:
            order.set_status(TRIGGER_PENDING, now)
        else:
            order.set_status(OPEN, now)
        if order.remaining <= 0:
            order.set_status(COMPLETE, now)
            self._remove(order)
        self.on_update(order)

    def _remove(self, order: SimOrder) -> None:
        lst = self._resting.get(order.key)
        if lst and order in lst:
            lst.remove(order)

    def resting(self, key: str | None = None) -> list[SimOrder]:
        if key is not None:
            return list(self._resting.get(key, ()))
        return [o for lst in self._resting.values() for o in lst]

    def has_resting(self, key: str) -> bool:
        return bool(self._resting.get(key))

    # -- market data -------------------------------------------------------------------------------
    def on_bar(self, key: str, start_ns: int, end_ns: int, o: float, h: float, l: float, c: float, v: int) -> None:
        """Match resting orders of ``key`` against one bar (times in ns since the epoch), then remember its close."""
        if v > 0:
            self._volume_keys.add(key)
        orders = self._resting.get(key)
        if orders:
            self._match_bar(key, orders, start_ns, end_ns, o, h, l, v)
        self.last_price[key] = c

    def pass_bars(self, key: str, close: float, traded: bool) -> None:
        """Bars of ``key`` while no order of it rests (a replay's quiet run): what :meth:`on_bar`
        would leave after them, the last close and whether any of them traded."""
        if self._resting.get(key):
            raise ValueError(f"orders of {key} rest on the book: their bars must go through on_bar")
        if traded:
            self._volume_keys.add(key)
        self.last_price[key] = close

    def on_tick(self, tick: Tick, ts_ns: int | None = None) -> None:
        """Match resting orders of ``tick.key`` against one tick (see the module's tick rules).

        ``ts_ns`` stands in for the tick's time when it carries none (LTP/quote packets).
        """
        key = tick.key
        if tick.ts is not None:
            ts_ns = dt_to_ns(tick.ts)
        elif ts_ns is None:
            raise ValueError(f"tick of {key} has no time: pass ts_ns")
        traded: int | None = None  # volume since the previous tick; None: the series carries none
        if tick.volume is not None:
            prev = self._cum_volume.get(key)
            traded = tick.volume - prev if prev is not None and tick.volume >= prev else 0
            self._cum_volume[key] = tick.volume
            if tick.volume > 0:
                self._volume_keys.add(key)
        if tick.bids or tick.asks:
            self.quotes[key] = (tick.bids[0].price if tick.bids else None, tick.asks[0].price if tick.asks else None)
        orders = self._resting.get(key)
        if orders:
            self._match_tick(key, orders, ts_ns, tick, traded)
        self.last_price[key] = tick.last_price

    def _budget(self, key: str, v: int) -> float:
        p = self.config.participation
        if p <= 0:
            return math.inf
        if v > 0:
            return math.floor(p * v)
        return 0 if key in self._volume_keys else math.inf

    def _match_bar(self, key: str, orders: list[SimOrder], start_ns: int, end_ns: int,
                   o: float, h: float, l: float, v: int) -> None:
        budget = self._budget(key, v)
        ou, hu, lu = to_units(o), to_units(h), to_units(l)
        for order in list(orders):
            if order.arrival_ns >= end_ns or order.is_final:
                continue
            order.chances += 1
            req = order.request
            buy = req.side is _BUY
            ot = req.order_type
            ts = ns_to_dt(max(start_ns, order.arrival_ns))
            if ot in (_OT_SL, _OT_SLM) and not order.triggered:
                tu = to_units(req.trigger_price)
                if (buy and hu >= tu) or (not buy and lu <= tu):
                    order.triggered = True
                    ref = max(ou, tu) if buy else min(ou, tu)
                    order.set_status(OPEN, ts)
                    self.on_update(order)  # triggered: TRIGGER PENDING -> OPEN
                    if ot is _OT_SLM:
                        budget = self._fill_market(order, ref, ts, budget, v, (lu, hu))
                    else:
                        lim = to_units(req.price)
                        if (buy and ref <= lim) or (not buy and ref >= lim):
                            budget = self._fill_limit(order, ref, lim, ts, budget, v)
                else:
                    self._ioc_expire(order, ts)
                    continue
            elif ot is _OT_MARKET or (ot is _OT_SLM and order.triggered):
                budget = self._fill_market(order, ou, ts, budget, v, (lu, hu))
            else:  # LIMIT, or a triggered SL resting as a limit
                lim = to_units(req.price)
                if buy:
                    if ou <= lim:
                        budget = self._fill_limit(order, ou, lim, ts, budget, v)
                    elif lu < lim:
                        budget = self._fill_limit(order, lim, lim, ts, budget, v)
                else:
                    if ou >= lim:
                        budget = self._fill_limit(order, ou, lim, ts, budget, v)
                    elif hu > lim:
                        budget = self._fill_limit(order, lim, lim, ts, budget, v)
            self._ioc_expire(order, ts)

    def _match_tick(self, key: str, orders: list[SimOrder], ts_ns: int, tick: Tick, traded: int | None) -> None:
        p = self.config.participation
        if traded is None:  # no volume in the series: no cap
            budget = math.inf
        else:
            budget = math.floor(p * traded) if p > 0 else (math.inf if traded > 0 else 0)
        is_trade = traded is None or traded > 0
        pu = to_units(tick.last_price)
        ts = ns_to_dt(ts_ns)
        # displayed depth, shared by the orders matched on this tick: [[price units, quantity], ...]
        book = {Side.BUY: [[to_units(lv.price), int(lv.quantity)] for lv in tick.asks if lv.quantity > 0 and lv.price > 0],
                Side.SELL: [[to_units(lv.price), int(lv.quantity)] for lv in tick.bids if lv.quantity > 0 and lv.price > 0]}
        share = self.config.depth_participation
        # what the tick's orders may take from each side's depth, together
        take = {side: (math.floor(share * max(sum(q for _, q in lv), traded or 0)) if share > 0 else math.inf)
                for side, lv in book.items()}
        for order in list(orders):
            if order.arrival_ns > ts_ns or order.is_final:
                continue
            first = order.chances == 0
            order.chances += 1
            req = order.request
            buy = req.side is _BUY
            ot = req.order_type
            if ot in (_OT_SL, _OT_SLM) and not order.triggered:
                tu = to_units(req.trigger_price)
                if is_trade and ((buy and pu >= tu) or (not buy and pu <= tu)):
                    order.triggered = True
                    order.set_status(OPEN, ts)
                    self.on_update(order)
                    first = True  # it arrives in the market now
                else:
                    self._ioc_expire(order, ts)
                    continue
            levels = book[req.side]
            if ot in (_OT_MARKET, _OT_SLM):
                if levels:
                    take[req.side] -= self._walk_depth(order, levels, None, ts, take[req.side])
                elif is_trade:
                    budget = self._fill_market(order, pu, ts, budget, traded or 0)
            else:
                lim = to_units(req.price)
                if first and levels and ((buy and levels[0][0] <= lim) or (not buy and levels[0][0] >= lim)):
                    take[req.side] -= self._walk_depth(order, levels, lim, ts, take[req.side])  # marketable: up to its limit
                if not order.is_final and is_trade:
                    if first and ((buy and pu <= lim) or (not buy and pu >= lim)) and not levels:
                        budget = self._fill_limit(order, pu, lim, ts, budget, traded or 0)
                    elif (buy and pu < lim) or (not buy and pu > lim):
                        budget = self._fill_limit(order, lim, lim, ts, budget, traded or 0)
            self._ioc_expire(order, ts)

    def _walk_depth(self, order: SimOrder, levels: list[list[int]], lim_units: int | None, ts: datetime,
                    allowance: float = math.inf) -> int:
        """Take displayed levels (best first) for ``order``: one trade per level, at the level's
        price plus slippage, never beyond ``lim_units`` or the market-protection collar, and at
        most ``allowance`` in all. Returns the quantity taken."""
        taken = 0
        buy = order.request.side is _BUY
        best = levels[0][0]
        bound = lim_units
        collar = self._collar(order, best)
        if collar is not None:
            bound = collar if bound is None else (min(bound, collar) if buy else max(bound, collar))
        for lv in levels:
            if order.remaining <= 0 or taken >= allowance:
                break
            px_l, avail = lv
            if avail <= 0:
                continue
            if bound is not None and ((buy and px_l > bound) or (not buy and px_l < bound)):
                break
            qty = int(min(iceberg.live_quantity(order), avail, allowance - taken))
            if qty <= 0:
                break  # an iceberg's next leg arrives later, or the tick's allowance is used
            px = self._adverse(order, px_l, self._slip(order, px_l, qty, 0, quoted=True), buy)
            if bound is not None:
                px = min(px, bound) if buy else max(px, bound)
            lv[1] -= qty
            taken += qty
            self._book_fill(order, qty, px, ts)
        return taken

    def _ioc_expire(self, order: SimOrder, ts: datetime) -> None:
        if order.request.validity is _IOC and not order.is_final and order.chances >= 1:
            order.set_status(CANCELLED, ts, "IOC order cancelled: not fully filled at once")
            self._remove(order)
            self.on_update(order)

    # -- fills -------------------------------------------------------------------------------------
    def _slip(self, order: SimOrder, ref_units: int, qty: int, v: int, *, quoted: bool = False) -> Fraction:
        """The model's slippage in 0.0001-rupee units, exact (rounded only once, with the price)."""
        cfg = self.config.slippage
        if cfg.model == "none":
            slip = 0  # exact, like every other value here: _adverse works on numerator / denominator
        elif cfg.model == "fixed_bps":
            slip = ref_units * Fraction(str(cfg.bps)) / 10_000
        elif cfg.model == "spread":
            slip = Fraction(0) if quoted else Fraction(str(cfg.spread_ticks)) * order.tick_units / 2
        else:  # volume_impact
            bps = Fraction(str(cfg.bps)) + (Fraction(cfg.impact_bps * math.sqrt(qty / v)) if v > 0 else 0)
            slip = ref_units * bps / 10_000
        return slip + self._noise(ref_units)

    def _noise(self, ref_units: int) -> Fraction:
        nb = self.config.slippage.noise_bps
        if nb <= 0:
            return 0
        return ref_units * Fraction(self.rng.uniform(0, nb)) / 10_000

    def _adverse(self, order: SimOrder, ref_units: int, slip: Fraction, buy: bool) -> int:
        """``ref`` moved by ``slip`` against the trader, then onto the tick grid against the trader."""
        tick = max(1, order.tick_units)
        n, d = slip.numerator, slip.denominator  # an int or a Fraction: exact integer arithmetic
        if buy:  # ceil((ref + n/d) / tick) * tick
            return -((-(ref_units * d + n)) // (tick * d)) * tick
        return ((ref_units * d - n) // (tick * d)) * tick  # floor((ref - n/d) / tick) * tick

    def _collar(self, order: SimOrder, ref_units: int) -> int | None:
        """The market-protection price (on the grid, inside the collar), or None."""
        prot = order.request.market_protection
        if prot is None or prot <= 0:
            return None
        tick = max(1, order.tick_units)
        cap = ref_units * Fraction(str(prot)) / 100
        if order.request.side is _BUY:
            return math.floor((ref_units + cap) / tick) * tick
        return math.ceil((ref_units - cap) / tick) * tick

    def _take(self, order: SimOrder, budget: float) -> int:
        return int(min(iceberg.live_quantity(order), budget))

    def _fill_market(self, order: SimOrder, ref_units: int, ts: datetime, budget: float, v: int,
                     bar_range: tuple[int, int] | None = None) -> float:
        qty = self._take(order, budget)
        if qty <= 0:
            return budget
        buy = order.request.side is _BUY
        px = self._adverse(order, ref_units, self._slip(order, ref_units, qty, v), buy)
        collar = self._collar(order, ref_units)
        if collar is not None:  # never beyond the market-protection collar
            px = min(px, max(collar, ref_units)) if buy else max(px, min(collar, ref_units))
        if bar_range is not None and self.config.slippage.clamp_to_bar:
            lo, hi = bar_range  # a price outside the bar's range never traded
            px = min(px, max(hi, ref_units)) if buy else max(px, min(lo, ref_units))
        self._book_fill(order, qty, px, ts)
        return budget - qty

    def _fill_limit(self, order: SimOrder, ref_units: int, lim_units: int, ts: datetime, budget: float, v: int) -> float:
        qty = self._take(order, budget)
        if qty <= 0:
            return budget
        buy = order.request.side is _BUY
        slip = self._slip(order, ref_units, qty, v) if ref_units != lim_units else 0
        px = self._adverse(order, ref_units, slip, buy)
        px = min(px, lim_units) if buy else max(px, lim_units)
        self._book_fill(order, qty, px, ts)
        return budget - qty

    def _book_fill(self, order: SimOrder, qty: int, px_units: int, ts: datetime) -> None:
        order.filled += qty
        order.filled_value_units += qty * px_units
        if order.meta:  # (only an iceberg carries meta: iceberg.after_fill does nothing for the others)
            iceberg.after_fill(order, qty, ts, self._latency_ns)
        self._trade_seq += 1
        trade = SimTrade(f"{50000000 + self._trade_seq}", order, qty, units_to_decimal(px_units), ts)
        if order.filled == order.request.quantity:  # order.remaining == 0
            order.set_status(COMPLETE, ts)
            self._remove(order)
        else:
            order.updated_at = ts
        self.on_trade(trade)
        self.on_update(order)
