"""A real multi-day journal for the snapshot and archive tests, and a fingerprint of a session's state.

The journal: a two-day SMA replay of RELIANCE and INFY through a paper session (orders, fills,
marks, the day roll, square-off), then a paper session on the next day that takes signals through
the signal pipeline (signal ids to de-duplicate), works a bracket (entry, stop, target children),
arms a conditional order, and trips the kill switch (trading state, flatten, an alert).
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tradekit.clock import IST, SimClock
from tradekit.config import load_config
from tradekit.data import load_bars, sample_path
from tradekit.execution.replay import run_replay
from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.order import OrderRequest
from tradekit.session import Session
from tradekit.store import Journal, make_engine, sqlite_url
from tradekit.store.snapshot import encode
from tradekit.strategies import SmaCrossover

DAYS = ("2016-08-16", "2016-08-17")
DAY3 = datetime(2016, 8, 18, 9, 15, tzinfo=IST)
DAY4 = datetime(2016, 8, 19, 9, 15, tzinfo=IST)
OVERRIDES = {"execution": {"charges_as_of": "2026-11-20"},
             "paper": {"latency_ms": 0, "participation": 0, "slippage": {"model": "none"}},
             "store": {"snapshot_every_events": 0}}


def config(tmp: Path, **store):
    over = {**OVERRIDES, "data_dir": str(tmp / "var"), "store": {**OVERRIDES["store"], **store}}
    return load_config(overrides=over)


def open_session(db: Path, cfg, at: datetime) -> Session:
    clock = SimClock(at)
    return Session(cfg, clock=clock, journal=Journal(make_engine(sqlite_url(db)), clock=clock), mode="paper")


def bar(s: Session, key: str, start: datetime, price: float) -> None:
    s.clock.set(start)
    s.broker.on_bar(key, start, start + timedelta(minutes=1), price, price + 1, price - 1, price, 100_000)
    s.clock.set(start + timedelta(minutes=1))
    s.oms.mark(key, Decimal(str(price)))


def build_journal(folder: Path) -> Path:
    """The journal file described above (``folder/j.db``)."""
    from tradekit.signals.pipeline import SignalPipeline

    db = folder / "j.db"
    cfg = config(folder)
    data = {f"NSE:{s}": load_bars(sample_path(s), start=DAYS[0], end=DAYS[1]) for s in ("RELIANCE", "INFY")}
    first = min(df.index[0] for df in data.values()).to_pydatetime()
    s = Session.for_replay(cfg, db, first)
    run_replay(s, data, strategies=[SmaCrossover(10, 30, 10)])
    s.close()
    s.journal.engine.dispose()

    s = open_session(db, cfg, DAY3)  # the next day: a day roll, then signals, a bracket, a condition, the kill switch
    key = "NSE:RELIANCE"
    bar(s, key, DAY3, 1000.0)
    pipe = SignalPipeline(s.journal, s.config, sink=s.submit_signal, emit=s._emit, clock=s.clock)
    for i in range(3):
        rep = pipe.ingest([{"idempotency_key": f"sig-{i}", "strategy": "momo", "signal_time": s.clock.now().isoformat(),
                            "symbol": "RELIANCE", "side": "BUY", "quantity": 5, "product": "MIS"}])
        assert rep.accepted_ids == [f"sig-{i}"], rep.to_dict()
        bar(s, key, s.clock.now(), 1000.0 + i)
    b = s.brackets.submit(OrderRequest(Exchange.NSE, "RELIANCE", Side.BUY, 10, OrderType.MARKET, Product.MIS),
                          strategy="br", stop={"points": 15}, targets=[{"points": 20, "share": 1}])
    for m in range(3):
        bar(s, key, s.clock.now(), 1003.0 + m)
    assert b.children, "the bracket's entry filled and its children were placed"
    bar(s, "NSE:INFY", s.clock.now(), 1020.0)
    rep = pipe.ingest([{"idempotency_key": "cond-1", "strategy": "momo", "signal_time": s.clock.now().isoformat(),
                        "symbol": "INFY", "side": "BUY", "quantity": 3, "product": "MIS",
                        "condition": {"kind": "price", "cross": "above", "level": 5000}}])
    assert rep.accepted_ids == ["cond-1"], rep.to_dict()
    bar(s, key, s.clock.now(), 1010.0)
    s.kill("end of the test day", by="test")
    bar(s, key, s.clock.now(), 1011.0)
    s.close()
    s.journal.engine.dispose()
    return db


def copy(db: Path, to: Path) -> Path:
    to.mkdir(parents=True, exist_ok=True)
    out = to / db.name
    shutil.copyfile(db, out)
    return out


# wiring and per-process identities (a run id, a random origin, the writer number), not state from the journal
_NOT_STATE = frozenset({"oms", "book", "session", "s", "lock", "clock", "broker", "hub", "market", "executor", "origin",
                        "gate", "config", "journal", "instruments", "emit"})


def _fp(o):
    try:
        return encode(o)
    except TypeError:
        if hasattr(o, "__dict__"):
            return {k: _fp(v) for k, v in vars(o).items() if not callable(v) and not k.startswith("_")
                    and type(v).__module__.split(".")[0] in ("builtins", "decimal", "datetime", "tradekit")
                    and k not in _NOT_STATE}
        return repr(type(o))


def book_picture(b) -> dict:
    """Every field of a book, comparable; the lazy parts of one started from a snapshot read whole
    (old orders, signal, trade and broker ids: :mod:`tradekit.store.lazy`)."""
    from dataclasses import fields

    from tradekit.store import Book

    out = {f.name: encode(getattr(b, f.name)) for f in fields(Book)
           if f.name not in ("orders", "open", "by_broker_id", "signals", "trade_ids", "decisions")}
    out["decisions"] = encode(dict(sorted(b.decisions.items(), key=lambda kv: kv[0])))
    out["orders"] = {cid: encode(o) for cid, o in sorted(b.orders.items())}
    out["by_broker_id"] = sorted(b.by_broker_id.items())
    out["signals"], out["trade_ids"], out["open"] = sorted(b.signals), sorted(b.trade_ids), sorted(b.open)
    return out


def fingerprint(s: Session) -> dict:
    """Everything a session rebuilt from its journal at start, comparable."""
    from tradekit.signals.pipeline import SignalPipeline

    pipe = SignalPipeline(s.journal, s.config, sink=s.submit_signal, emit=s._emit, clock=s.clock)
    book = {k: encode(getattr(s.book, k)) for k in vars(s.book) if k != "open"}
    book["open"] = sorted(s.book.open)
    return {
        "book": book,
        "brackets": {bid: _fp(b) for bid, b in s.brackets.brackets.items()},
        "bracket_children": encode(dict(s.brackets._child_of)),
        "algos": {pid: _fp(p) for pid, p in s.algos.parents.items()},
        "algo_specs": encode(s.algos.specs),
        "trading_state": (s.book.trading_state, s.risk.gate.state if s.risk is not None else None),
        "kill_switch": _fp(s.risk.kill_switch) if s.risk is not None else None,
        "conditions": {cid: _fp(c) for cid, c in s.conditions_book.ledger.items.items()},
        "alerts": {aid: _fp(a) for aid, a in s.alerts.outbox.alerts.items()} if s.alerts is not None else None,
        "gtt": _fp(s.gtt) if s.gtt is not None else None,
        "signals_seen": sorted(set(pipe._seen) | set(pipe._earlier)),  # pipe.seen(): its own and the snapshot's
        "parked": sorted(pipe._parked),
        "open_orders": sorted(o.client_order_id for o in s.book.open_orders()),
        "pending_approval": sorted(o.client_order_id for o in s.book.orders.values() if o.status.value == "PENDING_APPROVAL"),
    }
