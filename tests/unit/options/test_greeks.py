"""Black-76 implied volatility and Greeks against published values, put-call parity and edge cases.

Sources of the reference values:

* Hull, *Options, Futures, and Other Derivatives* (8th ed., Pearson 2012):
  Example 15.6 (S0 = 42, K = 40, r = 10 %, σ = 20 %, T = 0.5: c = 4.76, p = 0.81);
  Example 18.? of the futures-options chapter, Black's model (crude-oil put: F0 = K = 20,
  r = 9 %, σ = 25 %, T = 4 months: p = 1.12);
  chapter 19's running example (S0 = 49, K = 50, r = 5 %, σ = 20 %, T = 20 weeks): call worth
  2.40 (the $240,000 of 100,000 options), delta 0.522, gamma 0.066, vega 12.1 per unit of σ,
  theta -4.31 per year.
* vollib 1.0.11's docstrings (``vollib.black.greeks.analytical``, ``vollib.black``): F = 49,
  K = 50, r = 5 %, t = 0.3846, σ = 0.2: delta 0.45107017482, gamma 0.0640646705882,
  vega 0.118317785624, theta call -0.00816236877462, put -0.00802799155312; and
  F = K = 100, r = 2 %, t = 0.5, σ = 0.2: call 5.5811067246.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.errors import ValidationError
from tradekit.options.greeks import black76_greeks, black76_price, forward_price, implied_vol


def test_hull_example_15_6_through_the_forward():
    F = forward_price(42.0, 0.5, 0.10)
    c, p = black76_price(F, 40.0, 0.5, 0.20, 0.10, ["c", "p"])
    assert round(c, 2) == 4.76 and round(p, 2) == 0.81


def test_hull_blacks_model_futures_put():
    assert round(black76_price(20.0, 20.0, 4 / 12, 0.25, 0.09, "p"), 2) == 1.12


def test_hull_chapter_19_greeks_converted_from_the_forward_to_the_spot():
    S, K, r, sigma, T = 49.0, 50.0, 0.05, 0.20, 20 / 52
    F = forward_price(S, T, r)
    g = black76_greeks(F, K, T, sigma, r, "c")
    grow = math.exp(r * T)  # dF/dS
    assert round(g["price"], 2) == 2.40
    assert round(g["delta"] * grow, 3) == 0.522               # dV/dS = dV/dF · dF/dS
    assert round(g["gamma"] * grow**2, 3) == 0.066
    assert round(g["vega"] * 100, 1) == 12.1                    # per vol point → per unit of σ
    # Black's theta holds F; Hull's holds S, under which F decays at r: Θ_S = Θ_F − r·F·Δ_F (per year)
    assert round(g["theta"] * 365 - r * F * g["delta"], 2) == -4.31


def test_vollib_documented_black_values():
    g = black76_greeks(49.0, 50.0, 0.3846, 0.2, 0.05, ["c", "p"])
    assert g["delta"][0] == pytest.approx(0.45107017482201828, abs=1e-9)
    assert g["gamma"][0] == pytest.approx(0.0640646705882, abs=1e-9)
    assert g["vega"][0] == pytest.approx(0.118317785624, abs=1e-9)
    assert g["theta"][0] == pytest.approx(-0.00816236877462, abs=1e-9)
    assert g["theta"][1] == pytest.approx(-0.00802799155312, abs=1e-9)
    assert black76_price(100.0, 100.0, 0.5, 0.2, 0.02, "c") == pytest.approx(5.5811067246, abs=1e-8)
    assert implied_vol(5.5811067246, 100.0, 100.0, 0.5, 0.02, "c") == pytest.approx(0.2, abs=1e-9)


def test_greeks_are_the_derivatives_of_the_librarys_own_price_over_a_chain():
    """Finite differences of LetsBeRational's Black price (the library's pricer, not ours)."""
    from lets_be_rational import black as lbr_black

    def price(F, K, t, vol, r, q):
        return math.exp(-r * t) * lbr_black(F, K, vol, t, q)

    strikes = np.arange(23000.0, 27001.0, 250.0)
    F, t, r, vol = 25012.5, 6 / 365, 0.065, 0.14
    for flag, q in (("c", 1), ("p", -1)):
        g = black76_greeks(F, strikes, t, vol, r, flag)
        for i, k in enumerate(strikes):
            h, dv, dt = 0.5, 1e-4, 1e-5
            assert g["price"][i] == pytest.approx(price(F, k, t, vol, r, q), abs=1e-7)
            d = (price(F + h, k, t, vol, r, q) - price(F - h, k, t, vol, r, q)) / (2 * h)
            gm = (price(F + h, k, t, vol, r, q) - 2 * price(F, k, t, vol, r, q) + price(F - h, k, t, vol, r, q)) / h**2
            vg = (price(F, k, t, vol + dv, r, q) - price(F, k, t, vol - dv, r, q)) / (2 * dv) * 0.01
            th = (price(F, k, t - dt / 2, vol, r, q) - price(F, k, t + dt / 2, vol, r, q)) / dt / 365
            assert g["delta"][i] == pytest.approx(d, rel=1e-5, abs=1e-6), (flag, k)
            assert g["gamma"][i] == pytest.approx(gm, rel=1e-4, abs=1e-6), (flag, k)
            assert g["vega"][i] == pytest.approx(vg, rel=1e-5, abs=1e-6), (flag, k)
            assert g["theta"][i] == pytest.approx(th, rel=1e-4, abs=1e-6), (flag, k)


@settings(max_examples=30, deadline=None)
@given(F=st.floats(50, 50000), m=st.floats(0.7, 1.3), t=st.floats(1 / 365, 1.0), vol=st.floats(0.05, 0.9),
       r=st.floats(0.0, 0.12))
def test_put_call_parity_and_the_round_trip(F, m, t, vol, r):
    K = F * m
    c, p = black76_price(F, K, t, vol, r, ["c", "p"])
    assert c - p == pytest.approx(math.exp(-r * t) * (F - K), abs=1e-9 * F)
    g = black76_greeks(F, K, t, vol, r, ["c", "p"])
    assert g["delta"][0] - g["delta"][1] == pytest.approx(math.exp(-r * t))   # Δc − Δp = e^{−rt}
    assert g["gamma"][0] == pytest.approx(g["gamma"][1]) and g["vega"][0] == pytest.approx(g["vega"][1])
    iv, why = implied_vol([c, p], F, K, t, r, ["c", "p"], with_reason=True)
    for v, w, price, q in zip(iv, why, (c, p), (1, -1), strict=True):
        time_value = price - math.exp(-r * t) * max(q * (F - K), 0.0)
        if time_value > 1e-6 * F:  # a time value lost in the price's last digits carries no volatility
            assert w == "" and v == pytest.approx(vol, rel=1e-6)


def test_edge_cases_give_values_not_exceptions():
    # expired: intrinsic, delta ±1 in the money, 0 out of it; no volatility
    g = black76_greeks([100.0, 100.0, 100.0], [90.0, 110.0, 110.0], 0.0, 0.2, 0.05, ["c", "c", "p"])
    assert list(g["price"]) == [10.0, 0.0, 10.0] and list(g["delta"]) == [1.0, 0.0, -1.0]
    assert list(g["gamma"]) == [0.0] * 3 and list(g["vega"]) == [0.0] * 3 and list(g["theta"]) == [0.0] * 3
    assert implied_vol(10.0, 100.0, 90.0, 0.0, with_reason=True) == (pytest.approx(math.nan, nan_ok=True), "expired")
    # zero volatility: the discounted intrinsic value, no gamma or vega
    g = black76_greeks(100.0, 90.0, 0.5, 0.0, 0.1, "c")
    assert g["price"] == pytest.approx(10 * math.exp(-0.05)) and g["gamma"] == 0.0 and g["vega"] == 0.0
    # missing inputs: NaN for that option only
    g = black76_greeks([100.0, math.nan], 100.0, 0.1, [0.2, 0.2], 0.0, "c")
    assert math.isfinite(g["price"][0]) and math.isnan(g["price"][1]) and math.isnan(g["delta"][1])
    # deep in the money: delta → e^{−rt}, price → discounted intrinsic, all finite
    g = black76_greeks(25000.0, 15000.0, 2 / 365, 0.15, 0.065, "c")
    assert g["delta"] == pytest.approx(math.exp(-0.065 * 2 / 365)) and g["gamma"] == pytest.approx(0.0, abs=1e-12)
    # deep ITM quote with hardly any time value: found or "below intrinsic", never an exception
    iv, why = implied_vol([10000.0, 9990.0, math.nan, 0.0, 5.0, 30000.0], 25000.0, 15000.0, 2 / 365, 0.0,
                          "c", with_reason=True)
    assert list(why) == ["below intrinsic", "below intrinsic", "no price", "no price", "below intrinsic",
                         "above maximum"]
    assert np.isnan(iv).all()
    iv, why = implied_vol(10000.5, 25000.0, 15000.0, 2 / 365, 0.0, "c", with_reason=True)
    assert why == "" and iv > 0


def test_malformed_arguments_name_the_argument():
    with pytest.raises(ValidationError, match="flag"):
        black76_greeks(100.0, 100.0, 0.1, 0.2, 0.0, "x")
    with pytest.raises(ValidationError, match="shape"):
        black76_greeks([100.0, 101.0], [100.0, 101.0, 102.0], 0.1, 0.2)
    with pytest.raises(ValidationError, match="strike"):
        implied_vol(1.0, 100.0, "abc", 0.1)
    assert black76_greeks(100.0, -5.0, 0.1, 0.2)["price"] != black76_greeks(100.0, -5.0, 0.1, 0.2)["price"]  # NaN
