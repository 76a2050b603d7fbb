"""Every notebook executed by papermill on the bundled data; the chain's stopping rules; no secret in any output."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

from tradekit.config import config_hash, load_config
from tradekit.resources import packaged_dir
from tradekit.runs.manifest import REQUIRED, file_sha256

from .conftest import DAY, FAST, HOLIDAY, SECRETS

NOTEBOOKS = packaged_dir("notebooks")
TEMPLATES = sorted(NOTEBOOKS.glob("*.ipynb"))
notebook = pytest.mark.notebook


def _errors(nb) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]


def _execute(name: str, cwd: Path, **parameters):
    import papermill as pm

    out = cwd / f"{name}.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=parameters, kernel_name="python3",
                        cwd=str(cwd), progress_bar=False, execution_timeout=300,
                        extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    return nbformat.read(out, as_version=4)


# -- the templates as committed (no kernel) ---------------------------------------------------------------
def test_the_four_notebooks_exist():
    assert {p.stem for p in TEMPLATES} >= {"research", "premarket", "session", "eod", "weekly", "monthly"}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_committed_notebooks_carry_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None, f"{path.name}: cell {c.id} has outputs"
    assert "papermill" not in nb.metadata and "widgets" not in nb.metadata


def test_nbstripout_would_change_nothing():
    import shutil
    import subprocess
    import sys

    exe = shutil.which("nbstripout") or str(Path(sys.executable).with_name("nbstripout"))
    if not Path(exe).exists():
        pytest.skip("nbstripout is not installed (dev extra)")
    r = subprocess.run([exe, "--verify", *map(str, TEMPLATES)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_each_notebook_has_a_typed_parameters_cell_with_help_and_the_python3_kernel(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    lines = [ln for ln in params[0].source.splitlines() if ln.strip()]
    for ln in lines:
        # name: type = literal  # help -- a literal, never computed from another parameter
        m = re.fullmatch(r"(\w+): (\w+) = (.+?)  # (.+)", ln)
        assert m, f"{path.name}: {ln!r} is not 'name: type = literal  # help'"
        ast.literal_eval(m.group(3))
        assert not any(w in m.group(1).lower() for w in ("secret", "token", "password", "api_key"))


# -- executed -------------------------------------------------------------------------------------------
@notebook
def test_the_day_chain_executes_every_notebook_and_writes_a_readable_report(demo_day):
    assert demo_day.outcome == "ok", demo_day.message
    run = demo_day.run_dir
    for name in ("premarket", "session", "eod"):
        nb = nbformat.read(run / f"{name}.ipynb", as_version=4)
        assert not _errors(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count is not None for c in code), f"{name}: a cell did not run"
        assert nb.metadata["papermill"]["parameters"]["run_date"] == DAY
    html = (run / "report.html").read_text()
    for words in ("Summary", "Charges by component", "Equity and drawdown", "Risk limits used and breaches",
                  "Signal → fill quality", "Audit anchor for 2016-08-17", "charges at the rates of 2026-11-20"):
        assert words in html
    eod_html = (run / "eod.html").read_text()
    assert "Equity curve and drawdown" in eod_html and "data:image/png;base64" in eod_html
    assert "from tradekit" not in eod_html  # the export hides the code: it reads as a report
    assert demo_day.report == run / "report.html" and f"report: {run / 'report.html'}" in demo_day.echoed[-1]


@notebook
def test_the_eod_page_formats_its_tables_and_prints_the_audit_command(demo_day):
    """eod.html: tables like the report's (blank, not None; ₹ grouped), and the exact verify command."""
    import html as _html

    page = _html.unescape((demo_day.run_dir / "eod.html").read_text())
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", page)
    assert cells and not [c for c in cells if c.strip() in ("None", "NaN", "NaT", "nan")]
    assert "tk-table" in page and "class=\"dataframe" not in page
    eod = json.loads((demo_day.run_dir / "eod.json").read_text())
    kept = (demo_day.run_dir / "journals" / "run-1.db").resolve()
    assert f"tradekit audit verify --db {kept} --anchor {eod['anchor'][1]}" in page


