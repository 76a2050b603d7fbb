"""Session start-up time against journal length, with and without a journal snapshot (goal: flat with one).

For each length (10k, 50k, 200k and 500k events by default; ``TRADEKIT_BENCH_STARTUP=10000,50000`` to
choose) a journal of a trading account is written (``_write``: orders through their life — created,
risk decision, approval, submitted, open, filled or cancelled; one in ten with a reason, as an MIS
square-off — signals received, marks, a day roll every ~5,000 events with a conditional order and
an alert of the day closed before it, on 10 bundled NSE symbols; a snapshot every 10,000 events as a running session
writes them, each from the one before), then a paper :class:`~tradekit.session.Session` is started
on it, each start in a fresh subprocess (no warm caches), repeated; medians are reported:

- ``full``: no snapshot — the whole journal is replayed (what every start did before snapshots);
- ``snap``: the latest snapshot plus the last 1,000 events (a day's worth of a quiet account);
- ``rebuild_*``: the journal part alone (:func:`tradekit.store.snapshot.build`), without the fixed
  cost of building a session (instrument master, calendar, risk manager, ...).

After the timing, each start's whole book (every order, old ones read from the snapshot's side
table, positions, cash) is digested; the snapshot start must give the full replay's digest.
The ratio ``full / snap`` is the speed-up; ``snapshot start, largest / smallest`` is the flatness
(goal: ~1, under 1.5), all measured in the same run.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = ("RELIANCE", "INFY", "TCS", "SBIN", "HDFCBANK", "ICICIBANK", "WIPRO", "HCLTECH", "TATAMOTORS", "TATASTEEL",
           "HDFC", "BANKNIFTY")[:10]
TAIL = 1000
REPEATS = 3
SNAP_REPEATS = 5  # the snapshot column is the one whose flatness is judged: more repeats, cheap ones
EVERY = 10_000  # a snapshot every this many events while the journal is written
FULL_REPEATS_ABOVE = 200_000  # longer journals: the full replay (minutes) is measured once


def _write(path: Path, n: int, *, tail: int = TAIL) -> dict:
    """A journal of about ``n`` events; snapshots every :data:`EVERY` events and the last one ``tail``
    events before its end when ``tail`` >= 0."""
    from tradekit.clock import IST, SimClock
    from tradekit.model import OrderRequest
    from tradekit.store import EventType as E
    from tradekit.store import Journal, make_engine, sqlite_url
    from tradekit.store import snapshot as snap
    from tradekit.store.lease import JournalLease

    clock = SimClock(datetime(2026, 1, 5, 9, 15, tzinfo=IST))
    engine = make_engine(sqlite_url(path), synchronous="OFF")
    lease = JournalLease.acquire(engine, owner="bench_startup writer")
    j = Journal(engine, clock=clock, durability="batch", batch_size=5000, lease=lease)
    rnd = random.Random(20)
    j.append(E.SESSION_STARTED, {"mode": "paper", "capital": "10000000", "account": "bench"})
    i = 0
    snap_at = None
    last: dict = {}
    since_roll = 0
    next_snap = EVERY
    while j.last_seq < n:
        if snap_at is None and tail >= 0 and j.last_seq >= n - tail:
            last = snap.take(j)  # from the one before and the events after it
            snap_at = j.last_seq
        elif tail >= 0 and j.last_seq >= next_snap and j.last_seq < n - tail:
            snap.take(j)
            next_snap += EVERY
        sym = rnd.choice(SYMBOLS)
        cid = f"TK{i:08d}"
        side = rnd.choice(("BUY", "SELL"))
        px = f"{rnd.uniform(100, 3000):.2f}"
        qty = rnd.randint(1, 20)
        req = OrderRequest("NSE", sym, side, qty, "LIMIT", "CNC", price=px)
        j.append(E.SIGNAL_RECEIVED, {"signal_id": f"sig-{i}", "strategy": "s"})
        created = {"client_order_id": cid, "strategy": "s", "request": req.to_dict(), "signal_id": f"sig-{i}"}
        if i % 10 == 0:  # an order with a reason (an MIS square-off's): its events were kept by every snapshot
            created["meta"] = {"reason": "tradekit MIS square-off"}
        j.append(E.ORDER_CREATED, created)
        j.append(E.RISK_DECISION, {"client_order_id": cid, "allowed": True, "checks": []})
        j.append(E.APPROVAL_GRANTED, {"client_order_id": cid, "by": "auto"})
        j.append(E.ORDER_SUBMITTED, {"client_order_id": cid})
        j.append(E.ORDER_UPDATE, {"client_order_id": cid, "status": "OPEN", "broker_order_id": f"B{i}"})
        if rnd.random() < 0.8:
            j.append(E.FILL, {"client_order_id": cid, "trade_id": f"T{i}", "quantity": qty, "price": px, "side": side,
                              "exchange": "NSE", "tradingsymbol": sym, "product": "CNC",
                              "charges": {"brokerage": "0.00", "stt": "0.10", "exchange_txn": "0.03"}})
            j.append(E.ORDER_UPDATE, {"client_order_id": cid, "status": "COMPLETE", "filled_quantity": qty})
        else:
            j.append(E.ORDER_UPDATE, {"client_order_id": cid, "status": "CANCELLED"})
        j.append(E.MARK, {"prices": {f"NSE:{s}": f"{rnd.uniform(100, 3000):.2f}" for s in SYMBOLS[:3]}})
        clock.advance(30)
        i += 1
        since_roll += 9
        if since_roll >= 5000:
            since_roll = 0
            _closed_threads(j, clock, i)
            day = clock.now() + timedelta(days=1)
            clock.set(day.replace(hour=9, minute=15))
            j.append(E.DAY_ROLLED, {"day": clock.now().date().isoformat()})
    j.close()  # flushes, gives the lease up
    out = {"events": j.last_seq, "orders": i, "snapshot_seq": snap_at, "day": clock.now().date().isoformat(),
           "snapshot_bytes": last.get("bytes", 0)}
    j.engine.dispose()
    return out


def _closed_threads(j, clock, i: int) -> None:
    """A day's conditional order (armed, then cancelled) and alert (raised, then acknowledged)."""
    from tradekit.store import EventType as E

    now = clock.now().isoformat()
    j.append(E.CONDITION_CREATED, {"condition_id": f"C{i}", "signal_id": f"csig-{i}", "strategy": "s",
                                   "instrument": "NSE:INFY", "side": "BUY", "created_at": now,
                                   "condition": {"kind": "price", "cross": "above", "level": 5000}})
    j.append(E.CONDITION_CANCELLED, {"condition_id": f"C{i}", "at": now, "reason": "cancelled by the bench"})
    j.append(E.ALERT_RAISED, {"id": f"a{i:07x}", "kind": "halted", "priority": "warning", "title": "bench",
                              "text": "", "key": f"k{i}", "channels": []})
    j.append(E.ALERT_ACKED, {"id": f"a{i:07x}", "by": "bench", "via": "bench"})


