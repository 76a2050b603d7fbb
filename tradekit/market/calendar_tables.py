"""The calendar's value types and bundled tables (session regimes, broker times, special
sessions), loaded once; :mod:`tradekit.market.calendar` answers questions with them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from tradekit.clock import IST, to_ist
from tradekit.errors import DataError, MarketRuleError
from tradekit.market._tables import load_csv_rows, load_yaml, parse_date, parse_time, parse_windows
from tradekit.market.config import MARKETS, SpecialSessionConfig
from tradekit.model.enums import Exchange, Segment, StrEnum
from tradekit.model.instrument import Instrument

CALENDAR_START = date(2010, 10, 18)
"""First day the calendar answers for (the equity pre-open and 09:15-15:30 hours start)."""

_NEW_YORK = ZoneInfo("America/New_York")
_INDEX_UNDERLYINGS = frozenset(
    {"NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "SENSEX", "BANKEX", "SENSEX50"}
)


class Market(StrEnum):
    """The timetables tradekit knows: each has its own phases and square-off time."""

    EQUITY = "equity"  # NSE/BSE cash
    FNO = "fno"  # NSE/BSE equity and index derivatives
    CURRENCY = "currency"  # CDS/BCD
    COMMODITY = "commodity"  # MCX


class Phase(StrEnum):
    """What the market is doing at a moment."""

    CLOSED = "closed"
    BREAK = "break"  # between two phases of a session day (e.g. a DR-site switch)
    BLOCK_DEAL = "block-deal"  # block-deal window with no other phase running
    PRE_OPEN = "pre-open"  # order entry, modification, cancellation
    PRE_OPEN_MATCHING = "pre-open-matching"
    PRE_OPEN_BUFFER = "pre-open-buffer"
    NORMAL = "normal"  # continuous trading
    CLOSING_AUCTION_REFERENCE = "closing-auction-reference"  # CAS reference price
    CLOSING_AUCTION = "closing-auction"  # CAS order entry
    CLOSING_AUCTION_MATCHING = "closing-auction-matching"
    POST_CLOSE = "post-close"  # closing session: orders at the closing price

    @property
    def accepts_orders(self) -> bool:
        """Orders can be entered at the exchange in this phase."""
        return self in (Phase.PRE_OPEN, Phase.NORMAL, Phase.CLOSING_AUCTION, Phase.POST_CLOSE)


_EXCHANGE_MARKET = {
    Exchange.NSE: Market.EQUITY,
    Exchange.BSE: Market.EQUITY,
    Exchange.NFO: Market.FNO,
    Exchange.BFO: Market.FNO,
    Exchange.CDS: Market.CURRENCY,
    Exchange.BCD: Market.CURRENCY,
    Exchange.MCX: Market.COMMODITY,
    Exchange.NCO: Market.COMMODITY,
}


def market_of(x: Market | Exchange | Segment | Instrument | str) -> Market:
    """The timetable of an exchange, a dump segment, an instrument or a market name."""
    if isinstance(x, Market):
        return x
    if isinstance(x, Instrument):
        return _EXCHANGE_MARKET[x.exchange]
    if isinstance(x, Exchange):
        return _EXCHANGE_MARKET[x]
    if isinstance(x, Segment):
        return (
            Market.EQUITY
            if x is Segment.INDICES
            else _EXCHANGE_MARKET[Exchange(x.value.split("-")[0])]
        )
    if isinstance(x, str):
        s = x.strip()
        for m in Market:
            if s.lower() == m.value:
                return m
        for e in Exchange:
            if s.upper() == e.value:
                return _EXCHANGE_MARKET[e]
    raise MarketRuleError(
        f"{x!r} is not a market (equity, fno, currency, commodity) or an exchange", field="market"
    )


# -- value types -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Holiday:
    """A weekday on which a market does not hold its regular session."""

    date: date
    name: str
    source: str
    provisional: bool = False  # a fixed-date holiday of a year whose list is not published


@dataclass(frozen=True, slots=True)
class PhaseWindow:
    """One phase between two IST datetimes (end exclusive)."""

    phase: Phase
    start: datetime
    end: datetime

    def __contains__(self, ts: datetime) -> bool:
        return self.start <= ts < self.end


@dataclass(frozen=True, slots=True)
class SpecialSession:
    """A session outside the regular weekday pattern (Muhurat, Budget weekend, DR test)."""

    date: date
    kind: str
    source: str
    markets: dict[str, object]  # market -> "regular" | {phase: [(start, end), ...]}
    trade_modification_end: time | None = None
    band_cap_pct: object = None
    mis_cutoff: dict[str, time] = field(default_factory=dict)
    unverified: bool = False

    def trades(self, market: Market) -> bool:
        """True when ``market`` holds this session with known timings (an unverified
        session is skipped: the day is a holiday for regular trading)."""
        return self.markets.get(market.value) is not None

    @property
    def timings_known(self) -> bool:
        return any(v is not None for v in self.markets.values())


@dataclass(frozen=True, slots=True)
class SessionTimes:
    """The timetable of one market on one day.

    ``windows`` are the phases in time order (they do not overlap); ``block_deals`` run
    beside them. ``open``/``close`` are the start of the first and the end of the last
    normal-market window.
    """

    day: date
    market: Market
    windows: tuple[PhaseWindow, ...]
    block_deals: tuple[PhaseWindow, ...] = ()
    trade_modification_end: datetime | None = None
    special: SpecialSession | None = None
    source: str = ""
    provisional: bool = False  # the day's year runs on the provisional calendar

    @property
    def normal(self) -> tuple[PhaseWindow, ...]:
        return tuple(w for w in self.windows if w.phase is Phase.NORMAL)

    @property
    def open(self) -> datetime:
        return self.normal[0].start

    @property
    def close(self) -> datetime:
        return self.normal[-1].end

    @property
    def first_start(self) -> datetime:
        return min([self.windows[0].start, *(b.start for b in self.block_deals)])

    @property
    def last_end(self) -> datetime:
        return self.windows[-1].end

    def window(self, phase: Phase) -> PhaseWindow | None:
        """The first window of ``phase`` that day, if any."""
        return next((w for w in self.windows if w.phase is phase), None)

    def phase_at(self, ts: datetime) -> Phase:
        ts = to_ist(ts)
        for w in self.windows:
            if ts in w:
                return w.phase
        for b in self.block_deals:
            if ts in b:
                return Phase.BLOCK_DEAL
        if self.windows[0].start <= ts < self.last_end:
            return Phase.BREAK
        return Phase.CLOSED


@dataclass(frozen=True, slots=True)
class AmoWindow:
    """When Zerodha takes after-market orders for the session of ``for_day``."""

    market: Market
    opens: datetime
    closes: datetime
    sent_at: datetime
    for_day: date

    def __contains__(self, ts: datetime) -> bool:
        return self.opens <= to_ist(ts) < self.closes


# -- bundled tables ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Regime:
    start: date
    source: str
    phases: tuple[tuple[Phase, time, time], ...]
    cas_phases: tuple[tuple[Phase, time, time], ...] | None
    pre_open: tuple[tuple[Phase, time, time], ...]
    us_dst_phases: tuple[tuple[Phase, time, time], ...] | None
    block_deals: tuple[tuple[time, time], ...]
    trade_modification_end: time | None
    holiday_evening_from: time | None


def _phase_list(raw: object, where: str) -> tuple[tuple[Phase, time, time], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected a map of phase -> HH:MM-HH:MM")
    out = []
    for name, value in raw.items():
        try:
            phase = Phase(name)
        except ValueError:
            raise DataError(f"{where}: unknown phase {name!r}") from None
        out += [(phase, s, e) for s, e in parse_windows(value, f"{where}.{name}")]
    return tuple(sorted(out, key=lambda p: p[1]))


@lru_cache(maxsize=1)
def _regimes() -> dict[Market, list[_Regime]]:
    raw = load_yaml("sessions.yaml")
    out: dict[Market, list[_Regime]] = {}
    for m in Market:
        rows = []
        for i, r in enumerate(raw[m.value]):
            where = f"sessions.yaml:{m.value}[{i}]"
            rows.append(
                _Regime(
                    start=parse_date(r["from"], where),
                    source=str(r.get("source", "")),
                    phases=_phase_list(r.get("phases"), where),
                    cas_phases=_phase_list(r["cas_phases"], where) if "cas_phases" in r else None,
                    pre_open=_phase_list(r.get("pre_open"), where),
                    us_dst_phases=_phase_list(r["us_dst_phases"], where)
                    if "us_dst_phases" in r
                    else None,
                    block_deals=tuple(parse_windows(r["block_deals"], where))
                    if r.get("block_deals")
                    else (),
                    trade_modification_end=parse_time(r["trade_modification_end"], where)
                    if r.get("trade_modification_end")
                    else None,
                    holiday_evening_from=parse_time(r["holiday_evening_from"], where)
                    if r.get("holiday_evening_from")
                    else None,
                )
            )
        rows.sort(key=lambda r: r.start)
        out[m] = rows
    return out


@lru_cache(maxsize=1)
def _broker_times() -> dict:
    z = load_yaml("sessions.yaml")["zerodha"]
    mis = {
        m: parse_time(z["mis_cutoff"][m], f"sessions.yaml:zerodha.mis_cutoff.{m}")
        for m in ("equity", "fno", "currency")
    }
    mis["commodity_before_close_minutes"] = int(z["mis_cutoff"]["commodity_before_close_minutes"])
    amo = {}
    for m in MARKETS:
        a = z["amo"][m]
        where = f"sessions.yaml:zerodha.amo.{m}"
        amo[m] = {
            "open": None if a["open"] == "close" else parse_time(a["open"], where),
            "close": parse_time(a["close"], where),
            "sent": parse_time(a["sent"], where),
        }
    return {"mis": mis, "amo": amo}


def _special_from_table(raw: dict, where: str) -> SpecialSession:
    d = parse_date(raw["date"], where)
    markets: dict[str, object] = {}
    if raw.get("unverified"):
        markets = {m: None for m in raw.get("markets", MARKETS)}
    for m in MARKETS:
        v = raw.get(m)
        if v is None:
            continue
        markets[m] = "regular" if v == "regular" else _phase_list(v, f"{where}.{m}")
    return SpecialSession(
        date=d,
        kind=str(raw.get("kind", "other")),
        source=str(raw.get("source", "")),
        markets=markets,
        trade_modification_end=parse_time(raw["trade_modification_end"], where)
        if raw.get("trade_modification_end")
        else None,
        band_cap_pct=raw.get("band_cap_pct"),
        unverified=bool(raw.get("unverified", False)),
    )


def _special_from_config(c: SpecialSessionConfig) -> SpecialSession:
    where = f"market.special_sessions[{c.date}]"
    markets: dict[str, object] = {}
    for m in MARKETS:
        v = getattr(c, m)
        if v:
            markets[m] = "regular" if v == "regular" else _phase_list(v, f"{where}.{m}")
    return SpecialSession(
        date=c.date,
        kind=c.kind,
        source=c.source or "config",
        markets=markets,
        trade_modification_end=c.trade_modification_end,
        band_cap_pct=c.band_cap_pct,
        mis_cutoff={k: v for k, v in c.mis_cutoff.items()},
    )


@lru_cache(maxsize=1)
def default_cas_symbols() -> frozenset[str]:
    """Stocks with derivatives per the bundled F&O lot table of 2026-08-18 (indices excluded)."""
    rows = load_csv_rows("nse_fo_lot_sizes_2026-08-18.csv")
    return frozenset(r["underlying"].strip().upper() for r in rows) - _INDEX_UNDERLYINGS


CAS_START = date(2026, 8, 3)
"""Go-live of the closing auction session for stocks with derivatives (NSE/CMTR/75479)."""


def _combine(d: date, t: time) -> datetime:
    return datetime.combine(d, t, tzinfo=IST)


def _us_on_daylight_time(d: date) -> bool:
    return bool(datetime(d.year, d.month, d.day, 12, tzinfo=_NEW_YORK).dst())
