"""Current state is a function of the journal: rebuild equals the live state, even after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.model import OrderRequest
from tradekit.store import Book, EventType as E, Journal, make_engine, sqlite_url, verify

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# A writer that places orders and books fills, printing "<seq> <snapshot json>" after each commit.
WRITER = r"""
import json, random, sys
sys.path.insert(0, sys.argv[2])
from tradekit.model import OrderRequest
from tradekit.store import Book, EventType as E, Journal, make_engine, sqlite_url
j = Journal(make_engine(sqlite_url(sys.argv[1])))
book = Book()
rnd = random.Random(7)
def emit(t, p):
    ev = j.append(t, p); book.apply(ev)
    print(ev.seq, json.dumps(book.snapshot(), sort_keys=True), flush=True)
emit(E.SESSION_STARTED, {"capital": "1000000"})
for i in range(100000):
    cid = f"C{i}"
    side = rnd.choice(["BUY", "SELL"]); q = rnd.randint(1, 50); px = f"{rnd.uniform(100, 200):.2f}"
    req = OrderRequest("NSE", "INFY", side, q, "LIMIT", "MIS", price=px)
    emit(E.ORDER_CREATED, {"client_order_id": cid, "strategy": "s", "request": req.to_dict()})
    emit(E.APPROVAL_GRANTED, {"client_order_id": cid, "by": "auto"})
    emit(E.ORDER_SUBMITTED, {"client_order_id": cid})
    emit(E.ORDER_UPDATE, {"client_order_id": cid, "status": "OPEN", "broker_order_id": f"B{i}"})
    emit(E.FILL, {"client_order_id": cid, "trade_id": f"T{i}", "quantity": q, "price": px, "side": side,
                  "exchange": "NSE", "tradingsymbol": "INFY", "product": "MIS", "charges": {"brokerage": "1.5"}})
"""


def test_kill_the_writer_between_events_and_rebuild_equals_the_state_before(tmp_path):
    db = tmp_path / "j.db"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    p = subprocess.Popen([sys.executable, str(script), str(db), ROOT], stdout=subprocess.PIPE, text=True)
    lines = []
    deadline = time.time() + 30
    while len(lines) < 300 and time.time() < deadline:
        lines.append(p.stdout.readline())
    os.kill(p.pid, signal.SIGKILL)  # no chance to flush or clean up
    p.wait()
    lines += p.stdout.readlines()
    printed = {int(l.split(" ", 1)[0]): json.loads(l.split(" ", 1)[1]) for l in lines if l.strip()}
    j = Journal(make_engine(sqlite_url(db)))
    assert verify(j).ok
    events = list(j.events())
    n = events[-1].seq
    last_printed = max(printed)
    assert n in (last_printed, last_printed + 1)  # killed after commit, maybe before print
    rebuilt = Book.rebuild(e for e in events if e.seq <= last_printed)
    assert json.loads(json.dumps(rebuilt.snapshot(), sort_keys=True)) == printed[last_printed]
    assert len(rebuilt.orders) > 10


ops = st.lists(st.tuples(st.sampled_from(["BUY", "SELL"]), st.integers(1, 100),
                         st.decimals(min_value=1, max_value=1000, places=2), st.sampled_from(["fill", "cancel", "deny"])),
               min_size=1, max_size=25)


@settings(max_examples=40)
@given(ops)
def test_rebuild_equals_live_state_for_any_history(tmp_path_factory, seq):
    j = Journal(make_engine(sqlite_url(tmp_path_factory.mktemp("j") / "j.db")), durability="batch")
    live = Book()

    def emit(t, p):
        live.apply(j.append(t, p))

    emit(E.SESSION_STARTED, {"capital": "500000"})
    for i, (side, q, px, what) in enumerate(seq):
        cid = f"C{i}"
        emit(E.ORDER_CREATED, {"client_order_id": cid, "strategy": "s", "request": OrderRequest("NSE", "SBIN", side, q, "LIMIT", "CNC", price=px).to_dict()})
        if what == "deny":
            emit(E.RISK_DECISION, {"client_order_id": cid, "allowed": False, "reason": "limit"})
            continue
        emit(E.APPROVAL_GRANTED, {"client_order_id": cid})
        emit(E.ORDER_SUBMITTED, {"client_order_id": cid})
        emit(E.ORDER_UPDATE, {"client_order_id": cid, "status": "OPEN"})
        half = q // 2
        if half:
            emit(E.FILL, {"client_order_id": cid, "trade_id": f"T{i}a", "quantity": half, "price": str(px), "side": side,
                          "exchange": "NSE", "tradingsymbol": "SBIN", "product": "CNC"})
        if what == "cancel":
            emit(E.ORDER_UPDATE, {"client_order_id": cid, "status": "CANCELLED", "filled_quantity": half})
        else:
            emit(E.FILL, {"client_order_id": cid, "trade_id": f"T{i}b", "quantity": q - half, "price": str(px), "side": side,
                          "exchange": "NSE", "tradingsymbol": "SBIN", "product": "CNC"})
    j.flush()
    assert Book.rebuild(j.events()).snapshot() == live.snapshot()
    # cash identity: cash = capital − Σ signed fill values
    assert live.cash == Decimal("500000") - sum(
        (o.average_price * o.filled_quantity * o.side.sign for o in live.orders.values()), Decimal(0))
