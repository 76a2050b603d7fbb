"""Issue 13.1: an order stranded by kill -9 between the journal and the broker's reply is resolved
after a restart (looked up by tag until its deadline), and blocks trading only while that is
pending — with a block that names the order, since when and until when.

A real child process (the official client against the sandbox) is killed with SIGKILL inside
``place_order``: before the request is sent, or after the sandbox placed the order.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.integration.kite.conftest import kite_config, request_token, secrets
from tradekit.model.order import OrderRequest, OrderStatus

ROOT = str(Path(__file__).resolve().parents[3])

CHILD = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[1])
from tests.integration.kite.test_kite_crash import open_session
s = open_session(*sys.argv[2:7])
real = s.broker.place_order

def place(cid, request):
    if sys.argv[7] == "after":
        real(cid, request)  # the sandbox has it now; the reply never reaches the journal
    print(cid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

s.broker.place_order = place
s.oms.broker = s.broker
s.submit(__import__("tradekit.model.order", fromlist=["OrderRequest"]).OrderRequest(
    "NSE", "INFY", "BUY", 3, "MARKET", "MIS"), strategy="crash")
print("not killed", flush=True)
"""


def live_config(url, login_url, ws_url, data_dir):
    from tradekit.config import load_config

    return load_config(overrides={
        "mode": "live", "live": {"allowed": True}, "data_dir": data_dir,
        "approval": {"mode": "auto", "allow_auto_in_live": True},
        "kite": {"root": url, "login_url": login_url, "ticker_url": ws_url, "timeout_seconds": 0.5,
                 "reconcile_interval_seconds": 0},
        "execution": {"placement_timeout_seconds": 0.5, "broker_processing_seconds": 1.0,
                      "unknown_max_lookups": 1, "unknown_grace_seconds": 0},
    })


def open_session(url, login_url, ws_url, data_dir, _unused="", clock=None):
    """A live session on the sandbox (the token file under data_dir), as a restarted process opens it."""
    from types import SimpleNamespace

    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.risk.base import PassThroughGate
    from tradekit.session import Session

    cfg = live_config(url, login_url, ws_url, data_dir)
    ns = SimpleNamespace(url=url, login_url=login_url, ws_url=ws_url)
    broker = KiteBroker(kite_config(ns, timeout_seconds=0.5), secrets(), data_dir=data_dir)
    return Session(cfg, broker=broker, gate=PassThroughGate(), clock=clock)


def restart_clock(sim, data_dir, cid):
    """The restarted session's clock, held at the moment the killed process journaled ``cid`` as sent.

    The resolution deadline is counted from that moment (+ placement timeout + broker processing,
    1.5 s here); on the wall clock, a restart slower than that (a loaded machine: the child's own
    start, the kill, opening the session) would already be past it and conclude the order at the
    first lookup, which is right, but not the case these tests are about. Held, the restart
    happens "at once" whatever the machine, and the test moves the clock past the deadline itself.
    """
    from tradekit.clock import SimClock
    from tradekit.store import Journal, make_engine
    from tradekit.store.events import EventType as E

    j = Journal(make_engine(live_config(sim.url, sim.login_url, sim.ws_url, data_dir).store_url()))
    try:
        sent = [ev.time for ev in j.events(types=(E.ORDER_SUBMITTED,)) if ev.payload.get("client_order_id") == cid]
    finally:
        j.close()
    assert len(sent) == 1, sent
    return SimClock(sent[0])


@pytest.fixture
def data_dir(sim, tmp_path):
    from tradekit.brokers.kite.broker import KiteBroker

    d = tmp_path / "var"
    b = KiteBroker(kite_config(sim), secrets(), data_dir=d)
    b.complete_login(request_token(sim))  # the token file the processes share
    b.close()
    sim.step(1)
    return str(d)


