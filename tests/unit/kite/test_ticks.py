"""The tick codec: fixture packets, round trips, and agreement with the official parser."""

from __future__ import annotations

import base64
import json
import random
import struct
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradekit.brokers.kite import ticks as T
from tradekit.clock import IST
from tradekit.data.types import DepthLevel, Tick

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "kite"


def packet(name: str) -> bytes:
    return base64.b64decode((FIX / name).read_text())


def fixture(name: str) -> dict:
    return json.loads((FIX / name).read_text())


def official():
    from kiteconnect import KiteTicker

    return KiteTicker("k", "t")


def test_full_fixture_packet_decodes_to_the_fixture_values():
    want = fixture("ticker_full.json")
    (t,) = T.parse_frame(T.encode_frame([packet("ticker_full.packet")]), keys={408065: "NSE:INFY"})
    assert t.key == "NSE:INFY" and t.mode == "full" and t.tradable is True
    assert t.instrument_token == want["instrument_token"]
    assert t.last_price == want["last_price"] and t.last_quantity == want["last_quantity"]
    assert t.average_price == want["average_price"] and t.volume == want["volume"]
    assert (t.buy_quantity, t.sell_quantity) == (want["buy_quantity"], want["sell_quantity"])
    assert (t.open, t.high, t.low, t.close) == tuple(want["ohlc"][k] for k in ("open", "high", "low", "close"))
    assert t.change == pytest.approx(want["change"])
    assert t.ts == datetime.fromisoformat(want["timestamp"]) and t.ts.tzinfo is not None
    assert t.last_trade_time == datetime.fromisoformat(want["last_trade_time"])
    assert (t.oi, t.oi_day_high, t.oi_day_low) == (want["oi"], want["oi_day_high"], want["oi_day_low"])
    assert t.bids == tuple(DepthLevel(d["price"], d["quantity"], d["orders"]) for d in want["depth"]["buy"])
    assert t.asks == tuple(DepthLevel(d["price"], d["quantity"], d["orders"]) for d in want["depth"]["sell"])


def test_quote_and_ltp_fixture_values():
    q = packet("ticker_quote.packet")
    want = fixture("ticker_quote.json")
    (t,) = T.parse_frame(T.encode_frame([q]))
    assert t.mode == "quote" and t.ts is None and t.bids == () and t.oi is None
    assert (t.last_price, t.last_quantity, t.average_price, t.volume) == (
        want["last_price"], want["last_quantity"], want["average_price"], want["volume"])
    assert (t.buy_quantity, t.sell_quantity) == (want["buy_quantity"], want["sell_quantity"])
    assert (t.open, t.high, t.low, t.close) == tuple(want["ohlc"][k] for k in ("open", "high", "low", "close"))
    # (the fixture's quote "change" was copied from the full sample; ours is last - close)
    assert t.change == pytest.approx(t.last_price - t.close)
    ltp = fixture("ticker_ltp.json")
    (lt,) = T.parse_frame(T.encode_frame([q[:8]]))
    assert (lt.mode, lt.last_price, lt.instrument_token, lt.tradable) == ("ltp", ltp["last_price"], 408065, True)


def test_fixture_packets_reencode_byte_for_byte():
    for name in ("ticker_full.packet", "ticker_quote.packet"):
        raw = packet(name)
        (t,) = T.parse_frame(T.encode_frame([raw]))
        assert T.encode_packet(t) == raw


def test_heartbeats_and_empty_frames_give_nothing():
    assert T.parse_frame(T.HEARTBEAT) == []
    assert T.parse_frame(b"") == []
    assert T.parse_frame(struct.pack(">H", 0)) == []
    assert len(T.parse_columns(T.HEARTBEAT)) == 0


