"""One rehearsed live day, end to end: the live loop of ``tradekit run day --mode live --rehearse``
against ``tradekit kite-sim`` running by itself at 60x (a market minute per real second), through
the official ``kiteconnect`` client (REST and the ticker's child process), with the sandbox's
switches flipped over HTTP as an operator would.

The loop is :func:`tradekit.runs.day.run_live_day` (what the session notebook of a rehearsal
runs) on the sandbox's replayed clock (``$TRADEKIT_SANDBOX_CLOCK``, as ``--rehearse`` sets it),
in a thread of this process; signals arrive as inbox files, the approval as a desk-view request,
the unlock through ``tradekit unlock``. Everything asserted is read from the session's journal,
the tick store and the sandbox.

The day, in phases (a breaker that trips restricts trading, so each trip comes after the checks
that need ACTIVE; HALTED ends a live run, so the one HALTED trip is the last phase):

A  09:17  a MARKET signal without a price: priced from the live quote, filled by the sandbox.
B         five minutes in which every price stands still (``/sim/flat``): ticks keep coming, so
          neither the stale-feed breaker nor the per-instrument check fires.
C         a manual proposal; the price moves 1.6 % (``/sim/move``); approve -> refused (drift).
D         the ticker paused without heartbeats: the stale-feed breaker trips (REDUCING) after
          ``stale_feed_seconds`` of market time, the hub fails over to quote polling after
          ``failover_after_seconds``, a move during the pause is seen by a poll; resume ->
          failback and a back-fill from 1-minute candles. ``tradekit unlock`` -> ACTIVE.
E         INFY drifts down 1 %/min (``/sim/drift``): marks from ticks take the day's P&L past
          ``max_daily_loss``: the daily-loss breaker trips (configured REDUCING here, so that
          the day goes on to F; it still flattens) with no fill in between.
F         NIFTY 50 moved to -10.5 % on the day: quarantined, confirmed by the next ticks, then
          the market-wide breaker halts trading and the live run ends ("halted at ...").

Then the day's tick store is replayed (``tradekit replay --ticks --date D``) with the day's
signals; see :func:`_compare_replay` for what "the same fills" means.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import pytest
import requests

from tests.integration.kite.conftest import FAST, kite_config, request_token, secrets, wait_for
from tradekit.brokers.kite.ratelimit import governor
from tradekit.clock import IST
from tradekit.store.events import EventType as E

pytestmark = pytest.mark.slow
# Every wait below is a bounded wait for something the session or the sandbox does (it returns as soon as
# that is seen); the bound is generous because a loaded 2-core machine can stall the ticker's child process
# for seconds (the hub then fails over to quote polls, and an order's fill may reach the session only by the
# reconciliation every 30 s).

ROOT = Path(__file__).resolve().parents[3]
DAY = date(2026, 12, 7)  # a Monday, an NSE trading day: the sandbox replays its bars as that day
SPEED = 60.0
INFY_QTY = 100
MAX_DAILY_LOSS = 1500
DRIFT_LIMIT_PCT = Decimal("1.0")
STALE_FEED_S = 120  # market seconds: 2 real seconds at 60x
FAILOVER_S = 3.0  # real seconds of ticker silence (the hub counts socket silence on the wall clock)


def _config_text(tmp_path: Path, sim) -> Path:
    sec = tmp_path / "secrets.env"
    sec.write_text("KITE_API_KEY=simkey\nKITE_API_SECRET=simsecret\n")
    sec.chmod(0o600)
    body = {
        "extends": str(ROOT / "config" / "live.example.yaml"),
        "data_dir": str(tmp_path / "var"),
        "secrets_file": str(sec),
        "kite": {"root": sim.url, "login_url": sim.login_url, "ticker_url": sim.ws_url, "timeout_seconds": 3.0,
                 "reconcile_interval_seconds": 30,
                 "rate_limits": {"orders_per_second": 200, "orders_per_minute": 10000, "quote_per_second": 200,
                                 "historical_per_second": 200, "other_per_second": 500, "margin_seconds": 0}},
        # auto approval, except the "desk" strategy that waits for a person
        "approval": {"mode": "auto", "allow_auto_in_live": True, "strategies": {"desk": "manual"},
                     "ttl_seconds": 7200, "price_drift_pct": str(DRIFT_LIMIT_PCT)},
        "signals": {"poll_interval_seconds": 0.1, "settle_seconds": 0, "default_ttl_seconds": 3600},
        "market_data": {"watchlist": ["NSE:INFY", "NSE:SBIN", "NSE:RELIANCE", "NSE:TCS"],
                        "mark_interval_seconds": 0, "mark_batch_seconds": 0, "quote_wait_seconds": 3,
                        "failover_after_seconds": FAILOVER_S, "stale_instrument_seconds": 120},
        "risk": {
            # the pre-trade worst case would refuse the entry outright; this day is about the breaker
            "loss": {"max_daily_loss": MAX_DAILY_LOSS, "adverse_move_pct": None},
            "breakers": {"stale_feed_seconds": STALE_FEED_S, "cooloff_seconds": 0,
                         "actions": {"daily_loss": "REDUCING"},  # HALTED would end the live run before phase F
                         # the sandbox's synthetic tick paths and the drift are not a volatility regime
                         "volatility_ratio": 1000, "volatility_move_pct": None},
        },
    }
    cfg = tmp_path / "live.yaml"
    cfg.write_text(json.dumps(body))  # JSON is YAML
    return cfg


def _sim_post(sim, path: str, body: dict | None = None) -> dict:
    r = requests.post(f"{sim.url}{path}", json=body or {}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _drop_signal(inbox: Path, name: str, **fields) -> dict:
    inbox.mkdir(parents=True, exist_ok=True)
    tmp = inbox / f".{name}.tmp"
    tmp.write_text(json.dumps(fields))
    tmp.rename(inbox / f"{name}.json")
    return fields


def _grid(px: Decimal, tick: Decimal, up: bool) -> Decimal:
    return (px / tick).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR) * tick


class Day:
    """What the test reads while the live run goes on."""

    def __init__(self, s, sim):
        self.s, self.sim = s, sim

    def events(self, *types, after: int = 0):
        return list(self.s.journal.events(after=after, types=types or None))

    def notes(self, event: str, after: int = 0) -> list:
        return [ev for ev in self.events(E.NOTE, after=after) if ev.payload.get("event") == event]

    def breaches(self, trigger: str, after: int = 0) -> list:
        return [ev for ev in self.events(E.LIMIT_BREACH, after=after) if ev.payload.get("trigger") == trigger]

    def order_of(self, signal_id: str):
        for o in list(self.s.book.orders.values()):
            if o.signal_id == signal_id:
                return o
        return None

    def at_market(self, hhmm: str, timeout: float = 60) -> None:
        t = datetime.combine(DAY, datetime.strptime(hhmm, "%H:%M").time(), IST)
        assert wait_for(lambda: self.sim.market.now >= t, timeout), (self.sim.market.now, hhmm)

    def last_seq(self) -> int:
        return self.s.journal.last_seq if hasattr(self.s.journal, "last_seq") else self.s.book.last_seq


def _flat_window(sim, series) -> tuple[datetime, datetime]:
    """The replayed minutes of the last run of bars with open = high = low = close (the /sim/flat stretch)."""
    flat = [bool(series.o[k] == series.h[k] == series.l[k] == series.c[k]) for k in range(len(series.tod))]
    end = max(k for k, f in enumerate(flat) if f) + 1
    start = end
    while start > 0 and flat[start - 1]:
        start -= 1
    at = sim.market._at
    return at(int(series.tod[start])), at(int(series.tod[end - 1])) + timedelta(minutes=1)


def _story(d, signal_id: str) -> list:
    o = d.order_of(signal_id)
    if o is None:
        return [(ev.seq, ev.type, ev.payload) for ev in d.events()[-30:]]
    return [o.status, o.filled_quantity] + [(ev.seq, ev.time.isoformat(), ev.type, ev.payload) for ev in d.events()
                                             if ev.payload.get("client_order_id") == o.client_order_id]


def test_a_rehearsed_live_day_shows_the_market_to_every_part_of_the_session(tmp_path, monkeypatch):
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.brokers.kite.sim.server import KiteSimServer
    from tradekit.cli import main
    from tradekit.clock import SANDBOX_CLOCK_ENV
    from tradekit.config import load_config
    from tradekit.data.tickstore import TickStore
    from tradekit.runs.day import run_live_day
    from tradekit.session import Session
    from tradekit.session_view import SessionView

    wall0 = time.monotonic()
    governor().min_backoff = 0.05
    sim = KiteSimServer(port=0, symbols=["INFY", "SBIN", "RELIANCE", "TCS", "NIFTY50"], limits=FAST,
                        heartbeat_seconds=0.5, trade_date=DAY, speed=0.0).start()  # waits at 09:14
    s = None
    runner = None
    try:
        cfg_file = _config_text(tmp_path, sim)
        var = tmp_path / "var"
        login = KiteBroker(kite_config(sim), secrets(), data_dir=var)  # `tradekit kite login`: the token file
        login.complete_login(request_token(sim))
        login.close()
        monkeypatch.setenv(SANDBOX_CLOCK_ENV, sim.url)  # what `run day --rehearse` sets for its notebooks
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        cfg = load_config(cfg_file)
        s = Session.from_config(cfg, mode="live")
        assert type(s.clock).__name__ == "SandboxClock" and s.clock.day == DAY
        d = Day(s, sim)
        out: dict = {}
        stop = threading.Event()

        def run():
            try:
                out["run"] = run_live_day(cfg, DAY, session=s, out_dir=tmp_path / "runs", poll_interval=0.5, echo=None,
                                          stop=stop.is_set)
            except BaseException as e:  # noqa: BLE001 - surfaced below
                out["error"] = e

        runner = threading.Thread(target=run, name="live-day", daemon=True)
        runner.start()
        indices = ["NSE:NIFTY 50", "BSE:SENSEX"]
        watch = ["NSE:INFY", "NSE:SBIN", "NSE:RELIANCE", "NSE:TCS"]
        # the ticker's snapshots price everything before the market opens
        assert wait_for(lambda: all(s.market.last_price(k) is not None for k in watch + indices), 60), \
            (out, s.market.status())
        # ... and the session's ticker has subscribed at the sandbox (on a loaded machine its child process may
        # start after the hub has failed over to quote polls; the day is about the ticker's data)
        assert wait_for(lambda: any(408065 in sub for sub in sim.hub.subscriptions()), 60), sim.hub.subscriptions()
        _sim_post(sim, "/sim/speed", {"speed": SPEED})
        inbox = Path(cfg.signals.inbox_path(cfg.data_dir))

        # -- A: a MARKET signal without a price, filled at the sandbox's price ----------------------------
        d.at_market("09:17")
        sig_a = _drop_signal(inbox, "a", idempotency_key="day-A-INFY", strategy="momo",
                             signal_time=sim.market.now.isoformat(), symbol="INFY", side="BUY", quantity=INFY_QTY)
        assert wait_for(lambda: d.order_of("day-A-INFY") is not None and d.order_of("day-A-INFY").filled_quantity
                        == INFY_QTY, 60), (out, _story(d, "day-A-INFY"))
        a = d.order_of("day-A-INFY")
        fills_a = [ev for ev in d.events(E.FILL) if ev.payload["client_order_id"] == a.client_order_id]
        a_created = a.created_at  # checked below against the tick store (it has every tick once the session closed)

        # -- B: a flat stretch: prices stand still, packets keep coming --------------------------------
        b_seq = d.last_seq()
        flat = _sim_post(sim, "/sim/flat", {"minutes": 5})
        assert "NSE:INFY" in flat["instruments"] and "NSE:NIFTY 50" in flat["instruments"]
        infy_series = sim.market.get("NSE:INFY")
        assert wait_for(lambda: infy_series.flat == 0, 60)  # the five flat bars are under way
        b_start, b_end = _flat_window(sim, infy_series)
        assert b_end - b_start == timedelta(minutes=5)
        assert wait_for(lambda: sim.market.now >= b_end + timedelta(seconds=5), 60)
        assert not d.breaches("stale_feed", b_seq) and not d.notes("instrument_stale", b_seq)
        assert s.book.trading_state == "ACTIVE"

        # -- C: an approval re-check refuses after a move ---------------------------------------------------
        # SBIN trades flat from its next bar on (the rest of the day; nothing after C needs it to move), so that
        # the proposal's reference price and the moved price are fixed prices however long a loaded machine
        # takes between them: on the replayed path at 60x, the minutes that pass between the proposal and the
        # move could otherwise bring the price down by more than the move's margin over the limit (0.6 %)
        sbin = sim.market.get("NSE:SBIN")
        _sim_post(sim, "/sim/flat", {"instrument": "NSE:SBIN", "minutes": 375})
        assert wait_for(lambda: sbin.flat < 375, 60)  # a flat bar is under way: sbin.last stands still
        assert wait_for(lambda: s.market.last_price("NSE:SBIN") == Decimal(str(sbin.last)), 60)
        c_seq = d.last_seq()
        sig_c = _drop_signal(inbox, "c", idempotency_key="day-C-SBIN", strategy="desk", signal_time=sim.market.now.isoformat(),
                     symbol="SBIN", side="BUY", quantity=10)
        assert wait_for(lambda: d.order_of("day-C-SBIN") is not None
                        and d.order_of("day-C-SBIN").status.value == "PENDING_APPROVAL", 60), d.order_of("day-C-SBIN")
        c = d.order_of("day-C-SBIN")
        assert c.reference_price == Decimal(str(sbin.last))
        moved = _sim_post(sim, "/sim/move", {"instrument": "NSE:SBIN", "percent": 1.6})
        assert wait_for(lambda: s.market.last_price("NSE:SBIN") == Decimal(str(moved["last_price"])), 60)
        assert abs(s.market.last_price("NSE:SBIN") / c.reference_price - 1) * 100 > DRIFT_LIMIT_PCT
        desk = SessionView(cfg)
        try:
            desk.approve(c.client_order_id, by="asha")
        finally:
            desk.close()
        assert wait_for(lambda: any(ev.payload.get("client_order_id") == c.client_order_id
                                    for ev in d.events(E.NOTE, after=c_seq) if ev.payload.get("kind") == "decision_outcome"),
                        60)
        refusal = next(ev for ev in d.events(E.NOTE, after=c_seq) if ev.payload.get("kind") == "decision_outcome")
        assert any("price moved +" in m for m in refusal.payload["messages"]), refusal.payload
        assert s.book.order(c.client_order_id).filled_quantity == 0

        # -- D: the ticker paused: stale feed, failover to quote polling, back, back-fill -------------------
        d_seq = d.last_seq()
        paused_wall = time.monotonic()
        _sim_post(sim, "/sim/ticker/pause", {"heartbeats": False})
        assert wait_for(lambda: d.breaches("stale_feed", d_seq), 60), s.market.status()
        assert wait_for(lambda: d.notes("failover", d_seq), 60), s.market.status()
        failover_wall = time.monotonic() - paused_wall
        # the ticker is paused: only a quote poll can see this move (+1 %; the replayed path moves on from there)
        tcs_before = s.market.last_price("NSE:TCS")
        moved_at = s.clock.now()
        tcs_moved = _sim_post(sim, "/sim/move", {"instrument": "NSE:TCS", "percent": 1.0})

        def polled():
            q = s.market.quote("NSE:TCS")
            return (q is not None and q.source == "poll" and q.received > moved_at
                    and q.last_price >= Decimal(str(tcs_moved["previous"])) * Decimal("1.005"))

        assert wait_for(polled, 60)
        tcs_polled = s.market.quote("NSE:TCS")
        polls_during = s.market.counts["polls"]
        # the gap takes in a whole replayed minute, so that a 1-minute candle of it exists to back-fill
        began = d.notes("failover", d_seq)[0].time.replace(second=0, microsecond=0)
        assert wait_for(lambda: sim.market.now >= began + timedelta(minutes=1, seconds=5), 60)
        _sim_post(sim, "/sim/ticker/resume")
        assert wait_for(lambda: d.notes("failback", d_seq), 60), s.market.status()
        assert wait_for(lambda: d.notes("backfill", d_seq), 60)
        unlocked = main(["unlock", "--reason", "ticker back after the drill", "--by", "desk", "-c", str(cfg_file)])
        assert unlocked in (0, None)
        assert wait_for(lambda: s.book.trading_state == "ACTIVE", 60)

        # -- E: the daily-loss breaker trips from ticks on a falling path ----------------------------------
        e_seq = d.last_seq()
        fills_before_e = s.book.fills
        _sim_post(sim, "/sim/drift", {"instrument": "NSE:INFY", "percent_per_minute": -1.0})
        assert wait_for(lambda: d.breaches("daily_loss", e_seq), 60), (s.book.unrealized_pnl, s.market.status())
        _sim_post(sim, "/sim/drift", {"instrument": "NSE:INFY", "percent_per_minute": 0})
        loss = d.breaches("daily_loss", e_seq)[0]
        fills_by_breach = [ev for ev in d.events(E.FILL, after=e_seq) if ev.seq < loss.seq]
        assert wait_for(lambda: not s.book.open and s.book.fills > fills_before_e, 60)  # the flatten filled

        # -- F: the market-wide breaker on index ticks ------------------------------------------------------
        f_seq = d.last_seq()
        nifty = sim.market.get("NSE:NIFTY 50")
        _sim_post(sim, "/sim/move", {"instrument": "NSE:NIFTY 50", "percent": (nifty.prev_close * 0.895 / nifty.last - 1) * 100})
        assert wait_for(lambda: d.breaches("mwcb", f_seq), 60), s.market.status()
        runner.join(60)
        assert not runner.is_alive() and "error" not in out, out
        run_out = out["run"]
    finally:
        if runner is not None and runner.is_alive():
            stop.set()
            runner.join(15)
        if s is not None:
            s.close()
        sim.stop()
    live_wall = time.monotonic() - wall0
    fig: dict = {"wall_live_s": round(live_wall, 1), "stop_reason": run_out.stop_reason}
    events = _journal(cfg.store_url())
    store = TickStore(var / "ticks")
    rec = {k: list(store.iter_ticks(DAY, [k], fill_ts=True)) for k in watch + indices}

    def of(type_, after=0, before=None):
        return [ev for ev in events if ev.type == type_ and ev.seq > after and (before is None or ev.seq < before)]

    # -- marks journaled for every subscribed instrument --------------------------------------------------
    marks: dict[str, int] = {}
    for ev in of(E.MARK):
        for k in ev.payload["prices"]:
            marks[k] = marks.get(k, 0) + 1
    subscribed = set(watch + indices)
    assert subscribed <= set(marks), (subscribed - set(marks), marks)
    for ev in of(E.MARK):  # every journaled mark is a price the feed delivered (ticker or quote poll)
        for k, px in ev.payload["prices"].items():
            assert float(px) in {t.last_price for t in rec[k]}, (k, px)
    assert all(len(rec[k]) > 0 for k in subscribed), {k: len(v) for k, v in rec.items()}
    fig["marks"] = {k: marks[k] for k in sorted(subscribed)}
    fig["ticks_recorded"] = {k: len(rec[k]) for k in sorted(subscribed)}

    # -- A: priced from the live quote, filled at the sandbox's price ------------------------------------
    assert a.reference_price is not None and len(fills_a) >= 1
    assert sum(f.payload["quantity"] for f in fills_a) == INFY_QTY
    infy = rec["NSE:INFY"]
    for f in fills_a:
        at = datetime.fromisoformat(f.payload["fill_time"])
        before = [t for t in infy if t.ts <= at]
        after_ = [t for t in infy if t.ts > at]
        prev, nxt = before[-1], after_[0]
        # the sandbox's exchange: a market buy takes the last trade before it arrived plus its slippage
        # (fixed 2 bps, rounded up onto the 0.05 grid), never above what the next tick's path reached
        p0, p1 = Decimal(str(prev.last_price)), Decimal(str(nxt.last_price))
        expect = min(_grid(p0 * Decimal("1.0002"), Decimal("0.05"), up=True), max(p0, p1))
        assert Decimal(f.payload["price"]) == expect, (f.payload, prev, nxt)
        if prev.bids and prev.asks:  # a ticker tick in full mode (a quote poll while the ticker was silent has none)
            assert Decimal(str(prev.bids[0].price)) < Decimal(f.payload["price"]) <= max(
                Decimal(str(prev.asks[0].price)), p1), (f.payload["price"], prev.bids[0], prev.asks[0])
    # the session priced the order from the quote it had: an INFY print of the ticker from the half minute
    # (three ticks) before the order was made (the session's clock follows the sandbox's to a second)
    made = [t for t in infy if a_created - timedelta(seconds=30) <= t.ts <= a_created + timedelta(seconds=1)]
    assert a.reference_price in {Decimal(str(t.last_price)) for t in made}, (a.reference_price, a_created, made)
    fig["A"] = {"signal_time": sig_a["signal_time"], "reference_price": str(a.reference_price),
                "fills": [(f.payload["fill_time"], f.payload["quantity"], f.payload["price"]) for f in fills_a],
                "tick_before": (prev.ts.isoformat(), prev.last_price, prev.bids[:1], prev.asks[:1])}

    # -- B: flat prices, packets all along: no stale feed ---------------------------------------------------
    flat_ticks = [t for t in infy if b_start <= t.ts < b_end]
    assert len(flat_ticks) >= 5 * 6 - 1, len(flat_ticks)  # 6 ticks a minute kept coming
    assert len({t.last_price for t in flat_ticks}) == 1  # ... at one price
    stamps = [t.ts for t in flat_ticks]
    assert stamps == sorted(stamps) and (stamps[-1] - stamps[0]).total_seconds() >= 4 * 60 > STALE_FEED_S
    assert flat_ticks[-1].volume > flat_ticks[0].volume  # trades at the same price
    for k in subscribed:  # every instrument stood still, the indices too
        prices = {t.last_price for t in rec[k] if b_start <= t.ts < b_end}
        assert len(prices) <= 1, (k, prices)
    flat_breaches = [ev for ev in of(E.LIMIT_BREACH, b_seq, c_seq)]
    assert flat_breaches == [] and not [ev for ev in of(E.NOTE, b_seq, c_seq) if ev.payload.get("event") == "instrument_stale"]
    fig["B"] = {"window": f"{b_start:%H:%M}-{b_end:%H:%M}", "infy_ticks": len(flat_ticks),
                "price": flat_ticks[0].last_price, "breaches": 0}

    # -- C: the approval re-check refused after the move ------------------------------------------------------
    granted = [ev for ev in of(E.APPROVAL_GRANTED, c_seq) if ev.payload.get("client_order_id") == c.client_order_id]
    assert granted == [] and not [ev for ev in of(E.FILL) if ev.payload["client_order_id"] == c.client_order_id]
    decision = [ev for ev in of(E.APPROVAL_DECISION, c_seq) if ev.payload.get("client_order_id") == c.client_order_id]
    assert len(decision) == 1 and decision[0].payload["by"] == "asha"
    fig["C"] = {"reference_price": str(c.reference_price), "moved_to": moved["last_price"],
                "refusal": next(m for m in refusal.payload["messages"] if "price moved" in m)}

    # -- D: stale feed on a paused ticker, failover to polling and back, back-fill -------------------------------
    stale = [ev for ev in of(E.LIMIT_BREACH, d_seq) if ev.payload["trigger"] == "stale_feed"]
    fo = [ev for ev in of(E.NOTE, d_seq) if ev.payload.get("event") == "failover"]
    fb = [ev for ev in of(E.NOTE, d_seq) if ev.payload.get("event") == "failback"]
    bf = [ev for ev in of(E.NOTE, d_seq) if ev.payload.get("event") == "backfill"]
    assert len(fo) == len(fb) == len(bf) == 1, (fo, fb, bf)
    assert stale and stale[0].payload["value"] >= STALE_FEED_S and stale[0].payload["state"] == "REDUCING"
    assert stale[0].seq < fo[0].seq < fb[0].seq < bf[0].seq
    states = [ev.payload for ev in of(E.TRADING_STATE, d_seq)]
    assert states[0]["state"] == "REDUCING" and states[0]["cause"] == "stale_feed"
    # the hub failed over once the ticker had been silent for the limit, on the wall clock: the silence it
    # measured (from the last packet it read) is in the note. (How long after the pause that was is the
    # machine's scheduling: the last packet read may be a heartbeat before the pause, or one read late.)
    silent = float(fo[0].payload["why"].split(" for ")[1].split(" s ")[0])
    assert f"limit {FAILOVER_S:g} s" in fo[0].payload["why"] and silent >= FAILOVER_S, fo[0].payload
    assert fb[0].payload["polls"] >= 1 and polls_during >= 1
    assert sum(bf[0].payload["bars"].values()) > 0 and not bf[0].payload["failed"], \
        f'{bf[0].payload["start"]} {bf[0].payload["end"]} {bf[0].payload["bars"]} {bf[0].payload["failed"]} {fo[0].time}'
    unlock = [ev for ev in of(E.KILL_SWITCH, d_seq) if ev.payload.get("action") == "unlock"]
    assert len(unlock) == 1 and unlock[0].payload["by"] == "desk"
    assert [x for x in states if x["state"] == "ACTIVE" and x["cause"] == "unlock"]
    fig["D"] = {"stale_feed": stale[0].payload["reason"], "failover_after_wall_s": round(failover_wall, 2),
                "failover": fo[0].payload["why"], "polls": fb[0].payload["polls"],
                "tcs": {"before": str(tcs_before), "moved_to": tcs_moved["last_price"], "polled": str(tcs_polled.last_price)},
                "gap": fb[0].payload["gap"], "backfill_bars": bf[0].payload["bars"]}

    # -- E: the daily-loss breaker tripped from ticks, with no fill in between ------------------------------------
    assert fills_by_breach == [] and loss.payload["value"] >= MAX_DAILY_LOSS
    flat_orders = [ev for ev in of(E.ORDER_CREATED, loss.seq) if ev.payload.get("source") == "breaker"]
    assert len(flat_orders) == 1
    exit_fills = [ev for ev in of(E.FILL, loss.seq) if ev.payload["client_order_id"] == flat_orders[0].payload["client_order_id"]]
    assert sum(f.payload["quantity"] for f in exit_fills) == INFY_QTY and exit_fills[0].payload["side"] == "SELL"
    # tripped by the first INFY tick that took the marked loss past the limit: the day's P&L on each recorded
    # tick after the entry is (entry - price) x quantity + the entry's charges; the tick before it was under
    pnl, first = _first_breach([f.payload for f in fills_a], infy)
    assert Decimal(str(loss.payload["value"])) == pnl[first][0], (loss.payload, pnl[first])
    assert pnl[first - 1][0] < MAX_DAILY_LOSS
    last_infy_mark = [Decimal(ev.payload["prices"]["NSE:INFY"]) for ev in of(E.MARK, e_seq, loss.seq)
                      if "NSE:INFY" in ev.payload["prices"]]
    fig["E"] = {"breach": loss.payload["reason"], "at": loss.time.isoformat(), "infy_marks_journaled": len(last_infy_mark),
                "tick": (pnl[first][1].ts.isoformat(), pnl[first][1].last_price, str(pnl[first][0])),
                "tick_before": (pnl[first - 1][1].ts.isoformat(), pnl[first - 1][1].last_price, str(pnl[first - 1][0])),
                "exit": [(f.payload["fill_time"], f.payload["quantity"], f.payload["price"]) for f in exit_fills]}

    # -- F: the market-wide breaker on index ticks ------------------------------------------------------------
    quarantined = [ev for ev in of(E.NOTE, f_seq) if ev.payload.get("finding") == "quarantined"
                   and "NIFTY 50" in str(ev.payload.get("key", ""))]
    mwcb = [ev for ev in of(E.LIMIT_BREACH, f_seq) if ev.payload["trigger"] == "mwcb"]
    assert quarantined and mwcb and quarantined[0].seq < mwcb[0].seq
    assert "NIFTY 50" in mwcb[0].payload["reason"] and "10 % level" in mwcb[0].payload["reason"]
    halted = [ev.payload for ev in of(E.TRADING_STATE, f_seq) if ev.payload["state"] == "HALTED"]
    assert halted and halted[0]["cause"] == "mwcb"
    assert run_out.trading_state == "HALTED" and run_out.stop_reason.startswith("halted at ")
    fig["F"] = {"quarantined": quarantined[0].payload.get("why") or quarantined[0].payload, "mwcb": mwcb[0].payload["reason"],
                "value": mwcb[0].payload["value"]}

    # -- the day's tick store replays to the same fills ----------------------------------------------------
    fig["replay"] = _compare_replay(tmp_path, var, [sig_a, sig_c], events, loss, mwcb[0], main, infy)
    print("\n" + json.dumps(fig, indent=1, default=str))


def _first_breach(entry_fills: list[dict], ticks: list) -> tuple[list, int]:
    """The marked day's P&L on each recorded tick after the entry's last fill, ``(loss, tick)``:
    (entry cost - price x quantity) + the entry's charges; and the index of the first at or past the limit."""
    qty = sum(int(f["quantity"]) for f in entry_fills)
    cost = sum(Decimal(f["price"]) * int(f["quantity"]) for f in entry_fills)
    charges = sum(Decimal(v) for f in entry_fills for v in f["charges"].values())
    entered = max(datetime.fromisoformat(f["fill_time"]) for f in entry_fills)
    pnl = [(cost - Decimal(str(t.last_price)) * qty + charges, t) for t in ticks if t.ts > entered]
    return pnl, next(i for i, (lo, _) in enumerate(pnl) if lo >= MAX_DAILY_LOSS)


