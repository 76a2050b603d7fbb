"""The instrument master: Kite's daily instruments dump, loaded into :class:`Instrument`s.

The dump (``GET /instruments``, kite.md §7) is a CSV with the columns
``instrument_token, exchange_token, tradingsymbol, name, last_price, expiry, strike,
tick_size, lot_size, instrument_type, segment, exchange``. The official client crashes on
an empty numeric field; this loader does not: an empty ``strike``/``last_price`` is 0, an
empty ``tick_size`` is 0 (meaning unknown: :mod:`tradekit.market.rules` then uses the
dated tick table or refuses), an empty ``lot_size`` is 1 for equities and 0 (unknown)
otherwise. A row that cannot be keyed (no token, an unknown exchange) is skipped and
reported in :attr:`InstrumentStore.problems`, never silently.

Key on exchange + tradingsymbol: tokens can be reused after expiry. The dump is generated
once a day; :meth:`InstrumentStore.cached_or_fetch` keeps the day's copy on disk.

:func:`check_dump` checks a dump row by row (columns, types, repeated keys or tokens; each
problem names its row) and :meth:`InstrumentStore.from_rows` keeps the checked rows, building
an :class:`Instrument` only when one is asked for: a full master (~100k rows) loads in a
fraction of a second. Which master a command uses (the day's dump, the last cached one, the
bundled sample) is decided in :mod:`tradekit.market.master`.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

from tradekit.errors import DataError, MarketRuleError, ValidationError
from tradekit.market._tables import data_path, load_yaml
from tradekit.market.config import MarketConfig
from tradekit.market.rules import freeze_quantity
from tradekit.model.enums import Exchange, InstrumentType, Segment
from tradekit.model.instrument import Instrument
from tradekit.model.money import ZERO

COLUMNS = (
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)
_MONTHLY = re.compile(r"^(.+?)\d{2}(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)")
_SAMPLE_NFO = (
    Path(__file__).resolve().parents[1]
    / "data"
    / "sample"
    / "KITE_NFO_instruments_2026-08-18_sample.csv.gz"
)


@lru_cache(maxsize=1)
def _multipliers() -> tuple[int, dict[str, int]]:
    raw = load_yaml("contract_multipliers.yaml")
    return int(raw["currency"]["multiplier"]), {
        k.upper(): int(v) for k, v in raw["mcx"]["by_underlying"].items()
    }


def _read_text(source: str | bytes | Path) -> tuple[str, str]:
    """(text, label) from a path, CSV text or raw (possibly gzipped) bytes."""
    if isinstance(source, bytes):
        data, label = source, "<bytes>"
    elif isinstance(source, Path) or (isinstance(source, str) and "\n" not in source):
        p = Path(source)
        if not p.exists():
            raise DataError(f"{p}: instrument dump not found")
        data, label = p.read_bytes(), str(p)
    elif isinstance(source, str):
        return source, "<text>"
    else:
        raise DataError(f"{source!r}: pass a path, CSV text or bytes")
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise DataError(f"{label}: broken gzip file: {e}") from None
    try:
        return data.decode("utf-8-sig"), label
    except UnicodeDecodeError as e:
        raise DataError(f"{label}: not UTF-8 text: {e}") from None


def _dec(s: str) -> Decimal | None:
    s = s.strip()
    if not s:
        return None
    try:
        d = Decimal(s)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def _int(s: str) -> int | None:
    d = _dec(s)
    if d is None or d != d.to_integral_value():
        return None
    return int(d)


def parse_instruments(
    source: str | bytes | Path, *, origin: str = "dump", as_of: date | None = None
) -> tuple[list[Instrument], list[str]]:
    """Parse a Kite instruments CSV into instruments and a list of problems.

    Parameters
    ----------
    source
        A path (``.csv`` or ``.csv.gz``), CSV text, or the raw bytes the API returned.
    origin
        Recorded in each instrument's ``meta["source"]`` (``dump``, ``bundled``, ...).
    as_of
        The dump's date, recorded in ``meta["as_of"]``; with it, index derivatives get their
        ``freeze_quantity`` from the dated freeze table when it covers that day.

    Raises
    ------
    DataError
        The header lacks a required column.
    """
    check = check_dump(source)
    conv = _Converter(check.label, origin, as_of)
    out: list[Instrument] = []
    for n, row in zip(check.row_numbers, check.rows):
        inst = conv(row, n)
        if inst is not None:
            out.append(inst)
    return out, check.problems + conv.problems


@dataclass
class DumpCheck:
    """What :func:`check_dump` found in an instruments dump.

    ``rows`` are the rows kept (tuples in :data:`COLUMNS` order), ``row_numbers`` their line
    numbers in the file (the header is row 1); ``problems`` name every row skipped or repaired,
    with its row number, symbol and column; ``bad`` counts rows skipped as malformed,
    ``unsupported`` rows of exchanges tradekit does not trade (e.g. NSEIX), ``duplicates``
    rows whose exchange+symbol or token repeats an earlier row (the earlier one is kept).
    """

    label: str
    rows: list[tuple[str, ...]]
    row_numbers: list[int]
    problems: list[str]
    total: int = 0
    bad: int = 0
    unsupported: int = 0
    duplicates: int = 0

    @property
    def bad_fraction(self) -> float:
        judged = self.total - self.unsupported
        return (self.bad + self.duplicates) / judged if judged > 0 else 0.0

    def by_exchange(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r[11]] = out.get(r[11], 0) + 1
        return dict(sorted(out.items()))

    def refuse_if_mostly_bad(self, max_bad_fraction: float = 0.5) -> None:
        """Raise :class:`DataError` for an empty dump or one with too many bad rows."""
        if not self.rows:
            first = f"; first problem: {self.problems[0]}" if self.problems else ""
            raise DataError(f"{self.label}: the instrument dump has no usable rows ({self.total} rows){first}")
        if self.bad_fraction > max_bad_fraction:
            raise DataError(
                f"{self.label}: refused: {self.bad + self.duplicates} of {self.total - self.unsupported} rows are bad "
                f"(more than {max_bad_fraction:.0%}); first problem: {self.problems[0]}"
            )


_EXCHANGES = {e.value for e in Exchange}
_SEGMENTS = {s.value for s in Segment}
_TYPES = {t.value for t in InstrumentType}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _is_num(s: str) -> bool:
    if not s:
        return True
    try:
        f = float(s)
    except ValueError:
        return False
    return f == f and f not in (float("inf"), float("-inf"))


def check_dump(source: str | bytes | Path) -> DumpCheck:
    """Read and check an instruments dump: columns, types, duplicates, every row.

    Empty numeric fields are allowed (Kite's own sample rows have them; see the module
    docstring); a malformed value, an unknown segment or instrument type, a missing token or
    symbol, or a repeated exchange+symbol or token makes a problem naming the row, the symbol
    and the column. Raises :class:`DataError` when the header lacks a column.
    """
    text, label = _read_text(source)
    lines = (ln for ln in io.StringIO(text) if ln.strip() and not ln.lstrip().startswith("#"))
    reader = csv.reader(lines)
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DataError(f"{label}: not a Kite instruments dump: missing column(s) {', '.join(missing)}")
    idx = [header.index(c) for c in COLUMNS]
    width = len(header)
    out = DumpCheck(label=label, rows=[], row_numbers=[], problems=[])
    seen_key: dict[tuple[str, str], int] = {}
    seen_tok: dict[str, int] = {}
    rows, numbers, problems = out.rows, out.row_numbers, out.problems
    n = 1
    for raw in reader:
        n += 1
        out.total += 1
        if len(raw) != width:
            out.bad += 1
            problems.append(f"{label}: row {n}: {len(raw)} fields, the header has {width}")
            continue
        r = tuple(raw[i].strip() for i in idx)
        if any("\n" in v or "\x1f" in v or "\r" in v for v in r):
            out.bad += 1
            problems.append(f"{label}: row {n}: a field holds a line break or a control character")
            continue
        tok, _, sym, _, lp, exp, strike, tick, lot, itype, seg, ex = r
        where = f"{label}: row {n} ({ex}:{sym})"
        if ex.upper() not in _EXCHANGES:
            out.unsupported += 1
            problems.append(f"{where}: skipped: exchange/segment/instrument_type {ex!r}/{seg!r}/{itype!r} not supported")
            continue
        why = None
        if not tok.isdigit() or int(tok) <= 0:
            why = f"instrument_token {tok!r} is not a positive whole number"
        elif not sym:
            why = "tradingsymbol is empty"
        elif seg.upper() not in _SEGMENTS:
            why = f"segment {seg!r} is not a Kite segment"
        elif itype.upper() not in _TYPES:
            why = f"instrument_type {itype!r} is not EQ, FUT, CE or PE"
        else:
            for col, v in (("last_price", lp), ("strike", strike), ("tick_size", tick)):
                if not _is_num(v):
                    why = f"{col} {v!r} is not a number"
                    break
            if why is None and lot and not (lot.isdigit() or (_is_num(lot) and float(lot).is_integer())):
                why = f"lot_size {lot!r} is not a whole number"
        if why is not None:
            out.bad += 1
            problems.append(f"{where}: skipped: {why}" if "instrument_token" not in why and "tradingsymbol" not in why
                            else f"{where}: skipped: no instrument_token or tradingsymbol ({why})")
            continue
        if exp and not _DATE.match(exp):
            problems.append(f"{where}: expiry {exp!r} is not a date; left empty")
        key = (ex.upper(), sym.upper())
        if key in seen_key or tok in seen_tok:
            out.duplicates += 1
            first = seen_key.get(key) or seen_tok.get(tok)
            what = "exchange+tradingsymbol" if key in seen_key else "instrument_token"
            problems.append(f"{where}: skipped: duplicate {what} (first in row {first})")
            continue
        seen_key[key] = n
        seen_tok[tok] = n
        rows.append(r)
        numbers.append(n)
    return out


class _Converter:
    """Checked dump rows to :class:`Instrument` (on demand: a 100k-row master builds only what it is asked)."""

    def __init__(self, label: str, origin: str, as_of: date | None):
        self.label, self.origin, self.as_of = label, origin, as_of
        self.currency_mult, self.mcx_mult = _multipliers()
        self.freezes: dict[tuple[Exchange, str], int | None] = {}
        self.problems: list[str] = []

    def __call__(self, r: tuple[str, ...], n: int | None = None) -> Instrument | None:
        tok, etok, sym, name, lp, exp, strike_s, tick_s, lot_s, itype_s, seg_s, ex_s = r
        exchange = Exchange(ex_s.upper())
        segment = Segment(seg_s.upper())
        itype = InstrumentType(itype_s.upper())
        expiry = None
        if exp:
            try:
                expiry = date.fromisoformat(exp[:10])
            except ValueError:
                expiry = None
        tick = _dec(tick_s)
        if tick is None or tick < 0:
            tick = ZERO
        lot = _int(lot_s)
        if lot is None or lot < 0:
            lot = 1 if itype is InstrumentType.EQ and segment is not Segment.INDICES else 0
        strike = _dec(strike_s)
        derivative = itype is not InstrumentType.EQ
        underlying = name or None
        if derivative and underlying is None and (m := _MONTHLY.match(sym)):
            underlying = m.group(1)  # old dumps leave `name` empty on derivatives
        multiplier = 1
        meta: dict = {"source": self.origin, "last_price": _dec(lp) or ZERO}
        if self.as_of is not None:
            meta["as_of"] = self.as_of
        if exchange in (Exchange.CDS, Exchange.BCD):
            multiplier = self.currency_mult
        elif exchange is Exchange.MCX:
            multiplier = self.mcx_mult.get((underlying or "").upper(), 1)
            if (underlying or "").upper() not in self.mcx_mult:
                meta["multiplier_unknown"] = True
        freeze = None
        if derivative and self.as_of is not None and exchange in (Exchange.NFO, Exchange.BFO) and underlying:
            fkey = (exchange, underlying.upper())
            if fkey not in self.freezes:
                try:
                    self.freezes[fkey] = freeze_quantity(underlying, self.as_of, exchange=exchange)
                except DataError:
                    self.freezes[fkey] = None
            freeze = self.freezes[fkey]
        return Instrument(
            exchange=exchange,
            tradingsymbol=sym,
            instrument_token=int(tok),
            tick_size=tick,
            lot_size=lot,
            segment=segment,
            instrument_type=itype,
            name=name,
            exchange_token=_int(etok) or 0,
            expiry=expiry,
            strike=strike if itype in (InstrumentType.CE, InstrumentType.PE) else None,
            underlying=underlying if derivative else None,
            multiplier=multiplier,
            freeze_quantity=freeze,
            meta=meta,
        )


def instrument_cache_dir(data_dir: str | Path, config: MarketConfig | None = None) -> Path:
    """Where the day's dump is cached: ``config.instrument_cache_dir`` or ``<data_dir>/cache/instruments``."""
    if config is not None and config.instrument_cache_dir is not None:
        return Path(config.instrument_cache_dir).expanduser()
    return Path(data_dir) / "cache" / "instruments"


