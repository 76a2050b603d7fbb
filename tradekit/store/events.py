"""Journal event types. Every state change is one of these, appended to the journal."""

from __future__ import annotations


class EventType:
    SESSION_STARTED = "session.started"
    SESSION_ENDED = "session.ended"
    DAY_ROLLED = "day.rolled"

    SIGNAL_RECEIVED = "signal.received"
    SIGNAL_REJECTED = "signal.rejected"  # malformed, duplicate or expired
    SIGNAL_PARKED = "signal.parked"  # received while new orders were blocked; tried again when trading resumes
    SIGNAL_UNPARKED = "signal.unparked"  # a parked signal taken (order made), expired or refused

    ORDER_CREATED = "order.created"
    RISK_DECISION = "risk.decision"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_DECISION = "approval.decision"  # a person's decision, written by a dashboard; the session acts on it
    APPROVAL_GRANTED = "approval.granted"
    APPROVAL_REJECTED = "approval.rejected"
    APPROVAL_EXPIRED = "approval.expired"
    ORDER_SUBMITTED = "order.submitted"
    ORDER_UPDATE = "order.update"  # a broker status (ack, open, trigger pending, complete, ...)
    ORDER_UNKNOWN = "order.unknown"  # ambiguous outcome; to be resolved by tag
    ORDER_MODIFY_REQUESTED = "order.modify_requested"
    ORDER_MODIFIED = "order.modified"
    ORDER_CANCEL_REQUESTED = "order.cancel_requested"
    FILL = "fill"

    POSITION_ADJUSTED = "position.adjusted"  # corporate action, settlement, square-off note
    MARK = "mark"  # end-of-interval marks for P&L (batched)
    CASH = "cash"  # deposits, withdrawals, dividends

    LIMIT_BREACH = "risk.limit_breach"
    TRADING_STATE = "risk.trading_state"  # ACTIVE / REDUCING / HALTED
    KILL_SWITCH = "risk.kill_switch"
    CONTROL = "control"  # a request from another process (cancel, flatten) for the running session
    RECONCILIATION = "broker.reconciliation"
    BROKER_ERROR = "broker.error"
    ALERT = "alert"
    NOTE = "note"

    # brackets and trailing stops (tradekit/execution/brackets.py); children's order.created carry
    # meta {"parent_id", "bracket_id", "role"}
    BRACKET_CREATED = "bracket.created"  # the group: entry, stop, targets, trail
    BRACKET_STOP_MOVED = "bracket.stop_moved"  # trail, break-even or a person's modify
    BRACKET_MODIFIED = "bracket.modified"  # targets changed by a person
    BRACKET_TAKEN_DOWN = "bracket.taken_down"  # cancel, flatten, square-off, kill switch: the whole group goes
    BRACKET_PROTECTED = "bracket.protected"  # the crash protector (GTT OCO) answered
    BRACKET_CHILD_FAILED = "bracket.child_failed"  # a child denied/rejected: retried after brackets.child_retry_seconds
    BRACKET_CLOSED = "bracket.closed"
    # -- slicing and execution algorithms (issue 15; tradekit/execution/slicing.py, tradekit/execution/algos/) --
    # A parent order (approved once) split into child orders; every child carries ``parent_id``.
    SLICE_STARTED = "slice.started"  # an order above the freeze quantity is sent as slices (the parent becomes SLICED)
    SLICE_MODIFIED = "slice.modified"  # the parent's quantity/price changed (applies to open and future slices)
    SLICE_CANCELLED = "slice.cancelled"  # no more slices; open slices are cancelled
    SLICE_COMPLETED = "slice.completed"  # every slice is final: the parent's outcome
    ALGO_STARTED = "algo.started"  # a TWAP/VWAP/POV parent begins (the parent becomes SLICED)
    ALGO_VOLUME_BASE = "algo.volume_base"  # POV: the day's cumulative volume when it began counting
    ALGO_MODIFIED = "algo.modified"
    ALGO_CANCELLED = "algo.cancelled"
    ALGO_COMPLETED = "algo.completed"

    # GTT protection at the broker (issue 15, tradekit.execution.gtt); ``parent_id`` = the bracket
    GTT_PLACED = "gtt.placed"  # a GTT OCO protects a bracket's position (bracket_id <-> gtt_id)
    GTT_MODIFIED = "gtt.modified"
    GTT_DELETED = "gtt.deleted"
    GTT_FAILED = "gtt.failed"  # a place/modify/delete the broker refused or did not answer
    GTT_TRIGGERED = "gtt.triggered"  # a leg fired at the broker (its order adopted into the book)
    GTT_CLOSED = "gtt.closed"  # the protection ended (position closed, GTT fired or removed)
    GTT_FINDING = "gtt.finding"  # one finding of a GTT reconciliation against the broker and the book
    GTT_REQUEST = "gtt.request"  # protect/delete asked by another process (tradekit gtt ...)

    # the alert manager's durable outbox (issue 18, tradekit.alerts); ``id`` names the alert
    ALERT_RAISED = "alert.raised"  # {id, kind, priority, title, text, key, channels, cause_seq}
    ALERT_SENT = "alert.sent"  # {id, channel, attempt, ref}: delivered to one channel (ref: e.g. a Telegram message_id)
    ALERT_FAILED = "alert.failed"  # {id, channel, attempt, error, final, retry_in}: a send that failed
    ALERT_ACKED = "alert.acked"  # {id, by, via}: a person saw it; escalation stops
    ALERT_ESCALATED = "alert.escalated"  # {id, from, to}: unacknowledged past escalation.after_minutes
    ALERT_ACK_REQUESTED = "alert.ack_requested"  # a request (dashboard, CLI) the session turns into alert.acked

    # conditional orders (tradekit/execution/conditions.py): a signal held until its trigger
    CONDITION_CREATED = "condition.created"
    CONDITION_PROGRESS = "condition.progress"  # moved to the side a crossing starts from; a child of `all` fired; due
    CONDITION_TRIGGERED = "condition.triggered"  # the order went to the gate (or was refused: see payload)
    CONDITION_CANCELLED = "condition.cancelled"
    CONDITION_EXPIRED = "condition.expired"

    # multi-leg baskets (issue 21, tradekit.execution.basket); each leg's order.created carries meta.basket
    BASKET_CREATED = "basket.created"  # the legs, payoff, margin and the gate's basket checks (allowed or refused)
    BASKET_STATE = "basket.state"  # working / leg_failed / retrying / unwinding / complete / unwound / alerted / ...
