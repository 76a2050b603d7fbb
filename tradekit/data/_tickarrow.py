"""Arrow conversion for the tick store: the stored schema, ticks <-> Arrow columns, day split."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import accumulate, chain, repeat

import pyarrow as pa
import pyarrow.compute as pc

from tradekit.clock import IST
from tradekit.data.types import DepthLevel, Tick

_IST_OFFSET_NS = 19_800 * 10**9
_EPOCH = datetime(1970, 1, 1, 5, 30, tzinfo=IST)  # the epoch in IST (a fixed +05:30 offset since 1945)
_DAY_NS = 86_400 * 10**9

_LEVEL = pa.struct([("price", pa.float64()), ("quantity", pa.int64()), ("orders", pa.int64())])
_TS = pa.timestamp("ns", tz="Asia/Kolkata")
SCHEMA = pa.schema([
    ("key", pa.string()),
    ("ts", _TS),  # the exchange timestamp (null when the packet has none)
    ("received", _TS),  # when the store was handed the tick
    ("seq", pa.int64()),  # arrival order within the store
    ("last_price", pa.float64()),
    ("instrument_token", pa.int64()),
    ("mode", pa.string()),
    ("tradable", pa.bool_()),
    ("last_quantity", pa.int64()),
    ("average_price", pa.float64()),
    ("volume", pa.int64()),
    ("buy_quantity", pa.int64()),
    ("sell_quantity", pa.int64()),
    ("open", pa.float64()),
    ("high", pa.float64()),
    ("low", pa.float64()),
    ("close", pa.float64()),
    ("change", pa.float64()),
    ("last_trade_time", _TS),
    ("oi", pa.int64()),
    ("oi_day_high", pa.int64()),
    ("oi_day_low", pa.int64()),
    ("bids", pa.list_(_LEVEL)),
    ("asks", pa.list_(_LEVEL)),
])
# Tick fields in Tick order, and where each lives in a stored row
_TICK_FIELDS = Tick._fields
_PLAIN = ("last_price", "instrument_token", "mode", "tradable", "last_quantity", "average_price", "volume",
          "buy_quantity", "sell_quantity", "open", "high", "low", "close", "change", "oi", "oi_day_high", "oi_day_low")


def _dt(ns: int | None) -> datetime | None:
    if ns is None:
        return None
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _levels(col) -> list[tuple[DepthLevel, ...]]:
    """A ``list<struct>`` depth column as tuples of :class:`DepthLevel`, one per row."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    offs = arr.offsets.to_pylist()
    base = offs[0]
    flat = arr.flatten()
    lv = list(map(tuple.__new__, repeat(DepthLevel), zip(flat.field("price").to_pylist(),
                  flat.field("quantity").to_pylist(), flat.field("orders").to_pylist())))
    return [tuple(lv[offs[i] - base:offs[i + 1] - base]) for i in range(len(offs) - 1)]


def _depth_array(col) -> pa.Array:
    """A column of depth tuples as ``list<struct<price, quantity, orders>>``, built from flat arrays."""
    offsets = list(accumulate(map(len, col), initial=0))
    flat = list(chain.from_iterable(col))
    cols = list(zip(*flat)) if flat else [(), (), ()]
    if len(cols) == 3 and len(cols[0]) == len(flat):
        px, qty, orders = cols
    else:  # plain (price, quantity) pairs
        px = [float(lv[0]) for lv in flat]
        qty = [int(lv[1]) for lv in flat]
        orders = [int(lv[2]) if len(lv) > 2 else 0 for lv in flat]
    values = pa.StructArray.from_arrays(
        [pa.array(px, pa.float64()), pa.array(qty, pa.int64()), pa.array(orders, pa.int64())],
        fields=list(_LEVEL))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=pa.list_(_LEVEL))


_UTC_US = pa.timestamp("us", tz="UTC")


def _to_table(key, recvs: list[int], seqs: list[int], ticks: list[Tick]) -> pa.Table:
    """Buffered ticks as an Arrow table (in arrival order); ``key`` is one instrument's key for
    every row, or a list with one key per tick."""
    cols = dict(zip(_TICK_FIELDS, zip(*ticks)))
    n = len(ticks)
    arrays = {
        "key": pa.array([key] * n if isinstance(key, str) else key, pa.string()),
        "ts": pa.array(cols["ts"], _UTC_US).cast(_TS),
        "received": pa.array(recvs, pa.int64()).cast(_TS),
        "seq": pa.array(seqs, pa.int64()),
        "last_trade_time": pa.array(cols["last_trade_time"], _UTC_US).cast(_TS),
        "bids": _depth_array(cols["bids"]),
        "asks": _depth_array(cols["asks"]),
    }
    for name in _PLAIN:
        arrays[name] = pa.array(cols[name], SCHEMA.field(name).type)
    return pa.table([arrays[f.name] for f in SCHEMA], schema=SCHEMA)


def _by_day(table: pa.Table) -> list[tuple[date, pa.Table]]:
    """Split a table by the IST day of each tick (its exchange time, else its arrival)."""
    import numpy as np

    eff = pc.coalesce(table["ts"], table["received"]).cast(pa.int64()).to_numpy(zero_copy_only=False)
    day_no = (eff + _IST_OFFSET_NS) // _DAY_NS
    first = int(day_no[0])
    if (day_no == first).all():
        return [(date(1970, 1, 1) + timedelta(days=first), table)]
    out = []
    for d in np.unique(day_no):
        out.append((date(1970, 1, 1) + timedelta(days=int(d)), table.filter(pa.array(day_no == d))))
    return out
