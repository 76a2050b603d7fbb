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


def test_eod_writes_per_strategy_feedback_for_the_strategy_engine(eod_day):
    """Issue 18: realised slippage, fill rate, latency and P&L per strategy, each day (signals/README.md)."""
    from decimal import Decimal

    eod, run_dir = eod_day
    files = sorted((run_dir / "feedback").glob("*.json"))
    assert len(files) == 1  # one strategy ran; the file name is its name with ':' made safe
    fb = json.loads(files[0].read_text())
    assert fb["schema"] == 1 and fb["day"] == DAY and fb["mode"] == "paper" and fb["strategy"].startswith("sma")
    assert files[0].stem == fb["strategy"].replace(":", "_")
    assert fb["orders"] > 0 and fb["fills"] > 0 and 0 < fb["fill_rate_pct"] <= 100
    assert fb["latency_ms"]["order_to_ack"]["count"] > 0 and fb["latency_ms"]["order_to_ack"]["p95"] is not None
    sf = fb["shortfall"]
    assert sum(Decimal(sf[k]) for k in ("delay_inr", "trading_inr", "opportunity_inr", "fees_inr")) == Decimal(sf["total_inr"])
    # the day's net P&L of the only strategy is the report's
    data = json.loads((run_dir / "eod.json").read_text())
    assert Decimal(fb["pnl"]["net_inr"]) == Decimal(data["pnl"]["net"])
    assert data["paths"]["feedback"] == "feedback"
