"""The durable journal, its audit chain, and the state rebuilt from it."""

from tradekit.store.audit import VerifyResult, export, verify
from tradekit.store.db import make_engine, sqlite_url
from tradekit.store.events import EventType
from tradekit.store.journal import GENESIS, Event, Journal, canonical, chain_hash
from tradekit.store.projection import Book

__all__ = [
    "Book", "Event", "EventType", "GENESIS", "Journal", "VerifyResult", "canonical", "chain_hash",
    "export", "make_engine", "sqlite_url", "verify",
]
