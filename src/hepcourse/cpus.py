"""The one CPU count of the project: what this process may really use, not the host's cores.

In a container with a 4-CPU quota on a 64-core host, ``os.cpu_count()`` says 64: data workers,
torch threads and autograde workers sized from it would fight over 4 CPUs."""

from __future__ import annotations

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
