"""Reading the bundled reference tables in ``tradekit/market/data`` (private helpers)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, time
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

import yaml

from tradekit.errors import DataError

DATA_DIR = Path(__file__).resolve().parent / "data"

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_WINDOW_RE = re.compile(r"^\s*(\d\d:\d\d)\s*-\s*(\d\d:\d\d)\s*$")
_UNITS = {"%": Decimal(100), "/crore": Decimal(10_000_000), "/lakh": Decimal(100_000)}


def data_path(name: str) -> Path:
    """Path of a bundled reference file; a missing file is a DataError."""
    p = DATA_DIR / name
    if not p.exists():
        raise DataError(f"{p}: bundled reference file is missing (reinstall tradekit)")
    return p


# libyaml's parser when PyYAML was built with it: the same safe constructor and resolver (so the same
# values, tests/unit/market/test_tables_yaml.py), about 8x faster on the calendar's and charges' tables
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def load_yaml(name: str) -> dict:
    """A bundled YAML table (a mapping), read with PyYAML's safe loader."""
    p = data_path(name)
    try:
        with p.open(encoding="utf-8") as f:
            out = yaml.load(f, Loader=_SAFE_LOADER)  # a safe loader: CSafeLoader or SafeLoader
    except yaml.YAMLError as e:
        raise DataError(f"{p}: not valid YAML: {e}") from None
    if not isinstance(out, dict):
        raise DataError(f"{p}: expected a mapping at the top level")
    return out


@cache
def load_csv_rows(name: str) -> tuple[dict[str, str], ...]:
    """Rows of a bundled CSV; lines starting with ``#`` are comments."""
    p = data_path(name)
    text = p.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    return tuple(csv.DictReader(io.StringIO("\n".join(lines))))


def parse_time(value: object, where: str) -> time:
    """``"HH:MM"`` (or PyYAML's base-60 integer for an unquoted ``HH:MM``) to a time."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)
    if isinstance(value, str):
        m = _TIME_RE.match(value.strip())
        if m:
            return time(int(m.group(1)), int(m.group(2)))
    raise DataError(f"{where}: {value!r} is not a time HH:MM")


def parse_window(value: object, where: str) -> tuple[time, time]:
    """``"HH:MM-HH:MM"`` to (start, end); the end must be after the start."""
    if not isinstance(value, str) or not (m := _WINDOW_RE.match(value)):
        raise DataError(f"{where}: {value!r} is not a window HH:MM-HH:MM")
    start, end = parse_time(m.group(1), where), parse_time(m.group(2), where)
    if end <= start:
        raise DataError(f"{where}: window {value!r} ends before it starts")
    return start, end


def parse_windows(value: object, where: str) -> list[tuple[time, time]]:
    """One window or a list of windows."""
    items = value if isinstance(value, list) else [value]
    return [parse_window(v, where) for v in items]


def parse_rate(value: object, where: str) -> Decimal:
    """``"0.03%"``, ``"306.99/crore"``, ``"2.97/lakh"`` or a plain number, to an exact Decimal."""
    s = str(value).strip().replace(",", "")
    divisor = Decimal(1)
    for suffix, div in _UNITS.items():
        if s.endswith(suffix):
            s, divisor = s[: -len(suffix)].strip(), div
            break
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise DataError(f"{where}: {value!r} is not a rate") from None
    if not d.is_finite() or d < 0:
        raise DataError(f"{where}: {value!r} is not a rate")
    return d / divisor


def parse_date(value: object, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise DataError(f"{where}: {value!r} is not a date YYYY-MM-DD") from None
