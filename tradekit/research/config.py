"""The ``research:`` config section: where research sweeps run (:mod:`tradekit.research.cluster`).

.. code-block:: yaml

    research:
      progress: auto            # auto (a widget in a notebook, text elsewhere), text or none
      dask:
        enabled: true           # false: the sweep runs in this process, one task after another
        scheduler: null         # tcp://10.0.0.5:8786 to use a running dask.distributed scheduler
        workers: null           # local cluster: worker processes (null: sized to the machine)
        threads_per_worker: null
        memory_limit: null      # local cluster: per worker, e.g. 2GiB (null: the machine's memory shared out)
        processes: true
        retries: 2
        pairs_per_task: null
        connect_timeout_seconds: 30

Settings that only mean something for a local cluster (``workers``, ``threads_per_worker``,
``memory_limit``, ``processes``) are refused next to a ``scheduler`` (its workers are its own), and
every cluster setting is refused when ``enabled`` is false: none of them is silently ignored.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):\d{1,5}$")
_LOCAL_ONLY = ("workers", "threads_per_worker", "memory_limit", "processes")


class DaskConfig(BaseModel):
    """``research.dask``: research sweeps on Dask.

    Attributes
    ----------
    enabled : bool
        Run sweeps on Dask: a local cluster by default, or the ``scheduler`` named. False: the
        sweep runs in this process, one task after another (the same tasks, retries and report).
    scheduler : str or None
        Address of a running ``dask.distributed`` scheduler, ``tcp://HOST:PORT`` (``HOST:PORT`` is
        read as tcp). Null: start a local cluster on this machine for the sweep.
    workers : int or None
        Local cluster: worker processes. Null: sized to the machine, one per core this process may
        use (its CPU affinity and cgroup quota included) as long as each gets at least 1 GiB of memory.
    threads_per_worker : int or None
        Local cluster: threads per worker. Null: the cores shared out among the workers (at least 1).
    memory_limit : str or None
        Local cluster: memory per worker (``2GiB``, ``1500MB``); a worker above it is restarted by
        its nanny and its task retried. Null: the machine's memory shared out among the workers.
    processes : bool
        Local cluster: workers as separate processes (true), or as threads of this process (false;
        the sweep's numpy/numba code holds the GIL part of the time, so processes are faster).
    retries : int
        Times a failed task is run again (Dask's ``retries=``) before it is reported as failed.
    pairs_per_task : int or None
        Parameter pairs in one task (each symbol's vectorbt task and each charges task). Null: in
        this process one task per symbol over every pair (vectorised), on a cluster the pairs dealt
        out over two charges tasks per worker thread.
    connect_timeout_seconds : float
        How long to wait for the scheduler (and its first worker) or for the local cluster to start.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    enabled: bool = Field(True, description="run research sweeps on Dask (false: in this process, task after task)")
    scheduler: str | None = Field(None, description="tcp://HOST:PORT of a running dask.distributed scheduler "
                                  "(null: a local cluster sized to the machine)")
    workers: int | None = Field(None, ge=1, le=1024, description="local cluster: worker processes "
                                "(null: one per core, at least 1 GiB each)")
    threads_per_worker: int | None = Field(None, ge=1, le=256, description="local cluster: threads per worker "
                                           "(null: the cores shared out)")
    memory_limit: str | None = Field(None, description="local cluster: memory per worker, e.g. 2GiB "
                                     "(null: the machine's memory shared out)")
    processes: bool = Field(True, description="local cluster: workers as processes (false: threads of this process)")
    retries: int = Field(2, ge=0, le=20, description="a failed task is run again this many times before it is reported")
    pairs_per_task: int | None = Field(None, ge=1, description="parameter pairs per task (null: enough tasks for "
                                       "every worker thread)")
    connect_timeout_seconds: float = Field(30.0, gt=0, le=3600, description="wait this long for the scheduler "
                                           "(and a worker) or for the local cluster")

    @field_validator("scheduler")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip()
        if "://" not in v:
            v = f"tcp://{v}"
        if not _ADDRESS.match(v):
            raise ValueError(f"{v!r} is not a scheduler address tcp://HOST:PORT")
        return v

    @field_validator("memory_limit")
    @classmethod
    def _bytes(cls, v: str | None) -> str | None:
        if v is None:
            return None
        from dask.utils import parse_bytes

        try:
            n = parse_bytes(str(v).strip())
        except (ValueError, TypeError):
            raise ValueError(f"{v!r} is not an amount of memory like 2GiB or 1500MB") from None
        if n < 64 * 2**20:
            raise ValueError(f"{v!r} is below 64 MiB: too little for a worker")
        return str(v).strip()

    @model_validator(mode="after")
    def _nothing_ignored(self) -> "DaskConfig":
        given = self.model_fields_set
        if not self.enabled:
            bad = [n for n in ("scheduler", *_LOCAL_ONLY, "connect_timeout_seconds") if n in given]
            if bad:
                raise ValueError(f"research.dask.{bad[0]} is set but research.dask.enabled is false (the sweep runs in "
                                 "this process): remove it or enable Dask")
        if self.scheduler is not None:
            bad = [n for n in _LOCAL_ONLY if n in given]
            if bad:
                raise ValueError(f"research.dask.{bad[0]} sizes a local cluster, but research.dask.scheduler names a "
                                 f"running one ({self.scheduler}) whose workers are its own: remove it (size that "
                                 "cluster where its workers start, e.g. `dask worker ADDRESS --nworkers N`)")
        return self


class ResearchConfig(BaseModel):
    """``research``: the research notebook's sweeps.

    Attributes
    ----------
    progress : str
        The sweep's progress bar: ``auto`` (a widget in a notebook, text in a terminal), ``text``
        (text on stderr, also in a notebook) or ``none``.
    dask : DaskConfig
        Where the sweeps run (a local Dask cluster by default).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    progress: Literal["auto", "text", "none"] = Field("auto", description="the sweep's progress bar")
    dask: DaskConfig = Field(default_factory=DaskConfig)
