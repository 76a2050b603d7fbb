"""Many accounts on one real PostgreSQL database (the suite's server, ``pg_url``).

Three accounts' sessions — real processes, each holding its account's lease — write at once;
each chain verifies, no event crosses accounts, one account's lease never blocks another's
session, an event moved between accounts is caught by ``audit verify``, and the "all accounts"
views (status, report, audit verify) show each account and a total.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import text

from tradekit.store import Journal, make_engine, verify
from tradekit.store.accounts import genesis, list_accounts, with_account
from tradekit.store.lease import JournalLease, JournalLeased, current_holder

ACCOUNTS = ("fam_a", "fam_b", "live_c")
N = 40

def _session(url: str, account: str, data_dir):
    from tradekit.config import load_config
    from tradekit.session import Session

    cfg = load_config(overrides={"store": {"url": url, "account": account}, "data_dir": str(data_dir),
                                 "account": {"name": account, "capital": "250000"}})
    return Session.from_config(cfg, view=False)  # takes this account's lease


def _write(session, account: str, start: threading.Barrier) -> None:
    start.wait(30)  # all three hold their leases: now write at once
    for i in range(N):
        with session.journal.transaction():  # a group of events committed together, like an order's
            session._emit("note", {"account": account, "i": i})
            session._emit("cash", {"amount": str(Decimal(i)), "reason": "deposit", "account": account})


@pytest.fixture
def pg(pg_url):
    """The server with no account schemas and an empty default journal."""
    eng = make_engine(pg_url)
    with eng.begin() as c:
        for (name,) in c.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tradekit\\_%'")).all():
            c.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        c.execute(text("DROP TABLE IF EXISTS events, journal_tail, journal_lease"))
    eng.dispose()
    return pg_url


def test_three_accounts_sessions_write_at_once_each_chain_its_own(pg, tmp_path):
    sessions = {}
    try:
        for a in ACCOUNTS:  # each starts while the others hold their leases: no account blocks another
            sessions[a] = _session(pg, a, tmp_path / "var")
        for a, s in sessions.items():  # each account's lease is its own session's (its own connection's lock)
            holder = current_holder(make_engine(pg, account=a))
            assert s.journal.lease.held and holder is not None and holder.epoch == s.journal.lease.epoch == 1
        with pytest.raises(JournalLeased, match="in use by"):
            JournalLease.acquire(make_engine(pg, account="fam_b"), owner="intruder")  # a second fam_b session: refused
        free = JournalLease.acquire(make_engine(pg, account="idle_d"), owner="d")  # another account: free
        assert free.held
        free.release()
        start = threading.Barrier(len(ACCOUNTS) + 1)
        threads = [threading.Thread(target=_write, args=(s, a, start)) for a, s in sessions.items()]
        for t in threads:
            t.start()
        start.wait(30)
        desk = Journal(make_engine(pg, account="fam_a"))  # meanwhile a desk sends fam_a requests (no lease needed)
        for i in range(5):
            desk.append("control", {"action": "cancel_all", "by": "desk", "i": i})
        with pytest.raises(JournalLeased):
            desk.append("fill", {"trade_id": "x"})  # but none of the session's own events
        for t in threads:
            t.join(120)
            assert not t.is_alive()
    finally:
        for s in sessions.values():
            s.close()

    assert list_accounts(make_engine(pg)) == ["fam_a", "fam_b", "live_c"]  # no default journal; idle_d never wrote one
    for a in ACCOUNTS:
        j = Journal(make_engine(pg, account=a), read_only=True)
        res = verify(j)
        assert res.ok, f"{a}: {res}"
        evs = list(j.events())
        assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
        assert evs[0].prev_hash == genesis(a)  # the chain starts from the account's own genesis
        mine = [e for e in evs if e.type in ("note", "cash")]
        assert len(mine) == 2 * N and {e.payload["account"] for e in mine} == {a}  # no event crossed accounts
        assert sum(e.type == "control" for e in evs) == (5 if a == "fam_a" else 0)
        assert evs[0].type == "session.started" and evs[0].payload["account"] == a


def _events(conn, schema: str):
    return conn.execute(text(f'SELECT seq, ts, recorded_at, type, payload, prev_hash, hash FROM "{schema}".events '
                             "ORDER BY seq")).all()


def test_an_event_moved_to_another_account_is_caught(pg):
    for a in ("fam_a", "fam_b"):
        j = Journal(make_engine(pg, account=a))
        for i in range(4):
            j.append("note", {"i": i, "account": a})
    eng = make_engine(pg)
    with eng.begin() as c:  # fam_b's history replaced by fam_a's, tail and all: each hash is consistent
        rows = _events(c, "tradekit_fam_a")
        c.execute(text('DELETE FROM "tradekit_fam_b".events'))
        for r in rows:
            c.execute(text('INSERT INTO "tradekit_fam_b".events VALUES (:seq, :ts, :ra, :t, :p, :ph, :h)'),
                      dict(seq=r.seq, ts=r.ts, ra=r.recorded_at, t=r.type, p=r.payload, ph=r.prev_hash, h=r.hash))
        c.execute(text('UPDATE "tradekit_fam_b".journal_tail SET seq = :s, hash = :h'), dict(s=rows[-1].seq, h=rows[-1].hash))
    bad = verify(Journal(make_engine(pg, account="fam_b"), read_only=True))
    assert not bad.ok and bad.problem == "account" and bad.seq == 1
    assert "account fam_a" in bad.message and "not of account fam_b" in bad.message
    assert verify(Journal(make_engine(pg, account="fam_a"), read_only=True)).ok

    with eng.begin() as c:  # one event of fam_a slipped into the default account's journal
        Journal(make_engine(pg)).append("note", {"i": 0})
        r = _events(c, "tradekit_fam_a")[0]
        c.execute(text("DELETE FROM events"))
        c.execute(text("INSERT INTO events VALUES (:seq, :ts, :ra, :t, :p, :ph, :h)"),
                  dict(seq=r.seq, ts=r.ts, ra=r.recorded_at, t=r.type, p=r.payload, ph=r.prev_hash, h=r.hash))
        c.execute(text("UPDATE journal_tail SET seq = :s, hash = :h"), dict(s=r.seq, h=r.hash))
    bad = verify(Journal(make_engine(pg), read_only=True))
    assert not bad.ok and bad.problem == "account" and "account fam_a" in bad.message


def test_all_accounts_views_status_report_and_audit(pg, tmp_path, capsys):
    from tradekit.cli import main
    from tradekit.clock import SimClock
    from tradekit.config import load_config
    from tradekit.desk import accounts_table, connect_all
    from tradekit.session import Session

    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(f"store:\n  url: {pg}\n  account: fam_a\ndata_dir: {tmp_path / 'var'}\n")
    from datetime import datetime

    from tradekit.clock import IST

    for a, cash in (("fam_a", "1000"), ("fam_b", "250.50")):
        cfg = load_config(cfg_path, overrides={"store": {"account": a}})
        s = Session(cfg, clock=SimClock(datetime(2026, 11, 20, 9, 20, tzinfo=IST)))
        s._emit("cash", {"amount": cash, "reason": "dividend"})
        s.close()  # publishes the session's last anchor to the account's own anchor log
    logs = sorted(p.name for p in (tmp_path / "var" / "anchors").iterdir())
    assert len(logs) == 2 and any(n.endswith(".fam_a.jsonl") for n in logs) and any(n.endswith(".fam_b.jsonl") for n in logs)

    desks = connect_all(load_config(cfg_path))
    assert list(desks) == ["fam_a", "fam_b"]
    table = accounts_table(desks)
    assert list(table["account"]) == ["fam_a", "fam_b", "TOTAL"]
    assert table["events"].iloc[-1] == table["events"].iloc[0] + table["events"].iloc[1]

    assert main(["status", "--account", "all", "-c", str(cfg_path)]) == 0
    out = capsys.readouterr().out
    assert "2 accounts in" in out and "fam_a" in out and "fam_b" in out and "TOTAL" in out
    assert main(["status", "-c", str(cfg_path)]) == 0  # the config's account only
    out = capsys.readouterr().out
    assert "account fam_a" in out and "fam_b" not in out and "TOTAL" not in out
    assert main(["status", "--account", "nosuch", "-c", str(cfg_path)]) == 2
    assert "no account 'nosuch'" in capsys.readouterr().err
    assert main(["status", "--account", "Bad-Name", "-c", str(cfg_path)]) == 2
    assert "--account: 'Bad-Name' is not an account id" in capsys.readouterr().err

    assert main(["audit", "verify", "--account", "all", "-c", str(cfg_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("OK:") == 2 and "account fam_a: OK" in out and "account fam_b: OK" in out
    assert "published anchors" in out  # each against its own anchor log
    assert main(["audit", "verify", "--account", "fam_b", "-c", str(cfg_path)]) == 0

    assert main(["report", "--account", "all", "-c", str(cfg_path), "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "rep" / "accounts.html").is_file() and (tmp_path / "rep" / "fam_b" / "report-fam_b.html").is_file()
    html = (tmp_path / "rep" / "accounts.html").read_text()
    assert "Account fam_a" in html and "Account fam_b" in html and "TOTAL" in html
    assert Decimal(str(table["net"].iloc[-1])) == Decimal(str(table["net"].iloc[0])) + Decimal(str(table["net"].iloc[1]))


def test_the_url_carries_the_account_and_a_missing_one_is_named(pg):
    url = with_account(pg, "fam_a")
    assert url.endswith("?account=fam_a")
    Journal(make_engine(url)).append("note", {"x": 1})
    assert Journal(make_engine(pg, account="fam_a"), read_only=True).last_seq == 1
    assert Journal(make_engine(pg), read_only=False).last_seq == 0  # the default account: untouched
    from tradekit.errors import StoreError

    with pytest.raises(StoreError, match="no account 'fam_z'.*accounts there: default, fam_a"):
        Journal(make_engine(pg, account="fam_z"), read_only=True)
