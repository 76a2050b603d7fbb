"""The session report on a small hand-built journal, every number checked by hand.

The day (2016-08-16), capital ₹1,00,000:

- ``trend`` buys 10 INFY at 1001 (signal reference 1000; charges 1.05) at 09:21 and sells
  10 at 1008 (reference 1010; charges 3.27) at 10:01: realized +70, charges 4.32.
- ``meanrev`` places a LIMIT buy of 20 SBIN at 250 at 11:00 (no reference: the market
  price then is the 10:59 bar's close, 251), gets 10 filled at 11:05 (charges 1.02), and
  the rest is cancelled. SBIN closes the day at 248: unrealized (248 − 250) × 10 = −20.
- ``meanrev`` then tries to sell 5 SBIN and the risk gate denies it.

Net P&L = 70 − 20 − 5.34 = 44.66; ending equity ₹1,00,044.66.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from tradekit.clock import IST, ist
from tradekit.model import OrderRequest
from tradekit.monitoring import (
    ReportSection,
    build_session_report,
    fill_slippage,
    fills_frame,
    performance_stats,
    register_section,
    render_html,
    round_trips,
    unregister_section,
)
from tradekit.store import EventType as E

DAY = date(2016, 8, 16)
D = Decimal

CH_A = {"brokerage": "0.30", "stt": "0", "exchange_txn": "0.33", "sebi": "0.01", "stamp_duty": "0.30", "gst": "0.11"}
CH_B = {"brokerage": "0.30", "stt": "2.52", "exchange_txn": "0.33", "sebi": "0.01", "gst": "0.11"}
CH_C = {"brokerage": "0.75", "exchange_txn": "0.08", "stamp_duty": "0.04", "gst": "0.15"}


def _bars(points: list[tuple[str, float]]) -> pd.DataFrame:
    idx = pd.DatetimeIndex([pd.Timestamp(f"2016-08-16 {t}", tz=IST) for t, _ in points], name="timestamp")
    c = [p for _, p in points]
    df = pd.DataFrame({"open": c, "high": c, "low": c, "close": c, "volume": [100] * len(c)}, index=idx)
    df.attrs["interval"] = pd.Timedelta(minutes=1)
    return df


BARS = {
    "NSE:INFY": _bars([("09:20", 1000), ("09:21", 1003), ("09:40", 995), ("10:00", 1008), ("10:01", 1009)]),
    "NSE:SBIN": _bars([("10:59", 251), ("11:00", 250), ("11:05", 250), ("11:30", 246), ("15:29", 248)]),
}


def _order(j, t, cid, strategy, side, qty, symbol, otype="MARKET", price=None, **extra):
    req = OrderRequest("NSE", symbol, side, qty, otype, "MIS", price=price)
    j.append(E.ORDER_CREATED, {"client_order_id": cid, "strategy": strategy, "request": req.to_dict(), **extra}, ts=t)


def _send(j, t, cid):
    j.append(E.RISK_DECISION, {"client_order_id": cid, "allowed": True, "checks": []}, ts=t)
    j.append(E.APPROVAL_GRANTED, {"client_order_id": cid, "by": "auto"}, ts=t)
    j.append(E.ORDER_SUBMITTED, {"client_order_id": cid}, ts=t)
    j.append(E.ORDER_UPDATE, {"client_order_id": cid, "status": "OPEN", "broker_order_id": f"B-{cid}"}, ts=t)


def _fill(j, t, cid, tid, side, qty, price, symbol, charges):
    j.append(E.FILL, {"client_order_id": cid, "trade_id": tid, "quantity": qty, "price": price, "side": side,
                      "exchange": "NSE", "tradingsymbol": symbol, "product": "MIS", "charges": charges}, ts=t)


@pytest.fixture
def day_journal(journal):
    j = journal
    j.append(E.SESSION_STARTED, {"capital": "100000", "mode": "paper"}, ts=ist(2016, 8, 16, 9, 0))
    j.append(E.SIGNAL_RECEIVED, {"signal_id": "sig-A", "strategy": "trend"}, ts=ist(2016, 8, 16, 9, 19, 30))
    _order(j, ist(2016, 8, 16, 9, 20), "A", "trend", "BUY", 10, "INFY", signal_id="sig-A", reference_price="1000")
    _send(j, ist(2016, 8, 16, 9, 20), "A")
    _fill(j, ist(2016, 8, 16, 9, 21), "A", "T1", "BUY", 10, "1001", "INFY", CH_A)
    j.append(E.ORDER_UPDATE, {"client_order_id": "A", "status": "COMPLETE", "filled_quantity": 10}, ts=ist(2016, 8, 16, 9, 21))
    _order(j, ist(2016, 8, 16, 10, 0), "B", "trend", "SELL", 10, "INFY", reference_price="1010")
    _send(j, ist(2016, 8, 16, 10, 0), "B")
    _fill(j, ist(2016, 8, 16, 10, 1), "B", "T2", "SELL", 10, "1008", "INFY", CH_B)
    _order(j, ist(2016, 8, 16, 11, 0), "C", "meanrev", "BUY", 20, "SBIN", "LIMIT", price="250")
    _send(j, ist(2016, 8, 16, 11, 0), "C")
    _fill(j, ist(2016, 8, 16, 11, 5), "C", "T3", "BUY", 10, "250", "SBIN", CH_C)
    j.append(E.ORDER_UPDATE, {"client_order_id": "C", "status": "CANCELLED", "filled_quantity": 10}, ts=ist(2016, 8, 16, 11, 10))
    _order(j, ist(2016, 8, 16, 12, 0), "D", "meanrev", "SELL", 5, "SBIN")
    j.append(E.RISK_DECISION, {"client_order_id": "D", "allowed": False, "reason": "DAILY_LOSS: loss limit reached"}, ts=ist(2016, 8, 16, 12, 0))
    j.append(E.LIMIT_BREACH, {"limit": "max_orders", "message": "orders 4 of 3"}, ts=ist(2016, 8, 16, 12, 0))
    j.append(E.SESSION_ENDED, {}, ts=ist(2016, 8, 16, 15, 35))
    return j


@pytest.fixture
def report(day_journal):
    return build_session_report(day_journal, bars=BARS, day=DAY)


def test_pnl_and_charges_match_the_hand_computation(report):
    s = report.summary["value"]
    assert s["Starting capital"] == D("100000.00")
    assert s["Realized P&L (gross)"] == D("70.00")
    assert s["Unrealized P&L (gross)"] == D("-20.00")
    assert s["Gross P&L"] == D("50.00")
    assert s["Charges"] == D("5.34")
    assert s["Net P&L"] == D("44.66")
    assert s["Ending equity"] == D("100044.66")
    ch = report.charges["total"]
    assert (ch["brokerage"], ch["stt"], ch["exchange_txn"], ch["sebi"], ch["stamp_duty"], ch["gst"], ch["dp"]) == (
        D("1.35"), D("2.52"), D("0.74"), D("0.02"), D("0.34"), D("0.37"), D("0.00"))
    assert ch["total"] == D("5.34")
    assert report.charges.loc["total", "trend"] == D("4.32") and report.charges.loc["total", "meanrev"] == D("1.02")
    by = report.pnl_by_strategy
    assert by.loc["trend", "net"] == D("65.68") and by.loc["meanrev", "net"] == D("-21.02")
    assert by.loc["meanrev", "unrealized"] == D("-20.00")
    assert report.pnl_by_symbol.loc["NSE:INFY", "realized"] == D("70.00")


def test_tables_list_orders_fills_and_positions(report):
    o = report.orders.set_index("order")
    assert list(o.index) == ["A", "B", "C", "D"]
    assert list(o["status"]) == ["FILLED", "FILLED", "CANCELLED", "DENIED"]
    assert o.loc["C", "filled"] == 10 and o.loc["C", "avg_price"] == D("250.00")
    assert "DAILY_LOSS" in o.loc["D", "reason"]
    assert o.loc["A", "time"] == pd.Timestamp("2016-08-16 09:20", tz=IST)
    f = report.fills
    assert list(f["symbol"]) == ["NSE:INFY", "NSE:INFY", "NSE:SBIN"]
    assert list(f["charges"]) == [D("1.05"), D("3.27"), D("1.02")]
    p = report.positions.set_index("symbol")
    assert p.loc["NSE:SBIN", "qty"] == 10 and p.loc["NSE:SBIN", "last"] == D("248.00")
    assert p.loc["NSE:INFY", "qty"] == 0 and p.loc["NSE:INFY", "realized"] == D("70.00")
    r = report.risk_events
    assert list(r["event"]) == ["denied", "limit breach"] and r["symbol"].iloc[0] == "NSE:SBIN"


def test_equity_curve_points_endpoints_and_max_drawdown(report):
    eq = report.equity["equity"]
    at = lambda hhmm: eq[pd.Timestamp(f"2016-08-16 {hhmm}", tz=IST)]  # noqa: E731
    # cash after the INFY buy 89,988.95 + 10 × the last INFY close known at that minute
    assert at("09:21") == pytest.approx(99988.95)
    assert at("09:22") == pytest.approx(100018.95)
    assert at("09:41") == pytest.approx(99938.95)
    assert at("10:01") == pytest.approx(100065.68)
    assert at("11:06") == pytest.approx(100064.66)
    assert at("11:31") == pytest.approx(100024.66)
    assert eq.iloc[-1] == pytest.approx(100044.66)
    assert eq.index[-1] == pd.Timestamp("2016-08-16 15:30", tz=IST)
    assert eq.iloc[-1] == pytest.approx(float(report.capital + report.net_pnl))
    m = report.max_drawdown
    assert m["amount"] == pytest.approx(80.0)
    assert m["pct"] == pytest.approx(80 / 100018.95)
    assert m["peak_time"] == pd.Timestamp("2016-08-16 09:22", tz=IST)
    assert m["trough_time"] == pd.Timestamp("2016-08-16 09:41", tz=IST)
    assert m["recovery_time"] == pd.Timestamp("2016-08-16 10:01", tz=IST)
    assert report.summary["value"]["Max drawdown"] == D("80.00")
    assert report.equity["drawdown"].min() == pytest.approx(-80.0)


def test_slippage_is_signed_against_the_trader_and_falls_back_to_the_bar_close(report):
    s = report.slippage.set_index("trade_id")
    assert s.loc["T1", "reference_source"] == "order" and s.loc["T1", "slippage"] == D("1")
    assert s.loc["T1", "slippage_bps"] == pytest.approx(10.0)
    assert s.loc["T1", "slippage_inr"] == D("10")
    assert s.loc["T1", "signal_to_fill_s"] == pytest.approx(90.0)  # signal 09:19:30 -> fill 09:21
    assert s.loc["T2", "slippage"] == D("2")  # sold at 1008 against 1010: worse by 2
    assert s.loc["T2", "slippage_bps"] == pytest.approx(2 / 1010 * 1e4)
    assert s.loc["T3", "reference_source"] == "bar_close" and s.loc["T3", "reference_price"] == D("251")
    assert s.loc["T3", "slippage"] == D("-1")  # bought 1 below the market: better, so negative
    ex = report.execution.set_index("strategy")
    assert ex.loc["meanrev", "fill_ratio"] == pytest.approx(0.5)  # 10 of 20; the denied order never went out
    assert ex.loc["trend", "fill_ratio"] == pytest.approx(1.0)
    assert ex.loc["trend", "slippage_inr"] == D("30")


def test_round_trips_and_performance(report):
    t = report.round_trips
    assert len(t) == 1
    assert (t["gross"].iloc[0], t["charges"].iloc[0], t["net"].iloc[0]) == (D("70"), D("4.32"), D("65.68"))
    assert t["holding"].iloc[0] == pd.Timedelta(minutes=40)
    p = report.performance
    assert p["round_trips"] == 1 and p["win_rate"] == 1.0
    assert p["max_drawdown"] == pytest.approx(80.0)
    assert p["total_return"] == pytest.approx(44.66 / 100000)


def test_audit_anchor_and_html(report, day_journal, tmp_path):
    seq, h = day_journal.anchor(DAY)
    assert report.anchor == (seq, h) and report.tail == day_journal.tail()
    out = render_html(report, tmp_path / "r" / "report.html")
    text = out.read_text(encoding="utf-8")
    assert h in text
    assert "1,00,044.66" in text  # ending equity, Indian grouping
    assert "2016-08-16 09:20:00" in text  # order time in IST
    traded = sorted(set(report.fills["symbol"]))
    assert traded and text.count("data:image/png;base64,") == 2 + len(traded)  # equity, P&L, a price chart per symbol
    assert all(f"<h3>{k}</h3>" in text for k in traded) and "Prices and trades" in text
    assert "<script" not in text  # self-contained and static
    paths = report.save_figures(tmp_path / "png")
    assert paths["equity"].stat().st_size > 1000 and paths["pnl_by_strategy"].exists()
    assert paths[f"price:{traded[0]}"].name == f"price_{traded[0].replace(':', '_')}.png"
    ax_top, ax_dd = report.figures["equity"].axes
    assert ax_top.get_shared_x_axes().joined(ax_top, ax_dd)


def test_sections_from_others_are_added_and_a_broken_one_does_not_sink_the_report(day_journal, tmp_path):
    def risk_section(rep):
        return ReportSection("Risk limits used", {"limits": pd.DataFrame({"limit": ["daily_loss"], "used_pct": [0.25]})},
                             text=f"{len(rep.risk_events)} risk events")

    def broken(rep):
        raise RuntimeError("boom")

    register_section(risk_section)
    try:
        rep = build_session_report(day_journal, bars=BARS, day=DAY, sections=[broken], figures=False)
    finally:
        unregister_section(risk_section)
    titles = [s.title for s in rep.sections]
    assert "Risk limits used" in titles and any(t.startswith("Section failed") for t in titles)
    html = render_html(rep, tmp_path / "x.html").read_text(encoding="utf-8")
    assert "Risk limits used" in html and "25.00%" in html and "RuntimeError: boom" in html


def test_without_bars_positions_are_marked_at_their_last_fill(day_journal):
    rep = build_session_report(day_journal, day=DAY, figures=False)
    assert rep.summary["value"]["Unrealized P&L (gross)"] == D("0.00")
    assert rep.summary["value"]["Net P&L"] == D("64.66")
    assert rep.equity["equity"].iloc[-1] == pytest.approx(100064.66)
    assert len(rep.equity) == 3  # one point per fill


def test_a_day_filter_reports_that_day_only(day_journal):
    j = day_journal
    j.append(E.DAY_ROLLED, {}, ts=ist(2016, 8, 17, 9, 0))
    _order(j, ist(2016, 8, 17, 9, 30), "E", "meanrev", "SELL", 10, "SBIN", reference_price="260")
    _send(j, ist(2016, 8, 17, 9, 30), "E")
    _fill(j, ist(2016, 8, 17, 9, 31), "E", "T4", "SELL", 10, "259", "SBIN", {"brokerage": "1"})
    first = build_session_report(j, bars=BARS, day=DAY, figures=False)
    assert list(first.orders["order"]) == ["A", "B", "C", "D"] and first.summary["value"]["Net P&L"] == D("44.66")
    second = build_session_report(j, day="2016-08-17", figures=False)
    assert list(second.orders["order"]) == ["E"] and len(second.fills) == 1
    assert second.anchor == j.anchor(date(2016, 8, 17)) and second.anchor[0] == j.last_seq
    # SBIN closed: bought 10 at 250, sold 10 at 259
    assert second.summary["value"]["Realized P&L (gross)"] == D("160.00")


def test_a_book_alone_gives_the_position_tables(day_journal):
    from tradekit.store import Book

    book = Book.rebuild(day_journal.events())
    rep = build_session_report(book=book, figures=False)
    assert len(rep.positions) == 2 and len(rep.equity) == 0 and rep.anchor is None
    assert rep.summary["value"]["Realized P&L (gross)"] == D("70.00")
    assert book.positions[next(iter(book.positions))].last_price is not None  # the caller's book is left alone


def test_analytics_on_their_own(day_journal):
    evs = list(day_journal.events())
    f = fills_frame(evs)
    assert list(f["strategy"]) == ["trend", "trend", "meanrev"] and f["value"].iloc[0] == D("10010")
    assert fill_slippage(evs)["reference_source"].tolist() == ["order", "order", "none"]
    trips = round_trips(f)
    assert trips["direction"].tolist() == ["long"]


def test_fifo_round_trips_split_partial_exits_and_share_charges():
    t = pd.Timestamp("2016-08-16 10:00", tz=IST)
    rows = [
        (0, "BUY", 100, "10", "2.00"),
        (1, "SELL", 60, "11", "0.60"),
        (2, "SELL", 70, "12", "0.70"),  # closes the last 40 and opens a 30 short
        (3, "BUY", 30, "11.5", "0.30"),
    ]
    f = pd.DataFrame([{"time": t + pd.Timedelta(minutes=i), "seq": i, "strategy": "s", "key": "NSE:X", "side": s,
                       "quantity": q, "price": D(p), "multiplier": 1, "charges": D(c)} for i, s, q, p, c in rows])
    trips = round_trips(f)
    assert trips["quantity"].tolist() == [60, 40, 30]
    assert trips["direction"].tolist() == ["long", "long", "short"]
    assert trips["gross"].tolist() == [D("60"), D("80"), D("15")]
    # the 100-share entry's ₹2 follows its shares: 1.20 to the first exit, 0.80 to the second
    assert trips["charges"].tolist() == [D("1.80"), D("1.20"), D("0.60")]
    assert sum(trips["charges"]) == D("3.60")


def test_performance_stats_on_a_known_daily_series():
    idx = pd.DatetimeIndex([pd.Timestamp(d, tz=IST) + pd.Timedelta(hours=15, minutes=30)
                            for d in ("2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04")])
    eq = pd.Series([101.0, 99.99, 102.9897, 101.960], index=idx)
    p = performance_stats(eq, starting_equity=100.0)
    r = pd.Series([0.01, -0.01, 0.03, 101.960 / 102.9897 - 1])
    assert p["sessions"] == 4
    assert p["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    downside = math.sqrt(((r.clip(upper=0)) ** 2).mean())
    assert p["sortino"] == pytest.approx(r.mean() / downside * math.sqrt(252))
    assert p["max_drawdown"] == pytest.approx(102.9897 - 101.960)  # deeper than 101 -> 99.99
    assert p["total_return"] == pytest.approx(0.0196)


def test_performance_is_shown_with_units(report, tmp_path):
    from tradekit.monitoring.report import performance_table

    t = performance_table(report.performance)["value"]
    assert t["total return"] == "0.045%" and t["max drawdown"] == "₹80.00" and t["round trips"] == "1"
    assert t["sharpe"] == "—"  # one session: no daily volatility
    assert performance_table(pd.Series({"avg_loss": D("-11.3")}))["value"].iloc[0] == "-₹11.30"
    html = render_html(report, tmp_path / "p.html").read_text(encoding="utf-8")
    assert "0.045%" in html


def test_slippage_is_measured_from_the_signals_decision_price_and_from_arrival():
    """Issue 17.9: "vs signal" is the signal's reference price, not the market when the order was made."""
    from types import SimpleNamespace as NS

    evs = [
        NS(type="signal.received", ts="2016-08-16T09:20:00+05:30",
           payload={"signal_id": "s1", "signal_time": "2016-08-16T09:20:00+05:30", "reference_price": "1000"}),
        NS(type="order.created", ts="2016-08-16T09:20:05+05:30",
           payload={"client_order_id": "C1", "signal_id": "s1", "strategy": "x", "reference_price": "1010",
                    "request": {"exchange": "NSE", "tradingsymbol": "INFY"}}),
        NS(type="fill", ts="2016-08-16T09:20:06+05:30",
           payload={"client_order_id": "C1", "trade_id": "T9", "exchange": "NSE", "tradingsymbol": "INFY",
                    "side": "BUY", "quantity": 5, "price": "1012"}),
    ]
    s = fill_slippage(evs).iloc[0]
    assert s["reference_source"] == "signal" and s["reference_price"] == D("1000")
    assert s["slippage"] == D("12") and s["slippage_inr"] == D("60") and s["slippage_bps"] == pytest.approx(120.0)
    assert s["arrival_price"] == D("1010") and s["slippage_vs_arrival_bps"] == pytest.approx(2 / 1010 * 1e4)


