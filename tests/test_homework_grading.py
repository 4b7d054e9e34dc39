"""Every module's homework through the course's own grading path, as facilitators run it:
`Course.build` makes the nbgrader source and student version from the module, then the
hardened autograde (sandboxed where the tests run as root, as in CI) grades the instructor's
solution (all automatic points), the untouched student version (none) and a half-solved one
(some). This also proves the tamper audit lets every real solution through."""

import html
import os
import re

import nbformat
import pytest
from nbgrader.api import Gradebook
from support import REPO, course_kernel_env

from hepcourse.config import load_settings
from hepcourse.grading.autograde import autograde
from hepcourse.grading.course import Course
from hepcourse.grading.samples import answered

HOMEWORKS = sorted((REPO / "modules").glob("*/homework.ipynb"))

pytestmark = [pytest.mark.notebooks, pytest.mark.xdist_group("ci-data")]


@pytest.fixture
def course(tmp_path, monkeypatch, ci_data):
    course_kernel_env(monkeypatch)
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"roster: roster.yaml\nhub: {{state_dir: state}}\ncontent: {{source: {REPO / 'modules'}}}\n"
                        "grading: {dir: state/grading}\n")
    return Course(load_settings(settings))


@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda p: p.parent.name)
def test_homework_grades_solution_blank_and_partial_submissions(course, homework):
    assignment = homework.parent.name
    (release,) = course.build([assignment]).values()
    released = nbformat.read(release / "homework.ipynb", 4)
    text = nbformat.writes(released)
    for secret in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "heldout("):
        assert secret not in text, f"{secret!r} leaked into the student version"

    original = nbformat.read(homework, 4)
    submissions = {"solution": original, "blank": released, "partial": answered(original, released, 0.5)}
    for student, nb in submissions.items():
        folder = course.root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "homework.ipynb")
    outcomes = autograde(course, assignment, workers=1, sandbox=os.geteuid() == 0, progress=False)
    assert all(o.status == "graded" and not o.note for o in outcomes), outcomes

    # Autograded points: the test cells'; a hand-graded code cell (a plot) waits for a person.
    full = sum(c.metadata["nbgrader"]["points"] for c in original.cells
               if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution"))
    with Gradebook(course.db_url, course.id) as gb:
        got = {student: sum(g.auto_score or 0 for g in gb.find_submission_notebook("homework", assignment, student).grades)
               for student in submissions}
    print(f"{assignment}: autograded points {got} of {full}")
    assert full > 0
    assert got["solution"] == full
    assert got["blank"] == 0
    assert 0 < got["partial"] < full

    # Feedback: the outcomes, none of the hidden tests (lines that students never saw).
    assert course.api().generate_feedback(assignment)["success"]
    hidden, elsewhere = hidden_lines(original)
    hidden -= elsewhere   # a line that also stands in a solution or a visible test may show
    assert hidden
    for student in submissions:
        page = (course.root / "feedback" / student / assignment / "homework.html").read_text()
        shown = {line.strip() for line in html.unescape(re.sub(r"<[^>]+>", "", page)).splitlines()}
        assert not hidden & shown, f"{student}'s feedback shows hidden tests: {sorted(hidden & shown)[:3]}"


def hidden_lines(nb) -> tuple[set[str], set[str]]:
    """The lines of the hidden test regions (long enough to mean something), and all others."""
    hidden, elsewhere, inside = set(), set(), False
    for cell in nb.cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                inside = "BEGIN" in line
            elif len(line.strip()) >= 12:
                (hidden if inside else elsewhere).add(line.strip())
    return hidden, elsewhere
