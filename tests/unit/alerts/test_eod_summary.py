"""The day's summary is sent with the end-of-day report (alerts.sources.eod_summary)."""

from __future__ import annotations

from tradekit.config import load_config
from tradekit.runs.day import run_session
from tradekit.runs.eod import run_eod

DAY = "2016-08-17"


def _cfg(tmp_path, project_root, on: bool):
    f = tmp_path / "demo.yaml"
    f.write_text(f"extends: {project_root / 'config' / 'demo.yaml'}\ndata_dir: {tmp_path / 'var'}\n"
                 "alerts:\n  channels: {ops: {type: slack}}\n  routes: [{kinds: [eod_summary], channels: [ops]}]\n"
                 f"  sources: {{eod_summary: {'true' if on else 'false'}}}\n")
    return load_config(f)


def test_the_eod_stage_sends_the_days_summary(tmp_path, project_root, receiver, monkeypatch):
    monkeypatch.setenv("TRADEKIT_SLACK_WEBHOOK", receiver.url)
    cfg = _cfg(tmp_path, project_root, True)
    run_dir = tmp_path / DAY
    run_session(cfg, DAY, "paper", symbols="RELIANCE", strategy="sma:10:30:10", out_dir=run_dir, echo=None)
    eod = run_eod(cfg, DAY, "paper", out_dir=run_dir)
    text = receiver.bodies()[0]["text"]
    assert f"{DAY} paper: end of day" in text and "audit verified" in text and "report.html" in text
    assert f"fills {len(eod.report.fills)}" in text
    # the session runner journaled its heartbeats: the day's uptime is measured (no gap: 100 %, met)
    [sec] = [s for s in eod.report.sections if s.title == "Execution quality"]
    today = sec.tables["Targets today"].set_index("metric")
    assert today.loc["uptime_pct", "value"] == 100.0 and bool(today.loc["uptime_pct", "met"])
    assert sec.tables["Uptime (session heartbeats)"]["gaps"].tolist() == [0]


def test_eod_summary_false_sends_nothing(tmp_path, project_root, receiver, monkeypatch):
    monkeypatch.setenv("TRADEKIT_SLACK_WEBHOOK", receiver.url)
    cfg = _cfg(tmp_path, project_root, False)
    run_dir = tmp_path / DAY
    run_session(cfg, DAY, "paper", symbols="RELIANCE", strategy="sma:10:30:10", out_dir=run_dir, echo=None)
    run_eod(cfg, DAY, "paper", out_dir=run_dir)
    assert receiver.requests == []
