"""Market settings a user may override: facts that change, or that no source pins down.

The bundled tables (``tradekit/market/data``) carry what india.md documents. This section
adds or replaces what is missing there, without a code change::

    market:
      holidays: {2027: [2027-01-26, ...]}     # a whole year's weekday holiday list
      extra_holidays: [2026-12-31]            # an ad hoc closure
      special_sessions:
        - date: 2026-11-08                    # Muhurat: timings not verified in the tables
          kind: muhurat
          equity: {pre-open: "17:45-18:00", normal: "18:00-19:00", post-close: "19:10-19:20"}
          fno: {normal: "18:00-19:00"}
          mis_cutoff: {equity: "18:45", fno: "18:50"}
      mis_cutoffs: {equity_cas: "15:10"}      # Zerodha's cut-off for CAS stocks (not verified)
      provisional: warn                       # a year with no published list: warn | refuse
      price_bands: {"NSE:INFY": {lower: 1250.70, upper: 1528.60}}
      freeze_limits:
        - {effective: 2026-09-01, limits: {NIFTY: 1800, BANKNIFTY: 600}, source: NSE/FAOP/...}
"""

from __future__ import annotations

import re
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MARKETS = ("equity", "fno", "currency", "commodity")
_WINDOW = re.compile(r"^\s*\d\d:\d\d\s*-\s*\d\d:\d\d\s*$")
PHASE_NAMES = (
    "block-deal",
    "pre-open",
    "pre-open-matching",
    "pre-open-buffer",
    "normal",
    "closing-auction-reference",
    "closing-auction",
    "closing-auction-matching",
    "post-close",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _to_time(v: object) -> object:
    # PyYAML reads an unquoted 15:20 as the base-60 integer 920
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 24 * 60:
        return time(v // 60, v % 60)
    return v


PhaseMap = dict[str, str | list[str]]


class SpecialSessionConfig(_Section):
    """A special session, or new timings for one in the tables (same ``date`` replaces it).

    Each market is ``"regular"`` (an ordinary day's phases), a map of phase name to
    ``"HH:MM-HH:MM"`` (or a list of them), or omitted (closed that day).
    """

    date: date
    kind: Literal["muhurat", "budget", "dr-test", "regular-saturday", "other"] = "other"
    source: str | None = None
    equity: Literal["regular"] | PhaseMap | None = None
    fno: Literal["regular"] | PhaseMap | None = None
    currency: Literal["regular"] | PhaseMap | None = None
    commodity: Literal["regular"] | PhaseMap | None = None
    trade_modification_end: time | None = None
    band_cap_pct: Decimal | None = Field(None, gt=0, le=100)
    mis_cutoff: dict[Literal["equity", "fno", "currency", "commodity"], time] = Field(
        default_factory=dict
    )
    cancelled: bool = Field(False, description="the session in the tables did not take place")

    @field_validator("trade_modification_end", mode="before")
    @classmethod
    def _time(cls, v: object) -> object:
        return _to_time(v)

    @field_validator("mis_cutoff", mode="before")
    @classmethod
    def _times(cls, v: object) -> object:
        return {k: _to_time(t) for k, t in v.items()} if isinstance(v, dict) else v

    @field_validator("equity", "fno", "currency", "commodity")
    @classmethod
    def _phases(cls, v: object) -> object:
        if isinstance(v, dict):
            for name, w in v.items():
                if name not in PHASE_NAMES:
                    raise ValueError(f"unknown phase {name!r}; phases are {', '.join(PHASE_NAMES)}")
                for one in w if isinstance(w, list) else [w]:
                    if not _WINDOW.match(one):
                        raise ValueError(f"{name}: {one!r} is not a window HH:MM-HH:MM")
        return v

    @model_validator(mode="after")
    def _some_market(self) -> SpecialSessionConfig:
        if not self.cancelled and not any(getattr(self, m) for m in MARKETS):
            raise ValueError(
                "give the phases of at least one market (equity, fno, currency, commodity), or cancelled: true"
            )
        return self


class MisCutoffConfig(_Section):
    """Zerodha's MIS square-off cut-offs (IST); ``None`` keeps the bundled table's value."""

    equity: time | None = Field(None, description="equity MIS cut-off, HH:MM IST")
    equity_cas: time | None = Field(
        None, description="stocks in the closing auction (from 2026-08-03); default: equity"
    )
    fno: time | None = Field(None, description="NFO/BFO MIS cut-off, HH:MM IST")
    currency: time | None = Field(None, description="CDS MIS cut-off, HH:MM IST")
    commodity_before_close_minutes: int | None = Field(None, ge=0, le=600, description="MCX: minutes before the "
                                                       "session's close")

    @field_validator("equity", "equity_cas", "fno", "currency", mode="before")
    @classmethod
    def _time(cls, v: object) -> object:
        return _to_time(v)


class PriceBandConfig(_Section):
    """A price band: absolute ``lower``/``upper``, or ``pct`` around the reference price."""

    lower: Decimal | None = Field(None, ge=0)
    upper: Decimal | None = Field(None, gt=0)
    pct: Decimal | None = Field(None, gt=0, le=100)

    @model_validator(mode="after")
    def _one_form(self) -> PriceBandConfig:
        if self.pct is None and self.lower is None and self.upper is None:
            raise ValueError("give lower/upper or pct")
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise ValueError(f"lower {self.lower} is not below upper {self.upper}")
        return self


class FreezeLimitsConfig(_Section):
    """Freeze limits (units per order) in force from ``effective``, e.g. a new NSE circular."""

    effective: date
    limits: dict[str, int]
    source: str | None = None

    @field_validator("limits")
    @classmethod
    def _positive(cls, v: dict[str, int]) -> dict[str, int]:
        bad = [k for k, q in v.items() if q <= 0]
        if bad:
            raise ValueError(f"freeze limits must be positive: {', '.join(bad)}")
        return {k.upper(): q for k, q in v.items()}


class MarketConfig(_Section):
    """The ``market`` section of the tradekit config.

    Parameters
    ----------
    holidays
        Complete weekday holiday lists by year; a year given here replaces the bundled one.
    extra_holidays
        Single closures added to whatever the tables say.
    special_sessions
        Special sessions to add, or new timings for one in the tables (same date).
    mis_cutoffs
        Overrides of Zerodha's MIS square-off times.
    cas_symbols
        Stocks in the closing auction session from 2026-08-03 (default: the stock
        underlyings of the bundled F&O lot table of 2026-08-18).
    price_bands
        Bands by ``EXCHANGE:TRADINGSYMBOL`` when no quote gives them.
    freeze_limits
        Dated freeze limits that extend the bundled table.
    mcx_evening_on_equity_holidays
        MCX trades from 17:00 on equity weekday holidays (india.md: "most" holidays).
    instrument_cache_dir
        Where the day's instrument dump is cached (default: ``<data_dir>/cache/instruments``).
    calendar_dir
        Where ``tradekit calendar import`` keeps imported holiday lists and special sessions
        (default: ``<data_dir>/calendar``).
    provisional
        A day of a year with no published holiday list runs on the provisional calendar
        (weekends and fixed-date holidays): ``warn`` (default) runs it with a warning in
        premarket, the report, the manifest and the dashboards; ``refuse`` fails the
        pre-market check on such a day, so neither ``tradekit run day`` nor the scheduler
        trades it until the year's list is imported.
    instruments
        Instruments no master knows, named by the user (``NSE:XYZ``, ``BSE:XYZ:EQ:tick=0.05``,
        ``NFO:XYZ26DECFUT:FUT:tick=0.10:lot=500``; :func:`tradekit.market.master.user_instrument`).
    """

    holidays: dict[int, list[date]] = Field(default_factory=dict)
    extra_holidays: list[date] = Field(default_factory=list)
    special_sessions: list[SpecialSessionConfig] = Field(default_factory=list)
    mis_cutoffs: MisCutoffConfig = Field(default_factory=MisCutoffConfig)
    cas_symbols: list[str] | None = None
    price_bands: dict[str, PriceBandConfig] = Field(default_factory=dict)
    freeze_limits: list[FreezeLimitsConfig] = Field(default_factory=list)
    mcx_evening_on_equity_holidays: bool = True
    instrument_cache_dir: Path | None = None
    calendar_dir: Path | None = None
    provisional: Literal["warn", "refuse"] = "warn"
    instruments: list[str] = Field(default_factory=list)

    @field_validator("instruments")
    @classmethod
    def _instrument_specs(cls, v: list[str]) -> list[str]:
        from tradekit.market.master import user_instrument

        for spec in v:
            try:
                user_instrument(spec, field="market.instruments")
            except Exception as e:  # noqa: BLE001 - a ValidationError, reported as the field's problem
                raise ValueError(getattr(e, "reason", None) or str(e)) from None
        return v

    @field_validator("holidays")
    @classmethod
    def _years(cls, v: dict[int, list[date]]) -> dict[int, list[date]]:
        for year, days in v.items():
            wrong = [d.isoformat() for d in days if d.year != year]
            if wrong:
                raise ValueError(f"{year}: {', '.join(wrong)} not in {year}")
        return v

    @field_validator("special_sessions")
    @classmethod
    def _unique(cls, v: list[SpecialSessionConfig]) -> list[SpecialSessionConfig]:
        seen: set[date] = set()
        for s in v:
            if s.date in seen:
                raise ValueError(f"{s.date}: two special sessions on one day")
            seen.add(s.date)
        return v

    @field_validator("price_bands")
    @classmethod
    def _keys(cls, v: dict[str, PriceBandConfig]) -> dict[str, PriceBandConfig]:
        for k in v:
            if ":" not in k:
                raise ValueError(f"{k!r}: key price bands by EXCHANGE:TRADINGSYMBOL, e.g. NSE:INFY")
        return {k.upper(): b for k, b in v.items()}

    @field_validator("cas_symbols")
    @classmethod
    def _upper(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [s.strip().upper() for s in v]
