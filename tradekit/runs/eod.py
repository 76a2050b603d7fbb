"""The end-of-day stage: the day's report, the audit anchor, and the files a reviewer keeps.

:func:`run_eod` builds the :class:`~tradekit.monitoring.report.SessionReport` of the day from
the journal (orders, fills, positions, P&L gross and net, charges by component, equity curve
and drawdown, signal → fill slippage, the anchor hash), adds the risk section (limits used
against allowed, breaches and state changes) and a "Run" section (mode, config hash, seed,
input hashes, the charges date), verifies the hash chain, and writes into the run folder:

- ``report.html`` (self-contained) and ``report/`` (figures as PNG, tables as CSV);
- ``journal.jsonl``, the day's events for a compliance reviewer;
- ``eod.json``, the numbers the chain puts in the manifest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from tradekit.errors import StoreError, TradekitError
from tradekit.model.money import dec, fmt_inr, paise
from tradekit.runs.day import as_date, day_bars, journal_path, journal_url, parse_symbols
from tradekit.runs.manifest import results_digest

log = logging.getLogger(__name__)

REPORT_HTML = "report.html"
REPORT_DIR = "report"
JOURNAL_EXPORT = "journal.jsonl"
KEPT_JOURNALS = "journals"  # each run's own journal: journals/run-<n>.db (see keep_journal)


@dataclass(repr=False)
class EodReport:
    """The end-of-day outcome: the report, the audit result and the files written."""

    day: date
    mode: str
    report: object  # SessionReport
    verified: object  # VerifyResult
    anchor: tuple[int, str] | None
    digest: str
    journal: str = ""
    risk: object | None = None  # RiskReport, when the risk package could build one
    contract_note: object | None = None  # live: ContractNoteCheck against Kite's virtual contract note
    paths: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.verified.ok)

    def summary(self) -> pd.DataFrame:
        """The report's summary table (P&L gross and net, charges, drawdown, counts)."""
        return self.report.summary

    def verify_command(self) -> str:
        """The exact command that checks this day's anchor later (the run's own journal)."""
        from tradekit.monitoring.report import verify_command

        return verify_command(self.report, self.anchor[1]) if self.anchor else ""

    def anchor_text(self) -> str:
        if self.anchor is None:
            return f"no events on {self.day}: no anchor"
        return (f"audit anchor for {self.day}: event {self.anchor[0]}, hash {self.anchor[1]} "
                f"({'chain verified' if self.ok else 'CHAIN BROKEN: ' + self.verified.message}); "
                f"check later with: {self.verify_command()}")

    def risk_tables(self) -> dict[str, pd.DataFrame]:
        """Limits used vs allowed, breaches and state changes (empty when not available)."""
        for sec in self.report.sections:
            if "risk limit" in sec.title.lower():
                return dict(sec.tables)
        return {"Risk decisions and breaches": self.report.risk_events}

    def files(self) -> pd.DataFrame:
        """The files this stage wrote into the run folder."""
        return pd.DataFrame(sorted(self.paths.items()), columns=["what", "path"]).set_index("what")

    def raise_for_audit(self) -> None:
        """Raise :class:`~tradekit.errors.StoreError` when the hash chain does not verify."""
        if not self.ok:
            raise StoreError(f"the journal's hash chain does not verify: {self.verified}")

    def to_dict(self) -> dict:
        b = self.report.book
        pnl = {"realized": b.realized_pnl, "unrealized": b.unrealized_pnl, "gross": b.realized_pnl + b.unrealized_pnl,
               "charges": b.charges_total.total, "net": b.net_pnl}
        return {
            "day": self.day.isoformat(), "mode": self.mode, "verified": self.ok, "verify": str(self.verified),
            "anchor": list(self.anchor) if self.anchor else None, "digest": self.digest,
            "orders": len(self.report.orders), "fills": len(self.report.fills),
            "pnl": {k: str(paise(v)) for k, v in pnl.items()},
            "max_drawdown": str(paise(dec(self.report.max_drawdown.get("amount") or 0, "max_drawdown"))),
            "breaches": 0 if self.risk is None else len(self.risk.breaches),
            "paths": self.paths, "notes": self.notes,
            "contract_note": None if self.contract_note is None else {
                "ok": self.contract_note.ok, "summary": self.contract_note.summary()},
        }

    def _repr_html_(self) -> str:
        return self.report._repr_html_()

    def __repr__(self) -> str:
        return f"<EodReport {self.day} {self.mode}: net ₹{fmt_inr(self.report.book.net_pnl)}, {self.anchor_text()}>"


