"""What the commands print when they are used as the README says, or almost (issue 14 items 14, 15)."""

from __future__ import annotations

from pathlib import Path

from tradekit.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_replay_of_2016_bars_with_the_default_config_names_a_config_that_works(tmp_path, capsys, paper_config):
    code, out, err = run(["replay", "--data", "RELIANCE", "--from", "2016-08-17", "--to", "2016-08-17",
                          "--strategy", "sma:10:30:10:MIS", "-c", paper_config.source, "--out", str(tmp_path / "r")],
                         capsys)
    assert code == 2 and err.count("\n") == 1
    assert "execution.charges_as_of" in err and "config/demo.yaml" in err and "2020-07-01" in err
    assert not (tmp_path / "r" / "journal.db").exists()  # refused before any work


def test_replay_as_the_readme_shows_it_works(tmp_path, capsys):
    readme = (ROOT / "README.md").read_text()
    assert "tradekit replay --data RELIANCE,INFY --from 2016-08-17 --to 2016-08-17 --strategy sma:10:30:10:MIS " \
           "-c config/demo.yaml" in readme
    code, out, err = run(["replay", "--data", "RELIANCE,INFY", "--from", "2016-08-17", "--to", "2016-08-17",
                          "--strategy", "sma:10:30:10:MIS", "-c", str(ROOT / "config" / "demo.yaml"),
                          "--out", str(tmp_path / "r")], capsys)
    assert code == 0, err
    assert "fills" in out and (tmp_path / "r" / "journal.db").exists()


def test_replay_needs_signals_or_strategy_and_says_so(tmp_path, capsys, paper_config):
    code, out, err = run(["replay", "--data", "RELIANCE", "-c", paper_config.source], capsys)
    assert code == 2 and err.count("\n") == 1 and "--signals" in err and "--strategy" in err and "required" in err
    code, out, _ = run(["replay", "--help"], capsys)
    flat = " ".join(out.split())
    assert code == 0 and "this or --strategy is required" in flat and "this or --signals is required" in flat


def test_replay_with_a_signal_file_of_only_bad_records_says_that(tmp_path, capsys):
    bad = tmp_path / "s.jsonl"
    bad.write_text('{"id": 1}\n')
    code, _, err = run(["replay", "--data", "RELIANCE", "--from", "2016-08-17", "--to", "2016-08-17",
                        "--signals", str(bad), "-c", str(ROOT / "config" / "demo.yaml"), "--out", str(tmp_path / "r")],
                       capsys)
    assert code == 2 and err.count("\n") == 1 and "no valid signals" in err and str(bad) in err


def test_config_check_lists_every_problem(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("mode: yolo\napproval: {mode: sometimes, ttl_seconds: -1}\nexecutoin: {}\n")
    code, out, err = run(["config", "check", "-c", str(bad)], capsys)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[0] == f"error: {bad}: 4 problems"
    fields = [x.split(":")[0].strip() for x in lines[1:]]
    assert fields == ["mode", "approval.mode", "approval.ttl_seconds", "executoin"]
    assert "did you mean 'execution'" in lines[4]


def test_other_commands_point_to_config_check_for_the_rest(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("mode: yolo\napproval: {mode: sometimes}\n")
    code, _, err = run(["demo", "-c", str(bad)], capsys)
    assert code == 2 and err.count("\n") == 1 and "1 more problem" in err and "config check" in err


def test_print_cron_refuses_a_paper_config_whose_runs_would_fail_every_day(capsys, paper_config):
    code, out, err = run(["schedule", "--print-cron", "-c", paper_config.source], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "paper" in err and "2016-09-09" in err and "mode: live" in err


def test_print_cron_prints_an_entry_for_a_live_config(tmp_path, capsys):
    live = tmp_path / "live.yaml"
    live.write_text(f"extends: {ROOT / 'config' / 'live.example.yaml'}\ndata_dir: {tmp_path / 'var'}\n")
    code, out, err = run(["schedule", "--print-cron", "-c", str(live), "--out", str(tmp_path / "runs")], capsys)
    assert code == 0, err
    entry = [x for x in out.splitlines() if not x.startswith("#")]
    assert len(entry) == 1 and "schedule --once" in entry[0] and str(live) in entry[0]


def test_schedule_help_shows_flags_as_flags(capsys):
    code, out, _ = run(["schedule", "--help"], capsys)
    assert code == 0
    for flag in ("--once", "--print-cron"):
        line = next(x for x in out.splitlines() if x.strip().startswith(flag))
        assert line.split()[1] == "a", line  # "--once  a flag: ...", no value placeholder


def test_replay_with_a_bad_strategy_makes_no_folder(tmp_path, capsys):
    out = tmp_path / "r"
    code, _, err = run(["replay", "--data", "RELIANCE", "--from", "2016-08-17", "--to", "2016-08-17",
                        "--strategy", "bogus", "-c", str(ROOT / "config" / "demo.yaml"), "--out", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1 and "--strategy" in err and not out.exists()
