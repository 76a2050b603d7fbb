"""kite-sim's GTT routes (``/gtt/triggers``), on the paper broker's GTT emulation.

The emulation itself (when a GTT fires, its statuses, Zerodha's rules) is the paper broker's
(:mod:`tradekit.brokers.paper.gtt`), so paper and the sandbox agree; this module is Kite's wire
format around it (kite.md §6, the official fixtures ``gtt_*.json``):

* ``POST /gtt/triggers`` and ``PUT /gtt/triggers/{id}``: form ``type`` (``single`` | ``two-leg``),
  ``condition`` and ``orders`` as JSON strings; answers ``{"trigger_id": id}``. Refusals are
  400 ``InputException`` with the reason (a missing or malformed field, counts that do not match
  the type, a product the segment does not take, a non-LIMIT order, a two-leg GTT whose triggers
  do not straddle the last price, the 250-active limit, a GTT no longer active).
* A trigger closer to the last price than Zerodha's minimum is accepted and left ``disabled``.
* ``GET /gtt/triggers[/{id}]``: trigger objects; a fired leg carries ``result`` with
  ``order_result{status, order_id, rejection_reason}``. A fired order that Kite's RMS refused
  is ``failed`` with an empty order id and is not in the order book; one that was placed is
  in ``/orders`` (with ``meta.gtt`` = the trigger id; Kite's GTTs carry no ``tag``) and its
  updates go out like any order's.
* The replayed prices are checked after every step (and every ``/sim/move``).
"""

from __future__ import annotations

import json
import secrets as _secrets

from tradekit.errors import BrokerRejected, ValidationError
from tradekit.model.gtt import Gtt, GttLeg, GttRequest, GttStatus


def _float(x):
    f = float(x)
    return int(f) if f.is_integer() else f


