"""Audit: verify the hash chain, name the first bad event, export for a compliance reviewer.

The chain alone cannot show what happened at its *end*: whoever can write the database can
append a forged event with a consistent tail record, or cut the last events and rewrite the
tail. So anchors leave the database: the session publishes the journal's anchor (seq, hash,
time) to an **anchor log** — an append-only JSONL file under the data dir, chained line to
line like the journal itself — every few minutes in live (``store.anchor_interval_seconds``),
at the end of each day and when it closes, and hands each anchor to its listeners (an alert
channel can send it off the machine). ``verify`` checks the journal against every published
anchor: an anchor whose event is gone or different means the history it certified was cut or
rewritten, and an event after the latest anchor that claims to have been recorded before it
was inserted afterwards. Events after the latest anchor are named as not anchored yet.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from tradekit.errors import StoreError
from tradekit.store import accounts as _accounts
from tradekit.store.journal import GENESIS, Journal, events_table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    last_seq: int
    last_hash: str
    problem: str | None = None  # "altered" | "removed" | "inserted" | "reordered" | "truncated" | "anchor" | "account" | "archive"
    seq: int | None = None  # the first event that fails
    message: str = ""
    anchored_seq: int | None = None  # the latest published anchor the journal matched
    anchored_at: str | None = None
    anchors_checked: int = 0

    def __str__(self) -> str:
        if self.ok:
            out = f"OK: {self.events} events verify; last seq {self.last_seq}, anchor {self.last_hash}"
            if self.anchored_seq is not None:
                out += f"; matches {self.anchors_checked} published anchors, the latest at seq {self.anchored_seq} ({self.anchored_at})"
                if self.last_seq > self.anchored_seq:
                    out += f"; events {self.anchored_seq + 1}..{self.last_seq} are not anchored yet"
            return out
        where = f"event {self.seq}" if self.seq is not None else "the anchor log"
        return f"FAILED at {where}: {self.message}"


def verify(journal: Journal, *, expect_anchor: str | None = None, anchors: "AnchorLog | None" = None) -> VerifyResult:
    """Walk the chain in seq order and report the first event that was tampered with.

    - a stored hash that does not match the event's content: the event was **altered**;
    - a gap in seq numbers: an event was **removed**;
    - a link (prev_hash) that does not match the previous event's hash while the event's own
      hash is consistent: an event was **inserted** before it, or events were **reordered**
      (told apart by whether the previous hash appears later in the chain);
    - a tail row that records more than the table holds: events were **truncated** from the end;
    - ``expect_anchor`` (a hash printed in an earlier report) not found: history was rewritten;
    - ``anchors`` (the anchor log): each published anchor must still be in the chain (its seq
      with its hash), and no event after the latest may claim a time before it.
    """
    from tradekit.store.archive import ArchiveError, archived_rows

    journal.flush()
    try:  # archived days first (tradekit.store.archive): their files, each checked against its recorded SHA-256
        archived = archived_rows(journal)
    except ArchiveError as e:
        return VerifyResult(False, 0, 0, GENESIS, "archive", e.seq, str(e))
    if anchors is None:
        intact = _intact(journal, archived, expect_anchor)
        if intact is not None:
            return intact
    rows = _live_rows(journal)
    if archived:
        rows = archived + rows
    tail_seq, tail_hash = journal.tail()
    account = getattr(journal, "account", _accounts.DEFAULT)
    prev_hash, prev_seq = _accounts.genesis(account), 0
    anchor_found = expect_anchor is None
    sha256 = hashlib.sha256
    # rows are (seq, ts, recorded_at, type, payload, prev_hash, hash) tuples (or named tuples in that order)
    for i, (seq, ts, rec, type_, payload, ph, h) in enumerate(rows):
        if seq != prev_seq + 1:
            if seq > prev_seq + 1:
                missing = prev_seq + 1 if seq - prev_seq == 2 else f"{prev_seq + 1}..{seq - 1}"
                return _fail(rows, "removed", seq, f"event {missing} is missing (removed); the chain jumps from {prev_seq} to {seq}")
            return _fail(rows, "inserted", seq, f"sequence number {seq} is out of order after {prev_seq}")
        try:  # chain_hash(ph, seq, ts, rec, type_, payload), inline
            own = sha256(f"{ph}\n{seq}\n{ts}\n{rec}\n{type_}\n{payload}".encode("utf-8")).hexdigest()
        except ValueError:  # text that cannot be encoded (a lone surrogate written into the table)
            own = None
        if own != h:
            return _fail(rows, "altered", seq, f"event {seq} ({type_}) was altered: its content does not match its hash")
        if ph != prev_hash:
            src = _genesis_owner(journal.engine, ph) if prev_seq == 0 else None
            if src is not None:
                return _fail(rows, "account", seq,
                             f"event {seq} starts the chain of {src}, not of account {account}: its events were "
                             "moved here from another account")
            # what the link points at, among all events and among those before this one (a later row
            # with the same hash wins, as a dict built in seq order keeps it)
            all_hashes = {r[6]: r[0] for r in rows}
            seen_hashes = {r[6]: r[0] for r in rows[:i]}
            if ph in all_hashes and all_hashes[ph] > seq:
                kind, what = "reordered", f"event {seq} links to event {all_hashes[ph]}, which comes later: events were reordered"
            elif ph in seen_hashes:
                kind, what = "removed", f"event {seq} links to event {seen_hashes[ph]}: the events between were removed and renumbered"
            else:
                kind, what = "inserted", f"event {seq} ({type_}) does not follow event {prev_seq}: it was inserted, or event {prev_seq} was altered and rehashed"
            return _fail(rows, kind, seq, what)
        if h == expect_anchor:
            anchor_found = True
        prev_hash, prev_seq = h, seq
    if tail_seq != prev_seq or tail_hash != prev_hash:
        if tail_seq > prev_seq:
            return _fail(rows, "truncated", prev_seq + 1, f"the journal records {tail_seq} events but holds {prev_seq}: events {prev_seq + 1}..{tail_seq} were removed from the end")
        return _fail(rows, "altered", tail_seq, f"the tail record (seq {tail_seq}) does not match the last event (seq {prev_seq})")
    if not anchor_found:
        return _fail(rows, "anchor", None, f"anchor {expect_anchor} is not in the chain: the history it certified was rewritten")
    if anchors is not None:
        return _against_log(rows, anchors)
    return VerifyResult(True, len(rows), prev_seq, prev_hash)


def _intact(journal: Journal, archived: list, expect_anchor: str | None) -> VerifyResult | None:
    """The result of :func:`verify` when the chain is whole (SQLite, no anchor log): the rows walked
    one by one off the driver's cursor, none kept (no list of every row, no collector passes over
    one). None as soon as anything does not check out: the full walk then names the problem."""
    if journal.engine.dialect.name != "sqlite":
        return None
    sha256 = hashlib.sha256
    prev_hash, prev_seq, n = _accounts.genesis(getattr(journal, "account", _accounts.DEFAULT)), 0, 0
    found = expect_anchor is None
    with journal.engine.connect().execution_options(readonly=True) as conn:
        conn.exec_driver_sql("SELECT 1")  # opens the read transaction (BEGIN) on this connection
        cur = conn.connection.driver_connection.cursor()
        try:
            cur.execute(_SELECT_SQLITE)
            for seq, ts, rec, type_, payload, ph, h in itertools.chain(archived, cur):
                if seq != prev_seq + 1 or ph != prev_hash:
                    return None
                try:  # chain_hash(ph, seq, ts, rec, type_, payload), inline
                    if sha256(f"{ph}\n{seq}\n{ts}\n{rec}\n{type_}\n{payload}".encode("utf-8")).hexdigest() != h:
                        return None
                except ValueError:
                    return None
                if h == expect_anchor:
                    found = True
                prev_hash, prev_seq, n = h, seq, n + 1
        finally:
            cur.close()
    if not found or journal.tail() != (prev_seq, prev_hash):
        return None
    return VerifyResult(True, n, prev_seq, prev_hash)


def _live_rows(journal: Journal) -> list:
    """The events table in seq order, as row tuples (SQLite: straight from the driver's cursor)."""
    with journal.engine.connect().execution_options(readonly=True) as conn:
        if journal.engine.dialect.name == "sqlite":  # one account per file: the table is plain ``events``
            conn.exec_driver_sql("SELECT 1")  # opens the read transaction (BEGIN) on this connection
            cur = conn.connection.driver_connection.cursor()
            try:
                cur.execute(_SELECT_SQLITE)
                return cur.fetchall()
            finally:
                cur.close()
        return list(conn.execute(select(events_table).order_by(events_table.c.seq)))


_SELECT_SQLITE = f"SELECT {', '.join(c.name for c in events_table.columns)} FROM events ORDER BY seq"


def _genesis_owner(engine, prev_hash: str) -> str | None:
    """Which account's chain starts from ``prev_hash`` (the default's, or one this database holds)."""
    if prev_hash == GENESIS:
        return "the default account"
    try:
        base = engine.execution_options(schema_translate_map=None)
        known = _accounts.list_accounts(base) if _accounts.is_postgres(engine) else []
    except StoreError:
        known = []
    for a in known:
        if _accounts.genesis(a) == prev_hash:
            return f"account {a}"
    return None


BACKDATE_GRACE_SECONDS = 60


def _utc(iso: str) -> datetime:
    try:
        t = datetime.fromisoformat(iso)
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)  # unreadable: as old as can be
    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)


