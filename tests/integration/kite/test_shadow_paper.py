"""``execution.shadow_paper: true``: a shadow paper broker on the live feed takes every live signal
(issue 18). A live day against ``tradekit kite-sim`` through the official ``kiteconnect`` client."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.integration.kite.conftest import FAST, kite_config, request_token, secrets, wait_for
from tests.integration.kite.test_kite_day_live import DAY, _config_text, _drop_signal, _sim_post
from tradekit.brokers.kite.ratelimit import governor
from tradekit.store.events import EventType as E

pytestmark = pytest.mark.slow


def _events(path):
    from tradekit.store.audit import open_read_only

    j = open_read_only(path)
    try:
        return list(j.events())
    finally:
        j.engine.dispose()


def test_the_shadow_paper_broker_takes_the_live_signal_and_fills_on_the_live_feed(tmp_path, monkeypatch):
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.brokers.kite.sim.server import KiteSimServer
    from tradekit.clock import SANDBOX_CLOCK_ENV
    from tradekit.config import load_config
    from tradekit.monitoring.execution import paper_vs_live
    from tradekit.runs.day import run_live_day
    from tradekit.session import Session

    governor().min_backoff = 0.05
    sim = KiteSimServer(port=0, symbols=["INFY", "SBIN", "RELIANCE", "TCS", "NIFTY50"], limits=FAST,
                        heartbeat_seconds=0.5, trade_date=DAY, speed=0.0).start()
    s = runner = None
    stop = threading.Event()
    try:
        cfg_file = _config_text(tmp_path, sim)
        body = json.loads(cfg_file.read_text())
        body["execution"] = {"shadow_paper": True}
        cfg_file.write_text(json.dumps(body))
        login = KiteBroker(kite_config(sim), secrets(), data_dir=tmp_path / "var")
        login.complete_login(request_token(sim))
        login.close()
        monkeypatch.setenv(SANDBOX_CLOCK_ENV, sim.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        cfg = load_config(cfg_file)
        assert cfg.execution.shadow_paper is True
        s = Session.from_config(cfg, mode="live")
        out: dict = {}
        runs = tmp_path / "runs"

        def run():
            try:
                out["run"] = run_live_day(cfg, DAY, session=s, out_dir=runs, poll_interval=0.2, echo=None,
                                          stop=stop.is_set)
            except BaseException as e:  # noqa: BLE001 - surfaced below
                out["error"] = e

        runner = threading.Thread(target=run, name="live-day", daemon=True)
        runner.start()
        assert wait_for(lambda: s.market.last_price("NSE:INFY") is not None, 20), (out, s.market.status())
        _sim_post(sim, "/sim/speed", {"speed": 60.0})
        assert wait_for(lambda: sim.market.now.strftime("%H:%M") >= "09:16", 20)
        inbox = cfg.signals.inbox_path(cfg.data_dir)
        _drop_signal(inbox, "a", idempotency_key="shadow-A", strategy="momo", signal_time=sim.market.now.isoformat(),
                     symbol="INFY", side="BUY", quantity=10)

        def live_filled():
            return any(o.filled_quantity == 10 for o in s.book.orders.values())

        assert wait_for(live_filled, 20), out
        shadow_db = runs / "shadow" / "journal.db"
        assert wait_for(lambda: shadow_db.exists() and s_fills(shadow_db), 20)
        stop.set()
        runner.join(30)
        assert "error" not in out, out.get("error")
        live_evs = list(s.journal.events())
        paper_evs = _events(shadow_db)
        # the same signal, taken by both; the shadow's order is a paper order on its own journal
        live_sigs = {e.payload["signal_id"] for e in live_evs if e.type == E.ORDER_CREATED and e.payload.get("signal_id")}
        paper_sigs = {e.payload["signal_id"] for e in paper_evs if e.type == E.ORDER_CREATED and e.payload.get("signal_id")}
        assert live_sigs == paper_sigs and len(live_sigs) == 1
        started = next(e.payload for e in paper_evs if e.type == E.SESSION_STARTED)
        assert started["mode"] == "paper"
        cmp = paper_vs_live(live_evs, paper_evs)
        assert len(cmp) == 1 and cmp["live_filled"].iloc[0] == 10 and cmp["paper_filled"].iloc[0] == 10
        # the paper fill is on the live feed's prices: within a few ticks of the live fill
        assert abs(cmp["fill_diff_bps"].iloc[0]) < 50
        # the EOD report sets the two side by side
        from tradekit.runs.eod import run_eod

        s.close()
        s = None
        eod = run_eod(cfg, DAY, "live", out_dir=runs, figures=False)
        sec = next(x for x in eod.report.sections if x.title.startswith("Paper against live"))
        assert len(sec.tables["Per signal"]) == 1
        assert set(sec.tables["P&L by strategy"]["mode"]) == {"live", "paper"}
        assert "Paper against live" in (runs / "report.html").read_text(encoding="utf-8")
    finally:
        stop.set()
        if runner is not None:
            runner.join(30)
        if s is not None:
            s.close()
        sim.stop()


def s_fills(path) -> bool:
    return any(e.type == E.FILL for e in _events(path))


def test_shadow_paper_is_off_by_default_and_must_be_a_flag(tmp_path):
    from tradekit.config import load_config
    from tradekit.errors import ConfigError

    assert load_config(None).execution.shadow_paper is False
    bad = tmp_path / "c.yaml"
    bad.write_text("execution:\n  shadow_paper: sometimes\n")
    with pytest.raises(ConfigError, match="shadow_paper"):
        load_config(bad)