class SimGttRoutes:
    """Mixed into :class:`~tradekit.brokers.kite.sim.app.KiteSimApp`."""

    def _init_gtts(self) -> None:
        self.broker.gtt_book.listeners.append(self._gtt_fired)

    # -- wire format -------------------------------------------------------------------------------
    def _gtt_parse(self, form: dict) -> GttRequest:
        from tradekit.brokers.kite.sim.app import KiteError, _need

        gtype = _need(form, "type")
        if gtype not in ("single", "two-leg"):
            raise KiteError(400, "InputException", "Invalid `type`: single or two-leg.")
        try:
            cond = json.loads(_need(form, "condition"))
            orders = json.loads(_need(form, "orders"))
        except ValueError:
            raise KiteError(400, "InputException", "`condition` and `orders` must be JSON.") from None
        if not isinstance(cond, dict) or not isinstance(orders, list):
            raise KiteError(400, "InputException", "`condition` must be a JSON object and `orders` a JSON list.")
        tv = cond.get("trigger_values")
        if not isinstance(tv, list) or len(tv) != (1 if gtype == "single" else 2) or len(orders) != len(tv):
            raise KiteError(400, "InputException", "Trigger values and orders do not match the GTT type.")
        for name in ("exchange", "tradingsymbol"):
            if not cond.get(name):
                raise KiteError(400, "InputException", f"Missing `{name}` in `condition`")
        inst = self._instrument(cond["exchange"], cond["tradingsymbol"])
        legs = []
        for o in orders:
            if not isinstance(o, dict):
                raise KiteError(400, "InputException", "Each GTT order must be a JSON object.")
            for name in ("transaction_type", "quantity", "order_type", "product", "price"):
                if o.get(name) in (None, ""):
                    raise KiteError(400, "InputException", f"Missing `{name}` in a GTT order")
            if (o.get("exchange") or inst.exchange.value) != inst.exchange.value or \
                    (o.get("tradingsymbol") or inst.tradingsymbol) != inst.tradingsymbol:
                raise KiteError(400, "InputException", "A GTT order must be for the instrument of its `condition`.")
            try:
                legs.append(GttLeg(o["transaction_type"], _whole(o["quantity"]), o["price"], o["product"], o["order_type"]))
            except ValidationError as e:
                raise KiteError(400, "InputException", f"Invalid GTT order: {e}") from None
        lp = cond.get("last_price")
        try:
            return GttRequest(inst.exchange, inst.tradingsymbol, tuple(tv), tuple(legs),
                              lp if lp not in (None, "", 0, 0.0) else None)
        except ValidationError as e:
            raise KiteError(400, "InputException", f"Invalid GTT: {e}") from None

    def gtt_json(self, g: Gtt) -> dict:
        from tradekit.brokers.kite.sim.app import _fmt

        inst = self._instrument(g.request.exchange.value, g.request.tradingsymbol)
        r = g.request
        orders = []
        for leg in r.legs:
            o = {"exchange": r.exchange.value, "tradingsymbol": r.tradingsymbol, "product": leg.product.value,
                 "order_type": leg.order_type.value, "transaction_type": leg.side.value, "quantity": leg.quantity,
                 "price": _float(leg.price), "result": None}
            res = leg.result
            if res is not None:
                o["result"] = {
                    "account_id": self.user_id, "exchange": r.exchange.value, "tradingsymbol": r.tradingsymbol,
                    "validity": "DAY", "product": leg.product.value, "order_type": leg.order_type.value,
                    "transaction_type": leg.side.value, "quantity": leg.quantity, "price": _float(leg.price),
                    "meta": json.dumps({"app_id": 1, "gtt": int(g.id)}), "timestamp": _fmt(res.at),
                    "triggered_at": _float(res.triggered_at) if res.triggered_at is not None else None,
                    "order_result": {"status": "success" if res.ok else "failed",
                                     "order_id": (res.order_id or "") if res.ok else "",
                                     "rejection_reason": res.rejection_reason or ""},
                }
            orders.append(o)
        return {"id": int(g.id), "user_id": self.user_id, "parent_trigger": None, "type": r.type.value,
                "created_at": _fmt(g.created_at), "updated_at": _fmt(g.updated_at), "expires_at": _fmt(g.expires_at),
                "status": g.status.value,
                "condition": {"exchange": r.exchange.value, "last_price": _float(r.last_price or 0),
                              "tradingsymbol": r.tradingsymbol, "trigger_values": [_float(v) for v in r.trigger_values],
                              "instrument_token": inst.instrument_token},
                "orders": orders, "meta": {} if g.status is GttStatus.ACTIVE else None}

    def _gtt_refused(self, e: BrokerRejected):
        from tradekit.brokers.kite.sim.app import KiteError

        status = 404 if e.code == 404 else 400
        return KiteError(status, "InputException", e.broker_message or str(e))

    def _gtt_note_price(self, key: str) -> None:
        s = self.market.get(key)
        if s is not None:
            self.broker.gtt_book.note_price(key, s.last)

    # -- routes ------------------------------------------------------------------------------------
    def r_gtt_list(self, **_):
        return [self.gtt_json(g) for g in self.broker.gtts()]

    def r_gtt_get(self, trigger_id, **_):
        try:
            return self.gtt_json(self.broker.get_gtt(str(int(trigger_id))))
        except BrokerRejected as e:
            raise self._gtt_refused(e) from None

    def r_gtt_place(self, form, **_):
        req = self._gtt_parse(form)
        with self._lock:
            self._gtt_note_price(req.key)
            try:
                gid = self.broker.place_gtt(req)
            except BrokerRejected as e:
                raise self._gtt_refused(e) from None
        return {"trigger_id": int(gid)}

    def r_gtt_modify(self, trigger_id, form, **_):
        req = self._gtt_parse(form)
        with self._lock:
            self._gtt_note_price(req.key)
            try:
                self.broker.modify_gtt(str(int(trigger_id)), req)
            except BrokerRejected as e:
                raise self._gtt_refused(e) from None
        return {"trigger_id": int(trigger_id)}

    def r_gtt_delete(self, trigger_id, **_):
        try:
            self.broker.delete_gtt(str(int(trigger_id)))
        except BrokerRejected as e:
            raise self._gtt_refused(e) from None
        return {"trigger_id": int(trigger_id)}

    # -- the replayed prices -----------------------------------------------------------------------
    def _gtt_step(self) -> None:
        """After a step or a move: the active GTTs against their instruments' last prices."""
        book = self.broker.gtt_book
        for key in book.active_keys():
            s = self.market.get(key)
            if s is None or not (s.i or s.day_open):
                continue  # not traded yet today
            book.on_price(key, repr(float(s.last)), self.market.now)

    def _gtt_fired(self, g: Gtt, leg: int, order_id: str | None) -> None:
        """A fired order that was placed shows in the order book and sends updates."""
        from tradekit.brokers.kite.sim.app import _Meta

        res = g.request.legs[leg].result
        if order_id is None or res is None or not res.ok:
            return  # Kite: a failed GTT order has no order id and is not in the order book
        inst = self._instrument(g.request.exchange.value, g.request.tradingsymbol)
        self._meta[order_id] = _Meta(placed_at=self.market.now, variety="regular", validity="DAY", validity_ttl=None,
                                     disclosed_quantity=0, market_protection=0, tag=None, algo_id=None,
                                     instrument_token=inst.instrument_token, guid=_secrets.token_hex(6), gtt=int(g.id))


def _whole(v) -> int:
    from tradekit.brokers.kite.sim.app import KiteError

    try:
        f = float(v)
    except (TypeError, ValueError):
        raise KiteError(400, "InputException", f"Invalid `quantity` in a GTT order: {v!r}") from None
    if not f.is_integer():
        raise KiteError(400, "InputException", f"Invalid `quantity` in a GTT order: {v!r}")
    return int(f)
