"""Market-data value types shared by the feeds, the paper exchange and the Kite ticker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterator, NamedTuple, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Bar:
    """An OHLCV bar labelled by its start; ``end`` is when it is complete."""

    key: str  # "NSE:RELIANCE"
    start: datetime
    end: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int = 0


class DepthLevel(NamedTuple):
    price: float
    quantity: int
    orders: int = 0


class Tick(NamedTuple):
    """One market-data update (a Kite ticker packet, or a row of a tick file).

    Fields a mode does not carry are ``None`` (an LTP packet has only the price). A
    ``NamedTuple`` rather than a dataclass: a ticker delivers thousands a second and a tuple
    is built about six times faster, with the same attribute access and immutability.
    """

    key: str | None  # "NSE:INFY" when known; Kite packets carry only the token
    ts: datetime | None
    last_price: float
    instrument_token: int | None = None
    mode: str = "ltp"  # ltp | quote | full
    tradable: bool = True
    last_quantity: int | None = None
    average_price: float | None = None
    volume: int | None = None
    buy_quantity: int | None = None
    sell_quantity: int | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float | None = None
    change: float | None = None
    last_trade_time: datetime | None = None
    oi: int | None = None
    oi_day_high: int | None = None
    oi_day_low: int | None = None
    bids: tuple[DepthLevel, ...] = ()
    asks: tuple[DepthLevel, ...] = ()


@runtime_checkable
class Feed(Protocol):
    """A source of market data in time order: a file replay now, the Kite ticker live."""

    def subscribe(self, keys: list[str], mode: str = "quote") -> None: ...

    def unsubscribe(self, keys: list[str]) -> None: ...

    def __iter__(self) -> Iterator[Bar | Tick]: ...
