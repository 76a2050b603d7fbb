"""Zerodha Kite Connect: the live broker and a Kite-compatible local sandbox.

* :class:`KiteBroker` (:mod:`.broker`): the :class:`~tradekit.brokers.base.Broker` protocol on
  the official ``kiteconnect`` client: login and token lifecycle, orders, order updates,
  market data. :func:`make_live_broker` builds it for a live :class:`~tradekit.session.Session`.
* :class:`KiteConfig` (:mod:`.config`): the ``kite:`` config section.
* :mod:`.reconcile`: :class:`Reconciler` and :func:`reconcile` (our book against Kite's).
* :mod:`.ticks`: the ticker's binary codec (vectorised parser, encoder).
* :mod:`.sim`: :class:`~tradekit.brokers.kite.sim.server.KiteSimServer`, the sandbox
  (``tradekit kite-sim``).

``kiteconnect`` is imported only inside this package, and only when a name that needs it is
used: loading the config does not import it.
"""

from __future__ import annotations

_LAZY = {
    "KiteBroker": "tradekit.brokers.kite.broker",
    "make_live_broker": "tradekit.brokers.kite.broker",
    "KiteConfig": "tradekit.brokers.kite.config",
    "KiteRateLimits": "tradekit.brokers.kite.config",
    "KitePostbackConfig": "tradekit.brokers.kite.config",
    "Reconciler": "tradekit.brokers.kite.reconcile",
    "ReconcileReport": "tradekit.brokers.kite.reconcile",
    "reconcile": "tradekit.brokers.kite.reconcile",
    "KiteStream": "tradekit.brokers.kite.stream",
    "KiteFeed": "tradekit.brokers.kite.feed",
    "KiteSimServer": "tradekit.brokers.kite.sim.server",
    "governor": "tradekit.brokers.kite.ratelimit",
}


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'tradekit.brokers.kite' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(mod), name)


__all__ = sorted(_LAZY)
