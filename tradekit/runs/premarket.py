"""The pre-market check: is today a trading day, and is everything ready to trade it?

:func:`run_premarket` answers, in order: the calendar (a holiday or weekend ends the run
cleanly), the session times and cut-offs, the config, the account (paper ready, or the Kite
login/token valid), the instrument master, the data or signal inputs, reconciliation with the
broker, the risk state, the day's limits, and yesterday's positions and P&L. Each check is a
row ``(check, status, detail)`` with status ``ok``, ``warn`` or ``fail``; any ``fail`` stops
the chain (:meth:`PremarketCheck.raise_for_failures`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd

from tradekit.clock import IST
from tradekit.errors import TradekitError
from tradekit.model.money import dec, fmt_inr
from tradekit.runs.day import (
    as_date,
    day_bars,
    journal_path,
    load_signal_file,
    open_paper_session,
    parse_symbols,
)

log = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "fail"


class PremarketFailed(TradekitError):
    """A pre-market check failed: the day must not be traded until it is fixed."""


@dataclass(repr=False)
class PremarketCheck:
    """The outcome of the pre-market check (display it; the chain reads ``premarket.json``)."""

    day: date
    mode: str
    trading_day: bool
    message: str
    holiday: str | None = None
    session_times: pd.DataFrame = field(default_factory=pd.DataFrame)
    checks: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["check", "status", "detail"]))
    limits: pd.DataFrame = field(default_factory=pd.DataFrame)
    yesterday: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    calendar: dict = field(default_factory=dict)  # the year's calendar source (YearSource.to_dict) and its note

    @property
    def provisional(self) -> bool:
        """The day's year runs on the provisional calendar (no published holiday list)."""
        return bool(self.calendar.get("provisional"))

    @property
    def ok(self) -> bool:
        """A trading day with no failed check."""
        return self.trading_day and not (self.checks["status"] == FAIL).any()

    @property
    def failures(self) -> list[str]:
        f = self.checks[self.checks["status"] == FAIL]
        return [f"{r.check}: {r.detail}" for r in f.itertuples()]

    def raise_for_failures(self) -> None:
        """Raise :class:`PremarketFailed` naming every failed check (stops the chain)."""
        if self.failures:
            raise PremarketFailed("pre-market check failed: " + "; ".join(self.failures))

    def stop_unless_trading_day(self) -> None:
        """End the notebook cleanly, with the reason, when the day is not a trading day."""
        if not self.trading_day:
            from tradekit.runs.notebook import stop_here

            stop_here(self.message)

    def yesterday_text(self) -> str:
        y = self.yesterday
        if not y.get("day"):
            return y.get("note", "no previous trading day")
        if y.get("source") is None:
            return f"previous trading day {y['day']}: {y.get('note', 'nothing recorded')}"
        return f"previous trading day {y['day']}, from {y['source']}"

    def add(self, check: str, status: str, detail: str) -> None:
        self.checks.loc[len(self.checks)] = [check, status, detail]
        (log.warning if status == FAIL else log.info)("premarket %s: %s: %s", check, status, detail)

    def to_dict(self) -> dict:
        y = {k: v for k, v in self.yesterday.items() if not isinstance(v, pd.DataFrame)}
        return {"day": self.day.isoformat(), "mode": self.mode, "trading_day": self.trading_day, "ok": self.ok,
                "message": self.message, "holiday": self.holiday, "checks": self.checks.to_dict("records"),
                "failures": self.failures, "yesterday": y, "inputs": self.inputs, "calendar": self.calendar,
                "provisional_calendar": self.provisional}

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"<PremarketCheck {self.day} {self.mode}: {self.message}>"

    def _repr_html_(self) -> str:
        colour = "#1b5e20" if self.ok else ("#8a5a00" if not self.trading_day else "#b00020")
        out = f"<p style='font-size:15px;color:{colour}'><b>{self.message}</b></p>"
        if self.provisional:
            import html

            out += (f"<p style='font-size:14px;color:#8a5a00'><b>provisional calendar</b>: "
                    f"{html.escape(self.calendar.get('note', ''))}</p>")
        return out


def calendar_info(cal, d: date) -> dict:
    """The day's calendar source for premarket.json and the manifest (``provisional`` flagged)."""
    return cal.day_info(d)


