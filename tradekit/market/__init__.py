"""Indian market rules: calendar and sessions, instruments, tick/lot/band/freeze, Zerodha charges.

Every fact comes from a dated table with its source in ``tradekit/market/data`` (see the
comments at the top of each file); what no source pins down is a setting in
:class:`~tradekit.market.config.MarketConfig`.

* :mod:`tradekit.market.calendar`: :class:`MarketCalendar` (trading days, phases,
  next open, time to close, MIS cut-off, AMO windows, each year's source and the
  provisional years), :func:`get_calendar`, :func:`calendar_for` (a config's calendar with
  the lists imported by ``tradekit calendar import``, :mod:`tradekit.market.calendar_import`).
* :mod:`tradekit.market.instruments`: :class:`InstrumentStore` (Kite dump loader, lookups,
  the day's cache, the bundled master).
* :mod:`tradekit.market.rules`: tick, lot, band and freeze checks for the risk gate.
* :mod:`tradekit.market.charges`: :func:`round_trip` (the calculator),
  :func:`fill_charges`, :class:`ContractNote`, :func:`charges_segment`.
"""

from tradekit.market.calendar import (
    CAS_START,
    AmoWindow,
    Holiday,
    Market,
    MarketCalendar,
    Phase,
    PhaseWindow,
    SessionTimes,
    SpecialSession,
    YearSource,
    calendar_for,
    get_calendar,
    market_of,
)
from tradekit.market.charges import (
    ChargeSegment,
    ContractNote,
    Rates,
    RateTable,
    RoundTrip,
    Trade,
    charges_exchange,
    charges_segment,
    contract_note,
    fill_charges,
    fill_charges_for,
    order_brokerage,
    rates_on,
    round_trip,
)
from tradekit.market.config import (
    FreezeLimitsConfig,
    MarketConfig,
    MisCutoffConfig,
    PriceBandConfig,
    SpecialSessionConfig,
)
from tradekit.market.instruments import InstrumentStore, instrument_cache_dir, parse_instruments
from tradekit.market.rules import (
    PriceBand,
    check_band,
    check_freeze,
    check_lot,
    check_tick,
    freeze_for,
    freeze_from_index_level,
    freeze_quantity,
    lot_size_for,
    max_order_quantity,
    needs_slicing,
    nse_equity_tick,
    price_band,
    reference_price,
    round_to_tick,
    slice_quantity,
    tick_size_for,
)

__all__ = [
    "CAS_START",
    "AmoWindow",
    "ChargeSegment",
    "ContractNote",
    "FreezeLimitsConfig",
    "Holiday",
    "InstrumentStore",
    "Market",
    "MarketCalendar",
    "MarketConfig",
    "MisCutoffConfig",
    "Phase",
    "PhaseWindow",
    "PriceBand",
    "PriceBandConfig",
    "RateTable",
    "Rates",
    "RoundTrip",
    "SessionTimes",
    "SpecialSession",
    "SpecialSessionConfig",
    "Trade",
    "YearSource",
    "calendar_for",
    "charges_exchange",
    "charges_segment",
    "check_band",
    "check_freeze",
    "check_lot",
    "check_tick",
    "contract_note",
    "fill_charges",
    "fill_charges_for",
    "freeze_for",
    "freeze_from_index_level",
    "freeze_quantity",
    "get_calendar",
    "instrument_cache_dir",
    "lot_size_for",
    "market_of",
    "max_order_quantity",
    "needs_slicing",
    "nse_equity_tick",
    "order_brokerage",
    "parse_instruments",
    "price_band",
    "rates_on",
    "reference_price",
    "round_to_tick",
    "round_trip",
    "slice_quantity",
    "tick_size_for",
]
