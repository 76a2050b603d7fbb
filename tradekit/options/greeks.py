"""Implied volatility and Greeks of European options on a forward (Black-76), vectorised for a chain.

The implied volatility is Peter Jäckel's *Let's Be Rational* solver as packaged by ``vollib``
(``lets_be_rational``): machine precision in two iterations for any price between intrinsic and
the forward. The Greeks are Black-76's closed forms evaluated with numpy over whole arrays (a
chain at once); ``tests/unit/options/test_greeks.py`` checks them against vollib's analytical
Greeks and against Hull's published examples.

Conventions (those of vollib's ``black.greeks.analytical`` and of a trader's screen):

* ``forward`` is the price of the future of the option's expiry (or the forward implied by
  put-call parity); for an option on spot, pass ``forward_price(spot, t, r, q)``.
* ``t`` is in years (calendar days / 365); ``r`` the continuously compounded rate that
  discounts the premium.
* ``delta`` is dV/dF, per unit of the underlying (a future has delta 1);
  ``gamma`` d²V/dF²; ``theta`` the change in value per **calendar day** (negative for a long
  option); ``vega`` the change per **1 volatility point** (0.20 → 0.21); ``rho`` per 1 % of ``r``.
* ``flag`` is ``c``/``p`` (also ``CE``/``PE``, ``call``/``put``), one per option or one for all.

Edge cases give values, never exceptions: ``t <= 0`` is an expired option (its intrinsic value,
delta 0 or ±1, other Greeks 0); a volatility of 0 is the discounted intrinsic value; a missing
(NaN) input gives NaN. :func:`implied_vol` gives NaN where no volatility exists, and with
``with_reason=True`` says why for each option (``no price``, ``expired``, ``below intrinsic``,
``above maximum``, ``bad input``). Malformed arguments (an unknown flag, shapes that do not
broadcast) raise :class:`~tradekit.errors.ValidationError` naming the argument.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import ndtr

from tradekit.errors import ValidationError

__all__ = ["implied_vol", "black76_price", "black76_greeks", "forward_price", "parse_flags", "GREEKS"]

GREEKS = ("price", "delta", "gamma", "theta", "vega", "rho")
"""The keys of :func:`black76_greeks`' result."""

_FLAGS = {"c": 1, "call": 1, "ce": 1, "p": -1, "put": -1, "pe": -1}
_SQRT_2PI = math.sqrt(2.0 * math.pi)

# reasons implied_vol gives for a NaN
NO_PRICE, EXPIRED, BELOW_INTRINSIC, ABOVE_MAXIMUM, BAD_INPUT = (
    "no price", "expired", "below intrinsic", "above maximum", "bad input")


def parse_flags(flag: Any) -> np.ndarray:
    """+1 for calls, -1 for puts, from ``c``/``p``/``CE``/``PE``/``call``/``put`` (scalar or array)."""
    arr = np.asarray(flag, dtype=object)
    out = np.empty(arr.shape, dtype=np.int8)
    flat = arr.reshape(-1)
    res = out.reshape(-1)
    for i, f in enumerate(flat):
        q = _FLAGS.get(str(f).strip().lower()) if f is not None else None
        if q is None:
            raise ValidationError(f"{f!r} is not an option type (c, p, CE, PE, call, put)", field="flag")
        res[i] = q
    return out


def _arrays(**named: Any) -> tuple[bool, dict[str, np.ndarray]]:
    """Float arrays broadcast together; True when every input was a scalar."""
    scalar = all(np.ndim(v) == 0 for v in named.values())
    conv = {}
    for k, v in named.items():
        if k == "flag":
            conv[k] = parse_flags(v).astype(float)
            continue
        try:
            conv[k] = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            raise ValidationError(f"{v!r} is not a number or an array of numbers", field=k) from None
    try:
        out = np.broadcast_arrays(*conv.values())
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in conv.items())
        raise ValidationError(f"the arguments' shapes do not match ({shapes})", field="shape") from None
    return scalar, {k: np.array(a, dtype=float) for k, a in zip(conv, out, strict=True)}


def _out(scalar: bool, a: np.ndarray):
    return float(a) if scalar else a


def forward_price(spot: Any, t: Any, r: Any = 0.0, q: Any = 0.0):
    """The forward of a spot price: ``spot · exp((r - q) · t)`` (``q`` a continuous dividend yield)."""
    scalar, a = _arrays(spot=spot, t=t, r=r, q=q)
    return _out(scalar, a["spot"] * np.exp((a["r"] - a["q"]) * np.maximum(a["t"], 0.0)))


def _pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / _SQRT_2PI


