"""Monitoring: session reports, performance and execution-quality analytics.

The names below are imported on first use, so importing a submodule (the CLI's ``perf`` command)
does not load pandas' and matplotlib's figure machinery (and matplotlib's font cache) up front.
"""

from __future__ import annotations

_LAZY = {
    **{n: "tradekit.monitoring.analytics" for n in (
        "daily_returns", "drawdown", "execution_quality", "fill_slippage", "fills_frame", "max_drawdown",
        "performance_stats", "round_trips", "trade_stats")},
    **{n: "tradekit.monitoring.report" for n in (
        "ReportSection", "SessionReport", "build_session_report", "equity_figure", "pnl_by_strategy_figure",
        "register_section", "render_html", "unregister_section")},
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'tradekit.monitoring' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
