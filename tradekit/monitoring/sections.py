"""The registry of extra report sections, apart from the report itself.

A capability that adds a section to the session report (corporate actions, ...) registers its
builder here at import time. This module imports nothing heavy, so registering does not load the
report's pandas tables and matplotlib figures: a session or a replay that imports such a capability
(to apply corporate actions, say) never pays for the report machinery it does not use. The report
(:mod:`tradekit.monitoring.report`, which re-exports these names) runs the registered builders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - names for the annotations only
    from tradekit.monitoring.report import SessionReport
    from tradekit.monitoring.report_html import ReportSection

__all__ = ["SectionBuilder", "register_section", "registered_sections", "unregister_section"]

SectionBuilder = Callable[["SessionReport"], "ReportSection | Sequence[ReportSection] | None"]
_BUILDERS: list[SectionBuilder] = []


def register_section(builder: SectionBuilder) -> SectionBuilder:
    """Add a section builder to every report built from now on (usable as a decorator).

    ``builder(report)`` receives the :class:`~tradekit.monitoring.report.SessionReport` (with ``events``,
    ``book``, ``journal``, ``day`` and the core tables) and returns a
    :class:`~tradekit.monitoring.report.ReportSection`, a list of them, or None to add nothing.
    """
    if builder not in _BUILDERS:
        _BUILDERS.append(builder)
    return builder


def unregister_section(builder: SectionBuilder) -> None:
    if builder in _BUILDERS:
        _BUILDERS.remove(builder)


def registered_sections() -> list[SectionBuilder]:
    """The registered builders, in registration order (a copy)."""
    return list(_BUILDERS)
