"""The order path's shortcuts give exactly what the long way gives (issue 20: replay speed).

- ``StrEnum.parse`` remembers the member a plain string named: the same member (or the same error)
  as the scan over the members, for any string, in any order of calls.
- ``OrderRequest.stamped`` (the OMS's tag and market protection) equals ``with_changes``, which
  validates the whole request again, field for field, errors included.
- ``OrderRequest.from_dict`` of ``to_dict`` (through JSON, as the journal stores it) rebuilds the
  request field for field, so the OMS hands the book its own request and reference price
  (``Book.made``) instead of the book decoding ``order.created``: the book holds what a rebuild
  from the journal holds.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.errors import ValidationError
from tradekit.market.charges import ChargeSegment
from tradekit.model import OrderRequest
from tradekit.model.enums import (
    ApprovalMode,
    Exchange,
    InstrumentType,
    OrderType,
    Product,
    Segment,
    Side,
    StrEnum,
    TradingMode,
    Validity,
    Variety,
)

ENUMS = [Exchange, Segment, InstrumentType, Side, OrderType, Product, Validity, Variety, ApprovalMode, TradingMode,
         ChargeSegment]


def reference_parse(cls, value):
    """``StrEnum.parse`` before the memo: a scan of the members."""
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        v = value.strip()
        for member in cls:
            if member.value.upper() == v.upper() or member.name.upper() == v.upper().replace("-", "_"):
                return member
    raise ValidationError("no member", field="x")


def spellings():
    words = sorted({w for cls in ENUMS for m in cls for w in (m.value, m.name)})
    word = st.sampled_from(words)
    cased = st.tuples(word, st.sampled_from([str.upper, str.lower, str.title, lambda s: s])).map(lambda t: t[1](t[0]))
    padded = st.tuples(st.sampled_from(["", " ", "\t"]), cased, st.sampled_from(["", " ", "\n"])).map("".join)
    dashed = cased.map(lambda s: s.replace("_", "-"))
    return st.one_of(padded, dashed, st.text(max_size=8))


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except ValidationError:
        return ("error", None)


@settings(max_examples=120, deadline=None)
@given(calls=st.lists(st.tuples(st.sampled_from(ENUMS), spellings()), min_size=1, max_size=30))
def test_parse_with_memo_equals_the_scan(calls):
    for cls, value in calls + calls:  # each string twice: the second answer comes from the memo
        want = outcome(reference_parse, cls, value)
        got = outcome(cls.parse, value)
        assert got == want
        assert got[1] is want[1]


def test_parse_members_and_other_types():
    assert Exchange.parse(Exchange.NSE) is Exchange.NSE
    assert Segment.parse(Exchange.NSE) is Segment.NSE  # another enum's member: by its text, as before
    with pytest.raises(ValidationError, match="side"):
        Side.parse(3)
    with pytest.raises(ValidationError, match="'x' is not one of BUY, SELL"):
        Side.parse("x")
    with pytest.raises(ValidationError):
        Side.parse("x")  # a failure is never remembered as an answer
    assert issubclass(OrderType, StrEnum) and OrderType.parse(" sl-m ") is OrderType.SLM


def fields(r: OrderRequest) -> tuple:
    """Every field with its type and exact text (Decimal exponents included)."""
    return tuple((n, type(getattr(r, n)), repr(getattr(r, n))) for n in OrderRequest.__dataclass_fields__)


@st.composite
def requests(draw):
    ot = draw(st.sampled_from(["MARKET", "LIMIT", "SL", "SL-M"]))
    side = draw(st.sampled_from(["BUY", "SELL"]))
    qty = draw(st.integers(1, 5000))
    price = trigger = None
    if ot in ("LIMIT", "SL"):
        price = draw(st.decimals(min_value=Decimal("0.05"), max_value=Decimal(99999), places=2))
    if ot in ("SL", "SL-M"):
        trigger = draw(st.decimals(min_value=Decimal("0.05"), max_value=Decimal(99999), places=2))
        if ot == "SL":
            trigger = min(trigger, price) if side == "BUY" else max(trigger, price)
    variety = draw(st.sampled_from(["regular", "regular", "iceberg", "amo"]))
    kw = {}
    if variety == "iceberg":
        kw["iceberg_legs"] = draw(st.integers(2, 10))
    validity = draw(st.sampled_from(["DAY", "IOC", "TTL"]))
    if validity == "TTL":
        kw["validity_ttl"] = draw(st.integers(1, 300))
    mp = draw(st.sampled_from([None, Decimal(0), Decimal(-1), Decimal("2.5"), 0])) if ot in ("MARKET", "SL-M") else None
    return OrderRequest(draw(st.sampled_from(["NSE", "BSE", "NFO"])), draw(st.sampled_from(["INFY", "RELIANCE", "X1"])),
                        side, qty, ot, draw(st.sampled_from(["CNC", "MIS", "NRML"])), price=price, trigger_price=trigger,
                        validity=validity, variety=variety, market_protection=mp,
                        disclosed_quantity=draw(st.integers(0, qty)), **kw)


TAGS = st.one_of(st.sampled_from(["TK2611240010001", "A", "x" * 20]), st.sampled_from(["", "bad tag", "y" * 21, "é1"]))
PROTECTIONS = st.sampled_from([None, Decimal(-1), Decimal(0), Decimal(5), Decimal(100), Decimal("100.5"), Decimal(-2),
                               "3", 7, 2.5, "abc", Decimal("NaN")])


@settings(max_examples=400, deadline=None)
@given(req=requests(), tag=TAGS, mp=PROTECTIONS)
def test_stamped_equals_with_changes(req, tag, mp):
    changes = {"tag": tag} if mp is None else {"tag": tag, "market_protection": mp}

    def slow():
        return req.with_changes(**changes)

    def fast():
        return req.stamped(tag, mp)

    def run(fn):
        try:
            return ("ok", fields(fn()))
        except ValidationError as e:
            return ("error", (e.field, str(e)))

    assert run(fast) == run(slow)


DECIMALS = st.one_of(st.decimals(allow_nan=False, allow_infinity=False, min_value=Decimal("0.01"), max_value=Decimal(10**6)),
                     st.sampled_from([Decimal("100"), Decimal("100.00"), Decimal("1E+2"), Decimal("0.050"), Decimal("1024.8")]))


@settings(max_examples=300, deadline=None)
@given(req=requests(), price=DECIMALS)
def test_from_dict_of_to_dict_through_json_rebuilds_the_request_field_for_field(req, price):
    import orjson

    if req.price is not None and req.trigger_price is None:  # exponents other than two places too
        req = req.with_changes(price=price)
    read_back = orjson.loads(orjson.dumps(req.to_dict()))  # what the journal hands the book
    got = OrderRequest.from_dict(read_back)
    assert fields(got) == fields(req)
    kw = {k: v for k, v in read_back.items()}
    built = OrderRequest(**{**kw, **{k: Decimal(v) for k in ("price", "trigger_price", "market_protection")
                                     if (v := kw.get(k)) is not None}})
    assert fields(got) == fields(built)


@settings(max_examples=300, deadline=None)
@given(req=requests(), ref=st.one_of(st.none(), DECIMALS), handed=st.booleans())
def test_the_book_holds_the_same_order_whether_handed_the_request_or_decoding_it(req, ref, handed):
    """Book.made (the OMS's own request and reference price) against decoding order.created, the way a
    rebuild from the journal reads it."""
    import orjson

    from tradekit.store import Book
    from tradekit.store.journal import Event

    cid = "TK2611240010001"
    req = req.stamped(cid)
    payload = {"client_order_id": cid, "strategy": "s", "request": req.to_dict(), "signal_id": None,
               "approval_mode": "auto", "source": "signal", "mode": "paper",
               "reference_price": None if ref is None else str(ref)}
    ev = Event(1, "2026-11-24T09:15:00+05:30", "x", "order.created", orjson.loads(orjson.dumps(payload)), "", "h")
    live, rebuilt = Book(), Book()
    live.made("TK2611240010002" if not handed else cid, req, ref)  # another id: not taken
    live.apply(ev)
    rebuilt.apply(ev)
    a, b = live.orders[cid], rebuilt.orders[cid]
    assert fields(a.request) == fields(b.request)
    assert repr(a.reference_price) == repr(b.reference_price)
    assert a == b
    assert live._made is None  # looked at once


def test_from_dict_validates():
    req = OrderRequest("NSE", "INFY", "BUY", 10, "MARKET", "CNC", market_protection=Decimal(-1))
    d = req.to_dict()
    with pytest.raises(ValidationError, match="whole number"):
        OrderRequest.from_dict({**d, "quantity": 10.0})
    other = dict(d, tradingsymbol="TCS")
    assert OrderRequest.from_dict(other).tradingsymbol == "TCS"


def test_stamped_sets_every_field():
    req = OrderRequest("NSE", "INFY", "SELL", 30, "LIMIT", "NRML", price=Decimal("10.5"), variety="iceberg",
                       iceberg_legs=3, validity="TTL", validity_ttl=5, disclosed_quantity=3)
    new = req.stamped("TK1", None)
    for name in OrderRequest.__dataclass_fields__:  # a field the copy forgot would be unset (AttributeError)
        want = "TK1" if name == "tag" else getattr(req, name)
        assert getattr(new, name) == want, name


def test_the_hand_written_init_takes_the_fields_in_order_with_their_defaults():
    """OrderRequest.__init__ sets the slots itself (no generated __init__): its parameters must stay the
    dataclass's fields, in order, with the same defaults, and every field must be set."""
    import dataclasses
    import inspect

    params = list(inspect.signature(OrderRequest.__init__).parameters.values())[1:]
    flds = dataclasses.fields(OrderRequest)
    assert [p.name for p in params] == [f.name for f in flds]
    for p, f in zip(params, flds):
        assert p.default == (inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default), f.name
    req = OrderRequest("NSE", "INFY", "BUY", 10)
    for f in flds:
        getattr(req, f.name)  # an unset slot would raise AttributeError
    assert OrderRequest.__dataclass_params__.frozen
    with pytest.raises(dataclasses.FrozenInstanceError):
        req.quantity = 5
