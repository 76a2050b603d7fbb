"""The wheel, installed in a fresh virtual environment outside the checkout, runs `tradekit init`
and the daily chain on the bundled day, and writes nothing outside the workspace (issue 19).

The fresh venv has no pip and no packages of its own: the wheel is installed into it with
``--no-deps``, and a ``.pth`` line *appends* the shared environment's site-packages (the already
installed dependencies) after the venv's own, so ``tradekit`` is imported from the wheel, never
from the checkout (the test asserts where it came from).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from tests.filesnap import CACHES, changed, snapshot
ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", ".lock-venv", "var", "runs", "build", "dist", ".pytest_cache", ".hypothesis",
             "__pycache__", "site"}


# Nothing may be written to $HOME (see tests/unit/test_workspace.py).
KNOWN_HOME_WRITES: set[str] = set()


def _source_copy(dest: Path) -> None:
    """The checkout's tracked (and new, unignored) files: building in place would write build/ there."""
    r = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                       capture_output=True, timeout=60)
    if r.returncode == 0:
        names = [n for n in r.stdout.decode().split("\0") if n]
    else:  # not a git checkout (a source tarball): everything but the usual output folders
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and not SKIP_DIRS.intersection(p.relative_to(ROOT).parts)]
    for n in names:
        src, out = ROOT / n, dest / n
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), out)
        elif src.is_file():
            shutil.copy2(src, out)


def _build_wheel(src: Path, dist: Path) -> Path:
    import setuptools

    isolated = int(setuptools.__version__.split(".")[0]) < 77  # pyproject needs setuptools>=77 to build
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(src)]
    if not isolated:
        cmd.insert(5, "--no-build-isolation")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        text = r.stdout + r.stderr
        if isolated and any(s in text for s in ("No matching distribution", "Could not find a version",
                                                 "NewConnectionError", "Network is unreachable")):
            pytest.skip("building the wheel needs setuptools>=77 from the package index, which is unreachable")
        raise AssertionError(f"pip wheel failed:\n{text[-3000:]}")
    (wheel,) = dist.glob("tradekit-*.whl")
    return wheel


@pytest.mark.slow
def test_the_wheel_in_a_fresh_venv_runs_init_and_the_daily_chain_inside_the_workspace(tmp_path):
    figures = {}
    t0 = time.monotonic()
    src, dist = tmp_path / "src", tmp_path / "dist"
    _source_copy(src)
    wheel = _build_wheel(src, dist)
    figures["build_s"] = time.monotonic() - t0

    t0 = time.monotonic()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps", "--no-index",
                    str(wheel)], check=True, timeout=300)
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    shared = sysconfig.get_paths()["purelib"]  # the dependencies, appended after the venv's own packages
    (site / "zz_shared_deps.pth").write_text(shared + "\n")
    figures["install_s"] = time.monotonic() - t0

    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir(exist_ok=True)
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRADEKIT_", "PYTHON", "VIRTUAL_ENV", "MPLCONFIGDIR", "IPYTHONDIR", "JUPYTER"))}
    # the dependencies' data files (nbconvert's templates, the kernel spec) sit in the shared
    # environment's share/jupyter, where a real install would have put them in the venv's
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"))
    tk = str(venv / "bin" / "tradekit")

    def run(*args, cwd=elsewhere, timeout=600, extra=None):
        return subprocess.run(list(args), cwd=cwd, env={**env, **(extra or {})}, capture_output=True, text=True,
                              timeout=timeout)

    r = run(str(py), "-c", "import tradekit, tradekit.resources as r; print(tradekit.__file__); "
                           "print(r.packaged('notebooks', 'session.ipynb')); print(r.installed_copy())")
    assert r.returncode == 0, r.stderr
    pkg_file, nb, installed = r.stdout.split()
    assert Path(pkg_file).is_relative_to(site) and Path(nb).is_relative_to(site) and installed == "True"
    assert not Path(pkg_file).is_relative_to(ROOT)

    before = snapshot(ROOT, CACHES), snapshot(home), \
        snapshot(elsewhere), snapshot(site / "tradekit", {"__pycache__"})

    # without a workspace an installed tradekit refuses to write into its own package folder
    r = run(tk, "demo")
    assert r.returncode == 2 and "no workspace" in r.stderr and "tradekit init" in r.stderr, r.stderr

    t0 = time.monotonic()
    r = run(tk, "init", "ws", "--demo", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ws = tmp_path / "ws"
    # the daily chain (premarket -> session -> eod notebooks) on the bundled day, from another folder
    r = run(tk, "run", "day", "--date", "2016-08-17", "-c", str(ws / "tradekit.yaml"), timeout=900)
    figures["chain_s"] = time.monotonic() - t0
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    import json

    man = json.loads((ws / "runs" / "2016-08-17" / "manifest.json").read_text())
    assert man["outcome"] == "ok"
    assert all(Path(n["input"]).is_relative_to(ws / "notebooks") for n in man["notebooks"]), man["notebooks"]
    assert (ws / "var").is_dir() and (ws / "runs" / "2016-08-17" / "report.html").is_file()

    after = snapshot(ROOT, CACHES), snapshot(home), \
        snapshot(elsewhere), snapshot(site / "tradekit", {"__pycache__"})
    for b, a, where in zip(before, after, ("the checkout", "$HOME", "the current folder", "the installed package")):
        changed_files = [k for k in changed(b, a) if k not in KNOWN_HOME_WRITES]
        assert not changed_files, f"{where} changed: {changed_files[:10]}"
    print(f"\nwheel figures: build {figures['build_s']:.1f} s, install {figures['install_s']:.1f} s, "
          f"init + chain {figures['chain_s']:.1f} s")
