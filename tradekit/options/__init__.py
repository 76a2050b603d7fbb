"""Options and futures: chains, implied volatility and Greeks, expiry handling, multi-leg strategies."""
