"""The read-only tools see archived days: each tool's output on an archived journal is the output it gave on
the same journal before archival (``gtt list``, ``conditions list``, ``alerts list``, ``tradekit report`` and
the session report, ``perf``'s daily P&L, ``audit anchor`` / ``Journal.anchor``, the compliance export,
``unlock``'s reading of the trading state). Each compares two copies of one real journal, one of them archived."""

from __future__ import annotations

import gzip
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from tests.unit.store.snapshot_helpers import DAY4, bar, config, copy, open_session
from tradekit.cli import main
from tradekit.store import Journal, make_engine, sqlite_url
from tradekit.store.archive import ArchiveError, archive, read_events, records

DAYS = (date(2016, 8, 16), date(2016, 8, 17), date(2016, 8, 18), date(2016, 8, 19))


@pytest.fixture(scope="module")
def pair(journal_db, tmp_path_factory):
    """(plain, archived) copies of the multi-day journal, plus a later day (2016-08-19) kept live in both: in the
    archived copy 2016-08-16..18 (signals, a bracket, an armed condition, the kill switch's trip) are in a file."""
    tmp = tmp_path_factory.mktemp("readers")
    base = copy(journal_db, tmp / "base")
    s = open_session(base, config(tmp), DAY4)
    bar(s, "NSE:RELIANCE", DAY4, 1005.0)
    bar(s, "NSE:RELIANCE", DAY4 + timedelta(minutes=1), 1006.0)
    for i in range(5):  # trading is HALTED (the kill switch of 2016-08-18): notes make the live day
        s.journal.append("note", {"kind": "test", "i": i})
    s.close()
    s.journal.engine.dispose()
    plain, arch = copy(base, tmp / "plain"), copy(base, tmp / "arch")
    j = Journal(make_engine(sqlite_url(arch)))
    res = archive(j, older_than_days=0, archive_dir=tmp / "files", today=date(2016, 8, 19))
    assert res.days == ("2016-08-16", "2016-08-17", "2016-08-18") and j.count() > 0  # 2016-08-19 stays live
    j.engine.dispose()
    return plain, arch, res


def _out(argv, capsys) -> str:
    capsys.readouterr()
    assert main(argv) == 0, argv
    return capsys.readouterr().out


def test_read_events_is_the_whole_journal_in_seq_order_with_ranges_types_and_days(pair):
    plain, arch, res = pair
    jp, ja = Journal(make_engine(sqlite_url(plain))), Journal(make_engine(sqlite_url(arch)))
    want = list(jp.events())
    assert list(read_events(ja)) == want and want[-1].seq > res.last_seq  # the file, then the live table
    cut = res.last_seq
    assert [e.seq for e in read_events(ja, after=cut - 3, up_to=cut + 2)] == list(range(cut - 2, cut + 3))
    types = ("fill", "condition.created", "risk.trading_state")
    assert list(read_events(ja, types=types)) == list(jp.events(types=types))
    day = DAYS[1]
    assert list(read_events(ja, since=day, until=day)) == [e for e in want if e.day == day]
    assert list(read_events(ja, after=cut)) == list(jp.events(after=cut))  # nothing of the file is read