def _bars_for(keys: list[str], d: date, data_dir=None) -> dict:
    syms = sorted({k.rpartition(":")[2] for k in keys})
    out = {}
    for s in syms:
        try:
            data, _ = day_bars([s], d, data_dir)
        except TradekitError:
            continue  # the report marks such a position at its last fill and says so
        out.update(data)
    return out


def _risk_section(cfg, rep, d: date, capital):
    """The risk report of the day (limits used vs allowed, breaches, VaR) and its report section."""
    from tradekit.monitoring.report import ReportSection
    from tradekit.risk.config import RiskConfig
    from tradekit.risk.gate import PreTradeGate
    from tradekit.risk.report import build_risk_report
    from tradekit.store import Book

    gate = PreTradeGate(getattr(cfg, "risk", None) or RiskConfig(), capital=capital)
    gate.start_day(Book(), d)
    if hasattr(gate, "_new_day"):  # count the day's orders as a restarted gate would
        gate._new_day(d, rep.book)
    eq = rep.equity
    if len(eq):  # walk the day's P&L so the loss and drawdown limits show their worst point
        for v in eq["pnl"].to_numpy():
            gate.day.observe(d, float(v))
    risk = build_risk_report(gate, rep.book, events=rep.events, day=d)
    limits = risk.limits.copy()
    if len(eq):
        worst_loss = max(0.0, -float(eq["pnl"].min()))
        worst_dd = float((eq["pnl"].cummax().clip(lower=0) - eq["pnl"]).max())
        # the gate's rows for the loss limits; the day's worst point is what a breaker would have seen
        worst = {"daily loss": worst_loss, "drawdown from peak": worst_dd}
        limits["worst_today"] = [round(worst[n], 2) if n in worst else None for n in limits["limit"]]
        limits["worst_frac"] = [w / a if w is not None and a else None for w, a in zip(limits["worst_today"], limits["allowed"])]
        # a limit reached at the day's worst point is a breach even if the close recovered
        limits["status"] = ["BREACH" if any(f is not None and not pd.isna(f) and f >= 1 for f in (u, w)) else "ok"
                            for u, w in zip(limits["used_frac"], limits["worst_frac"])]
    text = (f"Limits used at the close (worst point of the day where noted), against the risk config; "
            f"trading state at the close: {risk.state}.")
    tables = {"Limits used": limits, "Breaches and kill switch": risk.breaches, "Trading state changes": risk.states,
              "Value at risk (open positions at the close)": risk.var, "Stress": risk.stress}
    return risk, ReportSection("Risk limits used and breaches", tables, text=text + (
        " " + " ".join(risk.notes) if risk.notes else ""))


def _run_section(cfg, d: date, mode: str, run_dir: Path, digest: str):
    from tradekit.config import config_hash
    from tradekit.monitoring.report import ReportSection
    from tradekit.runs.notebook import read_stage

    session = read_stage(run_dir, "session") or {}
    rows = [("mode", mode), ("config", str(cfg.source or "defaults")), ("config hash", config_hash(cfg)),
            ("paper seed", str(cfg.paper.seed) if mode == "paper" else "—"),
            ("charges priced as of", str(cfg.execution.charges_as_of or "each fill's own trade date")),
            ("calendar", _calendar_row(cfg, d)),
            ("session ended", session.get("stop_reason", "—")), ("results digest", digest)]
    for name, f in sorted((session.get("inputs") or {}).items()):
        rows.append((f"input {name}", f"{Path(f['path']).name} sha256 {f['sha256'][:16]}…"))
    return ReportSection("Run", {"": pd.DataFrame(rows, columns=["item", "value"]).set_index("item")})


