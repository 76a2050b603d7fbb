"""Signals: the published schema, file and HTTP ingestion, dedupe, expiry, priority, routing.

Wiring (what a session does)::

    pipeline = SignalPipeline(journal, cfg, sink=session.submit_signal)
    inbox = Inbox.from_settings(cfg.signals, cfg.data_dir, pipeline)
    inbox.start()
    server = SignalServer.from_settings(cfg.signals, pipeline, secrets=secrets).start()

Notebooks can feed the pipeline directly: ``pipeline.ingest(text)`` or ``pipeline.submit([...])``.
Names are imported on first use, so ``tradekit signals ...`` starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "SignalsConfig": "config",
    "BasketSignalIn": "basket_fields",
    "SignalServer": "http",
    "Inbox": "inbox", "IngestResult": "inbox", "parse_only": "inbox",
    "IngestReport": "pipeline", "Rejection": "pipeline", "Routed": "pipeline", "SignalPipeline": "pipeline",
    "SCHEMA_PATH": "schema", "BatchResult": "schema", "RecordError": "schema", "SignalIn": "schema",
    "json_schema": "schema", "parse_batch": "schema", "signal_from_dict": "schema", "signal_to_dict": "schema",
    "validate_record": "schema",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"tradekit.signals.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tradekit.signals' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from tradekit.signals.basket_fields import BasketSignalIn
    from tradekit.signals.config import SignalsConfig
    from tradekit.signals.http import SignalServer
    from tradekit.signals.inbox import Inbox, IngestResult, parse_only
    from tradekit.signals.pipeline import IngestReport, Rejection, Routed, SignalPipeline
    from tradekit.signals.schema import (
        SCHEMA_PATH, BatchResult, RecordError, SignalIn, json_schema, parse_batch, signal_from_dict,
        signal_to_dict, validate_record,
    )
