"""The paper broker: a simulated exchange behind the same Broker protocol as Kite."""

from tradekit.brokers.paper.broker import PaperBroker
from tradekit.brokers.paper.config import MarginConfig, PaperConfig, SlippageConfig
from tradekit.brokers.paper.exchange import SimExchange, SimOrder, SimTrade

__all__ = ["MarginConfig", "PaperBroker", "PaperConfig", "SimExchange", "SimOrder", "SimTrade", "SlippageConfig"]
