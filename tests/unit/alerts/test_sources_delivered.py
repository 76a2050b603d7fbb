"""Alert sources end to end: the real producer (the Kite session's token, the market-data hub, the
paper session runner, the risk manager, the OMS) appends to the journal, the source raises, the
outbox's sender thread delivers to a real HTTP receiver on 127.0.0.1 (the Slack channel)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.unit.alerts.servers import wait_for
from tests.unit.execution.conftest import T0, make_session, step
from tradekit.clock import IST
from tradekit.data.types import Tick
from tradekit.model import OrderRequest
from tradekit.store import EventType as E

@pytest.fixture(autouse=True)
def _fresh_governor():
    """A KiteBroker configures the process-wide rate governor from its config (kite-sim's fast limits here):
    put the defaults back, so later tests (tests/unit/kite/test_ratelimit.py) do not inherit them."""
    from tradekit.brokers.kite.ratelimit import DEFAULT_LIMITS, governor

    yield
    governor().reset(DEFAULT_LIMITS)


SLACK = {"channels": {"ops": {"type": "slack"}}, "routes": [{"kinds": ["*"], "channels": ["ops"]}]}


def _titles(receiver) -> list[str]:
    return [b["text"] for b in receiver.bodies()]


def _kinds(s) -> list[str]:
    return [e.payload["kind"] for e in s.journal.events(types=(E.ALERT_RAISED,))]


def _delivered(receiver, s, kind: str, n: int = 1) -> list[str]:
    """The receiver's texts once ``n`` alerts of ``kind`` were journaled as sent (alert.sent)."""
    def sent():
        ids = {e.payload["id"] for e in s.journal.events(types=(E.ALERT_RAISED,)) if e.payload["kind"] == kind}
        got = {e.payload["id"] for e in s.journal.events(types=(E.ALERT_SENT,)) if e.payload["id"] in ids}
        return len(got) >= n
    wait_for(sent)
    return _titles(receiver)


class _Ticker:
    """The live source's subscription surface (what attach_source needs); packets come from the test."""

    def __init__(self):
        self.keys: set[str] = set()

    def subscribe(self, keys, mode):
        self.keys |= set(keys)

    def unsubscribe(self, keys):
        self.keys -= set(keys)


def test_feed_failover_and_a_stale_instrument_reach_the_receiver(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("TRADEKIT_SLACK_WEBHOOK", receiver.url)
    s = make_session(tmp_path, alerts=SLACK, market_data={"failover_after_seconds": 3, "stale_instrument_seconds": 60})
    mono = [1000.0]
    hub = s.market
    hub.monotonic = lambda: mono[0]
    try:
        hub.attach_source(_Ticker(), "kite")
        hub.want(["NSE:INFY"], "watchlist")
        s.clock.set(T0 + timedelta(minutes=5))
        hub.on_ticks([Tick("NSE:INFY", s.clock.now(), 1500.0, mode="full", last_trade_time=s.clock.now())], "kite")
        hub.poll(s.clock.now())
        assert not [k for k in _kinds(s) if k in ("feed_failover", "stale_feed")]
        mono[0] += 4  # the ticker silent for 4 wall seconds (limit 3): quote polling
        hub.poll(s.clock.now())
        texts = _delivered(receiver, s, "feed_failover")
        assert any("market data: kite silent, now quote polling" in t and "limit 3 s" in t for t in texts)
        s.clock.set(T0 + timedelta(minutes=6, seconds=30))  # 90 s without an update of INFY (limit 60 s)
        hub.poll(s.clock.now())
        texts = _delivered(receiver, s, "stale_feed")
    finally:
        s.close()
    assert any("no fresh price for NSE:INFY in 90.0 s" in t for t in texts)


def test_the_paper_session_runner_checks_the_time_driven_sources(tmp_path, receiver, monkeypatch):
    """A paced paper day (PaperSessionRunner) runs the same time-driven sources as the live loop:
    a proposal waiting past alerts.sources.approval_wait_seconds reaches the receiver."""
    from tradekit.runs.live import PaperSessionRunner

    monkeypatch.setenv("TRADEKIT_SLACK_WEBHOOK", receiver.url)
    # the runner writes the session's heartbeat file into the data folder: tmp_path's, not the default ./var
    # of the checkout (temp files never in the repo; tests/packaging/test_wheel.py asserts the checkout
    # unchanged while another xdist worker may be running this test)
    s = make_session(tmp_path, approval={"mode": "manual", "ttl_seconds": 3600}, data_dir=str(tmp_path / "var"),
                     alerts={**SLACK, "sources": {"approval_wait_seconds": 120}})
    try:
        step(s, "NSE:INFY", 0, 1500, 1501, 1499, 1500)
        o = s.submit(OrderRequest("NSE", "INFY", "BUY", 10, "MARKET", "MIS"), strategy="s1")
        run = PaperSessionRunner(s, {})
        assert run.heartbeat.path == tmp_path / "var" / "session-heartbeat.json"
        run._service()
        assert "approval_waiting" not in _kinds(s)
        s.clock.set(s.clock.now() + timedelta(seconds=150))
        run._service()
        texts = _delivered(receiver, s, "approval_waiting")
    finally:
        s.close()
    assert any(o.client_order_id in t and "waited 2.5 min for approval" in t for t in texts)


def test_an_unknown_order_and_a_reject_burst_from_the_oms(tmp_path, receiver, monkeypatch):
    """The OMS's UNKNOWN (a placement whose outcome the broker did not say) and its rejects, each
    raised from the session's own order path and delivered."""
    from tradekit.errors import AmbiguousOrderState, BrokerRejected

    monkeypatch.setenv("TRADEKIT_SLACK_WEBHOOK", receiver.url)
    s = make_session(tmp_path, alerts={**SLACK, "sources": {"reject_burst": {"count": 2, "seconds": 60}}})
    try:
        step(s, "NSE:INFY", 0, 1500, 1501, 1499, 1500)
        place = s.broker.place_order
        answers = [AmbiguousOrderState("read timed out after the request was sent"),
                   BrokerRejected("margin exceeds"), BrokerRejected("margin exceeds")]

        def broker_says(*a, **kw):
            raise answers.pop(0)
        s.broker.place_order = broker_says
        o = s.submit(OrderRequest("NSE", "INFY", "BUY", 10, "MARKET", "MIS"), strategy="s1")
        texts = _delivered(receiver, s, "order_unknown")
        assert any(f"order {o.client_order_id}: outcome UNKNOWN" in t for t in texts)
        for _ in range(2):
            s.submit(OrderRequest("NSE", "INFY", "BUY", 10, "MARKET", "MIS"), strategy="s1")
        s.broker.place_order = place
        texts = _delivered(receiver, s, "reject_burst")
    finally:
        s.close()
    assert any("2 rejects within 60 s" in t for t in texts)


@pytest.fixture
def kite_sim():
    from tradekit.brokers.kite.sim.server import KiteSimServer

    server = KiteSimServer(port=0, symbols=["INFY"], heartbeat_seconds=0.5).start()
    yield server
    server.stop()


def test_the_kite_token_about_to_expire_and_expired_reach_the_receiver(tmp_path, receiver, monkeypatch, kite_sim):
    """A live session on the Kite sandbox (the official client): the token issued at login dies at
    06:00 IST the next day. Within alerts.sources.token_expiry_warn_minutes of it the session's
    service cycle warns; at 06:00 it says the session has ended. Both reach the receiver."""
    from tests.integration.kite.conftest import kite_config, request_token, secrets
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.config import load_config
    from tradekit.session import Session

    monkeypatch.setenv("TRADEKIT_SLACK_WEBHOOK", receiver.url)
    clock = kite_sim.market.clock  # the sandbox issues tokens on its clock; the session runs on it
    cfg = load_config(overrides={"mode": "live", "live": {"allowed": True}, "data_dir": str(tmp_path / "var"),
                                 "approval": {"mode": "manual"},
                                 "alerts": {**SLACK, "sources": {"token_expiry_warn_minutes": 20}}})
    broker = KiteBroker(kite_config(kite_sim), secrets(), data_dir=tmp_path / "var", clock=clock)
    issued = broker.complete_login(request_token(kite_sim))
    s = Session(cfg, broker=broker, clock=clock)
    try:
        six = datetime.combine(clock.now().astimezone(IST).date() + timedelta(days=1), datetime.min.time(), IST) \
            + timedelta(hours=6)
        assert issued.expires_at == six
        clock.set(six - timedelta(minutes=25))
        s.service()
        assert not [k for k in _kinds(s) if k.startswith("token")]
        clock.set(six - timedelta(minutes=15))
        s.service()
        texts = _delivered(receiver, s, "token_expiring")
        assert any("the Kite session ends in 15 min" in t and "at 06:00 IST" in t for t in texts)
        clock.set(six)
        s.service()
        s.service()  # the condition lasts: deduplicated
        texts = _delivered(receiver, s, "token_expired")
        kinds = _kinds(s)
    finally:
        s.close()
        broker.close()
    assert kinds.count("token_expired") == 1 and kinds.count("token_expiring") == 1
    assert any("the Kite session has ended: log in again" in t and "06:00 IST" in t for t in texts)


def test_alert_settings_named_like_secrets_load_and_a_pasted_credential_is_refused(alerts_config):
    """token_expiry_warn_minutes and a channel's *_secret (the NAME of the secret) are settings; the
    config loader's secret guard refused both before (the warning could not be configured at all)."""
    from tradekit.errors import ConfigError

    cfg = alerts_config("  channels: {ops: {type: slack, url_secret: OPS_SLACK_URL}}\n"
                        "  routes: [{kinds: ['*'], channels: [ops]}]\n"
                        "  sources: {token_expiry_warn_minutes: 45}\n")
    assert cfg.alerts.sources.token_expiry_warn_minutes == 45
    assert cfg.alerts.channels["ops"].url_secret == "OPS_SLACK_URL"
    with pytest.raises(ConfigError, match="secrets are not allowed") as e:
        alerts_config("  channels: {ops: {type: slack, url_secret: 'https://hooks.slack.com/services/T0/B0/x'}}\n")
    assert e.value.field == "alerts.channels.ops.url_secret"


def test_a_reconciliation_mismatch_trips_its_breaker_and_both_reach_the_receiver(alerts_config, receiver, monkeypatch):
    """The reconciler's own report (compare: the broker holds what the book does not) journaled as the
    session journals it; the risk manager's breaker trips on it (state change). Each raises its alert."""
    from tradekit.brokers.base import BrokerPosition
    from tradekit.brokers.kite.reconcile import compare
    from tradekit.model.enums import Exchange, Product
    from tradekit.session import Session

    monkeypatch.setenv("TRADEKIT_SLACK_WEBHOOK", receiver.url)
    cfg = alerts_config("  channels: {ops: {type: slack}}\n  routes: [{kinds: ['*'], channels: [ops]}]\n"
                        "risk: {breakers: {reconciliation_grace_seconds: 0}}\n")
    s = Session.from_config(cfg)
    try:
        rep = compare(s.book, [], [], [BrokerPosition(Exchange.NSE, "INFY", Product.MIS, 10)], [],
                      day=s.clock.now().date())
        assert not rep.ok
        s._emit(E.RECONCILIATION, rep.to_event())
        texts = _delivered(receiver, s, "reconciliation_mismatch")
        texts = _delivered(receiver, s, "breaker")
        kinds = _kinds(s)
        state = s.book.trading_state
    finally:
        s.close()
    assert any("reconciliation: the broker and the book differ" in t and "INFY" in t for t in texts)
    assert any("breaker reconciliation" in t for t in texts)
    assert state != "ACTIVE" and ("halted" in kinds or "reducing" in kinds)
