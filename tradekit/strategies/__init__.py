"""Sample strategies that emit signals (the research-to-live hand-off)."""

from tradekit.strategies.sma import SmaCrossover

__all__ = ["SmaCrossover"]
