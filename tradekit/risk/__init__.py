"""Pre-trade risk gate, limits, circuit breakers, kill switch, portfolio risk."""

from tradekit.risk.base import ALLOW, CheckResult, PassThroughGate, RiskContext, RiskDecision, RiskGate

__all__ = ["ALLOW", "CheckResult", "PassThroughGate", "RiskContext", "RiskDecision", "RiskGate"]
