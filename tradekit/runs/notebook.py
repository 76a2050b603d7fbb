"""Small helpers the notebooks call: set up the run folder's log, stop cleanly, show results.

A notebook cell stays one or two lines::

    from tradekit.runs.notebook import start_notebook, show
    run_dir = start_notebook(run_dir)
    show(check.checks, "Checks")
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from tradekit.logfmt import LOG_FORMAT, ist_formatter
from tradekit.runs.manifest import read_json, write_json

LOG_NAME = "run.log"
_FMT = LOG_FORMAT


def start_notebook(run_dir: str | Path = ".", *, secrets_file: str | Path | None = None) -> Path:
    """Prepare a notebook run: log ``tradekit`` to ``<run_dir>/run.log`` with secrets redacted.

    Warnings also go to the notebook (stderr). Returns the run folder, resolved.
    """
    from tradekit.config.secrets import RedactingFilter, Secrets
    from tradekit.errors import SecretError

    run = Path(run_dir).resolve()
    run.mkdir(parents=True, exist_ok=True)
    try:
        secrets = Secrets.load(secrets_file)
    except SecretError:  # the premarket check reports a badly protected file; redact the environment's
        secrets = Secrets.load(None)
    flt = RedactingFilter([v.get_secret_value() for v in secrets.values.values()])
    logger = logging.getLogger("tradekit")
    for h in [h for h in logger.handlers if getattr(h, "_tradekit_run", False)]:
        logger.removeHandler(h)
        h.close()
    fh = logging.FileHandler(run / LOG_NAME, encoding="utf-8")
    fh.setLevel(logging.INFO)
    sh = logging.StreamHandler(sys.stderr)
    sh.setLevel(logging.WARNING)
    for h in (fh, sh):
        h.setFormatter(ist_formatter(_FMT))
        h.addFilter(flt)
        h._tradekit_run = True  # type: ignore[attr-defined]
        logger.addHandler(h)
    logger.setLevel(logging.INFO)
    # IPython adds "To exit: use 'exit'..." to every SystemExit; stop_here is deliberate
    warnings.filterwarnings("ignore", message="To exit: use")
    pd.set_option("display.max_rows", 200)
    pd.set_option("display.width", 160)
    return run


def stop_here(message: str) -> NoReturn:
    """Show ``message`` and end the notebook cleanly (the remaining cells do not run).

    papermill counts ``SystemExit(0)`` as success, so the chain sees a clean stop, not an error.
    """
    _display_text(message, strong=True)
    # exactly SystemExit(0): papermill checks the name and the value, a subclass would count as a failure
    raise SystemExit(0)


def show(obj: Any, title: str | None = None) -> None:
    """Display a DataFrame, a matplotlib Figure, text, or anything IPython can show."""
    if title:
        _display_text(title, heading=True)
    try:
        from IPython.display import HTML, Image, display
    except ImportError:  # outside Jupyter
        print(obj)
        return
    from matplotlib.figure import Figure

    if obj is None:
        display(HTML("<p><i>none</i></p>"))
    elif isinstance(obj, Figure):
        import io

        buf = io.BytesIO()
        obj.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        display(Image(data=buf.getvalue(), format="png"))
    elif isinstance(obj, (pd.DataFrame, pd.Series)):
        display(HTML(frame_html(obj)))
    elif isinstance(obj, str):
        print(obj)
    else:
        display(obj)


_TABLE_CSS = ("<style>.tk-table table{border-collapse:collapse}.tk-table th,.tk-table td{padding:2px 10px;"
              "border-bottom:1px solid #e3e3e3;text-align:left}.tk-table td.n{text-align:right;"
              "font-variant-numeric:tabular-nums}.tk-table td.neg{color:#b00020}</style>")


def frame_html(obj: pd.DataFrame | pd.Series) -> str:
    """A table as the day's report shows it: ₹ in Indian grouping, times in IST, blanks for
    missing values (never ``None``/``NaN``/``NaT``), numbers right-aligned; *none* when empty."""
    from tradekit.monitoring.report import table_html

    frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
    if len(frame) == 0:
        return "<p><i>none</i></p>"
    return f"{_TABLE_CSS}<div class='tk-table'>{table_html(frame)}</div>"


def _display_text(text: str, *, strong: bool = False, heading: bool = False) -> None:
    try:
        from IPython.display import Markdown, display
    except ImportError:
        print(text)
        return
    if heading:
        display(Markdown(f"#### {text}"))
    elif strong:
        display(Markdown(f"**{text}**"))
    else:
        display(Markdown(text))


def write_stage(run_dir: str | Path, name: str, data: dict) -> Path:
    """Write a stage's outcome as ``<run_dir>/<name>.json`` (read by the chain and later stages)."""
    return write_json(Path(run_dir) / f"{name}.json", data)


def read_stage(run_dir: str | Path, name: str) -> dict | None:
    return read_json(Path(run_dir) / f"{name}.json")