def test_charts_run_on_trading_time_and_mark_entries_exits_and_stops():
    """Issue 17.8/17.9: no nights on the x-axis; fills classified and marked on the price chart."""
    from tradekit.monitoring.charts import TradingAxis, price_figure, trade_marks

    t = pd.DatetimeIndex(["2016-08-16 09:15", "2016-08-16 15:29", "2016-08-17 09:15", "2016-08-19 09:20"], tz=IST)
    x = TradingAxis(t, gap_minutes=20)(t)
    assert list(x) == [0.0, 374.0, 394.0, 414.0]  # a night and a holiday-long weekend take 20 "minutes"
    fills = pd.DataFrame({"time": t, "side": ["BUY", "SELL", "SELL", "BUY"], "quantity": [10, 4, 10, 4],
                          "price": [100.0, 101.0, 99.0, 98.0], "client_order_id": ["a", "b", "c", "d"],
                          "strategy": ["s"] * 4, "product": ["MIS"] * 4})
    m = trade_marks(fills, stop_orders={"c"})
    # +10 entry, -4 exit, -10 crosses through zero (a stop order), +4 covers part of the short
    assert list(m["kind"]) == ["entry", "exit", "stop", "exit"]
    fig = price_figure("NSE:X", pd.Series([100.0, 101.0, 99.0, 98.0], index=t), m)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["price", "entry buy (1)", "exit buy (1)", "exit sell (1)", "stop sell (1)"]
    empty = price_figure("NSE:X", pd.Series(dtype="float64"), m.iloc[:0])
    assert "No prices or fills" in empty.axes[0].texts[0].get_text()
