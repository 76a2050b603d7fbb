"""TWAP, VWAP and POV parents: their children's sizes and times, the limit bound, kill, restart."""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from tradekit.execution.algos.volume_curve import load_curve, minute_of_session
from tradekit.model import OrderRequest, OrderStatus as S
from tradekit.store import EventType as E

from .algo_helpers import EKEY, T0, bar, open_session


def submit_algo(s, spec, qty=1000, side="BUY", strategy="algo"):
    return s.submit(OrderRequest("NSE", "INFY", side, qty, "MARKET", "MIS"), strategy=strategy, meta={"algo": spec})


def kids_of(s, parent):
    """(created at, order) of each child, in order."""
    return [(e.time, s.book.orders[e.payload["client_order_id"]]) for e in s.journal.events(types=(E.ORDER_CREATED,))
            if e.payload.get("parent_id") == parent.client_order_id]


def payloads(s, type_):
    return [e.payload for e in s.journal.events(types=(type_,))]


def run(s, first, last, price=1500, volume=100_000):
    for m in range(first, last):
        bar(s, EKEY, m, price, volume)


def test_twap_sends_equal_children_at_equal_intervals_and_fills_the_parent(tmp_path):
    s = open_session(tmp_path)
    bar(s, EKEY, 0, 1500)
    p = submit_algo(s, {"kind": "twap", "start": "09:20", "end": "09:30"})
    assert p.status is S.SLICED and kids_of(s, p) == []  # nothing before the start
    run(s, 1, 20)
    kids = kids_of(s, p)
    assert [o.request.quantity for _t, o in kids] == [100] * 10
    assert [t.strftime("%H:%M") for t, _o in kids] == [f"09:{m}" for m in range(20, 30)]
    assert all(o.request.order_type.value == "MARKET" and o.status is S.FILLED for _t, o in kids)
    done = payloads(s, E.ALGO_COMPLETED)
    assert done[0]["status"] == "COMPLETE" and done[0]["filled_quantity"] == 1000 and done[0]["children"] == 10
    assert s.book.position("algo", "NSE", "INFY", "MIS").quantity == 1000


def test_vwap_follows_the_nse_volume_curve_minute_by_minute(tmp_path):
    s = open_session(tmp_path)
    bar(s, EKEY, 0, 1500)
    p = submit_algo(s, {"kind": "vwap", "start": "09:15", "end": "09:45"}, qty=3000)
    run(s, 1, 40)
    kids = kids_of(s, p)
    curve = load_curve()
    w = curve[0:30]
    cum = [sum(w[: i + 1]) / sum(w) for i in range(30)]
    expect = [int(3000 * c) for c in cum]
    expect[-1] = 3000
    # a child sent at the start of minute m brings the total to the curve's share up to and including m;
    # the parent arrived at 09:16, so its first child carries the shares of 09:15 and 09:16
    got = {}
    for t, o in kids:
        m = minute_of_session(t)
        got[m] = got.get(m, 0) + o.request.quantity
    sent, acc = [], 0
    for m in range(30):
        acc += got.get(m, 0)
        sent.append(acc)
    assert sent[1:] == expect[1:] and sum(o.request.quantity for _t, o in kids) == 3000
    assert max(o.request.quantity for _t, o in kids[1:]) > 1.5 * min(o.request.quantity for _t, o in kids[1:])  # not flat


def test_pov_takes_its_share_of_the_volume_traded_since_it_began(tmp_path):
    s = open_session(tmp_path)
    bar(s, EKEY, 0, 1500)
    p = submit_algo(s, {"kind": "pov", "start": "09:20", "end": "10:00", "participation": 0.1})
    run(s, 1, 12, volume=2000)
    kids = kids_of(s, p)
    base = payloads(s, E.ALGO_VOLUME_BASE)[0]["volume"]
    # each minute after the base: 10 % of 2,000 traded = 200
    assert [o.request.quantity for _t, o in kids] == [200] * 5
    assert sum(o.filled_quantity for _t, o in kids) == 1000 and base > 0
    assert payloads(s, E.ALGO_COMPLETED)[0]["status"] == "COMPLETE"


def test_children_never_cross_the_limit_and_the_rest_is_cancelled_at_the_end_time(tmp_path):
    s = open_session(tmp_path)
    bar(s, EKEY, 0, 1500)
    p = submit_algo(s, {"kind": "twap", "start": "09:16", "end": "09:21", "limit_price": "1495"})
    run(s, 1, 4, price=1500)  # above the bound: the children rest
    run(s, 4, 8, price=1490)  # through it: they fill at the limit or better
    kids = [o for _t, o in kids_of(s, p)]
    assert all(o.request.order_type.value == "LIMIT" and o.request.price == Decimal("1495") for o in kids)
    assert all(o.average_price <= Decimal("1495") for o in kids if o.filled_quantity)
    done = payloads(s, E.ALGO_COMPLETED)[0]
    assert done["status"] in ("COMPLETE", "EXPIRED") and done["filled_quantity"] <= 1000


def test_a_bad_algo_spec_is_refused_before_anything_is_journaled(tmp_path):
    import pytest

    from tradekit.errors import ValidationError

    s = open_session(tmp_path)
    bar(s, EKEY, 0, 1500)
    n = s.journal.count()
    with pytest.raises(ValidationError) as e:
        submit_algo(s, {"kind": "pov"})
    assert e.value.field == "algo.participation" and s.journal.count() == n