def _price_range(ticks: list, fills: list[dict]) -> tuple[Decimal, Decimal]:
    """Where a fill of these orders can be, by either fill model: the recorded ticks from the last one at or
    before the first fill through the first one after the last fill (the sandbox's path runs on to the next
    tick), their trades and every depth level, widened by the 2 bps slippage and a grid step each way."""
    times = sorted(datetime.fromisoformat(f["fill_time"]) for f in fills)
    before = [k for k, t in enumerate(ticks) if t.ts <= times[0]]
    after = [k for k, t in enumerate(ticks) if t.ts > times[-1]]
    lo_k = before[-1] if before else 0
    hi_k = after[0] if after else len(ticks) - 1
    prices = [Decimal(str(p)) for t in ticks[lo_k:hi_k + 1]
              for p in [t.last_price, *(lv.price for lv in t.bids or ()), *(lv.price for lv in t.asks or ())] if p]
    grid = Decimal("0.05")
    return min(prices) * Decimal("0.9998") - grid, max(prices) * Decimal("1.0002") + grid


def _per_order(fills: list[dict]) -> list[tuple]:
    """Fills grouped by order, in the order of their first fill: (symbol, side, quantity, average price,
    first fill time, fills)."""
    out: dict[str, list] = {}
    for f in fills:
        o = out.setdefault(f["client_order_id"], [f["tradingsymbol"], f["side"], 0, Decimal(0), f["fill_time"], 0])
        q = int(f["quantity"])
        o[3] = (o[3] * o[2] + Decimal(f["price"]) * q) / (o[2] + q)
        o[2] += q
        o[5] += 1
    return [(a, b, q, str(px.quantize(Decimal("0.01"))), t, n) for a, b, q, px, t, n in out.values()]


