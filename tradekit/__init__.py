"""tradekit: a Jupyter-first research-to-live trading workbench for NSE/BSE.

The package holds all the logic; notebooks and dashboards only call into it. Start from
:class:`tradekit.session.Session` (built from a config file) or the ``tradekit`` CLI.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
