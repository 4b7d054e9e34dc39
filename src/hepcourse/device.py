"""The one place notebooks choose where torch runs: the GPU when there is one, else the CPU.

    from hepcourse.device import device
    model.to(device()); x = x.to(device())

``$HEPCOURSE_DEVICE`` (e.g. ``cpu`` or ``cuda:1``) overrides the choice, for comparisons and for
a hub that gives each user one GPU.

Importing this module also sizes torch's CPU thread pool to the CPUs this kernel may really use
(its affinity and its container's CPU quota), unless ``$OMP_NUM_THREADS`` says otherwise: torch's
default is every core of the host, and OpenMP threads fighting over fewer cores run several times
slower than one thread per core.
"""

from __future__ import annotations

import math
import os
from functools import cache
from pathlib import Path

import torch


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


@cache
def device() -> torch.device:
    chosen = os.environ.get("HEPCOURSE_DEVICE")
    if chosen:
        return torch.device(chosen)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe() -> str:
    """One line for the top of a notebook: where this kernel computes."""
    d = device()
    if d.type == "cuda":
        return f"torch {torch.__version__} on {torch.cuda.get_device_name(d)}"
    return f"torch {torch.__version__} on {d.type} ({torch.get_num_threads()} threads)"


if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(cpu_budget())
