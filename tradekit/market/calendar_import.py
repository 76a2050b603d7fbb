"""Reading an exchange's holiday list (and special sessions) into a dated calendar override.

``tradekit calendar import FILE`` reads NSE's holiday CSV as downloaded from nseindia.com
(``"Sr. No","Date","Day","Description"`` with dates like ``26-Jan-2027``), a table pasted
from the exchange's circular (tab, pipe, ``;`` or space separated, a serial number, a date,
a weekday and the occasion per line), or any CSV with a date column and a name column.
Liberal in what it reads (column names, date formats ``26-Jan-2027``, ``26/01/2027``,
``2027-01-26``, ``January 26, 2027``, ``26 Jan 2027``; numeric dates are day-first, as in
India), strict in what it accepts: an unparseable or impossible date, a date given twice, a
weekday column that disagrees with the date, or dates from two years are errors naming the
line, and nothing is written. A holiday on a Saturday or Sunday is flagged, not refused
(NSE's lists carry them; they change nothing).

Special sessions (``--special``) are rows of date, kind (muhurat, budget, dr-test,
regular-saturday, other), open and close (HH:MM, IST) and optionally the markets (default:
equity and F&O; a Muhurat session: all four) and pre-open/post-close windows. A row without
timings records the date only: the day is a holiday for regular trading and the session is
skipped, with a message, until its timings are imported.

The override lives in ``<data_dir>/calendar/<year>-holidays.yaml`` (or ``-special.yaml``)
with its source: the file name, its SHA-256, the import time and a ``--source`` text. A
re-import keeps the file it replaces beside it (``<year>-holidays.replaced-<time>.yaml``).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import yaml

from tradekit.errors import DataError, ValidationError

MAX_BYTES = 1 << 20  # a holiday list is a few KB
KINDS = ("muhurat", "budget", "dr-test", "regular-saturday", "other")
WEEKEND_KINDS = ("budget", "dr-test", "regular-saturday")
ALL_MARKETS = ("equity", "fno", "currency", "commodity")
_OVERRIDE_RE = re.compile(r"^(\d{4})-(holidays|special)\.yaml$")

_MONTHS = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_MONTHS.update({"sept": 9, "january": 1, "february": 2, "march": 3, "april": 4, "june": 6, "july": 7,
                "august": 8, "september": 9, "october": 10, "november": 11, "december": 12})
_DAYS = {"mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "wednesday": 2, "thu": 3,
         "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4, "sat": 5, "saturday": 5, "sun": 6,
         "sunday": 6}
_MON = r"[A-Za-z]{3,9}\.?"
_DATE_PATTERNS = (
    re.compile(r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})"),  # 2027-01-26
    re.compile(r"(?P<d>\d{1,2})[-/.](?P<m>\d{1,2})[-/.](?P<y>\d{4})"),  # 26-01-2027, 26/01/2027
    re.compile(rf"(?P<d>\d{{1,2}})(?:st|nd|rd|th)?[-/. ]\s*(?P<mon>{_MON})[-/.,]?\s*(?P<y>\d{{4}})"),  # 26-Jan-2027
    re.compile(rf"(?P<mon>{_MON})\s*[-/ ]?\s*(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})"),  # Jan 26, 2027
)
_DATE_WORDS = ("date", "holiday date", "trading date", "tradingdate", "dt", "day date")
_NAME_WORDS = ("description", "holiday", "holidays", "occasion", "name", "holiday name", "festival", "reason",
               "event", "particulars", "occasion/holiday")
_DAY_WORDS = ("day", "weekday", "week day", "day of week")


class CalendarImportError(ValidationError):
    """The file is not a usable holiday list; the message names the line and the problem."""

    def __init__(self, message: str, *, file: str | None = None):
        super().__init__(message, field=file)


@dataclass(frozen=True)
class ImportedHoliday:
    date: date
    name: str
    line: int  # 1-based line of the file


@dataclass(frozen=True)
class ImportedSession:
    date: date
    kind: str
    line: int
    open: time | None = None
    close: time | None = None
    markets: tuple[str, ...] = ("equity", "fno")
    pre_open: tuple[time, time] | None = None
    post_close: tuple[time, time] | None = None
    block_deal: tuple[time, time] | None = None

    def to_table(self, source: str) -> dict:
        """The session in ``special_sessions.yaml``'s format (read back by the calendar)."""
        out: dict = {"date": self.date.isoformat(), "kind": self.kind, "source": source}
        if self.open is None:
            return {**out, "unverified": True, "markets": list(self.markets)}
        normal = f"{self.open:%H:%M}-{self.close:%H:%M}"
        for m in self.markets:
            phases = {"normal": normal}
            if m == "equity":
                for name, w in (("block-deal", self.block_deal), ("pre-open", self.pre_open),
                                ("post-close", self.post_close)):
                    if w is not None:
                        phases[name] = f"{w[0]:%H:%M}-{w[1]:%H:%M}"
            out[m] = phases
        return out


