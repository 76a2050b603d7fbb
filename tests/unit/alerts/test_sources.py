"""The sources on a real (replayed) paper session: breaker breach, stale feed, a proposal waiting
for approval, P&L thresholds, reject bursts; and the heartbeat watchdog against a session process
that died (a real subprocess killed with SIGKILL)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta

from tradekit.model import OrderRequest
from tradekit.store import EventType as E

from tests.unit.execution.conftest import make_session, step

KEY = "NSE:INFY"


def _raised(s):
    return [e.payload for e in s.journal.events(types=(E.ALERT_RAISED,))]


def _kinds(s):
    return [p["kind"] for p in _raised(s)]


def test_a_breach_and_a_stale_instrument_raise_alerts(tmp_path):
    s = make_session(tmp_path)
    try:
        s._emit(E.LIMIT_BREACH, {"trigger": "daily_loss", "state": "HALTED", "reason": "lost 2.1 % of capital"})
        s._emit(E.NOTE, {"kind": "market_data", "event": "instrument_stale", "key": KEY, "gap_seconds": 95.0})
        s._emit(E.NOTE, {"kind": "market_data", "event": "instrument_fresh", "key": KEY})
        raised = _raised(s)
    finally:
        s.close()
    assert [(p["kind"], p["priority"]) for p in raised] == [("breaker", "critical"), ("stale_feed", "warning")]
    assert "lost 2.1 %" in raised[0]["text"] and "NSE:INFY" in raised[1]["title"]
    assert raised[0]["dashboard"] is True and raised[0]["channels"] == []  # the default: the dashboards only


def test_reject_and_error_bursts_raise_one_alert_each(tmp_path):
    s = make_session(tmp_path, alerts={"sources": {"reject_burst": {"count": 3, "seconds": 60},
                                                   "error_burst": {"count": 2, "seconds": 10}}})
    try:  # the events as the OMS journals them (the alert sources follow the journal)
        for i in range(4):
            s.journal.append(E.ORDER_UPDATE, {"client_order_id": f"x{i}", "status": "REJECTED", "message": "margin"})
        s.journal.append(E.BROKER_ERROR, {"client_order_id": "x1", "action": "cancel", "message": "timeout"})
        s.clock.set(s.clock.now() + timedelta(seconds=30))
        s.journal.append(E.BROKER_ERROR, {"client_order_id": "x2", "action": "cancel", "message": "timeout"})
        assert _kinds(s) == ["reject_burst"]  # two errors, but 30 s apart
        s.journal.append(E.BROKER_ERROR, {"client_order_id": "x3", "action": "modify", "message": "502"})
        kinds = _kinds(s)
    finally:
        s.close()
    assert kinds == ["reject_burst", "error_burst"]


def test_a_proposal_waiting_too_long_raises_an_alert_once(tmp_path):
    s = make_session(tmp_path, approval={"mode": "manual", "ttl_seconds": 3600},
                     alerts={"sources": {"approval_wait_seconds": 120}})
    try:
        step(s, KEY, 0, 1500, 1501, 1499, 1500)
        o = s.submit(OrderRequest("NSE", "INFY", "BUY", 10, "MARKET", "MIS"), strategy="s1")
        s.service()
        assert "approval_waiting" not in _kinds(s)
        s.clock.set(s.clock.now() + timedelta(seconds=150))
        s.service()
        s.service()
        raised = [p for p in _raised(s) if p["kind"] == "approval_waiting"]
    finally:
        s.close()
    assert len(raised) == 1 and o.client_order_id in raised[0]["title"] and raised[0]["key"] == o.client_order_id


def test_the_days_pnl_past_the_loss_threshold_raises_a_critical_alert(tmp_path):
    s = make_session(tmp_path, alerts={"sources": {"pnl_loss_rupees": 500}})
    try:
        step(s, KEY, 0, 1500, 1501, 1499, 1500)
        s.submit(OrderRequest("NSE", "INFY", "BUY", 10, "MARKET", "MIS"), strategy="s1")
        step(s, KEY, 1, 1500, 1501, 1499, 1500)  # filled at 1500
        s.service()
        assert "pnl_loss" not in _kinds(s)
        step(s, KEY, 2, 1480, 1480, 1430, 1440)
        s._emit(E.MARK, {"prices": {KEY: "1440"}})  # the hub's mark: 10 x -60 = -600 before charges
        s.service()
        s._emit(E.MARK, {"prices": {KEY: "1430"}})
        s.service()  # still past the threshold: deduplicated
        raised = [p for p in _raised(s) if p["kind"] == "pnl_loss"]
    finally:
        s.close()
    assert len(raised) == 1 and raised[0]["priority"] == "critical"


_HOLD = """
import os, signal, sys
from tradekit.store import make_engine, sqlite_url, Journal
from tradekit.store.lease import JournalLease
e = make_engine(sqlite_url(sys.argv[1]))
lease = JournalLease.acquire(e, owner="doomed session")
Journal(e, lease=lease)
print("held", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_watchdog_alerts_when_the_session_process_died(alerts_config, receiver, monkeypatch, capsys, project_root):
    from tradekit.cli import main

    monkeypatch.setenv("TRADEKIT_SLACK_WEBHOOK", receiver.url)
    cfg = alerts_config("""  channels: {ops: {type: slack}}
  routes: [{kinds: [heartbeat_missing], channels: [ops]}]
""")
    db = cfg.data_dir / "paper.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([sys.executable, "-c", _HOLD, str(db)], capture_output=True, text=True, timeout=60,
                       env={"PYTHONPATH": str(project_root), "PATH": "/usr/bin:/bin", "HOME": str(cfg.data_dir)})
    assert p.stdout.strip() == "held" and p.returncode == -9
    assert main(["alerts", "watch", "--once", "-c", cfg.source]) == 1
    out = capsys.readouterr().out
    assert "heartbeat is missing" in out and "doomed session" in out and "ops: sent" in out
    assert "heartbeat is missing" in receiver.bodies()[0]["text"]


