"""A facilitator adds a module whose homework comes from another nbgrader course (nbgrader's own
example problem set, tests/data/nbgrader-ps1: asserts in the kernel, no verdicts), without
touching Python: it shows on the course page and in students' homes, the grade commands know it,
and it goes through build, release, fetch and submit, collect, the sandboxed autograde and
feedback, graded by its own tests in the kernel; the build says what that means. (The hub's own
course page showing a module added while it runs: test_cycle_through_hub.py.)"""

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.api import Gradebook
from support import REPO
from traitlets.config import Config

from hepcourse.cli import main
from hepcourse.config import load_settings
from hepcourse.content import module_index
from hepcourse.grading.course import Course
from hepcourse.singleuser import deliver_course

FOREIGN = REPO / "tests" / "data" / "nbgrader-ps1" / "problem1.ipynb"
MODULE = "07_nbgrader_ps1"
TESTS = {"correct_squares": 1, "squares_invalid_input": 1, "correct_sum_of_squares": 0.5,
         "sum_of_squares_uses_squares": 0.5}          # its autograded cells and points
BY_HAND = {"sum_of_squares_equation", "sum_of_squares_application"}
SOLVED = {c.metadata.nbgrader.grade_id: c.source for c in nbformat.read(FOREIGN, 4).cells
          if c.metadata.get("nbgrader", {}).get("solution")}
# What the build's warning means: an answer that only compares equal passes a test run in the
# kernel (a verdict would receive it as plain data, where this trick is gone).
RIGGED = {"squares": "class Anything(list):\n    def __eq__(self, other):\n        return True\n\n\n"
                     "def squares(n):\n    if n < 1:\n        raise ValueError(n)\n    return Anything()"}


@pytest.fixture
def foreign(tmp_path, monkeypatch) -> Course:
    """A course with the foreign homework as module 07 beside a lecture, as a facilitator adds it:
    files in a folder, nothing else."""
    module = tmp_path / "modules" / MODULE
    module.mkdir(parents=True)
    shutil.copy(FOREIGN, module / "homework.ipynb")
    (module / "README.md").write_text("# Module 7 — nbgrader's example problem set\n\nSquares and their sums.\n")
    nbformat.write(new_notebook(cells=[new_code_cell("print(sum(i * i for i in range(11)))")]), module / "lecture.ipynb")
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        "roster: roster.yaml\nhub: {state_dir: state}\ncontent: {source: modules}\n"
        "grading:\n  dir: state/grading\n  sandbox: {cell_timeout: 10, memory: 3G, cpu_seconds: 60}\n")
    monkeypatch.setenv("HEPCOURSE_SETTINGS", str(settings))
    return Course(load_settings(settings))


def grade(capsys, *args) -> tuple[str, str]:
    """`hepcourse grade ARGS` as the facilitator runs it: (stdout, stderr); it must succeed."""
    assert main(["grade", *args]) == 0, capsys.readouterr().err
    return capsys.readouterr()