def _against_log(rows, anchors: "AnchorLog") -> VerifyResult:
    try:
        entries = anchors.entries()
    except StoreError as e:
        return _fail(rows, "anchor_log", None, str(e))
    last_seq, last_hash = (rows[-1][0], rows[-1][6]) if rows else (0, GENESIS)
    if not entries:
        return VerifyResult(True, len(rows), last_seq, last_hash)
    by_seq = {r[0]: r for r in rows}
    for a in entries:
        r = by_seq.get(a["seq"])
        if r is None:
            return _fail(rows, "truncated", a["seq"],
                         f"the anchor published at {a['time']} covers events up to {a['seq']}, but the journal ends at "
                         f"{last_seq}: events {last_seq + 1}..{a['seq']} were removed")
        if r[6] != a["hash"]:
            return _fail(rows, "rewritten", a["seq"],
                         f"event {a['seq']} is not the one anchored at {a['time']} (hash {a['hash'][:16]}…): "
                         "the history up to it was rewritten")
    latest = entries[-1]
    # an honest event recorded just before the anchor may commit just after it: allow a margin
    cutoff = datetime.fromisoformat(latest["time"]) - timedelta(seconds=BACKDATE_GRACE_SECONDS)
    for seq, _, rec, type_, *_ in rows:
        if seq > latest["seq"] and _utc(rec) < cutoff:
            return _fail(rows, "inserted", seq,
                         f"event {seq} ({type_}) claims to have been recorded at {rec}, before the anchor "
                         f"of {latest['time']} at seq {latest['seq']} that did not include it: it was inserted later")
    return VerifyResult(True, len(rows), last_seq, last_hash, anchored_seq=latest["seq"], anchored_at=latest["time"],
                        anchors_checked=len(entries))


