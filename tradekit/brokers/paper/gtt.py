"""GTT the way Kite keeps it, for the paper broker (and, through it, kite-sim).

A GTT waits on the last price of its instrument. A ``single`` GTT placed with its trigger above
the last price fires when the price reaches the trigger or goes past it (a gap counts); one
placed below fires when the price comes down to it. A ``two-leg`` (OCO) GTT fires its first leg
when the price falls to the lower trigger and its second when the price rises to the upper one;
whichever comes first fires, once, and the GTT is ``triggered``. Firing places the leg's LIMIT
order through the broker like any other order (its RMS checks apply: a CNC sell needs the
shares), and the order's id (or why it failed) is kept in the leg's result.

Zerodha's rules (:mod:`tradekit.market.gtt_rules`): CNC in the cash segments, NRML in NSE
derivatives; a trigger closer to the last price than 0.25% (9 paise at or below ₹50) leaves the
GTT ``disabled``; at most 250 active; a GTT expires a year after it was placed. Modify and
delete act only on an active (or disabled) GTT.

Prices reach the book from the session's market-data hub (:meth:`PaperGttMixin.gtt_on_tick`), so
paper triggers on the same marks as everything else; kite-sim feeds its replayed prices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property

from tradekit.errors import BrokerRejected, MarketRuleError, ValidationError
from tradekit.model.enums import OrderType
from tradekit.model.gtt import Gtt, GttLegResult, GttRequest, GttStatus, GttType
from tradekit.model.money import dec
from tradekit.model.order import OrderRequest

log = logging.getLogger(__name__)

FIRST_ID = 100000


@dataclass
class _Entry:
    id: str
    request: GttRequest
    status: GttStatus
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    reference: Decimal | None  # the last price when placed/modified: which way a single trigger faces
    results: list = field(default_factory=list)

    def snapshot(self) -> Gtt:
        legs = tuple(replace(leg, result=r) for leg, r in zip(self.request.legs, self.results))
        return Gtt(self.id, replace(self.request, legs=legs), self.status, self.created_at, self.updated_at, self.expires_at)


class PaperGtts:
    """The GTT book of one paper account.

    Parameters
    ----------
    broker
        The :class:`~tradekit.brokers.paper.PaperBroker` whose orders the GTTs place (its lock,
        clock and instrument master are used).
    """

    def __init__(self, broker, rules=None):
        from tradekit.market.gtt_rules import gtt_rules

        self.broker = broker
        self.rules = rules or gtt_rules()
        self._gtts: dict[str, _Entry] = {}
        self._seq = FIRST_ID
        # key -> last price: a Decimal, or the float a tick noted (converted when read: most
        # instruments' ticks are noted and never read, so a Decimal per tick would be thrown away)
        self._last: dict[str, Decimal | float] = {}
        #: ``fn(gtt, leg_index, order_id | None)`` after a GTT fired (kite-sim describes the order)
        self.listeners: list[Callable[[Gtt, int, str | None], None]] = []

    # -- placing ---------------------------------------------------------------------------------
    def _noted(self, key: str) -> Decimal | None:
        """The last price noted for ``key``, as a Decimal (a float noted by :meth:`note_price` is
        converted as ``dec`` converts a float; not written back, so a tick noted meanwhile from the
        ticker thread is never overwritten by an older price)."""
        lp = self._last.get(key)
        return Decimal(float.__repr__(lp)) if lp.__class__ is float else lp

    def _last_price(self, req: GttRequest) -> Decimal | None:
        lp = self._noted(req.key)
        if lp is None:
            v = self.broker.last_price(req.key)
            lp = dec(v, "last_price") if v is not None else None
        return lp if lp is not None else req.last_price

    def _check(self, req: GttRequest) -> tuple[GttStatus, Decimal | None]:
        try:
            inst = self.broker.instruments.get(req.exchange, req.tradingsymbol)
        except MarketRuleError as e:
            raise BrokerRejected(str(e), broker_message="Invalid `tradingsymbol`.", code=400) from None
        try:
            for leg in req.legs:
                self.rules.check_product(inst.segment.value, leg.product.value, inst.key)
        except ValidationError as e:
            raise BrokerRejected(str(e), broker_message=str(e), code=400) from None
        tick = self.broker._tick(inst, None, self.broker.clock.now().date())
        for v in (*req.trigger_values, *(leg.price for leg in req.legs)):
            if tick and v % tick:
                msg = f"Tick size for this script is {tick}. Kindly enter trigger values and prices in multiples of it."
                raise BrokerRejected(msg, broker_message=msg, code=400)
        lp = self._last_price(req)
        if lp is None:
            msg = "`last_price` is needed: no last price is known for " + req.key
            raise BrokerRejected(msg, broker_message=msg, code=400)
        if req.type is GttType.OCO and not req.trigger_values[0] < lp < req.trigger_values[1]:
            msg = (f"The last price {lp} must lie between the two trigger values of a two-leg GTT "
                   f"({req.trigger_values[0]} and {req.trigger_values[1]}).")
            raise BrokerRejected(msg, broker_message=msg, code=400)
        disabled = any(self.rules.too_close(v, lp) for v in req.trigger_values)
        return (GttStatus.DISABLED if disabled else GttStatus.ACTIVE), lp

    def place(self, req: GttRequest) -> str:
        with self.broker._lock:
            self._expire(self.broker.clock.now())
            active = sum(1 for e in self._gtts.values() if e.status is GttStatus.ACTIVE)
            if active >= self.rules.max_active:
                msg = f"You can have at most {self.rules.max_active} active GTTs; delete one to place another."
                raise BrokerRejected(msg, broker_message=msg, code=400)
            status, lp = self._check(req)
            now = self.broker.clock.now()
            self._seq += 1
            gid = str(self._seq)
            self._gtts[gid] = _Entry(gid, req.with_last_price(lp), status, now, now,
                                     now + timedelta(days=self.rules.validity_days), lp, [None] * len(req.legs))
            if status is GttStatus.DISABLED:
                log.warning("GTT %s on %s is disabled: a trigger is within %s of the last price %s", gid, req.key,
                            self.rules.min_distance(lp), lp)
            return gid

    def _entry(self, gid) -> _Entry:
        e = self._gtts.get(str(gid))
        if e is None:
            raise BrokerRejected(f"GTT {gid} not found.", broker_message="Invalid trigger id.", code=404)
        return e

    def modify(self, gid, req: GttRequest) -> None:
        with self.broker._lock:
            self._expire(self.broker.clock.now())
            e = self._entry(gid)
            if e.status not in (GttStatus.ACTIVE, GttStatus.DISABLED):
                msg = f"Trigger is {e.status.value} and cannot be modified."
                raise BrokerRejected(msg, broker_message=msg, code=400)
            if req.key != e.request.key:
                msg = f"A GTT's instrument cannot change ({e.request.key} to {req.key}): delete it and place a new one."
                raise BrokerRejected(msg, broker_message=msg, code=400)
            status, lp = self._check(req)
            e.request, e.status, e.reference = req.with_last_price(lp), status, lp
            e.results = [None] * len(req.legs)
            e.updated_at = self.broker.clock.now()

    def delete(self, gid) -> None:
        with self.broker._lock:
            self._expire(self.broker.clock.now())
            e = self._entry(gid)
            if e.status not in (GttStatus.ACTIVE, GttStatus.DISABLED):
                msg = f"Trigger is {e.status.value} and cannot be deleted."
                raise BrokerRejected(msg, broker_message=msg, code=400)
            e.status, e.updated_at = GttStatus.DELETED, self.broker.clock.now()

    def get(self, gid) -> Gtt:
        with self.broker._lock:
            self._expire(self.broker.clock.now())
            return self._entry(gid).snapshot()

    def all(self) -> list[Gtt]:
        with self.broker._lock:
            self._expire(self.broker.clock.now())
            return [e.snapshot() for e in self._gtts.values()]

    def _expire(self, now: datetime) -> None:
        for e in self._gtts.values():
            if e.status in (GttStatus.ACTIVE, GttStatus.DISABLED) and now >= e.expires_at:
                e.status, e.updated_at = GttStatus.EXPIRED, e.expires_at

    # -- prices ----------------------------------------------------------------------------------
    def note_price(self, key: str, price) -> None:
        """Know ``key``'s last price without acting on it (kite-sim before a placement; the hub's
        ticks of instruments no GTT waits on). One dict store: no lock, the ticker never waits.
        A float is checked now and kept as it is (:meth:`_noted` converts it if it is ever read)."""
        if price.__class__ is float:
            if price - price != 0.0:  # inf or nan: refused as dec refuses them
                dec(repr(price), "last_price")  # (its error, as before)
            self._last[key] = price
        else:
            self._last[key] = dec(price if not isinstance(price, float) else repr(price), "last_price")

    def watches(self, key: str) -> bool:
        """True when an active GTT waits on ``key`` (a lock-free glance, for the hot tick path)."""
        if not self._gtts:  # (the hub asks per tick and per quiet run; most accounts keep no GTT)
            return False
        return any(e.status is GttStatus.ACTIVE and e.request.key == key for e in list(self._gtts.values()))

    def active_keys(self) -> list[str]:
        with self.broker._lock:
            return sorted({e.request.key for e in self._gtts.values() if e.status is GttStatus.ACTIVE})

    @staticmethod
    def which_leg(req: GttRequest, reference: Decimal | None, price: Decimal) -> int | None:
        """The leg a last price of ``price`` fires (None: none)."""
        tv = req.trigger_values
        if req.type is GttType.SINGLE:
            up = reference is None or tv[0] > reference
            return 0 if (price >= tv[0] if up else price <= tv[0]) else None
        if price <= tv[0]:
            return 0
        if price >= tv[1]:
            return 1
        return None

    def on_price(self, key: str, price, ts: datetime | None = None) -> list[tuple[Gtt, int, str | None]]:
        """A last price of ``key``: fire the active GTTs it reaches. Returns (gtt, leg, order id) fired."""
        px = dec(price if not isinstance(price, float) else repr(price), "last_price")
        fired = []
        with self.broker._lock:
            self._last[key] = px
            now = ts or self.broker.clock.now()
            self._expire(now)
            for e in list(self._gtts.values()):
                if e.status is not GttStatus.ACTIVE or e.request.key != key:
                    continue
                leg = self.which_leg(e.request, e.reference, px)
                if leg is None:
                    continue
                e.status, e.updated_at = GttStatus.TRIGGERED, now  # before the order: never twice
                oid = self._fire(e, leg, px, now)
                fired.append((e.snapshot(), leg, oid))
        for g, leg, oid in fired:
            for fn in list(self.listeners):
                try:
                    fn(g, leg, oid)
                except Exception:
                    log.exception("GTT listener failed")
        return fired

    def _fire(self, e: _Entry, i: int, px: Decimal, now: datetime) -> str | None:
        leg, req = e.request.legs[i], e.request
        order = OrderRequest(req.exchange, req.tradingsymbol, leg.side, leg.quantity, OrderType.LIMIT, leg.product, price=leg.price)
        try:
            oid = self.broker._place("", order)
        except (BrokerRejected, ValidationError) as err:
            e.results[i] = GttLegResult(None, False, px, now, str(err))
            log.warning("GTT %s fired leg %d on %s at %s; the order failed: %s", e.id, i, req.key, px, err)
            return None
        row = self.broker._orders.get(oid)
        failed = row is not None and row.status == "REJECTED"
        e.results[i] = GttLegResult(oid, not failed, px, now, row.message if failed else None)
        log.info("GTT %s fired leg %d on %s at %s: order %s%s", e.id, i, req.key, px, oid,
                 f" rejected ({row.message})" if failed else "")
        return oid


class PaperGttMixin:
    """The GTT methods of :class:`~tradekit.brokers.paper.PaperBroker` (see :class:`PaperGtts`)."""

    @cached_property
    def gtt_book(self) -> PaperGtts:
        # built on first use (under cached_property's lock: one book per broker), then a plain instance
        # attribute: the market-data hub asks for it on every tick
        return PaperGtts(self)

    def place_gtt(self, request: GttRequest) -> str:
        return self.gtt_book.place(request)

    def modify_gtt(self, gtt_id: str, request: GttRequest) -> None:
        self.gtt_book.modify(gtt_id, request)

    def delete_gtt(self, gtt_id: str) -> None:
        self.gtt_book.delete(gtt_id)

    def gtts(self) -> list[Gtt]:
        return self.gtt_book.all()

    def get_gtt(self, gtt_id: str) -> Gtt:
        return self.gtt_book.get(gtt_id)

    def gtt_on_price(self, key: str, price, ts: datetime | None = None):
        return self.gtt_book.on_price(key, price, ts)

    def gtt_on_tick(self, tick) -> None:
        """A tick from the market-data hub (``hub.add_listener``): the GTTs on its instrument."""
        if tick.key is not None and tick.last_price:
            self.gtt_book.on_price(tick.key, float.__repr__(float(tick.last_price)), tick.ts)
