"""A folder a strategy engine drops signal files into, read each file exactly once.

Layout (created on first use)::

    <inbox>/                 drop *.json or *.jsonl here
        processing/          a file being read (claimed by one poller)
        processed/           read: <stored>.json and <stored>.json.result.json
        rejected/            nothing usable: <stored>.json and <stored>.json.reason.txt

``<stored>`` is ``<claim time>-<8 hex>__<name as dropped>``, so files dropped under the same
name never overwrite each other and sort in the order they were taken.

Writers should write ``name.json.tmp`` (any name not ending in ``.json``/``.jsonl``, or
starting with ``.``) and rename it to ``name.json`` when complete; a rename is atomic, so a
poller never sees half a file. On Linux the inbox watches the folder (inotify,
:mod:`tradekit.fswatch`): a file renamed in, and not written to since, is complete and taken
at once, and :meth:`Inbox.wait` wakes the session's loop as it lands (no polling while idle).
A file written in place (or any file where the folder cannot be watched) is taken only once it
has not been modified for ``settle_seconds``: the guard for writers that do not rename, so a
half-written file is never read; :meth:`Inbox.wait` wakes when that time is up.

Exactly once: a poller opens and ``flock``\\ s the file, then renames it into
``processing/``; a second poller (thread or process) fails the lock or the rename and skips
it. The lock is held until the file has been moved on, so a file found in ``processing/``
*unlocked* belongs to a poller that died: it is read again, and the pipeline's durable dedupe
makes that safe. Requires a local filesystem with ``flock`` (Linux, macOS); elsewhere, files
left in ``processing/`` are recovered only by the first poll of a new :class:`Inbox`.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from tradekit.clock import IST, Clock, RealClock
from tradekit.errors import StoreError
from tradekit.fswatch import FolderWatch
from tradekit.signals.config import SignalsConfig
from tradekit.signals.limits import Limits
from tradekit.signals.pipeline import IngestReport, Rejection, Routed
from tradekit.signals.schema import parse_batch

try:  # POSIX only; see the module docstring for the fallback
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

SUFFIXES = (".json", ".jsonl")
PROCESSING, PROCESSED, REJECTED = "processing", "processed", "rejected"

Handler = Callable[..., IngestReport]


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What became of one file.

    ``status`` is ``processed``, ``rejected`` (no usable record, too large, too many records,
    or the handler failed on it ``max_attempts`` times; see ``reason``) or ``error`` (the
    journal was unavailable: the file stays in ``processing/`` and is read again next poll; or
    the handler failed: tried again after a back-off, at most ``max_attempts`` times).
    """

    name: str  # as dropped
    path: Path  # where it is now
    status: str
    report: IngestReport | None = None
    reason: str | None = None

    @property
    def accepted_ids(self) -> list[str]:
        return self.report.accepted_ids if self.report else []


def parse_only(data: Any, *, source: str, fmt: str = "auto", limits: Limits | None = None) -> IngestReport:
    """An inbox handler that validates without journaling or routing (``route`` is None)."""
    batch = parse_batch(data, fmt=fmt, limits=limits or Limits())  # type: ignore[arg-type]
    report = IngestReport(source=source, records=batch.records, too_many=batch.too_many)
    report.accepted = [Routed(s, None) for s in batch.accepted]  # type: ignore[arg-type]
    by_index: dict[int | None, list] = {}
    for e in batch.errors:
        by_index.setdefault(e.index, []).append(e)
    for index, errs in by_index.items():
        msg = "; ".join(str(e) for e in errs)
        report.rejected.append(Rejection("malformed", msg, errs[0].key, index, tuple(errs)))
    return report


def _try_lock(f: IO[bytes]) -> bool:
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise


def _same_file(path: Path, f: IO[bytes]) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    fst = os.fstat(f.fileno())
    return (st.st_ino, st.st_dev) == (fst.st_ino, fst.st_dev)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Inbox:
    """Watch a folder for signal files and feed each one, once, to a pipeline.

    Parameters
    ----------
    folder : path
        The inbox; ``processing/``, ``processed/`` and ``rejected/`` are created inside it.
    pipeline : SignalPipeline or callable, optional
        Anything with ``ingest(data, source=, fmt=) -> IngestReport``, or such a callable.
        Without one, files are only validated (:func:`parse_only`).
    settle_seconds : float
        Take a file written in place only after it has been unchanged this long (a file
        renamed in, seen by the folder watch, is complete and taken at once).
    max_file_bytes : int
        Larger files are rejected unread.
    poll_interval : float
        The longest pause of :meth:`watch` between two scans (a file landing wakes it sooner),
        and the first back-off of a failed file.
    max_attempts : int
        Tries of a file whose handler failed on it (anything but the journal being down); the
        wait between tries doubles from ``poll_interval`` up to a minute. Then the file goes to
        ``rejected/`` with the error in its reason file; drop it again to retry (signals
        already recorded are dropped as duplicates). While the journal cannot be written
        (:class:`~tradekit.errors.StoreError`) a file is not the culprit: it waits in
        ``processing/`` and is read again on every poll, logged once.
    limits : Limits, optional
        Bounds for :func:`parse_only` when there is no pipeline (a pipeline has its own).
    watch_changes : bool
        Watch the folder with inotify where the platform has it (renamed-in files skip the
        settle time; :meth:`wait` wakes on arrival). False: the stat fallback, every file
        settles (tests of the fallback).
    """

    def __init__(
        self,
        folder: str | Path,
        pipeline: Any = None,
        *,
        settle_seconds: float = 0.1,
        max_file_bytes: int = 16 * 1024 * 1024,
        poll_interval: float = 1.0,
        clock: Clock | None = None,
        max_attempts: int = 5,
        limits: Limits | None = None,
        watch_changes: bool = True,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.folder = Path(folder).expanduser()
        if pipeline is None:
            lim = limits or Limits()
            self._handler: Handler = lambda data, **kw: parse_only(data, limits=lim, **kw)  # noqa: E731
        elif hasattr(pipeline, "ingest"):
            self._handler = pipeline.ingest
        elif callable(pipeline):
            self._handler = pipeline
        else:
            raise TypeError("pipeline must have an ingest() method or be callable")
        self.settle_seconds = settle_seconds
        self.max_file_bytes = max_file_bytes
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.clock = clock or RealClock()
        for sub in ("", PROCESSING, PROCESSED, REJECTED):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first_poll = True
        self._store_failed: set[str] = set()  # files waiting for the journal (logged once each)
        self.watch_changes = watch_changes
        self._watch: FolderWatch | None = None
        self._renamed: set[str] = set()  # names renamed in and not written since (complete: no settle)
        self._next_due: float | None = None  # wall time a file written in place has settled
        self._folder_watch()  # from now on: files renamed in before the first poll count too

    @classmethod
    def from_settings(cls, settings: SignalsConfig, data_dir: str | Path, pipeline: Any = None) -> "Inbox":
        """Build from the ``signals:`` config section."""
        return cls(
            settings.inbox_path(data_dir),
            pipeline,
            settle_seconds=settings.settle_seconds,
            max_file_bytes=settings.max_file_bytes,
            poll_interval=settings.poll_interval_seconds,
            max_attempts=settings.inbox_max_attempts,
            limits=Limits.from_settings(settings),
        )

    # -- one pass ----------------------------------------------------------------------------------
    def poll(self) -> list[IngestResult]:
        """Process what is waiting: leftovers in ``processing/`` first, then new files (oldest first)."""
        results: list[IngestResult] = []
        self._note(self._folder_watch().read())
        now = time.time()
        for path in sorted(p for p in (self.folder / PROCESSING).iterdir() if self._is_signal_file(p)):
            if self._attempts(path).get("next", 0.0) > now:
                continue  # backing off after a failed try
            claim = self._recover(path)
            if claim is not None:
                log.warning("inbox: %s was left in processing/ (a poller stopped mid-file); reading it again", path.name)
                results.append(self._process(*claim))
        self._first_poll = False
        waiting = []
        present: set[str] = set()
        due: float | None = None
        for p in self.folder.iterdir():
            if not self._is_signal_file(p):
                continue
            try:
                st = p.stat()
            except FileNotFoundError:
                continue  # another poller took it
            present.add(p.name)
            # renamed in and untouched since: complete. Otherwise unchanged for settle_seconds.
            if p.name in self._renamed or now - st.st_mtime >= self.settle_seconds:
                waiting.append((st.st_mtime, p.name, p))
            else:
                at = st.st_mtime + self.settle_seconds
                due = at if due is None else min(due, at)
        self._renamed &= present
        self._next_due = due
        for _, _, path in sorted(waiting):
            self._renamed.discard(path.name)
            claim = self._claim(path)
            if claim is not None:
                results.append(self._process(*claim))
        return results

    # -- waking up -------------------------------------------------------------------------------
    def _folder_watch(self) -> FolderWatch:
        if self._watch is None:
            self._watch = FolderWatch(self.folder, native=self.watch_changes)
        return self._watch

    def _note(self, changes) -> bool:
        """Track renamed-in files; True when a file may be ready to take now."""
        ready = False
        for c in changes:
            if c.unknown:  # the stat fallback, or inotify's queue overflowed: trust no rename
                self._renamed.clear()
                ready = True
            elif not self._is_signal_name(c.name):
                continue
            elif c.written:  # created or written in place (after a rename too): it must settle
                self._renamed.discard(c.name)
                at = time.time() + self.settle_seconds
                self._next_due = at if self._next_due is None else min(self._next_due, at)
                ready = ready or self.settle_seconds <= 0
            elif c.renamed_in:
                self._renamed.add(c.name)
                ready = True
        return ready

    @staticmethod
    def _is_signal_name(name: str) -> bool:
        return not name.startswith(".") and os.path.splitext(name)[1].lower() in SUFFIXES

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, waking early when a file can be taken: renamed into
        the folder, or written in place and now settled (``settle_seconds`` after its last
        write). True when woken so (then :meth:`poll`); False on the timeout or :meth:`stop`.
        Without inotify the folder is stat-ed every 50 ms, and any new entry wakes it."""
        watch = self._folder_watch()
        deadline = time.monotonic() + max(0.0, timeout)
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if self._next_due is not None:
                until_due = self._next_due - time.time()
                if until_due <= 0:
                    return True
                left = min(left, until_due)
            if left <= 0:
                return False
            changes = watch.wait(left)
            if changes and self._note(changes):
                return True
        return False

    def close(self) -> None:
        """Release the folder watch (a later poll or wait opens a new one)."""
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    @staticmethod
    def _is_signal_file(p: Path) -> bool:
        return not p.name.startswith(".") and p.suffix.lower() in SUFFIXES and p.is_file()

    def _claim(self, src: Path) -> tuple[Path, IO[bytes]] | None:
        stored = f"{datetime.now(IST):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}__{src.name}"
        dst = self.folder / PROCESSING / stored
        if fcntl is None:  # pragma: no cover - rename first: Windows cannot rename an open file
            try:
                os.rename(src, dst)
            except (FileNotFoundError, PermissionError):
                return None
            return dst, open(dst, "rb")
        try:
            f = open(src, "rb")
        except (FileNotFoundError, IsADirectoryError):
            return None
        # Lock before the rename, so the file is never in processing/ unlocked while we own it.
        if not _try_lock(f) or not _same_file(src, f):
            f.close()
            return None
        try:
            os.rename(src, dst)
        except FileNotFoundError:
            f.close()
            return None
        if not _same_file(dst, f):
            # A new file replaced src between our check and the rename: it now sits unlocked in
            # processing/ and the next pass recovers it.
            f.close()
            return None
        return dst, f

    def _recover(self, path: Path) -> tuple[Path, IO[bytes]] | None:
        if fcntl is None and not self._first_poll:  # pragma: no cover
            return None
        try:
            f = open(path, "rb")
        except (FileNotFoundError, IsADirectoryError):
            return None
        if not _try_lock(f) or not _same_file(path, f):
            f.close()  # in flight in another poller, or it just finished
            return None
        return path, f

    def _process(self, path: Path, f: IO[bytes]) -> IngestResult:
        name = path.name.split("__", 1)[-1]
        try:
            size = os.fstat(f.fileno()).st_size
            if size > self.max_file_bytes:
                return self._finish(path, name, None, f"{size} bytes is over the limit of {self.max_file_bytes} "
                                    "(signals.max_file_bytes); split the file")
            data = f.read()
            fmt = "jsonl" if path.suffix.lower() == ".jsonl" else "auto"
            try:
                report = self._handler(data, source=f"inbox:{name}", fmt=fmt)
            except StoreError as e:
                # The journal is down (disk full, locked): not the file's fault. It stays in
                # processing/ and is read again on every poll until the journal takes it.
                if path.name not in self._store_failed:
                    log.warning("inbox: %s waits in processing/ until the journal can be written (%s)", name, e)
                    self._store_failed.add(path.name)
                return IngestResult(name, path, "error", None, f"{type(e).__name__}: {e}")
            except Exception as e:
                return self._failed(path, name, f"{type(e).__name__}: {e}")
            self._store_failed.discard(path.name)
            if report.usable:
                return self._finish(path, name, report, None)
            if getattr(report, "too_many", False):
                return self._finish(path, name, report, f"{report.records:,} records is over the limit per batch "
                                    "(signals.max_records_per_batch); split the file")
            return self._finish(path, name, report, "no usable record")
        finally:
            f.close()  # releases the lock, after the file has been moved on

    # -- failed tries ------------------------------------------------------------------------------
    @staticmethod
    def _attempts_path(path: Path) -> Path:
        return path.with_name(f".{path.name}.attempts.json")

    def _attempts(self, path: Path) -> dict:
        try:
            d = json.loads(self._attempts_path(path).read_text(encoding="utf-8"))
            return d if isinstance(d, dict) else {}
        except (OSError, ValueError):
            return {}

    def _failed(self, path: Path, name: str, error: str) -> IngestResult:
        n = int(self._attempts(path).get("attempts", 0)) + 1
        if n >= self.max_attempts:
            log.error("inbox: %s could not be recorded after %d tries (%s); moving it to rejected/", name, n, error)
            res = self._finish(path, name, None, f"could not be recorded after {n} tries: {error}; "
                               "drop the file again to retry (signals already recorded are dropped as duplicates)")
            self._attempts_path(path).unlink(missing_ok=True)
            return res
        wait = min(self.poll_interval * 2 ** (n - 1), 60.0)
        log.warning("inbox: %s could not be recorded (%s); try %d of %d in %.1f s", name, error, n + 1,
                    self.max_attempts, wait)
        try:
            _write_atomic(self._attempts_path(path), json.dumps({"attempts": n, "next": time.time() + wait,
                                                                 "error": error[:500]}))
        except OSError:
            pass  # a full disk: the file is simply tried again on the next poll
        return IngestResult(name, path, "error", None, error)

    def _finish(self, path: Path, name: str, report: IngestReport | None, reason: str | None) -> IngestResult:
        if reason is None:
            assert report is not None
            dest = self.folder / PROCESSED / path.name
            body = {"file": name, "stored_as": path.name, "processed_at": self.clock.now().isoformat(), **report.to_dict()}
            text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
            # The result first, then the file: a crash in between only means the file is read again.
            _write_atomic(dest.with_name(dest.name + ".result.json"), text)
            os.replace(path, dest)
            self._attempts_path(path).unlink(missing_ok=True)
            log.info("inbox: %s: %d accepted, %d rejected", name, len(report.accepted), len(report.rejected))
            return IngestResult(name, dest, "processed", report)
        dest = self.folder / REJECTED / path.name
        lines = [f"{name}: rejected: {reason}"]
        if report is not None:
            errs = report.errors
            lines += [str(e) for e in errs[:100]]
            if len(errs) > 100:
                lines.append(f"... and {len(errs) - 100:,} more")
        _write_atomic(dest.with_name(dest.name + ".reason.txt"), "\n".join(lines) + "\n")
        os.replace(path, dest)
        self._attempts_path(path).unlink(missing_ok=True)
        log.warning("inbox: %s rejected: %s", name, "; ".join(lines[1:4]) or reason)
        return IngestResult(name, dest, "rejected", report, "\n".join(lines))

    # -- background --------------------------------------------------------------------------------
    def watch(self, callback: Callable[[IngestResult], Any] | None = None, interval: float | None = None) -> None:
        """Poll until :meth:`stop`; call ``callback(result)`` for each file. Blocks: run it in a thread."""
        wait = self.poll_interval if interval is None else interval
        while not self._stop.is_set():
            try:
                results = self.poll()
            except Exception:  # a vanished folder or the like: keep watching
                log.exception("inbox: poll of %s failed", self.folder)
                results = []
            for r in results:
                if callback is not None:
                    try:
                        callback(r)
                    except Exception:
                        log.exception("inbox: the callback failed for %s", r.name)
            self.wait(wait)  # a file landing (or settling) wakes it; ``wait`` is the longest pause

    def start(self, callback: Callable[[IngestResult], Any] | None = None, interval: float | None = None) -> threading.Thread:
        """Run :meth:`watch` in a daemon thread."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("this inbox is already being watched")
        self._stop.clear()
        self._thread = threading.Thread(target=self.watch, args=(callback, interval), name="tradekit-inbox", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        """Stop :meth:`watch` after the file in hand (a file is never left half-moved)."""
        self._stop.set()
        if self._watch is not None:
            self._watch.interrupt()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        self._thread = None
