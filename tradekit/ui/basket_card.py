"""The basket section of an approval card (issue 21): the whole multi-leg basket on its head leg's card.

The head leg's ``order.created`` carries ``meta.basket.card`` (:mod:`tradekit.execution.basket`):
the legs in placement order, the payoff summary and the margin. :func:`basket_html` draws it —
the legs, the payoff diagram at expiry (an inline SVG, :meth:`tradekit.options.payoff.Payoff.svg`,
computed again from the legs), max profit and loss (*unbounded* said as such), breakevens, the
net premium and the margin the broker would block — so one approval covers the basket.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tradekit.model.enums import Exchange, InstrumentType, Segment, Side
from tradekit.model.instrument import Instrument
from tradekit.ui._common import esc, inr


def strategy_from_card(card: dict):
    """The card's legs as a :class:`~tradekit.options.strategies.Strategy` (no instrument master needed)."""
    from tradekit.options.strategies import Leg, Strategy

    legs = []
    for ld in card.get("legs") or ():
        kind = InstrumentType(ld["kind"])
        ex = Exchange(ld["exchange"])
        seg = Segment(f"{ex.value}-{'FUT' if kind is InstrumentType.FUT else 'OPT'}")
        inst = Instrument(ex, ld["tradingsymbol"], 0, lot_size=int(ld["lot_size"]), segment=seg, instrument_type=kind,
                          strike=None if ld.get("strike") in (None, "") else Decimal(ld["strike"]),
                          expiry=None if not ld.get("expiry") else date.fromisoformat(ld["expiry"]),
                          underlying=card.get("underlying"), multiplier=int(ld.get("multiplier") or 1))
        legs.append(Leg(inst, Side(ld["side"]), int(ld["lots"]),
                        None if ld.get("premium") in (None, "") else Decimal(ld["premium"])))
    spot = card.get("spot")
    return Strategy(card.get("name") or "basket", card.get("underlying") or "", tuple(legs),
                    None if spot in (None, "") else Decimal(str(spot)))


def _money(x, unbounded: str = "unbounded") -> str:
    return f"<b>{unbounded}</b>" if x in (None, "") else "₹" + inr(Decimal(str(x)), 0)


def basket_html(card: dict) -> str:
    """The basket on the card (HTML); a diagram that cannot be drawn is said, never faked."""
    p = card.get("payoff") or {}
    m = card.get("margin") or {}
    order = card.get("order") or list(range(len(card.get("legs") or ())))
    legs = card.get("legs") or []
    rows = []
    for n, i in enumerate(order):
        ld = legs[i]
        px = "" if ld.get("premium") in (None, "") else f" @ ₹{Decimal(ld['premium']):,.2f}"
        if ld.get("order_type") == "MARKET":  # a leg's own order type (a basket signal's leg may say)
            px = "MARKET" + (f" (≈ ₹{Decimal(ld['premium']):,.2f})" if px else "")
        rows.append(f'<tr class="tk-basket-leg"><td>{n + 1}</td><td><span class="tk-chip tk-chip-{esc(ld["side"])}">'
                    f'{esc(ld["side"])}</span></td><td>{ld["lots"]} × {ld["lot_size"]} = {ld["quantity"]}</td>'
                    f'<td>{esc(ld["exchange"])}:{esc(ld["tradingsymbol"])}</td><td>{esc(px)}</td></tr>')
    try:
        from tradekit.options.payoff import payoff

        svg = payoff(strategy_from_card(card)).svg()
    except Exception as e:  # noqa: BLE001 - the card says what it could not draw
        svg = f'<div class="tk-warn">payoff diagram unavailable: {esc(e)}</div>'
    net = Decimal(p["net_premium"]) if p.get("net_premium") not in (None, "") else None
    prem = "" if net is None else (f"net debit ₹{inr(net, 0)}" if net > 0 else f"net credit ₹{inr(-net, 0)}")
    bes = ", ".join(f"{Decimal(b):,.2f}" for b in p.get("breakevens") or ()) or "none"
    model = "" if p.get("exact", True) else f' <span class="tk-meta">({esc(p.get("model", "model"))})</span>'
    src = "Kite basket margins" if m.get("source") == "kite" else "SPAN-like estimate (baskets.margin)"
    failed = [c for c in card.get("checks") or () if not c.get("ok", True)]
    warn = "".join(f'<div class="tk-warn">{esc(c.get("message"))}</div>' for c in failed)
    return (f'<div class="tk-basket"><div class="tk-basket-title"><b>{esc(card.get("name", "basket"))}</b> on '
            f'{esc(card.get("underlying", ""))}' + (f' at {Decimal(str(card["spot"])):,.2f}' if card.get("spot") else "")
            + f' · {len(legs)} legs, one approval · buys first · on a failed leg: {esc(card.get("policy", ""))}'
            + (f' · signal {esc(card["signal_id"])}' if card.get("signal_id") else "") + '</div>'
            f'<table class="tk-basket-legs">{"".join(rows)}</table>{svg}'
            f'<div class="tk-basket-figures">max profit {_money(p.get("max_profit"))} · max loss '
            f'{_money(p.get("max_loss"))} · breakevens {esc(bes)} · {esc(prem)}{model}</div>'
            f'<div class="tk-basket-margin">margin blocked <b>{_money(m.get("final"), "unknown")}</b> '
            f'(without the spread benefit {_money(m.get("initial"), "unknown")}) · {esc(src)}</div>{warn}</div>')
