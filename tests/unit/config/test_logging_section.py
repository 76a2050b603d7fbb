"""The `logging:` section acts: its level reaches tradekit's loggers and `file` gets an IST-stamped log."""

from __future__ import annotations

import logging

from tradekit.clock import SimClock
from tradekit.config import load_config


def test_logging_level_and_file_are_applied(tmp_path):
    from datetime import datetime

    from tradekit.clock import IST
    from tradekit.session import Session

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"data_dir: {tmp_path / 'var'}\nlogging: {{level: WARNING, file: logs/tradekit.log}}\n")
    cfg = load_config(cfg_file)
    s = Session.from_config(cfg, clock=SimClock(datetime(2016, 8, 17, 9, 15, tzinfo=IST)))
    try:
        log = logging.getLogger("tradekit.test")
        assert logging.getLogger("tradekit").level == logging.WARNING
        log.info("not written at WARNING")
        log.warning("written at WARNING")
        path = tmp_path / "var" / "logs" / "tradekit.log"
        for h in logging.getLogger("tradekit").handlers:
            h.flush()
        text = path.read_text()
        assert "written at WARNING" in text and "not written" not in text
        assert "+05:30 WARNING tradekit.test:" in text
    finally:
        s.close()
        root = logging.getLogger("tradekit")
        for h in list(root.handlers):
            if isinstance(h, logging.FileHandler) and str(tmp_path) in h.baseFilename:
                root.removeHandler(h)
                h.close()
        root.setLevel(logging.NOTSET)
