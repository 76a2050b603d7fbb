"""A snapshot's side tables: what a session need not hold in memory, read one row at a time.

When a snapshot is written (:func:`tradekit.store.snapshot.save`), the orders that are final and
last changed before the snapshot's day, the signal ids seen, the trade ids booked and the broker
ids of those old orders go into two tables instead of the snapshot's body, tagged with the
snapshot's ``gen``:

- ``journal_snapshot_orders`` (``gen``, ``client_order_id``, ``body``, ``sha256``): an order in
  the snapshot codec's positional form; ``sha256`` covers the snapshot's gen, the order id and the
  body, so an edited row is refused when it is read;
- ``journal_snapshot_keys`` (``gen``, ``kind``, ``key``, ``value``): ``signal`` and ``trade``
  ids (value ``""``), ``broker`` ids (value: the client order id) and a person's ``decision`` on an
  old order (key: its id, value: the decision's JSON).

A snapshot's body names the tags of the rows it stands on (``cold.ids``: its own ``gen``, random,
and those of the snapshots it was built from), so a snapshot that is not used (stale, edited, from
another journal) contributes nothing, and each snapshot writes only what went cold since the one it
was built from. Lookups
are one indexed read (``client_order_id``; ``kind, key``); the newest row of an order wins (an old
order changed after a snapshot is written again by the next one).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator

import orjson
from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    insert,
    literal_column,
    or_,
    select,
)
from sqlalchemy.engine import Engine

from tradekit.errors import StoreError

cold_metadata = MetaData()
orders_table = Table(
    "journal_snapshot_orders",
    cold_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("gen", String(32), nullable=False),
    Column("client_order_id", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Index("ix_journal_snapshot_orders_cid", "client_order_id", "gen"),
)
keys_table = Table(
    "journal_snapshot_keys",
    cold_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("gen", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),
    Index("ix_journal_snapshot_keys_key", "kind", "key", "gen"),
)
KINDS = ("signal", "trade", "broker", "decision")
_GEN = re.compile(r"[0-9a-f]{32}")


def new_gen() -> str:
    """A snapshot's own tag for its side-table rows (random: never reused, whatever happens to row ids)."""
    return secrets.token_hex(16)


def _sha(gen: str, cid: str, body: str) -> str:
    return hashlib.sha256(f"{gen}\n{cid}\n{body}".encode()).hexdigest()


def ensure_tables(engine: Engine) -> None:
    cold_metadata.create_all(engine)


def write(conn, gen: str, orders: list, keys: list[tuple[str, str, str]]) -> None:
    """The rows of the snapshot tagged ``gen``: ``orders`` (Order objects) and ``(kind, key, value)`` rows."""
    from tradekit.store.snapshot import order_codec

    enc = order_codec().encode
    if orders:
        rows = []
        for o in orders:
            body = orjson.dumps(enc(o)).decode()
            rows.append({"gen": gen, "client_order_id": o.client_order_id, "body": body,
                         "sha256": _sha(gen, o.client_order_id, body)})
        conn.execute(insert(orders_table), rows)
    if keys:
        conn.execute(insert(keys_table), [{"gen": gen, "kind": k, "key": key, "value": v} for k, key, v in keys])


class ColdStore:
    """The side-table rows of the snapshots tagged ``ids`` on ``engine`` (see :mod:`tradekit.store.lazy`)."""

    def __init__(self, engine: Engine, ids: tuple[str, ...], maxes: dict[str, int]):
        bad = [g for g in ids if not isinstance(g, str) or not _GEN.fullmatch(g)]
        if bad:
            raise StoreError(f"a journal snapshot names side-table tags that are not tags: {bad[:3]}")
        self.engine, self.ids, self.maxes = engine, tuple(ids), dict(maxes)
        o, k = orders_table.c, keys_table.c
        # the tags as literals (checked above: 32 hex digits), so each lookup binds only its key
        gens = [literal_column(f"'{g}'") for g in self.ids] or [literal_column("''")]
        mine = or_(*(o.gen == g for g in gens))
        self._one_order = (select(o.gen, o.client_order_id, o.body, o.sha256)
                           .where(o.client_order_id == bindparam("cid"), mine).order_by(o.id.desc()).limit(1))
        self._all_orders = select(o.gen, o.client_order_id, o.body, o.sha256).where(mine).order_by(o.id)
        kmine = or_(*(k.gen == g for g in gens))
        self._one_key = (select(k.value).where(k.kind == bindparam("kind"), k.key == bindparam("key"), kmine)
                         .order_by(k.id.desc()).limit(1))
        self._all_keys = select(k.key, k.value).where(k.kind == bindparam("kind"), kmine).order_by(k.id)
        self._prepared: dict[int, tuple] = {}

    def _fetch(self, stmt, params: dict) -> list[tuple]:
        """Rows of ``stmt`` on a pooled DB-API connection: the statement compiled once for the dialect
        (a lookup is one indexed read; SQLAlchemy's per-execution machinery would cost more than it)."""
        prep = self._prepared.get(id(stmt))
        if prep is None:
            schemas = self.engine.get_execution_options().get("schema_translate_map")  # an account's schema
            kw = {"schema_translate_map": schemas, "render_schema_translate": True} if schemas else {}
            c = stmt.compile(dialect=self.engine.dialect, **kw)
            prep = self._prepared[id(stmt)] = (str(c), c)
        sql, c = prep
        p = c.construct_params(params)
        args = tuple(p[name] for name in c.positiontup) if c.positional else p
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            try:
                cur.execute(sql, args)
                return cur.fetchall()
            finally:
                cur.close()
        finally:
            raw.close()  # back to the pool (rolled back there)

    def _decode(self, r):
        from tradekit.store.snapshot import order_codec

        gen, cid, body, sha = r
        if _sha(gen, cid, body) != sha:
            raise StoreError(f"order {cid} in a journal snapshot's side table was edited (its "
                             "SHA-256 does not match); delete the journal_snapshot* rows and start again: the session "
                             "then replays the journal")
        return order_codec().decode(orjson.loads(body))

    def order(self, cid: str):
        if not self.ids:
            return None
        rows = self._fetch(self._one_order, {"cid": cid})
        return self._decode(rows[0]) if rows else None

    def orders(self) -> Iterator:
        """Every order of the side tables, the newest row of each, in the order they went cold."""
        if not self.ids:
            return iter(())
        newest: dict[str, tuple] = {}
        for r in self._fetch(self._all_orders, {}):
            newest[r[1]] = r  # a later row of the same order replaces it, in its first place
        return (self._decode(r) for r in newest.values())

    def value(self, kind: str, key: str) -> str | None:
        if not self.ids:
            return None
        rows = self._fetch(self._one_key, {"kind": kind, "key": key})
        return rows[0][0] if rows else None

    def keys(self, kind: str) -> Iterator[tuple[str, str]]:
        if not self.ids:
            return iter(())
        return iter([(k, v) for k, v in self._fetch(self._all_keys, {"kind": kind})])

    def max_int(self, kind: str) -> int:
        return int(self.maxes.get(kind, 0))
