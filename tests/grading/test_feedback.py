"""Students' feedback keeps each test's outcome and message, never the hidden tests (nbgrader
puts them in by design: nbgrader #917, #1363)."""

import os

import nbformat
import pytest
from conftest import ASSIGNMENT, GOOD_DOUBLE, answered, page_text, submit

from hepcourse.grading.autograde import autograde

pytestmark = [pytest.mark.sandbox,
              pytest.mark.skipif(os.geteuid() != 0, reason="the autograde sandbox needs root (CI runs as root)")]

HIDDEN_LINE = "signs=add(-1, 1)"         # the tiny homework's hidden test: what the kernel runs
VERDICT_LINE = "answers['signs'] == 0"   # and its verdict, which runs in the grader only
# Passes the visible asserts, fails the hidden one.
SLOPPY_ADD = "def add(a, b):\n    return a + b + 99 * (a < 0)"


def test_feedback_shows_outcomes_and_messages_but_no_hidden_test(course):
    submit(course, "sloppy", answered(course, SLOPPY_ADD, GOOD_DOUBLE))
    (outcome,) = autograde(course, ASSIGNMENT, workers=1, progress=False)
    assert (outcome.score, outcome.max_score) == (5, 10)
    graded = nbformat.read(course.root / "autograded" / "sloppy" / ASSIGNMENT / "homework.ipynb", 4)
    graded_text = "".join(cell.source for cell in graded.cells)
    assert HIDDEN_LINE in graded_text and VERDICT_LINE not in graded_text   # the verdict never reached the kernel

    assert course.api().generate_feedback(ASSIGNMENT)["success"]  # released through the hub in test_cycle_through_hub
    text = page_text((course.root / "feedback" / "sloppy" / ASSIGNMENT / "homework.html").read_text())
    for secret in (HIDDEN_LINE, VERDICT_LINE, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert secret not in text
    assert "add(-1, 1) must be 0" in text                             # the verdict's message
    assert "assert add(1, 2) == 3, 'add(1, 2) must be 3'" in text   # the visible test, as released
    assert "AssertionError" in text and "# (hidden tests: not shown)" in text
    assert "Score: 5.0 / 10.0" in text


def test_a_refused_cell_tells_the_student_why_in_the_feedback(course):
    tamper = "def add(a, b):\n    return 0\nnp.allclose = lambda *a, **k: True"
    submit(course, "tamperer", answered(course, tamper, GOOD_DOUBLE))
    (outcome,) = autograde(course, ASSIGNMENT, workers=1, progress=False)
    assert outcome.score == 5 and "np.allclose" in outcome.note
    assert course.api().generate_feedback(ASSIGNMENT)["success"]
    text = page_text((course.root / "feedback" / "tamperer" / ASSIGNMENT / "homework.html").read_text())
    assert "not run by the autograder" in text and "replaces `np.allclose`" in text