def _fail(rows, problem: str, seq: int | None, message: str) -> VerifyResult:
    last = rows[-1] if rows else None
    return VerifyResult(False, len(rows), last[0] if last else 0, last[6] if last else GENESIS, problem, seq, message)


def _summary(type_: str, p: dict) -> str:
    """One human line per event, for the reviewer's CSV."""
    keys = ("client_order_id", "tradingsymbol", "side", "quantity", "price", "status", "decision", "by", "reason", "message")
    parts = [f"{k}={p[k]}" for k in keys if k in p and p[k] not in (None, "")]
    if "request" in p and isinstance(p["request"], dict):
        r = p["request"]
        parts.append(f"{r.get('side')} {r.get('quantity')} {r.get('exchange')}:{r.get('tradingsymbol')} {r.get('order_type')}")
    return "; ".join(parts)


def export(journal: Journal, path: str | Path, *, fmt: str | None = None) -> int:
    """Write the journal, archived days included, as CSV or JSONL (by ``fmt`` or the file suffix); return the row count."""
    from tradekit.store.archive import read_events

    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "jsonl").lower()
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"export format must be csv or jsonl, {fmt!r} was received")
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        if fmt == "csv":
            w = csv.writer(f)
            w.writerow(["seq", "ts_ist", "recorded_at_utc", "type", "summary", "payload", "prev_hash", "hash"])
            for ev in read_events(journal):  # archived days too
                w.writerow([ev.seq, ev.ts, ev.recorded_at, ev.type, _summary(ev.type, ev.payload),
                            json.dumps(ev.payload, sort_keys=True, ensure_ascii=False), ev.prev_hash, ev.hash])
                n += 1
        else:
            for ev in read_events(journal):  # archived days too
                f.write(json.dumps({"seq": ev.seq, "ts": ev.ts, "recorded_at": ev.recorded_at, "type": ev.type,
                                    "payload": ev.payload, "prev_hash": ev.prev_hash, "hash": ev.hash},
                                   sort_keys=True, ensure_ascii=False) + "\n")
                n += 1
    return n


