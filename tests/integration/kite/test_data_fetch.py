"""`tradekit data fetch` and `tradekit instruments update` against the Kite sandbox (official client, 127.0.0.1)."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest

from tradekit.cli import main
from tradekit.data.feeds import sessions_in
from tradekit.data.fetch import fetch_bars
from tradekit.data.store import bars_file, load_symbol_bars

from .conftest import kite_config, request_token, secrets


@pytest.fixture
def sim():
    from tradekit.brokers.kite.sim.server import KiteSimServer

    server = KiteSimServer(port=0, symbols=["INFY"], heartbeat_seconds=0.5).start()
    yield server
    server.stop()


@pytest.fixture
def logged_in(sim, tmp_path):
    """tradekit's KiteBroker on the sandbox with Kite's own historical limit (3 requests/s), each
    historical request recorded (span, time) on its way to the real client."""
    import time

    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.brokers.kite.config import KiteRateLimits

    limits = KiteRateLimits(historical_per_second=3)
    b = KiteBroker(kite_config(sim, rate_limits=limits), secrets(), data_dir=tmp_path / "var")
    b.complete_login(request_token(sim))
    calls = []
    real = b.kite.historical_data
    lock = threading.Lock()

    def counted(token, start, end, interval, *a, **kw):
        with lock:
            calls.append((start, end, interval, time.monotonic()))
        return real(token, start, end, interval, *a, **kw)

    b.kite.historical_data = counted
    yield b, calls
    b.close()


def test_fetch_is_paginated_within_the_span_and_the_rate_limit_and_resumes(sim, logged_in, tmp_path):
    b, calls = logged_in
    dd = tmp_path / "var"
    today = sim.market.trade_date
    yesterday = today - timedelta(days=1)
    # the recent days first
    r1 = fetch_bars(b, "NSE:INFY", yesterday - timedelta(days=20), yesterday, dd, timeframe="1m", today=today)
    assert r1.fetched_bars > 0 and len(calls) == 1
    first_days = set(sessions_in(load_symbol_bars("NSE:INFY", "1m", data_dir=dd)))
    # a range of 400 days: several requests, none longer than Kite's 60 days of minute candles, at most
    # 3 a second, and none asking again for the days already stored
    calls.clear()
    r2 = fetch_bars(b, "NSE:INFY", yesterday - timedelta(days=400), yesterday, dd, timeframe="1m", today=today)
    assert len(calls) >= 7 and len(r2.ranges) == len(calls)
    for s, e, interval, _ in calls:
        assert interval == "minute" and (e - s).days < 60
        assert not any(s.date() <= d <= e.date() for d in first_days), (s, e)
    times = sorted(t for *_, t in calls)
    assert all(times[i + 3] - times[i] >= 0.9 for i in range(len(times) - 3)), times  # the governor's 3/s
    held = set(sessions_in(load_symbol_bars("NSE:INFY", "1m", data_dir=dd)))
    assert held > first_days and held == set(sessions_in(sim.market.get("NSE:INFY").history))
    # the sandbox has no older minutes: those days are noted as empty ...
    assert r2.no_data and bars_file(dd, "NSE:INFY", "1m").with_name("INFY.parquet.nodata.json").exists()
    # ... so a re-run asks for nothing
    calls.clear()
    r3 = fetch_bars(b, "NSE:INFY", yesterday - timedelta(days=400), yesterday, dd, timeframe="1m", today=today)
    assert calls == [] and "nothing to fetch" in r3.summary()
    # the sandbox's minutes match the file's, bar for bar
    df = load_symbol_bars("NSE:INFY", "1m", data_dir=dd)
    s = sim.market.get("NSE:INFY")
    hist = s.history
    assert df["close"].tolist() == hist["close"].tolist() and df.index.equals(hist.index)


def test_fetch_daily_candles_over_years_through_the_command(sim, logged_in, tmp_path, monkeypatch, capsys):
    b, calls = logged_in
    monkeypatch.setenv("KITE_API_KEY", "simkey")
    monkeypatch.setenv("KITE_API_SECRET", "simsecret")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'var'}\nkite: {{root: '{sim.url}', login_url: '{sim.login_url}', "
                   f"ticker_url: '{sim.ws_url}'}}\nsecrets_file: {tmp_path / 'none.env'}\n")
    today = sim.market.trade_date
    d0, d1 = today - timedelta(days=6 * 365), today - timedelta(days=1)
    assert main(["data", "fetch", "--symbol", "NSE:ITC", "--from", d0.isoformat(), "--to", d1.isoformat(),
                 "--timeframe", "1d", "-c", str(cfg)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "fetched 1,241 1d bars of NSE:ITC" in out and "in 2 range(s)" in out  # 2000 days per request
    df = load_symbol_bars("NSE:ITC", "1d", data_dir=tmp_path / "var")
    assert len(df) == 1241 and str(df.index[-1].time()) == "00:00:00"
    assert main(["data", "fetch", "--symbol", "NSE:ITC", "--from", d0.isoformat(), "--to", d1.isoformat(),
                 "--timeframe", "1d", "-c", str(cfg)]) == 0
    assert "nothing to fetch" in capsys.readouterr().out
    # logged out: one line, no traceback
    assert main(["kite", "logout", "-c", str(cfg)]) == 0
    assert main(["data", "fetch", "--symbol", "NSE:ITC", "--from", d1.isoformat(), "-c", str(cfg)]) == 2
    assert "not logged in to Kite" in capsys.readouterr().err


def test_instruments_update_from_the_sandbox_public_endpoint(sim, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'var'}\nkite: {{root: '{sim.url}'}}\n")
    # no login: Kite serves the dump without a session, and so does the sandbox
    assert main(["instruments", "update", "--date", "2026-12-04", "-c", str(cfg)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "instrument dump of 2026-12-04:" in out and "NSE" in out
    assert main(["instruments", "show", "NSE:INFY", "--date", "2026-12-04", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "Kite dump of 2026-12-04" in out and "NSE:INFY: token 408065" in out
    import requests

    r = requests.get(f"{sim.url}/instruments/NSE", timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    head, first = r.text.split("\r\n")[:2]
    assert head == ("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,"
                    "instrument_type,segment,exchange")
    tok, etok = first.split(",")[:2]
    assert int(tok) >> 8 == int(etok)
    infy = next(ln for ln in r.text.split("\r\n") if ",INFY," in ln).split(",")
    assert float(infy[4]) == sim.market.get("NSE:INFY").prev_close  # last_price: the previous close
    assert requests.get(f"{sim.url}/instruments/XYZ", timeout=5).status_code == 400


def test_instruments_update_through_the_logged_in_client(sim, logged_in, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KITE_API_KEY", "simkey")
    monkeypatch.setenv("KITE_API_SECRET", "simsecret")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'var'}\nkite: {{root: '{sim.url}', login_url: '{sim.login_url}', "
                   f"ticker_url: '{sim.ws_url}'}}\nsecrets_file: {tmp_path / 'none.env'}\n")
    assert main(["instruments", "update", "--logged-in", "--date", "2026-12-04", "-c", str(cfg)]) == 0, \
        capsys.readouterr().err
    assert "instrument dump of 2026-12-04:" in capsys.readouterr().out
    assert main(["kite", "logout", "-c", str(cfg)]) == 0
    assert main(["instruments", "update", "--logged-in", "--date", "2026-12-05", "-c", str(cfg)]) == 2
    assert "not logged in to Kite" in capsys.readouterr().err
