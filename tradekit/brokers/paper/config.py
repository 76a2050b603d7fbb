"""Paper broker settings: fill model, slippage, latency, margins, seeded randomness."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tradekit.execution.margin import MarginConfig  # the OMS and the paper RMS share one margin model


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlippageConfig(_Section):
    """How far a fill lands from the reference price, always against the trader.

    - ``none``: fill at the reference price (bar open, trigger, tick price).
    - ``fixed_bps``: ``bps`` basis points.
    - ``spread``: half of an assumed spread of ``spread_ticks`` ticks (liquid NSE stocks: 1-2).
    - ``volume_impact``: ``bps`` + ``impact_bps`` × √(quantity / bar volume) — a square-root
      impact law; bigger orders relative to the bar's volume pay more.
    ``noise_bps`` adds seeded uniform noise in [0, noise_bps] on top (reproducible by ``seed``).
    The price is computed exactly and rounded once onto the tick grid, against the trader.
    Limit orders never fill beyond their limit price. ``clamp_to_bar`` (default true) keeps a
    market fill on a bar inside the bar's high-low range: a price outside it never traded (2 bps
    added to an open that was the bar's high would be one); false lets the model price a fill
    beyond the bar, e.g. to model an order that sweeps the book past the bar's extremes.
    """

    model: Literal["none", "fixed_bps", "spread", "volume_impact"] = Field(
        "fixed_bps", description="none, fixed_bps, spread (half of spread_ticks) or volume_impact (bps + impact_bps × "
        "√(quantity / bar volume)); always against the trader")
    bps: float = Field(2.0, ge=0, description="fixed_bps and volume_impact: the base slippage in basis points")
    spread_ticks: float = Field(1.0, ge=0, description="spread: the assumed bid-ask spread in ticks (a fill pays half)")
    impact_bps: float = Field(50.0, ge=0, description="volume_impact: basis points × √(quantity / bar volume)")
    noise_bps: float = Field(0.0, ge=0, description="seeded uniform noise in [0, noise_bps] added on top (paper.seed)")
    clamp_to_bar: bool = Field(True, description="a market fill on a bar stays inside the bar's high-low range")


class PaperConfig(_Section):
    """The paper broker. ``feed``: where a paper day's prices come from — ``recorded`` (bundled
    or recorded bars, the default) or ``kite`` (today's live Kite ticks: needs a Kite login for
    the ticker, never sends an order to Kite; fills on the ticks, which the tick store records)."""

    feed: Literal["recorded", "kite"] = Field("recorded", description="recorded bars/ticks, or today's live Kite ticks "
                                              "(needs a Kite login; never sends an order to Kite)")
    latency_ms: int = Field(50, ge=0, description="order travel time to the simulated exchange")
    participation: float = Field(
        0.10, ge=0, le=1, description="max share of a bar's volume one order may take per bar (0 = no cap)"
    )
    depth_participation: float = Field(
        0.25, ge=0, le=1,
        description="tick fills: max share of a tick's liquidity — the larger of the displayed depth on the side an "
                    "order takes and the volume traded since the previous tick — that MARKET orders (and the "
                    "marketable part of a LIMIT) may take on one tick, across all orders (0 = no cap)")
    band_pct: Decimal = Field(Decimal("20"), gt=0, description="price band around the previous close when none is known")
    seed: int = Field(42, description="seed of the slippage noise, so a paper day is reproducible")
    slippage: SlippageConfig = Field(default_factory=SlippageConfig)
    margin: MarginConfig = Field(default_factory=MarginConfig)
    rms_square_off: bool = Field(True, description="the broker squares off MIS at its cut-off (₹50 + GST per order)")
    rms_square_off_fee: Decimal = Field(Decimal("50"), ge=0, description="₹ per order the broker charges for its "
                                        "square-off (plus GST); Zerodha's, india.md")
    reject_on_funds: bool = Field(True, description="reject an order whose margin exceeds the available funds, as "
                                 "the broker does (false: fill regardless, for what-if replays)")
