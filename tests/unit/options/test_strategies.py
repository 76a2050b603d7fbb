"""Strategy builders resolved against the instrument master: strikes by offset from ATM or explicit, lots,
expiries; bad input refused naming the field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.options.helpers import DAY, FAR, NEAR, PX, SPOT, master
from tradekit.errors import ValidationError
from tradekit.model.enums import Side
from tradekit.options import strategies as st


def syms(s):
    return [(leg.side.value, leg.instrument.tradingsymbol, leg.quantity) for leg in s.legs]


def test_atm_is_the_listed_strike_nearest_spot_and_offsets_walk_listed_strikes():
    c = st.Chain(master(), "NIFTY")
    assert c.strike("ATM", NEAR, SPOT, st.InstrumentType.CE, "s") == 24850
    assert c.strike("ATM+3", NEAR, SPOT, st.InstrumentType.CE, "s") == 25000
    assert c.strike("atm - 1", NEAR, SPOT, st.InstrumentType.PE, "s") == 24800
    assert c.strike(24500, NEAR, None, st.InstrumentType.PE, "s") == 24500
    bank = st.Chain(master(), "BANKNIFTY")  # irregular listing: 48,500 then 48,600
    e = bank.expiries[0]
    assert bank.strike("ATM+1", e, Decimal(48490), st.InstrumentType.CE, "s") == Decimal(48600)


def test_iron_condor_resolves_four_legs_with_the_contract_lot():
    ic = st.iron_condor(master(), "NIFTY", spot=SPOT, lots=2, premiums=PX, today=DAY)
    assert syms(ic) == [("BUY", "NIFTY2681824700PE", 130), ("SELL", "NIFTY2681824800PE", 130),
                        ("SELL", "NIFTY2681824900CE", 130), ("BUY", "NIFTY2681825000CE", 130)]
    assert ic.legs[0].premium == 40 and ic.net_premium == (70 + 90 - 40 - 30) * -130


def test_each_builder():
    m = master()
    assert syms(st.straddle(m, "NIFTY", spot=SPOT, side="SELL")) == [("SELL", "NIFTY2681824850CE", 65),
                                                                    ("SELL", "NIFTY2681824850PE", 65)]
    assert syms(st.strangle(m, "NIFTY", spot=SPOT)) == [("BUY", "NIFTY2681824800PE", 65), ("BUY", "NIFTY2681824900CE", 65)]
    assert syms(st.bull_call(m, "NIFTY", spot=SPOT)) == [("BUY", "NIFTY2681824850CE", 65), ("SELL", "NIFTY2681824900CE", 65)]
    assert syms(st.bear_call(m, "NIFTY", spot=SPOT)) == [("SELL", "NIFTY2681824850CE", 65), ("BUY", "NIFTY2681824900CE", 65)]
    assert syms(st.bull_put(m, "NIFTY", spot=SPOT)) == [("BUY", "NIFTY2681824800PE", 65), ("SELL", "NIFTY2681824850PE", 65)]
    assert syms(st.bear_put(m, "NIFTY", spot=SPOT)) == [("SELL", "NIFTY2681824800PE", 65), ("BUY", "NIFTY2681824850PE", 65)]
    cal = st.calendar(m, "NIFTY", spot=SPOT, today=DAY)
    assert syms(cal) == [("SELL", "NIFTY2681824850CE", 65), ("BUY", "NIFTY2682524850CE", 65)]
    assert cal.expiries == [NEAR, FAR]
    cus = st.custom(m, [{"tradingsymbol": "BANKNIFTY26AUGFUT", "side": "BUY", "lots": 1},
                        {"kind": "PE", "strike": 51500, "expiry": "near", "side": "BUY", "lots": 1}],
                    underlying="BANKNIFTY", exchange="NFO")
    assert syms(cus) == [("BUY", "BANKNIFTY26AUGFUT", 30), ("BUY", "BANKNIFTY26AUG51500PE", 30)]


def test_build_from_a_spec_dict_and_the_journal_copy_round_trips():
    spec = {"strategy": "iron_condor", "underlying": "NIFTY", "expiry": "2026-08-18", "put_buy": 24700,
            "put_sell": "ATM-1", "call_sell": "ATM+1", "call_buy": 25000, "lots": 1, "spot": 24870}
    ic = st.build(master(), spec, premiums=PX)
    again = st.Strategy.from_dict(ic.to_dict(), master())
    assert again == ic


@pytest.mark.parametrize("spec,field", [
    ({"strategy": "butterfly", "underlying": "NIFTY"}, "strategy"),
    ({"strategy": "straddle"}, "underlying"),
    ({"strategy": "straddle", "underlying": "NIFTY", "spot": 24870, "width": 2}, "strategy"),
    ({"strategy": "straddle", "underlying": "NIFTY", "spot": 24870, "lots": 0}, "lots"),
    ({"strategy": "straddle", "underlying": "NIFTY", "spot": 24870, "side": "HOLD"}, "side"),
    ({"strategy": "straddle", "underlying": "NIFTY", "strike": 24860}, "strike"),
    ({"strategy": "straddle", "underlying": "NIFTY"}, "strike"),  # ATM without a spot
    ({"strategy": "straddle", "underlying": "NIFTY", "spot": 24870, "expiry": "2026-09-29"}, "expiry"),
    ({"strategy": "straddle", "underlying": "NIFTY", "spot": 24870, "expiry": "far"}, "expiry"),
    ({"strategy": "straddle", "underlying": "NIFTY", "spot": 24870, "expiry": "next"}, "strike"),  # no 08-25 puts here
    ({"strategy": "straddle", "underlying": "TCS", "spot": 3000}, "underlying"),
    ({"strategy": "bull_call", "underlying": "NIFTY", "spot": 24870, "lower": "ATM+1", "upper": "ATM"}, "lower"),
    ({"strategy": "iron_condor", "underlying": "NIFTY", "spot": 24870, "put_buy": "ATM-1", "put_sell": "ATM-3"}, "put_buy"),
    ({"strategy": "custom", "legs": []}, "legs"),
    ({"strategy": "custom", "legs": [{"tradingsymbol": "INFY", "exchange": "NSE", "side": "BUY"}]}, "legs.0.tradingsymbol"),
    ({"strategy": "custom", "legs": [{"tradingsymbol": "NIFTY26AUGFUT", "side": "BUY", "qty": 1}]}, "legs.0"),
    ({"strategy": "custom", "legs": [{"tradingsymbol": "NIFTY26AUGFUT", "side": "BUY"},
                                     {"tradingsymbol": "BANKNIFTY26AUGFUT", "side": "SELL"}]}, "legs"),
])
def test_bad_specs_are_refused_naming_the_field(spec, field):
    with pytest.raises(ValidationError) as e:
        st.build(master(), spec, today=DAY)
    assert e.value.field == field, str(e.value)


def test_a_leg_without_a_premium_is_named_when_the_premium_is_needed():
    s = st.straddle(master(), "NIFTY", spot=SPOT)
    assert s.legs[0].premium is None
    with pytest.raises(ValidationError, match="NIFTY2681824850CE: no premium"):
        _ = s.net_premium
    assert s.with_premiums(PX).net_premium == (120 + 95) * 65
    assert s.legs[0].side is Side.BUY
