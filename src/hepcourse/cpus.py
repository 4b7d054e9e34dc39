"""The project's CPU: the one CPU count (what this process may really use, not the host's
cores) and the priority of the processes that share it.

In a container with a 4-CPU quota on a 64-core host, ``os.cpu_count()`` says 64: data workers,
torch threads and autograde workers sized from it would fight over 4 CPUs."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path


def cpu_budget(cgroup: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may use: its CPU affinity, capped by a cgroup v2 CPU quota."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cgroup.read_text().split()
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return max(1, min(cpus, math.ceil(int(quota) / int(period))))


def set_niceness(pid: int, niceness: int) -> None:
    """Run process ``pid`` (0: this one) at ``niceness`` against every other process of the machine.

    Linux's autogroup (on in most distributions' kernels, for processes outside a CPU cgroup)
    shares the CPU between sessions first and applies a process's niceness only within its own
    session; a server or a kernel, each its own session, would weigh as much as the hub whatever
    its niceness. Its session's group therefore gets the same niceness."""
    niceness = min(19, niceness)
    os.setpriority(os.PRIO_PROCESS, pid, niceness)
    with contextlib.suppress(OSError):          # no autogroup (other kernels, other systems)
        Path(f"/proc/{pid or 'self'}/autogroup").write_text(str(niceness))
