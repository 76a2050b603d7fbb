"""tradekit: a Jupyter-first research-to-live trading workbench for NSE/BSE.

The few names a notebook needs:

- :func:`connect` — a read-only :class:`Desk` on a running or finished session: ``positions``,
  ``orders``, ``fills``, ``pnl()`` and ``equity`` as pandas objects (never writes to the journal);
- :func:`backtest` — a signal function through vectorbt with tradekit's charges and fill rules,
  and through the paper broker for parity (``parity=True``);
- :class:`Session` — the trading session itself (built from a config file), the OMS, the gate and
  the broker behind it; on the config of a session that is already running,
  ``Session.from_config()`` returns a desk view (:class:`tradekit.session_view.SessionView`) that
  sends approvals, cancels and the kill switch to that session as requests;
- :func:`load_config` and :func:`load_bars` / :func:`load_dataset` for data.

Everything else lives in the subpackages (``tradekit.risk``, ``tradekit.execution``, ...) and the
``tradekit`` command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Imported on first use (``tradekit.connect``), so ``import tradekit`` stays fast for the CLI.
_LAZY = {
    "connect": ("tradekit.desk", "connect"),
    "Desk": ("tradekit.desk", "Desk"),
    "backtest": ("tradekit.research.backtest", "backtest"),
    "Backtest": ("tradekit.research.backtest", "Backtest"),
    "Session": ("tradekit.session", "Session"),
    "load_config": ("tradekit.config", "load_config"),
    "load_bars": ("tradekit.data.bars", "load_bars"),
    "load_dataset": ("tradekit.data.feeds", "load_dataset"),
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from tradekit.config import load_config
    from tradekit.data.bars import load_bars
    from tradekit.data.feeds import load_dataset
    from tradekit.desk import Desk, connect
    from tradekit.research.backtest import Backtest, backtest
    from tradekit.session import Session


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'tradekit' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
