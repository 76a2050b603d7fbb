"""The instrument master a command works with: the day's Kite dump, the last cached one, or the bundled sample.

``tradekit instruments update`` downloads Kite's instrument dump (``GET <kite.root>/instruments``,
public: no login needed; or the logged-in client's ``instruments()``), checks it
(:func:`~tradekit.market.instruments.check_dump`: columns, types, duplicates, every row; a
mostly-bad file is refused), and caches it per day under the data directory:

    <data_dir>/cache/instruments/instruments_<YYYY-MM-DD>.csv.gz       the dump as served
    <data_dir>/cache/instruments/instruments_<YYYY-MM-DD>.rows         its checked rows

(``market.instrument_cache_dir`` moves the folder). Every command then loads the master with
:func:`load_master`: the dump of the day if cached, else the newest cached dump before it, else
the bundled sample, and says which (:attr:`MasterInfo.message`). The checked rows load in a
fraction of a second for ~100k rows (``benchmarks/bench_instruments.py``); each
:class:`~tradekit.model.instrument.Instrument` is built only when asked for.

Instruments that no master knows can be named by the user (``--instrument NSE:XYZ[:EQ]`` or
``market.instruments`` in the config), see :func:`user_instrument`: nothing is guessed.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tradekit.errors import DataError, ValidationError
from tradekit.market.instruments import COLUMNS, DumpCheck, InstrumentStore, check_dump, instrument_cache_dir
from tradekit.model.enums import Exchange, InstrumentType, Segment
from tradekit.model.instrument import Instrument

TRADED = ("NSE", "BSE", "NFO", "BFO", "CDS", "MCX")
_DUMP = re.compile(r"^instruments_(\d{4}-\d{2}-\d{2})\.csv\.gz$")


@dataclass
class MasterInfo:
    """Where the master came from: ``source`` is ``dump`` (the day's), ``cached`` (an earlier
    day's dump) or ``bundled``; ``message`` is the line premarket and the report show."""

    source: str
    as_of: date | None
    path: Path | None
    count: int
    message: str


_SEP = "\x1f"  # the ASCII unit separator: check_dump refuses it (and newlines) inside a value


def _rows_path(dump: Path) -> Path:
    return dump.with_name(dump.name.replace(".csv.gz", ".rows"))


def _write_rows(check: DumpCheck, path: Path) -> None:
    """The checked rows, one per line, fields joined by :data:`_SEP` (reads back in ~0.1 s per 100k rows)."""
    head = _SEP.join(COLUMNS)
    body = "\n".join(_SEP.join(r) for r in check.rows)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(head + "\n" + body, encoding="utf-8")
    tmp.replace(path)


def _read_rows(path: Path) -> list[tuple[str, ...]] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):  # a broken parsed copy: the dump itself is read again
        return None
    head, _, body = text.partition("\n")
    if tuple(head.split(_SEP)) != COLUMNS:
        return None
    rows = [tuple(ln.split(_SEP)) for ln in body.split("\n")] if body else []
    if any(len(r) != len(COLUMNS) for r in rows):
        return None
    return rows


def save_checked(raw: bytes, check: DumpCheck, cache_dir: Path, day: date) -> Path:
    """Cache a checked dump of ``day`` (the dump as served, and its checked rows)."""
    path = InstrumentStore.save_dump(raw, cache_dir, day)
    _write_rows(check, _rows_path(path))
    return path


def cached_days(cache_dir: Path) -> list[date]:
    """Days with a cached dump, oldest first."""
    if not cache_dir.is_dir():
        return []
    out = []
    for p in cache_dir.iterdir():
        m = _DUMP.match(p.name)
        if m:
            try:
                out.append(date.fromisoformat(m.group(1)))
            except ValueError:
                continue
    return sorted(out)


def load_cached(cache_dir: Path, day: date) -> InstrumentStore:
    """The cached dump of ``day`` (from its checked rows when present, else the dump, checked again)."""
    path = InstrumentStore.cache_path(cache_dir, day)
    rows_path = _rows_path(path)
    rows = _read_rows(rows_path) if rows_path.exists() else None
    if rows is None:
        check = check_dump(path)
        check.refuse_if_mostly_bad()
        try:
            _write_rows(check, rows_path)
        except OSError:
            pass  # a read-only cache still loads, only slower
        rows = check.rows
    store = InstrumentStore.from_rows(rows, as_of=day, origin="dump", label=str(path))
    return store


