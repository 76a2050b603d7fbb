"""Positions: exact accounting identities over any sequence of fills."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tradekit.model import Charges, Position, Side

fills = st.lists(
    st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 500),
              st.decimals(min_value=Decimal("0.05"), max_value=Decimal("50000"), places=2),
              st.decimals(min_value=0, max_value=50, places=2)),
    min_size=1, max_size=40,
)


def pos(multiplier=1):
    return Position("s", "NSE", "INFY", "MIS", multiplier=multiplier)


@given(fills, st.decimals(min_value=Decimal("0.05"), max_value=Decimal("50000"), places=2), st.sampled_from([1, 1000]))
def test_realized_plus_unrealized_equals_cash_flows_plus_marked_value(fs, mark, m):
    p = pos(m)
    cash = Decimal(0)
    charges = Decimal(0)
    for side, q, px, ch in fs:
        p.apply_fill(side, q, px, Charges(brokerage=ch))
        cash += (-px if side is Side.BUY else px) * q * m
        charges += ch
    p.mark(mark)
    assert p.quantity == sum(q * s.sign for s, q, _, _ in fs)
    assert p.realized_pnl + p.unrealized_pnl == cash + mark * p.quantity * m
    assert p.net_pnl == cash + mark * p.quantity * m - charges


def test_flip_from_long_to_short_opens_at_the_fill_price():
    p = pos()
    p.apply_fill(Side.BUY, 10, Decimal("100"))
    r = p.apply_fill(Side.SELL, 15, Decimal("110"))
    assert r == Decimal("100") and p.quantity == -5 and p.average_price == Decimal("110")


def test_short_then_cover_realizes_the_difference():
    p = pos()
    p.apply_fill(Side.SELL, 10, Decimal("200"))
    p.apply_fill(Side.BUY, 4, Decimal("190"))
    assert p.realized_pnl == Decimal("40") and p.quantity == -6 and p.average_price == Decimal("200")


def test_bonus_keeps_cost_and_halves_average_like_reliance_2024():
    # india.md §8: 10 shares at 2,800 → 20 at 1,400; P&L at 1,327.85 is −1,443.00
    p = pos()
    p.apply_fill(Side.BUY, 10, Decimal("2800"))
    p.apply_bonus(1, 1)
    assert p.quantity == 20 and p.average_price == Decimal("1400")
    p.mark(Decimal("1327.85"))
    assert p.unrealized_pnl == Decimal("-1443.00")


def test_split_and_dividend():
    p = pos()
    p.apply_fill(Side.BUY, 10, Decimal("1000"))
    p.apply_split(5)
    assert p.quantity == 50 and p.average_price == Decimal("200")
    assert p.apply_dividend(Decimal("2.5")) == Decimal("125.0")
    assert p.average_price == Decimal("200")


def test_roll_day_moves_net_to_overnight():
    p = pos()
    p.apply_fill(Side.BUY, 10, Decimal("100"))
    p.roll_day()
    assert p.overnight_quantity == 10 and p.day_buy_quantity == 0
    p.apply_fill(Side.SELL, 4, Decimal("101"))
    assert p.day_quantity == -4 and p.quantity == 6


def test_a_position_that_never_pays_charges_keeps_the_zero_charges_exactly():
    """Fills without charges (a broker's own ledger) leave NO_CHARGES as it is: the same seven Decimal("0")
    that adding it to itself would give, to the exponent; the first real charges add up as before."""
    from decimal import Decimal

    from tradekit.model.charges import NO_CHARGES, Charges
    from tradekit.model.enums import Exchange, Product, Side
    from tradekit.model.position import Position

    p = Position("", Exchange.NSE, "INFY", Product.MIS)
    for side in (Side.BUY, Side.SELL, Side.SELL, Side.BUY):
        p.apply_fill(side, 5, Decimal("100.05"))
        assert repr(p.charges) == repr(NO_CHARGES + NO_CHARGES)
    c = Charges(brokerage=Decimal("20.00"), stt=Decimal("-0.00"))
    p.apply_fill(Side.BUY, 1, Decimal("100"), c)
    p.apply_fill(Side.SELL, 1, Decimal("100"))
    assert repr(p.charges) == repr(NO_CHARGES + c + NO_CHARGES)  # -0.00 + 0 is 0.00, as before
