"""The archive reader on PostgreSQL: after archival the whole journal still reads the same (events, day anchors,
the compliance export), in one REPEATABLE READ transaction. The suite's one throwaway server (``pg_url``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from tradekit.clock import IST, SimClock
from tradekit.store import Journal, make_engine, verify
from tradekit.store.archive import archive, read_events
from tradekit.store.audit import export

DAY = datetime(2026, 11, 16, 9, 15, tzinfo=IST)


def test_read_events_and_anchors_after_archival_on_postgres(pg_url, tmp_path):
    clock = SimClock(DAY)
    j = Journal(make_engine(pg_url, account="arch_reader"), clock=clock)
    for d in range(3):
        clock.set(DAY + timedelta(days=d))
        for i in range(4):
            j.append("note", {"day": d, "i": i})
            clock.advance(60)
    days = [(DAY + timedelta(days=d)).date() for d in range(3)]
    before = list(j.events())
    anchors = [j.anchor(d) for d in days]
    n = export(j, tmp_path / "before.jsonl")
    res = archive(j, older_than_days=0, archive_dir=tmp_path / "files", today=days[2])
    assert res.days == tuple(d.isoformat() for d in days[:2]) and j.count() == 4
    assert list(read_events(j)) == before and [j.anchor(d) for d in days] == anchors
    assert [e.seq for e in read_events(j, types=("note",), since=days[1], until=days[1])] == [5, 6, 7, 8]
    assert export(j, tmp_path / "after.jsonl") == n
    assert (tmp_path / "after.jsonl").read_text() == (tmp_path / "before.jsonl").read_text()
    assert verify(j).ok and isinstance(days[0], date)
