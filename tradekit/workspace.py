"""A trader's own workspace: ``tradekit init DIR`` and ``tradekit upgrade-workspace``.

A workspace is a folder that survives upgrades of tradekit::

    DIR/tradekit.yaml     the config (extends the packaged defaults); its presence marks the workspace
    DIR/notebooks/        copies of the daily notebooks the trader may edit (used instead of the packaged ones)
    DIR/dashboards/       copies of the Voila dashboards (likewise)
    DIR/data/             the trader's input files (signal files, restricted lists, sector maps)
    DIR/runs/             one folder per run day (runs.root)
    DIR/var/              the journal, anchors, Kite token, ticks (data_dir)
    DIR/README.md         what is where
    DIR/.tradekit-workspace.json   the tradekit version and the hashes of the copied files

Commands find the workspace from ``-c DIR/tradekit.yaml``, ``$TRADEKIT_CONFIG`` or the current
folder (``./tradekit.yaml``), see :func:`tradekit.config.loader.default_config_path`.

:func:`check_workspace` compares the workspace's copies with the packaged ones using the hashes
recorded when they were copied: a packaged file that changed since is *outdated*, a copy that
differs from what was copied is *edited*. ``--apply`` writes the new packaged version beside the
trader's copy as ``<name>.ipynb.new`` and never overwrites the copy.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from tradekit import __version__
from tradekit.errors import TradekitError
from tradekit.resources import MARKER, packaged_dir

STAMP = ".tradekit-workspace.json"
COPIED = ("notebooks", "dashboards")
FOLDERS = ("notebooks", "dashboards", "data", "runs", "var")

CONFIG_TEXT = """\
# tradekit workspace config. Relative paths are relative to this file.
# The packaged defaults (tradekit:default.yaml) are the base; set here only what you change.
# `tradekit config check` prints the effective settings. Secrets never go here: they live in the
# environment or the secrets file (default ~/.config/tradekit/secrets.env; change with secrets_file:).
extends: tradekit:{base}
mode: paper
data_dir: var          # the journal, anchors, Kite token, ticks
runs:
  root: runs           # one folder per run day
"""

README_TEXT = """\
# tradekit workspace

Created by `tradekit init` (tradekit {version}). Every tradekit command run in this folder, or
given `-c {marker}` or `TRADEKIT_CONFIG={marker}`, uses this workspace and writes only here.

- `{marker}`: your config; it extends the packaged defaults (`tradekit config check` shows the result).
- `notebooks/`, `dashboards/`: your copies of the daily notebooks and the dashboards; tradekit runs
  these instead of the packaged ones. Delete one to go back to the packaged version.
- `data/`: your input files (signal files, restricted lists, sector maps) named from `{marker}`.
- `runs/`: one folder per day of `tradekit run day`, `tradekit demo` output.
- `var/`: the journal (`paper.db` / `live.db`), its anchors and the Kite token. Back it up.

A paper day on the bundled data: `tradekit run day --date 2016-08-17` (the demo config is
`tradekit init --demo`). After upgrading tradekit run `tradekit upgrade-workspace`: it says which
of your copies are older than the packaged ones; `--apply` writes the new ones beside yours as `.new`.
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def packaged_files(kind: str) -> dict[str, Path]:
    return {p.name: p for p in sorted(packaged_dir(kind).glob("*.ipynb"))}


