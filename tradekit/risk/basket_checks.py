"""The risk gate's checks of a multi-leg basket as a whole (issue 21).

Before a basket is proposed, :func:`check_basket` runs:

- per leg, the instrument rules the gate applies to every order (``TICK``, ``LOT``, ``FREEZE`` —
  above the freeze quantity a leg is sliced, not refused, unless ``risk.rules.freeze: deny`` —
  ``FNO_BAN`` from the gate's lists, and the trading ``STATE``: a basket opens positions, so
  only ACTIVE passes);
- for the basket: ``BASKET_MARGIN`` (the margin the broker would block, plus
  ``baskets.margin_buffer_pct``, fits in the available funds), ``PREMIUM_AT_RISK`` (the net
  debit is within ``baskets.max_premium_at_risk``) and ``MAX_LOSS`` (the max loss at expiry is
  bounded and within ``baskets.max_loss``).

Every leg is still checked by the full gate when it is submitted (funds, limits, rate).
Results are :class:`~tradekit.risk.base.CheckResult` rows, journaled with ``basket.created``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tradekit.model.order import OrderRequest
from tradekit.risk import _rules as rules
from tradekit.risk.base import CheckResult

LEG_CODES = ("STATE", "TICK", "LOT", "FREEZE", "FNO_BAN")


def _inr(x: Decimal) -> str:
    return f"₹{x:,.2f}"


def leg_checks(gate, request: OrderRequest, inst, day: date, label: str) -> list[CheckResult]:
    """The instrument-level checks of one leg (see the module docstring); ``label`` prefixes each message."""
    out: list[CheckResult] = []
    state = getattr(getattr(gate, "state", None), "value", "ACTIVE") if gate is not None else "ACTIVE"
    if state != "ACTIVE":
        out.append(CheckResult("STATE", False, f"{label}: trading state is {state}: no new baskets"))
    for code, r in (("TICK", rules.tick(request, inst, day)), ("LOT", rules.lot(request, inst))):
        out.append(CheckResult(code, False, f"{label}: {r.message}") if r is not None else CheckResult(code, True, label))
    deny = getattr(gate, "_freeze", "slice") == "deny"
    r, _size = rules.freeze(request, inst, day, deny=deny)
    out.append(CheckResult("FREEZE", r.ok, f"{label}: {r.message}") if r is not None else CheckResult("FREEZE", True, label))
    lists = getattr(gate, "lists", None)
    banned = (lists.fno_ban.get(day) if lists is not None and lists.fno_ban else None) or ()
    und = (inst.underlying or inst.name or "").upper()
    if und in {b.upper() for b in banned}:
        out.append(CheckResult("FNO_BAN", False, f"{label}: {und} is in the F&O ban on {day}: only position-reducing "
                                                 f"trades"))
    else:
        out.append(CheckResult("FNO_BAN", True, label))
    return out


def basket_checks(*, margin_blocked: Decimal, available: Decimal | None, net_premium: Decimal,
                  max_loss: Decimal | None, config) -> list[CheckResult]:
    """``BASKET_MARGIN``, ``PREMIUM_AT_RISK`` and ``MAX_LOSS`` (``config``: ``baskets:``)."""
    out = []
    need = margin_blocked * (1 + config.margin_buffer_pct / 100)
    if available is None:
        out.append(CheckResult("BASKET_MARGIN", True, f"margin {_inr(margin_blocked)}: available funds not known"))
    else:
        ok = need <= available
        out.append(CheckResult("BASKET_MARGIN", ok, f"the basket blocks {_inr(margin_blocked)}"
                               + (f" (+{config.margin_buffer_pct}% buffer)" if config.margin_buffer_pct else "")
                               + f"; {_inr(available)} available", float(need), float(available)))
    limit = config.max_premium_at_risk
    debit = max(net_premium, Decimal(0))
    if limit is None:
        out.append(CheckResult("PREMIUM_AT_RISK", True, f"net premium {_inr(net_premium)} (no limit)"))
    else:
        out.append(CheckResult("PREMIUM_AT_RISK", debit <= limit, f"premium at risk {_inr(debit)}, limit {_inr(limit)}",
                               float(debit), float(limit)))
    cap = config.max_loss
    if cap is None:
        out.append(CheckResult("MAX_LOSS", True, "max loss " + ("unbounded" if max_loss is None else _inr(max_loss))
                               + " (no limit)"))
    elif max_loss is None:
        out.append(CheckResult("MAX_LOSS", False, f"the max loss is unbounded; baskets.max_loss is {_inr(cap)}",
                               None, float(cap)))
    else:
        out.append(CheckResult("MAX_LOSS", max_loss <= cap, f"max loss {_inr(max_loss)}, limit {_inr(cap)}",
                               float(max_loss), float(cap)))
    return out
