"""A multi-leg basket as ONE signal (issue 21, tradekit/signals/basket_fields.py): the parser names each bad
field and keeps the rest of the batch; the session's pipeline makes one basket (gate per leg and whole, one
approval, legs buys first), de-duplicates by key also after a restart, and refuses by field what needs the
instrument master."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.unit.execution.test_basket import CONDOR_PX, LEGS, positions, run, sent, session, states
from tradekit.signals import SignalPipeline
from tradekit.signals.limits import Limits
from tradekit.signals.schema import parse_batch
from tradekit.store.events import EventType as E

SIG_TIME = "2026-11-20T09:15:00+05:30"  # the replay session's T0
CONDOR = {"strategy": "iron_condor", "underlying": "NIFTY", "expiry": "2026-08-18", "spot": 24870,
          "put_buy": 24700, "put_sell": 24800, "call_sell": 24900, "call_buy": 25000, "lots": 1,
          "premiums": {k: str(v) for k, v in CONDOR_PX.items() if k in LEGS}}


def rec(key="b1", basket=None, **over):
    r = {"idempotency_key": key, "strategy": "ic", "signal_time": SIG_TIME, "ttl_seconds": 3600,
         "basket": CONDOR if basket is None else basket}
    r.update(over)
    return r


def leg(sym, side, **kw):
    return {"exchange": "NFO", "tradingsymbol": sym, "side": side, **kw}


GOOD_LEGS = [leg("NIFTY2681824700PE", "BUY", lots=1), leg("NIFTY2681824800PE", "SELL", quantity=65)]


# -- the parser ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("basket,field,words", [
    ({"strategy": "custom", "legs": []}, "basket.legs", "1 or more legs"),
    ({"strategy": "custom", "legs": [leg(f"X{i}", "BUY") for i in range(1000)]}, "basket.legs",
     "1,000 legs is over the limit of 20"),
    ({"strategy": "custom", "legs": [*GOOD_LEGS, leg("NIFTY2681825000CE", "HOLD")]}, "basket.legs[2].side",
     "'HOLD' is not one of BUY, SELL"),
    ({"strategy": "custom", "legs": [*GOOD_LEGS, leg("nifty2681824700pe", "SELL")]}, "basket.legs[2]",
     "same contract as legs[0]"),
    ({"strategy": "custom", "legs": [GOOD_LEGS[0], leg("SENSEX26AUG80000CE", "SELL", exchange="BFO")]},
     "basket.legs[1].exchange", "one exchange"),
    ({"strategy": "custom", "legs": [leg("NIFTY2681824700PE", "BUY", lots=10**30)]}, "basket.legs[0].lots",
     "out of range"),
    ({"strategy": "custom", "legs": [leg("NIFTY2681824700PE", "BUY", lots=200_000)]}, "basket.legs[0].lots",
     "over the limit of 100,000"),
    ({"strategy": "custom", "legs": [leg("NIFTY2681824700PE", "BUY", lots=1, quantity=65)]}, "basket.legs[0]",
     "lots or quantity, not both"),
    ({"strategy": "custom", "legs": [leg("NIFTY2681824700PE", "BUY", price={"a": [[{"b": None}]]})]},
     "basket.legs[0].price", "must be a number"),
    ({"strategy": "custom", "legs": [leg("NIFTY2681824700PE", "BUY", order_type="SL")]},
     "basket.legs[0].order_type", "LIMIT, MARKET"),
    ({"strategy": "custom", "legs": [{"side": "BUY", "kind": "CE", "strike": "ATM+1"}]}, "basket.legs[0].kind",
     "needs the basket's underlying"),
    ({"strategy": "custom", "legs": [leg("NIFTY2681824700PE", "BUY", prize=3)]}, "basket.legs[0].prize",
     "did you mean 'price'"),
    ({"strategy": "custom", "legs": "all of them"}, "basket.legs", "must be a list"),
    ({**CONDOR, "strike": 24800}, "basket.strike", "not a parameter of iron_condor"),
    ({**CONDOR, "underlying": None}, "basket.underlying", "needs an underlying"),
    ({**CONDOR, "put_buy": "ATM+x"}, "basket.put_buy", "ATM, ATM+n, ATM-n"),
    ({**CONDOR, "expiry": "2026-02-30"}, "basket.expiry", "not a date"),
    ({**CONDOR, "strategy": "butterfly"}, "basket.strategy", "not one of straddle"),
    ({**CONDOR, "premiums": {"NIFTY2681824700PE": 40}}, "basket.premiums", "EXCHANGE:TRADINGSYMBOL"),
    ({**CONDOR, "on_leg_failure": "pray"}, "basket.on_leg_failure", "unwind, retry, alert"),
    ("iron_condor", "basket", "must be a JSON object"),
])
def test_each_bad_basket_is_an_error_naming_its_field_and_the_rest_of_the_batch_goes_on(basket, field, words):
    batch = [rec("good-1"), rec("bad", basket=basket), rec("good-2")]
    res = parse_batch(json.dumps(batch), limits=Limits())
    assert [s.signal_id for s in res.accepted] == ["good-1", "good-2"]
    (err,) = res.errors
    assert (err.index, err.field) == (1, field) and words in err.message, str(err)


def test_nan_a_single_order_field_and_a_nested_garbage_record_are_named():
    text = ('[{"idempotency_key": "n", "strategy": "s", "signal_time": "2026-11-20T09:15:00+05:30", "basket": '
            '{"strategy": "custom", "legs": [{"tradingsymbol": "NIFTY2681824700PE", "side": "BUY", "price": NaN}]}},'
            + json.dumps(rec("q", side="BUY")) + "," + json.dumps(rec("deep", basket={"strategy": "custom", "legs": [
                {"tradingsymbol": "X", "side": "BUY", "price": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}]})) + ","
            + json.dumps(rec("ok")) + "]")
    res = parse_batch(text, limits=Limits())
    assert [s.signal_id for s in res.accepted] == ["ok"]
    by = {e.index: e for e in res.errors}
    assert by[0].field == "basket.legs[0].price" and "nan is not a JSON number" in by[0].message
    assert by[1].field == "side" and "single-order signal" in by[1].message
    assert "nested deeper" in by[2].message


def test_max_basket_legs_is_the_configured_setting():
    from tradekit.signals.config import SignalsConfig

    five = [leg(f"NIFTY26818{24000 + 50 * i}CE", "BUY") for i in range(5)]
    lim = Limits.from_settings(SignalsConfig(max_basket_legs=4))
    (err,) = parse_batch(json.dumps(rec(basket={"strategy": "custom", "legs": five})), limits=lim).errors
    assert err.field == "basket.legs" and "5 legs is over the limit of 4" in err.message
    assert parse_batch(json.dumps(rec(basket={"strategy": "custom", "legs": five[:4]})), limits=lim).ok
    with pytest.raises(ValueError):
        SignalsConfig(max_basket_legs=0)


def test_a_valid_basket_becomes_one_signal_with_its_basket_in_meta():
    (s,) = parse_batch(json.dumps(rec(basket={"strategy": "custom", "underlying": "nifty", "legs": [
        leg("nifty2681824700pe", "buy", lots=2, price="40.5"), {"kind": "ce", "strike": "atm + 1", "side": "SELL"}],
        "product": "nrml", "order_type": "market"}))).accepted
    b = s.meta["basket"]
    assert s.key == "NFO:NIFTY" and s.quantity is None
    assert b["legs"][0] == {"exchange": "NFO", "tradingsymbol": "NIFTY2681824700PE", "side": "BUY", "lots": 2,
                            "price": "40.5"}
    assert b["legs"][1] == {"kind": "CE", "strike": "ATM+1", "side": "SELL"} and b["order_type"] == "MARKET"


# -- through a session -------------------------------------------------------------------------------
def pipeline(s):
    return SignalPipeline(s.journal, s.config, sink=s.submit_signal, emit=s._emit, clock=s.clock)


def test_a_basket_signal_is_one_basket_one_card_legs_buys_first(tmp_path):
    from tests.unit.execution.test_basket import queue

    s = session(tmp_path, approval={"mode": "manual"})
    rep = pipeline(s).ingest(json.dumps(rec()), source="test")
    assert rep.ids("refused") == [] and rep.accepted_ids == ["b1"]
    (b,) = s.baskets.baskets.values()
    assert b.strategy == "ic" and b.state == "proposed"
    q = queue(s, tmp_path)
    (card,) = q.pending()  # one card for four legs
    assert card.basket["id"] == b.basket_id and card.basket["signal_id"] == "b1" and len(card.basket["legs"]) == 4
    assert s.book.orders[b.head].signal_id == "b1"
    from tradekit.ui.basket_card import basket_html

    assert "signal b1" in basket_html(card.basket) and basket_html(card.basket).count('class="tk-basket-leg"') == 4
    q.approve(card.client_order_id, reason="ok")
    run(s, until=lambda: b.state == "complete")
    assert b.state == "complete" and states(s, b) == ["working", "complete"]
    assert sent(s, b) == [("NIFTY2681824700PE", "BUY", 65), ("NIFTY2681825000CE", "BUY", 65),
                          ("NIFTY2681824800PE", "SELL", 65), ("NIFTY2681824900CE", "SELL", 65)]
    assert len(positions(s)) == 4
    s.close()


def test_the_same_key_again_and_after_a_restart_makes_no_second_basket(tmp_path):
    from tradekit.session import Session
    from tradekit.store import Journal, make_engine, sqlite_url

    s = session(tmp_path, approval={"mode": "auto"})
    p = pipeline(s)
    assert p.ingest(json.dumps(rec()), source="test").accepted_ids == ["b1"]
    assert p.ingest(json.dumps([rec(), rec()]), source="test").ids("duplicate") == ["b1", "b1"]
    cfg, clock, broker, gate = s.config, s.clock, s.broker, s.gate
    s.journal.flush()
    s.broker._listeners.remove(s.oms)
    s.close()
    s2 = Session(cfg, clock=clock, journal=Journal(make_engine(sqlite_url(tmp_path / "j.db")), clock=clock),
                 broker=broker, gate=gate)
    assert pipeline(s2).ingest(json.dumps(rec()), source="test").ids("duplicate") == ["b1"]
    assert len(s2.baskets.baskets) == 1
    s2.close()


def test_custom_legs_with_quantity_market_legs_and_a_refusal_by_field(tmp_path):
    s = session(tmp_path, approval={"mode": "auto"})
    legs = [leg("NIFTY2681824800PE", "SELL", quantity=65, order_type="MARKET"),
            leg("NIFTY2681824700PE", "BUY", lots=1, price=40)]
    bad_qty = [leg("NIFTY2681824700PE", "BUY", quantity=100, price=40)]
    unlisted = {**CONDOR, "put_buy": 24725}
    unknown = [leg("NIFTY26818999PE", "BUY", lots=1, price=1)]
    mixed = [leg("NIFTY2681824700PE", "BUY", lots=1, price=40), leg("BANKNIFTY26AUG46000CE", "SELL", lots=1, price=9)]
    from tests.unit.options.helpers import master

    s.instruments.add(master().search(exchange="NFO", underlying="BANKNIFTY"))
    rep = pipeline(s).ingest(json.dumps([
        rec("c1", basket={"strategy": "custom", "legs": legs, "premiums": {"NFO:NIFTY2681824800PE": 70},
                          "spot": 24870, "on_leg_failure": "retry", "retries": 3, "name": "put spread"}),
        rec("c2", basket={"strategy": "custom", "legs": bad_qty}), rec("c3", basket=unlisted),
        rec("c4", basket={"strategy": "custom", "legs": unknown}),
        rec("c5", basket={"strategy": "custom", "legs": mixed})]), source="test")
    assert rep.accepted_ids == ["c1"]
    why = {r.signal_id: r.message for r in rep.rejected}
    assert "basket.legs[0].quantity: 100 is not a whole number of NFO:NIFTY2681824700PE's lots of 65" in why["c2"]
    assert "basket.put_buy: 24725 is not a listed PE strike" in why["c3"]
    assert "basket.legs[0].tradingsymbol" in why["c4"]
    assert "basket.legs: every leg must be on one underlying, BANKNIFTY, NIFTY were given" in why["c5"]
    (b,) = s.baskets.baskets.values()
    assert [lg.get("order_type") for lg in b.legs] == ["MARKET", None]
    assert (b.policy, b.retries, b.structure["name"], b.strategy) == ("retry", 3, "put spread", "ic")
    run(s, until=lambda: b.state == "complete")
    assert b.state == "complete"
    created = {e.payload["request"]["tradingsymbol"]: e.payload["request"]["order_type"]
               for e in s.journal.events(types=(E.ORDER_CREATED,))}
    assert created == {"NIFTY2681824700PE": "LIMIT", "NIFTY2681824800PE": "MARKET"}
    assert positions(s) == {"NIFTY2681824700PE": 65, "NIFTY2681824800PE": -65}
    s.close()


def test_a_basket_over_the_limits_is_journaled_refused_and_places_nothing(tmp_path):
    s = session(tmp_path, approval={"mode": "auto"}, baskets={"max_loss": 2000})
    rep = pipeline(s).ingest(json.dumps(rec()), source="test")
    (b,) = s.baskets.baskets.values()
    assert rep.accepted_ids == ["b1"] and b.state == "refused" and "max loss" in b.reason and sent(s, b) == []
    assert Decimal(b.payoff["max_loss"]) == Decimal(2600)
    s.close()


# -- properties of the parser ------------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings, strategies as hs  # noqa: E402

_json = hs.recursive(
    hs.none() | hs.booleans() | hs.integers(min_value=-10**40, max_value=10**40)
    | hs.floats(allow_nan=True, allow_infinity=True) | hs.text(max_size=8)
    | hs.sampled_from(["BUY", "sell", "ATM+1", "near", "2026-08-18", "custom", "iron_condor", "NFO", "CE"]),
    lambda inner: hs.lists(inner, max_size=4) | hs.dictionaries(
        hs.sampled_from(["strategy", "legs", "underlying", "side", "lots", "quantity", "price", "tradingsymbol",
                         "strike", "kind", "expiry", "exchange", "premiums", "x"]), inner, max_size=5),
    max_leaves=20)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(basket=_json)
def test_any_basket_value_is_accepted_or_errors_naming_a_basket_field_and_never_loses_the_neighbour(basket):
    res = parse_batch([rec("before"), rec("x", basket=basket), rec("after")], limits=Limits())
    ids = [s.signal_id for s in res.accepted]
    assert ids[0] == "before" and ids[-1] == "after"
    if "x" in ids:
        assert not res.errors and len(ids) == 3
    else:
        assert res.errors and all(e.index == 1 for e in res.errors)
        assert all(e.field is None or e.field.startswith("basket") for e in res.errors), res.errors


_leg = hs.fixed_dictionaries({
    "tradingsymbol": hs.from_regex(r"NIFTY26818[0-9]{5}(CE|PE)", fullmatch=True),
    "side": hs.sampled_from(["BUY", "SELL", "buy", "Sell"])},
    optional={"lots": hs.integers(1, 100_000), "price": hs.decimals(min_value="0.05", max_value="99999", places=2),
              "order_type": hs.sampled_from(["LIMIT", "MARKET", "market"])})


@settings(max_examples=100, deadline=None)
@given(legs=hs.lists(_leg, min_size=1, max_size=20, unique_by=lambda d: d["tradingsymbol"]))
def test_well_formed_custom_legs_always_parse_and_their_meta_reads_back(legs):
    from tradekit.signals.basket_fields import spec_of

    raw = [{**lg, "price": str(lg["price"])} if "price" in lg else lg for lg in legs]
    (s,) = parse_batch(json.dumps(rec(basket={"strategy": "custom", "legs": raw}))).accepted
    spec = spec_of(s)  # what a parked signal read back from the journal gives
    assert [(lg.tradingsymbol, lg.side.value, lg.lots) for lg in spec.legs] == [
        (lg["tradingsymbol"], lg["side"].upper(), lg.get("lots")) for lg in legs]
    assert [lg.price for lg in spec.legs] == [lg.get("price") for lg in legs]


def test_the_readme_basket_example_and_the_json_schema_agree_with_the_parser():
    import re
    from pathlib import Path

    jsonschema = pytest.importorskip("jsonschema")
    from tradekit.signals.schema import json_schema

    readme = Path(__file__).parents[3] / "tradekit" / "signals" / "README.md"
    example = next(json.loads(b) for b in re.findall(r"```json\n(.*?)```", readme.read_text(), re.S) if '"basket"' in b)
    assert parse_batch(json.dumps(example)).ok
    v = jsonschema.Draft202012Validator(json_schema())
    assert v.is_valid(example) and v.is_valid(rec())
    for bad in (rec(basket={**CONDOR, "colour": 1}), rec(basket={"strategy": "custom", "legs": []}),
                {**rec(), "side": "BUY"}):
        assert not v.is_valid(bad) and not parse_batch(bad).ok


def test_a_basket_signal_in_a_replay_places_every_leg(tmp_path):
    """A replay runs no service loop: the replay itself moves the basket on (the next leg once one fills)."""
    import pandas as pd

    from tradekit.clock import IST
    from tradekit.execution.replay import run_replay

    s = session(tmp_path, approval={"mode": "auto"})
    idx = pd.date_range("2026-11-20 09:16", periods=15, freq="1min", tz=IST).as_unit("ns")
    data = {k: pd.DataFrame({"open": float(p), "high": float(p), "low": float(p), "close": float(p),
                             "volume": 100_000}, index=idx) for k, p in CONDOR_PX.items() if k in LEGS}
    (sig,) = parse_batch(json.dumps(rec(signal_time="2026-11-20T09:17:00+05:30"))).accepted
    run_replay(s, data, signals=[sig], square_off=False)
    (b,) = s.baskets.baskets.values()
    assert b.state == "complete", b.reason
    assert [x[1] for x in sent(s, b)] == ["BUY", "BUY", "SELL", "SELL"] and len(positions(s)) == 4
    s.close()


def test_a_basket_signal_received_while_orders_are_blocked_is_parked_then_placed(tmp_path):
    from tests.unit.execution.conftest import T0
    from tests.unit.execution.test_basket import tick
    from tests.unit.options.helpers import master
    from tradekit.config import load_config
    from tradekit.risk.base import PassThroughGate
    from tradekit.session import Session

    cfg = load_config(overrides={"paper": {"latency_ms": 0, "participation": 0, "slippage": {"model": "none"}},
                                 "approval": {"mode": "auto"}, "account": {"capital": 10_000_000}})
    s = Session.for_replay(cfg, tmp_path / "j.db", T0, durability="sync", gate=PassThroughGate())  # commits as live
    s.instruments.add(master().search(exchange="NFO", underlying="NIFTY"))
    tick(s, 0)
    p = pipeline(s)
    s.oms.block_new_orders("reconciliation difference (test)")
    rep = p.ingest(json.dumps(rec()), source="test")
    assert [x.signal.signal_id for x in rep.parked] == ["b1"] and s.baskets.baskets == {}
    assert [e.type for e in s.journal.events(types=(E.BASKET_CREATED,))] == []  # rolled back with the signal's work
    s.oms.block_new_orders(None)
    assert p.retry_parked().accepted_ids == ["b1"]  # read back from the journal's signal.parked
    (b,) = s.baskets.baskets.values()
    run(s, until=lambda: b.state == "complete")
    assert b.state == "complete" and len(positions(s)) == 4
    s.close()
