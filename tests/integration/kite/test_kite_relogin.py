"""A login from another process reaches a running live session: the token file is watched, the
broker takes the new token up, the ticker restarts with it and the session lifts its auth block.
The official client against the Kite sandbox; the login is a real ``tradekit kite login`` process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.integration.kite.conftest import kite_config, request_token, secrets
from tests.integration.kite.conftest import wait_for as _wait_for
from tradekit.errors import AuthExpired, TradingHalted
from tradekit.model.order import OrderRequest

pytestmark = pytest.mark.slow


def wait_for(cond, timeout=15.0):
    return _wait_for(cond, timeout)


def buy(qty=1):
    return OrderRequest("NSE", "INFY", "BUY", qty, "MARKET", "MIS")


def test_tradekit_kite_login_in_another_process_unblocks_the_running_session(sim, tmp_path):
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.config import load_config
    from tradekit.session import Session

    var = tmp_path / "var"
    cfg_file = tmp_path / "live.yaml"
    cfg_file.write_text(
        f"mode: live\nlive: {{allowed: true}}\ndata_dir: {var}\nsecrets_file: {tmp_path / 'none.env'}\n"
        "approval: {mode: auto, allow_auto_in_live: true}\n"
        f"kite: {{root: '{sim.url}', login_url: '{sim.login_url}', ticker_url: '{sim.ws_url}'}}\n")
    cfg = load_config(cfg_file)
    broker = KiteBroker(kite_config(sim, watchdog_seconds=3.0), secrets(), data_dir=var)
    broker.complete_login(request_token(sim))
    session = Session(cfg, broker=broker, clock=sim.market.clock)
    try:
        session.start(reconcile_every=0)
        assert wait_for(lambda: broker.stream is not None and broker.stream.connected)
        sim.step(1)
        first_child = broker.stream._proc.pid

        session.oms.mark("NSE:INFY", sim.market.get("NSE:INFY").last)  # the gate values the order at it
        sim.expire_tokens()  # 06:00 IST came: the session is refused and blocks new orders
        with pytest.raises(AuthExpired, match="log in again"):
            session.submit(buy(), strategy="t")
        with pytest.raises(TradingHalted, match="log in again"):
            session.submit(buy(), strategy="t")

        env = {**os.environ, "KITE_API_KEY": "simkey", "KITE_API_SECRET": "simsecret"}
        r = subprocess.run([sys.executable, "-m", "tradekit", "kite", "login", "-c", str(cfg_file), "--request-token",
                            request_token(sim)], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "logged in as" in r.stdout

        # the running session picks the new token up by itself: no call into it from the test
        assert wait_for(lambda: broker.logged_in and session.oms._halt_reason is None)
        assert wait_for(lambda: broker.stream is not None and broker.stream._proc is not None
                        and broker.stream._proc.pid != first_child and broker.stream.connected)
        order = session.submit(buy(), strategy="t")
        assert [t for _, t in sim.app.placements] == [order.client_order_id]
    finally:
        session.close()
