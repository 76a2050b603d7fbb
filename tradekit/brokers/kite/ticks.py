"""Kite ticker binary frames: an encoder (for the local server) and a vectorised parser.

A frame is ``uint16 N`` then N times ``uint16 length, packet``; a packet's kind is decided by
its length only (8 LTP, 28/32 index quote/full, 44 quote, 184 full with 5+5 depth levels),
and prices are integers divided per segment (``token & 0xFF``): 1e7 for CDS, 1e4 for BCD and
NCO, 100 elsewhere. A 1-byte binary message is a heartbeat. See ``shared/docs/kite.md`` §9.

The parser never loops over fields in Python: it groups a frame's packets by length, views
each group as a big-endian ``uint32`` matrix (zero-copy when every packet in the frame has
the same length, the usual case) and slices columns out of it. :func:`parse_columns`
returns those columns (:class:`TickColumns`); :func:`parse_frame` turns them into
:class:`~tradekit.data.types.Tick` objects.

Differences from the official client's dicts, on purpose: timestamps are timezone-aware IST
(the client returns naive local time); ``change`` is absolute (last price minus previous
close), as Kite's Go/JS clients and the documented tick JSON have it (the Python client
computes a percentage); ``Tick.average_price``/``volume``/``buy_quantity`` carry
``average_traded_price``/``volume_traded``/``total_buy_quantity``.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from tradekit.clock import IST
from tradekit.data.types import DepthLevel, Tick
from tradekit.errors import ValidationError

log = logging.getLogger(__name__)

# Ticker segment ids: the low byte of an instrument token.
SEGMENT_IDS = {"NSE": 1, "NFO": 2, "CDS": 3, "BSE": 4, "BFO": 5, "BCD": 6, "MCX": 7, "MCXSX": 8, "INDICES": 9, "NCO": 12}
INDICES_SEGMENT = 9
HEARTBEAT = b"\x00"

MODE_LTP, MODE_QUOTE, MODE_FULL = "ltp", "quote", "full"
MODES = (MODE_LTP, MODE_QUOTE, MODE_FULL)
LTP_LEN, INDEX_QUOTE_LEN, INDEX_FULL_LEN, QUOTE_LEN, FULL_LEN = 8, 28, 32, 44, 184
PACKET_LENGTHS = (LTP_LEN, INDEX_QUOTE_LEN, INDEX_FULL_LEN, QUOTE_LEN, FULL_LEN)
_MODE_OF_LEN = {8: MODE_LTP, 28: MODE_QUOTE, 32: MODE_FULL, 44: MODE_QUOTE, 184: MODE_FULL}
_MODE_CODE = {MODE_LTP: 0, MODE_QUOTE: 1, MODE_FULL: 2}

# One divisor per possible segment byte, so a whole column is scaled with one gather.
_DIVISORS = np.full(256, 100.0)
_DIVISORS[SEGMENT_IDS["CDS"]] = 10_000_000.0
_DIVISORS[SEGMENT_IDS["BCD"]] = 10_000.0
_DIVISORS[SEGMENT_IDS["NCO"]] = 10_000.0

_U16 = struct.Struct(">H")


def segment_of(token: int) -> int:
    """The ticker segment id of an instrument token (its low byte)."""
    return int(token) & 0xFF


def price_divisor(token: int) -> float:
    """What the integer prices of ``token``'s packets are divided by."""
    return float(_DIVISORS[int(token) & 0xFF])


# -- encoding (the local server's ticker) -------------------------------------------------------

def _ints(values: Iterable[float], div: float) -> list[int]:
    out = []
    for v in values:
        n = int(round((v or 0.0) * div))
        if n < 0 or n > 0xFFFFFFFF:
            raise ValidationError(f"{v} does not fit an unsigned 32-bit tick field (divisor {div:g})", field="tick")
        out.append(n)
    return out


def _epoch(ts: datetime | None) -> int:
    if ts is None:
        return 0
    if ts.tzinfo is None:
        raise ValidationError(f"naive datetime {ts!r} in a tick; pass a timezone-aware one", field="tick")
    return int(ts.timestamp())


