"""Charges: one readable breakdown of what a fill or a contract note costs."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal

from tradekit.model.money import PAISA, ZERO, dec, paise

COMPONENTS = ("brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst", "dp")


@dataclass(frozen=True, slots=True, init=False)
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

    def __init__(self, brokerage: Decimal = ZERO, stt: Decimal = ZERO, exchange_txn: Decimal = ZERO,
                 sebi: Decimal = ZERO, stamp_duty: Decimal = ZERO, gst: Decimal = ZERO, dp: Decimal = ZERO):
        # the generated frozen __init__, through the slots' own setters (about 0.5 us less; several
        # charges are built per fill)
        _set_brokerage(self, brokerage)
        _set_stt(self, stt)
        _set_exchange_txn(self, exchange_txn)
        _set_sebi(self, sebi)
        _set_stamp_duty(self, stamp_duty)
        _set_gst(self, gst)
        _set_dp(self, dp)

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
        out = {"brokerage": _text(self.brokerage), "stt": _text(self.stt), "exchange_txn": _text(self.exchange_txn),
               "sebi": _text(self.sebi), "stamp_duty": _text(self.stamp_duty), "gst": _text(self.gst),
               "dp": _text(self.dp)}
        if with_total:
            out["total"] = f"{self.total:.2f}"
        return out

    @classmethod
    def from_dict(cls, d: dict | None) -> "Charges":
        if not d:
            return cls()
        get = d.get
        return cls(*[dec(get(c, 0), c) for c in _FIELDS])


_FIELDS = tuple(f.name for f in fields(Charges))  # COMPONENTS, in the order of the constructor
_set_brokerage, _set_stt, _set_exchange_txn, _set_sebi, _set_stamp_duty, _set_gst, _set_dp = (
    Charges.__dict__[f].__set__ for f in _FIELDS)


def _text(x: Decimal) -> str:
    """``f"{paise(x):.2f}"``: ``str`` of the quantized Decimal, the same text (its exponent is exactly -2,
    which ``str`` writes without an exponent and with both places, as ``:.2f`` does) at a fifth of the cost."""
    if x.__class__ is Decimal:
        return str(x.quantize(PAISA, ROUND_HALF_UP))
    return f"{paise(x):.2f}"


NO_CHARGES = Charges()