def _start(db: str, use_snapshots: bool, day: str) -> dict:
    """One start in this process: the rebuild alone, then a whole paper session (after the rebuild's caches)."""
    from tradekit.clock import IST, SimClock
    from tradekit.config import load_config
    from tradekit.session import Session
    from tradekit.store import Journal, make_engine, sqlite_url
    from tradekit.store import snapshot as snap

    t0 = time.perf_counter()
    j = Journal(make_engine(sqlite_url(db)))
    st = snap.build(j, use_snapshots=use_snapshots)
    rebuild = time.perf_counter() - t0
    j.engine.dispose()
    if not use_snapshots:  # the session itself must not find one either: start from a copy without
        from sqlalchemy import delete

        j = Journal(make_engine(sqlite_url(db)))
        snap.ensure_table(j)
        with j.engine.begin() as conn:
            conn.execute(delete(snap.snapshots_table))
        j.engine.dispose()
    d = tempfile.mkdtemp()
    over = {"data_dir": d, "execution": {"charges_as_of": "2026-11-20"},
            "risk": {"var": {"limit_pct": None}}}  # no VaR model from bars: its cost does not depend on the journal
    clock = SimClock(datetime.fromisoformat(day).replace(hour=9, minute=15, tzinfo=IST))
    warm = Session(load_config(overrides={**over, "store": {"url": f"sqlite:///{d}/warm.db"}}), clock=clock, mode="paper")
    warm.journal.lease.release()  # a first session on an empty journal: the imports and caches are warm now
    cfg = load_config(overrides={**over, "store": {"url": f"sqlite:///{db}", "snapshot_every_events": 0}})
    t0 = time.perf_counter()
    s = Session(cfg, clock=clock, mode="paper")
    session = time.perf_counter() - t0
    src = s.start_state.source
    s.journal.lease.release()  # no close: closing would write anchors and marks; the copy is thrown away
    import hashlib

    digest = hashlib.sha256(repr(s.book.snapshot()).encode()).hexdigest()  # after the timing: reads every old order
    return {"rebuild_s": rebuild, "session_s": session, "source": src, "orders": len(st.book.orders), "digest": digest}


