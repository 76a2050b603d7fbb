"""The chain's harness without kernels: stopping rules, the run folder, the lock, the CLI wiring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tradekit.cli import main
from tradekit.config import config_hash, load_config
from tradekit.runs import chain
from tradekit.runs.chain import RunLocked, run_day, run_lock, write_effective_config
from tradekit.runs.manifest import NotebookRecord, write_json

from .conftest import DAY

ROOT = Path(__file__).resolve().parents[3]


class FakeNotebooks:
    """Stands in for papermill: writes what each stage would write, fails where told."""

    def __init__(self, fail=None, trading_day=True, halted=False):
        self.fail, self.trading_day, self.halted = fail, trading_day, halted
        self.ran = []

    def __call__(self, src, run_dir, name, parameters, timeout, echo):
        self.ran.append((name, parameters, timeout))
        rec = NotebookRecord(name, str(src), f"{name}.ipynb", dict(parameters), status="ok", started_at="t0",
                             ended_at="t1", duration_s=0.1)
        (run_dir / f"{name}.ipynb").write_text("{}")
        if name == self.fail:
            rec.status = "failed"
            rec.error = {"ename": "RuntimeError", "evalue": "boom", "cell_index": 3, "exec_count": 2}
            return rec
        if name == "premarket":
            msg = "ok" if self.trading_day else "not a trading day: closed"
            write_json(run_dir / "premarket.json", {"trading_day": self.trading_day, "message": msg,
                                                   "inputs": {"bars:NSE:X": {"path": "x", "sha256": "ab", "bytes": 1}}})
            rec.status = "ok" if self.trading_day else "stopped"
        if name == "session":
            write_json(run_dir / "session.json",
                       {"halted": self.halted, "stop_reason": "halted by the kill switch at 11:00"})
        if name == "eod":
            write_json(run_dir / "eod.json", {"orders": 2, "fills": 2, "pnl": {"net": "-1.00"}, "verified": True,
                                              "anchor": [9, "ff"], "digest": "dd"})
            (run_dir / "report.html").write_text("<html></html>")
        return rec


@pytest.fixture
def fake(monkeypatch):
    def install(**kw):
        f = FakeNotebooks(**kw)
        monkeypatch.setattr(chain, "_execute", f)
        monkeypatch.setattr(chain, "export_html", lambda src, out: out.write_text("<html></html>") or out)
        return f
    return install


def test_the_chain_runs_the_three_notebooks_in_order_with_their_parameters(fake, demo_cfg, tmp_path):
    f = fake()
    res = run_day(DAY, "paper", demo_cfg, tmp_path / "runs", echo=None)
    assert res.outcome == "ok" and res.report == tmp_path / "runs" / DAY / "report.html"
    assert [n for n, _, _ in f.ran] == ["premarket", "session", "eod"]
    params = {n: p for n, p, _ in f.ran}
    assert params["session"]["config"] == "config.yaml" and params["session"]["strategy"] == "sma:10:30:10:MIS"
    assert params["session"]["symbols"] == "RELIANCE,INFY,TCS" and params["eod"]["run_date"] == DAY
    assert all(t == 900 for _, _, t in f.ran)  # paper: the runs setting's per-cell timeout
    m = json.loads((tmp_path / "runs" / DAY / "manifest.json").read_text())
    assert m["outcome"] == "ok" and m["results"]["anchor"] == [9, "ff"] and m["inputs"]["bars:NSE:X"]["sha256"] == "ab"
    assert m["outputs"]["eod_html"] == "eod.html" and m["config"]["hash"] == config_hash(demo_cfg)


def test_the_first_failing_notebook_stops_the_chain_and_its_error_is_recorded(fake, demo_cfg, tmp_path):
    f = fake(fail="session")
    res = run_day(DAY, "paper", demo_cfg, tmp_path, echo=None)
    assert not res.ok and res.outcome == "failed"
    assert res.message == "session.ipynb failed at cell 3: RuntimeError: boom"
    assert [n for n, _, _ in f.ran] == ["premarket", "session"]
    nbs = {n.name: n for n in res.manifest.notebooks}
    assert nbs["session"].error == {"ename": "RuntimeError", "evalue": "boom", "cell_index": 3, "exec_count": 2}
    assert nbs["eod"].status == "not_run"
    with pytest.raises(chain.ChainFailed, match="boom"):
        res.raise_for_failure()


def test_a_closed_day_ends_after_premarket_without_failing(fake, demo_cfg, tmp_path):
    f = fake(trading_day=False)
    res = run_day("2016-09-05", "paper", demo_cfg, tmp_path, echo=None)
    assert res.ok and res.outcome == "skipped" and res.message == "not a trading day: closed"
    assert [n for n, _, _ in f.ran] == ["premarket"] and res.report is None


def test_a_kill_switch_halt_still_gets_its_end_of_day_report(fake, demo_cfg, tmp_path):
    f = fake(halted=True)
    res = run_day(DAY, "paper", demo_cfg, tmp_path, echo=None)
    assert res.ok and res.outcome == "halted" and "kill switch" in res.message
    assert [n for n, _, _ in f.ran] == ["premarket", "session", "eod"]


def test_a_rerun_keeps_the_earlier_run_under_previous(fake, demo_cfg, tmp_path):
    fake()
    run_day(DAY, "paper", demo_cfg, tmp_path, echo=None)
    run_day(DAY, "paper", demo_cfg, tmp_path, echo=None)
    run_dir = tmp_path / DAY
    assert (run_dir / "previous" / "1" / "manifest.json").exists() and (run_dir / "manifest.json").exists()
    assert json.loads((run_dir / "manifest.json").read_text())["outputs"]["previous_run"] == "previous/1"


def test_a_signal_file_is_copied_into_the_run_and_replaces_the_default_strategy(fake, demo_cfg, tmp_path):
    f = fake()
    sig = tmp_path / "in.jsonl"
    sig.write_text('{"x": 1}\n')
    res = run_day(DAY, "paper", demo_cfg, tmp_path / "runs", signals=sig, echo=None)
    p = {n: p for n, p, _ in f.ran}["session"]
    assert p["signals_path"] == "signals.jsonl" and p["strategy"] == ""
    assert (res.run_dir / "signals.jsonl").read_text() == '{"x": 1}\n'
    assert res.manifest.inputs["signals"]["source"] == str(sig.resolve())


def test_the_research_notebook_run_gets_its_own_folder_manifest_and_hand_off(monkeypatch, demo_cfg, tmp_path):
    def execute(src, run_dir, name, parameters, timeout, echo):
        write_json(run_dir / "research.json", {"chosen": [10, 30], "strategy": "sma:10:30:10:MIS", "signals": 3,
                                               "signals_path": str(run_dir / "s.jsonl"),
                                               "settings": {"symbols": ["RELIANCE"], "export_day": DAY}})
        (run_dir / "research.ipynb").write_text("{}")
        return NotebookRecord(name, str(src), "research.ipynb", dict(parameters), status="ok")

    monkeypatch.setattr(chain, "_execute", execute)
    monkeypatch.setattr(chain, "export_html", lambda src, out: out.write_text("<html></html>") or out)
    res = chain.run_research_notebook(demo_cfg, tmp_path, parameters={"export_day": DAY, "fast": [5]}, echo=None)
    assert res.ok and res.run_dir == tmp_path / "research" / DAY
    assert res.message.endswith(f"hand-off: tradekit run day --date {DAY} --signals {res.run_dir / 's.jsonl'}")
    m = json.loads((res.run_dir / "manifest.json").read_text())
    assert m["mode"] == "research" and m["notebooks"][0]["parameters"]["fast"] == [5]
    assert m["inputs"]["bars:NSE:RELIANCE"]["sha256"] and m["results"]["chosen"] == [10, 30]


def test_the_effective_config_round_trips(demo_cfg, tmp_path):
    p = write_effective_config(demo_cfg, tmp_path / "config.yaml")
    again = load_config(p)
    assert config_hash(again) == config_hash(demo_cfg)
    assert str(again.execution.charges_as_of) == "2026-11-20"


def test_one_run_at_a_time(tmp_path):
    with run_lock(tmp_path, "first"):
        with pytest.raises(RunLocked, match="another run is in progress .*first"):
            with run_lock(tmp_path, "second"):
                pass
    with run_lock(tmp_path, "third"):  # released when the holder is done
        pass


def test_the_cli_has_run_day_and_schedule(capsys, demo_cfg_file, tmp_path):
    assert main(["run", "day", "--help"]) == 0
    assert "--date" in capsys.readouterr().out
    assert main(["run", "research", "--help"]) == 0
    assert "--export-day" in capsys.readouterr().out
    # a paper config is refused (its runs would fail every day: no bars for real dates): a live one
    live = tmp_path / "live.yaml"
    live.write_text(f"extends: {ROOT / 'config' / 'live.example.yaml'}\ndata_dir: {tmp_path / 'var'}\n")
    assert main(["schedule", "--print-cron", "--at", "08:45", "-c", str(live), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "schedule --once --at 08:45" in out and "* * " in out


def test_run_day_on_the_cli_reports_a_failure_with_exit_status_1(fake, capsys, demo_cfg_file, tmp_path):
    fake(fail="premarket")
    rc = main(["run", "day", "--date", DAY, "-c", str(demo_cfg_file), "--out", str(tmp_path)])
    assert rc == 1
    assert "error: premarket.ipynb failed at cell 3: RuntimeError: boom" in capsys.readouterr().err


def test_the_manifest_says_which_calendar_the_day_ran_on(fake, demo_cfg, tmp_path):
    """Issue 16: a day of a year without a published holiday list is flagged in the manifest and the message."""
    fake()
    lines = []
    res = run_day("2027-01-04", "paper", demo_cfg, tmp_path / "runs", echo=lines.append)
    m = json.loads((tmp_path / "runs" / "2027-01-04" / "manifest.json").read_text())
    assert m["inputs"]["calendar"]["provisional"] is True and m["inputs"]["calendar"]["kind"] == "provisional"
    assert "PROVISIONAL calendar" in m["message"] and "PROVISIONAL calendar" in res.message
    assert any(x.startswith("warning: PROVISIONAL CALENDAR for 2027") for x in lines)
    res = run_day(DAY, "paper", demo_cfg, tmp_path / "runs", echo=None)
    m = json.loads((tmp_path / "runs" / DAY / "manifest.json").read_text())
    assert m["inputs"]["calendar"]["provisional"] is False and "PROVISIONAL" not in m["message"]