def encode_packet(tick: Tick, mode: str | None = None) -> bytes:
    """Encode one tick as a bare packet in ``mode`` (default: the tick's own mode).

    Index tokens (segment 9) give the 8/28/32-byte index layouts, others 8/44/184. Fields the
    tick lacks are sent as 0, as Kite does.
    """
    mode = mode or tick.mode
    if mode not in MODES:
        raise ValidationError(f"{mode!r} is not one of {', '.join(MODES)}", field="mode")
    token = tick.instrument_token
    if token is None:
        raise ValidationError("a tick needs an instrument_token to be encoded", field="instrument_token")
    div = price_divisor(token)
    lp = _ints([tick.last_price], div)[0]
    if mode == MODE_LTP:
        return struct.pack(">II", token, lp)
    o, h, low, c = _ints([tick.open, tick.high, tick.low, tick.close], div)
    if segment_of(token) == INDICES_SEGMENT:
        change = int(round((tick.last_price - (tick.close or 0.0)) * div)) if tick.close else 0
        body = struct.pack(">IIIIIIi", token, lp, h, low, o, c, change)
        if mode == MODE_FULL:
            body += struct.pack(">I", _epoch(tick.ts))
        return body
    (atp,) = _ints([tick.average_price], div)
    body = struct.pack(
        ">IIIIIIIIIII", token, lp, tick.last_quantity or 0, atp, tick.volume or 0, tick.buy_quantity or 0,
        tick.sell_quantity or 0, o, h, low, c,
    )
    if mode == MODE_QUOTE:
        return body
    body += struct.pack(
        ">IIIII", _epoch(tick.last_trade_time), tick.oi or 0, tick.oi_day_high or 0, tick.oi_day_low or 0, _epoch(tick.ts)
    )
    depth = bytearray()
    for side in (tick.bids, tick.asks):
        levels = list(side)[:5]
        for lvl in levels + [DepthLevel(0.0, 0, 0)] * (5 - len(levels)):
            (px,) = _ints([lvl.price], div)
            depth += struct.pack(">IIHxx", lvl.quantity, px, lvl.orders)
    return body + bytes(depth)


def encode_frame(packets: Iterable[bytes]) -> bytes:
    """Wrap bare packets in one binary frame (count, then length-prefixed packets)."""
    packets = list(packets)
    if len(packets) > 0xFFFF:
        raise ValidationError(f"{len(packets)} packets do not fit one frame (max 65535)", field="packets")
    parts = [_U16.pack(len(packets))]
    for p in packets:
        parts.append(_U16.pack(len(p)))
        parts.append(p)
    return b"".join(parts)


def encode_ticks(ticks: Iterable[Tick], mode: str | None = None) -> bytes:
    """Encode ticks as one frame (each in ``mode``, default its own)."""
    return encode_frame(encode_packet(t, mode) for t in ticks)


def split_frame(frame: bytes) -> list[bytes]:
    """The bare packets of a frame (empty for a heartbeat). Truncated packets are dropped."""
    starts, lens, _ = _walk(memoryview(frame))
    return [bytes(frame[s : s + n]) for s, n in zip(starts.tolist(), lens.tolist())]


# -- parsing -----------------------------------------------------------------------------------

_INT_FIELDS = ("last_quantity", "volume", "buy_quantity", "sell_quantity", "last_trade_time", "oi", "oi_day_high",
               "oi_day_low", "exchange_timestamp")
_DEPTH_FIELDS = ("bid_price", "bid_quantity", "bid_orders", "ask_price", "ask_quantity", "ask_orders")


