"""Options: chains, Greeks, expiry (options helper) and multi-leg strategies, payoff and basket margin (multileg)."""
