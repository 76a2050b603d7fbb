"""A real NSE day replayed end to end through the paper session; the journal rebuilds it exactly."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from tradekit.config import load_config
from tradekit.data import load_bars, sample_path
from tradekit.execution.replay import run_replay
from tradekit.model import OrderStatus
from tradekit.session import Session
from tradekit.store import Book, verify
from tradekit.strategies import SmaCrossover


def replay(tmp_path, symbols=("RELIANCE",), day="2016-08-17", **over):
    cfg = load_config(overrides={"execution": {"charges_as_of": "2026-11-20"}, **over})
    data = {f"NSE:{s}": load_bars(sample_path(s), start=day, end=day) for s in symbols}
    first = min(df.index[0] for df in data.values()).to_pydatetime()
    s = Session.for_replay(cfg, tmp_path / "j.db", first)
    r = run_replay(s, data, strategies=[SmaCrossover(10, 30, 20)])
    return s, r


def test_a_real_day_replays_with_fills_on_later_bars_and_a_flat_close(tmp_path):
    s, r = replay(tmp_path)
    assert r.bars == 375 and r.days and r.fills > 5
    fills = [e for e in s.journal.events(types=("fill",))]
    sig_times = {e.payload["signal_id"]: e.ts for e in s.journal.events(types=("signal.received",))}
    assert fills and all(Decimal(f.payload["price"]) > 0 for f in fills)
    by_cid = {o.client_order_id: o for o in s.book.orders.values()}
    for f in fills:  # every fill strictly after the signal that caused it (next bar + latency)
        o = by_cid[f.payload["client_order_id"]]
        if o.signal_id:
            assert f.payload["fill_time"] > sig_times[o.signal_id]
    # MIS is squared off by tradekit before the broker's cut-off: flat at the close
    assert s.book.net_quantity("NSE", "RELIANCE") == 0
    sq = [o for o in s.book.orders.values() if o.source == "square_off"]
    assert all(o.created_at.strftime("%H:%M") == "15:15" for o in sq)
    assert s.book.charges_total.total > 0 and s.book.charges_total.stamp_duty > 0


def test_journal_rebuild_equals_live_state_after_a_multi_symbol_replay(tmp_path):
    s, r = replay(tmp_path, symbols=("RELIANCE", "INFY", "TCS"))
    assert verify(s.journal).ok
    assert Book.rebuild(s.journal.events()).snapshot() == s.book.snapshot()
    assert Counter(str(p.tradingsymbol) for p in s.book.positions.values()).keys() == {"RELIANCE", "INFY", "TCS"}


def test_replay_is_reproducible(tmp_path):
    over = {"paper": {"slippage": {"model": "fixed_bps", "bps": 2, "noise_bps": 5}, "seed": 11}}
    a, _ = replay(tmp_path / "a", **over)
    b, _ = replay(tmp_path / "b", **over)
    pick = lambda s: [(e.payload["side"], e.payload["quantity"], e.payload["price"]) for e in s.journal.events(types=("fill",))]
    assert pick(a) == pick(b)


def test_broker_ledger_reconciles_with_the_book(tmp_path):
    s, r = replay(tmp_path, symbols=("RELIANCE", "SBIN"))
    assert s.broker.cash == s.book.cash  # same fills, same contract-note charges, on both sides
    assert {(p.tradingsymbol, p.quantity) for p in s.broker.positions() if p.quantity} == \
           {(p.tradingsymbol, p.quantity) for p in s.book.positions.values() if p.quantity}
    assert all(o.status in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.DENIED)
               for o in s.book.orders.values())


def test_daily_bars_replay_with_cnc_positions_carried_and_settled(tmp_path):
    cfg = load_config(overrides={"execution": {"square_off_time": None}})
    bars = load_bars(sample_path("RELIANCE", "1d"), start="2023-01-01", end="2023-12-31")
    s = Session.for_replay(cfg, tmp_path / "j.db", bars.index[0].to_pydatetime())
    from datetime import timedelta

    r = run_replay(s, {"NSE:RELIANCE": bars}, strategies=[SmaCrossover(5, 20, 10, product="CNC", bar=timedelta(days=1))])
    assert r.bars == len(bars) and len(r.days) == len(bars) and r.fills > 4
    assert all(f.payload["product"] == "CNC" for f in s.journal.events(types=("fill",)))
    assert s.book.charges_total.dp > 0  # delivery sells pay DP
    assert Book.rebuild(s.journal.events()).snapshot() == s.book.snapshot()


def test_a_replayed_crash_day_trips_the_breaker_and_flattens_the_paper_book(tmp_path):
    """2024-06-04 (election results; NIFTY −5.9 %, PSU banks −15 %) through a real session and paper broker."""
    from datetime import datetime, time as dtime

    from tradekit.clock import IST
    from tradekit.model import Signal

    names = ["SBIN", "NTPC", "POWERGRID", "LT", "ICICIBANK", "AXISBANK", "RELIANCE", "TATASTEEL"]
    data = {f"NSE:{n}": load_bars(sample_path(n, "1d"), start="2024-05-29", end="2024-06-07") for n in names}
    cfg = load_config()
    s = Session.for_replay(cfg, tmp_path / "j.db", data["NSE:SBIN"].index[0].to_pydatetime())
    buy_at = datetime.combine(data["NSE:SBIN"].index[1].date(), dtime(23, 59), IST)  # after 2024-05-30's close
    signals = [Signal(f"buy-{n}", "positional", "NSE", n, "BUY", int(110_000 // float(data[f"NSE:{n}"]["close"].iloc[1])),
                      product="CNC", signal_time=buy_at) for n in names]
    run_replay(s, data, signals=signals)
    breaches = [e.payload for e in s.journal.events(types=("risk.limit_breach",))]
    states = [(e.ts[:10], e.payload["state"]) for e in s.journal.events(types=("risk.trading_state",))]
    assert breaches and breaches[0]["trigger"] in ("daily_loss", "drawdown")
    assert ("2024-06-04", "HALTED") in states  # tripped by the crash day's close
    flatten = [o for o in s.book.orders.values() if o.source == "breaker"]
    assert len(flatten) == len(names) and all(o.status.value == "FILLED" for o in flatten)
    assert all(p.quantity == 0 for p in s.book.positions.values())  # flattened at the next open
    assert min(o.updated_at for o in flatten).date().isoformat() == "2024-06-05"