def test_gtt_conditions_unlock_and_anchor_read_the_archived_days(pair, tmp_path, capsys):
    plain, arch, _ = pair
    outs = {}
    for name, db in (("plain", plain), ("arch", arch)):
        outs[name] = [_out(["conditions", "list", "--all", "--json", "--db", str(db)], capsys),
                      _out(["conditions", "list", "--db", str(db)], capsys),
                      _out(["gtt", "list", "--db", str(db)], capsys),
                      _out(["alerts", "list", "--all", "--db", str(db)], capsys)]
        outs[name] += [_out(["audit", "anchor", "--date", str(d), "--db", str(db)], capsys) for d in DAYS]
        j = Journal(make_engine(sqlite_url(db)))
        outs[name].append([j.anchor(d) for d in DAYS])
        j.engine.dispose()
    assert outs["arch"] == outs["plain"]
    assert "cond-1" in outs["arch"][0] and '"state": "armed"' in outs["arch"][0]  # created on an archived day
    assert all(a is not None for a in outs["arch"][-1])
    assert "no alerts" not in outs["arch"][3]  # the kill switch's alert, raised on an archived day
    from tradekit.ui.alerts import AlertFeed

    from tradekit.execution.conditions import ConditionLedger

    ledgers = [ConditionLedger.from_journal(Journal(make_engine(sqlite_url(db)), read_only=True)) for db in (plain, arch)]
    assert ledgers[1].items.keys() == ledgers[0].items.keys() == {"C1"}  # a read-only view's or a dashboard's list
    feeds = [AlertFeed(Journal(make_engine(sqlite_url(db)), read_only=True)) for db in (plain, arch)]
    assert [f.update() for f in feeds] == [True, True]  # the dashboard's alert panel
    assert {k: v.status for k, v in feeds[1].outbox.alerts.items()} == {k: v.status for k, v in feeds[0].outbox.alerts.items()}
    assert feeds[1].seq == feeds[0].seq and feeds[1].outbox.alerts
    # the kill switch tripped on an archived day: the unlock still finds trading HALTED and unlocks it
    for db in (copy(plain, tmp_path / "p"), copy(arch, tmp_path / "a")):
        out = _out(["unlock", "--reason", "checked", "--by", "t", "--db", str(db)], capsys)
        assert "nothing to unlock" not in out and "ACTIVE" in out, out


def _report_files(db: Path, tmp: Path, day: date | None) -> dict:
    tmp.mkdir()
    cfg = tmp / "c.yaml"
    cfg.write_text(f"data_dir: {tmp / 'var'}\nstore: {{url: '{sqlite_url(db)}'}}\nexecution: {{charges_as_of: 2026-11-20}}\n")
    argv = ["report", "-c", str(cfg), "-o", str(tmp / "out")] + (["--date", str(day)] if day else [])
    assert main(argv) == 0
    return {p.name: p.read_text() for p in sorted((tmp / "out").glob("*.csv"))}


@pytest.mark.parametrize("day", [None, DAYS[1], DAYS[3]])
def test_tradekit_report_is_the_same_after_archival(pair, tmp_path, day):
    from tradekit.monitoring.report import build_session_report

    plain, arch, _ = pair
    want = _report_files(plain, tmp_path / "p", day)
    got = _report_files(arch, tmp_path / "a", day)
    assert got == want and got["charges.csv"].count("\n") > 2  # charges, P&L of archived days' trades
    assert day == DAYS[3] or got["fills.csv"].count("\n") > 1
    reps = [build_session_report(Journal(make_engine(sqlite_url(db))), day=day, figures=False, plugins=False)
            for db in (plain, arch)]
    assert reps[1].anchor == reps[0].anchor and reps[1].tail == reps[0].tail and reps[0].anchor is not None
    assert reps[1].summary.equals(reps[0].summary) and reps[1].net_pnl == reps[0].net_pnl


def test_perf_daily_weekly_monthly_pnl_and_the_compliance_export_are_the_same_after_archival(pair, tmp_path):
    from tradekit.monitoring.perf import build_perf_report, load_source
    from tradekit.store.audit import export

    plain, arch, _ = pair
    reps = [build_perf_report([load_source(db, capital=Decimal(1_000_000))], DAYS[0], DAYS[3], figures=False)
            for db in (plain, arch)]
    assert len(reps[0].daily) and set(reps[0].daily["day"]) >= {DAYS[0], DAYS[1]}
    assert reps[1].daily.drop(columns=["source"]).equals(reps[0].daily.drop(columns=["source"]))
    for name in ("weekly", "monthly", "days", "by_strategy", "by_symbol"):  # P&L, charges and turnover per period
        assert getattr(reps[1], name).equals(getattr(reps[0], name)), name
    assert reps[1].modes["paper"].equals(reps[0].modes["paper"]) and reps[1].total() == reps[0].total() != 0
    files = []
    for db, name in ((plain, "p.jsonl"), (arch, "a.jsonl")):
        n = export(Journal(make_engine(sqlite_url(db))), tmp_path / name)
        files.append(((tmp_path / name).read_text(), n))
    assert files[1] == files[0] and files[0][1] > 100


