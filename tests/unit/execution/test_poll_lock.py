"""Session.poll() reads other processes' events under the OMS lock (a fill was once booked twice via
kite-sim): the broker's fill thread commits its ``fill`` event before the seq joins ``journal.own_seqs``;
a poll that read the journal in that window, without the lock, would take the session's own fill for
another process's and book it a second time. Here the interleaving is forced (the real journal, paper
broker, OMS and book; two pauses only: the polling thread waits after the journal's flush, before its
read, for the fill's commit; the journal waits between that commit and its own-seq bookkeeping).
With the lock the poll cannot get between them; with ``Session.poll``'s lock removed this test fails
(the fill comes back from the poll as foreign and its booking raises "trade ... was already booked")."""

from __future__ import annotations

import threading
from datetime import timedelta

from tests.unit.execution.conftest import T0
from tradekit.config import load_config
from tradekit.model.order import OrderRequest, OrderStatus
from tradekit.risk.base import PassThroughGate
from tradekit.session import Session
from tradekit.store.events import EventType as E


class _HeldOwnSeqs(set):
    """``journal.own_seqs`` that, once armed, stops after the commit of a ``fill`` until released."""

    def __init__(self, journal, seqs):
        super().__init__(seqs)
        self.journal = journal
        self.armed = False
        self.committed, self.release = threading.Event(), threading.Event()

    def update(self, *its):
        seqs = [x for it in its for x in it]
        if self.armed and any(ev.seq in seqs for ev in self.journal.events(after=min(seqs) - 1, types=(E.FILL,))):
            self.armed = False
            self.committed.set()  # the fill is in the database; its seq is not yet known as ours
            self.release.wait(5)
        super().update(seqs)


def test_a_poll_during_the_sessions_own_fill_does_not_book_it_again(tmp_path):
    cfg = load_config(overrides={"paper": {"latency_ms": 0, "participation": 0, "slippage": {"model": "none"}},
                                 "approval": {"mode": "auto"}})
    s = Session.for_replay(cfg, tmp_path / "j.db", T0, durability="sync", gate=PassThroughGate())
    try:
        held = s.journal.own_seqs = _HeldOwnSeqs(s.journal, s.journal.own_seqs)
        o = s.submit(OrderRequest("NSE", "INFY", "BUY", 5, "MARKET", "MIS"), strategy="t")
        s.poll()  # everything so far is ours
        held.armed = True
        failed: list[BaseException] = []
        polled: list = []

        def broker_fill():  # the broker's thread: a bar fills the order, booked through the OMS under its lock
            try:
                start = T0 + timedelta(minutes=1)
                s.clock.set(start)
                s.broker.on_bar("NSE:INFY", start, start + timedelta(minutes=1), 1500, 1501, 1499, 1500, 100_000)
            except BaseException as e:  # noqa: BLE001 - reported by the test
                failed.append(e)

        real_flush, flushed = s.journal.flush, threading.Event()

        def flush():  # the polling thread, after the journal's flush and before its read: let the fill commit first
            real_flush()
            if threading.current_thread().name == "poll" and not flushed.is_set():
                flushed.set()
                held.committed.wait(0.5)  # under the OMS lock the fill cannot come: this wait runs out

        s.journal.flush = flush
        poll = threading.Thread(target=lambda: polled.extend(s.poll()), name="poll")
        poll.start()
        assert flushed.wait(5)
        fill = threading.Thread(target=broker_fill, name="broker-stream")
        fill.start()
        poll.join(5)
        held.release.set()
        fill.join(5)
        assert not failed, failed
        assert [ev.type for ev in polled] == []  # the session's own fill is not another process's
        assert s.book.fills == 1 and o.status is OrderStatus.FILLED
        assert s.book.net_quantity("NSE", "INFY") == 5
    finally:
        s.close()
