"""What a command wrote: snapshot a folder's files (size, mtime) before and after, and compare."""

from __future__ import annotations

import os
from pathlib import Path

CACHES = frozenset({".git", ".hypothesis", ".pytest_cache", "__pycache__"})


def snapshot(folder: Path, skip=frozenset()) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (not descending into ``skip`` folder names) -> (size, mtime_ns)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for n in filenames:
            p = Path(dirpath) / n
            try:
                st = p.lstat()
            except FileNotFoundError:
                continue
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out


def changed(before: dict, after: dict) -> list[str]:
    """Files added, removed or rewritten between two snapshots."""
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
