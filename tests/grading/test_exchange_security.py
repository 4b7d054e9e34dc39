"""The exchange in the secure setup (docker mode: every user has a uid of their own, given by
hepcourse.uids): students run nbgrader's real fetch/submit commands under their own uids
against the shared exchange; one student tries to read, overwrite, delete or impersonate the
other's submission, and to read the hidden tests and the gradebook. All refused. (Containers
add nothing to this: the permissions are the same on the exchange volume. The container tier
of the containers issue repeats the checks there.)"""

import os

import nbformat
import pytest
from conftest import ASSIGNMENT, GOOD_ADD, fetch_and_submit, python_as

pytestmark = [pytest.mark.sandbox, pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as several uids (CI runs as root)")]


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
