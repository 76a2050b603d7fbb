"""Record builders and a recording sink shared by the signal tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from tradekit.clock import IST

T0 = datetime(2026, 11, 23, 9, 15, 0, tzinfo=IST)


def record(key: str = "k1", **over) -> dict:
    """A valid raw signal record at T0; ``over`` replaces fields (None removes one)."""
    rec = {
        "idempotency_key": key,
        "strategy": "momo",
        "signal_time": T0.isoformat(),
        "symbol": "RELIANCE",
        "side": "BUY",
        "quantity": 10,
    }
    for k, v in over.items():
        if v is None:
            rec.pop(k, None)
        else:
            rec[k] = v
    return rec


def at(seconds: float) -> str:
    """T0 + seconds, as the ISO text a strategy engine writes."""
    return (T0 + timedelta(seconds=seconds)).isoformat()


class Recorder:
    """A sink that remembers what it was handed."""

    def __init__(self, fail_on: set[str] | None = None):
        self.calls: list[tuple[str, str]] = []
        self.fail_on = fail_on or set()

    def __call__(self, signal, route):
        if signal.signal_id in self.fail_on:
            from tradekit.errors import TradingHalted

            raise TradingHalted("trading is halted by the kill switch")
        self.calls.append((signal.signal_id, route))
        return f"order-for-{signal.signal_id}"

    @property
    def ids(self) -> list[str]:
        return [c[0] for c in self.calls]
