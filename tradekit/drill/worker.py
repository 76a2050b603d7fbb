"""One trading process of the drill: a live session on the sandbox, fed by its inbox folder.

``python -m tradekit.drill.worker run --dir D --root URL`` runs until ``D/stop`` appears (or it
is killed); ``... login --dir D --root URL`` logs in through the sandbox's login page from a
separate process and stores the token file the sessions read.

``... zygote --dir D --root URL`` imports everything once and then forks a fresh trading
process for each ``run [FSIZE]`` line on its stdin, answering its pid: a restart after a
``kill -9`` costs a fork, not a Python start-up (seconds on a loaded machine), so the drill can
afford hundreds of kills. Each forked process is a real process with nothing shared but the
imported code: it opens its own journal, broker client and sockets.

Exit codes: 0 stopped cleanly, 3 the session could not start (e.g. another session holds the
journal), 1 anything else.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
import urllib.parse
from pathlib import Path

log = logging.getLogger("tradekit.drill.worker")

SYMBOLS = ("INFY", "SBIN", "RELIANCE", "TCS")


def _secrets():
    from pydantic import SecretStr

    from tradekit.config.secrets import Secrets

    return Secrets({"KITE_API_KEY": SecretStr("simkey"), "KITE_API_SECRET": SecretStr("simsecret")})


def kite_config(root: str, **kw):
    from tradekit.brokers.kite.config import KiteConfig, KiteRateLimits

    limits = KiteRateLimits(orders_per_second=200, orders_per_minute=10000, quote_per_second=200,
                            historical_per_second=200, other_per_second=500, margin_seconds=0)
    host = urllib.parse.urlparse(root).netloc
    return KiteConfig(root=root, login_url=f"{root}/connect/login", ticker_url=f"ws://{host}/ws",
                      timeout_seconds=kw.pop("timeout_seconds", 2.0), rate_limits=limits,
                      reconcile_interval_seconds=kw.pop("reconcile_interval_seconds", 2.0), **kw)


def config(d: Path, root: str):
    from tradekit.config import load_config

    return load_config(overrides={
        "mode": "live", "live": {"allowed": True}, "data_dir": str(d / "var"),
        "approval": {"mode": "auto", "allow_auto_in_live": True},
        # An order of unknown outcome blocks new orders until it is found or its window has passed
        # (sent + placement timeout + broker processing): short windows keep the drill's blocks short.
        "execution": {"unknown_max_lookups": 3, "unknown_grace_seconds": 0, "placement_timeout_seconds": 4.0,
                      "broker_processing_seconds": 6.0},
        "signals": {"inbox": str(d / "inbox"), "settle_seconds": 0, "poll_interval_seconds": 0.1,
                    "default_ttl_seconds": None},
        # The storm injects broker errors and rejects on purpose: the bursts that would trip a
        # breaker (and end the day's trading in the first minute) are tested on their own elsewhere.
        "risk": {"product": {"mis_cutoff": False}, "money": {"fat_finger_pct": None},
                 "compliance": {"max_orders_per_second": 9.0},
                 "breakers": {"reject_burst": 100_000, "broker_error_burst": 100_000, "stale_feed_seconds": 86_400}},
        "kite": kite_config(root).model_dump(mode="json"),
    })


def login(d: Path, root: str) -> None:
    """Log in through the sandbox's login page and store the token (what ``tradekit kite login`` does)."""
    import requests

    from tradekit.brokers.kite.broker import KiteBroker

    r = requests.get(f"{root}/connect/login?api_key=simkey&v=3", allow_redirects=False, timeout=10)
    q = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["Location"]).query)
    b = KiteBroker(kite_config(root), _secrets(), data_dir=d / "var")
    b.complete_login(q["request_token"][0])
    b.close()


def run(d: Path, root: str, fsize: int | None = None) -> int:
    if fsize:  # a full disk: writes past this size fail (EFBIG) instead of killing the process
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.session import Session
    from tradekit.signals import Inbox, SignalPipeline

    cfg = config(d, root)
    try:
        broker = KiteBroker(cfg.kite, _secrets(), data_dir=cfg.data_dir)
        session = Session(cfg, broker=broker)
        pipeline = SignalPipeline(session.journal, session.config, sink=session.submit_signal, emit=session._emit,
                                  clock=session.clock)
        inbox = Inbox.from_settings(cfg.signals, cfg.data_dir, pipeline)
        session.start(reconcile_every=cfg.kite.reconcile_interval_seconds)
    except Exception as e:
        log.error("the session could not start: %s: %s", type(e).__name__, e)
        return 3
    (d / f"ready.{os.getpid()}").write_text(str(os.getpid()))
    stop = d / "stop"
    while not stop.exists():
        try:  # requests, the inbox, proposal TTLs, orders of unknown outcome, parked signals
            session.service(inbox=inbox, pipeline=pipeline)
        except Exception:  # the drill counts what this costs; the loop goes on
            log.exception("service cycle failed")
        time.sleep(cfg.signals.poll_interval_seconds)
    session.close()
    return 0


def zygote(d: Path, root: str) -> int:
    """Fork a trading process per ``run [FSIZE]`` line on stdin; print each child's pid."""
    import tradekit.brokers.kite.broker  # noqa: F401 - imported once, before any fork
    import tradekit.session  # noqa: F401
    import tradekit.signals.inbox  # noqa: F401
    import tradekit.signals.pipeline  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    print("ready", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] != "run":
            continue
        fsize = int(parts[1]) if len(parts) > 1 else None
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.setsid()
            rc = 1
            try:
                rc = run(d, root, fsize)
            except BaseException:
                log.exception("worker failed")
            finally:
                logging.shutdown()
                os._exit(rc)
        print(pid, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tradekit.drill.worker")
    p.add_argument("what", choices=["run", "login", "zygote"])
    p.add_argument("--dir", required=True, type=Path)
    p.add_argument("--root", required=True)
    p.add_argument("--fsize", type=int, default=None)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    if a.what == "login":
        login(a.dir, a.root)
        return 0
    if a.what == "zygote":
        return zygote(a.dir, a.root)
    try:
        return run(a.dir, a.root, a.fsize)
    except Exception:
        log.exception("worker failed")
        return 1


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["SYMBOLS", "config", "kite_config", "login", "main", "run"]
