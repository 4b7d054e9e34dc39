"""What `Course.build` guarantees about a homework before students get it: every test awards
points only through a verdict outside the kernel, and the student version states this course's
own grading budgets and rules; and the pieces the thresholds bench relies on."""

import nbformat
import numpy as np
import pytest
import yaml
from conftest import ASSIGNMENT, student_version, tiny_homework
from support import REPO

from hepcourse.grading.checks import copied_share
from hepcourse.grading.course import GradingError
from hepcourse.grading.verdicts import autograded


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


BASELINES = sorted((REPO / "grading" / "baselines").glob("*.yaml"))


@pytest.mark.parametrize("path", BASELINES, ids=lambda p: p.stem)
def test_the_trivial_answers_of_the_thresholds_bench_fit_their_homework(path):
    """bench/bench_thresholds.py replaces solution cells by the trivial answers of
    grading/baselines/: they must name cells that exist and tests that award points."""
    cells = {c.metadata.nbgrader.grade_id: c for c in nbformat.read(REPO / "modules" / path.stem / "homework.ipynb", 4).cells
             if c.metadata.get("nbgrader", {}).get("grade_id")}
    for name, spec in yaml.safe_load(path.read_text()).items():
        assert spec["about"] and spec["cells"] and spec["targets"], name
        for grade_id, source in spec["cells"].items():
            assert cells[grade_id].metadata.nbgrader.get("solution"), f"{name}: {grade_id} is not a solution cell"
            compile(source, f"{path.name}:{name}:{grade_id}", "exec")
        assert all(autograded(cells[grade_id]) for grade_id in spec["targets"]), name


def test_copies_are_told_from_independent_draws():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(5000, 10))
    assert copied_share(rng.normal(size=(1000, 10)), reference) < 0.01
    copies = reference[rng.integers(0, 5000, 1000)] + rng.normal(scale=1e-3, size=(1000, 10))
    assert copied_share(copies, reference) == 1.0
    half = np.vstack([copies[:500], rng.normal(size=(500, 10))])
    assert 0.45 < copied_share(half, reference) < 0.55
