"""The one place notebooks choose where torch runs: the GPU when there is one, else the CPU.

    from hepcourse.device import device
    model.to(device()); x = x.to(device())

``$HEPCOURSE_DEVICE`` (e.g. ``cpu`` or ``cuda:1``) overrides the choice, for comparisons and for
a hub that gives each user one GPU.

``python -m hepcourse.device`` imports the whole course stack and says where torch and xgboost
can compute: the smoke test of the course images, and the one command that checks a GPU inside a
student's container.

Importing this module also sizes torch's CPU thread pool to the CPUs this kernel may really use
(its affinity and its container's CPU quota), unless ``$OMP_NUM_THREADS`` says otherwise: torch's
default is every core of the host, and OpenMP threads fighting over fewer cores run several times
slower than one thread per core.
"""

from __future__ import annotations

import importlib
import os
import sys
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


# What the course's notebooks, and HEP-ML material from elsewhere, import: an image that cannot
# import one of them is broken (README: "The environment").
STACK = ["numpy", "scipy", "pandas", "matplotlib", "mplhep", "seaborn", "plotly", "sklearn", "xgboost",
         "lightgbm", "catboost", "torch", "uproot", "awkward", "hist", "iminuit", "pyhf", "particle",
         "hepunits", "skhep_testdata", "tqdm", "nbgrader", "jupyterlab", "hepcourse"]


def report() -> list[str]:
    """The course stack's versions and where it can compute, one line each (raises ImportError
    for a package that is missing)."""
    lines = [f"{name} {importlib.import_module(name).__version__}" for name in STACK]
    built = torch.version.cuda
    lines.append(f"torch built for CUDA {built}" if built else "torch built for the CPU only")
    lines.append(_torchvision() if built else "torchvision: not with CPU torch (PyPI builds it for CUDA torch only)")
    if torch.cuda.is_available():
        lines += [f"CUDA device {i}: {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
    else:
        lines.append("torch.cuda.is_available(): False (no GPU visible here)")
    import xgboost

    lines.append(f"xgboost built with CUDA: {bool(xgboost.build_info().get('USE_CUDA'))}")
    lines.append(f"notebooks compute on: {describe()}")
    return lines


def _torchvision() -> str:
    """torchvision's version and its compiled operators at work (the CUDA image's; raises
    ImportError where it is missing)."""
    import torchvision

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]], device=device())
    kept = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7], device=device()), iou_threshold=0.5)
    return f"torchvision {torchvision.__version__}: nms on {boxes.device.type} keeps boxes {kept.tolist()}"


if __name__ == "__main__":
    try:
        print("\n".join(report()))
    except ImportError as err:
        sys.exit(f"the course stack is incomplete: {err}")

