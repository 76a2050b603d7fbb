"""Charges to and from a journal payload: the fast text paths equal the reference conversions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.errors import ValidationError
from tradekit.model.charges import COMPONENTS, Charges, _text
from tradekit.model.money import dec, paise

# Decimals of every exponent a charge can carry (rupee-rounded STT, paise, unrounded sums), both signs and -0
amounts = st.builds(lambda n, e: Decimal(n).scaleb(e), st.integers(-10**12, 10**12), st.integers(-8, 3)) | st.sampled_from(
    [Decimal("-0"), Decimal("-0.00"), Decimal("0.005"), Decimal("-0.005"), Decimal("0.0049999"), Decimal("1E+3")])


@settings(max_examples=400, deadline=None)
@given(amounts)
def test_a_component_text_is_the_paise_rounded_two_place_text(x):
    assert _text(x) == f"{paise(x):.2f}"


@settings(max_examples=200, deadline=None)
@given(st.lists(amounts, min_size=7, max_size=7))
def test_reading_a_payload_back_gives_what_dec_of_each_text_gives(xs):
    payload = Charges(*xs).as_dict(with_total=False)
    got = Charges.from_dict(payload)
    want = Charges(*[dec(payload[c], c) for c in COMPONENTS])
    assert repr(got) == repr(want)
    assert repr(Charges.from_dict(Charges(*xs).as_dict())) == repr(want)  # the total's text is not read back


def test_bad_text_is_refused():
    with pytest.raises(ValidationError, match="stt"):
        Charges.from_dict({"stt": "1.0x"})
    assert Charges.from_dict({"stt": " 1,000.50 "}).stt == Decimal("1000.50")  # dec's own reading of text
