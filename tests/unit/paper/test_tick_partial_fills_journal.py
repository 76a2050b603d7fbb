"""A large MARKET order replayed at tick level fills over several ticks under
``paper.depth_participation``: every partial fill is journaled, the order stays open in between,
and a rebuild from the journal gives the same book."""

from __future__ import annotations

from datetime import timedelta

from tradekit.config import load_config
from tradekit.data import load_bars, sample_path
from tradekit.data.synth import ticks_from_bars
from tradekit.execution.replay import run_tick_replay
from tradekit.model.enums import Exchange, OrderType, Product, Side
from tradekit.model.signal import Signal
from tradekit.session import Session
from tradekit.store import Book, EventType as E

DAY = "2016-08-17"


def _replay(tmp_path, share):
    cfg = load_config(overrides={"execution": {"charges_as_of": "2024-01-02"},
                                 "paper": {"depth_participation": share, "latency_ms": 0}})
    bars = load_bars(sample_path("SBIN"), start=DAY, end=DAY).iloc[:60]
    ticks = list(ticks_from_bars(bars, "NSE:SBIN"))
    s = Session.for_replay(cfg, tmp_path / f"j{share}.db", ticks[0].ts)
    sig = Signal("big-1", "test", Exchange.NSE, "SBIN", Side.BUY, 900, OrderType.MARKET, Product.MIS,
                 signal_time=ticks[10].ts - timedelta(seconds=1))
    run_tick_replay(s, ticks, signals=[sig], square_off=False)
    return s


def test_a_large_market_order_fills_over_ticks_and_every_partial_fill_is_journaled(tmp_path):
    s = _replay(tmp_path, 0.002)  # 0.2 % of the traded volume (thousands per tick) or of the 2,500 shown
    fills = list(s.journal.events(types=(E.FILL,)))
    assert len(fills) > 3, "filled over several ticks"
    qty = [int(f.payload["quantity"]) for f in fills]
    assert sum(qty) == 900 and max(qty) < 900
    assert len({f.payload["fill_time"] for f in fills}) == len(fills)  # one fill per tick, tick after tick
    orders = [o for o in s.book.orders.values()]
    assert len(orders) == 1 and orders[0].filled_quantity == 900
    assert s.book.net_quantity("NSE", "SBIN") == 900
    assert Book.rebuild(s.journal.events()).snapshot() == s.book.snapshot()
    s.close()


def test_without_the_cap_the_displayed_book_fills_it_at_once(tmp_path):
    s = _replay(tmp_path, 0)
    fills = list(s.journal.events(types=(E.FILL,)))
    assert sum(int(f.payload["quantity"]) for f in fills) == 900
    assert len({f.payload["fill_time"] for f in fills}) == 1  # one tick
    s.close()
