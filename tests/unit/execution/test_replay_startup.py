"""Issue 20 (start-up): a replay session imports nothing heavy while it builds and runs. Reports
(matplotlib), research (vectorbt, scipy), exchange_calendars (its sessions are kept on disk), mail
and HTTP clients (no alert channel sends) and command-line parsers load only where they are used,
and corporate actions still reach the report through the light section registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tradekit.market import calendar_library

ROOT = Path(__file__).resolve().parents[3]

HEAVY = ("matplotlib", "vectorbt", "scipy", "exchange_calendars", "smtplib", "email", "urllib.request", "argparse",
         "tradekit.monitoring.report", "sqlalchemy.orm")

CHILD = r"""
import json, sys
from datetime import date
from decimal import Decimal
data_dir = sys.argv[1]
from benchmarks.data import KEY, benchmark_bars
from tradekit.config import load_config
from tradekit.execution.replay import run_replay
from tradekit.market.corporate_actions import CorporateAction, CorporateActionStore
from tradekit.model.enums import Product
from tradekit.session import Session
from tradekit.strategies import SmaCrossover
bars = benchmark_bars(750)
CorporateActionStore(data_dir).add([CorporateAction("NSE", "RELIANCE", date(2016, 8, 17), "dividend",
                                                    per_share=Decimal("5"))], source="t.csv", sha256="0")
cfg = load_config(overrides={"data_dir": data_dir, "execution": {"charges_as_of": "2026-11-20"},
                             "paper": {"latency_ms": 0, "participation": 0, "slippage": {"model": "none"}}})
before = set(sys.modules)
s = Session.for_replay(cfg, data_dir + "/j.db", bars.index[0].to_pydatetime())
run_replay(s, {KEY: bars}, strategies=[SmaCrossover(10, 30, 10, product=Product.CNC)], square_off=False)
loaded = sorted(set(sys.modules) - before)
applied = [e.payload.get("action_id") for e in s.journal.events(types=("position.adjusted",))]
from tradekit.monitoring.report import build_session_report
rep = build_session_report(s.journal, figures=False)
print(json.dumps({"loaded": loaded, "applied": applied, "sections": [x.title for x in rep.sections]}))
"""


def test_a_replay_imports_nothing_heavy_and_the_corporate_action_still_reaches_the_report(tmp_path, monkeypatch):
    data_dir = tmp_path / "var"
    monkeypatch.setattr(calendar_library, "_MEMO", {})
    calendar_library._library_sessions(data_dir / "cache" / "calendar")  # as an earlier session left it
    out = subprocess.run([sys.executable, "-c", CHILD, str(data_dir)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    heavy = [m for m in got["loaded"] if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []
    assert got["applied"] == ["NSE:RELIANCE:2016-08-17:dividend:rs5"]  # its day rolled in: applied once
    assert "Corporate actions applied" in got["sections"]