@dataclass(slots=True)
class TickColumns:
    """A frame's ticks as columns (one row per packet, frame order).

    A field that no packet of the frame carries is ``None`` (an all-LTP frame has only
    ``instrument_token``, ``length`` and ``last_price``). In a frame mixing kinds, rows that
    lack a field hold ``nan`` (prices) or ``-1`` (quantities, epoch seconds). Depth arrays are
    ``(n, 5)``; times are epoch seconds.
    """

    instrument_token: np.ndarray  # int64
    length: np.ndarray  # packet length (8, 28, 32, 44, 184)
    last_price: np.ndarray
    last_quantity: np.ndarray | None = None
    average_price: np.ndarray | None = None
    volume: np.ndarray | None = None
    buy_quantity: np.ndarray | None = None
    sell_quantity: np.ndarray | None = None
    open: np.ndarray | None = None
    high: np.ndarray | None = None
    low: np.ndarray | None = None
    close: np.ndarray | None = None
    last_trade_time: np.ndarray | None = None
    oi: np.ndarray | None = None
    oi_day_high: np.ndarray | None = None
    oi_day_low: np.ndarray | None = None
    exchange_timestamp: np.ndarray | None = None
    bid_price: np.ndarray | None = None
    bid_quantity: np.ndarray | None = None
    bid_orders: np.ndarray | None = None
    ask_price: np.ndarray | None = None
    ask_quantity: np.ndarray | None = None
    ask_orders: np.ndarray | None = None
    _groups: list = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.instrument_token)

    @property
    def tradable(self) -> np.ndarray:
        return (self.instrument_token & 0xFF) != INDICES_SEGMENT

    @property
    def change(self) -> np.ndarray | None:
        """Absolute change from the previous close (0 where close is 0, nan for LTP rows)."""
        if self.close is None:
            return None
        with np.errstate(invalid="ignore"):
            return np.where(self.close > 0, self.last_price - self.close, np.where(np.isnan(self.close), np.nan, 0.0))

    @property
    def mode(self) -> np.ndarray:
        """Mode codes: 0 ltp, 1 quote, 2 full."""
        out = np.zeros(len(self), np.int8)
        out[(self.length == 28) | (self.length == 44)] = 1
        out[(self.length == 32) | (self.length == 184)] = 2
        return out


def _walk(buf: memoryview) -> tuple[np.ndarray, np.ndarray, bool]:
    """Start offsets and lengths of a frame's packets, and whether they are back to back
    with one length (then a group can be viewed in place)."""
    size = len(buf)
    if size < 4:  # heartbeat (1 byte) or an empty frame
        return np.empty(0, np.int64), np.empty(0, np.int64), False
    n = (buf[0] << 8) | buf[1]
    first = (buf[2] << 8) | buf[3]
    if n and size == 2 + n * (2 + first):
        # Probably uniform: check every length field with one strided view.
        lens = np.ndarray((n,), dtype=">u2", buffer=buf, offset=2, strides=(2 + first,))
        if (lens == first).all():
            starts = 4 + np.arange(n, dtype=np.int64) * (2 + first)
            return starts, np.full(n, first, np.int64), True
    starts, lens = [], []
    j = 2
    for _ in range(n):
        if j + 2 > size:
            break
        ln = (buf[j] << 8) | buf[j + 1]
        if j + 2 + ln > size:
            log.warning("truncated tick packet dropped (needs %d bytes, %d left)", ln, size - j - 2)
            break
        starts.append(j + 2)
        lens.append(ln)
        j += 2 + ln
    return np.asarray(starts, np.int64), np.asarray(lens, np.int64), False


