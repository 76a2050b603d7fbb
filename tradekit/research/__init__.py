"""Research helpers: vectorbt backtests with tradekit's charges and fill timing, and the parity check."""
