"""Many accounts on one database: one PostgreSQL schema per account.

Several accounts (paper and live, several Zerodha users) can share one PostgreSQL database. Each
account is a **schema** of its own (``tradekit_<account>``) holding the very tables a
one-account journal has — ``events``, ``journal_tail``, ``journal_lease`` and whatever table a
later capability adds — so each account has its own sequence numbers, hash chain, tail, lease
and anchor log, and nothing in the table definitions or the queries knows about accounts at
all. An engine is *bound* to one account (:func:`bind`): SQLAlchemy's ``schema_translate_map``
sends every statement on it to that account's schema, so no query can read or write another
account's rows; reading several accounts means opening one engine per account
(:func:`list_accounts`, :func:`open_account`), and only the "all accounts" views do that.

The **default account** (``default``) is the database's default schema (``public``): the journal
every PostgreSQL store and every SQLite file had before accounts existed, read and written as
before, byte for byte. SQLite stays one account per file — the default; a SQLite store with
another account is refused (``store.account``), since a file has no schemas.

**The account is bound into the chain.** Each account's chain starts from its own genesis hash
(:func:`genesis`): 64 zeros for the default account (unchanged), and for another account the
SHA-256 of ``tradekit account`` and its id. Every event's hash covers its predecessor's, so
every hash of an account's chain depends on the account id: an event (or a whole chain) moved
into another account's tables does not verify there (``tradekit audit verify`` names it).

**The account travels with the store's URL**: ``postgresql+psycopg://host/db?account=live_ab``
(:func:`with_account`). :func:`tradekit.store.db.make_engine` takes the parameter off before the
driver sees it and binds the engine, so a journal recorded by URL (a run's manifest, ``--db``)
opens the right account later.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, ProgrammingError, SQLAlchemyError

from tradekit.account_id import ACCOUNT_RE, ALL, DEFAULT, check_store, validate
from tradekit.errors import StoreError, ValidationError

__all__ = ["ACCOUNT_RE", "ALL", "DEFAULT", "account_of", "bind", "describe", "genesis", "list_accounts",
           "schema_of", "split_url", "validate", "with_account"]

SCHEMA_PREFIX = "tradekit_"
URL_PARAM = "account"

_OPT = "tradekit_account"  # the engine execution option that names its account


def schema_of(account: str) -> str | None:
    """The PostgreSQL schema of an account (None: the default schema)."""
    account = validate(account)
    return None if account == DEFAULT else SCHEMA_PREFIX + account


def genesis(account: str | None) -> str:
    """The ``prev_hash`` of an account's first event: 64 zeros for the default account, else
    SHA-256 over ``tradekit account`` and the id (so every hash of the chain binds the account)."""
    account = validate(account)
    if account == DEFAULT:
        return "0" * 64
    return hashlib.sha256(f"tradekit account\n{account}".encode()).hexdigest()


def is_postgres(engine_or_url) -> bool:
    url = engine_or_url.url if hasattr(engine_or_url, "url") else make_url(str(engine_or_url))
    return url.get_backend_name() == "postgresql"


# -- URLs ------------------------------------------------------------------------------------------------
def split_url(url: str) -> tuple[str, str | None]:
    """``(url without the account parameter, the account or None)``."""
    if "://" not in url or f"{URL_PARAM}=" not in url:
        return url, None
    u = make_url(url)
    if URL_PARAM not in u.query:
        return url, None
    acct = u.query[URL_PARAM]
    if isinstance(acct, tuple):
        if len(set(acct)) > 1:
            raise ValidationError(f"the store URL names several accounts: {', '.join(acct)}", field="store.url")
        acct = acct[0]
    return u.difference_update_query([URL_PARAM]).render_as_string(hide_password=False), acct


def with_account(url: str, account: str | None) -> str:
    """The store URL that names ``account`` (the URL itself for the default account)."""
    account = validate(account)
    base, already = split_url(url)
    if already is not None and validate(already, field="store.url") != account:
        raise ValidationError(f"the URL names account {already!r} but {account!r} was asked for", field="store.account")
    if account == DEFAULT:
        return base
    check_store(base, account)
    return make_url(base).update_query_dict({URL_PARAM: account}).render_as_string(hide_password=False)


# -- engines ---------------------------------------------------------------------------------------------
def bind(engine: Engine, account: str | None) -> Engine:
    """The engine of one account: every statement goes to its schema (the default: the engine itself)."""
    account = validate(account)
    if account == DEFAULT:
        return engine
    if not is_postgres(engine):
        check_store(None, account)
    return engine.execution_options(schema_translate_map={None: schema_of(account)}, **{_OPT: account})


def account_of(engine: Engine) -> str:
    """The account an engine is bound to (an unbound engine: the default account)."""
    try:
        return engine.get_execution_options().get(_OPT, DEFAULT)
    except AttributeError:  # not an engine (a test double): the default
        return DEFAULT


def describe(engine: Engine) -> str:
    """The journal for people: its URL (no password) and, if not the default, its account."""
    url = engine.url.render_as_string(hide_password=True)
    acct = account_of(engine)
    return url if acct == DEFAULT else f"{url} account {acct}"


def ensure_schema(engine: Engine) -> None:
    """Create the bound account's schema when it is not there (writers only; the default: nothing)."""
    acct = account_of(engine)
    if acct == DEFAULT:
        return
    schema = schema_of(acct)  # a validated identifier: safe to put in the statement
    for _ in range(3):
        try:
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            return
        except IntegrityError:  # two writers created it at once: it is there now
            continue
        except ProgrammingError as e:
            raise StoreError(f"cannot create account {acct!r} (schema {schema}): {e.orig}") from e