def _measure(db: Path, use_snapshots: bool, day: str, repeats: int = REPEATS) -> dict:
    runs = []
    for _ in range(repeats):
        import shutil

        tmp = Path(tempfile.mkdtemp()) / "j.db"
        shutil.copyfile(db, tmp)
        code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.bench_startup import _start; "
                f"print(json.dumps(_start({str(tmp)!r}, {use_snapshots!r}, {day!r})))")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return {"rebuild_s": statistics.median(x["rebuild_s"] for x in runs),
            "session_s": statistics.median(x["session_s"] for x in runs), "source": runs[0]["source"],
            "orders": runs[0]["orders"], "digest": {x["digest"] for x in runs}}


def run() -> dict:
    sizes = [int(x) for x in os.environ.get("TRADEKIT_BENCH_STARTUP", "10000,50000,200000,500000").split(",")]
    out: dict = {}
    snaps: list[tuple[int, dict]] = []
    base = Path(tempfile.mkdtemp())
    for n in sizes:
        db = base / f"j{n}.db"
        t0 = time.perf_counter()
        info = _write(db, n)
        write_s = time.perf_counter() - t0
        full = _measure(db, False, info["day"], 1 if n > FULL_REPEATS_ABOVE else REPEATS)
        snapd = _measure(db, True, info["day"], SNAP_REPEATS)
        assert snapd["source"].startswith("snapshot") and full["source"] == "replay", (snapd, full)
        assert snapd["orders"] == full["orders"]
        assert len(full["digest"] | snapd["digest"]) == 1, "a start from the snapshot gave another book than the replay"
        snaps.append((n, snapd))
        k = f"{n // 1000}k"
        out[f"{k} events"] = f"{info['events']} events, {info['orders']} orders, {db.stat().st_size / 1e6:.0f} MB (written in {write_s:.0f} s)"
        out[f"{k} session start full replay"] = f"{full['session_s']:.2f} s (journal rebuild {full['rebuild_s']:.2f} s)"
        out[f"{k} session start from snapshot"] = (f"{snapd['session_s']:.2f} s (journal rebuild {snapd['rebuild_s']:.2f} s: "
                                                   f"snapshot of {info['snapshot_bytes'] / 1e3:.0f} kB + "
                                                   f"{info['events'] - info['snapshot_seq']} events)")
        out[f"{k} ratio full/snapshot"] = (f"session {full['session_s'] / snapd['session_s']:.1f}x, "
                                           f"rebuild {full['rebuild_s'] / snapd['rebuild_s']:.1f}x")
        db.unlink()  # the 500k journal is ~200 MB
    if len(snaps) > 1:
        (n0, a), (n1, b) = snaps[0], snaps[-1]
        out[f"snapshot start {n1 // 1000}k / {n0 // 1000}k"] = (f"session {b['session_s'] / a['session_s']:.2f}, "
                                                              f"rebuild {b['rebuild_s'] / a['rebuild_s']:.2f} "
                                                              "(goal: ~1, under 1.5)")
    return out


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:>40}: {v}")
