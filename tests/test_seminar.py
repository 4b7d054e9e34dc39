"""Live seminars without a hub: pushing a notebook into homes, the scopes of each share mode,
the landing page's module index. The real-hub side is in test_live_seminar.py."""

import itertools
import json
import re

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from support import REPO, run_cli

from hepcourse import content, homes, seminar
from hepcourse.files import sha256_of

MODULES = REPO / "modules"
EXERCISE = re.compile(r"^(#+\s*|\*\*)\W*Your turn", re.MULTILINE)


def test_push_never_overwrites_a_students_copy(tmp_path):
    src = MODULES / "02_intro_ml" / "seminar.ipynb"
    home = tmp_path / "alice" / "modules"
    rel = "02_intro_ml/seminar.ipynb"
    assert content.push(src, home, rel) == ("added", rel)
    assert content.push(src, home, rel) == ("current", rel)

    # An untouched copy of an older version is replaced.
    (home / rel).write_text("{}")
    manifest = tmp_path / "alice" / ".hepcourse" / "delivered.json"
    delivered = json.loads(manifest.read_text())
    delivered["modules"][rel] = sha256_of(home / rel)
    manifest.write_text(json.dumps(delivered))
    assert content.push(src, home, rel) == ("updated", rel)
    assert (home / rel).read_bytes() == content.deliverable(src)

    # The student's own edits stay; the fresh copy lands beside them.
    (home / rel).write_text('{"mine": true}')
    outcome, written = content.push(src, home, rel)
    assert outcome == "beside" and written != rel and written.startswith("02_intro_ml/seminar_")
    assert (home / rel).read_text() == '{"mine": true}'
    assert (home / written).read_bytes() == content.deliverable(src)


def test_push_to_every_home_of_the_local_mode(tmp_path):
    state = tmp_path / "state"
    (state / "homes" / "alice").mkdir(parents=True)
    (state / "homes" / "bob" / "modules" / "04_neural_nets").mkdir(parents=True)
    (state / "homes" / "bob" / "modules" / "04_neural_nets" / "seminar.ipynb").write_text("bob's notes")
    settings = {"mode": "local", "hub": {"state_dir": str(state)}, "content": {"source": str(MODULES)}}
    rows = homes.push(settings, "04_neural_nets", "seminar.ipynb", ["alice", "bob", "carol"])
    assert [r[:2] for r in rows] == [("alice", "added"), ("bob", "beside"), ("carol", "no home yet")]
    assert (state / "homes" / "bob" / "modules" / "04_neural_nets" / "seminar.ipynb").read_text() == "bob's notes"
    assert (state / "homes" / "alice" / rows[0][2]).read_bytes() == content.deliverable(MODULES / "04_neural_nets" / "seminar.ipynb")


def test_students_get_exercises_without_answers_until_the_solutions_are_released(tmp_path, write):
    module = tmp_path / "modules" / "07_extra"
    module.mkdir(parents=True)
    nb = new_notebook(cells=[
        new_markdown_cell("**Your turn:** the mean of `x`."),
        new_code_cell("x = [1, 2, 3]\n# the mean of x:\nm = None\n### BEGIN SOLUTION\nm = sum(x) / len(x)\n### END SOLUTION\nm"),
        new_code_cell("def scale(v):\n    ### BEGIN SOLUTION\n    return [2 * e for e in v]\n    ### END SOLUTION"),
    ])
    nbformat.write(nb, module / "seminar.ipynb")
    home = tmp_path / "state" / "homes" / "alice"
    content.sync(tmp_path / "modules", home / "modules")
    given = nbformat.read(home / "modules" / "07_extra" / "seminar.ipynb", 4)
    assert [c.source for c in given.cells[1:]] == [
        "x = [1, 2, 3]\n# the mean of x:\nm = None\npass  # (your code here)\nm",
        "def scale(v):\n    pass  # (your code here)"]
    for cell in given.cells[1:]:
        compile(cell.source, "cell", "exec")                # the scaffold runs, the answer is gone
    assert "sum(x)" not in (home / "modules" / "07_extra" / "seminar.ipynb").read_text()
    assert not content.sync(tmp_path / "modules", home / "modules").kept    # unchanged: not the student's edit
    staff = tmp_path / "state" / "homes" / "prof"
    content.sync(tmp_path / "modules", staff / "modules", solutions=True)
    assert "sum(x)" in (staff / "modules" / "07_extra" / "seminar.ipynb").read_text()

    roster = write("roster.yaml", "instructors: [prof]\nstudents: [alice]\n")
    settings = write("settings.yaml", f"roster: {roster}\nhub:\n  state_dir: {tmp_path / 'state'}\n"
                                      f"content:\n  source: {tmp_path / 'modules'}\n")
    out = run_cli("hepcourse", "seminar", "solutions", "07_extra", env={"HEPCOURSE_SETTINGS": str(settings)})
    assert out.returncode == 0, out.stderr
    released = nbformat.read(home / "modules" / "07_extra" / "seminar_solutions.ipynb", 4)
    assert [c.source for c in released.cells] == [c.source for c in nb.cells]
    assert "sum(x)" not in (home / "modules" / "07_extra" / "seminar.ipynb").read_text()   # the student's stays


