"""The execution-quality tab: what it renders from a journal, and that it follows the journal (issue 18)."""

from __future__ import annotations

from tradekit.store import EventType as E
from tradekit.store.audit import open_read_only
from tradekit.ui.execution import ExecutionModel, ExecutionView

from datetime import datetime

_T = "2016-08-16T09:20:0{}+05:30"


def at(n: int) -> datetime:
    return datetime.fromisoformat(_T.format(n))


def _order(j, cid, price, fill, n):
    j.append(E.SIGNAL_RECEIVED, {"signal_id": f"s{cid}", "signal_time": _T.format(n), "reference_price": price}, ts=at(n))
    j.append(E.ORDER_CREATED, {"client_order_id": cid, "signal_id": f"s{cid}", "strategy": "trend", "reference_price": price,
                               "request": {"exchange": "NSE", "tradingsymbol": "INFY", "side": "BUY", "quantity": 10}},
             ts=at(n))
    for t in (E.RISK_DECISION, E.APPROVAL_GRANTED, E.ORDER_SUBMITTED):
        j.append(t, {"client_order_id": cid}, ts=at(n))
    j.append(E.ORDER_UPDATE, {"client_order_id": cid, "status": "OPEN"}, ts=at(n + 1))
    j.append(E.FILL, {"client_order_id": cid, "exchange": "NSE", "tradingsymbol": "INFY", "side": "BUY", "quantity": 10,
                      "price": fill, "charges": {"brokerage": "1"}}, ts=at(n + 1))


def test_the_tab_shows_shortfall_latency_and_targets_and_follows_the_journal(journal, tmp_path):
    _order(journal, "C1", "1000", "1001", 0)  # 10 bps worse: (1001 - 1000) x 10 = ₹10 + ₹1 fees
    journal.flush()
    view = ExecutionView(ExecutionModel(open_read_only(tmp_path / "journal.db")))
    sf = view.shortfall.value
    assert "trend" in sf and "NSE:INFY" in sf and "11.00" in sf and "11.0" in sf  # ₹11 total, 11 bps of ₹10,000
    assert "created → broker ack" in view.latency.value and "1,000.0" in view.latency.value  # 1 s from order to ack
    t = view.targets.value
    assert "tk-met-slippage_bps" in t and "not met" in t  # 10 bps slippage, 1 s latency
    assert "C1" in view.orders.value
    _order(journal, "C2", "500", "500", 4)
    journal.flush()
    assert view.refresh() is True and "C2" in view.orders.value
    assert view.refresh() is False  # nothing new: nothing recomputed


def test_a_missing_journal_shows_an_error_panel(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'var'}\n")
    v = ExecutionView.from_config(str(cfg))
    assert "Execution quality" in v.widget.value and "no such journal" in v.widget.value