def schema_exists(engine: Engine) -> bool:
    acct = account_of(engine)
    if acct == DEFAULT:
        return True
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema_of(acct)}).scalar()
        conn.rollback()
    return bool(n)


def advisory_key(engine: Engine) -> int:
    """The PostgreSQL advisory-lock key of the bound account's lease: the historical key for the
    default account; for another, the key in the high half and the schema's OID (unique in the
    database, so two accounts never share a lock) in the low half."""
    from tradekit.store.lease import ADVISORY_KEY

    acct = account_of(engine)
    if acct == DEFAULT:
        return ADVISORY_KEY
    with engine.connect() as conn:
        oid = conn.execute(text("SELECT oid::bigint FROM pg_namespace WHERE nspname = :s"),
                           {"s": schema_of(acct)}).scalar()
        conn.rollback()
    if oid is None:
        raise StoreError(f"account {acct!r} does not exist in this database (no schema {schema_of(acct)})")
    return (ADVISORY_KEY << 32) | int(oid)


def list_accounts(engine: Engine) -> list[str]:
    """The accounts with a journal in the database, the default first, then by id."""
    try:
        insp = inspect(engine)
        found = [DEFAULT] if insp.has_table("journal_tail") else []
        if is_postgres(engine):
            for s in sorted(insp.get_schema_names()):
                if s.startswith(SCHEMA_PREFIX) and ACCOUNT_RE.fullmatch(s[len(SCHEMA_PREFIX):]) \
                        and insp.has_table("journal_tail", schema=s):
                    found.append(s[len(SCHEMA_PREFIX):])
    except SQLAlchemyError as e:
        raise StoreError(f"cannot list the accounts of {engine.url.render_as_string(hide_password=True)}: "
                         f"{getattr(e, 'orig', None) or e}") from e
    return found


def require_existing(engine: Engine) -> None:
    """A reader's check: the bound account has a journal here, else :class:`StoreError` listing those that do."""
    acct = account_of(engine)
    if acct == DEFAULT or not is_postgres(engine):
        return
    base = engine.execution_options(schema_translate_map=None, **{_OPT: DEFAULT})
    known = list_accounts(base)
    if acct not in known:
        raise StoreError(f"no account {acct!r} in {engine.url.render_as_string(hide_password=True)}; "
                         f"accounts there: {', '.join(known) or 'none'}")
