"""The sandbox's order routes: place (Kite's rules on the way in), modify, cancel, the order book, an
order's history and the trade book, in Kite's JSON shapes.

Mixed into :class:`~tradekit.brokers.kite.sim.app.KiteSimApp` (its ``broker``, ``market``,
``instruments``, ``_lock``, ``_meta``, ``_modifying``, ``placements`` and the injected rejects).
"""

from __future__ import annotations

import secrets as _secrets
from decimal import Decimal

from tradekit.brokers.base import BrokerOrder, BrokerTrade
from tradekit.brokers.kite.sim.wire import (FINAL, MSG_NO_PROTECTION, KiteError, _first, _fmt, _int, _Meta, _need,
                                            _num)
from tradekit.clock import IST
from tradekit.errors import BrokerRejected, MarketRuleError
from tradekit.model.enums import OrderType, Validity, Variety
from tradekit.model.order import MAX_MODIFICATIONS, MAX_TAG_LENGTH, OrderRequest


class SimOrderRoutes:
    """Mixed into :class:`~tradekit.brokers.kite.sim.app.KiteSimApp`."""

    def _instrument(self, exchange: str, symbol: str):
        try:
            return self.instruments.get(exchange, symbol)
        except MarketRuleError:
            raise KiteError(400, "InputException", "Invalid `tradingsymbol`.") from None

    def r_place(self, variety, form, **_):
        if variety not in ("regular", "amo", "iceberg", "co", "auction"):
            raise KiteError(400, "InputException", "Invalid variety.")
        if variety in ("co", "auction"):
            raise KiteError(400, "InputException", f"The {variety} variety is not available in the sandbox.")
        if _first(form, "autoslice") == "true":  # slices above the freeze limit (issue 15)
            from tradekit.brokers.kite.sim.autoslice import place_autoslice

            return place_autoslice(self, variety, form)
        exchange, symbol = _need(form, "exchange"), _need(form, "tradingsymbol")
        side, qty = _need(form, "transaction_type"), _int(_need(form, "quantity"), "quantity")
        product, otype = _need(form, "product"), _need(form, "order_type")
        tag = _first(form, "tag")
        if tag is not None and (len(tag) > MAX_TAG_LENGTH or not tag.isalnum() or not tag.isascii()):
            raise KiteError(400, "InputException", f"Invalid `tag`: at most {MAX_TAG_LENGTH} letters or digits.")
        mp_raw = _first(form, "market_protection")
        mp = float(mp_raw) if mp_raw is not None else 0.0
        if otype in ("MARKET", "SL-M") and mp == 0:
            raise KiteError(400, "InputException", MSG_NO_PROTECTION)
        if mp_raw is not None and not (mp == -1 or 0 <= mp <= 100):
            raise KiteError(400, "InputException", "Invalid `market_protection`: -1 or 0 to 100.")
        validity = _first(form, "validity", "DAY")
        ttl = _first(form, "validity_ttl")
        legs, leg_qty = _first(form, "iceberg_legs"), _first(form, "iceberg_quantity")
        if variety == "iceberg" and (legs is None or leg_qty is None):
            raise KiteError(400, "InputException", "Iceberg orders need `iceberg_legs` and `iceberg_quantity`.")
        if variety == "amo" and self.market.is_open:
            raise KiteError(400, "InputException", "AMO orders can be placed only after market hours.")
        if variety != "amo" and self.market.finished:
            raise KiteError(400, "InputException", "Markets are closed right now. Use GTT or AMO for orders outside market hours.")
        with self._lock:
            for i, (n, msg) in enumerate(self.sync_rejects):
                if n > 0:
                    self.sync_rejects[i] = (n - 1, msg)
                    raise KiteError(400, "InputException", msg)
        inst = self._instrument(exchange, symbol)
        req = OrderRequest(
            exchange=exchange, tradingsymbol=symbol, side=side, quantity=qty, order_type=otype, product=product,
            price=_first(form, "price"), trigger_price=_first(form, "trigger_price"), validity=validity,
            validity_ttl=_int(ttl, "validity_ttl") if ttl is not None else None,
            variety=variety, disclosed_quantity=_int(_first(form, "disclosed_quantity", 0), "disclosed_quantity"), tag=tag,
            market_protection=Decimal(mp_raw) if mp_raw is not None else None,
            iceberg_legs=_int(legs, "iceberg_legs") if legs is not None else None,
            iceberg_quantity=_int(leg_qty, "iceberg_quantity") if leg_qty is not None else None,
        )
        reject = None
        with self._lock:
            for i, (n, msg) in enumerate(self.async_rejects):
                if n > 0:
                    self.async_rejects[i] = (n - 1, msg)
                    reject = msg
                    break
        with self._lock:
            old = self.broker.reject_all
            if reject:
                self.broker.reject_all = reject
            try:
                oid = self.broker.place_order(tag or "", req)
            except BrokerRejected as e:
                raise KiteError(400, "InputException" if e.code == 400 else "OrderException", e.broker_message or str(e)) from None
            finally:
                self.broker.reject_all = old
            self._meta[oid] = _Meta(
                placed_at=self.market.now, variety=variety, validity=req.validity.value, validity_ttl=req.validity_ttl,
                disclosed_quantity=req.disclosed_quantity, market_protection=mp, tag=tag, algo_id=_first(form, "algo_id"),
                instrument_token=inst.instrument_token, iceberg_legs=req.iceberg_legs, iceberg_quantity=req.iceberg_quantity,
                guid=_secrets.token_hex(6),
            )
            self.placements.append((oid, tag))
        return {"order_id": oid}

    def _row(self, order_id: str) -> BrokerOrder:
        for row in self.broker.orders():
            if row.broker_order_id == order_id:
                return row
        raise KiteError(400, "InputException", "Invalid `order_id`.")

    def _request_of(self, row: BrokerOrder, meta: _Meta) -> OrderRequest:
        return OrderRequest(
            exchange=row.exchange, tradingsymbol=row.tradingsymbol, side=row.side, quantity=row.quantity,
            order_type=row.order_type, product=row.product, price=row.price, trigger_price=row.trigger_price,
            validity=meta.validity, validity_ttl=meta.validity_ttl, variety=meta.variety,
            disclosed_quantity=meta.disclosed_quantity, tag=meta.tag,
            market_protection=Decimal(str(meta.market_protection)) if meta.market_protection else None,
            iceberg_legs=meta.iceberg_legs, iceberg_quantity=meta.iceberg_quantity,
        )

    def r_modify(self, variety, order_id, form, **_):
        with self._lock:
            row = self._row(order_id)
            meta = self._meta[order_id]
            if row.status in FINAL:
                raise KiteError(400, "OrderException", f"Order cannot be modified as it is {row.status.lower()}.")
            if meta.modifications >= MAX_MODIFICATIONS:
                raise KiteError(400, "OrderException", "Maximum allowed order modifications exceeded.")
            base = self._request_of(row, meta)
            otype = OrderType.parse(_first(form, "order_type", base.order_type.value), "order_type")
            changes: dict = {"order_type": otype}
            if _first(form, "quantity") is not None:
                changes["quantity"] = _int(_first(form, "quantity"), "quantity")
            price, trig = _first(form, "price"), _first(form, "trigger_price")
            changes["price"] = Decimal(price) if price is not None else (base.price if otype in (OrderType.LIMIT, OrderType.SL) else None)
            changes["trigger_price"] = (Decimal(trig) if trig is not None
                                        else (base.trigger_price if otype in (OrderType.SL, OrderType.SLM) else None))
            if _first(form, "validity") is not None:
                changes["validity"] = Validity.parse(_first(form, "validity"), "validity")
            if _first(form, "disclosed_quantity") is not None:
                changes["disclosed_quantity"] = _int(_first(form, "disclosed_quantity"), "disclosed_quantity")
            mp_raw = _first(form, "market_protection")
            if mp_raw is not None:
                changes["market_protection"] = Decimal(mp_raw)
            new = base.with_changes(**changes)
            new = OrderRequest.from_dict(new.to_dict())  # re-validate the combination
            if new.is_market and (new.market_protection is None or new.market_protection == 0):
                raise KiteError(400, "InputException", MSG_NO_PROTECTION)
            self._modifying.add(order_id)
            try:
                self.broker.modify_order(order_id, new)
            except BrokerRejected as e:
                raise KiteError(400, "OrderException", e.broker_message or str(e)) from None
            finally:
                self._modifying.discard(order_id)
            meta.modifications += 1
            meta.modified_at = self.market.now
            if new.market_protection is not None:
                meta.market_protection = float(new.market_protection)
            meta.validity, meta.disclosed_quantity = new.validity.value, new.disclosed_quantity
        return {"order_id": order_id}

    def r_cancel(self, variety, order_id, **_):
        with self._lock:
            row = self._row(order_id)
            if row.status in FINAL:
                raise KiteError(400, "OrderException", f"Order cannot be cancelled as it is {row.status.lower()}.")
            try:
                self.broker.cancel_order(order_id, Variety.parse(variety, "variety"))
            except BrokerRejected as e:
                raise KiteError(400, "OrderException", e.broker_message or str(e)) from None
        return {"order_id": order_id}

    def order_json(self, row: BrokerOrder, meta: _Meta, status: str | None = None) -> dict:
        st = status or row.status
        if meta.variety == "amo" and st == "OPEN" and not self.market.started:
            st = "AMO REQ RECEIVED"
        tags = [meta.tag] if meta.tag else []
        if row.order_type in (OrderType.MARKET, OrderType.SLM) and meta.market_protection:
            tags += ["mktp", f"mktp:{meta.market_protection:.2f}"]
        tags += meta.system_tags
        m: dict = {}
        if meta.variety == "iceberg" and meta.iceberg_legs:
            m = {"iceberg": {"leg": 1, "legs": meta.iceberg_legs, "leg_quantity": meta.iceberg_quantity,
                             "total_quantity": row.quantity, "remaining_quantity": row.quantity - row.filled_quantity}}
            live = self.broker._orders.get(row.broker_order_id)  # the paper exchange's live leg (issue 15)
            ice = live.meta.get("iceberg") if live is not None else None
            if ice:
                m["iceberg"] = {k: ice[k] for k in ("leg", "legs", "leg_quantity", "total_quantity", "remaining_quantity")}
        if meta.gtt is not None:
            m["gtt"] = meta.gtt
        ts = meta.modified_at or meta.placed_at
        exch_ts = row.timestamp if row.exchange_order_id else None
        return {
            "account_id": self.user_id, "placed_by": self.user_id, "terminal_id": None,
            "order_id": row.broker_order_id, "exchange_order_id": row.exchange_order_id,
            "parent_order_id": row.parent_order_id, "status": st, "status_message": row.status_message,
            "status_message_raw": row.status_message, "order_timestamp": _fmt(ts),
            "exchange_update_timestamp": _fmt(exch_ts), "exchange_timestamp": _fmt(exch_ts),
            "variety": meta.variety, "modified": meta.modifications > 0, "exchange": row.exchange.value,
            "tradingsymbol": row.tradingsymbol, "instrument_token": meta.instrument_token,
            "order_type": row.order_type.value, "transaction_type": row.side.value, "validity": meta.validity,
            "validity_ttl": meta.validity_ttl or 0, "product": row.product.value, "quantity": row.quantity,
            "disclosed_quantity": meta.disclosed_quantity, "price": _num(row.price), "trigger_price": _num(row.trigger_price),
            "average_price": _num(row.average_price), "filled_quantity": row.filled_quantity,
            "pending_quantity": row.pending_quantity, "cancelled_quantity": row.cancelled_quantity,
            "market_protection": _num(meta.market_protection), "meta": m, "tag": meta.tag, "tags": tags, "guid": meta.guid,
        }

    def r_orders(self, **_):
        out = []
        for row in self.broker.orders():
            meta = self._meta.get(row.broker_order_id)
            if meta is not None:
                out.append(self.order_json(row, meta))
        return out

    def r_order_history(self, order_id, **_):
        row = self._row(order_id)
        meta = self._meta[order_id]
        hist = self.broker.order_history(order_id)
        out = []
        for k, (ts, status, message) in enumerate(hist):
            last = k == len(hist) - 1
            snap = self.order_json(row, meta, status)
            if not last:
                snap.update(filled_quantity=0 if status not in FINAL else row.filled_quantity, average_price=0,
                            pending_quantity=row.quantity, cancelled_quantity=0)
                if status in ("PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"):
                    snap.update(exchange_order_id=None, exchange_timestamp=None, exchange_update_timestamp=None)
            snap["status_message"] = message if message is not None else (row.status_message if last else None)
            snap["order_timestamp"] = _fmt(ts)
            for key in ("tags", "guid", "account_id", "terminal_id"):
                snap.pop(key, None)
            out.append(snap)
        return out

    def _exchange_ids(self) -> dict[str, str | None]:
        return {r.broker_order_id: r.exchange_order_id for r in self.broker.orders()}

    def _trade_json(self, t: BrokerTrade, eids: dict[str, str | None] | None = None) -> dict:
        meta = self._meta.get(t.broker_order_id)
        row_eid = (eids if eids is not None else self._exchange_ids()).get(t.broker_order_id)
        return {
            "trade_id": t.trade_id, "order_id": t.broker_order_id, "exchange": t.exchange.value,
            "tradingsymbol": t.tradingsymbol,
            "instrument_token": meta.instrument_token if meta else self._instrument(t.exchange.value, t.tradingsymbol).instrument_token,
            "product": t.product.value, "average_price": _num(t.price), "quantity": t.quantity,
            "exchange_order_id": row_eid, "transaction_type": t.side.value, "fill_timestamp": _fmt(t.timestamp),
            "order_timestamp": t.timestamp.astimezone(IST).strftime("%H:%M:%S"), "exchange_timestamp": _fmt(t.timestamp),
        }

    def r_trades(self, **_):
        eids = self._exchange_ids()  # once, not per trade: the trade book stays fast on a long day
        return [self._trade_json(t, eids) for t in self.broker.trades()]

    def r_order_trades(self, order_id, **_):
        self._row(order_id)
        eids = self._exchange_ids()
        return [self._trade_json(t, eids) for t in self.broker.trades() if t.broker_order_id == order_id]

