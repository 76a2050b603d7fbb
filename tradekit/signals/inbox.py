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
poller never sees half a file. As a second guard, a file is taken only once it has not been
modified for ``settle_seconds``.

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
from tradekit.signals.config import SignalsConfig
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

    ``status`` is ``processed``, ``rejected`` (no usable record; see ``reason``) or ``error``
    (the pipeline failed, e.g. the journal was unavailable: the file stays in
    ``processing/`` and is read again on the next poll).
    """

    name: str  # as dropped
    path: Path  # where it is now
    status: str
    report: IngestReport | None = None
    reason: str | None = None

    @property
    def accepted_ids(self) -> list[str]:
        return self.report.accepted_ids if self.report else []


def parse_only(data: Any, *, source: str, fmt: str = "auto") -> IngestReport:
    """An inbox handler that validates without journaling or routing (``route`` is None)."""
    batch = parse_batch(data, fmt=fmt)  # type: ignore[arg-type]
    report = IngestReport(source=source, records=batch.records)
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
        Take a file only after it has been unchanged this long.
    max_file_bytes : int
        Larger files are rejected unread.
    poll_interval : float
        Default interval of :meth:`watch`.
    """

    def __init__(
        self,
        folder: str | Path,
        pipeline: Any = None,
        *,
        settle_seconds: float = 1.0,
        max_file_bytes: int = 16 * 1024 * 1024,
        poll_interval: float = 1.0,
        clock: Clock | None = None,
    ):
        self.folder = Path(folder).expanduser()
        if pipeline is None:
            self._handler: Handler = parse_only
        elif hasattr(pipeline, "ingest"):
            self._handler = pipeline.ingest
        elif callable(pipeline):
            self._handler = pipeline
        else:
            raise TypeError("pipeline must have an ingest() method or be callable")
        self.settle_seconds = settle_seconds
        self.max_file_bytes = max_file_bytes
        self.poll_interval = poll_interval
        self.clock = clock or RealClock()
        for sub in ("", PROCESSING, PROCESSED, REJECTED):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first_poll = True

    @classmethod
    def from_settings(cls, settings: SignalsConfig, data_dir: str | Path, pipeline: Any = None) -> "Inbox":
        """Build from the ``signals:`` config section."""
        return cls(
            settings.inbox_path(data_dir),
            pipeline,
            settle_seconds=settings.settle_seconds,
            max_file_bytes=settings.max_file_bytes,
            poll_interval=settings.poll_interval_seconds,
        )

    # -- one pass ----------------------------------------------------------------------------------
    def poll(self) -> list[IngestResult]:
        """Process what is waiting: leftovers in ``processing/`` first, then new files (oldest first)."""
        results: list[IngestResult] = []
        for path in sorted(p for p in (self.folder / PROCESSING).iterdir() if self._is_signal_file(p)):
            claim = self._recover(path)
            if claim is not None:
                log.warning("inbox: %s was left in processing/ (a poller stopped mid-file); reading it again", path.name)
                results.append(self._process(*claim))
        self._first_poll = False
        now = time.time()
        waiting = []
        for p in self.folder.iterdir():
            if not self._is_signal_file(p):
                continue
            try:
                st = p.stat()
            except FileNotFoundError:
                continue  # another poller took it
            if now - st.st_mtime >= self.settle_seconds:
                waiting.append((st.st_mtime, p.name, p))
        for _, _, path in sorted(waiting):
            claim = self._claim(path)
            if claim is not None:
                results.append(self._process(*claim))
        return results

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
            except Exception as e:
                # Nothing is lost: the file stays in processing/ and is read again next poll.
                log.exception("inbox: %s could not be processed; it stays in processing/ for a retry", name)
                return IngestResult(name, path, "error", None, f"{type(e).__name__}: {e}")
            if report.usable:
                return self._finish(path, name, report, None)
            return self._finish(path, name, report, "no usable record")
        finally:
            f.close()  # releases the lock, after the file has been moved on

    def _finish(self, path: Path, name: str, report: IngestReport | None, reason: str | None) -> IngestResult:
        if reason is None:
            assert report is not None
            dest = self.folder / PROCESSED / path.name
            body = {"file": name, "stored_as": path.name, "processed_at": self.clock.now().isoformat(), **report.to_dict()}
            text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
            # The result first, then the file: a crash in between only means the file is read again.
            _write_atomic(dest.with_name(dest.name + ".result.json"), text)
            os.replace(path, dest)
            log.info("inbox: %s: %d accepted, %d rejected", name, len(report.accepted), len(report.rejected))
            return IngestResult(name, dest, "processed", report)
        dest = self.folder / REJECTED / path.name
        lines = [f"{name}: rejected: {reason}"]
        if report is not None:
            lines += [str(e) for e in report.errors]
        _write_atomic(dest.with_name(dest.name + ".reason.txt"), "\n".join(lines) + "\n")
        os.replace(path, dest)
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
            self._stop.wait(wait)

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
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        self._thread = None
