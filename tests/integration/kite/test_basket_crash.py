"""A basket half placed when its process is killed -9 (issue 21): a real child process (a live session, the
official client against tradekit kite-sim on 127.0.0.1) takes an iron condor as ONE basket signal; both
buys fill, and the child is SIGKILLed the moment the sandbox has accepted the first SELL (its reply never
reaches the journal). A new process opens the same journal: ``baskets.on_restart: resume`` is applied,
the stranded leg is found by its tag (not sent again), the missing leg is placed, the same signal sent
again is a duplicate — and no order reached the broker twice. (``on_restart: unwind`` after a restart is
tested in-process in tests/unit/execution/test_basket.py; a second child here would cost ~8 s more.)"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from tests.integration.kite.conftest import kite_config, request_token, secrets, wait_for
from tests.integration.test_basket_kite import PX, SPOT, net_positions, placed, start_sim, trade_all

ROOT = str(Path(__file__).resolve().parents[3])
NEAR = "2026-08-18"  # the sample's NIFTY weekly expiry

CHILD = r"""
import os, signal, sys, time
sys.path.insert(0, sys.argv[1])
# the imports first, while the parent starts the sandbox; then the sandbox's addresses from stdin
import tradekit.brokers.kite.broker, tradekit.execution.basket, tradekit.market.corporate_actions, tradekit.session
import tradekit.marketdata.kite, tradekit.options.margin, tradekit.signals.pipeline
from tests.integration.kite.test_basket_crash import basket_signal, open_session, pipeline
s = open_session(*sys.stdin.readline().split())
real, n = s.broker.place_order, [0]

def place(cid, request):
    out = real(cid, request)
    n[0] += 1
    if n[0] == 3:  # the first SELL is at the broker; its reply never reaches the journal
        print(cid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    return out

s.broker.place_order = place
rep = pipeline(s).ingest(basket_signal(s), source="crash-test")  # a live-mode basket signal: one basket
(b,) = s.baskets.baskets.values()
print(b.basket_id, b.state, flush=True)
t0 = time.monotonic()
while time.monotonic() - t0 < 20:
    s.service()
    time.sleep(0.02)
print("not killed", flush=True)
"""


def open_session(url, login_url, ws_url, data_dir, on_restart):
    """A live session on the sandbox (the token file under data_dir), as each process opens it."""
    from types import SimpleNamespace

    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.config import load_config
    from tradekit.market.instruments import InstrumentStore
    from tradekit.risk.base import PassThroughGate
    from tradekit.session import Session

    cfg = load_config(overrides={
        "mode": "live", "live": {"allowed": True}, "data_dir": data_dir, "account": {"capital": 1e8},
        "approval": {"mode": "auto", "allow_auto_in_live": True},
        "baskets": {"on_restart": on_restart, "on_leg_failure": "unwind"},
        "kite": {"root": url, "login_url": login_url, "ticker_url": ws_url, "timeout_seconds": 0.5,
                 "reconcile_interval_seconds": 0},
        "execution": {"placement_timeout_seconds": 0.5, "broker_processing_seconds": 1.0,
                      "unknown_max_lookups": 1, "unknown_grace_seconds": 0},
    })
    ns = SimpleNamespace(url=url, login_url=login_url, ws_url=ws_url)
    broker = KiteBroker(kite_config(ns, timeout_seconds=0.5), secrets(), data_dir=data_dir)
    s = Session(cfg, broker=broker, gate=PassThroughGate())
    s.instruments.add(InstrumentStore.bundled(include_nfo_sample=True).search(exchange="NFO", underlying="NIFTY"))
    s.start(reconcile_every=0)
    assert wait_for(lambda: broker.stream is not None and broker.stream.connected)
    return s


def basket_signal(s) -> str:
    """The condor as one basket signal (the strikes counted from ATM at SPOT: 24,700/24,800/24,900/25,000)."""
    return json.dumps({
        "idempotency_key": "ic-crash-1", "strategy": "ic", "signal_time": s.clock.now().isoformat(), "ttl_seconds": 600,
        "basket": {"strategy": "iron_condor", "underlying": "NIFTY", "expiry": NEAR, "spot": SPOT, "lots": 1,
                   "put_buy": "ATM-3", "put_sell": "ATM-1", "call_sell": "ATM+1", "call_buy": "ATM+3",
                   "premiums": {f"NFO:{k}": v for k, v in PX.items()}}})


def pipeline(s):
    from tradekit.signals import SignalPipeline

    return SignalPipeline(s.journal, s.config, sink=s.submit_signal, emit=s._emit, clock=s.clock)


def start_child() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, ROOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def kill_mid_basket(child: subprocess.Popen, sim, data_dir: str, on_restart: str) -> tuple[str, str]:
    """The child places the basket until SIGKILL; meanwhile the market trades at the legs' prices."""
    from tradekit.brokers.kite.broker import KiteBroker

    b = KiteBroker(kite_config(sim), secrets(), data_dir=data_dir)
    b.complete_login(request_token(sim))  # the token file both processes use
    b.close()
    done = threading.Event()

    def market():
        while not done.wait(0.1):
            trade_all(sim)

    t = threading.Thread(target=market, daemon=True)
    t.start()
    try:
        out, err = child.communicate(f"{sim.url} {sim.login_url} {sim.ws_url} {data_dir} {on_restart}\n", timeout=60)
    finally:
        done.set()
        t.join()
    assert child.returncode == -9, out + err[-3000:]
    (bid, _state), (cid,) = (line.split() for line in out.split("\n")[:2])
    return bid, cid


def test_a_basket_signal_killed_mid_way_is_resumed_and_nothing_is_placed_twice(tmp_path):
    child = start_child()  # it imports while the sandbox starts
    ksim = start_sim()
    try:
        restart_after_a_kill(child, ksim, str(tmp_path / "var"))
    finally:
        if child.poll() is None:
            child.kill()
        ksim.stop()


def restart_after_a_kill(child, ksim, data_dir: str) -> None:
    bid, stranded = kill_mid_basket(child, ksim, data_dir, "resume")
    assert placed(ksim) == [("NIFTY2681824700PE", "BUY"), ("NIFTY2681825000CE", "BUY"), ("NIFTY2681824800PE", "SELL")]
    trade_all(ksim)  # the stranded SELL fills at the broker while nobody is up
    s = open_session(ksim.url, ksim.login_url, ksim.ws_url, data_dir, "resume")
    try:
        b = s.baskets.baskets[bid]
        assert b.opens[1] == [stranded]  # the journal knew the leg before the broker was called
        assert pipeline(s).ingest(basket_signal(s), source="crash-test").ids("duplicate") == ["ic-crash-1"]
        for _ in range(100):
            s.service()
            if b.state == "complete":
                break
            trade_all(ksim)
            wait_for(lambda: b.state == "complete", timeout=0.1, every=s.service, step=0.02)
        assert b.state == "complete", b.describe()
        tags = [tag for _oid, tag in ksim.app.placements]
        assert len(tags) == len(set(tags)) == 4  # no client order id reached the broker twice
        assert ksim.app.count_by_tag(stranded) == 1
        assert placed(ksim)[3:] == [("NIFTY2681824900CE", "SELL")]  # only the leg still missing
        assert net_positions(ksim) == {"NIFTY2681824700PE": 65, "NIFTY2681825000CE": 65,
                                       "NIFTY2681824800PE": -65, "NIFTY2681824900CE": -65}
        assert s.book.orders[b.head].signal_id == "ic-crash-1"
    finally:
        s.close()