@dataclass
class ParsedList:
    """What a file holds, before anything is written."""

    year: int
    holidays: list[ImportedHoliday] = field(default_factory=list)  # weekdays: the year's closures
    weekend: list[ImportedHoliday] = field(default_factory=list)  # listed, but Saturday/Sunday: no effect
    sessions: list[ImportedSession] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# -- reading text ---------------------------------------------------------------------------


def decode(raw: bytes, name: str = "FILE") -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, or Windows-1252 as Excel saves it."""
    if len(raw) > MAX_BYTES:
        raise CalendarImportError(f"larger than {MAX_BYTES // 1024} KiB: not a holiday list", file=name)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise CalendarImportError("not valid UTF-16 text", file=name) from None
    if b"\x00" in raw:
        at = raw.index(b"\x00")
        raise CalendarImportError(f"a NUL byte at offset {at}: a binary file, not a holiday list", file=name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def parse_date_text(text: str) -> date | None:
    """The date in ``text`` (one of the accepted formats, the whole cell), or None when the
    text is not date-shaped. A date-shaped but impossible value raises ``ValueError``."""
    s = " ".join(text.strip().strip('"').split())
    for pat in _DATE_PATTERNS:
        m = pat.fullmatch(s)
        if m is None:
            continue
        g = m.groupdict()
        if g.get("mon") is not None:
            mon = _MONTHS.get(g["mon"].rstrip(".").lower())
            if mon is None:
                raise ValueError(f"{g['mon']!r} is not a month")
        else:
            mon = int(g["m"])
        return date(int(g["y"]), mon, int(g["d"]))  # ValueError for 31-Feb
    return None


def _find_date(text: str) -> tuple[int, int, str] | None:
    """Where a date-shaped token is in a line: (start, end, text)."""
    best = None
    for pat in _DATE_PATTERNS:
        for m in pat.finditer(text):
            if best is None or m.start() < best[0] or (m.start() == best[0] and m.end() > best[1]):
                best = (m.start(), m.end(), m.group(0))
            break
    return best


def _norm(h: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9/ ]+", " ", h.strip().lower()).split())


def _split(line: str, delim: str | None) -> list[str]:
    if delim is None:
        return [c for c in re.split(r"\t|\s{2,}", line.strip())]
    if delim == "|":
        return [c.strip() for c in line.strip().strip("|").split("|")]
    try:
        return [c.strip() for c in next(csv.reader([line], delimiter=delim))]
    except (csv.Error, StopIteration):
        return [line]


def _delimiter(lines: list[str]) -> str | None:
    """The column separator most lines use; None: columns split at tabs or runs of spaces."""
    head = lines[:20]
    for d in (",", "\t", "|", ";"):
        if sum(1 for ln in head if d in ln) >= max(1, len(head) // 2):
            return d
    return None


def _header(cells: list[str]) -> dict[str, int] | None:
    names = [_norm(c) for c in cells]
    cols: dict[str, int] = {}
    for i, n in enumerate(names):
        if "date" not in cols and (n in _DATE_WORDS or (n.endswith("date") and len(n) < 20)):
            cols["date"] = i
        elif "name" not in cols and n in _NAME_WORDS:
            cols["name"] = i
        elif "day" not in cols and n in _DAY_WORDS:
            cols["day"] = i
        elif n in ("kind", "type", "session", "session type"):
            cols.setdefault("kind", i)
        elif n in ("open", "start", "from", "open time", "start time", "normal open"):
            cols.setdefault("open", i)
        elif n in ("close", "end", "to", "close time", "end time", "normal close"):
            cols.setdefault("close", i)
        elif n in ("markets", "segments", "market"):
            cols.setdefault("markets", i)
        elif n in ("pre open", "preopen", "pre-open"):
            cols.setdefault("pre_open", i)
        elif n in ("post close", "postclose", "post-close", "closing session"):
            cols.setdefault("post_close", i)
        elif n in ("block deal", "block deals", "block-deal"):
            cols.setdefault("block_deal", i)
    return cols if "date" in cols else None


def _rows(text: str, name: str) -> list[tuple[int, dict[str, str]]]:
    """``(line, {date, name, day, ...})`` for every row that carries data."""
    lines = text.splitlines()
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")]
    if not numbered:
        raise CalendarImportError("the file is empty", file=name)
    delim = _delimiter([ln for _, ln in numbered])
    out: list[tuple[int, dict[str, str]]] = []
    cols = None
    for k, (no, ln) in enumerate(numbered[:10]):
        cols = _header(_split(ln, delim))
        if cols is not None:
            body = numbered[k + 1:]
            break
    if cols is not None:  # a table with a header row
        for no, ln in body:
            if set(ln.strip()) <= set("-|:+= "):
                continue  # a markdown rule
            cells = _split(ln, delim)
            if not any(cells):
                continue
            row = {key: (cells[i] if i < len(cells) else "") for key, i in cols.items()}
            if not row["date"].strip():
                raise CalendarImportError(f"line {no}: no date in the {_ordinal(cols['date'])} column: {ln.strip()[:80]!r}",
                                          file=name)
            out.append((no, row))
        if not out:
            raise CalendarImportError("a header but no dated rows below it", file=name)
        return out
    for no, ln in numbered:  # a pasted table without a header: serial, date, weekday, occasion
        hit = _find_date(ln)
        serial = re.match(r"^\s*\d{1,3}\s*[.)]?(\s|$)", ln)
        if hit is None:
            if serial:
                raise CalendarImportError(f"line {no}: no date found in {ln.strip()[:80]!r}", file=name)
            continue  # a title, a heading or a note
        start, end, token = hit
        before = ln[:start]
        if re.fullmatch(r"[\s|,;]*(\d{1,3}\s*[.)]?)?[\s|,;]*", before):
            before = ""  # only the serial number
        after = ln[end:].strip(" \t|,;")
        day = ""
        m = re.match(r"^([A-Za-z]+)\.?(?:[\s|,;]+|$)(.*)$", after)
        if m and m.group(1).lower() in _DAYS:
            day, after = m.group(1), m.group(2)
        rest = (before.strip(" \t|,;") + " " + after).strip()
        out.append((no, {"date": token, "day": day, "name": rest.strip(" \t|,;")}))
    if not out:
        raise CalendarImportError("no dated rows: expected a header with a Date column (NSE's CSV: "
                                  "Sr. No, Date, Day, Description) or lines with a date", file=name)
    return out


def _ordinal(i: int) -> str:
    n = i + 1
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _date_of(no: int, cell: str, name: str) -> date:
    try:
        d = parse_date_text(cell)
    except (ValueError, OverflowError) as e:
        raise CalendarImportError(f"line {no}: {cell.strip()[:40]!r} is not a date ({e})", file=name) from None
    if d is None:
        raise CalendarImportError(f"line {no}: {cell.strip()[:40]!r} is not a date (e.g. 26-Jan-2027, 26/01/2027, "
                                  "2027-01-26)", file=name)
    return d


def _check_day(no: int, d: date, day: str, name: str) -> None:
    s = day.strip().strip(".").lower()
    if not s:
        return
    want = _DAYS.get(s)
    if want is None:
        raise CalendarImportError(f"line {no}: {day.strip()[:20]!r} is not a weekday", file=name)
    if want != d.weekday():
        raise CalendarImportError(f"line {no}: {d.isoformat()} is a {d:%A}, not a {day.strip()} (a typo in the "
                                  "date or the day?)", file=name)


def _one_year(rows: list[tuple[int, date]], name: str, year: int | None) -> int:
    first_no, first = rows[0]
    want = year if year is not None else first.year
    for no, d in rows:
        if d.year != want:
            basis = f"--year {year}" if year is not None else f"line {first_no} ({first.isoformat()})"
            raise CalendarImportError(f"line {no}: {d.isoformat()} is not in {want} (as {basis}): one year per file",
                                      file=name)
    return want


def _no_duplicates(rows: list[tuple[int, date]], name: str) -> None:
    seen: dict[date, int] = {}
    for no, d in rows:
        if d in seen:
            raise CalendarImportError(f"line {no}: {d.isoformat()} is given twice (also line {seen[d]})", file=name)
        seen[d] = no


def parse_holiday_list(text: str, name: str = "FILE", *, year: int | None = None) -> ParsedList:
    """A holiday list's weekday holidays, its weekend ones (flagged) and warnings.

    Raises :class:`CalendarImportError` naming the line for anything it cannot accept.
    """
    rows = _rows(text, name)
    dated: list[tuple[int, date, str, str]] = []
    for no, row in rows:
        d = _date_of(no, row["date"], name)
        _check_day(no, d, row.get("day", ""), name)
        occasion = " ".join(row.get("name", "").split())[:120]
        dated.append((no, d, occasion, row.get("day", "")))
    pairs = [(no, d) for no, d, _, _ in dated]
    y = _one_year(pairs, name, year)
    _no_duplicates(pairs, name)
    out = ParsedList(year=y)
    for no, d, occasion, _ in sorted(dated, key=lambda r: r[1]):
        h = ImportedHoliday(d, occasion or "holiday", no)
        if d.weekday() >= 5:
            out.weekend.append(h)
            out.warnings.append(f"line {no}: {d.isoformat()} ({occasion or 'holiday'}) is a {d:%A}: listed, no effect")
        else:
            out.holidays.append(h)
    return out


def _hhmm(no: int, cell: str, what: str, name: str) -> time | None:
    s = cell.strip()
    if not s:
        return None
    m = re.fullmatch(r"([01]?\d|2[0-3])[:.]([0-5]\d)", s)
    if m is None:
        raise CalendarImportError(f"line {no}: {what} {s[:20]!r} is not a time HH:MM (IST)", file=name)
    return time(int(m.group(1)), int(m.group(2)))


def _window(no: int, cell: str, what: str, name: str) -> tuple[time, time] | None:
    s = cell.strip()
    if not s:
        return None
    m = re.fullmatch(r"(\S+)\s*-\s*(\S+)", s)
    if m is None:
        raise CalendarImportError(f"line {no}: {what} {s[:20]!r} is not a window HH:MM-HH:MM", file=name)
    a, b = _hhmm(no, m.group(1), what, name), _hhmm(no, m.group(2), what, name)
    if a is None or b is None or b <= a:
        raise CalendarImportError(f"line {no}: {what} {s[:20]!r} ends before it starts", file=name)
    return a, b


def parse_special_sessions(text: str, name: str = "FILE", *, year: int | None = None) -> ParsedList:
    """Special sessions: date, kind, open, close [, markets, pre-open, post-close, block-deal]."""
    rows = _rows(text, name)
    sessions: list[ImportedSession] = []
    for no, row in rows:
        d = _date_of(no, row["date"], name)
        _check_day(no, d, row.get("day", ""), name)
        kind = (row.get("kind") or row.get("name") or "").strip().lower().replace(" ", "-").replace("_", "-")
        kind = {"muhurat-trading": "muhurat", "union-budget": "budget", "budget-day": "budget"}.get(kind, kind)
        if kind not in KINDS:
            raise CalendarImportError(f"line {no}: kind {kind[:30]!r} is not one of {', '.join(KINDS)}", file=name)
        opens = _hhmm(no, row.get("open", ""), "open", name)
        closes = _hhmm(no, row.get("close", ""), "close", name)
        if (opens is None) != (closes is None):
            raise CalendarImportError(f"line {no}: give both open and close, or neither (date only: the session "
                                      "is skipped until its timings are imported)", file=name)
        if opens is not None and closes <= opens:
            raise CalendarImportError(f"line {no}: close {closes:%H:%M} is not after open {opens:%H:%M}", file=name)
        mk = row.get("markets", "").strip().lower()
        if mk:
            markets = tuple(m for m in re.split(r"[\s,;+/]+", mk) if m)
            bad = [m for m in markets if m not in ALL_MARKETS]
            if bad:
                raise CalendarImportError(f"line {no}: market {bad[0][:20]!r} is not one of {', '.join(ALL_MARKETS)}",
                                          file=name)
        else:
            markets = ALL_MARKETS if kind == "muhurat" else ("equity", "fno")
        if kind in WEEKEND_KINDS and d.weekday() < 5:
            raise CalendarImportError(f"line {no}: {d.isoformat()} is a {d:%A}: a {kind} session is a weekend "
                                      "session (a weekday trades anyway)", file=name)
        windows = {w: _window(no, row.get(w, ""), w.replace("_", "-"), name)
                   for w in ("pre_open", "post_close", "block_deal")}
        if opens is not None:
            if windows["pre_open"] and windows["pre_open"][1] > opens:
                raise CalendarImportError(f"line {no}: pre-open ends after the open {opens:%H:%M}", file=name)
            if windows["post_close"] and windows["post_close"][0] < closes:
                raise CalendarImportError(f"line {no}: post-close starts before the close {closes:%H:%M}", file=name)
        sessions.append(ImportedSession(d, kind, no, opens, closes, tuple(dict.fromkeys(markets)), **windows))
    pairs = [(s.line, s.date) for s in sessions]
    y = _one_year(pairs, name, year)
    _no_duplicates(pairs, name)
    return ParsedList(year=y, sessions=sorted(sessions, key=lambda s: s.date))


# -- the override files ----------------------------------------------------------------------


@dataclass(frozen=True)
class OverrideSource:
    """Where an imported list came from."""

    file: str
    sha256: str
    imported_at: str
    text: str = ""
    path: str = ""

    def describe(self) -> str:
        extra = f"; {self.text}" if self.text else ""
        return f"imported {self.file} (sha256 {self.sha256[:12]}…, {self.imported_at}){extra}"


@dataclass
class YearOverride:
    """One year's imported holidays and/or special sessions."""

    year: int
    holidays: list[dict] | None = None  # [{date, name}], weekdays only
    weekend: list[dict] = field(default_factory=list)
    holidays_source: OverrideSource | None = None
    sessions: list[dict] = field(default_factory=list)  # special_sessions.yaml format
    sessions_source: OverrideSource | None = None


