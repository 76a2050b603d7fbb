"""The demo: a whole paper-trading day on bundled real NSE bars, no account needed.

Five NIFTY stocks' 1-minute bars of 2016-08-17 are replayed through a paper session: an
SMA(10/30) crossover emits signals, every order passes the risk gate and goes to the paper
broker (next-bar fills, exact Zerodha charges — priced at the rates of ``CHARGES_AS_OF``, since
the day predates the 2020 rate tables), MIS positions are squared off at 15:15, every step is
journaled, the audit chain is verified and the session report is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from tradekit.config.schema import TradekitConfig
from tradekit.data.bars import load_bars, sample_path

DEMO_DAY = "2016-08-17"
DEMO_SYMBOLS = ("RELIANCE", "INFY", "TCS", "HDFCBANK", "SBIN")
CHARGES_AS_OF = "2026-11-20"


@dataclass
class DemoResult:
    out_dir: Path
    journal_path: Path
    report_path: Path | None
    summary_line: str
    verified: str
    anchor: str

    def summary(self) -> str:
        lines = [f"paper day {DEMO_DAY} ({', '.join(DEMO_SYMBOLS)}): {self.summary_line}",
                 f"journal: {self.journal_path}", f"audit:   {self.verified}", f"anchor:  {self.anchor}"]
        if self.report_path:
            lines.append(f"report:  {self.report_path}")
        return "\n".join(lines)


def run_demo(cfg: TradekitConfig, out: Path | None = None, *, quantity: int = 10) -> DemoResult:
    from tradekit.resources import workspace_env

    with workspace_env(cfg):  # in a workspace, matplotlib's cache stays inside it
        return _run_demo(cfg, out, quantity=quantity)


def _run_demo(cfg: TradekitConfig, out: Path | None = None, *, quantity: int = 10) -> DemoResult:
    from tradekit.execution.replay import run_replay
    from tradekit.monitoring.report import build_session_report
    from tradekit.session import Session
    from tradekit.store import verify
    from tradekit.strategies import SmaCrossover

    if cfg.execution.charges_as_of is None:
        as_of = date.fromisoformat(CHARGES_AS_OF)
        cfg = cfg.model_copy(update={"execution": cfg.execution.model_copy(update={"charges_as_of": as_of})})
    out = Path(out) if out else cfg.data_dir.parent / "runs" / f"demo-{DEMO_DAY}"
    out.mkdir(parents=True, exist_ok=True)
    data = {f"NSE:{s}": load_bars(sample_path(s, "1min"), start=DEMO_DAY, end=DEMO_DAY) for s in DEMO_SYMBOLS}
    first = min(df.index[0] for df in data.values()).to_pydatetime()
    session = Session.for_replay(cfg, out / "journal.db", first)
    res = run_replay(session, data, strategies=[SmaCrossover(10, 30, quantity)])
    rep = build_session_report(session.journal, book=session.book, bars=data, title=f"Paper trading day {DEMO_DAY}")
    rep.notes.append(f"Charges are priced at Zerodha's rates in force on {cfg.execution.charges_as_of}: the day "
                     f"predates the rate tables (2020-07-01).")
    paths = rep.save(out)
    v = verify(session.journal)
    session.close()
    return DemoResult(out, out / "journal.db", paths.get("html"), res.summary(), str(v), v.last_hash)

