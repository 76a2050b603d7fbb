"""Payoff at expiry of a multi-leg strategy: the curve, max profit and loss, breakevens.

At expiry an option is worth its intrinsic value and a future its settlement price, so the
payoff of legs of one expiry is piecewise linear in the underlying's price ``S`` with kinks at
the strikes::

    P(S) = Σ sign × quantity × multiplier × (value(S) − premium)        sign: BUY +1, SELL −1

It is computed exactly (``Decimal``): the extremes are at ``S = 0``, at a strike, or at
``S → ∞`` (then *unbounded* when the slope beyond the last strike is not zero); breakevens are
the zeros of each linear piece. Premiums are the legs' (per unit); quantities are lots × the
contract's lot size, so the rupees are the basket's.

**Calendars** (legs of two expiries): the payoff is taken at the *first* expiry; a later leg is
then valued with Black-76 on the underlying's price at the volatility implied by its premium
today (held constant, no rates), so the curve is a model, not a certainty — :attr:`Payoff.model`
says so and its extremes are taken on a fine grid (``exact=False``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tradekit.errors import ValidationError
from tradekit.model.enums import InstrumentType
from tradekit.options.strategies import Leg, Strategy

ZERO = Decimal(0)
_Q = Decimal("0.0001")


def _value(leg: Leg, s: Decimal) -> Decimal:
    k = leg.instrument.instrument_type
    if k is InstrumentType.CE:
        return max(s - leg.strike, ZERO)
    if k is InstrumentType.PE:
        return max(leg.strike - s, ZERO)
    if k is InstrumentType.FUT:
        return s
    raise ValidationError(f"{leg.key} is not a future or an option", field="legs")


def _need_premiums(legs) -> None:
    for leg in legs:
        if leg.premium is None:
            raise ValidationError(f"{leg.key}: no premium (the expected entry price per unit) to compute the payoff",
                                  field="premium")


@dataclass(frozen=True)
class Payoff:
    """The payoff of a strategy at expiry (₹ for the whole basket).

    ``max_profit`` / ``max_loss`` are ``None`` when unbounded (``max_loss`` is reported as a
    positive amount of rupees); ``breakevens`` are underlying prices, ascending;
    ``net_premium`` > 0 is a debit. ``exact`` is False for a calendar (see the module docstring).
    """

    strategy: Strategy
    net_premium: Decimal
    max_profit: Decimal | None
    max_loss: Decimal | None
    breakevens: tuple[Decimal, ...]
    kinks: tuple[Decimal, ...]
    exact: bool = True
    model: str = "intrinsic value at expiry"
    at: date | None = None
    today: date | None = None  # a calendar's valuation date (its far legs' volatility is implied as of it)

    @property
    def profit_unbounded(self) -> bool:
        return self.max_profit is None

    @property
    def loss_unbounded(self) -> bool:
        return self.max_loss is None

    def value(self, s) -> Decimal:
        """₹ at underlying price ``s`` (at the first expiry)."""
        return payoff_at(self.strategy, Decimal(str(s)), at=self.at, today=self.today)

    def curve(self, lo=None, hi=None, points: int = 200) -> tuple[list[float], list[float]]:
        """(prices, ₹) over ``[lo, hi]`` (default: the strikes and breakevens ± 8 %); the kinks are included."""
        lo, hi = self.span(lo, hi)
        step = (hi - lo) / max(points - 1, 1)
        xs = sorted({lo + step * i for i in range(points)} | {k for k in self.kinks if lo <= k <= hi}
                    | {b for b in self.breakevens if lo <= b <= hi})
        return [float(x) for x in xs], [float(self.value(x)) for x in xs]

    def span(self, lo=None, hi=None) -> tuple[Decimal, Decimal]:
        pts = list(self.kinks) + list(self.breakevens)
        if self.strategy.spot is not None:
            pts.append(self.strategy.spot)
        a, b = (min(pts), max(pts)) if pts else (Decimal(0), Decimal(1))
        pad = max((b - a) * Decimal("0.25"), b * Decimal("0.04"), Decimal(1))
        return (Decimal(str(lo)) if lo is not None else max(a - pad, ZERO),
                Decimal(str(hi)) if hi is not None else b + pad)

    def summary(self) -> dict:
        """JSON-ready numbers for a card or the journal (strings; ``None`` = unbounded)."""
        r = lambda x: None if x is None else str(x.quantize(Decimal("0.01")))
        return {"net_premium": r(self.net_premium), "max_profit": r(self.max_profit), "max_loss": r(self.max_loss),
                "breakevens": [r(b) for b in self.breakevens], "exact": self.exact, "model": self.model,
                "at": None if self.at is None else self.at.isoformat()}

    def figure(self, ax=None, *, lo=None, hi=None):
        """A matplotlib figure of the payoff (profit green, loss red, breakevens and spot marked)."""
        import matplotlib

        if ax is None:
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(7, 3.6))
        else:
            fig = ax.figure
        xs, ys = self.curve(lo, hi)
        ax.plot(xs, ys, color="#1f4e79", lw=1.8)
        ax.fill_between(xs, ys, 0, where=[y >= 0 for y in ys], color="#2e7d32", alpha=0.15, interpolate=True)
        ax.fill_between(xs, ys, 0, where=[y < 0 for y in ys], color="#c62828", alpha=0.15, interpolate=True)
        ax.axhline(0, color="#555", lw=0.8)
        for b in self.breakevens:
            ax.axvline(float(b), color="#888", ls="--", lw=0.8)
            ax.annotate(f"{float(b):,.2f}", (float(b), 0), textcoords="offset points", xytext=(3, 4), fontsize=8)
        if self.strategy.spot is not None:
            ax.axvline(float(self.strategy.spot), color="#f9a825", lw=1)
        ax.set_title(f"{self.strategy.name} — payoff at {self.at or 'expiry'}", fontsize=10)
        ax.set_xlabel(f"{self.strategy.underlying} at expiry")
        ax.set_ylabel("₹")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: f"{v:,.0f}"))
        fig.tight_layout()
        return fig

    def svg(self, width: int = 420, height: int = 180, *, lo=None, hi=None) -> str:
        """A small inline SVG of the payoff for the approval card (no matplotlib needed)."""
        xs, ys = self.curve(lo, hi, points=120)
        x0, x1 = xs[0], xs[-1]
        y0, y1 = min(ys + [0.0]), max(ys + [0.0])
        if y1 == y0:
            y1 = y0 + 1
        pad = 6
        fx = lambda x: pad + (x - x0) / (x1 - x0 or 1) * (width - 2 * pad)
        fy = lambda y: pad + (y1 - y) / (y1 - y0) * (height - 2 * pad)
        pts = " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in zip(xs, ys))
        zero = fy(0.0)
        parts = [(f'<svg class="tk-payoff" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                  f'viewBox="0 0 {width} {height}" role="img" aria-label="payoff at expiry">'),
                 f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa"/>',
                 f'<rect x="0" y="0" width="{width}" height="{zero:.1f}" fill="#2e7d32" opacity="0.06"/>',
                 f'<rect x="0" y="{zero:.1f}" width="{width}" height="{height - zero:.1f}" fill="#c62828" opacity="0.06"/>',
                 f'<line x1="0" x2="{width}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#555" stroke-width="0.8"/>']
        for b in self.breakevens:
            bx = fx(float(b))
            parts.append(f'<line class="tk-breakeven" x1="{bx:.1f}" x2="{bx:.1f}" y1="0" y2="{height}" stroke="#888" '
                         f'stroke-dasharray="3,3"/><text x="{bx + 2:.1f}" y="{height - 4}" font-size="9">{float(b):,.0f}</text>')
        if self.strategy.spot is not None:
            sx = fx(float(self.strategy.spot))
            parts.append(f'<line class="tk-spot" x1="{sx:.1f}" x2="{sx:.1f}" y1="0" y2="{height}" stroke="#f9a825"/>')
        parts.append(f'<polyline fill="none" stroke="#1f4e79" stroke-width="1.8" points="{pts}"/>')
        parts.append(f'<text x="{pad}" y="12" font-size="9">{y1:,.0f}</text>'
                     f'<text x="{pad}" y="{height - pad}" font-size="9">{y0:,.0f}</text></svg>')
        return "".join(parts)

    def png(self) -> bytes:
        """The matplotlib figure as PNG bytes."""
        import io

        import matplotlib

        matplotlib.use("Agg", force=False)
        fig = self.figure()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        import matplotlib.pyplot as plt

        plt.close(fig)
        return buf.getvalue()


# -- Black-76 for a calendar's later leg ----------------------------------------------------------
def _ncdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _b76(f: float, k: float, t: float, vol: float, call: bool) -> float:
    if t <= 0 or vol <= 0:
        return max(f - k, 0.0) if call else max(k - f, 0.0)
    sd = vol * math.sqrt(t)
    d1 = (math.log(f / k) + sd * sd / 2) / sd
    d2 = d1 - sd
    return f * _ncdf(d1) - k * _ncdf(d2) if call else k * _ncdf(-d2) - f * _ncdf(-d1)


def _implied(price: float, f: float, k: float, t: float, call: bool) -> float:
    lo, hi = 1e-4, 5.0
    if price <= _b76(f, k, t, lo, call):
        return lo
    for _ in range(100):
        mid = (lo + hi) / 2
        if _b76(f, k, t, mid, call) > price:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def _years(a: date, b: date) -> float:
    return max((b - a).days, 0) / 365.0


def payoff_at(strategy: Strategy, s: Decimal, *, at: date | None = None, today: date | None = None) -> Decimal:
    """₹ of the whole basket if the underlying is ``s`` at ``at`` (default: the first expiry)."""
    _need_premiums(strategy.legs)
    first = at or (strategy.expiries[0] if strategy.expiries else None)
    total = ZERO
    model = False
    for leg in strategy.legs:
        if leg.expiry is not None and first is not None and leg.expiry > first and leg.instrument.is_option:
            v = Decimal(str(round(_later_value(strategy, leg, float(s), first, today), 6)))
            model = True
        else:
            v = _value(leg, s)
        total += leg.sign * leg.units() * (v - leg.premium)
    return total.quantize(Decimal("0.01")) if model else total  # a model's rupees: to the paisa


def _later_value(strategy: Strategy, leg: Leg, s: float, first: date, today: date | None) -> float:
    if strategy.spot is None:
        raise ValidationError("a calendar's payoff needs the underlying's price (spot=) to imply the far leg's "
                              "volatility", field="spot")
    today = today or strategy.meta.get("today") or date.today()
    call = leg.instrument.instrument_type is InstrumentType.CE
    k = float(leg.strike)
    t_now = _years(today, leg.expiry)
    vol = _implied(float(leg.premium), float(strategy.spot), k, t_now, call)
    return _b76(s, k, _years(first, leg.expiry), vol, call)


def payoff(strategy: Strategy, *, today: date | None = None) -> Payoff:
    """The payoff of ``strategy`` at its first expiry: exact for legs of one expiry (see the module docstring)."""
    _need_premiums(strategy.legs)
    net = strategy.net_premium
    exps = strategy.expiries
    strikes = sorted({leg.strike for leg in strategy.legs if leg.strike is not None})
    if len(exps) > 1 and any(leg.instrument.is_option and leg.expiry > exps[0] for leg in strategy.legs):
        return _calendar(strategy, net, strikes, today)
    kinks = [ZERO] + [k for k in strikes if k > 0]
    vals = [payoff_at(strategy, k) for k in kinks]
    # slope beyond the last kink: calls and futures rise with S
    slope = sum((leg.sign * leg.units() for leg in strategy.legs
                 if leg.instrument.instrument_type in (InstrumentType.CE, InstrumentType.FUT)), 0)
    hi, lo = max(vals), min(vals)
    max_profit = None if slope > 0 else hi
    max_loss = None if slope < 0 else -lo
    # breakevens: zeros on each piece, and beyond the last kink
    bes: list[Decimal] = []
    for (a, va), (b, vb) in zip(zip(kinks, vals), zip(kinks[1:], vals[1:])):
        if va == 0:
            bes.append(a)
        if (va < 0 < vb) or (vb < 0 < va):
            bes.append(a + (b - a) * (-va) / (vb - va))
    if vals[-1] == 0 and kinks[-1] not in bes:
        bes.append(kinks[-1])
    if slope != 0 and ((vals[-1] < 0 < slope) or (vals[-1] > 0 > slope)):
        bes.append(kinks[-1] - vals[-1] / slope)
    bes = sorted({b.quantize(_Q) if b != b.to_integral_value() else b for b in bes if b > 0})
    return Payoff(strategy, net, _nz(max_profit), _nz(max_loss), tuple(bes), tuple(k for k in kinks if k > 0),
                  at=exps[0] if exps else None)


def _nz(x: Decimal | None) -> Decimal | None:
    return None if x is None else (x if x != 0 else ZERO)


def _calendar(strategy: Strategy, net: Decimal, strikes: list[Decimal], today: date | None) -> Payoff:
    first = strategy.expiries[0]
    k0, k1 = strikes[0], strikes[-1]
    lo, hi = max(k0 * Decimal("0.5"), Decimal(1)), k1 * Decimal("1.5")
    n = 600
    xs = [lo + (hi - lo) * i / n for i in range(n + 1)] + strikes
    xs = sorted(set(xs))
    ys = [payoff_at(strategy, x, at=first, today=today) for x in xs]
    bes = []
    for (a, va), (b, vb) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if (va < 0 <= vb) or (vb < 0 <= va):
            bes.append((a + (b - a) * (-va) / (vb - va)).quantize(Decimal("0.01")))
    # far legs bound the tails: net calls/puts across expiries decide whether a side is unbounded
    calls = sum(leg.sign * leg.units() for leg in strategy.legs if leg.instrument.instrument_type is InstrumentType.CE)
    futs = sum(leg.sign * leg.units() for leg in strategy.legs if leg.instrument.instrument_type is InstrumentType.FUT)
    slope = calls + futs
    mp = None if slope > 0 else max(ys)
    ml = None if slope < 0 else -min(ys)
    return Payoff(strategy, net, mp, ml, tuple(bes), tuple(strikes), exact=False,
                  model=f"at {first}: later legs by Black-76 at the volatility implied by their premium", at=first,
                  today=today or strategy.meta.get("today"))
