"""``python -m tradekit`` is the ``tradekit`` command (same exit status)."""

import sys

from tradekit.cli import main

if __name__ == "__main__":
    sys.exit(main())