def _journal(url: str) -> list:
    from tradekit.store import Journal, make_engine

    j = Journal(make_engine(url))
    try:
        return list(j.events())
    finally:
        j.close()


def _compare_replay(tmp_path: Path, var: Path, signals: list[dict], live_events: list, live_loss, live_mwcb, main,
                    infy: list) -> dict:
    """``tradekit replay --ticks --date D`` of the live day's store, with the day's signals, twice.

    What "the same fills" means. The live fills came from the sandbox's exchange, which matches
    an order against its own tick path (the last trade before the order arrived, plus its
    slippage model). The replay's paper broker matches the recorded ticks at tick level (a MARKET
    order takes the recorded depth of the first tick at or after its signal time, plus the same
    slippage model). So:

    - strictly the same: which orders fill and which do not (the entry fills in full; the manual
      proposal is never filled), instrument, side and quantity of every fill, and the order they
      come in; the breakers that act on prices act in the replay on the same recorded ticks: the
      daily-loss breaker flattens the position, the market-wide breaker trips on the same NIFTY
      tick (the same move in %, to the hundredth); and two replays give identical fills;
    - the same up to the two fill models and the live latency: the prices. The replay's entry is
      the recorded ask of the first tick at/after the signal plus 2 bps (rounded up onto the grid),
      the live one the sandbox's last trade when the order reached it plus 2 bps, capped at its
      path; the replay's exit takes the tick the replay's breaker tripped on, the live exit the
      sandbox's price when the flatten order reached it, and the drift (1 %/min at 60x: 1 % a real
      second) goes on meanwhile. How long the live orders took to reach the sandbox is the
      machine's scheduling, so the bound is not a fixed fraction: both prices of an order must lie
      in the range the recorded ticks span between the two fills (their trades and depth, widened
      by the slippage and a grid step each way; :func:`_price_range`);
    - the daily-loss breaker trips in each on the first recorded INFY tick that takes its own marked
      loss (its own entry's price and charges) past the limit, to the paisa. (With equal entries that
      is the same tick; a later live entry can move the crossing by a tick.)
    """
    cfg = tmp_path / "replay.yaml"
    cfg.write_text(json.dumps({
        "data_dir": str(tmp_path / "rvar"),
        "approval": {"mode": "auto", "strategies": {"desk": "manual"}, "ttl_seconds": 7200},
        "risk": {"loss": {"max_daily_loss": MAX_DAILY_LOSS, "adverse_move_pct": None},
                 "breakers": {"actions": {"daily_loss": "REDUCING"}, "volatility_ratio": 1000,
                              "volatility_move_pct": None}},
    }))
    sig_file = tmp_path / "day-signals.json"
    sig_file.write_text(json.dumps(signals))
    outs = []
    for i in range(2):
        rc = main(["replay", "--ticks", "--date", DAY.isoformat(), "--store", str(var / "ticks"), "--signals",
                   str(sig_file), "--out", str(tmp_path / f"replay{i}"), "-c", str(cfg)])
        assert rc in (0, None)
        outs.append(_journal(f"sqlite:///{tmp_path / f'replay{i}' / 'journal.db'}"))
    fills = [[ev.payload for ev in evs if ev.type == E.FILL] for evs in outs]
    key = ("client_order_id", "tradingsymbol", "side", "quantity", "price", "fill_time")
    assert [[tuple(f[k] for k in key) for f in x] for x in fills] == [[tuple(f[k] for k in key) for f in fills[0]]] * 2
    live = [ev.payload for ev in live_events if ev.type == E.FILL]
    by_order_live, by_order_replay = _per_order(live), _per_order(fills[0])
    assert [x[:3] for x in by_order_replay] == [x[:3] for x in by_order_live], (by_order_live, by_order_replay)
    rbreach = {ev.payload["trigger"]: ev.payload for ev in outs[0] if ev.type == E.LIMIT_BREACH}
    assert "daily_loss" in rbreach and "mwcb" in rbreach, rbreach
    assert rbreach["mwcb"]["value"] == live_mwcb.payload["value"]  # the same NIFTY tick
    # the replay's daily-loss breaker tripped on the first recorded tick past the limit for its own entry
    entry_id = fills[0][0]["client_order_id"]
    r_pnl, r_first = _first_breach([f for f in fills[0] if f["client_order_id"] == entry_id], infy)
    assert Decimal(str(rbreach["daily_loss"]["value"])) == r_pnl[r_first][0], (rbreach["daily_loss"], r_pnl[r_first])
    # the prices: both fills of an order lie in what the recorded ticks between them spanned (see above)
    live_ids = list(dict.fromkeys(f["client_order_id"] for f in live))
    replay_ids = list(dict.fromkeys(f["client_order_id"] for f in fills[0]))
    ranges = []
    for lv, rp, lid, rid in zip(by_order_live, by_order_replay, live_ids, replay_ids):
        both = [f for f in live if f["client_order_id"] == lid] + [f for f in fills[0] if f["client_order_id"] == rid]
        lo, hi = _price_range(infy, both)
        ranges.append((str(lo), str(hi)))
        assert lo <= Decimal(lv[3]) <= hi and lo <= Decimal(rp[3]) <= hi, (lv, rp, lo, hi)
    return {"live": by_order_live, "replay": by_order_replay, "ranges": ranges,
            "breaches_live": {"daily_loss": live_loss.payload["value"], "mwcb": live_mwcb.payload["value"]},
            "breaches_replay": {k: v.get("value") for k, v in rbreach.items()}}


