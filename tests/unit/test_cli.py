"""The CLI: subcommands work, and errors are one line with a non-zero exit."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from tradekit import cli
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


# --- usage mistakes: one line on stderr, exit 2, never a traceback (issue 14 item 10) ---------------

USAGE_MISTAKES = [
    # missing option
    (["kill"], "tradekit kill", "--reason"),
    (["unlock"], "tradekit unlock", "--reason"),
    (["charges", "--segment", "equity-intraday"], "tradekit charges", "--quantity"),
    (["paper"], "tradekit paper", "--date"),
    (["replay"], "tradekit replay", "--data"),
    (["audit", "export"], "tradekit audit export", "--out"),
    (["signals", "check"], "tradekit signals check", "files"),
    (["kill", "--reason"], "tradekit kill", "requires an argument"),
    # missing command (a group alone)
    ([], "tradekit", "missing command"),
    (["run"], "tradekit run", "day, research"),
    (["audit"], "tradekit audit", "verify"),
    (["config"], "tradekit config", "check"),
    (["kite"], "tradekit kite", "login"),
    (["signals"], "tradekit signals", "check"),
    # unknown command
    (["nosuchcmd"], "tradekit", "nosuchcmd"),
    (["run", "week"], "tradekit run", "week"),
    (["audit", "fix"], "tradekit audit", "fix"),
    # bad option value
    (["serve", "--port", "abc"], "tradekit serve", "--port"),
    (["serve", "--port", "99999"], "tradekit serve", "--port"),
    (["kite-sim", "--port", "-1"], "tradekit kite-sim", "--port"),
    (["run", "day", "--timeout", "soon"], "tradekit run day", "--timeout"),
    (["kite-sim", "--speed", "fast"], "tradekit kite-sim", "--speed"),
    (["run", "research", "--quantity", "ten"], "tradekit run research", "--quantity"),
    # unknown option
    (["version", "--bogus"], "tradekit version", "--bogus"),
    (["schedule", "--every", "5"], "tradekit schedule", "--every"),
    (["audit", "verify", "--nope"], "tradekit audit verify", "--nope"),
    (["replay", "--data", "RELIANCE", "--speed", "2"], "tradekit replay", "--speed"),
    (["kite", "status", "--verbose"], "tradekit kite status", "--verbose"),
]


@pytest.mark.parametrize("args,command,names", USAGE_MISTAKES, ids=[" ".join(a) or "(none)" for a, _, _ in USAGE_MISTAKES])
def test_usage_mistake_is_one_line_and_exit_2(args, command, names, capsys, tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # nothing may be written on a usage mistake
    code, out, err = run(args, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {command}: ") and names in err and f"'{command} --help'" in err
    assert "Traceback" not in err and list(cwd.iterdir()) == []


def test_usage_mistake_from_the_console_command_exits_2_without_traceback():
    p = subprocess.run([sys.executable, "-m", "tradekit", "kill"], capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and "--reason" in p.stderr
    assert p.stdout == ""


def test_plain_click_usage_errors_are_one_line_too(capsys, monkeypatch):
    """typer < 0.20 raises plain click's exceptions, newer typer its own copy of click: both are handled."""
    click = pytest.importorskip("click")

    @click.group(name="tradekit")
    def group():
        pass

    @group.command()
    @click.option("--reason", required=True)
    def kill(reason):
        pass

    monkeypatch.setattr(cli, "app", group)
    for args, names in ((["kill"], "--reason"), (["nope"], "nope"), (["kill", "--reason", "x", "--bad"], "--bad"),
                        ([], "missing command"), (["kill", "--reason"], "requires an argument")):
        code, out, err = run(args, capsys)
        assert code == 2 and err.count("\n") == 1 and names in err, (args, err)
        assert err.startswith("error: tradekit") and "--help" in err


def test_flags_do_not_look_like_they_take_a_value(capsys):
    code, out, _ = run(["schedule", "--help"], capsys)
    assert code == 0
    line = next(x for x in out.splitlines() if x.strip().startswith("--once"))
    assert "<bool>" not in out.lower() and line.split()[1] == "a", line  # the flag, then its help
