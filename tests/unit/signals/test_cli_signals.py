"""``tradekit signals check`` and ``tradekit signals schema``."""

from __future__ import annotations

import json

from tests.unit.signals.helpers import record
from tradekit.cli import main
from tradekit.signals.schema import json_schema


def test_check_lists_errors_by_record_and_field(tmp_path, capsys):
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(record(k)) for k in ("a", "b")) + "\n")
    assert main(["signals", "check", str(good)]) == 0
    assert "2 valid, 0 bad" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([record("a"), record("b", side="HOLD")]))
    assert main(["signals", "check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "1 valid, 1 bad" in out and "record 1: side:" in out


def test_schema_prints_and_writes(tmp_path, capsys):
    assert main(["signals", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()
    target = tmp_path / "s.json"
    assert main(["signals", "schema", "--write", str(target)]) == 0
    assert json.loads(target.read_text()) == json_schema()
