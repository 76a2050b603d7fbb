"""The Kite ticker as a :class:`tradekit.data.types.Feed` (ltp / quote / full modes)."""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Iterator

from tradekit.data.types import Tick

log = logging.getLogger(__name__)

_END = object()


class KiteFeed:
    """Ticks from a :class:`~tradekit.brokers.kite.stream.KiteStream`, by instrument key.

    Parameters
    ----------
    stream
        The ticker connection (its ``on_ticks`` is taken over by the feed).
    token_of
        ``"EXCH:SYMBOL" -> instrument_token`` (the instrument master).
    maxsize
        Ticks buffered for a slow reader; beyond it the oldest are dropped (``dropped`` counts
        them): a trading loop wants the latest prices, not a growing backlog.
    sink
        ``fn(list[Tick])`` called with every frame's ticks instead of queueing them (the
        market-data hub takes the feed this way; ``sink`` may also be set later).
    """

    def __init__(self, stream, token_of: Callable[[str], int], maxsize: int = 100_000,
                 sink: Callable[[list[Tick]], None] | None = None):
        self.stream = stream
        self.token_of = token_of
        self.queue: queue.Queue = queue.Queue(maxsize)
        self.dropped = 0
        self.modes: dict[str, str] = {}
        self.sink = sink
        stream.on_ticks = self._on_ticks

    def _on_ticks(self, ticks: list[Tick]) -> None:
        sink = self.sink
        if sink is not None:
            sink(ticks)
            return
        for t in ticks:
            try:
                self.queue.put_nowait(t)
            except queue.Full:
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    pass
                self.dropped += 1
                self.queue.put_nowait(t)

    def subscribe(self, keys: list[str], mode: str = "quote") -> None:
        """Stream ``keys`` (``"NSE:INFY"``) in ``mode``: ``ltp``, ``quote`` or ``full``."""
        tokens = []
        for k in keys:
            tok = int(self.token_of(k))
            self.stream.keys[tok] = k
            self.modes[k] = mode
            tokens.append(tok)
        self.stream.subscribe(tokens, mode)

    def unsubscribe(self, keys: list[str]) -> None:
        tokens = [int(self.token_of(k)) for k in keys]
        for k in keys:
            self.modes.pop(k, None)
        self.stream.unsubscribe(tokens)

    def close(self) -> None:
        """End iteration (the stream itself is left to its owner)."""
        self.queue.put(_END)

    def get(self, timeout: float | None = None) -> Tick | None:
        """The next tick, or None after ``timeout`` seconds."""
        try:
            t = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if t is _END:
            self.queue.put(_END)
            return None
        return t

    def __iter__(self) -> Iterator[Tick]:
        while True:
            t = self.queue.get()
            if t is _END:
                self.queue.put(_END)
                return
            yield t
