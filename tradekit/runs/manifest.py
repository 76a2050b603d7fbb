"""The run manifest: what a day's run used and what came of it, in ``runs/<date>/manifest.json``.

It records everything needed to rerun the day and check that the rerun agrees: the git
revision, the effective config and its hash, the seed, a SHA-256 of every input file (bars,
signal file, notebook templates), package versions, each notebook's parameters, times and
outcome (with ``ename``/``evalue``/``cell_index`` when a cell failed), and the results with
a digest of the journal that ignores wall-clock stamps, so two runs of the same inputs have
the same ``results.digest``. Secrets never go in: they are not parameters and not config.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from tradekit.clock import IST

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1

#: Distributions whose versions are recorded (those not installed are recorded as None).
PACKAGES = (
    "tradekit", "numpy", "pandas", "pyarrow", "vectorbt", "numba", "matplotlib", "pydantic", "sqlalchemy",
    "orjson", "exchange_calendars", "kiteconnect", "papermill", "nbformat", "nbconvert", "nbclient",
    "ipykernel", "jupyter_client",
)

#: Keys every manifest has (the completeness test checks them).
REQUIRED = ("schema", "date", "mode", "outcome", "message", "started_at", "ended_at", "duration_s", "git",
            "config", "seed", "inputs", "packages", "python", "platform", "notebooks", "outputs", "results")

OUTCOMES = ("running", "ok", "halted", "skipped", "failed")


def now_iso() -> str:
    return datetime.now(IST).isoformat(timespec="seconds")


def git_revision(root: str | Path | None = None) -> dict:
    """``{"revision": <sha or None>, "dirty": <bool or None>}`` of the checkout at ``root``."""
    from tradekit.resources import package_dir

    cwd = Path(root) if root is not None else package_dir()  # the checkout, when tradekit runs from one

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    rev = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if rev else None
    return {"revision": rev, "dirty": None if status is None else bool(status)}


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def describe_file(path: str | Path) -> dict:
    """``{"path", "sha256", "bytes"}`` of an input file."""
    p = Path(path)
    return {"path": str(p), "sha256": file_sha256(p), "bytes": p.stat().st_size}


def results_digest(events) -> str:
    """SHA-256 over every event's session time, type and payload, in order.

    The journal's own hashes also cover the wall-clock ``recorded_at``, so they differ from
    one run to the next; this digest does not, so equal digests mean equal results. The
    session's liveness heartbeats (``note`` ``kind: heartbeat``, written when the session was
    quiet for a while of wall-paced time, with its process id) are not results and are left
    out, and the others are numbered by their place among the results, not by journal seq.
    """
    from tradekit.store.journal import canonical

    h = hashlib.sha256()
    n = 0
    for ev in events:
        if ev.type == "note" and ev.payload.get("kind") == "heartbeat":
            continue
        n += 1
        h.update(f"{n}\n{ev.ts}\n{ev.type}\n{canonical(ev.payload)}\n".encode())
    return h.hexdigest()


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON atomically (a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: str | Path) -> dict | None:
    p = Path(path)
    if not p.exists():
        return None
    return json.loads(p.read_text(encoding="utf-8"))


@dataclass
class NotebookRecord:
    """One notebook of the chain: where it ran, with what, and how it ended."""

    name: str
    input: str
    output: str
    parameters: dict = field(default_factory=dict)
    status: str = "pending"  # pending | ok | stopped (exited cleanly early) | failed | not_run
    started_at: str | None = None
    ended_at: str | None = None
    duration_s: float | None = None
    error: dict | None = None  # {"ename", "evalue", "cell_index", "exec_count"}
    source_sha256: str | None = None


@dataclass
class Manifest:
    """The manifest of one run folder; :meth:`save` after every change."""

    date: str
    mode: str
    run_dir: str
    outcome: str = "running"
    message: str = ""
    started_at: str = field(default_factory=now_iso)
    ended_at: str | None = None
    duration_s: float | None = None
    git: dict = field(default_factory=git_revision)
    config: dict = field(default_factory=dict)  # {"source", "effective", "hash"}
    seed: int | None = None
    inputs: dict = field(default_factory=dict)  # name -> describe_file(...)
    packages: dict = field(default_factory=package_versions)
    python: str = field(default_factory=lambda: sys.version.split()[0])
    platform: str = field(default_factory=platform.platform)
    notebooks: list[NotebookRecord] = field(default_factory=list)
    outputs: dict = field(default_factory=dict)  # name -> path relative to run_dir
    results: dict = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    @property
    def path(self) -> Path:
        return Path(self.run_dir) / MANIFEST_NAME

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("run_dir")
        return {"schema": d.pop("schema"), **d}

    def save(self) -> Path:
        return write_json(self.path, self.to_dict())

    def missing(self) -> list[str]:
        """Required keys that are absent or empty (a finished manifest has none)."""
        d = self.to_dict()
        return [k for k in REQUIRED if k not in d or (d[k] in (None, "", {}, []) and k not in ("message", "results"))]


def load_manifest(run_dir: str | Path) -> dict | None:
    """The manifest of a run folder as a dict, or None when there is none."""
    return read_json(Path(run_dir) / MANIFEST_NAME)
