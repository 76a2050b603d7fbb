"""Implementation shortfall, latency by stage and the seed's targets, checked by hand (issue 18)."""

from __future__ import annotations

import math
from decimal import Decimal as D
from types import SimpleNamespace as NS

import pytest

from tradekit.monitoring.execution import (
    implementation_shortfall,
    latency_breakdown,
    latency_stats,
    shortfall_summary,
    success_metrics,
    success_trend,
    uptime,
)

DAY = "2016-08-16T"


def ev(t, type_, **payload):
    return NS(type=type_, ts=f"{DAY}{t}+05:30", payload=payload)


def sig(t, sid, ref):
    return ev(t, "signal.received", signal_id=sid, signal_time=f"{DAY}{t}+05:30", reference_price=ref)


def order(t, cid, side, qty, sym="INFY", sid=None, arrival=None, strategy="trend"):
    return ev(t, "order.created", client_order_id=cid, signal_id=sid, strategy=strategy, reference_price=arrival,
              request={"exchange": "NSE", "tradingsymbol": sym, "side": side, "quantity": qty})


def sent(t, cid):
    return [ev(t, "risk.decision", client_order_id=cid, allowed=True),
            ev(t, "approval.granted", client_order_id=cid, by="auto"),
            ev(t, "order.submitted", client_order_id=cid)]


def fill(t, cid, side, qty, price, sym="INFY", charges=None):
    return ev(t, "fill", client_order_id=cid, exchange="NSE", tradingsymbol=sym, side=side, quantity=qty, price=price,
              charges=charges or {})


def test_full_fill_buy():
    # decision 1000 (signal), arrival 1002, fills 60 @ 1003 and 40 @ 1005, fees 1.50 + 1.00
    evs = [sig("09:20:00", "s1", "1000"), order("09:20:01", "C1", "BUY", 100, sid="s1", arrival="1002"),
           *sent("09:20:01", "C1"),
           fill("09:20:02", "C1", "BUY", 60, "1003", charges={"brokerage": "1.50"}),
           fill("09:20:03", "C1", "BUY", 40, "1005", charges={"brokerage": "1.00"}),
           ev("09:20:03", "order.update", client_order_id="C1", status="COMPLETE")]
    r = implementation_shortfall(evs).iloc[0]
    # delay  = (1002 - 1000) x 100 = 200
    # trading = (1003 - 1002) x 60 + (1005 - 1002) x 40 = 60 + 120 = 180
    # opportunity = 0 (all filled); fees = 2.50; total = 382.50
    assert r["delay_cost"] == D("200") and r["trading_cost"] == D("180")
    assert r["opportunity_cost"] == D("0") and r["fees"] == D("2.50") and r["total"] == D("382.50")
    # decision value 1000 x 100 = 100000 -> 382.50 / 100000 = 38.25 bps
    assert r["total_bps"] == pytest.approx(38.25) and r["delay_bps"] == pytest.approx(20.0)
    assert r["avg_fill_price"] == D("1003.8") and r["decision_source"] == "signal"


def test_partial_fill_then_cancelled_pays_opportunity_at_the_last_mark():
    # decision 500, arrival 501, 30 of 100 @ 502 then cancelled; the day's last mark 510; fee 0.40
    evs = [sig("10:00:00", "s2", "500"), order("10:00:01", "C2", "BUY", 100, sid="s2", arrival="501"),
           *sent("10:00:01", "C2"), fill("10:00:05", "C2", "BUY", 30, "502", charges={"stt": "0.40"}),
           ev("10:05:00", "order.update", client_order_id="C2", status="CANCELLED"),
           ev("15:29:00", "mark", prices={"NSE:INFY": "512"}), ev("15:30:00", "mark", prices={"NSE:INFY": "510"})]
    r = implementation_shortfall(evs).iloc[0]
    # delay = (501 - 500) x 30 = 30; trading = (502 - 501) x 30 = 30
    # opportunity = (510 - 500) x 70 = 700; fees 0.40; total = 760.40
    assert (r["delay_cost"], r["trading_cost"], r["opportunity_cost"], r["fees"]) == (D(30), D(30), D(700), D("0.40"))
    assert r["total"] == D("760.40") and r["unfilled_qty"] == 70 and r["status"] == "CANCELLED"
    assert r["close_price"] == D("510") and r["close_source"] == "mark"
    assert r["total_bps"] == pytest.approx(760.40 / 50_000 * 1e4)  # 152.08 bps


