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


def cull_closed_pages(km, closed_timeout: float, log=None, *, never_connected: float = 180.0) -> None:
    """Make ``km`` (Voila's kernel manager) shut down a kernel whose page has been closed.

    Jupyter's culler counts a kernel as active while it sends output, and a dashboard's refresh
    loop sends widget updates every second, so a closed tab's kernel was never idle and never
    culled (~85 MB each). Here a kernel with no websocket connection for ``closed_timeout``
    seconds since its last page disconnected is shut down at the culler's next pass
    (``MappingKernelManager.cull_interval``), whatever its activity. A page that reconnects
    within the timeout (a network blip) keeps its kernel. A kernel no page ever connected to
    (the tab closed while the notebook ran) gets ``never_connected`` seconds from its start: the
    notebook runs before the page connects.
    """
    import time as _time

    alone_since: dict[str, float] = {}
    seen: set[str] = set()  # kernels a page has connected to
    connect, disconnect, cull = km.notify_connect, km.notify_disconnect, km.cull_kernel_if_idle

    def notify_connect(kernel_id):
        connect(kernel_id)
        seen.add(kernel_id)
        alone_since.pop(kernel_id, None)

    def notify_disconnect(kernel_id):
        disconnect(kernel_id)
        if km._kernel_connections.get(kernel_id, 0) <= 0:
            alone_since[kernel_id] = _time.monotonic()

    async def cull_kernel_if_idle(kernel_id):
        if kernel_id in km._kernels and km._kernel_connections.get(kernel_id, 0) <= 0:
            since = alone_since.setdefault(kernel_id, _time.monotonic())
            if _time.monotonic() - since >= (closed_timeout if kernel_id in seen else max(closed_timeout,
                                                                                           never_connected)):
                if log is not None:
                    log.warning("Culling kernel %s: its page has been closed for %.0f s", kernel_id,
                                _time.monotonic() - since)
                alone_since.pop(kernel_id, None)
                seen.discard(kernel_id)
                await km.shutdown_kernel(kernel_id)
                return
        await cull(kernel_id)

    km.notify_connect, km.notify_disconnect, km.cull_kernel_if_idle = notify_connect, notify_disconnect, \
        cull_kernel_if_idle


def app_class():
    """Voila with tradekit's endpoints (the kernel-independent kill switch, liveness) and the
    closed-page kernel culler (:func:`cull_closed_pages`)."""
    from traitlets import Int
    from voila.app import Voila

    class TradekitVoila(Voila):
        closed_kernel_timeout = Int(30, config=True, help="seconds after its page closed before a kernel is shut "
                                                          "down (0: only Jupyter's idle culler)")

        def init_settings(self):
            settings = super().init_settings()
            if self.closed_kernel_timeout > 0:
                cull_closed_pages(self.kernel_manager, self.closed_kernel_timeout, self.log)
            return settings

        def init_handlers(self):
            from tradekit.ui.endpoints import handlers

            # first: Voila's catch-all patterns must not shadow them
            return handlers(self.server_url or self.base_url) + super().init_handlers()

    return TradekitVoila


def compile_templates_once() -> None:
    """Keep Voila's compiled page templates between requests (idempotent).

    Voila builds a new nbconvert exporter for every page load, and with it a new Jinja
    environment that parses and compiles the whole template tree (the lab template, its bases
    and macros) before the first byte of the page can be sent: ~0.3 s on a quiet machine, over
    1 s on a loaded one, all of it before the skeleton can paint. A process-wide in-memory
    bytecode cache lets each new environment load the compiled code instead. Jinja checks each
    template's source checksum, so an edited template is compiled again.
    """
    from jinja2 import BytecodeCache
    from nbconvert.exporters.templateexporter import TemplateExporter

    if getattr(TemplateExporter._create_environment, "_tradekit_cached", False):
        return

    class _Memory(BytecodeCache):
        def __init__(self) -> None:
            self.store: dict[str, bytes] = {}

        def load_bytecode(self, bucket) -> None:
            code = self.store.get(bucket.key)
            if code is not None:
                bucket.bytecode_from_string(code)

        def dump_bytecode(self, bucket) -> None:
            self.store[bucket.key] = bucket.bytecode_to_string()

    cache = _Memory()
    create = TemplateExporter._create_environment

    def _create_environment(self):
        env = create(self)
        env.bytecode_cache = cache
        return env

    _create_environment._tradekit_cached = True  # type: ignore[attr-defined]
    TemplateExporter._create_environment = _create_environment


def main(argv: list[str] | None = None) -> None:
    install()
    compile_templates_once()  # the skeleton's first byte does not wait for a template compile
    sys.argv = ["voila", *(sys.argv[1:] if argv is None else argv)]
    app_class().launch_instance()


if __name__ == "__main__":  # pragma: no cover - run as the dashboard server's process
    main()