def test_a_flat_stretch_keeps_the_ticks_coming_at_one_price(sim):
    """``POST /sim/flat``: the next N bars trade at the last price (o = h = l = c) with their volume."""
    sim.step(2)
    infy = sim.market.get("NSE:INFY")
    last = infy.last
    r = requests.post(f"{sim.url}/sim/flat", json={"instrument": "NSE:INFY", "minutes": 3}, timeout=5)
    assert r.status_code == 200 and r.json()["data"] == {"instruments": ["NSE:INFY"], "minutes": 3}
    vol0 = infy.volume
    released = [x for minute in sim.step(3) for x in minute if x.series is infy]
    assert len(released) == 3 * sim.market.ticks_per_bar and {x.c for x in released} == {last}
    assert infy.volume > vol0 and all(sim.market.bar(infy, infy.i - k)[:4] == (last,) * 4 for k in (1, 2, 3))
    sim.step(1)
    assert sim.market.bar(infy, infy.i - 1)[:4] != (last,) * 4  # then the replay goes on
    bad = requests.post(f"{sim.url}/sim/flat", json={"instrument": "NSE:ITC", "minutes": 3}, timeout=5)
    assert bad.status_code == 400 and "instrument" in bad.json()["message"]
    bad = requests.post(f"{sim.url}/sim/flat", json={"minutes": 1.5}, timeout=5)
    assert bad.status_code == 400 and "minutes" in bad.json()["message"]
