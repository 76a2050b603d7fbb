from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradekit.errors import ValidationError
from tradekit.model import Charges, dec, fmt_inr, paise, rupee

money = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=6, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize("x, p, r", [("0.005", "0.01", "0"), ("0.0049999", "0.00", "0"), ("25.4963", "25.50", "25"),
                                     ("8.4959", "8.50", "8"), ("2.5", "2.50", "3"), ("-2.5", "-2.50", "-3"), ("198.53", "198.53", "199")])
def test_half_up_rounding_like_the_contract_note(x, p, r):
    assert paise(x) == Decimal(p)
    assert rupee(x) == Decimal(r)


@given(money)
def test_paise_is_within_half_a_paisa_and_idempotent(x):
    p = paise(x)
    assert abs(p - x) <= Decimal("0.005")
    assert paise(p) == p
    assert p.as_tuple().exponent == -2


@given(money)
def test_rupee_of_paise_is_what_the_calculator_does(x):
    assert abs(rupee(paise(x)) - x) <= Decimal("0.505")


@given(st.floats(min_value=-1e7, max_value=1e7, allow_nan=False))
def test_floats_convert_through_their_shortest_repr(f):
    assert dec(f) == Decimal(repr(f))


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan"), Decimal("NaN"), "abc", None, True, [1]])
def test_non_numbers_are_refused_with_the_field(bad):
    with pytest.raises(ValidationError) as e:
        dec(bad, "price")
    assert e.value.field == "price"


def test_indian_grouping():
    assert fmt_inr(Decimal("12345678.5")) == "1,23,45,678.50"
    assert fmt_inr(100000) == "1,00,000.00"
    assert fmt_inr(-1234.567) == "-1,234.57"
    assert fmt_inr(999) == "999.00"


def test_charges_add_and_total():
    a = Charges(brokerage=Decimal("20"), stt=Decimal("51"), gst=Decimal("3.6"))
    b = Charges(brokerage=Decimal("20"), exchange_txn=Decimal("15.29"))
    c = a + b
    assert c.brokerage == 40 and c.total == Decimal("109.89")
    assert Charges.from_dict(c.as_dict()) == c


components = st.one_of(money, st.integers(-10**6, 10**6), st.decimals(allow_nan=False, allow_infinity=False, places=0,
                                                                    min_value=-10**6, max_value=10**6))


@given(st.lists(components, min_size=14, max_size=14))
def test_charges_arithmetic_and_text_are_the_component_by_component_reference(xs):
    """Positional ``+``/``minus``/``total``/``as_dict``/``from_dict`` against the generic per-field forms
    they replace, to the Decimal exponent (ints too)."""
    from tradekit.model.charges import COMPONENTS

    a, b = Charges(*xs[:7]), Charges(*xs[7:])
    assert repr(a + b) == repr(Charges(**{c: getattr(a, c) + getattr(b, c) for c in COMPONENTS}))
    assert repr(a.minus(b)) == repr(Charges(**{c: getattr(a, c) - getattr(b, c) for c in COMPONENTS}))
    assert repr(a.total) == repr(paise(sum((getattr(a, c) for c in COMPONENTS), Decimal(0))))
    text = {c: f"{paise(getattr(a, c)):.2f}" for c in COMPONENTS}
    assert a.as_dict(with_total=False) == text
    assert a.as_dict() == {**text, "total": f"{a.total:.2f}"}
    back = Charges.from_dict(text)
    assert repr(back) == repr(Charges(**{c: dec(text[c], c) for c in COMPONENTS}))


def _reference_dec(value, field="value"):
    """``dec`` as it was before its exact-class shortcuts (the isinstance chain)."""
    import math

    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(f"{value} is not a finite number", field=field)
        return value
    if isinstance(value, bool):
        raise ValidationError(f"{value!r} is a boolean, not a number", field=field)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{value!r} is not a finite number", field=field)
        return Decimal(float.__repr__(value))
    if isinstance(value, str):
        try:
            d = Decimal(value.strip().replace(",", ""))
        except Exception:
            raise ValidationError(f"{value!r} is not a number", field=field) from None
        if not d.is_finite():
            raise ValidationError(f"{value!r} is not a finite number", field=field)
        return d
    return dec(value, field)  # numpy scalars and the like: unchanged


class _Str(str):
    pass


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.decimals(), st.booleans(),
                 st.text(max_size=12), st.from_regex(r"\s*-?[0-9,]{0,8}(\.[0-9]{0,4})?\s*", fullmatch=True),
                 st.sampled_from(["NaN", "inf", "-Infinity", "1e5", " 12.50 ", "1,23,456.78", "١٢"]),
                 st.decimals().map(lambda d: _Str(str(d)))))
def test_dec_is_the_general_conversion_on_its_fast_paths(v):
    """``dec``'s exact-class shortcuts (Decimal, float, int, str) give what the isinstance chain gave,
    the same Decimal to the exponent, or the same refusal."""

    def run(f):
        try:
            return repr(f(v, "f"))
        except ValidationError as e:
            return ("refused", str(e), e.field)

    assert run(dec) == run(_reference_dec)


def test_charges_behave_as_the_generated_frozen_dataclass():
    """Charges' own __init__ (slot setters) against the one dataclass generates: defaults, keywords,
    positional order, equality, hash, repr, replace, pickling, frozenness and unknown fields."""
    import dataclasses
    import pickle

    from tradekit.model.charges import COMPONENTS

    Ref = dataclasses.make_dataclass("Charges", [(c, Decimal, dataclasses.field(default=Decimal(0))) for c in COMPONENTS],
                                     frozen=True, slots=True)
    xs = [Decimal(i) / 4 for i in range(1, 8)]
    for args, kw in (((), {}), (xs, {}), (xs[:3], {"gst": Decimal("1.5")}), ((), {"dp": Decimal("15.93")})):
        a, r = Charges(*args, **kw), Ref(*args, **kw)
        assert repr(a) == repr(r)
        assert hash(a) == hash(r) and a == Charges(*args, **kw)
        assert pickle.loads(pickle.dumps(a)) == a
        assert dataclasses.replace(a, stt=Decimal(7)).stt == 7 and dataclasses.astuple(a) == dataclasses.astuple(r)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Charges().brokerage = Decimal(1)
    with pytest.raises(TypeError):
        Charges(fee=Decimal(1))
    with pytest.raises(TypeError):
        Charges(*range(8))
