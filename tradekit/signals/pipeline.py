"""From parsed signals to proposals: dedupe, expiry, priority, routing, and the journal.

For each batch, in this order:

1. malformed records are journaled as ``signal.rejected`` (reason ``malformed``), one event
   each for the first ``signals.max_rejected_events``, then one summary event for the rest
   (a batch of junk must not flood the journal); a batch over
   ``signals.max_records_per_batch`` is one rejection and no record of it is read;
2. a signal whose idempotency key was seen before (in this batch, or ever in the journal)
   is journaled as rejected (``duplicate``); the first copy in input order wins;
3. a signal past its expiry is rejected (``expired``); one that gives no expiry gets the
   configured default TTL counted from its ``signal_time``;
4. the rest are ordered by priority (higher first), then ``signal_time``, then input order;
   each is journaled as ``signal.received`` (the full signal plus its ``route``) and handed
   to ``sink(signal, route)`` *in one journal transaction*: the signal, its dedupe key and the
   order the sink makes (its creation, risk decision, approval and submission) are committed
   together or not at all. A crash or a journal failure before the commit leaves the key
   unspent, so the file (still in ``processing/``) or the HTTP retry brings the signal again;
   the broker is called only after the commit.

The journal is the dedupe memory: keys are read back from ``signal.received`` events when the
pipeline starts and again before each batch (another process may share the journal), so a
signal re-sent after a restart, or a file re-read after a crash, makes no second proposal.
A key is spent once its ``signal.received`` is committed, even if the sink then refuses it.

While new orders are blocked (the sink raises :class:`~tradekit.errors.TradingHalted`: a
reconciliation difference being resolved, a lost broker session, the journal unavailable),
``signals.when_blocked`` decides: ``park`` (default) journals ``signal.parked`` and tries the
signal again on :meth:`SignalPipeline.retry_parked` once trading resumes, unless its TTL ran
out first (then ``signal.unparked`` with outcome ``expired``); ``refuse`` refuses it. Parked
signals survive a restart (rebuilt from the journal). The receipt lists them under ``parked``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tradekit.clock import Clock
from tradekit.errors import TradekitError, TradingHalted
from tradekit.model.signal import Signal
from tradekit.signals.config import SignalsConfig
from tradekit.signals.limits import Limits, safe_raw
from tradekit.signals.schema import RecordError, SignalIn, parse_batch, signal_from_dict, signal_to_dict, validate_record
from tradekit.store.events import EventType

if TYPE_CHECKING:
    from tradekit.config.schema import TradekitConfig
    from tradekit.store.journal import Journal

log = logging.getLogger(__name__)

AUTO, MANUAL = "auto", "manual"
MALFORMED, DUPLICATE, EXPIRED, REFUSED = "malformed", "duplicate", "expired", "refused"
PARKED = "parked"
_MAX_RAW_CHARS = 4000  # a rejected record is kept in the journal up to this size

Sink = Callable[[Signal, str], Any]


@dataclass(frozen=True, slots=True)
class Routed:
    """A signal that was journaled as received and handed to the sink."""

    signal: Signal
    route: str | None  # "auto" or "manual"; None when only validated (inbox without a pipeline)
    result: Any = None  # what the sink returned (e.g. the order it created)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that makes no proposal. ``reason``: malformed, duplicate, expired or refused."""

    reason: str
    message: str
    signal_id: str | None = None
    index: int | None = None
    errors: tuple[RecordError, ...] = ()

    def to_dict(self) -> dict:
        d = {"reason": self.reason, "message": self.message, "signal_id": self.signal_id, "index": self.index}
        if self.errors:
            d["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return d


@dataclass(frozen=True, slots=True)
class Parked:
    """A signal received while new orders were blocked, waiting (with its TTL) for trading to resume."""

    signal: Signal
    route: str | None
    reason: str
    source: str

    def to_dict(self) -> dict:
        exp = self.signal.expires_at
        return {"signal_id": self.signal.signal_id, "reason": self.reason,
                "expires_at": None if exp is None else exp.isoformat()}


@dataclass(slots=True)
class IngestReport:
    """What happened to one batch (a file, an HTTP body, a notebook call)."""

    source: str
    accepted: list[Routed] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    records: int = 0
    too_many: bool = False  # over signals.max_records_per_batch: refused whole (HTTP 413)
    parked: list[Parked] = field(default_factory=list)

    @property
    def accepted_ids(self) -> list[str]:
        return [r.signal.signal_id for r in self.accepted]

    def ids(self, reason: str) -> list[str]:
        return [r.signal_id for r in self.rejected if r.reason == reason and r.signal_id]

    @property
    def errors(self) -> list[RecordError]:
        """Every per-field problem of the malformed records."""
        return [e for r in self.rejected if r.reason == MALFORMED for e in r.errors]

    @property
    def usable(self) -> bool:
        """At least one record was well-formed (whatever then became of it, parked included)."""
        return any(r.reason != MALFORMED for r in self.rejected) or bool(self.accepted) or bool(self.parked)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "records": self.records,
            "too_many": self.too_many,
            "accepted": [{"signal_id": r.signal.signal_id, "route": r.route} for r in self.accepted],
            "duplicates": self.ids(DUPLICATE),
            "expired": self.ids(EXPIRED),
            "refused": [r.to_dict() for r in self.rejected if r.reason == REFUSED],
            "parked": [p.to_dict() for p in self.parked],
            "errors": [
                {"index": e.index, "field": e.field, "message": e.message, "idempotency_key": e.key} for e in self.errors
            ],
        }


