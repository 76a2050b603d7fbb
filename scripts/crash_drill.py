#!/usr/bin/env python3
"""kill -9 a live session on the Kite sandbox N times while signals flow, then count what was lost,
duplicated, stranded or mismatched. The reusable parts live in :mod:`tradekit.drill`.

    PYTHONPATH=. .venv/bin/python scripts/crash_drill.py --kills 20 --seed 7
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tradekit.drill.crash import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
