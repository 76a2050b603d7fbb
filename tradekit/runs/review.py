"""The weekly checklist as a scheduled notebook: ``weekly.ipynb`` into ``<runs>/weekly/<monday>/``.

``tradekit schedule`` runs it after the day's chain on the last trading day of each ISO week
(:func:`last_trading_day_of_week`); ``tradekit run weekly --date D`` runs it by hand. The folder
gets the executed notebook, its HTML export, the roll-up ``weekly-<monday>.html`` and a manifest.
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


def run_weekly_notebook(config, out_root: str | Path, day: date | str, *, notebook_dir: str | Path | None = None,
                        execution_timeout: int | None = 900, echo: Callable[[str], None] | None = print) -> ChainResult:
    """Execute ``weekly.ipynb`` for the ISO week of ``day`` over the run folders in ``out_root``."""
    from tradekit.config import config_hash, load_config

    cfg = config if hasattr(config, "model_dump") else load_config(config)
    d = date.fromisoformat(day) if isinstance(day, str) else day
    monday = d - timedelta(days=d.weekday())
    src = (Path(notebook_dir) if notebook_dir is not None else notebooks_dir()) / "weekly.ipynb"
    if not src.exists():
        raise TradekitError(f"{src}: no such notebook")
    root = Path(out_root).resolve()
    with run_lock(root, f"run weekly {monday}"):
        run_dir = root / "weekly" / monday.isoformat()
        run_dir.mkdir(parents=True, exist_ok=True)
        archived = archive_previous(run_dir)
        t0 = _time.monotonic()
        write_effective_config(cfg, run_dir / CONFIG_NAME)
        man = Manifest(date=monday.isoformat(), mode="weekly", run_dir=str(run_dir))
        man.config = {"source": cfg.source, "effective": CONFIG_NAME, "hash": config_hash(cfg)}
        if archived is not None:
            man.outputs["previous_run"] = str(archived.relative_to(run_dir))
        man.save()
        params = {"week_of": d.isoformat(), "config": CONFIG_NAME, "runs": str(root), "run_dir": "."}
        rec = _execute(src, run_dir, "weekly", params, execution_timeout, echo)
        man.notebooks.append(rec)
        outcome, message = "ok", f"week of {monday}"
        if rec.status == "failed":
            e = rec.error or {}
            outcome = "failed"
            message = f"weekly.ipynb failed at cell {e.get('cell_index')}: {e.get('ename')}: {e.get('evalue')}"
        else:
            export_html(run_dir / "weekly.ipynb", run_dir / "weekly.html")
            man.outputs["weekly_html"] = "weekly.html"
        for rel in ("weekly.ipynb", f"weekly-{monday}.html", CONFIG_NAME):
            if (run_dir / rel).exists():
                man.outputs[rel.replace(".", "_")] = rel
        man.outcome, man.message = outcome, message
        man.ended_at, man.duration_s = now_iso(), round(_time.monotonic() - t0, 3)
        man.save()
        res = ChainResult(monday, "weekly", run_dir, outcome, message, man,
                          run_dir / "weekly.html" if (run_dir / "weekly.html").exists() else None)
        if echo:
            echo(str(res))
        return res
