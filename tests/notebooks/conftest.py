"""Notebook runs: every template executed by papermill on the bundled data with fast parameters.

One whole day's chain is run once per module (``demo_day``) and shared by the tests that
inspect it; it runs with made-up Kite secrets in the environment, so a test can check that
none of them reaches an output.
"""

from __future__ import annotations

import pytest

DAY = "2016-08-17"
HOLIDAY = "2016-09-05"
FAST = {"symbols": "RELIANCE", "strategy": "sma:10:30:10:MIS"}

#: Values no output may contain (set in the environment of every notebook run here).
SECRETS = {
    "KITE_API_KEY": "kitekey-3f9a1c7e55",
    "KITE_API_SECRET": "sekret-8d1e4b2a9c0f7d63",
    "KITE_ACCESS_TOKEN": "acctok-51c0e9b7d2aa4f18",
    "TRADEKIT_SIGNAL_TOKEN": "sigtok-0b7e3d9f6a1c",
}


@pytest.fixture(scope="module")
def secret_env(tmp_path_factory):
    """Made-up secrets and a clean HOME for every kernel started in the module."""
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("home")
    mp.setenv("HOME", str(home))
    for k, v in SECRETS.items():
        mp.setenv(k, v)
    yield SECRETS
    mp.undo()


@pytest.fixture(scope="module")
def demo_cfg_path(tmp_path_factory):
    d = tmp_path_factory.mktemp("cfg")
    f = d / "demo.yaml"
    f.write_text(f"extends: tradekit:demo.yaml\ndata_dir: {d / 'var'}\n")
    return f


@pytest.fixture(scope="module")
def demo_day(secret_env, demo_cfg_path, tmp_path_factory):
    """``tradekit run day`` for the demo day, one symbol, into a temporary runs folder."""
    from tradekit.runs.chain import run_day

    root = tmp_path_factory.mktemp("runs")
    lines: list[str] = []
    res = run_day(DAY, "paper", demo_cfg_path, root, symbols=FAST["symbols"], strategy=FAST["strategy"],
                  echo=lines.append)
    res.echoed = lines
    return res
