"""A control group per sandbox: the memory and the processes of one submission counted together.

Resource limits (``RLIMIT_AS``, ``RLIMIT_NPROC``) hold each process; a submission that forks
children, each under its limit, could still take the machine's memory. The grader makes a
cgroup for each sandbox uid (cgroup v1's memory and pids controllers under the grader's own
groups, or v2 where the grader's group delegates them) with the submission's memory (no swap)
and process limits; the kernel's starter joins it before anything of the submission runs, so
every process it ever forks is inside, and :func:`remove` kills what is left and removes it.
Where no cgroup can be made (no permission, no controllers) grading goes on with the resource
limits alone, and says so once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
log = logging.getLogger(__name__)
_warned: list = []


def _own(controller: str) -> str:
    """This process's group of ``controller`` ('' for the v2 unified hierarchy)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(",") or (not controller and not names):
            return path.lstrip("/")
    return ""


def _limits(memory: int, processes: int) -> dict[Path, dict[str, int]]:
    if (ROOT / "cgroup.controllers").exists():                           # v2
        return {ROOT / _own(""): {"memory.max": memory, "memory.swap.max": 0, "pids.max": processes}}
    return {ROOT / "memory" / _own("memory"): {"memory.limit_in_bytes": memory, "memory.memsw.limit_in_bytes": memory},
            ROOT / "pids" / _own("pids"): {"pids.max": processes}}


def create(uid: int, memory: int, processes: int) -> list[Path]:
    """The sandbox's groups with their limits set (empty when cgroups cannot be used here)."""
    made = []
    try:
        for parent, settings in _limits(memory, processes).items():
            group = parent / f"hepcourse-sandbox-{uid}"
            remove([group])
            group.mkdir()
            made.append(group)
            for name, value in settings.items():
                if (group / name).exists():       # memsw / swap accounting may be off: memory alone
                    (group / name).write_text(str(value))
    except OSError as err:
        remove(made)
        if not _warned:
            _warned.append(err)
            log.warning("autograde: no control group for the sandbox (%s): each process of a submission "
                        "is limited, not their sum", err)
        return []
    return made


def existing(uid: int) -> list[Path]:
    """The groups of sandbox ``uid`` that exist now."""
    try:
        parents = _limits(0, 0)
    except OSError:
        return []
    return [parent / f"hepcourse-sandbox-{uid}" for parent in parents if (parent / f"hepcourse-sandbox-{uid}").is_dir()]


def join(groups: list[Path]) -> None:
    """Move the calling process (the kernel's starter, before it forks) into ``groups``."""
    for group in groups:
        (group / "cgroup.procs").write_text("0")


def remove(groups: list[Path]) -> None:
    """Kill every process in ``groups`` and remove them."""
    for group in groups:
        if not group.is_dir():
            continue
        for _ in range(50):
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        with contextlib.suppress(OSError):
            group.rmdir()
