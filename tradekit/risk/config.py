"""Risk configuration: the ``risk:`` section of a tradekit config file.

Every limit is documented where it is declared. Percent limits are of *capital*: the book's
starting cash (``capital_basis: starting``, default) or starting cash plus the P&L so far
(``equity``). A limit set to ``null`` is off. The defaults let a normal paper day on a
₹10 lakh account trade while still catching fat fingers, runaway loops and loss days.

Example::

    risk:
      loss: {max_daily_loss_pct: 1.5}
      exposure:
        max_concentration_pct: 20
        sector_map: {RELIANCE: energy, ONGC: energy, INFY: it, TCS: it}
      compliance:
        restricted: [YESBANK]
        fno_ban: {2026-11-24: [SAIL, RBLBANK]}
      breakers:
        actions: {stale_feed: HALTED}
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tradekit.errors import ConfigError
from tradekit.risk.greeks_limit import GreeksSettings

StateName = Literal["ACTIVE", "REDUCING", "HALTED"]
RestrictState = Literal["REDUCING", "HALTED"]
Trigger = Literal[
    "daily_loss", "drawdown", "volatility_spike", "reject_burst", "broker_errors", "stale_feed",
    "reconciliation", "mwcb", "index_move", "kill_switch",
]
TRIGGERS: tuple[str, ...] = Trigger.__args__  # type: ignore[attr-defined]

# SEBI's retail-algo threshold (orders per second per exchange segment, india.md §7.1).
SEBI_RETAIL_OPS = 10.0


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class InstrumentRules(_Section):
    """Exchange rules per instrument; the rules themselves live in ``tradekit.market.rules``."""

    tick: bool = Field(True, description="price and trigger must be a multiple of the tick size")
    lot: bool = Field(True, description="quantity must be a multiple of the lot size")
    band: bool = Field(True, description="price must be inside the day's circuit band (when known)")
    freeze: Literal["slice", "deny", "off"] = Field(
        "slice", description="above the freeze quantity: tell the OMS to slice (slice) or refuse (deny)")
    market_protection: bool = Field(
        True, description="MARKET and SL-M orders need market_protection (-1 or 1..100): Kite refuses them otherwise")


class ProductRules(_Section):
    cnc_sell_needs_holdings: bool = Field(True, description="a CNC sell must be covered by holdings (no CNC short sale)")
    mis_cutoff: bool = Field(
        True, description="refuse new MIS entries at or after the broker's square-off cut-off (tradekit.market calendar)")
    mis_cutoff_margin_minutes: int = Field(0, ge=0, le=120, description="... or this many minutes before it")


class MoneyLimits(_Section):
    check_funds: bool = Field(True, description="the order's margin must fit the account's available funds")
    max_order_value: Decimal | None = Field(None, gt=0, description="rupees per order")
    max_order_value_pct: float | None = Field(30.0, gt=0, description="per order, % of capital")
    max_order_quantity: int | None = Field(100_000, gt=0, description="units per order")
    fat_finger_pct: float | None = Field(
        5.0, gt=0, description="a limit/trigger price further than this % from the last price is refused")
    fat_finger_option_pct: float | None = Field(40.0, gt=0, description="the same for options, whose premiums move more")


class ExposureLimits(_Section):
    max_position_value: Decimal | None = Field(None, gt=0, description="rupees of net exposure per instrument")
    max_position_quantity: int | None = Field(None, gt=0, description="net units per instrument")
    max_concentration_pct: float | None = Field(25.0, gt=0, description="net exposure per instrument, % of capital")
    sector_map: dict[str, str] = Field(default_factory=dict, description="tradingsymbol (or underlying) -> sector")
    sector_map_file: Path | None = Field(None, description="CSV symbol,sector (merged under sector_map)")
    max_sector_pct: float | None = Field(50.0, gt=0, description="gross exposure per sector, % of capital")
    max_gross_exposure_pct: float | None = Field(250.0, gt=0, description="Σ|exposure|, % of capital")
    max_net_exposure_pct: float | None = Field(200.0, gt=0, description="|Σ exposure|, % of capital")
    max_open_orders: int | None = Field(100, gt=0, description="orders not yet final, this one excluded")
    max_orders_per_day: int | None = Field(3000, gt=0, description="orders allowed per day (Kite caps 5,000/day)")


class LossLimits(_Section):
    max_daily_loss: Decimal | None = Field(None, gt=0, description="rupees: realised + unrealised − charges, today")
    max_daily_loss_pct: float | None = Field(2.0, gt=0, description="the same as % of capital")
    max_drawdown: Decimal | None = Field(None, gt=0, description="rupees below the day's P&L peak")
    max_drawdown_pct: float | None = Field(2.5, gt=0, description="the same as % of capital")
    adverse_move_pct: float | None = Field(
        1.0, gt=0, le=100,
        description="the daily-loss check allows an entry only if the loss so far, plus this move against the open "
                    "exposure, plus the order's worst case (its stop distance, else this move, or its VaR if larger) "
                    "stays under the limit; null = compare the loss so far only (overshoots; see tradekit.risk.worstcase)")
    include_open_positions: bool = Field(
        True, description="count open positions and working orders under adverse_move_pct in the daily-loss check")


class ComplianceRules(_Section):
    max_orders_per_second: float = Field(
        5.0, gt=0, description="order-rate governor; kept under SEBI's 10/s retail-algo threshold")
    registered_algo: bool = Field(False, description="the strategy is exchange-registered: allows a rate at or above 10/s")
    algo_id: str | None = Field(None, description="exchange algo ID to tag orders with (else orders.algo_id / ctx)")
    require_algo_id: bool = Field(False, description="refuse automated orders without an algo ID (set true for live)")
    automated_sources: list[str] = Field(default_factory=lambda: ["signal", "algo", "bracket"],
                                         description="order sources treated as algorithmic")
    restricted: list[str] = Field(default_factory=list, description="restricted/insider list: symbols never traded")
    restricted_file: Path | None = Field(None, description="one symbol per line (# comments)")
    fno_ban: dict[date, list[str]] = Field(default_factory=dict, description="date -> underlyings in the F&O ban")
    fno_ban_file: Path | None = Field(None, description="CSV date,symbol or NSE's fo_secban.csv")

    @model_validator(mode="after")
    def _under_threshold(self) -> "ComplianceRules":
        if self.max_orders_per_second >= SEBI_RETAIL_OPS and not self.registered_algo:
            raise ValueError(
                f"max_orders_per_second {self.max_orders_per_second:g} is at or above SEBI's retail-algo threshold of "
                f"{SEBI_RETAIL_OPS:g}/s; keep it lower or set registered_algo: true for an exchange-registered strategy")
        return self


class StateSettings(_Section):
    initial: StateName = Field("ACTIVE", description="state at start when the journal records none")


def _default_actions() -> dict[str, str]:
    return {
        "daily_loss": "HALTED", "drawdown": "HALTED", "volatility_spike": "REDUCING", "reject_burst": "REDUCING",
        "broker_errors": "HALTED", "stale_feed": "REDUCING", "reconciliation": "HALTED", "mwcb": "HALTED",
        "index_move": "REDUCING", "kill_switch": "HALTED",
    }


class BreakerSettings(_Section):
    """Automatic triggers. Each moves the state to REDUCING or HALTED (``actions``), cancels
    open orders (``cancel_open_orders``) and, for a hard trigger (``flatten_on``), flattens."""

    enabled: bool = Field(True, description="false: no automatic trip (the kill switch and manual HALTED still work)")
    actions: dict[Trigger, RestrictState] = Field(default_factory=_default_actions, description="trigger -> the state "
                                                  "it moves to (REDUCING or HALTED); name only those you change")
    flatten_on: list[Trigger] = Field(default_factory=lambda: ["daily_loss", "drawdown", "kill_switch"],
                                      description="hard triggers: flatten positions as well")
    cancel_open_orders: bool = Field(True, description="a trip also cancels every open order (a change of state only)")
    cooloff_seconds: int = Field(900, ge=0, description="unlock is refused until this long after the last trip")
    reject_burst: int = Field(5, ge=1, description="this many broker/exchange rejects ...")
    reject_window_seconds: float = Field(60.0, gt=0, description="... within this window trips reject_burst")
    broker_error_burst: int = Field(5, ge=1, description="this many broker errors (timeouts, 5xx) ...")
    broker_error_window_seconds: float = Field(60.0, gt=0, description="... within this window trips broker_errors")
    stale_feed_seconds: float = Field(30.0, gt=0, description="no tick for this long in market hours trips stale_feed")
    volatility_ratio: float = Field(
        3.0, gt=1, description="fast/slow EWMA volatility of a held symbol above this ratio trips volatility_spike")
    volatility_sample_seconds: float = Field(
        60.0, gt=0, description="the volatility ratio takes one price change per this many seconds (close to close), "
                                "so a live feed of many ticks a second and paper minute bars measure the same thing")
    volatility_break_seconds: float = Field(
        1800.0, gt=0, description="two samples further apart than this straddle a break in trading (overnight, a "
                                  "weekend, a market halt): the change across it is a gap, not intraday volatility, "
                                  "and stays out of the ratio (the overnight gap alone tripped it at the open)")
    volatility_fast_halflife: float = Field(5.0, gt=0, description="samples (of volatility_sample_seconds)")
    volatility_slow_halflife: float = Field(100.0, gt=0, description="samples (of volatility_sample_seconds)")
    volatility_min_ticks: int = Field(30, ge=2, description="samples seen before the ratio is trusted")
    volatility_move_pct: float | None = Field(
        5.0, gt=0, description="a held symbol moving this % within the window also trips volatility_spike")
    volatility_move_window_seconds: float = Field(300.0, gt=0, description="the window of volatility_move_pct")
    reconciliation_grace_seconds: float = Field(60.0, ge=0, description="a mismatch unresolved this long trips")
    index_move_pct: float | None = Field(
        7.0, gt=0, description="NIFTY/SENSEX this % from the previous close trips index_move (early warning before MWCB)")

    @field_validator("actions", mode="before")
    @classmethod
    def _merge_defaults(cls, v):
        # A config names only the triggers it changes; the rest keep their defaults.
        if isinstance(v, dict):
            merged = _default_actions()
            merged.update(v)
            return merged
        return v

    @model_validator(mode="after")
    def _kill_halts(self) -> "BreakerSettings":
        if self.actions.get("kill_switch") != "HALTED":
            raise ValueError("actions.kill_switch must be HALTED: the kill switch always halts")
        if self.volatility_break_seconds < self.volatility_sample_seconds:
            raise ValueError(f"volatility_break_seconds ({self.volatility_break_seconds:g}) must be at least "
                             f"volatility_sample_seconds ({self.volatility_sample_seconds:g})")
        return self


class VarSettings(_Section):
    method: Literal["historical", "parametric", "monte_carlo"] = Field("historical", description="for reports")
    confidence: float = Field(0.99, gt=0.5, lt=1.0, description="VaR confidence level (0.99 = the loss exceeded on 1 "
                              "day in 100)")
    horizon_days: int = Field(1, ge=1, le=20, description="VaR horizon in trading days (√time scaling)")
    lookback_days: int = Field(250, ge=30, description="daily returns used")
    mc_paths: int = Field(20_000, ge=1000, description="monte_carlo: simulated paths")
    seed: int = Field(7, description="monte_carlo: the random seed, so a report is reproducible")
    limit: Decimal | None = Field(None, gt=0, description="rupees; an order pushing VaR past it is refused")
    limit_pct: float | None = Field(5.0, gt=0, description="the same as % of capital (pre-trade, parametric)")
    stress_gaps_pct: list[float] = Field(default_factory=lambda: [-5.0, -10.0], description="uniform gap scenarios")
    crash_day: date | None = Field(None, description="a real day to replay; default: the worst NIFTY day in the data")
    min_coverage_pct: float = Field(100.0, ge=0, le=100, description="share of the gross exposure (₹) that must have "
                                    "daily return history for the VaR limit check to be trusted")
    fetch_history: bool = Field(True, description="live: after login, fetch the daily bars of every held instrument "
                                "from Kite's historical API into the data directory (the days it lacks), for VaR")
    history_days: int = Field(400, ge=30, le=2000, description="calendar days of daily bars fetch_history keeps")
    short_coverage: Literal["flag", "refuse"] = Field(
        "flag", description="when coverage is below min_coverage_pct: flag (allow, the check says what VaR leaves out) "
        "or refuse orders that add exposure")


class SizingSettings(_Section):
    method: Literal["atr", "realized_vol"] = Field("atr", description="size from an ATR stop distance, or from "
                                                   "realised volatility")
    risk_per_trade_pct: float = Field(0.5, gt=0, le=10, description="capital put at risk per trade")
    atr_period: int = Field(14, ge=2, description="days in the ATR (Wilder)")
    atr_multiple: float = Field(2.0, gt=0, description="stop distance = this × ATR")
    vol_lookback: int = Field(20, ge=5, description="days of returns for realized_vol sizing")
    regime_index: str = Field("NIFTY50", description="index whose volatility sets the regime")
    regime_short: int = Field(20, ge=5, description="days in the short realised-vol window")
    regime_long: int = Field(250, ge=20, description="days over which the short vol's median is taken")
    high_vol_ratio: float = Field(1.5, gt=1, description="short vol / its long median above this = HIGH regime")
    high_vol_scale: float = Field(0.5, gt=0, le=1, description="limits and risk per trade × this in HIGH regime")
    loss_streak: int = Field(3, ge=1, description="consecutive losing trades that tighten limits")
    loss_streak_scale: float = Field(0.5, gt=0, le=1, description="limits and risk per trade × this after "
                                     "loss_streak losses, until a win or the next day")
    min_scale: float = Field(0.25, gt=0, le=1, description="limits never tighten below this fraction")


class RiskConfig(_Section):
    """The ``risk:`` section: pre-trade limits, breakers, kill switch, VaR and sizing."""

    enabled: bool = Field(True, description="false = the pass-through gate (paper experiments only)")
    capital_basis: Literal["starting", "equity"] = Field(
        "starting", description="what %-of-capital limits are taken of: the starting capital, or the current equity "
        "(capital + P&L)")
    instrument: InstrumentRules = Field(default_factory=InstrumentRules)
    product: ProductRules = Field(default_factory=ProductRules)
    money: MoneyLimits = Field(default_factory=MoneyLimits)
    exposure: ExposureLimits = Field(default_factory=ExposureLimits)
    loss: LossLimits = Field(default_factory=LossLimits)
    compliance: ComplianceRules = Field(default_factory=ComplianceRules)
    state: StateSettings = Field(default_factory=StateSettings)
    breakers: BreakerSettings = Field(default_factory=BreakerSettings)
    var: VarSettings = Field(default_factory=VarSettings)
    sizing: SizingSettings = Field(default_factory=SizingSettings)
    greeks: GreeksSettings = Field(default_factory=GreeksSettings,
                                   description="net delta, vega and premium-at-risk limits (tradekit.risk.greeks_limit)")


# -- lists from files ------------------------------------------------------------------------

@dataclass(frozen=True)
class RiskLists:
    """Restricted list, dated F&O ban list and sector map, merged from config and files."""

    restricted: frozenset[str] = frozenset()
    fno_ban: dict[date, frozenset[str]] = field(default_factory=dict)
    sector_map: dict[str, str] = field(default_factory=dict)

    def banned_on(self, day: date) -> frozenset[str]:
        return self.fno_ban.get(day, frozenset())


def _resolve(p: Path, base: Path | None) -> Path:
    p = p.expanduser()
    return p if p.is_absolute() or base is None else base / p


def _read_symbols(path: Path) -> set[str]:
    out = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        s = line.split("#", 1)[0].strip().strip(",")
        if s:
            out.add(s.split(",")[0].strip().upper())
    return out


_NSE_BAN_HEADER = re.compile(r"(\d{2})-([A-Za-z]{3})-(\d{4})")


def read_fno_ban(path: Path) -> dict[date, frozenset[str]]:
    """Read a ban file: CSV ``date,symbol`` rows, or NSE's ``fo_secban.csv``
    ("Securities in Ban For Trade Date 24-NOV-2026:" then ``n,SYMBOL`` rows)."""
    out: dict[date, set[str]] = {}
    current: date | None = None
    with path.open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f), 1):
            row = [c.strip() for c in row if c.strip()]
            if not row:
                continue
            m = _NSE_BAN_HEADER.search(row[0])
            if m and "ban" in row[0].lower():
                current = datetime.strptime(m.group(0).title(), "%d-%b-%Y").date()
                continue
            if row[0].lower() in ("date", "sr no", "sr. no."):
                continue
            try:
                day = date.fromisoformat(row[0])
                sym = row[1]
            except (ValueError, IndexError):
                if current is None or len(row) < 2:
                    raise ConfigError(f"line {n}: expected date,symbol", file=str(path)) from None
                day, sym = current, row[1]
            out.setdefault(day, set()).add(sym.upper())
    return {d: frozenset(s) for d, s in out.items()}


def load_lists(cfg: RiskConfig, base_dir: str | Path | None = None) -> RiskLists:
    """Merge the config's lists with their files (relative paths from ``base_dir``)."""
    base = Path(base_dir) if base_dir is not None else None
    c, e = cfg.compliance, cfg.exposure
    restricted = {s.upper() for s in c.restricted}
    ban: dict[date, set[str]] = {d: {s.upper() for s in v} for d, v in c.fno_ban.items()}
    sectors = {}
    try:
        if c.restricted_file is not None:
            restricted |= _read_symbols(_resolve(c.restricted_file, base))
        if c.fno_ban_file is not None:
            for d, syms in read_fno_ban(_resolve(c.fno_ban_file, base)).items():
                ban.setdefault(d, set()).update(syms)
        if e.sector_map_file is not None:
            p = _resolve(e.sector_map_file, base)
            with p.open(encoding="utf-8", newline="") as f:
                for row in csv.reader(f):
                    if len(row) >= 2 and row[0].strip() and row[0].strip().lower() != "symbol":
                        sectors[row[0].strip().upper()] = row[1].strip()
    except OSError as err:
        raise ConfigError(f"cannot read a risk list: {err}", field="risk") from None
    sectors.update({k.upper(): v for k, v in e.sector_map.items()})
    return RiskLists(frozenset(restricted), {d: frozenset(s) for d, s in ban.items()}, sectors)
