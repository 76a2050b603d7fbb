"""The option chain from the quotes a session recorded: the reader behind the chain dashboard page.

The dashboards hold no broker keys, so a page cannot ask Kite for quotes. It reads what the
trading session's market-data hub received instead: every tick the hub accepts goes to the tick
store (:mod:`tradekit.data.tickstore`; a live session and a paper session on live ticks record
everything, a paper session on recorded bars records its F&O contracts:
:func:`tradekit.marketdata.recording.record_paper_quotes`). For an underlying and an expiry this
module reads, with DuckDB over the day's Parquet files, the latest recorded quote of every CE/PE
contract of that expiry (the instrument master names them), of the future of that expiry and of
the underlying's spot, and hands them to :func:`tradekit.options.chain.option_chain` as its
``quotes``: the page's chain is computed by the same code as a notebook's (IV, Greeks, forward).

* **Latest quote** of a key: its last recorded row in the store's order (exchange time, else
  arrival, then arrival order) among the rows that carry a price (a finite positive LTP or a
  priced bid/ask level). A NaN or zero LTP on that row is passed on as no LTP (the chain shows
  "–" and solves the IV from the bid/ask mid when there is one).
* **Staleness**: readers see flushed ticks only, so a quote is at most ``tick_store.flush_seconds``
  (1 s by default) older than the hub's, plus the time since it last ticked. Each row of the
  chain carries its age (``ce_age_s``/``pe_age_s``): the reference time (the session's clock when
  a session is running, else now for today, else the day's last recorded quote) minus the quote's
  time (exchange time, else arrival).
* **OI change**: against the contract's last OI on the previous day the store holds ticks for
  (the latest recorded day before), when that day has one; else against the contract's first
  OI recorded that day. ``df.attrs["oi_change_basis"]`` counts which (Kite's quote carries no
  previous-day OI, so nothing else would give it).

Reads are cheap: one DuckDB scan of the day's files restricted to the chain's keys (the store's
compacted files are sorted by key, so their row groups' statistics skip the other instruments);
a store being written is read as it stands (a compaction that commits meanwhile is retried, as
:meth:`TickStore.query` does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from tradekit.clock import IST
from tradekit.data.types import DepthLevel, Tick
from tradekit.errors import DataError, ValidationError
from tradekit.options.chain import expiries as _master_expiries, option_chain, spot_key

__all__ = ["RecordedQuotes", "read_quotes", "read_option_quotes", "option_underlyings", "option_days",
           "recorded_chain", "chain_master", "OPTION_EXCHANGES"]

OPTION_EXCHANGES = ("NFO", "BFO")
_PLAIN = ("last_price", "instrument_token", "mode", "tradable", "last_quantity", "average_price", "volume",
          "buy_quantity", "sell_quantity", "open", "high", "low", "close", "change", "oi", "oi_day_high", "oi_day_low")
_LATEST = "(coalesce(ts, received), received, seq)"  # the latest row: exchange time, then arrival, then seq
# a row with a price: a finite positive LTP, or a priced best bid or ask (levels are best first; Kite pads with zeros)
_PRICED = ("((isfinite(last_price) AND last_price > 0) OR coalesce(bids[1].price, 0) > 0 "
           "OR coalesce(asks[1].price, 0) > 0)")


@dataclass
class RecordedQuotes:
    """The latest recorded quote of each key found, and what the chain needs around it."""

    day: date
    quotes: dict[str, Tick] = field(default_factory=dict)  # key -> its latest priced tick
    times: dict[str, datetime] = field(default_factory=dict)  # key -> that tick's time (exchange, else arrival)
    previous_oi: dict[str, int] = field(default_factory=dict)  # key -> the OI change's base
    previous_day: date | None = None  # the recorded day before ``day`` (the base's day where it came from it)
    oi_basis: dict[str, str] = field(default_factory=dict)  # key -> "previous day" | "first today"
    missing: list[str] = field(default_factory=list)  # keys asked for with no priced quote that day

    @property
    def newest(self) -> datetime | None:
        return max(self.times.values(), default=None)


def _files(store, day) -> list[Path]:
    return store.files(day)


def _sql_list(paths: list[Path]) -> str:
    return ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)


def _run(store, day, sql_of, params: list) -> list[dict]:
    """Run ``sql_of(files)`` over the day's live files; a compaction that removes a file meanwhile is
    retried with the new listing. No files: no rows."""
    import duckdb

    for attempt in range(5):
        files = _files(store, day)
        if not files:
            return []
        con = duckdb.connect()
        try:
            cur = con.execute(sql_of(f"read_parquet([{_sql_list(files)}], union_by_name=true)"), params)
            names = [c[0] for c in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]
        except duckdb.Error as e:
            if attempt < 4 and not all(f.exists() for f in files):
                continue  # a compaction committed and removed its inputs: list again
            raise DataError(f"tick store {store.root}: reading {day} failed: {e}") from None
        finally:
            con.close()
    raise AssertionError("unreachable")


def _levels(rows) -> tuple[DepthLevel, ...]:
    return tuple(DepthLevel(float(r["price"]), int(r["quantity"] or 0), int(r["orders"] or 0))
                 for r in rows or () if r and r.get("price") is not None)


def _as_ist(t) -> datetime | None:
    if t is None:
        return None
    if t.tzinfo is None:  # DuckDB hands tz-aware timestamps back in UTC or the session zone; naive: UTC
        from datetime import timezone

        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(IST)


def _tick(r: dict) -> Tick:
    px = r["last_price"]
    ltp = float(px) if px is not None and math.isfinite(px) and px > 0 else math.nan
    vals = {k: r[k] for k in _PLAIN}
    vals["last_price"] = ltp
    return Tick(key=r["key"], ts=_as_ist(r["ts"]), bids=_levels(r["bids"]), asks=_levels(r["asks"]),
                last_trade_time=_as_ist(r["last_trade_time"]), **vals)


def read_quotes(store, day: date | str, keys) -> RecordedQuotes:
    """The latest priced quote recorded on ``day`` of each of ``keys``, with the OI change's base.

    ``store`` is a :class:`~tradekit.data.tickstore.TickStore` (a reader: nothing is written).
    """
    from tradekit.data.tickstore import _as_day

    d = _as_day(day)
    keys = sorted({str(k) for k in keys})
    out = RecordedQuotes(day=d)
    if not keys:
        return out
    cols = ", ".join(("key", "ts", "received", "last_trade_time", "bids", "asks", *_PLAIN))
    rows = _run(store, d, lambda src: (
        # one hash aggregate: the row with the greatest (time, arrival, seq) per key; a window
        # function sorting every row of the day was five times slower on a 1M-tick day
        f"SELECT unnest(r) FROM (SELECT arg_max(struct_pack({cols}), {_LATEST}) AS r "
        f"FROM {src} WHERE key IN (SELECT unnest(?)) AND {_PRICED} GROUP BY key)"), [keys])
    first = {r["key"]: r["oi"] for r in _run(store, d, lambda src: (
        f"SELECT key, arg_min(oi, coalesce(ts, received)) AS oi FROM {src} "
        "WHERE key IN (SELECT unnest(?)) AND oi IS NOT NULL GROUP BY key"), [keys])}
    for r in rows:
        t = _tick(r)
        out.quotes[t.key] = t
        out.times[t.key] = _as_ist(r["ts"] or r["received"])
    out.missing = [k for k in keys if k not in out.quotes]
    earlier = [x for x in store.days() if x < d]
    prev = {}
    if earlier:
        out.previous_day = earlier[-1]
        prev = {r["key"]: r["oi"] for r in _run(store, out.previous_day, lambda src: (
            f"SELECT key, arg_max(oi, coalesce(ts, received)) AS oi FROM {src} "
            "WHERE key IN (SELECT unnest(?)) AND oi IS NOT NULL GROUP BY key"), [keys])}
    for k in out.quotes:
        if prev.get(k) is not None:
            out.previous_oi[k], out.oi_basis[k] = int(prev[k]), "previous day"
        elif first.get(k) is not None:
            out.previous_oi[k], out.oi_basis[k] = int(first[k]), "first today"
    return out


def chain_master(config=None, day: date | None = None):
    """The instrument master a chain is built on: the config's for ``day``
    (:func:`tradekit.market.master.load_master`), plus the bundled NFO sample's contracts it lacks
    (as :meth:`tradekit.desk.Desk.option_chain` does)."""
    from tradekit.market.instruments import InstrumentStore
    from tradekit.market.master import load_master

    store = load_master(config, day)[0]
    sample = InstrumentStore.bundled(include_nfo_sample=True)
    store.add(i for i in sample if i.is_derivative and store.find(i.exchange, i.tradingsymbol) is None)
    return store


def _chain_keys(master, underlying: str, expiry: date, exchange: str) -> list[str]:
    u = underlying.strip().upper()
    keys = [i.key for i in master.search(exchange=exchange, underlying=u, expiry=expiry) if i.is_option]
    keys += [i.key for i in master.search(exchange=exchange, underlying=u, instrument_type="FUT", expiry=expiry)]
    return keys + [spot_key(u, exchange)]


def read_option_quotes(store, underlying: str, expiry: date, *, master, day: date | str,
                       exchange: str = "NFO") -> RecordedQuotes:
    """:func:`read_quotes` for every CE/PE contract of ``underlying``'s ``expiry`` in ``master``, the
    future of that expiry and the underlying's spot."""
    return read_quotes(store, day, _chain_keys(master, underlying, expiry, exchange))


