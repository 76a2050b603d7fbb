"""The risk report's "used" numbers are fractions of the limit, shown once as a percentage."""

from __future__ import annotations

import pytest

from tradekit.monitoring.report import ReportSection, _section_html
from tradekit.risk import RiskConfig, RiskManager

from .helpers import NOW, BookBuilder


def _after_round_trip(sell_price: str) -> tuple[BookBuilder, RiskManager]:
    b = BookBuilder(capital=1_000_000)  # daily loss limit 2 % = ₹20,000
    risk = RiskManager(RiskConfig())
    risk.start_day(b.book, NOW.date())
    for side, px in (("BUY", "1000"), ("SELL", sell_price)):
        risk.on_event(b.fill("SBIN", side, 100, px), b.book)
    return b, risk


def test_a_small_daily_loss_is_a_small_fraction_of_the_limit_in_the_table_and_the_html():
    b, risk = _after_round_trip("993.1262")  # ₹687.38 lost
    rep = risk.report(b.book, day=NOW.date())
    row = rep.limits.set_index("limit").loc["daily loss"]
    assert row["used"] == pytest.approx(687.38)
    assert row["allowed"] == pytest.approx(20_000)
    assert row["used_frac"] == pytest.approx(687.38 / 20_000)
    assert row["status"] == "ok"
    html = _section_html(ReportSection("Risk", {"Limits used": rep.limits}))
    assert "3.44%" in html and "343.69%" not in html
    assert "(3% used)" in rep.summary()


def test_status_is_breach_when_the_fraction_reaches_one():
    b, risk = _after_round_trip("799")  # ₹20,100 lost: over the ₹20,000 limit
    row = risk.report(b.book, day=NOW.date()).limits.set_index("limit").loc["daily loss"]
    assert row["used_frac"] == pytest.approx(1.005) and row["status"] == "BREACH"


def test_stress_rows_are_fractions_of_capital():
    b = BookBuilder(capital=1_000_000)
    b.fill("SBIN", "BUY", 100, "1000")
    risk = RiskManager(RiskConfig())
    risk.start_day(b.book, NOW.date())
    st = risk.report(b.book, day=NOW.date()).stress.set_index("scenario")
    assert st.loc["gap -5 %", "frac_of_capital"] == pytest.approx(-5_000 / 1_000_000)


def test_the_var_section_names_the_holding_it_cannot_cover_and_stale_history():
    """Issue 16: a ₹5 lakh holding without history is named, with the coverage of the gross exposure."""
    b = BookBuilder(capital=1_000_000)
    b.fill("SBIN", "BUY", 100, "1000")  # bundled daily history (to 2025-09-30)
    b.fill("XYZ", "BUY", 5000, "100")  # ₹5,00,000, no history anywhere
    risk = RiskManager(RiskConfig())
    risk.start_day(b.book, NOW.date())
    notes = " | ".join(risk.report(b.book, day=NOW.date()).notes)
    assert "VaR covers 16.7 % of the gross exposure (₹1,00,000 of ₹6,00,000)" in notes
    assert "no daily return history for XYZ (₹5,00,000)" in notes
    assert "the return history ends 2025-09-30" in notes
