"""Crash drills: a live session on the Kite sandbox, killed with SIGKILL at random points and restarted,
with signals flowing; then an account of what became of every signal and order.

- :mod:`tradekit.drill.session_proc` — the session process (``python -m tradekit.drill.session_proc CONFIG``);
- :mod:`tradekit.drill.crash` — the driver: sandbox, signal feeder, kill loop, final settle and the tally
  (:func:`~tradekit.drill.crash.run_crash_drill`, :func:`~tradekit.drill.crash.tally`).

``scripts/crash_drill.py`` is the command line.
"""
