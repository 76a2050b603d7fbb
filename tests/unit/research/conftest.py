"""One local Dask cluster of two worker processes for the research tests (starting one costs seconds:
each worker imports tradekit and vectorbt and is warmed up)."""

from __future__ import annotations

import pytest

from tradekit.research.cluster import SweepCluster
from tradekit.research.config import DaskConfig


@pytest.fixture(scope="session")
def two_worker_cluster():
    with SweepCluster(DaskConfig(workers=2, threads_per_worker=1, processes=True, retries=2), progress="none") as cl:
        yield cl
