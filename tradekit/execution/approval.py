"""The approval queue: proposals a person approves, modifies or rejects, read from the journal.

Each Voila tab is its own kernel and the broker lives in the session's process, so this
service never calls the OMS. It reads the journal (a :class:`~tradekit.store.Book` rebuilt
once, then kept current with ``journal.events(after=last_seq)``) and writes a person's
decision as an ``approval.decision`` event. The running session picks that up in
:meth:`~tradekit.session.Session.poll`, re-checks the TTL, the price drift and the risk gate,
acts, and journals the outcome, which the queue reads back::

    q = ApprovalQueue.from_config()              # $TRADEKIT_CONFIG or config/default.yaml
    for p in q.pending():                        # Proposal: signal, gate, charges, margin, TTL
        print(p.title, p.ttl_left(q.now()))
    r = q.approve(p.client_order_id, reason="looks fine")
    q.wait_outcome(p.client_order_id, after=r.seq)   # Outcome(ok=True, state="approved", ...)

Life of a proposal (:attr:`Proposal.state`)::

    pending ─┬─► approved   as proposed, by a person or by an auto-approval policy (``auto``)
             ├─► modified   approved with a changed quantity or price
             ├─► rejected   by a person, with a reason (or withdrawn by a cancel)
             ├─► expired    its TTL passed first; it can no longer be approved
             └─► denied     the risk gate said no (when proposed, or re-checked at approval)

Decisions are idempotent on (order id, decision): while one is unanswered, the same decision
again returns the first receipt instead of writing a second event (clicks queue up in the
kernel); after :data:`RESEND_AFTER` seconds without an answer it may be sent again, and the
OMS itself ignores an approval for an order that is no longer pending.

Cancels, flatten and the kill switch are never queued: :meth:`cancel`, :meth:`flatten` and
:meth:`kill` write requests the session executes at once.
"""

from __future__ import annotations

import getpass
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradekit.clock import IST
from tradekit.errors import TradekitError, ValidationError
from tradekit.execution.bracket_spec import bracket_card
from tradekit.model.charges import Charges
from tradekit.model.money import ZERO, dec, fmt_inr, paise
from tradekit.model.order import OrderRequest, OrderStatus
from tradekit.store.events import EventType as E
from tradekit.store.follower import JournalFollower
from tradekit.store.journal import Event, Journal
from tradekit.store.projection import Book

if TYPE_CHECKING:  # pragma: no cover
    from tradekit.config import TradekitConfig

log = logging.getLogger(__name__)

APPROVE, REJECT = "approve", "reject"
PENDING, APPROVED, MODIFIED = "pending", "approved", "modified"
REJECTED, EXPIRED, DENIED = "rejected", "expired", "denied"
ORIGIN = "dashboard"

# how long an unanswered decision may wait before the queue says the session seems absent
SESSION_SILENT_AFTER = 3.0
# an identical unanswered decision younger than this is a duplicate click; an older one may be
# sent again (the session may have restarted, and it ignores requests written before it started)
RESEND_AFTER = 10.0


def os_user() -> str:
    """The login name, or ``unknown-user`` in containers without a passwd entry."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry
        return "unknown-user"


# -- read side -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Proposal:
    """Everything an approval card shows about one order.

    Money is ``Decimal`` in rupees; ``None`` means "not known here" (e.g. no price yet for a
    market order), never zero. ``checks`` are the gate's results when proposed, as journaled
    (``{code, ok, message, value, limit}``); ``recheck`` is the gate's answer at approval when
    it refused. ``messages`` is what the session said about the last decision it could not
    carry out (price drift to confirm, expired, ...).
    """

    client_order_id: str
    state: str
    order_status: str
    strategy: str
    source: str
    approval_mode: str
    exchange: str
    tradingsymbol: str
    side: str
    quantity: int
    order_type: str
    product: str
    price: Decimal | None
    trigger_price: Decimal | None
    created_at: datetime | None
    expires_at: datetime | None
    ttl_seconds: int | None
    price_at_proposal: Decimal | None
    last_price: Decimal | None
    signal: dict | None
    gate_allowed: bool | None
    gate_reason: str
    checks: tuple[dict, ...]
    recheck: dict | None
    value: Decimal | None
    margin: Decimal | None
    expected_charges: Charges | None
    round_trip_charges: Decimal | None
    charges_note: str
    decided_by: str | None
    decided_at: datetime | None
    decided_seq: int | None  # journal seq of the outcome (orders decisions made at the same session time)
    decision_reason: str | None
    auto: bool
    changes: dict
    drift_at_approval: Decimal | None  # % the price had moved when the session approved it
    awaiting: dict | None  # a decision written and not answered yet: {"decision", "seq", "by", "age"}
    messages: tuple[str, ...]
    broker_order_id: str | None
    filled_quantity: int
    average_price: Decimal | None
    bracket: dict | None = None  # a bracket's entry: stop, targets, trail, ₹ at risk, reward:risk (bracket_spec.bracket_card)
    basket: dict | None = None  # a basket's head leg: the whole basket (tradekit.execution.basket, ui/basket_card.py)

    @property
    def is_pending(self) -> bool:
        return self.state == PENDING

    @property
    def symbol(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def signal_id(self) -> str | None:
        return (self.signal or {}).get("signal_id")

    @property
    def title(self) -> str:
        """``BUY 10 NSE:RELIANCE LIMIT @ 2,450.50 MIS``."""
        px = ""
        if self.price is not None:
            px = f" @ {fmt_inr(self.price, 2)}"
        if self.trigger_price is not None:
            px += f" trigger {fmt_inr(self.trigger_price, 2)}"
        return f"{self.side} {self.quantity:,} {self.symbol} {self.order_type}{px} {self.product}"

    @property
    def drift_pct(self) -> Decimal | None:
        """Signed % move of the last price since the proposal; positive is worse for the trader."""
        p0, p1 = self.price_at_proposal, self.last_price
        if p0 is None or p1 is None or p0 == 0:
            return None
        d = (p1 - p0) / p0 * 100
        return d if self.side == "BUY" else -d

    def ttl_left(self, now: datetime) -> float | None:
        """Seconds until the proposal expires (negative once past), by the session's clock ``now``."""
        if self.expires_at is None:
            return None
        return (self.expires_at - now).total_seconds()


