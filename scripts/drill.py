#!/usr/bin/env python3
"""``make drill``: kill -9 a live session on the Kite sandbox, storm it with faults, print the figures.

See ``tradekit/drill/run.py``. ``python scripts/drill.py --kills 30`` is the short version CI runs.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tradekit.drill.run import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
