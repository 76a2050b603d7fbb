"""Wake-ups when the entries of one folder change: inotify on Linux, a cheap stat poll elsewhere.

The inbox (a signal file arrives) and the dashboards (the session appended to the SQLite
journal) wait on a :class:`FolderWatch` instead of polling on a fixed period: on Linux the
kernel wakes the waiter when something happens in the folder, and nothing runs while it is
idle. Where inotify is missing (macOS, another OS, a full ``fs.inotify.max_user_instances``,
or ``native=False``) the watch stats the folder every ``poll_interval`` seconds instead; a new
or renamed entry changes the folder's mtime, a write inside an existing file does not (callers
that wait for a file to settle pass their own deadline as the timeout).

Only the folder itself is watched (not its sub-folders), so the inbox's own moves into
``processing/`` and ``processed/`` do not wake it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import select
import struct
import sys
import time
import weakref
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
WRITTEN = IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE
_MASK = WRITTEN | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)

_libc: object = None  # None: not tried yet; False: unavailable


def _inotify():
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
                lib.inotify_init1.argtypes = [ctypes.c_int]
                lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
                _libc = lib
            except (OSError, AttributeError):  # pragma: no cover - a libc without inotify
                _libc = False
    return _libc or None


class Change(NamedTuple):
    """One change in the folder. ``name`` is empty when the watch cannot tell which entry
    changed (the stat fallback, or inotify's queue overflowed): look at the whole folder."""

    name: str
    mask: int

    @property
    def renamed_in(self) -> bool:
        """The entry was renamed into (or within) the folder: written completely elsewhere first."""
        return bool(self.mask & IN_MOVED_TO)

    @property
    def written(self) -> bool:
        """The entry was created or written in place."""
        return bool(self.mask & WRITTEN)

    @property
    def unknown(self) -> bool:
        return not self.name


def _close_fds(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    fds.clear()


class FolderWatch:
    """Changes in ``folder``: :meth:`read` what happened (never blocks), :meth:`wait` for it.

    Parameters
    ----------
    folder : path
        An existing folder.
    poll_interval : float
        The stat fallback's period (seconds); unused with inotify.
    native : bool
        Use inotify when the platform has it (False: always the stat fallback, for tests).
    """

    def __init__(self, folder: str | Path, *, poll_interval: float = 0.05, native: bool = True):
        self.folder = Path(folder)
        self.poll_interval = poll_interval
        self._fd: int | None = None
        self._fds: list[int] = []  # closed by close() or when this object is collected
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._fds += [self._wake_r, self._wake_w]
        lib = _inotify() if native else None
        if lib is not None:
            fd = lib.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
            if fd < 0:
                log.info("inotify unavailable (%s): %s is polled every %.2f s", os.strerror(ctypes.get_errno()),
                         self.folder, poll_interval)
            elif lib.inotify_add_watch(fd, os.fsencode(str(self.folder)), _MASK) < 0:
                log.info("cannot watch %s (%s): polled every %.2f s", self.folder, os.strerror(ctypes.get_errno()),
                         poll_interval)
                os.close(fd)
            else:
                self._fd = fd
                self._fds.append(fd)
        self._stamp = self._folder_stamp()
        self._finalizer = weakref.finalize(self, _close_fds, self._fds)

    @property
    def native(self) -> bool:
        """True while the kernel notifies (inotify); False: the stat fallback."""
        return self._fd is not None

    def fileno(self) -> int | None:
        """The inotify descriptor (readable when something changed), for an event loop; None on the fallback."""
        return self._fd

    def _folder_stamp(self):
        try:
            st = os.stat(self.folder)
            return st.st_ino, st.st_mtime_ns
        except OSError:
            return None

    def _fallback(self) -> None:
        if self._fd is not None:
            try:
                self._fds.remove(self._fd)
                os.close(self._fd)
            except (OSError, ValueError):
                pass
            self._fd = None
            log.info("%s: the watch ended (folder moved or removed); polling it", self.folder)

    def read(self) -> list[Change]:
        """What changed since the last call (empty: nothing). Never blocks."""
        if self._fd is None:
            stamp = self._folder_stamp()
            if stamp != self._stamp:
                self._stamp = stamp
                return [Change("", 0)]
            return []
        out: list[Change] = []
        while True:
            try:
                buf = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                break
            except OSError as e:  # pragma: no cover - a closed descriptor
                if e.errno in (errno.EINTR,):
                    continue
                self._fallback()
                return [Change("", 0)]
            if not buf:
                break
            pos = 0
            while pos + _HEADER.size <= len(buf):
                _wd, mask, _cookie, n = _HEADER.unpack_from(buf, pos)
                name = buf[pos + _HEADER.size: pos + _HEADER.size + n].split(b"\0", 1)[0]
                pos += _HEADER.size + n
                if mask & IN_Q_OVERFLOW:
                    out.append(Change("", IN_Q_OVERFLOW))
                elif mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED):
                    self._fallback()
                    out.append(Change("", mask))
                    return out
                else:
                    out.append(Change(os.fsdecode(name), mask))
        return out

    def wait(self, timeout: float) -> list[Change]:
        """Block until something changes, :meth:`interrupt` is called, or ``timeout`` seconds pass.
        Returns the changes (empty on a timeout or an interrupt)."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            changes = self.read()
            if changes:
                return changes
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            if self._fd is not None:
                ready, _, _ = select.select([self._fd, self._wake_r], [], [], left)
            else:
                ready, _, _ = select.select([self._wake_r], [], [], min(left, self.poll_interval))
            if self._wake_r in ready:
                self._drain_wake()
                return []

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def interrupt(self) -> None:
        """Wake a thread blocked in :meth:`wait` (another thread may call this)."""
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # already woken, or closed

    def close(self) -> None:
        self._fd = None
        self._finalizer()

    def __enter__(self) -> FolderWatch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["IN_CLOSE_WRITE", "IN_CREATE", "IN_MODIFY", "IN_MOVED_TO", "IN_Q_OVERFLOW", "Change", "FolderWatch"]