def option_underlyings(store, day: date | str, *, master) -> dict[tuple[str, str], list[date]]:
    """``(exchange, underlying) -> expiries`` of the option contracts with ticks recorded on ``day``
    (contracts the master does not know are left out). Reads the key column only."""
    from tradekit.data.tickstore import _as_day

    d = _as_day(day)
    rows = _run(store, d, lambda src: (
        "SELECT DISTINCT key FROM {src} WHERE starts_with(key, 'NFO:') OR starts_with(key, 'BFO:')".format(src=src)),
        [])
    out: dict[tuple[str, str], set[date]] = {}
    for r in rows:
        ex, _, sym = r["key"].partition(":")
        inst = master.find(ex, sym)
        if inst is None or not inst.is_option or inst.expiry is None:
            continue
        out.setdefault((ex, inst.underlying or inst.name), set()).add(inst.expiry)
    return {k: sorted(v) for k, v in sorted(out.items())}


def option_days(store, *, master, newest_first: bool = True, limit: int | None = None) -> list[date]:
    """The recorded days holding option quotes (newest first), at most ``limit`` of them (each day
    costs a scan of its keys: a page asks for one)."""
    out = []
    for d in sorted(store.days(), reverse=newest_first):
        if option_underlyings(store, d, master=master):
            out.append(d)
            if limit is not None and len(out) >= limit:
                break
    return out


