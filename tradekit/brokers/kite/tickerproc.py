"""Child process that runs the official ``KiteTicker`` and relays its socket to the parent.

Why a process: the ticker runs on Twisted's reactor, which is global to a process and can
never be started twice. A Jupyter kernel that reconnects, a session that restarts its feed,
or a watchdog that must kill a half-dead connection would all hit ``ReactorNotRestartable``
in-process. A child process is started fresh each time and dies with its parent.

Protocol (all on the child's stdio):

- stdin, first line: ``{"api_key": ..., "access_token": ...}`` (never on the command line or
  in the environment of the command, where ``ps`` and ``/proc/<pid>/cmdline`` show them);
  then JSON commands, one per line: ``{"cmd": "subscribe", "tokens": [...], "mode": "quote"}``,
  ``{"cmd": "unsubscribe", "tokens": [...]}``, ``{"cmd": "stop"}``. EOF means stop.
- stdout: records ``kind (1 byte) + length (uint32 BE) + payload``: ``B`` a binary WebSocket
  message as received (ticks, heartbeats: the parent parses them with the vectorised parser),
  ``T`` a text message (order updates, errors), ``E`` a JSON event (open, close, error,
  reconnect, noreconnect).

Run: ``python -m tradekit.brokers.kite.tickerproc URL [MAX_DELAY] [MAX_TRIES]`` with the credentials on stdin.
"""

from __future__ import annotations

import json
import struct
import sys
import threading


def main(argv: list[str]) -> int:
    url = argv[0]
    max_delay = int(argv[1]) if len(argv) > 1 else 5
    max_tries = int(argv[2]) if len(argv) > 2 else 300
    try:
        creds = json.loads(sys.stdin.readline())
        api_key, token = str(creds["api_key"]), str(creds["access_token"])
    except (ValueError, KeyError, TypeError):
        sys.stderr.write("tickerproc: the first stdin line must be the credentials as JSON\n")
        return 2

    from kiteconnect import KiteTicker
    from twisted.internet import reactor

    out = sys.stdout.buffer
    out_lock = threading.Lock()

    def emit(kind: bytes, payload: bytes) -> None:
        with out_lock:
            try:
                out.write(kind + struct.pack(">I", len(payload)) + payload)
                out.flush()
            except (BrokenPipeError, ValueError):  # the parent is gone
                reactor.callFromThread(_stop)

    def event(name: str, **kw) -> None:
        emit(b"E", json.dumps({"event": name, **kw}).encode())

    kws = KiteTicker(api_key, token, root=url, reconnect_max_delay=max_delay, reconnect_max_tries=max_tries)
    wanted: dict[int, str] = {}

    def apply(ws) -> None:
        groups: dict[str, list[int]] = {}
        for tok, mode in wanted.items():
            groups.setdefault(mode, []).append(tok)
        for mode, toks in groups.items():
            ws.subscribe(toks)
            ws.set_mode(mode, toks)

    def on_message(ws, payload, is_binary):
        emit(b"B" if is_binary else b"T", bytes(payload))

    def on_open(ws):
        event("open")
        apply(ws)  # also after a reconnect, with whatever changed while we were away

    kws.on_message = on_message
    kws.on_open = on_open
    kws.on_close = lambda ws, code, reason: event("close", code=code, reason=str(reason))
    kws.on_error = lambda ws, code, reason: event("error", code=code, reason=str(reason))
    kws.on_reconnect = lambda ws, n: event("reconnect", attempts=n)
    kws.on_noreconnect = lambda ws: event("noreconnect")

    def _stop() -> None:
        try:
            kws.close()
        except Exception:
            pass
        if reactor.running:
            reactor.stop()

    def command(msg: dict) -> None:
        cmd = msg.get("cmd")
        toks = [int(t) for t in msg.get("tokens", [])]
        if cmd == "subscribe":
            mode = msg.get("mode", "quote")
            for t in toks:
                wanted[t] = mode
            if kws.is_connected():
                kws.subscribe(toks)
                kws.set_mode(mode, toks)
        elif cmd == "unsubscribe":
            for t in toks:
                wanted.pop(t, None)
            if kws.is_connected():
                kws.unsubscribe(toks)
        elif cmd == "stop":
            _stop()

    def read_commands() -> None:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            reactor.callFromThread(command, msg)
        reactor.callFromThread(_stop)  # EOF: the parent closed our stdin or died

    threading.Thread(target=read_commands, daemon=True).start()
    event("starting")
    kws.connect(threaded=False)  # runs the reactor here until _stop
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through KiteStream in a subprocess
    sys.exit(main(sys.argv[1:]))