def test_unknown_lengths_and_truncated_packets_are_skipped():
    q = packet("ticker_quote.packet")
    fr = T.encode_frame([q[:8], b"\x00" * 12, q])
    assert [t.mode for t in T.parse_frame(fr)] == ["ltp", "quote"]
    truncated = T.encode_frame([q[:8], q])[:-5]
    assert [t.mode for t in T.parse_frame(truncated)] == ["ltp"]


@pytest.mark.parametrize("exchange,div", [("NSE", 100), ("NFO", 100), ("CDS", 1e7), ("BCD", 1e4), ("NCO", 1e4),
                                          ("MCX", 100), ("BSE", 100)])
def test_segment_divisors(exchange, div):
    token = 1234 * 256 + T.SEGMENT_IDS[exchange]
    raw = struct.pack(">II", token, 73_456_789)
    (t,) = T.parse_frame(T.encode_frame([raw]))
    assert t.last_price == pytest.approx(73_456_789 / div)
    assert T.price_divisor(token) == div


def test_index_packets_use_high_low_open_close_order_and_are_not_tradable():
    token = 256265  # NIFTY 50
    raw = struct.pack(">IIIIIIiI", token, 2_450_000, 2_460_000, 2_440_000, 2_445_000, 2_430_000, 20_000, 1_700_000_000)
    (q,) = T.parse_frame(T.encode_frame([raw[:28]]))
    (f,) = T.parse_frame(T.encode_frame([raw]))
    assert (q.mode, f.mode, q.tradable) == ("quote", "full", False)
    assert (f.open, f.high, f.low, f.close) == (24450.0, 24600.0, 24400.0, 24300.0)
    assert f.ts == datetime.fromtimestamp(1_700_000_000, IST) and q.ts is None


def _random_packet(rng: random.Random, length: int) -> bytes:
    seg = rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 9, 12])
    token = rng.randrange(1, 1 << 24) * 256 + seg
    body = bytearray(rng.randbytes(length - 4))
    if length in (32, 184):  # keep epoch fields in a range datetime can represent everywhere
        for off in ((28,) if length == 32 else (44, 60)):
            body[off - 4 : off] = struct.pack(">I", rng.randrange(1, 2_000_000_000))
    return struct.pack(">I", token) + bytes(body)


def _same(ours: Tick, theirs: dict) -> None:
    assert ours.instrument_token == theirs["instrument_token"]
    assert ours.mode == theirs["mode"] and ours.tradable == theirs["tradable"]
    assert ours.last_price == theirs["last_price"]
    if "ohlc" in theirs:
        assert (ours.open, ours.high, ours.low, ours.close) == tuple(theirs["ohlc"][k] for k in ("open", "high", "low", "close"))
        pct = theirs["change"]
        assert (ours.change * 100 / ours.close if ours.close else 0) == pytest.approx(pct, rel=1e-9, abs=1e-9)
    if "volume_traded" in theirs:
        assert (ours.last_quantity, ours.average_price, ours.volume, ours.buy_quantity, ours.sell_quantity) == (
            theirs["last_traded_quantity"], theirs["average_traded_price"], theirs["volume_traded"],
            theirs["total_buy_quantity"], theirs["total_sell_quantity"])
    if "exchange_timestamp" in theirs:
        assert ours.ts.timestamp() == theirs["exchange_timestamp"].timestamp()
    if "depth" in theirs:
        assert ours.last_trade_time.timestamp() == theirs["last_trade_time"].timestamp()
        assert (ours.oi, ours.oi_day_high, ours.oi_day_low) == (theirs["oi"], theirs["oi_day_high"], theirs["oi_day_low"])
        assert [(d.price, d.quantity, d.orders) for d in ours.bids] == [
            (d["price"], d["quantity"], d["orders"]) for d in theirs["depth"]["buy"]]
        assert [(d.price, d.quantity, d.orders) for d in ours.asks] == [
            (d["price"], d["quantity"], d["orders"]) for d in theirs["depth"]["sell"]]


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_the_official_parser_on_random_frames(seed):
    rng = random.Random(seed)
    kt = official()
    for uniform in (True, False):
        lengths = [rng.choice(T.PACKET_LENGTHS)] * 40 if uniform else [rng.choice(T.PACKET_LENGTHS) for _ in range(40)]
        frame = T.encode_frame(_random_packet(rng, n) for n in lengths)
        ours, theirs = T.parse_frame(frame), kt._parse_binary(frame)
        assert len(ours) == len(theirs) == 40
        for a, b in zip(ours, theirs):
            _same(a, b)