def test_the_watchdog_is_quiet_while_no_session_holds_the_journal(alerts_config, receiver, monkeypatch):
    from tradekit.cli import main
    from tradekit.session import Session

    monkeypatch.setenv("TRADEKIT_SLACK_WEBHOOK", receiver.url)
    cfg = alerts_config("""  channels: {ops: {type: slack}}
  routes: [{kinds: [heartbeat_missing], channels: [ops]}]
""")
    s = Session.from_config(cfg)
    try:
        assert main(["alerts", "watch", "--once", "-c", cfg.source]) == 0  # alive, beating
    finally:
        s.close()
    assert main(["alerts", "watch", "--once", "-c", cfg.source]) == 0  # released: ended cleanly
    assert receiver.requests == []


def test_the_watchdog_alerts_when_the_session_lives_but_its_loop_is_hung(alerts_config, receiver, monkeypatch):
    """The lease's heartbeat thread still beats, but the run loop stopped writing the heartbeat file
    (a hang): the session's heartbeat is missing all the same."""
    import os
    import socket
    import time

    from tradekit.cli import main
    from tradekit.runs.heartbeat import heartbeat_path, write_atomic
    from tradekit.session import Session

    monkeypatch.setenv("TRADEKIT_SLACK_WEBHOOK", receiver.url)
    cfg = alerts_config("""  channels: {ops: {type: slack}}
  routes: [{kinds: [heartbeat_missing], channels: [ops]}]
""")
    s = Session.from_config(cfg)
    beat = {"pid": os.getpid(), "host": socket.gethostname(), "stopped": False, "session_clock": None}
    try:
        write_atomic(heartbeat_path(cfg.data_dir), {**beat, "wall_time": time.time() - 1})
        assert main(["alerts", "watch", "--once", "-c", cfg.source]) == 0  # the loop beats
        wrote = time.time()
        write_atomic(heartbeat_path(cfg.data_dir), {**beat, "wall_time": wrote - 90})  # limit 60 s
        assert main(["alerts", "watch", "--once", "-c", cfg.source]) == 1
        looked = time.time()  # the watchdog read its clock in between: the file's age is 90 s plus that wait
        write_atomic(heartbeat_path(cfg.data_dir), {**beat, "pid": os.getpid() + 1, "wall_time": time.time() - 90})
        assert main(["alerts", "watch", "--once", "-c", cfg.source]) == 0  # another process's old file
    finally:
        s.close()
    [body] = receiver.bodies()
    # the age it reports is the file's age when it looked (not a fixed "90 s": on a loaded machine the
    # watchdog may look a second or more after the file was written)
    age = re.search(r"run loop has not written its heartbeat file for (\d+) s: the session is hung", body["text"])
    assert age is not None and 90 <= int(age.group(1)) <= round(90 + (looked - wrote)), body["text"]
