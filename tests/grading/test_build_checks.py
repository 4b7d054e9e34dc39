"""What `Course.build` guarantees about a homework before students get it: every test awards
points only through a verdict outside the kernel, and the student version states this course's
own grading budgets and rules."""

import nbformat
import pytest
from conftest import ASSIGNMENT, student_version, tiny_homework

from hepcourse.grading.course import GradingError


def test_the_student_version_states_this_courses_budgets_and_rules(course):
    (rules,) = [c for c in student_version(course).cells if c.metadata.get("hepcourse", {}).get("rules")]
    # The tiny course's own settings (conftest): 10 s per cell, 60 CPU-seconds, 3G.
    for line in ("| time per cell | 10 s |", "| CPU time, whole notebook | 60 s |", "| memory | 3GB |", "| GPU | none"):
        assert line in rules.source
    assert "not run" in rules.source and "get_ipython()" in rules.source


@pytest.mark.parametrize("defect", ["no verdict", "no rules cell"])
def test_a_homework_that_could_score_inside_the_kernel_or_hides_its_rules_is_refused(course, defect):
    nb = tiny_homework()
    if defect == "no verdict":
        (test,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "double-test"]
        test.source = "assert double(3) == 6"
    else:
        nb.cells = [c for c in nb.cells if not c.metadata.get("hepcourse", {}).get("rules")]
    nbformat.write(nb, course.modules / ASSIGNMENT / "homework.ipynb")
    with pytest.raises(GradingError, match="double-test have no @verdict" if defect == "no verdict" else "grading-rules cell"):
        course.build([ASSIGNMENT])
