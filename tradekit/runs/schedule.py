"""Run the daily chain at a set IST time on trading days, one run at a time, missed runs reported.

No scheduler library: a small loop on tradekit's own market calendar (holidays and special
sessions included). :class:`Scheduler` keeps a log of what it did in
``<runs>/schedule.jsonl`` (one JSON object per line), so after a restart it knows which days
ran; a trading day whose start time passed without a run is

- run late, if the market has not closed yet (the log line says ``late``), or
- reported as ``missed`` (a warning, a line in the log), never silently skipped.

A special session whose timings are not configured (the 2026-11-08 Muhurat) is not a trading
day: the log gets a ``skipped`` line with the reason. A day of a year without a published
holiday list (the provisional calendar) still runs, and its log line and message say
"PROVISIONAL calendar" (``market.provisional: refuse`` makes its pre-market check fail).

Only days after the scheduler first started count (the first line of the log). One
scheduler per runs folder (its own lock), and the chain's run lock keeps a manual
``tradekit run day`` and a scheduled run from overlapping.

For cron instead of a resident loop, :func:`cron_lines` prints a crontab entry that calls
``tradekit schedule --once`` on weekdays; ``--once`` does one pass (missed days, then today).
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from tradekit.clock import IST
from tradekit.errors import TradekitError, ValidationError

log = logging.getLogger(__name__)

LOG_NAME = "schedule.jsonl"
SCHEDULER_LOCK = ".tradekit-schedule.lock"


def parse_hhmm(text: str | time, field: str = "--at") -> time:
    if isinstance(text, time):
        return text
    try:
        hh, mm = str(text).strip().split(":")
        return time(int(hh), int(mm))
    except ValueError:
        raise ValidationError(f"{text!r} is not a time (HH:MM, IST)", field=field) from None


@dataclass
class Entry:
    """One line of the schedule log."""

    event: str  # started | ran | late | missed | skipped
    at: str  # when it was written (IST, ISO)
    day: str | None = None
    scheduled: str | None = None
    outcome: str | None = None
    message: str = ""
    run_dir: str | None = None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in self.__dict__.items() if v not in (None, "")}, ensure_ascii=False)


class Scheduler:
    """Start the chain at ``at`` (IST) on each trading day.

    Parameters
    ----------
    run : callable
        ``run(day) -> ChainResult`` (``tradekit.runs.chain.run_day`` with the config bound).
    out_root : path
        The runs folder (holds ``schedule.jsonl`` and the locks).
    at : time
        Start time, IST.
    calendar : MarketCalendar, optional
        Trading days (default: NSE with the default market config).
    now, sleep : callables, optional
        The clock (tests pass simulated ones).
    echo : callable, optional
        Where one-line reports go (default ``print``).
    """

    def __init__(self, run: Callable[[date], object], out_root: str | Path, at: time, *, calendar=None,
                 now: Callable[[], datetime] | None = None, sleep: Callable[[float], None] | None = None,
                 echo: Callable[[str], None] | None = print):
        from tradekit.market.calendar import get_calendar

        self.run = run
        self.root = Path(out_root)
        self.at = at
        self.calendar = calendar or get_calendar("NSE")
        self.now = now or (lambda: datetime.now(IST))
        self.sleep = sleep or _time.sleep
        self.echo = echo
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_path = self.root / LOG_NAME

    # -- the log ---------------------------------------------------------------------------------------
    def entries(self) -> list[dict]:
        if not self.log_path.exists():
            return []
        out = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    log.warning("schedule log: unreadable line skipped: %s", line[:120])
        return out

    def _write(self, e: Entry) -> Entry:
        with self.log_path.open("a", encoding="utf-8") as f:
            f.write(e.to_json() + "\n")
        return e

    def _say(self, text: str, *, warn: bool = False) -> None:
        (log.warning if warn else log.info)(text)
        if self.echo is not None:
            self.echo(text)

    def since(self) -> datetime:
        """When this runs folder's scheduler first started (days before it are not owed)."""
        for e in self.entries():
            if e.get("event") == "started":
                return datetime.fromisoformat(e["at"])
        e = self._write(Entry("started", self.now().isoformat(timespec="seconds"), message=f"at {self.at:%H:%M} IST"))
        return datetime.fromisoformat(e.at)

    def done_days(self) -> set[str]:
        return {e["day"] for e in self.entries()
                if e.get("event") in ("ran", "late", "missed", "skipped") and e.get("day")}

    # -- the calendar ------------------------------------------------------------------------------------
    def scheduled(self, d: date) -> datetime:
        return datetime.combine(d, self.at, IST)

    def close_of(self, d: date) -> datetime:
        return self.calendar.session_times(d).close

    def next_run(self, now: datetime | None = None) -> datetime:
        """The next start strictly after ``now`` on a trading day."""
        now = now or self.now()
        d = now.date()
        if self.calendar.is_trading_day(d) and self.scheduled(d) > now:
            return self.scheduled(d)
        return self.scheduled(self.calendar.next_trading_day(d))

    def due(self, now: datetime | None = None) -> list[date]:
        """Trading days whose start time passed, since the scheduler started, with no run recorded.

        A start up to 15 minutes before the scheduler's own start still counts, so cron's
        first ``--once`` at the start time owes that day's run.
        """
        now = now or self.now()
        start = self.since()
        done = self.done_days()
        if start.date() > now.date():
            return []
        owed_from = start - timedelta(minutes=15)
        return [d for d in self.calendar.sessions(start.date(), now.date())
                if owed_from <= self.scheduled(d) <= now and d.isoformat() not in done]

    # -- doing -------------------------------------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> list[Entry]:
        """One pass: report missed days, run today's chain if it is due. Returns the log lines written."""
        from tradekit.runs.chain import RunLocked

        now = now or self.now()
        out = self._skipped_sessions(now)
        for d in self.due(now):
            sched = self.scheduled(d)
            if now >= self.close_of(d):
                e = self._write(Entry("missed", now.isoformat(timespec="seconds"), d.isoformat(),
                                      sched.isoformat(timespec="minutes"),
                                      message=f"no run for {d} (due {sched:%H:%M} IST); the market has closed"))
                self._say(f"MISSED: the {d} run (due {sched:%H:%M} IST) did not happen; the market has closed",
                          warn=True)
                out.append(e)
                continue
            provisional = self._provisional(d)
            if provisional:
                self._say(f"warning: {d}: {provisional}", warn=True)
            late = now - sched > timedelta(minutes=5)
            if late:
                self._say(f"late: the {d} run was due at {sched:%H:%M} IST; starting now ({now:%H:%M})", warn=True)
            try:
                res = self.run(d)
            except RunLocked as e:
                self._say(f"{d}: {e}; will retry", warn=True)
                continue
            except TradekitError as e:
                res = None
                outcome, message, run_dir = "failed", str(e), None
            if res is not None:
                outcome, message, run_dir = res.outcome, res.message, str(res.run_dir)
            if provisional and "PROVISIONAL calendar" not in message:
                message += " (PROVISIONAL calendar)"
            e = self._write(Entry("late" if late else "ran", self.now().isoformat(timespec="seconds"), d.isoformat(),
                                  sched.isoformat(timespec="minutes"), outcome, message, run_dir))
            self._say(f"{d}: {outcome}: {message}", warn=outcome == "failed")
            out.append(e)
        return out

    def _provisional(self, d: date) -> str | None:
        try:
            return self.calendar.provisional_note(d)
        except (TradekitError, AttributeError):
            return None

    def _skipped_sessions(self, now: datetime) -> list[Entry]:
        """A ``skipped`` line (and a message) for each special session without timings whose
        start time passed since the scheduler started: it is not run, and not silently."""
        specials = getattr(self.calendar, "special_sessions", None)
        if specials is None:
            return []
        start = self.since()
        done = self.done_days()
        out = []
        for sp in specials(start.date(), now.date()):
            d = sp.date
            if sp.timings_known or d.isoformat() in done or not start - timedelta(minutes=15) <= self.scheduled(d) <= now:
                continue
            note = self.calendar.skipped_note(d)
            e = self._write(Entry("skipped", now.isoformat(timespec="seconds"), d.isoformat(),
                                  self.scheduled(d).isoformat(timespec="minutes"), "skipped", note))
            self._say(f"{d}: skipped: {note}", warn=True)
            out.append(e)
        return out

    def run_forever(self, stop: Callable[[], bool] | None = None, max_nap: float = 60.0) -> None:
        """Tick, then sleep until the next start (waking at least every ``max_nap`` seconds)."""
        from tradekit.runs.chain import run_lock

        with run_lock(self.root, "tradekit schedule", name=SCHEDULER_LOCK):
            self._say(f"tradekit schedule: the chain at {self.at:%H:%M} IST on trading days; log {self.log_path}")
            while stop is None or not stop():
                self.tick()
                nxt = self.next_run()
                wait = (nxt - self.now()).total_seconds()
                if wait > max_nap:
                    self.sleep(max_nap)
                elif wait > 0:
                    self.sleep(wait)


