"""Expiry: the dates (from the master and from the exchange's rule on the calendar), and what happens
to F&O positions before it: square-off or rollover by rule, and physical-settlement warnings.

**Dates.** The instrument master lists each contract's expiry (:func:`master_expiries`); a date is
*monthly* when it is the last listed expiry of its month (futures expire only then), else
*weekly*. Without a master, :func:`scheduled_expiries` applies the exchange's rule on the
calendar: NSE contracts expire on Tuesday, BSE on Thursday (for contracts expiring on or after
2025-09-01: SEBI/HO/MRD/TPD-1/P/CIR/2025/76 of 2025-05-26, NSE/FAOP/68589; india.md §6.1),
monthly on the last such weekday of the month, weekly only for one benchmark index per exchange
(NIFTY, SENSEX; from 2024-11-20); a holiday moves the expiry to the previous F&O trading day.
Earlier dates are refused (take them from the master): the old weekdays are not kept here.

**Rules** (config ``expiry:``, per strategy, :class:`ExpirySettings`)::

    expiry:
      default: {action: square_off, minutes_before_close: 30}
      strategies:
        nifty_carry: {action: rollover, minutes_before_close: 20}
        hedges: {action: none}

On the expiry day of a position's contract, from ``minutes_before_close`` before the F&O close,
:class:`ExpiryManager` closes the position (``square_off``), or closes it and opens the same
quantity (in lots) of the same contract of the next expiry (``rollover``: the next listed future,
or the option of the same strike and type of the next listed expiry), or leaves it (``none``).
Each action is journaled (a ``note`` event, ``kind: expiry``) before its orders, which go through
the OMS and the gate like any other: the close as a risk-layer square-off (never queued for
approval), the new leg as an entry (so the F&O ban list, the Greek limits and a manual approval
mode apply to it). A rollover whose underlying is in the day's F&O ban is not opened (the gate
would refuse it): the note says so and the position is only closed.

Stock F&O held into expiry are settled physically (SEBI, from the October 2019 series: in-the-money
stock options and all stock futures deliver the shares): on the expiry day the manager journals a
``kind: expiry.physical_settlement`` note once per position that is not going to be closed by a rule.

The manager listens to the session's market-data hub (:meth:`ExpiryManager.attach`): every price
path, live ticks, paper bars and replays, reaches it, and it costs one time comparison per tick
until something is due.
"""

from __future__ import annotations

import calendar as _cal
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tradekit.clock import IST
from tradekit.errors import ValidationError

log = logging.getLogger(__name__)

__all__ = ["ExpiryRule", "ExpirySettings", "ExpiryManager", "master_expiries", "expiry_kinds", "scheduled_expiries",
           "next_contract", "is_physically_settled", "EXPIRY_WEEKDAY"]

# (effective from: the contract's expiry date, exchange) -> weekday (0 = Monday); india.md §6.1
EXPIRY_WEEKDAY = {"NFO": [(date(2025, 9, 1), 1)], "BFO": [(date(2025, 9, 1), 3)]}
EXPIRY_RULE_SOURCE = "SEBI/HO/MRD/TPD-1/P/CIR/2025/76 (2025-05-26), NSE/FAOP/68589"
WEEKLY = {"NFO": ("NIFTY",), "BFO": ("SENSEX",)}  # one benchmark index per exchange (SEBI, from 2024-11-20)
INDEX_UNDERLYINGS = frozenset({"NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "SENSEX", "BANKEX",
                               "SENSEX50"})
_NEVER = datetime.max.replace(tzinfo=IST)


def _underlying(inst) -> str:
    return (inst.underlying or inst.name or "").upper()


def is_physically_settled(inst) -> bool:
    """Stock futures and options (not index, currency or commodity contracts) settle by delivery."""
    return inst.exchange.value in ("NFO", "BFO") and inst.is_derivative and _underlying(inst) not in INDEX_UNDERLYINGS


def master_expiries(underlying: str, *, master, exchange: str = "NFO", kind: str = "options") -> list[date]:
    """The expiry dates the master lists for ``underlying``'s options or futures."""
    from tradekit.options.chain import expiries

    return expiries(underlying, master=master, exchange=exchange, kind=kind)


def expiry_kinds(dates: list[date]) -> dict[date, str]:
    """``monthly`` for the last listed expiry of each month, ``weekly`` for the others."""
    last: dict[tuple[int, int], date] = {}
    for d in dates:
        k = (d.year, d.month)
        last[k] = max(last.get(k, d), d)
    return {d: "monthly" if last[(d.year, d.month)] == d else "weekly" for d in sorted(dates)}


def _weekday(exchange: str, d: date) -> int:
    table = EXPIRY_WEEKDAY.get(exchange.upper())
    if table is None:
        raise ValidationError(f"{exchange!r}: expiry rules are known for NFO and BFO only", field="exchange")
    wd = None
    for since, w in table:
        if d >= since:
            wd = w
    if wd is None:
        raise ValidationError(f"{d}: no expiry-day rule before {table[0][0]} here; take the dates from the instrument "
                              "master", field="date")
    return wd


