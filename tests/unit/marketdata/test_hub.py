"""The market-data hub on a real paper session: quality, staleness, mark throttling, failover."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pandas as pd
import pytest

from tests.unit.marketdata.conftest import T0, FakeMono, make_session, notes, tick
from tradekit.clock import dt_to_ns
from tradekit.marketdata import MarketDataConfig, MarketDataHub
from tradekit.model.enums import OrderType, Product, Side
from tradekit.model.order import OrderRequest
from tradekit.store.events import EventType as E


def hub_for(session, mono=None, **cfg):
    c = MarketDataConfig.model_validate(cfg)
    return MarketDataHub(c, clock=session.clock, emit=session._emit, risk=session.risk, book=session.book,
                         calendar=session.calendar, monotonic=mono or FakeMono(), prices=session.oms.prices)


def marks(session):
    return [ev.payload for ev in session.journal.events(types=(E.MARK,))]


# -- quality ---------------------------------------------------------------------------------------
def test_a_jump_is_quarantined_then_dropped_when_the_next_print_is_in_line(session):
    h = hub_for(session)
    h.on_ticks([tick("NSE:INFY", 1500.0, T0)], "kite")
    assert h.on_ticks([tick("NSE:INFY", 1700.0, T0 + timedelta(seconds=1))], "kite") == []
    assert h.last_price("NSE:INFY") == Decimal("1500.0")  # nobody trades on the bad print
    h.on_ticks([tick("NSE:INFY", 1500.5, T0 + timedelta(seconds=2))], "kite")
    assert h.last_price("NSE:INFY") == Decimal("1500.5")
    found = [n["finding"] for n in notes(session, kind="market_data") if "finding" in n]
    assert found == ["quarantined", "dropped"]


def test_a_jump_confirmed_by_the_next_ticks_is_accepted(session):
    h = hub_for(session, quality={"confirm_ticks": 2})
    h.on_ticks([tick("NSE:INFY", 1500.0, T0)], "kite")
    h.on_ticks([tick("NSE:INFY", 1600.0, T0 + timedelta(seconds=1))], "kite")
    h.on_ticks([tick("NSE:INFY", 1601.0, T0 + timedelta(seconds=2))], "kite")
    assert h.last_price("NSE:INFY") == Decimal("1500.0")  # one confirmation is not enough
    h.on_ticks([tick("NSE:INFY", 1602.0, T0 + timedelta(seconds=3))], "kite")
    assert h.last_price("NSE:INFY") == Decimal("1602.0")
    conf = notes(session, kind="market_data", finding="confirmed")
    assert len(conf) == 1 and "confirmed by 2" in conf[0]["why"]


def test_band_crossed_and_out_of_order_prints_are_not_traded_on(session):
    h = hub_for(session, quality={"jump_min_pct": 50})
    h.set_band("NSE:SBIN", 700, 900)
    h.on_ticks([tick("NSE:SBIN", 800, T0, bid=799.9, ask=800.1)], "kite")
    h.on_ticks([tick("NSE:SBIN", 950, T0 + timedelta(seconds=1))], "kite")  # outside the circuit band
    assert h.last_price("NSE:SBIN") == Decimal("800.0")
    h.on_ticks([tick("NSE:SBIN", 801, T0 + timedelta(seconds=2))], "kite")  # drops the band print
    h.on_ticks([tick("NSE:SBIN", 802, T0 + timedelta(seconds=3), bid=803, ask=801)], "kite")  # crossed
    assert h.last_price("NSE:SBIN") == Decimal("801.0")
    h.on_ticks([tick("NSE:SBIN", 802, T0 + timedelta(seconds=4))], "kite")
    h.on_ticks([tick("NSE:SBIN", 790, T0 + timedelta(seconds=1))], "kite")  # older than the last accepted
    assert h.last_price("NSE:SBIN") == Decimal("802.0")
    whys = [n["why"] for n in notes(session, kind="market_data") if "finding" in n]
    assert any("outside the price band 700.00-900.00" in w for w in whys)
    assert any("crossed quote" in w for w in whys)
    assert any("out of order" in w for w in whys)


def test_default_band_around_the_previous_close(session):
    h = hub_for(session, quality={"jump_min_pct": 90, "default_band_pct": 10})
    h.on_ticks([tick("NSE:TCS", 3000, T0, close=3000)], "kite")
    h.on_ticks([tick("NSE:TCS", 3400, T0 + timedelta(seconds=1), close=3000)], "kite")
    assert h.last_price("NSE:TCS") == Decimal("3000.0")


def test_an_unconfirmed_quarantine_expires(session):
    mono = FakeMono()
    h = hub_for(session, mono, quality={"quarantine_seconds": 5})
    h.on_ticks([tick("NSE:INFY", 1500.0, T0)], "kite")
    h.on_ticks([tick("NSE:INFY", 1800.0, T0)], "kite")
    mono.t += 6
    h.poll()
    assert notes(session, kind="market_data", finding="dropped")[0]["why"].endswith("not confirmed within 5 s")


def test_recorded_bars_are_not_rechecked(session):
    h = hub_for(session)
    h.on_ticks([tick("NSE:INFY", 1500.0, T0)], "paper")
    h.on_ticks([tick("NSE:INFY", 1700.0, T0)], "paper")
    assert h.last_price("NSE:INFY") == Decimal("1700.0")


# -- marks ------------------------------------------------------------------------------------------
def test_marks_are_journaled_on_change_and_at_most_every_interval(session):
    h = hub_for(session, mark_interval_seconds=5)
    clock = session.clock
    h.on_ticks([tick("NSE:INFY", 1500.0, T0), tick("NSE:SBIN", 800.0, T0)], "kite")
    assert not marks(session)  # the journal write is the session loop's (poll), not the ticker thread's
    h.poll()
    assert marks(session)[-1]["prices"] == {"NSE:INFY": "1500.0000", "NSE:SBIN": "800.0000"}
    n = len(marks(session))
    clock.advance(1)
    h.on_ticks([tick("NSE:INFY", 1501.0, clock.now())], "kite")  # changed, but within 5 s
    h.poll()
    assert len(marks(session)) == n
    clock.advance(5)
    h.on_ticks([tick("NSE:SBIN", 800.0, clock.now())], "kite")  # unchanged: no mark for SBIN
    h.poll()
    assert marks(session)[-1]["prices"] == {"NSE:INFY": "1501.0000"}
    clock.advance(10)
    h.on_ticks([tick("NSE:INFY", 1501.0, clock.now())], "kite")
    h.poll()
    assert len(marks(session)) == n + 1  # nothing changed since the last mark
    assert all(m["fed"] for m in marks(session))


def test_journaled_marks_rebuild_the_unrealised_pnl(tmp_path):
    from tradekit.store import Book

    s = make_session(tmp_path, market_data={"mark_interval_seconds": 0})
    s.market.on_ticks([tick("NSE:INFY", 1500.0, T0)], "paper")
    s.oms.submit(OrderRequest("NSE", "INFY", Side.BUY, 10, OrderType.MARKET, Product.MIS), strategy="t")
    s.broker.exchange.on_bar("NSE:INFY", dt_to_ns(T0), dt_to_ns(T0 + timedelta(minutes=1)), 1500, 1500, 1500, 1500, 1000)
    assert s.book.positions
    s.clock.advance(60)
    s.market.on_ticks([tick("NSE:INFY", 1490.0, s.clock.now())], "paper")
    s.market.poll()
    live = s.book.unrealized_pnl
    assert live < 0
    assert Book.rebuild(s.journal.events()).unrealized_pnl == live
    s.close()


# -- staleness ----------------------------------------------------------------------------------------
def test_a_flat_price_is_not_a_stale_feed_but_silence_is(session):
    h = hub_for(session)
    clock, risk = session.clock, session.risk
    for _ in range(10):  # the same price every 20 s for 200 s
        h.on_ticks([tick("NSE:INFY", 1500.0, clock.now())], "kite")
        risk.poll(clock.now(), session.book)
        clock.advance(20)
    assert session.book.trading_state == "ACTIVE"
    clock.advance(31)  # then nothing at all
    risk.poll(clock.now(), session.book)
    assert session.book.trading_state == "REDUCING"
    breach = [ev.payload for ev in session.journal.events(types=(E.LIMIT_BREACH,))][-1]
    assert breach["trigger"] == "stale_feed" and "no market data packet" in breach["reason"]


def test_heartbeats_keep_the_feed_alive(session):
    h = hub_for(session)
    clock = session.clock
    h.on_ticks([tick("NSE:INFY", 1500.0, clock.now())], "kite")
    for _ in range(10):
        clock.advance(10)
        h.on_heartbeat("kite")
        session.risk.poll(clock.now(), session.book)
    assert session.book.trading_state == "ACTIVE"


def test_a_held_instrument_without_updates_while_open_trips_stale_feed(tmp_path):
    s = make_session(tmp_path)
    h = hub_for(s, stale_instrument_seconds=60)
    h.attach_source(_Source(), "kite")
    s.market = h
    h.on_ticks([tick("NSE:INFY", 1500.0, s.clock.now())], "paper")
    s.oms.submit(OrderRequest("NSE", "INFY", Side.BUY, 10, OrderType.MARKET, Product.MIS), strategy="t")
    s.broker.exchange.on_bar("NSE:INFY", dt_to_ns(T0), dt_to_ns(T0 + timedelta(minutes=1)), 1500, 1500, 1500, 1500, 1000)
    for i in range(1, 8):  # SBIN keeps ticking (the socket is alive); INFY's exchange time stands still
        s.clock.advance(10)
        h.on_ticks([tick("NSE:SBIN", 800 + i * 0.05, s.clock.now()), tick("NSE:INFY", 1500.0, T0)], "kite")
        h.poll()
    assert s.book.trading_state == "REDUCING"
    assert [n["key"] for n in notes(s, kind="market_data", event="instrument_stale")] == ["NSE:INFY"]  # once
    assert len([ev for ev in s.journal.events(types=(E.LIMIT_BREACH,))]) == 1
    s.clock.advance(1)
    h.on_ticks([tick("NSE:INFY", 1500.5, s.clock.now())], "kite")  # a new exchange time: fresh again
    assert [n["key"] for n in notes(s, kind="market_data", event="instrument_fresh")] == ["NSE:INFY"]
    s.close()


# -- risk from ticks ---------------------------------------------------------------------------------
def test_mark_to_market_daily_loss_trips_from_ticks(tmp_path):
    # the order's own worst case (its VaR, ~3.4 % of ₹1.5 lakh) must fit under the limit to be allowed
    s = make_session(tmp_path, risk={"loss": {"max_daily_loss": 8000}, "breakers": {"volatility_move_pct": None}})
    h = s.market
    h.on_ticks([tick("NSE:INFY", 1500.0, T0)], "paper")
    s.oms.submit(OrderRequest("NSE", "INFY", Side.BUY, 100, OrderType.MARKET, Product.MIS), strategy="t")
    s.broker.exchange.on_bar("NSE:INFY", dt_to_ns(T0), dt_to_ns(T0 + timedelta(minutes=1)), 1500, 1500, 1500, 1500, 100000)
    px = 1500.0
    while s.book.trading_state == "ACTIVE" and px > 1400:
        s.clock.advance(1)
        px -= 2.5
        h.on_ticks([tick("NSE:INFY", px, s.clock.now())], "kite")
    assert s.book.trading_state == "HALTED"
    breach = [ev.payload for ev in s.journal.events(types=(E.LIMIT_BREACH,))]
    assert breach[0]["trigger"] == "daily_loss"
    assert 1415 <= px <= 1422  # within a few ticks of the limit (100 shares, ₹8,000 + charges)
    s.close()


def test_index_ticks_act_on_the_market_wide_breaker(session):
    h = hub_for(session)
    h.on_ticks([tick(None, 24000.0, T0, close=24000.0, token=256265)], "kite")
    assert session.book.trading_state == "ACTIVE"
    h.on_ticks([tick(None, 21500.0, T0 + timedelta(seconds=1), close=24000.0, token=256265)], "paper")
    assert session.book.trading_state == "HALTED"
    breach = [ev.payload for ev in session.journal.events(types=(E.LIMIT_BREACH,))]
    assert any(b["trigger"] == "mwcb" and "NIFTY 50" in b["reason"] for b in breach)


# -- subscriptions and prices --------------------------------------------------------------------------
class _Source:
    def __init__(self):
        self.subs, self.unsubs = [], []

    def subscribe(self, keys, mode):
        self.subs.append((sorted(keys), mode))

    def unsubscribe(self, keys):
        self.unsubs.append(sorted(keys))


def test_subscriptions_follow_the_book_watchlist_and_indices(session):
    h = hub_for(session, watchlist=["nse:tcs"])
    src = _Source()
    h.attach_source(src, "kite")
    h.want_defaults()
    assert {"NSE:TCS", "NSE:NIFTY 50", "BSE:SENSEX"} <= set(h.subscribed)
    session.oms.submit(OrderRequest("NSE", "SBIN", Side.BUY, 1, OrderType.LIMIT, Product.MIS, price=Decimal(10)),
                       strategy="t")
    h.follow_book()
    assert "NSE:SBIN" in h.subscribed
    session.oms.cancel_all(reason="done")
    h.follow_book()
    assert "NSE:SBIN" not in h.subscribed and src.unsubs[-1] == ["NSE:SBIN"]


def test_a_market_order_without_a_quote_is_denied_naming_the_feed_state(session):
    session.market = h = hub_for(session, quote_wait_seconds=0.1)
    h.attach_source(_Source(), "kite")
    session.oms.no_price_reason = h.no_price_reason
    h.source_event("close", {})
    o = session.oms.submit(OrderRequest("NSE", "INFY", Side.BUY, 1, OrderType.MARKET, Product.MIS), strategy="t")
    d = [ev.payload for ev in session.journal.events(types=(E.RISK_DECISION,))][-1]
    assert not d["allowed"] and session.book.order(o.client_order_id).status.value == "DENIED"
    assert "no quote for NSE:INFY within 0.1 s: ticker disconnected since 10:00:00" in d["reason"]


def test_the_oms_prices_from_the_hub_through_the_broker(session):
    session.market.on_ticks([tick("NSE:INFY", 1500.0, T0)], "paper")
    assert session.market.wait_quote("NSE:INFY") == Decimal("1500.0")


# -- failover ------------------------------------------------------------------------------------------
def test_failover_to_quote_polling_and_back_with_a_backfill(session):
    mono = FakeMono()
    h = hub_for(session, mono, failover_after_seconds=3, failover_poll_seconds=1)
    polled, filled = [], []

    def poller(keys):
        polled.append(keys)
        return [tick(k, 1500.0 + len(polled), session.clock.now()) for k in keys]

    def backfiller(key, start, end):
        filled.append((key, start, end))
        idx = pd.DatetimeIndex([start])
        return pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [1]}, index=idx)

    store = []

    class Store:
        def append(self, ticks):
            store.extend(ticks)

    h.tick_store = Store()
    h.attach_source(_Source(), "kite", poller=poller, backfiller=backfiller)
    h.want(["NSE:INFY"], "watchlist")
    h.on_ticks([tick("NSE:INFY", 1500.0, T0)], "kite")
    mono.t += 2
    h.poll()
    assert not h.failover
    mono.t += 1.5
    h.poll()
    assert h.failover and polled == [["NSE:INFY"]]
    h.poll()  # within the poll interval: no second request
    assert len(polled) == 1
    mono.t += 1
    h.poll()
    assert len(polled) == 2 and h.last_price("NSE:INFY") == Decimal("1502.0")
    assert "polling quotes since" in h.feed_state()
    session.clock.advance(30)
    h.on_ticks([tick("NSE:INFY", 1503.0, session.clock.now())], "kite")  # the ticker is back
    assert not h.failover
    ev = [n.get("event") for n in notes(session, kind="market_data")]
    assert ev[:2] == ["failover", "failback"]
    import time

    for _ in range(100):
        if "backfill" in [n.get("event") for n in notes(session, kind="market_data")]:
            break
        time.sleep(0.02)
        session.journal.flush()
    assert filled and filled[0][0] == "NSE:INFY"
    assert any(t.mode == "bar" for t in store)


def test_a_short_gap_is_back_filled_with_the_candles_that_overlap_it_stamped_at_their_close(session):
    """Defect: the back-fill asked for candles labelled from the gap's start, so a gap that began at
    10:00:15 and ended at 10:01:25 got none (the 10:00 candle starts before it, the 10:01 one was not
    over), and a candle went into the tick store stamped at its start, a minute before its close."""
    import time

    mono = FakeMono()
    h = hub_for(session, mono, failover_after_seconds=3)
    asked, store = [], []

    def backfiller(key, start, end):
        asked.append((start, end))
        idx = pd.DatetimeIndex([T0])  # the 10:00 candle
        return pd.DataFrame({"open": [1500.0], "high": [1502.0], "low": [1499.0], "close": [1501.0], "volume": [900]},
                            index=idx)

    class Store:
        def append(self, ticks):
            store.extend(ticks)

    h.tick_store = Store()
    h.attach_source(_Source(), "kite", poller=lambda keys: [], backfiller=backfiller)
    h.want(["NSE:INFY"], "watchlist")
    session.clock.set(T0 + timedelta(seconds=12))
    h.on_ticks([tick("NSE:INFY", 1500.0, session.clock.now())], "kite")
    mono.t += 3.5
    session.clock.advance(3)
    h.poll()
    assert h.failover
    gap_start = h.failover_since
    session.clock.advance(70)
    h.on_ticks([tick("NSE:INFY", 1501.5, session.clock.now())], "kite")  # back
    for _ in range(100):
        if any(t.mode == "bar" for t in store):
            break
        time.sleep(0.02)
    assert asked and asked[0][0] == gap_start.replace(second=0, microsecond=0) < gap_start
    bar = [t for t in store if t.mode == "bar"]
    assert len(bar) == 1 and bar[0].ts == T0 + timedelta(seconds=59, microseconds=999_999) and bar[0].last_price == 1501.0


def test_config_errors_name_the_field():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="watchlist"):
        MarketDataConfig.model_validate({"watchlist": ["INFY"]})
    with pytest.raises(ValidationError, match="failover_poll_seconds"):
        MarketDataConfig.model_validate({"failover_poll_seconds": 0.2})
    with pytest.raises(ValidationError, match="mark_throttle"):
        MarketDataConfig.model_validate({"mark_throttle": 1})


def test_the_ticker_thread_never_waits_for_a_busy_session(session):
    import threading

    h = session.market
    h.on_ticks([tick("NSE:INFY", 1500.0, T0)], "kite")
    held, release = threading.Event(), threading.Event()

    def busy():  # the session placing an order while Kite is slow
        with session.oms._lock:
            held.set()
            release.wait(5)

    th = threading.Thread(target=busy)
    th.start()
    held.wait(5)
    t0 = __import__("time").perf_counter()
    session.clock.advance(40)
    h.on_ticks([tick("NSE:INFY", 1501.0, session.clock.now())], "kite")
    assert __import__("time").perf_counter() - t0 < 0.5
    assert h.last_price("NSE:INFY") == Decimal("1501.0")  # the quote is there at once
    release.set()
    th.join()
    h.poll()  # the session side catches up in order: the packet counted for the stale-feed clock
    session.risk.poll(session.clock.now(), session.book)
    assert session.book.trading_state == "ACTIVE"


def _gap_with_a_backfill(session, h, mono, backfiller):
    h.attach_source(_Source(), "kite", poller=lambda keys: [], backfiller=backfiller)
    h.want(["NSE:INFY"], "watchlist")
    h.on_ticks([tick("NSE:INFY", 1500.0, session.clock.now())], "kite")
    mono.t += 3.5
    session.clock.advance(3)
    h.poll()
    assert h.failover
    session.clock.advance(70)
    h.on_ticks([tick("NSE:INFY", 1501.5, session.clock.now())], "kite")  # back: the back-fill starts


def test_closing_the_session_waits_for_a_running_backfill_so_its_note_is_journaled(tmp_path):
    """Defect: the back-fill thread was fire-and-forget; a session closed while the broker was still
    answering, and the thread's journal note then died on the released lease (an unhandled thread
    exception in the test run)."""
    import threading

    import time

    from tradekit.store import Journal, make_engine

    s = make_session(tmp_path)
    url = str(s.journal.engine.url)
    mono = FakeMono()
    h = s.market
    h.monotonic, h.cfg = mono, h.cfg.model_copy(update={"failover_after_seconds": 3})
    started = threading.Event()

    def slow(key, start, end):
        started.set()
        time.sleep(0.3)
        return None

    _gap_with_a_backfill(s, h, mono, slow)
    assert started.wait(5)
    s.close()  # waits for the back-fill
    j = Journal(make_engine(url), read_only=True)
    ev = [e.payload.get("event") for e in j.events(types=(E.NOTE,)) if e.payload.get("kind") == "market_data"]
    assert "backfill" in ev


def test_a_backfill_that_outlives_its_session_is_logged_not_raised(session, caplog):
    import threading

    mono = FakeMono()
    h = hub_for(session, mono, failover_after_seconds=3)
    go, errors = threading.Event(), []
    threading.excepthook, old = (lambda a: errors.append(a.exc_value)), threading.excepthook
    try:
        _gap_with_a_backfill(session, h, mono, lambda key, start, end: go.wait(5) and None)
        session.journal.lease and session.journal.lease.release()
        with caplog.at_level("WARNING", logger="tradekit.marketdata.hub"):
            go.set()
            assert h.close_backfills(5)
        assert not errors
    finally:
        threading.excepthook = old


# -- a replay's quiet runs --------------------------------------------------------------------------
def test_quiet_follows_the_listeners_as_they_come_and_go(session):
    """``quiet`` asks each listener's ``quiet_for`` (remembered while the listeners are the same):
    a listener added without one, or one that says no, makes the key not quiet; removing it
    (or appending to the list directly) is seen at the next question."""
    h = hub_for(session)

    class Watcher:
        def __init__(self, calm):
            self.calm = calm

        def quiet_for(self, key):
            return self.calm

        def on_tick(self, t):
            pass

    w = Watcher(True)
    h.add_listener(w.on_tick)
    assert h.quiet("NSE:INFY", "replay")
    w.calm = False  # asked each time, not remembered
    assert not h.quiet("NSE:INFY", "replay")
    w.calm = True

    def plain(t):
        pass

    h.add_listener(plain)  # no quiet_for: never quiet
    assert not h.quiet("NSE:INFY", "replay")
    h.listeners.remove(plain)
    assert h.quiet("NSE:INFY", "replay")

    def calm(t):
        pass

    calm.quiet_for = lambda key: key != "NSE:TCS"
    h.listeners.append(calm)  # straight onto the list
    assert h.quiet("NSE:INFY", "replay") and not h.quiet("NSE:TCS", "replay")
    h.listeners[-1] = plain  # replaced in place
    assert not h.quiet("NSE:INFY", "replay")
    assert not h.quiet("NSE:INFY", "kite")  # a live source is never quiet


@pytest.mark.parametrize("bad", [float("nan"), 0.0, -5.0, float("-inf")])
@pytest.mark.parametrize("at", [0, 2, 4])
def test_a_quiet_run_ends_before_the_first_minute_without_a_positive_price(session, bad, at):
    """``on_quiet_bars`` takes minutes up to the first close ``on_ticks`` would drop (zero or
    negative), with the quote and clock of the last minute it took; a NaN close (which
    ``on_ticks`` accepts) goes through the per-minute steps from its minute on."""
    h = hub_for(session)
    t0 = dt_to_ns(T0)
    closes = [100.0, 100.5, 101.0, 100.75, 101.25, 101.5]
    closes[at] = bad
    n = len(closes)
    ends = [t0 + (i + 1) * 60_000_000_000 for i in range(n)]
    taken = h.on_quiet_bars("replay", ends, list(range(n + 1)), ["NSE:INFY"] * n, closes, [10] * n,
                            [10 * (i + 1) for i in range(n)])
    if bad != bad:
        assert taken == n
        return
    assert taken == at
    if at:
        assert h.last_price("NSE:INFY") == Decimal(repr(closes[at - 1]))
        assert session.clock.ns == ends[at - 1]
    else:
        assert h.last_price("NSE:INFY") is None
