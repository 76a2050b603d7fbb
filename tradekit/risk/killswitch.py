"""The kill switch: halt, cancel everything, flatten; and the deliberate way back.

``trip(reason, by)`` moves the gate to HALTED at once (new orders are refused from that
instant), journals ``risk.kill_switch`` and ``risk.trading_state``, then asks the executor
(the OMS) to cancel all open orders and flatten every position. The flatten orders carry
``source="kill_switch"`` so the gate lets them through in HALTED.

``unlock(reason, by)`` needs a reason and is refused inside the cool-off (counted from the
last trip, manual or automatic); it is journaled the same way. Breaker actions go through
:meth:`KillSwitch.apply`, so every halt, manual or automatic, takes one path.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol, runtime_checkable

from tradekit.clock import Clock, RealClock
from tradekit.errors import TradingHalted, ValidationError
from tradekit.risk.base import TradingState
from tradekit.store.events import EventType as E

if TYPE_CHECKING:  # pragma: no cover
    from tradekit.risk.breakers import BreakerAction
    from tradekit.risk.gate import PreTradeGate
    from tradekit.store.journal import Event

log = logging.getLogger(__name__)

Emit = Callable[[str, dict], Any]


@runtime_checkable
class RiskExecutor(Protocol):
    """What the kill switch drives (the OMS provides it). Both must be idempotent: a second
    call while the first one's orders are working must not double them."""

    def cancel_all(self, *, reason: str, source: str) -> Any: ...

    def flatten(self, strategy: str | None = None, *, reason: str, source: str) -> Any: ...


