"""``hepcourse content check``: does a notebook run in the course environment, and if not, why.

Material brought from elsewhere (another course's notebook, a paper's tutorial) fails in a few
typical ways; this runs each notebook top to bottom in a fresh kernel (nbclient) and names the
cause of the first failing cell in plain words: a package the environment does not have (and
whether the package registry has it), an API that was removed (with what replaced it), a download
this machine cannot make (and from where), code written for a GPU only, an exercise left blank.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Import names whose distribution is called otherwise.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "cv2": "opencv-python", "PIL": "pillow", "yaml": "pyyaml",
                 "skimage": "scikit-image", "mpl_toolkits": "matplotlib", "ROOT": "ROOT (not on PyPI)",
                 "tensorflow": "tensorflow", "keras": "keras", "uproot3": "uproot3"}

# Removed APIs met in older HEP/ML notebooks: (pattern in the error, what replaced it).
REMOVED = [
    (r"module 'numpy' has no attribute '(float|int|bool|object|complex|str)'",
     "NumPy 1.24 removed np.{0}: use the builtin {0}, or a sized NumPy type (np.float64, np.int64)"),
    (r"module 'numpy' has no attribute 'asscalar'", "NumPy removed np.asscalar: use a.item()"),
    (r"'DataFrame' object has no attribute 'append'", "pandas 2 removed DataFrame.append: use pd.concat([df, other])"),
    (r"'Series' object has no attribute 'iteritems'", "pandas 2 removed Series.iteritems: use .items()"),
    (r"'DataFrame' object has no attribute 'iteritems'", "pandas 2 removed DataFrame.iteritems: use .items()"),
    (r"cannot import name 'plot_roc_curve'", "scikit-learn 1.2 removed plot_roc_curve: use RocCurveDisplay.from_estimator"),
    (r"cannot import name 'plot_confusion_matrix'",
     "scikit-learn 1.2 removed plot_confusion_matrix: use ConfusionMatrixDisplay.from_estimator"),
    (r"cannot import name 'load_boston'", "scikit-learn 1.2 removed load_boston: use fetch_california_housing"),
    (r"No module named 'sklearn.cross_validation'", "sklearn.cross_validation is now sklearn.model_selection"),
    (r"No module named 'sklearn.externals.joblib'", "sklearn.externals.joblib is gone: import joblib"),
    (r"No module named 'awkward1'", "awkward1 is now awkward (version 2: import awkward as ak)"),
    (r"'(\w+)' is not a valid package style", "matplotlib 3.6 renamed the seaborn styles: use 'seaborn-v0_8-...'"),
    (r"unexpected keyword argument 'use_label_encoder'", "XGBoost 2 dropped use_label_encoder: remove it"),
    (r"has no attribute 'lazyarrays'", "uproot 4+ has no lazyarrays: use uproot.dask or tree.arrays()"),
]
GPU_ONLY = re.compile(r"Torch not compiled with CUDA|no NVIDIA driver|CUDA driver initialization failed|"
                      r"CUDA unavailable|No CUDA GPUs are available")
NETWORK = re.compile(r"URLError|ConnectionError|NameResolutionError|gaierror|Name or service not known|"
                     r"Temporary failure in name resolution|HTTPError|Network is unreachable|timed out")
URL = re.compile(r"https?://[^\s'\"<>)]+")


@dataclass
class Report:
    notebook: str
    ok: bool
    cell: int | None = None          # the first failing code cell, counted from 1
    cause: str = ""
    seconds: float = 0.0
    detail: str = ""                 # the cell's traceback, for whoever fixes it


def check(path: Path, timeout: int = 600, kernel: str = "python3") -> Report:
    """Run ``path`` top to bottom in a fresh kernel (in its own folder); report the first failure."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    started = time.monotonic()
    try:
        nb = nbformat.read(path, 4)
    except Exception as err:  # noqa: BLE001 - any unreadable file is a finding, not a crash
        return Report(str(path), False, None, f"not a notebook nbformat can read ({type(err).__name__}: {err})")
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as err:
        cell = _failing_cell(nb)
        return Report(str(path), False, cell, explain(err.ename, err.evalue, _source(nb, cell)),
                      time.monotonic() - started, str(err)[-3000:])
    except CellTimeoutError:
        return Report(str(path), False, _failing_cell(nb) or None, f"a cell ran longer than {timeout} s",
                      time.monotonic() - started)
    except DeadKernelError:
        return Report(str(path), False, _failing_cell(nb) or None,
                      "the kernel died (out of memory, or a crash in compiled code)", time.monotonic() - started)
    return Report(str(path), True, seconds=time.monotonic() - started)


def explain(ename: str, evalue: str, source: str) -> str:
    """The cause of a cell's error, in plain words."""
    message = f"{ename}: {evalue}"
    for pattern, replacement in REMOVED:
        found = re.search(pattern, message)
        if found:
            return f"removed API: {replacement.format(*found.groups())}"
    if ename in ("ModuleNotFoundError", "ImportError") and "No module named" in evalue:
        name = re.search(r"No module named '([\w.]+)'", evalue).group(1).split(".")[0]
        return f"missing package: {name} ({_availability(DISTRIBUTIONS.get(name, name))})"
    if GPU_ONLY.search(message) or (ename == "AssertionError" and "CUDA" in evalue):
        return ("GPU-only code: it asks for CUDA, which this machine does not have; pick the device with "
                "hepcourse.device.device() (or torch.cuda.is_available()) instead of .cuda() / 'cuda'")
    if NETWORK.search(message):
        urls = URL.findall(evalue) or URL.findall(source)
        return f"blocked download: {urls[0] if urls else 'a network address'} cannot be reached from here; " \
               "put the file into the shared data folder (or use the course's generated datasets)"
    if ename == "NotImplementedError":
        return "an exercise left blank (it raises NotImplementedError)"
    if ename == "FileNotFoundError":
        return f"a file it expects is not there: {evalue} (data shipped with the notebook, or downloaded earlier?)"
    return message.splitlines()[0][:300]


def _availability(distribution: str) -> str:
    """Whether the package registry serves ``distribution`` (the course's lock could add it)."""
    if " " in distribution:
        return distribution
    ran = subprocess.run([sys.executable, "-m", "pip", "index", "versions", distribution, "--disable-pip-version-check"],
                         capture_output=True, text=True, timeout=120, check=False)
    if ran.returncode == 0 and ran.stdout.strip():
        latest = ran.stdout.split("\n", 1)[0].strip()
        return f"not in the course environment; the registry has {latest}: add it to pyproject.toml and the lock"
    if "No matching distribution" in ran.stderr:
        return "not in the course environment, and the package registry does not serve it"
    return "not in the course environment; the package registry could not be asked"


def _failing_cell(nb) -> int:
    code = [c for c in nb.cells if c.cell_type == "code"]
    for n, cell in enumerate(code, 1):
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            return n
    executed = [n for n, cell in enumerate(code, 1) if cell.get("execution_count")]
    return (executed[-1] + 1) if executed else 1


def _source(nb, cell: int | None) -> str:
    code = [c for c in nb.cells if c.cell_type == "code"]
    return code[cell - 1].source if cell and cell <= len(code) else ""
