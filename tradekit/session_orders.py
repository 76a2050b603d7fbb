"""The Session's orders from signals and baskets: sizing, routing a signal to its path, the day's cut-offs.

A mixin of :class:`tradekit.session.Session` (split out of ``session.py`` by responsibility; every
method is still ``Session.x``): :meth:`~OrderRouting.submit_signal` is the signal pipeline's sink —
a basket signal (``meta.basket``, :mod:`tradekit.signals.basket_fields`) becomes one basket, a
conditional signal is armed, a bracket entry goes to the bracket manager, the rest through the OMS.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from decimal import ROUND_FLOOR

from tradekit.clock import IST
from tradekit.errors import ValidationError
from tradekit.model.enums import Validity
from tradekit.model.money import dec
from tradekit.model.order import Order, OrderRequest
from tradekit.model.signal import Signal

log = logging.getLogger("tradekit.session")

_DAY = Validity.DAY  # the default as the member: a request of six members skips the enum parsing


class OrderRouting:
    """Orders, signals and baskets of a :class:`~tradekit.session.Session` (its ``oms``, ``baskets``, ``market``...)."""

    def basket(self, strategy, *, name: str = "basket", premiums=None, spot=None, **kw):
        """A multi-leg basket as one decision (issue 21, :mod:`tradekit.execution.basket`): a
        :class:`~tradekit.options.strategies.Strategy` or a spec dict (``{"strategy": "iron_condor",
        "underlying": "NIFTY", ...}``); ``kw``: product, order_type, approval, policy, retries."""
        from tradekit.execution.basket import strategy_of

        return self.baskets.propose(strategy_of(self, strategy, premiums=premiums, spot=spot), name=name, **kw)

    def order_for_signal(self, signal: Signal) -> OrderRequest:
        """Turn a signal into an order request, applying its sizing rule when it has no quantity."""
        return self._order_and_lot(signal)[0]

    def _order_and_lot(self, signal: Signal) -> tuple[OrderRequest, int]:
        """:meth:`order_for_signal` and the instrument's lot (1 when unknown)."""
        qty = signal.quantity
        inst = self.instruments.get(signal.exchange, signal.tradingsymbol) if self.instruments is not None else None
        lot = inst.lot_size if inst is not None else 1
        if qty is None:
            qty = self._size(signal, lot)
        return OrderRequest(signal.exchange, signal.tradingsymbol, signal.side, qty, signal.order_type, signal.product,
                            price=signal.price, trigger_price=signal.trigger_price,
                            validity=signal.meta.get("validity", _DAY)), lot

    def _lot(self, signal: Signal) -> int:
        inst = self.instruments.find(signal.exchange, signal.tradingsymbol) if self.instruments is not None else None
        return inst.lot_size if inst is not None else 1

    def _size(self, signal: Signal, lot: int) -> int:
        rule = (signal.sizing or {}).get("rule")
        value = dec((signal.sizing or {}).get("value", 0), "sizing.value")
        price = signal.price or signal.reference_price or self.oms.last_price(signal.key)
        if not price:
            raise ValidationError("needs a price (limit, reference_price or a last price) to size the order", field="sizing")
        capital = self.book.starting_cash + self.book.net_pnl
        if rule == "fixed_value":
            budget = value
        elif rule == "capital_pct":
            budget = capital * value / 100
        elif rule == "risk_pct":
            stop = (signal.sizing or {}).get("stop") or signal.trigger_price
            if stop is not None:
                per_unit = abs(price - dec(stop, "sizing.stop"))
            elif self.risk is not None:  # no stop: risk.sizing.method measures one (ATR or realised vol)
                per_unit = dec(round(self.risk.stop_distance(signal.tradingsymbol, float(price), self.clock.now().date())[0], 4))
            else:
                raise ValidationError("risk_pct sizing needs a stop price", field="sizing.stop")
            if per_unit == 0:
                raise ValidationError("stop equals the price: risk per unit is zero", field="sizing.stop")
            scale = dec(self.risk.gate.scale if self.risk is not None else 1.0, "scale")  # regime / loss streak
            units = (capital * value / 100 * scale / per_unit).to_integral_value(ROUND_FLOOR)
            return _lots(int(units), lot, signal)
        else:
            raise ValidationError(f"unknown sizing rule {rule!r} (fixed_value, capital_pct, risk_pct)", field="sizing.rule")
        return _lots(int((budget / price).to_integral_value(ROUND_FLOOR)), lot, signal)

    def submit_signal(self, signal: Signal, route: str | None = None) -> Order:
        """The sink for the signal pipeline: size, then submit through the one path."""
        if signal.meta.get("basket") is not None:  # a multi-leg basket as one signal (tradekit/signals/basket_fields.py)
            from tradekit.execution.basket import propose_signal

            return propose_signal(self, signal, route)
        if signal.meta.get("condition") is not None:  # held until its trigger (tradekit.execution.conditions)
            return self.conditions_book.arm(signal, route)
        key = signal.key
        self.market.want([key], "signal")  # subscribed before its risk check
        if signal.price is None and signal.reference_price is None:
            self.market.wait_quote(key)  # live: up to market_data.quote_wait_seconds for a first quote
        if signal.reference_price is not None and self.market.last_price(key) is None:
            self.oms.mark(key, signal.reference_price)
        req, lot = self._order_and_lot(signal)
        if signal.meta.get("bracket"):  # stop / targets / trail: the entry of a bracket (tradekit/execution/brackets.py)
            return self.brackets.submit_signal(signal, req, route)
        algo_meta = None
        if signal.meta:  # issue 15: algo / iceberg fields (both read meta: nothing to do without one)
            algo = _algo_fields()
            # the lot of the instrument order_for_signal found (what _lot would look up again)
            req, algo_meta = algo.apply_slicing(req, signal, lot), algo.order_meta(signal)
        sizing = signal.sizing
        if sizing and sizing.get("stop") is not None:  # a stop: the daily-loss check's worst case for this order
            note = getattr(self.gate, "note_signal_stop", None)
            if note is not None:
                note(signal.signal_id, sizing["stop"])
        return self.oms.submit(req, strategy=signal.strategy, signal_id=signal.signal_id, approval=route, source="signal",
                               reference_price=signal.reference_price, meta=algo_meta)

    def protect(self, exchange: str, tradingsymbol: str, *, stop, target, quantity: int | None = None,
                product: str | None = None) -> str | None:
        """Protect an existing CNC/NRML position or holding with a GTT OCO at the broker (stop and
        target legs, both exiting it), kept while tradekit is down. Returns the GTT id (None: not
        placed now; journaled, and reconciliation places it once it can)."""
        if getattr(self, "gtt", None) is None:
            raise ValidationError("GTT protection is off (gtt.enabled: false) or the broker keeps no GTTs", field="gtt")
        return self.gtt.protect_holding(exchange, tradingsymbol, stop=stop, target=target, quantity=quantity, product=product)

    # -- market data and the day --------------------------------------------------------------------
    def mis_cutoff(self, instrument, day: date) -> datetime | None:
        """The broker's MIS square-off cut-off for this instrument's segment on ``day`` (cached per day)."""
        seg = getattr(instrument, "segment", None)
        key = (day, str(seg) if seg is not None else "EQ")
        hit = self._cutoffs.get(key)
        if hit is not None:
            return hit
        cut = datetime.combine(day, time(15, 20), IST)
        if self.calendar is not None:
            try:
                cut = self.calendar.mis_cutoff(day, instrument) if instrument is not None else self.calendar.mis_cutoff(day)
            except Exception as e:  # outside the calendar's tables: the equity cut-off
                log.debug("no MIS cut-off from the calendar for %s: %s", key, e)
        self._cutoffs[key] = cut
        return cut

    def mis_entry_cutoff(self, instrument, day: date) -> datetime | None:
        """No new MIS exposure after this: tradekit's own square-off or the broker's cut-off, whichever is first."""
        times = [t for t in (self.square_off_time(day), self.mis_cutoff(instrument, day)) if t is not None]
        return min(times) if times else None

    def square_off_time(self, day: date) -> datetime | None:
        t = self.config.execution.square_off_time
        if t is None:
            return None
        hh, mm = map(int, t.split(":"))
        return datetime.combine(day, time(hh, mm), IST)


_ALGO = None


def _algo_fields():
    """:mod:`tradekit.signals.algo_fields`, imported on first use (not on every signal)."""
    global _ALGO
    if _ALGO is None:
        from tradekit.signals import algo_fields

        _ALGO = algo_fields
    return _ALGO


def _lots(units: int, lot: int, signal: Signal) -> int:
    q = (units // lot) * lot
    if q <= 0:
        raise ValidationError(f"{signal.tradingsymbol}: the sizing rule gives less than one lot ({lot})", field="sizing")
    return q