def _session_table(cal, d: date) -> pd.DataFrame:
    rows = []
    st = cal.session_times(d)
    for w in st.windows:
        rows.append({"what": w.phase.value, "start": f"{w.start:%H:%M}", "end": f"{w.end:%H:%M}"})
    for b in st.block_deals:
        rows.append({"what": "block deals", "start": f"{b.start:%H:%M}", "end": f"{b.end:%H:%M}"})
    try:
        rows.append({"what": "broker MIS square-off (Zerodha)", "start": f"{cal.mis_cutoff(d):%H:%M}", "end": ""})
    except Exception as e:  # noqa: BLE001 - a special session may have no published cut-off
        rows.append({"what": "broker MIS square-off (Zerodha)", "start": "unknown", "end": str(e)})
    if st.trade_modification_end is not None:
        rows.append({"what": "trade modification ends", "start": f"{st.trade_modification_end:%H:%M}", "end": ""})
    if st.special is not None:
        rows.append({"what": f"special session: {st.special.kind}", "start": "", "end": st.special.source})
    return pd.DataFrame(rows, columns=["what", "start", "end"])


def limits_table(cfg) -> pd.DataFrame:
    """The day's risk limits, with percentages of capital also in rupees."""
    try:
        from tradekit.risk.config import RiskConfig
    except ImportError:  # pragma: no cover - the risk package ships with tradekit
        return pd.DataFrame(columns=["section", "limit", "value", "rupees", "meaning"])
    risk = getattr(cfg, "risk", None) or RiskConfig()
    capital = dec(cfg.account.capital)
    rows = []
    for section in ("money", "exposure", "loss", "compliance"):
        model = getattr(risk, section)
        for name, f in type(model).model_fields.items():
            v = getattr(model, name)
            if v is None or isinstance(v, (bool, dict, list, Path)):
                continue
            if not isinstance(v, (int, float, Decimal)):
                continue
            rupees = ""
            meaning = f.description or ""
            if name.endswith("_pct") and "% of capital" in meaning:
                rupees = "₹" + fmt_inr(capital * dec(v) / 100)
            elif isinstance(v, Decimal):
                rupees = "₹" + fmt_inr(v)
            rows.append({"section": section, "limit": name, "value": f"{v:g}" if isinstance(v, float) else str(v),
                         "rupees": rupees, "meaning": meaning})
    if not risk.enabled:
        rows.insert(0, {"section": "risk", "limit": "enabled", "value": False, "rupees": "",
                        "meaning": "the pass-through gate: no pre-trade limits (paper experiments only)"})
    return pd.DataFrame(rows, columns=["section", "limit", "value", "rupees", "meaning"])


def _yesterday(cfg, d: date, mode: str, cal, out_root: Path | None) -> dict:
    """The previous trading day's positions and P&L (paper: its run folder; live: the journal)."""
    try:
        prev = cal.previous_trading_day(d)
    except Exception as e:  # noqa: BLE001 - the calendar's first day
        return {"day": None, "source": None, "note": str(e)}
    out: dict = {"day": prev.isoformat()}
    if mode == "paper":
        from tradekit.runs.notebook import read_stage

        folder = (out_root / prev.isoformat()) if out_root is not None else None
        eod = read_stage(folder, "eod") if folder is not None else None
        if eod is None:
            out.update(source=None, note=f"no paper run for {prev} under {out_root}")
            return out
        out["source"] = str(folder)
        out["summary"] = pd.DataFrame(sorted(eod.get("pnl", {}).items()), columns=["", "rupees"]).set_index("")
        pos = folder / "report" / "positions.csv"
        out["positions"] = pd.read_csv(pos) if pos.exists() else pd.DataFrame()
        return out
    from tradekit.monitoring.report import build_session_report
    from tradekit.store import Journal, make_engine

    j = Journal(make_engine(cfg.store_url()))
    try:
        rep = build_session_report(j, day=prev, figures=False, plugins=False)
    finally:
        j.close()
    out.update(source=cfg.store_url(), summary=rep.summary, positions=rep.positions)
    return out