def cache_dir_for(config) -> Path:
    """The instrument cache of a config: ``market.instrument_cache_dir`` or ``<data_dir>/cache/instruments``."""
    return instrument_cache_dir(config.data_dir, getattr(config, "market", None))


def download_dump(root: str, *, timeout: float = 30.0, exchange: str | None = None) -> bytes:
    """``GET <root>/instruments[/<exchange>]``: Kite's public dump (no login needed)."""
    url = root.rstrip("/") + "/instruments" + (f"/{exchange}" if exchange else "")
    req = urllib.request.Request(url, headers={"X-Kite-Version": "3", "User-Agent": "tradekit"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # the configured Kite root
            data = r.read()
            if r.headers.get("Content-Encoding") == "gzip":
                data = zlib.decompress(data, 16 + zlib.MAX_WBITS)
            return data
    except urllib.error.HTTPError as e:
        raise DataError(f"{url}: the instrument dump was not served (HTTP {e.code} {e.reason})") from None
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise DataError(f"{url}: cannot download the instrument dump ({reason})") from None


def update_master(config, day: date, *, fetch=None, root: str | None = None,
                  max_bad_fraction: float = 0.5) -> tuple[InstrumentStore, DumpCheck, Path]:
    """Download, check and cache the dump of ``day``; return (store, check, cached path).

    ``fetch`` (a callable returning the CSV bytes, e.g. a logged-in client's raw dump) replaces
    the download from ``root`` (default ``kite.root``). A dump with more than
    ``max_bad_fraction`` bad rows, or none usable, is refused and nothing is cached.
    """
    if fetch is not None:
        raw = fetch()
    else:
        raw = download_dump(root or config.kite.root)
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not raw:
        raise DataError(f"the instrument dump fetched for {day} is empty")
    check = check_dump(raw)
    check.label = f"the instrument dump of {day}"
    check.refuse_if_mostly_bad(max_bad_fraction)
    cache = cache_dir_for(config)
    path = save_checked(raw, check, cache, day)
    store = load_cached(cache, day)
    return store, check, path


def load_master(config=None, day: date | None = None, *, data_dir: Path | None = None,
                extra: list[Instrument] | None = None) -> tuple[InstrumentStore, MasterInfo]:
    """The master for ``day`` (default today): the day's cached dump, else the newest cached dump
    before it, else the bundled sample, plus the user's instruments (``market.instruments``
    and ``extra``). The bundled instruments are always there too (the sample data needs them).
    """
    from tradekit.clock import IST

    if day is None:
        from datetime import datetime

        day = datetime.now(IST).date()
    if config is not None:
        caches = [cache_dir_for(config)]
        kite = getattr(config, "kite", None)  # the live broker caches its day's dump here
        caches.append(Path(kite.instruments_cache_dir).expanduser() if kite is not None and kite.instruments_cache_dir
                      else Path(config.data_dir) / "kite" / "instruments")
    else:
        caches = [instrument_cache_dir(data_dir or Path("var"))]
    cache = caches[0]
    found = sorted(((d, c) for c in dict.fromkeys(caches) for d in cached_days(c) if d <= day),
                   key=lambda x: (x[0], x[1] == cache))
    store = None
    info = None
    problems = []
    for d, cache in reversed(found):
        try:
            store = load_cached(cache, d)
        except DataError as e:  # a damaged cached dump: say so and try the one before
            problems.append(str(e))
            continue
        src = "dump" if d == day else "cached"
        path = InstrumentStore.cache_path(cache, d)
        msg = (f"instrument master: Kite dump of {d} ({len(store):,} instruments, {path})" if src == "dump" else
               f"instrument master: the last cached Kite dump, of {d} ({len(store):,} instruments, {path}); "
               f"run `tradekit instruments update` for {day}'s")
        info = MasterInfo(src, d, path, len(store), msg)
        break
    bundled = InstrumentStore.bundled()
    if store is None:
        cache = caches[0]
        store = bundled
        why = f"no Kite dump cached in {cache}" + (f" ({problems[0]})" if problems else "")
        info = MasterInfo("bundled", None, None, len(store),
                          f"instrument master: the bundled sample ({len(store)} instruments; {why}; "
                          f"run `tradekit instruments update`)")
    else:
        # the bundled sample's symbols stay known (its rule-based NSE ticks, its indices), unless the dump has them
        store.add(i for i in bundled if store.find(i.exchange, i.tradingsymbol) is None)
    users = list(extra or [])
    if config is not None:
        for spec in getattr(getattr(config, "market", None), "instruments", None) or []:
            users.append(user_instrument(spec, field="market.instruments"))
    for u in users:
        known = store.find(u.exchange, u.tradingsymbol)
        if known is not None and known.meta.get("source") != "user":
            continue  # the master knows it: its row wins over a name the user gave
        store.add([u])
    assert info is not None
    return store, info


# -- instruments named by the user ---------------------------------------------------------------

_SEG_OF = {"NSE": Segment.NSE, "BSE": Segment.BSE}


def user_instrument(spec: str, *, field: str = "--instrument") -> Instrument:
    """An instrument the user names because no master knows it.

    ``EXCHANGE:SYMBOL[:TYPE][:tick=T][:lot=L]``: ``NSE:XYZ`` (an NSE equity: tick from NSE's
    dated tick table on each trade date, lot 1), ``BSE:XYZ:EQ:tick=0.05``, or a derivative
    ``NFO:XYZ26DECFUT:FUT:tick=0.10:lot=500``. What cannot be derived from a dated rule must be
    given: a BSE equity needs ``tick=``, a derivative ``tick=`` and ``lot=``. Refused with a
    message naming the field otherwise.
    """
    parts = [p.strip() for p in str(spec).strip().split(":")]
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValidationError(f"{spec!r}: name it EXCHANGE:SYMBOL[:TYPE][:tick=T][:lot=L], e.g. NSE:XYZ:EQ", field=field)
    ex_s, sym = parts[0].upper(), parts[1].upper()
    if ex_s not in TRADED:
        raise ValidationError(f"{spec!r}: exchange {ex_s} is not one of {', '.join(TRADED)}", field=field)
    itype_s, tick, lot = "EQ", None, None
    for p in parts[2:]:
        k, eq, v = p.partition("=")
        if not eq:
            itype_s = p.upper()
            continue
        k = k.strip().lower()
        if k == "tick":
            try:
                tick = Decimal(v)
            except InvalidOperation:
                tick = None
            if tick is None or not tick.is_finite() or tick <= 0:
                raise ValidationError(f"{spec!r}: tick={v} is not a positive number", field=field)
        elif k == "lot":
            if not v.strip().isdigit() or int(v) <= 0:
                raise ValidationError(f"{spec!r}: lot={v} is not a positive whole number", field=field)
            lot = int(v)
        else:
            raise ValidationError(f"{spec!r}: unknown part {k!r} (tick=, lot=)", field=field)
    try:
        itype = InstrumentType(itype_s)
    except ValueError:
        raise ValidationError(f"{spec!r}: type {itype_s} is not EQ, FUT, CE or PE", field=field) from None
    exchange = Exchange(ex_s)
    equity_ex = ex_s in ("NSE", "BSE")
    if equity_ex != (itype is InstrumentType.EQ):
        raise ValidationError(f"{spec!r}: {ex_s} lists {'equities (EQ)' if equity_ex else 'derivatives (FUT, CE, PE)'}, "
                              f"not {itype_s}", field=field)
    meta: dict = {"source": "user", "spec": spec}
    if itype is InstrumentType.EQ:
        segment = _SEG_OF[ex_s]
        if ex_s == "NSE" and tick is None:
            meta["tick_rule"] = "nse-equity"  # NSE's dated tick table on each trade date (market/rules.py)
            tick = Decimal(0)
        elif tick is None:
            raise ValidationError(f"{spec!r}: no dated tick table for {ex_s} equities here: give tick=, "
                                  f"e.g. {ex_s}:{sym}:EQ:tick=0.05", field=field)
        lot = lot or 1
    else:
        if tick is None or lot is None:
            raise ValidationError(f"{spec!r}: a derivative needs its contract's tick= and lot= (from the exchange's "
                                  f"contract specification), e.g. {ex_s}:{sym}:{itype_s}:tick=0.10:lot=500",
                                  field=field)
        segment = Segment(f"{ex_s}-{'FUT' if itype is InstrumentType.FUT else 'OPT'}")
    # a token no Kite instrument has: Kite's are exchange_token*256 + segment id (1-9); 0xFF is no segment,
    # and it fits the ticker's 32 bits
    token = ((zlib.crc32(f"{ex_s}:{sym}".encode()) & 0xFFFFFF) << 8) | 0xFF
    return Instrument(exchange=exchange, tradingsymbol=sym, instrument_token=token, tick_size=tick, lot_size=lot,
                      segment=segment, instrument_type=itype, name=sym, exchange_token=0, meta=meta)
