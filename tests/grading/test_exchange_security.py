"""The exchange in the secure setup (docker mode: every user has a uid of their own, given by
hepcourse.uids): students run nbgrader's real fetch/submit commands under their own uids
against the shared exchange; one student tries to read, overwrite, delete or impersonate the
other's submission, and to read the hidden tests and the gradebook. All refused. (Containers
add nothing to this: the permissions are the same on the exchange volume. The container tier
of the containers issue repeats the checks there.)"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from conftest import ASSIGNMENT, GOOD_ADD, GOOD_DOUBLE, tiny_homework

from hepcourse.config import load_settings
from hepcourse.grading.course import Course
from hepcourse.uids import uid_of

pytestmark = [pytest.mark.sandbox, pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as several uids (CI runs as root)")]


@pytest.fixture
def world():
    """A course in docker-like mode in a folder every uid can traverse (pytest's is private)."""
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


def test_a_student_cannot_touch_another_students_work_or_the_grader_files(world):
    course, homes = world
    fetch_and_submit(course, homes, "alice", GOOD_ADD)
    inbound = course.exchange / course.id / "inbound"
    (alices,) = [p for p in inbound.iterdir() if p.name.startswith("alice+")]
    alices_nb = alices / "homework.ipynb"
    before = alices_nb.read_bytes()

    attacks = {
        "list the inbound folder": f"import os; print(os.listdir({str(inbound)!r}))",
        "read alice's submission": f"print(open({str(alices_nb)!r}).read()[:10])",
        "overwrite alice's submission": f"open({str(alices_nb)!r}, 'w').write('x')",
        "delete alice's submission": f"import shutil; shutil.rmtree({str(alices)!r})",
        "rename alice's submission": f"import os; os.rename({str(alices)!r}, {str(alices) + '-gone'!r})",
        "read the hidden tests": f"print(open({str(course.root / 'source' / ASSIGNMENT / 'homework.ipynb')!r}).read()[:10])",
        "read the gradebook": f"print(open({str(course.root / 'gradebook.db')!r}, 'rb').read(10))",
    }
    for attack, code in attacks.items():
        out = python_as(course, homes, "bob", code)
        assert out.returncode != 0 and "PermissionError" in out.stderr, f"bob could {attack}: {out.stdout}"
    assert alices_nb.read_bytes() == before

    # Bob submits a blank notebook under alice's name: collected as alice's? Refused.
    fetch_and_submit(course, homes, "bob", "def add(a, b):\n    return 0", student_id="alice")
    assert sorted(p.name.split("+")[0] for p in inbound.iterdir()) == ["alice", "alice"]
    assert course.collect(ASSIGNMENT) == ["alice"]
    collected = course.root / "submitted" / "alice" / ASSIGNMENT / "homework.ipynb"
    sources = [c.source for c in nbformat.read(collected, 4).cells]
    assert GOOD_ADD in sources, "bob's impersonation replaced alice's submission"
