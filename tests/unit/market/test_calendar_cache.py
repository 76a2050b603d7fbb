"""Issue 20 (start-up): the exchange_calendars sessions kept on disk, the per-market day lists built on
first use and the C YAML parser give exactly what the library, the eager lists and the Python parser give."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import yaml

from tradekit.config import load_config
from tradekit.market import calendar_library as lib
from tradekit.market._tables import DATA_DIR
from tradekit.market.calendar import Market, MarketCalendar, calendar_for


@pytest.fixture
def fresh(monkeypatch):
    """No sessions memoised in this process: each call reads the file or asks the library."""
    monkeypatch.setattr(lib, "_MEMO", {})
    return lib


@pytest.fixture(scope="module")
def reference():
    return lib._compute()


def _cold(lib_, folder):
    lib_._MEMO.clear()
    return lib_._library_sessions(folder)


def test_the_kept_sessions_are_the_librarys(fresh, reference, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(lib, "_compute", lambda: asked.append(1) or reference)
    assert _cold(lib, tmp_path) == reference and asked == [1]  # computed, then kept
    assert (tmp_path / lib.CACHE_NAME).is_file()
    got = _cold(lib, tmp_path)
    assert got == reference and asked == [1]  # read back, the library not asked
    assert isinstance(got[2], frozenset) and all(type(d) is date for d in got[2])
    assert lib._library_sessions(None) is lib._library_sessions(tmp_path)  # once per process after that


def test_a_damaged_or_foreign_file_is_computed_again_and_replaced(fresh, reference, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(lib, "_compute", lambda: asked.append(1) or reference)
    path = tmp_path / lib.CACHE_NAME
    _cold(lib, tmp_path)
    good = path.read_bytes()
    # a flipped byte in the body: the checksum no longer matches
    path.write_bytes(good[:-5] + (b"8" if good[-5:-4] != b"8" else b"7") + good[-4:])
    assert _cold(lib, tmp_path) == reference and len(asked) == 2 and path.read_bytes() == good
    # a whole, well-formed file made by another exchange_calendars (a different key)
    import hashlib

    _, _, body = good.partition(b"\n")
    doc = json.loads(body)
    doc["key"]["files"] = "0" * 64
    doc["days"] = doc["days"][1:]  # what that other library said
    body = json.dumps(doc).encode()
    path.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    assert _cold(lib, tmp_path) == reference and len(asked) == 3 and path.read_bytes() == good
    for junk in (b"", b"not a digest\n{}", b"\x00\xff"):
        path.write_bytes(junk)
        assert _cold(lib, tmp_path) == reference
    assert path.read_bytes() == good


def test_an_unwritable_folder_costs_only_the_time(fresh, reference, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert _cold(lib, blocker / "cache") == reference  # the folder cannot be made under a file


def test_the_key_follows_the_installed_library(fresh, monkeypatch):
    key = lib.library_key()
    assert key is not None and key["start"] == "2010-10-18" and len(key["files"]) == 64
    import os

    real_stat = os.stat
    monkeypatch.setattr(lib.os, "stat", lambda p, *a, **k: os.stat_result(
        (*real_stat(p, *a, **k)[:8], 0, 0)) if str(p).endswith("exchange_calendar_xbom.py") else real_stat(p, *a, **k))
    assert lib.library_key()["files"] != key["files"]  # an edited or reinstalled module changes the key


def _eager_days(cal: MarketCalendar, m: Market) -> list[date]:
    out, d = [], cal.first_day
    while d <= cal.last_day:
        if cal._trades(d, m):
            out.append(d)
        d += timedelta(days=1)
    return out


def test_a_calendar_from_the_kept_sessions_equals_one_from_the_library(fresh, tmp_path):
    cfg = load_config(overrides={"data_dir": str(tmp_path / "var")})
    cold = calendar_for(cfg)  # computes and keeps
    assert (tmp_path / "var" / "cache" / "calendar" / lib.CACHE_NAME).is_file()
    lib._MEMO.clear()
    warm = calendar_for(cfg)  # reads the file
    lib._MEMO.clear()
    plain = MarketCalendar()  # no folder: asks the library
    for cal in (warm, plain):
        assert (cal.first_day, cal.last_day) == (cold.first_day, cold.last_day)
        assert cal._holidays == cold._holidays and cal.years() == cold.years()
    for m in Market:  # each market's days listed on first use equal the eager walk over every day
        assert warm._days[m] == _eager_days(cold, m) == plain._days[m]
        assert warm._day_sets[m] == frozenset(warm._days[m])
    assert warm.sessions(date(2016, 8, 1), date(2016, 8, 31)) == plain.sessions(date(2016, 8, 1), date(2016, 8, 31))
    with pytest.raises(KeyError):
        warm._days["no-such-market"]


@pytest.mark.parametrize("path", sorted(DATA_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_the_bundled_tables_read_the_same_with_the_c_parser(path):
    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML without libyaml: the Python parser is used")
    text = path.read_text(encoding="utf-8")

    def typed(x):  # True == 1 == 1.0 in Python: compare the types too
        if isinstance(x, dict):
            return {typed(k): typed(v) for k, v in x.items()}
        if isinstance(x, list):
            return [typed(v) for v in x]
        return (type(x).__name__, x)

    assert typed(yaml.load(text, Loader=yaml.CSafeLoader)) == typed(yaml.load(text, Loader=yaml.SafeLoader))