@dataclass(frozen=True)
class Receipt:
    """What a write did: the journal seq of the request, or why nothing was written."""

    client_order_id: str | None
    action: str
    seq: int | None
    written: bool
    message: str = ""
    duplicate: bool = False


@dataclass(frozen=True)
class Outcome:
    """The session's answer to a decision (or ``done=False`` when it has not answered yet)."""

    client_order_id: str
    done: bool
    ok: bool
    state: str
    order_status: str
    messages: tuple[str, ...] = ()
    broker_order_id: str | None = None


@dataclass(frozen=True)
class BulkLine:
    client_order_id: str
    title: str
    value: Decimal | None
    margin: Decimal | None
    charges: Decimal | None
    ttl_left: float | None
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class BulkSummary:
    """The per-order summary a person sees before a bulk approve.

    :meth:`ApprovalQueue.bulk_approve` takes this object, so only orders that were shown
    can be approved in bulk.
    """

    lines: tuple[BulkLine, ...]
    total_value: Decimal
    total_margin: Decimal
    total_charges: Decimal
    available: Decimal | None
    seen_seq: int
    warnings: tuple[str, ...] = ()

    @property
    def client_order_ids(self) -> list[str]:
        return [ln.client_order_id for ln in self.lines]

    def render(self) -> str:
        """Plain text, one line per order, then the totals."""
        out = []
        for ln in self.lines:
            w = f"  ⚠ {'; '.join(ln.warnings)}" if ln.warnings else ""
            out.append(f"{ln.client_order_id}  {ln.title}  value {_inr(ln.value)}  margin {_inr(ln.margin)}  "
                       f"charges {_inr(ln.charges)}{w}")
        out.append(f"{len(self.lines)} orders: value {_inr(self.total_value)}, margin {_inr(self.total_margin)}"
                   f" (available {_inr(self.available)}), charges {_inr(self.total_charges)}")
        out += [f"⚠ {w}" for w in self.warnings]
        return "\n".join(out)


def _inr(x: Decimal | None) -> str:
    return "n/a" if x is None else fmt_inr(x, 2)


