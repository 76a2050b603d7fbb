"""The daily chain: premarket → session → eod notebooks executed with papermill into ``runs/<date>/``.

:func:`run_day` prepares the run folder (the effective config as ``config.yaml``, the signal
file copied in), executes each notebook with its cwd in the run folder, stops at the first
failing notebook (its ``ename``/``evalue``/``cell_index`` go into the manifest and the error
message), ends quietly when the premarket notebook finds the day is not a trading day, exports
the executed eod notebook as HTML, and writes ``manifest.json`` after every step. One run at a
time: a lock file in the runs folder refuses a second concurrent run.

A rerun of a day moves the earlier run's files into ``runs/<date>/previous/<n>/`` first, so
each run starts from an empty folder and nothing is lost.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time as _time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import yaml

from tradekit.clock import IST
from tradekit.errors import TradekitError
from tradekit.runs.day import as_date
from tradekit.runs.manifest import (
    Manifest,
    NotebookRecord,
    describe_file,
    file_sha256,
    now_iso,
    read_json,
)

log = logging.getLogger(__name__)

NOTEBOOKS = ("premarket", "session", "eod")
CONFIG_NAME = "config.yaml"
SIGNALS_NAME = "signals.jsonl"
LOCK_NAME = ".tradekit-run.lock"
PREVIOUS = "previous"
KEPT_JOURNALS = "journals"  # tradekit.runs.eod.KEPT_JOURNALS (not imported: eod pulls pandas)
KERNEL = "python3"


class RunLocked(TradekitError):
    """Another tradekit run holds the runs folder's lock."""


class ChainFailed(TradekitError):
    """A notebook of the chain failed; the message names it, the cell and the error."""


def notebooks_dir() -> Path:
    """The notebook templates: ``notebooks/`` of the checkout."""
    from tradekit.config import project_root

    return project_root() / "notebooks"


# -- one run at a time ----------------------------------------------------------------------------------
@contextmanager
def run_lock(root: str | Path, what: str = "tradekit run", *, name: str = LOCK_NAME):
    """Hold ``<root>/<name>`` for the block; raise :class:`RunLocked` if another process has it.

    The lock is an ``flock`` on the file, so it is released when the holder exits, even by a crash.
    """
    import fcntl

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / name
    f = open(path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise RunLocked(f"another run is in progress ({holder}); one run at a time ({path})") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}, {what}, since {now_iso()}")
        f.flush()
        yield path
    finally:
        try:
            f.seek(0)
            f.truncate()
        except OSError:
            pass
        f.close()  # closing releases the flock


# -- the run folder ---------------------------------------------------------------------------------------
def archive_previous(run_dir: Path, *, keep: tuple[str, ...] = (KEPT_JOURNALS,), keep_hidden: bool = False) -> Path | None:
    """Move an earlier run's files into ``previous/<n>/``; return that folder (None if nothing to move).

    ``keep`` names entries that stay (by default journals/: each run's own journal, named by the
    command its report prints, eod.keep_journal); ``keep_hidden`` leaves dot-files (locks, staging)."""
    entries = [p for p in run_dir.iterdir() if p.name != PREVIOUS and p.name not in keep
               and not (keep_hidden and p.name.startswith("."))] if run_dir.exists() else []
    if not entries:
        return None
    prev = run_dir / PREVIOUS
    prev.mkdir(exist_ok=True)
    n = 1 + max([int(p.name) for p in prev.iterdir() if p.name.isdigit()], default=0)
    dest = prev / str(n)
    dest.mkdir()
    for p in entries:
        shutil.move(str(p), str(dest / p.name))
    return dest


def write_effective_config(cfg, path: Path) -> Path:
    """Write the config as loaded (all layers merged, defaults filled) so every notebook reads
    the same settings and the run folder records them."""
    data = cfg.model_dump(mode="json", exclude={"source"})
    market = data.get("market")
    data_dir = getattr(cfg, "data_dir", None)
    if (isinstance(market, dict) and market.get("calendar_dir") is None and data_dir is not None
            and not Path(data_dir).expanduser().is_absolute()):
        # the notebooks load this file from the run folder, which would re-resolve a relative data_dir
        # there: pin the imported calendar lists to where `tradekit calendar import` put them
        market["calendar_dir"] = str((Path(data_dir).expanduser() / "calendar").resolve())
    if cfg.secrets_file == type(cfg).model_fields["secrets_file"].default:
        # the loader's secret detector refuses the key itself (it holds "secret"); leave the default out
        data.pop("secrets_file", None)
    text = ("# the effective config of this run (layers merged, defaults filled); from "
            f"{cfg.source or 'defaults'}\n" + yaml.safe_dump(data, sort_keys=True, allow_unicode=True))
    path.write_text(text, encoding="utf-8")
    return path


