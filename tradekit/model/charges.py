"""Charges: one readable breakdown of what a fill or a contract note costs."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal

from tradekit.model.money import PAISA, ZERO, dec, paise

COMPONENTS = ("brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst", "dp")


@dataclass(frozen=True, slots=True)
class Charges:
    """Components in rupees. ``stt`` holds STT or, for commodities, CTT.

    ``total`` is the sum of the components (each already rounded by whoever computed them).
    """

    brokerage: Decimal = ZERO
    stt: Decimal = ZERO
    exchange_txn: Decimal = ZERO
    sebi: Decimal = ZERO
    stamp_duty: Decimal = ZERO
    gst: Decimal = ZERO
    dp: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        # sum(components, ZERO), added in the same order, then rounded
        return (ZERO + self.brokerage + self.stt + self.exchange_txn + self.sebi + self.stamp_duty + self.gst
                + self.dp).quantize(PAISA, ROUND_HALF_UP)

    def __add__(self, other: "Charges") -> "Charges":
        if other.__class__ is not Charges and not isinstance(other, Charges):
            return NotImplemented
        return Charges(self.brokerage + other.brokerage, self.stt + other.stt, self.exchange_txn + other.exchange_txn,
                       self.sebi + other.sebi, self.stamp_duty + other.stamp_duty, self.gst + other.gst,
                       self.dp + other.dp)

    def minus(self, other: "Charges") -> "Charges":
        """Component by component ``self - other`` (what a fill added to a note)."""
        return Charges(self.brokerage - other.brokerage, self.stt - other.stt, self.exchange_txn - other.exchange_txn,
                       self.sebi - other.sebi, self.stamp_duty - other.stamp_duty, self.gst - other.gst,
                       self.dp - other.dp)

    def as_dict(self, *, with_total: bool = True) -> dict[str, str]:
        out = {c: f"{paise(getattr(self, c)):.2f}" for c in COMPONENTS}
        if with_total:
            out["total"] = f"{self.total:.2f}"
        return out

    @classmethod
    def from_dict(cls, d: dict | None) -> "Charges":
        if not d:
            return cls()
        return cls(**{f.name: dec(d.get(f.name, 0), f.name) for f in fields(cls)})


NO_CHARGES = Charges()
