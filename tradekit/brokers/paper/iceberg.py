"""Kite's iceberg variety in the paper exchange: one leg live at a time.

Zerodha's iceberg order (kite.md §Orders: ``iceberg_legs`` 2–10, ``iceberg_quantity`` the
quantity of each leg) puts only one leg at the exchange at a time; the next leg is placed after
the previous one fills. The paper exchange keeps the iceberg as one order (so the Broker
protocol's one order id holds), but lets only the live leg trade: a fill never takes more than
what is left of the current leg, and when a leg completes the next one arrives at the exchange
afresh (a new arrival time, after the exchange latency), so it trades on a later bar or tick —
never in the same match as the leg before it. ``SimOrder.meta["iceberg"]`` carries Kite's
``meta.iceberg`` fields: ``{leg, legs, leg_quantity, total_quantity, remaining_quantity}``.

Placement checks (Kite's RMS words): legs 2–10, the legs cover the quantity, each leg a lot
multiple and not above the freeze quantity (an iceberg is the way past the freeze limit).
"""

from __future__ import annotations

from tradekit.clock import dt_to_ns
from tradekit.model.enums import Variety

KEY = "iceberg"
_ICEBERG = Variety.ICEBERG  # a module constant: an Enum class attribute costs ~0.25 us per access (every placement asks)


def reject_reason(request, inst) -> str | None:
    """Why the broker refuses this iceberg order (``None``: it does not)."""
    if request.variety is not _ICEBERG:
        return None
    legs, leg_qty = request.iceberg_legs, request.iceberg_quantity
    if legs is None or not 2 <= legs <= 10:
        return "Iceberg orders need 2 to 10 legs."
    if leg_qty is None or leg_qty <= 0 or leg_qty * legs < request.quantity:
        return f"Iceberg legs ({legs} × {leg_qty}) do not cover the order quantity {request.quantity}."
    if leg_qty > request.quantity:
        return "Iceberg leg quantity cannot be more than the order quantity."
    if inst.lot_size > 1 and leg_qty % inst.lot_size:
        return f"Iceberg leg quantity should be a multiple of lot size ({inst.lot_size})."
    if inst.freeze_quantity and leg_qty > inst.freeze_quantity:
        return f"Iceberg leg quantity exceeds the freeze limit of {inst.freeze_quantity} for {inst.tradingsymbol}."
    return None


def start(order) -> None:
    """On acceptance: leg 1 is live."""
    r = order.request
    if r.variety is not _ICEBERG or not r.iceberg_quantity:
        return
    order.meta[KEY] = {"leg": 1, "legs": r.iceberg_legs, "leg_quantity": min(r.iceberg_quantity, r.quantity),
                       "total_quantity": r.quantity, "remaining_quantity": r.quantity, "leg_filled": 0}


def live_quantity(order) -> int:
    """What may trade now: the rest of the live leg (the whole remainder for other orders)."""
    m = order.meta.get(KEY) if order.meta else None
    if m is None:
        return order.remaining
    return max(0, min(order.remaining, m["leg_quantity"] - m["leg_filled"]))


def after_fill(order, qty: int, ts, latency_ns: int) -> None:
    """Book ``qty`` against the live leg; a completed leg releases the next one, arriving afresh."""
    m = order.meta.get(KEY) if order.meta else None
    if m is None:
        return
    m["leg_filled"] += qty
    m["remaining_quantity"] = order.remaining
    if m["leg_filled"] >= m["leg_quantity"] and order.remaining > 0:
        m["leg"] += 1
        m["leg_filled"] = 0
        m["leg_quantity"] = min(m["leg_quantity"], order.remaining) if m["leg"] < m["legs"] else order.remaining
        order.arrival_ns = dt_to_ns(ts) + latency_ns + 1  # placed after the previous leg filled
        order.chances = 0
