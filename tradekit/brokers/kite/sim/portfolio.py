"""The sandbox's funds, portfolio, margin and charges routes: ``/user/margins``, positions, holdings,
``/margins/orders``, ``/margins/basket`` (the SPAN-like estimate paper uses) and ``/charges/orders``.

Mixed into :class:`~tradekit.brokers.kite.sim.app.KiteSimApp` (its ``broker``, ``market``,
``instruments``, ``charges``, ``margin_config`` and ``_opening_cash``).
"""

from __future__ import annotations

import json
from decimal import Decimal

from tradekit.brokers.kite.sim.wire import KiteError, _first, _int, charges_json
from tradekit.errors import ValidationError
from tradekit.model.charges import Charges
from tradekit.model.enums import Exchange, Product, Side
from tradekit.model.money import ZERO, dec


class SimPortfolioRoutes:
    """Mixed into :class:`~tradekit.brokers.kite.sim.app.KiteSimApp`."""

    def _segment_block(self, equity: bool) -> dict:
        if equity:
            f = self.broker.funds()
            opening = float(self._opening_cash if self._opening_cash is not None else f.cash)
            avail, used, cash = float(f.available), float(f.utilised), float(f.cash)
        else:
            opening = avail = used = cash = 0.0
        return {
            "enabled": True, "net": avail,
            "available": {"adhoc_margin": 0, "cash": cash, "opening_balance": opening, "live_balance": avail,
                          "collateral": 0, "intraday_payin": 0},
            "utilised": {"debits": used, "exposure": 0, "m2m_realised": 0, "m2m_unrealised": 0, "option_premium": 0,
                         "payout": 0, "span": used, "holding_sales": 0, "turnover": 0, "liquid_collateral": 0,
                         "stock_collateral": 0, "delivery": 0},
        }

    def r_margins(self, **_):
        return {"equity": self._segment_block(True), "commodity": self._segment_block(False)}

    def r_margins_segment(self, segment, **_):
        if segment not in ("equity", "commodity"):
            raise KiteError(400, "InputException", "Invalid segment. Should be `equity` or `commodity`.")
        return self._segment_block(segment == "equity")

    # -- portfolio ------------------------------------------------------------------------------------
    def _last(self, key: str) -> tuple[float, float]:
        s = self.market.get(key)
        if s is None:
            lp = self.broker.last_price(key) or 0.0
            return lp, lp
        return s.last, s.prev_close

    def r_positions(self, **_):
        flows: dict[tuple, dict] = {}
        for t in self.broker.trades():
            k = (t.exchange.value, t.tradingsymbol, t.product.value)
            f = flows.setdefault(k, {"bq": 0, "bv": ZERO, "sq": 0, "sv": ZERO})
            if t.side is Side.BUY:
                f["bq"] += t.quantity
                f["bv"] += t.price * t.quantity
            else:
                f["sq"] += t.quantity
                f["sv"] += t.price * t.quantity
        net, day = [], []
        positions = {(p.exchange.value, p.tradingsymbol, p.product.value): p for p in self.broker.positions()}
        for k in sorted(set(positions) | set(flows)):
            p = positions.get(k)
            f = flows.get(k, {"bq": 0, "bv": ZERO, "sq": 0, "sv": ZERO})
            inst = self._instrument(k[0], k[1])
            mult = inst.multiplier
            last, close = self._last(inst.key)
            qty = p.quantity if p is not None else f["bq"] - f["sq"]
            overnight = p.overnight_quantity if p is not None else 0
            avg = float(p.average_price) if p is not None else 0.0
            realised = float(p.realised) if p is not None else 0.0
            bq, bv, sq, sv = f["bq"], float(f["bv"]), f["sq"], float(f["sv"])

            def row(quantity, bq, bv, sq, sv, overnight):
                value = (sv - bv) * mult
                pnl = value + quantity * last * mult
                return {
                    "tradingsymbol": k[1], "exchange": k[0], "instrument_token": inst.instrument_token, "product": k[2],
                    "quantity": quantity, "overnight_quantity": overnight, "multiplier": mult,
                    "average_price": avg if quantity else 0, "close_price": close, "last_price": last, "value": value,
                    "pnl": pnl, "m2m": pnl, "unrealised": pnl - realised, "realised": realised,
                    "buy_quantity": bq, "buy_price": bv / bq if bq else 0, "buy_value": bv, "buy_m2m": bv,
                    "sell_quantity": sq, "sell_price": sv / sq if sq else 0, "sell_value": sv, "sell_m2m": sv,
                    "day_buy_quantity": bq, "day_buy_price": bv / bq if bq else 0, "day_buy_value": bv,
                    "day_sell_quantity": sq, "day_sell_price": sv / sq if sq else 0, "day_sell_value": sv,
                }

            net.append(row(qty, bq, bv, sq, sv, overnight))
            if bq or sq:
                day.append(row(bq - sq, bq, bv, sq, sv, 0))
        return {"net": net, "day": day}

    def r_holdings(self, **_):
        out = []
        for h in self.broker.holdings():
            inst = self._instrument(h.exchange.value, h.tradingsymbol)
            last, close = self._last(inst.key)
            qty = h.quantity + h.t1_quantity
            avg = float(h.average_price)
            out.append({
                "tradingsymbol": h.tradingsymbol, "exchange": h.exchange.value, "instrument_token": inst.instrument_token,
                "isin": "", "product": "CNC", "price": 0, "quantity": h.quantity, "used_quantity": 0,
                "t1_quantity": h.t1_quantity, "realised_quantity": h.quantity, "authorised_quantity": 0,
                "authorised_date": "", "authorisation": {}, "opening_quantity": h.quantity, "short_quantity": 0,
                "collateral_quantity": 0, "collateral_type": "", "discrepancy": False, "average_price": avg,
                "last_price": last, "close_price": close, "pnl": (last - avg) * qty, "day_change": last - close,
                "day_change_percentage": (last - close) * 100 / close if close else 0,
                "mtf": {"quantity": 0, "used_quantity": 0, "average_price": 0, "value": 0, "initial_margin": 0},
            })
        return out

    def r_auctions(self, **_):
        return []

    # -- margins and charges ----------------------------------------------------------------------------
    def _order_items(self, body: bytes) -> list[dict]:
        try:
            items = json.loads(body or b"[]")
        except ValueError:
            raise KiteError(400, "InputException", "Invalid JSON body.") from None
        if not isinstance(items, list):
            raise KiteError(400, "InputException", "The body must be a JSON list of orders.")
        return items

    def _charges(self, inst, product: str, side: str, qty: int, price: Decimal) -> Charges:
        if self.charges is None or price <= 0:
            return Charges()
        return self.charges(inst, Product.parse(product, "product"), Side.parse(side, "transaction_type"), qty, price,
                            self.market.trade_date, ZERO)

    def _margin_block(self, item: dict) -> dict:
        for name in ("exchange", "tradingsymbol", "transaction_type", "product", "order_type", "quantity"):
            if item.get(name) in (None, ""):
                raise KiteError(400, "InputException", f"Missing `{name}`")
        inst = self._instrument(item["exchange"], item["tradingsymbol"])
        qty = _int(item["quantity"], "quantity")
        price = dec(item.get("price") or item.get("trigger_price") or self._last(inst.key)[0] or 0, "price")
        product = Product.parse(item["product"], "product")
        side = Side.parse(item["transaction_type"], "transaction_type")
        margin = float(self.broker.margin.required(inst, product, side, qty, price))
        value = float(price) * qty * inst.multiplier
        c = self._charges(inst, product.value, side.value, qty, price)
        commodity = inst.exchange in (Exchange.MCX, Exchange.NCO)
        return {
            "type": "commodity" if commodity else "equity", "tradingsymbol": inst.tradingsymbol,
            "exchange": inst.exchange.value, "span": 0, "exposure": 0, "option_premium": 0, "additional": 0, "bo": 0,
            "cash": 0, "var": margin, "pnl": {"realised": 0, "unrealised": 0},
            "leverage": round(value / margin, 2) if margin else 1, "charges": charges_json(c, inst.exchange.value, commodity),
            "total": margin,
        }

    def r_order_margins(self, body, **_):
        return [self._margin_block(i) for i in self._order_items(body)]

    def r_basket_margins(self, body, query=None, **_):
        """Kite's basket margins: ``initial`` = each order alone, ``final`` = with the spread benefit.

        F&O legs are priced by the same SPAN-like estimate paper uses (:func:`tradekit.options.margin.estimate`,
        its config ``margin_config``), so a rehearsal and paper agree; ``consider_positions`` (the client
        sends Python's ``True``/``False``) adds the account's open positions to the ``final`` group.
        Equity legs keep their per-order block in both. The basket-level ``charges`` are the orders'
        summed (Kite documents them as unreliable).
        """
        from tradekit.options.margin import MarginLeg, estimate

        items = self._order_items(body)
        blocks = [self._margin_block(i) for i in items]
        consider = str(_first(query or {}, "consider_positions", "False")).strip().lower() == "true"
        fno, fno_at = [], []
        for n, item in enumerate(items):
            inst = self._instrument(item["exchange"], item["tradingsymbol"])
            if inst.is_derivative:
                price = dec(item.get("price") or self._last(inst.key)[0] or 0, "price")
                fno.append(MarginLeg(inst, Side.parse(item["transaction_type"], "transaction_type"),
                                     _int(item["quantity"], "quantity"), price))
                fno_at.append(n)
        initial = {k: 0.0 for k in ("span", "exposure", "option_premium", "additional", "bo", "cash", "var", "total")}
        final = dict(initial)
        if fno:
            positions = []
            if consider:
                for p in self.broker.positions():
                    if p.quantity == 0:
                        continue
                    try:
                        pi = self._instrument(p.exchange.value, p.tradingsymbol)
                    except KiteError:
                        continue
                    if pi.is_derivative:
                        positions.append(MarginLeg(pi, Side.BUY if p.quantity > 0 else Side.SELL, abs(p.quantity),
                                                   p.average_price))

            def spot(key):
                lp = self._last(key)[0]
                if lp:
                    return lp
                raise KiteError(400, "InputException", f"No price for the underlying `{key}` to compute the margin.")

            try:
                est = estimate(fno, spot=spot, today=self.market.trade_date, config=self.margin_config,
                               positions=positions)
            except ValidationError as e:
                raise KiteError(400, "InputException", str(e)) from None
            for n, b in zip(fno_at, est.orders):
                kite_b = b.to_kite(charges=blocks[n]["charges"], leverage=1)
                blocks[n] = kite_b
            for k in ("span", "exposure", "option_premium", "additional"):
                initial[k] += float(getattr(est.initial, k))
                final[k] += float(getattr(est.final, k))
            initial["total"] += float(est.initial.total)
            final["total"] += float(est.final.total)
        for n, b in enumerate(blocks):
            if n in fno_at:
                continue
            for k in initial:
                initial[k] += b[k]
                final[k] += b[k]
        zero_charges = charges_json(Charges(), "")
        zero_charges["transaction_tax_type"] = ""
        agg = {"type": "", "tradingsymbol": "", "exchange": "", "pnl": {"realised": 0, "unrealised": 0},
               "leverage": 0, "charges": zero_charges}
        ch = {"transaction_tax": 0.0, "transaction_tax_type": "", "exchange_turnover_charge": 0.0, "sebi_turnover_charge": 0.0,
              "brokerage": 0.0, "stamp_duty": 0.0, "gst": {"igst": 0.0, "cgst": 0, "sgst": 0, "total": 0.0}, "total": 0.0}
        for b in blocks:
            c = b["charges"]
            for k in ("transaction_tax", "exchange_turnover_charge", "sebi_turnover_charge", "brokerage", "stamp_duty", "total"):
                ch[k] += c[k]
            ch["gst"]["igst"] += c["gst"]["igst"]
            ch["gst"]["total"] += c["gst"]["total"]
        return {"initial": {**agg, **initial}, "final": {**agg, **final, "charges": dict(zero_charges)}, "orders": blocks,
                "charges": ch}

    def r_charges(self, body, **_):
        out = []
        for item in self._order_items(body):
            for name in ("exchange", "tradingsymbol", "transaction_type", "product", "quantity", "average_price"):
                if item.get(name) in (None, ""):
                    raise KiteError(400, "InputException", f"Missing `{name}`")
            price = dec(item["average_price"], "average_price")
            if price <= 0:
                raise KiteError(400, "InputException", "`average_price` must be greater than 0.")
            inst = self._instrument(item["exchange"], item["tradingsymbol"])
            qty = _int(item["quantity"], "quantity")
            c = self._charges(inst, item["product"], item["transaction_type"], qty, price)
            out.append({
                "transaction_type": item["transaction_type"], "tradingsymbol": inst.tradingsymbol,
                "exchange": inst.exchange.value, "variety": item.get("variety", "regular"), "product": item["product"],
                "order_type": item.get("order_type", "MARKET"), "quantity": qty, "price": float(price),
                "charges": charges_json(c, inst.exchange.value, inst.exchange in (Exchange.MCX, Exchange.NCO)),
            })
        return out
