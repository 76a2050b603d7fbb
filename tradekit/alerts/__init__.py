"""Alerts that reach a person (issue 18): channels, routing, a durable outbox in the journal.

See :mod:`tradekit.alerts.manager`; the config section is :class:`tradekit.alerts.config.AlertsConfig`.
"""

from tradekit.alerts.config import AlertsConfig

__all__ = ["AlertsConfig"]