def export_html(notebook: Path, out: Path, *, exclude_input: bool = True) -> Path:
    """The executed notebook as one HTML page (code hidden: the page reads as a report)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = exclude_input
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb)
    out.write_text(body, encoding="utf-8")
    return out


# -- the result -----------------------------------------------------------------------------------------
@dataclass
class ChainResult:
    """How a day's chain ended, where its files are, and its manifest."""

    day: date
    mode: str
    run_dir: Path
    outcome: str  # ok | halted | skipped | failed
    message: str
    manifest: Manifest
    report: Path | None = None

    @property
    def ok(self) -> bool:
        """Nothing failed (a holiday skip and a kill-switch halt are clean ends)."""
        return self.outcome in ("ok", "halted", "skipped")

    def raise_for_failure(self) -> None:
        if not self.ok:
            raise ChainFailed(self.message)

    def __str__(self) -> str:
        lines = [f"{self.day} {self.mode}: {self.outcome}: {self.message}", f"run folder: {self.run_dir}"]
        if self.report is not None:
            lines.append(f"report: {self.report}")
        return "\n".join(lines)


# -- the chain ------------------------------------------------------------------------------------------
def run_day(
    day: date | str | None = None,
    mode: str | None = None,
    config=None,
    out_root: str | Path = "runs",
    *,
    symbols: str | list[str] | None = None,
    strategy: str | None = None,
    signals: str | Path | None = None,
    kill_at: str | None = None,
    overrides: dict | None = None,
    notebook_dir: str | Path | None = None,
    execution_timeout: int | None = -1,
    progress_every: int | None = None,
    echo: Callable[[str], None] | None = print,
    rehearse: bool = False,
) -> ChainResult:
    """Run the day's notebooks with papermill and write ``<out_root>/<day>/``.

    Parameters
    ----------
    day : date or ISO str, optional
        The day (default: today, IST).
    mode : "paper" or "live", optional
        Default: the config's mode.
    config : path or TradekitConfig, optional
        Default: ``$TRADEKIT_CONFIG`` or ``config/default.yaml``.
    out_root : path
        The folder of run folders.
    symbols, strategy, signals
        Paper inputs (defaults: the ``runs`` settings; with a signal file and no strategy, the
        file alone drives the day). ``strategy="none"`` turns the strategy off.
    kill_at : "HH:MM", optional
        Paper drill: trip the kill switch at this simulated time.
    overrides : dict, optional
        Config overrides (nested), applied before the effective config is written.
    notebook_dir : path, optional
        Where ``premarket.ipynb``, ``session.ipynb`` and ``eod.ipynb`` are (default: ``notebooks/``).
    execution_timeout : int or None
        Per-cell timeout in seconds; -1 (default): the ``runs`` setting for paper, none for live.
    progress_every : int, optional
        Session progress line every N minutes (default: the ``runs`` setting).
    rehearse : bool
        A live day against ``tradekit kite-sim``: the configured Kite root must be on
        loopback; the day and the session's clock are the sandbox's replayed ones
        (:class:`~tradekit.clock.SandboxClock`, through ``$TRADEKIT_SANDBOX_CLOCK`` for the
        notebooks).

    Returns
    -------
    ChainResult
        Also when a notebook failed (``outcome == "failed"``); raises only when the run
        cannot start (config errors, the lock is held).
    """
    from tradekit.config import load_config
    from tradekit.runs.config import runs_settings

    cfg = config if hasattr(config, "model_dump") else load_config(config, overrides)
    if overrides and hasattr(config, "model_dump"):
        raise TradekitError("pass overrides with a config path, not with a loaded config")
    settings = runs_settings(cfg)
    sandbox = None
    if rehearse:
        if mode is not None and mode.strip().lower() != "live":
            raise TradekitError(f"--rehearse: a rehearsal is a live day against the sandbox, not --mode {mode}")
        sandbox = rehearsal_clock(cfg)
        mode = "live"
        if day is not None and as_date(day) != sandbox.day:
            raise TradekitError(f"--date: the sandbox replays {sandbox.day}, not {as_date(day)}")
        day = sandbox.day
    d = as_date(day) if day is not None else datetime.now(IST).date()
    mode = (mode or cfg.mode).strip().lower()
    if mode not in ("paper", "live"):
        raise TradekitError(f"--mode: {mode!r} is not paper or live")
    if sandbox is not None:
        with _sandbox_env(sandbox.root):
            return _run_day(d, mode, cfg, settings, out_root, notebook_dir, execution_timeout, signals, symbols, strategy,
                            kill_at, progress_every, echo, sandbox)
    return _run_day(d, mode, cfg, settings, out_root, notebook_dir, execution_timeout, signals, symbols, strategy,
                    kill_at, progress_every, echo)


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine (127.0.0.0/8, ::1 or localhost)."""
    import ipaddress
    import urllib.parse

    host = urllib.parse.urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def rehearsal_clock(cfg):
    """The sandbox's replayed clock for ``--rehearse``; refuses a Kite root off loopback."""
    from tradekit.brokers.kite.config import KiteConfig
    from tradekit.clock import SandboxClock

    kite = getattr(cfg, "kite", None) or KiteConfig()
    if not is_loopback_url(kite.root):
        raise TradekitError(f"--rehearse: kite.root {kite.root} is not on loopback; rehearse against tradekit kite-sim "
                            "(kite: {root: http://127.0.0.1:PORT})")
    try:
        return SandboxClock(kite.root)
    except ConnectionError as e:
        raise TradekitError(f"--rehearse: {e}; is tradekit kite-sim running there?") from None


