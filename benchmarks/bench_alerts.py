"""Alerts off the order path: OMS submit p99 on the paper broker, no alerts vs alerts to a stalled SMTP server.

Setup: a paper session on a simulated clock (09:20 IST) with a *sync* journal (SQLite WAL, every
order's events committed before the broker is called), the pass-through gate, 1-lot MARKET MIS
orders in INFY filled by the paper broker at the bar's price. Three runs of ``N_ORDERS`` each,
side by side:

- ``no_alerts``: ``alerts.enabled: false``;
- ``stalled_smtp``: every alert routed to an email channel whose SMTP server (127.0.0.1) accepts
  the connection and never answers (``timeout_seconds: 30``); an alert is raised after every 5th
  order, so the sender thread is stuck in the server for the whole run;
- ``stalled_smtp_raise_on_path``: as ``stalled_smtp``, and the timed region is the submit plus
  the raise of an alert (what a source does on the order path: one ``alert.raised`` append).

Timed per order with ``perf_counter``; the figures are the median over ``REPEATS`` runs of each
run's p50/p99. The claim checked: p99 with the stalled server within noise of ``no_alerts`` (the
raise-on-path variant adds one journal commit, never the SMTP wait).
Run: ``.venv/bin/python -m benchmarks.bench_alerts`` (about a minute).
"""

from __future__ import annotations

import socket
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from benchmarks._stats import latency_stats

N_ORDERS = 400
REPEATS = 3


class StalledServer:
    """Accepts TCP connections and never answers (a stalled SMTP server); the alert tests use it too."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


def _session(tmp: Path, alerts: dict):
    from tradekit.clock import IST, SimClock
    from tradekit.config import load_config
    from tradekit.risk.base import PassThroughGate
    from tradekit.session import Session
    from tradekit.store import Journal, make_engine, sqlite_url
    from tradekit.store.lease import JournalLease

    cfg = load_config(overrides={"data_dir": str(tmp), "approval": {"mode": "auto"}, "alerts": alerts,
                                 "paper": {"latency_ms": 0, "participation": 0, "slippage": {"model": "none"}}})
    clock = SimClock(datetime(2026, 11, 20, 9, 20, tzinfo=IST))
    engine = make_engine(sqlite_url(tmp / "j.db"))
    lease = JournalLease.acquire(engine, owner="bench_alerts")
    journal = Journal(engine, clock=clock, durability="sync", lease=lease)
    return Session(cfg, clock=clock, journal=journal, mode="paper", gate=PassThroughGate())


def _run(alerts: dict, raise_on_path: bool) -> dict:
    from tradekit.model import OrderRequest

    with tempfile.TemporaryDirectory() as d:
        s = _session(Path(d), alerts)
        try:
            s.oms.mark("NSE:INFY", 1500.0)
            times = []
            for i in range(N_ORDERS):
                side = "BUY" if i % 2 == 0 else "SELL"
                req = OrderRequest("NSE", "INFY", side, 1, "MARKET", "MIS")
                t0 = time.perf_counter()
                s.submit(req, strategy="bench")
                if raise_on_path:
                    s.alerts.raise_("breaker", f"bench {i}", priority="warning", key=str(i))
                times.append(time.perf_counter() - t0)
                if not raise_on_path and s.alerts is not None and i % 5 == 0:
                    s.alerts.raise_("breaker", f"bench {i}", priority="warning", key=str(i))
            stuck = sum(1 for t in threading.enumerate() if t.name.startswith("alerts-mail"))
        finally:
            s.close()
    return {**latency_stats(times, (50, 99), 2), "sender_threads": stuck}


def run() -> dict:
    stalled = StalledServer()
    mail = {"channels": {"mail": {"type": "email", "host": "127.0.0.1", "port": stalled.port, "from_addr": "tk@example.com",
                                  "to": ["ops@example.com"], "timeout_seconds": 30, "rate_limit_per_minute": 100000}},
            "routes": [{"kinds": ["*"], "channels": ["mail"]}], "dedup_seconds": 0}
    scenarios = {"no_alerts": ({"enabled": False}, False), "stalled_smtp": (mail, False),
                 "stalled_smtp_raise_on_path": (mail, True)}
    runs: dict[str, list[dict]] = {k: [] for k in scenarios}
    try:
        for _ in range(REPEATS):
            for name, (alerts, on_path) in scenarios.items():  # interleaved: the machine's load hits all alike
                runs[name].append(_run(alerts, on_path))
    finally:
        stalled.close()
    out = {}
    for name, rs in runs.items():
        p50 = statistics.median(r["p50_ms"] for r in rs)
        p99 = statistics.median(r["p99_ms"] for r in rs)
        out[name] = f"p50 {p50:.2f} ms  p99 {p99:.2f} ms  (n={N_ORDERS} x {REPEATS})"
    out["smtp_connections_never_answered"] = len(stalled.conns)
    return out


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:>34}: {v}")
