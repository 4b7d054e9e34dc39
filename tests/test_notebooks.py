"""Every course notebook executes top to bottom in a fresh kernel at the `ci` data scale, and
every committed notebook is free of outputs."""

import subprocess

import nbformat
import pytest
from support import REPO, course_kernel_env

from hepcourse.notebookcheck import check

NOTEBOOKS = sorted((REPO / "modules").glob("*/*.ipynb"))
IDS = [str(p.relative_to(REPO / "modules")) for p in NOTEBOOKS]


def test_every_module_has_a_notebook_folder():
    assert [p.name for p in sorted((REPO / "modules").iterdir()) if p.is_dir()] == [
        "01_python", "02_intro_ml", "03_trees", "04_neural_nets", "05_cv_generative", "06_ml_in_hep"]
    assert NOTEBOOKS, "no notebooks found under modules/"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_executes(path, record_property, monkeypatch, ci_data):
    """Through `hepcourse content check`, which names the cause of a failure."""
    course_kernel_env(monkeypatch)
    report = check(path, timeout=300)
    record_property("notebook_seconds", report.seconds)
    if not report.ok:
        pytest.fail(f"{path.relative_to(REPO)} failed at code cell {report.cell}: {report.cause}\n{report.detail}",
                    pytrace=False)


def tracked_notebooks():
    out = subprocess.run(["git", "ls-files", "*.ipynb"], check=False, cwd=REPO, capture_output=True, text=True)
    listed = [REPO / line for line in out.stdout.splitlines()] if out.returncode == 0 else []
    return sorted(set(listed) | set(NOTEBOOKS))


@pytest.mark.parametrize("path", tracked_notebooks(), ids=lambda p: str(p.relative_to(REPO)))
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.relative_to(REPO)}: cells {dirty} carry outputs; clear them (make strip)"
