"""Event listeners that declare the event types they read, and a list that routes by type.

The OMS hands each event it writes to its listeners (risk manager, brackets, GTT protector,
slicing parents, baskets): about seven events per order, and most listeners read one or two
types. A listener that reads only some types says so with :func:`listens`; a
:class:`Listeners` list gives, per event type, the tuple of listeners to call — in list order,
so the listeners that get an event get it in the order they always did — and forgets its
routes whenever the list changes (``append``, ``remove``, ...), so it stays an ordinary list
to its users.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


def listens(*types: str) -> Callable:
    """Mark a listener function (or method) as reading only events of ``types``: a
    :class:`Listeners` list does not call it for any other type. The function itself must
    ignore the other types (a caller may still hand it any event)."""
    wanted = frozenset(types)

    def mark(fn):
        fn.event_types = wanted
        return fn

    return mark


def wants(fn, type_: str) -> bool:
    """Whether listener ``fn`` reads events of ``type_`` (unmarked listeners read every type)."""
    types = getattr(fn, "event_types", None)  # a bound method reads its function's attribute
    return types is None or type_ in types


class typed:  # noqa: N801 - a listener, as a function is
    """``fn`` as a listener of ``types`` only (for a function or bound method that cannot carry the
    :func:`listens` mark itself, e.g. one handed to :meth:`Journal.subscribe
    <tradekit.store.journal.Journal.subscribe>` with its types)."""

    __slots__ = ("event_types", "fn")

    def __init__(self, fn: Callable, types: Iterable[str]) -> None:
        self.fn, self.event_types = fn, frozenset(types)

    def __call__(self, ev) -> None:
        self.fn(ev)


class Listeners(list):
    """Listeners in call order; :meth:`route` is the tuple to call for one event type."""

    __slots__ = ("_routes",)

    def __init__(self, fns: Iterable = ()) -> None:
        super().__init__(fns)
        self._routes: dict[str, tuple] = {}

    def route(self, type_: str) -> tuple:
        """The listeners that read ``type_``, in list order (computed once per type until the list changes)."""
        routes = self._routes  # this table: a change to the list meanwhile replaces it, so a route worked out
        fns = routes.get(type_)  # from the old list never lands in the new table (another thread's append)
        if fns is None:
            fns = routes[type_] = tuple(fn for fn in self if wants(fn, type_))
        return fns


def _forgets_routes(name: str):
    op = getattr(list, name)

    def method(self, *args, **kwargs):
        try:
            return op(self, *args, **kwargs)
        finally:
            self._routes = {}

    method.__name__ = name
    method.__doc__ = f"list.{name}, then the routes are worked out again"
    return method


for _name in ("append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse",
              "__setitem__", "__delitem__", "__iadd__", "__imul__"):
    setattr(Listeners, _name, _forgets_routes(_name))
del _name
