"""The sandbox's ``GET /instruments[/<exchange>]``: the master as Kite's daily dump.

Faithful to Kite (kite.md §7): public (no token; Kite serves the dump without a session), CSV
with the header ``instrument_token, exchange_token, tradingsymbol, name, last_price, expiry,
strike, tick_size, lot_size, instrument_type, segment, exchange`` in that order, CRLF line ends,
``text/csv``; numbers written as Kite writes them (``0.0``, ``46000.0``, ``0.05``, ``75``), an
empty ``expiry`` for non-derivatives; ``exchange_token`` = ``instrument_token >> 8`` (the low
byte is the ticker's segment id); ``last_price`` the previous session's close where the
sandbox's market prices the instrument, else ``0.0``. An unknown exchange is Kite's 400.
"""

from __future__ import annotations

import csv
import io

from tradekit.market.instruments import COLUMNS


def instruments_csv(instruments, exchange: str | None = None, last_price=None) -> bytes:
    """The dump of ``instruments`` (optionally one exchange's); ``last_price(key)`` -> float or None."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for inst in instruments:
        if exchange and inst.exchange.value != exchange:
            continue
        if inst.meta.get("source") == "user":
            continue  # named by a user for a replay: not one of Kite's instruments
        lp = last_price(inst.key) if last_price is not None else None
        w.writerow([inst.instrument_token, inst.exchange_token or inst.instrument_token >> 8, inst.tradingsymbol,
                    inst.name, float(lp or 0.0), inst.expiry.isoformat() if inst.expiry else "",
                    float(inst.strike or 0), float(inst.tick_size), inst.lot_size, inst.instrument_type.value,
                    inst.segment.value, inst.exchange.value])
    return buf.getvalue().encode()