def _shadow_section(live_events, shadow_db: Path, d: date):
    """Paper against live: the shadow paper broker's orders for the same signals, and both days' P&L."""
    from decimal import Decimal

    from tradekit.monitoring.execution import paper_vs_live
    from tradekit.monitoring.perf import JournalSource, daily_pnl, load_source
    from tradekit.monitoring.report import ReportSection

    shadow = load_source(shadow_db, capital=Decimal(0), mode="paper")
    paper_events = [e for e in shadow.events if e.day == d]
    pnl = daily_pnl([JournalSource(Path("live"), "live", Decimal(0), live_events),
                     JournalSource(shadow_db, "paper", Decimal(0), paper_events)], d, d)
    by = pnl.groupby(["mode", "strategy"], as_index=False).agg(fills=("fills", "sum"), gross=("gross", "sum"),
                                                               charges=("charges", "sum"), net=("net", "sum"))
    return ReportSection("Paper against live (shadow paper broker)",
                         {"Per signal": paper_vs_live(live_events, paper_events), "P&L by strategy": by},
                         text="The shadow paper broker took every live signal on the live feed "
                              "(execution.shadow_paper). fill diff bps: the live average fill against the paper one, "
                              "positive when live was worse for the trader.")


def _execution_section(day_events, events, d: date, mode: str, run_dir: Path, bars):
    """Execution quality (issue 18); the earlier days: live, the same journal; paper, the sibling run
    folders' journals of the same mode (``<runs>/<day>/journal.db``)."""
    from decimal import Decimal

    from tradekit.monitoring.execution import execution_section
    from tradekit.monitoring.perf import find_journals, load_source

    history = [e for e in events if e.day < d]
    if mode == "paper" and run_dir.parent.is_dir():
        for p in find_journals(run_dir.parent):
            try:
                folder_day = date.fromisoformat(p.parent.name[:10])
            except ValueError:
                continue
            if p.parent.resolve() == run_dir.resolve() or not (d - timedelta(days=40) <= folder_day < d):
                continue
            src = load_source(p, capital=Decimal(0))
            if src.mode == mode:
                history += [e for e in src.events if e.day < d]
    return execution_section(day_events, d, history, bars=bars)


def _calendar_row(cfg, d: date) -> str:
    try:
        from tradekit.market.calendar import calendar_for

        info = calendar_for(cfg).day_info(d)
    except TradekitError as e:
        return f"unknown: {e}"
    head = "PROVISIONAL calendar" if info.get("provisional") else info.get("kind", "?")
    return f"{head}: {info.get('source', '')}"


def _provisional_note(cfg, d: date) -> str | None:
    """The provisional-calendar warning for ``d`` (None when its year has a published list)."""
    try:
        from tradekit.market.calendar import calendar_for

        return calendar_for(cfg).day_info(d).get("note")
    except TradekitError as e:
        log.warning("calendar source of %s unknown: %s", d, e)
        return None


def keep_journal(run_dir: Path) -> Path:
    """This paper run's journal under a name no later run of the day reuses.

    ``journal.db`` of a run folder is the latest run's: a rerun of the day moves the earlier
    run into ``previous/<n>/`` and starts a new ``journal.db``. The report prints a command to
    check the day's anchor later, so it names ``journals/run-<n>.db``, a copy made here once
    the session is over (SQLite's backup API: a consistent snapshot, WAL included), which no
    rerun moves or replaces. Returns the existing copy when this journal was kept already.
    """
    import sqlite3

    src = journal_path(run_dir)
    folder = Path(run_dir) / KEPT_JOURNALS
    folder.mkdir(exist_ok=True)

    def tail(path: Path):
        c = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return c.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        except sqlite3.Error:
            return None
        finally:
            c.close()

    kept = sorted(folder.glob("run-*.db"), key=lambda p: _run_number(p) or 0)
    now = tail(src)
    if kept and now is not None and tail(kept[-1]) == now:
        return kept[-1]
    dest = folder / f"run-{1 + max((_run_number(p) or 0 for p in kept), default=0)}.db"
    con, out = sqlite3.connect(src), sqlite3.connect(dest)
    try:
        con.backup(out)
        out.execute("PRAGMA journal_mode=DELETE")  # a closed file: no -wal/-shm beside it when read later
    finally:
        out.close()
        con.close()
    return dest


def _run_number(p: Path) -> int | None:
    n = p.stem.partition("-")[2]
    return int(n) if n.isdigit() else None


