"""The session process of a crash drill: a live session on the sandbox, its inbox, and the service loop.

    python -m tradekit.drill.session_proc CONFIG.yaml

Runs until SIGTERM (a clean stop) or SIGKILL (the drill). The risk gate is the pass-through gate:
the drill exercises the OMS, the journal and the signal path, not the limits (the sandbox replays
a past trading day, which the real clock's market hours would refuse). Prints ``ready`` once the
session has started and reconciled.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    from tradekit.config import load_config
    from tradekit.risk.base import PassThroughGate
    from tradekit.session import Session
    from tradekit.signals import Inbox, SignalPipeline

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tradekit.drill.session_proc CONFIG.yaml", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config(args[0])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    s = Session.from_config(cfg, gate=PassThroughGate())
    try:
        pipeline = SignalPipeline(s.journal, s.config, sink=s.submit_signal, emit=s._emit, clock=s.clock)
        inbox = Inbox.from_settings(cfg.signals, cfg.data_dir, pipeline)
        s.start()
        print("ready", flush=True)
        while not stop.is_set():
            try:
                s.service(inbox=inbox, pipeline=pipeline)
            except Exception:  # the drill counts what this costs; the loop goes on
                logging.getLogger("tradekit.drill").exception("service cycle failed")
            stop.wait(cfg.signals.poll_interval_seconds)
    finally:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