def test_a_changed_archive_file_is_named_before_any_of_its_events_is_read(pair, tmp_path, capsys):
    _, arch, res = pair
    db = copy(arch, tmp_path / "db")
    j = Journal(make_engine(sqlite_url(db)))
    (rec,) = records(j)
    lines = gzip.decompress(Path(rec.path).read_bytes()).splitlines()
    row = orjson.loads(lines[5])  # event 5
    row[4] = row[4].replace("}", ',"x":1}', 1)
    lines[5] = orjson.dumps(row)
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    from sqlalchemy import update

    from tradekit.store.archive import archives_table

    with j.engine.begin() as conn:
        conn.execute(update(archives_table).values(path=str(bad)))
    got = []
    with pytest.raises(ArchiveError, match="event 5 .*altered") as e:
        got.extend(read_events(j))
    assert got == [] and str(bad) in str(e.value)
    assert main(["conditions", "list", "--db", str(db)]) != 0  # the tool fails naming the file, never a short list
    assert str(bad) in capsys.readouterr().err
    bad.unlink()
    with pytest.raises(ArchiveError, match="missing"):
        j.anchor(DAYS[0])


def test_gtt_list_after_archival(tmp_path, capsys):
    """A protection placed on an archived day is still listed (the journal of a paper session with a CNC holding)."""
    from tests.unit.execution.conftest import T0, make_session
    from tests.unit.gtt.test_protector_paper import holding, mark

    s = holding(make_session(tmp_path))
    mark(s, "NSE:INFY", 1500)
    s.gtt.protect("B1", "NSE:INFY", 10, Decimal(1450), Decimal(1600), "CNC")
    s.clock.set(T0 + timedelta(days=3))  # the next trading day
    mark(s, "NSE:INFY", 1510)
    s.close()
    s.journal.engine.dispose()
    db = tmp_path / "j.db"
    plain = copy(db, tmp_path / "plain")
    before = _out(["gtt", "list", "--db", str(plain)], capsys)
    assert "B1" in before and "active" in before
    j = Journal(make_engine(sqlite_url(db)))
    res = archive(j, older_than_days=1, archive_dir=tmp_path / "files", today=(T0 + timedelta(days=3)).date())
    assert res.days == (T0.date().isoformat(),) and not list(j.events(types=("gtt.placed",)))
    j.engine.dispose()
    assert _out(["gtt", "list", "--db", str(db)], capsys) == before
    assert isinstance(T0, datetime)


def test_an_archival_committing_while_a_reader_streams_neither_hides_nor_repeats_an_event(journal_db, tmp_path,
                                                                                          monkeypatch):
    import tradekit.store.archive as archive_mod

    db = copy(journal_db, tmp_path / "db")
    reader, writer = Journal(make_engine(sqlite_url(db))), Journal(make_engine(sqlite_url(db)))
    want = [e.seq for e in reader.events()]
    monkeypatch.setattr(archive_mod, "_READ_CHUNK", 7)  # several table reads after the archival below
    it = read_events(reader)
    got = [next(it).seq for _ in range(10)]
    res = archive(writer, older_than_days=1, archive_dir=tmp_path / "files", today=date(2016, 8, 19))
    assert res.events > 10  # the events the reader has yet to read left the table meanwhile
    got += [e.seq for e in it]
    assert got == want
    assert [e.seq for e in read_events(reader)] == want  # and a new reader takes them from the file


def test_history_without_a_start_state_reads_the_archived_days(pair):
    """A journal no session opened (a tool's): ``snapshot.history`` hands out archived events too (it read only
    the live table, so a component rebuilt from it lost every thread begun on an archived day)."""
    from tradekit.store.snapshot import history

    plain, arch, res = pair
    jp, ja = Journal(make_engine(sqlite_url(plain))), Journal(make_engine(sqlite_url(arch)))
    for types in (("condition.created", "bracket.created", "order.created"), ("session.started",)):
        want = list(jp.events(types=types))
        assert want and want[0].seq <= res.last_seq  # some of them are in the archive file
        assert list(history(ja, types)) == want
