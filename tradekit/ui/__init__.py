"""ipywidgets views the Voila dashboards display (``dashboards/*.ipynb``), and ``tradekit serve``.

* :class:`ApprovalView` — pending proposals as cards (approve / modify / reject), the kill
  switch, the trading state; over :class:`tradekit.execution.approval.ApprovalQueue`.
* :class:`PnlView` — positions, orders, fills, P&L net of charges, equity curve, risk limits.
* :class:`ExecutionView` — implementation shortfall, latency by stage, the seed's targets.

Each view reads the journal the session writes and refreshes itself on the kernel's event
loop (``view.start()``); display ``view.widget``. Names are imported on first use, so the CLI
does not pay for ipywidgets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {"ExecutionView": "execution", "ApprovalView": "approval", "PnlView": "pnl", "PnlModel": "pnl", "serve": "cli", "DashboardServer": "cli"}
__all__ = ["ExecutionView", "ApprovalView", "DashboardServer", "PnlModel", "PnlView", "serve"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"tradekit.ui.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tradekit.ui' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from tradekit.ui.approval import ApprovalView
    from tradekit.ui.cli import DashboardServer, serve
    from tradekit.ui.execution import ExecutionView
    from tradekit.ui.pnl import PnlModel, PnlView