prices = st.integers(min_value=0, max_value=2_000_000_000)


@st.composite
def ticks(draw):
    seg = draw(st.sampled_from([1, 2, 3, 4, 5, 6, 7, 9, 12]))
    token = draw(st.integers(1, (1 << 24) - 1)) * 256 + seg
    div = T.price_divisor(token)
    mode = draw(st.sampled_from(T.MODES))
    p = lambda: draw(prices) / div  # noqa: E731
    q = lambda: draw(st.integers(0, 2**32 - 1))  # noqa: E731
    ts = datetime.fromtimestamp(draw(st.integers(1, 2_000_000_000)), IST)
    index = seg == T.INDICES_SEGMENT
    kw: dict = dict(key=None, ts=None, last_price=p(), instrument_token=token, mode=mode, tradable=not index)
    if mode != "ltp":
        kw.update(open=p(), high=p(), low=p(), close=p())
        kw["change"] = kw["last_price"] - kw["close"] if kw["close"] else 0.0
        if not index:
            kw.update(last_quantity=q(), average_price=p(), volume=q(), buy_quantity=q(), sell_quantity=q())
    if mode == "full":
        kw["ts"] = ts
        if not index:
            kw.update(last_trade_time=ts, oi=q(), oi_day_high=q(), oi_day_low=q(),
                      bids=tuple(DepthLevel(p(), q(), draw(st.integers(0, 65535))) for _ in range(5)),
                      asks=tuple(DepthLevel(p(), q(), draw(st.integers(0, 65535))) for _ in range(5)))
    return Tick(**kw)


@given(st.lists(ticks(), min_size=1, max_size=12))
def test_round_trip_encode_then_parse(tt):
    back = T.parse_frame(T.encode_ticks(tt))
    assert len(back) == len(tt)
    for a, b in zip(tt, back):
        assert b.instrument_token == a.instrument_token and b.mode == a.mode and b.tradable == a.tradable
        assert b.last_price == pytest.approx(a.last_price, rel=1e-12)
        for name in ("open", "high", "low", "close", "average_price", "change"):
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None and y is None) or y == pytest.approx(x, rel=1e-9, abs=1e-9)
        for name in ("last_quantity", "volume", "buy_quantity", "sell_quantity", "oi", "oi_day_high", "oi_day_low",
                     "ts", "last_trade_time", "bids", "asks"):
            assert getattr(b, name) == getattr(a, name), name


def test_columns_match_ticks_and_frame_order():
    rng = random.Random(7)
    frame = T.encode_frame(_random_packet(rng, rng.choice(T.PACKET_LENGTHS)) for _ in range(50))
    cols = T.parse_columns(frame)
    tt = T.parse_frame(frame)
    assert cols.instrument_token.tolist() == [t.instrument_token for t in tt]
    assert cols.last_price.tolist() == [t.last_price for t in tt]
    modes = np.array(["ltp", "quote", "full"])[cols.mode]
    assert modes.tolist() == [t.mode for t in tt]


def test_encoder_refuses_negative_and_naive_values():
    from tradekit.errors import ValidationError

    with pytest.raises(ValidationError):
        T.encode_packet(Tick(None, None, -1.0, 408065, "ltp"))
    with pytest.raises(ValidationError):
        T.encode_packet(Tick(None, datetime(2024, 1, 1), 1.0, 408065, "full", open=1, high=1, low=1, close=1))