def run_premarket(
    cfg,
    day: date | str,
    mode: str | None = None,
    *,
    symbols=None,
    strategy: str | None = None,
    signals_path: str | Path | None = None,
    out_dir: str | Path = ".",
    out_root: str | Path | None = None,
) -> PremarketCheck:
    """Check that ``day`` can be traded in ``mode``; write ``<out_dir>/premarket.json``.

    Parameters
    ----------
    cfg : TradekitConfig
    day : date or ISO str
        The day to trade ("today" of a replay is the replayed day).
    mode : "paper" or "live", optional
        Default: the config's mode.
    symbols, strategy, signals_path
        The paper replay's inputs, checked here so a bad input fails before the open.
    out_dir : path
        The run folder. A paper check opens the run's journal there (the session continues it).
    out_root : path, optional
        The folder of all run folders (for yesterday's paper run); default ``out_dir``'s parent.
    """
    from tradekit.market.calendar import calendar_for
    from tradekit.runs.notebook import write_stage

    d = as_date(day)
    mode = (mode or cfg.mode).strip().lower()
    out_dir = Path(out_dir)
    out_root = Path(out_root) if out_root is not None else out_dir.resolve().parent
    cal = calendar_for(cfg)
    calendar = calendar_info(cal, d)
    if not cal.is_trading_day(d):
        h = cal.holiday(d)
        if h is not None:
            # older years come from exchange_calendars, which knows the dates but not the names
            why = "an NSE holiday" if h.name.lower() == "holiday" else f"an NSE holiday ({h.name})"
            if h.provisional:
                why += ", a fixed-date holiday of the provisional calendar"
        else:
            why = "a weekend" if d.weekday() >= 5 else "not a session day"
        msg = f"not a trading day: {d:%Y-%m-%d} ({d:%A}) is {why}; nothing to do"
        skipped = cal.skipped_note(d)
        if skipped:
            msg += f"; {skipped}"
            log.warning("premarket: %s", skipped)
        chk = PremarketCheck(d, mode, False, msg, holiday=h.name if h else None, calendar=calendar)
        try:
            chk.yesterday = {"next trading day": cal.next_trading_day(d).isoformat()}
        except Exception:  # noqa: BLE001 - past the calendar's tables
            pass
        write_stage(out_dir, "premarket", chk.to_dict())
        return chk

    chk = PremarketCheck(d, mode, True, "", calendar=calendar)
    chk.session_times = _session_table(cal, d)
    if chk.provisional:
        refuse = cfg.market.provisional == "refuse"
        chk.add("calendar", FAIL if refuse else WARN,
                f"{d:%A %d %b %Y}: {calendar['note']}" + (
                    " — refused by market.provisional: refuse" if refuse else
                    " (market.provisional: warn; set refuse to stop trading such days)"))
    else:
        chk.add("calendar", OK, f"{d:%A %d %b %Y} is a trading day (NSE; {calendar['kind']}: {calendar['source'][:120]})")
    chk.add("config", OK, f"{cfg.source or 'defaults'}; mode {mode}, approval {cfg.approval.mode}")
    sq = cfg.execution.square_off_time
    if sq:
        chk.session_times.loc[len(chk.session_times)] = ["tradekit MIS square-off", sq, ""]
    _check_charges(chk, cfg, d)
    if mode == "paper" and cfg.paper.feed == "kite":
        _paper_live_checks(chk, cfg, d, out_dir)
    elif mode == "paper":
        _paper_checks(chk, cfg, d, out_dir, symbols, strategy, signals_path)
    elif mode == "live":
        _live_checks(chk, cfg, d)
    else:
        chk.add("mode", FAIL, f"{mode!r} is not paper or live")
    chk.limits = limits_table(cfg)
    try:
        chk.yesterday = _yesterday(cfg, d, mode, cal, out_root)
    except Exception as e:  # noqa: BLE001 - yesterday is information, not a gate
        chk.yesterday = {"note": f"could not read yesterday: {type(e).__name__}: {e}"}
    chk.message = (f"{d:%Y-%m-%d} is a trading day; {mode} checks passed" if chk.ok
                   else f"{d:%Y-%m-%d}: {len(chk.failures)} pre-market check(s) failed")
    if chk.provisional:
        chk.message += " (PROVISIONAL calendar)"
    write_stage(out_dir, "premarket", chk.to_dict())
    return chk


def _check_charges(chk: PremarketCheck, cfg, d: date) -> None:
    from tradekit.execution.costs import FillCosts

    asof = cfg.execution.charges_as_of
    try:
        FillCosts(as_of=asof).check_day(d)
    except TradekitError as e:
        msg = str(e).removeprefix("charges: ")
        chk.add("charges", FAIL,
                f"{msg}; set execution.charges_as_of: YYYY-MM-DD to price this day at another day's rates")
        return
    if asof is not None and asof != d:
        chk.add("charges", WARN, f"fills are priced at the rates of {asof} (execution.charges_as_of), not of {d}")
    else:
        chk.add("charges", OK, f"rates in force on {d}")