def _words(buf: memoryview, starts: np.ndarray, length: int, in_place: bool) -> np.ndarray:
    """An (n, length/4) big-endian uint32 matrix of the packets starting at ``starts``."""
    if in_place:
        dt = np.dtype([("len", ">u2"), ("w", ">u4", (length // 4,))])
        return np.frombuffer(buf, dtype=dt, count=len(starts), offset=int(starts[0]) - 2)["w"]
    raw = np.frombuffer(buf, np.uint8)
    rows = raw[starts[:, None] + np.arange(length)]
    return rows.view(">u4")


def _decode_group(w: np.ndarray, length: int) -> dict:
    tok = w[:, 0].astype(np.int64)
    div = _DIVISORS[tok & 0xFF]
    c = {"instrument_token": tok, "last_price": w[:, 1] / div}
    if length in (INDEX_QUOTE_LEN, INDEX_FULL_LEN):
        c["high"], c["low"], c["open"], c["close"] = (w[:, k] / div for k in (2, 3, 4, 5))
        if length == INDEX_FULL_LEN:
            c["exchange_timestamp"] = w[:, 7].astype(np.int64)
    elif length in (QUOTE_LEN, FULL_LEN):
        c["last_quantity"] = w[:, 2].astype(np.int64)
        c["average_price"] = w[:, 3] / div
        c["volume"], c["buy_quantity"], c["sell_quantity"] = (w[:, k].astype(np.int64) for k in (4, 5, 6))
        c["open"], c["high"], c["low"], c["close"] = (w[:, k] / div for k in (7, 8, 9, 10))
        if length == FULL_LEN:
            c["last_trade_time"], c["oi"], c["oi_day_high"], c["oi_day_low"], c["exchange_timestamp"] = (
                w[:, k].astype(np.int64) for k in (11, 12, 13, 14, 15))
            d = w[:, 16:46].reshape(-1, 10, 3)
            dv = div[:, None]
            c["bid_quantity"] = d[:, :5, 0].astype(np.int64)
            c["bid_price"] = d[:, :5, 1] / dv
            c["bid_orders"] = (d[:, :5, 2] >> 16).astype(np.int64)
            c["ask_quantity"] = d[:, 5:, 0].astype(np.int64)
            c["ask_price"] = d[:, 5:, 1] / dv
            c["ask_orders"] = (d[:, 5:, 2] >> 16).astype(np.int64)
    return c


_LEN_SET = frozenset(PACKET_LENGTHS)


def parse_columns(frame: bytes | bytearray | memoryview) -> TickColumns:
    """Parse one binary frame into columns. Packets of unknown length are skipped."""
    buf = memoryview(frame)
    if buf.format != "B":
        buf = buf.cast("B")
    starts, lens, in_place = _walk(buf)
    n = len(starts)
    if n and in_place and int(lens[0]) in _LEN_SET:
        length = int(lens[0])
        c = _decode_group(_words(buf, starts, length, True), length)
        return TickColumns(length=lens, _groups=[(length, None)], **c)
    if n:
        present = [ln for ln in PACKET_LENGTHS if (lens == ln).any()]
        if sum(int((lens == ln).sum()) for ln in present) != n:
            log.debug("skipping tick packets of unknown length")
            keep = np.isin(lens, PACKET_LENGTHS)
            starts, lens = starts[keep], lens[keep]
            n = len(starts)
    if n == 0:
        return TickColumns(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    if len(present) == 1:
        length = present[0]
        c = _decode_group(_words(buf, starts, length, False), length)
        return TickColumns(length=lens, _groups=[(length, None)], **c)
    out: dict = {}
    groups = []
    for length in present:
        idx = np.flatnonzero(lens == length)
        c = _decode_group(_words(buf, starts[idx], length, False), length)
        for name, arr in c.items():
            dst = out.get(name)
            if dst is None:
                shape = (n, 5) if name in _DEPTH_FIELDS else (n,)
                integer = name == "instrument_token" or name in _INT_FIELDS or name.endswith(("_quantity", "_orders"))
                dst = out[name] = np.full(shape, -1, np.int64) if integer else np.full(shape, np.nan)
            dst[idx] = arr
        groups.append((length, idx))
    return TickColumns(length=lens, _groups=groups, **out)


_TS_CACHE: dict[int, datetime | None] = {}


def _ts_list(epochs: list[int]) -> list[datetime | None]:
    # Ticks of one frame share a handful of seconds: convert each distinct second once.
    cache = _TS_CACHE
    if len(cache) > 8192:
        cache.clear()
    out = []
    for e in epochs:
        d = cache.get(e)
        if d is None and e not in cache:
            d = cache[e] = datetime.fromtimestamp(e, IST) if e > 0 else None
        out.append(d)
    return out


def to_ticks(cols: TickColumns, keys: Mapping[int, str] | None = None, received: datetime | None = None) -> list[Tick]:
    """Materialise :class:`TickColumns` as :class:`Tick` objects (frame order).

    ``keys`` maps instrument tokens to ``"EXCH:SYMBOL"``; ``received`` stamps packets that
    carry no exchange timestamp (LTP and quote modes).
    """
    n = len(cols)
    if n == 0:
        return []
    out: list = [None] * n if len(cols._groups) > 1 else []
    kget = keys.get if keys else None
    for length, idx in cols._groups:
        sel = slice(None) if idx is None else idx
        tok = cols.instrument_token[sel].tolist()
        m = len(tok)
        key = [kget(t) for t in tok] if kget else [None] * m
        lp = cols.last_price[sel].tolist()
        tradable = ((cols.instrument_token[sel] & 0xFF) != INDICES_SEGMENT).tolist()
        mode = _MODE_OF_LEN[length]
        if length == LTP_LEN:
            rec = [received] * m
            ticks = list(map(Tick, key, rec, lp, tok, [mode] * m, tradable))
        else:
            close = cols.close[sel]
            change = np.where(close > 0, cols.last_price[sel] - close, 0.0).tolist()
            o, h, lo, c = (cols.open[sel].tolist(), cols.high[sel].tolist(), cols.low[sel].tolist(), close.tolist())
            ts = _ts_list(cols.exchange_timestamp[sel].tolist()) if length in (INDEX_FULL_LEN, FULL_LEN) else [received] * m
            none = [None] * m
            if length in (INDEX_QUOTE_LEN, INDEX_FULL_LEN):
                ticks = list(map(Tick, key, ts, lp, tok, [mode] * m, tradable, none, none, none, none, none,
                                 o, h, lo, c, change))
            else:
                lq, ap, vol = cols.last_quantity[sel].tolist(), cols.average_price[sel].tolist(), cols.volume[sel].tolist()
                bq, sq = cols.buy_quantity[sel].tolist(), cols.sell_quantity[sel].tolist()
                if length == QUOTE_LEN:
                    ticks = list(map(Tick, key, ts, lp, tok, [mode] * m, tradable, lq, ap, vol, bq, sq, o, h, lo, c, change))
                else:
                    ltt = _ts_list(cols.last_trade_time[sel].tolist())
                    oi, oih, oil = cols.oi[sel].tolist(), cols.oi_day_high[sel].tolist(), cols.oi_day_low[sel].tolist()
                    bids = [tuple(map(DepthLevel, p, q, r)) for p, q, r in zip(
                        cols.bid_price[sel].tolist(), cols.bid_quantity[sel].tolist(), cols.bid_orders[sel].tolist())]
                    asks = [tuple(map(DepthLevel, p, q, r)) for p, q, r in zip(
                        cols.ask_price[sel].tolist(), cols.ask_quantity[sel].tolist(), cols.ask_orders[sel].tolist())]
                    ticks = list(map(Tick, key, ts, lp, tok, [mode] * m, tradable, lq, ap, vol, bq, sq, o, h, lo, c,
                                     change, ltt, oi, oih, oil, bids, asks))
        if idx is None:
            out = ticks
        else:
            for j, t in zip(idx.tolist(), ticks):
                out[j] = t
    return out


def parse_frame(frame: bytes, keys: Mapping[int, str] | None = None, received: datetime | None = None) -> list[Tick]:
    """Parse one binary frame into :class:`Tick` objects; a heartbeat gives ``[]``.

    Parameters
    ----------
    frame
        The WebSocket binary message.
    keys
        Optional ``instrument_token -> "EXCH:SYMBOL"`` map for ``Tick.key``.
    received
        Timestamp for packets without an exchange timestamp (LTP, quote).
    """
    return to_ticks(parse_columns(frame), keys, received)
