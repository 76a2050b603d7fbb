"""Instrument: what can be traded, with the rules the order path needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from tradekit.model.enums import Exchange, InstrumentType, Segment

# Enum members as module constants: an Enum class attribute (and ``.value``) costs ~0.25 us per access on
# Python 3.11, and the order path asks these properties several times per order
_DERIVATIVES = (InstrumentType.FUT, InstrumentType.CE, InstrumentType.PE)
_OPTIONS = (InstrumentType.CE, InstrumentType.PE)
_INDICES = Segment.INDICES


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable contract, as the day's Kite instrument dump describes it.

    ``lot_size`` and ``tick_size`` belong to this contract (old contracts keep old lots);
    ``freeze_quantity`` is the exchange's per-order limit (``None`` when not applicable).
    ``multiplier`` is the number of quotation units per traded unit (1 except commodities
    and currency, where contract value = price × quantity × multiplier).
    """

    exchange: Exchange
    tradingsymbol: str
    instrument_token: int
    tick_size: Decimal = Decimal("0.05")
    lot_size: int = 1
    segment: Segment = Segment.NSE
    instrument_type: InstrumentType = InstrumentType.EQ
    name: str = ""
    exchange_token: int = 0
    freeze_quantity: int | None = None
    expiry: date | None = None
    strike: Decimal | None = None
    underlying: str | None = None
    multiplier: int = 1
    meta: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def key(self) -> str:
        """``EXCHANGE:TRADINGSYMBOL``, the key Kite's quote endpoints use."""
        return f"{self.exchange._value_}:{self.tradingsymbol}"

    @property
    def is_derivative(self) -> bool:
        return self.instrument_type in _DERIVATIVES

    @property
    def is_option(self) -> bool:
        return self.instrument_type in _OPTIONS

    @property
    def is_index(self) -> bool:
        return self.segment is _INDICES

    def __str__(self) -> str:
        return self.key