def scheduled_expiries(underlying: str, start: date, end: date, *, calendar=None, exchange: str = "NFO",
                       kind: Literal["monthly", "weekly", "all"] = "all") -> list[date]:
    """Expiry dates between ``start`` and ``end`` by the exchange's rule, holidays moved to the previous
    F&O trading day (``calendar``: a :class:`~tradekit.market.calendar.MarketCalendar`, default NSE's)."""
    if kind not in ("monthly", "weekly", "all"):
        raise ValidationError(f"{kind!r} is not monthly, weekly or all", field="kind")
    if calendar is None:
        from tradekit.market.calendar import get_calendar

        calendar = get_calendar("BSE" if exchange.upper() == "BFO" else "NSE")
    u = underlying.upper()
    weekly_ok = u in WEEKLY.get(exchange.upper(), ())
    out = set()
    y, m = start.year, start.month
    while date(y, m, 1) <= end:
        last_day = date(y, m, _cal.monthrange(y, m)[1])
        wd = _weekday(exchange, last_day)
        month_days = [date(y, m, k) for k in range(1, last_day.day + 1)]
        rule_days = [d for d in month_days if d.weekday() == wd]
        picks = []
        if kind in ("monthly", "all"):
            picks.append(rule_days[-1])
        if kind in ("weekly", "all") and weekly_ok:
            picks += rule_days[:-1] if kind == "weekly" else rule_days
        for d in picks:
            if d < date(2025, 9, 1):
                continue
            while not calendar.is_trading_day(d, "fno"):
                d -= timedelta(days=1)
            if start <= d <= end:
                out.add(d)
        m += 1
        if m > 12:
            y, m = y + 1, 1
    return sorted(out)


def next_contract(inst, master):
    """The same contract of the next listed expiry (a future: the next future; an option: the same
    strike and type), or None when the master lists none."""
    u = _underlying(inst)
    cands = [i for i in master.search(exchange=inst.exchange, underlying=u, instrument_type=inst.instrument_type)
             if i.expiry is not None and inst.expiry is not None and i.expiry > inst.expiry
             and (not inst.is_option or i.strike == inst.strike)]
    return min(cands, key=lambda i: i.expiry) if cands else None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExpiryRule(_Section):
    """What to do with a strategy's F&O positions on their expiry day."""

    action: Literal["square_off", "rollover", "none"] = Field(
        "none", description="close the position, roll it to the next expiry, or leave it to expire")
    minutes_before_close: int = Field(30, ge=1, le=375, description="act this many minutes before the F&O close")


class ExpirySettings(_Section):
    """The ``expiry`` section: a default rule and rules per strategy name."""

    default: ExpiryRule = Field(default_factory=ExpiryRule, description="the rule of strategies not named below")
    strategies: dict[str, ExpiryRule] = Field(default_factory=dict, description="rules per strategy name")

    def rule_for(self, strategy: str) -> ExpiryRule:
        return self.strategies.get(strategy, self.default)


@dataclass
class ExpiryAction:
    """One thing the manager did (also journaled as a ``note``)."""

    kind: str  # square_off | rollover | physical_settlement | no_next_contract | banned
    strategy: str
    instrument: str
    quantity: int
    to: str | None = None
    orders: tuple[str, ...] = ()
    text: str = ""