def _reference(day: date, newest: datetime | None, now: datetime | None) -> datetime | None:
    """The time the chain is computed for and ages are measured from: ``now`` when given and on
    ``day``, else the day's last recorded quote."""
    if now is not None and now.astimezone(IST).date() == day:
        return now.astimezone(IST)
    return newest


def recorded_chain(store, underlying: str, expiry: date | str, *, master, day: date | str,
                   now: datetime | None = None, rate: float = 0.0, exchange: str = "NFO",
                   strikes: int | None = None, price: str = "mid") -> pd.DataFrame:
    """The chain of ``underlying`` for ``expiry`` from the quotes recorded on ``day``
    (:func:`tradekit.options.chain.option_chain` on :func:`read_option_quotes`).

    ``now``: the session's clock or the wall clock. The chain (IV, Greeks, time to expiry) is
    computed at ``now`` when it falls on ``day``, else at the day's last recorded quote. Adds
    ``ce_age_s``/``pe_age_s`` (seconds since each side's quote) and, in ``attrs``: ``day``,
    ``quotes`` (how many contracts had one), ``newest_quote``, ``oi_change_basis`` and the
    recorded source's notes.
    """
    from tradekit.data.tickstore import _as_day

    d = _as_day(day)
    if isinstance(expiry, str):
        try:
            expiry = date.fromisoformat(expiry)
        except ValueError:
            raise ValidationError(f"{expiry!r} is not a date (YYYY-MM-DD)", field="expiry") from None
    rq = read_option_quotes(store, underlying, expiry, master=master, day=d, exchange=exchange)
    ref = _reference(d, rq.newest, now)
    if ref is None:  # nothing recorded for this chain that day: the contracts, unpriced, at the day's close
        from tradekit.options.chain import expiry_close

        ref = min(expiry_close(expiry, exchange), datetime.combine(d, datetime.max.time(), IST))
    df = option_chain(underlying, expiry, master=master, quotes=rq.quotes, now=ref, rate=rate, exchange=exchange,
                      strikes=strikes, previous_oi=rq.previous_oi, price=price)
    for side in ("ce", "pe"):
        df[f"{side}_age_s"] = [(ref - rq.times[k]).total_seconds() if isinstance(k, str) and k in rq.times
                               else math.nan for k in df[f"{side}_key"]]
    basis = {"previous day": 0, "first today": 0}
    for k in list(df["ce_key"]) + list(df["pe_key"]):
        if isinstance(k, str) and k in rq.oi_basis:
            basis[rq.oi_basis[k]] += 1
    notes = [n for n in df.attrs.get("notes", []) if not n.startswith("OI change needs")]
    parts = []
    if basis["previous day"]:
        parts.append(f"{basis['previous day']} against the last OI recorded on {rq.previous_day}")
    if basis["first today"]:
        parts.append(f"{basis['first today']} against the day's first recorded OI"
                     + ("" if rq.previous_day else " (no earlier day recorded)"))
    if parts:
        notes.append("ΔOI: " + "; ".join(parts))
    n_contracts = int(df["ce_key"].notna().sum() + df["pe_key"].notna().sum())
    n_quoted = sum(1 for k in list(df["ce_key"]) + list(df["pe_key"]) if isinstance(k, str) and k in rq.quotes)
    if n_quoted < n_contracts:
        notes.append(f"{n_contracts - n_quoted} of {n_contracts} contracts have no quote recorded on {d}")
    df.attrs.update({"day": d, "quotes": n_quoted, "contracts": n_contracts, "newest_quote": rq.newest,
                     "oi_change_basis": basis, "previous_day": rq.previous_day, "notes": notes,
                     "source": "recorded ticks"})
    return df


def listed_expiries(master, underlying: str, exchange: str = "NFO") -> list[date]:
    """Every option expiry of ``underlying`` in the master."""
    return _master_expiries(underlying, master=master, exchange=exchange)
