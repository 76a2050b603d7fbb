"""Audit: verify the hash chain, name the first bad event, export for a compliance reviewer."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from tradekit.store.journal import GENESIS, Journal, chain_hash, events_table


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    last_seq: int
    last_hash: str
    problem: str | None = None  # "altered" | "removed" | "inserted" | "reordered" | "truncated" | "anchor"
    seq: int | None = None  # the first event that fails
    message: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"OK: {self.events} events verify; last seq {self.last_seq}, anchor {self.last_hash}"
        return f"FAILED at event {self.seq}: {self.message}"


def verify(journal: Journal, *, expect_anchor: str | None = None) -> VerifyResult:
    """Walk the chain in seq order and report the first event that was tampered with.

    - a stored hash that does not match the event's content: the event was **altered**;
    - a gap in seq numbers: an event was **removed**;
    - a link (prev_hash) that does not match the previous event's hash while the event's own
      hash is consistent: an event was **inserted** before it, or events were **reordered**
      (told apart by whether the previous hash appears later in the chain);
    - a tail row that records more than the table holds: events were **truncated** from the end;
    - ``expect_anchor`` (a hash printed in an earlier report) not found: history was rewritten.
    """
    journal.flush()
    with journal.engine.connect().execution_options(readonly=True) as conn:
        rows = conn.execute(select(events_table).order_by(events_table.c.seq)).all()
    tail_seq, tail_hash = journal.tail()
    prev_hash, prev_seq = GENESIS, 0
    seen_hashes: dict[str, int] = {}
    all_hashes = {r.hash: r.seq for r in rows}
    anchor_found = expect_anchor is None
    for r in rows:
        try:
            own = chain_hash(r.prev_hash, r.seq, r.ts, r.recorded_at, r.type, r.payload)
        except (ValueError, json.JSONDecodeError):
            own = None
        if r.seq != prev_seq + 1:
            if r.seq > prev_seq + 1:
                missing = prev_seq + 1 if r.seq - prev_seq == 2 else f"{prev_seq + 1}..{r.seq - 1}"
                return _fail(rows, "removed", r.seq, f"event {missing} is missing (removed); the chain jumps from {prev_seq} to {r.seq}")
            return _fail(rows, "inserted", r.seq, f"sequence number {r.seq} is out of order after {prev_seq}")
        if own != r.hash:
            return _fail(rows, "altered", r.seq, f"event {r.seq} ({r.type}) was altered: its content does not match its hash")
        if r.prev_hash != prev_hash:
            if r.prev_hash in all_hashes and all_hashes[r.prev_hash] > r.seq:
                kind, what = "reordered", f"event {r.seq} links to event {all_hashes[r.prev_hash]}, which comes later: events were reordered"
            elif r.prev_hash in seen_hashes:
                kind, what = "removed", f"event {r.seq} links to event {seen_hashes[r.prev_hash]}: the events between were removed and renumbered"
            else:
                kind, what = "inserted", f"event {r.seq} ({r.type}) does not follow event {prev_seq}: it was inserted, or event {prev_seq} was altered and rehashed"
            return _fail(rows, kind, r.seq, what)
        seen_hashes[r.hash] = r.seq
        if expect_anchor is not None and r.hash == expect_anchor:
            anchor_found = True
        prev_hash, prev_seq = r.hash, r.seq
    if tail_seq != prev_seq or tail_hash != prev_hash:
        if tail_seq > prev_seq:
            return _fail(rows, "truncated", prev_seq + 1, f"the journal records {tail_seq} events but holds {prev_seq}: events {prev_seq + 1}..{tail_seq} were removed from the end")
        return _fail(rows, "altered", tail_seq, f"the tail record (seq {tail_seq}) does not match the last event (seq {prev_seq})")
    if not anchor_found:
        return _fail(rows, "anchor", None, f"anchor {expect_anchor} is not in the chain: the history it certified was rewritten")
    return VerifyResult(True, len(rows), prev_seq, prev_hash)


def _fail(rows, problem: str, seq: int | None, message: str) -> VerifyResult:
    last = rows[-1] if rows else None
    return VerifyResult(False, len(rows), last.seq if last else 0, last.hash if last else GENESIS, problem, seq, message)


def _summary(type_: str, p: dict) -> str:
    """One human line per event, for the reviewer's CSV."""
    keys = ("client_order_id", "tradingsymbol", "side", "quantity", "price", "status", "decision", "by", "reason", "message")
    parts = [f"{k}={p[k]}" for k in keys if k in p and p[k] not in (None, "")]
    if "request" in p and isinstance(p["request"], dict):
        r = p["request"]
        parts.append(f"{r.get('side')} {r.get('quantity')} {r.get('exchange')}:{r.get('tradingsymbol')} {r.get('order_type')}")
    return "; ".join(parts)


def export(journal: Journal, path: str | Path, *, fmt: str | None = None) -> int:
    """Write the journal as CSV or JSONL (by ``fmt`` or the file suffix); return the row count."""
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
            for ev in journal.events():
                w.writerow([ev.seq, ev.ts, ev.recorded_at, ev.type, _summary(ev.type, ev.payload),
                            json.dumps(ev.payload, sort_keys=True, ensure_ascii=False), ev.prev_hash, ev.hash])
                n += 1
        else:
            for ev in journal.events():
                f.write(json.dumps({"seq": ev.seq, "ts": ev.ts, "recorded_at": ev.recorded_at, "type": ev.type,
                                    "payload": ev.payload, "prev_hash": ev.prev_hash, "hash": ev.hash},
                                   sort_keys=True, ensure_ascii=False) + "\n")
                n += 1
    return n
