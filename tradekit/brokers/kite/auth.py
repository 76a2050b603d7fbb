"""Kite login state: the checksum, the token file, and the 06:00 IST expiry.

The access token is stored in a JSON file readable only by its owner (mode 0600, refused
otherwise, like ssh keys), under the config's data dir by default. It is never logged and
never shown: :class:`StoredSession` keeps it in a :class:`pydantic.SecretStr`.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

from pydantic import SecretStr

from tradekit.clock import IST
from tradekit.errors import SecretError

RELOGIN_HINT = "log in again with `tradekit kite login`"


def checksum(api_key: str, token: str, api_secret: str) -> str:
    """Kite's checksum: hex SHA-256 of ``api_key + request_token + api_secret``."""
    return hashlib.sha256(f"{api_key}{token}{api_secret}".encode()).hexdigest()


def postback_checksum(order_id: str, order_timestamp: str, api_secret: str) -> str:
    """A postback's checksum: hex SHA-256 of ``order_id + order_timestamp + api_secret``."""
    return hashlib.sha256(f"{order_id}{order_timestamp}{api_secret}".encode()).hexdigest()


def token_expiry(login_time: datetime) -> datetime:
    """When a token issued at ``login_time`` dies: the first 06:00 IST after it.

    Kite flushes every access token at 06:00 IST, so a login at 09:00 lives until 06:00
    the next morning, and a login at 02:00 only until 06:00 the same morning.
    """
    t = login_time.astimezone(IST)
    six = datetime.combine(t.date(), time(6, 0), IST)
    return six if t < six else six + timedelta(days=1)


@dataclass(frozen=True)
class StoredSession:
    api_key: str
    access_token: SecretStr
    user_id: str
    login_time: datetime
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def __repr__(self) -> str:
        return f"StoredSession(user_id={self.user_id!r}, login_time={self.login_time.isoformat()}, expires_at={self.expires_at.isoformat()})"


class TokenStore:
    """The access-token file (JSON, mode 0600)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()

    def load(self) -> StoredSession | None:
        p = self.path
        if not p.exists():
            return None
        mode = stat.S_IMODE(p.stat().st_mode)
        if mode & 0o077:
            raise SecretError(f"{p} is readable by others (mode {mode:o}); run: chmod 600 {p}")
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
            return StoredSession(
                api_key=d["api_key"], access_token=SecretStr(d["access_token"]), user_id=d.get("user_id", ""),
                login_time=datetime.fromisoformat(d["login_time"]), expires_at=datetime.fromisoformat(d["expires_at"]),
            )
        except (ValueError, KeyError) as e:
            raise SecretError(f"{p}: not a tradekit Kite session file ({e}); delete it and {RELOGIN_HINT}") from None

    def save(self, s: StoredSession) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({
            "api_key": s.api_key, "access_token": s.access_token.get_secret_value(), "user_id": s.user_id,
            "login_time": s.login_time.isoformat(), "expires_at": s.expires_at.isoformat(),
        })
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".kite-session-", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)  # mkstemp already makes it 0600; say so anyway
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.path

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def stamp(self) -> tuple | None:
        """What identifies the file's current version (None when there is none): a new login
        from another process (``tradekit kite login``) replaces the file, so the stamp changes."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)


class TokenWatcher:
    """Calls ``on_change()`` from a daemon thread whenever the token file is replaced."""

    def __init__(self, store: TokenStore, on_change, *, interval: float = 1.0):
        import threading

        self.store, self.on_change, self.interval = store, on_change, interval
        self._last = store.stamp()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kite-token-watch", daemon=True)

    def start(self) -> "TokenWatcher":
        self._thread.start()
        return self

    def check(self) -> bool:
        """One look at the file; True when it changed (and ``on_change`` ran)."""
        now = self.store.stamp()
        if now == self._last:
            return False
        self._last = now
        if now is not None:
            self.on_change()
        return True

    def _run(self) -> None:
        import logging

        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # a half-written or unreadable file: look again next time
                logging.getLogger(__name__).exception("the Kite token file changed but could not be used")

    def stop(self) -> None:
        self._stop.set()
