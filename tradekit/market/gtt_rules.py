"""Zerodha's GTT rules from the dated table ``data/gtt_rules.yaml`` (sources in the file).

One set of rules for everything that handles a GTT: the paper broker's emulation, kite-sim,
and the checks tradekit makes before it places one at Kite.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tradekit.errors import DataError, ValidationError
from tradekit.market._tables import load_yaml


@dataclass(frozen=True)
class GttRules:
    since: date
    products: dict[str, tuple[str, ...]]  # instrument segment -> allowed products
    min_distance_pct: Decimal
    min_distance_abs: Decimal
    price_threshold: Decimal
    max_active: int
    validity_days: int

    def min_distance(self, last_price: Decimal) -> Decimal:
        """The least a trigger may be from ``last_price`` without the GTT being disabled."""
        if last_price > self.price_threshold:
            return last_price * self.min_distance_pct / 100
        return self.min_distance_abs

    def too_close(self, trigger: Decimal, last_price: Decimal | None) -> bool:
        return last_price is not None and abs(trigger - last_price) < self.min_distance(last_price)

    def check_product(self, segment: str, product: str, symbol: str) -> None:
        allowed = self.products.get(str(segment))
        if not allowed:
            raise ValidationError(f"{symbol}: GTT is not available in the {segment} segment "
                                  f"(segments: {', '.join(self.products)})", field="exchange")
        if str(product) not in allowed:
            raise ValidationError(f"{symbol}: a GTT in {segment} takes {'/'.join(allowed)}, not {product}", field="product")


def gtt_rules(on: date | None = None) -> GttRules:
    """The rules in force on ``on`` (default: the latest)."""
    rows = load_yaml("gtt_rules.yaml").get("rules") or []
    best = None
    for r in rows:
        since = r["from"] if isinstance(r["from"], date) else date.fromisoformat(str(r["from"]))
        if (on is None or since <= on) and (best is None or since >= best[0]):
            best = (since, r)
    if best is None:
        raise DataError(f"gtt_rules.yaml: no GTT rules in force on {on}")
    since, r = best
    return GttRules(since=since, products={k: tuple(v) for k, v in r["products"].items()},
                    min_distance_pct=Decimal(str(r["min_distance_pct"])), min_distance_abs=Decimal(str(r["min_distance_abs"])),
                    price_threshold=Decimal(str(r["price_threshold"])), max_active=int(r["max_active"]),
                    validity_days=int(r["validity_days"]))
