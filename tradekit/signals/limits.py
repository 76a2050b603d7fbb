"""Bounds on what a signal batch may hold, and a JSON reader that cannot be made to crash.

A strategy engine (or anything that can write to the inbox or hold the HTTP token) can send
any bytes. Python's ``json`` raises ``RecursionError`` on deep nesting and ``ValueError`` on an
integer of more than 4,300 digits, the journal's encoder refuses integers outside 64 bits and
nesting past 255 levels, and ``datetime`` arithmetic overflows near years 1 and 9999. Every one
of those used to escape :func:`~tradekit.signals.parse_batch` and lose the whole batch.

Here the text is read with bounds (``signals:`` config, see :class:`Limits`):

- nesting is measured *before* ``json.loads`` runs; in a list, a record nested too deep is an
  error for that record only, the others are read;
- numbers longer than the limit are never converted (``int()`` is not called on them);
- every record is walked (depth-bounded) for integers outside ±2**63, numbers out of range,
  NaN/Infinity and over-long strings, each a per-record error naming the field;
- the count of records is checked before any is validated.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

INT64 = 2**63
# A decimal (price, percent) is refused past these: the OMS turns prices into floats and money math.
MAX_DECIMAL_DIGITS = 30
MAX_DECIMAL_EXPONENT = 15  # 10**15 rupees
MIN_DECIMAL_EXPONENT = -15
MAX_NUMBER_CHARS = 64  # a number literal longer than this is never converted
MAX_ERRORS_PER_RECORD = 5
MAX_MESSAGE_CHARS = 300


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one batch (a file or an HTTP body); built from ``signals:`` settings.

    Attributes
    ----------
    max_records : int
        Records per batch; a larger batch is refused whole (HTTP 413, inbox ``rejected/``).
    max_depth : int
        Nesting levels of one record (the record object is level 1).
    max_int_digits : int
        Digits of an integer; longer ones (and any outside ±2**63) are a per-record error.
    max_string_chars : int
        Characters of any string (values and keys) in a record.
    max_basket_legs : int
        Legs of one basket signal (:mod:`tradekit.signals.basket_fields`); more is an error for that record.
    """

    max_records: int = 1000
    max_depth: int = 16
    max_int_digits: int = 18
    max_string_chars: int = 4096
    max_basket_legs: int = 20

    @classmethod
    def from_settings(cls, s: Any) -> "Limits":
        return cls(max_records=s.max_records_per_batch, max_depth=s.max_depth,
                   max_int_digits=s.max_int_digits, max_string_chars=s.max_string_chars,
                   max_basket_legs=s.max_basket_legs)


# For files a user hands over on purpose (research output read back, ``tradekit signals check``,
# a paper day's signal file): the same bounds per record, any number of records. Ingestion from
# the inbox and the HTTP endpoint uses the ``signals:`` settings (1,000 records per batch).
DEFAULT_LIMITS = Limits(max_records=10_000_000)


