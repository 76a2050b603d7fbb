"""Brokers behind the one order-management core: paper (simulated exchange) and Kite (live)."""

from tradekit.brokers.base import (
    Broker,
    BrokerHolding,
    BrokerListener,
    BrokerOrder,
    BrokerPosition,
    BrokerTrade,
    Funds,
)

__all__ = ["Broker", "BrokerHolding", "BrokerListener", "BrokerOrder", "BrokerPosition", "BrokerTrade", "Funds"]