@notebook
def test_the_manifest_is_complete(demo_day, demo_cfg_path):
    run = demo_day.run_dir
    m = json.loads((run / "manifest.json").read_text())
    assert [k for k in REQUIRED if m.get(k) in (None, "", [], {})] == []
    assert m["outcome"] == "ok" and m["date"] == DAY and m["mode"] == "paper" and m["seed"] == 42
    assert m["duration_s"] > 0 and m["started_at"] < m["ended_at"]
    assert m["git"]["revision"] is None or len(m["git"]["revision"]) == 40
    assert m["config"]["hash"] == config_hash(load_config(demo_cfg_path))
    assert m["config"]["hash"] == config_hash(load_config(run / "config.yaml"))
    bars = m["inputs"]["bars:NSE:RELIANCE"]
    assert bars["sha256"] == file_sha256(bars["path"])
    for pkg in ("tradekit", "papermill", "vectorbt", "pandas", "numpy", "nbconvert"):
        assert m["packages"][pkg]
    assert [n["name"] for n in m["notebooks"]] == ["premarket", "session", "eod"]
    for n in m["notebooks"]:
        assert n["status"] == "ok" and n["error"] is None and n["duration_s"] > 0
        assert n["parameters"]["run_date"] == DAY
        assert n["source_sha256"] == file_sha256(NOTEBOOKS / f"{n['name']}.ipynb")
        assert (run / n["output"]).exists()
    eod = json.loads((run / "eod.json").read_text())
    assert m["results"]["digest"] == eod["digest"] and m["results"]["verified"] is True
    assert m["results"]["anchor"] == eod["anchor"] and m["results"]["fills"] > 0
    for rel in m["outputs"].values():
        assert (run / rel).exists()
    assert {"report_html", "eod_html", "journal", "journal_export", "config", "log"} <= set(m["outputs"])


@notebook
def test_rerunning_the_day_with_the_same_inputs_gives_the_same_results(demo_day, tmp_path):
    """The stages called again in-process on the run's own config reproduce the chain's results digest."""
    from tradekit.runs.day import run_session
    from tradekit.runs.eod import run_eod
    from tradekit.runs.premarket import run_premarket

    cfg = load_config(demo_day.run_dir / "config.yaml")
    again = tmp_path / DAY
    run_premarket(cfg, DAY, "paper", out_dir=again, **FAST)
    run_session(cfg, DAY, "paper", out_dir=again, echo=None, **FAST)
    eod = run_eod(cfg, DAY, "paper", out_dir=again, figures=False)
    m = json.loads((demo_day.run_dir / "manifest.json").read_text())
    assert eod.digest == m["results"]["digest"]
    assert {k: str(v) for k, v in eod.to_dict()["pnl"].items()} == m["results"]["pnl"]


@notebook
def test_no_output_contains_a_secret(demo_day):
    """Every file of the run folder (notebooks with their metadata, HTML, manifest, journal export, log)."""
    found = []
    files = [p for p in demo_day.run_dir.rglob("*") if p.is_file()]
    assert {"manifest.json", "journal.jsonl", "eod.html", "session.ipynb", "run.log"} <= {p.name for p in files}
    for p in files:
        data = p.read_bytes()
        for name, value in SECRETS.items():
            if value.encode() in data:
                found.append(f"{p.name}: {name}")
    assert found == []
    # the kernels did see them: premarket lists the configured credentials by name
    checks = json.loads((demo_day.run_dir / "premarket.json").read_text())["checks"]
    detail = next(c["detail"] for c in checks if c["check"] == "secrets")
    assert "KITE_API_SECRET" in detail and "KITE_ACCESS_TOKEN" in detail


@notebook
def test_a_holiday_ends_after_premarket_with_a_clear_message(secret_env, demo_cfg_path, tmp_path, capsys):
    from tradekit.cli import main

    rc = main(["run", "day", "--date", HOLIDAY, "-c", str(demo_cfg_path), "--out", str(tmp_path),
               "--symbols", FAST["symbols"]])
    assert rc == 0
    out = capsys.readouterr().out
    assert "skipped: not a trading day: 2016-09-05 (Monday) is an NSE holiday" in out
    m = json.loads((tmp_path / HOLIDAY / "manifest.json").read_text())
    assert m["outcome"] == "skipped" and [n["status"] for n in m["notebooks"]] == ["stopped", "not_run", "not_run"]
    nb = nbformat.read(tmp_path / HOLIDAY / "premarket.ipynb", as_version=4)
    assert not [e for e in _errors(nb) if not e.startswith("SystemExit: 0")]
    assert not (tmp_path / HOLIDAY / "session.ipynb").exists()