def _core(a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    F, K, t, sig, r, q = a["forward"], a["strike"], a["t"], a["vol"], a["r"], a["flag"]
    bad = ~(np.isfinite(F) & np.isfinite(K) & np.isfinite(t) & np.isfinite(sig) & np.isfinite(r)) | (F <= 0) | (K <= 0) | (sig < 0)
    expired = ~bad & (t <= 0)
    flat = ~bad & ~expired & (sig == 0)
    live = ~bad & ~expired & ~flat
    tt = np.where(t > 0, t, 0.0)
    df = np.exp(-r * tt)
    intrinsic = np.maximum(q * (F - K), 0.0)
    itm = (q * (F - K)) > 0
    res = {k: np.full(F.shape, np.nan) for k in GREEKS}
    # expired: worth its intrinsic value; delta ±1 in the money, 0 out of it (and at the money)
    for k in ("gamma", "theta", "vega", "rho"):
        res[k][expired] = 0.0
    res["price"][expired] = intrinsic[expired]
    res["delta"][expired] = np.where(itm, q, 0.0)[expired]
    # zero volatility: the discounted intrinsic value
    res["price"][flat] = (df * intrinsic)[flat]
    res["delta"][flat] = np.where(itm, q * df, 0.0)[flat]
    res["gamma"][flat] = 0.0
    res["vega"][flat] = 0.0
    res["theta"][flat] = (r * df * intrinsic / 365.0)[flat]
    res["rho"][flat] = (-tt * df * intrinsic * 0.01)[flat]
    if live.any():
        Fl, Kl, tl, sl, rl, ql, dfl = F[live], K[live], tt[live], sig[live], r[live], q[live], df[live]
        sq = np.sqrt(tl)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            d1 = (np.log(Fl / Kl) + 0.5 * sl * sl * tl) / (sl * sq)
            d2 = d1 - sl * sq
            # the out-of-the-money side's formula plus the discounted intrinsic value: no cancellation
            # of two large terms for a deep in-the-money option (its time value keeps its digits)
            otm = np.where(ql * (Fl - Kl) > 0, -ql, ql)
            price = dfl * (otm * (Fl * ndtr(otm * d1) - Kl * ndtr(otm * d2)) + np.maximum(ql * (Fl - Kl), 0.0))
            pdf1 = _pdf(d1)
            res["price"][live] = price
            res["delta"][live] = ql * dfl * ndtr(ql * d1)
            res["gamma"][live] = dfl * pdf1 / (Fl * sl * sq)
            res["vega"][live] = Fl * dfl * pdf1 * sq * 0.01
            res["theta"][live] = (-Fl * dfl * pdf1 * sl / (2.0 * sq) + rl * price) / 365.0
            res["rho"][live] = -tl * price * 0.01
    return {k: v + 0.0 for k, v in res.items()}  # + 0.0: no -0.0 on a screen


def black76_greeks(forward: Any, strike: Any, t: Any, vol: Any, r: Any = 0.0, flag: Any = "c") -> dict:
    """Black-76 price, delta, gamma, theta (per day), vega (per vol point) and rho (per 1 %).

    Every argument may be a scalar or an array (they broadcast); scalars in, floats out.

    Examples
    --------
    >>> g = black76_greeks(49.0, 50.0, 0.3846, 0.2, r=0.05, flag="c")   # vollib's doc example
    >>> round(g["delta"], 6), round(g["vega"], 6)
    (0.45107, 0.118318)
    """
    scalar, a = _arrays(forward=forward, strike=strike, t=t, vol=vol, r=r, flag=flag)
    res = _core(a)
    return {k: _out(scalar, v) for k, v in res.items()}


def black76_price(forward: Any, strike: Any, t: Any, vol: Any, r: Any = 0.0, flag: Any = "c"):
    """The (discounted) Black-76 premium; see :func:`black76_greeks`."""
    return black76_greeks(forward, strike, t, vol, r, flag)["price"]


def implied_vol(price: Any, forward: Any, strike: Any, t: Any, r: Any = 0.0, flag: Any = "c", *,
                with_reason: bool = False):
    """The Black-76 implied volatility of (discounted) option premiums.

    NaN where none exists; ``with_reason=True`` returns ``(vols, reasons)`` with one reason per
    option ("" where a volatility was found).

    Examples
    --------
    >>> round(implied_vol(5.5811067246, 100.0, 100.0, 0.5, r=0.02, flag="c"), 6)  # vollib's doc example
    0.2
    >>> implied_vol(0.5, 100.0, 90.0, 0.5, flag="c", with_reason=True)   # below the intrinsic value 10
    (nan, 'below intrinsic')
    """
    from lets_be_rational import implied_volatility_from_a_transformed_rational_guess as _lbr
    from lets_be_rational.exceptions import AboveMaximumException, BelowIntrinsicException

    scalar, a = _arrays(price=price, forward=forward, strike=strike, t=t, r=r, flag=flag)
    P, F, K, T, R, Q = (a[k] for k in ("price", "forward", "strike", "t", "r", "flag"))
    n = P.size
    vols = np.full(n, np.nan)
    why = np.full(n, "", dtype=object)
    for i, (p, f, k, tt, rr, q) in enumerate(zip(P.flat, F.flat, K.flat, T.flat, R.flat, Q.flat, strict=True)):
        if not math.isfinite(p) or p <= 0:
            why[i] = NO_PRICE
        elif not (math.isfinite(f) and math.isfinite(k) and math.isfinite(tt) and math.isfinite(rr)) or f <= 0 or k <= 0:
            why[i] = BAD_INPUT
        elif tt <= 0:
            why[i] = EXPIRED
        else:
            undiscounted = p * math.exp(rr * tt)
            intrinsic = max(q * (f - k), 0.0)
            if undiscounted <= intrinsic:
                why[i] = BELOW_INTRINSIC
                continue
            try:
                v = _lbr(undiscounted, f, k, tt, int(q))
            except BelowIntrinsicException:
                why[i] = BELOW_INTRINSIC
                continue
            except AboveMaximumException:
                why[i] = ABOVE_MAXIMUM
                continue
            if not math.isfinite(v) or v <= 0 or v > 1e6:
                why[i] = BELOW_INTRINSIC if v <= 0 else ABOVE_MAXIMUM
                continue
            vols[i] = v
    vols = vols.reshape(P.shape)
    why = why.reshape(P.shape)
    if scalar:
        return (float(vols), str(why)) if with_reason else float(vols)
    return (vols, why) if with_reason else vols
