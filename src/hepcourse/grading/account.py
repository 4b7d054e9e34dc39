"""The grader account: the OS user the formgrader runs as when the hub runs as root.

A formgrader is a Jupyter server with kernels and terminals; started by a root hub as itself it
would be a root shell for every facilitator. So a root hub runs it as ``grading.account``
instead (as nbgrader's own JupyterHub demos run theirs as a grader user), and the launcher's
prepare step (:func:`prepare`, before the hub starts) makes the account if it is missing and
gives it the course directory and the held-out data, and nothing else of the hub's: the hub's
database and cookie secret stay root's (mode 0600), students' homes stay private (0700), the
container engine's socket is root's. What grading needs root for, the autograde sandbox, the
account asks of the grading broker (``broker.py``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from ..config import ConfigError


def runs_as(settings: dict) -> str:
    """The account the formgrader runs as: ``grading.account`` under a root hub, else the
    hub's own user ('')."""
    return settings["grading"]["account"] if os.geteuid() == 0 else ""


def prepare(settings: dict) -> None:
    """As root, before the hub starts: the account exists and owns what grading writes; the
    hub's own files are out of its reach. Nothing to do for a hub that is not root."""
    name = runs_as(settings)
    if not name:
        return
    from .course import Course

    entry = _ensure(name)
    state = Path(settings["hub"]["state_dir"])
    os.chmod(state, 0o711)                        # the account passes through, lists nothing
    database = state / "jupyterhub.sqlite"        # JupyterHub would make it world-readable
    os.close(os.open(database, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(database, 0o600)
    (state / "homes").mkdir(mode=0o700, exist_ok=True)
    os.chmod(state / "homes", 0o700)
    hand_over(settings)
    course = Course(settings)
    for path in (course.root, course.modules, Path(settings["data"]["dir"]), Path(sys.executable),
                 Path(__file__).resolve()):
        _check_reachable(path, entry)


def hand_over(settings: dict) -> None:
    """Give the grader account what root made among grading's files (the course directory, the
    held-out data, the course's exchange folder): after ``make data --heldout`` or a
    ``hepcourse grade`` run as root, the formgrader can still write them. Only root's own
    entries change owner; files of other users (students' submissions) keep theirs."""
    name = runs_as(settings)
    try:
        entry = pwd.getpwnam(name) if name else None
    except KeyError:
        return
    if entry is None:
        return
    from ..data.store import heldout_dir
    from .course import Course

    course = Course(settings)
    for tree in (course.root, heldout_dir(Path(settings["data"]["dir"])), course.exchange / course.id):
        _own_tree(tree, entry)


def _ensure(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if not shutil.which("useradd"):
        raise ConfigError(f"grading.account: no OS account {name!r}, and no `useradd` here to make it: "
                          f"create it (a system user with a home), or name another")
    subprocess.run(["useradd", "--system", "--user-group", "--create-home", "--home-dir", f"/var/lib/{name}",
                    "--shell", "/bin/bash", "--comment", "hepcourse formgrader", name],
                   check=True, capture_output=True)
    return pwd.getpwnam(name)


def _own_tree(root: Path, entry: pwd.struct_passwd) -> None:
    """Root's folders and files in ``root`` handed to the account. The account controls this
    tree, so nothing is trusted: links are never followed, and a file with several names (a
    hard link to a file elsewhere) keeps its owner."""
    if not root.is_dir():
        return
    _own(root, entry)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            _own(os.path.join(folder, name), entry)


def _own(path: str | Path, entry: pwd.struct_passwd) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:                      # a link, a socket, gone: nothing to hand over
        return
    try:
        info = os.fstat(fd)
        if info.st_uid == 0 and (stat.S_ISDIR(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink == 1)):
            os.fchown(fd, entry.pw_uid, entry.pw_gid)
    finally:
        os.close(fd)


def _check_reachable(path: Path, entry: pwd.struct_passwd) -> None:
    """ConfigError unless the account may pass through every folder on the way to ``path``
    (those that exist: a data folder not made yet is checked by hepcourse check)."""
    for folder in reversed(path.parents):
        if not folder.exists():
            return
        info = folder.stat()
        bit = stat.S_IXUSR if info.st_uid == entry.pw_uid else \
            stat.S_IXGRP if info.st_gid == entry.pw_gid else stat.S_IXOTH
        if not info.st_mode & bit:
            raise ConfigError(
                f"grading.account: the formgrader's account {entry.pw_name!r} cannot reach {path}: {folder} is "
                f"private (mode {stat.S_IMODE(info.st_mode):04o}). Let others pass through it (chmod o+x {folder}), "
                "or keep the course's files elsewhere")