class ExpiryManager:
    """Applies :class:`ExpirySettings` to a session's book (see the module docstring)."""

    def __init__(self, session, settings: ExpirySettings | None = None):
        self.session = session
        self.settings = settings or getattr(session.config, "expiry", None) or ExpirySettings()
        self.actions: list[ExpiryAction] = []
        self._day: date | None = None
        self._due = _NEVER  # nothing is looked at before this time on the current day
        self._done: set[tuple[str, str]] = set()  # (strategy, instrument key) acted on / warned about today

    def attach(self, hub=None) -> "ExpiryManager":
        hub = hub if hub is not None else getattr(self.session, "market", None)
        if hub is not None:
            hub.add_listener(self._on_tick)
        return self

    def _on_tick(self, t) -> None:
        ts = t.ts
        if ts is None or (ts < self._due and ts.date() == self._day):
            return
        try:
            self.service(ts)
        except Exception:  # a bad rule must not break the price path
            log.exception("expiry manager failed")

    def _close_time(self, day: date) -> datetime | None:
        cal = getattr(self.session, "calendar", None)
        try:
            if cal is not None:
                return cal.session_times(day, "fno").close
        except Exception:
            return None
        return datetime.combine(day, datetime.min.time(), IST).replace(hour=15, minute=30)

    def _expiring(self, day: date):
        book, master = self.session.book, self.session.instruments
        for p in list(book.positions.values()):
            if not p.quantity or master is None:
                continue
            inst = master.find(p.exchange, p.tradingsymbol)
            if inst is not None and inst.is_derivative and inst.expiry == day:
                yield p, inst

    def _first_rule_time(self, close: datetime) -> datetime:
        """The earliest time any rule of the settings can act on this day (a look then, and each minute after)."""
        rules = [self.settings.default, *self.settings.strategies.values()]
        minutes = [r.minutes_before_close for r in rules if r.action != "none"] or [30]  # 30: late warnings
        return close - timedelta(minutes=max(minutes))

    def service(self, now: datetime) -> list[ExpiryAction]:
        """Act on what is due at ``now``; returns the actions taken (also in :attr:`actions`).

        Looks at the book on the day's first price, then from the earliest rule time on at most once a
        minute until the close (a position opened late in the expiry day is still caught)."""
        day = now.astimezone(IST).date()
        if day != self._day:
            self._day, self._done, self._due = day, set(), _NEVER
            close = self._close_time(day)
            if close is None:  # not an F&O trading day
                return []
            self._close, self._first = close, self._first_rule_time(close)
            self._due = now
        if now < self._due:
            return []
        close = self._close
        out: list[ExpiryAction] = []
        nxt = _NEVER if now >= close else max(self._first, now + timedelta(minutes=1))
        for p, inst in self._expiring(day):
            rule = self.settings.rule_for(p.strategy)
            k = (p.strategy, inst.key)
            at = close - timedelta(minutes=rule.minutes_before_close)
            if rule.action == "none" or now < at:
                if is_physically_settled(inst) and (k + ("warned",)) not in self._done:
                    self._done.add(k + ("warned",))
                    out.append(self._note(ExpiryAction(
                        "physical_settlement", p.strategy, inst.key, p.quantity,
                        text=f"{inst.key} expires today ({day}) and is physically settled: "
                             f"{'in-the-money options' if inst.is_option else 'the future'} held at the close "
                             f"deliver{'s' if not inst.is_option else ''} shares "
                             f"({abs(p.quantity):,} units {'long' if p.quantity > 0 else 'short'}); rule: {rule.action}")))
                if rule.action != "none":
                    nxt = min(nxt, at)
                continue
            if k in self._done or self._working(p, inst):
                continue
            self._done.add(k)
            out += self._act(p, inst, rule, day)
        self._due = nxt
        self.actions += out
        return out

    def _working(self, p, inst) -> bool:
        """An order for this instrument and strategy is still working (ours from before a restart, or anyone's)."""
        for o in list(self.session.book.open.values()):
            r = o.request
            if o.strategy == p.strategy and r.tradingsymbol == inst.tradingsymbol and r.exchange is inst.exchange:
                return True
        return False

    def _note(self, a: ExpiryAction) -> ExpiryAction:
        from tradekit.store.events import EventType as E

        kind = "expiry" if a.kind in ("square_off", "rollover", "no_next_contract", "banned") else f"expiry.{a.kind}"
        self.session._emit(E.NOTE, {"kind": kind, "action": a.kind, "strategy": a.strategy, "instrument": a.instrument,
                                    "quantity": a.quantity, "to": a.to, "text": a.text})
        log.info("%s", a.text)
        return a

    def _act(self, p, inst, rule: ExpiryRule, day: date) -> list[ExpiryAction]:
        from tradekit.model import OrderRequest

        s = self.session
        master = s.instruments
        qty = p.quantity
        out = []
        target = next_contract(inst, master) if rule.action == "rollover" else None
        kind = rule.action
        text = f"{inst.key}: {abs(qty):,} units of strategy {p.strategy} squared off before expiry ({day})"
        if rule.action == "rollover":
            banned = self._banned(inst, day)
            if target is None:
                kind, text = "no_next_contract", (f"{inst.key}: no contract of a later expiry in the master to roll "
                                                   f"to: squared off only")
            elif banned:
                kind, text = "banned", (f"{inst.key}: {_underlying(inst)} is in the F&O ban on {day}: squared off, "
                                        f"not rolled to {target.key}")
                target = None
            else:
                text = f"{inst.key} → {target.key}: {abs(qty):,} units of strategy {p.strategy} rolled before expiry"
        action = self._note(ExpiryAction(kind, p.strategy, inst.key, qty, to=target.key if target else None, text=text))
        close_side = "SELL" if qty > 0 else "BUY"
        req = OrderRequest(inst.exchange, inst.tradingsymbol, close_side, abs(qty), "MARKET", p.product)
        orders = [s.submit(req, strategy=p.strategy, source="square_off", meta={"expiry": kind}).client_order_id]
        if target is not None:
            lots = abs(qty) // max(inst.lot_size, 1)
            new_qty = lots * max(target.lot_size, 1)
            if new_qty:
                open_side = "BUY" if qty > 0 else "SELL"
                req2 = OrderRequest(target.exchange, target.tradingsymbol, open_side, new_qty, "MARKET", p.product)
                orders.append(s.submit(req2, strategy=p.strategy, source="signal",
                                       meta={"expiry": "rollover", "rolled_from": inst.key}).client_order_id)
        action.orders = tuple(orders)
        out.append(action)
        return out

    def _banned(self, inst, day: date) -> bool:
        gate = getattr(self.session, "gate", None)
        lists = getattr(gate, "lists", None)
        if lists is None:
            return False
        return _underlying(inst) in lists.banned_on(day)
