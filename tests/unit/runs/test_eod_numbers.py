"""eod.json holds money as exact decimal strings; report.html is written once; the risk limits
table in report.html shows fractions of the limit as percentages."""

from __future__ import annotations

import json
import re

import pytest

from tradekit.monitoring import report as report_mod
from tradekit.runs.day import run_session
from tradekit.runs.eod import run_eod
from tradekit.runs.premarket import run_premarket

from .conftest import DAY

MONEY = re.compile(r"^-?\d+\.\d{2}$")


def _floats(obj, path=""):
    if isinstance(obj, float):
        yield path
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _floats(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _floats(v, f"{path}[{i}]")


@pytest.fixture
def eod_day(demo_cfg, tmp_path):
    run_dir = tmp_path / DAY
    run_premarket(demo_cfg, DAY, "paper", symbols="RELIANCE,TCS", out_dir=run_dir)
    run_session(demo_cfg, DAY, "paper", symbols="RELIANCE,TCS", strategy="sma:10:30:10", out_dir=run_dir, echo=None)
    return run_eod(demo_cfg, DAY, "paper", out_dir=run_dir, figures=False), run_dir


def test_eod_json_money_is_exact_decimal_strings_and_the_report_is_written_once(eod_day):
    eod, run_dir = eod_day
    data = json.loads((run_dir / "eod.json").read_text())
    assert not list(_floats(data))
    assert MONEY.match(data["max_drawdown"]), data["max_drawdown"]
    assert all(MONEY.match(v) for v in data["pnl"].values()), data["pnl"]
    assert (run_dir / "report.html").exists() and not (run_dir / "report" / "report.html").exists()


def test_the_limits_table_in_report_html_shows_the_used_fraction_once(eod_day):
    eod, run_dir = eod_day
    limits = eod.risk_tables()["Limits used"].set_index("limit")
    row = limits.loc["daily loss"]
    frac = row["used"] / row["allowed"]
    assert row["used_frac"] == pytest.approx(frac)
    html = (run_dir / "report.html").read_text()
    assert f"{frac:.2%}" in html
    if frac:
        assert f"{100 * frac:.2%}" not in html


def test_section_modules_all_import_and_a_missing_one_is_an_error(monkeypatch):
    import importlib

    for name in report_mod.SECTION_MODULES:
        importlib.import_module(name)
    monkeypatch.setattr(report_mod, "SECTION_MODULES", ("tradekit.no_such_section_module",))
    with pytest.raises(ModuleNotFoundError):
        report_mod.build_session_report(events=[], figures=False)