# -- the anchor log: anchors outside the database ---------------------------------------------------
def _line_hash(prev: str, body: dict) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{prev}\n{text}".encode()).hexdigest()


class AnchorLog:
    """An append-only JSONL file of published anchors, each line chained to the one before.

    A line is ``{"n", "seq", "hash", "time", "kind", "journal", "prev", "line"}``: ``line`` is
    the SHA-256 of ``prev`` and the other fields, ``prev`` the previous line's ``line``. Editing
    or removing a line (other than the last few, which a copy sent elsewhere covers) breaks it.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()

    def entries(self) -> list[dict]:
        """Every anchor, oldest first; :class:`StoreError` naming the first line that does not chain."""
        if not self.path.exists():
            return []
        out: list[dict] = []
        prev = GENESIS
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise StoreError(f"anchor log {self.path}: cannot read it ({e})") from None
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                body = {k: d[k] for k in ("n", "seq", "hash", "time", "kind", "journal")}
                ok = d["prev"] == prev and d["line"] == _line_hash(prev, body) and d["n"] == len(out) + 1
            except (ValueError, KeyError, TypeError):
                ok = False
            if not ok:
                raise StoreError(f"anchor log {self.path}: line {i} was altered, inserted or removed (its chain breaks)")
            out.append(d)
            prev = d["line"]
        return out

    def latest(self) -> dict | None:
        e = self.entries()
        return e[-1] if e else None

    def append(self, seq: int, hash_: str, *, kind: str, journal: str = "", at: datetime | None = None) -> dict:
        """Add one anchor (fsynced before this returns)."""
        with self._lock:
            entries = self.entries()
            prev = entries[-1]["line"] if entries else GENESIS
            t = (at or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="milliseconds")
            body = {"n": len(entries) + 1, "seq": int(seq), "hash": hash_, "time": t, "kind": kind, "journal": journal}
            d = {**body, "prev": prev, "line": _line_hash(prev, body)}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (json.dumps(d, sort_keys=True) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            return d


def anchor_log_path(store_url: str, data_dir: str | Path | None = None, configured: str | Path | None = None) -> Path:
    """Where a journal's anchors go: ``configured`` (relative to ``data_dir``), else
    ``<data_dir>/anchors/<journal>.jsonl`` (``<folder of the SQLite file>/anchors/...`` without a data dir).

    Each account has its own anchor log: for an account other than the default (named by the
    URL's ``?account=``), ``.<account>`` goes before the file's suffix (``...-tradekit.live_ab.jsonl``),
    the configured file's too, so two accounts never share one."""
    base = Path(data_dir).expanduser() if data_dir is not None else None
    store_url, acct = _accounts.split_url(str(store_url))
    acct = _accounts.validate(acct, field="store.url")
    if acct != _accounts.DEFAULT:
        p = anchor_log_path(store_url, data_dir, configured)
        return p.with_name(f"{p.stem}.{acct}{p.suffix or '.jsonl'}")
    if configured is not None:
        p = Path(configured).expanduser()
        return p if p.is_absolute() or base is None else base / p
    if store_url.startswith("sqlite"):
        db = Path(store_url.split("///", 1)[-1])
        name = db.name or "memory"
        folder = base if base is not None and db.parent.resolve() == base.resolve() else db.parent
        return folder / "anchors" / f"{name}.jsonl"
    from sqlalchemy.engine import make_url

    u = make_url(store_url)
    name = "-".join(str(x) for x in (u.get_backend_name(), u.host or "local", u.port or "", u.database or "") if x != "")
    return (base or Path(".")) / "anchors" / f"{name}.jsonl"


class AnchorPublisher:
    """Publishes a journal's anchors to its :class:`AnchorLog` (and to ``listeners``, e.g. alerts).

    :meth:`publish` now; :meth:`start` a thread that publishes every ``interval`` seconds when
    the journal moved, and the previous day's anchor when the (IST) day changes.
    """

    def __init__(self, journal: Journal, log_: AnchorLog, *, interval: float = 300.0, name: str = "",
                 listeners: list[Callable[[dict], None]] | None = None, today: Callable | None = None):
        self.journal, self.log, self.interval, self.name = journal, log_, interval, name
        self.listeners = listeners if listeners is not None else []
        self._today = today
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        last = None
        try:
            last = log_.latest()
        except StoreError as e:
            log.error("%s", e)
        self._last_seq = last["seq"] if last else 0
        self._day = self._today() if self._today else None

    def publish(self, kind: str = "interval", *, seq: int | None = None, hash_: str | None = None) -> dict | None:
        """Append the journal's current anchor (or the given one) unless it was published already."""
        if seq is None:
            self.journal.flush()
            seq, hash_ = self.journal.tail()
        if seq == 0 or (seq <= self._last_seq and kind == "interval"):
            return None
        entry = self.log.append(seq, hash_, kind=kind, journal=self.name)
        self._last_seq = max(self._last_seq, seq)
        for fn in list(self.listeners):
            try:
                fn(entry)
            except Exception:  # an alert channel down must not stop the anchors
                log.exception("anchor listener failed")
        return entry

    def end_of_day(self, day) -> dict | None:
        a = self.journal.anchor(day)
        return self.publish("day_end", seq=a[0], hash_=a[1]) if a is not None else None

    def tick(self) -> None:
        """One round of the thread: the day's end if the day changed, then the interval anchor."""
        if self._today is not None:
            today = self._today()
            if self._day is not None and today != self._day:
                self.end_of_day(self._day)
            self._day = today
        self.publish("interval")

    def start(self) -> "AnchorPublisher":
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="anchor-publisher", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:
                log.exception("publishing the journal's anchor failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


def open_read_only(target: str | Path, *, account: str | None = None) -> Journal:
    """A journal opened for reading only: a SQLite file (path or URL) or a PostgreSQL URL (one
    account's: ``account``, or the URL's ``?account=``, else the default; a missing account is a
    :class:`StoreError` listing those there).

    Nothing is created or written: a missing file is a :class:`StoreError`, not a new journal.
    """
    from urllib.parse import quote

    from sqlalchemy import create_engine

    from tradekit.store.db import make_engine

    t = str(target)
    if "://" not in t or t.startswith("sqlite"):
        if account is not None:
            _accounts.with_account("sqlite://", account)  # a SQLite file is the default account only
        path = Path(t.split("///", 1)[-1] if t.startswith("sqlite") else t).expanduser()
        if not path.is_file():
            raise StoreError(f"{path}: no such journal file")
        engine = create_engine(f"sqlite:///file:{quote(str(path.resolve()))}?mode=ro&uri=true",
                               connect_args={"timeout": 30})
    else:
        engine = make_engine(t, account=account)
    return Journal(engine, read_only=True)
