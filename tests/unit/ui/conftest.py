"""A paper desk for the approval tests: a session (the broker's process) and a dashboard's own
connection to the same journal file, as two processes would have."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tradekit.clock import IST, SimClock
from tradekit.config import load_config
from tradekit.risk.base import CheckResult, RiskDecision
from tradekit.session import Session
from tradekit.signals import SignalPipeline
from tradekit.store import Journal, make_engine, sqlite_url

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=IST)  # a Friday, NSE open
KEY = "NSE:RELIANCE"


class FlipGate:
    """Allows until ``deny`` is set (to see a re-check at approval refuse)."""

    def __init__(self) -> None:
        self.deny = False

    def check(self, order, ctx) -> RiskDecision:
        ok = not self.deny
        return RiskDecision(ok, (CheckResult("TEST_LIMIT", ok, "within the test limit" if ok else "over the test limit",
                                             1.0, 2.0),))


class Desk:
    def __init__(self, tmp_path, *, gate=None, **overrides):
        base = {"data_dir": str(tmp_path / "var"), "approval": {"mode": "manual", "ttl_seconds": 300, "approver": "asha"},
                "execution": {"charges_as_of": "2024-01-02"},
                "paper": {"latency_ms": 0, "participation": 0, "slippage": {"model": "none"}}}
        for k, v in overrides.items():
            base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
        self.cfg = load_config(overrides=base)
        self.path = tmp_path / "journal.db"
        self.clock = SimClock(T0)
        self.session = Session(self.cfg, clock=self.clock, journal=Journal(make_engine(sqlite_url(self.path)), clock=self.clock),
                               mode="paper", **({"gate": gate} if gate is not None else {}))
        self.pipeline = SignalPipeline(self.session.journal, self.cfg, sink=self.session.submit_signal,
                                       emit=self.session._emit, clock=self.clock)
        self.bar(0, 1500)
        self._n = 0

    def dashboard_journal(self) -> Journal:
        """A second connection, as a dashboard kernel opens it."""
        return Journal(make_engine(sqlite_url(self.path)))

    def bar(self, minute: int, price: float, key: str = KEY) -> None:
        start = T0 + timedelta(minutes=minute)
        self.clock.set(max(start, self.clock.now()))
        self.session.broker.on_bar(key, start, start + timedelta(minutes=1), price, price + 1, price - 1, price, 100_000)
        self.clock.set(start + timedelta(minutes=1))
        self.session.oms.mark(key, price)

    def signal(self, **kw) -> str:
        """Feed one signal through the pipeline; return the client order id it became."""
        self._n += 1
        rec = {"idempotency_key": kw.pop("key", f"sig-{self._n}"), "strategy": "momo",
               "signal_time": self.clock.now().isoformat(), "symbol": "RELIANCE", "side": "BUY", "quantity": 10,
               "order_type": "LIMIT", "price": 1500, "product": "CNC", "reference_price": 1500, **kw}
        rep = self.pipeline.submit([rec])
        assert rep.accepted, rep.to_dict()
        return rep.accepted[0].result.client_order_id

    def poll(self):
        """What the runner does every ~50 ms."""
        out = self.session.poll()
        self.session.oms.expire_stale()
        return out


@pytest.fixture
def desk(tmp_path):
    d = Desk(tmp_path)
    yield d
    d.session.close()


@pytest.fixture
def queue(desk):
    from tradekit.execution.approval import ApprovalQueue

    q = ApprovalQueue(desk.dashboard_journal(), desk.cfg)
    yield q
    q.close()
