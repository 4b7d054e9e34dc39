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

import os
from functools import cache

import torch

from .cpus import cpu_budget


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