@contextmanager
def _sandbox_env(root: str):
    from tradekit.clock import SANDBOX_CLOCK_ENV

    old = os.environ.get(SANDBOX_CLOCK_ENV)
    os.environ[SANDBOX_CLOCK_ENV] = root  # the notebooks' kernels inherit it
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(SANDBOX_CLOCK_ENV, None)
        else:
            os.environ[SANDBOX_CLOCK_ENV] = old


def _run_day(d, mode, cfg, settings, out_root, notebook_dir, execution_timeout, signals, symbols, strategy, kill_at,
             progress_every, echo, sandbox=None) -> ChainResult:
    from tradekit.config import config_hash, load_config

    root = Path(out_root)
    nb_dir = Path(notebook_dir) if notebook_dir is not None else notebooks_dir()
    missing = [n for n in NOTEBOOKS if not (nb_dir / f"{n}.ipynb").exists()]
    if missing:
        raise TradekitError(f"{nb_dir}: notebook(s) missing: {', '.join(m + '.ipynb' for m in missing)}")
    if execution_timeout == -1:
        execution_timeout = settings.execution_timeout if mode == "paper" else None
    sig_src = signals if signals is not None else settings.signals
    if symbols is None and sig_src and Path(sig_src).exists():
        symbols = _signal_symbols(Path(sig_src)) or None  # replay what the signal file trades
    sym_list = symbols if symbols is not None else settings.symbols
    sym_text = ",".join(sym_list) if isinstance(sym_list, (list, tuple)) else str(sym_list)
    if strategy is None:  # the settings' strategy is a paper default: live signals come from the inbox
        strategy = None if (sig_src or mode == "live") else settings.strategy
    strategy = "" if strategy in (None, "", "none", "None") else strategy

    with run_lock(root, f"run day {d} {mode}"):
        run_dir = root / d.isoformat()
        run_dir.mkdir(parents=True, exist_ok=True)
        archived = archive_previous(run_dir)
        handler = _file_log(run_dir)
        t0 = _time.monotonic()
        try:
            write_effective_config(cfg, run_dir / CONFIG_NAME)
            run_cfg = load_config(run_dir / CONFIG_NAME)
            man = Manifest(date=d.isoformat(), mode=mode, run_dir=str(run_dir))
            man.config = {"source": cfg.source, "effective": CONFIG_NAME, "hash": config_hash(cfg),
                          "effective_hash": config_hash(run_cfg), "file_sha256": file_sha256(run_dir / CONFIG_NAME)}
            man.seed = cfg.paper.seed
            if sandbox is not None:  # a rehearsal: say against what, on which replayed clock
                man.inputs["sandbox"] = {"root": sandbox.root, "day": sandbox.day.isoformat(), "speed": sandbox.speed,
                                         "clock_at_start": sandbox.now().isoformat()}
            if archived is not None:
                man.outputs["previous_run"] = str(archived.relative_to(run_dir))
            cal_info = _calendar_info(run_cfg, d)
            man.inputs["calendar"] = cal_info
            if cal_info.get("provisional") and echo:
                echo(f"warning: {cal_info.get('note')}")
            sig_param = ""
            if sig_src:
                src = Path(sig_src)
                if not src.exists():
                    raise TradekitError(f"--signals: {src}: no such file")
                shutil.copyfile(src, run_dir / SIGNALS_NAME)
                man.inputs["signals"] = {**describe_file(run_dir / SIGNALS_NAME), "source": str(src.resolve())}
                sig_param = SIGNALS_NAME
            man.save()
            common = {"run_date": d.isoformat(), "mode": mode, "config": CONFIG_NAME, "run_dir": "."}
            params = {
                "premarket": {**common, "symbols": sym_text, "strategy": strategy, "signals_path": sig_param},
                "session": {**common, "symbols": sym_text, "strategy": strategy, "signals_path": sig_param,
                            "kill_at": kill_at or "", "progress_every": int(progress_every or settings.progress_every)},
                "eod": {**common, "symbols": ""},
            }
            outcome, message = "ok", ""
            if echo:
                echo(f"tradekit run day {d} ({mode}) → {run_dir}")
            for name in NOTEBOOKS:
                rec = _execute(nb_dir / f"{name}.ipynb", run_dir, name, params[name], execution_timeout, echo)
                man.notebooks.append(rec)
                man.save()
                if rec.status == "failed":
                    e = rec.error or {}
                    where = f" at cell {e['cell_index']}" if e.get("cell_index") is not None else ""
                    outcome = "failed"
                    message = f"{name}.ipynb failed{where}: {e.get('ename')}: {e.get('evalue')}"
                    break
                if name == "premarket":
                    pm = read_json(run_dir / "premarket.json") or {}
                    if not pm.get("trading_day", True):
                        outcome, message = "skipped", pm.get("message", f"{d} is not a trading day")
                        break
                if name == "session":
                    ss = read_json(run_dir / "session.json") or {}
                    if ss.get("halted"):
                        outcome, message = "halted", f"trading halted: {ss.get('stop_reason')}"
            for name in NOTEBOOKS[len(man.notebooks):]:
                man.notebooks.append(NotebookRecord(name, str(nb_dir / f"{name}.ipynb"), f"{name}.ipynb",
                                                    params[name], status="not_run",
                                                    source_sha256=file_sha256(nb_dir / f"{name}.ipynb")))
            report = None
            if (run_dir / "eod.ipynb").exists() and man.notebooks[-1].status == "ok":
                try:
                    export_html(run_dir / "eod.ipynb", run_dir / "eod.html")
                    man.outputs["eod_html"] = "eod.html"
                except Exception as e:  # noqa: BLE001 - the notebook and report.html are still there
                    log.exception("the HTML export of eod.ipynb failed")
                    if outcome in ("ok", "halted"):
                        outcome, message = "failed", f"HTML export of eod.ipynb failed: {type(e).__name__}: {e}"
            _collect(man, run_dir)
            if outcome in ("ok", "halted"):
                if (run_dir / "report.html").exists():
                    report = run_dir / "report.html"
                ev = man.results
                audit = "verified" if ev.get("verified") else "NOT verified"
                message = message or (f"net P&L ₹{ev.get('pnl', {}).get('net', '?')} on {ev.get('orders', 0)} orders, "
                                      f"{ev.get('fills', 0)} fills; audit {audit}")
            if cal_info.get("provisional") and "PROVISIONAL calendar" not in message:
                message += " (PROVISIONAL calendar)"
            man.outcome, man.message = outcome, message
        except BaseException as e:
            if "man" in locals():
                man.outcome, man.message = "failed", f"{type(e).__name__}: {e}"
                man.ended_at, man.duration_s = now_iso(), round(_time.monotonic() - t0, 3)
                man.save()
            raise
        finally:
            _close_log(handler)
        man.ended_at, man.duration_s = now_iso(), round(_time.monotonic() - t0, 3)
        man.save()
        res = ChainResult(d, mode, run_dir, outcome, message, man, report)
        if echo:
            echo(str(res))
        return res


