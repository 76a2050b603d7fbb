"""The pre-trade gate: latency of ``PreTradeGate.check`` for one order, all checks on.

Setup: a book of 50 positions (25 bundled NIFTY stocks plus 25 synthetic names, three
strategies, MIS and CNC, a sector map for all), 20 working orders, a restricted list, an F&O
ban list, a pre-trade VaR model (50 × 50 covariance) and instruments (tick, lot, freeze
checked). 100,000 orders cycle through 1,000 varied requests (symbols, sides, LIMIT/MARKET/
SL, MIS/CNC, a few that fail). Timed per call with ``perf_counter_ns``; figures are the median
over repeats of each run's p50/p99.

Scenarios:

- ``static``: the book does not change between orders (its summary is reused);
- ``lazy``: before every order an event is applied (the OMS journals ORDER_CREATED first) and
  every 10th order a one-position mark, which the gate catches up on inside ``check``;
- ``session`` (closest to a running session): before every order an event is applied, and every 5th order a
  mark of all 50 positions, which the session hands to ``RiskManager.on_event`` (breakers,
  summary, VaR state) as it does with every event, before the order arrives;
- ``session+account``: as ``session`` with the OMS's real ``Account`` for the funds check
  (its ``available()`` walks orders and positions in Decimal: reported apart);
- ``pass_through``: :class:`PassThroughGate` on the same orders, the floor of a Python call
  returning a decision.

Figures depend on the machine and its load: the reported runs were on a shared 2-core VM with
other jobs running; ``session`` pays for caches that the mark processing between orders
evicts (the same checks run about 30 % slower there than in ``lazy``).

The rate governor is on; its limit is raised (``registered_algo``) so that the orders are
not all refused by it, since they are timed back to back. Run:
``.venv/bin/python -m benchmarks.bench_risk_gate``.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from datetime import timedelta
from decimal import Decimal

N_ORDERS = 100_000
REPEATS = 5
TARGET_P99_US = 50.0


def _setup(seed: int = 11):
    from tradekit.clock import ist
    from tradekit.model import Instrument, Order, OrderRequest
    from tradekit.model.enums import Exchange, InstrumentType, Segment
    from tradekit.risk import RiskConfig, RiskContext, RiskManager
    from tradekit.risk.config import RiskLists
    from tradekit.risk.var import VarModel
    from tradekit.store import Book, Event, EventType as E

    import numpy as np

    rng = random.Random(seed)
    now = ist(2026, 11, 25, 10, 30)
    book = Book()
    seq = [0]

    def apply(t, p, at=None):
        seq[0] += 1
        ts = (at or now).isoformat()
        ev = Event(seq[0], ts, ts, t, p, "", "")
        book.apply(ev)
        return ev

    apply(E.SESSION_STARTED, {"capital": "10000000"})
    stocks = ["ASIANPAINT", "AXISBANK", "BAJFINANCE", "BHARTIARTL", "HCLTECH", "HDFCBANK", "HINDUNILVR", "ICICIBANK",
              "INFY", "ITC", "KOTAKBANK", "LT", "M&M", "MARUTI", "NTPC", "POWERGRID", "RELIANCE", "SBIN", "SUNPHARMA",
              "TATAMOTORS", "TATASTEEL", "TCS", "TITAN", "ULTRACEMCO", "WIPRO"]
    symbols = stocks + [f"SYN{i:02d}" for i in range(25)]
    sectors = ["bank", "it", "energy", "auto", "fmcg", "metal", "pharma", "infra"]
    sector_map = {s: sectors[i % len(sectors)] for i, s in enumerate(symbols)}
    prices = {s: round(rng.uniform(100, 4000), 1) for s in symbols}
    instruments = {s: Instrument(Exchange.NSE, s, 10_000 + i, tick_size=Decimal("0.05"), lot_size=1)
                   for i, s in enumerate(symbols)}
    fut = Instrument(Exchange.NFO, "NIFTY26DECFUT", 99, tick_size=Decimal("0.10"), lot_size=65, segment=Segment.NFO_FUT,
                     instrument_type=InstrumentType.FUT, name="NIFTY", underlying="NIFTY", freeze_quantity=1800)
    for i, s in enumerate(symbols):
        strat = ("momo", "meanrev", "pairs")[i % 3]
        product = "CNC" if i % 4 == 0 else "MIS"
        side = "BUY" if (i % 5 or product == "CNC") else "SELL"
        apply(E.FILL, {"trade_id": f"T{i}", "quantity": rng.randint(10, 200), "price": str(prices[s]), "side": side,
                       "exchange": "NSE", "tradingsymbol": s, "product": product, "strategy": strat})
    apply(E.MARK, {"prices": {f"NSE:{s}": str(round(p * 1.001, 2)) for s, p in prices.items()}})
    for i in range(20):  # working orders
        s = symbols[i]
        req = OrderRequest("NSE", s, "BUY", 5, "LIMIT", "MIS", price=Decimal(str(round(prices[s] * 0.98, 1))))
        cid = f"W{i}"
        apply(E.ORDER_CREATED, {"client_order_id": cid, "strategy": "momo", "request": req.to_dict()})
        apply(E.APPROVAL_GRANTED, {"client_order_id": cid, "by": "b"})
        apply(E.ORDER_SUBMITTED, {"client_order_id": cid})
        apply(E.ORDER_UPDATE, {"client_order_id": cid, "status": "OPEN", "filled_quantity": 0})
    assert len(book.positions) == 50

    cfg = RiskConfig.model_validate({
        "compliance": {"max_orders_per_second": 1_000_000, "registered_algo": True, "algo_id": "ALGO1",
                       "restricted": ["YESBANK"], "fno_ban": {now.date().isoformat(): ["SAIL"]}},
        "exposure": {"max_orders_per_day": 10**9, "max_position_value": 5_000_000, "max_position_quantity": 100_000},
        "loss": {"max_daily_loss": 500_000},
        "var": {"limit_pct": 50.0},
    })
    lists = RiskLists(frozenset({"YESBANK"}), {now.date(): frozenset({"SAIL"})}, sector_map)
    nrng = np.random.default_rng(seed)
    f = nrng.normal(size=(250, 4))
    load = nrng.normal(size=(4, 50)) * 0.008
    rets = f @ load + nrng.normal(size=(250, 50)) * 0.01
    vm = VarModel(symbols, np.cov(rets, rowvar=False), 0.99, 1)
    risk = RiskManager(cfg, lists=lists, var_model=vm, calendar=_FixedCalendar(now))
    risk.start_day(book, now.date())

    orders = []
    for i in range(1000):
        s = rng.choice(symbols)
        px = prices[s]
        kind = rng.random()
        side = rng.choice(["BUY", "SELL"])
        product = rng.choice(["MIS", "MIS", "CNC"])
        if kind < 0.5:
            req = OrderRequest("NSE", s, side, rng.randint(1, 300), "LIMIT", product,
                               price=Decimal(str(round(px * rng.uniform(0.97, 1.03) / 0.05) * 0.05)).quantize(Decimal("0.05")))
        elif kind < 0.8:
            req = OrderRequest("NSE", s, side, rng.randint(1, 300), "MARKET", product, market_protection=Decimal("-1"))
        elif kind < 0.95:
            trig = Decimal(str(round(px * 0.99 / 0.05) * 0.05)).quantize(Decimal("0.05"))
            req = OrderRequest("NSE", s, side, rng.randint(1, 300), "SL", product, price=trig, trigger_price=trig)
        else:
            req = OrderRequest("NFO", "NIFTY26DECFUT", side, 65 * rng.randint(1, 40), "LIMIT", "NRML",
                               price=Decimal("24500.00"))
        inst = fut if req.exchange is Exchange.NFO else instruments[s]
        ltp = Decimal("24500") if req.exchange is Exchange.NFO else Decimal(str(px))
        orders.append((Order(f"B{i}", req, strategy=rng.choice(["momo", "meanrev", "pairs"])), inst, ltp))
    return book, risk, orders, now, RiskContext, apply, prices, symbols


class _FixedCalendar:
    """MIS cut-off 15:20 on the benchmark day (keeps the market calendar out of the timing)."""

    def __init__(self, now):
        self.cut = now.replace(hour=15, minute=20)

    def mis_cutoff(self, day, market):
        return self.cut


def _run(scenario: str) -> tuple[float, float, int]:
    from tradekit.risk import PassThroughGate
    from tradekit.store import EventType as E

    book, risk, orders, now, RiskContext, apply, prices, symbols = _setup()
    account = None
    if scenario == "session+account":
        import tradekit.brokers.paper  # noqa: F401  (import order: paper broker before the account)
        from tradekit.execution.account import Account

        account = Account(book)
    g = PassThroughGate() if scenario == "pass_through" else risk.gate
    moving = scenario != "static" and scenario != "pass_through"
    session = scenario.startswith("session")
    check = g.check
    times = [0] * N_ORDERS
    pc = time.perf_counter_ns
    allowed = 0
    step = timedelta(microseconds=50)
    t = now
    gc.collect()
    for n in range(N_ORDERS):
        order, inst, ltp = orders[n % 1000]
        t = t + step
        if moving:
            apply(E.NOTE, {"n": n}, t)  # any event: book.last_seq moves
            if session and n % 5 == 0:
                f = 1 + (n % 7 - 3) / 1000
                ev = apply(E.MARK, {"prices": {f"NSE:{s}": str(round(prices[s] * f, 2)) for s in symbols}}, t)
                risk.on_event(ev, book)
            elif not session and n % 10 == 0:
                s = symbols[n % 50]
                apply(E.MARK, {"prices": {f"NSE:{s}": str(round(prices[s] * (1 + (n % 7 - 3) / 1000), 2))}}, t)
        ctx = RiskContext(t, book, account, inst, ltp, False, "signal", "auto")
        t0 = pc()
        d = check(order, ctx)
        times[n] = pc() - t0
        allowed += d.allowed
    times.sort()
    return times[N_ORDERS // 2] / 1000, times[int(N_ORDERS * 0.99)] / 1000, allowed


def run() -> dict:
    """Time the gate; return p50/p99 in µs per scenario (medians over REPEATS)."""
    out = {}
    for scenario in ("pass_through", "static", "lazy", "session", "session+account"):
        p50s, p99s = [], []
        allowed = 0
        for _ in range(REPEATS if scenario != "session+account" else 2):
            try:
                p50, p99, allowed = _run(scenario)
            except ImportError as e:  # the OMS account is not importable in this tree
                out[scenario] = {"skipped": str(e)}
                break
            p50s.append(p50)
            p99s.append(p99)
        if scenario in out:
            continue
        out[scenario] = {"p50_us": round(statistics.median(p50s), 2), "p99_us": round(statistics.median(p99s), 2),
                         "allowed_pct": round(100.0 * allowed / N_ORDERS, 1)}
    out["target_p99_us"] = TARGET_P99_US
    out["meets_target"] = {k: v["p99_us"] <= TARGET_P99_US for k, v in out.items()
                           if isinstance(v, dict) and "p99_us" in v and k not in ("pass_through", "session+account")}
    return out


def main() -> None:
    import platform

    res = run()
    print(f"risk gate: {N_ORDERS:,} orders, book of 50 positions, all checks on; medians of {REPEATS} runs "
          f"(Python {platform.python_version()}, {platform.machine()})")
    for k, v in res.items():
        if isinstance(v, dict) and "skipped" in v:
            print(f"  {k:15s} skipped: {v['skipped']}")
        elif isinstance(v, dict) and "p50_us" in v:
            print(f"  {k:15s} p50 {v['p50_us']:7.2f} µs   p99 {v['p99_us']:7.2f} µs   allowed {v['allowed_pct']:.1f} %")
    met = ", ".join(f"{k} {'met' if ok else 'NOT met'}" for k, ok in res["meets_target"].items())
    print(f"  target p99 ≤ {TARGET_P99_US:g} µs: {met}")


if __name__ == "__main__":
    main()
