"""The garbage collector and the order path: the start-up heap is frozen once per process.

A session's process holds a large heap that never goes away after start-up: pandas, numpy,
the instrument master, the calendar, the rebuilt book (about 110,000 tracked objects in the
gate benchmark's process). A full (generation 2) collection scans all of it; on the 2-core box
that took 100–175 ms, and a collection that falls inside an order's pre-trade check is that
order's latency (``benchmarks/bench_risk_gate.py`` reports the pause of a full collection with
and without this). ``gc.freeze()`` moves every object alive at that moment into a permanent
generation the collector no longer scans: later collections look only at what the session
allocated after start-up, and the full collections it still runs are short.

What it costs: a cycle of garbage that exists at the moment of the freeze is never collected
(``gc.collect(1)`` first clears the young generations, so what is kept is what start-up left
in the old generation: bounded, once). Objects created later are collected as before.

It is done once per process (the first session started in it; a test process that builds
hundreds of sessions does not keep freezing their garbage), and only when
``execution.gc_freeze_after_start`` is true (the default).
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

_frozen = False


def freeze_after_startup(enabled: bool = True) -> bool | None:
    """Freeze the heap as it is now (once per process); return True when it was frozen now, None
    when it was off or already done.

    The number of objects frozen is logged at DEBUG only: ``gc.get_freeze_count()`` walks the whole
    frozen heap (about 30 ms for 110,000 objects, on every session's start-up) where the freeze
    itself is a constant-time list splice."""
    global _frozen
    if not enabled or _frozen or not hasattr(gc, "freeze"):
        return None
    gc.collect(1)
    gc.freeze()
    _frozen = True
    log.info("garbage collector: start-up heap frozen (execution.gc_freeze_after_start)")
    if log.isEnabledFor(logging.DEBUG):
        log.debug("garbage collector: %d start-up objects frozen", gc.get_freeze_count())
    return True


def frozen() -> bool:
    """Whether this process froze its start-up heap."""
    return _frozen
