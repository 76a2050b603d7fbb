"""The bundled real Kite dump of 2026-08-18 (NIFTY weekly options of 2026-08-18, lot 65; BANKNIFTY monthly of
2026-08-25, lot 30; every NFO future), plus — for calendars only — a NIFTY 2026-08-25 weekly call at 24,850
(the dump holds one expiry per underlying's options; this row is made here, in the dump's own shape)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cache

from tradekit.model.enums import Exchange, InstrumentType, Segment

SPOT = Decimal(24870)  # NIFTY: ATM is 24,850 (strikes every 50)
DAY = date(2026, 8, 17)
NEAR, FAR = date(2026, 8, 18), date(2026, 8, 25)
PX = {  # per-unit premiums, hand-picked round numbers
    "NFO:NIFTY2681824700PE": Decimal(40), "NFO:NIFTY2681824800PE": Decimal(70), "NFO:NIFTY2681824850PE": Decimal(95),
    "NFO:NIFTY2681824850CE": Decimal(120), "NFO:NIFTY2681824900CE": Decimal(90), "NFO:NIFTY2681825000CE": Decimal(30),
    "NFO:NIFTY2682524850CE": Decimal(200),
}


@cache
def master():
    from tradekit.market.instruments import InstrumentStore
    from tradekit.model.instrument import Instrument

    m = InstrumentStore.bundled(include_nfo_sample=True)
    m.add([Instrument(Exchange.NFO, "NIFTY2682524850CE", 987654 * 256 + 3, tick_size=Decimal("0.05"), lot_size=65,
                      segment=Segment.NFO_OPT, instrument_type=InstrumentType.CE, name="NIFTY", exchange_token=987654,
                      expiry=FAR, strike=Decimal(24850), underlying="NIFTY")])
    return m
