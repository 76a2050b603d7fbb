"""Listeners routed by the event types they declare (tradekit/store/listeners.py, the OMS's dispatch)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.store.listeners import Listeners, listens

TYPES = ("order.created", "risk.decision", "fill", "mark")


def _make(i: int, types: tuple | None):
    def fn(ev):
        return None

    fn.__name__ = f"listener{i}"
    return listens(*types)(fn) if types is not None else fn


_ops = st.one_of(
    st.tuples(st.just("append"), st.none() | st.tuples(*(st.sampled_from(TYPES),) * 2)),
    st.tuples(st.just("insert"), st.integers(-3, 5), st.none() | st.tuples(st.sampled_from(TYPES))),
    st.tuples(st.just("remove"), st.integers(0, 10)),
    st.tuples(st.just("pop"), st.integers(0, 10)),
    st.tuples(st.just("setitem"), st.integers(0, 10), st.none() | st.tuples(st.sampled_from(TYPES))),
    st.tuples(st.just("delslice")),
    st.tuples(st.just("reverse")),
    st.tuples(st.just("extend"), st.lists(st.none() | st.tuples(st.sampled_from(TYPES)), max_size=3)),
    st.tuples(st.just("route"), st.sampled_from(TYPES)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ops, max_size=25))
def test_a_route_is_the_listeners_of_that_type_in_list_order_whatever_changed_the_list(ops):
    ls, n = Listeners(), 0

    def new(types):
        nonlocal n
        n += 1
        return _make(n, types)

    for op in ops:
        kind = op[0]
        if kind == "append":
            ls.append(new(op[1]))
        elif kind == "insert":
            ls.insert(op[1], new(op[2]))
        elif kind == "remove" and ls:
            ls.remove(ls[op[1] % len(ls)])
        elif kind == "pop" and ls:
            ls.pop(op[1] % len(ls))
        elif kind == "setitem" and ls:
            ls[op[1] % len(ls)] = new(op[2])
        elif kind == "delslice":
            del ls[:1]
        elif kind == "reverse":
            ls.reverse()
        elif kind == "extend":
            ls.extend(new(t) for t in op[1])
        elif kind == "route":
            ls.route(op[1])  # fills the cache the next change must forget
        for t in TYPES:
            expected = tuple(fn for fn in ls if getattr(fn, "event_types", None) is None or t in fn.event_types)
            assert ls.route(t) == expected


def test_a_marked_method_is_routed_by_its_types_and_stays_a_list_member():
    class Watcher:
        @listens("fill")
        def on_event(self, ev):
            return None

    w, calls = Watcher(), []
    ls = Listeners([calls.append])
    ls.append(w.on_event)
    assert ls.route("fill") == (calls.append, w.on_event)
    assert ls.route("order.created") == (calls.append,)
    ls.remove(w.on_event)  # a bound method is found again by equality, as in a plain list
    assert ls.route("fill") == (calls.append,)