def calendar_dir(data_dir: str | Path | None, config=None) -> Path | None:
    """Where imported lists live: ``market.calendar_dir`` or ``<data_dir>/calendar``."""
    explicit = getattr(config, "calendar_dir", None)
    if explicit is not None:
        return Path(explicit).expanduser()
    return None if data_dir is None else Path(data_dir).expanduser() / "calendar"


def load_overrides(folder: str | Path | None) -> dict[int, YearOverride]:
    """Every ``<year>-holidays.yaml`` / ``<year>-special.yaml`` in ``folder`` (none if absent)."""
    out: dict[int, YearOverride] = {}
    if folder is None:
        return out
    folder = Path(folder)
    if not folder.is_dir():
        return out
    for p in sorted(folder.iterdir()):
        m = _OVERRIDE_RE.match(p.name)
        if m is None:
            continue
        year, kind = int(m.group(1)), m.group(2)
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise DataError(f"{p}: not a readable calendar override ({type(e).__name__}); re-import it with "
                            "tradekit calendar import") from None
        if not isinstance(raw, dict) or raw.get("year") != year:
            raise DataError(f"{p}: not a calendar override for {year}; re-import it with tradekit calendar import")
        src = raw.get("source") or {}
        source = OverrideSource(str(src.get("file", p.name)), str(src.get("sha256", "")),
                                str(raw.get("imported_at", "")), str(src.get("text") or ""), str(p))
        ov = out.setdefault(year, YearOverride(year))
        try:
            if kind == "holidays":
                ov.holidays = [{"date": date.fromisoformat(str(h["date"])), "name": str(h.get("name", "holiday"))}
                               for h in raw.get("holidays") or []]
                ov.weekend = [{"date": date.fromisoformat(str(h["date"])), "name": str(h.get("name", "holiday"))}
                              for h in raw.get("weekend_holidays") or []]
                ov.holidays_source = source
            else:
                ov.sessions = list(raw.get("sessions") or [])
                ov.sessions_source = source
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{p}: malformed calendar override ({e}); re-import it with tradekit calendar import") from None
        bad = [h["date"] for h in (ov.holidays or []) + ov.weekend if h["date"].year != year]
        if bad:
            raise DataError(f"{p}: {bad[0]} is not in {year}")
    return out


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_override(folder: Path, parsed: ParsedList, *, kind: str, file_name: str, sha256: str, source_text: str,
                   now: datetime) -> tuple[Path, Path | None]:
    """Write the year's override; keep a replaced one beside it. Returns (path, replaced)."""
    path = folder / f"{parsed.year}-{kind}.yaml"
    stamp = now.isoformat(timespec="seconds")
    doc: dict = {"year": parsed.year, "kind": kind, "imported_at": stamp,
                 "source": {"file": file_name, "sha256": sha256, "text": source_text or None}}
    src = OverrideSource(file_name, sha256, stamp, source_text).describe()
    if kind == "holidays":
        doc["holidays"] = [{"date": h.date.isoformat(), "name": h.name, "line": h.line} for h in parsed.holidays]
        doc["weekend_holidays"] = [{"date": h.date.isoformat(), "name": h.name, "line": h.line}
                                   for h in parsed.weekend]
    else:
        doc["sessions"] = [s.to_table(src) for s in parsed.sessions]
    text = ("# tradekit calendar override, written by `tradekit calendar import`; re-import to change it\n"
            + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    replaced = None
    if path.exists():
        replaced = folder / f"{parsed.year}-{kind}.replaced-{now:%Y%m%dT%H%M%S}.yaml"
        os.replace(path, replaced)
    _write_atomic(path, text)
    return path, replaced


def sha256_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def read_file(path: str | Path) -> bytes:
    p = Path(path)
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise CalendarImportError("no such file", file=str(p)) from None
    except IsADirectoryError:
        raise CalendarImportError("a folder, not a file", file=str(p)) from None
    except (OSError, ValueError) as e:
        raise CalendarImportError(f"cannot read: {getattr(e, 'strerror', None) or e}", file=str(p)) from None
    return raw


def parse_bytes(raw: bytes, name: str = "FILE", *, special: bool = False, year: int | None = None) -> ParsedList:
    """Decode and parse; every problem is a :class:`CalendarImportError`."""
    text = decode(raw, name)
    if special:
        return parse_special_sessions(text, name, year=year)
    return parse_holiday_list(text, name, year=year)

