"""Conditional orders: a signal held until a trigger, then sent through the gate like any other.

A signal carrying a ``condition`` (:mod:`tradekit.signals.condition_fields`) reaches
``Session.submit_signal``, which arms it here instead of sending it: ``condition.created`` is
journaled (in the same transaction as the signal's ``signal.received``), the instruments it
watches are subscribed on the market-data hub (``hub.want(keys, "condition:<id>")``), and the
condition is evaluated on every tick the hub accepts (a hub listener: the Kite ticker, paper bars
fed as ticks and tick replays take the same path) and on the session clock (:meth:`ConditionBook.poll`,
called from ``Session.poll``: time conditions and expiry fire without a tick).

When it triggers, the held signal (without its condition) goes to ``Session.submit_signal`` with
the route the pipeline gave it: sizing, the risk gate, approval (manual routes wait for a
person), the OMS and the journal, as for any signal. ``condition.triggered`` names the order it
made (``client_order_id``, ``status``), or why none was made (``refused``); a trigger while
trading is HALTED or REDUCING gets the gate's refusal, journaled like any other. The watched
instruments are unsubscribed when the condition ends (triggered, cancelled, expired).

Crossings: the side of the value at creation is recorded (``condition.created``: ``initial``);
``above`` fires the first time the value goes from strictly below the level to at or above it,
``below`` from strictly above to at or below. A price that is already beyond the level when the
condition is armed has to come back first. The first move to the waiting side (the one a crossing
starts from) is journaled (``condition.progress``), so a restart knows a crossing is due; an
``all`` group journals each child that fired (they latch) the same way. A trigger while new
orders are blocked for a while (``TradingHalted``: a reconciliation difference, a lost login, the
journal) is journaled as due (``condition.progress``, ``due``) and sent once they resume, unless
``signals.when_blocked`` is ``refuse`` (then it is journaled as triggered and refused) or the
condition expires first.

State is rebuilt from the journal (:class:`ConditionLedger`): a new session on the same journal
re-arms what is still armed, subscribes its instruments and fires on the next crossing.
Indicator conditions start their bars again after a restart (a warm-up; the bars are not
journaled). Another process cancels a condition by appending ``condition.cancelled`` (``tradekit
conditions cancel ID``); the running session acts on it at its next journal poll; the first
ending event of a condition in the journal is the one that counts.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Iterable

from tradekit.clock import IST
from tradekit.errors import TradekitError, TradingHalted, ValidationError
from tradekit.store.events import EventType as E
from tradekit.store.journal import JournalUnavailable

log = logging.getLogger(__name__)

ARMED, TRIGGERED, CANCELLED, EXPIRED = "armed", "triggered", "cancelled", "expired"
STATES = (ARMED, TRIGGERED, CANCELLED, EXPIRED)
PROGRESS = E.CONDITION_PROGRESS  # a leaf moved to its waiting side, a child of an `all` fired (latched), due
TYPES = (E.CONDITION_CREATED, E.CONDITION_TRIGGERED, E.CONDITION_CANCELLED, E.CONDITION_EXPIRED, PROGRESS)
_END = {E.CONDITION_TRIGGERED: TRIGGERED, E.CONDITION_CANCELLED: CANCELLED, E.CONDITION_EXPIRED: EXPIRED}


def _side(v: float, level: float) -> int:
    return 1 if v > level else (-1 if v < level else 0)


def _waiting(cross: str) -> int:
    """The side a crossing starts from: below (-1) for ``above``, above (+1) for ``below``."""
    return -1 if cross == "above" else 1


def crossed(cross: str, prev: int | None, now: int) -> bool:
    """A crossing from side ``prev`` to side ``now`` (-1 below, 0 at, +1 above the level)."""
    if prev is None:
        return False
    return (prev < 0 <= now) if cross == "above" else (prev > 0 >= now)


def _key(k: str) -> str:
    ex, _, sym = str(k).strip().partition(":")
    return f"{ex.upper()}:{sym.upper()}" if sym else str(k).strip().upper()


def leaves(spec: dict) -> list[tuple[str, dict]]:
    """``(path, leaf spec)`` of a condition: ``("", spec)`` for a single one, ``("0", ...)``... for a group."""
    if spec["kind"] in ("all", "any"):
        return [(str(i), c) for i, c in enumerate(spec["conditions"])]
    return [("", spec)]


def watched(spec: dict, own: str) -> list[str]:
    """The instruments a condition watches (``own``: the signal's instrument)."""
    out: list[str] = []
    for _, c in leaves(spec):
        if c["kind"] != "time":
            k = _key(c.get("symbol") or own)
            if k not in out:
                out.append(k)
    return out


def describe(spec: dict, own: str) -> str:
    """One line for a person: ``NSE:INFY crosses above 1500``."""
    k = spec["kind"]
    if k in ("all", "any"):
        return f"{k} of: " + "; ".join(describe(c, own) for c in spec["conditions"])
    if k == "time":
        return f"at or after {spec['at']}"
    key = _key(spec.get("symbol") or own)
    if k in ("price", "symbol"):
        return f"{key} crosses {spec['cross']} {spec['level']}"
    ind, iv = spec["indicator"], spec.get("interval", "1min")
    if ind in ("sma_cross", "ema_cross"):
        m = ind[:3].upper()
        return f"{key} {m}({spec['fast']}) crosses {spec['cross']} {m}({spec['slow']}) on {iv} bars"
    if ind == "rsi":
        return f"{key} RSI({spec.get('window', 14)}) crosses {spec['cross']} {spec['level']} on {iv} bars"
    return f"{key} last price crosses {spec['cross']} the session VWAP ({iv} bars)"


# -- the journal's view: what any process (CLI, dashboard) can rebuild ---------------------------------
def hms(t: datetime | str | None) -> str:
    """A condition time as HH:MM:SS ("" for none); accepts the ISO text of ``to_dict``."""
    if not t:
        return ""
    return (datetime.fromisoformat(t) if isinstance(t, str) else t).strftime("%H:%M:%S")


@dataclass
class ConditionState:
    """One condition as the journal tells it (plus, in the owning session, the last evaluation)."""

    id: str
    signal_id: str
    strategy: str
    instrument: str
    side: str
    spec: dict
    route: str | None
    signal: dict
    created_at: datetime
    expires_at: datetime | None
    initial: dict = field(default_factory=dict)  # leaf path -> side at creation (-1/0/1) or None
    progress: dict = field(default_factory=dict)  # leaf path -> {"side": s} / {"fired": True}
    state: str = ARMED
    ended_at: datetime | None = None
    reason: str = ""
    client_order_id: str | None = None
    order_status: str | None = None
    trigger_value: Any = None
    last_value: Any = None
    last_at: datetime | None = None

    @property
    def description(self) -> str:
        return describe(self.spec, self.instrument)

    @property
    def armed(self) -> bool:
        return self.state == ARMED

    def outcome(self, arrow: str = "→") -> str:
        """How an ended condition ended ("TRIGGERED 10:02:11 → order X (complete when sent) (reason)");
        "" while armed. The CLI list and the dashboard panel both show this line."""
        if self.state == ARMED:
            return ""
        text = f"{self.state} {hms(self.ended_at)}"
        if self.client_order_id:
            text += f" {arrow} order {self.client_order_id} ({(self.order_status or '?').lower()} when sent)"
        if self.reason:
            text += f" ({self.reason})"
        return text

    def to_dict(self) -> dict:
        return {"id": self.id, "state": self.state, "signal_id": self.signal_id, "strategy": self.strategy,
                "order": f"{self.side} {self.signal.get('quantity') or 'sized'} {self.instrument}",
                "condition": self.description, "kind": self.spec["kind"],
                "created_at": self.created_at.isoformat(),
                "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
                "last_value": self.last_value, "last_at": None if self.last_at is None else self.last_at.isoformat(),
                "ended_at": None if self.ended_at is None else self.ended_at.isoformat(), "reason": self.reason,
                "client_order_id": self.client_order_id, "order_status": self.order_status,
                "trigger_value": self.trigger_value}


class ConditionLedger:
    """Conditions rebuilt from ``condition.*`` events (the first ending event of each counts)."""

    def __init__(self) -> None:
        self.items: dict[str, ConditionState] = {}

    @classmethod
    def rebuild(cls, events: Iterable) -> "ConditionLedger":
        led = cls()
        for ev in events:
            led.apply(ev)
        return led

    @classmethod
    def from_journal(cls, journal) -> "ConditionLedger":
        from tradekit.store.snapshot import history

        return cls.rebuild(history(journal, TYPES))  # a session's start snapshot, then the journal after it

    def apply(self, ev) -> ConditionState | None:
        p, t = ev.payload, ev.type
        if t == E.CONDITION_CREATED:
            c = ConditionState(
                id=p["condition_id"], signal_id=p.get("signal_id") or "", strategy=p.get("strategy") or "",
                instrument=p["instrument"], side=p.get("side") or "", spec=p["condition"], route=p.get("route"),
                signal=p.get("signal") or {}, created_at=datetime.fromisoformat(p["created_at"]),
                expires_at=None if not p.get("expires_at") else datetime.fromisoformat(p["expires_at"]),
                initial=dict(p.get("initial") or {}))
            self.items.setdefault(c.id, c)
            return c
        c = self.items.get(p.get("condition_id"))
        if c is None or t not in TYPES:
            return None
        if t == PROGRESS:
            if c.armed:
                c.progress.setdefault(p.get("leaf", ""), {}).update({k: p[k] for k in ("side", "fired", "due", "value") if k in p})
            return c
        if not c.armed:
            return c  # already ended: the first ending event counts
        c.state = _END[t]
        c.ended_at = datetime.fromisoformat(p["at"]) if p.get("at") else ev.time
        c.reason = p.get("reason") or p.get("refused") or ""
        c.client_order_id = p.get("client_order_id")
        c.order_status = p.get("order_status")
        if "value" in p:
            c.trigger_value = p["value"]
        return c

    def list(self, states: Iterable[str] | None = None) -> list[ConditionState]:
        want = set(states) if states else None
        return [c for c in self.items.values() if want is None or c.state in want]


# -- evaluation ----------------------------------------------------------------------------------
class _Leaf:
    """One trigger of a condition. ``prev``: the side of the last value seen (None before the first)."""

    def __init__(self, path: str, spec: dict, own: str, prev: int | None, now: datetime):
        self.path, self.spec, self.kind = path, spec, spec["kind"]
        self.key = None if self.kind == "time" else _key(spec.get("symbol") or own)
        self.cross = spec.get("cross")
        self.prev = prev
        self.builder = None
        self._now = now
        if self.kind == "time":
            at = spec["at"]
            self.at = (datetime.fromisoformat(at) if ("T" in at or len(at) > 8)
                       else datetime.combine(now.astimezone(IST).date(), time.fromisoformat(at), IST))
            self.level = 0.0
        elif self.kind == "indicator":
            from tradekit.execution.condition_indicators import BarBuilder, bars_needed

            self.builder = BarBuilder(spec.get("interval", "1min"), bars_needed(spec))
            self.level = float(spec["level"]) if spec["indicator"] == "rsi" else 0.0
        else:
            self.level = float(spec["level"])

    def value(self, tick) -> float | None:
        if self.kind in ("price", "symbol"):
            return float(tick.last_price)
        from tradekit.execution.condition_indicators import indicator_value

        b = self.builder
        b.add(tick.ts or tick.last_trade_time or self._now, float(tick.last_price), tick.volume, tick.last_quantity)
        return indicator_value(self.spec, b.bars(), float(tick.last_price))


@dataclass
class _Armed:
    state: ConditionState
    leaves: list[_Leaf]
    fired: set = field(default_factory=set)
    due: tuple | None = None  # (value, leaf): triggered while new orders were blocked; sent when they resume


class ConditionBook:
    """The session's conditions: arm, evaluate on ticks and the clock, trigger, cancel, expire.

    Build with :meth:`attach` (``Session._build`` does it); ``session.conditions()`` lists them.
    """

    def __init__(self, session) -> None:
        self.s = session
        self.lock = getattr(session.oms, "_lock", None) or threading.RLock()
        self.ledger = ConditionLedger()
        self.armed: dict[str, _Armed] = {}
        self._by_key: dict[str, set[str]] = {}
        self._pending: deque = deque()  # ticks that arrived while another thread held the session's lock
        self._cum: dict[str, int] = {}  # on_bars: the day's volume so far per instrument
        self._cum_day = None

    @classmethod
    def attach(cls, session) -> "ConditionBook":
        """Rebuild from the session's journal, re-arm (and subscribe) what is armed, listen to the hub."""
        book = cls(session)
        book.ledger = ConditionLedger.from_journal(session.journal)
        now = session.clock.now()
        for c in book.ledger.list([ARMED]):
            try:
                book._arm_live(c, now)
            except Exception as e:  # one condition that cannot be re-armed must not stop the session
                log.exception("condition %s cannot be re-armed", c.id)
                book._end(c.id, E.CONDITION_CANCELLED, now, reason=f"cannot be re-armed after a restart: {e}")
        session.market.add_listener(book.on_tick)
        session.on_foreign(E.CONDITION_CANCELLED, book._on_foreign_end)
        return book

    # -- arming ------------------------------------------------------------------------------------
    def arm(self, signal, route: str | None = None) -> ConditionState:
        """Hold ``signal`` (its ``meta["condition"]``) until its trigger; journal ``condition.created``."""
        from tradekit.signals.condition_fields import parse_condition

        spec = parse_condition(signal.meta.get("condition"))
        own = signal.key
        keys = watched(spec, own)
        hub = self.s.market
        if keys:  # subscribed first: live, the state at creation is the first quote (quote_wait_seconds)
            hub.want(keys, "condition:arming")
        try:
            for path, leaf in leaves(spec):
                if leaf["kind"] in ("price", "symbol") and hub.last_price(_key(leaf.get("symbol") or own)) is None:
                    hub.wait_quote(_key(leaf.get("symbol") or own))
            return self._create(signal, spec, route)
        finally:
            if keys:
                hub.unwant(keys, "condition:arming")

    def _create(self, signal, spec: dict, route: str | None) -> ConditionState:
        from tradekit.signals.schema import signal_to_dict

        now = self.s.clock.now()
        with self.lock:
            expires = self._expiry(spec.get("until", "day"), now)
            if expires is not None and expires <= now:
                raise ValidationError(f"{expires.isoformat()} is already past (now {now.isoformat()})",
                                      field="condition.until")
            own = signal.key
            initial = {}
            for path, leaf in leaves(spec):
                if leaf["kind"] in ("price", "symbol"):
                    px = self.s.market.last_price(_key(leaf.get("symbol") or own))
                    initial[path] = None if px is None else _side(float(px), float(leaf["level"]))
            cid = f"C{len(self.ledger.items) + 1}"
            while cid in self.ledger.items:
                cid = f"C{int(cid[1:]) + 1}"
            payload = {"condition_id": cid, "signal_id": signal.signal_id, "strategy": signal.strategy,
                       "instrument": own, "side": signal.side.value, "condition": spec, "route": route,
                       "signal": signal_to_dict(signal), "created_at": now.isoformat(),
                       "expires_at": None if expires is None else expires.isoformat(), "initial": initial,
                       "watch": watched(spec, own)}
            ev = self.s._emit(E.CONDITION_CREATED, payload)
            c = self.ledger.apply(ev)
            self._arm_live(c, now)
            log.info("condition %s armed: %s -> %s %s", cid, c.description, signal.side.value, own)
            return c

    def _expiry(self, until: str, now: datetime) -> datetime | None:
        if until != "day":
            return datetime.fromisoformat(until)
        cal = getattr(self.s, "calendar", None)
        if cal is not None:
            try:
                return cal.next_close(now)
            except Exception as e:  # outside the calendar's tables: the normal close of the day
                log.debug("no close from the calendar for %s: %s", now, e)
        close = datetime.combine(now.astimezone(IST).date(), time(15, 30), IST)
        return close if close > now else close + timedelta(days=1)

    def _arm_live(self, c: ConditionState, now: datetime) -> None:
        ls = []
        for path, spec in leaves(c.spec):
            prog = c.progress.get(path, {})
            prev = prog.get("side", c.initial.get(path))
            leaf = _Leaf(path, spec, c.instrument, prev, c.created_at)
            ls.append(leaf)
        if any(leaf.kind == "indicator" for leaf in ls):
            from tradekit.execution.condition_indicators import preload

            preload()
        a = _Armed(c, ls, {p for p, v in c.progress.items() if v.get("fired")})
        due = [(v.get("value"), p) for p, v in c.progress.items() if v.get("due")]
        if due:
            a.due = due[0]
        self.armed[c.id] = a
        keys = watched(c.spec, c.instrument)
        if a.due is not None and c.instrument not in keys:
            keys.append(c.instrument)  # its price is what the due order waits for
        for k in keys:
            self._by_key.setdefault(k, set()).add(c.id)
        if keys:
            self.s.market.want(keys, f"condition:{c.id}")

    # -- evaluation -----------------------------------------------------------------------------
    def quiet_for(self, key: str) -> bool:
        """Nothing armed: ticks do nothing here (the hub's quiet runs, ``MarketDataHub.quiet``)."""
        return not self.armed

    def on_tick(self, tick) -> None:
        """The hub listener: evaluate the conditions that watch this tick's instrument (and the clock).
        Never blocks the feed's thread: while another thread holds the session's lock, ticks queue."""
        if not self.armed:
            return
        self._pending.append(tick)
        if not self.lock.acquire(blocking=False):
            return
        try:
            self._drain()
        finally:
            self.lock.release()

    def _drain(self) -> None:
        while self._pending:
            tick = self._pending.popleft()
            now = self.s.clock.now()
            self._clock(now)
            for cid in list(self._by_key.get(tick.key, ())):
                a = self.armed.get(cid)
                if a is not None:
                    self._observe(a, tick, now)

    def on_bars(self, bars: list[tuple[str, float, int]], at: datetime) -> None:
        """A fast bar replay (``run_replay`` without a hub feed): each ``(key, close, volume)`` as a tick
        with the day's volume so far, stamped a microsecond before the bar's end (``at``) so that the
        resampler puts the close in the bar's own bin."""
        from tradekit.data.types import Tick

        day = at.astimezone(IST).date()
        if self._cum_day != day:
            self._cum, self._cum_day = {}, day
        ticks = []
        for key, close, vol in bars:
            cum = self._cum[key] = self._cum.get(key, 0) + int(vol)
            ticks.append(Tick(key, at - timedelta(microseconds=1), float(close), None, "quote", last_quantity=int(vol),
                              volume=cum))
        for t in ticks:
            self.on_tick(t)
        self.poll(at)

    def poll(self, now: datetime | None = None) -> None:
        """Time-driven work (``Session.poll`` calls it each cycle): queued ticks, time conditions, expiry."""
        if not self.armed and not self._pending:
            return
        with self.lock:
            self._drain()
            self._clock(now or self.s.clock.now())

    def _clock(self, now: datetime) -> None:
        for cid, a in list(self.armed.items()):
            c = a.state
            if c.expires_at is not None and now >= c.expires_at:
                self._end(cid, E.CONDITION_EXPIRED, now, reason=f"not sent by {c.expires_at.isoformat()}"
                          if a.due else f"not triggered by {c.expires_at.isoformat()}")
                continue
            if a.due is not None:  # sent once new orders are allowed and the order's instrument has a price
                if self.s.oms.blocked_reason is None and self.s.market.last_price(c.instrument) is not None:
                    self._trigger(a, now, *a.due)
                continue
            for leaf in a.leaves:
                if leaf.kind == "time" and leaf.path not in a.fired and now >= leaf.at:
                    c.last_value, c.last_at = now.isoformat(), now
                    if self._leaf_fired(a, leaf, now, now.isoformat()):
                        break

    def _observe(self, a: _Armed, tick, now: datetime) -> None:
        if a.due is not None:
            return  # fired already; waiting for new orders to be allowed again
        for leaf in a.leaves:
            if leaf.key != tick.key or leaf.path in a.fired or a.state.id not in self.armed:
                continue
            leaf._now = now
            try:
                v = leaf.value(tick)
            except Exception as e:  # an indicator that cannot be computed: say so once per tick, keep the rest
                log.warning("condition %s: %s cannot be evaluated: %s", a.state.id, leaf.spec.get("indicator"), e)
                continue
            if v is None:
                continue  # warming up
            c = a.state
            c.last_value, c.last_at = round(v, 6), now
            s = _side(v, leaf.level)
            fire = crossed(leaf.cross, leaf.prev, s)
            if not fire and s == _waiting(leaf.cross) and leaf.prev != s and leaf.kind != "indicator":
                # primed: the next move to the level is a crossing; a restart must know it
                ev = self.s._emit(PROGRESS, {"condition_id": c.id, "leaf": leaf.path, "side": s, "value": str(v)})
                self.ledger.apply(ev)
            leaf.prev = s
            if fire and self._leaf_fired(a, leaf, now, v):
                return

    def _leaf_fired(self, a: _Armed, leaf: _Leaf, now: datetime, value) -> bool:
        """A leaf fired: trigger the condition (single, ``any``), or latch it (``all``). True when triggered."""
        c = a.state
        a.fired.add(leaf.path)
        if c.spec["kind"] == "all" and len(a.fired) < len(a.leaves):
            ev = self.s._emit(PROGRESS, {"condition_id": c.id, "leaf": leaf.path, "fired": True, "value": str(value)})
            self.ledger.apply(ev)
            return False
        self._trigger(a, now, value, leaf.path)
        return True

    # -- ending --------------------------------------------------------------------------------
    def _trigger(self, a: _Armed, now: datetime, value, leaf: str) -> None:
        """Send the held signal through the session's one path (sizing, gate, approval, OMS)."""
        from tradekit.signals.schema import signal_from_dict

        c = a.state
        sig = signal_from_dict(c.signal)
        meta = {k: v for k, v in sig.meta.items() if k != "condition"}
        meta["condition_id"] = c.id
        px = self.s.market.last_price(c.instrument)
        sig = dataclasses.replace(sig, meta=meta, reference_price=px if px is not None else sig.reference_price)
        out: dict = {"condition_id": c.id, "parent_id": c.id, "signal_id": c.signal_id, "at": now.isoformat(),
                     "value": value if isinstance(value, str) else str(value), "leaf": leaf}
        with self.s.journal.transaction():  # the trigger and the order it makes: one commit
            try:
                order = self.s.submit_signal(sig, c.route)
            except JournalUnavailable:
                raise  # nothing can be recorded: the session halts; the condition re-arms from the journal
            except TradingHalted as e:
                if self._park:  # new orders blocked for now (reconciliation, login, journal): due, retried each poll
                    if a.due is None:
                        ev = self.s._emit(PROGRESS, {"condition_id": c.id, "leaf": leaf, "due": True, "fired": True,
                                                     "value": out["value"], "blocked": str(e)})
                        self.ledger.apply(ev)
                        log.warning("condition %s triggered while new orders are blocked (%s): sent when they resume",
                                    c.id, e)
                    a.due = (out["value"], leaf)
                    return
                out["refused"] = f"{type(e).__name__}: {e}"
                log.warning("condition %s triggered, order refused: %s", c.id, e)
            except Exception as e:  # sizing refused, unknown instrument...: journaled, the session goes on
                out["refused"] = f"{type(e).__name__}: {e}"
                (log.warning if isinstance(e, (TradekitError, ValueError)) else log.exception)(
                    "condition %s triggered, order refused: %s", c.id, e)
            else:
                out["client_order_id"] = order.client_order_id
                out["order_status"] = order.status.value
                log.info("condition %s triggered at %s: order %s (%s)", c.id, value, order.client_order_id,
                         order.status.value)
            ev = self.s._emit(E.CONDITION_TRIGGERED, out)
        self._forget(c.id)
        self.ledger.apply(ev)

    @property
    def _park(self) -> bool:
        sig = getattr(self.s.config, "signals", None)
        return getattr(sig, "when_blocked", "park") == "park"

    def cancel(self, condition_id: str, reason: str = "", by: str = "notebook") -> ConditionState:
        """Cancel an armed condition (journaled ``condition.cancelled``)."""
        with self.lock:
            c = self.ledger.items.get(condition_id)
            if c is None:
                raise ValidationError(f"no condition {condition_id!r}", field="condition_id")
            if not c.armed:
                raise ValidationError(f"condition {condition_id} is already {c.state}", field="condition_id")
            self._end(condition_id, E.CONDITION_CANCELLED, self.s.clock.now(), reason=reason or "cancelled", by=by)
            return c

    def _end(self, cid: str, type_: str, now: datetime, **extra) -> None:
        self._forget(cid)
        ev = self.s._emit(type_, {"condition_id": cid, "at": now.isoformat(), **extra})
        self.ledger.apply(ev)
        log.info("condition %s %s: %s", cid, _END[type_], extra.get("reason", ""))

    def _forget(self, cid: str) -> None:
        a = self.armed.pop(cid, None)
        if a is None:
            return
        keys = watched(a.state.spec, a.state.instrument)
        if a.state.instrument not in keys:
            keys.append(a.state.instrument)  # wanted while a trigger was due (unwant is a no-op otherwise)
        for k in keys:
            ids = self._by_key.get(k)
            if ids is not None:
                ids.discard(cid)
                if not ids:
                    del self._by_key[k]
        if keys:
            self.s.market.unwant(keys, f"condition:{cid}")

    def _on_foreign_end(self, ev) -> None:
        """``condition.cancelled`` appended by another process (``tradekit conditions cancel``)."""
        with self.lock:
            c = self.ledger.apply(ev)
            if c is not None and not c.armed:
                self._forget(c.id)

    # -- reading -------------------------------------------------------------------------------
    def list(self, states: Iterable[str] | None = None) -> list[ConditionState]:
        return self.ledger.list(states)
