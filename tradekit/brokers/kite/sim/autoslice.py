"""``autoslice=true`` on ``POST /orders/{variety}``, as Kite serves it (kite.md §Orders, fixture
``autoslice_response.json``, ``orders.json``).

Kite splits a quantity above the exchange freeze limit into child orders of at most the freeze
quantity (a lot multiple), at most 10 of them (since April 2026). The answer is the whole
``data``: a parent ``order_id`` that is not itself an order in the book, and ``children``, one
entry per slice — ``{"order_id": ...}`` for a placed child, ``{"error": {code, error_type,
message, data}}`` for one refused at placement (the others stand). Each child is an ordinary
order in the order book whose ``tags`` carry ``autoslice`` and ``autoslice:<parent order id>``
(next to the order's own ``tag``). A slice the RMS refuses for funds is answered as a
``MarginException`` entry, as in the fixture (the refused order stays in the book, REJECTED). The official client's ``place_autoslice_order`` returns that
dict unchanged.
"""

from __future__ import annotations

import itertools

from tradekit.errors import DataError, MarketRuleError

MAX_SLICES = 10  # Kite caps autoslice at 10 slices (kite.md §12, since April 2026)
_parent_ids = itertools.count(1)


def place_autoslice(app, variety: str, form: dict) -> dict:
    """Place ``form`` as autoslice children through the app's own placement route."""
    from tradekit.brokers.kite.sim.app import KiteError, _int, _need
    from tradekit.market.rules import freeze_for, slice_quantity

    exchange, symbol = _need(form, "exchange"), _need(form, "tradingsymbol")
    qty = _int(_need(form, "quantity"), "quantity")
    if qty <= 0:
        raise KiteError(400, "InputException", "Invalid `quantity`.")
    inst = app._instrument(exchange, symbol)
    try:
        freeze = freeze_for(inst, app.market.now.date())
    except (DataError, MarketRuleError):
        freeze = None  # no published limit: nothing to slice against
    if freeze is None or qty <= freeze:
        sizes = [qty]
    else:
        try:
            sizes = slice_quantity(qty, freeze, max(1, inst.lot_size), max_slices=MAX_SLICES)
        except MarketRuleError as e:
            raise KiteError(400, "InputException", str(e)) from None
    parent = f"{1900000000000000000 + next(_parent_ids)}"
    children: list[dict] = []
    for q in sizes:
        child_form = {k: v for k, v in form.items() if k != "autoslice"}
        child_form["quantity"] = [str(q)]
        try:
            oid = app.r_place(variety, child_form)["order_id"]
        except KiteError as e:
            children.append({"error": {"code": e.status, "error_type": e.error_type, "message": e.message, "data": e.data}})
            continue
        with app._lock:
            app._meta[oid].system_tags = ["autoslice", f"autoslice:{parent}"]
            row = app._row(oid)
        if row.status == "REJECTED" and row.status_message and row.status_message.startswith("Insufficient funds"):
            # the RMS refuses a slice at placement: Kite answers it in the child's entry (fixture
            # autoslice_response.json: MarginException, code 400); the refused order stays in the book
            children.append({"error": {"code": 400, "error_type": "MarginException", "message": row.status_message,
                                       "data": None}})
            continue
        children.append({"order_id": oid})
    return {"order_id": parent, "children": children}
