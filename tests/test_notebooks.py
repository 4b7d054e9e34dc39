"""Every course notebook executes top to bottom in a fresh kernel at the `ci` data scale, and
every committed notebook is free of outputs."""

import subprocess
import time

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from support import REPO, course_kernel_env

NOTEBOOKS = sorted((REPO / "modules").glob("*/*.ipynb"))
IDS = [str(p.relative_to(REPO / "modules")) for p in NOTEBOOKS]


def test_every_module_has_a_notebook_folder():
    assert [p.name for p in sorted((REPO / "modules").iterdir()) if p.is_dir()] == [
        "01_python", "02_intro_ml", "03_trees", "04_neural_nets", "05_cv_generative", "06_ml_in_hep"]
    assert NOTEBOOKS, "no notebooks found under modules/"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_executes(path, record_property, monkeypatch, ci_data):
    course_kernel_env(monkeypatch)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.monotonic()
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{path.relative_to(REPO)} failed:\n{err}", pytrace=False)
    finally:
        record_property("notebook_seconds", time.monotonic() - started)


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
