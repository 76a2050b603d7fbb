"""The market-data hub's quiet runs of recorded minutes (:meth:`MarketDataHub.on_quiet_bars`).

A replay's minutes in which nothing can happen but prices moving (no order resting, no signal
due, every listener quiet) go through here in one call instead of one :meth:`MarketDataHub.on_ticks`
per minute. The per-minute work that carries state goes on minute by minute in the same order
(clock, quality state, the risk manager's packet, price and book checks); what only the last tick
of an instrument decides (quotes, OMS prices, the mark to journal, listeners' last price) is
written once, at the end or just before a breaker's action is applied.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from tradekit.clock import ns_to_dt
from tradekit.data.types import Tick
from tradekit.marketdata.quality import KeyState

log = logging.getLogger("tradekit.marketdata.hub")


def _dec(x: float) -> Decimal:  # the hub's price conversion (hub._dec)
    return Decimal(float.__repr__(float(x)))


def quiet_bars(hub, source, ends_ns, bounds, keys, closes, volumes, day_volumes, sync, n) -> int:
    """See :meth:`MarketDataHub.on_quiet_bars` (the caller holds the session's lock)."""
    clock, risk, book = hub.clock, hub.risk, hub.book
    states = {}
    for k in set(keys[bounds[0]:bounds[n]]):
        st = hub.state.get(k)
        if st is None:
            st = hub.state[k] = KeyState()
        states[k] = st
    brk = risk.breakers if risk is not None else None
    held: dict[str, list] = {}
    if brk is not None and book is not None:
        for p in book.positions.values():
            if p.quantity and p.instrument_key in states:
                held.setdefault(p.instrument_key, []).append(p)
    done = 0  # minutes whose last-price state is written
    last_j: dict[str, tuple[int, int]] = {}  # key -> (its last bar, that bar's minute) up to the minute flushed
    nows: list[datetime] = []  # each minute's clock reading (a quote's receive time)

    def flush(i: int) -> None:
        nonlocal done
        if sync is not None:
            sync(i)
        now = clock.now()
        for x in range(done, i + 1):
            for j in range(bounds[x], bounds[x + 1]):
                last_j[keys[j]] = (j, x)
        ticks = []
        with hub._lock:
            k = bounds[i + 1] - bounds[done]
            counts = hub.counts
            counts["packets"] += i + 1 - done
            counts["ticks"] += k
            counts["accepted"] += k
            if hub.last_packet is None or now > hub.last_packet:
                hub.last_packet = now
            for key, (j, x) in last_j.items():
                c = closes[j]
                t = Tick(key, ns_to_dt(ends_ns[x]), c, None, "quote", last_quantity=volumes[j], volume=day_volumes[j])
                ticks.append(t)
                states[key].ts = t.ts
                if hub.prices is not None:
                    hub.prices[key] = _dec(c)
                hub.quotes[key] = (t, nows[x], source)
                m = hub._marked.get(key)
                if m is None or m[0] != c:
                    hub._dirty[key] = c
                else:
                    hub._dirty.pop(key, None)
            hub._cond.notify_all()
        last_j.clear()
        done = i + 1
        for fn in hub.listeners:
            for t in ticks:
                try:
                    fn(t)
                except Exception:
                    log.exception("market-data listener failed")

    taken = n
    set_ns = clock.set_ns
    for i in range(n):
        lo, hi = bounds[i], bounds[i + 1]
        if any(not closes[j] or closes[j] <= 0 for j in range(lo, hi)):
            taken = i
            break
        e = ends_ns[i]
        if e > clock.ns:
            set_ns(e)
        now = clock.now()
        nows.append(now)
        for j in range(lo, hi):
            states[keys[j]].accept_price(closes[j])
        if brk is None:
            continue
        brk.on_packet(now)
        acted = moved = False
        for j in range(lo, hi):
            key, c = keys[j], closes[j]
            acts = brk.on_price(key, c, now)
            if acts:
                if not acted:
                    flush(i)
                risk._apply(acts, now)
                acted = True
            pos = held.get(key)
            if pos:
                px = _dec(c)
                for p in pos:  # in memory; the journaled mark follows (throttled)
                    p.mark(px)
                moved = True
        if moved:
            acts = brk.on_book(book, now, marked=True)
            if acts:
                if not acted:
                    flush(i)
                risk._apply(acts, now)
                acted = True
        if acted:
            taken = i + 1
            break
    if taken > done:
        flush(taken - 1)
    return taken
