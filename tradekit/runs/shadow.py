"""A shadow paper broker next to a live session (``execution.shadow_paper: true``).

A second session — its own OMS, gate and :class:`~tradekit.brokers.paper.PaperBroker`, on its own
journal ``<run folder>/shadow/journal.db`` — takes every signal the live session takes and fills
on the live session's market data: each tick the live market-data hub accepts enters the shadow's
hub and its paper broker. Nothing of the shadow can reach Kite (it has no Kite broker), and a
failure in the shadow is logged and never touches the live path. The EOD comparison
(:func:`tradekit.monitoring.execution.paper_vs_live`) sets the two journals side by side.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path

log = logging.getLogger(__name__)

SHADOW_DIR = "shadow"


class ShadowPaper:
    """The shadow session of ``live``; :meth:`sink` wraps the live session's signal sink."""

    def __init__(self, live, out_dir: str | Path):
        from tradekit.runs.day import paper_config
        from tradekit.session import Session

        self.live = live
        self.dir = Path(out_dir) / SHADOW_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        cfg = paper_config(live.config, self.dir)
        # a person's approval is the live order's; the shadow takes every signal as it comes
        cfg = cfg.model_copy(update={"approval": cfg.approval.model_copy(update={"mode": "auto", "strategies": {}})})
        self.session = Session.from_config(cfg, clock=live.clock, mode="paper")
        self._pending: deque = deque()
        self._signals: deque = deque()
        self._lock = getattr(self.session.oms, "_lock", None) or threading.RLock()
        self.errors = 0
        live.market.add_listener(self._on_live_tick)

    def _on_live_tick(self, tick) -> None:
        self._pending.append(tick)
        if self._lock.acquire(blocking=False):  # the live ticker thread never waits for the shadow
            try:
                self._feed()
            finally:
                self._lock.release()

    def _feed(self) -> None:
        batch = []
        while self._pending:
            batch.append(self._pending.popleft())
        if not batch:
            return
        try:
            for t in self.session.market.on_ticks(batch, "shadow"):
                self.session.broker.on_tick(t)
        except Exception:  # noqa: BLE001 - the shadow never stops the live session
            self.errors += 1
            log.exception("shadow paper: a tick could not be applied")

    def drain(self) -> None:
        """Ticks that arrived while the shadow was busy, the signals the live session took since
        the last call, then the shadow's own timed work (call it from the live loop)."""
        with self._lock:
            self._feed()
        while self._signals:
            sig = self._signals.popleft()
            try:
                self.session.submit_signal(sig)
            except Exception:  # noqa: BLE001
                self.errors += 1
                log.exception("shadow paper: signal %s not taken", getattr(sig, "signal_id", "?"))
        try:
            self.session.service()
        except Exception:  # noqa: BLE001
            self.errors += 1
            log.exception("shadow paper: service failed")

    def sink(self, live_sink):
        """The live sink; a signal it took is queued for the shadow (taken at the next :meth:`drain`,
        outside the live journal's transaction, so the shadow adds nothing to the live order path)."""

        def both(signal, *a, **kw):
            out = live_sink(signal, *a, **kw)
            self._signals.append(signal)
            return out

        return both

    def close(self, day=None, *, at_close: bool = False) -> None:
        try:
            if at_close and day is not None:
                with self._lock:
                    self._feed()
                    self.session.broker.end_of_day(day)
        finally:
            self.session.close()