class Oversize:
    """A number literal too long to convert; stands in for it so the record can name the field."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"<a number of {len(self.text)} characters>"

    __str__ = __repr__


def _shorten(s: str, n: int = MAX_MESSAGE_CHARS) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


# -- structure ------------------------------------------------------------------------------------
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')


@dataclass(slots=True)
class Structure:
    depth: int  # deepest nesting of the whole text
    elements: list[tuple[int, int, int]] | None  # top-level array elements: (start, end, depth)


def structure(text: str) -> Structure:
    """Nesting depth of JSON ``text`` and, for a top-level array, its elements' spans and depths.

    Strings are skipped; the scan is linear and recursion-free. Invalid JSON gives some answer
    (the later parse reports the error); spans are None when the text is not one array.
    """
    if text.count("[") + text.count("{") <= 1:
        return Structure(1 if text.lstrip()[:1] in ("[", "{") else 0, None)
    depth = maxd = 0
    stripped = text.lstrip()
    array = stripped[:1] == "["
    elements: list[tuple[int, int, int]] | None = [] if array else None
    start = -1
    emax = 0
    closed = False
    for m in _TOKEN.finditer(text):
        c = text[m.start()]
        if c == '"':
            continue
        if closed:
            elements = None  # something after the closing bracket: not one array
            if c in "[{":
                depth += 1
                maxd = max(maxd, depth)
            elif c in "]}":
                depth -= 1
            continue
        if c in "[{":
            depth += 1
            if depth > maxd:
                maxd = depth
            if depth == 1:
                start = m.end()
                emax = 1
            elif depth > emax:
                emax = depth
        elif c in "]}":
            if depth == 1 and elements is not None:
                if text[start:m.start()].strip() or elements:
                    elements.append((start, m.start(), emax - 1))
                closed = True
            depth -= 1
        elif c == "," and depth == 1 and elements is not None:
            elements.append((start, m.start(), emax - 1))
            start = m.end()
            emax = 1
    if not closed or depth != 0:
        elements = None
    return Structure(maxd, elements)


# -- reading --------------------------------------------------------------------------------------
def _parse_int(s: str) -> Any:
    return int(s) if len(s) <= MAX_NUMBER_CHARS else Oversize(s)


def _parse_float(s: str) -> Any:
    return Decimal(s) if len(s) <= MAX_NUMBER_CHARS else Oversize(s)


def _parse_constant(s: str) -> float:
    return float(s)  # NaN / Infinity / -Infinity: kept so the walk names the field


def loads(text: str) -> Any:
    """``json.loads`` with exact decimals and no conversion of over-long numbers.

    The caller checks nesting first (:func:`structure`); this raises only ``JSONDecodeError``.
    """
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except RecursionError:  # pragma: no cover - the depth is checked before
        raise json.JSONDecodeError("nested too deep", text, 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError as e:  # pragma: no cover - belt and braces
        raise json.JSONDecodeError(str(e), text, 0) from None


# -- the per-record walk --------------------------------------------------------------------------
def check_record(record: Any, limits: Limits = DEFAULT_LIMITS) -> list[tuple[str | None, str]]:
    """Problems that make a parsed record unsafe to validate or journal: ``[(field, message)]``.

    Bounded: stops descending at ``max_depth`` and after a few problems.
    """
    out: list[tuple[str | None, str]] = []
    _walk(record, [], 1, limits, out)
    return out


def _path(parts: list) -> str | None:
    return ".".join(str(p) for p in parts) or None


def _walk(v: Any, path: list, depth: int, lim: Limits, out: list) -> None:
    if len(out) >= MAX_ERRORS_PER_RECORD:
        return
    if isinstance(v, (dict, list)):
        if depth > lim.max_depth:
            out.append((_path(path), f"nested deeper than {lim.max_depth} levels (signals.max_depth)"))
            return
        if isinstance(v, dict):
            for k, x in v.items():
                if isinstance(k, str) and len(k) > lim.max_string_chars:
                    out.append((_path(path), f"has a key of {len(k):,} characters; the limit is "
                                             f"{lim.max_string_chars:,} (signals.max_string_chars)"))
                    continue
                _walk(x, path + [k], depth + 1, lim, out)
        else:
            for i, x in enumerate(v):
                _walk(x, path + [i], depth + 1, lim, out)
        return
    msg = value_problem(v, lim)
    if msg:
        out.append((_path(path), msg))


def value_problem(v: Any, lim: Limits = DEFAULT_LIMITS) -> str | None:
    """Why a scalar is out of bounds, or None."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, Oversize):
        return f"a number of {len(v.text):,} characters is out of range"
    if isinstance(v, int):
        if not -INT64 < v < INT64:
            return "an integer out of the 64-bit range is out of range"
        n = len(str(abs(v)))
        if n > lim.max_int_digits:
            return f"an integer of {n} digits is over the limit of {lim.max_int_digits} (signals.max_int_digits)"
        return None
    if isinstance(v, float):
        if not math.isfinite(v):
            return f"{v} is not a JSON number"
        return None
    if isinstance(v, Decimal):
        if not v.is_finite():
            return f"{v} is not a JSON number"
        if v != 0 and not (MIN_DECIMAL_EXPONENT <= v.adjusted() <= MAX_DECIMAL_EXPONENT):
            return f"{_shorten(str(v), 40)} is out of range"
        if len(v.as_tuple().digits) > MAX_DECIMAL_DIGITS:
            return f"a number of {len(v.as_tuple().digits)} digits is over the limit of {MAX_DECIMAL_DIGITS}"
        return None
    if isinstance(v, str):
        if len(v) > lim.max_string_chars:
            return f"a string of {len(v):,} characters is over the limit of {lim.max_string_chars:,} (signals.max_string_chars)"
        return None
    return None


# -- a journal-safe copy of a rejected record -----------------------------------------------------
def safe_raw(raw: Any, max_chars: int = 4000) -> Any:
    """A bounded, JSON-safe copy of a rejected record for the audit trail.

    Integers outside 64 bits, over-long numbers, NaN and deep nesting become short strings;
    the whole is trimmed to about ``max_chars`` of JSON text.
    """
    budget = [max_chars]
    return _safe(raw, 0, budget)


def _safe(v: Any, depth: int, budget: list[int]) -> Any:
    if budget[0] <= 0:
        return "…"
    if isinstance(v, dict):
        if depth >= 8:
            return "{…}"
        out = {}
        for k, x in v.items():
            if budget[0] <= 0:
                out["…"] = f"{len(v) - len(out)} more"
                break
            key = _shorten(str(k), 64)
            budget[0] -= len(key) + 4
            out[key] = _safe(x, depth + 1, budget)
        return out
    if isinstance(v, list):
        if depth >= 8:
            return "[…]"
        out_l = []
        for x in v:
            if budget[0] <= 0:
                out_l.append(f"… {len(v) - len(out_l)} more")
                break
            out_l.append(_safe(x, depth + 1, budget))
        return out_l
    if isinstance(v, bool) or v is None:
        budget[0] -= 5
        return v
    if isinstance(v, int):
        if -INT64 < v < INT64:
            budget[0] -= 20
            return v
        return f"<an integer of {len(str(abs(v))) if abs(v).bit_length() < 14000 else 'over 4,000'} digits>"
    if isinstance(v, float):
        budget[0] -= 24
        return v if math.isfinite(v) else str(v)
    if isinstance(v, (Decimal, Oversize)):
        s = _shorten(str(v), 40)
        budget[0] -= len(s)
        return s
    s = _shorten(v if isinstance(v, str) else repr(v), max(budget[0], 16))
    budget[0] -= len(s) + 2
    return s
