"""The CLI: subcommands work, and errors are one line with a non-zero exit."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from tradekit.cli import main


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version(capsys):
    code, out, _ = run(["version"], capsys)
    assert code == 0 and out.startswith("tradekit ")


def test_config_check_ok_and_bad(tmp_path, capsys, paper_config):
    code, out, _ = run(["config", "check", "-c", paper_config.source], capsys)
    assert code == 0 and "mode: paper" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("mode: yolo\n")
    code, out, err = run(["config", "check", "-c", str(bad)], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and "mode" in err


def test_demo_then_audit_verify_export_and_tamper(tmp_path, capsys, paper_config):
    out_dir = tmp_path / "demo"
    code, out, _ = run(["demo", "-c", paper_config.source, "--out", str(out_dir)], capsys)
    assert code == 0 and "audit:   OK" in out and "report:" in out and (out_dir / "report.html").exists()
    db = out_dir / "journal.db"
    code, out, _ = run(["audit", "verify", "--db", str(db)], capsys)
    assert code == 0 and out.startswith("OK:")
    code, out, _ = run(["audit", "export", "--db", str(db), "-o", str(tmp_path / "x.csv")], capsys)
    assert code == 0 and (tmp_path / "x.csv").exists()
    code, out, _ = run(["audit", "anchor", "--db", str(db), "--date", "2016-08-17"], capsys)
    assert code == 0 and len(out.split()[1]) == 64
    c = sqlite3.connect(db)
    c.execute("UPDATE events SET payload='{}' WHERE seq=5")
    c.commit()
    code, out, _ = run(["audit", "verify", "--db", str(db)], capsys)
    assert code == 1 and "FAILED at event 5" in out


def test_missing_journal_is_one_line(tmp_path, capsys):
    code, _, err = run(["audit", "verify", "--db", str(tmp_path / "none.db")], capsys)
    assert code == 2 and "no such journal" in err


def test_console_script_has_no_traceback_on_error(tmp_path):
    p = subprocess.run([sys.executable, "-m", "tradekit.cli", "config", "check", "-c", str(tmp_path / "x.yaml")],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "file not found" in p.stderr