def init_workspace(folder: str | Path, *, demo: bool = False, force: bool = False) -> Path:
    """Create a workspace in ``folder`` (created if missing). Refuses a folder that already holds
    a ``tradekit.yaml`` unless ``force``; existing notebook copies are never overwritten."""
    root = Path(folder).expanduser()
    if root.exists() and not root.is_dir():
        raise TradekitError(f"{root}: not a folder")
    if (root / MARKER).exists() and not force:
        raise TradekitError(f"{root}: already a workspace ({MARKER} exists); use tradekit upgrade-workspace")
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    for name in FOLDERS:
        (root / name).mkdir(exist_ok=True)
    stamp: dict = {"tradekit": __version__, "files": {}}
    for kind in COPIED:
        for name, src in packaged_files(kind).items():
            dest = root / kind / name
            if not dest.exists():
                shutil.copyfile(src, dest)
            stamp["files"][f"{kind}/{name}"] = sha256(src)
    (root / MARKER).write_text(CONFIG_TEXT.format(base="demo.yaml" if demo else "default.yaml"), encoding="utf-8")
    (root / "README.md").write_text(README_TEXT.format(version=__version__, marker=MARKER), encoding="utf-8")
    (root / STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return root


@dataclass
class FileState:
    path: str  # e.g. notebooks/session.ipynb
    state: str  # current | outdated | edited | edited-and-outdated | missing | new
    detail: str


def _read_stamp(root: Path) -> dict:
    try:
        data = json.loads((root / STAMP).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"tradekit": None, "files": {}}
    except (OSError, ValueError) as e:
        raise TradekitError(f"{root / STAMP}: unreadable ({e}); re-create it with tradekit init --force") from None
    if not isinstance(data, dict) or not isinstance(data.get("files", {}), dict):
        raise TradekitError(f"{root / STAMP}: not a workspace stamp; re-create it with tradekit init --force")
    return data


def check_workspace(root: str | Path) -> list[FileState]:
    """The state of each notebook and dashboard of the workspace against the packaged ones."""
    root = Path(root)
    if not (root / MARKER).is_file():
        raise TradekitError(f"{root}: not a workspace (no {MARKER}); create one with tradekit init DIR")
    copied = _read_stamp(root)["files"]
    out: list[FileState] = []
    for kind in COPIED:
        for name, src in packaged_files(kind).items():
            rel = f"{kind}/{name}"
            mine = root / kind / name
            now = sha256(src)
            if not mine.exists():
                out.append(FileState(rel, "missing", "no copy: the packaged one is used"))
                continue
            was, have = copied.get(rel), sha256(mine)
            if have == now:
                state = "current"
            elif was is None:  # no record of what was copied: it differs, and who changed what is unknown
                state = "edited-and-outdated"
            else:
                edited, outdated = have != was, now != was
                state = ("edited-and-outdated" if edited and outdated else "edited" if edited
                         else "outdated" if outdated else "current")
            detail = {"current": "same as the packaged one", "edited": "your edits; the packaged one is unchanged",
                      "outdated": "the packaged one is newer (you have not edited yours)",
                      "edited-and-outdated": "the packaged one is newer and yours has edits: merge by hand"}[state]
            out.append(FileState(rel, state, detail))
    return out


def apply_upgrade(root: str | Path, states: list[FileState]) -> list[Path]:
    """Write ``<copy>.new`` (the packaged version) beside each outdated copy; the copy is left alone."""
    root = Path(root)
    written = []
    for st in states:
        if st.state in ("outdated", "edited-and-outdated"):
            kind, name = st.path.split("/", 1)
            dest = root / kind / f"{name}.new"
            shutil.copyfile(packaged_dir(kind) / name, dest)
            written.append(dest)
    return written


def add_new_copies(root: str | Path, kind: str, names) -> list[Path]:
    """Copy the packaged files ``names`` of ``kind`` that the workspace lacks into it, and record
    them in its stamp (a page added to tradekit after the workspace was made: ``tradekit serve``
    adds it, so the workspace keeps serving its own copies of the others). Existing files are never
    touched. Returns the files written."""
    root = Path(root)
    written = []
    files = packaged_files(kind)
    for name in names:
        src, dest = files.get(name), root / kind / name
        if src is None or dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        written.append(dest)
    if written and (root / STAMP).is_file():
        stamp = _read_stamp(root)
        for dest in written:
            stamp["files"][f"{kind}/{dest.name}"] = sha256(dest)
        (root / STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return written


def _workspace_from(config: Optional[Path]) -> Path:
    from tradekit.config.loader import default_config_path
    from tradekit.resources import workspace_of

    path = Path(config) if config is not None else default_config_path()
    ws = workspace_of(path)
    if ws is None:
        raise TradekitError(f"{path}: not a workspace config (no {MARKER} beside it); create one with tradekit init DIR")
    return ws


def init_command(
    folder: Path = typer.Argument(..., help="the workspace folder (created if missing)"),
    demo: bool = typer.Option(False, "--demo", help="extend the demo config (prices the bundled 2016 days)"),
    force: bool = typer.Option(False, "--force", help="rewrite tradekit.yaml and README.md of an existing workspace "
                                                     "(your notebook copies are kept)"),
) -> None:
    """Create a workspace: tradekit.yaml, notebooks/ and dashboards/ copies, data/, runs/, var/, README.md."""
    root = init_workspace(folder, demo=demo, force=force)
    typer.echo(f"workspace: {root}")
    typer.echo(f"  config: {root / MARKER}")
    typer.echo(f"  next:   cd {root} && tradekit run day --date 2016-08-17" if demo else
               f"  next:   cd {root} && tradekit config check")


def upgrade_command(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="the workspace's tradekit.yaml "
                                                                       "(default: $TRADEKIT_CONFIG or ./tradekit.yaml)"),
    apply: bool = typer.Option(False, "--apply", help="write the newer packaged files beside yours as <name>.new"),
) -> None:
    """Say which of the workspace's notebooks and dashboards are older than the packaged ones.
    Exit status 1 when some are (and --apply was not given)."""
    root = _workspace_from(config)
    states = check_workspace(root)
    for st in states:
        typer.echo(f"{st.state:<20} {st.path}: {st.detail}")
    behind = [s for s in states if s.state in ("outdated", "edited-and-outdated")]
    if apply:
        for p in apply_upgrade(root, states):
            typer.echo(f"wrote {p} (yours is unchanged)")
        return
    if behind:
        typer.echo(f"{len(behind)} file(s) older than tradekit {__version__}'s; tradekit upgrade-workspace --apply "
                   "writes the new ones beside yours as .new")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("init")(init_command)
    app.command("upgrade-workspace")(upgrade_command)
