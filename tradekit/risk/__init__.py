"""Pre-trade risk gate, limits, circuit breakers, kill switch, portfolio risk.

* :class:`PreTradeGate` — ``check(order, RiskContext) -> RiskDecision`` for every order.
* :class:`RiskConfig` — the ``risk:`` config section.
* :class:`CircuitBreakers`, :class:`KillSwitch`, :class:`RiskManager` (all of it wired).
* :mod:`tradekit.risk.var` (VaR/ES, stress), :mod:`tradekit.risk.sizing`,
  :mod:`tradekit.risk.report` import pandas and are imported on their own.
"""

from tradekit.risk.base import (
    ALLOW,
    HALTED_SOURCES,
    CheckResult,
    PassThroughGate,
    RiskContext,
    RiskDecision,
    RiskGate,
    TradingState,
)
from tradekit.risk.breakers import BreakerAction, CircuitBreakers, mwcb_level
from tradekit.risk.config import RiskConfig, RiskLists, load_lists
from tradekit.risk.gate import DayPnL, PreTradeGate
from tradekit.risk.killswitch import KillSwitch, RiskExecutor
from tradekit.risk.manager import RiskManager

__all__ = [
    "ALLOW", "BreakerAction", "CheckResult", "CircuitBreakers", "DayPnL", "HALTED_SOURCES", "KillSwitch",
    "PassThroughGate", "PreTradeGate", "RiskConfig", "RiskContext", "RiskDecision", "RiskExecutor", "RiskGate",
    "RiskLists", "RiskManager", "TradingState", "load_lists", "mwcb_level",
]
