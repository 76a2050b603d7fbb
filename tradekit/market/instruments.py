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
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
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
    text, label = _read_text(source)
    lines = (ln for ln in io.StringIO(text) if not ln.lstrip().startswith("#"))
    reader = csv.DictReader(lines)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(
            f"{label}: not a Kite instruments dump: missing column(s) {', '.join(missing)}"
        )
    currency_mult, mcx_mult = _multipliers()
    out: list[Instrument] = []
    problems: list[str] = []
    freezes: dict[tuple[Exchange, str], int | None] = {}
    for n, row in enumerate(reader, start=2):
        row = {k: (v or "").strip() for k, v in row.items() if k is not None}
        where = f"{label}: row {n} ({row.get('exchange', '')}:{row.get('tradingsymbol', '')})"
        try:
            exchange = Exchange(row["exchange"].upper())
            segment = Segment(row["segment"].upper())
            itype = InstrumentType(row["instrument_type"].upper())
        except ValueError:
            problems.append(
                f"{where}: skipped: exchange/segment/instrument_type {row['exchange']!r}/{row['segment']!r}/{row['instrument_type']!r} not supported"
            )
            continue
        token = _int(row["instrument_token"])
        if token is None or token <= 0 or not row["tradingsymbol"]:
            problems.append(f"{where}: skipped: no instrument_token or tradingsymbol")
            continue
        expiry = None
        if row["expiry"]:
            try:
                expiry = date.fromisoformat(row["expiry"][:10])
            except ValueError:
                problems.append(f"{where}: expiry {row['expiry']!r} is not a date; left empty")
        tick = _dec(row["tick_size"])
        if tick is None or tick < 0:
            tick = ZERO
        lot = _int(row["lot_size"])
        if lot is None or lot < 0:
            lot = 1 if itype is InstrumentType.EQ and segment is not Segment.INDICES else 0
        strike = _dec(row["strike"])
        derivative = itype is not InstrumentType.EQ
        underlying = row["name"] or None
        if derivative and underlying is None and (m := _MONTHLY.match(row["tradingsymbol"])):
            underlying = m.group(1)  # old dumps leave `name` empty on derivatives
        multiplier = 1
        meta: dict = {"source": origin, "last_price": _dec(row["last_price"]) or ZERO}
        if as_of is not None:
            meta["as_of"] = as_of
        if exchange in (Exchange.CDS, Exchange.BCD):
            multiplier = currency_mult
        elif exchange is Exchange.MCX:
            multiplier = mcx_mult.get((underlying or "").upper(), 1)
            if (underlying or "").upper() not in mcx_mult:
                meta["multiplier_unknown"] = True
        freeze = None
        if (
            derivative
            and as_of is not None
            and exchange in (Exchange.NFO, Exchange.BFO)
            and underlying
        ):
            fkey = (exchange, underlying.upper())
            if fkey not in freezes:
                try:
                    freezes[fkey] = freeze_quantity(underlying, as_of, exchange=exchange)
                except DataError:
                    freezes[fkey] = None
            freeze = freezes[fkey]
        out.append(
            Instrument(
                exchange=exchange,
                tradingsymbol=row["tradingsymbol"],
                instrument_token=token,
                tick_size=tick,
                lot_size=lot,
                segment=segment,
                instrument_type=itype,
                name=row["name"],
                exchange_token=_int(row["exchange_token"]) or 0,
                expiry=expiry,
                strike=strike if itype in (InstrumentType.CE, InstrumentType.PE) else None,
                underlying=underlying if derivative else None,
                multiplier=multiplier,
                freeze_quantity=freeze,
                meta=meta,
            )
        )
    return out, problems


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
        self.add(instruments)

    # -- building

    def add(self, instruments: Iterable[Instrument]) -> None:
        """Add or replace instruments (a later one with the same key wins)."""
        for inst in instruments:
            key = (inst.exchange, inst.tradingsymbol.upper())
            old = self._by_key.get(key)
            if old is not None and self._by_token.get(old.instrument_token) is old:
                del self._by_token[old.instrument_token]
            self._by_key[key] = inst
            self._by_token[inst.instrument_token] = inst

    @classmethod
    def load_csv(
        cls, source: str | bytes | Path, *, as_of: date | None = None, origin: str = "dump"
    ) -> InstrumentStore:
        """Load a Kite instruments dump (path, text or bytes; gzip is detected)."""
        instruments, problems = parse_instruments(source, origin=origin, as_of=as_of)
        store = cls(
            instruments, as_of=as_of, label=str(source) if isinstance(source, Path) else origin
        )
        store.problems = problems
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
        parse_instruments(data)  # refuse to cache something that is not a dump
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
        return self._by_key.get((ex, sym.upper()))

    def get(self, exchange: Exchange | str, tradingsymbol: str | None = None) -> Instrument:
        """The instrument for ``exchange`` + ``tradingsymbol`` (or ``"NSE:INFY"``).

        Raises
        ------
        MarketRuleError
            The symbol is not in the master.
        """
        ex, sym = self._split(exchange, tradingsymbol)
        inst = self._by_key.get((ex, sym.upper()))
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
        return len(self._by_key)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_key.values())

    def __contains__(self, key: object) -> bool:
        if isinstance(key, Instrument):
            return self._by_key.get((key.exchange, key.tradingsymbol.upper())) == key
        if isinstance(key, str) and ":" in key:
            try:
                return self.find(key) is not None
            except MarketRuleError:
                return False
        return False

    def __repr__(self) -> str:
        return f"InstrumentStore({len(self)} instruments, {self.label or 'unnamed'})"
