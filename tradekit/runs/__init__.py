"""Running tradekit: the paper-session runner, the papermill daily chain, manifests, the scheduler.

Entry points (imported on first use, so ``tradekit --help`` stays fast)::

    from tradekit.runs import run_day          # the chain: premarket → session → eod → runs/<date>/
    from tradekit.runs import run_premarket, run_session, run_paper_day, run_eod, run_research
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "PaperSessionRunner": "live",
    "ChainResult": "chain", "run_day": "chain", "run_lock": "chain",
    "PremarketCheck": "premarket", "run_premarket": "premarket",
    "SessionRun": "day", "run_live_day": "day", "run_paper_day": "day", "run_session": "day",
    "EodReport": "eod", "run_eod": "eod",
    "ResearchResult": "research", "run_research": "research",
    "Manifest": "manifest", "load_manifest": "manifest",
    "RunsConfig": "config",
    "Scheduler": "schedule", "cron_lines": "schedule",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"tradekit.runs.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tradekit.runs' has no attribute {name!r}")
