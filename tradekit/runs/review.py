"""The weekly and monthly checklists as scheduled notebooks.

``weekly.ipynb`` into ``<runs>/weekly/<monday>/`` and ``monthly.ipynb`` into ``<runs>/monthly/<YYYY-MM>/``.
``tradekit schedule`` runs them after the day's chain on the last trading day of each ISO week
(:func:`last_trading_day_of_week`) and of each month (:func:`last_trading_day_of_month`);
``tradekit run weekly --date D`` and ``tradekit run monthly --month YYYY-MM`` run them by hand. Each
folder gets the executed notebook, its HTML export, the roll-up HTML and a manifest.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from tradekit.errors import TradekitError
from tradekit.runs.chain import (CONFIG_NAME, ChainResult, _execute, archive_previous, export_html, notebooks_dir,
                                 run_lock, write_effective_config)
from tradekit.runs.manifest import Manifest, now_iso


def last_trading_day_of_week(calendar, d: date) -> bool:
    """True when no later trading day falls in ``d``'s ISO week (Friday, or Thursday before a Friday holiday)."""
    nxt = calendar.next_trading_day(d)
    return nxt.isocalendar()[:2] != d.isocalendar()[:2]


def last_trading_day_of_month(calendar, d: date) -> bool:
    """True when no later trading day falls in ``d``'s month."""
    nxt = calendar.next_trading_day(d)
    return (nxt.year, nxt.month) != (d.year, d.month)


def run_weekly_notebook(config, out_root: str | Path, day: date | str, **kw) -> ChainResult:
    """Execute ``weekly.ipynb`` for the ISO week of ``day`` into ``<out_root>/weekly/<monday>/``."""
    d = date.fromisoformat(day) if isinstance(day, str) else day
    monday = d - timedelta(days=d.weekday())
    return _run_review("weekly", monday.isoformat(), monday, {"week_of": d.isoformat()},
                       [f"weekly-{monday}.html"], config, out_root, **kw)


def run_monthly_notebook(config, out_root: str | Path, month: str | date, **kw) -> ChainResult:
    """Execute ``monthly.ipynb`` for ``month`` (``YYYY-MM`` or a day in it) into ``<out_root>/monthly/<YYYY-MM>/``."""
    if isinstance(month, date):
        label = f"{month:%Y-%m}"
    else:
        label = str(month)[:7]
    try:
        first = date.fromisoformat(f"{label}-01")
    except ValueError:
        from tradekit.errors import ValidationError

        raise ValidationError(f"{month!r} is not a month YYYY-MM", field="--month") from None
    return _run_review("monthly", label, first, {"month": label}, [f"monthly-{label}.html", "compliance"],
                       config, out_root, **kw)


def _run_review(name: str, label: str, day: date, params: dict, outputs: list[str], config, out_root,
                *, notebook_dir: str | Path | None = None, execution_timeout: int | None = 900,
                echo: Callable[[str], None] | None = print) -> ChainResult:
    from tradekit.config import config_hash, load_config

    cfg = config if hasattr(config, "model_dump") else load_config(config)
    src = (Path(notebook_dir) if notebook_dir is not None else notebooks_dir()) / f"{name}.ipynb"
    if not src.exists():
        raise TradekitError(f"{src}: no such notebook")
    root = Path(out_root).resolve()
    with run_lock(root, f"run {name} {label}"):
        run_dir = root / name / label
        run_dir.mkdir(parents=True, exist_ok=True)
        archived = archive_previous(run_dir)
        t0 = _time.monotonic()
        write_effective_config(cfg, run_dir / CONFIG_NAME)
        man = Manifest(date=label, mode=name, run_dir=str(run_dir))
        man.config = {"source": cfg.source, "effective": CONFIG_NAME, "hash": config_hash(cfg)}
        if archived is not None:
            man.outputs["previous_run"] = str(archived.relative_to(run_dir))
        man.save()
        rec = _execute(src, run_dir, name, {**params, "config": CONFIG_NAME, "runs": str(root), "run_dir": "."},
                       execution_timeout, echo)
        man.notebooks.append(rec)
        outcome, message = "ok", f"{name} review {label}"
        if rec.status == "failed":
            e = rec.error or {}
            outcome = "failed"
            message = f"{name}.ipynb failed at cell {e.get('cell_index')}: {e.get('ename')}: {e.get('evalue')}"
        else:
            export_html(run_dir / f"{name}.ipynb", run_dir / f"{name}.html")
            man.outputs[f"{name}_html"] = f"{name}.html"
        for rel in (f"{name}.ipynb", *outputs, CONFIG_NAME):
            if (run_dir / rel).exists():
                man.outputs[rel.replace(".", "_")] = rel
        man.outcome, man.message = outcome, message
        man.ended_at, man.duration_s = now_iso(), round(_time.monotonic() - t0, 3)
        man.save()
        res = ChainResult(day, name, run_dir, outcome, message, man,
                          run_dir / f"{name}.html" if (run_dir / f"{name}.html").exists() else None)
        if echo:
            echo(str(res))
        return res