# -- the service ---------------------------------------------------------------------------------
class ApprovalQueue(JournalFollower):
    """Read pending proposals from a journal and write people's decisions to it.

    Parameters
    ----------
    journal : Journal
        The store the running session writes (its own connection; another process is fine).
    config : TradekitConfig, optional
        Gives the approver name (``approval.approver``), margin model (``paper.margin``),
        charges date (``execution.charges_as_of``) and the auto-approval policy.
    instruments : optional
        ``get(exchange, symbol) -> Instrument`` for charges and margin (default: bundled).
    approver : str, optional
        Name recorded on decisions; default ``approval.approver``, else the OS user.
    """

    def __init__(self, journal: Journal, config: "TradekitConfig | None" = None, *, instruments=None,
                 approver: str | None = None):
        self.journal = journal
        self.config = config
        cfg_approver = getattr(getattr(config, "approval", None), "approver", None)
        self.approver = approver or cfg_approver or os_user()
        self._instruments = instruments
        self.book = Book()
        self.prices: dict[str, Decimal] = {}
        self.live_prices: dict[str, Decimal] = {}  # from marks and fills only (not a signal's reference price)
        self.seq = 0
        self.kills: list[dict] = []
        self.state_change: dict | None = None  # the last risk.trading_state event: state, cause, by, reason, at
        self._signals: dict[str, dict] = {}
        self._created: dict[str, dict] = {}
        self._gate: dict[str, dict] = {}
        self._recheck: dict[str, dict] = {}
        self._requested: dict[str, dict] = {}
        self._outcome: dict[str, tuple[str, dict, datetime, int]] = {}
        self._answers: dict[str, list[tuple[int, str, dict]]] = {}
        self._messages: dict[str, tuple[str, ...]] = {}
        self._open: dict[int, tuple[str, str, dict, float]] = {}  # decision seq -> (cid, decision, payload, wall time)
        self._decisions: dict[str, list[tuple[int, str]]] = {}  # cid -> [(seq, decision)]
        self._broker: dict[str, str] = {}
        self._denied: dict[str, tuple[int, datetime]] = {}  # cid -> (seq, time) of the gate's refusal
        self._charges_cache: dict[tuple, tuple] = {}
        self._clock_ref: tuple[datetime, float] | None = None
        self._rate_ref: tuple[datetime, float] | None = None
        self._rate = 1.0
        self.refresh()


    # -- reading ---------------------------------------------------------------------------------

    def _apply(self, ev: Event) -> None:
        self.seq = ev.seq
        try:
            self.book.apply(ev)
        except TradekitError as e:  # the session's own book refused it too; show the rest
            log.warning("journal event %s (%s) not applied: %s", ev.seq, ev.type, e)
        self._observe_clock(ev)
        t, p = ev.type, ev.payload
        cid = p.get("client_order_id")
        if t == E.SIGNAL_RECEIVED:
            if p.get("signal_id"):
                self._signals[p["signal_id"]] = {**p, "received_at": ev.ts}
        elif t == E.ORDER_CREATED:
            self._created[cid] = p
            ref = p.get("reference_price")
            key = f"{p['request']['exchange']}:{p['request']['tradingsymbol']}"
            if ref and key not in self.prices:
                self.prices[key] = dec(ref, "reference_price")
        elif t == E.RISK_DECISION and cid:
            if p.get("at") == "approval":
                self._recheck[cid] = p
                self._answer(cid, ev)
            else:
                self._gate[cid] = p
            if not p.get("allowed", True):
                self._denied[cid] = (ev.seq, ev.time)
        elif t == E.APPROVAL_REQUESTED:
            self._requested[cid] = p
        elif t == E.APPROVAL_DECISION:
            self._open[ev.seq] = (cid, p.get("decision", ""), p, _wall(ev))
            self._decisions.setdefault(cid, []).append((ev.seq, p.get("decision", "")))
        elif t in (E.APPROVAL_GRANTED, E.APPROVAL_REJECTED, E.APPROVAL_EXPIRED):
            self._outcome[cid] = (t, p, ev.time, ev.seq)
            self._answer(cid, ev)
        elif t == E.NOTE:
            kind = p.get("kind")
            if kind == "decision_outcome" and cid:
                self._messages[cid] = tuple(p.get("messages") or ())
                self._open.pop(p.get("decision_seq"), None)
                self._answers.setdefault(cid, []).append((ev.seq, t, p))
            elif kind == "request_failed" and p.get("type") == E.APPROVAL_DECISION:
                hit = self._open.pop(p.get("seq"), None)
                if hit is not None:
                    self._messages[hit[0]] = (f"the session could not act on it: {p.get('why')}",)
                    self._answers.setdefault(hit[0], []).append((ev.seq, t, p))
        elif t == E.ORDER_UPDATE:
            if cid and p.get("broker_order_id") and cid not in self._broker:
                self._broker[cid] = p["broker_order_id"]
        elif t == E.FILL:
            self.prices[f"{p['exchange']}:{p['tradingsymbol']}"] = dec(p["price"], "price")
            self.live_prices[f"{p['exchange']}:{p['tradingsymbol']}"] = self.prices[f"{p['exchange']}:{p['tradingsymbol']}"]
            self.book.mark(p["exchange"], p["tradingsymbol"], p["price"])
        elif t == E.MARK:
            for k, v in (p.get("prices") or {}).items():
                self.prices[k] = dec(v, "price")
                self.live_prices[k] = self.prices[k]
        elif t == E.KILL_SWITCH:
            self.kills.append({**p, "at": ev.ts})
        elif t == E.TRADING_STATE:
            self.state_change = {**p, "at": ev.time}

    def _answer(self, cid: str, ev: Event) -> None:
        for s in [s for s, (c, *_rest) in self._open.items() if c == cid]:
            del self._open[s]
        self._answers.setdefault(cid, []).append((ev.seq, ev.type, ev.payload))

    def _observe_clock(self, ev: Event) -> None:
        # The session's clock may be simulated (a paced replay runs at N× wall speed): estimate
        # session "now" from the latest event's session time and its wall time, and the pace
        # from events at least two wall seconds apart. Requests from other processes carry
        # their writer's clock, so only the session's own events count.
        if ev.type in (E.APPROVAL_DECISION, E.CONTROL) or ev.payload.get("origin") in ("cli", ORIGIN):
            return
        wall = _wall(ev)
        ts = ev.time
        if self._clock_ref is not None and ts < self._clock_ref[0]:
            return  # the session clock never goes back; an older stamp is a late write
        self._clock_ref = (ts, wall)
        ref = self._rate_ref
        if ref is None:
            self._rate_ref = (ts, wall)
        elif wall - ref[1] >= 2.0:
            rate = (ts - ref[0]).total_seconds() / (wall - ref[1])
            self._rate = min(max(rate, 1.0), 10_000.0)
            self._rate_ref = (ts, wall)

    def now(self) -> datetime:
        """The session's clock as estimated from the journal (wall clock when it is empty).

        Exact for a live session; approximate for a paced replay. The session is the
        authority on expiry: it records ``approval.expired`` and refuses late approvals.
        """
        if self._clock_ref is None:
            return datetime.now(IST)
        ts, wall = self._clock_ref
        return ts + timedelta(seconds=max(0.0, time.time() - wall) * self._rate)

    @property
    def trading_state(self) -> str:
        return self.book.trading_state

    def instruments(self):
        if self._instruments is None:
            try:
                from tradekit.session import _default_instruments

                # the session's master: the day's cached Kite dump, else the last one, else the bundled sample
                self._instruments = _default_instruments(self.config)
            except Exception as e:  # noqa: BLE001 - charges and margin then show n/a
                log.warning("no instrument master: %s", e)
                self._instruments = False
        return self._instruments or None

    def _instrument(self, exchange: str, symbol: str):
        inst = self.instruments()
        if inst is None:
            return None
        try:
            return inst.get(exchange, symbol)
        except TradekitError:
            return None

    def pending(self) -> list[Proposal]:
        """Proposals waiting for a person, oldest first."""
        return [self.proposal(cid) for cid in self._requested if self._is_pending(cid)]

    def pending_ids(self) -> list[str]:
        return [cid for cid in self._requested if self._is_pending(cid)]

    def _is_pending(self, cid: str) -> bool:
        o = self.book.orders.get(cid)
        return o is not None and o.status is OrderStatus.PENDING_APPROVAL

    def proposals(self, *, states: Iterable[str] | None = None, limit: int | None = None) -> list[Proposal]:
        """Every proposal (manual and auto-approved), newest first; filter by ``states``."""
        want = set(states) if states is not None else None
        out = []
        for cid in reversed(list(self._created)):
            p = self.proposal(cid)
            if want is None or p.state in want:
                out.append(p)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def decided(self, limit: int = 20) -> list[Proposal]:
        """The latest decided proposals (by a person, an auto-approval policy, expiry, or denied by the
        risk gate), newest first."""
        seqs = {c: v[3] for c, v in self._outcome.items()}
        for c, (seq, _t) in self._denied.items():  # denied by the gate: decided too (a reload keeps them)
            seqs.setdefault(c, seq)
        cids = sorted(seqs, key=lambda c: seqs[c], reverse=True)[:limit]
        return [self.proposal(c) for c in cids if c in self._created and c in self.book.orders]

    def proposal(self, client_order_id: str) -> Proposal:
        """One proposal with everything a card shows. Raises KeyError for an unknown id."""
        cid = client_order_id
        created = self._created.get(cid)
        order = self.book.orders.get(cid)
        if created is None or order is None:
            raise KeyError(f"no order {cid!r} in the journal")
        req = order.request
        gate = self._gate.get(cid) or {}
        requested = self._requested.get(cid) or {}
        outcome = self._outcome.get(cid)
        state = _state(order.status, outcome, requested)
        by = at = reason = dseq = drift = None
        auto = False
        changes: dict = {}
        if outcome is not None:
            _t, op, at, dseq = outcome
            by, reason = op.get("by"), op.get("reason")
            auto = bool(op.get("auto"))
            changes = dict(op.get("changes") or {})
            if op.get("drift_pct") not in (None, ""):
                drift = dec(op["drift_pct"], "drift_pct")
        elif cid in self._denied:
            dseq, at = self._denied[cid]
            reason = (self._recheck.get(cid) or gate).get("reason")
        key = f"{req.exchange}:{req.tradingsymbol}"
        last = self.live_prices.get(key)  # the market's, never the signal's reference price
        ref = order.reference_price
        if requested.get("price_at_proposal"):
            ref = dec(requested["price_at_proposal"], "price_at_proposal")
        expires = _dt(requested.get("expires_at"))
        value, margin, charges, rt, note = self._money(cid, order.request,
                                                       ref if ref is not None else self.prices.get(key),
                                                       order.created_at)
        awaiting = None
        for s, (c, decision, p, wall) in self._open.items():
            if c == cid:
                awaiting = {"decision": decision, "seq": s, "by": p.get("by"), "age": time.time() - wall}
        sig = self._signals.get(order.signal_id) if order.signal_id else None
        return Proposal(
            client_order_id=cid, state=state, order_status=order.status.value, strategy=order.strategy,
            source=order.source, approval_mode=created.get("approval_mode") or "auto",
            exchange=str(req.exchange), tradingsymbol=req.tradingsymbol, side=req.side.value, quantity=req.quantity,
            order_type=req.order_type.value, product=req.product.value, price=req.price,
            trigger_price=req.trigger_price,
            created_at=order.created_at, expires_at=expires, ttl_seconds=requested.get("ttl_seconds"),
            price_at_proposal=ref, last_price=last, signal=sig,
            gate_allowed=gate.get("allowed"), gate_reason=gate.get("reason") or "",
            checks=tuple(gate.get("checks") or ()), recheck=self._recheck.get(cid),
            value=value, margin=margin, expected_charges=charges, round_trip_charges=rt, charges_note=note,
            decided_by=by, decided_at=at, decided_seq=dseq, decision_reason=reason, auto=auto, changes=changes,
            drift_at_approval=drift, awaiting=awaiting,
            messages=self._messages.get(cid, ()), broker_order_id=order.broker_order_id or self._broker.get(cid),
            filled_quantity=order.filled_quantity,
            average_price=paise(order.average_price) if order.filled_quantity else None,
            bracket=bracket_card(created.get("meta"), req.side.value, req.quantity,
                                 req.price if req.price is not None else ref,
                                 getattr(self._instrument(str(req.exchange), req.tradingsymbol), "multiplier", 1) or 1),
            basket=((created.get("meta") or {}).get("basket") or {}).get("card"),
        )

    def _money(self, cid: str, req: OrderRequest, px: Decimal | None, created: datetime | None):
        """Value, margin, entry-fill charges and a round-trip estimate (cached per order and size)."""
        px = req.price if req.price is not None else (req.trigger_price if req.trigger_price is not None else px)
        k = (cid, req.quantity, px)
        hit = self._charges_cache.get(k)
        if hit is not None:
            return hit
        inst = self._instrument(str(req.exchange), req.tradingsymbol)
        mult = inst.multiplier if inst is not None else 1
        value = None if px is None else paise(px * req.quantity * mult)
        margin = charges = rt = None
        note = ""
        if px is None:
            note = "no price yet (a market order with no last price): charges and margin unknown"
        else:
            try:
                from tradekit.execution.account import Account
                from tradekit.execution.margin import MarginModel

                mm = MarginModel(self.config.paper.margin) if self.config is not None else MarginModel()
                margin = paise(Account(self.book, mm, self.instruments(), self.prices).required_margin(req, price=px))
            except Exception as e:  # noqa: BLE001 - a card shows what it could not compute
                note = f"margin unavailable: {e}"
            if inst is None:
                note = note or f"{req.exchange}:{req.tradingsymbol} is not in the instrument master: charges unknown"
            else:
                charges, rt, n2 = _charges(inst, req, px, created, self.config)
                note = "; ".join(x for x in (note, n2) if x)
        out = (value, margin, charges, rt, note)
        self._charges_cache[k] = out
        return out

    def available_funds(self) -> Decimal | None:
        """Funds the account model says are free now (cash ± carried positions − margin blocked)."""
        try:
            from tradekit.execution.account import Account
            from tradekit.execution.margin import MarginModel

            mm = MarginModel(self.config.paper.margin) if self.config is not None else MarginModel()
            return paise(Account(self.book, mm, self.instruments(), self.prices).available())
        except Exception as e:  # noqa: BLE001
            log.warning("available funds unknown: %s", e)
            return None

    def policy(self, strategy: str) -> str:
        """``"auto"`` or ``"manual"`` for a strategy: live is manual unless the config allows auto."""
        cfg = self.config
        if cfg is None:
            return "manual"
        mode = cfg.approval_mode_for(strategy)
        if mode == "auto" and cfg.mode == "live" and not cfg.approval.allow_auto_in_live:
            return "manual"
        return mode

    # -- writing decisions -----------------------------------------------------------------------
    def approve(self, client_order_id: str, *, reason: str = "", by: str | None = None, confirm_drift: bool = False,
                changes: dict | None = None) -> Receipt:
        """Ask the session to approve (optionally with ``changes``: ``quantity``, ``price``).

        The session re-checks the TTL, the price drift since the proposal (over
        ``approval.price_drift_pct`` it answers "confirm to approve anyway"; pass
        ``confirm_drift=True`` to go ahead) and the risk gate, then sends the order.
        """
        self.refresh()
        clean = self._changes(client_order_id, changes) if changes else {}
        return self._decide(client_order_id, APPROVE, by=by, reason=reason, changes=clean, confirm_drift=confirm_drift)

    def modify(self, client_order_id: str, *, quantity: int | None = None, price=None, reason: str = "",
               by: str | None = None, confirm_drift: bool = False) -> Receipt:
        """Approve with a new quantity and/or limit price (recorded as *modified*)."""
        ch = {k: v for k, v in (("quantity", quantity), ("price", price)) if v is not None and v != ""}
        if not ch:
            raise ValidationError("give a new quantity or price to modify", field="changes")
        return self.approve(client_order_id, reason=reason, by=by, confirm_drift=confirm_drift, changes=ch)

    def reject(self, client_order_id: str, reason: str, *, by: str | None = None) -> Receipt:
        """Ask the session to reject; a reason is required (it goes into the audit trail)."""
        if not (reason or "").strip():
            raise ValidationError("a reason is required to reject a proposal", field="reason")
        return self._decide(client_order_id, REJECT, by=by, reason=reason.strip())

    def _changes(self, cid: str, changes: dict) -> dict:
        order = self.book.order(cid)
        req = order.request
        clean: dict[str, Any] = {}
        q = changes.get("quantity")
        if q is not None and q != "":
            try:
                qi = int(str(q).strip())
            except ValueError:
                raise ValidationError(f"{q!r} is not a whole number", field="quantity") from None
            if str(q).strip() != str(qi) or qi <= 0:
                raise ValidationError(f"{q!r} is not a whole number above 0", field="quantity")
            if qi != req.quantity:
                clean["quantity"] = qi
        p = changes.get("price")
        if p is not None and p != "":
            try:
                pd_ = dec(str(p).strip().replace(",", ""), "price")
            except (TradekitError, ArithmeticError, ValueError):
                raise ValidationError(f"{p!r} is not a price", field="price") from None
            if pd_ <= 0:
                raise ValidationError(f"{p!r} is not a price above 0", field="price")
            if req.price is None or pd_ != req.price:
                if req.price is None:
                    raise ValidationError(f"a {req.order_type.value} order has no limit price to change", field="price")
                clean["price"] = pd_
        if clean:
            req.with_changes(**clean)  # validates (lot, tick, type rules) before anything is written
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in clean.items()}

    def _decide(self, cid: str, decision: str, *, by: str | None, reason: str = "", changes: dict | None = None,
                confirm_drift: bool = False, extra: dict | None = None) -> Receipt:
        self.refresh()
        order = self.book.orders.get(cid)
        if order is None:
            return Receipt(cid, decision, None, False, f"no order {cid} in the journal")
        if order.status is not OrderStatus.PENDING_APPROVAL:
            p = self.proposal(cid)
            return Receipt(cid, decision, None, False, f"it is {p.state} ({order.status.value}); nothing to {decision}")
        for s, (c, d, _p, wall) in self._open.items():
            if c == cid and d == decision and time.time() - wall < RESEND_AFTER:
                return Receipt(cid, decision, s, False, "already sent; waiting for the session", duplicate=True)
        payload = {"client_order_id": cid, "decision": decision, "by": by or self.approver, "reason": reason,
                   "changes": changes or {}, "confirm_drift": bool(confirm_drift), "origin": ORIGIN,
                   "seen_seq": self.seq, **(extra or {})}
        ev = self._append(E.APPROVAL_DECISION, payload)
        log.info("%s %s by %s (seq %s)", decision, cid, payload["by"], ev.seq)
        self._apply_own(ev)
        return Receipt(cid, decision, ev.seq, True, "sent; waiting for the session")

    def _append(self, type_: str, payload: dict) -> Event:
        # stamped with the session's time (a replay's clock), so reports file it on the right day
        return self.journal.append(type_, payload, ts=self.now())

    def _apply_own(self, ev: Event) -> None:
        # apply now when nothing else is in between; otherwise the next refresh brings it in order
        if ev.seq == self.seq + 1:
            self._apply(ev)

    # -- bulk ------------------------------------------------------------------------------------
    def bulk_approve_summary(self, client_order_ids: Iterable[str] | None = None) -> BulkSummary:
        """The per-order summary to show before a bulk approve (all pending by default)."""
        self.refresh()
        ids = list(client_order_ids) if client_order_ids is not None else self.pending_ids()
        now = self.now()
        lines = []
        tv = tm = tc = ZERO
        for cid in ids:
            p = self.proposal(cid)
            warn = []
            if not p.is_pending:
                warn.append(f"{p.state}: will be skipped")
            ttl = p.ttl_left(now)
            if ttl is not None and ttl <= 0 and p.is_pending:
                warn.append("TTL passed: the session will expire it")
            d = p.drift_pct
            if d is not None and self.config is not None and abs(d) > self.config.approval.price_drift_pct:
                warn.append(f"price moved {d:+.2f} % since proposed: the session will ask to confirm")
            if p.margin is None or p.expected_charges is None:
                warn.append(p.charges_note or "charges or margin unknown")
            ch = p.expected_charges.total if p.expected_charges is not None else None
            lines.append(BulkLine(cid, p.title, p.value, p.margin, ch, ttl, tuple(warn)))
            if p.is_pending:
                tv += p.value or ZERO
                tm += p.margin or ZERO
                tc += ch or ZERO
        avail = self.available_funds()
        warnings = []
        if avail is not None and tm > avail:
            warnings.append(f"margin needed {fmt_inr(tm, 2)} is more than the funds available {fmt_inr(avail, 2)}: "
                            "the risk gate will refuse some")
        return BulkSummary(tuple(lines), paise(tv), paise(tm), paise(tc), avail, self.seq, tuple(warnings))

    def bulk_approve(self, summary: BulkSummary, *, reason: str = "", by: str | None = None) -> list[Receipt]:
        """Approve the orders of a :class:`BulkSummary` the person has seen, one decision each.

        Orders no longer pending are skipped (their receipt says why); each approved order is
        still re-checked by the session on its own.
        """
        if not isinstance(summary, BulkSummary):
            raise ValidationError("bulk approve needs the summary the person saw (bulk_approve_summary())",
                                  field="summary")
        return [self._decide(ln.client_order_id, APPROVE, by=by, reason=reason or "bulk approve",
                             extra={"bulk": {"seen_seq": summary.seen_seq, "orders": len(summary.lines)}})
                for ln in summary.lines]

    # -- never queued: cancels, flatten, kill switch ---------------------------------------------
    def cancel(self, client_order_id: str, reason: str = "", *, by: str | None = None) -> Receipt:
        """Ask the session to cancel a working order (or withdraw a proposal). Never queued."""
        ev = self._append(E.CONTROL, {"action": "cancel", "client_order_id": client_order_id,
                                             "reason": reason, "by": by or self.approver, "origin": ORIGIN})
        self._apply_own(ev)
        return Receipt(client_order_id, "cancel", ev.seq, True, "cancel sent")

    def cancel_all(self, reason: str, *, by: str | None = None) -> Receipt:
        ev = self._append(E.CONTROL, {"action": "cancel_all", "reason": reason, "by": by or self.approver,
                                             "origin": ORIGIN})
        self._apply_own(ev)
        return Receipt(None, "cancel_all", ev.seq, True, "cancel-all sent")

    def flatten(self, reason: str, *, strategy: str | None = None, by: str | None = None) -> Receipt:
        """Ask the session to cancel open orders and close positions (of one strategy, or all)."""
        ev = self._append(E.CONTROL, {"action": "flatten", "strategy": strategy, "reason": reason,
                                             "by": by or self.approver, "origin": ORIGIN})
        self._apply_own(ev)
        return Receipt(None, "flatten", ev.seq, True, "flatten sent")

    def kill(self, reason: str, *, by: str | None = None, flatten: bool = True) -> Receipt:
        """Trip the kill switch: the same journal request as ``tradekit kill``.

        Records ``risk.kill_switch`` (``action: trip``) and, unless already halted,
        ``risk.trading_state: HALTED``. The running session's risk layer then cancels open
        orders and flattens positions; with no session running the next one starts HALTED.
        """
        reason = (reason or "").strip()
        if not reason:
            raise ValidationError("say why the kill switch is tripped", field="reason")
        who = by or self.approver
        self.refresh()
        state = self.book.trading_state
        ev = self._append(E.KILL_SWITCH, {"action": "trip", "reason": reason, "by": who, "flatten": flatten,
                                                 "previous": state, "origin": ORIGIN})
        self._apply_own(ev)
        if state != "HALTED":
            ev2 = self._append(E.TRADING_STATE, {"state": "HALTED", "previous": state, "cause": "kill_switch",
                                                        "by": who, "reason": reason, "origin": ORIGIN})
            self._apply_own(ev2)
        log.warning("kill switch tripped from the dashboard by %s: %s", who, reason)
        return Receipt(None, "kill", ev.seq, True, "HALTED: the session cancels open orders and flattens positions")

    # -- outcomes --------------------------------------------------------------------------------
    def outcome(self, client_order_id: str, *, after: int = 0) -> Outcome:
        """The session's answer to the latest decision after journal seq ``after`` (``done=False`` if none)."""
        cid = client_order_id
        p = self.proposal(cid)
        answers = [a for a in self._answers.get(cid, ()) if a[0] > after]
        if not answers:
            return Outcome(cid, False, False, p.state, p.order_status, p.messages, p.broker_order_id)
        seq, t, payload = answers[-1]
        decision = self._decision_before(cid, seq)
        if t == E.APPROVAL_GRANTED:
            ok = decision != REJECT
        elif t == E.APPROVAL_REJECTED:
            ok = decision == REJECT
        else:
            ok = False
        msgs = p.messages
        if t == E.APPROVAL_EXPIRED:
            msgs = (payload.get("reason") or "expired",) + tuple(m for m in msgs if m not in (payload.get("reason"),))
        elif t == E.RISK_DECISION:
            msgs = (f"risk gate now denies it: {payload.get('reason')}",)
        return Outcome(cid, True, ok, p.state, p.order_status, msgs, p.broker_order_id)

    def _decision_before(self, cid: str, seq: int) -> str | None:
        for s, d in reversed(self._decisions.get(cid, ())):
            if s < seq:
                return d
        return None

    def wait_outcome(self, client_order_id: str, timeout: float = 5.0, *, after: int | None = None,
                     poll: float = 0.01) -> Outcome:
        """Poll the journal until the session answers a decision on this order, or ``timeout`` s pass.

        ``after`` is the journal seq to look beyond (the :class:`Receipt`'s ``seq``); default:
        the journal position now. Meant for notebooks and tests; a dashboard reads outcomes
        in its refresh loop instead of blocking its kernel.
        """
        after = self.seq if after is None else after
        deadline = time.monotonic() + timeout
        while True:
            self.refresh()
            out = self.outcome(client_order_id, after=after)
            if out.done or time.monotonic() >= deadline:
                if not out.done:
                    out = Outcome(out.client_order_id, False, False, out.state, out.order_status,
                                  (f"no answer from the session within {timeout:g} s (is it running?)",),
                                  out.broker_order_id)
                return out
            time.sleep(poll)

    def close(self) -> None:
        self.journal.close()
        try:
            self.journal.engine.dispose()
        except Exception as e:  # noqa: BLE001 - closing must not fail a kernel shutdown
            log.debug("journal engine dispose failed: %s", e)


