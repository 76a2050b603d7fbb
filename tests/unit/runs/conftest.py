"""Fixtures for the run harness: the demo config in a temporary data folder."""

from __future__ import annotations

import pytest

from tradekit.config import load_config

DAY = "2016-08-17"  # a bundled trading day
HOLIDAY = "2016-09-05"  # Ganesh Chaturthi, inside the bundled minute data


@pytest.fixture
def demo_cfg_file(tmp_path, project_root):
    f = tmp_path / "demo.yaml"
    f.write_text(f"extends: {project_root / 'config' / 'demo.yaml'}\ndata_dir: {tmp_path / 'var'}\n")
    return f


@pytest.fixture
def demo_cfg(demo_cfg_file):
    return load_config(demo_cfg_file)
