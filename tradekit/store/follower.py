"""Following a journal from another process: a dashboard, a report, a reviewer's notebook."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from tradekit.store.journal import Event, Journal


def journal_file(journal) -> Path | None:
    """The SQLite file behind ``journal`` (a plain or ``file:...?mode=ro`` URI), or None
    (PostgreSQL, in-memory)."""
    engine = getattr(journal, "engine", None)
    url = getattr(engine, "url", None)
    if url is None or not str(url.drivername).startswith("sqlite"):
        return None
    db = url.database or ""
    if db.startswith("file:"):
        db = unquote(db[len("file:"):].split("?", 1)[0])
    if not db or db == ":memory:" or db.startswith(":"):
        return None
    return Path(db)


def watch_journal(journal):
    """A :class:`~tradekit.fswatch.FolderWatch` that wakes when ``journal``'s SQLite file (or its
    WAL) is written, or None where that cannot be watched (PostgreSQL, no inotify): the caller
    then polls. A follower refreshes when it wakes instead of on a fixed period."""
    from tradekit.fswatch import FolderWatch

    path = journal_file(journal)
    if path is None or not path.parent.is_dir():
        return None
    watch = FolderWatch(path.parent)
    if not watch.native:
        watch.close()
        return None
    return watch


class JournalFollower:
    """Keeps a read-side view in step with a journal that another process writes.

    Subclasses implement ``_apply(event)``; :meth:`refresh` feeds them what was appended since
    the last call (one cheap read of the tail when nothing changed).
    """

    seq: int = 0

    def __init__(self, journal: Journal):
        self.journal = journal
        self.seq = 0

    @classmethod
    def from_config(cls, config=None, **kw):
        """Open the config's store (``$TRADEKIT_CONFIG`` or ``config/default.yaml`` by default)."""
        from tradekit.config import TradekitConfig, load_config
        from tradekit.store.db import make_engine

        cfg = config if isinstance(config, TradekitConfig) else load_config(config)
        return cls(Journal(make_engine(cfg.store_url())), cfg, **kw)

    def refresh(self) -> list[Event]:
        """Apply events appended since the last call; return them."""
        tail_seq, _ = self.journal.tail()
        if tail_seq <= self.seq:
            return []
        new = list(self.journal.events(after=self.seq))
        for ev in new:
            self._apply(ev)
        return new

    def _apply(self, ev: Event) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
