"""Child process for the sandbox tests: the official ``KiteTicker``, its own parsing, JSON lines out.

Usage: ``python official_ticker_child.py API_KEY WS_URL MODE TOKEN[,TOKEN...]`` with the access
token on stdin. On connect it subscribes the tokens in MODE. Every callback becomes one line on
stdout: ``{"ev": "connect"|"ticks"|"message"|"close"|"error", "t": wall time, ...}``; ticks are
the official client's own dicts (datetimes as ISO strings). Reads commands from stdin, one JSON
object a line: ``{"mode": M, "tokens": [...]}`` (a mode change) or ``{"stop": true}``.
"""

from __future__ import annotations

import json
import sys
import threading
import time


def main(argv: list[str]) -> int:
    api_key, url, mode, tokens = argv[0], argv[1], argv[2], [int(t) for t in argv[3].split(",")]
    access_token = sys.stdin.readline().strip()

    from kiteconnect import KiteTicker
    from twisted.internet import reactor

    lock = threading.Lock()

    def out(ev: str, **kw) -> None:
        with lock:
            sys.stdout.write(json.dumps({"ev": ev, "t": time.time(), **kw}, default=str) + "\n")
            sys.stdout.flush()

    kws = KiteTicker(api_key, access_token, root=url, reconnect_max_delay=5)

    def on_connect(ws, response):
        out("connect")
        ws.subscribe(tokens)
        ws.set_mode(mode, tokens)

    kws.on_connect = on_connect
    kws.on_ticks = lambda ws, ticks: out("ticks", ticks=ticks)
    kws.on_message = lambda ws, payload, is_binary: out("message", binary=is_binary, size=len(payload))
    kws.on_close = lambda ws, code, reason: out("close", code=code, reason=str(reason))
    kws.on_error = lambda ws, code, reason: out("error", code=code, reason=str(reason))
    kws.connect(threaded=True)

    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd.get("stop"):
            break
        if "mode" in cmd:
            reactor.callFromThread(kws.set_mode, cmd["mode"], cmd["tokens"])
    try:
        reactor.callFromThread(reactor.stop)
    except Exception:  # noqa: BLE001 - already stopping
        pass
    time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
