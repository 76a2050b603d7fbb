"""`tradekit kite-sim` as a user starts it, `tradekit kite status`, and the ticker as a Feed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.parse

import pytest
import requests

from tests.integration.kite.conftest import wait_for

pytestmark = pytest.mark.slow


def test_kite_sim_command_serves_the_official_client_and_moves_by_itself(tmp_path):
    from kiteconnect import KiteConnect

    env = {**os.environ, "KITE_API_KEY": "mykey", "KITE_API_SECRET": "mysecret", "NO_PROXY": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, "-m", "tradekit.cli", "kite-sim", "--host", "127.0.0.1", "--port", "0",
                             "--speed", "600", "--symbols", "INFY,SBIN"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        m = re.search(r"REST (http://127\.0\.0\.1:\d+)", line)
        assert m, line
        root = m.group(1)
        second = proc.stdout.readline()
        assert "$KITE_API_KEY" in second and "mykey" not in second  # from the environment, and not printed
        r = requests.get(f"{root}/connect/login?api_key=mykey&v=3", allow_redirects=False, timeout=5)
        loc = r.headers["Location"]
        assert loc.startswith("/connect/finish?")  # no redirect URL configured: a page shows the token
        rt = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)["request_token"][0]
        page = requests.get(f"{root}{loc}", timeout=5)
        assert rt in page.text and page.headers["Content-Type"].startswith("text/html")
        k = KiteConnect("mykey", root=root)
        k.generate_session(rt, "mysecret")
        first = k.ltp("NSE:INFY").get("NSE:INFY", {}).get("last_price")
        # the replay runs at 600x (a minute in 0.1 s): it trades, however long this machine took to get here
        deadline = time.monotonic() + 15  # a bounded wait, however long this machine took to get here
        while True:
            time.sleep(1.1)  # the sandbox keeps Kite's own limit: one quote request a second
            q = k.quote("NSE:INFY")["NSE:INFY"]
            if q["last_price"] != first or q["volume"] > 0 or time.monotonic() > deadline:
                break
        assert q["last_price"] != first or q["volume"] > 0
    finally:
        proc.terminate()
        proc.wait(10)


def test_kite_status_without_a_login_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("KITE_API_KEY", "k")
    cfg = tmp_path / "c.yaml"
    from tests.conftest import ROOT

    cfg.write_text(f"extends: {ROOT / 'config' / 'default.yaml'}\ndata_dir: {tmp_path / 'var'}\n")
    out = subprocess.run([sys.executable, "-m", "tradekit.cli", "kite", "status", "-c", str(cfg)], capture_output=True,
                         text=True, env={**os.environ})
    assert out.returncode == 0 and "not logged in" in out.stdout and "tradekit kite login" in out.stdout


def test_the_ticker_as_a_feed(broker, sim):
    sim.step(1)
    feed = broker.feed()
    feed.subscribe(["NSE:INFY"], "full")
    feed.subscribe(["NSE:SBIN"], "ltp")
    # both subscriptions in their modes at the sandbox (not a fixed pause after the connect)
    assert wait_for(lambda: broker.stream.connected and sim.hub.subscriptions() == [{408065: "full", 779521: "ltp"}])
    sim.step(1)
    got = {}
    while not set(got) >= {("NSE:INFY", "full"), ("NSE:SBIN", "ltp")}:
        t = feed.get(timeout=5)  # (a new subscription starts as quote, then its mode applies, as on Kite)
        assert t is not None, got
        got[(t.key, t.mode)] = t
    got = {k: t for (k, m), t in got.items() if (k, m) in {("NSE:INFY", "full"), ("NSE:SBIN", "ltp")}}
    assert got["NSE:INFY"].mode == "full" and got["NSE:INFY"].bids and got["NSE:SBIN"].mode == "ltp"
    feed.unsubscribe(["NSE:SBIN"])
    deadline = time.time() + 5
    while time.time() < deadline and sim.hub.subscriptions() != [{408065: "full"}]:
        time.sleep(0.05)
    assert sim.hub.subscriptions() == [{408065: "full"}]
    feed.close()
    assert all(t.key for t in feed)  # iteration ends after close (what was buffered comes first)