def run_research_notebook(
    config=None,
    out_root: str | Path = "runs",
    *,
    parameters: dict | None = None,
    notebook_dir: str | Path | None = None,
    execution_timeout: int | None = 900,
    echo: Callable[[str], None] | None = print,
) -> ChainResult:
    """Execute ``research.ipynb`` into ``<out_root>/research/<date>/`` with a manifest and an HTML export.

    ``parameters`` override the notebook's (``symbols``, ``start``, ``end``, ``fast``, ``slow``,
    ``export_day``, ...); the folder is named after ``export_day`` (else today). The exported
    signal file lands in the same folder.
    """
    from tradekit.config import config_hash, load_config

    cfg = config if hasattr(config, "model_dump") else load_config(config)
    params = dict(parameters or {})
    label = str(params.get("export_day") or datetime.now(IST).date().isoformat())
    nb_dir = Path(notebook_dir) if notebook_dir is not None else notebooks_dir()
    src = nb_dir / "research.ipynb"
    if not src.exists():
        raise TradekitError(f"{src}: no such notebook")
    root = Path(out_root)
    with run_lock(root, f"run research {label}"):
        run_dir = root / "research" / label
        run_dir.mkdir(parents=True, exist_ok=True)
        archived = archive_previous(run_dir)
        t0 = _time.monotonic()
        write_effective_config(cfg, run_dir / CONFIG_NAME)
        params = {"config": CONFIG_NAME, "out_dir": ".", **params}
        man = Manifest(date=label, mode="research", run_dir=str(run_dir))
        man.config = {"source": cfg.source, "effective": CONFIG_NAME, "hash": config_hash(cfg)}
        man.seed = cfg.paper.seed
        if archived is not None:
            man.outputs["previous_run"] = str(archived.relative_to(run_dir))
        man.save()
        rec = _execute(src, run_dir, "research", params, execution_timeout, echo)
        man.notebooks.append(rec)
        outcome, message = "ok", ""
        if rec.status == "failed":
            e = rec.error or {}
            outcome = "failed"
            message = f"research.ipynb failed at cell {e.get('cell_index')}: {e.get('ename')}: {e.get('evalue')}"
        out = read_json(run_dir / "research.json") or {}
        for name, info in (out.get("settings") or {}).items():
            man.results.setdefault("settings", {})[name] = info
        if out:
            man.results.update(chosen=out.get("chosen"), strategy=out.get("strategy"), signals=out.get("signals"),
                               signals_path=out.get("signals_path"), warnings=out.get("warnings") or [])
            from tradekit.data import sample_path

            for sym in (out.get("settings") or {}).get("symbols", []):
                man.inputs[f"bars:NSE:{sym}"] = describe_file(sample_path(sym, "1min"))
            message = f"chosen {out.get('strategy')}"
            for w in out.get("warnings") or []:
                message += f"; WARNING: {w}"
            if out.get("signals_path"):
                message += f"; hand-off: tradekit run day --date {label} --signals {out['signals_path']}"
        if rec.status == "ok":
            export_html(run_dir / "research.ipynb", run_dir / "research.html")
            man.outputs["research_html"] = "research.html"
        for rel in ("research.ipynb", "sweep.csv", "heatmap.png", "research.json", CONFIG_NAME):
            if (run_dir / rel).exists():
                man.outputs[rel.replace(".", "_")] = rel
        man.outcome, man.message = outcome, message
        man.ended_at, man.duration_s = now_iso(), round(_time.monotonic() - t0, 3)
        man.save()
        res = ChainResult(as_date(label), "research", run_dir, outcome, message, man,
                          run_dir / "research.html" if (run_dir / "research.html").exists() else None)
        if echo:
            echo(str(res))
        return res