@notebook
def test_a_failing_notebook_stops_the_chain_with_its_error(secret_env, demo_cfg_path, tmp_path, capsys):
    from tradekit.cli import main

    rc = main(["run", "day", "--date", DAY, "-c", str(demo_cfg_path), "--out", str(tmp_path), "--symbols", "NOPE"])
    assert rc == 1
    err = capsys.readouterr().err
    assert re.search(r"error: premarket\.ipynb failed at cell \d+: PremarketFailed: pre-market check failed: "
                     r"data: no 1min bars for NSE:NOPE", err)
    m = json.loads((tmp_path / DAY / "manifest.json").read_text())
    assert m["outcome"] == "failed"
    pre, ses, eod = m["notebooks"]
    assert pre["status"] == "failed" and pre["error"]["ename"] == "PremarketFailed"
    assert isinstance(pre["error"]["cell_index"], int) and "NOPE" in pre["error"]["evalue"]
    assert ses["status"] == eod["status"] == "not_run" and not (tmp_path / DAY / "session.ipynb").exists()


@notebook
def test_the_session_notebook_stops_cleanly_on_the_kill_switch(secret_env, demo_cfg_path, tmp_path):
    nb = _execute("session", tmp_path, run_date=DAY, mode="paper", config=str(demo_cfg_path), symbols="INFY",
                  strategy="sma:5:15:10:MIS", kill_at="11:00", progress_every=60)
    assert not _errors(nb)
    assert all(c.execution_count is not None for c in nb.cells if c.cell_type == "code")
    s = json.loads((tmp_path / "session.json").read_text())
    assert s["halted"] and s["stop_reason"].startswith("halted by the kill switch at 11:0")
    assert s["minutes"] < s["minutes_total"]
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "10:15" in text and "[HALTED]" in text  # progress shown while it ran


@notebook
def test_the_research_notebook_sweeps_and_exports_signals_the_session_accepts(secret_env, tmp_path):
    from tradekit.signals import parse_batch

    nb = _execute("research", tmp_path, symbols="RELIANCE", start=DAY, end="2016-08-18", fast=[5, 10], slow=[20, 30],
                  export_day=DAY, export_if_losing=True)
    assert not _errors(nb)
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the heatmap and the equity curve
    out = json.loads((tmp_path / "research.json").read_text())
    assert len(out["sweep"]) == 4 and out["settings"]["charges_as_of"] == "2026-11-20"
    assert out["settings"]["ran_on"].startswith("a local Dask cluster") and out["settings"]["failed_tasks"] == []
    assert out["settings"]["out_of_sample"] == ["2016-08-18", "2016-08-18"] and "oos_net_pnl" in out["sweep"][0]
    printed = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")
    assert all(f"WARNING: {w}" in printed for w in out["warnings"])
    path = Path(out["signals_path"])
    batch = parse_batch(path.read_bytes())
    assert not batch.errors and len(batch.accepted) == out["signals"] > 0
    assert {s.signal_time.date().isoformat() for s in batch.accepted} == {DAY}
    assert out["strategy"].startswith(f"sma:{out['chosen'][0]}:{out['chosen'][1]}:")


@notebook
def test_the_desk_notebook_backtests_with_parity_and_reads_a_journal(tmp_path):
    nb = _execute("desk", tmp_path, end="2016-08-17")
    assert not _errors(nb), _errors(nb)
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")
    assert "trade the same: True" in text and "NO SESSION" in text
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images  # the equity plot