# -- helpers -------------------------------------------------------------------------------------
def _state(status: OrderStatus, outcome, requested: dict) -> str:
    if status is OrderStatus.PENDING_APPROVAL:
        return PENDING
    if outcome is not None:
        t, p, _at, _s = outcome
        if t == E.APPROVAL_GRANTED:
            return MODIFIED if p.get("changes") else APPROVED
        if t == E.APPROVAL_REJECTED:
            return REJECTED
        if t == E.APPROVAL_EXPIRED:
            return EXPIRED
    if status is OrderStatus.DENIED:
        return DENIED
    if status is OrderStatus.CREATED:
        return PENDING if requested else "checking"
    return APPROVED if status is not OrderStatus.EXPIRED else EXPIRED


def _wall(ev: Event) -> float:
    try:
        return datetime.fromisoformat(ev.recorded_at).timestamp()
    except ValueError:
        return time.time()


def _dt(s: str | None) -> datetime | None:
    if not s:
        return None
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        return None


def _charges(inst, req: OrderRequest, px: Decimal, created: datetime | None, config) -> tuple:
    """Entry-fill charges and a round trip at the same price, at the rates the session would use."""
    from tradekit.market.charges import charges_segment, fill_charges_for, round_trip

    as_of = getattr(getattr(config, "execution", None), "charges_as_of", None)
    day: date = as_of or (created.astimezone(IST).date() if created is not None else datetime.now(IST).date())
    note = f"at the rates of {day.isoformat()}" if as_of else ""
    try:
        entry = fill_charges_for(inst, req.product, req.side, req.quantity, px, day)
        rt = round_trip(charges_segment(inst, req.product), inst.exchange, req.quantity * inst.multiplier, px, px, day)
        return entry, rt.total, note
    except TradekitError as e:
        return None, None, f"charges unavailable: {e}"
