"""The market config section: validation and what it changes."""

from __future__ import annotations

from datetime import date, time

import pydantic
import pytest
import yaml

from tradekit.market import MarketConfig

YAML = """
holidays: {2027: [2027-01-26]}
extra_holidays: [2026-12-31]
special_sessions:
  - date: 2026-11-08
    kind: muhurat
    equity: {pre-open: "17:45-18:00", normal: "18:00-19:00"}
    mis_cutoff: {equity: 18:45}
mis_cutoffs: {equity_cas: 15:10}
cas_symbols: [reliance, tcs]
price_bands: {"NSE:INFY": {lower: 1250.70, upper: 1528.60}}
freeze_limits:
  - {effective: 2026-09-01, limits: {NIFTY: 1800}}
"""


def test_a_yaml_section_parses_with_unquoted_times():
    cfg = MarketConfig.model_validate(yaml.safe_load(YAML))
    assert cfg.mis_cutoffs.equity_cas == time(15, 10)  # YAML 1.1 reads 15:10 as 910
    assert cfg.special_sessions[0].mis_cutoff["equity"] == time(18, 45)
    assert cfg.cas_symbols == ["RELIANCE", "TCS"]
    assert cfg.holidays[2027] == [date(2027, 1, 26)]
    assert "NSE:INFY" in cfg.price_bands


@pytest.mark.parametrize(
    "data,message",
    [
        ({"holidyas": {}}, "extra"),
        ({"holidays": {2027: ["2026-01-26"]}}, "not in 2027"),
        (
            {"special_sessions": [{"date": "2026-11-08", "equity": {"opening": "18:00-19:00"}}]},
            "unknown phase",
        ),
        (
            {"special_sessions": [{"date": "2026-11-08", "equity": {"normal": "18:00"}}]},
            "not a window",
        ),
        ({"special_sessions": [{"date": "2026-11-08"}]}, "at least one market"),
        (
            {
                "special_sessions": [
                    {"date": "2026-11-08", "fno": "regular"},
                    {"date": "2026-11-08", "fno": "regular"},
                ]
            },
            "two special sessions",
        ),
        ({"price_bands": {"INFY": {"pct": 10}}}, "EXCHANGE:TRADINGSYMBOL"),
        ({"price_bands": {"NSE:INFY": {"lower": 10, "upper": 5}}}, "not below upper"),
        ({"freeze_limits": [{"effective": "2026-09-01", "limits": {"NIFTY": 0}}]}, "positive"),
    ],
)
def test_mistakes_are_refused(data, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        MarketConfig.model_validate(data)


def test_config_is_frozen():
    with pytest.raises(pydantic.ValidationError):
        MarketConfig().mcx_evening_on_equity_holidays = False


def test_market_provisional_is_warn_or_refuse():
    """Issue 16: the setting that refuses provisional-calendar days is checked by name."""
    import pydantic

    assert MarketConfig().provisional == "warn"
    assert MarketConfig(provisional="refuse").provisional == "refuse"
    with pytest.raises(pydantic.ValidationError, match="provisional"):
        MarketConfig(provisional="maybe")
