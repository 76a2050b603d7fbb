"""Parent orders worked as child orders through the one OMS and gate: freeze slicing and TWAP/VWAP/POV.

Life of a parent (an order whose request is above the exchange freeze quantity, or that carries
an ``algo`` spec in its ``meta``)::

    ORDER_CREATED → RISK_DECISION (FREEZE: "to be sent as n slices") → approval (manual or auto)
        → slice.started / algo.started (the parent becomes SLICED: its fills are on its children)
        → children: OrderManager.submit(..., parent_id=…)  — each checked by the gate, paced by the
          order-rate governor, journaled, approved by the parent's approval
        → slice.completed / algo.completed (filled quantity, average price, outcome)

Cancelling the parent (``oms.cancel(parent)``) stops it and cancels its working children;
modifying it (``oms.modify(parent, price=…, quantity=…)``) changes the open children and those
to come. ``cancel_all`` (kill switch, breakers, flatten) stops every parent first. A HALTED trading
state stops every parent that is not itself reducing. Everything is rebuilt from the journal on
start (:meth:`ParentOrders.rebuild`), so a restarted session continues a parent where it was.

Live uses local slices rather than Kite's ``autoslice=true``: the OMS resolves an order whose
placement outcome is unknown by looking its *own* client order id up as the broker's ``tag``;
autoslice children all carry the parent's tag (and Kite caps autoslice at 10 slices), so a lost
reply could not be resolved child by child. ``tradekit kite-sim`` serves ``autoslice`` faithfully
(:mod:`tradekit.brokers.kite.sim.autoslice`) for clients that use it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from tradekit.clock import IST
from tradekit.errors import BrokerError, TradekitError
from tradekit.execution.algos.base import Parent, round_lots
from tradekit.execution.algos.pov import POV
from tradekit.execution.algos.twap import TWAP
from tradekit.execution.algos.vwap import VWAP
from tradekit.execution.oms import NEVER_QUEUED
from tradekit.model.enums import OrderType
from tradekit.model.money import dec
from tradekit.model.order import OrderStatus
from tradekit.store.events import EventType as E
from tradekit.store.listeners import listens

# what the engine learns from the journal: its rebuild reads these, and the OMS hands it only these
_REBUILD_TYPES = (E.ORDER_CREATED, E.RISK_DECISION, E.SLICE_STARTED, E.ALGO_STARTED, E.SLICE_MODIFIED, E.ALGO_MODIFIED, E.ALGO_VOLUME_BASE,
                  E.SLICE_CANCELLED, E.ALGO_CANCELLED, E.SLICE_COMPLETED, E.ALGO_COMPLETED)

log = logging.getLogger(__name__)

REDUCING_SOURCES = NEVER_QUEUED  # a parent sent by flatten/square-off/kill is not stopped by a halt
SESSION_END = (15, 29)  # the last one-minute bar of NSE's normal session starts at 15:29 IST (default algo end)


def _ts(v, today: datetime | None = None) -> datetime | None:
    """A datetime from an ISO string, or ``HH:MM[:SS]`` (IST) on ``today``'s date."""
    if v is None or isinstance(v, datetime):
        return v
    s = str(v)
    if today is not None and len(s) <= 8 and ":" in s:
        parts = [int(x) for x in s.split(":")]
        d = today.astimezone(IST)
        return d.replace(hour=parts[0], minute=parts[1], second=parts[2] if len(parts) > 2 else 0, microsecond=0)
    d = datetime.fromisoformat(s)
    return d if d.tzinfo is not None else d.replace(tzinfo=IST)