def fetch_and_submit(course: Course, home: Path, student: str, answers: dict[str, str]) -> None:
    """What the student's Assignments tab does (nbgrader's exchange, the course's submit): fetch
    the released notebook, write ``answers`` (grade id -> source) into it, submit."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeFetchAssignment

    from hepcourse.grading.exchange import PrivateSubmit

    config = Config()
    config.CourseDirectory.course_id = course.id
    config.CourseDirectory.assignment_id = MODULE
    config.CourseDirectory.student_id = student
    config.Exchange.root = str(course.exchange)
    config.Exchange.path_includes_course = True
    config.Exchange.assignment_dir = str(home)
    coursedir, authenticator = CourseDirectory(config=config), Authenticator(config=config)
    ExchangeFetchAssignment(coursedir=coursedir, authenticator=authenticator, config=config).start()
    path = home / course.id / MODULE / "homework.ipynb"
    nb = nbformat.read(path, 4)
    for cell in nb.cells:
        cell.source = answers.get(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.source)
    nbformat.write(nb, path)
    PrivateSubmit(coursedir=coursedir, authenticator=authenticator, config=config).start()


def auto_scores(course: Course, student: str) -> dict[str, tuple]:
    """grade id -> (points the autograder gave, its maximum, waits for a grader)."""
    with Gradebook(course.db_url, course.id) as gb:
        notebook = gb.find_submission_notebook("homework", MODULE, student)
        return {g.name: (g.auto_score, g.max_score, g.needs_manual_grade) for g in notebook.grades}


@pytest.mark.sandbox
@pytest.mark.skipif(os.geteuid() != 0, reason="the autograde sandbox needs root (CI runs as root)")
def test_a_homework_from_another_nbgrader_course_goes_through_the_whole_cycle(foreign, tmp_path, capsys):
    # On the course page (read at each page view) and, without the homework, in a student's home.
    (listed,) = [m for m in module_index(foreign.modules) if m["name"] == MODULE]
    assert listed == {"name": MODULE, "title": "Module 7 — nbgrader's example problem set",
                      "notebooks": ["lecture"], "homework": True}
    home = tmp_path / "homes" / "alice"
    deliver_course({"HEPCOURSE_CONTENT": str(foreign.modules), "HOME": str(home)})
    assert sorted(p.name for p in (home / "modules" / MODULE).iterdir()) == ["README.md", "lecture.ipynb"]

    # Built with a plain warning (not an error); the student version runs in the course's kernel
    # and tells students how it is graded.
    out, err = grade(capsys, "build")
    assert f"{MODULE}: student version in" in out
    assert "warning: 07_nbgrader_ps1: homework.ipynb: its tests run in the student's kernel" in err
    assert "tampers with the kernel can make those tests pass" in err
    student = nbformat.read(foreign.root / "release" / MODULE / "homework.ipynb", 4)
    assert student.metadata.kernelspec.name == "python3"
    assert "BEGIN SOLUTION" not in nbformat.writes(student) and "i ** 2 for i" not in nbformat.writes(student)
    rules = student.cells[0]
    assert rules.metadata.hepcourse.rules and "run in your kernel after your" in rules.source
    assert "| time per cell | 10 s |" in rules.source
    assert f"{MODULE}  no" in " ".join(grade(capsys, "status")[0].split("|"))    # known, not yet released

    grade(capsys, "release", MODULE)
    for student_id, answers in (("solver", SOLVED), ("blank", {}), ("rigger", RIGGED)):
        fetch_and_submit(foreign, tmp_path / "homes" / student_id, student_id, answers)
    assert "3 submissions collected: blank, rigger, solver" in grade(capsys, "collect", MODULE)[0]
    out, _ = grade(capsys, "autograde", MODULE)
    assert "3 submissions, 0 failed" in out
    outcomes = json.loads((foreign.root / "autograde" / f"{MODULE}.json").read_text())
    assert {s: o["status"] for s, o in outcomes.items()} == dict.fromkeys(["solver", "blank", "rigger"], "graded")

    # Every test cell scores in full for the solved copy and nothing for the blank one; the
    # written answers and the task wait for a grader in both.
    solver, blank = auto_scores(foreign, "solver"), auto_scores(foreign, "blank")
    assert {name: solver[name][:2] for name in TESTS} == {name: (points, points) for name, points in TESTS.items()}
    assert {name: blank[name][0] for name in TESTS} == dict.fromkeys(TESTS, 0)
    assert all(solver[name][2] for name in BY_HAND)
    assert all(blank[name][:2] == (0, blank[name][1]) for name in BY_HAND)   # left as released: nbgrader's 0
    assert outcomes["solver"]["score"] == sum(TESTS.values()) > outcomes["blank"]["score"] == 0
    assert auto_scores(foreign, "rigger")["correct_squares"][0] == 1     # squares(10) is no list of squares

    assert "feedback generated and released" in grade(capsys, "feedback", MODULE)[0]
    for student_id, score in (("solver", sum(TESTS.values())), ("blank", 0)):
        page = (foreign.root / "feedback" / student_id / MODULE / "homework.html").read_text()
        assert f"Score: {score:.1f}" in page, student_id
        assert list((foreign.exchange / foreign.id / "feedback").glob("*.html")), "feedback not released"



def test_a_facilitators_mistakes_are_told_in_plain_words(foreign, capsys):
    modules = foreign.modules
    (modules / "7 graph nets").mkdir()
    nbformat.write(new_notebook(), modules / "7 graph nets" / "lecture.ipynb")
    (modules / "08_empty").mkdir()
    (modules / "08_empty" / "README.md").write_text("# Module 8\n")
    mistakes = {"09_plain": nbformat.writes(new_notebook(cells=[new_code_cell("x = 1")])),   # no nbgrader cells
                "10_broken": '{"cells": [',                                                 # not a notebook
                "11_in_r": json.dumps({**json.loads(FOREIGN.read_text()), "metadata": {
                    "kernelspec": {"name": "ir", "display_name": "R", "language": "R"}}})}
    for name, text in mistakes.items():
        (modules / name).mkdir()
        (modules / name / "homework.ipynb").write_text(text)

    assert [m["name"] for m in module_index(modules)] == [MODULE, "08_empty", *mistakes]
    assert main(["grade", "status"]) == 0
    listed = capsys.readouterr().out
    assert MODULE in listed and "graph nets" not in listed

    refusals = {"09_plain": "09_plain: homework.ipynb has no nbgrader cells, so there is nothing to grade",
                "10_broken": "10_broken: homework.ipynb is not a valid notebook",
                "11_in_r": "11_in_r: homework.ipynb is a notebook in R; the course grades Python notebooks only",
                "7_graph_nets": "no assignment '7_graph_nets' (a module folder"}
    for assignment, message in refusals.items():
        assert main(["grade", "build", assignment]) == 2, assignment
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
        # what to fix in the modules folder comes first, as warnings
        for warning in ("7 graph nets: not a module folder name", "08_empty: no notebook (.ipynb)",
                        "09_plain: no README.md", "10_broken/homework.ipynb: not a notebook"):
            assert f"hepcourse: warning: {warning}" in err