def _contract_note(cfg, journal, events, d: date, broker=None):
    """Live: the day's booked charges against Kite's virtual contract note, journaled, and its
    report section. ``broker``: a logged-in KiteBroker (default: one from the config)."""
    from tradekit.brokers.kite.contract_note import ContractNoteCheck, journal_check, reconcile_contract_note
    from tradekit.monitoring.report import ReportSection

    session = None
    try:
        if broker is None:
            from tradekit.session import Session

            session = Session.from_config(cfg, mode="live", journal=journal)
            broker = session.broker
        if not getattr(broker, "logged_in", True):
            check = ContractNoteCheck(d, 0, pd.DataFrame(), error="the Kite session is not logged in (tradekit kite login)")
        else:
            check = reconcile_contract_note(broker, events, d)
    except TradekitError as e:
        check = ContractNoteCheck(d, 0, pd.DataFrame(), error=str(e))
    finally:
        if session is not None and hasattr(session.broker, "close"):
            session.broker.close()
    journal_check(journal, check)
    tables = {"Per contract note and component": check.table} if len(check.table) else {}
    return check, ReportSection("Charges against Kite's contract note", tables,
                                text=check.summary() + " " + " ".join(check.notes))


def _export_day(journal, path: Path, d: date) -> int:
    import json

    from tradekit.store.archive import read_events

    n = 0
    with path.open("w", encoding="utf-8") as f:
        for ev in read_events(journal, since=d, until=d):
            f.write(json.dumps({"seq": ev.seq, "ts": ev.ts, "recorded_at": ev.recorded_at, "type": ev.type,
                                "payload": ev.payload, "prev_hash": ev.prev_hash, "hash": ev.hash},
                               sort_keys=True, ensure_ascii=False) + "\n")
            n += 1
    return n


