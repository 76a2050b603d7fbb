"""GTT on Kite: :class:`~tradekit.brokers.base.GttBroker` for :class:`~tradekit.brokers.kite.KiteBroker`.

Every call goes through the broker's ``_call`` (the process-wide rate governor, the error
mapping of :mod:`.errors`, the session check). Placing is mapped as strictly as placing an
order: an outcome that may have created the GTT is :class:`~tradekit.errors.AmbiguousOrderState`
(Kite's GTTs carry no tag; the caller finds it again by listing, see
:meth:`tradekit.execution.gtt.GttProtector`). The official client builds the form (``type``,
``condition`` and ``orders`` as JSON strings) and checks the counts before any request.
"""

from __future__ import annotations

import json

from tradekit.brokers.kite import parsing
from tradekit.model.gtt import Gtt, GttLeg, GttLegResult, GttRequest, GttStatus


def _f(x) -> float:
    return float(x)


def gtt_args(req: GttRequest) -> dict:
    """The official client's ``place_gtt``/``modify_gtt`` arguments for ``req``."""
    return {
        "trigger_type": req.type.value, "tradingsymbol": req.tradingsymbol, "exchange": req.exchange.value,
        "trigger_values": [_f(v) for v in req.trigger_values],
        "last_price": _f(req.last_price) if req.last_price is not None else 0.0,
        "orders": [{"transaction_type": leg.side.value, "quantity": leg.quantity, "order_type": leg.order_type.value,
                    "product": leg.product.value, "price": _f(leg.price)} for leg in req.legs],
    }


def _result(r: dict | None) -> GttLegResult | None:
    if not r:
        return None
    out = r.get("order_result") or {}
    oid = str(out.get("order_id") or "") or None
    trig = r.get("triggered_at")
    return GttLegResult(order_id=oid, ok=str(out.get("status", "")).lower() == "success",
                        triggered_at=parsing.money(trig) if trig not in (None, "") else None,
                        at=parsing.ts(r.get("timestamp")), rejection_reason=out.get("rejection_reason") or None)


def parse_gtt(d: dict) -> Gtt:
    """One trigger object (``GET /gtt/triggers[/id]``) as a :class:`Gtt`."""
    cond = d.get("condition") or {}
    legs = tuple(GttLeg(o["transaction_type"], int(o["quantity"]), parsing.money(o["price"]), o["product"],
                        o.get("order_type") or "LIMIT", _result(o.get("result"))) for o in d.get("orders") or ())
    lp = cond.get("last_price")
    req = GttRequest(cond.get("exchange"), cond.get("tradingsymbol"), tuple(parsing.money(v) for v in cond.get("trigger_values") or ()),
                     legs, parsing.money(lp) if lp not in (None, "", 0) else None)
    return Gtt(id=str(d["id"]), request=req, status=GttStatus.parse(d.get("status")), created_at=parsing.ts(d.get("created_at")),
               updated_at=parsing.ts(d.get("updated_at")), expires_at=parsing.ts(d.get("expires_at")), raw=d)


def _trigger_id(out) -> str:
    if isinstance(out, dict) and out.get("trigger_id") is not None:
        return str(out["trigger_id"])
    raise ValueError(f"Kite's answer has no trigger_id: {json.dumps(out, default=str)[:200]}")


class KiteGttMixin:
    """GTT methods of :class:`~tradekit.brokers.kite.KiteBroker` (on the official client)."""

    def _need_last_price(self, req: GttRequest) -> GttRequest:
        if req.last_price is not None:
            return req
        lp = self.last_price(req.key) if hasattr(self, "last_price") else None
        if lp is None:
            lp = self.ltp([req.key]).get(req.key)
        return req.with_last_price(lp) if lp is not None else req

    def place_gtt(self, request: GttRequest) -> str:
        """Place a GTT; returns its trigger id. AmbiguousOrderState: it may exist, list to find it."""
        req = self._need_last_price(request)
        out = self._call(f"place a GTT on {req.key}", "other", self.kite.place_gtt, placement=True, **gtt_args(req))
        return _trigger_id(out)

    def modify_gtt(self, gtt_id: str, request: GttRequest) -> None:
        req = self._need_last_price(request)
        self._call(f"modify GTT {gtt_id}", "other", self.kite.modify_gtt, int(gtt_id), **gtt_args(req))

    def delete_gtt(self, gtt_id: str) -> None:
        self._call(f"delete GTT {gtt_id}", "other", self.kite.delete_gtt, int(gtt_id))

    def gtts(self) -> list[Gtt]:
        return [parse_gtt(d) for d in self._call("fetch the GTTs", "other", self.kite.get_gtts)]

    def get_gtt(self, gtt_id: str) -> Gtt:
        return parse_gtt(self._call(f"fetch GTT {gtt_id}", "other", self.kite.get_gtt, int(gtt_id)))
