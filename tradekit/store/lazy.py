"""The parts of a book that grow with history, kept out of memory until something asks for them.

A session started from a journal snapshot (:mod:`tradekit.store.snapshot`) holds in memory only
what can still change: the orders not yet final or last changed on the snapshot's day or later,
and what came after. The finished orders of earlier days, the signal ids seen (de-duplication),
the trade ids booked and the broker ids of those orders stay in the snapshot's side tables
(:mod:`tradekit.store.snapshot_cold`) and are read on first access, one indexed read each:

- :class:`LazyOrders` (``book.orders``): a lookup by id finds an old order (a late broker update,
  a fill, a report asking for it); iterating (reports over old days) reads every old order once;
  ``hot`` is the in-memory dict (what the risk gate and the day's counts walk — every order of the
  current day and every order not final is in it);
- :class:`LazySet` (``book.signals``, ``book.trade_ids``): membership asks the side table;
- :class:`LazyMap` (``book.by_broker_id``, ``book.decisions``): a broker id of an old order maps to
  its id; a person's decision on an old order is read back.

An order read from the side table is cached; the first event that changes it (:meth:`Book.apply
<tradekit.store.projection.Book.apply>`) moves it into ``hot`` (:meth:`LazyOrders.promote`), so the
next snapshot writes it again. ``copy.deepcopy`` and ``==`` see the whole content.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any, Protocol


class ColdSource(Protocol):
    """What the lazy parts read (:class:`tradekit.store.snapshot_cold.ColdStore`)."""

    def order(self, cid: str) -> Any | None: ...

    def orders(self) -> Iterator[Any]: ...

    def value(self, kind: str, key: str) -> str | None: ...

    def keys(self, kind: str) -> Iterator[tuple[str, str | None]]: ...

    def max_int(self, kind: str) -> int: ...


def _max_int(keys) -> int:
    return max((int(k) for k in keys if k.isdigit()), default=0)


class LazyOrders:
    """``client_order_id -> Order``: ``hot`` in memory, the rest in the snapshot's side table."""

    __slots__ = ("_all", "_lock", "cache", "cold", "count", "hot", "shadowed")

    def __init__(self, hot: dict, cold: ColdSource, count: int):
        self.hot = hot
        self.cold = cold
        self.count = count  # distinct orders in the side table (none of them in ``hot`` at start)
        self.cache: dict = {}  # read from the side table, not changed since
        self.shadowed: set[str] = set()  # side-table orders moved into ``hot`` (changed after the snapshot)
        self._all = False  # every side-table order is in ``cache`` or ``hot``
        self._lock = threading.Lock()

    # -- lookups (one indexed read for an old order) -----------------------------------------------
    def _old(self, cid: str):
        o = self.cache.get(cid)
        if o is None and not self._all and cid not in self.shadowed:
            o = self.cold.order(cid)
            if o is not None:
                with self._lock:
                    o = self.cache.setdefault(cid, o)  # two threads asking at once share one object
        return o

    def __getitem__(self, cid: str):
        try:
            return self.hot[cid]
        except KeyError:
            o = self._old(cid)
            if o is None:
                raise KeyError(cid) from None
            return o

    def get(self, cid: str, default=None):
        o = self.hot.get(cid)
        if o is None:
            o = self._old(cid)
        return default if o is None else o

    def __contains__(self, cid) -> bool:
        return cid in self.hot or self._old(cid) is not None

    def __setitem__(self, cid: str, o) -> None:
        self.hot[cid] = o

    def promote(self, cid: str) -> None:
        """An event changed ``cid``: from now on it is in ``hot`` (and in the next snapshot's body)."""
        with self._lock:
            o = self.cache.pop(cid, None)
            if o is not None and cid not in self.hot:
                self.hot[cid] = o
                self.shadowed.add(cid)

    # -- the whole content (reads every old order once) ----------------------------------------
    def load_all(self) -> None:
        if self._all:
            return
        with self._lock:
            if self._all:
                return
            cache = {}
            for o in self.cold.orders():  # in the order they were created
                cid = o.client_order_id
                if cid in self.hot:
                    continue
                cache[cid] = self.cache.get(cid, o)  # an order already handed out stays the same object
            self.cache = cache
            self._all = True

    def __iter__(self) -> Iterator[str]:
        self.load_all()
        yield from list(self.cache)
        yield from list(self.hot)

    def keys(self) -> list[str]:
        return list(self)

    def values(self) -> list:
        self.load_all()
        return [*self.cache.values(), *self.hot.values()]

    def items(self) -> list[tuple]:
        self.load_all()
        return [*self.cache.items(), *self.hot.items()]

    def __len__(self) -> int:
        return len(self.hot) + self.count - len(self.shadowed)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __eq__(self, other) -> bool:
        if isinstance(other, LazyOrders):
            other = dict(other.items())
        return isinstance(other, dict) and dict(self.items()) == other

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo) -> dict:
        return copy.deepcopy(dict(self.items()), memo)

    def __repr__(self) -> str:
        return f"LazyOrders({len(self.hot)} in memory, {self.count - len(self.shadowed)} in the snapshot's side table)"


