"""The crash drill (``make drill``): a live session on the Kite sandbox, killed and faulted.

:mod:`tradekit.drill.worker` is the trading process (a live-mode :class:`~tradekit.session.Session`
with the official ``kiteconnect`` client pointed at ``tradekit kite-sim`` on 127.0.0.1, reading
signals from its inbox folder). :mod:`tradekit.drill.run` is the drill: it serves the sandbox,
drops signal files like a strategy engine, ``kill -9``\\ s the worker at random points and
restarts it, storms it with faults (requests held before processing, dropped sockets,
429/5xx, token expiry with a re-login from another process, two sessions on one journal, a
full disk, a locked journal), lets a clean worker settle, and counts what went wrong.
"""
