"""Fixtures shared by the integration tests: one throwaway PostgreSQL server for the whole run.

A cluster is created with ``initdb`` and started on a free loopback port (as the ``postgres``
user when the tests run as root: PostgreSQL refuses to run as root). Skipped with the reason
when no PostgreSQL server binaries are installed (CI installs them).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory):
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl); scripts/ensure-system-deps installs them")
    # not under pytest's root-only tmp folder: the server's user must be able to reach it
    base = Path(tempfile.mkdtemp(prefix="tk-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    if as_root:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(prefix + [initdb, "-D", str(data), "-U", "tk", "--auth=trust", "-E", "UTF8"], check=True,
                   capture_output=True)
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(prefix + [pg_ctl, "-D", str(data), "-o", opts, "-w", "-l", str(base / "log"), "start"], check=True,
                   capture_output=True)
    url = f"postgresql+psycopg://tk@127.0.0.1:{port}/postgres"
    try:
        yield url
    finally:
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


