from __future__ import annotations

import pytest

from tests.unit.alerts.servers import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def alerts_config(tmp_path):
    """A function: YAML for the alerts section -> a paper config with it."""
    from pathlib import Path

    from tradekit.config import load_config

    root = Path(__file__).resolve().parents[3]

    def make(alerts_yaml: str):
        f = tmp_path / "tradekit.yaml"
        f.write_text(f"extends: {root / 'config' / 'default.yaml'}\ndata_dir: {tmp_path / 'var'}\nalerts:\n{alerts_yaml}")
        return load_config(f)

    return make
