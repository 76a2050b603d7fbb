"""Packaging: environment.yml installs what pyproject.toml declares; notebooks carry no outputs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req, 1)[0].strip().lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    pp = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = pp["project"]["dependencies"] + pp["project"]["optional-dependencies"]["dev"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    editable = [p for p in pip if p.startswith("-e ")]
    constraints = [p for p in pip if p.startswith("-c ")]
    listed = [p for p in pip if not p.startswith(("-e ", "-c "))]
    assert editable == ["-e .[dev]"]
    assert constraints == ["-c requirements.lock"] and pip[0] == constraints[0]  # pinned like `make`
    assert {_name(d): d.replace(" ", "") for d in deps} == {_name(d): d.replace(" ", "") for d in listed}
    extras = re.findall(r"\[(.*?)\]", editable[0])[0].split(",")
    assert set(extras) <= set(pp["project"]["optional-dependencies"])
    assert "python=3.11" in env["dependencies"]


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    head = text[: text.find("\n## ", 10) if "\n## " in text[10:] else len(text)]
    assert "make demo" in head and "make test" in head
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("nb", sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "dashboards").glob("*.ipynb")),
                         ids=lambda p: p.name)
def test_committed_notebooks_carry_no_outputs(nb):
    book = nbformat.read(nb, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{nb.name}: a code cell has outputs"
            assert cell.execution_count is None, f"{nb.name}: a code cell has an execution count"
    assert book.metadata.get("kernelspec", {}).get("name") == "python3"


def test_architecture_page_names_only_what_exists():
    """docs/ARCHITECTURE.md: every package and file it names exists; no absolute paths (issue 14 item 16)."""
    import importlib

    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    assert not re.search(r"(^|[\s`(])/(work|home|tmp|Users)/", text), "an absolute path"
    rows = [ln for ln in text.splitlines() if ln.startswith("| `tradekit.")]
    assert len(rows) >= 10
    for row in rows:
        pkg = re.match(r"\| `(tradekit(?:\.\w+)?)`", row).group(1)
        importlib.import_module(pkg)
        folder = ROOT / Path(*pkg.split("."))
        for name in re.findall(r"`([\w./]+\.(?:py|json))`", row):
            paths = [ROOT / name, ROOT / "tradekit" / name] if "/" in name else [folder / name]
            assert any(p.exists() for p in paths), f"{pkg}: {name} does not exist"
        assert not re.search(r"\balgos?\b|\balerts?\b", row, re.I), row  # none in the code


def _lock() -> dict[str, str]:
    pins = {}
    for ln in (ROOT / "requirements.lock").read_text().splitlines():
        if ln.strip() and not ln.startswith("#"):
            name, sep, version = ln.partition("==")
            assert sep and re.fullmatch(r"[\w.+!-]+", version), f"requirements.lock: {ln!r} is not NAME==VERSION"
            pins[_name(name)] = version
    return pins


def test_the_lock_pins_every_dependency_within_pyprojects_bounds():
    """A fresh install gets the tested versions (issue 14 item 11)."""
    from packaging.requirements import Requirement

    pp = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = _lock()
    assert "tradekit" not in pins and len(pins) > 50
    assert "duckdb" in pins  # the working venv's, for the helpers that add it
    for extra in ("dependencies", "dev", "postgres"):
        reqs = pp["project"]["dependencies"] if extra == "dependencies" else pp["project"]["optional-dependencies"][extra]
        for r in map(Requirement, reqs):
            name = _name(r.name)
            assert name in pins, f"requirements.lock has no pin for {r}"
            assert r.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} breaks {r}"
            for x in r.extras:  # e.g. psycopg[binary] -> psycopg-binary
                assert f"{name}-{x}" in pins, f"requirements.lock has no pin for {name}[{x}]"


def test_make_installs_from_the_lock_and_can_refresh_it():
    mk = (ROOT / "Makefile").read_text()
    install = [ln for ln in mk.splitlines() if "pip install" in ln and "-e" in ln and "LOCK_VENV" not in ln]
    assert install and all("-c $(LOCK)" in ln and "--quiet" not in ln for ln in install), install
    assert re.search(r"^LOCK\s*:?=\s*requirements\.lock", mk, re.M)
    assert re.search(r"^lock:", mk, re.M) and "pip freeze --exclude-editable" in mk
    assert "make lock" in (ROOT / "README.md").read_text()


def test_the_license_is_an_spdx_expression_and_the_build_can_read_it():
    pp = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pp["project"]["license"] == "LicenseRef-Proprietary"
    setuptools = next(r for r in pp["build-system"]["requires"] if _name(r) == "setuptools")
    assert re.fullmatch(r"setuptools>=(\d+)", setuptools) and int(setuptools.split(">=")[1]) >= 77