def run_eod(cfg, day: date | str, mode: str | None = None, *, symbols=None, out_dir: str | Path = ".",
            figures: bool = True, broker=None) -> EodReport:
    """Build, verify and write the day's report; write ``<out_dir>/eod.json``.

    Parameters
    ----------
    cfg : TradekitConfig
    day : date or ISO str
    mode : "paper" or "live", optional
        Paper reads ``<out_dir>/journal.db``; live reads the config's journal. Default: config's mode.
    symbols : str or list, optional
        Extra bundled symbols to load bars for (paper); traded symbols are always loaded.
    out_dir : path
        The run folder.
    figures : bool
        Draw the figures (off only for speed in tests that need numbers).
    broker : KiteBroker, optional
        Live: the logged-in broker whose virtual contract note the day's charges are checked
        against (default: one built from the config).

    Raises
    ------
    TradekitError
        A paper run folder without a journal (the session stage did not run).
    """
    from tradekit.monitoring.report import build_session_report
    from tradekit.runs.notebook import write_stage
    from tradekit.store import Journal, export, make_engine, verify
    from tradekit.store.archive import read_events

    d = as_date(day)
    mode = (mode or cfg.mode).strip().lower()
    run_dir = Path(out_dir)
    if mode == "paper" and not journal_path(run_dir).exists():
        raise TradekitError(f"no paper session in {run_dir.resolve()}: {journal_path(run_dir).name} is missing "
                            "(run the session notebook first)")
    journal = Journal(make_engine(journal_url(cfg, mode, run_dir)))
    try:
        events = list(read_events(journal))  # archived days too (a live journal is archived)
        note_check = note_section = None
        if mode == "live":  # before the anchor: the check is one of the day's events
            note_check, note_section = _contract_note(cfg, journal, events, d, broker)
            journal.flush()
            events = list(read_events(journal))
        keys = sorted({f"{e.payload.get('exchange', 'NSE')}:{e.payload['tradingsymbol']}" for e in events
                       if e.type == "fill" and e.payload.get("tradingsymbol")})
        if symbols:
            keys += [f"NSE:{s}" for s in parse_symbols(symbols)]
        bars = _bars_for(keys, d, cfg.data_dir) if mode == "paper" else None
        asof = cfg.execution.charges_as_of
        title = f"tradekit {mode} day {d:%Y-%m-%d}"
        if asof is not None and asof != d:
            title += f" (charges at the rates of {asof})"  # said at the top, not only in the notes
        cal_note = _provisional_note(cfg, d)
        if cal_note:
            title += " — provisional calendar"
        rep = build_session_report(journal, events=events, bars=bars, day=d, figures=figures, title=title)
        notes = []
        if asof is not None and asof != d:
            n = (f"Charges are priced at the Zerodha/exchange rates in force on {asof} (execution.charges_as_of), "
                 f"not at {d}'s: the bundled rate tables start 2020-07-01.")
            rep.notes.insert(0, n)
            notes.append(n)
        if cal_note:
            rep.notes.insert(0, cal_note)
            notes.append(cal_note)
        day_events = [e for e in events if e.day == d]
        digest = results_digest(day_events)
        risk = None
        paths = {}
        if not any("risk limit" in s.title.lower() for s in rep.sections):
            try:
                risk, section = _risk_section(cfg, rep, d, cfg.account.capital)
                rep.add_section(section)
            except Exception as e:  # noqa: BLE001 - the rest of the report still matters
                log.exception("the risk section could not be built")
                n = f"Risk limits section not available: {type(e).__name__}: {e}"
                rep.notes.append(n)
                notes.append(n)
        if mode == "paper":
            kept = keep_journal(run_dir)
            rep.verify_target = f"--db {kept.resolve()}"
            paths["journal"] = str(kept.relative_to(run_dir))
        elif cfg.source:
            rep.verify_target = f"-c {Path(cfg.source).resolve()}"
        if note_section is not None:
            rep.add_section(note_section)
            if not note_check.ok:
                rep.notes.insert(0, note_check.summary())
                notes.append(note_check.summary())
        rep.add_section(_run_section(cfg, d, mode, run_dir, digest))
        try:  # the seed's targets met or not, and their trend across the earlier days of this mode
            rep.add_section(_execution_section(day_events, events, d, mode, run_dir, bars))
        except Exception as e:  # noqa: BLE001 - the rest of the report still matters
            log.exception("the execution-quality section could not be built")
            rep.notes.append(f"Execution quality section not available: {type(e).__name__}: {e}")
        shadow_db = run_dir / "shadow" / "journal.db"
        if mode == "live" and shadow_db.exists():  # execution.shadow_paper: paper against live on the same signals
            rep.add_section(_shadow_section(day_events, shadow_db, d))
        res = verify(journal)
        if not res.ok:
            rep.notes.insert(0, f"THE JOURNAL'S HASH CHAIN DOES NOT VERIFY: {res}")
        folder = run_dir / REPORT_DIR
        rep.save(folder, html=run_dir / REPORT_HTML)  # the report once, beside the notebooks
        paths["report_html"] = REPORT_HTML
        paths["report_dir"] = REPORT_DIR
        exp = run_dir / JOURNAL_EXPORT
        if mode == "paper":
            export(journal, exp)
        else:
            _export_day(journal, exp, d)
        paths["journal_export"] = JOURNAL_EXPORT
        from tradekit.monitoring.feedback import FEEDBACK_DIR, write_feedback

        if write_feedback(day_events, d, mode, run_dir):  # feedback to the strategy engine (signals/README.md)
            paths["feedback"] = FEEDBACK_DIR
        jpath = str((run_dir / paths["journal"]).resolve()) if mode == "paper" else str(cfg.store_url())
        out = EodReport(d, mode, rep, res, rep.anchor, digest, jpath, risk, note_check, paths, notes)
        write_stage(run_dir, "eod", out.to_dict())
        log.info("eod %s: net ₹%s, %s", d, fmt_inr(rep.book.net_pnl), out.anchor_text())
        _send_summary(cfg, out, run_dir)  # alerts.sources.eod_summary: the day's summary to the alert channels
        return out
    finally:
        journal.close()


def _send_summary(cfg, out: "EodReport", run_dir: Path) -> None:
    """The day's summary with the report, to the channels routed for ``eod_summary`` (issue 18)."""
    al = getattr(cfg, "alerts", None)
    if al is None or not al.enabled or not al.sources.eod_summary:
        return
    from tradekit.alerts.manager import notify_now

    b = out.report.book
    text = (f"net Rs {fmt_inr(b.net_pnl)} (realised {fmt_inr(b.realized_pnl)}, charges "
            f"{fmt_inr(b.charges_total.total)}); orders {len(out.report.orders)}, fills {len(out.report.fills)}; "
            f"audit {'verified' if out.ok else 'NOT verified'}; report: {(run_dir / REPORT_HTML).resolve()}")
    try:
        notify_now(cfg, "eod_summary", f"{out.day} {out.mode}: end of day", text, priority="info")
    except Exception:  # noqa: BLE001 - the report is written; a channel down must not fail the stage
        log.exception("the end-of-day summary could not be sent")
