"""The ``market_data:`` config section: what the hub subscribes, how it marks, when a feed is stale.

Its base mirrors ``tradekit.config.schema.Section`` (unknown fields refused, frozen) without
importing it (``config/schema.py`` imports this module).

Index tokens: NSE:NIFTY 50 = 256265 (Kite instrument dump, tradekit's bundled master),
BSE:SENSEX = 265 (Kite instrument dump, BSE INDICES segment).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class QualitySettings(_Section):
    """Live data quality: what is quarantined before anyone trades on it."""

    enabled: bool = Field(True, description="run the checks (off: every tick is accepted as it comes)")
    band_check: bool = Field(True, description="quarantine a print outside the day's price band (circuit limits)")
    default_band_pct: float | None = Field(
        20.0, gt=0, le=100,
        description="when no circuit limits are known: a band this % around the previous close (null: no band check)")
    jump_sigmas: float = Field(10.0, gt=0, description="quarantine a move larger than this many recent tick sigmas ...")
    jump_min_pct: float = Field(2.0, gt=0, description="... and at least this % from the last accepted price")
    jump_min_ticks: int = Field(20, ge=2, description="ticks of a key before the sigma test applies (the % test alone before)")
    crossed_check: bool = Field(True, description="quarantine a quote whose best bid is above its best ask")
    order_check: bool = Field(True, description="drop a tick older (exchange time) than the last accepted one")
    confirm_ticks: int = Field(2, ge=1, description="consistent ticks after a quarantined one that confirm it")
    quarantine_seconds: float = Field(30.0, gt=0, description="an unconfirmed quarantined tick is dropped after this")


class MarketDataConfig(_Section):
    """Attributes
    ----------
    watchlist : list[str]
        ``EXCH:SYMBOL`` always subscribed, besides the instruments of the book.
    indices : dict[str, int]
        Index key -> instrument token; their ticks feed the market-wide circuit breaker with
        their previous close.
    mode : str
        Ticker mode: ``full`` (exchange timestamps, depth; needed for per-instrument staleness),
        ``quote`` or ``ltp``.
    mark_interval_seconds : float
        Journal at most one mark per instrument per this many seconds, and only on a price change.
    mark_batch_seconds : float
        The due marks of all instruments go into one ``mark`` event at most this often (one
        journal commit, not one per ticker frame).
    quote_wait_seconds : float
        A MARKET signal without a reference price waits this long for a first quote.
    stale_instrument_seconds : float
        A subscribed instrument with no update (exchange time, full mode) for this long while its
        segment is open is stale.
    failover_after_seconds : float
        Ticker silence (no packet: no tick, no heartbeat) after which the hub polls Kite's quote
        endpoint until the ticker is back. The stale-feed breaker (``risk.breakers.stale_feed_seconds``)
        trips only when no source delivers a packet for its own, longer, limit.
    failover_poll_seconds : float
        Interval between quote polls in failover (Kite allows 1 quote request/s).
    backfill : bool
        After a failover, fetch the gap's 1-minute candles from Kite's historical API.
    """

    watchlist: list[str] = Field(default_factory=list)
    indices: dict[str, int] = Field(default_factory=lambda: {"NSE:NIFTY 50": 256265, "BSE:SENSEX": 265})
    mode: Literal["ltp", "quote", "full"] = "full"
    mark_interval_seconds: float = Field(5.0, ge=0)
    mark_batch_seconds: float = Field(1.0, ge=0)
    quote_wait_seconds: float = Field(2.0, ge=0)
    stale_instrument_seconds: float = Field(120.0, gt=0)
    failover_after_seconds: float = Field(3.0, gt=0)
    failover_poll_seconds: float = Field(1.0, ge=1.0, description="Kite's quote endpoint: 1 request/s")
    failover_max_instruments: int = Field(500, ge=1, le=500, description="Kite's quote endpoint: 500 instruments/request")
    backfill: bool = True
    quality: QualitySettings = Field(default_factory=QualitySettings)

    @field_validator("watchlist")
    @classmethod
    def _keys(cls, v: list[str]) -> list[str]:
        out = []
        for k in v:
            ex, sep, sym = str(k).strip().partition(":")
            if not sep or not ex or not sym:
                raise ValueError(f"{k!r} is not EXCHANGE:SYMBOL (e.g. NSE:INFY)")
            out.append(f"{ex.upper()}:{sym.upper()}")
        return out

    @field_validator("indices")
    @classmethod
    def _index_keys(cls, v: dict[str, int]) -> dict[str, int]:
        out = {}
        for k, tok in v.items():
            ex, sep, sym = str(k).strip().partition(":")
            if not sep or not ex or not sym:
                raise ValueError(f"{k!r} is not EXCHANGE:SYMBOL (e.g. 'NSE:NIFTY 50')")
            if int(tok) <= 0:
                raise ValueError(f"{k}: instrument token must be positive")
            out[f"{ex.upper()}:{sym.upper()}"] = int(tok)
        return out
