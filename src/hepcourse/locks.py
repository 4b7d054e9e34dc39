"""File locks between processes (kernels, hub, CLI) that make the same file at once."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: Path):
    """Hold an exclusive lock for making ``path``, so that two kernels asking for the same
    missing file at once make it once (the second waits, then finds it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextmanager
def locked_folder(folder: Path):
    """Hold an exclusive lock on ``folder`` itself (made if missing): for a read-modify-write of a
    file in it by processes of different users, since locking the folder creates no lock file
    that one user would own and another could not open."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

