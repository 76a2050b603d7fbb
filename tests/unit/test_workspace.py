"""tradekit init, the workspace resolver and upgrade-workspace (issue 19)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.filesnap import CACHES, changed, snapshot
from tradekit.cli import main
from tradekit.config import load_config
from tradekit.config.loader import default_config_path
from tradekit.resources import packaged, packaged_dir, resolve_for, workspace_of
from tradekit.runs.chain import notebook_path
from tradekit.workspace import STAMP, check_workspace, init_workspace

ROOT = Path(__file__).resolve().parents[2]


def test_init_creates_the_workspace_and_its_config_extends_the_packaged_defaults(tmp_path, capsys):
    ws = tmp_path / "desk"
    assert main(["init", str(ws)]) == 0
    for d in ("notebooks", "dashboards", "data", "runs", "var"):
        assert (ws / d).is_dir()
    for nb in packaged_dir("notebooks").glob("*.ipynb"):
        assert (ws / "notebooks" / nb.name).read_bytes() == nb.read_bytes()
    assert {p.name for p in (ws / "dashboards").iterdir()} == {p.name for p in packaged_dir("dashboards").glob("*.ipynb")}
    assert "tradekit.yaml" in (ws / "README.md").read_text()
    cfg = load_config(ws / "tradekit.yaml")
    assert cfg.mode == "paper" and cfg.data_dir == ws / "var" and cfg.runs.root == ws / "runs"
    assert cfg.store_url().endswith(f"{ws}/var/paper.db")
    assert cfg.approval.ttl_seconds == load_config(packaged("config", "default.yaml")).approval.ttl_seconds


def test_init_refuses_an_existing_workspace_in_one_line(tmp_path, capsys):
    init_workspace(tmp_path / "w")
    assert main(["init", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "already a workspace" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_workspace_is_found_from_the_current_folder_or_the_environment(tmp_path, monkeypatch):
    ws = init_workspace(tmp_path / "w")
    monkeypatch.chdir(ws)
    assert default_config_path() == ws / "tradekit.yaml"
    monkeypatch.chdir(tmp_path)
    assert default_config_path() == packaged("config", "default.yaml")
    monkeypatch.setenv("TRADEKIT_CONFIG", str(ws / "tradekit.yaml"))
    assert load_config().data_dir == ws / "var"


def test_the_workspace_copy_of_a_notebook_is_run_else_the_packaged_one(tmp_path):
    ws = init_workspace(tmp_path / "w")
    cfg = load_config(ws / "tradekit.yaml")
    assert workspace_of(cfg.source) == ws
    assert notebook_path("session", cfg) == ws / "notebooks" / "session.ipynb"
    (ws / "notebooks" / "session.ipynb").unlink()
    assert notebook_path("session", cfg) == packaged("notebooks", "session.ipynb")
    assert resolve_for(cfg, "config", "voila.json") == packaged("config", "voila.json")


def test_extends_names_a_packaged_config_and_a_wrong_name_is_refused(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("extends: tradekit:nosuch.yaml\n")
    from tradekit.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert "extends" in str(e.value) and "nosuch.yaml" in str(e.value)


def test_upgrade_workspace_reports_outdated_and_edited_copies_and_never_overwrites(tmp_path, capsys):
    ws = init_workspace(tmp_path / "w")
    cfg = str(ws / "tradekit.yaml")
    assert main(["upgrade-workspace", "-c", cfg]) == 0
    # an older tradekit copied an older session notebook: the stamp records that copy's hash
    old = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'
    (ws / "notebooks" / "session.ipynb").write_bytes(old)
    stamp = json.loads((ws / STAMP).read_text())
    import hashlib

    stamp["files"]["notebooks/session.ipynb"] = hashlib.sha256(old).hexdigest()
    (ws / STAMP).write_text(json.dumps(stamp))
    # and the trader edited the eod notebook
    eod = ws / "notebooks" / "eod.ipynb"
    eod.write_text(eod.read_text().replace('"cells": [', '"cells": [ ', 1))
    states = {s.path: s.state for s in check_workspace(ws)}
    assert states["notebooks/session.ipynb"] == "outdated"
    assert states["notebooks/eod.ipynb"] == "edited"
    assert states["notebooks/premarket.ipynb"] == "current"
    capsys.readouterr()
    assert main(["upgrade-workspace", "-c", cfg]) == 1
    out = capsys.readouterr().out
    assert "outdated" in out and "notebooks/session.ipynb" in out and "--apply" in out
    assert main(["upgrade-workspace", "-c", cfg, "--apply"]) == 0
    assert (ws / "notebooks" / "session.ipynb").read_bytes() == old  # the trader's copy is untouched
    assert (ws / "notebooks" / "session.ipynb.new").read_bytes() == packaged("notebooks", "session.ipynb").read_bytes()
    assert not (ws / "notebooks" / "eod.ipynb.new").exists()


def test_upgrade_workspace_outside_a_workspace_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["upgrade-workspace"]) == 2
    assert "not a workspace" in capsys.readouterr().err


# Nothing may be written to $HOME. (`import tradekit.cli` once loaded matplotlib through
# tradekit.monitoring's package imports and wrote its font cache to ~/.cache; the package is lazy now.)
KNOWN_HOME_WRITES: set[str] = set()


@pytest.mark.slow
def test_the_demo_in_a_workspace_writes_only_inside_it(tmp_path):
    """`tradekit demo` from another folder, with -c, from the workspace folder and with
    $TRADEKIT_CONFIG: the journal and report land in the workspace; the checkout, the current
    folder and $HOME are unchanged."""
    ws = init_workspace(tmp_path / "ws", demo=True)
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEKIT_", "MPLCONFIGDIR", "IPYTHONDIR"))}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    before = snapshot(ROOT, CACHES), snapshot(home, CACHES), snapshot(elsewhere, CACHES)
    r = subprocess.run([sys.executable, "-m", "tradekit", "demo", "-c", str(ws / "tradekit.yaml")], cwd=elsewhere,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (ws / "runs" / "demo-2016-08-17" / "journal.db").is_file()
    r = subprocess.run([sys.executable, "-m", "tradekit", "config", "check"], cwd=ws, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and str(ws / "var") in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "tradekit", "config", "check"], cwd=elsewhere,
                       env={**env, "TRADEKIT_CONFIG": str(ws / "tradekit.yaml")}, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and str(ws / "var") in r.stdout, r.stderr
    after = snapshot(ROOT, CACHES), snapshot(home, CACHES), snapshot(elsewhere, CACHES)
    for b, a, where in zip(before, after, ("the checkout", "$HOME", "the current folder")):
        changed_files = [k for k in changed(a, b) if k not in KNOWN_HOME_WRITES]
        assert not changed_files, f"{where} changed: {changed_files[:10]}"


def _no_server(monkeypatch) -> dict:
    """``ui.serve`` without a Voila server: the command and options it would start it with land in the dict."""
    import tradekit.ui.cli as ui

    seen: dict = {}

    class FakeProc:
        pid = 1

        def __init__(self, cmd, **kw):
            seen.update(cmd=cmd, **kw)

        def poll(self):
            return None

    monkeypatch.setattr(ui.subprocess, "Popen", FakeProc)
    monkeypatch.setattr(ui, "_wait_port", lambda port, proc, timeout: None)
    monkeypatch.setattr(ui, "port_in_use", lambda port, host="127.0.0.1": False)
    monkeypatch.setattr(ui.os, "killpg", lambda pid, sig: None)
    return seen


def test_serve_in_a_workspace_runs_its_dashboards_with_its_files_inside_it(tmp_path, monkeypatch):
    import tradekit.ui.cli as ui

    ws = init_workspace(tmp_path / "w")
    seen = _no_server(monkeypatch)
    ui.serve(load_config(ws / "tradekit.yaml"), port=8897)
    assert seen["cwd"] == ws and seen["cmd"][3] == str(ws / "dashboards")
    for k in ("MPLCONFIGDIR", "IPYTHONDIR", "JUPYTER_RUNTIME_DIR"):
        assert Path(seen["env"][k]).is_relative_to(ws / "var")


def test_serve_adds_a_dashboard_new_since_an_older_workspace_was_made(tmp_path, monkeypatch):
    """An older workspace (made before the option-chain page) keeps serving its own copies: serve adds the
    new page beside them (recorded in the stamp) and never touches the others."""
    import json

    import tradekit.ui.cli as ui
    from tradekit.workspace import STAMP, check_workspace

    ws = init_workspace(tmp_path / "w")
    (ws / "dashboards" / "chain.ipynb").unlink()  # as a workspace of an earlier version
    stamp = json.loads((ws / STAMP).read_text())
    del stamp["files"]["dashboards/chain.ipynb"]
    (ws / STAMP).write_text(json.dumps(stamp))
    mine = (ws / "dashboards" / "pnl.ipynb").read_text() + " "
    (ws / "dashboards" / "pnl.ipynb").write_text(mine)  # the trader's edit
    seen = _no_server(monkeypatch)
    ui.serve(load_config(ws / "tradekit.yaml"), port=8897)
    assert seen["cmd"][3] == str(ws / "dashboards")
    assert (ws / "dashboards" / "chain.ipynb").read_bytes() == (packaged_dir("dashboards") / "chain.ipynb").read_bytes()
    assert (ws / "dashboards" / "pnl.ipynb").read_text() == mine
    states = {s.path: s.state for s in check_workspace(ws)}
    assert states["dashboards/chain.ipynb"] == "current" and states["dashboards/pnl.ipynb"] == "edited"
