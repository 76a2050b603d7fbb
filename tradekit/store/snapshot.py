"""Journal snapshots: the state a session rebuilds at start, saved with the (seq, hash) it stands on.

A session starts from the latest snapshot whose ``(seq, hash)`` is in the chain, then applies the
events after it. Without a matching snapshot (none yet; edited; stale; from another journal) it
replays every event — archived ones from their files first (:mod:`tradekit.store.archive`) — and
says why in a warning. Both paths go through :class:`StartState`, so ``snapshot + tail`` and a full
replay are the same computation cut at a different place (``tests/unit/store/test_snapshot.py``
checks it at random cut points of real sessions).

What a session rebuilds from the journal, and where it is in a snapshot:

- the :class:`~tradekit.store.projection.Book` (orders, the open ones, positions, cash, charges,
  trading state, broker ids, the signal ids seen — signal de-duplication —, a person's decisions,
  trade ids, orders concluded not placed, anomalies): serialised field by field (exact Decimals),
  except what grows with history: the orders final and last changed before the snapshot's day
  (:meth:`StartState.day`), every signal and trade id, and those old orders' broker ids and a
  person's decisions on them go to the snapshot's side tables (:mod:`tradekit.store.snapshot_cold`),
  which a session started from it reads one indexed row at a time on first access
  (:mod:`tradekit.store.lazy`) — start-up is flat in the journal's length (``benchmarks/bench_startup.py``);
- the components that rebuild from a *kind* of event — brackets, slicing and algorithm parents, the
  risk manager's trading state and kill switch, GTT protection, conditional orders, the alert
  outbox, the corporate actions applied, parked signals — read :func:`history`: the events of those
  kinds that can still matter (``retained``, kept in the snapshot with their hashes) and then the
  journal after the snapshot. An ``order.created`` counts only when it belongs to a bracket, a parent
  or a GTT leg (its ``meta`` or ``parent_id``); an order event only for such an order. A thread that
  ended before the snapshot's day (a bracket closed, a slicing/algorithm parent done, a conditional
  order ended, an alert acknowledged, with its orders' events) is left out of the body (:func:`_prune`);
- the day of the last fill, day roll or session start (the paper account's resume), and whether a
  session ever started.

The body is canonical JSON (sorted keys; ``{"$D": "1.50"}`` for a Decimal, tagged dataclasses,
ordered maps), stored in ``journal_snapshots`` with its seq, hash and the SHA-256 of the body. At
start its place in the chain is checked with indexed reads of the event at its seq (or the next
one, or the tail), never a walk of the journal.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, insert, select
from sqlalchemy.exc import SQLAlchemyError

from tradekit.clock import IST
from tradekit.errors import StoreError
from tradekit.store import snapshot_cold as cold
from tradekit.store.archive import archived_events, read_events
from tradekit.store.events import EventType as E
from tradekit.store.journal import Event, Journal, canonical, chain_hash, events_table, tail_table
from tradekit.store.lazy import LazyMap, LazyOrders, LazySet
from tradekit.store.projection import Book

log = logging.getLogger(__name__)

FORMAT = 2  # 2: old finished orders, signal/trade/broker ids in the side tables (snapshot_cold)

snapshot_metadata = MetaData()
snapshots_table = Table(
    "journal_snapshots",
    snapshot_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=False, index=True),
    Column("hash", String(64), nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("format", Integer, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("body", Text, nullable=False),
)


class SnapshotMismatch(StoreError):
    """A snapshot that cannot be used (its body, format or place in the chain does not match)."""


# -- the codec: exact, ordered, tagged JSON ---------------------------------------------------------
def _qual(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def encode(o: Any) -> Any:
    """Plain JSON for ``o``; Decimals, datetimes, enums, tuples, sets, dicts (their order) and
    tradekit dataclasses are tagged so :func:`decode` gives back an equal object."""
    if o is None or isinstance(o, (bool, int, str, float)) and not isinstance(o, Enum):
        return o
    if isinstance(o, Decimal):
        return {"$D": str(o)}
    if isinstance(o, Enum):
        return {"$E": _qual(type(o)), "v": o.value}
    if isinstance(o, datetime):
        return {"$T": o.isoformat()}
    if isinstance(o, date):
        return {"$d": o.isoformat()}
    if isinstance(o, tuple):
        return {"$t": [encode(x) for x in o]}
    if isinstance(o, (set, frozenset)):
        return {"$s": sorted((encode(x) for x in o), key=canonical)}
    if isinstance(o, list):
        return [encode(x) for x in o]
    if isinstance(o, (LazyOrders, LazyMap)):  # the whole content (reads the side tables)
        return {"$M": [[encode(k), encode(v)] for k, v in o.items()]}
    if isinstance(o, LazySet):
        return encode(set(o))
    if isinstance(o, dict):
        return {"$M": [[encode(k), encode(v)] for k, v in o.items()]}
    if is_dataclass(o) and not isinstance(o, type):
        compact = _compact(type(o))
        if compact is not None:
            return {"$P": compact.name, "v": compact.encode(o)}
        return {"$C": _qual(type(o)), "f": {f.name: encode(getattr(o, f.name)) for f in fields(o)}}
    raise TypeError(f"{type(o).__name__} cannot be written to a snapshot")


# -- the hot classes (one per order and position): positional, by their fields' declared types -----------
def _history_enc(h: list) -> list:  # Order.history: (time, from, to, reason)
    return [[None if t is None else t.isoformat(), a, b, r] for t, a, b, r in h]


def _history_dec(h: list) -> list:
    return [(None if t is None else datetime.fromisoformat(t), a, b, r) for t, a, b, r in h]


class _Compact:
    """``[value, ...]`` in field order; each value by its declared type (Decimal as text, time as ISO,
    enum as its value, a nested hot class as its list); anything else through :func:`encode`."""

    def __init__(self, cls: type):
        import types
        import typing

        self.cls, self.name = cls, _qual(cls)
        self.names = [f.name for f in fields(cls)]
        hints = typing.get_type_hints(cls)
        self.enc, self.dec = [], []
        for name in self.names:
            t = hints[name]
            args = [a for a in typing.get_args(t) if a is not type(None)] if isinstance(t, types.UnionType) or \
                typing.get_origin(t) is typing.Union else [t]
            base = args[0] if len(args) == 1 else None
            if (cls.__name__, name) == ("Order", "history"):
                e, d = _history_enc, _history_dec
            elif base is Decimal:
                e, d = str, Decimal
            elif base is datetime:
                e, d = datetime.isoformat, datetime.fromisoformat
            elif isinstance(base, type) and issubclass(base, Enum):
                e, d = (lambda v: v.value), base
            elif base in (int, str, bool):
                e = d = None
            elif isinstance(base, type) and base in _COMPACT_CLASSES:
                sub = _compact(base)
                e, d = sub.encode, sub.decode
            else:
                e, d = encode, decode
            self.enc.append(e)
            self.dec.append(d)

    def encode(self, o) -> list:
        return [v if v is None or e is None else e(v) for e, v in zip(self.enc, (getattr(o, n) for n in self.names))]

    def decode(self, vals: list):
        obj = self.cls.__new__(self.cls)
        if len(vals) != len(self.names):
            raise SnapshotMismatch(f"{self.cls.__name__} has {len(self.names)} fields, the snapshot {len(vals)}")
        for n, d, v in zip(self.names, self.dec, vals):
            object.__setattr__(obj, n, v if v is None or d is None else d(v))
        return obj


_COMPACT_CLASSES: set[type] = set()
_compacts: dict[type, _Compact] = {}
_compacts_by_name: dict[str, _Compact] = {}


def _compact(cls: type) -> _Compact | None:
    c = _compacts.get(cls)
    if c is None and cls in _COMPACT_CLASSES:
        c = _compacts[cls] = _compacts_by_name[_qual(cls)] = _Compact(cls)
    return c


def _register_compact() -> None:
    from tradekit.model.charges import Charges
    from tradekit.model.order import Order, OrderRequest
    from tradekit.model.position import Position

    _COMPACT_CLASSES.update((Order, OrderRequest, Position, Charges))


def order_codec() -> _Compact:
    """The positional codec of :class:`~tradekit.model.order.Order` (the side table's rows)."""
    from tradekit.model.order import Order

    return _compact(Order)


def _book_fields() -> list[str]:
    """The Book's fields a snapshot keeps: all but the private ones (``_made``, a writer's hand-over
    to the next ``order.created``, is transient, not state)."""
    return [f.name for f in fields(Book) if not f.name.startswith("_")]


def compact_schemas() -> dict[str, list[str]]:
    """The field names of the positional classes (a snapshot written with other fields is not read)."""
    return {_qual(c): [f.name for f in fields(c)] for c in sorted(_COMPACT_CLASSES, key=_qual)}


_classes: dict[str, type] = {}


def _resolve(name: str) -> type:
    cls = _classes.get(name)
    if cls is None:
        mod, _, qual = name.partition(":")
        if not mod.startswith("tradekit."):
            raise SnapshotMismatch(f"a snapshot names {name!r}, which is not a tradekit class")
        try:
            obj: Any = importlib.import_module(mod)
            for part in qual.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as e:
            raise SnapshotMismatch(f"a snapshot names {name!r}, which this version does not have ({e})") from None
        cls = _classes[name] = obj
    return cls


def decode(o: Any) -> Any:
    if isinstance(o, list):
        return [decode(x) for x in o]
    if not isinstance(o, dict):
        return o
    if "$P" in o:
        c = _compacts_by_name.get(o["$P"])
        if c is None:
            c = _compact(_resolve(o["$P"]))
            if c is None:
                raise SnapshotMismatch(f"{o['$P']} is not written positionally by this version")
        return c.decode(o["v"])
    if "$D" in o:
        return Decimal(o["$D"])
    if "$M" in o:
        return {k if type(k) is str else decode(k): decode(v) for k, v in o["$M"]}
    if "$C" in o:
        cls = _resolve(o["$C"])
        names = {f.name for f in fields(cls)}
        got = o["f"]
        if names != set(got):
            raise SnapshotMismatch(f"{cls.__name__} has fields {sorted(names ^ set(got))} that differ from the snapshot's")
        obj = cls.__new__(cls)
        for k, v in got.items():
            object.__setattr__(obj, k, decode(v))
        return obj
    if "$T" in o:
        return datetime.fromisoformat(o["$T"])
    if "$E" in o:
        return _resolve(o["$E"])(o["v"])
    if "$t" in o:
        return tuple(decode(x) for x in o["$t"])
    if "$s" in o:
        xs = o["$s"]
        return set(xs) if all(type(x) is str for x in xs) else {decode(x) for x in xs}
    if "$d" in o:
        return date.fromisoformat(o["$d"])
    raise SnapshotMismatch(f"an untagged object in a snapshot: {sorted(o)[:3]}")


# -- what is kept of the events that some component rebuilds from -----------------------------------
_KEEP_ALL = frozenset({
    E.BRACKET_CREATED, E.BRACKET_STOP_MOVED, E.BRACKET_MODIFIED, E.BRACKET_TAKEN_DOWN, E.BRACKET_PROTECTED,
    E.BRACKET_CHILD_FAILED, E.BRACKET_CLOSED,
    E.SLICE_STARTED, E.SLICE_MODIFIED, E.SLICE_CANCELLED, E.SLICE_COMPLETED,
    E.ALGO_STARTED, E.ALGO_VOLUME_BASE, E.ALGO_MODIFIED, E.ALGO_CANCELLED, E.ALGO_COMPLETED,
    E.GTT_PLACED, E.GTT_MODIFIED, E.GTT_DELETED, E.GTT_FAILED, E.GTT_TRIGGERED, E.GTT_CLOSED, E.GTT_FINDING,
    E.CONDITION_CREATED, E.CONDITION_PROGRESS, E.CONDITION_TRIGGERED, E.CONDITION_CANCELLED, E.CONDITION_EXPIRED,
    E.ALERT_RAISED, E.ALERT_SENT, E.ALERT_FAILED, E.ALERT_ACKED, E.ALERT_ESCALATED, E.ALERT_ACK_REQUESTED,
    E.TRADING_STATE, E.KILL_SWITCH,
    E.SIGNAL_PARKED, E.SIGNAL_UNPARKED,
    E.BASKET_CREATED, E.BASKET_STATE,
})
_LINKED_ORDER_EVENTS = frozenset({E.ORDER_MODIFIED, E.ORDER_CANCEL_REQUESTED, E.RISK_DECISION})
_DAY_EVENTS = frozenset({E.FILL, E.DAY_ROLLED, E.SESSION_STARTED})
#: the event kinds :func:`history` can answer for (a component rebuilding from another kind needs the journal)
RETAINED_TYPES = _KEEP_ALL | _LINKED_ORDER_EVENTS | {E.ORDER_CREATED, E.SESSION_STARTED, E.POSITION_ADJUSTED}


@dataclass
class StartState:
    """The state rebuilt from a journal up to ``seq``: the book, the retained events, the last day."""

    seq: int = 0
    hash: str = "0" * 64
    book: Book = field(default_factory=Book)
    retained: list[Event] = field(default_factory=list)
    linked: set[str] = field(default_factory=set)  # order ids a bracket, a parent or a GTT leg owns
    session_started: bool = False
    last_day: date | None = None  # of the last fill, day roll or session start
    source: str = "replay"  # "snapshot at seq N" or "replay": how it was built (for the log and status)
    snapshot_seq: int = 0  # the snapshot it started from (0: none)
    last_ts: str | None = None  # of the event at ``seq``: its day splits the orders kept in memory from the old ones

    def feed(self, ev: Event) -> None:
        """One event after ``seq``: into the book (as :meth:`Book.rebuild` does) and what is retained."""
        try:
            self.book.apply(ev)
        except StoreError as e:
            self.book.anomalies.append((ev.seq, ev.type, str(e)))
            self.book.last_seq = ev.seq
            log.warning("rebuilding the book: %s; the event is set aside", e)
        t, p = ev.type, ev.payload
        if t in _DAY_EVENTS:
            self.last_day = ev.day
        if t in _KEEP_ALL:
            self.retained.append(ev)
            if t == E.BRACKET_CREATED and p.get("bracket_id"):
                self.linked.add(p["bracket_id"])
            elif t in (E.SLICE_STARTED, E.ALGO_STARTED) and p.get("client_order_id"):
                self.linked.add(p["client_order_id"])
        elif t == E.ORDER_CREATED:
            if p.get("meta") or p.get("parent_id"):
                self.retained.append(ev)
                self.linked.add(p["client_order_id"])
        elif t in _LINKED_ORDER_EVENTS:
            if p.get("client_order_id") in self.linked:
                self.retained.append(ev)
        elif t == E.SESSION_STARTED:
            if not self.session_started:  # the first one: a session ran; corporate actions' first day
                self.session_started = True
                self.retained.append(ev)
        elif t == E.POSITION_ADJUSTED and p.get("action_id"):  # the corporate actions applied (once each)
            self.retained.append(ev)
        self.seq, self.hash, self.last_ts = ev.seq, ev.hash, ev.ts

    def feed_all(self, events: Iterable[Event]) -> int:
        n = 0
        for ev in events:
            if ev.seq <= self.seq:
                continue
            if ev.prev_hash != self.hash and self.seq > 0:  # the first event links to its chain's genesis (per account)
                raise SnapshotMismatch(f"event {ev.seq} does not follow event {self.seq} in the chain (its previous hash "
                                       f"differs): run `tradekit audit verify`")
            self.feed(ev)
            n += 1
        return n

    def events(self, types: Iterable[str]) -> list[Event]:
        want = set(types)
        unknown = want - RETAINED_TYPES
        if unknown:
            raise ValueError(f"a snapshot keeps no {sorted(unknown)} events")
        return [ev for ev in self.retained if ev.type in want]

    # -- the body ------------------------------------------------------------------------------------
    def day(self):
        """The day of the event the state stands on (orders final before it go to the side tables)."""
        return datetime.fromisoformat(self.last_ts).astimezone(IST).date() if self.last_ts else None

    def split(self, gen: str = "") -> tuple[dict, list, list[tuple[str, str, str]]]:
        """(the body, the orders that go to the side tables now, the ``(kind, key, value)`` rows that do):
        the orders final and last changed before :meth:`day` (and their broker ids), every signal and
        trade id not already there. What an earlier snapshot put there stays there (``cold``)."""
        b = self.book
        orders, bids, sigs, tids = b.orders, b.by_broker_id, b.signals, b.trade_ids
        src = next((x.cold for x in (orders, bids, sigs, tids) if isinstance(x, (LazyOrders, LazyMap, LazySet))), None)
        hot = orders.hot if isinstance(orders, LazyOrders) else orders
        day = self.day()
        keep: dict = {}
        gone: list = []
        for cid, o in hot.items():
            u = o.updated_at or o.created_at
            if (day is not None and o.status.is_terminal and u is not None and u.astimezone(IST).date() < day
                    and cid not in b.open):
                gone.append(o)
            else:
                keep[cid] = o
        count = (orders.count - len(orders.shadowed) if isinstance(orders, LazyOrders) else 0) + len(gone)
        keys: list[tuple[str, str, str]] = []
        bkeep = {}
        for boid, cid in (bids.hot if isinstance(bids, LazyMap) else bids).items():
            if cid in keep:
                bkeep[boid] = cid
            else:
                keys.append(("broker", boid, cid))
        decisions = b.decisions.hot if isinstance(b.decisions, LazyMap) else b.decisions
        dkeep = {cid: d for cid, d in decisions.items() if cid in keep}
        keys += [("decision", cid, canonical(d)) for cid, d in decisions.items() if cid not in keep]
        new_sigs = sigs.hot if isinstance(sigs, LazySet) else sigs
        new_tids = tids.hot if isinstance(tids, LazySet) else tids
        keys += [("signal", k, "") for k in sorted(new_sigs)] + [("trade", k, "") for k in sorted(new_tids)]
        maxes = {}
        for kind, new in (("broker", [k for kd, k, _v in keys if kd == "broker"]), ("signal", new_sigs),
                          ("trade", new_tids)):
            maxes[kind] = max(src.max_int(kind) if src is not None else 0,
                              max((int(k) for k in new if k.isdigit()), default=0))
        skip = {"open", "orders", "by_broker_id", "signals", "trade_ids", "decisions"}
        book = {name: encode(getattr(b, name)) for name in _book_fields() if name not in skip}
        book |= {"orders": encode(keep), "by_broker_id": encode(bkeep), "signals": encode(set()),
                 "trade_ids": encode(set()), "decisions": encode(dkeep)}
        retained, linked = _prune(self.retained, self.linked, keep, day)
        body = {
            "format": FORMAT, "seq": self.seq, "hash": self.hash, "last_ts": self.last_ts, "schemas": compact_schemas(),
            "book": book, "open": list(b.open),
            "cold": {"ids": [*(src.ids if src is not None else ()), *([gen] if gen else [])], "orders": count,
                     "max": maxes},
            "retained": [[e.seq, e.ts, e.recorded_at, e.type, canonical(e.payload), e.prev_hash, e.hash]
                         for e in retained],
            "linked": sorted(linked), "session_started": self.session_started,
            "last_day": self.last_day.isoformat() if self.last_day else None,
        }
        return body, gone, keys

    def body(self) -> dict:
        return self.split()[0]

    @classmethod
    def from_body(cls, d: dict, *, engine=None) -> StartState:
        """The state of a body; with ``engine``, the orders and ids of the side tables of its snapshot and
        those it inherits (``cold.ids``) are read from them on first access (:mod:`tradekit.store.lazy`)."""
        if d.get("format") != FORMAT:
            raise SnapshotMismatch(f"snapshot format {d.get('format')!r}, this version reads {FORMAT}")
        if d.get("schemas") != compact_schemas():
            raise SnapshotMismatch("the snapshot's orders and positions have other fields than this version's")
        names = set(_book_fields()) - {"open"}
        if set(d["book"]) != names:
            raise SnapshotMismatch(f"the book's fields differ from the snapshot's: {sorted(names ^ set(d['book']))}")
        book = Book.__new__(Book)
        book._made = None  # a writer's hand-over (Book.made) is never part of a state
        for k, v in d["book"].items():
            setattr(book, k, decode(v))
        book.open = {cid: book.orders[cid] for cid in d["open"]}  # the same Order objects as in orders
        c = d["cold"]
        if engine is not None:
            src = cold.ColdStore(engine, tuple(c["ids"]), c["max"])
            book.orders = LazyOrders(book.orders, src, int(c["orders"]))
            book.by_broker_id = LazyMap(book.by_broker_id, src, "broker")
            book.signals = LazySet(book.signals, src, "signal")
            book.trade_ids = LazySet(book.trade_ids, src, "trade")
            book.decisions = LazyMap(book.decisions, src, "decision", decode=orjson.loads)
        elif c["orders"] or c["ids"]:
            raise SnapshotMismatch("a snapshot with a side table cannot be read without its journal")
        retained = []
        for seq, ts, rec, type_, payload, prev, h in d["retained"]:
            if chain_hash(prev, seq, ts, rec, type_, payload) != h:
                raise SnapshotMismatch(f"retained event {seq} does not match its hash")
            retained.append(Event(seq, ts, rec, type_, orjson.loads(payload), prev, h))
        return cls(seq=d["seq"], hash=d["hash"], book=book, retained=retained, linked=set(d["linked"]),
                   session_started=d["session_started"],
                   last_day=date.fromisoformat(d["last_day"]) if d["last_day"] else None,
                   source=f"snapshot at seq {d['seq']}", snapshot_seq=d["seq"], last_ts=d["last_ts"])


# -- what a snapshot's body need not keep: the threads closed before its day ---------------------
_BRACKET = frozenset(t for t in _KEEP_ALL if t.startswith("bracket."))
_PARENT = frozenset(t for t in _KEEP_ALL if t.startswith(("slice.", "algo.")))
_CONDITION = frozenset(t for t in _KEEP_ALL if t.startswith("condition."))
_ALERT = frozenset(t for t in _KEEP_ALL if t.startswith("alert."))
_CLOSING = {E.BRACKET_CLOSED: "b", E.SLICE_COMPLETED: "p", E.SLICE_CANCELLED: "p", E.ALGO_COMPLETED: "p",
            E.ALGO_CANCELLED: "p", E.CONDITION_TRIGGERED: "c", E.CONDITION_CANCELLED: "c", E.CONDITION_EXPIRED: "c",
            E.ALERT_ACKED: "a"}


def _prune(retained: list[Event], linked: set[str], hot: dict, day) -> tuple[list[Event], set[str]]:
    """The retained events and linked order ids without the threads that ended before ``day``: a
    bracket closed, a slicing/algorithm parent completed or cancelled, a conditional order triggered,
    cancelled or expired, an alert acknowledged — each with its orders' events, once every order of it
    is final and off to the side table (not in ``hot``) — and the events of plain orders that are
    (an MIS square-off's ``order.created`` with its reason). Baskets and GTT legs are kept."""
    if day is None:
        return retained, linked
    family: dict[str, tuple[str, str] | None] = {}  # order id -> its thread (None: keep its events)
    for ev in retained:
        if ev.type == E.BRACKET_CREATED and ev.payload.get("bracket_id"):
            family.setdefault(ev.payload["bracket_id"], ("b", ev.payload["bracket_id"]))
        elif ev.type in (E.SLICE_STARTED, E.ALGO_STARTED) and ev.payload.get("client_order_id"):
            family.setdefault(ev.payload["client_order_id"], ("p", ev.payload["client_order_id"]))
        elif ev.type == E.ORDER_CREATED:
            p = ev.payload
            cid, meta = p["client_order_id"], p.get("meta") or {}
            if meta.get("bracket_id"):
                family[cid] = ("b", meta["bracket_id"])
            elif "bracket" in meta:
                family[cid] = ("b", cid)  # a bracket's entry: the bracket's id
            elif meta.get("parent_id") or p.get("parent_id"):
                family[cid] = ("p", meta.get("parent_id") or p["parent_id"])
            elif meta.get("basket") or meta.get("adopted") or meta.get("leg"):
                family[cid] = None
            else:
                family[cid] = ("o", cid)

    def key(ev: Event) -> tuple[str, str] | None:
        t, p = ev.type, ev.payload
        if t in _BRACKET:
            return "b", p.get("bracket_id")
        if t in _PARENT:
            return "p", p.get("client_order_id")
        if t in _CONDITION:
            return "c", p.get("condition_id")
        if t in _ALERT:
            return "a", p.get("id")
        if t == E.ORDER_CREATED or t in _LINKED_ORDER_EVENTS:
            return family.get(p.get("client_order_id"))
        return None

    ended: set[tuple[str, str]] = set()
    members: dict[tuple[str, str], set[str]] = {}
    for ev in retained:
        kind = _CLOSING.get(ev.type)
        k = key(ev)
        if kind is not None and k is not None and ev.day < day:
            ended.add(k)
        if k is not None and k[0] in "bpo":
            members.setdefault(k, {k[1]}).add(ev.payload.get("client_order_id") or k[1])
    for cid, k in family.items():
        if k is not None and k[0] == "o" and cid not in hot:
            ended.add(k)  # a plain order, final and old
    gone = {k for k in ended if not (members.get(k, set()) & hot.keys())}
    if not gone:
        return retained, linked
    drop = {c for k in gone for c in members.get(k, ())}
    return [ev for ev in retained if key(ev) not in gone], linked - drop


def body_text(state: StartState) -> str:
    return canonical(state.split()[0])


def body_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- storing and finding snapshots -------------------------------------------------------------------
def ensure_table(journal: Journal) -> None:
    if not journal.read_only:
        snapshot_metadata.create_all(journal.engine)
        cold.ensure_tables(journal.engine)


def save(journal: Journal, state: StartState) -> dict:
    """Store ``state`` as a snapshot; returns its row (without the body)."""
    if journal.read_only:
        raise StoreError("the journal was opened read-only; no snapshot was written")
    gen = cold.new_gen()
    body, gone, keys = state.split(gen)
    text = canonical(body)
    row = dict(seq=state.seq, hash=state.hash, body_sha256=body_sha256(text), format=FORMAT,
               created_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"), body=text)
    ensure_table(journal)
    with journal.engine.begin() as conn:  # the body and its side-table rows together, or nothing
        snap_id = conn.execute(insert(snapshots_table), row).inserted_primary_key[0]
        cold.write(conn, gen, gone, keys)
    log.info("journal snapshot at seq %s (%d bytes; %d orders and %d ids to its side tables)", state.seq, len(text),
             len(gone), len(keys))
    return {k: v for k, v in row.items() if k != "body"} | {"bytes": len(text), "id": snap_id}


def list_snapshots(journal: Journal) -> list[dict]:
    """Every stored snapshot, newest first (seq, hash, body SHA-256, size, time)."""
    try:
        with journal.engine.connect().execution_options(readonly=True) as conn:
            rows = conn.execute(select(snapshots_table.c.id, snapshots_table.c.seq, snapshots_table.c.hash,
                                       snapshots_table.c.body_sha256, snapshots_table.c.created_at,
                                       snapshots_table.c.format)
                                .order_by(snapshots_table.c.seq.desc(), snapshots_table.c.id.desc())).all()
    except SQLAlchemyError:
        return []  # no table: no snapshot yet
    return [r._asdict() for r in rows]


def _event_hash(conn, seq: int) -> tuple[str | None, str | None]:
    """(hash of event ``seq``, prev_hash of event ``seq + 1``) as the live table holds them."""
    at = conn.execute(select(events_table.c.hash).where(events_table.c.seq == seq)).scalar()
    nxt = conn.execute(select(events_table.c.prev_hash).where(events_table.c.seq == seq + 1)).scalar()
    return at, nxt


def check_row(journal: Journal, row) -> StartState:
    """The state a stored snapshot holds, once its body and its place in the chain check out."""
    text = row.body
    if body_sha256(text) != row.body_sha256:
        raise SnapshotMismatch(f"snapshot {row.id} (seq {row.seq}) was edited: its body does not match its SHA-256")
    try:
        d = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise SnapshotMismatch(f"snapshot {row.id} is not JSON: {e}") from None
    if d.get("seq") != row.seq or d.get("hash") != row.hash:
        raise SnapshotMismatch(f"snapshot {row.id}: its body stands on another (seq, hash) than its row")
    with journal.engine.connect().execution_options(readonly=True) as conn:
        at, nxt = _event_hash(conn, row.seq)
        tail = conn.execute(select(tail_table.c.seq, tail_table.c.hash).where(tail_table.c.id == 1)).first()
    if at is not None:
        ok = at == row.hash
    elif nxt is not None:  # the event itself was archived: the next one must link to it
        ok = nxt == row.hash
    else:
        ok = tail is not None and (tail.seq, tail.hash) == (row.seq, row.hash)
    if not ok:
        raise SnapshotMismatch(f"snapshot {row.id} stands on seq {row.seq} with hash {row.hash[:16]}…, which is not in "
                               "this journal's chain (stale, or from another journal)")
    try:
        return StartState.from_body(d, engine=journal.engine)
    except (KeyError, TypeError, ValueError) as e:
        raise SnapshotMismatch(f"snapshot {row.id} cannot be read: {e}") from None


def latest_valid(journal: Journal, *, up_to: int | None = None) -> StartState | None:
    """The newest snapshot that checks out (at or before ``up_to``); a warning for each one that does not."""
    try:
        with journal.engine.connect().execution_options(readonly=True) as conn:
            t = snapshots_table.c
            q = select(t.id).order_by(t.seq.desc(), t.id.desc())
            if up_to is not None:
                q = q.where(t.seq <= up_to)
            ids = conn.execute(q.limit(5)).scalars().all()
    except SQLAlchemyError:
        return None  # no snapshot table yet
    for sid in ids:  # one body read at a time: the first that checks out is used
        with journal.engine.connect().execution_options(readonly=True) as conn:
            row = conn.execute(select(snapshots_table).where(snapshots_table.c.id == sid)).first()
        try:
            return check_row(journal, row)
        except SnapshotMismatch as e:
            log.warning("%s; it is ignored", e)
    return None


def build(journal: Journal, *, use_snapshots: bool = True, up_to: int | None = None) -> StartState:
    """The start state of ``journal``: the latest valid snapshot plus the events after it, or (none
    valid) every event, archived ones first. A broken link after a snapshot falls back to the replay."""
    journal.flush()
    state = latest_valid(journal, up_to=up_to) if use_snapshots else None
    if state is not None:
        try:
            t0 = time.perf_counter()
            n = state.feed_all(_until(journal.events(after=state.seq), up_to))
            log.info("started from the journal snapshot at seq %s and %d later events (%.2f s)", state.snapshot_seq, n,
                     time.perf_counter() - t0)
            return state
        except SnapshotMismatch as e:
            log.warning("the snapshot at seq %s cannot be used: %s; replaying the whole journal", state.snapshot_seq, e)
    state = StartState()
    state.feed_all(_until(_chain(archived_events(journal), journal.events()), up_to))
    return state


def _chain(a: Iterable[Event], b: Iterable[Event]) -> Iterator[Event]:
    last = 0
    for ev in a:
        last = ev.seq
        yield ev
    for ev in b:
        if ev.seq > last:
            yield ev


def _until(events: Iterable[Event], up_to: int | None) -> Iterator[Event]:
    for ev in events:
        if up_to is not None and ev.seq > up_to:
            return
        yield ev


def take(journal: Journal) -> dict:
    """Write a snapshot of the journal as committed now (from the latest snapshot and the events after it)."""
    state = build(journal)
    if state.seq == 0:
        raise StoreError("the journal is empty: nothing to snapshot")
    latest = list_snapshots(journal)
    if latest and latest[0]["seq"] == state.seq and latest[0]["hash"] == state.hash and state.snapshot_seq == state.seq:
        return {k: latest[0][k] for k in ("seq", "hash", "body_sha256", "created_at")} | {"existing": True}
    return save(journal, state)


# -- what the session's components read at start ----------------------------------------------------
def history(journal: Journal, types: tuple[str, ...]) -> Iterator[Event]:
    """The events of ``types`` a component rebuilds from: those the session's start state retained (a
    snapshot's, with what it replayed after it), then the journal after it. Without a start state
    (a journal no session opened), every such event of the journal, archived days first."""
    base: StartState | None = getattr(journal, "base", None)
    if base is None or not set(types) <= RETAINED_TYPES:  # no start state, or a kind no snapshot keeps
        if base is not None:
            log.debug("no snapshot keeps %s events: reading the whole journal for them", sorted(set(types) - RETAINED_TYPES))
        yield from read_events(journal, types=types)  # the archive files, then the table, in one read transaction
        return
    yield from base.events(types)
    yield from journal.events(after=base.seq, types=types)


def attach(journal: Journal, *, every: int = 0, use_snapshots: bool = True) -> StartState:
    """Build the start state (see :func:`build`), hang it on the journal for :func:`history`, and
    write a new snapshot when ``every`` > 0 events were replayed after the one it started from."""
    ensure_table(journal)
    state = build(journal, use_snapshots=use_snapshots)
    if every and state.seq - state.snapshot_seq >= every and not journal.read_only:
        try:
            save(journal, state)  # before the book is handed out and changes
            state.snapshot_seq = state.seq
        except (StoreError, SQLAlchemyError) as e:
            log.warning("could not write a journal snapshot: %s", e)
    journal.base = state
    return state


class Periodic:
    """Snapshots while a session runs: one on its own thread whenever ``every`` events passed."""

    def __init__(self, journal: Journal, every: int, last: int):
        self.journal, self.every, self.last = journal, every, last
        self._thread: threading.Thread | None = None

    def due(self) -> bool:
        """``every`` events since the last one, on a journal written durably (not a fast replay's own, in batches)."""
        return self.every > 0 and self.journal.durability == "sync" and self.journal.last_seq - self.last >= self.every

    def maybe(self) -> None:
        if not self.due() or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._run, name="journal-snapshot", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.last = take(self.journal)["seq"]
        except Exception:  # a snapshot is an optimisation: the journal stays the truth
            log.exception("taking a journal snapshot failed")

    def join(self, timeout: float = 30.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


_register_compact()

__all__ = [
    "SnapshotMismatch",
    "StartState",
    "attach",
    "build",
    "decode",
    "encode",
    "history",
    "latest_valid",
    "list_snapshots",
    "save",
    "take",
]
