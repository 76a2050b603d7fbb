"""Account ids (``store.account``): checked here, without importing the store (config loading stays cheap).

The store's use of them (one PostgreSQL schema per account) is :mod:`tradekit.store.accounts`.
"""

from __future__ import annotations

import re

from tradekit.errors import ValidationError

DEFAULT = "default"
ALL = "all"  # every account, in the views (status, report, the desk): never an account's id

#: An account id: lower-case letters, digits and underscores, starting with a letter, at most 40
#: characters (a PostgreSQL identifier of its own once prefixed, never quoted, never an injection).
ACCOUNT_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")  # always fullmatch (a "$" would let a trailing newline in)


def validate(account: str | None, *, field: str = "store.account") -> str:
    """The account id, checked: ``None`` or ``""`` is the default account; anything else must be a
    safe identifier (``[a-z][a-z0-9_]{0,39}``), or :class:`ValidationError` naming ``field``."""
    if account is None or account == "":
        return DEFAULT
    if not isinstance(account, str) or not ACCOUNT_RE.fullmatch(account):
        raise ValidationError(
            f"{account!r} is not an account id: use lower-case letters, digits and underscores, starting with a letter, "
            "at most 40 characters (e.g. live_ab1234)", field=field)
    if account == ALL:
        raise ValidationError(f"{account!r} is reserved (it means every account in the views); choose another id",
                              field=field)
    return account


def check_store(url: str | None, account: str, *, field: str = "store.account") -> None:
    """A SQLite store (``url`` None or ``sqlite...``) holds the default account only."""
    if account != DEFAULT and (url is None or url.startswith("sqlite")):
        raise ValidationError(f"account {account!r} needs a PostgreSQL store (store.url): a SQLite journal is one "
                              "account, the default; use a file per account, or PostgreSQL for several in one database",
                              field=field)