def kill_during_placement(sim, data_dir, when):
    p = subprocess.run([sys.executable, "-c", CHILD, ROOT, sim.url, sim.login_url, sim.ws_url, data_dir, "", when],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == -9, p.stderr[-2000:]
    return p.stdout.split()[0]


def buy():
    return OrderRequest("NSE", "INFY", "BUY", 1, "MARKET", "MIS")


def test_an_order_stranded_before_it_was_sent_is_concluded_after_its_deadline(sim, data_dir):
    cid = kill_during_placement(sim, data_dir, "before")
    assert sim.app.count_by_tag(cid) == 0
    clock = restart_clock(sim, data_dir, cid)
    s = open_session(sim.url, sim.login_url, sim.ws_url, data_dir, clock=clock)
    try:
        assert s.book.orders[cid].status is OrderStatus.SUBMITTED
        assert s.oms.unknown_orders == [cid]  # rebuilt from the journal, not from memory
        s.start(reconcile_every=0)
        rep = s.reconciler.last
        assert not rep.ok and [d.kind for d in rep.differences] == ["unknown_order"]
        # the block says which order, since when and until when
        assert cid in rep.summary() and "pending since" in rep.summary() and "at the latest" in rep.summary()
        with pytest.raises(Exception, match=f"{cid}.*pending since"):
            s.submit(buy(), strategy="t")
        deadline = s.oms.pending_resolutions()[cid].deadline
        assert deadline == clock.now() + timedelta(seconds=1.5)  # sent + placement timeout + broker processing
        clock.set(deadline - timedelta(milliseconds=1))
        s.service()  # a lookup just before the deadline concludes nothing
        assert s.oms.unknown_orders == [cid] and not s.reconciler.last.ok
        clock.set(deadline)
        s.service()  # the loop looks it up once more, after the deadline: not placed; the block goes at once
        rep = s.reconciler.last
        assert rep.ok, rep.summary()
        o = s.book.orders[cid]
        assert o.status is OrderStatus.REJECTED and "not placed" in o.status_message
        assert s.oms.unknown_orders == [] and s.oms._halt_reason is None
        new = s.submit(buy(), strategy="t")  # trading goes on
        assert new.status is not OrderStatus.REJECTED and sim.app.count_by_tag(cid) == 0
    finally:
        s.close()


def test_an_order_stranded_after_the_broker_placed_it_is_found_and_booked(sim, data_dir):
    cid = kill_during_placement(sim, data_dir, "after")
    assert sim.app.count_by_tag(cid) == 1
    sim.step(1)  # it fills at the sandbox while tradekit is down
    s = open_session(sim.url, sim.login_url, sim.ws_url, data_dir)
    try:
        assert s.oms.unknown_orders == [cid]
        s.start(reconcile_every=0)  # the first reconciliation looks it up by tag and books it
        rep = s.reconciler.last
        assert rep.ok, rep.summary()
        o = s.book.orders[cid]
        assert o.status is OrderStatus.FILLED and o.filled_quantity == 3 and o.broker_order_id
        assert s.book.net_quantity("NSE", "INFY") == 3 and s.oms.unknown_orders == []
        assert sim.app.count_by_tag(cid) == 1  # never resent
    finally:
        s.close()


def test_resolution_goes_on_after_a_token_expiry_and_a_new_login(sim, data_dir):
    """With lookups failing (the token died), the order stays pending; after the new login it resolves."""
    cid = kill_during_placement(sim, data_dir, "after")
    sim.expire_tokens()
    clock = restart_clock(sim, data_dir, cid)
    s = open_session(sim.url, sim.login_url, sim.ws_url, data_dir, clock=clock)
    try:
        out = s.oms.resolve_unknown()
        assert out[cid].startswith("lookup failed") and s.oms.unknown_orders == [cid]
        clock.set(s.oms.pending_resolutions()[cid].deadline + timedelta(seconds=1))
        # past the deadline: a failed lookup concludes nothing
        assert s.oms.resolve_unknown()[cid].startswith("lookup failed")
        s.broker.complete_login(request_token(sim))
        s.after_login()
        assert s.oms.unknown_orders == [] and s.book.orders[cid].broker_order_id
        assert s.book.orders[cid].status is not OrderStatus.REJECTED
    finally:
        s.close()