def test_a_sell_costs_when_it_receives_less():
    # sell 50: decision 200, arrival 199, fills 50 @ 198.50; fees 0.25
    evs = [sig("11:00:00", "s3", "200"), order("11:00:00", "C3", "SELL", 50, sym="SBIN", sid="s3", arrival="199"),
           *sent("11:00:00", "C3"), fill("11:00:01", "C3", "SELL", 50, "198.50", sym="SBIN", charges={"gst": "0.25"})]
    r = implementation_shortfall(evs).iloc[0]
    # delay = -(199 - 200) x 50 = 50; trading = -(198.50 - 199) x 50 = 25; fees .25; total 75.25
    assert (r["delay_cost"], r["trading_cost"], r["opportunity_cost"]) == (D(50), D("25.00"), D(0))
    assert r["total"] == D("75.25") and r["total_bps"] == pytest.approx(75.25 / 10_000 * 1e4)


def test_no_decision_price_uses_arrival_and_no_prices_at_all_is_unmeasured():
    # no signal: decision = arrival = 300; fill 10 @ 301 -> delay 0, trading 10, total 10
    evs = [order("12:00:00", "C4", "BUY", 10, sym="TCS", arrival="300"), *sent("12:00:00", "C4"),
           fill("12:00:01", "C4", "BUY", 10, "301", sym="TCS"),
           order("12:01:00", "C5", "BUY", 10, sym="ITC"), *sent("12:01:00", "C5"),
           fill("12:01:01", "C5", "BUY", 10, "400", sym="ITC", charges={"brokerage": "0.1"}),
           order("12:02:00", "C6", "BUY", 10, sym="ITC")]  # never sent: not the execution's shortfall
    sf = implementation_shortfall(evs)
    assert list(sf["client_order_id"]) == ["C4", "C5"]
    a, b = sf.iloc[0], sf.iloc[1]
    assert a["decision_source"] == "arrival" and a["delay_cost"] == D(0) and a["trading_cost"] == D(10)
    assert a["total"] == D(10) and a["total_bps"] == pytest.approx(10 / 3000 * 1e4)
    assert b["decision_source"] == "none" and b["total"] is None and b["fees"] == D("0.1") and math.isnan(b["total_bps"])
    s = shortfall_summary(sf, "strategy").iloc[0]
    assert s["orders"] == 2 and s["unmeasured"] == 1 and s["total"] == D(10)


def test_the_parts_sum_to_the_total_per_strategy_and_symbol():
    evs = [sig("09:20:00", "a", "100"), order("09:20:00", "X1", "BUY", 10, sid="a", arrival="101"), *sent("09:20:00", "X1"),
           fill("09:20:01", "X1", "BUY", 4, "102"), ev("09:21", "order.update", client_order_id="X1", status="CANCELLED"),
           sig("09:30:00", "b", "50"), order("09:30:00", "X2", "SELL", 20, sym="SBIN", sid="b", arrival="49", strategy="mr"),
           *sent("09:30:00", "X2"), fill("09:30:01", "X2", "SELL", 20, "48.5", sym="SBIN"),
           ev("15:30:00", "mark", prices={"NSE:INFY": "103", "NSE:SBIN": "47"})]
    sf = implementation_shortfall(evs)
    for _, r in sf.iterrows():
        assert r["delay_cost"] + r["trading_cost"] + r["opportunity_cost"] + r["fees"] == r["total"]
    by = shortfall_summary(sf, ["strategy", "key"])
    assert list(by["strategy"]) == ["mr", "trend"]
    # X1: delay 1x4=4, trading 1x4=4, opportunity (103-100)x6=18 -> 26;  X2: delay 1x20=20, trading .5x20=10 -> 30
    assert list(by["total"]) == [D("30.0"), D(26)]


def test_latency_by_stage_and_percentiles():
    evs = [sig("09:20:00.000", "s", "100"), order("09:20:00.010", "C", "BUY", 1, sid="s", arrival="100"),
           ev("09:20:00.012", "risk.decision", client_order_id="C"), ev("09:20:00.015", "approval.granted", client_order_id="C"),
           ev("09:20:00.020", "order.submitted", client_order_id="C"),
           ev("09:20:00.070", "order.update", client_order_id="C", status="OPEN", broker_order_id="B1"),
           fill("09:20:00.100", "C", "BUY", 1, "100"),
           ev("09:20:00.110", "order.update", client_order_id="C", status="COMPLETE")]
    r = latency_breakdown(evs).iloc[0]
    assert [r[f"{s}_ms"] for s in ("created", "risk", "approved", "submitted", "ack", "first_fill")] == \
        pytest.approx([10, 2, 3, 5, 50, 30])
    assert r["total_ms"] == pytest.approx(100) and r["order_ms"] == pytest.approx(60)
    st = latency_stats(latency_breakdown(evs)).set_index("stage")
    assert st.loc["submitted → broker ack", "p99"] == pytest.approx(50)
    assert st.loc["created → broker ack", "count"] == 1


