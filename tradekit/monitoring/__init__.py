"""Monitoring: session reports, performance and execution-quality analytics."""

from tradekit.monitoring.analytics import (
    daily_returns,
    drawdown,
    execution_quality,
    fill_slippage,
    fills_frame,
    max_drawdown,
    performance_stats,
    round_trips,
    trade_stats,
)
from tradekit.monitoring.report import (
    ReportSection,
    SessionReport,
    build_session_report,
    equity_figure,
    pnl_by_strategy_figure,
    register_section,
    render_html,
    unregister_section,
)

__all__ = [
    "ReportSection", "SessionReport", "build_session_report", "daily_returns", "drawdown", "equity_figure",
    "execution_quality", "fill_slippage", "fills_frame", "max_drawdown", "performance_stats",
    "pnl_by_strategy_figure", "register_section", "render_html", "round_trips", "trade_stats", "unregister_section",
]
