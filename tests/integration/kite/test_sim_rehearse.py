"""`tradekit run day --rehearse` against the sandbox, and the sandbox's command-line mistakes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from tests.integration.kite.conftest import FAST

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def tradekit(*args, env=None, timeout=300):
    env = {**os.environ, "NO_PROXY": "127.0.0.1", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "tradekit", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def live_config(tmp_path, root: str) -> Path:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("KITE_API_KEY=simkey\nKITE_API_SECRET=simsecret\n")
    secrets.chmod(0o600)
    host = root.split("://", 1)[1]
    ws = "wss" if root.startswith("https") else "ws"
    cfg = tmp_path / "live.yaml"
    cfg.write_text(f"extends: {ROOT / 'config' / 'live.example.yaml'}\ndata_dir: {tmp_path / 'var'}\n"
                   f"secrets_file: {secrets}\n"
                   f"kite: {{root: \"{root}\", login_url: \"{root}/connect/login\", ticker_url: \"{ws}://{host}/ws\"}}\n")
    return cfg


def test_rehearse_is_refused_unless_the_kite_root_is_on_loopback(tmp_path):
    out = tradekit("run", "day", "--rehearse", "-c", str(live_config(tmp_path, "https://api.kite.trade")),
                   "--out", str(tmp_path / "runs"))
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "--rehearse" in lines[0] and "loopback" in lines[0] and "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists()
    # on loopback but nothing listening: one line too
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tradekit("run", "day", "--rehearse", "-c", str(live_config(tmp_path, f"http://127.0.0.1:{port}")))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "kite-sim" in out.stderr


def test_a_busy_port_is_one_line_suggesting_port_0():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        out = tradekit("kite-sim", "--port", str(port), "--speed", "0", timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "--port 0" in lines[0] and str(port) in lines[0], out.stderr
    bad = tradekit("kite-sim", "--port", "0", "--ticks-per-bar", "0", timeout=60)
    assert bad.returncode == 2 and "--ticks-per-bar" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    bad = tradekit("kite-sim", "--port", "0", "--drift", "INFY", timeout=60)
    assert bad.returncode == 2 and "--drift" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_a_rehearsed_live_day_runs_on_the_sandboxes_day_and_clock(tmp_path):
    from datetime import date, datetime, time

    from tradekit.brokers.kite.sim.server import KiteSimServer
    from tradekit.clock import IST

    day = date(2026, 12, 7)  # a Monday, an NSE trading day
    sim = KiteSimServer(port=0, symbols=["INFY"], limits=FAST, speed=0.0, trade_date=day).start()  # still at 09:14
    try:
        cfg = live_config(tmp_path, sim.url)
        r = requests.get(f"{sim.login_url}?api_key=simkey&v=3", allow_redirects=False, timeout=5)
        rt = r.headers["Location"].split("request_token=")[1].split("&")[0]
        login = tradekit("kite", "login", "-c", str(cfg), "--request-token", rt, timeout=60)
        assert login.returncode == 0, login.stderr
        wrong = tradekit("run", "day", "--rehearse", "--date", "2026-12-08", "-c", str(cfg), timeout=60)
        assert wrong.returncode == 2 and "2026-12-07" in wrong.stderr
        # The sandbox waits at 09:14 until the session notebook's live loop runs (its heartbeat file: the
        # notebooks' kernels may take many seconds to start on a loaded machine, and a market already
        # running at 1500x would be closed before the session started), then runs at 1500x (the day in
        # about 15 s). From 15:25 it runs at 60x and it stops at its close (both on its own market
        # thread, at those replayed times whatever the machine's load), so that the session's clock
        # ends the day near 15:30: the session's SandboxClock runs on at the last speed it read for at
        # most resync_seconds (1 s) plus one read (timeout 3 s) before it sees the sandbox stopped and
        # never goes back, so it stops by 15:30 + 60 x 4 s = 15:34 (at 1500x that would be 100 minutes).
        run_dir = tmp_path / "runs" / "2026-12-07"
        heartbeat = tmp_path / "var" / "session-heartbeat.json"
        done = threading.Event()
        slow_from = datetime.combine(day, time(15, 25), IST)

        def pace(released):
            if sim.market.finished:
                sim.market.set_speed(0)
            elif sim.market.speed > 60 and sim.market.now >= slow_from:
                sim.market.set_speed(60)

        sim.market.listeners.append(pace)

        def open_the_market():
            while not done.wait(0.05):
                if heartbeat.exists():
                    requests.post(f"{sim.url}/sim/speed", json={"speed": 1500}, timeout=5)
                    return

        threading.Thread(target=open_the_market, daemon=True).start()
        try:
            out = tradekit("run", "day", "--rehearse", "-c", str(cfg), "--out", str(tmp_path / "runs"))
        finally:
            done.set()
        assert out.returncode == 0, out.stdout + out.stderr
        assert "2026-12-07 (live)" in out.stdout
        import json

        session = json.loads((run_dir / "session.json").read_text())
        assert session["mode"] == "live" and session["stop_reason"] == "the close"
        started, ended = session["started_at"], session["ended_at"]
        assert "2026-12-07T09:14" <= started < "2026-12-07T09:15" and "2026-12-07T15:30" <= ended < "2026-12-07T15:45", \
            (started, ended)
        assert session["minutes"] > 0
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["inputs"]["sandbox"]["root"] == sim.url and manifest["inputs"]["sandbox"]["day"] == "2026-12-07"
        assert sim.market.finished  # the session ran to the sandbox's close, on its replayed clock
    finally:
        sim.stop()
