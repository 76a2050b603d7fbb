"""Market data: one path for paper and live (design.md, "Market data: one path for paper and live").

:class:`MarketDataHub` takes every packet (Kite ticker, quote polling in failover, paper bars,
replays), checks it, keeps the latest quote per instrument and feeds the OMS, the risk manager,
the journal (throttled marks) and the paper broker.
"""

from tradekit.marketdata.config import MarketDataConfig, QualitySettings
from tradekit.marketdata.hub import MarketDataHub, Quote
from tradekit.marketdata.quality import Finding, QualityChecker

__all__ = ["Finding", "MarketDataConfig", "MarketDataHub", "QualityChecker", "QualitySettings", "Quote"]
