"""Fixtures: a Kite sandbox on a free loopback port, the official client, and our broker on it."""

from __future__ import annotations

import time

import json
import urllib.parse
from pathlib import Path

import pytest
import requests

from tradekit.brokers.kite.ratelimit import DEFAULT_LIMITS, Window, governor

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "kite"
SYMBOLS = ["INFY", "SBIN", "RELIANCE", "TCS", "NIFTY50"]
# Generous limits so that functional tests do not wait; the rate-limit tests set Kite's own.
FAST = {"orders": (Window(200, 1.0),), "quote": (Window(200, 1.0),), "historical": (Window(200, 1.0),),
        "other": (Window(500, 1.0),)}


def fixture_data(name: str):
    return json.loads((FIX / name).read_text())["data"]


@pytest.fixture(autouse=True)
def _fresh_governor():
    """The governor is process-wide on purpose; tests must not inherit each other's bookings."""
    governor().reset(DEFAULT_LIMITS)
    yield
    governor().reset(DEFAULT_LIMITS)


@pytest.fixture
def sim():
    from tradekit.brokers.kite.sim.server import KiteSimServer

    server = KiteSimServer(port=0, symbols=SYMBOLS, limits=FAST, heartbeat_seconds=0.5).start()
    yield server
    server.stop()


def request_token(sim) -> str:
    r = requests.get(f"{sim.login_url}?api_key={sim.api_key}&v=3", allow_redirects=False, timeout=5)
    assert r.status_code == 302
    q = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["Location"]).query)
    assert q["status"] == ["success"]
    return q["request_token"][0]


@pytest.fixture
def kite(sim):
    """The official client, unchanged, logged in through the sandbox's login flow."""
    from kiteconnect import KiteConnect

    k = KiteConnect(sim.api_key, root=sim.url)
    k.generate_session(request_token(sim), "simsecret")
    return k


def kite_config(sim, **kw):
    from tradekit.brokers.kite.config import KiteConfig, KiteRateLimits

    limits = kw.pop("rate_limits", KiteRateLimits(orders_per_second=200, orders_per_minute=10000, quote_per_second=200,
                                                  historical_per_second=200, other_per_second=500, margin_seconds=0))
    return KiteConfig(root=sim.url, login_url=sim.login_url, ticker_url=sim.ws_url, timeout_seconds=kw.pop("timeout_seconds", 2.0),
                      rate_limits=limits, **kw)


def secrets():
    from pydantic import SecretStr

    from tradekit.config.secrets import Secrets

    return Secrets({"KITE_API_KEY": SecretStr("simkey"), "KITE_API_SECRET": SecretStr("simsecret")})


@pytest.fixture
def broker(sim, tmp_path):
    """tradekit's KiteBroker on the sandbox, logged in (token file under tmp_path)."""
    from tradekit.brokers.kite.broker import KiteBroker

    b = KiteBroker(kite_config(sim), secrets(), data_dir=tmp_path / "var")
    b.complete_login(request_token(sim))
    yield b
    b.close()


def wait_for(cond, timeout: float = 10.0, every=None, step: float = 0.05) -> bool:
    """Poll ``cond`` (calling ``every`` first each turn) until it holds or ``timeout`` seconds pass."""
    end = time.time() + timeout
    while time.time() < end:
        if every is not None:
            every()
        if cond():
            return True
        time.sleep(step)
    return False
