"""Position: average-cost book of one (strategy, instrument, product).

The book keeps the *open value* ``V`` (signed quantity × average price, exact) rather than a
rounded average price, so for any sequence of fills

    realized + unrealized == Σ cash flows + marked value

holds exactly (see ``tests/unit/model/test_position.py``); charges are kept apart and
subtracted for the net figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tradekit.model.charges import NO_CHARGES, Charges
from tradekit.model.enums import Exchange, Product, Side
from tradekit.model.money import ZERO, dec

_BUY = Side.BUY  # a module constant: an Enum class attribute costs ~0.25 us per access on Python 3.11


_FINE = Decimal("1e-10")


def position_key(strategy: str, exchange: Exchange | str, tradingsymbol: str, product: Product | str) -> str:
    return f"{strategy}|{exchange}|{tradingsymbol}|{product}"


@dataclass(slots=True)
class Position:
    strategy: str
    exchange: Exchange
    tradingsymbol: str
    product: Product
    multiplier: int = 1
    quantity: int = 0  # signed: > 0 long, < 0 short
    open_value: Decimal = ZERO  # signed quantity × average price, exact
    realized_pnl: Decimal = ZERO  # gross of charges
    charges: Charges = NO_CHARGES
    last_price: Decimal | None = None
    overnight_quantity: int = 0  # carried in from the previous session
    t1_quantity: int = 0  # CNC shares bought on the previous session, settling today (T+1)
    buy_quantity: int = 0
    buy_value: Decimal = ZERO
    sell_quantity: int = 0
    sell_value: Decimal = ZERO
    day_buy_quantity: int = 0
    day_buy_value: Decimal = ZERO
    day_sell_quantity: int = 0
    day_sell_value: Decimal = ZERO
    dividends: Decimal = ZERO
    fills: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return position_key(self.strategy, self.exchange, self.tradingsymbol, self.product)

    @property
    def instrument_key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def average_price(self) -> Decimal:
        if self.quantity == 0:
            return ZERO
        return self.open_value / self.quantity

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    @property
    def unrealized_pnl(self) -> Decimal:
        if self.quantity == 0 or self.last_price is None:
            return ZERO
        return (self.last_price * self.quantity - self.open_value) * self.multiplier

    @property
    def gross_pnl(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl

    @property
    def net_pnl(self) -> Decimal:
        return self.gross_pnl - self.charges.total + self.dividends

    @property
    def market_value(self) -> Decimal:
        px = self.last_price if self.last_price is not None else self.average_price
        return px * self.quantity * self.multiplier

    @property
    def day_quantity(self) -> int:
        return self.day_buy_quantity - self.day_sell_quantity

    def mark(self, price: Decimal | float | int) -> None:
        self.last_price = dec(price, "last_price")

    def apply_fill(self, side: Side, quantity: int, price: Decimal, charges: Charges = NO_CHARGES) -> Decimal:
        """Book a fill; return the realized P&L it produced (gross)."""
        if quantity <= 0:
            raise ValueError(f"fill quantity must be positive, {quantity} was received")
        price = dec(price, "price")
        m = self.multiplier
        buy = side is _BUY
        f = quantity * side.sign
        realized = ZERO
        if buy:
            self.buy_quantity += quantity
            self.buy_value += price * quantity * m
            self.day_buy_quantity += quantity
            self.day_buy_value += price * quantity * m
        else:
            self.sell_quantity += quantity
            self.sell_value += price * quantity * m
            self.day_sell_quantity += quantity
            self.day_sell_value += price * quantity * m
        q = self.quantity
        if q == 0 or (q > 0) == (f > 0):
            self.quantity = q + f
            self.open_value += price * f
        else:
            closed = min(abs(f), abs(q))
            sgn = 1 if q > 0 else -1
            # quantised so every later sum stays exact (28 significant digits hold ₹1e17 at 1e-10)
            removed = (self.open_value * closed / abs(q)).quantize(_FINE)
            realized = (price * closed * sgn - removed) * m
            self.realized_pnl += realized
            self.quantity = q - sgn * closed
            self.open_value -= removed
            rest = abs(f) - closed
            if self.quantity == 0:
                self.open_value = ZERO
            if rest:
                self.quantity = rest * side.sign
                self.open_value = price * self.quantity
        if charges is not NO_CHARGES or self.charges is not NO_CHARGES:
            self.charges = self.charges + charges
        # (else both are the zero singleton: their sum is seven Decimal("0"), NO_CHARGES itself to the
        # exponent; a position that never pays charges, as a broker's ledger keeps them, builds no Charges per fill)
        self.fills += 1
        if self.last_price is None:
            self.last_price = price
        return realized

    def add_charges(self, charges: Charges) -> None:
        self.charges = self.charges + charges

    @property
    def settled_quantity(self) -> int:
        """CNC shares in the demat account (T+1 settled); for other products, 0."""
        if self.product is not Product.CNC or self.quantity <= 0:
            return 0
        today = max(0, self.day_buy_quantity - self.day_sell_quantity)
        return max(0, self.quantity - self.t1_quantity - today)

    def roll_day(self) -> None:
        """Start a new session: today's net becomes tomorrow's overnight quantity.

        CNC: yesterday's T1 shares settle, and today's net buys become T1 (T+1 settlement).
        """
        if self.product is Product.CNC:
            self.t1_quantity = min(max(self.quantity, 0), max(0, self.day_buy_quantity - self.day_sell_quantity))
        self.overnight_quantity = self.quantity
        self.day_buy_quantity = self.day_sell_quantity = 0
        self.day_buy_value = self.day_sell_value = ZERO

    # Corporate actions (exchange adjusts on the ex-date; see india.md §8).
    def apply_split(self, ratio: int | Decimal) -> None:
        """Split 1:n — quantity × n, average ÷ n, cost unchanged."""
        self._scale_quantity(dec(ratio, "ratio"))

    def apply_bonus(self, new: int, held: int) -> None:
        """Bonus a:b — quantity × (a+b)/b, average ÷ the same; cost unchanged."""
        self._scale_quantity(Decimal(new + held) / Decimal(held))

    def apply_dividend(self, per_share: Decimal | float | int) -> Decimal:
        """Cash dividend on a long holding: income, no change to quantity or average."""
        amount = dec(per_share, "per_share") * max(self.quantity, 0) * self.multiplier
        self.dividends += amount
        return amount

    def _scale_quantity(self, factor: Decimal) -> None:
        new_q = Decimal(self.quantity) * factor
        if new_q != new_q.to_integral_value():
            # Fractional entitlements are paid in cash by the company; keep whole shares only.
            whole = int(new_q)
            frac_cost = (self.open_value * (new_q - whole) / new_q).quantize(_FINE) if new_q else ZERO
            self.open_value -= frac_cost
            new_q = Decimal(whole)
        self.quantity = int(new_q)
        self.overnight_quantity = int(Decimal(self.overnight_quantity) * factor)
        self.t1_quantity = int(Decimal(self.t1_quantity) * factor)
        if self.last_price is not None:
            self.last_price = self.last_price / factor
