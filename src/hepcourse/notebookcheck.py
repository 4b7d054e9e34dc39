"""``hepcourse content check``: does a notebook run in the course environment, and if not, why.

Material brought from elsewhere (another course's notebook, a paper's tutorial) fails in a few
typical ways; this runs each notebook top to bottom in a fresh kernel (nbclient) and names the
cause of the first failing cell in plain words: a package the environment does not have (and
whether the package registry has it), an API that was removed (with what replaced it), a download
this machine cannot make (and from where), code written for a GPU only, an exercise left blank.
With an image (:func:`check_in_image`), the same check runs inside a throwaway container of the
course image, where the students' servers run in docker and kubernetes modes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Import names whose distribution is called otherwise.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "cv2": "opencv-python", "PIL": "pillow", "yaml": "pyyaml",
                 "skimage": "scikit-image", "mpl_toolkits": "matplotlib"}

# Packages the course environment leaves out on purpose (README: "The environment"), and why.
LEFT_OUT = {
    "ROOT": "not a pip package; the course reads ROOT files with uproot",
    **dict.fromkeys(["tensorflow", "keras"], "left out on purpose: the course's deep learning is PyTorch; "
                                               "port the model to torch"),
    "torchvision": ("in the CUDA image only: PyPI builds it for CUDA torch, and it does not import with the "
                    "CPU torch here"),
}

# Removed APIs met in older HEP/ML notebooks: (pattern in the error, what replaced it).
REMOVED = [
    (r"No module named 'uproot3'", ("uproot3 does not work with NumPy 2: port to uproot 5 "
                                    "(uproot.open(path)[tree].arrays(library='pd'))")),
    (r"module 'numpy' has no attribute '(float|int|bool|object|complex|str)'",
     "NumPy 1.24 removed np.{0}: use the builtin {0}, or a sized NumPy type (np.float64, np.int64)"),
    (r"module 'numpy' has no attribute 'asscalar'", "NumPy removed np.asscalar: use a.item()"),
    (r"module 'numpy' has no attribute '(product|cumproduct)'", "NumPy 2 removed np.{0}: use np.prod / np.cumprod"),
    (r"module 'numpy' has no attribute 'in1d'", "NumPy 2.4 removed np.in1d: use np.isin"),
    (r"module 'numpy' has no attribute 'trapz'", "NumPy 2.4 removed np.trapz: use np.trapezoid"),
    (r"`np\.(\w+)` was removed in the NumPy 2.0 release\. ([^\n]*)", "NumPy 2.0 removed np.{0}: {1}"),
    (r"'(DataFrame|Series)' object has no attribute 'append'", "pandas 2 removed {0}.append: use pd.concat([a, b])"),
    (r"'(DataFrame|Series)' object has no attribute 'iteritems'", "pandas 2 removed {0}.iteritems: use .items()"),
    (r"'DataFrame' object has no attribute 'applymap'", "pandas 3 removed DataFrame.applymap: use DataFrame.map"),
    (r"unexpected keyword argument 'delim_whitespace'", "pandas 3 removed delim_whitespace: use sep=r'\\s+'"),
    (r"HalvingGridSearchCV is experimental|HalvingRandomSearchCV is experimental",
     "`from sklearn.model_selection import *` fails since scikit-learn 1.9: import the names you use"),
    (r"cannot import name 'plot_roc_curve'", "scikit-learn 1.2 removed plot_roc_curve: use RocCurveDisplay.from_estimator"),
    (r"cannot import name 'plot_confusion_matrix'",
     "scikit-learn 1.2 removed plot_confusion_matrix: use ConfusionMatrixDisplay.from_estimator"),
    (r"load_boston", "scikit-learn 1.2 removed load_boston: use fetch_california_housing"),
    (r"unexpected keyword argument 'base_estimator'", "scikit-learn 1.4 renamed base_estimator to estimator"),
    (r"Got 'deviance' instead", "scikit-learn 1.3 renamed loss='deviance' to loss='log_loss'"),
    (r"OneHotEncoder.__init__\(\) got an unexpected keyword argument 'sparse'",
     "scikit-learn 1.4 renamed OneHotEncoder(sparse=) to sparse_output="),
    (r"unexpected keyword argument 'squared'",
     "scikit-learn 1.6 removed mean_squared_error(squared=False): use root_mean_squared_error"),
    (r"No module named 'sklearn.cross_validation'", "sklearn.cross_validation is now sklearn.model_selection"),
    (r"No module named 'sklearn.externals.joblib'", "sklearn.externals.joblib is gone: import joblib"),
    (r"cannot import name 'six' from 'sklearn.externals'", "sklearn.externals.six is gone: import six, or drop it"),
    (r"No module named 'awkward1'", "awkward1 is now awkward (version 2: import awkward as ak)"),
    (r"module 'awkward' has no attribute 'to_pandas'", "awkward 2 removed ak.to_pandas: use ak.to_dataframe"),
    (r"'(seaborn[\w-]*)' is not a valid package style",
     "matplotlib 3.6 renamed the seaborn styles: '{0}' is now 'seaborn-v0_8...' (plt.style.available lists them)"),
    (r"module 'matplotlib.cm' has no attribute 'get_cmap'",
     "matplotlib 3.9 removed cm.get_cmap: use matplotlib.colormaps[name]"),
    (r"unexpected keyword argument 'normed'", "matplotlib removed hist(normed=): use density=True"),
    (r"fit\(\) got an unexpected keyword argument '(eval_metric|early_stopping_rounds|callbacks)'",
     "XGBoost 2 moved {0} from fit() to the XGBClassifier / XGBRegressor constructor"),
    (r"unexpected keyword argument 'use_label_encoder'", "XGBoost 2 dropped use_label_encoder: remove it"),
    (r"has no attribute 'lazyarrays'", "uproot 4+ has no lazyarrays: use uproot.dask or tree.arrays()"),
    (r"unexpected keyword argument 'namedecode'", "uproot 4+ decodes names itself: drop namedecode"),
]
GPU_ONLY = re.compile(r"Torch not compiled with CUDA|no NVIDIA driver|CUDA driver initialization failed|"
                      r"CUDA unavailable|No CUDA GPUs are available|'gpu_hist'|"
                      r"Attempting to deserialize object on a CUDA device|task_type.*GPU|No OpenCL device|"
                      r"GPU Tree Learner was not enabled")
NETWORK = re.compile(r"URLError|ConnectionError|NameResolutionError|gaierror|Name or service not known|"
                     r"Temporary failure in name resolution|HTTPError|Network is unreachable|timed out|"
                     r"ClientConnector|Cannot connect to host|Domain name not found|fsspec-xrootd")
URL = re.compile(r"(?:https?|root)://[^\s'\"<>)]+")
POOL = re.compile(r"HTTPS?ConnectionPool\(host='([^']+)'.*?url: (\S+?)\s*\(", re.DOTALL)
IMPORT_ERRORS = ("ModuleNotFoundError", "ImportError")
NO_MODULE = re.compile(r"No module named '(\w+)")     # the top-level package of the failed import
ANSI = re.compile(r"\x1b\[[0-9;]*m")   # IPython's colours in a traceback
# A package the notebook installs from a repository (the kernel's pip only pretends, and offline).
GIT_INSTALL = re.compile(r"pip\W+install\b[^\n]*?(git\+[^\s'\",\]]+)")   # !pip ..., or subprocess's list
# Matplotlib styles that a package registers when imported.
STYLE_PACKAGES = dict.fromkeys(["science", "ieee", "nature", "notebook", "grid", "scatter", "high-vis"],
                               "SciencePlots: `import scienceplots`")
# A blank exercise in other courses' notebooks: a placeholder where the code goes.
PLACEHOLDER = re.compile(r"<\s*your code[^>]*>|#+\s*your code here|\bTODO\b", re.IGNORECASE)
# Where a notebook would change the course's environment: the kernel's pip only pretends.
KERNEL_ENV = {"PIP_DRY_RUN": "1", "PIP_NO_INPUT": "1"}
# Where the course image reads the shared data (images/Containerfile, docker mode's mount).
IMAGE_DATA = "/srv/hepcourse/data"


@dataclass
class Report:
    notebook: str
    ok: bool
    cell: int | None = None          # the first failing code cell, counted from 1
    cause: str = ""
    seconds: float = 0.0
    detail: str = ""                 # the cell's traceback, for whoever fixes it
    package: str = ""                # the missing package's import name, when that is the cause


def check(path: Path, timeout: int = 600, kernel: str = "python3", registry: bool = True,
          root: Path | None = None) -> Report:
    """Run ``path`` top to bottom in a fresh kernel, in a scratch copy of its folder, or of
    ``root`` for a notebook that reads files beside its folder (what one run leaves never changes
    the next), and report the first failure (``registry``: ask the package registry whether it
    has a missing package)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    started = time.monotonic()
    try:
        nb = nbformat.read(path, 4)
    except Exception as err:  # noqa: BLE001 - any unreadable file is a finding, not a crash
        return Report(str(path), False, None, f"not a notebook nbformat can read ({type(err).__name__}: {err})")
    root = (root or path.parent).resolve()
    with tempfile.TemporaryDirectory(prefix="content-check-") as scratch:
        copy = Path(shutil.copytree(root, Path(scratch) / root.name, symlinks=True))
        folder = copy / path.resolve().parent.relative_to(root)
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, resources={"metadata": {"path": str(folder)}})
        try:
            client.execute(env={**os.environ, **KERNEL_ENV})
        except CellExecutionError as err:
            cell, detail = _failing_cell(nb), ANSI.sub("", str(err))
            missing = NO_MODULE.search(err.evalue or "") if err.ename in IMPORT_ERRORS else None
            return Report(str(path), False, cell, explain(err.ename, err.evalue, _sources(nb, cell), detail, registry),
                          time.monotonic() - started, detail[-3000:], missing.group(1) if missing else "")
        except CellTimeoutError:
            return Report(str(path), False, _failing_cell(nb) or None, f"a cell ran longer than {timeout} s",
                          time.monotonic() - started)
        except DeadKernelError:
            return Report(str(path), False, _failing_cell(nb) or None,
                          "the kernel died (out of memory, or a crash in compiled code)", time.monotonic() - started)
    return Report(str(path), True, seconds=time.monotonic() - started)