class ParentOrders:
    """The engine. ``oms.parents`` points at it; it listens to the OMS's events and the market-data hub."""

    def __init__(self, oms, *, schedules: dict | None = None):
        self.oms = oms
        self.book = oms.book
        self.parents: dict[str, Parent] = {}
        self.specs: dict[str, dict] = {}  # parent id -> the algo spec its ORDER_CREATED carried
        self.schedules = schedules or {"twap": TWAP(), "vwap": VWAP(), "pov": POV()}
        self._child_of: dict[str, str] = {}  # child cid -> parent id
        self._denied: dict[str, list[str]] = {}  # child cid -> the gate's failed check codes
        self._cum: dict[str, tuple] = {}  # key -> (day, cumulative volume) in a bar replay

    # -- wiring ---------------------------------------------------------------------------------
    @classmethod
    def install(cls, session) -> "ParentOrders":
        """Attach to a session: the OMS hook, its event listener, the market-data listener."""
        eng = cls(session.oms)
        from tradekit.store.snapshot import history

        eng.rebuild(history(session.journal, _REBUILD_TYPES))  # the start snapshot's retained events, then the journal's
        session.oms.parents = eng
        session.oms.listeners.append(eng.on_event)
        session.market.add_listener(eng.on_tick)
        return eng

    def rebuild(self, events) -> None:
        for ev in events:
            self._learn(ev)

    def _learn(self, ev) -> None:
        p, t = ev.payload, ev.type
        if t == E.ORDER_CREATED:
            meta = p.get("meta") or {}
            if isinstance(meta.get("algo"), dict):
                self.specs[p["client_order_id"]] = meta["algo"]
            pid = p.get("parent_id")
            if pid is not None and pid in self.parents:
                self.parents[pid].children.append(p["client_order_id"])
                self._child_of[p["client_order_id"]] = pid
        elif t == E.RISK_DECISION:
            cid = p.get("client_order_id")
            if cid in self._child_of and not p.get("allowed", True):
                self._denied[cid] = [c.get("code") for c in p.get("checks", ()) if not c.get("ok", True)]
        elif t in (E.SLICE_STARTED, E.ALGO_STARTED):
            par = self._parent_from(p)
            self.parents[par.parent_id] = par
        elif t in (E.SLICE_MODIFIED, E.ALGO_MODIFIED):
            par = self.parents.get(p["client_order_id"])
            if par is not None:
                changes = {}
                if p.get("quantity") is not None:
                    changes["quantity"] = int(p["quantity"])
                if p.get("price") is not None and par.request.price is not None:
                    changes["price"] = dec(p["price"], "price")
                if changes:
                    par.request = par.request.with_changes(**changes)
                if p.get("limit_price") is not None:
                    par.limit_price = dec(p["limit_price"], "limit_price")
        elif t == E.ALGO_VOLUME_BASE:
            par = self.parents.get(p["client_order_id"])
            if par is not None:
                par.volume_base = int(p["volume"])
        elif t in (E.SLICE_CANCELLED, E.ALGO_CANCELLED, E.SLICE_COMPLETED, E.ALGO_COMPLETED):
            par = self.parents.get(p["client_order_id"])
            if par is not None and par.active:
                par.status = p.get("status", "CANCELLED")
                par.reason = p.get("reason", "")

    def _parent_from(self, p: dict) -> Parent:
        from tradekit.model.order import OrderRequest

        o = self.book.orders.get(p["client_order_id"])
        req = o.request if o is not None else OrderRequest.from_dict(p["request"])
        return Parent(
            parent_id=p["client_order_id"], strategy=p.get("strategy", o.strategy if o else ""), request=req, kind=p["kind"],
            source=p.get("source", "signal"), max_child=p.get("max_child"), lot=int(p.get("lot") or 1),
            start=_ts(p.get("start")), end=_ts(p.get("end")), participation=p.get("participation"),
            limit_price=dec(p["limit_price"], "limit_price") if p.get("limit_price") is not None else None,
            interval_seconds=float(p.get("interval_seconds") or 60.0), min_child=int(p.get("min_child") or 0),
        )

    # -- the OMS hook ---------------------------------------------------------------------------
    @staticmethod
    def check_spec(spec) -> dict:
        """The algo spec, checked (``ValidationError`` naming the field, e.g. ``algo.participation``)."""
        from pydantic import ValidationError as PydanticError

        from tradekit.errors import ValidationError
        from tradekit.signals.algo_fields import AlgoSpec

        try:
            return AlgoSpec.model_validate(spec).as_meta()
        except PydanticError as e:
            err = e.errors()[0]
            loc = ".".join(str(x) for x in err.get("loc", ()))
            raise ValidationError(err.get("msg", str(e)).removeprefix("Value error, "),
                                  field=f"algo.{loc}" if loc else "algo") from None

    def takes(self, order, decision) -> bool:
        """True when ``order`` (just approved) is to be worked as child orders."""
        return order.client_order_id in self.specs or bool(getattr(decision, "needs_slicing", None))

    def child_mode(self, parent_id: str) -> str:
        """How a child is approved: by the parent's approval, as long as the parent is active."""
        par = self.parents.get(parent_id)
        if par is None or not par.active:
            raise TradekitError(f"order {parent_id} is not an active parent order: no child can be sent for it")
        return "auto"

    def start(self, order, decision) -> Parent:
        """Journal slice.started / algo.started for an approved parent (inside the OMS's transaction)."""
        cid = order.client_order_id
        now = self.oms.clock.now()
        inst = self.oms.account.instrument(order.request.exchange, order.request.tradingsymbol)
        lot = max(1, getattr(inst, "lot_size", 1) or 1)
        spec = self.specs.get(cid)
        payload = {"client_order_id": cid, "strategy": order.strategy, "source": order.source,
                   "request": order.request.to_dict(), "max_child": getattr(decision, "needs_slicing", None), "lot": lot}
        if spec is None:
            payload["kind"] = "slice"
            n = -(-order.request.quantity // payload["max_child"])
            payload["reason"] = f"sent as {n} slices of at most {payload['max_child']:,} (freeze quantity)"
            self.oms._emit(E.SLICE_STARTED, payload)
        else:
            start = _ts(spec.get("start"), now) or now
            end = _ts(spec.get("end"), now) or now.astimezone(IST).replace(hour=SESSION_END[0], minute=SESSION_END[1], second=0,
                                                                      microsecond=0)
            limit = spec.get("limit_price")
            if limit is None and order.request.order_type is OrderType.LIMIT:
                limit = str(order.request.price)  # a LIMIT parent's price bounds its children
            payload.update(kind=spec["kind"], start=start.isoformat(), end=end.isoformat(),
                           participation=spec.get("participation"), limit_price=limit,
                           interval_seconds=spec.get("interval_seconds") or 60.0, min_child=spec.get("min_child") or 0,
                           reason=f"{spec['kind'].upper()} from {start:%H:%M:%S} to {end:%H:%M:%S}")
            self.oms._emit(E.ALGO_STARTED, payload)
        return self.parents[cid]

    def kick(self, parent_id: str) -> None:
        """Right after the parent's approval is durable: send what is due now."""
        par = self.parents.get(parent_id)
        if par is not None:
            self._step(par, self.oms.clock.now())

    # -- events in ------------------------------------------------------------------------------
    @listens(*_REBUILD_TYPES)
    def on_event(self, ev) -> None:
        """The journal events the OMS writes that the engine learns from (its ``listeners`` hook)."""
        if ev.type in _REBUILD_TYPES:
            self._learn(ev)

    def quiet_for(self, key: str) -> bool:
        """No active parent: ticks do nothing here (the hub's quiet runs, ``MarketDataHub.quiet``)."""
        return not any(p.active for p in list(self.parents.values()))

    def on_tick(self, tick) -> None:
        """Every accepted tick (paper bars arrive as ticks too): POV volume, then the schedules."""
        key = tick.key
        for par in list(self.parents.values()):
            if par.active and par.kind == "pov" and par.request.key == key and tick.volume is not None:
                par.volume_now = int(tick.volume)
        self.step()

    @property
    def busy(self) -> bool:
        """True while some parent is active."""
        return any(p.active for p in self.parents.values())

    def on_bar_volume(self, key: str, volume: int, day) -> None:
        """A bar's traded volume where no tick reaches the hub (the fast bar replay): the same
        cumulative day volume a tick carries, for POV."""
        d, cum = self._cum.get(key, (day, 0))
        cum = (cum if d == day else 0) + int(volume)
        self._cum[key] = (day, cum)
        for par in self.parents.values():
            if par.active and par.kind == "pov" and par.request.key == key:
                par.volume_now = cum

    # -- the schedule ---------------------------------------------------------------------------
    def step(self, now: datetime | None = None) -> None:
        """Release what is due, finish what is done (call it from the session's service loop too)."""
        active = [p for p in self.parents.values() if p.active]
        if not active:
            return
        with self.oms._lock:
            now = now or self.oms.clock.now()
            for par in active:
                try:
                    self._step(par, now)
                except BrokerError as e:
                    log.warning("parent %s: %s", par.parent_id, e)

    def _kids(self, par: Parent) -> list:
        return [self.book.orders[c] for c in par.children if c in self.book.orders]

    def _held(self, par: Parent) -> tuple[int, int]:
        """(filled, still working or waiting) over the parent's children."""
        filled = working = 0
        for k in self._kids(par):
            filled += k.filled_quantity
            if not k.status.is_terminal:
                working += k.request.quantity - k.filled_quantity
        return filled, working

    def _step(self, par: Parent, now: datetime) -> None:
        if not par.active:
            return
        if self.book.trading_state == "HALTED" and par.source not in REDUCING_SOURCES:
            self.cancel(par.parent_id, reason="trading is HALTED", source="halt")
            return
        filled, working = self._held(par)
        if filled >= par.quantity:
            self._complete(par, "COMPLETE", "filled")
            return
        failed = [k for k in self._kids(par) if k.status in (OrderStatus.REJECTED, OrderStatus.DENIED)
                  and not self._rate_only(k)]
        if failed:
            k = failed[-1]
            self._cancel_children(par, f"child {k.client_order_id} was {k.status.value}")
            self._complete(par, "STOPPED", f"child {k.client_order_id} {k.status.value}: {k.status_message or ''}".strip())
            return
        if par.end is not None and now >= par.end:
            if working:
                self._cancel_children(par, f"{par.kind.upper()} end time {par.end:%H:%M:%S} reached")
            self._complete(par, "EXPIRED", f"end time reached with {filled:,} of {par.quantity:,} filled")
            return
        due = self._due(par, now) - filled - working
        self._release(par, due, now)

    def _due(self, par: Parent, now: datetime) -> int:
        if par.kind == "slice":
            return par.quantity
        if par.kind == "pov" and par.volume_base is None and par.volume_now is not None and now >= par.start:
            self.oms._emit(E.ALGO_VOLUME_BASE, {"client_order_id": par.parent_id, "volume": par.volume_now,
                                                "at": now.isoformat()})
        target = self.schedules[par.kind].target(par, now)
        due = par.quantity if target >= par.quantity else round_lots(target, par.lot)
        return min(par.quantity, due)

    def _release(self, par: Parent, due: int, now: datetime) -> None:
        floor = max(par.lot, par.min_child)
        if due < floor and not (0 < due and self._held(par)[0] + self._held(par)[1] + due == par.quantity):
            return  # wait until at least one lot (or the last piece) is due
        governor = getattr(self.oms.gate, "governor", None)
        cap = par.max_child or due
        while due > 0:
            if governor is not None and governor.wait_time(self.oms.clock.now()) > 0:
                return  # the order-rate budget is spent: the next step sends the rest
            q = min(due, cap)
            order = self.oms.submit(self._child_request(par, q), strategy=par.strategy, parent_id=par.parent_id,
                                    source=par.source if (par.kind == "slice" or par.source in REDUCING_SOURCES) else "algo",
                                    approval="auto", meta={"parent_id": par.parent_id, "kind": par.kind})
            if order.status is OrderStatus.DENIED:
                if self._rate_only(order):
                    return
                self._step(par, now)  # stops the parent, naming the check
                return
            due -= q

    def _child_request(self, par: Parent, q: int):
        req = par.request
        changes: dict = {"quantity": q, "tag": None}
        if par.kind != "slice":
            if par.limit_price is not None:
                changes.update(order_type=OrderType.LIMIT, price=par.limit_price, market_protection=None)
            else:
                changes.update(order_type=OrderType.MARKET, price=None)
        return req.with_changes(**changes)

    def _rate_only(self, order) -> bool:
        """A child denied only by the order-rate governor (sent again later, not a failure)."""
        return order.status is OrderStatus.DENIED and self._denied.get(order.client_order_id) == ["RATE"]

    # -- parent-level actions -------------------------------------------------------------------
    def _cancel_children(self, par: Parent, reason: str) -> list[str]:
        out = []
        for k in self._kids(par):
            if k.status is OrderStatus.PENDING_APPROVAL or k.status.is_working:
                try:
                    self.oms.cancel(k.client_order_id, reason=reason, source=par.event_prefix)
                    out.append(k.client_order_id)
                except BrokerError as e:
                    log.warning("cancel of child %s failed: %s", k.client_order_id, e)
        return out

    def _complete(self, par: Parent, status: str, reason: str) -> None:
        filled = value = 0
        for k in self._kids(par):
            filled += k.filled_quantity
            value += k.filled_value
        avg = None if not filled else str((Decimal(value) / filled).quantize(Decimal("0.0001")))
        self.oms._emit(E.SLICE_COMPLETED if par.kind == "slice" else E.ALGO_COMPLETED,
                       {"client_order_id": par.parent_id, "status": status, "reason": reason, "filled_quantity": filled,
                        "quantity": par.quantity, "average_price": avg, "children": len(par.children)})

    def cancel(self, parent_id: str, *, reason: str = "", source: str = "manual") -> list[str]:
        """Stop the parent: no new child; working children cancelled. Returns the children cancelled."""
        with self.oms._lock:
            par = self.parents.get(parent_id)
            if par is None or not par.active:
                return []
            self.oms._emit(E.SLICE_CANCELLED if par.kind == "slice" else E.ALGO_CANCELLED,
                           {"client_order_id": parent_id, "status": "CANCELLED", "reason": reason, "source": source})
            return self._cancel_children(par, reason or f"parent {parent_id} cancelled")

    def cancel_all(self, *, reason: str, source: str, strategy: str | None = None, keep_reducing: bool = False) -> list[str]:
        out = []
        for par in list(self.parents.values()):
            if not par.active or (strategy is not None and par.strategy != strategy):
                continue
            if keep_reducing and par.source in REDUCING_SOURCES:
                continue
            self.cancel(par.parent_id, reason=reason, source=source)
            out.append(par.parent_id)
        return out

    def modify(self, parent_id: str, *, quantity: int | None = None, price=None) -> None:
        """A new total quantity (not below what the children hold) and/or price (limit bound) for the
        parent; working children are modified to the new price."""
        with self.oms._lock:
            par = self.parents.get(parent_id)
            if par is None or not par.active:
                raise TradekitError(f"parent order {parent_id} is not active; it cannot be modified")
            filled, working = self._held(par)
            if quantity is not None and int(quantity) < filled + working:
                from tradekit.errors import ValidationError

                raise ValidationError(f"{quantity} is below the {filled + working:,} units its children already hold",
                                      field="quantity")
            payload: dict = {"client_order_id": parent_id, "quantity": None if quantity is None else int(quantity)}
            if price is not None:
                px = dec(price, "price")
                if par.kind == "slice":
                    payload["price"] = str(px)
                else:
                    payload["limit_price"] = str(px)
            self.oms._emit(E.SLICE_MODIFIED if par.kind == "slice" else E.ALGO_MODIFIED, payload)
            if price is not None:
                for k in self._kids(par):
                    if k.status.is_working and k.request.price is not None and k.broker_order_id is not None:
                        self.oms.modify(k.client_order_id, price=dec(price, "price"))

    # -- views ----------------------------------------------------------------------------------
    def summary(self, parent_id: str) -> dict:
        par = self.parents[parent_id]
        filled, working = self._held(par)
        return {"parent_id": parent_id, "kind": par.kind, "status": par.status, "quantity": par.quantity,
                "filled": filled, "working": working, "children": list(par.children), "reason": par.reason}


__all__ = ["Parent", "ParentOrders"]