def test_success_metrics_met_or_not_and_uptime_from_the_journal():
    evs = [order("09:15:00", "C", "BUY", 100, arrival="100"), *sent("09:15:00", "C"),
           ev("09:15:00.050", "order.update", client_order_id="C", status="OPEN"),
           fill("09:15:01", "C", "BUY", 100, "100.02")]
    # a mark every minute to the close, then the session ends at 15:30
    evs += [ev(f"{9 + (15 + i) // 60:02d}:{(15 + i) % 60:02d}:30", "mark", prices={}) for i in range(375)]
    evs.append(ev("15:30:00", "session.ended", reason="close"))
    evs.append(ev("09:15:00", "note", kind="heartbeat"))  # the session loop's first beat: heartbeats are journaled
    m = success_metrics(evs).set_index("metric")
    assert m.loc["slippage_bps", "value"] == pytest.approx(2.0)
    assert m.loc["fill_rate_pct", "value"] == pytest.approx(100.0)
    assert m.loc["order_latency_ms", "value"] == pytest.approx(50.0)
    assert m["met"].tolist() == [True, True, True, True]
    # without the marks 13:00:30 .. 13:29:30 the journal is silent 12:59:30 -> 13:30:30 (1860 s); the
    # session was up until its next heartbeat was due (15 s): 1845 of 22500 s down -> 91.8 %: not met
    quiet = [e for e in evs if not ("13:00:00" < e.ts[11:19] < "13:30:00")]
    u = uptime(quiet).iloc[0]
    assert u["uptime_pct"] < 99.9 and u["uptime_pct"] == pytest.approx(100 * (1 - 1845 / 22500))
    assert u["gaps"] == 1 and u["longest_gap_seconds"] == 1860
    # a journal without any heartbeat (a batch replay, no session loop): uptime not measured, not "down"
    nobeat = [e for e in quiet if e.type != "note"]
    assert math.isnan(uptime(nobeat).iloc[0]["uptime_pct"])
    assert success_trend(nobeat)["uptime_pct_met"].tolist() == [None]
    tr = success_trend(quiet)
    assert len(tr) == 1 and tr[["slippage_bps_met", "uptime_pct_met"]].iloc[0].tolist() == [True, False]


def _beats(start: str, end: str, every: int = 15, day: str = DAY):
    """A session's heartbeat notes every ``every`` s from ``start`` up to (not including) ``end``."""
    import pandas as pd

    t0, t1 = pd.Timestamp(f"{day}{start}+05:30"), pd.Timestamp(f"{day}{end}+05:30")
    return [NS(type="note", ts=t.isoformat(), payload={"kind": "heartbeat"})
            for t in pd.date_range(t0, t1, freq=f"{every}s", inclusive="left")]


def test_uptime_from_heartbeats_with_a_known_gap_and_its_trend_across_days():
    # day 1: heartbeats 09:15:00 .. 15:30:00, but none from 11:00:15 to 11:04:45: the last beat before
    # the crash 11:00:00, the first after it 11:05:00 (300 s apart); up until 11:00:15 -> 285 s down
    d1 = [e for e in _beats("09:15:00", "15:30:15") if not ("11:00:00" < e.ts[11:19] < "11:05:00")]
    # ... and an approval decision the dashboard wrote during the outage is not the session's life
    d1.append(ev("11:02:00", "approval.decision", client_order_id="X", decision="approve"))
    d1.append(ev("15:30:00", "session.ended", reason="close"))
    u = uptime(d1).iloc[0]
    assert u["down_seconds"] == 285 and u["gaps"] == 1 and u["longest_gap_seconds"] == 300
    assert u["uptime_pct"] == pytest.approx(100 * (1 - 285 / 22500))  # 98.73 %: not met
    # day 2: up all day, beats every 15 s (a 60 s minute-bar replay spacing is also within gap_seconds)
    d2 = _beats("09:14:00", "15:31:00", day="2016-08-17T")
    # day 3: the session started late, at 09:15:20 -> 20 s down of 22500: 99.911 %, met (just)
    d3 = _beats("09:15:20", "15:31:00", day="2016-08-18T")
    tr = success_trend(d1 + d2 + d3)
    assert [str(d) for d in tr["day"]] == ["2016-08-16", "2016-08-17", "2016-08-18"]
    assert tr["uptime_pct"].tolist() == pytest.approx([100 * (1 - 285 / 22500), 100.0, 100 * (1 - 20 / 22500)])
    assert tr["uptime_pct_met"].tolist() == [False, True, True]