def check_in_image(paths: list[Path], image: str, timeout: int = 600, engine: str = "",
                   root: Path | None = None) -> list[Report]:
    """:func:`check` of each notebook inside a throwaway container of the course ``image`` (its
    packages, its torch build), as a student's server there runs it: the notebook's folder and the
    shared data folder mounted read-only, no network; whether the registry has a missing package
    is asked from here."""
    from .data.store import data_dir
    from .grading.sandbox import container_engine

    command, data = container_engine(engine), data_dir()
    scale = [f"--env=HEPCOURSE_SCALE={os.environ['HEPCOURSE_SCALE']}"] if os.environ.get("HEPCOURSE_SCALE") else []
    reports = []
    for path in paths:
        folder = (root or path.parent).resolve()
        inside = f"/check/{folder.name}"
        notebook = f"{inside}/{path.resolve().relative_to(folder)}"
        ran = subprocess.run(
            [command, "run", "--rm", "--network=none", f"--volume={folder}:{inside}:ro",
             *([f"--volume={data}:{IMAGE_DATA}:ro"] if data.is_dir() else []), *scale, image,
             "hepcourse", "content", "check", "--json", "--no-registry", f"--timeout={timeout}",
             *([f"--root={inside}"] if root else []), notebook],
            capture_output=True, text=True, check=False)
        try:
            (found,) = json.loads(ran.stdout)
        except ValueError:
            reports.append(Report(str(path), False, None, f"the course image did not run the check: {_short(ran.stderr[-400:])}"))
            continue
        report = Report(**{**found, "notebook": str(path)})
        if report.package and report.cause == missing_cause(report.package, registry=False):
            report.cause = missing_cause(report.package)
        reports.append(report)
    return reports


