"""Crash drills: a live session on the Kite sandbox (official ``kiteconnect`` client, 127.0.0.1),
killed with SIGKILL at random points and restarted with signals flowing; then an account of what
became of every signal and order.

``make drill`` (``scripts/drill.py``) — the full drill with the fault storm:

- :mod:`tradekit.drill.worker` — the trading process (a live-mode Session reading its inbox folder),
  forked by a zygote so a restart costs a fork, not a Python start-up;
- :mod:`tradekit.drill.run` — the driver: sandbox, signal files, >= 200 kill -9s, requests held
  before processing (3 s and 30 s), dropped sockets, 429/5xx, token expiry with a re-login from
  another process, two sessions on one journal, a full disk and a locked journal; then the
  figures (signals accepted, orders placed, lost, duplicated, stranded, mismatched).

The CI suite runs a 30-kill version (``tests/integration/test_drill.py``).
"""
