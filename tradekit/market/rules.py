"""Exchange rules per instrument: tick, lot, price band, freeze quantity.

The check helpers are what the risk gate calls. Each raises a
:class:`~tradekit.errors.MarketRuleError` naming the instrument and the rule, e.g.
``NSE:RELIANCE: price 2450.03 is not a multiple of the tick size 0.10``. Nothing here
rounds a user's price silently: :func:`round_to_tick` is a separate, explicit step.

Sources: ticks india.md §4 (``data/tick_sizes.yaml``), bands §5, lots §6.2
(``data/nse_fo_lot_sizes_2026-08-18.csv``), freeze quantities §6.3
(``data/freeze_limits.yaml``).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import lru_cache

from tradekit.errors import DataError, MarketRuleError
from tradekit.market._tables import load_csv_rows, load_yaml, parse_date
from tradekit.market.config import MarketConfig
from tradekit.model.enums import Exchange, InstrumentType, Side
from tradekit.model.instrument import Instrument
from tradekit.model.money import ZERO, dec


def _fmt_tick(t: Decimal) -> str:
    return f"{t:.2f}" if t == t.quantize(Decimal("0.01")) else f"{t.normalize():f}"


def _fmt(p: Decimal) -> str:
    return f"{p:f}"


# -- tick size -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _tick_regimes() -> list[tuple[date, list[tuple[Decimal | None, Decimal, bool]]]]:
    out = []
    for i, r in enumerate(load_yaml("tick_sizes.yaml")["nse_equity"]):
        slabs = [
            (None if up is None else Decimal(str(up)), Decimal(str(t)), bool(inc))
            for up, t, inc in r["slabs"]
        ]
        out.append((parse_date(r["from"], f"tick_sizes.yaml:nse_equity[{i}]"), slabs))
    return sorted(out, key=lambda x: x[0])


def _tick_regime(on_date: date) -> list[tuple[Decimal | None, Decimal, bool]]:
    regimes = _tick_regimes()
    i = bisect.bisect_right([r[0] for r in regimes], on_date) - 1
    if i < 0:
        raise DataError(f"NSE equity tick sizes: {on_date} is before the table ({regimes[0][0]})")
    return regimes[i][1]


def nse_equity_tick(reference_price: Decimal | float | str, on_date: date) -> Decimal:
    """NSE's equity tick for a stock whose reference price is ``reference_price`` on ``on_date``.

    The reference price is the close on the last trading day of the previous month
    (:func:`reference_price`); tables from ``data/tick_sizes.yaml``.
    """
    ref = dec(reference_price, "reference_price")
    for upper, tick, inclusive in _tick_regime(on_date):
        if upper is None or ref < upper or (inclusive and ref == upper):
            return tick
    raise DataError(f"NSE equity tick sizes: no slab for {ref} on {on_date}")  # pragma: no cover


def reference_price(closes: Mapping[date, object], on_date: date) -> Decimal:
    """The close on the last trading day of the month before ``on_date`` (NSE's tick reference).

    ``closes`` maps session dates to closing prices (a dict, or a pandas Series indexed by date).
    """
    first = on_date.replace(day=1)
    prior = [d for d in closes.keys() if _as_date(d) < first]  # noqa: SIM118 (a Series iterates values)
    if not prior:
        raise DataError(f"no close before {first} to take the tick reference price from")
    last = max(prior, key=_as_date)
    return dec(closes[last], "close")


def _as_date(d: object) -> date:
    return d.date() if hasattr(d, "date") and callable(d.date) else d  # type: ignore[return-value]


def tick_size_for(
    instrument: Instrument,
    price: Decimal | float | str | None = None,
    on_date: date | None = None,
    *,
    reference_price: Decimal | float | str | None = None,
) -> Decimal:
    """The tick size of ``instrument``.

    The day's dump value wins (india.md §4.2: "take tick_size from the day's dump").
    For rule-based rows (the bundled master) and rows without a tick, NSE equities use the
    dated table: 0.05 until 2024-06-09, 0.01 below ₹250 from 2024-06-10, the six-slab table
    from 2025-04-15, keyed on ``reference_price`` (the previous month-end close). Without a
    reference price, ``price`` stands in for it.

    Raises
    ------
    MarketRuleError
        No tick size is known for the instrument.
    """
    rule_based = instrument.meta.get("tick_rule") == "nse-equity" or instrument.tick_size <= 0
    if not rule_based:
        return instrument.tick_size
    if (
        instrument.exchange is Exchange.NSE
        and instrument.instrument_type is InstrumentType.EQ
        and not instrument.is_index
    ):
        if on_date is None:
            if instrument.tick_size > 0:
                return instrument.tick_size
            raise MarketRuleError(
                f"{instrument.key}: tick size unknown: give the trade date (and reference price)"
            )
        ref = reference_price if reference_price is not None else price
        if ref is None:
            if len(_tick_regime(on_date)) > 1:
                raise MarketRuleError(
                    f"{instrument.key}: the tick size on {on_date} depends on the reference price "
                    "(previous month-end close): pass reference_price or price"
                )
            ref = Decimal(0)
        return nse_equity_tick(ref, on_date)
    if instrument.tick_size > 0:
        return instrument.tick_size
    raise MarketRuleError(f"{instrument.key}: tick size unknown (the instrument dump has none)")


def is_tick_multiple(price: Decimal, tick: Decimal) -> bool:
    return tick > 0 and price % tick == 0


def check_tick(
    instrument: Instrument,
    price: Decimal | float | str,
    *,
    tick: Decimal | None = None,
    on_date: date | None = None,
    reference_price: Decimal | float | str | None = None,
) -> Decimal:
    """Return ``price`` as a Decimal if it is a positive multiple of the tick size.

    Raises
    ------
    MarketRuleError
        ``NSE:RELIANCE: price 2450.03 is not a multiple of the tick size 0.10``.
    """
    p = dec(price, "price")
    if p <= 0:
        raise MarketRuleError(f"{instrument.key}: price {_fmt(p)} is not positive", field="price")
    t = (
        dec(tick, "tick")
        if tick is not None
        else tick_size_for(instrument, p, on_date, reference_price=reference_price)
    )
    if not is_tick_multiple(p, t):
        raise MarketRuleError(
            f"{instrument.key}: price {_fmt(p)} is not a multiple of the tick size {_fmt_tick(t)}"
        )
    return p


def round_to_tick(
    price: Decimal | float | str, tick: Decimal | float | str, direction: Side | str | None = None
) -> Decimal:
    """Round ``price`` to a multiple of ``tick`` (an explicit step, never done silently).

    ``direction``: ``"down"`` or BUY (never pay more than asked), ``"up"`` or SELL (never
    sell for less), None or ``"nearest"`` (half up).
    """
    p, t = dec(price, "price"), dec(tick, "tick")
    if t <= 0:
        raise MarketRuleError(f"tick size {t} is not positive", field="tick")
    if direction is None or direction == "nearest":
        mode = ROUND_HALF_UP
    elif direction in (Side.BUY, "down") or (
        isinstance(direction, str) and direction.upper() == "BUY"
    ):
        mode = ROUND_FLOOR
    elif direction in (Side.SELL, "up") or (
        isinstance(direction, str) and direction.upper() == "SELL"
    ):
        mode = ROUND_CEILING
    else:
        raise MarketRuleError(
            f"{direction!r} is not a rounding direction (BUY/down, SELL/up, nearest)",
            field="direction",
        )
    steps = (p / t).to_integral_value(rounding=mode)
    return (steps * t).quantize(t) if t.as_tuple().exponent < 0 else steps * t


# -- lot size --------------------------------------------------------------------------------


def check_lot(instrument: Instrument, quantity: int) -> int:
    """Return ``quantity`` if it is a positive multiple of the instrument's lot size.

    Raises
    ------
    MarketRuleError
        ``NFO:NIFTY26AUGFUT: quantity 100 is not a multiple of the lot size 65``.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise MarketRuleError(
            f"{instrument.key}: quantity {quantity!r} is not a whole number", field="quantity"
        )
    if quantity <= 0:
        raise MarketRuleError(
            f"{instrument.key}: quantity {quantity} is not positive", field="quantity"
        )
    if instrument.is_index:
        raise MarketRuleError(f"{instrument.key}: an index is not traded")
    lot = instrument.lot_size
    if lot <= 0:
        raise MarketRuleError(f"{instrument.key}: lot size unknown (the instrument dump has none)")
    if quantity % lot:
        near = [x for x in (quantity // lot * lot, (quantity // lot + 1) * lot) if x > 0]
        raise MarketRuleError(
            f"{instrument.key}: quantity {quantity} is not a multiple of the lot size {lot}"
            f" (nearest: {' or '.join(map(str, near))})"
        )
    return quantity


@lru_cache(maxsize=1)
def _lot_table() -> dict[str, int]:
    return {
        r["underlying"].strip().upper(): int(r["lot_size"])
        for r in load_csv_rows("nse_fo_lot_sizes_2026-08-18.csv")
    }


LOT_TABLE_DATE = date(2026, 8, 18)


def lot_size_for(underlying: str) -> int:
    """NSE F&O lot size of ``underlying`` in the bundled dump of 2026-08-18 (e.g. NIFTY 65).

    A lot belongs to a contract: prefer the ``lot_size`` of the day's dump row.

    Raises
    ------
    MarketRuleError
        ``underlying`` had no F&O contracts on 2026-08-18.
    """
    lot = _lot_table().get(underlying.strip().upper())
    if lot is None:
        raise MarketRuleError(
            f"NFO:{underlying}: no F&O lot size in the table of {LOT_TABLE_DATE} (not an F&O underlying then)"
        )
    return lot


# -- price band ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceBand:
    """The prices an exchange accepts for an instrument right now (inclusive)."""

    lower: Decimal
    upper: Decimal
    source: str = ""

    def check(
        self, price: Decimal | float | str, instrument: Instrument | str | None = None
    ) -> Decimal:
        return check_band(price, self.lower, self.upper, instrument=instrument)


def check_band(
    price: Decimal | float | str,
    lower: Decimal | float | str | None,
    upper: Decimal | float | str | None,
    *,
    instrument: Instrument | str | None = None,
) -> Decimal:
    """Return ``price`` if ``lower <= price <= upper`` (a None bound is open).

    Raises
    ------
    MarketRuleError
        ``NSE:INFY: price 1600.00 is outside the price band 1250.70-1528.60``.
    """
    p = dec(price, "price")
    lo = dec(lower, "lower") if lower is not None else None
    hi = dec(upper, "upper") if upper is not None else None
    if (lo is not None and p < lo) or (hi is not None and p > hi):
        name = instrument.key if isinstance(instrument, Instrument) else (instrument or "price")
        band = f"{_fmt(lo) if lo is not None else '-'}-{_fmt(hi) if hi is not None else '-'}"
        raise MarketRuleError(f"{name}: price {_fmt(p)} is outside the price band {band}")
    return p


def price_band(
    instrument: Instrument,
    *,
    quote: Mapping | None = None,
    base_price: Decimal | float | str | None = None,
    config: MarketConfig | None = None,
    cap_pct: Decimal | float | str | None = None,
    tick: Decimal | None = None,
) -> PriceBand:
    """The price band of ``instrument``: from the config, else from a Kite quote.

    Parameters
    ----------
    quote
        A Kite quote (``lower_circuit_limit``/``upper_circuit_limit``: the current band).
    base_price
        The base (previous close / reference) for a percentage band and for ``cap_pct``.
    config
        ``market.price_bands["EXCHANGE:SYMBOL"]``: absolute ``lower``/``upper`` or ``pct``.
    cap_pct
        A cap on top (5 % on DR-test days, :attr:`SpecialSession.band_cap_pct`).
    tick
        For percentage bands: the lower bound is rounded up and the upper down to it.

    Raises
    ------
    MarketRuleError
        No band is known.
    """
    key = instrument.key.upper()
    cfg = config.price_bands.get(key) if config is not None else None
    base = dec(base_price, "base_price") if base_price is not None else None
    t = tick if tick is not None else (instrument.tick_size if instrument.tick_size > 0 else None)

    def pct_band(pct: Decimal, why: str) -> PriceBand:
        if base is None:
            raise MarketRuleError(
                f"{instrument.key}: a {pct}% band needs the base price (previous close)"
            )
        lo, hi = base * (1 - pct / 100), base * (1 + pct / 100)
        if t is not None:
            lo, hi = round_to_tick(lo, t, "up"), round_to_tick(hi, t, "down")
        return PriceBand(lo, hi, why)

    if cfg is not None and cfg.pct is not None:
        band = pct_band(cfg.pct, f"config: market.price_bands[{key}] ±{cfg.pct}%")
    elif cfg is not None:
        band = PriceBand(
            cfg.lower if cfg.lower is not None else ZERO,
            cfg.upper if cfg.upper is not None else Decimal("Infinity"),
            f"config: market.price_bands[{key}]",
        )
    elif quote and quote.get("lower_circuit_limit") and quote.get("upper_circuit_limit"):
        band = PriceBand(
            dec(quote["lower_circuit_limit"], "lower_circuit_limit"),
            dec(quote["upper_circuit_limit"], "upper_circuit_limit"),
            "quote",
        )
    else:
        raise MarketRuleError(
            f"{instrument.key}: no price band known: pass a quote or set market.price_bands in the config"
        )
    if cap_pct is not None:
        cap = pct_band(dec(cap_pct, "cap_pct"), f"cap ±{cap_pct}%")
        band = PriceBand(
            max(band.lower, cap.lower), min(band.upper, cap.upper), f"{band.source}; {cap.source}"
        )
    return band


# -- freeze quantity -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FreezeRow:
    effective: date
    source: str
    limits: dict[str, int | None]


@lru_cache(maxsize=1)
def _freeze_tables() -> dict:
    raw = load_yaml("freeze_limits.yaml")
    slabs = [(None if up is None else Decimal(str(up)), int(q)) for up, q in raw["slabs"]["rows"]]
    tables: dict[Exchange, list[_FreezeRow]] = {}
    for ex, name in ((Exchange.NFO, "nse_index"), (Exchange.BFO, "bse_index")):
        cols = raw[name]["columns"]
        rows = []
        for r in raw[name]["rows"]:
            rec = dict(zip(cols, r))
            rows.append(
                _FreezeRow(
                    parse_date(rec["effective"], f"freeze_limits.yaml:{name}"),
                    str(rec["circular"]),
                    {
                        k: (None if v is None else int(v))
                        for k, v in rec.items()
                        if k not in ("effective", "circular")
                    },
                )
            )
        tables[ex] = sorted(rows, key=lambda r: r.effective)
    sheets = []
    for s in raw.get("stock_sheets", []):
        limits = {
            r["symbol"].strip().upper(): int(r["freeze_qty"]) for r in load_csv_rows(s["file"])
        }
        sheets.append(
            (
                parse_date(s["valid_from"], "freeze_limits.yaml"),
                parse_date(s["valid_to"], "freeze_limits.yaml"),
                str(s["source"]),
                limits,
            )
        )
    return {"slabs": slabs, "tables": tables, "sheets": sheets}


def freeze_from_index_level(level: Decimal | float | str) -> int:
    """The freeze limit of an index whose level is ``level`` (NSE's index-level slabs)."""
    lv = dec(level, "index_level")
    for upper, qty in _freeze_tables()["slabs"]:
        if upper is None or lv <= upper:
            return qty
    raise DataError("freeze_limits.yaml: the slabs have no open top")  # pragma: no cover


def freeze_quantity(
    underlying: str,
    on_date: date,
    *,
    exchange: Exchange | str = Exchange.NFO,
    index_level: Decimal | float | str | None = None,
    config: MarketConfig | None = None,
) -> int:
    """The freeze limit (units per order) of ``underlying``'s derivatives on ``on_date``.

    Looks in, in order: dated limits in ``config.freeze_limits``; the bundled index table
    (NSE 2025-08 .. 2026-08, BSE SENSEX/BANKEX); NSE's 2023 stock sheet for 2023 dates;
    the index-level slabs when ``index_level`` is given.

    Raises
    ------
    DataError
        The limit for that date is not in the tables (e.g. 2025-10, or after 2026-08).
    """
    ex = Exchange.parse(exchange, "exchange")
    ex = {Exchange.NSE: Exchange.NFO, Exchange.BSE: Exchange.BFO}.get(ex, ex)
    u = underlying.strip().upper()
    if config is not None:
        rows = sorted(
            (r for r in config.freeze_limits if u in r.limits and r.effective <= on_date),
            key=lambda r: r.effective,
        )
        if rows:
            return rows[-1].limits[u]
    t = _freeze_tables()
    table = t["tables"].get(ex, [])
    if table and u in table[0].limits:
        i = bisect.bisect_right([r.effective for r in table], on_date) - 1
        if i >= 0 and table[i].limits.get(u) is not None:
            return int(table[i].limits[u])  # type: ignore[arg-type]
        if i >= 0 and (table[i].limits.get(u) is None) and index_level is None:
            raise DataError(
                f"{ex}:{u}: freeze limit for {on_date} is not in the tables ({table[i].source}); "
                "pass the index level to use NSE's slabs, or set market.freeze_limits in the config"
            )
    if ex is Exchange.NFO:
        for start, end, _src, limits in t["sheets"]:
            if start <= on_date <= end and u in limits:
                return limits[u]
    if index_level is not None:
        return freeze_from_index_level(index_level)
    raise DataError(
        f"{ex}:{u}: freeze limit for {on_date} is not in the tables; "
        "set market.freeze_limits in the config (NSE publishes them monthly)"
    )


def freeze_for(instrument: Instrument, on_date: date, **kwargs) -> int | None:
    """The freeze limit of a derivative (None for cash instruments, which have none here).

    The instrument's own ``freeze_quantity`` wins when set.
    """
    if instrument.freeze_quantity:
        return instrument.freeze_quantity
    if not instrument.is_derivative or instrument.exchange not in (Exchange.NFO, Exchange.BFO):
        return None
    return freeze_quantity(
        instrument.underlying or instrument.name, on_date, exchange=instrument.exchange, **kwargs
    )


def needs_slicing(quantity: int, freeze: int | None) -> bool:
    """True when ``quantity`` is above the freeze limit (equal is allowed)."""
    return freeze is not None and quantity > freeze


def max_order_quantity(freeze: int, lot: int = 1) -> int:
    """The largest lot multiple not above ``freeze`` (NIFTY: 1,800 / 65 → 1,755)."""
    if freeze <= 0 or lot <= 0:
        raise MarketRuleError(f"freeze limit {freeze} and lot size {lot} must be positive")
    largest = freeze // lot * lot
    if largest == 0:
        raise MarketRuleError(f"freeze limit {freeze} is below one lot of {lot}")
    return largest


def slice_quantity(
    quantity: int, freeze: int, lot: int = 1, *, max_slices: int | None = None
) -> list[int]:
    """Split ``quantity`` into orders of at most the largest lot multiple ≤ ``freeze``.

    Raises
    ------
    MarketRuleError
        ``quantity`` is not a lot multiple, or needs more than ``max_slices`` orders
        (Kite's autoslice makes at most 10).
    """
    if quantity <= 0:
        raise MarketRuleError(f"quantity {quantity} is not positive")
    if lot > 0 and quantity % lot:
        raise MarketRuleError(f"quantity {quantity} is not a multiple of the lot size {lot}")
    size = max_order_quantity(freeze, lot)
    full, rest = divmod(quantity, size)
    out = [size] * full + ([rest] if rest else [])
    if max_slices is not None and len(out) > max_slices:
        raise MarketRuleError(
            f"quantity {quantity} needs {len(out)} orders of at most {size} (freeze limit {freeze}); the limit is {max_slices}"
        )
    return out


def check_freeze(instrument: Instrument, quantity: int, freeze: int | None) -> int:
    """Return ``quantity`` if it is not above the freeze limit.

    Raises
    ------
    MarketRuleError
        ``NFO:NIFTY26AUGFUT: quantity 1820 is above the freeze limit 1800: needs slicing
        into orders of at most 1755``.
    """
    if needs_slicing(quantity, freeze):
        size = max_order_quantity(freeze, max(instrument.lot_size, 1))  # type: ignore[arg-type]
        raise MarketRuleError(
            f"{instrument.key}: quantity {quantity} is above the freeze limit {freeze}: "
            f"needs slicing into orders of at most {size}"
        )
    return quantity
