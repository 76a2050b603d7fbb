"""Sizing and dynamic limits; the daily risk report; the kill/unlock CLI; config and list files."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tradekit.cli import main
from tradekit.clock import IST
from tradekit.errors import ConfigError
from tradekit.risk import RiskConfig, RiskManager, load_lists
from tradekit.risk.report import build_risk_report
from tradekit.risk.sizing import DynamicLimits, Regime, atr, position_size, size_for_risk, vol_regime, vol_size
from tradekit.risk.var import closes
from tradekit.store import Book, EventType as E, Journal, make_engine

from .helpers import NOW, BookBuilder, FakeOMS, SimClock, ctx


# -- sizing ----------------------------------------------------------------------------------------

def _bars(n=40, rng=2.0, start=100.0):
    idx = pd.date_range("2024-01-01", periods=n, freq="D")
    close = np.full(n, start)
    return pd.DataFrame({"open": close, "high": close + rng / 2, "low": close - rng / 2, "close": close}, index=idx)


def test_atr_of_constant_ranges_and_atr_sizing_rounds_to_lots():
    assert atr(_bars(), 14).iloc[-1] == pytest.approx(2.0)
    # ₹10 lakh × 0.5 % = ₹5,000 at risk; stop 2 × ATR = 4 → 1,250 units → 19 lots of 65 = 1,235
    r = position_size(_bars(), 1_000_000, lot_size=65)
    assert r.quantity == 1235 and r.stop_distance == pytest.approx(4.0) and "ATR(14)" in r.basis
    assert size_for_risk(1_000_000, 0.5, 4.0, price=100, max_value=50_000).quantity == 500
    assert size_for_risk(1_000_000, 0.5, 4.0, scale=0.5).quantity == 625
    assert size_for_risk(1_000_000, 0.5, 0.0).quantity == 0


def test_realized_vol_sizing():
    c = pd.Series(100 * np.exp(np.cumsum(np.tile([0.01, -0.01], 20))))
    r = vol_size(c, 1_000_000)
    assert r.stop_distance == pytest.approx(2 * c.iloc[-1] * np.log(c).diff().dropna().iloc[-20:].std(), rel=1e-9)


def test_volatility_regime_on_real_nifty_data():
    nifty = closes(["NIFTY50"])["NIFTY50"]
    assert vol_regime(nifty[nifty.index <= "2020-03-24"]).name == "HIGH"
    calm = vol_regime(nifty[nifty.index <= "2023-12-29"])
    assert calm.name == "NORMAL" and calm.ratio < 1.5 and "volatility" in str(calm)


def test_dynamic_limits_regime_and_loss_streak():
    d = DynamicLimits()
    assert d.scale == 1.0 and d.reason == "normal"
    d.set_regime(Regime("HIGH", 2.0, 0.4, 0.2))
    assert d.scale == 0.5
    for _ in range(3):
        d.record_trade(-100)
    assert d.scale == 0.25 and "3 losing trades" in d.reason
    d.record_trade(+50)
    assert d.scale == 0.5


def test_manager_tightens_the_gate_after_a_loss_streak():
    b = BookBuilder()
    risk = RiskManager(RiskConfig())
    oms = FakeOMS(b, risk.gate)
    risk.start_day(b.book, NOW.date())
    for _ in range(3):  # three losing round trips
        for side, px in (("BUY", 100), ("SELL", 99)):
            o = b.order("SBIN", side, 10, "LIMIT", price=str(px))
            assert risk.gate.check(o, ctx(b, px)).allowed
            risk.on_event(oms.execute(o, px), b.book)
    assert risk.gate.scale == 0.5 and "losing trades" in risk.gate.scale_reason


# -- report ----------------------------------------------------------------------------------------

def test_daily_risk_report_tables_figures_and_html():
    b = BookBuilder()
    for s, q, px in (("RELIANCE", 50, 1400), ("TCS", -20, 3500), ("SBIN", 100, 800)):
        b.fill(s, "BUY" if q > 0 else "SELL", abs(q), str(px), strategy="momo" if s != "TCS" else "pairs")
    risk = RiskManager(RiskConfig(), clock=SimClock(b))
    events = []
    risk.attach(emit=lambda t, p: events.append(b.apply(t, p)))
    risk.start_day(b.book, NOW.date())
    risk.kill("drill", by="asha", flatten=False)
    rep = risk.report(b.book, events=events, day=NOW.date())
    assert {"daily loss", "gross exposure", "orders today"} <= set(rep.limits["limit"])
    assert list(rep.var["method"]) == ["historical", "parametric", "monte_carlo"] and (rep.var["var"] > 0).all()
    assert list(rep.stress["scenario"]) == ["gap -5 %", "gap -10 %", "replay 2024-06-04"]
    assert rep.breaches["trigger"].tolist() == ["kill_switch"] and rep.states["state"].tolist() == ["HALTED"]
    assert rep.components["component_var"].sum() == pytest.approx(rep.var.set_index("method").loc["parametric", "var"])
    assert set(rep.figures()) == {"limits", "var", "stress"}
    html = rep.to_html()
    assert "Limits used vs allowed" in html and "data:image/png;base64," in html
    assert "state HALTED" in rep.summary()


def test_report_of_an_empty_book():
    rep = build_risk_report(RiskManager(), Book())
    assert rep.var.empty and "no open positions" in rep.notes[0]


# -- CLI -------------------------------------------------------------------------------------------

def _events(cfg):
    j = Journal(make_engine(cfg.store_url()))
    return [e for e in j.events() if e.type in (E.KILL_SWITCH, E.TRADING_STATE)]


def test_cli_kill_then_unlock_refused_in_cooloff(paper_config, capsys):
    code = main(["kill", "--reason", "broker acting up", "--by", "asha", "-c", paper_config.source])
    out = capsys.readouterr().out
    assert code == 0 and "HALTED by asha: broker acting up" in out
    evs = _events(paper_config)
    assert [e.type for e in evs] == [E.KILL_SWITCH, E.TRADING_STATE]
    assert evs[1].payload["state"] == "HALTED" and evs[0].payload["flatten"] is True
    code = main(["unlock", "--reason", "ok now", "-c", paper_config.source])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: unlock refused: the cool-off") and err.count("\n") == 1
    assert Book.rebuild(Journal(make_engine(paper_config.store_url())).events()).trading_state == "HALTED"


def test_cli_unlock_after_the_cooloff(paper_config, capsys):
    j = Journal(make_engine(paper_config.store_url()))
    then = datetime.now(IST) - timedelta(hours=1)
    j.append(E.TRADING_STATE, {"state": "HALTED", "previous": "ACTIVE", "cause": "daily_loss", "by": "breaker",
                               "reason": "loss"}, ts=then)
    assert main(["unlock", "--reason", "reviewed the loss", "--by", "asha", "-c", paper_config.source]) == 0
    assert "ACTIVE (was HALTED), unlocked by asha" in capsys.readouterr().out
    assert _events(paper_config)[-1].payload["state"] == "ACTIVE"
    assert main(["unlock", "--reason", "again", "-c", paper_config.source]) == 0
    assert "nothing to unlock" in capsys.readouterr().out
    assert main(["kill", "--reason", " ", "-c", paper_config.source]) == 2


def test_cli_unlock_judges_the_cool_off_on_a_rehearsals_clock(paper_config, capsys, monkeypatch):
    """Defect: during a rehearsal (the sandbox replays 2030-01-07) the trip is stamped on the replayed
    day, and `tradekit unlock` compared it with the real time: refused for years, whatever the cool-off."""
    import tradekit.clock as clock_mod
    from tradekit.clock import SANDBOX_CLOCK_ENV, SandboxClock

    root = "http://127.0.0.1:9"
    reading = {"day": "2030-01-07", "time": "2030-01-07T10:20:00+05:30", "speed": 60.0}
    monkeypatch.setitem(clock_mod._default_clocks, root, SandboxClock(root, fetch=lambda: reading))
    monkeypatch.setenv(SANDBOX_CLOCK_ENV, root)
    j = Journal(make_engine(paper_config.store_url()))
    j.append(E.TRADING_STATE, {"state": "REDUCING", "previous": "ACTIVE", "cause": "stale_feed", "by": "breaker",
                               "reason": "no packet"}, ts=datetime(2030, 1, 7, 10, 0, tzinfo=IST))
    assert main(["unlock", "--reason", "ticker back", "--by", "asha", "-c", paper_config.source]) == 0
    assert "ACTIVE (was REDUCING), unlocked by asha" in capsys.readouterr().out
    last = [e for e in Journal(make_engine(paper_config.store_url())).events() if e.type == E.TRADING_STATE][-1]
    assert last.payload["state"] == "ACTIVE" and last.time.date() == date(2030, 1, 7)  # on the rehearsal's time line


# -- config and list files -------------------------------------------------------------------------

def test_config_defaults_are_valid_and_typos_are_errors():
    c = RiskConfig()
    assert c.compliance.max_orders_per_second == 5 and c.breakers.actions["daily_loss"] == "HALTED"
    with pytest.raises(ValueError, match="extra"):
        RiskConfig.model_validate({"loss": {"max_daly_loss_pct": 1}})
    c = RiskConfig.model_validate({"breakers": {"actions": {"stale_feed": "HALTED"}}})
    assert c.breakers.actions["stale_feed"] == "HALTED" and c.breakers.actions["daily_loss"] == "HALTED"
    with pytest.raises(ValueError, match="kill switch always halts"):
        RiskConfig.model_validate({"breakers": {"actions": {"kill_switch": "REDUCING"}}})


def test_lists_from_files(tmp_path):
    (tmp_path / "restricted.txt").write_text("# insiders\nYESBANK\nidea, reason\n")
    (tmp_path / "fo_secban.csv").write_text("Securities in Ban For Trade Date 24-NOV-2026:,\n1,SAIL\n2,RBLBANK\n")
    (tmp_path / "sectors.csv").write_text("symbol,sector\nRELIANCE,energy\nTCS,it\n")
    cfg = RiskConfig.model_validate({
        "compliance": {"restricted_file": "restricted.txt", "fno_ban_file": "fo_secban.csv",
                       "fno_ban": {"2026-11-25": ["SAIL"]}},
        "exposure": {"sector_map_file": "sectors.csv", "sector_map": {"TCS": "tech"}},
    })
    lists = load_lists(cfg, tmp_path)
    assert lists.restricted == {"YESBANK", "IDEA"}
    assert lists.banned_on(date(2026, 11, 24)) == {"SAIL", "RBLBANK"} and lists.banned_on(date(2026, 11, 25)) == {"SAIL"}
    assert lists.sector_map == {"RELIANCE": "energy", "TCS": "tech"}
    (tmp_path / "bad.csv").write_text("nonsense\n")
    with pytest.raises(ConfigError):
        load_lists(RiskConfig.model_validate({"compliance": {"fno_ban_file": "bad.csv"}}), tmp_path)