class LazySet:
    """A set of ids: those added since the snapshot in memory, the earlier ones in the side table."""

    __slots__ = ("cold", "hot", "kind")

    def __init__(self, hot: set, cold: ColdSource, kind: str):
        self.hot, self.cold, self.kind = hot, cold, kind

    def __contains__(self, key) -> bool:
        return key in self.hot or (isinstance(key, str) and self.cold.value(self.kind, key) is not None)

    def add(self, key: str) -> None:
        self.hot.add(key)

    def discard(self, key: str) -> None:  # only what came after the snapshot can be taken back
        self.hot.discard(key)

    def update(self, keys) -> None:
        self.hot.update(keys)

    def _all(self) -> set:
        return {k for k, _ in self.cold.keys(self.kind)} | self.hot

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __bool__(self) -> bool:
        return bool(self.hot) or next(iter(self.cold.keys(self.kind)), None) is not None

    def max_int(self) -> int:
        """The largest all-digit id (the paper broker continues its numbering after it)."""
        return max(_max_int(self.hot), self.cold.max_int(self.kind))

    def __eq__(self, other) -> bool:
        if isinstance(other, LazySet):
            other = other._all()
        return isinstance(other, (set, frozenset)) and self._all() == other

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo) -> set:
        return self._all()

    def __repr__(self) -> str:
        return f"LazySet({self.kind}: {len(self.hot)} in memory)"


class LazyMap:
    """``key -> value``: those set since the snapshot in memory, the earlier ones in the side table
    (strings there; ``decode`` turns one into the value, e.g. a person's decision from its JSON)."""

    __slots__ = ("cold", "decode", "hot", "kind")

    def __init__(self, hot: dict, cold: ColdSource, kind: str, decode=None):
        self.hot, self.cold, self.kind, self.decode = hot, cold, kind, decode

    def get(self, key, default=None):
        v = self.hot.get(key)
        if v is None and isinstance(key, str):
            v = self.cold.value(self.kind, key)
            if v is not None and self.decode is not None:
                v = self.decode(v)
        return default if v is None else v

    def __getitem__(self, key):
        v = self.get(key)
        if v is None:
            raise KeyError(key)
        return v

    def __contains__(self, key) -> bool:
        return self.get(key) is not None

    def __setitem__(self, key, value) -> None:
        self.hot[key] = value

    def _all(self) -> dict:
        dec = self.decode or (lambda v: v)
        return {**{k: dec(v) for k, v in self.cold.keys(self.kind)}, **self.hot}

    def items(self):
        return self._all().items()

    def keys(self):
        return self._all().keys()

    def values(self):
        return self._all().values()

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def max_int(self) -> int:
        return max(_max_int(self.hot), self.cold.max_int(self.kind))

    def __eq__(self, other) -> bool:
        if isinstance(other, LazyMap):
            other = other._all()
        return isinstance(other, dict) and self._all() == other

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo) -> dict:
        return self._all()

    def __repr__(self) -> str:
        return f"LazyMap({self.kind}: {len(self.hot)} in memory)"


def max_int(ids) -> int:
    """The largest all-digit id of a set or map of ids, lazy or not."""
    f = getattr(ids, "max_int", None)
    return f() if f is not None else _max_int(ids)


def hot(orders):
    """The in-memory part of ``book.orders`` (the whole dict when nothing is lazy): every order of the
    current day and every order not final."""
    return getattr(orders, "hot", orders)