def test_the_kill_switch_cancels_the_algo_and_its_open_children(tmp_path):
    s = open_session(tmp_path)
    bar(s, EKEY, 0, 1500)
    p = submit_algo(s, {"kind": "twap", "start": "09:16", "end": "09:26", "limit_price": "1480"})
    run(s, 1, 4)
    resting = [o for _t, o in kids_of(s, p)]
    assert len(resting) == 4 and all(o.status is S.OPEN for o in resting)  # 09:16 .. 09:19
    s.kill("test kill", flatten=False)
    assert all(o.status is S.CANCELLED for o in resting)
    assert payloads(s, E.ALGO_CANCELLED)[0]["source"] == "kill_switch"
    run(s, 4, 12)
    assert len(kids_of(s, p)) == 4


def test_an_algo_continues_after_a_restart_without_resending(tmp_path):
    s = open_session(tmp_path)
    bar(s, EKEY, 0, 1500)
    p = submit_algo(s, {"kind": "twap", "start": "09:16", "end": "09:26"})
    run(s, 1, 4)
    bar(s, EKEY, 4, 1500, tick=False)  # the 4th child fills; the process dies before its next step (09:20)
    assert len(kids_of(s, p)) == 4 and all(o.status is S.FILLED for _t, o in kids_of(s, p))
    clock = s.clock
    s.close()
    s2 = open_session(tmp_path, clock)
    assert s2.algos.parents[p.client_order_id].active
    s2.service()  # the session's first cycle: the 09:20 child
    run(s2, 5, 14)
    kids = kids_of(s2, p)
    assert [o.request.quantity for _t, o in kids] == [100] * 10
    assert [t.strftime("%H:%M") for t, _o in kids] == [f"09:{m}" for m in range(16, 26)]
    assert payloads(s2, E.ALGO_COMPLETED)[0]["filled_quantity"] == 1000


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["twap", "vwap", "pov"]), qty=st.integers(1, 5000), minutes=st.integers(1, 20),
       interval=st.sampled_from([60, 120, 300]), bound=st.sampled_from([None, "1499", "1502"]),
       side=st.sampled_from(["BUY", "SELL"]))
def test_children_sum_to_the_parent_never_exceed_it_and_respect_the_bound(kind, qty, minutes, interval, bound, side):
    # (intervals of at least a bar: in paper the schedule steps once per bar, so finer intervals coalesce)
    tmp = Path(tempfile.mkdtemp())
    try:
        s = open_session(tmp)
        bar(s, EKEY, 0, 1500)
        spec = {"kind": kind, "start": "09:16", "end": (T0 + timedelta(minutes=1 + minutes)).strftime("%H:%M")}
        spec.update({"twap": {"interval_seconds": interval}, "pov": {"participation": 0.25}}.get(kind, {}))
        if bound is not None:
            spec["limit_price"] = bound
        p = submit_algo(s, spec, qty=qty, side=side)
        for m in range(1, minutes + 4):
            bar(s, EKEY, m, 1500 + (m % 3) - 1, volume=3000)
            kids = [o for _t, o in kids_of(s, p)]
            assert sum(o.request.quantity for o in kids) <= qty
            assert sum(o.filled_quantity for o in kids) <= qty
        kids = [o for _t, o in kids_of(s, p)]
        for o in kids:
            if bound is not None:
                assert o.request.price == Decimal(bound)
                if o.filled_quantity:
                    assert (o.average_price <= Decimal(bound)) if side == "BUY" else (o.average_price >= Decimal(bound))
        done = payloads(s, E.ALGO_COMPLETED)
        assert len(done) == 1
        if kind != "pov" and (bound is None or (side == "BUY" and bound == "1502")):
            assert done[0]["status"] == "COMPLETE" and sum(o.filled_quantity for o in kids) == qty
        s.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_bar_replay_works_algo_parents_on_its_own_clock_and_volume(tmp_path):
    import json

    from tradekit.data import load_bars, sample_path
    from tradekit.execution.replay import run_replay
    from tradekit.session import Session
    from tradekit.signals.schema import parse_batch

    from .algo_helpers import config

    bars = load_bars(sample_path("RELIANCE", "1min"))
    day = bars[bars.index.date == bars.index[0].date()]
    cfg = config(tmp_path, execution={"charges_as_of": "2026-11-20", "square_off_time": None},
                 paper={"rms_square_off": False})
    s = Session.for_replay(cfg, tmp_path / "r.db", day.index[0].to_pydatetime())
    t = day.index[44].to_pydatetime()  # 09:59
    recs = [{"idempotency_key": k, "strategy": k, "signal_time": t.isoformat(), "symbol": "RELIANCE", "side": "BUY",
             "quantity": 3000, "product": "MIS", "algo": a}
            for k, a in (("twap", {"kind": "twap", "start": "10:00", "end": "10:30", "interval_seconds": 300}),
                         ("pov", {"kind": "pov", "start": "10:00", "end": "10:30", "participation": 0.05}))]
    res = parse_batch(json.dumps(recs))
    assert res.ok, res.errors
    run_replay(s, {"NSE:RELIANCE": day}, signals=res.accepted, square_off=False)
    parents = {e.payload["strategy"]: e.payload["client_order_id"] for e in s.journal.events(types=(E.ALGO_STARTED,))}
    kids = {k: [(e.time, e.payload["request"]["quantity"]) for e in s.journal.events(types=(E.ORDER_CREATED,))
                if e.payload.get("parent_id") == pid] for k, pid in parents.items()}
    assert [q for _t, q in kids["twap"]] == [500] * 6
    assert [t.strftime("%H:%M") for t, _q in kids["twap"]] == ["10:00", "10:05", "10:10", "10:15", "10:20", "10:25"]
    traded = int(day.between_time("10:00", "10:29")["volume"].sum())
    pov_sent = sum(q for _t, q in kids["pov"])
    assert 0 < pov_sent <= min(3000, 0.05 * traded + 1)
    done = {p["client_order_id"]: p for p in payloads(s, E.ALGO_COMPLETED)}
    assert done[parents["twap"]]["filled_quantity"] == 3000
