"""Kite as a source for the hub: the ticker (child process) in, quote polling and 1-minute
candles for failover and back-fill.

:func:`attach_kite` connects a :class:`~tradekit.brokers.kite.broker.KiteBroker` and a
:class:`~tradekit.marketdata.hub.MarketDataHub`: the ticker's frames go to ``hub.on_ticks(...,
"kite")``, its heartbeats and connection events to the hub, the hub's subscriptions to the
ticker; ``KiteBroker.last_price`` / ``best_bid`` / ``best_ask`` / ``depth`` answer from the hub.
"""

from __future__ import annotations

import logging
from datetime import datetime

from tradekit.brokers.kite import parsing
from tradekit.data.types import DepthLevel, Tick

log = logging.getLogger(__name__)


def _levels(rows) -> tuple[DepthLevel, ...]:
    out = []
    for r in rows or ():
        px = float(r.get("price") or 0)
        if px > 0:
            out.append(DepthLevel(px, int(r.get("quantity") or 0), int(r.get("orders") or 0)))
    return tuple(out)


def quote_ticks(quotes: dict, hub=None) -> list[Tick]:
    """Kite ``/quote`` rows (``{"NSE:INFY": {...}}``) as full-mode ticks; their circuit limits
    become the hub's price bands."""
    out = []
    for key, q in quotes.items():
        lp = q.get("last_price")
        if not lp:
            continue
        ohlc = q.get("ohlc") or {}
        depth = q.get("depth") or {}
        ts = parsing.ts(q.get("timestamp"))
        ltt = parsing.ts(q.get("last_trade_time"))
        close = float(ohlc.get("close") or 0) or None
        out.append(Tick(key, ts or ltt, float(lp), q.get("instrument_token"), "full", True, q.get("last_quantity"),
                        q.get("average_price"), q.get("volume"), q.get("buy_quantity"), q.get("sell_quantity"),
                        ohlc.get("open"), ohlc.get("high"), ohlc.get("low"), close, q.get("net_change"), ltt,
                        q.get("oi"), q.get("oi_day_high"), q.get("oi_day_low"), _levels(depth.get("buy")),
                        _levels(depth.get("sell"))))
        lo, hi = q.get("lower_circuit_limit"), q.get("upper_circuit_limit")
        if hub is not None and lo and hi:
            hub.set_band(key, float(lo), float(hi))
    return out


class _TickerSubscriptions:
    """The hub's subscriptions on the broker's ticker feed (tokens from the instrument master,
    index tokens from ``market_data.indices``)."""

    def __init__(self, broker, hub):
        self.broker, self.hub = broker, hub

    def token_of(self, key: str) -> int:
        tok = self.hub.indices.get(key)
        if tok is not None:
            return int(tok)
        tok = int(self.broker.token_of(key))
        self.hub.token_key(tok, key)
        return tok

    def subscribe(self, keys: list[str], mode: str) -> None:
        feed = self.broker.feed()
        feed.token_of = self.token_of
        good = []
        for k in keys:
            try:
                self.token_of(k)
                good.append(k)
            except Exception as e:
                log.warning("cannot subscribe %s: %s", k, e)
        if good:
            feed.subscribe(good, mode)

    def unsubscribe(self, keys: list[str]) -> None:
        feed = self.broker.feed()
        feed.token_of = self.token_of
        feed.unsubscribe(keys)


def attach_kite(broker, hub) -> None:
    """Wire ``broker``'s ticker into ``hub`` (see the module docstring)."""

    def poll(keys: list[str]) -> list[Tick]:
        return quote_ticks(broker.quote(keys), hub)

    def backfill(key: str, start: datetime, end: datetime):
        tok = hub.indices.get(key)  # an index by its configured token: the master may not list it (BSE:SENSEX)
        return broker.historical(key if tok is None else (key, tok), start, end, "minute", cache=False)

    broker.market = hub
    feed = broker.feed()
    feed.sink = lambda ticks: hub.on_ticks(ticks, "kite")
    stream = broker.stream
    stream.on_heartbeat = lambda: hub.on_heartbeat("kite")
    if stream.connected:
        hub.source_event("open", {})
    hub.attach_source(_TickerSubscriptions(broker, hub), "kite", poller=poll, backfiller=backfill)
