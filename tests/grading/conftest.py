"""A tiny nbgrader course for the grading tests: two tasks, 5 + 5 points, built the way the
course builds the modules' homework."""

import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from hepcourse.config import load_settings
from hepcourse.grading.course import Course
from hepcourse.uids import uid_of

ASSIGNMENT = "99_tiny"


def _meta(grade_id, *, solution=False, grade=False, locked=False, points=None):
    meta = {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": locked,
            "schema_version": 3, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


SETUP = "import numpy as np\n\ndef reference(x):\n    return 2 * x"
ADD = "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION"
ADD_TEST = ("assert add(1, 2) == 3, 'add(1, 2) must be 3'\n"
            "assert np.allclose(add(np.ones(3), 1), 2)\n"
            "### BEGIN HIDDEN TESTS\n"
            "from hepcourse.grading.answers import hand_in, verdict\n"
            "hand_in(small=add(1, 2), arrays=add(np.ones(3), 1), signs=add(-1, 1))\n"
            "@verdict\n"
            "def _(answers):\n"
            "    import numpy as np\n"
            "    assert answers['small'] == 3, 'add(1, 2) must be 3'\n"
            "    assert np.allclose(answers['arrays'], 2) and answers['arrays'].shape == (3,)\n"
            "    assert answers['signs'] == 0, 'add(-1, 1) must be 0'\n"
            "### END HIDDEN TESTS")
DOUBLE = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
DOUBLE_TEST = ("assert double(3) == reference(3)\n"
               "assert np.allclose(double(np.arange(4)), [0, 2, 4, 6])\n"
               "### BEGIN HIDDEN TESTS\n"
               "from hepcourse.grading.answers import hand_in, verdict\n"
               "hand_in(three=double(3), arange=double(np.arange(4)))\n"
               "@verdict\n"
               "def _(answers):\n"
               "    import numpy as np\n"
               "    assert answers['three'] == 6, 'double(3) must be 6'\n"
               "    assert np.array_equal(answers['arange'], [0, 2, 4, 6]), 'double must work on arrays'\n"
               "### END HIDDEN TESTS")


def tiny_homework() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        new_markdown_cell("# Tiny homework", metadata=_meta("intro", locked=True)),
        new_markdown_cell("(rules)", metadata={"hepcourse": {"rules": True}}),
        new_code_cell(SETUP, metadata=_meta("setup", locked=True)),
        new_code_cell(ADD, metadata=_meta("add", solution=True)),
        new_code_cell(ADD_TEST, metadata=_meta("add-test", grade=True, locked=True, points=5)),
        new_code_cell(DOUBLE, metadata=_meta("double", solution=True)),
        new_code_cell(DOUBLE_TEST, metadata=_meta("double-test", grade=True, locked=True, points=5)),
    ]
    return nb


@pytest.fixture
def course(tmp_path, monkeypatch) -> Course:
    """A course whose only module is the tiny homework, its state in the test's folder."""
    modules = tmp_path / "modules" / ASSIGNMENT
    modules.mkdir(parents=True)
    nbformat.write(tiny_homework(), modules / "homework.ipynb")
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        "roster: roster.yaml\nhub: {state_dir: state}\ncontent: {source: modules}\n"
        "grading:\n  dir: state/grading\n  sandbox: {cell_timeout: 10, memory: 3G, cpu_seconds: 60}\n")
    course = Course(load_settings(settings))
    course.build()
    return course


def submit(course: Course, student: str, nb_or_text) -> Path:
    """Place a submission as `collect` would."""
    folder = course.root / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    path = folder / "homework.ipynb"
    if isinstance(nb_or_text, str):
        path.write_text(nb_or_text)
    else:
        nbformat.write(nb_or_text, path)
    return path


def student_version(course: Course) -> nbformat.NotebookNode:
    return nbformat.read(course.root / "release" / ASSIGNMENT / "homework.ipynb", 4)


def answered(course: Course, add: str | None = None, double: str | None = None) -> nbformat.NotebookNode:
    """The student version with the given answer cells' sources."""
    nb = student_version(course)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "add" and add is not None:
            cell.source = add
        if grade_id == "double" and double is not None:
            cell.source = double
    return nb


GOOD_ADD = "def add(a, b):\n    return a + b"
GOOD_DOUBLE = "def double(x):\n    return 2 * x"


def page_text(page: str) -> str:
    """What a reader of an HTML page sees: the text without tags (code in feedback is split
    into highlighted tokens)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def exported(course: Course, to: Path) -> list[dict]:
    """The grade export as the facilitator gets it (nbgrader's export plugin of the course), read
    back from its CSV."""
    import csv

    from nbgrader.api import Gradebook

    from hepcourse.grading.export import NotesExport

    with Gradebook(course.db_url, course.id) as gb:
        NotesExport(config=course.config(), to=str(to)).export(gb)
    with open(to, newline="") as stream:
        return [{**row, "score": float(row["score"])} for row in csv.DictReader(stream)]


@pytest.fixture
def world():
    """Needs root. A course in docker-like mode in a folder every uid can traverse (pytest's is private)."""
    top = Path(tempfile.mkdtemp(prefix="hepcourse-exchange-"))
    top.chmod(0o755)
    modules = top / "modules" / ASSIGNMENT
    modules.mkdir(parents=True)
    nbformat.write(tiny_homework(), modules / "homework.ipynb")
    (top / "settings.yaml").write_text(
        "mode: docker\nroster: roster.yaml\nhub: {state_dir: state}\ncontent: {source: modules}\n")
    (top / "state").mkdir(mode=0o755)
    course = Course(load_settings(top / "settings.yaml"))
    course.release(ASSIGNMENT)
    homes = {}
    for name in ("alice", "bob"):
        home = top / "homes" / name
        home.mkdir(parents=True)
        uid = uid_of(name, course.settings["hub"]["state_dir"])
        os.chown(home, uid, uid)
        home.chmod(0o700)
        homes[name] = (home, uid)
    yield course, homes
    shutil.rmtree(top)


def as_user(course, homes, name, *args, student_id=None, check=True):
    """Run a command as student ``name`` (own uid, own home), the way their server would."""
    home, uid = homes[name]
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home), "JUPYTERHUB_USER": name}
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *args]
    if args[:1] == ("nbgrader",):
        cmd[cmd.index("nbgrader")] = str(Path(sys.executable).parent / "nbgrader")
        cmd += [f"--course={course.id}", f"--Exchange.root={course.exchange}", "--Exchange.path_includes_course=True",
                "--ExchangeFactory.submit=hepcourse.grading.exchange.PrivateSubmit",
                f"--CourseDirectory.student_id={student_id or name}"]
    out = subprocess.run(cmd, check=False, cwd=home, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def python_as(course, homes, name, code):
    return as_user(course, homes, name, sys.executable, "-c", code, check=False)


def fetch_and_submit(course, homes, name, add, student_id=None):
    as_user(course, homes, name, "nbgrader", "fetch_assignment", ASSIGNMENT)
    path = homes[name][0] / course.id / ASSIGNMENT / "homework.ipynb"
    nb = nbformat.read(path, 4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in ("add", "double"):
            cell.source = add if grade_id == "add" else GOOD_DOUBLE
    nbformat.write(nb, path)
    os.chown(path, homes[name][1], homes[name][1])
    as_user(course, homes, name, "nbgrader", "submit", ASSIGNMENT, student_id=student_id)
