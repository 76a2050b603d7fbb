"""Shared fixtures. Tests never touch the network beyond 127.0.0.1 and never use a real account."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]

settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test may read a developer's real secrets or config, or reach a proxy."""
    for k in list(os.environ):
        if k.startswith(("KITE_", "TRADEKIT_")) or k.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir(exist_ok=True)
    # loaders without a config look here first (tradekit.data.store.default_data_dir), never in a developer's var/
    monkeypatch.setenv("TRADEKIT_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def project_root() -> Path:
    return ROOT


@pytest.fixture
def paper_config(tmp_path):
    """A paper config whose data_dir is a temporary folder."""
    from tradekit.config import load_config

    cfg_file = tmp_path / "tradekit.yaml"
    cfg_file.write_text(f"extends: {ROOT / 'config' / 'default.yaml'}\ndata_dir: {tmp_path / 'var'}\n")
    return load_config(cfg_file)


@pytest.fixture
def journal(tmp_path):
    from tradekit.store import Journal, make_engine, sqlite_url

    j = Journal(make_engine(sqlite_url(tmp_path / "journal.db")))
    yield j
    j.close()
    j.engine.dispose()
