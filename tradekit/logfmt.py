"""Log lines stamped in IST with the offset (``2026-12-04T09:15:00.123+05:30``), like every other
time tradekit shows: run logs, notebook logs and the sandbox's console, whatever the machine's
time zone (often UTC on servers, where a bare ``asctime`` reads five and a half hours off)."""

from __future__ import annotations

import logging
from datetime import datetime

from tradekit.clock import IST

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ISTFormatter(logging.Formatter):
    """``%(asctime)s`` as an ISO time in IST with its +05:30 offset (milliseconds)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        t = datetime.fromtimestamp(record.created, IST)
        return t.strftime(datefmt) if datefmt else t.isoformat(timespec="milliseconds")


def ist_formatter(fmt: str = LOG_FORMAT) -> ISTFormatter:
    return ISTFormatter(fmt)


_FILE_HANDLERS: dict[str, logging.Handler] = {}


def apply_logging(settings, base_dir=None) -> None:
    """The config's ``logging:`` section: the level of tradekit's loggers and, with ``file``, a log
    file (IST stamps; relative paths are under ``base_dir``, the data dir). Idempotent: one
    handler per file, however many sessions a process opens."""
    from pathlib import Path

    if settings is None:
        return
    logger = logging.getLogger("tradekit")
    logger.setLevel(getattr(logging, settings.level))
    if settings.file:
        path = Path(settings.file).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        key = str(path.resolve())
        if key not in _FILE_HANDLERS:
            path.parent.mkdir(parents=True, exist_ok=True)
            h = logging.FileHandler(path, encoding="utf-8")
            h.setFormatter(ist_formatter())
            for f in logger.filters:  # the secrets' redaction reaches the file too
                h.addFilter(f)
            logger.addHandler(h)
            _FILE_HANDLERS[key] = h
        _FILE_HANDLERS[key].setLevel(getattr(logging, settings.level))