def test_a_quiet_session_journals_heartbeats_and_a_gap_in_them_is_down_time(tmp_path):
    """The real session: nothing happens for two minutes -> it journals a heartbeat every 15 s of its clock
    (the run loops call journal_heartbeat every cycle); a stop of 5 minutes is measured as down time."""
    from datetime import timedelta

    from tests.unit.execution.conftest import T0, make_session
    from tradekit.store import EventType as E

    s = make_session(tmp_path)
    try:
        s.clock.set(T0)
        for _ in range(2 * 60 * 2):  # a cycle every 0.5 s of the session clock for 2 minutes
            s.journal_heartbeat()
            s.clock.set(s.clock.now() + timedelta(seconds=0.5))
        n = sum(1 for e in s.journal.events(types=(E.NOTE,)) if e.payload.get("kind") == "heartbeat")
        s.clock.set(s.clock.now() + timedelta(minutes=5))  # the session process stopped for 5 minutes
        assert s.journal_heartbeat()
        evs = list(s.journal.events())
    finally:
        s.close()
    assert 7 <= n <= 9  # one at once (nothing was journaled at T0), then one per 15 s
    u = uptime(evs).iloc[0]
    assert u["gaps"] == 1 and 300 <= u["longest_gap_seconds"] <= 315


def child(t, cid, parent, side, qty, arrival, sym="INFY"):
    e = order(t, cid, side, qty, sym=sym, arrival=arrival)
    e.payload["parent_id"] = parent
    return e


def test_an_algo_parent_rolls_its_children_up_against_its_own_decision_and_arrival():
    # TWAP parent: BUY 300, decision 1000 (signal), arrival 1001 (the market when the parent was created).
    # child 1: 100 @ 1002 (fees 2); child 2: 100 @ 1004 (fees 2); child 3 sent, then the algo was
    # cancelled: 0 filled. The last mark 1006 prices the 100 that never filled.
    evs = [sig("09:20:00", "s1", "1000"), order("09:20:00", "P", "BUY", 300, sid="s1", arrival="1001", strategy="twap"),
           ev("09:20:00", "algo.started", client_order_id="P", kind="twap"),
           child("09:21:00", "K1", "P", "BUY", 100, "1001.5"), *sent("09:21:00", "K1"),
           fill("09:21:01", "K1", "BUY", 100, "1002", charges={"brokerage": "2"}),
           child("09:22:00", "K2", "P", "BUY", 100, "1003"), *sent("09:22:00", "K2"),
           fill("09:22:01", "K2", "BUY", 100, "1004", charges={"brokerage": "2"}),
           child("09:23:00", "K3", "P", "BUY", 100, "1005"), *sent("09:23:00", "K3"),
           ev("09:23:30", "order.update", client_order_id="K3", status="CANCELLED"),
           ev("09:23:30", "algo.cancelled", client_order_id="P", status="CANCELLED"),
           ev("15:30:00", "mark", prices={"NSE:INFY": "1006"})]
    [r] = implementation_shortfall(evs).to_dict("records")
    assert (r["client_order_id"], r["children"], r["status"]) == ("P", 3, "CANCELLED")
    assert (r["ordered_qty"], r["filled_qty"], r["unfilled_qty"]) == (300, 200, 100)
    assert r["decision_price"] == D("1000") and r["arrival_price"] == D("1001") and r["avg_fill_price"] == D("1003")
    # delay       = (1001 - 1000) x 200                          = 200
    # trading     = (1002 - 1001) x 100 + (1004 - 1001) x 100    = 400  (the children's own arrivals do not count)
    # opportunity = (1006 - 1000) x 100                          = 600
    # fees        = 2 + 2 = 4;  total = 1204 on 300 x 1000 = 300,000 -> 40.13 bps
    assert (r["delay_cost"], r["trading_cost"], r["opportunity_cost"], r["fees"], r["total"]) == \
        (D(200), D(400), D(600), D(4), D(1204))
    assert r["decision_value"] == D(300000)
    assert [r[k] for k in ("delay_bps", "trading_bps", "opportunity_bps", "fees_bps", "total_bps")] == \
        pytest.approx([20 / 3, 40 / 3, 20, 4 / 30, 1204 / 30])
    # per strategy: the parent once (not the parent and its children)
    summ = shortfall_summary(implementation_shortfall(evs)).set_index("strategy")
    assert summ.loc["twap", "orders"] == 1 and summ.loc["twap", "ordered_qty"] == 300
    assert summ.loc["twap", "total"] == D(1204)
    # the same success metric: fill rate is the parent's 200 of 300
    assert success_metrics(evs).set_index("metric").loc["fill_rate_pct", "value"] == pytest.approx(200 / 3)
    # without the roll-up each child is measured against its own arrival, and the parent has no row
    flat = implementation_shortfall(evs, rollup=False)
    assert flat["client_order_id"].tolist() == ["K1", "K2", "K3"]
    assert flat["trading_cost"].tolist() == [D("50"), D("100"), D("0")]


