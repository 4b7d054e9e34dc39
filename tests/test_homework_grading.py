"""Every homework through nbgrader's Python API, as a course would run it: generate the
student version, then autograde the instructor's solution (all automatic points), the untouched
student version (none) and a half-solved one (some)."""

import os
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from support import REPO, course_kernel_env
from traitlets.config import Config

HOMEWORKS = sorted((REPO / "modules").glob("*/homework.ipynb"))

pytestmark = [pytest.mark.notebooks, pytest.mark.xdist_group("ci-data")]


def answer_cells(nb):
    """Indices of the autograded answer cells (solution, not graded)."""
    return [i for i, c in enumerate(nb.cells)
            if c.metadata.get("nbgrader", {}).get("solution") and not c.metadata["nbgrader"].get("grade")]


def solved(source: str) -> str:
    """The instructor's answer without nbgrader's markers."""
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


@pytest.fixture
def course(tmp_path, monkeypatch, ci_data):
    course_kernel_env(monkeypatch)
    # nbgrader's Gradebook runs the `alembic` command: the venv's bin must be on PATH.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    config.CourseDirectory.course_id = "mlhep"
    config.ExecutePreprocessor.timeout = 300
    return tmp_path, NbGraderAPI(config=config)


@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda p: p.parent.name)
def test_nbgrader_grades_solution_blank_and_partial_submissions(course, homework):
    root, api = course
    assignment = homework.parent.name
    source = root / "source" / assignment
    shutil.copytree(homework.parent, source, ignore=shutil.ignore_patterns("lecture*", "seminar*", "*.md"))
    result = api.generate_assignment(assignment)
    assert result["success"], result["log"]
    released = nbformat.read(root / "release" / assignment / "homework.ipynb", 4)
    text = nbformat.writes(released)
    for secret in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "heldout("):
        assert secret not in text, f"{secret!r} leaked into the student version"

    original = nbformat.read(homework, 4)
    answers = answer_cells(original)
    half = nbformat.from_dict(released)
    for i in answers[: len(answers) // 2]:
        half.cells[i].source = solved(original.cells[i].source)
    submissions = {"solution": original, "blank": released, "partial": half}
    for student, nb in submissions.items():
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "homework.ipynb")
        result = api.autograde(assignment, student)
        assert result["success"], result["log"]

    # Autograded points: the test cells'; a hand-graded code cell (a plot) waits for a person.
    full = sum(c.metadata["nbgrader"]["points"] for c in original.cells
               if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution"))
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        got = {}
        for student in submissions:
            nb = gb.find_submission_notebook("homework", assignment, student)
            got[student] = sum(g.auto_score or 0 for g in nb.grades)
    print(f"{assignment}: autograded points {got} of {full}")
    assert full > 0
    assert got["solution"] == full
    assert got["blank"] == 0
    assert 0 < got["partial"] < full
