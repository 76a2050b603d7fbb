"""Each pre-trade check at its allow edge and its deny edge, with a message a trader reads."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from tradekit.clock import ist
from tradekit.model import Instrument
from tradekit.model.enums import Exchange, InstrumentType, Segment
from tradekit.risk import PreTradeGate, RiskConfig, TradingState
from tradekit.risk.config import load_lists
from tradekit.risk.var import VarModel

from .helpers import NOW, BookBuilder, FakeAccount, ctx, equity, future

# limits that stay out of the way when a test looks at one check
LOOSE = {
    "money": {"max_order_value_pct": None, "max_order_quantity": None},
    "exposure": {"max_concentration_pct": None, "max_gross_exposure_pct": None, "max_net_exposure_pct": None,
                 "max_sector_pct": None},
    "var": {"limit_pct": None},
    "loss": {"adverse_move_pct": None},  # the daily-loss worst case has its own tests
}


def gate(cfg: dict | None = None, **kw) -> PreTradeGate:
    c = RiskConfig.model_validate(cfg or {})
    return PreTradeGate(c, lists=load_lists(c), **kw)


def merge(a: dict, b: dict) -> dict:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in a.items()}
    for k, v in b.items():
        out[k] = {**out.get(k, {}), **v} if isinstance(v, dict) else v
    return out


def failed(d, code):
    r = d.check(code)
    assert r is not None, f"{code} did not run: {[c.code for c in d.checks]}"
    return not r.ok


# -- state ---------------------------------------------------------------------------------------

def test_state_active_allows_reducing_allows_only_reducing_halted_only_risk_layer():
    b = BookBuilder()
    b.fill("RELIANCE", "BUY", 100, "2000")
    g = gate()
    entry = lambda: b.order("RELIANCE", "BUY", 10, "LIMIT", price="2000")  # noqa: E731
    exit_ = lambda: b.order("RELIANCE", "SELL", 10, "LIMIT", price="2000")  # noqa: E731
    assert g.check(entry(), ctx(b, 2000)).allowed

    g.set_state(TradingState.REDUCING, cause="test", by="t")
    d = g.check(entry(), ctx(b, 2000))
    assert not d.allowed and d.codes == ["STATE"] and "REDUCING" in d.reason
    d = g.check(exit_(), ctx(b, 2000))
    assert d.allowed and d.reduce_only

    g.set_state(TradingState.HALTED, cause="test", by="t")
    assert not g.check(exit_(), ctx(b, 2000)).allowed  # a strategy's own exit waits
    for src in ("kill_switch", "breaker", "square_off", "flatten"):
        d = g.check(exit_(), ctx(b, 2000, source=src))
        assert d.allowed and d.reduce_only and d.state == "HALTED"
    d = g.check(entry(), ctx(b, 2000, source="kill_switch"))
    assert not d.allowed and "HALTED" in d.reason


def test_reduce_only_detection_counts_working_orders_and_checks_a_false_claim_as_an_entry():
    b = BookBuilder()
    b.fill("RELIANCE", "BUY", 100, "2000")
    g = gate()
    assert g.check(b.order("RELIANCE", "SELL", 100, "LIMIT", price="2000"), ctx(b, 2000)).reduce_only
    assert not g.check(b.order("RELIANCE", "SELL", 101, "LIMIT", price="2000"), ctx(b, 2000)).reduce_only  # flips
    b.order("RELIANCE", "SELL", 60, "LIMIT", price="2010", status="OPEN")
    assert g.check(b.order("RELIANCE", "SELL", 40, "LIMIT", price="2000"), ctx(b, 2000)).reduce_only
    assert not g.check(b.order("RELIANCE", "SELL", 41, "LIMIT", price="2000"), ctx(b, 2000)).reduce_only
    g.set_state("REDUCING", cause="test", by="t")
    d = g.check(b.order("RELIANCE", "BUY", 5, "LIMIT", price="2000"), ctx(b, 2000, reduce_only=True))
    assert not d.allowed and d.codes == ["STATE"] and "checked as an entry" in d.check("REDUCE_ONLY").message


def test_flatten_of_one_strategy_counts_as_reducing_for_risk_layer_sources_only():
    b = BookBuilder()
    b.fill("SBIN", "BUY", 100, "800", strategy="a")
    b.fill("SBIN", "SELL", 300, "800", strategy="b")  # net -200
    g = gate()
    o = b.order("SBIN", "SELL", 100, "MARKET", strategy="a")
    assert g.check(o, ctx(b, 800, source="kill_switch")).reduce_only
    assert not g.check(o, ctx(b, 800, source="signal")).reduce_only


# -- instrument rules ------------------------------------------------------------------------------

def test_tick_allows_a_multiple_and_denies_a_fraction():
    b = BookBuilder()
    g = gate()
    inst = equity("RELIANCE", tick="0.10")
    assert g.check(b.order("RELIANCE", "BUY", 1, "LIMIT", price="2450.10"), ctx(b, 2450, instrument=inst)).allowed
    d = g.check(b.order("RELIANCE", "BUY", 1, "LIMIT", price="2450.05"), ctx(b, 2450, instrument=inst))
    assert d.codes == ["TICK"] and "2450.05" in d.reason and "0.10" in d.reason
    d = g.check(b.order("RELIANCE", "SELL", 1, "SL", price="2440.00", trigger_price="2440.05"), ctx(b, 2450, instrument=inst))
    assert d.codes == ["TICK"]


def test_lot_allows_multiples_and_denies_others():
    b = BookBuilder()
    g = gate(LOOSE)
    inst = future()
    ok = g.check(b.order("NIFTY26DECFUT", "BUY", 130, "LIMIT", price="24500", exchange="NFO", product="NRML"),
                 ctx(b, 24500, instrument=inst))
    assert ok.allowed
    d = g.check(b.order("NIFTY26DECFUT", "BUY", 100, "LIMIT", price="24500", exchange="NFO", product="NRML"),
                ctx(b, 24500, instrument=inst))
    assert d.codes == ["LOT"] and "lot size 65" in d.reason


def test_band_is_inclusive_and_refuses_outside():
    b = BookBuilder()
    g = gate()
    inst = equity("INFY", tick="0.05")
    band = {"band": (Decimal("1250.70"), Decimal("1528.60"))}
    assert g.check(b.order("INFY", "BUY", 1, "LIMIT", price="1528.60"), ctx(b, 1500, instrument=inst, extra=band)).allowed
    d = g.check(b.order("INFY", "BUY", 1, "LIMIT", price="1528.65"), ctx(b, 1500, instrument=inst, extra=band))
    assert d.codes == ["BAND"] and "1250.70-1528.60" in d.reason


def test_freeze_slices_above_the_limit_or_denies_when_configured():
    b = BookBuilder(capital=100_000_000)
    inst = future(freeze=1800)
    g = gate(LOOSE)
    d = g.check(b.order("NIFTY26DECFUT", "BUY", 1755, "LIMIT", price="24500", exchange="NFO", product="NRML"),
                ctx(b, 24500, instrument=inst))
    assert d.allowed and d.needs_slicing is None
    d = g.check(b.order("NIFTY26DECFUT", "BUY", 1820, "LIMIT", price="24500", exchange="NFO", product="NRML"),
                ctx(b, 24500, instrument=inst))
    assert d.allowed and d.needs_slicing == 1755 and "2 slices" in d.check("FREEZE").message
    g = gate(merge(LOOSE, {"instrument": {"freeze": "deny"}}))
    d = g.check(b.order("NIFTY26DECFUT", "BUY", 1820, "LIMIT", price="24500", exchange="NFO", product="NRML"),
                ctx(b, 24500, instrument=inst))
    assert not d.allowed and d.codes == ["FREEZE"] and d.needs_slicing is None


@pytest.mark.parametrize("mp, ok", [(Decimal("-1"), True), (Decimal("2"), True), (None, False), (Decimal("0"), False)])
def test_market_orders_need_market_protection(mp, ok):
    b = BookBuilder()
    g = gate()
    o = b.order("SBIN", "BUY", 1, "MARKET")
    o.request = o.request.with_changes(market_protection=mp)
    d = g.check(o, ctx(b, 800))
    assert d.allowed is ok
    if not ok:
        assert d.codes == ["MARKET_PROTECTION"] and "market protection" in d.reason


# -- product rules ---------------------------------------------------------------------------------

def test_cnc_sell_only_against_holdings_including_working_sells():
    b = BookBuilder()
    b.fill("ITC", "BUY", 40, "400", product="CNC")
    g = gate()
    assert g.check(b.order("ITC", "SELL", 40, "LIMIT", price="400", product="CNC"), ctx(b, 400)).allowed
    d = g.check(b.order("ITC", "SELL", 41, "LIMIT", price="400", product="CNC"), ctx(b, 400))
    assert d.codes == ["CNC_HOLDINGS"] and "only 40 held" in d.reason
    assert g.check(b.order("ITC", "SELL", 41, "LIMIT", price="400", product="CNC"),
                   ctx(b, 400, extra={"holdings": {"ITC": 100}})).allowed
    b.order("ITC", "SELL", 30, "LIMIT", price="410", product="CNC", status="OPEN")
    d = g.check(b.order("ITC", "SELL", 11, "LIMIT", price="400", product="CNC"), ctx(b, 400))
    assert d.codes == ["CNC_HOLDINGS"] and "30 already in open sell orders" in d.reason


def test_mis_entries_refused_from_the_cutoff_but_exits_pass():
    b = BookBuilder()
    b.fill("SBIN", "BUY", 10, "800")
    g = gate()
    cut = {"mis_cutoff": ist(2026, 11, 25, 15, 20)}
    before, at = ist(2026, 11, 25, 15, 19, 59), ist(2026, 11, 25, 15, 20)
    assert g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="800"), ctx(b, 800, now=before, extra=cut)).allowed
    d = g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="800"), ctx(b, 800, now=at, extra=cut))
    assert d.codes == ["MIS_CUTOFF"] and "15:20" in d.reason
    assert g.check(b.order("SBIN", "SELL", 10, "LIMIT", price="800"),
                   ctx(b, 800, now=at + timedelta(minutes=5), extra=cut)).allowed
    assert g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="800", product="CNC"), ctx(b, 800, now=at)).allowed


def test_mis_cutoff_comes_from_the_market_calendar():
    b = BookBuilder()
    g = gate()
    assert g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="800"), ctx(b, 800, now=ist(2026, 11, 25, 15, 19))).allowed
    d = g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="800"), ctx(b, 800, now=ist(2026, 11, 25, 15, 20, 1)))
    assert d.codes == ["MIS_CUTOFF"]
    d = g.check(b.order("NIFTY26DECFUT", "BUY", 65, "LIMIT", price="24500", exchange="NFO"),
                ctx(b, 24500, now=ist(2026, 11, 25, 15, 22), instrument=future()))
    assert d.check("MIS_CUTOFF").ok  # F&O cuts off at 15:25


# -- money -----------------------------------------------------------------------------------------

def test_funds_edge_and_no_account():
    b = BookBuilder()
    g = gate()
    acct = FakeAccount(10_000)
    assert g.check(b.order("SBIN", "BUY", 100, "LIMIT", price="100"), ctx(b, 100, account=acct)).allowed
    d = g.check(b.order("SBIN", "BUY", 101, "LIMIT", price="100"), ctx(b, 100, account=acct))
    assert d.codes == ["FUNDS"] and "₹10,100.00" in d.reason and "₹10,000.00" in d.reason
    d = g.check(b.order("SBIN", "BUY", 101, "LIMIT", price="100"), ctx(b, 100))
    assert d.allowed and "not checked" in d.check("FUNDS").message


def test_max_order_value_and_quantity():
    b = BookBuilder()
    g = gate({"money": {"max_order_value_pct": 10, "max_order_quantity": 5000}})
    assert g.check(b.order("SBIN", "BUY", 1000, "LIMIT", price="100"), ctx(b, 100)).allowed
    d = g.check(b.order("SBIN", "BUY", 1001, "LIMIT", price="100"), ctx(b, 100))
    assert d.codes == ["ORDER_VALUE"] and "₹1,00,100.00" in d.reason and "₹1,00,000.00" in d.reason
    g = gate(merge(LOOSE, {"money": {"max_order_quantity": 500}}))
    assert g.check(b.order("SBIN", "BUY", 500, "LIMIT", price="10"), ctx(b, 10)).allowed
    assert g.check(b.order("SBIN", "BUY", 501, "LIMIT", price="10"), ctx(b, 10)).codes == ["ORDER_QTY"]


def test_fat_finger_against_the_last_price():
    b = BookBuilder()
    g = gate()
    assert g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="105"), ctx(b, 100)).allowed
    assert g.check(b.order("SBIN", "SELL", 1, "LIMIT", price="95"), ctx(b, 100)).allowed
    d = g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="105.10"), ctx(b, 100))
    assert d.codes == ["FAT_FINGER"] and "5.1 % above the last price 100.00, limit 5 %" in d.reason
    assert g.check(b.order("SBIN", "SELL", 1, "LIMIT", price="94.90"), ctx(b, 100)).codes == ["FAT_FINGER"]
    assert g.check(b.order("SBIN", "BUY", 1, "MARKET"), ctx(b, 100)).allowed
    opt = Instrument(Exchange.NFO, "NIFTY26DEC24500CE", 7, tick_size=Decimal("0.05"), lot_size=65,
                     segment=Segment.NFO_OPT, instrument_type=InstrumentType.CE, name="NIFTY", underlying="NIFTY")
    assert g.check(b.order("NIFTY26DEC24500CE", "BUY", 65, "LIMIT", price="139", exchange="NFO"),
                   ctx(b, 100, instrument=opt)).allowed


def test_an_order_with_no_price_cannot_be_valued():
    b = BookBuilder()
    d = gate().check(b.order("SBIN", "BUY", 1, "MARKET"), ctx(b))
    assert d.codes == ["NO_PRICE"]


# -- exposure --------------------------------------------------------------------------------------

def test_position_value_and_quantity_with_the_does_not_worsen_rule():
    b = BookBuilder()
    g = gate(merge(LOOSE, {"exposure": {"max_position_value": 50_000, "max_position_quantity": 520}}))
    assert g.check(b.order("SBIN", "BUY", 500, "LIMIT", price="100"), ctx(b, 100)).allowed
    d = g.check(b.order("SBIN", "BUY", 501, "LIMIT", price="100"), ctx(b, 100))
    assert d.codes == ["POSITION_VALUE"] and "₹50,100.00" in d.reason
    d = g.check(b.order("SBIN", "BUY", 521, "LIMIT", price="10"), ctx(b, 10))
    assert d.codes == ["POSITION_QTY"] and "521 units, limit 520" in d.reason
    b.fill("SBIN", "BUY", 600, "100")  # already over: 60,000
    assert g.check(b.order("SBIN", "SELL", 1200, "LIMIT", price="100"), ctx(b, 100)).check("POSITION_VALUE").ok  # -600
    d = g.check(b.order("SBIN", "SELL", 1300, "LIMIT", price="100"), ctx(b, 100))  # flips to -700
    assert "POSITION_VALUE" in d.codes


def test_concentration_message_reads_like_a_trader_would_say_it():
    b = BookBuilder()
    g = gate({"exposure": {"max_concentration_pct": 15}})
    assert g.check(b.order("RELIANCE", "BUY", 75, "LIMIT", price="2000"), ctx(b, 2000)).allowed
    d = g.check(b.order("RELIANCE", "BUY", 91, "LIMIT", price="2000"), ctx(b, 2000))
    assert d.reason == "RELIANCE: position would be 18.2 % of capital, limit 15 %"
    assert d.check("CONCENTRATION").value == pytest.approx(18.2)


def test_sector_exposure_from_the_sector_map():
    b = BookBuilder()
    b.fill("ONGC", "BUY", 1000, "100")
    g = gate({"exposure": {"max_sector_pct": 20, "sector_map": {"RELIANCE": "energy", "ONGC": "energy"}}})
    assert g.check(b.order("RELIANCE", "BUY", 50, "LIMIT", price="2000"), ctx(b, 2000)).allowed
    d = g.check(b.order("RELIANCE", "BUY", 51, "LIMIT", price="2000"), ctx(b, 2000))
    assert d.codes == ["SECTOR"] and "energy sector exposure would be 20.2 % of capital, limit 20 %" in d.reason
    assert g.check(b.order("INFY", "BUY", 51, "LIMIT", price="2000"), ctx(b, 2000)).check("SECTOR") is None


def test_gross_and_net_exposure():
    b = BookBuilder()
    b.fill("AAA", "BUY", 2000, "100")
    g = gate({"exposure": {"max_gross_exposure_pct": 30, "max_net_exposure_pct": 25}})
    assert g.check(b.order("BBB", "SELL", 1000, "LIMIT", price="100"), ctx(b, 100)).allowed  # gross 30, net 10
    d = g.check(b.order("BBB", "SELL", 1001, "LIMIT", price="100"), ctx(b, 100))
    assert d.codes == ["GROSS"] and "30.0 % of capital, limit 30 %" in d.reason
    assert g.check(b.order("BBB", "BUY", 500, "LIMIT", price="100"), ctx(b, 100)).allowed  # net 25
    d = g.check(b.order("BBB", "BUY", 501, "LIMIT", price="100"), ctx(b, 100))
    assert d.codes == ["NET"]


def test_max_open_orders_and_orders_per_day():
    b = BookBuilder()
    g = gate({"exposure": {"max_open_orders": 3}})
    for _ in range(2):
        b.order("SBIN", "BUY", 1, "LIMIT", price="100", status="OPEN")
    assert g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="100"), ctx(b, 100)).allowed
    b.order("SBIN", "BUY", 1, "LIMIT", price="100", status="OPEN")
    d = g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="100"), ctx(b, 100))
    assert d.codes == ["OPEN_ORDERS"] and "3 orders are open, limit 3" in d.reason

    b = BookBuilder()
    g = gate({"exposure": {"max_orders_per_day": 3}})
    assert all(g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="100"), ctx(b, 100)).allowed for _ in range(3))
    d = g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="100"), ctx(b, 100))
    assert d.codes == ["ORDERS_DAY"]
    assert g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="100"), ctx(b, 100, now=NOW + timedelta(days=1))).allowed


# -- loss ------------------------------------------------------------------------------------------

def test_daily_loss_blocks_entries_at_the_limit_not_exits():
    b = BookBuilder()
    b.fill("SBIN", "BUY", 1000, "100")
    g = gate({"loss": {"adverse_move_pct": None}})  # the loss so far only (the worst case: test_daily_loss_worst_case)
    g.start_day(b.book, NOW.date())
    b.mark({"SBIN": "80.01"})  # loss 19,990 of 20,000
    assert g.check(b.order("TCS", "BUY", 1, "LIMIT", price="100"), ctx(b, 100)).allowed
    b.mark({"SBIN": "80"})
    d = g.check(b.order("TCS", "BUY", 1, "LIMIT", price="100"), ctx(b, 100))
    assert d.codes == ["DAILY_LOSS"] and "₹20,000.00 has reached the limit ₹20,000.00" in d.reason
    assert g.check(b.order("SBIN", "SELL", 1000, "MARKET"), ctx(b, 80)).allowed


def test_drawdown_from_the_intraday_peak():
    b = BookBuilder()
    b.fill("SBIN", "BUY", 1000, "100")
    g = gate({"loss": {"max_daily_loss_pct": 10}})
    g.start_day(b.book, NOW.date())
    b.mark({"SBIN": "130"})
    assert g.check(b.order("TCS", "BUY", 1, "LIMIT", price="100"), ctx(b, 100)).allowed  # peak +30,000 seen
    b.mark({"SBIN": "105.01"})
    assert g.check(b.order("TCS", "BUY", 1, "LIMIT", price="100"), ctx(b, 100)).allowed  # 24,990 below the peak
    b.mark({"SBIN": "105"})
    d = g.check(b.order("TCS", "BUY", 1, "LIMIT", price="100"), ctx(b, 100))
    assert d.codes == ["DRAWDOWN"] and "₹25,000.00 below today's peak" in d.reason


# -- compliance ------------------------------------------------------------------------------------

def test_rate_governor_under_the_sebi_threshold_with_retry_after():
    b = BookBuilder()
    b.fill("SBIN", "BUY", 100, "100")
    g = gate()  # 5/s
    t = NOW
    assert all(g.check(b.order("TCS", "BUY", 1, "LIMIT", price="100"), ctx(b, 100, now=t)).allowed for _ in range(5))
    d = g.check(b.order("TCS", "BUY", 1, "LIMIT", price="100"), ctx(b, 100, now=t + timedelta(milliseconds=400)))
    assert d.codes == ["RATE"] and d.retry_after == pytest.approx(0.6) and "5/s" in d.reason and "10/s" in d.reason
    d = g.check(b.order("SBIN", "SELL", 10, "LIMIT", price="100"), ctx(b, 100, now=t + timedelta(milliseconds=500)))
    assert d.allowed and d.reduce_only  # exits are never blocked by the governor
    assert g.check(b.order("TCS", "BUY", 1, "LIMIT", price="100"), ctx(b, 100, now=t + timedelta(seconds=1))).allowed


def test_rate_governor_config_stays_under_the_threshold():
    with pytest.raises(ValueError, match="threshold"):
        RiskConfig.model_validate({"compliance": {"max_orders_per_second": 10}})
    RiskConfig.model_validate({"compliance": {"max_orders_per_second": 20, "registered_algo": True}})


def test_algo_id_tagging_and_requirement():
    b = BookBuilder()
    g = gate({"compliance": {"require_algo_id": True}})
    d = g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="100"), ctx(b, 100))
    assert d.codes == ["ALGO_ID"]
    assert g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="100"), ctx(b, 100, source="manual")).allowed
    d = g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="100"), ctx(b, 100, extra={"algo_id": "ALG42"}))
    assert d.allowed and d.check("ALGO_ID").message == "tagged with algo ID ALG42"
    g = gate({"compliance": {"algo_id": "GEN1"}})
    assert g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="100"), ctx(b, 100)).check("ALGO_ID").ok


def test_restricted_list_blocks_new_positions_not_exits():
    b = BookBuilder()
    b.fill("YESBANK", "BUY", 100, "20")
    g = gate({"compliance": {"restricted": ["YESBANK"]}})
    d = g.check(b.order("YESBANK", "BUY", 1, "LIMIT", price="20"), ctx(b, 20))
    assert d.codes == ["RESTRICTED"] and "restricted list" in d.reason
    assert g.check(b.order("YESBANK", "SELL", 100, "LIMIT", price="20"), ctx(b, 20)).allowed
    assert g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="20"), ctx(b, 20)).check("RESTRICTED").ok


def test_fno_ban_is_dated_and_allows_reducing():
    b = BookBuilder()
    inst = future("SAIL26DECFUT", lot=4700, freeze=None, underlying="SAIL", tick="0.01")
    b.fill("SAIL26DECFUT", "BUY", 4700, "120", exchange="NFO", product="NRML")
    g = gate(merge(LOOSE, {"compliance": {"fno_ban": {NOW.date().isoformat(): ["SAIL"]}}}))
    o = lambda side: b.order("SAIL26DECFUT", side, 4700, "LIMIT", price="120", exchange="NFO", product="NRML")  # noqa: E731
    d = g.check(o("BUY"), ctx(b, 120, instrument=inst))
    assert d.codes == ["FNO_BAN"] and "SAIL is in the F&O ban on 2026-11-25" in d.reason
    assert g.check(o("SELL"), ctx(b, 120, instrument=inst)).allowed
    assert g.check(o("BUY"), ctx(b, 120, instrument=inst, now=NOW + timedelta(days=1))).check("FNO_BAN").ok
    assert g.check(b.order("SAIL", "BUY", 1, "LIMIT", price="120"), ctx(b, 120)).check("FNO_BAN") is None  # cash


def test_approval_mode_is_recorded_on_every_decision():
    b = BookBuilder()
    b.fill("SBIN", "BUY", 10, "100")
    g = gate()
    d = g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="100"), ctx(b, 100, approval_mode="manual"))
    assert d.check("APPROVAL_MODE").message == "manual"
    d = g.check(b.order("SBIN", "SELL", 1, "LIMIT", price="100"), ctx(b, 100, approval_mode="manual"))
    assert "no approval needed" in d.check("APPROVAL_MODE").message and d.reduce_only
    assert d.to_dict()["checks"][0]["code"] == "STATE"


# -- VaR and dynamic limits ------------------------------------------------------------------------

def test_var_as_a_pre_trade_limit():
    b = BookBuilder()
    vm = VarModel(["SBIN"], np.array([[0.01 ** 2]]), confidence=0.95)
    g = gate(merge(LOOSE, {"var": {"limit": 10_000, "limit_pct": None}, "loss": {}}), var_model=vm)
    # 1.645 × 1 % × 600,000 = 9,869 ; × 610,000 = 10,034
    d = g.check(b.order("SBIN", "BUY", 6000, "LIMIT", price="100"), ctx(b, 100))
    assert d.allowed and d.check("VAR").value == pytest.approx(9869.12, abs=0.5)
    d = g.check(b.order("SBIN", "BUY", 6100, "LIMIT", price="100"), ctx(b, 100))
    assert d.codes == ["VAR"] and "VaR (95 %, 1 d) would be ₹10,033.61" in d.reason
    assert "no daily return history for TCS" in g.check(b.order("TCS", "BUY", 1, "LIMIT", price="100"),
                                                         ctx(b, 100)).check("VAR").message


def test_var_follows_marks_and_fills_incrementally():
    b = BookBuilder()
    vm = VarModel(["SBIN", "TCS"], np.array([[1e-4, 2e-5], [2e-5, 4e-4]]), confidence=0.99)
    g = gate(merge(LOOSE, {"var": {"limit": 1e9, "limit_pct": None}}), var_model=vm)
    b.fill("SBIN", "BUY", 1000, "100")
    b.fill("TCS", "SELL", 100, "3000")
    g.check(b.order("SBIN", "BUY", 1, "LIMIT", price="100"), ctx(b, 100))
    b.mark({"SBIN": "110", "TCS": "2900"})
    d = g.check(b.order("SBIN", "BUY", 10, "LIMIT", price="110"), ctx(b, 110))
    exact = vm.var_of({"SBIN": 1010 * 110.0, "TCS": -100 * 2900.0})
    assert d.check("VAR").value == pytest.approx(exact, rel=1e-9)


def test_dynamic_scale_tightens_exposure_limits():
    b = BookBuilder()
    g = gate({"exposure": {"max_concentration_pct": 20}})
    assert g.check(b.order("SBIN", "BUY", 1500, "LIMIT", price="100"), ctx(b, 100)).allowed
    g.set_scale(0.5, "loss streak")
    d = g.check(b.order("SBIN", "BUY", 1500, "LIMIT", price="100"), ctx(b, 100))
    assert d.codes == ["CONCENTRATION"] and "limit 10 %" in d.reason
    with pytest.raises(ValueError):
        g.set_scale(0)


def test_var_says_what_it_leaves_out_and_refuses_when_configured():
    """Issue 16: a ₹5 lakh holding with no return history was silently left out of VaR."""
    b = BookBuilder()
    vm = VarModel(["SBIN"], np.array([[0.01 ** 2]]), confidence=0.95)
    b.fill("XYZ", "BUY", 5000, "100")  # ₹5,00,000 in a symbol with no history
    b.fill("SBIN", "BUY", 1000, "100")
    flag = gate(merge(LOOSE, {"var": {"limit": 1e9, "limit_pct": None}}), var_model=vm)
    d = flag.check(b.order("SBIN", "BUY", 100, "LIMIT", price="100"), ctx(b, 100))
    assert d.allowed and "VaR covers 18 % of the exposure" in d.check("VAR").message
    assert "no daily return history for XYZ" in d.check("VAR").message
    refuse = gate(merge(LOOSE, {"var": {"limit": 1e9, "limit_pct": None, "short_coverage": "refuse"}}), var_model=vm)
    d = refuse.check(b.order("SBIN", "BUY", 100, "LIMIT", price="100"), ctx(b, 100))
    assert d.codes == ["VAR"] and "XYZ" in d.reason
    assert refuse.check(b.order("XYZ", "SELL", 1000, "LIMIT", price="100"), ctx(b, 100)).allowed  # reduces
    lax = gate(merge(LOOSE, {"var": {"limit": 1e9, "limit_pct": None, "short_coverage": "refuse",
                                     "min_coverage_pct": 10}}), var_model=vm)
    assert lax.check(b.order("SBIN", "BUY", 100, "LIMIT", price="100"), ctx(b, 100)).allowed
    with pytest.raises(Exception, match="short_coverage"):
        RiskConfig.model_validate({"var": {"short_coverage": "ignore"}})


def test_a_short_history_does_not_shorten_everyones_window(tmp_path, monkeypatch):
    """Pairwise covariance: a symbol imported with 30 days of history is covered, and the others keep
    their full window."""
    import pandas as pd

    from tradekit.data.store import write_bars
    from tradekit.risk import var as V

    monkeypatch.setenv("TRADEKIT_DATA_DIR", str(tmp_path))
    infy = V._closes("INFY")
    days = infy.index[-31:]
    rng = np.random.default_rng(3)
    px = 100 * np.cumprod(1 + rng.normal(0, 0.02, len(days)))
    bars = pd.DataFrame({"open": px, "high": px * 1.01, "low": px * 0.99, "close": px, "volume": 1000},
                        index=pd.DatetimeIndex(days).tz_localize("Asia/Kolkata") + pd.Timedelta(hours=9, minutes=15))
    write_bars(tmp_path, "NSE:NEWCO", "1d", bars)
    V._closes.cache_clear()
    try:
        assert "NEWCO" in V.available_symbols(tmp_path)
        syms, cov = V._pairwise_cov(["INFY", "TCS", "NEWCO"], None, 250)
        assert syms == ["INFY", "TCS", "NEWCO"] and np.all(np.linalg.eigvalsh(cov) >= -1e-12)
        r = V.closes(["INFY", "TCS"]).pct_change(fill_method=None).iloc[1:].iloc[-250:]
        assert cov[0, 0] == pytest.approx(r["INFY"].var(), rel=1e-9)  # INFY's full window, not NEWCO's 30 days
        assert cov[2, 2] == pytest.approx(V.closes(["NEWCO"])["NEWCO"].pct_change().var(), rel=1e-6)
    finally:
        V._closes.cache_clear()
