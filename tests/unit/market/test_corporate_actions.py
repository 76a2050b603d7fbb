"""Issue 16: corporate actions imported from a file and applied at their ex-dates, to the paper book,
the paper broker's holdings and open orders; back-adjusted bars; one line in the report."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.execution.conftest import make_session, step
from tradekit.cli import main
from tradekit.errors import DataError
from tradekit.market.corporate_actions import (CorporateAction, CorporateActionStore, adjust_bars, import_file,
                                               parse_actions)
from tradekit.model.order import OrderRequest, OrderStatus
from tradekit.store import Book

NSE_CSV = """"SYMBOL","COMPANY NAME","SERIES","PURPOSE","FACE VALUE","EX-DATE","RECORD DATE"
"RELIANCE","Reliance Industries Limited","EQ","Bonus 1:1","10","28-Oct-2024","28-Oct-2024"
"INFY","Infosys Limited","EQ","Final Dividend - Rs 20 Per Share And Special Dividend - Rs 8 Per Share","5","30-May-2024","31-May-2024"
"KOTAKBANK","Kotak Mahindra Bank Limited","EQ","Face Value Split (Sub-Division) - From Rs 5/- Per Share To Rs 1/- Per Share","5","14-Jan-2026","14-Jan-2026"
"ITC","ITC Limited","EQ","Interim Dividend - Rs 6.50 Per Share","1","04-Feb-2026","04-Feb-2026"
"TATAMOTORS","Tata Motors Limited","EQ","Rights 1:10 @ Premium Rs 100/-","2","01-Mar-2026","01-Mar-2026"
"SBIN","State Bank of India","N1","Interest Payment","100","01-Mar-2026","-"
"""


def test_the_exchanges_file_is_read_and_what_is_not_applied_is_listed():
    res = parse_actions(NSE_CSV.encode())
    assert res.format == "exchange" and not res.errors
    got = {a.tradingsymbol: a for a in res.actions}
    assert got["RELIANCE"].kind == "bonus" and (got["RELIANCE"].new, got["RELIANCE"].held) == (1, 1)
    assert got["RELIANCE"].ex_date == date(2024, 10, 28) and got["RELIANCE"].factor == 2
    assert got["INFY"].kind == "dividend" and got["INFY"].per_share == Decimal("28")
    assert got["KOTAKBANK"].kind == "split" and got["KOTAKBANK"].ratio == 5
    assert got["ITC"].per_share == Decimal("6.50")
    assert [why for _, why in res.skipped] == ["TATAMOTORS: 'Rights 1:10 @ Premium Rs 100/-' is not applied automatically",
                                               "series N1 is not an equity series"]


def test_the_simple_file_and_its_errors_name_the_row():
    res = parse_actions(b"symbol,ex_date,kind,ratio,amount\nNSE:INFY,2026-06-10,dividend,,25\n"
                        b"TCS,2026-01-05,split,1:2,\nBSE:ITC,2026-02-04,bonus,1:1,\n"
                        b"SBIN,2026-13-01,split,2,\nSBIN,2026-03-01,merger,,\nSBIN,2026-03-02,split,0.5,\n")
    assert [a.describe() for a in res.actions] == ["NSE:INFY dividend ₹25/share, ex-date 2026-06-10",
                                                   "NSE:TCS split 1:2, ex-date 2026-01-05",
                                                   "BSE:ITC bonus 1:1, ex-date 2026-02-04"]
    assert [i for i, _ in res.errors] == [4, 5, 6]
    assert "not a date" in res.errors[0][1] and "not split, bonus or dividend" in res.errors[1][1]
    assert "factor of 0.5" in res.errors[2][1]
    with pytest.raises(DataError, match="not a corporate-actions file"):
        parse_actions(b"a,b\n1,2\n")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(lambda t: ("symbol,ex_date,kind,ratio,amount\n" + t).encode()))
def test_garbage_never_raises_anything_but_a_clear_error(data):
    try:
        res = parse_actions(data)
    except DataError:
        return
    for a in res.actions:
        assert a.kind in ("split", "bonus", "dividend") and (a.factor is None or a.factor > 1)


def test_a_file_with_a_bad_row_is_refused_whole_and_a_second_import_adds_nothing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,ex_date,kind,ratio,amount\nINFY,2026-06-10,dividend,,25\nTCS,someday,split,2,\n")
    with pytest.raises(DataError, match=r"bad.csv: 1 bad row\(s\), nothing imported: row 2: ex_date 'someday' is not a date"):
        import_file(bad, tmp_path)
    assert not (tmp_path / "corporate_actions.json").exists()
    good = tmp_path / "ca.csv"
    good.write_text(NSE_CSV)
    res, added, known = import_file(good, tmp_path, note="NSE, 2026-12-06")
    assert (added, known) == (4, 0)
    assert import_file(good, tmp_path)[1:] == (0, 4)
    d = json.loads((tmp_path / "corporate_actions.json").read_text())
    assert len(d["actions"]) == 4 and d["sources"][0]["note"] == "NSE, 2026-12-06" and len(d["sources"][0]["sha256"]) == 64


def _session(tmp_path):
    s = make_session(tmp_path, data_dir=str(tmp_path / "var"))
    return s


def test_a_split_on_its_ex_date_adjusts_the_holding_and_cancels_the_open_order(tmp_path):
    from tradekit.store import EventType as E

    s = _session(tmp_path)
    key = "NSE:INFY"
    step(s, key, 0, 1500, 1501, 1499, 1500)
    s.submit(OrderRequest("NSE", "INFY", "BUY", 10, "MARKET", "CNC"), strategy="s1")
    step(s, key, 1, 1500, 1501, 1499, 1500)
    resting = s.submit(OrderRequest("NSE", "INFY", "BUY", 4, "LIMIT", "CNC", price=Decimal("1400")), strategy="s1")
    step(s, key, 2, 1500, 1501, 1499, 1500)
    assert s.book.order(resting.client_order_id).status is OrderStatus.OPEN
    CorporateActionStore(tmp_path / "var").add(
        [CorporateAction("NSE", "INFY", date(2026, 11, 23), "split", ratio=Decimal(2))], source="t.csv", sha256="0")
    assert s.apply_corporate_actions(date(2026, 11, 20)) == []  # not yet
    s._emit(E.DAY_ROLLED, {"day": "2026-11-23"})  # the ex-date's session begins
    pos = s.book.position("s1", "NSE", "INFY", "CNC")
    assert pos.quantity == 20 and pos.average_price == Decimal("750")
    assert [p.quantity for p in s.broker.positions()] == [20]
    o = s.book.order(resting.client_order_id)
    assert o.status is OrderStatus.CANCELLED
    assert s.apply_corporate_actions(date(2026, 11, 23)) == []  # once only
    s.journal.flush()
    assert Book.rebuild(s.journal.events()).snapshot() == s.book.snapshot()
    s.close()


def test_a_restarted_session_does_not_apply_an_action_twice_and_old_ones_never(tmp_path):
    from tradekit.config import load_config
    from tradekit.session import Session

    CorporateActionStore(tmp_path / "var").add(
        [CorporateAction("NSE", "INFY", date(2020, 1, 1), "split", ratio=Decimal(5)),  # before the account existed
         CorporateAction("NSE", "INFY", date(2026, 11, 20), "dividend", per_share=Decimal("25"))],
        source="t.csv", sha256="0")
    s = _session(tmp_path)
    first = [e.payload["action_id"] for e in s.journal.events(types=("position.adjusted",))]
    assert first == ["NSE:INFY:2026-11-20:dividend:rs25"]
    s.close()
    cfg = load_config(overrides={"data_dir": str(tmp_path / "var"), "paper": {"latency_ms": 0}})
    from tradekit.clock import SimClock
    from tradekit.store import Journal, make_engine, sqlite_url

    j = Journal(make_engine(sqlite_url(tmp_path / "j.db")))
    s2 = Session(cfg, journal=j, clock=SimClock(pd.Timestamp("2026-11-20 10:00", tz="Asia/Kolkata").to_pydatetime()))
    assert len(list(s2.journal.events(types=("position.adjusted",)))) == 1
    s2.close()


def test_bars_are_back_adjusted_like_the_exchanges_base_price():
    """india.md §8: RELIANCE 1:1 bonus, ex 2024-10-28: the 2024-10-25 close 2,655.70 becomes 1,327.85."""
    idx = pd.DatetimeIndex(["2024-10-25 09:15", "2024-10-28 09:15"], tz="Asia/Kolkata")
    bars = pd.DataFrame({"open": [2650.0, 1330.0], "high": [2660.0, 1335.0], "low": [2640.0, 1320.0],
                         "close": [2655.70, 1327.85], "volume": [100, 300]}, index=idx)
    a = CorporateAction("NSE", "RELIANCE", date(2024, 10, 28), "bonus", new=1, held=1)
    out = adjust_bars(bars, "NSE:RELIANCE", [a])
    assert out["close"].tolist() == [pytest.approx(1327.85), 1327.85] and out["volume"].tolist() == [200, 300]
    assert adjust_bars(bars, "NSE:INFY", [a]) is bars


def test_the_cli_imports_and_lists_and_a_usage_mistake_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'var'}\n")
    f = tmp_path / "ca.csv"
    f.write_text(NSE_CSV)
    assert main(["corporate-actions", "import", str(f), "-c", str(cfg), "--source", "NSE site"]) == 0
    out = capsys.readouterr().out
    assert "4 action(s), 4 new" in out and "skipped row 5: TATAMOTORS" in out
    assert main(["corporate-actions", "list", "-c", str(cfg), "--symbol", "ITC"]) == 0
    assert capsys.readouterr().out.strip() == "NSE:ITC dividend ₹6.50/share, ex-date 2026-02-04"
    assert main(["corporate-actions", "list", "-c", str(cfg), "--from", "someday"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--from" in err
    assert main(["corporate-actions", "import", str(tmp_path / "nope.csv"), "-c", str(cfg)]) == 2


def test_the_report_has_a_line_for_each_applied_action(tmp_path):
    from tradekit.monitoring.report import build_session_report

    CorporateActionStore(tmp_path / "var").add(
        [CorporateAction("NSE", "INFY", date(2026, 11, 20), "dividend", per_share=Decimal("25"))],
        source="t.csv", sha256="0")
    s = _session(tmp_path)
    s.journal.flush()
    rep = build_session_report(s.journal, figures=False)
    sec = [x for x in rep.sections if x.title == "Corporate actions applied"]
    assert sec and sec[0].tables[""]["action"].tolist() == ["dividend ₹25/share"]
    s.close()
