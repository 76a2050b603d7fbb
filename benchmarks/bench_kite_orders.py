"""The live order path in one process: OMS (journal + risk gate) → KiteBroker (governor, error
mapping, official client) → HTTP → the Kite sandbox on 127.0.0.1 (paper exchange).

Three layers are timed over ``N`` orders each, so the cost of each is visible:

- ``raw_client``: the official ``KiteConnect.place_order`` alone (HTTP + sandbox);
- ``adapter``: ``KiteBroker.place_order`` (+ rate governor, parameter building, error mapping);
- ``oms``: ``OrderManager.submit`` (+ write-ahead journal on SQLite, risk gate, approval).

Rate limits are lifted on both sides: at Kite's 10/s and 400/min, 1,000 orders take at least
150 s and the latency would only measure the governor's spacing. The sandbox runs in a thread
of the same process (sharing the GIL), which adds to every figure.

Run: ``.venv/bin/python benchmarks/bench_kite_orders.py``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks._stats import latency_stats

N = 1000


def _stats(xs: list[float]) -> dict:
    return latency_stats(xs, (50, 99), 3)






def run(n: int = N) -> dict:
    """Time ``n`` orders through each layer; print and return p50/p99 (milliseconds)."""
    import logging
    import urllib.parse

    import requests
    from kiteconnect import KiteConnect
    from pydantic import SecretStr

    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.brokers.kite.config import KiteConfig, KiteRateLimits
    from tradekit.brokers.kite.ratelimit import Window, governor
    from tradekit.brokers.kite.sim.server import KiteSimServer
    from tradekit.clock import RealClock
    from tradekit.config.secrets import Secrets
    from tradekit.execution.oms import OrderManager
    from tradekit.model.order import OrderRequest
    from tradekit.store import Book, Journal, make_engine, sqlite_url

    logging.getLogger("tornado.access").setLevel(logging.ERROR)
    big = {k: (Window(10**6, 1.0),) for k in ("orders", "quote", "historical", "other")}
    sim = KiteSimServer(port=0, symbols=["INFY", "SBIN", "RELIANCE"], limits=big, capital=10**12).start()
    out: dict = {"orders_per_layer": n}
    try:
        sim.step(1)

        def token() -> str:
            r = requests.get(f"{sim.login_url}?api_key={sim.api_key}&v=3", allow_redirects=False, timeout=5)
            return urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["Location"]).query)["request_token"][0]

        # 1. the official client alone
        kite = KiteConnect(sim.api_key, root=sim.url)
        kite.generate_session(token(), "simsecret")
        raw = []
        for i in range(n):
            t0 = time.perf_counter()
            kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY", quantity=1,
                             product="MIS", order_type="MARKET", market_protection=-1, tag=f"RAW{i}")
            raw.append(time.perf_counter() - t0)
        out["raw_client"] = _stats(raw)

        # 2. the adapter
        tmp = Path(tempfile.mkdtemp(prefix="bench-kite-"))
        limits = KiteRateLimits(orders_per_second=10**6, orders_per_minute=10**6, orders_per_day=10**6,
                                quote_per_second=10**6, historical_per_second=10**6, other_per_second=10**6, margin_seconds=0)
        cfg = KiteConfig(root=sim.url, login_url=sim.login_url, ticker_url=sim.ws_url, rate_limits=limits)
        secrets = Secrets({"KITE_API_KEY": SecretStr(sim.api_key), "KITE_API_SECRET": SecretStr("simsecret")})
        broker = KiteBroker(cfg, secrets, data_dir=tmp)
        broker.complete_login(token())
        req = OrderRequest("NSE", "SBIN", "BUY", 1, "MARKET", "MIS")
        ad = []
        for i in range(n):
            t0 = time.perf_counter()
            broker.place_order(f"ADP{i}", req)
            ad.append(time.perf_counter() - t0)
        out["adapter"] = _stats(ad)

        # 3. the OMS (journal + gate + adapter)
        journal = Journal(make_engine(sqlite_url(tmp / "bench.db")), clock=RealClock())
        oms = OrderManager(journal=journal, book=Book(), broker=broker, clock=RealClock(), mode="live",
                           allow_auto_in_live=True)
        full = []
        for _ in range(n):
            t0 = time.perf_counter()
            oms.submit(OrderRequest("NSE", "RELIANCE", "BUY", 1, "MARKET", "MIS"), strategy="bench")
            full.append(time.perf_counter() - t0)
        out["oms"] = _stats(full)
        out["server_orders"] = len(sim.app.placements)
        out["duplicates"] = len(sim.app.placements) - len({t for _, t in sim.app.placements})
        journal.close()
        broker.close()
    finally:
        sim.stop()
        governor().reset()
    for layer in ("raw_client", "adapter", "oms"):
        s = out[layer]
        print(f"{layer:>10}: p50 {s['p50_ms']:7.3f} ms   p99 {s['p99_ms']:7.3f} ms   mean {s['mean_ms']:7.3f} ms   (n={s['n']})")
    print(f"server received {out['server_orders']} orders, {out['duplicates']} duplicated tags")
    return out


if __name__ == "__main__":
    run()
