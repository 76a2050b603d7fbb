"""A live day's charges against Kite's virtual contract note, through the official client and the
sandbox: zero differences when both price the same orders, a journaled difference when not."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.integration.kite.conftest import kite_config, request_token, secrets
from tests.integration.kite.conftest import wait_for as _wait
from tradekit.brokers.kite.contract_note import reconcile_contract_note
from tradekit.model import OrderRequest
from tradekit.store import EventType as E


def _live_day(sim, tmp_path):
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.config import load_config
    from tradekit.session import Session

    cfg = load_config(overrides={
        "mode": "live", "live": {"allowed": True}, "data_dir": str(tmp_path / "var"),
        "approval": {"mode": "auto", "allow_auto_in_live": True}})
    broker = KiteBroker(kite_config(sim), secrets(), data_dir=tmp_path / "var")
    broker.complete_login(request_token(sim))
    s = Session(cfg, broker=broker, clock=sim.market.clock)
    s.start(reconcile_every=0)
    assert _wait(lambda: broker.stream is not None and broker.stream.connected)
    sim.step(5)
    for sym, side, qty in (("INFY", "BUY", 12), ("SBIN", "BUY", 40), ("INFY", "SELL", 12), ("SBIN", "SELL", 40),
                           ("RELIANCE", "BUY", 5), ("RELIANCE", "SELL", 5)):
        s.oms.mark(f"NSE:{sym}", Decimal(str(sim.app._last(f"NSE:{sym}")[0])))  # the last price the ticker would give
        s.submit(OrderRequest("NSE", sym, side, qty, "MARKET", "MIS", market_protection=Decimal("-1")), strategy="t")
        sim.step(2)
    def done():
        sim.step(1)
        s.reconciler.run_once()  # the periodic reconciliation books what the stream missed
        return s.book.fills >= 6 and all(o.status.is_terminal for o in s.book.orders.values())

    assert _wait(done), [(o.request.tradingsymbol, o.status, o.broker_status, o.filled_quantity) for o in s.book.orders.values()]
    return cfg, s, broker


def test_the_days_charges_agree_with_kites_contract_note(sim, tmp_path):
    cfg, s, broker = _live_day(sim, tmp_path)
    day = sim.market.trade_date
    check = reconcile_contract_note(broker, s.journal.events(), day)
    assert check.orders == 6 and check.ok, check.summary()
    assert set(check.table["note"]) == {"NSE equity-intraday"}
    assert check.table.set_index("component").loc["brokerage", "kite"] > 0
    s.close()


def test_a_difference_is_journaled_and_shown_in_the_live_eod_report(sim, tmp_path):
    import dataclasses

    from tradekit.runs.eod import run_eod
    from tradekit.store import Journal, make_engine

    cfg, s, broker = _live_day(sim, tmp_path)
    day = sim.market.trade_date
    s.journal.flush()
    s.journal.close()
    per_order = sim.app.charges
    # Kite bills ₹5 more brokerage per order than tradekit booked (a tariff change tradekit missed)
    sim.app.charges = lambda *a: dataclasses.replace(per_order(*a), brokerage=per_order(*a).brokerage + 5)

    eod = run_eod(cfg, day, "live", out_dir=tmp_path / "run", figures=False, broker=broker)
    check = eod.contract_note
    assert not check.ok and list(check.differences["component"]) == ["brokerage"]
    assert check.differences["difference"].iloc[0] == Decimal("-30.00")  # 6 orders × ₹5, book below Kite
    data = json.loads((tmp_path / "run" / "eod.json").read_text())
    assert data["contract_note"]["ok"] is False and "brokerage" in data["contract_note"]["summary"]
    html = (tmp_path / "run" / "report.html").read_text()
    assert "contract note" in html and "charges differ from Kite" in html
    j = Journal(make_engine(cfg.store_url()))
    recs = [e for e in j.events(types=(E.RECONCILIATION,)) if e.payload.get("kind") == "contract_note"]
    assert len(recs) == 1 and recs[0].payload["ok"] is False and recs[0].payload["differences"][0]["component"] == "brokerage"
    assert eod.anchor[0] >= recs[0].seq  # the check is part of the day the anchor seals
    j.close()
    broker.close()