def _execute(src: Path, run_dir: Path, name: str, parameters: dict, timeout: int | None,
             echo: Callable[[str], None] | None) -> NotebookRecord:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    out = run_dir / f"{name}.ipynb"
    rec = NotebookRecord(name, str(src), out.name, dict(parameters), status="running", started_at=now_iso(),
                         source_sha256=file_sha256(src))
    t0 = _time.monotonic()
    try:
        pm.execute_notebook(str(src), str(out), parameters=parameters, kernel_name=KERNEL, cwd=str(run_dir),
                            progress_bar=False, execution_timeout=timeout, log_output=False,
                            # the kernel's own start-up warnings (TCP on loopback) are noise in a scheduled run
                            extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
        rec.status = "ok"
        if _stopped_early(out):
            rec.status = "stopped"
    except PapermillExecutionError as e:
        rec.status = "failed"
        rec.error = {"ename": e.ename, "evalue": e.evalue, "cell_index": e.cell_index, "exec_count": e.exec_count}
        log.error("%s.ipynb failed at cell %s: %s: %s", name, e.cell_index, e.ename, e.evalue)
    except Exception as e:  # noqa: BLE001 - a dead kernel, a timeout: the chain stops with the reason
        rec.status = "failed"
        rec.error = {"ename": type(e).__name__, "evalue": str(e), "cell_index": None, "exec_count": None}
        log.exception("%s.ipynb could not be executed", name)
    rec.ended_at = now_iso()
    rec.duration_s = round(_time.monotonic() - t0, 3)
    if echo:
        mark = {"ok": "done", "stopped": "stopped early (clean)", "failed": "FAILED"}[rec.status]
        echo(f"  {name}.ipynb: {mark} in {rec.duration_s:.1f} s")
    return rec


def _calendar_info(cfg, d: date) -> dict:
    """The day's calendar source for the manifest; ``provisional`` when the year has no list."""
    try:
        from tradekit.market.calendar import calendar_for

        return calendar_for(cfg).day_info(d)
    except TradekitError as e:  # premarket says what is wrong with the calendar
        return {"kind": "unknown", "source": str(e), "provisional": False}


def _signal_symbols(path: Path) -> list[str]:
    from tradekit.runs.day import load_signal_file

    try:
        sigs, _, _ = load_signal_file(path)
    except TradekitError:
        return []  # the premarket check names the problem with the file
    return sorted({s.tradingsymbol for s in sigs})


def _stopped_early(path: Path) -> bool:
    """True when a cell ended the notebook with ``SystemExit(0)`` (a clean stop)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        for o in c.get("outputs", []):
            if o.get("output_type") == "error" and o.get("ename") == "SystemExit":
                return True
    return False


def _collect(man: Manifest, run_dir: Path) -> None:
    """Inputs, outputs and results from the stages' JSON files."""
    for stage in ("premarket", "session"):
        data = read_json(run_dir / f"{stage}.json") or {}
        for k, v in (data.get("inputs") or {}).items():
            man.inputs.setdefault(k, v)
    for name in NOTEBOOKS:
        if (run_dir / f"{name}.ipynb").exists():
            man.outputs[f"{name}_notebook"] = f"{name}.ipynb"
    for name, rel in (("report_html", "report.html"), ("report_dir", "report"), ("journal", "journal.db"),
                      ("journal_export", "journal.jsonl"), ("config", CONFIG_NAME), ("log", "run.log")):
        if (run_dir / rel).exists():
            man.outputs[name] = rel
    eod = read_json(run_dir / "eod.json")
    ses = read_json(run_dir / "session.json")
    if eod and (eod.get("paths") or {}).get("journal"):
        man.outputs["journal_kept"] = eod["paths"]["journal"]  # the run's own journal, which the report names
    if eod:
        man.results = {k: eod.get(k) for k in ("orders", "fills", "pnl", "max_drawdown", "breaches", "anchor",
                                                "verified", "digest")}
    if ses:
        man.results["session"] = {k: ses.get(k) for k in ("stop_reason", "trading_state", "signals", "orders",
                                                          "minutes", "minutes_total")}


def _file_log(run_dir: Path) -> logging.Handler:
    from tradekit.runs.notebook import LOG_NAME

    h = logging.FileHandler(run_dir / LOG_NAME, encoding="utf-8")
    h.setLevel(logging.INFO)
    from tradekit.logfmt import ist_formatter

    h.setFormatter(ist_formatter())
    try:
        from tradekit.config.secrets import RedactingFilter, Secrets

        h.addFilter(RedactingFilter([v.get_secret_value() for v in Secrets.load(None).values.values()]))
    except TradekitError:
        pass
    lg = logging.getLogger("tradekit")
    lg.addHandler(h)
    h._tradekit_level = lg.level  # type: ignore[attr-defined]  # restored when the run ends
    if lg.level == logging.NOTSET or lg.level > logging.INFO:
        lg.setLevel(logging.INFO)
    return h


def _close_log(h: logging.Handler) -> None:
    lg = logging.getLogger("tradekit")
    lg.removeHandler(h)
    lg.setLevel(getattr(h, "_tradekit_level", logging.NOTSET))
    h.close()
