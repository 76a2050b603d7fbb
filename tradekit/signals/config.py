"""The ``signals:`` config section: the inbox folder, the HTTP endpoint, the default TTL.

Its base mirrors ``tradekit.config.schema.Section`` (unknown fields refused, frozen) but does
not import it: ``config/schema.py`` imports this module, and the reverse import would be a
cycle.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


class SignalsConfig(BaseModel):
    """Signal ingestion settings.

    Attributes
    ----------
    inbox : Path or None
        Folder a strategy engine drops ``*.json`` / ``*.jsonl`` files into. A relative path is
        relative to ``data_dir``; None means ``<data_dir>/signals``.
    inbox_enabled : bool
        Watch the inbox folder.
    poll_interval_seconds : float
        The longest pause between two scans of the inbox by ``Inbox.watch`` (a file landing
        wakes it at once: inotify on Linux, a 50 ms stat of the folder elsewhere), and the first
        back-off of a file that failed. A running session scans it on every service cycle and
        wakes the same way.
    settle_seconds : float
        A file written in place is taken only once it has not changed for this long (a guard
        for writers that do not use the write-then-rename convention: a half-written file is
        never read). A file renamed into the folder is complete and is taken at once where the
        folder can be watched (Linux). Default 0.1 s; a file is a card within 300 ms at p95
        (``benchmarks/bench_approval.py``: ``signal_to_card_default_settle``).
    max_file_bytes : int
        Larger inbox files are rejected unread.
    http_enabled : bool
        Serve ``POST /signals``.
    http_host, http_port : str, int
        Where to listen; loopback only unless ``http_allow_remote`` is true. Port 0 picks a
        free port.
    http_max_body_bytes : int
        Larger request bodies get HTTP 413.
    http_allow_remote : bool
        Allow a non-loopback ``http_host`` (put TLS in front of it yourself).
    default_ttl_seconds : int or None
        Expiry for signals that give neither ``expires_at`` nor ``ttl_seconds``, counted from
        ``signal_time``; None means such signals never expire.
    max_records_per_batch : int
        Records in one file or HTTP body; a larger batch is refused whole (HTTP 413, the inbox
        file goes to ``rejected/``) before any record is read.
    max_depth : int
        Nesting levels of one record (the record object is level 1); deeper is an error for
        that record only.
    max_int_digits : int
        Digits of any integer in a record (integers outside ±2**63 are refused regardless).
    max_string_chars : int
        Characters of any string (or key) in a record.
    max_basket_legs : int
        Legs of one basket signal (a ``basket`` record, :mod:`tradekit.signals.basket_fields`); a
        basket with more is refused (an error naming ``basket.legs``), the rest of the batch goes on.
    max_rejected_events : int
        Malformed records of one batch journaled one event each; the rest are journaled as one
        summary ``signal.rejected`` event (the HTTP answer and inbox result still list each).
    inbox_max_attempts : int
        Times an inbox file is tried when the journal cannot record it (backing off between
        tries); then it goes to ``rejected/`` with a reason file. Drop it again to retry.
    when_blocked : "park" or "refuse"
        A signal that arrives while new orders are blocked (a reconciliation difference being
        resolved, a lost broker session, the journal unavailable): ``park`` keeps it, with its
        TTL, and tries it again once trading resumes (refused as expired if its TTL runs out
        first); ``refuse`` refuses it at once. The receipt lists it under ``parked`` or ``refused``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    inbox: Path | None = Field(None, description="inbox folder; relative to data_dir; default <data_dir>/signals")
    inbox_enabled: bool = True
    poll_interval_seconds: float = Field(1.0, gt=0, le=3600)
    settle_seconds: float = Field(0.1, ge=0, le=600)
    max_file_bytes: int = Field(16 * 1024 * 1024, gt=0)
    http_enabled: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = Field(8765, ge=0, le=65535)
    http_max_body_bytes: int = Field(1024 * 1024, gt=0)
    http_allow_remote: bool = False
    default_ttl_seconds: int | None = Field(300, gt=0)
    max_records_per_batch: int = Field(1000, gt=0, le=1_000_000)
    max_depth: int = Field(16, ge=2, le=200, description="orjson, the journal's encoder, stops at 255")
    max_int_digits: int = Field(18, ge=1, le=18, description="18 digits always fit in 64 bits")
    max_string_chars: int = Field(4096, ge=64, le=10_000_000)
    max_basket_legs: int = Field(20, ge=1, le=100, description="legs of one basket signal; more is refused by name "
                                 "(basket.legs), the rest of the batch goes on")
    max_rejected_events: int = Field(20, ge=0, le=100_000)
    inbox_max_attempts: int = Field(5, ge=1, le=1000)
    when_blocked: Literal["park", "refuse"] = "park"

    @model_validator(mode="after")
    def _loopback(self) -> "SignalsConfig":
        if not self.http_allow_remote and not is_loopback(self.http_host):
            raise ValueError(
                f"http_host {self.http_host!r} is not a loopback address; the signal endpoint listens on "
                "127.0.0.1 unless http_allow_remote is true"
            )
        return self

    def inbox_path(self, data_dir: str | Path) -> Path:
        """The inbox folder, resolved against ``data_dir``."""
        base = Path(data_dir).expanduser()
        if self.inbox is None:
            return base / "signals"
        p = Path(self.inbox).expanduser()
        return p if p.is_absolute() else base / p
