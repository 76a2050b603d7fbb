"""``baskets:`` config — multi-leg baskets: the paper margin estimate and the leg-failure policy.

The SPAN-like estimate's parameters are **tradekit's own values, not exchange figures**:
india.md verifies none of NSE's SPAN scan ranges, exposure rates or short-option minimums, so
they are config values here (with these defaults, dated 2026-12-06) to be set from the
clearing corporation's daily SPAN files or Zerodha's margin calculator. The rules india.md does
verify come from the dated table ``tradekit/options/data/margin_rules.yaml`` (see
:mod:`tradekit.options.margin`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SpanLikeConfig(BaseModel):
    """The paper/sandbox margin estimate (``tradekit.options.margin``); percentages of underlying notional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: str = Field("2026-12-06", description="the date these estimate values were set (not exchange figures: "
                                                 "set them from NSE Clearing's SPAN files or Zerodha's calculator)")
    scan_pct_index: Decimal = Field(Decimal(9), gt=0, le=50, description="price scan range of index derivatives, "
                                    "% of the underlying: the worst loss over moves up to this is the SPAN-like charge")
    scan_pct_stock: Decimal = Field(Decimal(15), gt=0, le=60, description="price scan range of stock derivatives, %")
    exposure_pct_index: Decimal = Field(Decimal(2), ge=0, le=20, description="exposure margin on index futures and "
                                        "short index options, % of notional")
    exposure_pct_stock: Decimal = Field(Decimal("3.5"), ge=0, le=20, description="exposure margin on stock futures "
                                        "and short stock options, % of notional")
    short_option_min_pct_index: Decimal = Field(Decimal(3), ge=0, le=50, description="short option minimum on "
                                                "uncovered short index options, % of notional")
    short_option_min_pct_stock: Decimal = Field(Decimal("7.5"), ge=0, le=50, description="short option minimum on "
                                                "uncovered short stock options, % of notional")
    scan_steps: int = Field(16, ge=2, le=200, description="price scenarios on each side of the current price "
                            "(strikes inside the range are scenarios too)")


class BasketsConfig(BaseModel):
    """``baskets:`` — multi-leg baskets (``session.basket``, :mod:`tradekit.execution.basket`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_leg_failure: Literal["unwind", "retry", "alert"] = Field(
        "unwind", description="a leg refused or rejected after other legs filled: unwind (close the filled legs), "
        "retry (place the leg again up to `retries` times, then unwind), or alert (stop, keep what filled, raise an "
        "alert for a person)")
    retries: int = Field(2, ge=0, le=10, description="retry: how many times a failed leg is placed again")
    on_restart: Literal["resume", "unwind"] = Field(
        "resume", description="a session restarted with a basket half placed: resume it (send the legs still "
        "missing) or unwind it (close what filled)")
    leg_timeout_seconds: float = Field(120.0, gt=0, description="a leg not filled within this (session clock) is "
                                       "cancelled and treated as failed")
    max_premium_at_risk: Decimal | None = Field(None, gt=0, description="₹: refuse a basket whose net debit is above "
                                                "this (null: no limit)")
    max_loss: Decimal | None = Field(None, gt=0, description="₹: refuse a basket whose max loss at expiry is above "
                                     "this or unbounded (null: no limit)")
    margin_buffer_pct: Decimal = Field(Decimal(0), ge=0, le=100, description="the margin the basket would block "
                                       "plus this % must fit in the available funds")
    margin: SpanLikeConfig = Field(default_factory=SpanLikeConfig)
