"""exchange_calendars' XBOM sessions, for the years the bundled tables do not list; kept on disk.

Importing ``exchange_calendars`` builds every exchange it knows (about 60) and computing XBOM's
sessions takes pandas work: about 0.1 s, paid by every process that builds a calendar (each
replay, each CLI command). The answer depends only on the installed library, so
:func:`_library_sessions` keeps it in ``<cache_dir>/xbom-sessions.json`` (:func:`calendar_for`
passes ``<data_dir>/cache/calendar``) under a key naming what produced it: the library's folder,
the size and modification time of each of its Python files, pandas' version and
:data:`CALENDAR_START`. A file whose key differs (the library upgraded or edited), whose checksum
does not match or that cannot be read is ignored and the sessions are computed again, then the file
rewritten; a folder that cannot be written only costs the time. Within one process the sessions
are computed (or read) once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from datetime import date
from pathlib import Path

from tradekit.market.calendar_tables import CALENDAR_START

log = logging.getLogger(__name__)

CACHE_NAME = "xbom-sessions.json"
_FORMAT = 1  # the layout of the file and the meaning of what _compute returns

_MEMO: dict[str, tuple[date, date, frozenset[date]]] = {}


def _library_sessions(cache_dir: str | Path | None = None) -> tuple[date, date, frozenset[date]]:
    """(first session, last session, every session) of exchange_calendars' XBOM calendar from
    :data:`CALENDAR_START`. ``cache_dir``: the folder of the on-disk copy (None: none)."""
    got = _MEMO.get("xbom")
    if got is None:
        got = _MEMO["xbom"] = _cached(Path(cache_dir)) if cache_dir is not None else _compute()
    return got


def _compute() -> tuple[date, date, frozenset[date]]:
    """Ask the library (imported here: it pulls in every exchange calendar it has)."""
    import warnings

    import exchange_calendars as xcals

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas deprecation noise from inside the library
        from exchange_calendars.exchange_calendar_xbom import XBOMExchangeCalendar

        # explicit bounds: the library's defaults move with today's date
        end = XBOMExchangeCalendar.bound_max() or XBOMExchangeCalendar.default_end()
        cal = xcals.get_calendar("XBOM", start=CALENDAR_START.isoformat(), end=end)
        days = frozenset(ts.date() for ts in cal.sessions)
    return cal.first_session.date(), cal.last_session.date(), days


def library_key() -> dict | None:
    """What the sessions depend on, without importing the library; None when it is not installed
    as a folder of Python files (then nothing is kept on disk)."""
    spec = importlib.util.find_spec("exchange_calendars")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if len(locations) != 1:
        return None
    folder = Path(locations[0])
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for n in sorted(names):
            if n.endswith(".py"):
                st = os.stat(os.path.join(root, n))
                files.append(f"{os.path.relpath(os.path.join(root, n), folder)}:{st.st_size}:{st.st_mtime_ns}")
    if not files:
        return None
    import pandas as pd  # already imported by every caller (the calendar's users work on pandas data)

    return {"format": _FORMAT, "start": CALENDAR_START.isoformat(), "library": str(folder),
            "files": hashlib.sha256("\n".join(files).encode()).hexdigest(), "pandas": pd.__version__}


def _cached(folder: Path) -> tuple[date, date, frozenset[date]]:
    key = library_key()
    if key is None:
        return _compute()
    path = folder / CACHE_NAME
    got = _read(path, key)
    if got is not None:
        return got
    first, last, days = _compute()
    from exchange_calendars.exchange_calendar_xbom import XBOMExchangeCalendar

    if XBOMExchangeCalendar.bound_max() is None:  # the end moved with today's date: nothing stable to keep
        return first, last, days
    _write(path, key, first, last, days)
    return first, last, days


def _read(path: Path, key: dict) -> tuple[date, date, frozenset[date]] | None:
    """The kept sessions when the file is whole (its first line is the SHA-256 of the second) and made
    under ``key``; else None."""
    try:
        digest, _, body = path.read_bytes().partition(b"\n")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        log.warning("%s: unreadable (%s); the exchange_calendars sessions are computed again", path, e)
        return None
    if hashlib.sha256(body).hexdigest().encode() != digest:
        log.warning("%s: checksum mismatch; the exchange_calendars sessions are computed again", path)
        return None
    try:
        raw = json.loads(body)
        if raw["key"] != key:
            return None  # made by another library (or pandas) version: computed again, then replaced
        return (date.fromordinal(raw["first"]), date.fromordinal(raw["last"]),
                frozenset(map(date.fromordinal, raw["days"])))
    except (ValueError, TypeError, KeyError, OverflowError) as e:
        log.warning("%s: not a sessions file (%s); the exchange_calendars sessions are computed again", path, e)
        return None


def _write(path: Path, key: dict, first: date, last: date, days: frozenset[date]) -> None:
    body = json.dumps({"key": key, "first": first.toordinal(), "last": last.toordinal(),
                       "days": sorted(d.toordinal() for d in days)}, separators=(",", ":")).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
        os.replace(tmp, path)  # atomic: a reader sees the old file or the new one
    except OSError as e:
        log.debug("could not keep the exchange_calendars sessions in %s: %s", path, e)
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