def _paper_checks(chk: PremarketCheck, cfg, d: date, out_dir: Path, symbols, strategy, signals_path) -> None:
    from tradekit.brokers.kite.reconcile import reconcile
    from tradekit.data import check_bars
    from tradekit.store import EventType as E

    if symbols:
        try:
            data, inputs = day_bars(symbols, d, cfg.data_dir)
        except TradekitError as e:
            chk.add("data", FAIL, str(e))
            data = {}
        else:
            chk.inputs.update(inputs)
            counts = ", ".join(f"{k.partition(':')[2]} {len(v)}" for k, v in data.items())
            chk.add("data", OK, f"1-minute bars: {counts}")
            findings = pd.concat([check_bars(v, key=k) for k, v in data.items()], ignore_index=True)
            errors = findings[findings["severity"] == "error"] if len(findings) else findings
            warns = findings[findings["severity"] == "warning"] if len(findings) else findings
            if len(errors):
                chk.add("data quality", FAIL, "; ".join(errors["message"].head(3)))
            elif len(warns):
                chk.add("data quality", WARN, f"{len(warns)} warning(s): " + "; ".join(warns["message"].head(3)))
            else:
                chk.add("data quality", OK, "no gaps, jumps or bad bars")
    if strategy:
        try:
            from tradekit.runs.live import parse_strategy

            s = parse_strategy(strategy)
            chk.add("strategy", OK, f"{s.strategy}: {s.quantity} × {s.product} per signal")
        except TradekitError as e:
            chk.add("strategy", FAIL, str(e))
    if signals_path:
        try:
            sigs, bad, desc = load_signal_file(signals_path)
            chk.inputs["signals"] = desc
            today = [s for s in sigs if s.signal_time.astimezone(IST).date() == d]
            detail = f"{Path(signals_path).name}: {len(sigs)} valid signal(s), {len(today)} for {d}"
            if bad:
                detail += f", {len(bad)} malformed (journaled as rejected)"
            chk.add("signals", WARN if bad else OK, detail)
        except TradekitError as e:
            chk.add("signals", FAIL, str(e))
    if not symbols and not signals_path:
        chk.add("inputs", FAIL, "a paper day needs symbols (bundled bars) to replay")
    _secrets_check(chk, cfg, needed=False)

    if journal_path(out_dir).exists():
        chk.add("journal", FAIL, f"{journal_path(out_dir)} exists: a paper day starts from an empty run folder")
        return
    s = open_paper_session(cfg, d, out_dir)
    try:
        funds = s.broker.funds()
        chk.add("paper account", OK, f"{cfg.account.name}: capital ₹{fmt_inr(cfg.account.capital)}, available "
                                     f"₹{fmt_inr(funds.available)}; seed {cfg.paper.seed}, slippage "
                                     f"{cfg.paper.slippage.model}, latency {cfg.paper.latency_ms} ms")
        inst = s.instruments
        missing = [k for k in (f"NSE:{x}" for x in parse_symbols(symbols or [])) if inst is not None and k not in inst]
        if inst is None:
            chk.add("instruments", FAIL, "no instrument master")
        elif missing:
            chk.add("instruments", FAIL, f"not in the instrument master ({inst.label}): {', '.join(missing)}")
        else:
            info = getattr(inst, "info", None)  # which master: the day's dump, an older cached one, the bundled sample
            if info is None:
                chk.add("instruments", OK, f"{inst.label or 'given'} master, {len(inst)} instruments")
            else:
                chk.add("instruments", OK if info.source == "dump" else WARN, info.message)
        rep = reconcile(s.book, s.broker, oms=s.oms, clock=s.clock)
        s._emit(E.RECONCILIATION, {**rep.to_event(), "when": "premarket"})
        chk.add("reconciliation", OK if rep.ok else FAIL, rep.summary())
        state = s.book.trading_state
        chk.add("risk state", OK if state == "ACTIVE" else FAIL,
                state if state == "ACTIVE" else f"{state}: unlock with tradekit unlock --reason ...")
    finally:
        s.close()