@notebook
def test_the_weekly_notebook_reviews_replayed_days(secret_env, demo_cfg_path, tmp_path):
    """Issue 18: the weekly checklist on three replayed days of one week (2016-08-15 .. 21)."""
    from decimal import Decimal

    from tradekit.cli import main

    runs = tmp_path / "runs"
    for d in ("2016-08-16", "2016-08-17", "2016-08-18"):
        assert main(["replay", "--data", "RELIANCE", "--from", d, "--to", d, "--strategy", FAST["strategy"],
                     "-c", str(demo_cfg_path), "--out", str(runs / d)]) == 0
    out = tmp_path / "weekly"
    out.mkdir()
    nb = _execute("weekly", out, week_of="2016-08-19", config=str(demo_cfg_path), runs=str(runs))
    assert not _errors(nb), _errors(nb)
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")
    assert "week 2016-08-15 – 2016-08-21: 3 journal(s), 3 trading day(s)" in text
    html = (out / "weekly-2016-08-15.html").read_text(encoding="utf-8")
    assert "Weekly P&amp;L" in html and "Calendar of daily P&amp;L" in html
    from tradekit.config import load_config
    from tradekit.monitoring.review import weekly_review

    rv = weekly_review(load_config(demo_cfg_path), "2016-08-19", runs=runs)
    net = rv.perf.modes["paper"]["net_pnl"]
    assert f"paper: net ₹{net:,.2f} over 3 day(s)" in text
    assert rv.perf.weekly["net"].tolist() == [net] and net == sum(rv.perf.days["net"], Decimal(0))
    assert list(rv.targets["day"].astype(str)) == ["2016-08-16", "2016-08-17", "2016-08-18"]
    # as `tradekit schedule` runs it after the week's last trading day (and `tradekit run weekly` by hand)
    assert main(["run", "weekly", "--date", "2016-08-19", "-c", str(demo_cfg_path), "--out", str(runs)]) == 0
    folder = runs / "weekly" / "2016-08-15"
    man = json.loads((folder / "manifest.json").read_text())
    assert man["outcome"] == "ok" and man["mode"] == "weekly" and man["outputs"]["weekly_html"] == "weekly.html"
    assert (folder / "weekly-2016-08-15.html").exists() and (folder / "weekly.html").exists()
    # the monthly checklist on the same run folders: audit verify, compliance export, limit review
    assert main(["run", "monthly", "--month", "2016-08", "-c", str(demo_cfg_path), "--out", str(runs)]) == 0
    folder = runs / "monthly" / "2016-08"
    man = json.loads((folder / "manifest.json").read_text())
    assert man["outcome"] == "ok", man["message"]
    mnb = nbformat.read(folder / "monthly.ipynb", as_version=4)
    mtext = "\n".join(o.get("text", "") for c in mnb.cells for o in c.get("outputs", []) if o.output_type == "stream")
    assert "month 2016-08: 3 journal(s), 0 failing verification" in mtext
    assert len(list((folder / "compliance").glob("*.csv"))) == 3 and (folder / "monthly-2016-08.html").exists()


@notebook
def test_the_strategies_notebook_draws_a_payoff_and_its_margin(tmp_path):
    """Issue 21: a strategy's payoff at expiry (max profit/loss, breakevens) and the margin it blocks."""
    nb = _execute("strategies", tmp_path)
    assert not _errors(nb), _errors(nb)
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")
    assert "SELL 1 lot NFO:NIFTY2681824800PE" in text and "breakevens" in text and "margin blocked ₹" in text
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@notebook
def test_the_options_notebook_shows_a_chain_its_greeks_and_a_straddle(tmp_path):
    """Issue 21: the chain from the sandbox's modelled NIFTY contracts, IV and Greeks plots, a straddle's payoff."""
    nb = _execute("options", tmp_path, minutes=5, strikes=4)
    assert not _errors(nb), _errors(nb)
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")
    assert "NIFTY 2026-08-18: forward" in text and "put-call parity" in text and "breakevens" in text
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the smile and deltas, the straddle


@notebook
def test_the_reports_price_chart_marks_the_trades_and_is_left_for_review(demo_day):
    """Issue 17's review: the report's price chart (the day's prices with the buys and sells on
    them) is saved to test-artifacts/ so a person can look at it after the run."""
    import base64

    html = (demo_day.run_dir / "report.html").read_text(encoding="utf-8")
    assert "<h2>Prices and trades</h2>" in html
    m = re.search(r"<img alt='(NSE:[A-Z&]+)' src='data:image/png;base64,([^']+)'", html)
    assert m, "no price chart in the report"
    png = base64.b64decode(m.group(2))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    out = Path(__file__).resolve().parents[2] / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / "report-price-chart.png").write_bytes(png)
