"""Performance across days (issue 18): the roll-up of a period equals the sum of its days."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from tradekit.cli import main
from tradekit.monitoring.perf import JournalSource, build_perf_report, daily_pnl, period_pnl

ROOT = Path(__file__).resolve().parents[3]
DAYS = ("2016-08-16", "2016-08-17", "2016-08-18")


_SEQ = iter(range(1, 10**6))


def ev(ts, type_, **p):
    return NS(type=type_, ts=ts + "+05:30", payload=p, seq=next(_SEQ))


def fill(ts, side, qty, price, sym="INFY", charges="0", cid="C"):
    return ev(ts, "fill", client_order_id=cid, strategy="s", exchange="NSE", tradingsymbol=sym, side=side,
              quantity=qty, price=price, charges={"brokerage": charges})


def test_a_carried_position_is_marked_each_day_and_the_days_add_up():
    evs = [fill("2016-08-16T10:00:00", "BUY", 10, "100", charges="1"),
           ev("2016-08-16T15:30:00", "mark", prices={"NSE:INFY": "104"}),
           ev("2016-08-17T15:30:00", "mark", prices={"NSE:INFY": "101"}),
           fill("2016-08-18T10:00:00", "SELL", 10, "103", charges="1.5")]
    src = JournalSource(Path("j.db"), "paper", D(100000), evs)
    d = daily_pnl([src])
    # day 1: -1000 bought + 10 x 104 held = +40 gross, -1 charges = 39
    # day 2: no fills, 10 x (101 - 104) = -30
    # day 3: +1030 sold, position 0 now, - 10 x 101 held before = +20 gross, -1.5 = 18.50
    assert list(d["net"]) == [D(39), D(-30), D("18.5")]
    assert sum(d["net"]) == D("27.5") == D(10 * (103 - 100)) - D("2.5")  # the position terms telescope
    w = period_pnl(d, "W")
    assert list(w["net"]) == [D("27.5")] and w["days"].iloc[0] == 3
    rep = build_perf_report([src], *(__import__("datetime").date.fromisoformat(x) for x in ("2016-08-16", "2016-08-18")),
                            figures=False)
    st = rep.modes["paper"]
    assert st["net_pnl"] == D("27.5") and st["win_rate_days"] == pytest.approx(2 / 3)
    assert st["max_drawdown"] == pytest.approx(30.0)  # 100039 -> 100009


@pytest.fixture(scope="module")
def three_days(tmp_path_factory):
    """Three bundled days replayed with `tradekit replay`, each into its own run folder."""
    tmp = tmp_path_factory.mktemp("perf")
    cfg = tmp / "c.yaml"
    cfg.write_text(f"extends: {ROOT / 'config' / 'demo.yaml'}\ndata_dir: {tmp / 'var'}\n")
    nets = {}
    for d in DAYS:
        code = main(["replay", "--data", "RELIANCE,INFY", "--from", d, "--to", d, "--strategy", "sma:10:30:10:MIS",
                     "-c", str(cfg), "--out", str(tmp / "runs" / d)])
        assert code == 0
        from tradekit.monitoring.analytics import fills_frame
        from tradekit.store.audit import open_read_only

        j = open_read_only(tmp / "runs" / d / "journal.db")
        f = fills_frame(j.events())
        j.engine.dispose()
        # a replay squares off: flat at the close, so the day's net is sells - buys - charges
        sign = f["side"].map({"SELL": 1, "BUY": -1})
        nets[d] = sum((v * s for v, s in zip(f["value"], sign)), D(0)) - sum(f["charges"], D(0))
    return tmp, cfg, nets


def test_the_roll_up_of_replayed_days_equals_the_sum_of_the_days(three_days, capsys):
    tmp, cfg, nets = three_days
    from tradekit.monitoring.perf import perf_command

    rep, html = perf_command(DAYS[0], DAYS[-1], config=str(cfg), runs=str(tmp / "runs"))
    singles = [perf_command(d, d, config=str(cfg), runs=str(tmp / "runs"), out=str(tmp / "o"))[0] for d in DAYS]
    assert rep.total("paper") == sum(s.total("paper") for s in singles) == sum(nets.values())
    assert [s.total("paper") for s in singles] == [nets[d] for d in DAYS]
    assert list(rep.days["net"]) == [nets[d] for d in DAYS]
    assert rep.weekly["net"].sum() == rep.monthly["net"].sum() == rep.total("paper")
    assert sum(rep.by_strategy["net"]) == sum(rep.by_symbol["net"]) == rep.total("paper")
    assert rep.modes["paper"]["days"] == 3 and rep.modes["paper"]["charges"] > 0
    text = html.read_text(encoding="utf-8")
    assert "Calendar of daily P&amp;L" in text and "Equity across days" in text and text.count("<img") == 2
    assert "Weekly P&amp;L" in text and "Implementation shortfall" in text and "Targets day by day" in text
    assert list(rep.targets["day"].astype(str)) == list(DAYS) and rep.targets["fill_rate_pct"].notna().all()


def test_perf_cli_prints_the_period_and_refuses_bad_dates_in_one_line(three_days, capsys):
    tmp, cfg, nets = three_days
    assert main(["perf", "--from", DAYS[0], "--to", DAYS[-1], "-c", str(cfg), "--runs", str(tmp / "runs"),
                 "--out", str(tmp / "cli")]) == 0
    out = capsys.readouterr().out
    assert "paper: 3 day(s)" in out and (tmp / "cli" / f"perf-{DAYS[0]}-{DAYS[-1]}.html").exists()
    assert main(["perf", "--from", "2016-13-01", "--to", DAYS[-1], "-c", str(cfg), "--runs", str(tmp / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--from" in err
    assert main(["perf", "--from", DAYS[-1], "--to", DAYS[0], "-c", str(cfg), "--runs", str(tmp / "runs")]) == 2
    assert "before" in capsys.readouterr().err


def test_the_end_of_day_report_shows_the_targets_and_their_trend_across_days(three_days):
    """The day's execution quality: the seed's targets today, and across the earlier run folders' days.
    A batch `tradekit replay` runs no session loop and journals no heartbeat: its uptime is not
    measured (the session runner's is: tests/unit/alerts/test_eod_summary.py)."""
    import math

    from tradekit.config import load_config
    from tradekit.runs.eod import run_eod

    tmp, cfg, _ = three_days
    out = run_eod(load_config(cfg), DAYS[-1], "paper", out_dir=tmp / "runs" / DAYS[-1], figures=False)
    [sec] = [s for s in out.report.sections if s.title == "Execution quality"]
    today = sec.tables["Targets today"].set_index("metric")
    assert today.loc["fill_rate_pct", "value"] == pytest.approx(100.0) and bool(today.loc["fill_rate_pct", "met"])
    assert math.isnan(today.loc["uptime_pct", "value"]) and today.loc["uptime_pct", "met"] is None
    trend = sec.tables["Targets across days"]
    assert [str(x) for x in trend["day"]] == [*DAYS, "days met"]
    assert trend["fill_rate_pct"].iloc[3] == "3/3" and trend["uptime_pct"].iloc[3] == "0/0"
