"""``tradekit gtt protect|list|delete`` reach the running session through the journal."""

from __future__ import annotations

from decimal import Decimal

from tests.unit.execution.conftest import make_session
from tests.unit.gtt.test_protector_paper import holding, mark
from tradekit.cli import main
from tradekit.model.gtt import GttStatus


def test_protect_list_delete_through_the_running_session(tmp_path, capsys):
    s = holding(make_session(tmp_path))
    mark(s, "NSE:INFY", 1500)
    db = str(tmp_path / "j.db")
    s.journal.flush()
    assert main(["gtt", "protect", "NSE:INFY", "--stop", "1450", "--target", "1600", "--db", db]) == 0
    assert "running session places it" in capsys.readouterr().out
    s.poll()  # the session's journal poll acts on the request
    p = s.gtt.protections["protect:NSE:INFY:CNC"]
    g = s.broker.get_gtt(p.gtt_id)
    assert g.status is GttStatus.ACTIVE and g.request.trigger_values == (Decimal(1450), Decimal(1600))
    assert g.request.legs[0].quantity == 10 and p.strategy == "swing"
    s.journal.flush()
    assert main(["gtt", "list", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "protect:NSE:INFY:CNC" in out and "NSE:INFY" in out and p.gtt_id in out and "active" in out
    assert main(["gtt", "delete", "protect:NSE:INFY:CNC", "--db", db]) == 0
    s.poll()
    assert s.broker.get_gtt(g.id).status is GttStatus.DELETED and s.gtt.protections["protect:NSE:INFY:CNC"].state == "closed"
    s.close()


def test_usage_mistakes_are_one_line_and_exit_2(tmp_path, capsys):
    db = str(tmp_path / "j.db")
    for argv in (["gtt"], ["gtt", "protect", "NSE:INFY", "--stop", "1"], ["gtt", "protect", "INFY", "--stop", "1", "--target", "2"],
                 ["gtt", "protect", "NSE:INFY", "--stop", "-1", "--target", "2", "--db", db],
                 ["gtt", "protect", "NSE:INFY", "--stop", "1", "--target", "2", "--product", "MIS", "--db", db],
                 ["gtt", "delete", "--db", db], ["gtt", "delete", "--gtt", "x1", "--db", db], ["gtt", "nope"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and "Traceback" not in err, (argv, err)


def test_session_protect_a_holding(tmp_path):
    s = holding(make_session(tmp_path), qty=8)
    gid = s.protect("NSE", "INFY", stop=1400, target=1700)
    assert s.broker.get_gtt(gid).request.legs[1].quantity == 8
    import pytest

    from tradekit.errors import ValidationError

    with pytest.raises(ValidationError, match="no CNC/NRML position"):
        s.protect("NSE", "SBIN", stop=700, target=900)
    with pytest.raises(ValidationError, match="more than the 8 held"):
        s.protect("NSE", "INFY", stop=1400, target=1700, quantity=9)
    s.close()