class KillSwitch:
    """Manual kill switch and the actuator of breaker actions.

    Parameters
    ----------
    gate
        The gate whose trading state this switch drives.
    executor
        The OMS (:class:`RiskExecutor`); may be attached later with :meth:`attach`.
    emit
        ``emit(event_type, payload)``: journals an event and applies it to the book (the
        session's emit). Without it, events are kept in :attr:`events` (notebooks, tests).
    cooloff_seconds
        Unlock is refused until this long after the last trip.
    clock
        Where "now" comes from (a replay's ``SimClock``).
    """

    def __init__(self, gate: "PreTradeGate", *, executor: RiskExecutor | None = None, emit: Emit | None = None,
                 cooloff_seconds: float | None = None, clock: Clock | None = None) -> None:
        self.gate = gate
        self.executor = executor
        self._emit = emit
        self.events: list[tuple[str, dict]] = []
        self.cooloff = float(gate.config.breakers.cooloff_seconds if cooloff_seconds is None else cooloff_seconds)
        self.clock = clock or RealClock()
        self.origin = f"risk-{uuid.uuid4().hex[:8]}"  # marks our own journal events
        self.tripped_at: datetime | None = None
        self.tripped_by: str | None = None
        self.trip_cause: str | None = None

    def attach(self, executor: RiskExecutor | None = None, emit: Emit | None = None) -> None:
        if executor is not None:
            self.executor = executor
        if emit is not None:
            self._emit = emit

    def emit(self, type_: str, payload: dict) -> None:
        payload = {**payload, "origin": self.origin}
        self.events.append((type_, payload))
        if self._emit is not None:
            self._emit(type_, payload)

    @property
    def state(self) -> TradingState:
        return self.gate.state

    @property
    def tripped(self) -> bool:
        return self.gate.state is not TradingState.ACTIVE

    def cooloff_left(self, now: datetime | None = None) -> float:
        """Seconds until unlock is allowed (0 when it is)."""
        if self.tripped_at is None:
            return 0.0
        now = now or self.clock.now()
        return max(0.0, self.cooloff - (now - self.tripped_at).total_seconds())

    # -- the actions -------------------------------------------------------------------------
    def _mark_trip(self, now: datetime, by: str, cause: str) -> None:
        self.tripped_at, self.tripped_by, self.trip_cause = now, by, cause

    def _execute(self, *, cancel: bool, flatten: bool, reason: str, source: str, strategy: str | None = None) -> list[str]:
        problems: list[str] = []
        if self.executor is None:
            if cancel or flatten:
                problems.append("no executor attached: open orders and positions were left as they are")
        else:
            # flatten even if cancelling failed: each step is tried on its own
            if cancel:
                try:
                    self.executor.cancel_all(reason=reason, source=source)
                except Exception as e:  # noqa: BLE001 - the kill switch must carry on
                    problems.append(f"cancel_all failed: {e}")
            if flatten:
                try:
                    self.executor.flatten(strategy, reason=reason, source=source)
                except Exception as e:  # noqa: BLE001
                    problems.append(f"flatten failed: {e}")
        for p in problems:
            log.error("kill switch: %s", p)
            self.emit(E.ALERT, {"kind": "kill_switch", "level": "critical", "message": p})
        return problems

    def trip(self, reason: str, by: str = "user", *, flatten: bool = True, cancel: bool = True,
             now: datetime | None = None) -> dict:
        """Halt trading now, cancel open orders and (by default) flatten every position.

        Returns a summary: ``{"state", "previous", "flatten", "problems"}``.
        """
        reason = (reason or "").strip()
        if not reason:
            raise ValidationError("say why the kill switch is tripped", field="reason")
        now = now or self.clock.now()
        previous = self.gate.state
        change = self.gate.set_state(TradingState.HALTED, cause="kill_switch", by=by, reason=reason, now=now)
        self._mark_trip(now, by, "kill_switch")
        self.emit(E.KILL_SWITCH, {"action": "trip", "reason": reason, "by": by, "flatten": flatten,
                                  "previous": previous.value})
        if change is not None:
            self.emit(E.TRADING_STATE, change)
        problems = self._execute(cancel=cancel, flatten=flatten, reason=f"kill switch: {reason}", source="kill_switch")
        return {"state": self.gate.state.value, "previous": previous.value, "flatten": flatten, "problems": problems}

    def apply(self, action: "BreakerAction", *, now: datetime | None = None) -> bool:
        """Apply a breaker's action: journal the breach, escalate the state, cancel on a
        change, flatten on a hard trigger. Returns True when the state changed."""
        now = now or self.clock.now()
        self.emit(E.LIMIT_BREACH, action.payload())
        change = self.gate.escalate(action.state, cause=action.trigger, by="breaker", reason=action.reason, now=now)
        if change is not None:
            self.emit(E.TRADING_STATE, change)
            self._mark_trip(now, "breaker", action.trigger)
        elif action.state.rank >= self.gate.state.rank:
            self._mark_trip(now, "breaker", action.trigger)  # a new trip restarts the cool-off
        # Cancel only on a change: once restricted, the only working orders are our own flatten orders.
        self._execute(cancel=action.cancel and change is not None, flatten=action.flatten,
                      reason=f"{action.trigger}: {action.reason}", source="breaker")
        return change is not None

    def unlock(self, reason: str, by: str, *, to: TradingState | str = TradingState.ACTIVE,
               now: datetime | None = None) -> dict | None:
        """Return to ``to`` (ACTIVE or REDUCING) after the cool-off; journaled.

        Raises
        ------
        ValidationError
            No reason was given.
        TradingHalted
            Still inside the cool-off (the message says until when).
        """
        reason = (reason or "").strip()
        if not reason:
            raise ValidationError("an unlock needs a reason (it is recorded in the audit trail)", field="reason")
        if not by:
            raise ValidationError("say who unlocks", field="by")
        now = now or self.clock.now()
        target = TradingState(to)
        if target is TradingState.HALTED:
            raise ValidationError("unlock goes to ACTIVE or REDUCING; use trip() to halt", field="to")
        if target.rank >= self.gate.state.rank:
            return None
        left = self.cooloff_left(now)
        if left > 0:
            until = self.tripped_at + timedelta(seconds=self.cooloff)
            raise TradingHalted(
                f"unlock refused: the cool-off after the {self.trip_cause} trip at {self.tripped_at:%H:%M:%S} runs "
                f"until {until:%H:%M:%S} ({_dur(left)} left)")
        change = self.gate.set_state(target, cause="unlock", by=by, reason=reason, now=now)
        self.emit(E.KILL_SWITCH, {"action": "unlock", "reason": reason, "by": by, "to": target.value})
        if change is not None:
            self.emit(E.TRADING_STATE, change)
        return change

    # -- restart -----------------------------------------------------------------------------
    def restore(self, events: Iterable["Event"]) -> None:
        """Adopt the last trading state and trip time the journal records (at session start)."""
        last = None
        tripped = None
        for ev in events:
            if ev.type == E.TRADING_STATE:
                last = ev
                if ev.payload.get("state") != "ACTIVE" and TradingState(ev.payload["state"]).rank > TradingState(
                        ev.payload.get("previous", "ACTIVE")).rank:
                    tripped = ev
        if last is not None:
            self.gate.restore_state(last.payload["state"], last.payload.get("cause", "journal"), last.payload.get("reason", ""))
        if tripped is not None:
            self._mark_trip(tripped.time, tripped.payload.get("by", "?"), tripped.payload.get("cause", "?"))


def _dur(seconds: float) -> str:
    s = int(round(seconds))
    m, s = divmod(s, 60)
    return f"{m} min {s} s" if m else f"{s} s"


def last_trip(events: Iterable["Event"]) -> tuple[str, datetime | None, str | None]:
    """(current state, time of the last escalation, its cause) from journal events."""
    state, at, cause = "ACTIVE", None, None
    for ev in events:
        if ev.type != E.TRADING_STATE:
            continue
        p = ev.payload
        if TradingState(p["state"]).rank > TradingState(p.get("previous", "ACTIVE")).rank:
            at, cause = ev.time, p.get("cause")
        state = p["state"]
    return state, at, cause
