"""tradekit: a Jupyter-first research-to-live trading workbench for NSE/BSE.

The package holds all the logic; notebooks and dashboards only call into it. Start from
:class:`tradekit.session.Session` (built from a config file) or the ``tradekit`` CLI.
One session writes a journal at a time: on the config of a session that is already running,
``Session.from_config()`` returns a read-only desk view of it
(:class:`tradekit.session_view.SessionView`) that sends approvals, cancels and the kill switch
to that session as requests.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
