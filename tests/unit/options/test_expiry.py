"""Expiry dates from the master and the calendar, and the expiry rules: a rollover in a replay on
the expiry day (journaled, charged), square-off, the F&O ban on the new leg, physical settlement."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from tradekit.clock import IST
from tradekit.config import load_config
from tradekit.errors import ValidationError
from tradekit.market.instruments import InstrumentStore
from tradekit.options.expiry import (ExpirySettings, expiry_kinds, is_physically_settled, master_expiries,
                                     next_contract, scheduled_expiries)
from tradekit.store.events import EventType as E


@pytest.fixture(scope="module")
def master():
    return InstrumentStore.bundled(include_nfo_sample=True)


def test_master_dates_agree_with_the_exchange_rule(master):
    fut = master_expiries("NIFTY", master=master, kind="futures")
    assert fut == [date(2026, 8, 25), date(2026, 9, 29), date(2026, 10, 27)]
    # NSE's rule on the calendar gives the same monthly dates: last Tuesday of the month
    assert scheduled_expiries("NIFTY", date(2026, 8, 1), date(2026, 10, 31), kind="monthly") == fut
    weekly = scheduled_expiries("NIFTY", date(2026, 8, 1), date(2026, 8, 31), kind="weekly")
    assert date(2026, 8, 18) in weekly and date(2026, 8, 25) not in weekly
    assert master_expiries("NIFTY", master=master) == [date(2026, 8, 18)]   # the sample's options
    kinds = expiry_kinds([date(2026, 8, 18), date(2026, 8, 25), date(2026, 9, 1)])
    assert kinds == {date(2026, 8, 18): "weekly", date(2026, 8, 25): "monthly", date(2026, 9, 1): "monthly"}
    # only NIFTY has weeklies on NSE; a stock's monthly only
    assert scheduled_expiries("RELIANCE", date(2026, 8, 1), date(2026, 8, 31)) == [date(2026, 8, 25)]
    with pytest.raises(ValidationError, match="master"):
        scheduled_expiries("NIFTY", date(2024, 1, 1), date(2024, 12, 31))


def test_a_holiday_moves_the_expiry_to_the_previous_trading_day():
    from tradekit.market.calendar import get_calendar

    cal = get_calendar("NSE")
    # every Tuesday of 2026 that is an F&O holiday: its expiry moves to the trading day before
    tuesdays = [d for d in (date(2026, 1, 6) + timedelta(weeks=k) for k in range(52)) if not cal.is_trading_day(d, "fno")]
    assert tuesdays, "2026 has Tuesday holidays"
    got = scheduled_expiries("NIFTY", date(2026, 1, 1), date(2026, 12, 31), calendar=cal, kind="weekly")
    for d in tuesdays:
        assert d not in got
        prev = cal.previous_trading_day(d, "fno")
        if prev.month == d.month and any(x > d and x.month == d.month for x in got):
            assert prev in got, d


def test_next_contract_and_physical_settlement(master):
    fut = master.get("NFO:NIFTY26AUGFUT")
    assert next_contract(fut, master).tradingsymbol == "NIFTY26SEPFUT"
    assert next_contract(master.get("NFO:NIFTY26OCTFUT"), master) is None
    assert not is_physically_settled(fut) and is_physically_settled(master.get("NFO:RELIANCE26AUGFUT"))


# -- a replay across the expiry day ---------------------------------------------------------------

def _bars(day: date, base: float, n: int = 70) -> pd.DataFrame:
    """The day's last ``n`` minutes up to the 15:40 F&O close (small data: the rules act near the close)."""
    start = datetime(day.year, day.month, day.day, 15, 40, tzinfo=IST) - timedelta(minutes=n)
    idx = pd.date_range(start, periods=n, freq="1min").as_unit("ns")
    rng = np.random.default_rng(day.toordinal())
    close = base * np.exp(np.cumsum(rng.normal(0, 0.0004, n)))
    close = np.round(close / 0.1) * 0.1
    op = np.concatenate([[base], close[:-1]])
    return pd.DataFrame({"open": op, "high": np.maximum(op, close) + 0.5, "low": np.minimum(op, close) - 0.5,
                         "close": close, "volume": np.full(n, 50_000)}, index=idx)


def _session(tmp_path, master, rules: dict, banned: list[str] | None = None):
    from tradekit.session import Session

    over = {"account": {"capital": 50_000_000}, "expiry": rules, "approval": {"mode": "auto"}}
    if banned:
        over["risk"] = {"compliance": {"fno_ban": {"2026-08-25": banned}}}
    cfg = load_config(overrides=over)
    return Session.for_replay(cfg, tmp_path / "j.db", datetime(2026, 8, 24, 9, 0, tzinfo=IST), instruments=master)


def _open(session, symbol: str, qty: int, strategy: str):
    from tradekit.model import OrderRequest

    session.submit(OrderRequest("NFO", symbol, "BUY", qty, "MARKET", "NRML"), strategy=strategy)


