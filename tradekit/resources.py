"""Where tradekit finds its run-time files: the trader's workspace first, else the packaged copy.

The package carries its default and example configs (``config/*.yaml``), the Voila config
(``config/voila.json``), the daily notebooks (``notebooks/*.ipynb``) and the dashboards
(``dashboards/*.ipynb``) as package data under ``tradekit/assets/`` (in a checkout those folders
are links to the checkout's ``config/``, ``notebooks/`` and ``dashboards/``; a wheel holds copies).
They are read with :mod:`importlib.resources`, never looked for beside the package.

A *workspace* (``tradekit init DIR``) is a folder with a ``tradekit.yaml`` marker/config; its
``notebooks/`` and ``dashboards/`` copies, when present, are used instead of the packaged ones.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

KINDS = ("config", "notebooks", "dashboards")
MARKER = "tradekit.yaml"  # a workspace's config, and the mark that a folder is a workspace
PACKAGED_PREFIX = "tradekit:"  # `extends: tradekit:default.yaml` names a packaged config


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r}; one of {', '.join(KINDS)}")


def packaged_dir(kind: str) -> Path:
    """The packaged folder of ``kind`` (``config``, ``notebooks`` or ``dashboards``)."""
    _check_kind(kind)
    res = resources.files("tradekit").joinpath("assets", kind)
    path = Path(str(res))
    if not path.is_dir():  # e.g. imported from a zip: the assets are not plain files
        raise FileNotFoundError(f"tradekit's packaged {kind}/ folder is missing ({res}); reinstall tradekit")
    return path


def packaged(kind: str, name: str) -> Path:
    """A packaged file, e.g. ``packaged("config", "default.yaml")``."""
    return packaged_dir(kind) / name


def package_dir() -> Path:
    """The folder of the imported ``tradekit`` package."""
    return Path(str(resources.files("tradekit")))


def installed_copy() -> bool:
    """True when the packaged assets are plain files inside the installed package (a wheel), false
    in a checkout, where they link to the checkout's folders."""
    cfg = packaged_dir("config").resolve()
    return cfg.is_relative_to(package_dir().resolve())


def workspace_of(config_source: str | Path | None) -> Path | None:
    """The workspace a config file belongs to: its folder, when that folder holds a ``tradekit.yaml``."""
    if not config_source:
        return None
    folder = Path(config_source).expanduser().resolve().parent
    return folder if (folder / MARKER).is_file() else None


def find_workspace(start: str | Path | None = None) -> Path | None:
    """The workspace named by ``$TRADEKIT_CONFIG``, else the current folder when it holds ``tradekit.yaml``."""
    env = os.environ.get("TRADEKIT_CONFIG")
    if env:
        return workspace_of(env)
    here = Path(start) if start is not None else Path.cwd()
    return here.resolve() if (here / MARKER).is_file() else None


def resolve(kind: str, name: str, workspace: str | Path | None = None) -> Path:
    """``<workspace>/<kind>/<name>`` when that copy exists, else the packaged file."""
    _check_kind(kind)
    if workspace is not None:
        mine = Path(workspace) / kind / name
        if mine.is_file():
            return mine
    return packaged(kind, name)


def resolve_for(cfg, kind: str, name: str) -> Path:
    """:func:`resolve` in the workspace of a loaded config (its ``source`` file's folder)."""
    return resolve(kind, name, workspace_of(getattr(cfg, "source", None)))


#: Libraries the notebooks use that keep caches in $HOME unless told otherwise.
CACHE_ENV = {"MPLCONFIGDIR": "matplotlib", "IPYTHONDIR": "ipython"}


@contextmanager
def workspace_env(cfg):
    """Inside a workspace, point the caches of matplotlib and IPython (the notebooks' kernels
    inherit the environment) at ``<data_dir>/cache/`` so a run writes only inside the workspace.
    Variables the user has set are left alone; outside a workspace nothing changes."""
    ws = workspace_of(getattr(cfg, "source", None))
    if ws is None:
        yield
        return
    base = Path(cfg.data_dir).expanduser() / "cache"
    old = {k: os.environ.get(k) for k in CACHE_ENV}
    for k, sub in CACHE_ENV.items():
        if not old[k]:
            (base / sub).mkdir(parents=True, exist_ok=True)
            os.environ[k] = str(base / sub)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
