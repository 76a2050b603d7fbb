"""Accounts on SQLite: the one-account default. A journal written before accounts existed opens
as the default account, unchanged; account ids are checked and named; a SQLite store refuses
any other account; the anchor log and the views follow the account. (Several accounts in one
database: tests/integration/test_pg_accounts.py, on the real PostgreSQL server.)"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from tradekit.account_id import ACCOUNT_RE, DEFAULT, validate
from tradekit.errors import ConfigError, ValidationError
from tradekit.store import Journal, make_engine, sqlite_url, verify
from tradekit.store.accounts import account_of, genesis, split_url, with_account
from tradekit.store.audit import anchor_log_path

LEGACY = Path(__file__).resolve().parents[2] / "fixtures" / "store" / "journal-v1.db"
LEGACY_TAIL = (8, "1fd88f9e47093102903ddef3a532f1bce5e7ec50f336143fe2bde0cb2d2fc12e")


def _schema(path: Path) -> list:
    c = sqlite3.connect(path)
    try:
        return c.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        c.close()


@pytest.fixture
def legacy(tmp_path) -> Path:
    """A copy of a journal written by tradekit before accounts existed (main at 59356b3)."""
    p = tmp_path / "var" / "paper.db"
    p.parent.mkdir()
    shutil.copy(LEGACY, p)
    return p


def test_a_journal_written_before_accounts_opens_as_the_default_account_unchanged(legacy):
    before = _schema(legacy)
    ro = Journal(make_engine(sqlite_url(legacy)), read_only=True)
    assert ro.account == DEFAULT and ro.tail() == LEGACY_TAIL
    res = verify(ro)
    assert res.ok and res.events == 8 and res.last_hash == LEGACY_TAIL[1]
    j = Journal(make_engine(sqlite_url(legacy)))  # a writer: no migration, no new table or column
    ev = j.append("note", {"after": "accounts"})
    assert ev.seq == 9 and ev.prev_hash == LEGACY_TAIL[1]
    assert verify(j).ok
    assert _schema(legacy) == before
    first = next(j.events())
    assert first.prev_hash == "0" * 64 == genesis(DEFAULT)  # the default account's chain starts as it always did


def test_the_views_and_cli_read_a_legacy_journal_as_the_default_account(legacy, tmp_path, capsys):
    from tradekit.cli import main
    from tradekit.desk import accounts_table, connect, connect_all

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"data_dir: {legacy.parent}\n")
    d = connect(cfg)
    assert d.account == DEFAULT and d.info.last_seq == 8
    table = accounts_table(connect_all(cfg))
    assert list(table["account"]) == ["default", "TOTAL"] and table["events"].tolist() == [8, 8]
    assert main(["status", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert str(legacy) in out and "default" in out and "account " not in out.splitlines()[0]
    assert main(["audit", "verify", "-c", str(cfg)]) == 0
    assert main(["audit", "verify", "-c", str(cfg), "--account", "default"]) == 0
    assert main(["audit", "verify", "-c", str(cfg), "--account", "all", "--no-anchor-log"]) == 0
    assert "account default: OK: 8 events verify" in capsys.readouterr().out


@pytest.mark.parametrize("argv, msg", [
    (["status", "--account", "fam_a"], "--account: account 'fam_a' needs a PostgreSQL store"),
    (["status", "--account", "Fam-A"], "--account: 'Fam-A' is not an account id"),
    (["report", "--account", "x;drop"], "--account: 'x;drop' is not an account id"),
    (["audit", "verify", "--account", "fam_a"], "--account: account 'fam_a' needs a PostgreSQL store"),
    (["audit", "export", "-o", "x.csv", "--account", "ALL"], "--account: 'ALL' is not an account id"),
    (["serve", "--account", "fam_a"], "--account: account 'fam_a' needs a PostgreSQL store"),
])
def test_cli_account_mistakes_are_one_line_naming_the_field(legacy, tmp_path, capsys, argv, msg):
    from tradekit.cli import main

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"data_dir: {legacy.parent}\n")
    assert main([*argv, "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert msg in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_audit_verify_of_a_file_refuses_another_account(legacy, capsys):
    from tradekit.cli import main

    assert main(["audit", "verify", "--db", str(legacy), "--account", "fam_a"]) == 2
    assert "--account: a journal file (--db) holds one account" in capsys.readouterr().err


# -- account ids -------------------------------------------------------------------------------------------
@given(st.from_regex(ACCOUNT_RE, fullmatch=True).filter(lambda s: s != "all"))
def test_every_safe_identifier_is_an_account_id(name):
    assert validate(name) == name


@given(st.text(max_size=50).filter(lambda s: s and not ACCOUNT_RE.fullmatch(s)))
def test_anything_else_is_refused_naming_the_field(name):
    with pytest.raises(ValidationError) as e:
        validate(name, field="store.account")
    assert e.value.field == "store.account" and "not an account id" in str(e.value)


@pytest.mark.parametrize("name", ["fam_a\n", "fam_a\n;drop", "fam_a ", "fam\u0430", 'a"b', "a" * 41, "_a", "1a"])
def test_near_misses_are_refused(name):
    with pytest.raises(ValidationError, match="not an account id"):
        validate(name)


def test_reserved_and_default_ids():
    assert validate(None) == validate("") == DEFAULT
    with pytest.raises(ValidationError, match="reserved"):
        validate("all")
    assert len({genesis(a) for a in ("default", "fam_a", "fam_b", "fam_a_")}) == 4


# -- config ------------------------------------------------------------------------------------------------
def test_config_store_account(tmp_path, monkeypatch):
    from tradekit.config import load_config

    monkeypatch.delenv("TRADEKIT_ACCOUNT", raising=False)
    assert load_config(overrides={"data_dir": str(tmp_path)}).store.account == DEFAULT
    pg = "postgresql+psycopg://tk@127.0.0.1:5/db"
    cfg = load_config(overrides={"store": {"url": pg, "account": "fam_a"}})
    assert cfg.store_url() == pg + "?account=fam_a"
    with pytest.raises(ConfigError) as e:
        load_config(overrides={"store": {"url": pg, "account": "Fam A"}})
    assert e.value.field == "store.account" and "not an account id" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config(overrides={"data_dir": str(tmp_path), "store": {"account": "fam_a"}})
    assert e.value.field == "store.account" and "needs a PostgreSQL store" in str(e.value)
    monkeypatch.setenv("TRADEKIT_ACCOUNT", "fam_b")  # how `tradekit serve --account` reaches the kernels
    assert load_config(overrides={"store": {"url": pg}}).store_url() == pg + "?account=fam_b"
    assert load_config(overrides={"store": {"url": pg, "account": "fam_c"}}).store.account == "fam_c"
    monkeypatch.setenv("TRADEKIT_ACCOUNT", "Fam B")
    with pytest.raises(ConfigError, match=r"store.account: 'Fam B' is not an account id.*\(from \$TRADEKIT_ACCOUNT\)"):
        load_config(overrides={"store": {"url": pg}})
    monkeypatch.delenv("TRADEKIT_ACCOUNT")
    with pytest.raises(ConfigError) as e:
        load_config(overrides={"account": {"kite_user_id": "ab 12"}})
    assert e.value.field == "account.kite_user_id"


def test_a_sqlite_engine_is_the_default_account_only(tmp_path):
    url = sqlite_url(tmp_path / "j.db")
    assert account_of(make_engine(url)) == DEFAULT
    assert account_of(make_engine(url, account="default")) == DEFAULT
    with pytest.raises(ValidationError, match="needs a PostgreSQL store") as e:
        make_engine(url, account="fam_a")
    assert e.value.field == "store.account"
    with pytest.raises(ValidationError):
        with_account(url, "fam_a")


def test_the_url_parameter_names_the_account():
    pg = "postgresql+psycopg://tk:pw@127.0.0.1:5432/db?connect_timeout=5"
    u = with_account(pg, "fam_a")
    assert split_url(u) == (pg, "fam_a") and "connect_timeout=5" in u
    assert with_account(u, "fam_a") == u and with_account(pg, "default") == pg
    with pytest.raises(ValidationError, match="names account 'fam_a'"):
        with_account(u, "fam_b")
    with pytest.raises(ValidationError) as e:
        make_engine("postgresql+psycopg://tk@127.0.0.1:5/db?account=Bad-1")
    assert e.value.field == "store.url"


def test_each_account_has_its_own_anchor_log(tmp_path):
    pg = "postgresql+psycopg://tk@db.local:5432/trading"
    base = anchor_log_path(pg, tmp_path)
    assert base == tmp_path / "anchors" / "postgresql-db.local-5432-trading.jsonl"  # as before accounts
    assert anchor_log_path(with_account(pg, "fam_a"), tmp_path) == tmp_path / "anchors" / "postgresql-db.local-5432-trading.fam_a.jsonl"
    assert anchor_log_path(with_account(pg, "fam_a"), tmp_path, "audit/anchors.jsonl") == tmp_path / "audit" / "anchors.fam_a.jsonl"
    assert anchor_log_path(sqlite_url(tmp_path / "paper.db"), tmp_path) == tmp_path / "anchors" / "paper.db.jsonl"