def test_rollover_on_expiry_day_in_a_replay(tmp_path, master):
    from tradekit.execution.replay import run_replay

    s = _session(tmp_path, master, {"strategies": {"carry": {"action": "rollover", "minutes_before_close": 30}}})
    data = {}
    for sym, base in (("NIFTY26AUGFUT", 24510.0), ("NIFTY26SEPFUT", 24640.0)):
        data[f"NFO:{sym}"] = pd.concat([_bars(date(2026, 8, 24), base), _bars(date(2026, 8, 25), base + 20)])
    opened = []

    def pace(ns):
        if not opened:
            _open(s, "NIFTY26AUGFUT", 130, "carry")
            opened.append(1)
        return True

    run_replay(s, data, pace=pace, square_off=False)
    pos = {p.tradingsymbol: p.quantity for p in s.book.positions.values() if p.strategy == "carry"}
    assert pos.get("NIFTY26AUGFUT", 0) == 0 and pos["NIFTY26SEPFUT"] == 130
    notes = [e for e in s.journal.events(types=(E.NOTE,)) if e.payload.get("kind") == "expiry"]
    assert len(notes) == 1 and notes[0].payload["action"] == "rollover"
    assert notes[0].payload["to"] == "NFO:NIFTY26SEPFUT"
    # rolled at 15:10 on the expiry day (30 minutes before the F&O close, 15:40 since 2026-08-03), both legs
    # filled with F&O charges
    fills = [e for e in s.journal.events(types=(E.FILL,)) if e.ts.startswith("2026-08-25")]
    assert {(f.payload["tradingsymbol"], f.payload["side"]) for f in fills} == {("NIFTY26AUGFUT", "SELL"),
                                                                              ("NIFTY26SEPFUT", "BUY")}
    assert all("2026-08-25T15:10" <= f.ts < "2026-08-25T15:12" for f in fills)
    charged = [p for p in s.book.positions.values() if p.strategy == "carry"]
    assert all(p.charges.total > 0 for p in charged)
    assert notes[0].seq < min(f.seq for f in fills)   # journaled before its orders
    s.close()
    # the desk reads the rolled book's Greeks from the journal: the September future, delta 1 per unit
    import tradekit

    desk = tradekit.connect(journal=tmp_path / "j.db")
    pos, by_strategy, account = desk.greeks(now=datetime(2026, 8, 25, 15, 45, tzinfo=IST))
    assert list(pos.instrument) == ["NFO:NIFTY26SEPFUT"]
    last = float(s.book.positions[next(k for k, p in s.book.positions.items() if p.tradingsymbol == "NIFTY26SEPFUT")].last_price)
    assert account.loc["account", "delta"] == pytest.approx(130 * last)


def test_square_off_ban_and_physical_settlement(tmp_path, master):
    s = _session(tmp_path, master, {"default": {"action": "square_off", "minutes_before_close": 10},
                                    "strategies": {"roll": {"action": "rollover"}, "keep": {"action": "none"}}},
                 banned=["RELIANCE"])
    from tradekit.execution.replay import run_replay

    data = {f"NFO:{sym}": pd.concat([_bars(date(2026, 8, 24), base), _bars(date(2026, 8, 25), base)]) for sym, base in
            (("RELIANCE26AUGFUT", 1400.0), ("RELIANCE26SEPFUT", 1408.0), ("NIFTY26AUGFUT", 24500.0))}
    opened = []

    def pace(ns):
        if not opened:
            _open(s, "RELIANCE26AUGFUT", 500, "roll")   # the day before; RELIANCE is banned on the expiry day
            _open(s, "NIFTY26AUGFUT", 65, "sq")          # the default: square-off
            _open(s, "RELIANCE26AUGFUT", 500, "keep")   # left to expire: a physical-settlement note
            opened.append(1)
        return True

    run_replay(s, data, pace=pace, square_off=False)
    pos = {(p.strategy, p.tradingsymbol): p.quantity for p in s.book.positions.values()}
    assert pos[("roll", "RELIANCE26AUGFUT")] == 0 and pos.get(("roll", "RELIANCE26SEPFUT"), 0) == 0
    assert pos[("sq", "NIFTY26AUGFUT")] == 0 and pos[("keep", "RELIANCE26AUGFUT")] == 500
    notes = {(e.payload["strategy"], e.payload["action"]): e.payload for e in s.journal.events(types=(E.NOTE,))
             if str(e.payload.get("kind", "")).startswith("expiry")}
    assert "F&O ban" in notes[("roll", "banned")]["text"]
    assert ("sq", "square_off") in notes
    assert "physically settled" in notes[("keep", "physical_settlement")]["text"]
    s.close()


def test_expiry_rules_are_checked_by_name():
    with pytest.raises(Exception, match="minutes_before_close"):
        ExpirySettings.model_validate({"default": {"minutes_before_close": 0}})
    with pytest.raises(Exception, match="actoin"):
        ExpirySettings.model_validate({"default": {"actoin": "rollover"}})


def test_a_position_opened_late_on_the_expiry_day_is_still_squared_off(tmp_path, master):
    from tradekit.execution.replay import run_replay

    s = _session(tmp_path, master, {"default": {"action": "square_off", "minutes_before_close": 20}})
    data = {"NFO:NIFTY26AUGFUT": _bars(date(2026, 8, 25), 24500.0, n=60)}
    state = {"n": 0}

    def pace(ns):
        state["n"] += 1
        if state["n"] == 35:   # 15:15, after the day's first look
            _open(s, "NIFTY26AUGFUT", 65, "late")
        return True

    run_replay(s, data, pace=pace, square_off=False)
    assert {p.tradingsymbol: p.quantity for p in s.book.positions.values()}["NIFTY26AUGFUT"] == 0
    assert [a.kind for a in s.expiry.actions] == ["square_off"]
    s.close()