def missing_cause(name: str, registry: bool = True) -> str:
    """A package the notebook imports that the environment does not have, and what to do."""
    if name in LEFT_OUT:
        return f"missing package: {name} ({LEFT_OUT[name]})"
    return f"missing package: {name} ({_availability(DISTRIBUTIONS.get(name, name)) if registry else 'not in the course environment'})"


def explain(ename: str, evalue: str, sources: list[str], detail: str = "", registry: bool = True) -> str:
    """The cause of a cell's error, in plain words; ``sources``: the code cells up to the failing
    one (the last), ``detail``: its traceback; ``registry``: ask the package registry about a
    missing package."""
    message = f"{ename}: {evalue}"
    failing = sources[-1] if sources else ""
    for pattern, replacement in REMOVED:
        found = re.search(pattern, message)
        if found:
            return f"removed API: {replacement.format(*found.groups())}"
    style = re.search(r"'([\w-]+)' is not a valid package style", message)
    if style:
        package = STYLE_PACKAGES.get(style.group(1), "find which package registers it")
        return (f"missing package: the matplotlib style '{style.group(1)}' comes from a package that is not in "
                f"the course environment ({package}): drop the plt.style.use line or add the package")
    missing = NO_MODULE.search(evalue) if ename in IMPORT_ERRORS else None
    if missing:
        name = missing.group(1)
        installed = GIT_INSTALL.search("\n".join(sources))
        if installed and name.lower() in installed.group(1).lower():
            return (f"missing package: {name} (the notebook installs it from {installed.group(1)}, which cannot be "
                    "reached from here, and the kernel's pip installs nothing: put the package's code beside the notebook)")
        return missing_cause(name, registry)
    if GPU_ONLY.search(message) or (ename == "AssertionError" and "CUDA" in evalue):
        return ("GPU-only code: it asks for a GPU, which this machine does not have; pick the device with "
                "hepcourse.device.device() (torch: map_location= when loading; XGBoost: tree_method='hist')")
    downloads = [url for source in sources for url in URL.findall(source)]
    if NETWORK.search(message) or NETWORK.search(detail):
        # The request's own address first; a traceback's library code quotes unrelated URLs.
        pool = POOL.search(message) or POOL.search(detail)
        named = ([f"https://{pool.group(1)}{pool.group(2)}"] if pool else []) or URL.findall(evalue)
        url = (named or URL.findall(failing) or downloads[-1:] or URL.findall(detail) or ["a network address"])[0]
        url = re.sub(r"(\.root):[\w/;.]+$", r"\1", url)          # uproot's file.root:tree
        return f"blocked download: {url} cannot be reached from here; {_data_hint(url)}"
    if ename in ("FileNotFoundError", "OSError"):
        fetched = [url for url in downloads if url.rstrip("/").rsplit("/", 1)[-1] in evalue]
        if fetched or "received 0 bytes" in evalue:
            url = fetched[-1] if fetched else "its source"
            return f"blocked download: an earlier cell fetches {url}, which cannot be reached from here; {_data_hint(url)}"
        outside = "; it reads beside its own folder: check it with --root set to the folder that holds both" \
            if "../" in evalue else ""
        return f"a file it expects is not there: {_short(evalue)} ({_data_hint(evalue)}{outside})"
    if ename == "NotImplementedError" or (ename == "SyntaxError" and PLACEHOLDER.search(failing)):
        return "an exercise left blank (a placeholder where the code goes)"
    return _short(message)


def _short(text: str) -> str:
    return " ".join(text.split())[:300]


def _data_hint(text: str) -> str:
    """Where the file should come from: a course dataset's, or the shared data folder."""
    from .data.cards import cards

    for card in cards().values():
        for filename, spec in card.data["files"].items():
            if filename in text or (spec.get("url") and spec["url"] in text):
                return (f"it is the course dataset {card.name!r}: hepcourse.data.path({card.name!r}, {filename!r}) "
                        "(generated offline, `make data`)")
    return "put the file into the shared data folder and read it from there"


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
        expected = "raises-exception" in cell.get("metadata", {}).get("tags", [])   # nbclient runs on
        if not expected and any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            return n
    executed = [n for n, cell in enumerate(code, 1) if cell.get("execution_count")]
    return (executed[-1] + 1) if executed else 1


def _sources(nb, cell: int | None) -> list[str]:
    """The code cells up to the failing one."""
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    return code[:cell] if cell else code