def test_push_cli_explains_a_wrong_module(tmp_path, write):
    roster = write("roster.yaml", "instructors: [prof]\nstudents: [alice]\n")
    settings = write("settings.yaml", f"roster: {roster}\nhub:\n  state_dir: {tmp_path / 'state'}\n"
                                      f"content:\n  source: {MODULES}\n")
    out = run_cli("hepcourse", "seminar", "push", "4_nets", env={"HEPCOURSE_SETTINGS": str(settings)})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "no seminar.ipynb in module '4_nets'" in out.stderr and "04_neural_nets" in out.stderr
    out = run_cli("hepcourse", "seminar", "push", "04_neural_nets", "--users", "mallory",
                  env={"HEPCOURSE_SETTINGS": str(settings)})
    assert out.returncode == 2 and "not on the roster: mallory" in out.stderr


def test_share_modes_grant_only_what_they_say():
    follow = seminar.share_scopes("prof", "follow")
    assert follow == ["access:servers!server=prof/", "custom:jupyter_server:read:*!server=prof/",
                      "custom:jupyter_server:write:*!server=prof/"]
    assert "custom:jupyter_server:execute:*!server=prof/" in seminar.share_scopes("prof", "run")
    scopes = seminar.custom_scopes()
    assert scopes["custom:jupyter_server:execute:*"]["subscopes"] == [
        "custom:jupyter_server:read:*", "custom:jupyter_server:write:*"]
    assert scopes["custom:jupyter_server:read:*"]["subscopes"] == []


def test_module_index_lists_what_students_open():
    index = content.module_index(MODULES)
    assert [m["name"] for m in index] == sorted(p.name for p in MODULES.iterdir() if p.is_dir())
    first = index[0]
    assert first["title"].startswith("Module 1") and first["notebooks"] == ["lecture", "seminar"]
    assert all(m["homework"] for m in index)



def test_every_lecture_heading_starts_a_slide():
    import nbformat

    for path in sorted(MODULES.glob("*/lecture.ipynb")):
        notebook = nbformat.read(path, 4)
        assert content.mark_slides(notebook) == 0, f"{path}: slide breaks missing (make strip sets them)"
        assert sum(c.metadata.get("slideshow", {}).get("slide_type") == "slide" for c in notebook.cells) >= 5


def test_module_index_of_a_missing_folder_is_empty(tmp_path):
    assert content.module_index(tmp_path / "nowhere") == []


@pytest.mark.parametrize("module", sorted(p.name for p in MODULES.iterdir() if (p / "seminar.ipynb").exists()))
def test_every_seminar_exercise_is_a_scaffold_whose_answer_waits_for_its_release(module):
    path = MODULES / module / "seminar.ipynb"
    cells = nbformat.read(path, 4).cells
    exercises = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and EXERCISE.search(c.source)]
    assert exercises, f"{module}: no exercise (a markdown cell headed 'Your turn')"
    for i in exercises:
        block = list(itertools.takewhile(lambda c: c.cell_type == "code", cells[i + 1:]))
        assert any("### BEGIN SOLUTION" in c.source for c in block), \
            f"{module}: the exercise of cell {i} has no answer in a solution region below it"
    shown = [c.source.splitlines()[0] for c in cells if c.cell_type == "code" and c.source.startswith("# Solution")]
    assert not shown, f"{module}: answers shown to students: {shown}"
    given = nbformat.reads(content.deliverable(path).decode(), 4)
    for cell in given.cells:
        if cell.cell_type == "code":
            assert "SOLUTION" not in cell.source
            compile(TransformerManager().transform_cell(cell.source), f"{module} seminar", "exec")   # it runs as given