class InstrumentStore:
    """Instruments by ``EXCHANGE:TRADINGSYMBOL`` and by ``instrument_token``.

    Examples
    --------
    >>> store = InstrumentStore.bundled()
    >>> store.get("NSE", "RELIANCE").instrument_token
    738561
    """

    def __init__(
        self, instruments: Iterable[Instrument] = (), *, as_of: date | None = None, label: str = ""
    ):
        self.as_of = as_of
        self.label = label
        self.problems: list[str] = []
        self._by_key: dict[tuple[Exchange, str], Instrument] = {}
        self._by_token: dict[int, Instrument] = {}
        # rows of a checked dump not built into Instruments yet (a full master is ~100k rows;
        # a session asks for a handful): key -> row, token -> key
        self._raw: dict[tuple[Exchange, str], tuple[str, ...]] = {}
        self._raw_tok: dict[int, tuple[Exchange, str]] | None = None  # built when a token is first looked up
        self._conv: _Converter | None = None
        self.add(instruments)

    @classmethod
    def from_rows(
        cls, rows: Iterable[tuple[str, ...]], *, as_of: date | None = None, origin: str = "dump", label: str = ""
    ) -> InstrumentStore:
        """A master over rows :func:`check_dump` accepted; each Instrument is built when first asked for."""
        store = cls(as_of=as_of, label=label or origin)
        store._conv = _Converter(label or origin, origin, as_of)
        ex_of = {e.value: e for e in Exchange}
        store._raw = {(ex_of[r[11].upper()], r[2].upper()): r for r in rows}
        return store

    def _build(self, key: tuple[Exchange, str]) -> Instrument | None:
        r = self._raw.pop(key, None)
        if r is None:
            return None
        if self._raw_tok is not None:
            self._raw_tok.pop(int(r[0]), None)
        assert self._conv is not None
        inst = self._conv(r)
        self._by_key[key] = inst
        self._by_token.setdefault(inst.instrument_token, inst)
        return inst

    def _token_index(self) -> dict[int, tuple[Exchange, str]]:
        if self._raw_tok is None:
            self._raw_tok = {int(r[0]): k for k, r in self._raw.items()}
        return self._raw_tok

    def _build_all(self) -> None:
        for key in list(self._raw):
            self._build(key)

    # -- building

    def add(self, instruments: Iterable[Instrument]) -> None:
        """Add or replace instruments (a later one with the same key wins)."""
        for inst in instruments:
            key = (inst.exchange, inst.tradingsymbol.upper())
            if self._raw:
                r = self._raw.pop(key, None)
                tok_index = self._token_index()
                if r is not None:
                    tok_index.pop(int(r[0]), None)
                rk = tok_index.pop(inst.instrument_token, None)
                if rk is not None:
                    self._raw.pop(rk, None)
            old = self._by_key.get(key)
            if old is not None and self._by_token.get(old.instrument_token) is old:
                del self._by_token[old.instrument_token]
            self._by_key[key] = inst
            self._by_token[inst.instrument_token] = inst

    @classmethod
    def load_csv(
        cls, source: str | bytes | Path, *, as_of: date | None = None, origin: str = "dump"
    ) -> InstrumentStore:
        """Load a Kite instruments dump (path, text or bytes; gzip is detected).

        The rows are checked (:func:`check_dump`; what was skipped is in :attr:`problems`) and
        each :class:`Instrument` is built when first asked for.
        """
        check = check_dump(source)
        store = cls.from_rows(check.rows, as_of=as_of, origin=origin,
                              label=str(source) if isinstance(source, Path) else origin)
        store.problems = check.problems
        store.check = check
        return store

    @classmethod
    def bundled(cls, *, include_nfo_sample: bool = False) -> InstrumentStore:
        """tradekit's own master for the bundled sample data (26 NSE stocks, NIFTY 50, NIFTY BANK).

        Its equities are rule-based: :func:`tradekit.market.rules.tick_size_for` applies the
        dated NSE tick table to them. ``include_nfo_sample`` adds the bundled rows of the real
        Kite dump of 2026-08-18 (all NFO futures, near NIFTY and BANKNIFTY options).
        """
        instruments, problems = parse_instruments(
            data_path("instruments_bundled.csv"), origin="bundled"
        )
        instruments = [
            Instrument(
                **{
                    **{f: getattr(i, f) for f in i.__dataclass_fields__},
                    "meta": {**i.meta, "tick_rule": "nse-equity"},
                }
            )
            if i.exchange is Exchange.NSE
            and i.instrument_type is InstrumentType.EQ
            and not i.is_index
            else i
            for i in instruments
        ]
        store = cls(instruments, label="bundled")
        store.problems = problems
        if include_nfo_sample:
            nfo, more = parse_instruments(_SAMPLE_NFO, origin="dump", as_of=date(2026, 8, 18))
            store.add(nfo)
            store.problems += more
        return store

    # -- the day's dump on disk

    @staticmethod
    def cache_path(cache_dir: str | Path, day: date) -> Path:
        """Where the dump of ``day`` is cached: ``<cache_dir>/instruments_<YYYY-MM-DD>.csv.gz``."""
        return Path(cache_dir) / f"instruments_{day.isoformat()}.csv.gz"

    @classmethod
    def save_dump(cls, data: str | bytes, cache_dir: str | Path, day: date) -> Path:
        """Write a dump to the cache (gzip, atomically); return its path."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if raw[:2] != b"\x1f\x8b":
            raw = gzip.compress(raw, mtime=0)
        path = cls.cache_path(cache_dir, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".instruments_", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def from_cache(cls, cache_dir: str | Path, day: date) -> InstrumentStore | None:
        """The cached dump of ``day``, or None when there is none."""
        path = cls.cache_path(cache_dir, day)
        if not path.exists():
            return None
        store = cls.load_csv(path, as_of=day)
        store.label = str(path)
        return store

    @classmethod
    def cached_or_fetch(
        cls, cache_dir: str | Path, day: date, fetch: Callable[[], str | bytes]
    ) -> InstrumentStore:
        """The dump of ``day`` from the cache, or from ``fetch()`` (then cached).

        ``fetch`` returns the CSV the broker serves (e.g. the Kite adapter's raw
        ``/instruments`` response); it is called only on a cache miss.
        """
        hit = cls.from_cache(cache_dir, day)
        if hit is not None:
            return hit
        data = fetch()
        if not data:
            raise DataError(f"the instrument dump fetched for {day} is empty")
        check_dump(data).refuse_if_mostly_bad()  # refuse to cache something that is not a dump, or mostly bad rows
        cls.save_dump(data, cache_dir, day)
        hit = cls.from_cache(cache_dir, day)
        assert hit is not None
        return hit

    # -- lookups

    def _where(self) -> str:
        return f"the instrument master ({self.label or 'unnamed'}{', ' + self.as_of.isoformat() if self.as_of else ''})"

    def find(self, exchange: Exchange | str, tradingsymbol: str | None = None) -> Instrument | None:
        """The instrument or None; ``find("NSE:INFY")`` works too."""
        ex, sym = self._split(exchange, tradingsymbol)
        key = (ex, sym.upper())
        return self._by_key.get(key) or (self._build(key) if self._raw else None)

    def get(self, exchange: Exchange | str, tradingsymbol: str | None = None) -> Instrument:
        """The instrument for ``exchange`` + ``tradingsymbol`` (or ``"NSE:INFY"``).

        Raises
        ------
        MarketRuleError
            The symbol is not in the master.
        """
        if exchange.__class__ is Exchange and tradingsymbol is not None:  # what _split gives for a member and a
            ex, sym = exchange, tradingsymbol.strip()  # symbol (Exchange.parse of a member is the member): every order
        else:
            ex, sym = self._split(exchange, tradingsymbol)
        key = (ex, sym.upper())
        inst = self._by_key.get(key) or (self._build(key) if self._raw else None)
        if inst is None:
            raise MarketRuleError(f"{ex}:{sym}: unknown instrument: not in {self._where()}")
        return inst

    def by_token(self, token: int) -> Instrument:
        """The instrument with ``instrument_token``.

        Raises
        ------
        MarketRuleError
            No instrument has that token.
        """
        inst = self._by_token.get(int(token))
        if inst is None and self._raw and int(token) in self._token_index():
            inst = self._build(self._token_index()[int(token)])
        if inst is None:
            raise MarketRuleError(
                f"instrument_token {token}: unknown instrument: not in {self._where()}"
            )
        return inst

    @staticmethod
    def _split(exchange: Exchange | str, tradingsymbol: str | None) -> tuple[Exchange, str]:
        if tradingsymbol is None:
            if not isinstance(exchange, str) or ":" not in exchange:
                raise MarketRuleError(
                    f"{exchange!r}: give EXCHANGE:TRADINGSYMBOL or both parts", field="instrument"
                )
            exchange, tradingsymbol = exchange.split(":", 1)
        try:
            ex = Exchange.parse(exchange, "exchange")
        except ValidationError as e:
            raise MarketRuleError(
                f"{exchange}:{tradingsymbol}: unknown exchange ({e.reason})", field="exchange"
            ) from None
        return ex, tradingsymbol.strip()

    def search(
        self,
        *,
        exchange: Exchange | str | None = None,
        underlying: str | None = None,
        instrument_type: InstrumentType | str | None = None,
        expiry: date | None = None,
    ) -> list[Instrument]:
        """Instruments matching every filter given, sorted by expiry, strike, symbol."""
        ex = Exchange.parse(exchange, "exchange") if exchange is not None else None
        it = (
            InstrumentType.parse(instrument_type, "instrument_type")
            if instrument_type is not None
            else None
        )
        u = underlying.upper() if underlying else None
        self._build_all()
        out = [
            i
            for i in self._by_key.values()
            if (ex is None or i.exchange is ex)
            and (u is None or (i.underlying or "").upper() == u)
            and (it is None or i.instrument_type is it)
            and (expiry is None or i.expiry == expiry)
        ]
        return sorted(out, key=lambda i: (i.expiry or date.min, i.strike or ZERO, i.tradingsymbol))

    def futures_expiries(
        self, underlying: str, exchange: Exchange | str = Exchange.NFO
    ) -> list[date]:
        """Expiry dates of the futures on ``underlying`` (for the F&O pre-open rule)."""
        return sorted(
            {
                i.expiry
                for i in self.search(
                    exchange=exchange, underlying=underlying, instrument_type="FUT"
                )
                if i.expiry
            }
        )

    def __len__(self) -> int:
        return len(self._by_key) + len(self._raw)

    def __iter__(self) -> Iterator[Instrument]:
        self._build_all()
        return iter(list(self._by_key.values()))

    def keys(self) -> list[str]:
        """Every ``EXCHANGE:TRADINGSYMBOL`` (without building the instruments)."""
        return [f"{e.value}:{i.tradingsymbol}" for (e, _), i in self._by_key.items()] + [
            f"{e.value}:{r[2]}" for (e, _), r in self._raw.items()
        ]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, Instrument):
            return self.find(key.exchange, key.tradingsymbol) == key
        if isinstance(key, str) and ":" in key:
            try:
                return self.find(key) is not None
            except MarketRuleError:
                return False
        return False

    def __repr__(self) -> str:
        return f"InstrumentStore({len(self)} instruments, {self.label or 'unnamed'})"
