"""``tradekit replay``: a failed run destroys nothing, a rerun keeps the earlier run, rejected signals
are reported (exit 1 when all were), and ``--ticks`` replays a recorded day exactly."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from tradekit.cli import main
from tradekit.data import load_bars, sample_path
from tradekit.data.synth import ticks_from_bars
from tradekit.data.tickstore import TickStore

DAY = "2016-08-17"


def events(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return c.execute("select count(*) from events").fetchone()[0]


@pytest.fixture
def cfg(tmp_path):
    f = tmp_path / "cfg.yaml"
    f.write_text(f"data_dir: {tmp_path / 'var'}\nexecution: {{charges_as_of: 2024-01-02}}\n")
    return f


def replay(cfg, out, *args):
    return main(["replay", "--data", "RELIANCE", "--from", DAY, "--to", DAY, "-c", str(cfg), "--out", str(out), *args])


def test_a_failed_replay_leaves_the_previous_run_untouched(tmp_path, cfg, capsys):
    out = tmp_path / "run"
    assert replay(cfg, out, "--strategy", "sma:10:30:10") == 0
    n = events(out / "journal.db")
    assert n > 50
    report = (out / "report.html").read_bytes()
    # the same folder, a replay that fails after it started (2016 has no charge rates without charges_as_of)
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"data_dir: {tmp_path / 'var'}\n")
    assert main(["replay", "--data", "RELIANCE", "--from", DAY, "--to", DAY, "-c", str(bad), "--out", str(out),
                 "--strategy", "sma:10:30:10"]) == 2
    assert events(out / "journal.db") == n
    assert (out / "report.html").read_bytes() == report
    assert not (out / "previous").exists()
    assert [p.name for p in out.iterdir() if p.name.startswith(".replay")] == []


def test_a_successful_rerun_keeps_the_earlier_run(tmp_path, cfg, capsys):
    out = tmp_path / "run"
    assert replay(cfg, out, "--strategy", "sma:10:30:10") == 0
    n = events(out / "journal.db")
    assert replay(cfg, out, "--strategy", "sma:5:20:10") == 0
    assert "kept in" in capsys.readouterr().out
    assert events(out / "previous" / "1" / "journal.db") == n
    assert (out / "previous" / "1" / "report.html").exists()
    assert events(out / "journal.db") != n
    assert replay(cfg, out, "--strategy", "sma:10:30:10") == 0
    assert sorted(p.name for p in (out / "previous").iterdir()) == ["1", "2"]


def _signal(i, symbol):
    return {"idempotency_key": f"k{i}", "strategy": "s", "signal_time": f"{DAY}T10:0{i}:00+05:30", "ttl_seconds": 600,
            "symbol": symbol, "side": "BUY", "quantity": 1}


def test_all_signals_rejected_is_reported_and_exits_1(tmp_path, cfg, capsys):
    f = tmp_path / "s.jsonl"
    f.write_text("\n".join(json.dumps(_signal(i, f"NOSUCH{i}")) for i in range(3)) + "\n")
    assert replay(cfg, tmp_path / "run", "--signals", str(f)) == 1
    cap = capsys.readouterr()
    assert "0 signals (3 rejected, 0 malformed)" in cap.out
    assert "unknown instrument" in cap.err and "every signal was rejected" in cap.err


def test_a_file_of_only_malformed_records_is_refused_naming_the_field(tmp_path, cfg, capsys):
    f = tmp_path / "s.jsonl"
    f.write_text(json.dumps({**_signal(1, "RELIANCE"), "side": "HOLD"}) + "\n")
    assert replay(cfg, tmp_path / "run", "--signals", str(f)) == 2
    err = capsys.readouterr().err  # a bad input file, refused before any run: the file has no valid signal
    assert "no valid signals (1 bad records)" in err and "side" in err
    assert not (tmp_path / "run").exists()


def test_some_rejected_is_reported_but_succeeds(tmp_path, cfg, capsys):
    f = tmp_path / "s.jsonl"
    f.write_text(json.dumps(_signal(1, "NOSUCH")) + "\n" + json.dumps(_signal(2, "RELIANCE")) + "\n")
    assert replay(cfg, tmp_path / "run", "--signals", str(f)) == 0
    assert "1 signals (1 rejected, 0 malformed)" in capsys.readouterr().out


def test_usage_mistakes_are_one_line_exit_2(tmp_path, cfg, capsys):
    assert main(["replay", "-c", str(cfg), "--strategy", "sma:10:30"]) == 2
    assert main(["replay", "--ticks", "-c", str(cfg), "--strategy", "sma:10:30"]) == 2
    assert main(["replay", "--ticks", "--date", DAY, "--from", DAY, "-c", str(cfg), "--strategy", "sma:10:30"]) == 2
    assert main(["replay", "--ticks", "--date", DAY, "-c", str(cfg), "--strategy", "sma:10:30"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 4


def record(tmp_path, symbols=("RELIANCE", "INFY")) -> Path:
    root = tmp_path / "var" / "ticks"
    with TickStore(root, flush_every=3600) as st:
        for sym in symbols:
            bars = load_bars(sample_path(sym), start=DAY, end=DAY)
            st.append(ticks_from_bars(bars, f"NSE:{sym}"))
    return root


def test_tick_replay_of_a_recorded_day_is_exact_and_repeatable(tmp_path, cfg, capsys):
    root = record(tmp_path)
    outs = []
    for i in range(2):
        out = tmp_path / f"t{i}"
        assert main(["replay", "--ticks", "--date", DAY, "--strategy", "sma:10:30:10", "-c", str(cfg), "--out", str(out)]) == 0
        outs.append(out)
    text = capsys.readouterr().out
    assert "ticks over 1 session" in text
    a, b = (pd.read_csv(o / "fills.csv") for o in outs)
    assert len(a) > 10
    pd.testing.assert_frame_equal(a, b)
    # every fill came from the recorded book of its tick: a buy at an ask, a sell at a bid (the default 2 bps
    # slippage on top, rounded up to the next tick)
    book = {(t.key, pd.Timestamp(t.ts)): t for t in TickStore(root).iter_ticks(DAY)}
    for f in a.itertuples():
        t = book[(f.symbol, pd.Timestamp(f.time))]
        side = t.asks if f.side == "BUY" else t.bids
        best = side[0].price
        assert (f.price >= best) if f.side == "BUY" else (f.price <= best)
        assert abs(f.price - best) <= best * 2e-4 + 0.05 + 1e-9


def test_tick_replay_picks_symbols_and_a_store(tmp_path, cfg, capsys):
    root = record(tmp_path)
    out = tmp_path / "t"
    assert main(["replay", "--ticks", "--date", DAY, "--data", "INFY", "--store", str(root), "--strategy",
                 "sma:10:30:10", "-c", str(cfg), "--out", str(out)]) == 0
    assert set(pd.read_csv(out / "fills.csv")["symbol"]) == {"NSE:INFY"}
    assert main(["replay", "--ticks", "--date", "2016-08-18", "--store", str(root), "--strategy", "sma:10:30",
                 "-c", str(cfg), "--out", str(out)]) == 2
    assert "recorded days: 2016-08-17" in capsys.readouterr().err


def test_a_day_killed_before_compaction_replays_exactly_as_the_compacted_day(tmp_path, cfg, capsys):
    """A recorder killed before its close leaves the day as flush files only; the replay reads
    them, and after the compaction the same day replays to the same fills."""
    root = tmp_path / "var" / "ticks"
    st = TickStore(root, flush_every=3600, compact_at=0)
    ticks = sorted((t for sym in ("RELIANCE", "INFY")
                    for t in ticks_from_bars(load_bars(sample_path(sym), start=DAY, end=DAY), f"NSE:{sym}")),
                   key=lambda t: t.ts)
    for i in range(0, len(ticks), 500):  # one flush per 500 ticks, never closed (as after a kill -9)
        st.append(ticks[i:i + 500])
        st.flush(compact=False)
    assert all(p.name.startswith("f-") for p in st.files(DAY)) and len(st.files(DAY)) > 3
    outs = []
    for i in range(2):
        out = tmp_path / f"k{i}"
        assert main(["replay", "--ticks", "--date", DAY, "--strategy", "sma:10:30:10", "-c", str(cfg), "--out", str(out)]) == 0
        outs.append(out)
        if i == 0:
            st.release()  # the dead writer's lock; a later session compacts the day
            TickStore(root).compact()
            assert [p.name[:2] for p in TickStore(root).files(DAY)] == ["c-"]
    a, b = (pd.read_csv(o / "fills.csv") for o in outs)
    assert len(a) > 10
    pd.testing.assert_frame_equal(a, b)