def cron_refusal(mode: str, symbols, today: date) -> str | None:
    """Why a scheduled paper run would fail every trading day from ``today``, or None.

    A paper day replays the recorded 1-minute bars of its own date (:func:`tradekit.runs.day.day_bars`);
    the bundled bars end in 2016, so a cron entry for a paper config would fail each morning.
    """
    if mode != "paper":
        return None
    from tradekit.data import load_bars, sample_path, sessions_in
    from tradekit.runs.day import parse_symbols

    for sym in parse_symbols(symbols):
        have = sessions_in(load_bars(sample_path(sym, "1min")))
        if not have or have[-1] < today:
            last = f"end {have[-1]}" if have else "are empty"
            return (f"a paper day replays the recorded bars of its date and the bundled bars of NSE:{sym} {last}, "
                    "so a scheduled paper run would fail every trading day; schedule a live config (mode: live, "
                    "see README 'Rehearsing a live day'), or run a recorded day: tradekit run day --date 2016-08-17 "
                    "-c config/demo.yaml")
    return None


def cron_lines(*, at: time, config: str | Path | None, out_root: str | Path, mode: str | None,
               tradekit: str | None = None, local_tz=None) -> str:
    """A crontab entry that runs ``tradekit schedule --once`` at ``at`` IST on weekdays.

    cron uses the machine's time zone, so the IST time is converted (and said so); holidays
    are handled by ``--once`` itself (it runs only on trading days and reports missed ones).
    """
    exe = tradekit or str(Path(sys.executable).with_name("tradekit"))
    now = datetime.now(IST)
    ist_dt = datetime.combine(now.date(), at, IST)
    tz = local_tz or datetime.now().astimezone().tzinfo
    local = ist_dt.astimezone(tz)
    day_shift = (local.date() - ist_dt.date()).days
    dow = "1-5" if day_shift == 0 else ("0-4" if day_shift < 0 else "2-6")
    root = Path(out_root).resolve()
    args = [exe, "schedule", "--once", "--at", f"{at:%H:%M}", "--out", str(root)]
    if config:
        args += ["-c", str(Path(config).resolve())]
    if mode:
        args += ["--mode", mode]
    cmd = " ".join(shlex.quote(a) for a in args)
    log_file = shlex.quote(str(root / "cron.log"))
    return "\n".join([
        f"# tradekit: the daily chain at {at:%H:%M} IST on trading days (crontab -e, then paste)",
        f"# cron runs in this machine's time zone ({local.tzname()}): {at:%H:%M} IST is {local:%H:%M} here",
        "# holidays end cleanly; a day missed while the machine was off is reported by the next run",
        f"{local.minute} {local.hour} * * {dow} cd {shlex.quote(str(Path.cwd()))} && {cmd} >> {log_file} 2>&1",
    ])
