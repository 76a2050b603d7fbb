"""Paper sessions on recorded bars record their F&O quotes in the tick store, as live sessions do.

A live session and a paper session on live ticks record every tick their market-data hub accepts
(``hub.tick_store``, :meth:`tradekit.marketdata.hub.MarketDataHub.on_ticks`). A paper session on
recorded bars feeds the same hub (each minute's bars as one packet of ticks at the minute's close,
:func:`tradekit.execution.replay.run_replay`) but recorded nothing, so a page that reads recorded
quotes (the option-chain dashboard, :mod:`tradekit.options.chain_feed`) had nothing to show for it.
:func:`record_paper_quotes` attaches the configured tick store to the hub through the same
``hub.tick_store`` path, keeping only the ticks of F&O contracts (NFO, BFO, CDS, MCX) and of the
index spots the chain prices from (:data:`tradekit.options.chain.INDEX_SPOT`): the equity bars a
paper day replays are in the data directory already and are not copied. The ticks are stamped with
the session's simulated time, so they land in the replayed day's folder of the store.

``tick_store.record_paper: false`` turns it off. A re-run of the same paper day appends its ticks
again: the chain page reads each contract's latest quote, which a re-run leaves the same.
"""

from __future__ import annotations

__all__ = ["record_paper_quotes", "F_AND_O_PREFIXES"]

F_AND_O_PREFIXES = ("NFO:", "BFO:", "CDS:", "MCX:")


class _ChainQuotesOnly:
    """``append(ticks)`` for the hub: passes on the F&O contracts' and index spots' ticks only."""

    def __init__(self, store):
        from tradekit.options.chain import INDEX_SPOT

        self.store = store
        self.spots = frozenset(INDEX_SPOT.values())

    def append(self, ticks) -> None:
        keep = [t for t in ticks if t.key and (t.key.startswith(F_AND_O_PREFIXES) or t.key in self.spots)]
        if keep:
            self.store.append(keep)


def record_paper_quotes(session, store=None):
    """Record ``session``'s F&O quotes (a paper session on recorded bars) in the configured tick store.

    Returns the store, which the caller closes after the session (its buffered ticks are written
    then), or None when nothing is recorded: ``tick_store.enabled`` or ``tick_store.record_paper``
    is false, or the hub records already (a live or paper-on-live session).
    """
    hub = getattr(session, "market", None)
    cfg = session.config.tick_store
    if hub is None or hub.tick_store is not None or not (cfg.enabled and cfg.record_paper):
        return None
    if store is None:
        from tradekit.data.tickstore import open_tick_store

        store = open_tick_store(session.config, session.clock)
    hub.tick_store = _ChainQuotesOnly(store)
    return store