def _secrets_check(chk: PremarketCheck, cfg, *, needed: bool) -> bool:
    """Which credentials are configured, by name only; live needs the Kite API key."""
    from tradekit.config import Secrets
    from tradekit.errors import SecretError

    try:
        secrets = Secrets.load(cfg.secrets_file)
    except SecretError as e:
        chk.add("secrets", FAIL if needed else WARN, str(e))
        return False
    have = sorted(secrets.values)
    names = ", ".join(have) or "none"
    if not needed:
        chk.add("secrets", OK, f"not needed for paper; set: {names} (values are never shown)")
        return True
    ok = "KITE_API_KEY" in have
    chk.add("secrets", OK if ok else FAIL, f"set: {names} (values are never shown)")
    return ok


def _paper_live_checks(chk: PremarketCheck, cfg, d: date, out_dir: Path) -> None:
    """``paper.feed: kite``: a paper account on today's live ticks needs today and a Kite login
    (for the ticker only: no order is ever sent to Kite)."""
    from tradekit.clock import default_clock

    today = default_clock().now().date()  # a rehearsal's today is the sandbox's replayed day
    if d != today:
        chk.add("date", FAIL, f"paper on live data runs today ({today}), not {d}")
        return
    if not _secrets_check(chk, cfg, needed=True):
        return
    from tradekit.data.tickstore import open_tick_store
    from tradekit.runs.live import kite_market_source

    if journal_path(out_dir).exists():
        chk.add("journal", FAIL, f"{journal_path(out_dir)} exists: a paper day starts from an empty run folder")
        return
    s = open_paper_session(cfg, d, out_dir)
    try:
        try:
            src = kite_market_source(s)
        except TradekitError as e:
            chk.add("market data", FAIL, str(e))
        else:
            chk.add("market data", OK, f"Kite ticker: {src.session_status()} (paper: no order is sent to Kite)")
            src.close()
        funds = s.broker.funds()
        chk.add("paper account", OK, f"{cfg.account.name}: capital ₹{fmt_inr(cfg.account.capital)}, available "
                                     f"₹{fmt_inr(funds.available)}; fills on live ticks (depth, trades through limits)")
    finally:
        s.close()
    store = open_tick_store(cfg)
    if store is None:
        chk.add("tick store", WARN, "tick_store.enabled is false: today's ticks will not be recorded")
    else:
        keep = f"{store.retention_days} days" if store.retention_days else "every day"
        chk.add("tick store", OK, f"recording ticks to {store.root} (kept: {keep})")


def _live_checks(chk: PremarketCheck, cfg, d: date) -> None:
    from tradekit.clock import default_clock

    today = default_clock().now().date()  # a rehearsal's today is the sandbox's replayed day
    if d != today:
        chk.add("date", FAIL, f"a live day is today ({today}), not {d}")
        return
    if not _secrets_check(chk, cfg, needed=True):
        return
    try:
        from tradekit.brokers.kite.reconcile import reconcile
        from tradekit.session import Session

        s = Session.from_config(cfg, mode="live")
    except TradekitError as e:
        chk.add("broker", FAIL, str(e))
        return
    try:
        b = s.broker
        logged = bool(getattr(b, "logged_in", False))
        status = b.session_status() if hasattr(b, "session_status") else str(logged)
        chk.add("broker login", OK if logged else FAIL, status)
        if not logged:
            return
        try:
            store = b.instruments(d)
            chk.add("instruments", OK, f"Kite dump of {store.as_of or d}: {len(store)} instruments ({store.label})")
        except TradekitError as e:
            chk.add("instruments", FAIL, f"the day's instrument dump could not be refreshed: {e}")
        try:
            f = b.funds()
            chk.add("funds", OK, f"available ₹{fmt_inr(f.available)}, utilised ₹{fmt_inr(f.utilised)}")
        except TradekitError as e:
            chk.add("funds", FAIL, str(e))
        rep = reconcile(s.book, b, oms=s.oms, clock=s.clock)
        from tradekit.store import EventType as E

        s._emit(E.RECONCILIATION, {**rep.to_event(), "when": "premarket"})
        chk.add("reconciliation", OK if rep.ok else FAIL, rep.summary())
        state = s.book.trading_state
        chk.add("risk state", OK if state == "ACTIVE" else FAIL,
                state if state == "ACTIVE" else f"{state}: unlock with tradekit unlock --reason ...")
    finally:
        s.close()
