"""The README's three commands, run exactly as written: a CSV with other column names and UTC times, for
a symbol in no bundled list, imported, replayed and reported."""

from __future__ import annotations

import gzip
import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- own-data-commands:[^>]*-->\s*```bash\n(.*?)```", text, re.S)
    assert m, "the README's own-data block is gone"
    return [ln for ln in m.group(1).splitlines() if ln.strip()]


def _write_export(path: Path) -> None:
    """Two sessions of real NSE bars (the bundled RELIANCE file) as another tool exports them."""
    lines = gzip.decompress((ROOT / "tradekit/data/sample/NSE_RELIANCE_1min.csv.gz").read_bytes()).decode().splitlines()
    out = ["Datetime,Open,High,Low,Close,Shares Traded"]
    for ln in lines[1:751]:
        ts, o, h, lo, c, v = ln.split(",")
        t = datetime.fromisoformat(ts).astimezone(timezone.utc).replace(tzinfo=None)
        out.append(f"{t:%Y-%m-%d %H:%M:%S},{o},{h},{lo},{c},{v}")
    path.write_text("\n".join(out) + "\n")


def test_from_a_csv_to_a_replay_report_in_three_commands(tmp_path):
    cmds = readme_commands()
    assert len(cmds) == 3
    shutil.copytree(ROOT / "config", tmp_path / "config")  # its data_dir (../var) lands in tmp_path
    _write_export(tmp_path / "xyz.csv")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_PROXY": "127.0.0.1"}
    for cmd in cmds[:2]:
        argv = shlex.split(cmd)
        assert argv[0] == ".venv/bin/tradekit"
        r = subprocess.run([sys.executable, "-m", "tradekit", *argv[1:]], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
        if "data import" in cmd:
            assert "imported 750 1min bars of NSE:XYZ (2016-08-16 09:15 .. 2016-08-17 15:29 IST)" in r.stdout
            assert (tmp_path / "var/bars/1min/NSE/XYZ.parquet").exists()
        else:
            assert "30 signals" in r.stdout and "fills" in r.stdout and "unknown instrument" not in r.stderr
    # the third opens the report the replay wrote
    opener, report = shlex.split(cmds[2])
    assert opener == "xdg-open"
    html = (tmp_path / report).read_text()
    assert "NSE:XYZ" in html and "Named by the user (in no instrument master): NSE:XYZ" in html
    assert "the bundled sample" in html  # which instrument master the replay used
    # without --instrument the replay is refused up front, naming the symbol and the way out
    argv = shlex.split(cmds[1])
    i = argv.index("--instrument")
    del argv[i : i + 2]
    r = subprocess.run([sys.executable, "-m", "tradekit", *argv[1:]], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "unknown instrument(s) NSE:XYZ" in r.stderr and "--instrument NSE:XYZ:EQ" in r.stderr
