"""The helpers notebooks call: the run log with secrets redacted, the clean stop."""

from __future__ import annotations

import logging

import pytest

from tradekit.runs.notebook import read_stage, start_notebook, stop_here, write_stage


def test_the_run_log_redacts_secrets_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("KITE_API_SECRET", "sekret-1234567890")
    run = start_notebook(tmp_path / "run")
    logging.getLogger("tradekit.runs.test").warning("oops, the secret is sekret-1234567890")
    for h in logging.getLogger("tradekit").handlers:
        h.flush()
    text = (run / "run.log").read_text()
    assert "oops, the secret is ***" in text and "sekret-1234567890" not in text
    start_notebook(run)  # a second call replaces the handlers instead of doubling them
    assert sum(getattr(h, "_tradekit_run", False) for h in logging.getLogger("tradekit").handlers) == 2
    for h in [h for h in logging.getLogger("tradekit").handlers if getattr(h, "_tradekit_run", False)]:
        logging.getLogger("tradekit").removeHandler(h)
        h.close()
    logging.getLogger("tradekit").setLevel(logging.NOTSET)


def test_stop_here_is_the_clean_exit_papermill_accepts(capsys):
    with pytest.raises(SystemExit) as e:
        stop_here("not a trading day: closed")
    assert type(e.value) is SystemExit and e.value.code == 0  # a subclass would count as a failure


def test_stage_files_round_trip(tmp_path):
    write_stage(tmp_path, "session", {"halted": False, "n": 3})
    assert read_stage(tmp_path, "session") == {"halted": False, "n": 3}
    assert read_stage(tmp_path, "eod") is None


def test_run_logs_are_stamped_in_ist_with_the_offset(tmp_path, monkeypatch):
    """run.log reads in IST (+05:30) whatever the machine's zone (issue 14 item 16)."""
    import time
    from datetime import datetime

    from tradekit.clock import IST
    from tradekit.runs.chain import _close_log, _file_log

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        run = start_notebook(tmp_path / "nb")
        logging.getLogger("tradekit.runs.test").warning("from a notebook")
        h = _file_log(tmp_path)
        logging.getLogger("tradekit.runs.test").warning("from the chain")
        _close_log(h)
        for h in [h for h in logging.getLogger("tradekit").handlers if getattr(h, "_tradekit_run", False)]:
            logging.getLogger("tradekit").removeHandler(h)
            h.close()
        logging.getLogger("tradekit").setLevel(logging.NOTSET)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    for path, words in ((run / "run.log", "from a notebook"), (tmp_path / "run.log", "from the chain")):
        line = next(x for x in path.read_text().splitlines() if words in x)
        stamp = datetime.fromisoformat(line.split()[0])
        assert stamp.utcoffset().total_seconds() == 5.5 * 3600, line
        assert abs((datetime.now(IST) - stamp).total_seconds()) < 60


def test_notebook_tables_show_blanks_not_none_and_rupees_grouped():
    """The eod notebook's tables read like the report's (issue 14 item 16): no raw None/NaN/NaT."""
    from decimal import Decimal

    import numpy as np
    import pandas as pd

    from tradekit.runs.notebook import frame_html

    df = pd.DataFrame({"symbol": ["RELIANCE", None], "price": [Decimal("1234567.5"), None],
                       "filled_at": [pd.Timestamp("2016-08-17 04:00", tz="UTC"), pd.NaT],
                       "slippage_bps": [np.nan, 2.5]})
    out = frame_html(df)
    for raw in ("None", "NaN", "NaT", "nan"):
        assert raw not in out
    assert "12,34,567.50" in out and "09:30" in out and "RELIANCE" in out
    assert frame_html(pd.Series({"net": Decimal("-5")}, name="value")).count("<tr>") == 2
    assert "none" in frame_html(df.iloc[0:0])
