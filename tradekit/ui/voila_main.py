"""Voila with the dashboard token kept out of its log: ``python -m tradekit.ui.voila_main ARGS``.

Voila logs every failed request with its full URL (Tornado's access log and its HTTP error
log), so a page opened as ``...?token=SECRET`` leaves the token in the server's log, and in
whatever collects it. This wrapper installs a log-record factory that replaces the value of
every ``token=`` query parameter (and a ``token ...`` Authorization value) with ``[redacted]``
in every record, before any handler formats it, then runs Voila with two endpoints of
:mod:`tradekit.ui.endpoints` added (the kill switch that does not need a page's kernel, and the
session's liveness).
"""

from __future__ import annotations

import logging
import re
import sys

_TOKEN = re.compile(r"((?:[?&;]|\b)(?:token|_token|access_token)=)[^&\s\"'#;]+", re.IGNORECASE)
_AUTH = re.compile(r"(\b(?:token|bearer)\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
REDACTED = "[redacted]"


def scrub(text: str) -> str:
    """``text`` with token values replaced by ``[redacted]``."""
    return _AUTH.sub(r"\1" + REDACTED, _TOKEN.sub(r"\1" + REDACTED, text))


def install() -> None:
    """Scrub every log record created from now on in this process (idempotent)."""
    old = logging.getLogRecordFactory()
    if getattr(old, "_tradekit_scrub", False):
        return

    def factory(*args, **kwargs):
        record = old(*args, **kwargs)
        try:
            msg = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler, as logging would
            return record
        clean = scrub(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return record

    factory._tradekit_scrub = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def app_class():
    """Voila with tradekit's endpoints (the kernel-independent kill switch, liveness) added."""
    from voila.app import Voila

    class TradekitVoila(Voila):
        def init_handlers(self):
            from tradekit.ui.endpoints import handlers

            # first: Voila's catch-all patterns must not shadow them
            return handlers(self.server_url or self.base_url) + super().init_handlers()

    return TradekitVoila


def main(argv: list[str] | None = None) -> None:
    install()
    sys.argv = ["voila", *(sys.argv[1:] if argv is None else argv)]
    app_class().launch_instance()


if __name__ == "__main__":  # pragma: no cover - run as the dashboard server's process
    main()