def _safe_raw(raw: Any) -> Any:
    # Journal payloads must be JSON the journal's encoder takes (64-bit ints, bounded nesting).
    return safe_raw(raw, _MAX_RAW_CHARS)


class SignalPipeline:
    """Dedupe, expire, order, journal and route signals; thread-safe.

    Parameters
    ----------
    journal : Journal
        Where ``signal.received`` / ``signal.rejected`` go, and the memory of keys seen.
    config : TradekitConfig, optional
        Gives the routing (``approval_mode_for``, ``approval.allow_auto_in_live``, ``mode``)
        and, once wired, the ``signals`` section. Without it every signal routes to manual.
    sink : callable, optional
        ``sink(signal, route)``, called for each accepted signal in priority order (the
        session passes ``Session.submit_signal``). Exceptions it raises are journaled as a
        ``refused`` rejection; the rest of the batch goes on.
    clock : Clock, optional
        "Now" for expiry; defaults to the journal's clock.
    settings : SignalsConfig, optional
        Defaults to ``config.signals`` when present, else ``SignalsConfig()``.
    emit : callable, optional
        ``emit(type, payload)`` writes an event; default ``journal.append``. A session passes
        the method that appends *and* applies the event to its Book.
    """

    def __init__(
        self,
        journal: "Journal",
        config: "TradekitConfig | None" = None,
        *,
        sink: Sink | None = None,
        clock: Clock | None = None,
        settings: SignalsConfig | None = None,
        emit: Callable[[str, dict], Any] | None = None,
    ):
        self.journal = journal
        self._emit = emit or journal.append
        self.config = config
        self.sink = sink
        self.clock = clock or journal.clock
        self.settings = settings or getattr(config, "signals", None) or SignalsConfig()
        self.limits = Limits.from_settings(self.settings)
        self._lock = threading.RLock()  # re-entrant: a sink may submit follow-up signals
        self._seen: set[str] = set()
        self._earlier = frozenset()  # a snapshot's signal ids (tradekit.store.lazy.LazySet: one indexed read each)
        self._parked: dict[str, Parked] = {}
        self._scanned = 0
        self._catch_up()

    # -- queries ---------------------------------------------------------------------------------
    def seen(self, signal_id: str) -> bool:
        """True when a signal with this key was received (now or in an earlier run)."""
        with self._lock:
            return signal_id in self._seen or signal_id in self._earlier

    def route_for(self, strategy: str) -> str:
        """``"auto"`` or ``"manual"`` for a strategy, with live mode's rule applied.

        In live mode a strategy configured for auto approval goes to manual unless
        ``approval.allow_auto_in_live`` is true.
        """
        cfg = self.config
        if cfg is None:
            return MANUAL  # no config, no unattended orders
        mode = str(cfg.approval_mode_for(strategy))
        if mode != AUTO:
            return MANUAL
        if cfg.mode == "live" and not cfg.approval.allow_auto_in_live:
            return MANUAL
        return AUTO

    # -- feeding ---------------------------------------------------------------------------------
    def ingest(self, data: Any, *, source: str = "api", fmt: str = "auto") -> IngestReport:
        """Parse raw input (text, bytes, a dict or a list) and :meth:`submit` what is valid.

        Malformed records are journaled as rejected and listed in the report with their fields.
        """
        batch = parse_batch(data, fmt=fmt, limits=self.limits)  # type: ignore[arg-type]
        report = self._process(batch.accepted, batch.errors, source, batch.records)
        report.too_many = batch.too_many
        return report

    def submit(self, signals: Iterable[Signal | SignalIn | dict], *, source: str = "api") -> IngestReport:
        """Feed signals built in Python (``Signal``, ``SignalIn`` or raw dicts)."""
        accepted: list[Signal] = []
        errors: list[RecordError] = []
        n = 0
        for i, s in enumerate(signals):
            n += 1
            if n > self.limits.max_records:
                report = self._process([], [RecordError(None, None, f"over {self.limits.max_records:,} records per batch "
                                                        "(signals.max_records_per_batch); split the batch")], source, n)
                report.too_many = True
                return report
            if isinstance(s, Signal):
                accepted.append(s)
            elif isinstance(s, SignalIn):
                accepted.append(s.to_signal())
            else:
                sig, errs = validate_record(s, i, self.limits)
                if sig is not None:
                    accepted.append(sig)
                errors.extend(errs)
        return self._process(accepted, errors, source, n)

    @property
    def parked(self) -> list[Parked]:
        """Signals waiting for trading to resume (priority order)."""
        with self._lock:
            return sorted(self._parked.values(), key=lambda p: (-p.signal.priority, p.signal.signal_time or self.clock.now()))

    def retry_parked(self) -> IngestReport:
        """Try parked signals again (call it each cycle; cheap when none is parked).

        A signal whose TTL ran out is refused as ``expired``; one the sink takes is journaled
        ``signal.unparked`` (outcome ``taken``) in the same transaction as its order; one still
        blocked stays parked.
        """
        report = IngestReport(source="parked")
        with self._lock:
            self._catch_up()
            if not self._parked or self.sink is None:
                return report
            for p in self.parked:
                s = p.signal
                now = self.clock.now()
                if s.expires_at is not None and now >= s.expires_at:
                    msg = f"expired at {s.expires_at.isoformat()} while parked ({p.reason})"
                    with self.journal.transaction():
                        self._emit(EventType.SIGNAL_UNPARKED, {"signal_id": s.signal_id, "outcome": EXPIRED, "message": msg})
                        self._reject(report, Rejection(EXPIRED, msg, s.signal_id), {"strategy": s.strategy, "parked": True})
                    self._parked.pop(s.signal_id, None)
                    log.info("parked signal %s expired: %s", s.signal_id, msg)
                    continue
                committed: list[bool] = []
                blocked = False
                result = None
                try:
                    with self.journal.transaction():
                        self.journal.after_commit(lambda: committed.append(True))
                        try:
                            result = self.sink(s, p.route)
                        except TradingHalted:
                            blocked = True  # still blocked: nothing journaled, it stays parked
                        except Exception as e:
                            self._emit(EventType.SIGNAL_UNPARKED, {"signal_id": s.signal_id, "outcome": REFUSED,
                                                                   "message": f"{type(e).__name__}: {e}"})
                            self._refuse(report, s, p.route, e)
                            result = _REFUSED
                        else:
                            self._emit(EventType.SIGNAL_UNPARKED, {"signal_id": s.signal_id, "outcome": "taken",
                                                                   "client_order_id": getattr(result, "client_order_id", None)})
                except Exception:
                    if not committed or blocked:
                        raise  # nothing committed: still parked
                    log.exception("parked signal %s: the work after its commit failed", s.signal_id)
                if blocked:
                    break  # the rest are blocked too
                self._parked.pop(s.signal_id, None)
                if result is not _REFUSED:
                    report.accepted.append(Routed(s, p.route, result))
        return report

    # -- internals -------------------------------------------------------------------------------
    def _catch_up(self) -> None:
        last = self._scanned
        types = (EventType.SIGNAL_RECEIVED, EventType.SIGNAL_PARKED, EventType.SIGNAL_UNPARKED)
        events = self.journal.events(after=self._scanned, types=types)
        base = getattr(self.journal, "base", None)  # a session's start state (tradekit.store.snapshot)
        if last == 0 and base is not None:  # the signal ids its book has seen, its parked signals, then the journal
            import itertools

            if hasattr(base.book.signals, "hot"):  # ids from before the snapshot stay in its side table
                self._earlier = base.book.signals
            else:
                self._seen.update(base.book.signals)
            last = base.seq
            events = itertools.chain(base.events(types[1:]), self.journal.events(after=base.seq, types=types))
        for ev in events:
            sid = ev.payload.get("signal_id")
            if ev.type == EventType.SIGNAL_RECEIVED:
                if sid:
                    self._seen.add(sid)
            elif ev.type == EventType.SIGNAL_PARKED and sid and sid not in self._parked:
                try:
                    sig = signal_from_dict(ev.payload["signal"])
                except Exception as e:  # an unreadable record must not stop the pipeline
                    log.error("parked signal %s cannot be read back from seq %s: %s", sid, ev.seq, e)
                    continue
                self._parked[sid] = Parked(sig, ev.payload.get("route"), ev.payload.get("reason", ""), ev.payload.get("source", ""))
            elif ev.type == EventType.SIGNAL_UNPARKED and sid:
                self._parked.pop(sid, None)
            last = max(last, ev.seq)
        self._scanned = last

    def _reject(self, report: IngestReport, rej: Rejection, extra: dict | None = None) -> None:
        payload = {"reason": rej.reason, "message": rej.message, "signal_id": rej.signal_id,
                   "index": rej.index, "source": report.source, **(extra or {})}
        if rej.errors:
            payload["errors"] = [{"field": e.field, "message": e.message} for e in rej.errors]
        self._emit(EventType.SIGNAL_REJECTED, payload)
        report.rejected.append(rej)

    def _take(self, report: IngestReport, s: Signal, route: str, source: str) -> None:
        """Journal one signal and hand it to the sink, in one transaction (see the module docstring)."""
        committed: list[bool] = []
        res = None
        try:
            with self.journal.transaction():
                self.journal.after_commit(lambda: committed.append(True))  # runs first after the commit
                self._emit(EventType.SIGNAL_RECEIVED, {**signal_to_dict(s), "route": route, "source": source})
                if self.sink is not None:
                    res = self._hand_over(report, s, route, source)
        except Exception as e:
            if not committed:
                raise  # nothing was committed: the key is not spent, the signal comes again
            # committed (signal, key, order); the broker call after it failed — the order's events say how
            (log.warning if isinstance(e, TradekitError) else log.exception)(
                "signal %s: taken, but the work after its commit failed: %s", s.signal_id, e)
        self._seen.add(s.signal_id)
        if isinstance(res, Parked):
            self._parked[s.signal_id] = res
            report.parked.append(res)
        elif res is not _REFUSED:
            report.accepted.append(Routed(s, route, res))

    def _hand_over(self, report: IngestReport, s: Signal, route: str, source: str) -> Any:
        """The sink's result, a :class:`Parked`, or ``_REFUSED`` (journaled); inside the signal's transaction."""
        try:
            return self.sink(s, route)  # type: ignore[misc]
        except TradingHalted as e:
            if self.settings.when_blocked == "park":
                self._emit(EventType.SIGNAL_PARKED, {"signal_id": s.signal_id, "reason": str(e), "route": route,
                                                     "source": source, "signal": signal_to_dict(s),
                                                     "expires_at": None if s.expires_at is None else s.expires_at.isoformat()})
                log.warning("signal %s parked while new orders are blocked: %s", s.signal_id, e)
                return Parked(s, route, str(e), source)
            self._refuse(report, s, route, e)
        except Exception as e:  # the rest of the batch must go on
            self._refuse(report, s, route, e)
        return _REFUSED

    def _refuse(self, report: IngestReport, s: Signal, route: str, e: Exception) -> None:
        if not isinstance(e, TradekitError):
            log.exception("signal %s: the sink failed", s.signal_id)
        else:
            log.warning("signal %s refused: %s", s.signal_id, e)
        self._reject(report, Rejection(REFUSED, f"{type(e).__name__}: {e}", s.signal_id), {"strategy": s.strategy, "route": route})

    def _process(self, signals: list[Signal], errors: list[RecordError], source: str, records: int) -> IngestReport:
        report = IngestReport(source=source, records=records)
        with self._lock:
            self._catch_up()
            by_index: dict[int | None, list[RecordError]] = {}
            for e in errors:
                by_index.setdefault(e.index, []).append(e)
            cap = self.settings.max_rejected_events
            rest: list[Rejection] = []
            for index, errs in by_index.items():
                first = errs[0]
                msg = "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errs)
                rej = Rejection(MALFORMED, msg, first.key, index, tuple(errs))
                if len(report.rejected) < cap:
                    self._reject(report, rej, {"raw": _safe_raw(first.raw)})
                    log.warning("signal rejected (%s, %s): %s", source, "file" if index is None else f"record {index}", msg)
                else:
                    rest.append(rej)
            if rest:
                # One event for the rest: a body of junk must not become thousands of events.
                indices = [r.index for r in rest]
                self._emit(EventType.SIGNAL_REJECTED, {
                    "reason": MALFORMED, "source": source, "count": len(rest), "signal_id": None, "index": None,
                    "message": f"{len(rest):,} more malformed records (signals.max_rejected_events={cap})",
                    "indices": indices[:100], "samples": [r.message[:200] for r in rest[:5]],
                })
                report.rejected.extend(rest)
                log.warning("signal batch %s: %d more malformed records journaled as one summary", source, len(rest))

            now = self.clock.now()
            ttl = self.settings.default_ttl_seconds
            fresh: list[tuple[int, Signal]] = []
            batch_keys: set[str] = set()
            for n, s in enumerate(signals):
                ctx = {"strategy": s.strategy, "instrument": s.key}
                if s.signal_id in self._seen or s.signal_id in batch_keys or s.signal_id in self._earlier:
                    self._reject(report, Rejection(DUPLICATE, "this idempotency_key was already received", s.signal_id), ctx)
                    continue
                batch_keys.add(s.signal_id)
                if s.expires_at is None and ttl is not None and s.signal_time is not None:
                    try:
                        s = dataclasses.replace(s, expires_at=s.signal_time + timedelta(seconds=ttl))
                    except OverflowError:
                        self._reject(report, Rejection(MALFORMED, "signal_time: too far in the future", s.signal_id), ctx)
                        continue
                if s.expires_at is not None and now >= s.expires_at:
                    msg = f"expired at {s.expires_at.isoformat()} (now {now.isoformat()})"
                    self._reject(report, Rejection(EXPIRED, msg, s.signal_id), ctx)
                    log.info("signal %s expired before it was taken: %s", s.signal_id, msg)
                    continue
                fresh.append((n, s))

            # Higher priority first, then the older signal, then input order (stable).
            fresh.sort(key=lambda t: (-t[1].priority, t[1].signal_time or now, t[0]))
            for _, s in fresh:
                self._take(report, s, self.route_for(s.strategy), source)
        return report


_REFUSED = object()
