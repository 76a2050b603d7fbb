"""Research tasks on Dask: a local cluster sized to the machine, or a running scheduler.

>>> from tradekit.research.cluster import research_cluster, Task
>>> with research_cluster(cfg) as cluster:                     # doctest: +SKIP
...     out = cluster.run([Task("a", pow, (2, 10)), Task("b", max, (3,), needs=("a",))])
>>> out.results["b"], out.failed                              # doctest: +SKIP
(1024, {})

:class:`SweepCluster` runs a graph of :class:`Task` s: each is ``fn(*args, *results of needs)``.
Large inputs shared by several tasks (a symbol's bars) go in as :class:`Shared` and are sent to
the cluster once. Results stream back as tasks finish (``as_completed``) under a progress bar;
a task that raises is run again up to ``retries`` times (Dask's ``retries=``) and each failure is
reported as it happens (the worker logs an event the client reads); one that still fails is in
:attr:`TaskOutcome.failed` with its error and attempts, and the tasks that needed it are reported
as blocked by it. Nothing is lost silently.

With ``research.dask.enabled: false`` the same tasks run in this process, one after another,
with the same retries and report.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tradekit.errors import TradekitError, ValidationError

log = logging.getLogger(__name__)

__all__ = ["ClusterInfo", "Shared", "SweepCluster", "Task", "TaskFailure", "TaskOutcome", "TaskTiming",
           "local_cluster_size", "research_cluster"]

#: The local cluster's workers run without Dask's statistical profiler: it samples the running task's
#: stack every 10 ms for a dashboard the local cluster does not serve, and on the sweep's pure-Python
#: pricing it cost each task processor time and a GIL hand-over a hundred times a second.
LOCAL_WORKER_CONFIG = {"distributed.worker.profile.enabled": False}
#: Without a dashboard the local scheduler still serves HTTP (health, metrics), and by default on the fixed
#: port 8787: a second cluster on the machine (another sweep, a test run beside this one, the user's own Dask
#: dashboard) then finds it taken, with a warning, or loses it to ours. Loopback, a port of its own.
LOCAL_SCHEDULER_HTTP = {"dashboard_address": "127.0.0.1:0"}
CPU_TOPIC = "tradekit-sweep-cpu"  # each task's processor time, from the workers
MIN_WORKER_MEMORY = 2**30  # a worker imports vectorbt and holds bars: below 1 GiB it is more trouble than help


@dataclass(frozen=True)
class Shared:
    """A large input several tasks use: scattered to the cluster once, passed to each task as is."""

    name: str


@dataclass(frozen=True)
class Task:
    """``fn(*args, *[results of needs])``; an argument that is a :class:`Shared` is replaced by the shared value."""

    name: str
    fn: Callable[..., Any]
    args: tuple = ()
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskFailure:
    name: str
    error: str  # "DataError: no charge rates before 2020-07-01"
    attempts: int  # runs of the task itself (0 when it never ran: blocked)
    blocked_by: str | None = None  # the failed task it needed
    traceback: str = ""

    def __str__(self) -> str:
        if self.blocked_by:
            return f"{self.name}: not run, it needs {self.blocked_by}, which failed"
        return f"{self.name}: {self.error} (failed {self.attempts} time{'s' if self.attempts != 1 else ''})"


@dataclass(frozen=True)
class TaskTiming:
    """Where one task's time went (seconds; summed over its attempts).

    ``waited``: from the moment it could run (submitted, and the tasks it needs done) to its start
    on a worker: the queue, and the scheduler's and the worker's own overhead (across machines it
    also holds the clocks' difference). ``transfer``: fetching its inputs from other workers.
    ``compute``: running it (wall clock); ``cpu``: the processor time its thread got meanwhile (less
    than ``compute`` when the worker waited for a core: other processes, or fewer cores than workers).
    ``fetch``: bringing its result back to this process.
    """

    name: str
    worker: str
    waited: float = 0.0
    transfer: float = 0.0
    compute: float = 0.0
    fetch: float = 0.0
    cpu: float | None = None


@dataclass
class TaskOutcome:
    """What :meth:`SweepCluster.run` returns: the results, and every failure with its reason."""

    results: dict[str, Any]
    failed: dict[str, TaskFailure]
    retried: dict[str, int]  # tasks that failed and then succeeded -> failures before the success
    seconds: float
    cluster: "ClusterInfo"
    timings: dict[str, TaskTiming] = field(default_factory=dict)  # per task that ran

    def timing_table(self):
        """One row per task that ran: worker, waited, transfer, compute, fetch (seconds), in the order they ran."""
        import pandas as pd

        cols = ["task", "worker", "waited", "transfer", "compute", "cpu", "fetch"]
        rows = [(t.name, t.worker, t.waited, t.transfer, t.compute, t.cpu, t.fetch) for t in self.timings.values()]
        return pd.DataFrame(rows, columns=cols)

    def timing_summary(self) -> str:
        """Where the time went, by kind of task (the task name's words before the symbol or pair)."""
        if not self.timings:
            return "no task ran"
        kinds: dict[str, list[TaskTiming]] = {}
        for t in self.timings.values():
            kinds.setdefault(_kind(t.name), []).append(t)
        busy = sum(t.compute for t in self.timings.values())
        cpu = [t.cpu for t in self.timings.values() if t.cpu is not None]
        lines = [f"{len(self.timings)} tasks in {self.seconds:.2f} s on {self.cluster.description}: "
                 f"{busy:.2f} s of compute ({busy / max(self.seconds, 1e-9) / max(self.cluster.threads, 1):.0%} "
                 "of the threads' time)" + (f", {sum(cpu):.2f} s of it on a processor" if cpu else "")]
        for kind, ts in kinds.items():
            c = sorted(t.compute for t in ts)
            u = [t.cpu for t in ts if t.cpu is not None]
            lines.append(f"  {kind}: {len(ts)} task{'s' if len(ts) != 1 else ''}, compute {sum(c):.2f} s "
                         f"(each {c[0]:.3f}..{c[-1]:.3f} s{f'; cpu {sum(u):.2f} s' if u else ''}), "
                         f"waited {sum(t.waited for t in ts):.2f} s, transfer {sum(t.transfer for t in ts):.2f} s, "
                         f"fetch {sum(t.fetch for t in ts):.2f} s")
        return "\n".join(lines)

    @property
    def ok(self) -> bool:
        return not self.failed

    def report(self) -> str:
        if not self.failed:
            extra = f", {len(self.retried)} after a retry" if self.retried else ""
            return f"{len(self.results)} tasks done in {self.seconds:.1f} s on {self.cluster.description}{extra}"
        lines = [f"{len(self.failed)} of {len(self.failed) + len(self.results)} tasks failed after "
                 f"{self.cluster.retries} retr{'y' if self.cluster.retries == 1 else 'ies'}:"]
        lines += [f"  {f}" for f in self.failed.values()]
        return "\n".join(lines)


@dataclass(frozen=True)
class ClusterInfo:
    kind: str  # "local", "scheduler" or "in-process"
    address: str | None
    workers: int
    threads: int  # in all
    memory_limit: int | None  # bytes per worker (local cluster)
    retries: int

    @property
    def description(self) -> str:
        if self.kind == "in-process":
            return "this process"
        mem = f", {self.memory_limit / 2**30:.1f} GiB each" if self.memory_limit else ""
        where = "a local Dask cluster" if self.kind == "local" else f"the Dask scheduler {self.address}"
        return f"{where} ({self.workers} worker{'s' if self.workers != 1 else ''}, {self.threads} thread" \
               f"{'s' if self.threads != 1 else ''}{mem})"


def machine() -> tuple[int, int]:
    """Cores and memory (bytes) this process may use (cgroup limits and CPU affinity included)."""
    from dask.system import CPU_COUNT
    from distributed.system import MEMORY_LIMIT

    cores = int(CPU_COUNT)  # the CPU count, the affinity mask and a cgroup CPU quota, whichever is least
    if hasattr(os, "sched_getaffinity"):
        cores = min(cores, len(os.sched_getaffinity(0)))
    return max(1, cores), int(MEMORY_LIMIT)


def local_cluster_size(settings, cores: int | None = None, memory: int | None = None) -> tuple[int, int, int]:
    """``(workers, threads_per_worker, memory_limit bytes per worker)`` of a local cluster.

    Unset settings are sized to the machine: one worker process per core as long as each gets at
    least 1 GiB, the cores shared out as threads, the memory shared out among the workers.
    """
    from dask.utils import parse_bytes

    c, m = machine()
    cores, memory = cores or c, memory or m
    workers = settings.workers or max(1, min(cores, memory // MIN_WORKER_MEMORY))
    threads = settings.threads_per_worker or max(1, cores // workers)
    limit = parse_bytes(settings.memory_limit) if settings.memory_limit else memory // workers
    if limit * workers > memory:
        log.warning("research.dask: %d workers × %s is more than this machine's %.1f GiB of memory",
                    workers, settings.memory_limit, memory / 2**30)
    return int(workers), int(threads), int(limit)


# -- what runs on a worker --------------------------------------------------------------------------------
def _attempt(topic: str, name: str, fn: Callable, *args):
    """Run one task; on an error, tell the client (an event on ``topic``) before Dask retries it.

    Either way the processor time the task's thread used goes to the client too (on one topic for all
    runs, :data:`CPU_TOPIC`, whose length the scheduler bounds)."""
    cpu = time.thread_time()
    try:
        return fn(*args)
    except BaseException as e:  # noqa: BLE001 - reported, then re-raised for Dask's retries
        try:
            from distributed import get_worker

            get_worker().log_event(topic, {"task": name, "error": f"{type(e).__name__}: {e}"})
        except Exception:  # noqa: BLE001 - not on a worker (or the event cannot go): the error still goes up
            pass
        raise
    finally:
        try:
            from distributed import get_worker

            get_worker().log_event(CPU_TOPIC, {"run": topic, "task": name, "cpu": time.thread_time() - cpu})
        except Exception:  # noqa: BLE001 - a diagnosis only
            pass


def _probe() -> str:
    """On each worker: the tradekit version it runs."""
    import tradekit

    return tradekit.__version__


def _warm_up_plugin():
    """A worker plugin that readies each worker, when it starts (and any that joins or restarts later),
    for the sweep's tasks: tradekit and vectorbt imported, vectorbt's compiled functions loaded and
    the charge tables read (:func:`tradekit.research.sweep.warm_up`), so that no task pays for it."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class WarmUp(WorkerPlugin):
        name = "tradekit-warm-up"
        idempotent = True

        def setup(self, worker) -> None:
            from tradekit.research.sweep import warm_up

            seconds = warm_up()
            worker.log_event("tradekit-warm-up", {"worker": worker.address, "seconds": round(seconds, 3)})

    return WarmUp()


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def _progress(kind: str, total: int, desc: str):
    if kind == "none" or total == 0:
        return None
    if kind == "text":
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="task", leave=True)


class SweepCluster:
    """Where research tasks run: a local Dask cluster, a running scheduler, or this process.

    Use it as a context manager (a local cluster is stopped at the end); ``client=`` adopts an
    existing ``distributed.Client`` (left open). The cluster starts on first use.
    """

    def __init__(self, settings=None, *, progress: str = "auto", client=None):
        from tradekit.research.config import DaskConfig

        self.settings = settings if settings is not None else DaskConfig()
        if progress not in ("auto", "text", "none"):
            raise ValidationError(f"{progress!r} is not auto, text or none", field="research.progress")
        self.progress = progress
        self._client = client
        self._own = client is None
        self._cluster = None
        self._info: ClusterInfo | None = None
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------------------
    @property
    def in_process(self) -> bool:
        return not self.settings.enabled and self._client is None

    @property
    def retries(self) -> int:
        return int(self.settings.retries)

    @property
    def client(self):
        """The ``distributed.Client`` (starting the local cluster or connecting first)."""
        if self.in_process:
            raise TradekitError("research.dask.enabled is false: the sweep runs in this process, without a client")
        with self._lock:
            if self._client is None:
                self._start()
            return self._client

    def _start(self) -> None:
        from distributed import Client, LocalCluster

        s = self.settings
        t = s.connect_timeout_seconds
        if s.scheduler:
            try:
                self._client = Client(s.scheduler, timeout=t, set_as_default=False)
            except (OSError, TimeoutError) as e:
                raise TradekitError(f"research.dask.scheduler: cannot reach the Dask scheduler at {s.scheduler} "
                                    f"within {t:g} s ({type(e).__name__}: {e})") from None
            try:
                self._client.wait_for_workers(1, timeout=t)
            except TimeoutError:
                self._client.close()
                self._client = None
                raise TradekitError(f"research.dask.scheduler: the Dask scheduler at {s.scheduler} has no worker "
                                    f"after {t:g} s (start one: dask worker {s.scheduler})") from None
        else:
            import dask

            workers, threads, limit = local_cluster_size(s)
            # worker processes talk to the scheduler over loopback TCP (a port of its own); worker threads in
            # this process over Dask's in-process transport (a host and port there made "inproc://127.0.0.1:0",
            # which Dask refused: research.dask.processes false could not start)
            where = {"host": "127.0.0.1", "scheduler_port": 0} if s.processes else {}
            with dask.config.set(LOCAL_WORKER_CONFIG):  # the nannies pass it on to the worker processes
                self._cluster = LocalCluster(n_workers=workers, threads_per_worker=threads, memory_limit=limit,
                                             processes=s.processes, dashboard_address=None, **where,
                                             silence_logs=logging.WARNING, timeout=t,
                                             scheduler_kwargs=LOCAL_SCHEDULER_HTTP)
            self._client = Client(self._cluster, timeout=t, set_as_default=False)
        try:
            versions = self._client.run(_probe)
            self._client.register_plugin(_warm_up_plugin())
        except Exception as e:  # noqa: BLE001 - a worker without tradekit cannot unpickle the probe
            self.close()
            raise TradekitError(f"the Dask workers cannot run tradekit: {_error(e)} (install tradekit where they run)") \
                from None
        import tradekit

        other = {w: v for w, v in versions.items() if v != tradekit.__version__}
        if other:
            w, v = next(iter(other.items()))
            log.warning("Dask worker %s runs tradekit %s, this process %s", w, v, tradekit.__version__)

    @property
    def info(self) -> ClusterInfo:
        if self.in_process:
            return ClusterInfo("in-process", None, 1, 1, None, self.retries)
        ws = self.client.scheduler_info(n_workers=-1)["workers"] if self._info is None else None
        if ws is not None:
            limits = {w.get("memory_limit") for w in ws.values()}
            kind = "local" if self._cluster is not None else "scheduler"
            self._info = ClusterInfo(kind, self.client.scheduler.address, len(ws),
                                     sum(int(w.get("nthreads", 1)) for w in ws.values()),
                                     limits.pop() if len(limits) == 1 else None, self.retries)
        return self._info

    @property
    def slots(self) -> int:
        """Tasks that can run at once (threads over all workers)."""
        return max(1, self.info.threads)

    def close(self) -> None:
        if self._own and self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
        self._info = None

    def __enter__(self) -> "SweepCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        started = self.in_process or self._client is not None
        return f"<SweepCluster {self.info.description if started else '(not started)'}>"

    # -- running tasks -----------------------------------------------------------------------------------
    def run(self, tasks: Sequence[Task], shared: dict[str, Any] | None = None, *, desc: str = "sweep",
            on_result: Callable[[str, Any], None] | None = None) -> TaskOutcome:
        """Run ``tasks`` (each after the tasks it ``needs``), streaming results to ``on_result``."""
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValidationError("two tasks share a name", field="tasks")
        known = set(names)
        for t in tasks:
            missing = [n for n in t.needs if n not in known]
            if missing:
                raise ValidationError(f"task {t.name} needs {missing[0]}, which is not a task", field="tasks")
        shared = dict(shared or {})
        if self.in_process:
            return self._run_here(tasks, shared, desc, on_result)
        return self._run_dask(tasks, shared, desc, on_result)

    def _say(self, bar, text: str) -> None:
        log.warning("%s", text)
        if bar is not None:
            bar.write(text)

    def _run_here(self, tasks, shared, desc, on_result) -> TaskOutcome:
        t0 = time.perf_counter()
        results, failed, retried, timings = {}, {}, {}, {}
        bar = _progress(self.progress, len(tasks), desc)
        for t in _ordered(tasks):
            blocked = next((n for n in t.needs if n in failed), None)
            if blocked:
                failed[t.name] = TaskFailure(t.name, failed[blocked].error, 0, _root(failed, blocked))
            else:
                args = [shared[a.name] if isinstance(a, Shared) else a for a in t.args] + [results[n] for n in t.needs]
                spent = cpu = 0.0
                for attempt in range(1, self.retries + 2):
                    started, cpu_started = time.perf_counter(), time.thread_time()
                    try:
                        results[t.name] = t.fn(*args)
                    except Exception as e:  # noqa: BLE001 - reported, retried, then recorded
                        spent += time.perf_counter() - started
                        cpu += time.thread_time() - cpu_started
                        timings[t.name] = TaskTiming(t.name, "this process", compute=spent, cpu=cpu)
                        self._say(bar, f"task {t.name} failed (attempt {attempt} of {self.retries + 1}): {_error(e)}")
                        if attempt == self.retries + 1:
                            failed[t.name] = TaskFailure(t.name, _error(e), attempt, None, traceback.format_exc())
                        continue
                    spent += time.perf_counter() - started
                    cpu += time.thread_time() - cpu_started
                    timings[t.name] = TaskTiming(t.name, "this process", compute=spent, cpu=cpu)
                    if attempt > 1:
                        retried[t.name] = attempt - 1
                    if on_result is not None:
                        on_result(t.name, results[t.name])
                    break
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        return TaskOutcome(results, failed, retried, time.perf_counter() - t0, self.info, timings)

    def _run_dask(self, tasks, shared, desc, on_result) -> TaskOutcome:
        from distributed import as_completed, get_task_stream

        client = self.client
        t0 = time.perf_counter()
        run_id = uuid.uuid4().hex[:12]
        topic = f"tradekit-sweep-{run_id}"
        bar = _progress(self.progress, len(tasks), desc)
        seen_events: list = []

        def on_event(event) -> None:  # the client's thread: collect; the loop below prints
            seen_events.append(event[1] if isinstance(event, tuple) else event)

        cpu: dict[str, float] = {}

        def on_cpu(event) -> None:
            ev = event[1] if isinstance(event, tuple) else event
            if ev.get("run") == topic:
                cpu[ev["task"]] = cpu.get(ev["task"], 0.0) + float(ev["cpu"])

        client.subscribe_topic(topic, on_event)
        client.subscribe_topic(CPU_TOPIC, on_cpu)
        futures_shared = client.scatter(shared, hash=False) if shared else {}  # each sent once, in one message
        futs, by_key, submitted, fetch = {}, {}, {}, {}
        stream = get_task_stream(client=client)  # each task's transfer and compute, from the scheduler
        try:
            stream.__enter__()
        except Exception:  # noqa: BLE001 - e.g. an older scheduler: the sweep runs, without the timings
            log.debug("no task stream from the scheduler", exc_info=True)
            stream = None
        try:
            for i, t in enumerate(_ordered(tasks)):
                args = [futures_shared[a.name] if isinstance(a, Shared) else a for a in t.args]
                args += [futs[n] for n in t.needs]
                submitted[t.name] = time.time()
                # the key's prefix (up to the run id) is the task's kind: Dask learns each kind's duration
                # from the tasks that finish, for placing and stealing the rest (one prefix per task
                # left every task at Dask's 0.5 s guess, and a long charges task queued behind another)
                f = client.submit(_attempt, topic, t.name, t.fn, *args, key=f"{_safe(_kind(t.name))}-{run_id}-{i}",
                                  retries=self.retries, pure=False)
                futs[t.name] = f
                by_key[f.key] = t.name
            results, errors = {}, {}
            printed = 0
            for f in as_completed(list(futs.values()), loop=client.loop):
                name = by_key[f.key]
                if f.status == "finished":
                    got = time.perf_counter()
                    results[name] = f.result()
                    fetch[name] = time.perf_counter() - got
                    if on_result is not None:
                        on_result(name, results[name])
                else:
                    errors[name] = f
                while printed < len(seen_events):
                    ev = seen_events[printed]
                    printed += 1
                    self._say(bar, f"task {ev['task']} failed on a worker: {ev['error']} "
                                   f"(Dask runs it again up to {self.retries} time{'s' if self.retries != 1 else ''})")
                if bar is not None:
                    bar.update(1)
            # every failure the workers reported, also those that came after the last completion
            events = [e[1] if isinstance(e, tuple) else e for e in client.get_events(topic)]
            for ev in events[printed:]:
                self._say(bar, f"task {ev['task']} failed on a worker: {ev['error']} "
                               f"(Dask runs it again up to {self.retries} time{'s' if self.retries != 1 else ''})")
            counts: dict[str, int] = {}
            for e in events:
                counts[e["task"]] = counts.get(e["task"], 0) + 1
            failed: dict[str, TaskFailure] = {}
            for t in _ordered(tasks):
                if t.name not in errors:
                    continue
                blocked = next((n for n in t.needs if n in failed), None)
                if blocked:
                    failed[t.name] = TaskFailure(t.name, failed[blocked].error, 0, _root(failed, blocked))
                    continue
                try:
                    exc = errors[t.name].exception()
                    tb = "".join(traceback.format_tb(errors[t.name].traceback() or None) or [])
                except Exception as e:  # noqa: BLE001 - cancelled (e.g. its worker was lost): that is the error
                    exc, tb = e, ""
                failed[t.name] = TaskFailure(t.name, _error(exc), counts.get(t.name, self.retries + 1), None, tb)
            retried = {n: c for n, c in counts.items() if n in results}
        finally:
            try:
                if stream is not None:
                    stream.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - the timings are a diagnosis; the results stand without them
                log.debug("no task stream from the scheduler", exc_info=True)
                stream = None
            client.unsubscribe_topic(topic)
            client.unsubscribe_topic(CPU_TOPIC)
            for f in futs.values():
                f.release()
            for f in futures_shared.values():
                f.release()
            if bar is not None:
                bar.close()
        for f in failed.values():
            if not f.blocked_by:
                self._say(None, f"task {f.name} failed after {self.retries} retries: {f.error}")
        timings = _dask_timings(stream.data, by_key, tasks, submitted, fetch, cpu) if stream is not None else {}
        return TaskOutcome(results, failed, retried, time.perf_counter() - t0, self.info, timings)


def _kind(name: str) -> str:
    """A task name's kind: its words up to the first that names a symbol or a number."""
    words = []
    for w in name.split():
        if any(ch.isdigit() for ch in w) or ":" in w.rstrip(":"):
            break
        words.append(w)
    return " ".join(words) or name


def _dask_timings(records: list[dict], by_key: dict, tasks: Sequence[Task], submitted: dict[str, float],
                  fetch: dict[str, float], cpu: dict[str, float]) -> dict[str, TaskTiming]:
    """Per task, from the scheduler's task stream (each attempt's transfer and compute on its worker)."""
    spans: dict[str, list[dict]] = {}
    workers: dict[str, str] = {}
    for r in records:
        name = by_key.get(r.get("key"))
        if name is None:
            continue
        spans.setdefault(name, []).extend(r.get("startstops") or [])
        workers[name] = str(r.get("worker", ""))
    done = {n: max(ss["stop"] for ss in v) for n, v in spans.items() if v}
    out = {}
    for t in tasks:
        ss = spans.get(t.name)
        if not ss:
            continue
        ready = max([submitted[t.name], *[done[n] for n in t.needs if n in done]])
        start = min(x["start"] for x in ss)
        out[t.name] = TaskTiming(
            t.name, workers.get(t.name, ""), waited=max(0.0, start - ready),
            transfer=sum(x["stop"] - x["start"] for x in ss if x.get("action") in ("transfer", "deserialize",
                                                                                    "disk-read")),
            compute=sum(x["stop"] - x["start"] for x in ss if x.get("action") == "compute"),
            fetch=fetch.get(t.name, 0.0), cpu=cpu.get(t.name))
    # In the order they ran. The stream's times come from each worker's clock, shifted by the scheduler's
    # estimate of its offset; for tasks of microseconds that estimate can put a task before one it needs,
    # so a task is never placed before the tasks it needs (it cannot have started before they finished).
    needs = {t.name: t.needs for t in tasks}
    began: dict[str, float] = {}

    def at(name: str) -> float:
        if name not in began:
            began[name] = float("-inf")  # a cycle cannot happen (the run refuses one); this only guards recursion
            own = min(x["start"] for x in spans[name])
            began[name] = max([own, *[at(n) for n in needs.get(name, ()) if n in out]])
        return began[name]

    depth = _depth(needs, out)
    order = {n: (at(n), depth(n)) for n in out}
    return dict(sorted(out.items(), key=lambda kv: order[kv[0]]))


def _depth(needs: dict[str, Sequence[str]], present: dict) -> Callable[[str], int]:
    """How many tasks, at most, stand between a task and one that needs nothing (ties in start time)."""
    memo: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in memo:
            memo[name] = 0
            memo[name] = 1 + max([depth(n) for n in needs.get(name, ()) if n in present], default=-1)
        return memo[name]

    return depth


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-:(),=" else "_" for c in name)[:120]


def _root(failed: dict[str, TaskFailure], name: str) -> str:
    while failed[name].blocked_by:
        name = failed[name].blocked_by
    return name


def _ordered(tasks: Iterable[Task]) -> list[Task]:
    """The tasks with every task after those it needs (stable otherwise); a cycle is an error."""
    tasks = list(tasks)
    by = {t.name: t for t in tasks}
    done: set[str] = set()
    out: list[Task] = []
    for t in tasks:
        stack = [(t, False)]
        path: set[str] = set()
        while stack:
            cur, expanded = stack.pop()
            if cur.name in done:
                continue
            if expanded:
                path.discard(cur.name)
                done.add(cur.name)
                out.append(cur)
                continue
            if cur.name in path:
                raise ValidationError(f"task {cur.name} needs itself (a cycle)", field="tasks")
            path.add(cur.name)
            stack.append((cur, True))
            for n in reversed(cur.needs):
                if n not in done:
                    if n in path:
                        raise ValidationError(f"task {cur.name} needs itself (a cycle)", field="tasks")
                    stack.append((by[n], False))
    return out


def research_cluster(config=None, *, client=None) -> SweepCluster:
    """The :class:`SweepCluster` a config's ``research`` section describes (not started yet).

    ``config`` is a :class:`~tradekit.config.TradekitConfig`, a path to one, or None (the default
    config); ``client`` adopts a running ``distributed.Client`` instead.
    """
    from tradekit.config import TradekitConfig, load_config

    cfg = config if isinstance(config, TradekitConfig) else load_config(config)
    r = cfg.research
    return SweepCluster(r.dask, progress=r.progress, client=client)


def auto_chunks(n_pairs: int, slots: int, pairs_per_task: int | None) -> int:
    """How many pair chunks a sweep is cut into: ``pairs_per_task`` if set, else two per worker
    thread (so the per-chunk pricing keeps every thread busy too), at most one per pair."""
    if n_pairs <= 0:
        return 0
    if pairs_per_task:
        return math.ceil(n_pairs / int(pairs_per_task))
    return max(1, min(n_pairs, 2 * slots if slots > 1 else 1))