def test_freeze_slices_of_a_sell_roll_up_to_their_parent():
    # SELL 4,500 sent as slices of 1,800 / 1,800 / 900 (freeze quantity 1,800); decision 24,010 (signal),
    # arrival 24,005; fills 24,001 / 24,000 / 23,998; fees 10 + 10 + 5
    evs = [sig("10:00:00", "s9", "24010"),
           order("10:00:00", "F", "SELL", 4500, sym="NIFTY16AUGFUT", sid="s9", arrival="24005", strategy="fno"),
           ev("10:00:00", "slice.started", client_order_id="F", kind="slice")]
    for i, (q, px, fee) in enumerate(((1800, "24001", "10"), (1800, "24000", "10"), (900, "23998", "5"))):
        evs += [child("10:00:00", f"S{i}", "F", "SELL", q, "24005", sym="NIFTY16AUGFUT"), *sent("10:00:00", f"S{i}"),
                fill("10:00:01", f"S{i}", "SELL", q, px, sym="NIFTY16AUGFUT", charges={"brokerage": fee})]
    evs.append(ev("10:00:01", "slice.completed", client_order_id="F", status="COMPLETE"))
    [r] = implementation_shortfall(evs).to_dict("records")
    # s = -1 (a sell): delay = -(24005 - 24010) x 4500 = 22,500 (the price fell before the order came)
    # trading = -[(-4) x 1800 + (-5) x 1800 + (-7) x 900] = 22,500; opportunity 0; fees 25
    # total 45,025 on 24,010 x 4,500 = 108,045,000 -> 4.1672 bps; average fill 108,000,000 / 4,500 = 24,000
    assert (r["children"], r["status"], r["filled_qty"], r["unfilled_qty"]) == (3, "COMPLETE", 4500, 0)
    assert r["avg_fill_price"] == D(24000)
    assert (r["delay_cost"], r["trading_cost"], r["opportunity_cost"], r["fees"], r["total"]) == \
        (D(22500), D(22500), D(0), D(25), D(45025))
    assert r["total_bps"] == pytest.approx(45025 / 108045000 * 1e4)


def test_a_real_twap_parent_is_one_row_with_its_childrens_fills(tmp_path):
    """The TWAP engine on a paper session: ten children of 100; the roll-up is the parent, its fills
    are the children's, measured against the parent's arrival."""
    from tests.unit.execution.algo_helpers import EKEY, bar, open_session
    from tradekit.model import OrderRequest

    s = open_session(tmp_path)
    try:
        bar(s, EKEY, 0, 1500)
        p = s.submit(OrderRequest("NSE", "INFY", "BUY", 1000, "MARKET", "MIS"), strategy="algo",
                     meta={"algo": {"kind": "twap", "start": "09:20", "end": "09:30"}})
        for m in range(1, 20):
            bar(s, EKEY, m, 1500 + m)  # a rising market: the later children pay more
        evs = list(s.journal.events())
    finally:
        s.close()
    [r] = implementation_shortfall(evs).to_dict("records")
    fills = [e.payload for e in evs if e.type == "fill"]
    assert r["client_order_id"] == p.client_order_id and r["children"] == 10 and r["filled_qty"] == 1000 == \
        sum(f["quantity"] for f in fills)
    arrival = r["arrival_price"]
    assert r["trading_cost"] == sum((D(f["price"]) - arrival) * f["quantity"] for f in fills) > 0
    assert r["total"] == r["delay_cost"] + r["trading_cost"] + r["opportunity_cost"] + r["fees"]
