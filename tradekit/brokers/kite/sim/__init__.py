"""A Kite Connect-compatible sandbox on 127.0.0.1 (REST + ticker), backed by the paper exchange.

See :class:`tradekit.brokers.kite.sim.server.KiteSimServer` and ``tradekit kite-sim --help``.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name == "KiteSimServer":
        from tradekit.brokers.kite.sim.server import KiteSimServer

        return KiteSimServer
    if name == "Faults":
        from tradekit.brokers.kite.sim.faults import Faults

        return Faults
    raise AttributeError(name)


__all__ = ["Faults", "KiteSimServer"]
