"""Kill and unlock requests written to the journal: the same events ``tradekit kill`` / ``unlock`` write.

Used by the approval dashboard (Unlock with a reason) and by the kill endpoint of
``tradekit serve`` (:mod:`tradekit.ui.killswitch`), which must work while a page's kernel is
dead. The running session acts on them at its next journal poll.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tradekit.clock import IST
from tradekit.errors import TradingHalted, ValidationError
from tradekit.store.events import EventType as E

_RANK = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}


def request_kill(journal, reason: str, *, by: str, origin: str, flatten: bool = True) -> int:
    """Trip the kill switch; returns the journal seq of the ``risk.kill_switch`` event."""
    from tradekit.risk.killswitch import last_trip
    from tradekit.store.archive import read_events

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("say why the kill switch is tripped", field="reason")
    state, _, _ = last_trip(read_events(journal, types=(E.TRADING_STATE,)))  # an archived trip still counts
    ev = journal.append(E.KILL_SWITCH, {"action": "trip", "reason": reason, "by": by, "flatten": flatten,
                                        "previous": state, "origin": origin})
    if state != "HALTED":
        journal.append(E.TRADING_STATE, {"state": "HALTED", "previous": state, "cause": "kill_switch", "by": by,
                                         "reason": reason, "origin": origin})
    return ev.seq


def request_unlock(journal, reason: str, *, by: str, origin: str, to: str = "ACTIVE", cooloff_seconds: float = 0,
                   now: datetime | None = None) -> str:
    """Unlock trading after a trip once the cool-off has passed; returns what was done (one line).

    Raises :class:`ValidationError` without a reason or for a bad target, and
    :class:`TradingHalted` while the cool-off runs.
    """
    from tradekit.risk.killswitch import last_trip
    from tradekit.store.archive import read_events

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("an unlock needs a reason (it is recorded in the audit trail)", field="reason")
    target = (to or "").strip().upper()
    if target not in ("ACTIVE", "REDUCING"):
        raise ValidationError(f"{to!r} is not ACTIVE or REDUCING", field="to")
    state, at, cause = last_trip(read_events(journal, types=(E.TRADING_STATE,)))  # an archived trip still counts
    if _RANK[target] >= _RANK[state]:
        return f"trading is {state}: nothing to unlock"
    now = now or datetime.now(IST)
    if at is not None:
        until = at + timedelta(seconds=cooloff_seconds)
        if now < until:
            left = int((until - now).total_seconds()) + 1
            raise TradingHalted(f"unlock refused: the cool-off after the {cause} trip at {at.astimezone(IST):%H:%M:%S} "
                                f"runs until {until.astimezone(IST):%H:%M:%S} ({left // 60} min {left % 60} s left)")
    journal.append(E.KILL_SWITCH, {"action": "unlock", "reason": reason, "by": by, "to": target, "origin": origin})
    journal.append(E.TRADING_STATE, {"state": target, "previous": state, "cause": "unlock", "by": by,
                                     "reason": reason, "origin": origin})
    return f"{target} (was {state}), unlocked by {by}: {reason}"
