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
