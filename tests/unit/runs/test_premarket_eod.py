"""The premarket check and the end-of-day report, called as the notebooks call them."""

from __future__ import annotations

import json

import pytest

from tradekit.config import load_config
from tradekit.errors import TradekitError
from tradekit.runs.day import run_session
from tradekit.runs.eod import run_eod
from tradekit.runs.premarket import PremarketFailed, run_premarket
from tradekit.store import Journal, make_engine, sqlite_url

from .conftest import DAY, HOLIDAY


def test_a_trading_day_passes_with_times_limits_and_a_journaled_reconciliation(demo_cfg, tmp_path):
    run_dir = tmp_path / DAY
    chk = run_premarket(demo_cfg, DAY, "paper", symbols="RELIANCE", strategy="sma:10:30:10", out_dir=run_dir)
    assert chk.trading_day and chk.ok, chk.failures
    status = dict(zip(chk.checks["check"], chk.checks["status"]))
    assert status["calendar"] == status["paper account"] == status["reconciliation"] == status["risk state"] == "ok"
    assert status["charges"] == "warn"  # priced at charges_as_of, said so
    times = dict(zip(chk.session_times["what"], chk.session_times["start"]))
    assert times["normal"] == "09:15" and times["tradekit MIS square-off"] == "15:15"
    assert times["broker MIS square-off (Zerodha)"] == "15:20"
    assert "max_daily_loss_pct" in set(chk.limits["limit"])
    assert "no paper run for 2016-08-16" in chk.yesterday_text()
    j = Journal(make_engine(sqlite_url(run_dir / "journal.db")))
    rec = [e.payload for e in j.events(types=("broker.reconciliation",))]
    assert rec and rec[0]["ok"] and rec[0]["when"] == "premarket"
    data = json.loads((run_dir / "premarket.json").read_text())
    assert data["ok"] and data["inputs"]["bars:NSE:RELIANCE"]["sha256"]


@pytest.mark.parametrize("day, words", [(HOLIDAY, "is an NSE holiday"),
                                        ("2026-11-24", "Prakash Gurpurb Sri Guru Nanak Dev"),
                                        ("2016-08-20", "is a weekend")])
def test_a_holiday_is_not_a_trading_day_and_says_why(demo_cfg, tmp_path, day, words):
    chk = run_premarket(demo_cfg, day, "paper", symbols="RELIANCE", out_dir=tmp_path)
    assert not chk.trading_day and not chk.ok
    assert chk.message.startswith(f"not a trading day: {day}") and words in chk.message
    chk.raise_for_failures()  # nothing failed: the day is simply closed
    assert not (tmp_path / "journal.db").exists()
    with pytest.raises(SystemExit) as e:
        chk.stop_unless_trading_day()
    assert e.value.code == 0


def test_failed_checks_name_each_problem(tmp_path, project_root):
    cfg = load_config(project_root / "config" / "default.yaml", {"data_dir": str(tmp_path / "var")})  # no charges_as_of
    chk = run_premarket(cfg, DAY, "paper", symbols="RELIANCE,NOPE", strategy="ema:1:2", out_dir=tmp_path)
    assert not chk.ok
    with pytest.raises(PremarketFailed) as e:
        chk.raise_for_failures()
    msg = str(e.value)
    assert "charges: 2016-08-17 is before 2020-07-01" in msg and "execution.charges_as_of" in msg
    assert "no 1min bars for NSE:NOPE: not in the data directory" in msg and "expected sma:FAST:SLOW" in msg


def test_live_checks_refuse_a_day_that_is_not_today(demo_cfg, tmp_path):
    chk = run_premarket(demo_cfg, DAY, "live", out_dir=tmp_path)
    assert len(chk.failures) == 1
    assert chk.failures[0].startswith("date: a live day is today (") and chk.failures[0].endswith(f"not {DAY}")


def test_eod_writes_the_report_the_export_and_a_verified_anchor(demo_cfg, tmp_path):
    run_dir = tmp_path / DAY
    run_premarket(demo_cfg, DAY, "paper", symbols="RELIANCE,TCS", out_dir=run_dir)
    ses = run_session(demo_cfg, DAY, "paper", symbols="RELIANCE,TCS", strategy="sma:10:30:10", out_dir=run_dir,
                      echo=None)
    eod = run_eod(demo_cfg, DAY, "paper", out_dir=run_dir)
    assert eod.ok and eod.anchor is not None
    j = Journal(make_engine(sqlite_url(run_dir / "journal.db")))
    assert eod.anchor == j.anchor(eod.day)
    assert len((run_dir / "journal.jsonl").read_text().splitlines()) == j.count()
    html = (run_dir / "report.html").read_text()
    for words in ("Charges by component", "Equity and drawdown", "Signal → fill quality",
                  "Risk limits used and breaches",
                  "Audit anchor for 2016-08-17", eod.anchor[1], "charges at the rates of 2026-11-20"):
        assert words in html
    assert (run_dir / "report" / "equity.png").exists() and (run_dir / "report" / "fills.csv").exists()
    assert str(eod.report.book.net_pnl.quantize(ses.pnl["net"])) == str(ses.pnl["net"])
    limits = eod.risk_tables()["Limits used"]
    assert {"daily loss", "drawdown from peak"} <= set(limits["limit"])
    data = json.loads((run_dir / "eod.json").read_text())
    assert data["verified"] and data["anchor"][1] == eod.anchor[1] and data["digest"] == eod.digest


def test_eod_without_a_session_says_what_to_run_first(demo_cfg, tmp_path):
    with pytest.raises(TradekitError, match="run the session notebook first"):
        run_eod(demo_cfg, DAY, "paper", out_dir=tmp_path)


def _printed_command(html: str) -> list[str]:
    import re
    import shlex
    from html import unescape

    m = re.search(r"<code>(tradekit audit verify [^<]*)</code>", html)
    assert m, "the report prints the command that verifies its anchor"
    return shlex.split(unescape(m.group(1)))


def test_the_printed_audit_command_verifies_the_day_even_after_a_rerun(demo_cfg, tmp_path, capsys):
    """The report's command names the run's own journal; a second run of the day leaves it true (issue 14 item 12)."""
    from tradekit.cli import main
    from tradekit.runs.chain import archive_previous

    run_dir = tmp_path / DAY
    commands = []
    for strategy in ("sma:10:30:10", "sma:5:20:10"):  # the same day twice, as two `make demo`s
        archive_previous(run_dir) if run_dir.exists() else None
        run_session(demo_cfg, DAY, "paper", symbols="RELIANCE", strategy=strategy, out_dir=run_dir, echo=None)
        eod = run_eod(demo_cfg, DAY, "paper", out_dir=run_dir, figures=False)
        cmd = _printed_command((run_dir / "report.html").read_text())
        assert cmd[:4] == ["tradekit", "audit", "verify", "--db"] and cmd[-2:] == ["--anchor", eod.anchor[1]]
        assert eod.verify_command() == " ".join(cmd) and " ".join(cmd) in eod.anchor_text()
        commands.append(cmd)
    assert commands[0][4] != commands[1][4]  # each run its own journal
    assert sorted(p.name for p in (run_dir / "journals").iterdir()) == ["run-1.db", "run-2.db"]  # no -wal/-shm
    for cmd in commands:  # both, after the second run: exactly as printed
        capsys.readouterr()
        assert main(cmd[1:]) == 0
        assert capsys.readouterr().out.startswith("OK")
