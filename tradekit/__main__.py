"""``python -m tradekit`` is the ``tradekit`` command."""

from tradekit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
